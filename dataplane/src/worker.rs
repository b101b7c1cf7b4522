//! The poll-mode worker: rx_burst -> parse all (hashing each key and
//! prefetching its buckets) -> bulk lookup -> miss handling ->
//! per-flow counters -> per-egress TX batches -> tx_burst.
//!
//! Per iteration the worker touches only its own queues, batches, flow table and
//! counters: no lock, no allocation (every array is built at start-up), no
//! syscall. Frames without a flow key (non-IP, malformed, fragments, the first
//! one too) are counted by reason and forwarded by the L2 table. The control core talks to the
//! worker only through two bounded channels: flow events out, commands in.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::clock::Clock;
use crate::flow::{FlowId, FlowKey, KeyV4, KeyV6};
use crate::flowstate::{EndReason, FlowCounters, FlowEvent, FlowSnapshot, WorkerCommand};
use crate::io::{PacketBuf, PacketBurst, RxQueueIo, TxQueueIo};
use crate::l2::DropReason;
use crate::lcore::{LcoreSignal, LcoreState};
use crate::meter::RateMeter;
use crate::pages;
use crate::policy::{DropCause, FlowAction, Policy};
use crate::stages::{Stage, StageTimer};
use crate::stats::{bump, PortCounters, WorkerStats};
use crate::table::simd::prefetch;
use crate::table::{CuckooTable, KeyHash, TableFull};
use crate::wire::{self, ParseError};
use crate::PortIdx;

/// Most packets handled per burst (the burst arrays' size).
const MAX_BURST: usize = 64;

/// How many packets ahead of the parse their headers are prefetched.
const PREFETCH_AHEAD: usize = 4;

/// Most commands taken per loop iteration, so a flood of evictions cannot stall
/// forwarding.
const COMMANDS_PER_LOOP: usize = 32;

/// An RX queue this worker polls, and the port it belongs to.
#[derive(Debug)]
pub struct RxAssignment<R> {
    pub port: PortIdx,
    pub queue: R,
    /// Packets still to take from this queue (`None`: no limit). Used to replay a
    /// capture an exact number of times from an endlessly looping PMD.
    pub budget: Option<u64>,
}

/// A TX queue and the batch waiting for it.
struct TxSlot<T: TxQueueIo> {
    queue: T,
    batch: T::Burst,
    /// Bytes of the packets in `batch`.
    batch_bytes: u64,
    /// The port's rate meter, shared with every lcore sending to it.
    meter: Option<Arc<RateMeter>>,
}

/// How one packet of the current burst is handled.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// Counted on this flow, which carries the action.
    Flow(FlowId),
    /// No flow key: the L2 table decides.
    Raw,
    /// A new flow the full table could not take: classified, not cached.
    Uncached(FlowAction),
}

/// What a worker is built with, besides its queues.
#[derive(Debug)]
pub struct WorkerSetup<C: Clock = fn() -> u64> {
    pub policy: Policy,
    /// Packets per rx_burst (clamped to 1..=64).
    pub burst: usize,
    /// IPv4 and IPv6 flows the tables hold.
    pub flows_v4: usize,
    pub flows_v6: usize,
    pub stats: Arc<WorkerStats>,
    /// Flow slots shared with the control core; at least `flows_v4 + flows_v6`
    /// rounded up to the tables' capacities (see [`Worker::flow_slots_needed`]).
    pub counters: Arc<FlowCounters>,
    pub events: Sender<FlowEvent>,
    pub commands: Receiver<WorkerCommand>,
    /// The worker's clock (the TSC on DPDK), read once per loop iteration.
    pub clock: C,
    /// Clock ticks a partly filled TX batch may wait for more packets while
    /// traffic flows (0: send every batch after each pass over the RX queues).
    /// A pass that receives nothing always sends what waits.
    pub tx_drain_ticks: u64,
    /// Rate meters by egress port ([`PortIdx`]); missing entries are unmetered.
    pub meters: Vec<Option<Arc<RateMeter>>>,
}

/// The flow tables and what hangs off them. Global flow ids: IPv4 table ids as
/// they are, IPv6 table ids after the IPv4 table's capacity.
struct Flows {
    v4: CuckooTable<KeyV4>,
    v6: CuckooTable<KeyV6>,
    /// Each live flow's cached action, by global id.
    actions: Box<[FlowAction]>,
    counters: Arc<FlowCounters>,
}

impl Flows {
    fn v6_base(&self) -> u32 {
        self.v4.capacity() as u32
    }

    fn key(&self, id: FlowId) -> Option<FlowKey> {
        let base = self.v6_base();
        if id.0 < base {
            self.v4.key(id).copied().map(FlowKey::V4)
        } else {
            self.v6.key(FlowId(id.0 - base)).copied().map(FlowKey::V6)
        }
    }

    fn remove(&mut self, id: FlowId) {
        let base = self.v6_base();
        if id.0 < base {
            self.v4.remove_id(id);
        } else {
            self.v6.remove_id(FlowId(id.0 - base));
        }
    }
}

/// Per-burst scratch arrays, allocated once.
struct Scratch {
    plans: [Plan; MAX_BURST],
    keys4: [KeyV4; MAX_BURST],
    hashes4: [KeyHash; MAX_BURST],
    at4: [u8; MAX_BURST],
    found4: [Option<FlowId>; MAX_BURST],
    keys6: [KeyV6; MAX_BURST],
    hashes6: [KeyHash; MAX_BURST],
    at6: [u8; MAX_BURST],
    found6: [Option<FlowId>; MAX_BURST],
}

impl Scratch {
    fn new() -> Box<Scratch> {
        Box::new(Scratch {
            plans: [Plan::Raw; MAX_BURST],
            keys4: [KeyV4::default(); MAX_BURST],
            hashes4: [KeyHash::default(); MAX_BURST],
            at4: [0; MAX_BURST],
            found4: [None; MAX_BURST],
            keys6: [KeyV6::default(); MAX_BURST],
            hashes6: [KeyHash::default(); MAX_BURST],
            at6: [0; MAX_BURST],
            found6: [None; MAX_BURST],
        })
    }
}

/// One worker's state. Generic over the I/O so the same loop runs on DPDK queues
/// and on test vectors.
pub struct Worker<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>, C: Clock = fn() -> u64> {
    rx: Vec<RxAssignment<R>>,
    tx: Vec<TxSlot<T>>,
    policy: Policy,
    flows: Flows,
    scratch: Box<Scratch>,
    burst: usize,
    stats: Arc<WorkerStats>,
    events: Events,
    commands: Receiver<WorkerCommand>,
    clock: C,
    tx_drain_ticks: u64,
    last_flush: u64,
    /// Laps between the loop's stages (nothing unless built with
    /// `stage-cycles`).
    timer: StageTimer,
}

/// The flow events going to the control core.
struct Events {
    queue: Sender<FlowEvent>,
    /// Flows whose `New` event found the queue full, announced again as it
    /// drains (one slot per flow the tables hold, so none is ever given up).
    unannounced: Vec<FlowId>,
}

impl Events {
    /// Announces a new flow, now or (queue full) later.
    fn new_flow(&mut self, id: FlowId, key: FlowKey, action: FlowAction, stats: &WorkerStats) {
        if self
            .queue
            .try_send(FlowEvent::New { id, key, action })
            .is_ok()
        {
            return;
        }
        if self.unannounced.len() < self.unannounced.capacity() {
            self.unannounced.push(id);
            bump(&stats.events_deferred, 1);
        } else {
            bump(&stats.events_dropped, 1);
        }
    }

    /// Announces (a bounded number of) the deferred flows still in `flows`,
    /// until the queue is full again.
    fn announce_deferred(&mut self, flows: &Flows) {
        for _ in 0..COMMANDS_PER_LOOP {
            let Some(&id) = self.unannounced.last() else {
                return;
            };
            if let Some(key) = flows.key(id) {
                let action = flows.actions[id.index()];
                if self
                    .queue
                    .try_send(FlowEvent::New { id, key, action })
                    .is_err()
                {
                    return;
                }
            }
            // Announced, or gone meanwhile: nothing more to say.
            self.unannounced.pop();
        }
    }
}

impl<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>, C: Clock> std::fmt::Debug for Worker<R, T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("rx_queues", &self.rx.len())
            .field("tx_ports", &self.tx.len())
            .field("burst", &self.burst)
            .field("flows", &(self.flows.v4.len() + self.flows.v6.len()))
            .finish()
    }
}

impl<R: RxQueueIo, T: TxQueueIo<Burst = R::Burst>, C: Clock> Worker<R, T, C> {
    /// Flow slots (counter array length) a worker with these table sizes needs.
    pub fn flow_slots_needed(flows_v4: usize, flows_v6: usize) -> usize {
        CuckooTable::<KeyV4>::with_capacity(flows_v4).capacity()
            + CuckooTable::<KeyV6>::with_capacity(flows_v6).capacity()
    }

    /// A worker polling `rx`, sending through `tx` (one queue per port, indexed by
    /// [`PortIdx`]).
    pub fn new(rx: Vec<RxAssignment<R>>, tx: Vec<T>, setup: WorkerSetup<C>) -> Self {
        assert_eq!(
            setup.stats.ports.len(),
            tx.len(),
            "one TX queue and one counter set per port"
        );
        let v4 = CuckooTable::with_capacity(setup.flows_v4);
        let v6 = CuckooTable::with_capacity(setup.flows_v6);
        let slots = v4.capacity() + v6.capacity();
        assert!(
            setup.counters.len() >= slots,
            "counter array too small for the flow tables"
        );
        Worker {
            rx,
            tx: tx
                .into_iter()
                .enumerate()
                .map(|(port, queue)| TxSlot {
                    queue,
                    batch: T::Burst::empty(),
                    batch_bytes: 0,
                    meter: setup.meters.get(port).cloned().flatten(),
                })
                .collect(),
            policy: setup.policy,
            flows: Flows {
                v4,
                v6,
                actions: pages::filled_with(slots, || FlowAction::Drop(DropCause::Rule))
                    .into_boxed_slice(),
                counters: setup.counters,
            },
            scratch: Scratch::new(),
            burst: setup.burst.clamp(1, R::Burst::CAPACITY.min(MAX_BURST)),
            stats: setup.stats,
            events: Events {
                queue: setup.events,
                unannounced: Vec::with_capacity(slots),
            },
            commands: setup.commands,
            timer: StageTimer::start(&setup.clock),
            clock: setup.clock,
            tx_drain_ticks: setup.tx_drain_ticks,
            last_flush: 0,
        }
    }

    /// Polls until asked to stop, then flushes and returns; carries out each
    /// request of `signal` at the top of an iteration and acknowledges it
    /// once it holds (see [`crate::lcore`]). Paused or draining, it takes no
    /// packets (testpmd's `stop`) but still carries out the control core's
    /// commands and hands over its flow events.
    pub fn run(&mut self, signal: &LcoreSignal) {
        let mut rx_burst = R::Burst::empty();
        // One clock read per iteration: the end of one is the start of the
        // next, and it stamps the packets the next one receives (at most one
        // iteration early: what a flow's first and last seen can be off by).
        let mut now = self.clock.now();
        // The request carried out, and whether its acknowledgement is owed.
        let (mut epoch, mut state) = signal.requested();
        let mut owed = true;
        loop {
            self.take_commands();
            let (latest, wanted) = signal.requested();
            if latest != epoch {
                (epoch, state, owed) = (latest, wanted, true);
            }
            // The loop's own work since the last TX: its counters, commands.
            self.timer.lap(&self.stats.stages, Stage::Loop, &self.clock);
            let moved = if state == LcoreState::Running {
                self.poll_at(now, &mut rx_burst)
            } else {
                self.flush_all();
                0
            };
            if owed && self.holds(state) {
                signal.acknowledge(epoch, state);
                owed = false;
                if state == LcoreState::Stopped {
                    return;
                }
            }
            let end = self.clock.now();
            let spent = end.wrapping_sub(now);
            now = end;
            if moved > 0 {
                bump(&self.stats.busy_cycles, spent);
            } else {
                bump(&self.stats.idle_cycles, spent);
            }
            bump(&self.stats.loops, 1);
        }
    }

    /// Whether `state` holds after this iteration: running at once; paused
    /// and stopped once no TX batch waits; draining once, besides, every
    /// new flow's event is queued for the control core (a full queue defers
    /// some, sent again each iteration as the control core makes room).
    fn holds(&self, state: LcoreState) -> bool {
        let sent = self.tx.iter().all(|slot| slot.batch.is_empty());
        match state {
            LcoreState::Running => true,
            LcoreState::Paused | LcoreState::Stopped => sent,
            LcoreState::Draining => sent && self.events.unannounced.is_empty(),
        }
    }

    /// Whether every budgeted RX queue has delivered its budget.
    pub fn budgets_spent(&self) -> bool {
        self.rx.iter().all(|a| a.budget.is_none_or(|b| b == 0))
    }

    /// Flows in the tables.
    pub fn flow_count(&self) -> usize {
        self.flows.v4.len() + self.flows.v6.len()
    }

    /// Every flow still in the tables, with its action and counters (for the flow
    /// log at exit, once the worker has stopped).
    pub fn remaining_flows(
        &self,
    ) -> impl Iterator<Item = (FlowId, FlowKey, FlowAction, FlowSnapshot)> + '_ {
        let base = self.flows.v6_base();
        let v4 = self.flows.v4.iter().map(|(id, k)| (id, FlowKey::V4(*k)));
        let v6 = self
            .flows
            .v6
            .iter()
            .map(move |(id, k)| (FlowId(id.0 + base), FlowKey::V6(*k)));
        v4.chain(v6).map(|(id, key)| {
            let counters = self
                .flows
                .counters
                .get(id)
                .map(|c| c.snapshot())
                .unwrap_or_default();
            (id, key, self.flows.actions[id.index()], counters)
        })
    }

    /// Carries out the control core's commands (a bounded number per call).
    pub fn take_commands(&mut self) {
        if !self.events.unannounced.is_empty() {
            self.events.announce_deferred(&self.flows);
        }
        for _ in 0..COMMANDS_PER_LOOP {
            let Ok(cmd) = self.commands.try_recv() else {
                return;
            };
            match cmd {
                WorkerCommand::Evict { id, idle_since } => self.evict(id, idle_since),
                WorkerCommand::SetPolicy {
                    mut policy,
                    retired,
                } => {
                    std::mem::swap(&mut self.policy, &mut *policy);
                    // The control core sized the channel for every worker:
                    // only a control core gone away refuses it (and then
                    // the old policy is freed here, at shutdown).
                    let _ = retired.try_send(policy);
                }
            }
        }
    }

    fn evict(&mut self, id: FlowId, idle_since: u64) {
        let Some(key) = self.flows.key(id) else {
            return; // already gone (a repeated command)
        };
        let Some(counter) = self.flows.counters.get(id) else {
            return;
        };
        let counters = counter.snapshot();
        if counters.last_seen > idle_since {
            return; // the flow came back to life since the control core looked
        }
        let ended = FlowEvent::Ended {
            id,
            key,
            action: self.flows.actions[id.index()],
            counters,
            reason: EndReason::Idle,
        };
        // The flow's end must reach the control core (it holds the final
        // counters): evict only once the message is queued.
        if self.events.queue.try_send(ended).is_err() {
            bump(&self.stats.evictions_deferred, 1);
            return;
        }
        self.flows.remove(id);
        bump(&self.stats.flows_evicted, 1);
    }

    /// One pass over the RX queues, then (see `tx_drain_ticks`) a flush of every
    /// batch. Returns how many packets were received.
    pub fn poll_once(&mut self, rx_burst: &mut R::Burst) -> usize {
        let now = self.clock.now();
        self.poll_at(now, rx_burst)
    }

    /// [`Self::poll_once`] with the clock read at `now`.
    fn poll_at(&mut self, now: u64, rx_burst: &mut R::Burst) -> usize {
        let mut moved = 0;
        for a in 0..self.rx.len() {
            let assignment = &mut self.rx[a];
            let max = match assignment.budget {
                Some(0) => continue,
                Some(left) => (self.burst as u64).min(left) as usize,
                None => self.burst,
            };
            let n = assignment.queue.rx_burst(rx_burst, max);
            self.timer.lap(&self.stats.stages, Stage::Rx, &self.clock);
            if n == 0 {
                bump(&self.stats.empty_polls, 1);
                continue;
            }
            if let Some(left) = assignment.budget.as_mut() {
                *left = left.saturating_sub(n as u64);
            }
            let in_port = assignment.port;
            moved += n;
            bump(&self.stats.bursts, 1);
            self.process_burst(in_port, rx_burst, now);
        }
        // Like l3fwd: full batches went out as they filled; partial ones wait a
        // little for company while traffic flows, so that tx_burst calls carry
        // more packets, and go at once when the queues fall quiet.
        if self.tx_drain_ticks == 0 || moved == 0 {
            flush_all(&mut self.tx, &self.stats.ports);
        } else if now.wrapping_sub(self.last_flush) >= self.tx_drain_ticks {
            flush_all(&mut self.tx, &self.stats.ports);
            self.last_flush = now;
        }
        self.timer.lap(&self.stats.stages, Stage::Tx, &self.clock);
        moved
    }

    /// Parses, looks up, counts and forwards one received burst.
    fn process_burst(&mut self, in_port: PortIdx, burst: &mut R::Burst, now: u64) {
        let n = burst.len().min(MAX_BURST);
        let s = &mut *self.scratch;
        let (mut n4, mut n6) = (0usize, 0usize);
        let mut rx_bytes = 0u64;
        // 1. Parse every packet; keys go to the family's lookup array. Each
        // packet's headers are asked for a few packets ahead (as l3fwd does):
        // a NIC's DMA leaves them in memory or the LLC, not in this core's
        // caches.
        let pkts = burst.as_slice();
        for pkt in pkts.iter().take(PREFETCH_AHEAD) {
            prefetch(pkt.first_segment().as_ptr());
        }
        for (i, pkt) in pkts.iter().take(n).enumerate() {
            if let Some(ahead) = pkts.get(i + PREFETCH_AHEAD) {
                prefetch(ahead.first_segment().as_ptr());
            }
            rx_bytes += u64::from(pkt.pkt_len());
            s.plans[i] = Plan::Raw;
            // Judged by the whole packet's length, read from its first
            // segment: a jumbo frame in chained buffers is one datagram.
            match wire::parse_segmented(pkt.first_segment(), pkt.pkt_len() as usize) {
                // RSS hashes every fragment over its addresses alone (the later
                // ones have no ports), the first too, so that a datagram's
                // fragments stay together; the flow's whole datagrams are
                // hashed by ports too, so a first fragment may reach another
                // worker than its flow. Keyed, it would make the flow live on
                // two workers: it goes with the datagram's other fragments.
                Ok(parsed) if parsed.first_fragment => {
                    bump(&self.stats.parse_errors[ParseError::Fragment.index()], 1)
                }
                Ok(parsed) => match parsed.key {
                    FlowKey::V4(mut k) => {
                        k.in_port = in_port.0 as u8;
                        s.hashes4[n4] = self.flows.v4.hash_key(&k);
                        s.keys4[n4] = k;
                        s.at4[n4] = i as u8;
                        n4 += 1;
                    }
                    FlowKey::V6(mut k) => {
                        k.in_port = in_port.0 as u8;
                        s.hashes6[n6] = self.flows.v6.hash_key(&k);
                        s.keys6[n6] = k;
                        s.at6[n6] = i as u8;
                        n6 += 1;
                    }
                },
                Err(e) => bump(&self.stats.parse_errors[e.index()], 1),
            }
        }
        self.timer
            .lap(&self.stats.stages, Stage::Parse, &self.clock);
        // 2. One bulk lookup per family, of the keys hashed (and their buckets
        // prefetched) as the parse made them.
        self.flows
            .v4
            .lookup_bulk_hashed(&s.keys4[..n4], &s.hashes4[..n4], &mut s.found4[..n4]);
        self.flows
            .v6
            .lookup_bulk_hashed(&s.keys6[..n6], &s.hashes6[..n6], &mut s.found6[..n6]);
        self.timer
            .lap(&self.stats.stages, Stage::Lookup, &self.clock);
        // 3. Hits become plans; misses are classified and inserted.
        let base = self.flows.v6_base();
        for j in 0..n4 {
            let i = usize::from(s.at4[j]);
            s.plans[i] = match s.found4[j] {
                Some(id) => {
                    prefetch_counter(&self.flows, id);
                    Plan::Flow(id)
                }
                None => {
                    let frame = burst.as_slice()[i].first_segment();
                    miss_v4(
                        &mut self.flows,
                        &self.policy,
                        &mut self.events,
                        &self.stats,
                        s.keys4[j],
                        frame,
                        now,
                    )
                }
            };
        }
        for j in 0..n6 {
            let i = usize::from(s.at6[j]);
            s.plans[i] = match s.found6[j] {
                Some(id) => {
                    let id = FlowId(id.0 + base);
                    prefetch_counter(&self.flows, id);
                    Plan::Flow(id)
                }
                None => {
                    let frame = burst.as_slice()[i].first_segment();
                    miss_v6(
                        &mut self.flows,
                        &self.policy,
                        &mut self.events,
                        &self.stats,
                        s.keys6[j],
                        frame,
                        now,
                    )
                }
            };
        }
        self.timer.lap(&self.stats.stages, Stage::Miss, &self.clock);
        // 4. Count and act, in arrival order.
        let mut i = 0;
        let (flows, policy, tx, ports) =
            (&self.flows, &self.policy, &mut self.tx, &self.stats.ports);
        burst.drain_each(|pkt| {
            let action = match s.plans.get(i).copied().unwrap_or(Plan::Raw) {
                Plan::Flow(id) => {
                    if let Some(c) = flows.counters.get(id) {
                        c.count(u64::from(pkt.pkt_len()), now);
                    }
                    flows.actions[id.index()]
                }
                Plan::Raw => policy.l2().decide(in_port, pkt.first_segment()).into(),
                Plan::Uncached(action) => action,
            };
            i += 1;
            apply(action, policy, tx, ports, in_port, pkt, now);
        });
        let counters = &self.stats.ports[in_port.index()];
        bump(&counters.rx_packets, n as u64);
        bump(&counters.rx_bytes, rx_bytes);
        self.timer
            .lap(&self.stats.stages, Stage::CountAct, &self.clock);
    }

    /// Sends every waiting batch.
    pub fn flush_all(&mut self) {
        flush_all(&mut self.tx, &self.stats.ports);
    }
}

/// Starts loading a hit flow's counters and action, which the counting pass
/// touches next: a burst's misses then overlap instead of stalling one by one.
#[inline(always)]
fn prefetch_counter(flows: &Flows, id: FlowId) {
    if let Some(c) = flows.counters.get(id) {
        prefetch(c);
    }
    if let Some(a) = flows.actions.get(id.index()) {
        prefetch(a);
    }
}

/// Settles a key the bulk lookup missed: found (an earlier packet of this
/// burst made its flow) or inserted in one probe of the table. A new flow is
/// classified, and announced. With the table full the packet is still
/// forwarded by policy, uncached, and counted.
#[allow(clippy::too_many_arguments)]
#[inline]
fn settle_miss(
    placed: Result<(FlowId, bool), TableFull>,
    flows: &mut Flows,
    policy: &Policy,
    events: &mut Events,
    stats: &WorkerStats,
    key: FlowKey,
    frame: &[u8],
    now: u64,
) -> Plan {
    let id = match placed {
        Ok((id, false)) => return Plan::Flow(id),
        Ok((id, true)) => id,
        Err(TableFull) => {
            bump(&stats.table_full, 1);
            return Plan::Uncached(policy.classify(&key, frame));
        }
    };
    let action = policy.classify(&key, frame);
    flows.actions[id.index()] = action;
    if let Some(c) = flows.counters.get(id) {
        c.reset(now);
    }
    bump(&stats.flows_created, 1);
    events.new_flow(id, key, action, stats);
    Plan::Flow(id)
}

fn miss_v4(
    flows: &mut Flows,
    policy: &Policy,
    events: &mut Events,
    stats: &WorkerStats,
    key: KeyV4,
    frame: &[u8],
    now: u64,
) -> Plan {
    let placed = flows.v4.find_or_insert(key);
    settle_miss(
        placed,
        flows,
        policy,
        events,
        stats,
        FlowKey::V4(key),
        frame,
        now,
    )
}

fn miss_v6(
    flows: &mut Flows,
    policy: &Policy,
    events: &mut Events,
    stats: &WorkerStats,
    key: KeyV6,
    frame: &[u8],
    now: u64,
) -> Plan {
    let base = flows.v6_base();
    let placed = flows
        .v6
        .find_or_insert(key)
        .map(|(id, new)| (FlowId(id.0 + base), new));
    settle_miss(
        placed,
        flows,
        policy,
        events,
        stats,
        FlowKey::V6(key),
        frame,
        now,
    )
}

/// Carries out one packet's action.
#[inline(always)]
fn apply<T: TxQueueIo>(
    action: FlowAction,
    policy: &Policy,
    tx: &mut [TxSlot<T>],
    counters: &[PortCounters],
    in_port: PortIdx,
    pkt: <T::Burst as PacketBurst>::Pkt,
    now: u64,
) {
    match action {
        FlowAction::Forward(out) => enqueue(tx, counters, out, pkt, now),
        FlowAction::Flood => {
            bump(&counters[in_port.index()].flooded, 1);
            for out in policy.l2().vf_ports() {
                if out != in_port {
                    enqueue(tx, counters, out, pkt.share(), now);
                }
            }
            // The original reference is released here; the copies own the buffer.
        }
        FlowAction::Drop(cause) => {
            let c = &counters[in_port.index()];
            bump(
                match cause {
                    DropCause::Rule => &c.drop_rule,
                    DropCause::L2(DropReason::Runt) => &c.drop_runt,
                    DropCause::L2(DropReason::UnknownUnicast) => &c.drop_unknown_unicast,
                    DropCause::L2(DropReason::Group) => &c.drop_group,
                },
                1,
            );
        }
    }
}

/// Puts a packet in its egress batch, sending the batch first if it is full.
/// A metered port's packets beyond its rate are dropped and counted.
#[inline(always)]
fn enqueue<T: TxQueueIo>(
    tx: &mut [TxSlot<T>],
    counters: &[PortCounters],
    out: PortIdx,
    pkt: <T::Burst as PacketBurst>::Pkt,
    now: u64,
) {
    let Some(slot) = tx.get_mut(out.index()) else {
        return; // no such port: the packet is freed (cannot happen with a valid config)
    };
    if let Some(meter) = &slot.meter {
        if !meter.admit(now, pkt.pkt_len()) {
            bump(&counters[out.index()].drop_meter, 1);
            return;
        }
    }
    let len = u64::from(pkt.pkt_len());
    let pkt = match slot.batch.push(pkt) {
        Ok(()) => {
            slot.batch_bytes += len;
            return;
        }
        Err(pkt) => pkt,
    };
    flush(slot, &counters[out.index()]);
    if slot.batch.push(pkt).is_ok() {
        slot.batch_bytes += len;
    }
}

fn flush_all<T: TxQueueIo>(tx: &mut [TxSlot<T>], counters: &[PortCounters]) {
    for (slot, c) in tx.iter_mut().zip(counters) {
        if !slot.batch.is_empty() {
            flush(slot, c);
        }
    }
}

/// Sends a batch; what the queue refuses is freed and counted as `tx_dropped`.
#[inline]
fn flush<T: TxQueueIo>(slot: &mut TxSlot<T>, c: &PortCounters) {
    let sent = slot.queue.tx_burst(&mut slot.batch) as u64;
    let mut refused = 0u64;
    let mut refused_bytes = 0u64;
    if !slot.batch.is_empty() {
        slot.batch.drain_each(|p| {
            refused += 1;
            refused_bytes += u64::from(p.pkt_len());
        });
    }
    bump(&c.tx_packets, sent);
    bump(&c.tx_bytes, slot.batch_bytes - refused_bytes);
    if refused > 0 {
        bump(&c.tx_dropped, refused);
    }
    slot.batch_bytes = 0;
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
