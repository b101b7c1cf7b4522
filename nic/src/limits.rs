//! The embedded switch's limits, as devargs: how many rules, counters and
//! meters it holds, how fast it takes new rules, and how often it refreshes
//! the counters it reports.
//!
//! | devarg | meaning | default |
//! |---|---|---|
//! | `rules=N` | rules held at most, both tables and both domains together | 1,048,576 |
//! | `counters=N` | flow counters (COUNT actions and indirect COUNT handles) | 16,777,216 |
//! | `meters=N` | rte_mtr meter objects | 65,536 |
//! | `inserts_per_sec=N` | rule creations a second, bursts of a tenth of that; 0: no limit | 50,000 |
//! | `counter_refresh_ms=N` | counters as read are the device's cache, refreshed this often; 0: live | 1000 |
//!
//! Why these defaults: mlx5 has no fixed rule count (its tables live in host
//! memory), so the default is large enough that an application's own limits
//! bind first; `rules=N` makes the device's bind. mlx5's software-steering
//! counters come in up to 2^15 pools of 512 (`MLX5_COUNTER_POOLS_MAX_NUM`,
//! `MLX5_COUNTERS_PER_POOL`), hence 2^24. mlx5 queries each counter pool
//! once a second (`MLX5_POOL_QUERY_FREQ_US`) and answers `rte_flow_query`
//! from that cache, hence 1000 ms. The insertion rate and the meter count
//! are the model's own: a NIC's firmware takes rules at a finite rate, and
//! the model refuses what comes faster (EBUSY) where mlx5's synchronous path
//! would make the caller wait.

/// Devarg keys of this module.
pub const KEYS: &[&str] = &[
    "rules",
    "counters",
    "meters",
    "inserts_per_sec",
    "counter_refresh_ms",
];

/// Most rules, counters or meters a device may be given (the exact table's
/// ids are 32-bit, and 2^24 keeps its memory in the hundreds of MB).
pub const MAX_OBJECTS: u64 = 1 << 24;

/// The switch's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rules held at most (`rules=`).
    pub rules: usize,
    /// Flow counters at most (`counters=`).
    pub counters: usize,
    /// Meter objects at most (`meters=`).
    pub meters: usize,
    /// Rule creations a second (`inserts_per_sec=`); 0 is no limit.
    pub inserts_per_sec: u64,
    /// How often the counters read are refreshed, in ms
    /// (`counter_refresh_ms=`); 0 is live.
    pub counter_refresh_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rules: 1 << 20,
            counters: 1 << 24,
            meters: 1 << 16,
            inserts_per_sec: 50_000,
            counter_refresh_ms: 1000,
        }
    }
}

impl Limits {
    /// No limit that a unit test would meet by accident: large tables, no
    /// insertion rate, live counters.
    pub fn unlimited() -> Limits {
        Limits {
            inserts_per_sec: 0,
            counter_refresh_ms: 0,
            ..Limits::default()
        }
    }

    /// Sets the limit `key` (one of [`KEYS`]) from its devarg value; the
    /// error says what the value should be.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), &'static str> {
        let n: u64 = value.parse().map_err(|_| "a whole number")?;
        let objects = || -> Result<usize, &'static str> {
            if n > MAX_OBJECTS {
                return Err("at most 16777216");
            }
            usize::try_from(n).map_err(|_| "at most 16777216")
        };
        match key {
            "rules" => self.rules = objects()?,
            "counters" => self.counters = objects()?,
            "meters" => self.meters = objects()?,
            "inserts_per_sec" => self.inserts_per_sec = n,
            "counter_refresh_ms" => {
                if n > 3_600_000 {
                    return Err("at most 3600000 (an hour)");
                }
                self.counter_refresh_ms = n;
            }
            _ => return Err("not a limit"),
        }
        Ok(())
    }
}

/// The insertion rate: a token bucket of `inserts_per_sec` a second holding
/// a tenth of a second's worth (at least one), as a firmware command queue
/// absorbs a burst. Kept as a theoretical arrival time (GCRA), in units of
/// nanoseconds times the rate, so that every rate is exact in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertRate {
    rate: u64,
    /// Insertions the bucket holds.
    burst: u64,
    /// When the bucket is next empty of debt, in ns x rate.
    tat: u128,
}

impl InsertRate {
    /// A limiter of `rate` insertions a second (0: none).
    pub fn new(rate: u64) -> InsertRate {
        InsertRate {
            rate,
            burst: (rate / 10).max(1),
            tat: 0,
        }
    }

    /// Whether an insertion at `now_ns` is within the rate; if it is, it is
    /// counted.
    pub fn admit(&mut self, now_ns: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        const NS: u128 = 1_000_000_000;
        let now = u128::from(now_ns) * u128::from(self.rate);
        // Each insertion costs one second's worth in these units; the bucket
        // tolerates `burst - 1` of them ahead of time.
        let tolerance = u128::from(self.burst - 1) * NS;
        if now + tolerance < self.tat {
            return false;
        }
        self.tat = self.tat.max(now) + NS;
        true
    }

    /// Insertions a second (0: no limit).
    pub fn rate(&self) -> u64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_devargs() {
        let mut l = Limits::default();
        assert_eq!(l.counter_refresh_ms, 1000, "mlx5's counter query period");
        l.set("rules", "16").unwrap();
        l.set("inserts_per_sec", "0").unwrap();
        l.set("counter_refresh_ms", "0").unwrap();
        assert_eq!(
            (l.rules, l.inserts_per_sec, l.counter_refresh_ms),
            (16, 0, 0)
        );
        assert!(l.set("rules", "-1").is_err());
        assert!(l.set("rules", "16777217").is_err());
        assert!(l.set("counters", "x").is_err());
        assert!(l.set("counter_refresh_ms", "3600001").is_err());
    }

    #[test]
    fn the_rate_admits_a_burst_then_one_per_interval() {
        let mut r = InsertRate::new(100); // burst 10, one per 10 ms
        let ms = 1_000_000;
        let admitted = (0..20).filter(|_| r.admit(0)).count();
        assert_eq!(admitted, 10, "a tenth of a second's worth at once");
        assert!(!r.admit(9 * ms));
        assert!(r.admit(10 * ms));
        assert!(!r.admit(10 * ms));
        // A second of quiet refills the burst, and no more.
        let later = 2000 * ms;
        assert_eq!((0..20).filter(|_| r.admit(later)).count(), 10);
    }

    #[test]
    fn a_steady_rate_is_held_exactly() {
        let mut r = InsertRate::new(4); // burst 1, one per 250 ms
        let ms = 1_000_000u64;
        assert!(r.admit(0));
        for i in 1..=40u64 {
            let due = i * 250 * ms;
            assert!(!r.admit(due - 1), "{i}: a nanosecond early");
            assert!(r.admit(due), "{i}: on time");
        }
        assert!(InsertRate::new(0).admit(0), "0 is no limit");
    }
}
