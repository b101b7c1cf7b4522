//! One flow's offload life cycle and its accounting, as the control core keeps
//! it:
//!
//! ```text
//! Onloaded -> Offloading -> Offloaded -> Onloading -> Onloaded
//! ```
//!
//! `Offloading` is a flow chosen for the NIC and waiting for an insertion slot
//! (installs are rate-limited); `Onloading` is an offloaded flow chosen to come
//! back, its rule still carrying it until removal. A flow's packets are
//! `sw + hw_folded + hw_current`: the worker's counter, the final counters of
//! the rules it had (folded in when each was removed), and the live counter of
//! the rule it has now. Every packet is counted by exactly one of them.

use crate::policy::OffloadChoice;
use crate::{HwCounters, HwRuleId};

/// Where a flow is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadState {
    /// By a worker.
    Onloaded,
    /// By a worker, chosen for the NIC and waiting for an insertion slot.
    Offloading,
    /// By the NIC, under this rule.
    Offloaded(HwRuleId),
    /// By the NIC, chosen to come back; the rule goes at the next removal slot.
    Onloading(HwRuleId),
}

impl OffloadState {
    /// The state's name in logs, the shell and metrics.
    pub fn label(self) -> &'static str {
        match self {
            OffloadState::Onloaded => "onloaded",
            OffloadState::Offloading => "offloading",
            OffloadState::Offloaded(_) => "offloaded",
            OffloadState::Onloading(_) => "onloading",
        }
    }

    /// Its place in per-state counts: onloaded, offloading, offloaded, onloading.
    pub fn index(self) -> usize {
        match self {
            OffloadState::Onloaded => 0,
            OffloadState::Offloading => 1,
            OffloadState::Offloaded(_) => 2,
            OffloadState::Onloading(_) => 3,
        }
    }

    /// The rule carrying the flow, if any.
    pub fn rule(self) -> Option<HwRuleId> {
        match self {
            OffloadState::Offloaded(r) | OffloadState::Onloading(r) => Some(r),
            _ => None,
        }
    }
}

/// Why an offloaded flow came back to the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoteReason {
    /// Its rate stayed at or below `demote_pps` for `hold` ticks.
    Cold,
    /// No packet for the idle timeout.
    Idle,
    /// A hotter flow needed its rule.
    Evicted,
    /// An operator asked, or the appliance is stopping.
    Requested,
}

impl DemoteReason {
    /// Every reason, in label order.
    pub const ALL: [DemoteReason; 4] = [
        DemoteReason::Cold,
        DemoteReason::Idle,
        DemoteReason::Evicted,
        DemoteReason::Requested,
    ];

    /// The reason's name.
    pub fn label(self) -> &'static str {
        match self {
            DemoteReason::Cold => "cold",
            DemoteReason::Idle => "idle",
            DemoteReason::Evicted => "evicted",
            DemoteReason::Requested => "requested",
        }
    }
}

/// A flow's offload record.
#[derive(Debug, Clone, Copy)]
pub struct FlowOffload {
    pub state: OffloadState,
    /// The header policies' choice, made when the flow was announced.
    pub choice: OffloadChoice,
    /// Final counters of the rules the flow had.
    pub hw_folded: HwCounters,
    /// The counter of its current rule, as last read.
    pub hw_current: HwCounters,
    /// Packets counted (all paths) when the rate was last updated, and when.
    pub counted_at_tick: u64,
    pub rated_at_tsc: u64,
    /// The NIC did not answer this tick's counter query for the flow's rule.
    pub reading_failed: bool,
    /// Packets per second, EWMA over ticks.
    pub rate_pps: f64,
    /// Consecutive ticks at or above the promotion rate, and at or below the
    /// demotion rate.
    pub ticks_hot: u32,
    pub ticks_cold: u32,
    /// TSC of the last tick that saw the flow's hardware counter move.
    pub hw_active_tsc: u64,
    /// Times the flow was put on the NIC, and the tick of the last time.
    pub offloads: u32,
    pub installed_tick: u64,
    /// Failed installs in a row (for the back-off), and the last one's reason.
    pub failures_in_row: u32,
    pub last_failure: Option<&'static str>,
    /// Tick number before which no install is tried again.
    pub retry_tick: u64,
    /// Why it is coming back, while `Onloading`.
    pub demote_reason: Option<DemoteReason>,
}

impl FlowOffload {
    /// A new, onloaded flow.
    pub fn new(choice: OffloadChoice) -> Self {
        FlowOffload {
            state: OffloadState::Onloaded,
            choice,
            hw_folded: HwCounters::default(),
            hw_current: HwCounters::default(),
            counted_at_tick: 0,
            rated_at_tsc: 0,
            reading_failed: false,
            rate_pps: 0.0,
            ticks_hot: 0,
            ticks_cold: 0,
            hw_active_tsc: 0,
            installed_tick: 0,
            offloads: 0,
            failures_in_row: 0,
            last_failure: None,
            retry_tick: 0,
            demote_reason: None,
        }
    }

    /// What the NIC has counted for this flow: folded plus current.
    pub fn hw_total(&self) -> HwCounters {
        HwCounters {
            packets: self.hw_folded.packets + self.hw_current.packets,
            bytes: self.hw_folded.bytes + self.hw_current.bytes,
        }
    }

    /// Takes a fresh reading of the current rule's counter; returns whether it
    /// moved. Counters only grow: a smaller reading (a NIC glitch) is ignored.
    pub fn read_hw(&mut self, c: HwCounters, now_tsc: u64) -> bool {
        if c.packets <= self.hw_current.packets {
            return false;
        }
        self.hw_current = c;
        self.hw_active_tsc = now_tsc;
        true
    }

    /// Updates the rate from the packets counted on all paths, `secs` after
    /// the last tick, and the hot/cold streaks.
    pub fn update_rate(
        &mut self,
        total_packets: u64,
        secs: f64,
        alpha: f64,
        promote: f64,
        demote: f64,
    ) {
        let delta = total_packets.saturating_sub(self.counted_at_tick);
        self.counted_at_tick = total_packets;
        let now = if secs > 0.0 { delta as f64 / secs } else { 0.0 };
        self.rate_pps = alpha * now + (1.0 - alpha) * self.rate_pps;
        // A flow that sent nothing is not hot, whatever its average says.
        self.ticks_hot = if self.rate_pps >= promote && promote > 0.0 && delta > 0 {
            self.ticks_hot.saturating_add(1)
        } else {
            0
        };
        self.ticks_cold = if self.rate_pps <= demote {
            self.ticks_cold.saturating_add(1)
        } else {
            0
        };
    }

    /// The rule was installed.
    pub fn installed(&mut self, rule: HwRuleId) {
        self.state = OffloadState::Offloaded(rule);
        self.hw_current = HwCounters::default();
        self.offloads += 1;
        self.failures_in_row = 0;
        self.ticks_cold = 0;
    }

    /// The install failed: back to the workers, no retry before
    /// `tick + backoff_ticks * 2^(failures in a row - 1)` (at most 64 times).
    /// The NIC had no room for the flow's rule (ENOSPC): it stays onloaded,
    /// the reason recorded, and stays a candidate with no back-off of its
    /// own: room is the NIC's state, not the flow's, and the engine keeps to
    /// the room the NIC said it has (`offload::nic_limits`), taking a rule
    /// from a colder flow when this one is hot enough.
    pub fn refused_for_space(&mut self, reason: &'static str) {
        self.state = OffloadState::Onloaded;
        self.last_failure = Some(reason);
    }

    pub fn install_failed(&mut self, reason: &'static str, tick: u64, backoff_ticks: u64) {
        self.state = OffloadState::Onloaded;
        self.last_failure = Some(reason);
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let factor = 1u64 << (self.failures_in_row - 1).min(6);
        self.retry_tick = tick + backoff_ticks.max(1) * factor;
        self.ticks_hot = 0;
    }

    /// A removed rule's final count `c`, read late (the device's counters are
    /// cached), of which its removal folded in `folded`: fold in the rest.
    /// These packets hit the rule before it went: they count in the flow's
    /// totals, not in its rate now (a burst of old packets would make a flow
    /// just demoted look hot).
    pub fn late_final(&mut self, c: HwCounters, folded: HwCounters) {
        let late = c.packets.saturating_sub(folded.packets);
        self.hw_folded.packets += late;
        self.hw_folded.bytes += c.bytes.saturating_sub(folded.bytes);
        self.counted_at_tick += late;
    }

    /// The rule is gone and `last` is its final count: fold it in.
    pub fn removed(&mut self, last: HwCounters) {
        // The final count includes everything read before, and more.
        let last = if last.packets >= self.hw_current.packets {
            last
        } else {
            self.hw_current
        };
        self.hw_folded.packets += last.packets;
        self.hw_folded.bytes += last.bytes;
        self.hw_current = HwCounters::default();
        self.state = OffloadState::Onloaded;
        self.demote_reason = None;
        self.ticks_hot = 0;
        self.ticks_cold = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(packets: u64) -> HwCounters {
        HwCounters {
            packets,
            bytes: packets * 100,
        }
    }

    #[test]
    fn counters_fold_across_two_offloads() {
        let mut f = FlowOffload::new(OffloadChoice::Auto);
        f.installed(HwRuleId(1));
        assert!(f.read_hw(c(10), 5));
        f.removed(c(12));
        assert_eq!(f.hw_total(), c(12));
        f.installed(HwRuleId(2));
        assert_eq!(f.hw_total(), c(12), "a new rule starts from zero");
        f.read_hw(c(3), 6);
        assert_eq!(f.hw_total(), c(15));
        f.removed(c(4));
        assert_eq!(f.hw_total(), c(16));
        assert_eq!(f.offloads, 2);
        assert_eq!(f.state, OffloadState::Onloaded);
    }

    #[test]
    fn a_final_count_below_the_last_reading_keeps_the_reading() {
        let mut f = FlowOffload::new(OffloadChoice::Auto);
        f.installed(HwRuleId(1));
        f.read_hw(c(10), 1);
        f.removed(c(7));
        assert_eq!(f.hw_total(), c(10));
    }

    #[test]
    fn rate_streaks_need_consecutive_ticks() {
        let mut f = FlowOffload::new(OffloadChoice::Auto);
        f.update_rate(100, 0.1, 1.0, 500.0, 50.0);
        assert_eq!((f.rate_pps, f.ticks_hot), (1000.0, 1));
        f.update_rate(200, 0.1, 1.0, 500.0, 50.0);
        assert_eq!(f.ticks_hot, 2);
        f.update_rate(201, 0.1, 1.0, 500.0, 50.0);
        assert_eq!(
            (f.ticks_hot, f.ticks_cold),
            (0, 1),
            "10 pps: no longer hot, cold"
        );
    }

    #[test]
    fn ewma_smooths_a_single_spike() {
        let mut f = FlowOffload::new(OffloadChoice::Auto);
        f.update_rate(1000, 1.0, 0.25, 500.0, 50.0);
        assert_eq!(f.rate_pps, 250.0);
        assert_eq!(f.ticks_hot, 0);
    }

    #[test]
    fn back_off_doubles_and_is_capped() {
        let mut f = FlowOffload::new(OffloadChoice::Auto);
        f.install_failed("busy", 10, 5);
        assert_eq!(f.retry_tick, 15);
        f.install_failed("busy", 20, 5);
        assert_eq!(f.retry_tick, 30);
        for _ in 0..20 {
            f.install_failed("no_space", 100, 5);
        }
        assert_eq!(f.retry_tick, 100 + 5 * 64);
        assert_eq!(f.last_failure, Some("no_space"));
        f.installed(HwRuleId(3));
        assert_eq!(f.failures_in_row, 0);
        assert_eq!(
            f.last_failure,
            Some("no_space"),
            "the last failure stays on record"
        );
    }
}
