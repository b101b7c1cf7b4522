//! Per-flow counters, shared between a worker and the control core, and the
//! messages they exchange about flows.
//!
//! Thread-safety: each worker owns one [`FlowCounters`] array and is its only
//! writer (relaxed load + store per update, no locked instruction); the control
//! core reads with relaxed loads. A 64-bit atomic never tears, so each counter is
//! exact at some recent instant; packets and bytes of one flow may be read one
//! packet apart, never wrong. Slots are indexed by [`FlowId`] and reset by the
//! worker when it (re)uses an id, after announcing the old flow's end.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::flow::{FlowId, FlowKey};
use crate::policy::FlowAction;
use crate::stats::bump;

/// What every packet of a flow touches: its counters and its cached action,
/// in one half of a cache line (two flows per line). The first-seen stamp,
/// written once per flow, lives apart ([`FlowCounters`]).
#[derive(Debug, Default)]
#[repr(C, align(32))]
pub struct FlowCounter {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// TSC of the flow's latest packet.
    pub last_seen: AtomicU64,
    /// The flow's action ([`FlowAction::to_bits`]): the worker reads it with
    /// the counters it bumps, not from a line of its own.
    action: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<FlowCounter>() == 32);

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

    /// The flow's cached action.
    #[inline(always)]
    pub fn action(&self) -> FlowAction {
        FlowAction::from_bits(self.action.load(Relaxed))
    }
}

/// Every flow slot of one worker, preallocated: the hot counters and, apart,
/// each flow's first-seen stamp.
#[derive(Debug)]
pub struct FlowCounters {
    slots: Box<[FlowCounter]>,
    first_seen: Box<[AtomicU64]>,
}

impl FlowCounters {
    /// `n` zeroed slots.
    pub fn new(n: usize) -> Self {
        FlowCounters {
            slots: (0..n).map(|_| FlowCounter::default()).collect(),
            first_seen: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The hot slot of `id`: counters and action.
    #[inline(always)]
    pub fn get(&self, id: FlowId) -> Option<&FlowCounter> {
        self.slots.get(id.index())
    }

    /// Starts a new flow with `action` in slot `id`, first seen at `now`
    /// (worker only).
    pub fn start(&self, id: FlowId, action: FlowAction, now: u64) {
        if let (Some(c), Some(first)) = (self.get(id), self.first_seen.get(id.index())) {
            c.packets.store(0, Relaxed);
            c.bytes.store(0, Relaxed);
            c.last_seen.store(now, Relaxed);
            c.action.store(action.to_bits(), Relaxed);
            first.store(now, Relaxed);
        }
    }

    /// Reads slot `id`'s counters.
    pub fn snapshot(&self, id: FlowId) -> Option<FlowSnapshot> {
        let c = self.get(id)?;
        Some(FlowSnapshot {
            packets: c.packets.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            first_seen: self.first_seen.get(id.index())?.load(Relaxed),
            last_seen: c.last_seen.load(Relaxed),
        })
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCommand {
    /// Remove flow `id` if its last packet was at or before TSC `idle_since`
    /// (the check makes a stale or repeated command harmless).
    Evict { id: FlowId, idle_since: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_and_restart() {
        use crate::policy::DropCause;
        use crate::PortIdx;
        let c = FlowCounters::new(4);
        c.start(FlowId(3), FlowAction::Forward(PortIdx(2)), 100);
        let slot = c.get(FlowId(3)).unwrap();
        slot.count(60, 150);
        slot.count(40, 170);
        assert_eq!(
            c.snapshot(FlowId(3)),
            Some(FlowSnapshot {
                packets: 2,
                bytes: 100,
                first_seen: 100,
                last_seen: 170
            })
        );
        assert_eq!(slot.action(), FlowAction::Forward(PortIdx(2)));
        assert!(c.get(FlowId(4)).is_none());
        assert_eq!(c.snapshot(FlowId(4)), None);
        c.start(FlowId(3), FlowAction::Drop(DropCause::Rule), 200);
        assert_eq!(c.snapshot(FlowId(3)).unwrap().packets, 0);
        assert_eq!(c.snapshot(FlowId(3)).unwrap().first_seen, 200);
        assert_eq!(slot.action(), FlowAction::Drop(DropCause::Rule));
    }
}
