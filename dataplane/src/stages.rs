//! Cycles per stage of the worker's loop, for the cycle budget in
//! perf/README.md: TSC laps between the stages of a burst. They are compiled
//! in only with the `stage-cycles` feature (each lap is an `rdtsc` and a
//! counter store, some 30 cycles a burst); by default a lap is an empty inline
//! function and the loop is the machine code it would be without them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::clock::Clock;
#[cfg(feature = "stage-cycles")]
use crate::stats::bump;

/// Whether this build records stage cycles.
pub const ENABLED: bool = cfg!(feature = "stage-cycles");

/// A stage of the worker's loop, in the order a packet meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `rx_burst` on each RX queue (empty polls included).
    Rx,
    /// Parsing every packet of the burst into a flow key.
    Parse,
    /// Hashing the keys and the bulk lookup.
    Lookup,
    /// Turning hits into plans, and misses into new flows (classify,
    /// insert, announce).
    Miss,
    /// Counting each packet on its flow and putting it in its egress batch
    /// (meters included).
    CountAct,
    /// `tx_burst` of the batches.
    Tx,
    /// The rest of the loop: the control core's commands, the clock, the
    /// loop's own counters.
    Loop,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 7] = [
        Stage::Rx,
        Stage::Parse,
        Stage::Lookup,
        Stage::Miss,
        Stage::CountAct,
        Stage::Tx,
        Stage::Loop,
    ];

    /// As the final report names it.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Rx => "rx",
            Stage::Parse => "parse",
            Stage::Lookup => "hash+lookup",
            Stage::Miss => "miss",
            Stage::CountAct => "count+act",
            Stage::Tx => "tx",
            Stage::Loop => "loop",
        }
    }
}

/// Cycles spent in each stage by one worker (its only writer), in iterations
/// that moved packets; zero unless [`ENABLED`].
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct StageCycles {
    cycles: [AtomicU64; Stage::ALL.len()],
}

impl StageCycles {
    /// Cycles spent in `stage` so far.
    pub fn get(&self, stage: Stage) -> u64 {
        self.cycles[stage as usize].load(Relaxed)
    }

    #[cfg(feature = "stage-cycles")]
    #[inline(always)]
    fn add(&self, stage: Stage, cycles: u64) {
        bump(&self.cycles[stage as usize], cycles);
    }
}

/// A stopwatch that charges the time since its last lap to a stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimer {
    #[cfg(feature = "stage-cycles")]
    last: u64,
}

impl StageTimer {
    /// A stopwatch started now.
    #[inline(always)]
    pub fn start(_clock: &impl Clock) -> StageTimer {
        StageTimer {
            #[cfg(feature = "stage-cycles")]
            last: _clock.now(),
        }
    }

    /// Charges the time since the last lap to `stage`.
    #[inline(always)]
    pub fn lap(&mut self, _to: &StageCycles, _stage: Stage, _clock: &impl Clock) {
        #[cfg(feature = "stage-cycles")]
        {
            let now = _clock.now();
            _to.add(_stage, now.wrapping_sub(self.last));
            self.last = now;
        }
    }
}

#[cfg(all(test, feature = "stage-cycles"))]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn laps_charge_the_time_between_them() {
        let t = Cell::new(100u64);
        let clock = || t.get();
        let cycles = StageCycles::default();
        let mut timer = StageTimer::start(&clock);
        t.set(130);
        timer.lap(&cycles, Stage::Rx, &clock);
        t.set(180);
        timer.lap(&cycles, Stage::Parse, &clock);
        t.set(190);
        timer.lap(&cycles, Stage::Rx, &clock);
        assert_eq!(cycles.get(Stage::Rx), 40);
        assert_eq!(cycles.get(Stage::Parse), 50);
        assert_eq!(cycles.get(Stage::Tx), 0);
    }
}
