//! Per-flow counters, shared between a worker and the control core, and the
//! messages they exchange about flows.
//!
//! Thread-safety: each worker owns one [`FlowCounters`] array and is its only
//! writer (relaxed load + store per update, no locked instruction); the control
//! core reads with relaxed loads. A 64-bit atomic never tears, so each counter is
//! exact at some recent instant; packets and bytes of one flow may be read one
//! packet apart, never wrong. Slots are indexed by [`FlowId`] and reset by the
//! worker when it (re)uses an id, after announcing the old flow's end.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_channel::Sender;

use crate::flow::{FlowId, FlowKey};
use crate::policy::{FlowAction, Policy};
use crate::stats::bump;

/// One flow's counters. 32 bytes: two flows per cache line.
#[derive(Debug, Default)]
#[repr(C, align(32))]
pub struct FlowCounter {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// TSC of the flow's first and latest packet.
    pub first_seen: AtomicU64,
    pub last_seen: AtomicU64,
}

/// A copy of a flow's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowSnapshot {
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: u64,
    pub last_seen: u64,
}

impl FlowCounter {
    /// Counts one packet of `len` bytes seen at `now` (worker only).
    #[inline(always)]
    pub fn count(&self, len: u64, now: u64) {
        bump(&self.packets, 1);
        bump(&self.bytes, len);
        self.last_seen.store(now, Relaxed);
    }

    /// Starts a new flow in this slot (worker only).
    pub fn reset(&self, now: u64) {
        self.packets.store(0, Relaxed);
        self.bytes.store(0, Relaxed);
        self.first_seen.store(now, Relaxed);
        self.last_seen.store(now, Relaxed);
    }

    /// Reads the counters.
    pub fn snapshot(&self) -> FlowSnapshot {
        FlowSnapshot {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            first_seen: self.first_seen.load(Relaxed),
            last_seen: self.last_seen.load(Relaxed),
        }
    }
}

/// Every flow slot of one worker, preallocated.
#[derive(Debug)]
pub struct FlowCounters {
    slots: Box<[FlowCounter]>,
}

impl FlowCounters {
    /// `n` zeroed slots.
    pub fn new(n: usize) -> Self {
        FlowCounters {
            slots: crate::pages::filled_with(n, FlowCounter::default).into_boxed_slice(),
        }
    }

    /// The slot of `id`.
    #[inline(always)]
    pub fn get(&self, id: FlowId) -> Option<&FlowCounter> {
        self.slots.get(id.index())
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The control core evicted it for being idle.
    Idle,
    /// The appliance stopped.
    Exit,
}

impl EndReason {
    /// As the flow log writes it.
    pub fn label(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Exit => "exit",
        }
    }
}

/// What a worker tells the control core (bounded channel; the worker never
/// blocks on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEvent {
    /// A flow was inserted with this id. Dropped (and counted) if the channel is
    /// full: the flow still runs and is logged at exit.
    New {
        id: FlowId,
        key: FlowKey,
        action: FlowAction,
    },
    /// A flow was removed; its final counters. Never dropped: a worker evicts a
    /// flow only once this message is in the channel.
    Ended {
        id: FlowId,
        key: FlowKey,
        action: FlowAction,
        counters: FlowSnapshot,
        reason: EndReason,
    },
}

/// What the control core tells a worker (bounded channel, drained every loop).
#[derive(Debug)]
pub enum WorkerCommand {
    /// Remove flow `id` if its last packet was at or before TSC `idle_since`
    /// (the check makes a stale or repeated command harmless).
    Evict { id: FlowId, idle_since: u64 },
    /// Decide new flows by `policy` from now on (flows in the table keep the
    /// action they were given). The worker swaps it in and hands the old one
    /// back on `retired`, so that it is freed on the control core, not on
    /// the fast path; its arrival there is the acknowledgement.
    SetPolicy {
        policy: Box<Policy>,
        retired: Sender<Box<Policy>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_and_reset() {
        let c = FlowCounters::new(4);
        let slot = c.get(FlowId(3)).unwrap();
        slot.reset(100);
        slot.count(60, 150);
        slot.count(40, 170);
        assert_eq!(
            slot.snapshot(),
            FlowSnapshot {
                packets: 2,
                bytes: 100,
                first_seen: 100,
                last_seen: 170
            }
        );
        assert!(c.get(FlowId(4)).is_none());
        slot.reset(200);
        assert_eq!(slot.snapshot().packets, 0);
    }
}
