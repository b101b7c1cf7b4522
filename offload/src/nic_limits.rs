//! What the NIC has said about its limits, learned from its answers. A NIC
//! does not tell how many rules it holds (mlx5 has no query for it) nor how
//! fast it inserts them; it refuses: ENOSPC when its table is full, EBUSY or
//! EAGAIN when rules come faster than it takes them. The engine keeps to
//! what those refusals say, as TCP keeps to what losses say:
//!
//! - **Capacity.** After an ENOSPC the engine holds no more rules than the
//!   NIC held then (its rule budget becomes that many, below `max_rules`),
//!   so hotter flows take rules by eviction instead of meeting refusals.
//!   The table may have room again later (another user of the NIC freed
//!   rules, or the refusal was one of a kind), so after a quiet spell as long
//!   as a refused flow's first back-off (`backoff_ms`) the learned capacity
//!   grows by a step (1/16, at least one rule), until it reaches `max_rules`
//!   and is forgotten.
//! - **Insertion rate.** Each tick with an EBUSY halves the rate the engine
//!   inserts and removes at (down to 1/64 of `inserts_per_sec`); each tick
//!   without one adds back 1/16 of it.
//!
//! Flows refused keep their own back-off as well (`lifecycle`).

/// The smallest share of the configured insertion rate kept after EBUSYs.
const MIN_RATE_SCALE: f64 = 1.0 / 64.0;

/// The share of the configured rate given back each tick without EBUSY.
const RATE_STEP: f64 = 1.0 / 16.0;

/// The NIC's limits as learned from its refusals.
#[derive(Debug, Clone, PartialEq)]
pub struct NicLimits {
    /// Rules the NIC held at its last ENOSPC (grown since); `None`: no
    /// refusal for space stands.
    capacity: Option<usize>,
    /// Ticks since the last ENOSPC.
    quiet_ticks: u64,
    /// The share of the configured insertion rate to use now, in
    /// [MIN_RATE_SCALE, 1].
    rate_scale: f64,
    /// ENOSPC and EBUSY refusals seen in the current tick.
    no_space_now: bool,
    busy_now: bool,
}

impl Default for NicLimits {
    fn default() -> Self {
        NicLimits {
            capacity: None,
            quiet_ticks: 0,
            rate_scale: 1.0,
            no_space_now: false,
            busy_now: false,
        }
    }
}

impl NicLimits {
    /// The NIC refused a rule for space while it held `installed` rules.
    pub fn no_space(&mut self, installed: usize) {
        self.capacity = Some(self.capacity.map_or(installed, |c| c.min(installed)));
        self.no_space_now = true;
    }

    /// The NIC refused a rule as busy (EBUSY, EAGAIN).
    pub fn busy(&mut self) {
        self.busy_now = true;
    }

    /// Ends a tick: a tick with an EBUSY halves the insertion rate, one
    /// without gives some back; `regrow_ticks` ticks without an ENOSPC grow
    /// the learned capacity (forgotten once it reaches `max_rules`).
    pub fn end_tick(&mut self, max_rules: usize, regrow_ticks: u64) {
        if std::mem::take(&mut self.busy_now) {
            self.rate_scale = (self.rate_scale / 2.0).max(MIN_RATE_SCALE);
        } else {
            self.rate_scale = (self.rate_scale + RATE_STEP).min(1.0);
        }
        if std::mem::take(&mut self.no_space_now) {
            self.quiet_ticks = 0;
            return;
        }
        self.quiet_ticks += 1;
        if let Some(c) = self.capacity {
            if self.quiet_ticks >= regrow_ticks.max(1) {
                self.quiet_ticks = 0;
                let grown = c + (c / 16).max(1);
                self.capacity = (grown < max_rules).then_some(grown);
            }
        }
    }

    /// The rules the engine may hold: `max_rules`, or fewer where the NIC
    /// said so.
    pub fn rule_budget(&self, max_rules: usize) -> usize {
        self.capacity.map_or(max_rules, |c| c.min(max_rules))
    }

    /// The learned capacity, if an ENOSPC set one.
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// The share of the configured insertion rate in use.
    pub fn rate_scale(&self) -> f64 {
        self.rate_scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGROW_TICKS: u64 = 5;

    #[test]
    fn an_enospc_caps_the_budget_until_a_quiet_spell_grows_it_back() {
        let mut l = NicLimits::default();
        assert_eq!(l.rule_budget(100), 100);
        l.no_space(40);
        l.no_space(42);
        assert_eq!(
            l.rule_budget(100),
            40,
            "the lowest count the NIC refused at"
        );
        l.end_tick(100, REGROW_TICKS);
        for _ in 0..REGROW_TICKS - 1 {
            l.end_tick(100, REGROW_TICKS);
            assert_eq!(l.rule_budget(100), 40);
        }
        l.end_tick(100, REGROW_TICKS);
        assert_eq!(l.rule_budget(100), 42, "a step of 1/16, at least one");
        // A refusal during the spell starts it again.
        l.no_space(42);
        for _ in 0..REGROW_TICKS {
            l.end_tick(100, REGROW_TICKS);
        }
        assert_eq!(l.rule_budget(100), 42);
        // Grown to max_rules, the capacity is forgotten.
        let mut l = NicLimits::default();
        l.no_space(99);
        l.end_tick(100, REGROW_TICKS);
        for _ in 0..REGROW_TICKS {
            l.end_tick(100, REGROW_TICKS);
        }
        assert_eq!(l.capacity(), None);
        assert_eq!(l.rule_budget(100), 100);
    }

    #[test]
    fn ebusy_halves_the_rate_and_quiet_ticks_give_it_back() {
        let mut l = NicLimits::default();
        l.busy();
        l.busy();
        l.end_tick(10, REGROW_TICKS);
        assert_eq!(
            l.rate_scale(),
            0.5,
            "one halving a tick, however many refusals"
        );
        for _ in 0..10 {
            l.busy();
            l.end_tick(10, REGROW_TICKS);
        }
        assert_eq!(l.rate_scale(), MIN_RATE_SCALE);
        for _ in 0..100 {
            l.end_tick(10, REGROW_TICKS);
        }
        assert_eq!(l.rate_scale(), 1.0);
    }
}
