//! The switch's flow counters: one for each rule with a COUNT action and
//! one for each indirect COUNT handle, counted by the switch as packets hit,
//! and read as a NIC reports them: from a cache the device refreshes every
//! `counter_refresh_ms` (mlx5 answers `rte_flow_query` from counter values
//! it fetches in the background, about once a second), or live when that is
//! 0.
//!
//! The cache is kept per counter and per refresh period (the clock's time
//! divided by the interval): the first read in a period takes the live
//! value, later reads in that period see the same value. So a value read is
//! never older than one interval, reads within an interval agree, and a rule
//! destroyed now shows its final count from the next period on, as on a NIC
//! whose counter is fetched once more after the rule is gone.
//!
//! A query's reset moves a baseline (what was read), never the count itself.
//! A counter given back starts again from zero for its next user.
//!
//! Thread-safety: in the switch's state, under its lock (see
//! [`crate::rules`]); the counts are plain integers.

/// One counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    packets: u64,
    bytes: u64,
    /// What reads in period `period` see.
    cached: (u64, u64),
    period: Option<u64>,
    /// What the last reset read.
    base: (u64, u64),
    /// Whether a rule or handle holds it.
    used: bool,
}

/// Every counter of the switch; slots are made as they are first needed,
/// up to the device's limit.
#[derive(Debug)]
pub struct FlowCounters {
    slots: Vec<Slot>,
    free: Vec<u32>,
    limit: usize,
    /// Refresh interval in ns; 0 is live.
    refresh_ns: u64,
}

impl FlowCounters {
    /// Room for `limit` counters, refreshed every `refresh_ms` (0: live).
    pub fn new(limit: usize, refresh_ms: u64) -> FlowCounters {
        FlowCounters {
            slots: Vec::new(),
            free: Vec::new(),
            limit,
            refresh_ns: refresh_ms.saturating_mul(1_000_000),
        }
    }

    /// Counters in use.
    pub fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether another counter can be had.
    pub fn available(&self) -> bool {
        !self.free.is_empty() || self.slots.len() < self.limit
    }

    /// A counter at zero, if one is left.
    pub fn alloc(&mut self) -> Option<u32> {
        let fresh = Slot {
            used: true,
            ..Slot::default()
        };
        if let Some(c) = self.free.pop() {
            self.slots[c as usize] = fresh;
            return Some(c);
        }
        if self.slots.len() >= self.limit {
            return None;
        }
        let c = u32::try_from(self.slots.len()).ok()?;
        self.slots.push(fresh);
        Some(c)
    }

    /// Gives counter `c` back.
    pub fn release(&mut self, c: u32) {
        if let Some(s) = self.slots.get_mut(c as usize).filter(|s| s.used) {
            s.used = false;
            self.free.push(c);
        }
    }

    /// Counts a packet of `len` bytes on counter `c` (the switch).
    #[inline]
    pub fn count(&mut self, c: u32, len: u64) {
        if let Some(s) = self.slots.get_mut(c as usize) {
            s.packets += 1;
            s.bytes += len;
        }
    }

    /// The refresh period `now_ns` falls in (`None`: counters are live).
    pub fn period(&self, now_ns: u64) -> Option<u64> {
        (self.refresh_ns > 0).then(|| now_ns / self.refresh_ns)
    }

    /// Counter `c` as the device reports it at `now_ns`: packets and bytes
    /// since it was allocated or last reset; `reset` starts again from what
    /// this read shows.
    pub fn read(&mut self, c: u32, now_ns: u64, reset: bool) -> (u64, u64) {
        let period = self.period(now_ns);
        let Some(s) = self.slots.get_mut(c as usize) else {
            return (0, 0);
        };
        let now = match period {
            None => (s.packets, s.bytes),
            Some(p) => {
                if s.period != Some(p) {
                    s.cached = (s.packets, s.bytes);
                    s.period = Some(p);
                }
                s.cached
            }
        };
        let since = (
            now.0.saturating_sub(s.base.0),
            now.1.saturating_sub(s.base.1),
        );
        if reset {
            s.base = now;
        }
        since
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn live_counters_read_what_was_counted_and_reset_by_baseline() {
        let mut c = FlowCounters::new(2, 0);
        let a = c.alloc().unwrap();
        c.count(a, 60);
        c.count(a, 60);
        assert_eq!(c.read(a, 0, true), (2, 120));
        assert_eq!(c.read(a, 0, false), (0, 0));
        c.count(a, 100);
        assert_eq!(c.read(a, 0, false), (1, 100));
    }

    #[test]
    fn cached_counters_change_at_most_once_a_period() {
        let mut c = FlowCounters::new(1, 1000);
        let a = c.alloc().unwrap();
        c.count(a, 60);
        assert_eq!(c.read(a, 10 * MS, false), (1, 60), "first read of a period");
        c.count(a, 60);
        assert_eq!(c.read(a, 999 * MS, false), (1, 60), "same period: cached");
        assert_eq!(c.read(a, 1000 * MS, false), (2, 120), "next period");
        c.count(a, 60);
        assert_eq!(
            c.read(a, 1500 * MS, true),
            (2, 120),
            "a reset reads the cache"
        );
        assert_eq!(c.read(a, 1600 * MS, false), (0, 0));
        assert_eq!(c.read(a, 2000 * MS, false), (1, 60));
    }

    #[test]
    fn the_limit_and_reuse_from_zero() {
        let mut c = FlowCounters::new(2, 0);
        let a = c.alloc().unwrap();
        let b = c.alloc().unwrap();
        assert_ne!(a, b);
        assert!(!c.available());
        assert_eq!(c.alloc(), None);
        c.count(a, 60);
        c.release(a);
        c.release(a);
        assert_eq!(c.in_use(), 1);
        let again = c.alloc().unwrap();
        assert_eq!(again, a);
        assert_eq!(
            c.read(again, 0, false),
            (0, 0),
            "a reused counter starts at zero"
        );
        assert_eq!(c.alloc(), None);
        assert!(FlowCounters::new(0, 0).alloc().is_none());
    }
}
