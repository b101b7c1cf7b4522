//! The control core's say over a worker lcore, and the lcore's answer.
//!
//! One protocol for pause, resume, drain and stop: the control core
//! *requests* a state, stamped with a new epoch; the worker carries it out at
//! the top of its next loop iteration and *acknowledges* it, with the same
//! epoch, once it holds: paused means no RX poll and every TX batch sent;
//! draining means that and every flow event handed over too; stopped means the
//! loop has ended. The control core waits for the acknowledgement, never for a
//! time: a worker that stalls (preempted, a page fault, a debugger) is waited
//! for, however long it takes, so what the control core reads after the
//! acknowledgement is final.
//!
//! Each side writes one word (state and epoch packed, so a reader never sees
//! one without the other), on a cache line of its own: the worker reads the
//! request once per iteration and the control core polls the answer, and
//! neither write disturbs the other side's line.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a worker lcore is doing, or asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcoreState {
    /// Polling its RX queues.
    Running,
    /// Not polling (testpmd's `stop`); its TX batches sent. It still carries
    /// out the control core's commands.
    Paused,
    /// Paused, and every flow event it owes the control core queued: what
    /// it took is all counted and announced (the first step of shutdown).
    Draining,
    /// Its loop has ended (after a final flush).
    Stopped,
}

impl LcoreState {
    const ALL: [LcoreState; 4] = [
        LcoreState::Running,
        LcoreState::Paused,
        LcoreState::Draining,
        LcoreState::Stopped,
    ];

    /// The state's name, as the shell shows it.
    pub fn name(self) -> &'static str {
        match self {
            LcoreState::Running => "running",
            LcoreState::Paused => "paused",
            LcoreState::Draining => "draining",
            LcoreState::Stopped => "stopped",
        }
    }

    fn code(self) -> u64 {
        self as u64
    }

    fn from_code(code: u64) -> LcoreState {
        LcoreState::ALL[(code & STATE_MASK) as usize]
    }
}

/// Low bits of a word: the state; the rest: the epoch.
const STATE_BITS: u32 = 2;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

fn pack(epoch: u64, state: LcoreState) -> u64 {
    (epoch << STATE_BITS) | state.code()
}

fn unpack(word: u64) -> (u64, LcoreState) {
    (word >> STATE_BITS, LcoreState::from_code(word))
}

/// One word on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Line(AtomicU64);

/// A request and its acknowledgement, shared by the control core (which
/// requests) and one worker lcore (which acknowledges).
#[derive(Debug, Default)]
pub struct LcoreSignal {
    requested: Line,
    acked: Line,
}

impl LcoreSignal {
    /// Running, epoch 0, requested and acknowledged (a worker starts running).
    pub fn new() -> Self {
        Self::default()
    }

    /// Control core: asks for `state`. Returns the epoch whose
    /// acknowledgement says it holds. One thread requests (the control core),
    /// so the epoch is read and written without a race.
    pub fn request(&self, state: LcoreState) -> u64 {
        let (epoch, _) = unpack(self.requested.0.load(Ordering::Relaxed));
        let next = epoch + 1;
        self.requested.0.store(pack(next, state), Ordering::Release);
        next
    }

    /// The latest request: its epoch and state. The worker reads it once per
    /// loop iteration.
    #[inline(always)]
    pub fn requested(&self) -> (u64, LcoreState) {
        unpack(self.requested.0.load(Ordering::Acquire))
    }

    /// Worker: the request of `epoch` holds. Everything the worker wrote
    /// before (counters, sent packets, queued events) is visible to a control
    /// core that sees this acknowledgement.
    pub fn acknowledge(&self, epoch: u64, state: LcoreState) {
        self.acked.0.store(pack(epoch, state), Ordering::Release);
    }

    /// The latest acknowledgement: its epoch and state.
    pub fn acked(&self) -> (u64, LcoreState) {
        unpack(self.acked.0.load(Ordering::Acquire))
    }

    /// Whether the request of `epoch` (or a later one) was acknowledged.
    pub fn has_acknowledged(&self, epoch: u64) -> bool {
        self.acked().0 >= epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_answered_with_its_own_epoch() {
        let s = LcoreSignal::new();
        assert_eq!(s.requested(), (0, LcoreState::Running));
        assert_eq!(s.acked(), (0, LcoreState::Running));
        let e = s.request(LcoreState::Paused);
        assert_eq!(e, 1);
        assert_eq!(s.requested(), (1, LcoreState::Paused));
        assert!(!s.has_acknowledged(e), "nothing answered yet");
        s.acknowledge(e, LcoreState::Paused);
        assert!(s.has_acknowledged(e));
        let e2 = s.request(LcoreState::Running);
        assert!(
            !s.has_acknowledged(e2),
            "an old answer does not answer a new request"
        );
        assert_eq!(s.acked(), (1, LcoreState::Paused));
    }

    #[test]
    fn every_state_survives_the_packing() {
        for state in LcoreState::ALL {
            for epoch in [0, 1, 7, u64::MAX >> STATE_BITS] {
                assert_eq!(unpack(pack(epoch, state)), (epoch, state));
            }
        }
    }
}
