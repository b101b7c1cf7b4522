//! Faults the model NIC can be told to show, as devargs, so that an
//! application's handling of a NIC's bad days can be tested:
//!
//! | devarg | fault |
//! |---|---|
//! | `fault_nospace_every=N` | every Nth rule creation is refused as if the table were full (ENOSPC) |
//! | `fault_busy_every=N` | every Nth rule creation is refused as busy (EBUSY) |
//! | `fault_query_every=N` | every Nth counter read fails (EIO): `flow query`, indirect COUNT queries, meter stats |
//! | `fault_stall_ms=N` | the switch stalls N ms at a time: no packet moves and rule changes wait |
//! | `fault_stall_every_ms=M` | a stall starts every M ms of the switch running (default 1000; more than N) |
//!
//! Counting is deterministic: the Nth, 2Nth, ... creation that passes the
//! rule checks (a rule refused as invalid is not an installation attempt);
//! when both no-space and busy fall on one creation, no-space wins. Stalls
//! start M, 2M, ... ms after the switch starts (the PF port's start).

use std::time::Duration;

/// Devarg keys of this module.
pub const KEYS: &[&str] = &[
    "fault_nospace_every",
    "fault_busy_every",
    "fault_query_every",
    "fault_stall_ms",
    "fault_stall_every_ms",
];

/// Default interval between stalls when only their length is given.
const DEFAULT_STALL_EVERY_MS: u64 = 1000;

/// The faults asked for; 0 is never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    pub nospace_every: u64,
    pub busy_every: u64,
    pub query_every: u64,
    pub stall_ms: u64,
    /// 0 until given; [`Faults::check`] fills in the default.
    pub stall_every_ms: u64,
}

impl Faults {
    /// Sets the fault `key` (one of [`KEYS`]) from its devarg value; the
    /// error says what the value should be.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), &'static str> {
        let n: u64 = value.parse().map_err(|_| "a whole number")?;
        match key {
            "fault_nospace_every" => self.nospace_every = n,
            "fault_busy_every" => self.busy_every = n,
            "fault_query_every" => self.query_every = n,
            "fault_stall_ms" => {
                if n > 60_000 {
                    return Err("at most 60000 (a minute)");
                }
                self.stall_ms = n;
            }
            "fault_stall_every_ms" => {
                if n == 0 {
                    return Err("at least 1");
                }
                self.stall_every_ms = n;
            }
            _ => return Err("not a fault"),
        }
        Ok(())
    }

    /// Checks the faults together, once every devarg is read; fills in the
    /// default stall interval.
    pub fn check(&mut self) -> Result<(), &'static str> {
        if self.stall_ms == 0 {
            if self.stall_every_ms != 0 {
                return Err("fault_stall_every_ms needs fault_stall_ms");
            }
            return Ok(());
        }
        if self.stall_every_ms == 0 {
            self.stall_every_ms = DEFAULT_STALL_EVERY_MS;
        }
        if self.stall_every_ms <= self.stall_ms {
            return Err("fault_stall_every_ms must exceed fault_stall_ms");
        }
        Ok(())
    }
}

/// What an installation attempt meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallFault {
    NoSpace,
    Busy,
}

/// Where the counting faults stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultState {
    faults: Faults,
    installs: u64,
    queries: u64,
}

impl FaultState {
    /// Nothing counted yet.
    pub fn new(faults: Faults) -> FaultState {
        FaultState {
            faults,
            installs: 0,
            queries: 0,
        }
    }

    /// Counts an installation attempt; says whether it is to fail.
    pub fn install(&mut self) -> Option<InstallFault> {
        self.installs += 1;
        let hits = |every: u64| every != 0 && self.installs.is_multiple_of(every);
        if hits(self.faults.nospace_every) {
            Some(InstallFault::NoSpace)
        } else if hits(self.faults.busy_every) {
            Some(InstallFault::Busy)
        } else {
            None
        }
    }

    /// Counts a counter read; says whether it is to fail.
    pub fn query(&mut self) -> bool {
        self.queries += 1;
        let every = self.faults.query_every;
        every != 0 && self.queries.is_multiple_of(every)
    }
}

/// When the switch stalls: `stall_ms` long, every `stall_every_ms`, from
/// when it was armed (the switch's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallPlan {
    length_ns: u64,
    every_ns: u64,
    next_ns: u64,
}

impl StallPlan {
    /// The plan of `faults`, if they ask for stalls.
    pub fn new(faults: &Faults) -> Option<StallPlan> {
        (faults.stall_ms > 0 && faults.stall_every_ms > faults.stall_ms).then(|| StallPlan {
            length_ns: faults.stall_ms * 1_000_000,
            every_ns: faults.stall_every_ms * 1_000_000,
            next_ns: u64::MAX,
        })
    }

    /// Starts counting at `now_ns`: the first stall comes one interval later.
    pub fn arm(&mut self, now_ns: u64) {
        self.next_ns = now_ns.saturating_add(self.every_ns);
    }

    /// The stall due at `now_ns`, if any (then the next one is planned an
    /// interval after this one's start; stalls missed by a late caller are
    /// not made up).
    pub fn due(&mut self, now_ns: u64) -> Option<Duration> {
        if now_ns < self.next_ns {
            return None;
        }
        let late = (now_ns - self.next_ns) / self.every_ns;
        self.next_ns += (late + 1) * self.every_ns;
        Some(Duration::from_nanos(self.length_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_installation_fails_no_space_first() {
        let mut f = Faults::default();
        f.set("fault_nospace_every", "3").unwrap();
        f.set("fault_busy_every", "2").unwrap();
        let mut s = FaultState::new(f);
        let got: Vec<_> = (0..6).map(|_| s.install()).collect();
        use InstallFault::*;
        assert_eq!(
            got,
            [
                None,
                Some(Busy),
                Some(NoSpace),
                Some(Busy),
                None,
                Some(NoSpace)
            ]
        );
        assert!(FaultState::new(Faults::default()).install().is_none());
    }

    #[test]
    fn every_nth_query_fails() {
        let mut f = Faults::default();
        f.set("fault_query_every", "2").unwrap();
        let mut s = FaultState::new(f);
        assert_eq!(
            (0..4).map(|_| s.query()).collect::<Vec<_>>(),
            [false, true, false, true]
        );
    }

    #[test]
    fn stall_devargs_are_checked_together() {
        let mut f = Faults::default();
        f.set("fault_stall_ms", "50").unwrap();
        f.check().unwrap();
        assert_eq!(f.stall_every_ms, 1000);
        f.set("fault_stall_every_ms", "50").unwrap();
        assert!(f.check().is_err(), "a stall longer than its interval");
        let mut g = Faults::default();
        g.set("fault_stall_every_ms", "10").unwrap();
        assert!(g.check().is_err(), "an interval without a stall");
        assert!(g.set("fault_stall_every_ms", "0").is_err());
        assert!(g.set("fault_stall_ms", "60001").is_err());
        assert!(g.set("fault_busy_every", "x").is_err());
    }

    #[test]
    fn stalls_come_every_interval_from_the_start() {
        let f = Faults {
            stall_ms: 20,
            stall_every_ms: 100,
            ..Faults::default()
        };
        let ms = 1_000_000;
        let mut p = StallPlan::new(&f).unwrap();
        assert_eq!(p.due(0), None, "not armed");
        p.arm(5 * ms);
        assert_eq!(p.due(104 * ms), None);
        assert_eq!(p.due(105 * ms), Some(Duration::from_millis(20)));
        assert_eq!(p.due(106 * ms), None);
        // Late by more than an interval: one stall, then back on the grid.
        assert_eq!(p.due(420 * ms), Some(Duration::from_millis(20)));
        assert_eq!(p.due(504 * ms), None);
        assert_eq!(p.due(505 * ms), Some(Duration::from_millis(20)));
        assert!(StallPlan::new(&Faults::default()).is_none());
    }
}
