//! Per-worker counters, shared with the control thread.
//!
//! Thread-safety: each [`WorkerStats`] has exactly one writer, its worker, which
//! updates with a relaxed load and store (no locked instruction on the fast path);
//! the control thread reads with relaxed loads. 64-bit atomics never tear, so a
//! reader sees each counter at some recent value; counters of one port may be a
//! burst apart from each other, never wrong.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::stages::StageCycles;

/// Adds `n` to a counter that only the calling thread writes.
#[inline(always)]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// One worker's counters for one port. Cache-line aligned so that two workers'
/// counters never share a line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct PortCounters {
    /// Packets and bytes this worker received on the port.
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    /// Packets and bytes this worker sent out of the port.
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Packets the port's TX queue refused (freed and counted).
    pub tx_dropped: AtomicU64,
    /// Packets received on the port and dropped by the forwarding decision.
    pub drop_unknown_unicast: AtomicU64,
    pub drop_group: AtomicU64,
    pub drop_runt: AtomicU64,
    /// Packets received on the port and dropped by a policy rule.
    pub drop_rule: AtomicU64,
    /// Packets received on the port and flooded to every VF.
    pub flooded: AtomicU64,
    /// Packets for this port that its rate meter dropped (they stay in their
    /// flows' received totals).
    pub drop_meter: AtomicU64,
}

/// A plain copy of [`PortCounters`], summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortTotals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub drop_unknown_unicast: u64,
    pub drop_group: u64,
    pub drop_runt: u64,
    pub drop_rule: u64,
    pub flooded: u64,
    pub drop_meter: u64,
}

impl PortTotals {
    /// Adds one worker's counters.
    pub fn add(&mut self, c: &PortCounters) {
        self.rx_packets += c.rx_packets.load(Relaxed);
        self.rx_bytes += c.rx_bytes.load(Relaxed);
        self.tx_packets += c.tx_packets.load(Relaxed);
        self.tx_bytes += c.tx_bytes.load(Relaxed);
        self.tx_dropped += c.tx_dropped.load(Relaxed);
        self.drop_unknown_unicast += c.drop_unknown_unicast.load(Relaxed);
        self.drop_group += c.drop_group.load(Relaxed);
        self.drop_runt += c.drop_runt.load(Relaxed);
        self.drop_rule += c.drop_rule.load(Relaxed);
        self.flooded += c.flooded.load(Relaxed);
        self.drop_meter += c.drop_meter.load(Relaxed);
    }

    /// Packets received here that the forwarding decision dropped.
    pub fn policy_drops(&self) -> u64 {
        self.drop_unknown_unicast + self.drop_group + self.drop_runt + self.drop_rule
    }
}

/// One worker's counters: per port, plus its poll-loop figures. Aligned to a
/// cache line: each worker writes its own every loop, and two workers'
/// (separate allocations, maybe adjacent) must not share a line.
#[derive(Debug)]
#[repr(align(64))]
pub struct WorkerStats {
    /// Indexed by [`crate::PortIdx`].
    pub ports: Box<[PortCounters]>,
    /// Poll-loop iterations.
    pub loops: AtomicU64,
    /// RX bursts that returned at least one packet.
    pub bursts: AtomicU64,
    /// RX polls that returned nothing.
    pub empty_polls: AtomicU64,
    /// TSC cycles spent in iterations that moved packets, and in those that did not.
    pub busy_cycles: AtomicU64,
    pub idle_cycles: AtomicU64,
    /// Packets without a flow key, by [`crate::wire::ParseError`] (indexed by
    /// `ParseError::index`): non-IP, fragments (first ones too), malformed by
    /// reason.
    pub parse_errors: Box<[AtomicU64]>,
    /// Flows inserted into the table.
    pub flows_created: AtomicU64,
    /// Flows removed on the control core's command.
    pub flows_evicted: AtomicU64,
    /// Packets of new flows forwarded uncached because the table was full.
    pub table_full: AtomicU64,
    /// New-flow events that found the control core's queue full and were sent
    /// again later.
    pub events_deferred: AtomicU64,
    /// New-flow events dropped (the queue and the deferred list both full:
    /// never, with the deferred list sized for the tables).
    pub events_dropped: AtomicU64,
    /// Evictions put off because the event queue had no room for the flow's end.
    pub evictions_deferred: AtomicU64,
    /// Cycles per stage of the loop (zero unless built with `stage-cycles`).
    pub stages: StageCycles,
}

impl WorkerStats {
    /// Zeroed counters for `ports` ports.
    pub fn new(ports: usize) -> Self {
        WorkerStats {
            ports: (0..ports).map(|_| PortCounters::default()).collect(),
            loops: AtomicU64::new(0),
            bursts: AtomicU64::new(0),
            empty_polls: AtomicU64::new(0),
            busy_cycles: AtomicU64::new(0),
            idle_cycles: AtomicU64::new(0),
            parse_errors: crate::wire::ParseError::ALL
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            flows_created: AtomicU64::new(0),
            flows_evicted: AtomicU64::new(0),
            table_full: AtomicU64::new(0),
            events_deferred: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            evictions_deferred: AtomicU64::new(0),
            stages: StageCycles::default(),
        }
    }

    /// Packets without a flow key, by reason, summed over several workers.
    pub fn parse_error_totals<'a>(
        workers: impl IntoIterator<Item = &'a WorkerStats>,
    ) -> Vec<(crate::wire::ParseError, u64)> {
        let mut out: Vec<(crate::wire::ParseError, u64)> = crate::wire::ParseError::ALL
            .iter()
            .map(|e| (*e, 0))
            .collect();
        for w in workers {
            for (slot, c) in out.iter_mut().zip(w.parse_errors.iter()) {
                slot.1 += c.load(Relaxed);
            }
        }
        out
    }

    /// Sums per-port counters over several workers.
    pub fn port_totals<'a>(
        workers: impl IntoIterator<Item = &'a WorkerStats>,
        nports: usize,
    ) -> Vec<PortTotals> {
        let mut out = vec![PortTotals::default(); nports];
        for w in workers {
            for (t, c) in out.iter_mut().zip(w.ports.iter()) {
                t.add(c);
            }
        }
        out
    }
}
