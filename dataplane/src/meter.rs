//! Rate meters for VF ports: a single-rate policer shared by every worker
//! lcore that sends to the VF (the software path). A NIC driven through
//! rte_flow polices what its rules carry with a meter of its own (rte_mtr),
//! with the whole limit too (docs/rte_flow.md, section 4b).
//!
//! The meter is GCRA (the virtual-scheduling form of a token bucket): one word,
//! the theoretical arrival time of the next conforming unit, advanced with a
//! compare-and-swap. No lock, no allocation; contended only by the lcores that
//! send to the same metered VF.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What a meter's rate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterUnit {
    /// Packets per second.
    Packets,
    /// Bytes per second.
    Bytes,
}

/// Fixed-point scale of the meter's clock: 1/1024 of a clock tick, so that
/// byte rates near line rate keep their precision.
const SCALE_BITS: u32 = 10;

/// A shared single-rate policer.
#[derive(Debug)]
pub struct RateMeter {
    unit: MeterUnit,
    /// Scaled clock ticks one unit (packet or byte) costs. Atomic, as the
    /// tolerance, only so that a reload can change the rate while workers
    /// police: a packet that reads one old and one new word is judged by a
    /// mix of the two limits, harmlessly, once.
    interval: AtomicU64,
    /// Scaled clock ticks of credit a quiet meter accumulates (the burst).
    tolerance: AtomicU64,
    clock_hz: u64,
    /// Theoretical arrival time, scaled ticks since `epoch`.
    tat: AtomicU64,
    epoch: u64,
}

impl RateMeter {
    /// A meter admitting `rate` units per second, with a burst of `burst` units,
    /// on a clock of `clock_hz` ticks per second that reads `now` at creation.
    pub fn new(unit: MeterUnit, rate: u64, burst: u64, clock_hz: u64, now: u64) -> RateMeter {
        let (interval, tolerance) = Self::words(rate, burst, clock_hz);
        RateMeter {
            unit,
            interval: AtomicU64::new(interval),
            tolerance: AtomicU64::new(tolerance),
            clock_hz,
            tat: AtomicU64::new(0),
            epoch: now,
        }
    }

    /// The interval and tolerance of `rate` units per second with a burst
    /// of `burst` units.
    fn words(rate: u64, burst: u64, clock_hz: u64) -> (u64, u64) {
        let interval = ((u128::from(clock_hz) << SCALE_BITS) / u128::from(rate.max(1))) as u64;
        let interval = interval.max(1);
        (interval, interval.saturating_mul(burst.max(1)))
    }

    /// Polices at `rate` units per second with a burst of `burst` from now
    /// on (a reload); the unit stays. Credit already earned is judged by
    /// the new limit.
    pub fn set_limit(&self, rate: u64, burst: u64) {
        let (interval, tolerance) = Self::words(rate, burst, self.clock_hz);
        self.interval.store(interval, Relaxed);
        self.tolerance.store(tolerance, Relaxed);
    }

    /// What the rate counts.
    pub fn unit(&self) -> MeterUnit {
        self.unit
    }

    /// Whether a packet of `len` bytes arriving at `now` conforms; if it does,
    /// it is charged to the meter.
    #[inline]
    pub fn admit(&self, now: u64, len: u32) -> bool {
        let interval = self.interval.load(Relaxed);
        let tolerance = self.tolerance.load(Relaxed);
        let cost = match self.unit {
            MeterUnit::Packets => interval,
            MeterUnit::Bytes => interval.saturating_mul(u64::from(len)),
        };
        let t = now.saturating_sub(self.epoch) << SCALE_BITS;
        let mut tat = self.tat.load(Relaxed);
        loop {
            let start = tat.max(t);
            // The packet would use credit beyond the burst: it does not conform.
            if start.saturating_add(cost) > t.saturating_add(tolerance) {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, start + cost, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 1_000_000;

    /// Offers `pps` packets per second for `secs` seconds; returns those admitted.
    fn offer(m: &RateMeter, pps: u64, secs: u64, len: u32) -> u64 {
        let gap = HZ / pps;
        (0..pps * secs).filter(|i| m.admit(i * gap, len)).count() as u64
    }

    #[test]
    fn packet_meter_admits_its_rate_plus_the_burst() {
        let m = RateMeter::new(MeterUnit::Packets, 1000, 32, HZ, 0);
        let got = offer(&m, 10_000, 2, 64);
        assert!((2000..=2000 + 32).contains(&got), "{got}");
    }

    #[test]
    fn a_new_limit_applies_from_the_next_packet() {
        let m = RateMeter::new(MeterUnit::Packets, 1000, 32, HZ, 0);
        assert!((2000..=2032).contains(&offer(&m, 10_000, 2, 64)));
        m.set_limit(4000, 32);
        // From 4 s to 8 s at the new rate: 4000 a second, plus the burst.
        let later = (0..40_000u64)
            .filter(|i| m.admit(4 * HZ + i * HZ / 10_000, 64))
            .count() as u64;
        assert!((16_000..=16_032).contains(&later), "{later}");
    }

    #[test]
    fn traffic_under_the_rate_all_conforms() {
        let m = RateMeter::new(MeterUnit::Packets, 1000, 1, HZ, 0);
        assert_eq!(offer(&m, 500, 2, 64), 1000);
    }

    #[test]
    fn byte_meter_counts_bytes() {
        // 64 kB/s offered as 1000-byte packets at 1000 pps: 64 of them a second.
        let m = RateMeter::new(MeterUnit::Bytes, 64_000, 1500, HZ, 0);
        let got = offer(&m, 1000, 4, 1000);
        assert!((256..=256 + 2).contains(&got), "{got}");
    }

    #[test]
    fn a_quiet_meter_grants_no_more_than_its_burst() {
        let m = RateMeter::new(MeterUnit::Packets, 1000, 8, HZ, 0);
        let at = 10 * HZ;
        let burst = (0..100).filter(|_| m.admit(at, 64)).count();
        assert_eq!(burst, 8);
    }

    #[test]
    fn meter_shared_by_threads_keeps_the_total() {
        let m = std::sync::Arc::new(RateMeter::new(MeterUnit::Packets, 1000, 16, HZ, 0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = std::sync::Arc::clone(&m);
                std::thread::spawn(move || offer(&m, 10_000, 1, 64))
            })
            .collect();
        let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        // Each thread replays the same second of clock: together they may
        // take one second's rate plus the burst, no more.
        assert!(total <= 1000 + 16, "{total}");
        assert!(total >= 1000, "{total}");
    }
}
