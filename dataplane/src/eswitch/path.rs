//! The emulated NIC's data path, run on an lcore of its own in front of the
//! workers: every packet from the uplink is parsed once and looked up in the
//! wildcard rules, then the exact rules; a hit is counted on its rule's counter
//! (if it has one), then dropped if the rule says so, or else policed by its
//! VF's meter if the rule has one and sent straight to the VF; a miss goes to
//! one worker's RX ring (an ethdev port over a ring, so workers poll it like
//! any port), the worker chosen by the flow's hash as RSS would. A packet
//! without a flow key (non-IP, a later fragment) matches no rule and misses.
//!
//! A miss the worker's ring has no room for waits in the switch, which reads no
//! more from the uplink until it is through: the replayed uplink has no wire
//! rate, so back-pressure (not a drop a physical port would count as `imissed`)
//! keeps every packet accounted for.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::flow::FlowKey;
use crate::io::{PacketBuf, PacketBurst, RxQueueIo, TxQueueIo};
use crate::meter::RateMeter;
use crate::stats::{bump, PortCounters};
use crate::table::TableKey;
use crate::wire;
use crate::PortIdx;

use super::{Eswitch, RuleTable, WildAction};

/// The switch's counters, written by its lcore only, read by the control core.
#[derive(Debug)]
pub struct EswitchStats {
    /// By [`PortIdx`]: packets received on the uplink; packets sent to each VF
    /// by rules, refused by its TX queue, or dropped by its meter.
    pub ports: Box<[PortCounters]>,
    /// Packets that hit an exact (per-flow) rule, and their bytes.
    pub hits: AtomicU64,
    pub hit_bytes: AtomicU64,
    /// Packets that hit a wildcard (operator) rule, and their bytes, whether
    /// the rule forwards or drops: `rx_packets` of the uplink is `hits +
    /// wildcard_hits + misses`.
    pub wildcard_hits: AtomicU64,
    pub wildcard_hit_bytes: AtomicU64,
    /// Those of `wildcard_hits` a rule dropped.
    pub wildcard_drops: AtomicU64,
    /// Packets passed to the workers (misses, and hits of rules with a
    /// `queue` fate), and their bytes.
    pub misses: AtomicU64,
    pub miss_bytes: AtomicU64,
    /// Misses waiting for room in a worker's ring.
    pub backlog: AtomicU64,
    /// TSC cycles of loops that moved packets, and of those that did not: the
    /// CPU the model of hardware costs, reported apart from the workers'.
    pub busy_cycles: AtomicU64,
    pub idle_cycles: AtomicU64,
}

impl EswitchStats {
    /// Zeroed counters for `ports` ports.
    pub fn new(ports: usize) -> Self {
        EswitchStats {
            ports: (0..ports).map(|_| PortCounters::default()).collect(),
            hits: AtomicU64::new(0),
            hit_bytes: AtomicU64::new(0),
            wildcard_hits: AtomicU64::new(0),
            wildcard_hit_bytes: AtomicU64::new(0),
            wildcard_drops: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            miss_bytes: AtomicU64::new(0),
            backlog: AtomicU64::new(0),
            busy_cycles: AtomicU64::new(0),
            idle_cycles: AtomicU64::new(0),
        }
    }
}

/// The queues the switch uses.
#[derive(Debug)]
pub struct SwitchPorts<R, T> {
    /// The uplink's RX queue (the uplink is port 0).
    pub uplink: R,
    /// Packets still to take from the uplink (`None`: no limit).
    pub budget: Option<u64>,
    /// A TX queue on every port, by [`PortIdx`] (none on the uplink).
    pub to_ports: Vec<Option<T>>,
    /// One TX queue into each worker's RX ring.
    pub to_workers: Vec<T>,
    /// Rate meters by [`PortIdx`], shared with the workers.
    pub meters: Vec<Option<Arc<RateMeter>>>,
}

/// The switch's data path and its rule engine.
pub struct SwitchPath<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>> {
    engine: Eswitch,
    uplink: R,
    budget: Option<u64>,
    to_ports: Vec<Option<T>>,
    out: Vec<T::Burst>,
    to_workers: Vec<T>,
    pending: Vec<T::Burst>,
    meters: Vec<Option<Arc<RateMeter>>>,
    stats: Arc<EswitchStats>,
    burst: usize,
    clock: fn() -> u64,
}

impl<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>> std::fmt::Debug for SwitchPath<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchPath")
            .field("rules", &self.engine.rules())
            .field("wildcards", &self.engine.wildcards())
            .field("ports", &self.to_ports.len())
            .field("workers", &self.to_workers.len())
            .finish()
    }
}

impl<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>> SwitchPath<R, T> {
    /// A data path for `engine` on these queues, receiving `burst` packets at a
    /// time (clamped to the burst capacity).
    pub fn new(
        engine: Eswitch,
        ports: SwitchPorts<R, T>,
        stats: Arc<EswitchStats>,
        burst: usize,
        clock: fn() -> u64,
    ) -> Self {
        assert!(!ports.to_workers.is_empty(), "the switch needs a worker");
        assert_eq!(stats.ports.len(), ports.to_ports.len());
        SwitchPath {
            engine,
            uplink: ports.uplink,
            budget: ports.budget,
            out: ports.to_ports.iter().map(|_| T::Burst::empty()).collect(),
            to_ports: ports.to_ports,
            pending: ports.to_workers.iter().map(|_| T::Burst::empty()).collect(),
            to_workers: ports.to_workers,
            meters: ports.meters,
            stats,
            burst: burst.clamp(1, R::Burst::CAPACITY),
            clock,
        }
    }

    /// Exact rules installed.
    pub fn rules(&self) -> usize {
        self.engine.rules()
    }

    /// Wildcard rules installed.
    pub fn wildcards(&self) -> usize {
        self.engine.wildcards()
    }

    /// Runs until `stop`: answers rule commands and moves packets. Once
    /// `rx_stop` is set it takes nothing more from the uplink, but still hands
    /// waiting misses to the workers and still answers commands (the control
    /// core removes every rule after the traffic has stopped).
    pub fn run(&mut self, rx_stop: &AtomicBool, stop: &AtomicBool) {
        let mut burst = R::Burst::empty();
        let mut last = (self.clock)();
        while !stop.load(Ordering::Relaxed) {
            self.engine.take_commands();
            let moved = self.poll_once(&mut burst, !rx_stop.load(Ordering::Relaxed));
            let now = (self.clock)();
            let spent = now.wrapping_sub(last);
            last = now;
            bump(
                if moved > 0 {
                    &self.stats.busy_cycles
                } else {
                    &self.stats.idle_cycles
                },
                spent,
            );
        }
    }

    /// Hands waiting misses to the workers, then (if `receive` and nothing
    /// waits) takes one burst from the uplink. Returns the packets moved.
    pub fn poll_once(&mut self, burst: &mut R::Burst, receive: bool) -> usize {
        let mut moved = self.push_pending();
        if receive && self.backlog() == 0 {
            moved += self.receive(burst);
        }
        self.stats
            .backlog
            .store(self.backlog() as u64, Ordering::Relaxed);
        moved
    }

    /// Takes one burst from the uplink and switches it; returns its size.
    fn receive(&mut self, burst: &mut R::Burst) -> usize {
        let max = match self.budget {
            Some(0) => return 0,
            Some(left) => (self.burst as u64).min(left) as usize,
            None => self.burst,
        };
        let n = self.uplink.rx_burst(burst, max);
        if n == 0 {
            return 0;
        }
        if let Some(left) = self.budget.as_mut() {
            *left = left.saturating_sub(n as u64);
        }
        self.switch_burst(burst);
        self.flush_ports();
        self.push_pending();
        n
    }

    /// Misses waiting for room in the workers' rings.
    fn backlog(&self) -> usize {
        self.pending.iter().map(|b| b.len()).sum()
    }

    /// Whether the uplink's budget is spent and no miss waits.
    pub fn drained(&self) -> bool {
        self.budget == Some(0) && self.backlog() == 0
    }

    fn switch_burst(&mut self, burst: &mut R::Burst) {
        let now = (self.clock)();
        let workers = self.to_workers.len() as u64;
        let (engine, stats) = (&self.engine, &*self.stats);
        let (out, pending, meters) = (&mut self.out, &mut self.pending, &self.meters);
        let to_ports = &mut self.to_ports;
        let mut rx_bytes = 0;
        let mut received = 0;
        burst.drain_each(|pkt| {
            let len = pkt.pkt_len();
            rx_bytes += u64::from(len);
            received += 1;
            let key = wire::parse_segmented(pkt.first_segment(), len as usize)
                .ok()
                .map(|p| {
                    let mut k = p.key;
                    k.set_in_port(0);
                    k
                });
            let hit = key.as_ref().and_then(|k| engine.classify(k));
            // A miss, or a hit whose rule hands it to a host queue: to a worker.
            let to_worker = match hit {
                // RSS: a flow always reaches the same worker.
                None => Some(key.map_or(0, |k| (flow_hash(&k) % workers) as usize)),
                Some(h) => match h.action {
                    WildAction::Queue(q) => {
                        if let Some(c) = h.counter {
                            engine.hit(c, u64::from(len));
                        }
                        // The backend refuses queues beyond the workers'; the
                        // modulo only keeps a bad rule from panicking.
                        Some(usize::from(q) % workers as usize)
                    }
                    _ => None,
                },
            };
            if let Some(w) = to_worker {
                bump(&stats.misses, 1);
                bump(&stats.miss_bytes, u64::from(len));
                if let Err(pkt) = pending[w].push(pkt) {
                    // Cannot happen: nothing waits when a burst is taken, and a
                    // burst is no larger than a pending batch. Counted, not lost
                    // from sight.
                    drop(pkt);
                    bump(&stats.ports[0].tx_dropped, 1);
                }
                return;
            }
            let Some(hit) = hit else {
                return; // Not reached: every miss went to a worker above.
            };
            // Counted before the fate, as a NIC's COUNT action is: a rule's
            // counter sees the packets it drops and those its meter drops.
            if let Some(c) = hit.counter {
                engine.hit(c, u64::from(len));
            }
            let (hits, hit_bytes) = match hit.table {
                RuleTable::Exact => (&stats.hits, &stats.hit_bytes),
                RuleTable::Wildcard => (&stats.wildcard_hits, &stats.wildcard_hit_bytes),
            };
            bump(hits, 1);
            bump(hit_bytes, u64::from(len));
            let port = match hit.action {
                WildAction::Forward(p) => p.index(),
                WildAction::Drop => {
                    // Only wildcard rules drop (exact rules always forward).
                    drop(pkt);
                    bump(&stats.wildcard_drops, 1);
                    return;
                }
                WildAction::Queue(_) => return, // Went to a worker above.
            };
            if hit.metered {
                // An operator's rule may name any port: one without a meter or
                // without counters (out of range) is not policed here, and
                // the lookup below counts it as refused.
                if let (Some(Some(m)), Some(c)) = (meters.get(port), stats.ports.get(port)) {
                    if !m.admit(now, len) {
                        bump(&c.drop_meter, 1);
                        return;
                    }
                }
            }
            let (Some(batch), Some(Some(queue))) = (out.get_mut(port), to_ports.get_mut(port))
            else {
                bump(&stats.ports[0].tx_dropped, 1);
                return;
            };
            if let Err(pkt) = batch.push(pkt) {
                send(queue, batch, &stats.ports[port]);
                let _ = batch.push(pkt);
            }
        });
        let up = &self.stats.ports[PortIdx(0).index()];
        bump(&up.rx_packets, received);
        bump(&up.rx_bytes, rx_bytes);
    }

    fn flush_ports(&mut self) {
        for (port, (queue, batch)) in self.to_ports.iter_mut().zip(&mut self.out).enumerate() {
            if let Some(queue) = queue {
                if !batch.is_empty() {
                    send(queue, batch, &self.stats.ports[port]);
                }
            }
        }
    }

    /// Offers waiting misses to the workers' rings; what does not fit waits.
    fn push_pending(&mut self) -> usize {
        let mut moved = 0;
        for (queue, batch) in self.to_workers.iter_mut().zip(&mut self.pending) {
            if !batch.is_empty() {
                moved += queue.tx_burst(batch);
            }
        }
        moved
    }
}

/// Sends a batch to a VF; what its queue refuses is freed and counted.
fn send<T: TxQueueIo>(queue: &mut T, batch: &mut T::Burst, c: &PortCounters) {
    let bytes: u64 = batch
        .as_slice()
        .iter()
        .map(|p| u64::from(p.pkt_len()))
        .sum();
    let sent = queue.tx_burst(batch);
    let mut refused_bytes = 0;
    let mut refused = 0;
    batch.drain_each(|p| {
        refused += 1;
        refused_bytes += u64::from(p.pkt_len());
    });
    bump(&c.tx_packets, sent as u64);
    bump(&c.tx_bytes, bytes - refused_bytes);
    bump(&c.tx_dropped, refused);
}

/// The hash that spreads flows over workers.
#[inline]
fn flow_hash(key: &FlowKey) -> u64 {
    match key {
        FlowKey::V4(k) => k.hash64(),
        FlowKey::V6(k) => k.hash64(),
    }
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
