//! Rate limits for log lines: a storm of the same event (a NIC refusing
//! every install, a counter query failing each tick) becomes at most one
//! line per second per kind, and the next line that gets through says how
//! many were held back ("... (1234 more like this in the last 1.0 s)").
//!
//! Each call site holds its own [`LogLimit`] (a `static`, see
//! [`log_limited!`](crate::log_limited)), keyed within it by a
//! `&'static str` reason (an error label): so "install refused, busy" and
//! "install refused, no_space" are two kinds, each with its own second.
//! The slots are a fixed array behind an uncontended mutex: a suppressed
//! event costs a lock, a few compares and an add, never an allocation.
//!
//! The clock is passed in ([`LogLimit::admit_at`]), so the tests drive it;
//! the macro reads a monotonic clock ([`now`]).
//!
//! A storm that ends leaves no next line to carry its count. So every call
//! site's limit is registered the first time it holds a line back, and
//! [`report_held`] (the offload engine calls it each tick, and once more at
//! its stop) says, at the call site's own level, how many of each kind were
//! held back with no line since, once their second is over.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::Level;

/// One line per key per this long.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Keys one call site tells apart; more share the last slot (its key is
/// the first that took it), which still bounds the lines.
const SLOTS: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: &'static str,
    /// When the last line of this key went out.
    shown_at: Duration,
    /// Events held back since.
    held: u64,
    /// When the last of them came.
    last_held: Duration,
}

/// One call site's limits, by key.
#[derive(Debug)]
pub struct LogLimit {
    interval: Duration,
    slots: Mutex<([Option<Slot>; SLOTS], usize)>,
    /// The call site's level and place, for [`report_held`]'s lines.
    level: Level,
    site: &'static str,
    /// In [`REGISTRY`] (once it first held a line back).
    registered: AtomicBool,
}

/// Every call site's limit that has held a line back, for [`report_held`].
static REGISTRY: Mutex<Vec<&'static LogLimit>> = Mutex::new(Vec::new());

/// What a line that got through says of the ones held back before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Events of the same kind not logged since the last line.
    pub count: u64,
    /// Since that line.
    pub over: Duration,
}

impl fmt::Display for Held {
    /// Nothing when none were held back; else ` (N more like this in the
    /// last S s)`, to append to the message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return Ok(());
        }
        write!(
            f,
            " ({} more like this in the last {:.1} s)",
            self.count,
            self.over.as_secs_f64()
        )
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        LogLimit::new()
    }
}

impl LogLimit {
    /// One line per key per [`INTERVAL`].
    pub const fn new() -> Self {
        LogLimit::at_site(Level::WARN, "")
    }

    /// One line per key per [`INTERVAL`], for a call site logging at
    /// `level` (what [`log_limited!`](crate::log_limited) makes).
    pub const fn at_site(level: Level, site: &'static str) -> Self {
        LogLimit {
            interval: INTERVAL,
            slots: Mutex::new(([None; SLOTS], 0)),
            level,
            site,
            registered: AtomicBool::new(false),
        }
    }

    /// One line per key per `interval`.
    pub const fn every(interval: Duration) -> Self {
        LogLimit {
            interval,
            ..LogLimit::new()
        }
    }

    /// Whether an event of `key` at `now` (time since any fixed origin) is
    /// logged: `Some` with what was held back since the last line, or
    /// `None` (held back, and counted).
    pub fn admit_at(&self, key: &'static str, now: Duration) -> Option<Held> {
        let mut guard = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let (slots, used) = &mut *guard;
        let i = match slots[..*used]
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.key == key))
        {
            Some(i) => i,
            None if *used < SLOTS => {
                slots[*used] = Some(Slot {
                    key,
                    shown_at: now,
                    held: 0,
                    last_held: now,
                });
                *used += 1;
                return Some(Held {
                    count: 0,
                    over: Duration::ZERO,
                });
            }
            None => SLOTS - 1,
        };
        let slot = slots[i].as_mut().expect("slots below `used` are set");
        let since = now.saturating_sub(slot.shown_at);
        if since >= self.interval {
            let held = Held {
                count: slot.held,
                over: since,
            };
            slot.shown_at = now;
            slot.held = 0;
            Some(held)
        } else {
            slot.held += 1;
            slot.last_held = now;
            None
        }
    }

    /// [`admit_at`](Self::admit_at) on the monotonic clock; a line held
    /// back registers this (static) limit for [`report_held`].
    pub fn admit(&'static self, key: &'static str) -> Option<Held> {
        let admitted = self.admit_at(key, now());
        if admitted.is_none() && !self.registered.swap(true, Ordering::Relaxed) {
            REGISTRY
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self);
        }
        admitted
    }

    /// Takes the counts of the kinds whose storm is over: lines held back,
    /// and none of the kind for an interval since (every kind with lines
    /// held back, with `all`: at a stop). While a storm goes on its next
    /// line that gets through carries the count, as before; a count taken
    /// here starts afresh.
    pub fn take_held_at(&self, now: Duration, all: bool) -> Vec<(&'static str, Held)> {
        let mut guard = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let (slots, used) = &mut *guard;
        let mut out = Vec::new();
        for slot in slots[..*used].iter_mut().flatten() {
            let quiet = now.saturating_sub(slot.last_held);
            if slot.held > 0 && (all || quiet >= self.interval) {
                out.push((
                    slot.key,
                    Held {
                        count: slot.held,
                        over: now.saturating_sub(slot.shown_at),
                    },
                ));
                slot.held = 0;
            }
        }
        out
    }
}

/// Logs, for every call site's kind of line whose storm is over (lines held
/// back, and none of the kind for a second since), how many and from where,
/// at that call site's level; with `all` (at a stop) every count held back,
/// so that none is lost.
pub fn report_held(all: bool) {
    let limits: Vec<&'static LogLimit> = REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let now = now();
    for limit in limits {
        for (key, held) in limit.take_held_at(now, all) {
            let (count, site) = (held.count, limit.site);
            let secs = held.over.as_secs_f64();
            // tracing's levels are constants per event: one arm each.
            macro_rules! held_line {
                ($level:expr) => {
                    tracing::event!(
                        target: "offload", $level, reason = key, held = count, site,
                        "{count} more like the last \"{key}\" line in the last {secs:.1} s, held back, and none since ({site})"
                    )
                };
            }
            match limit.level {
                Level::ERROR => held_line!(Level::ERROR),
                Level::WARN => held_line!(Level::WARN),
                Level::INFO => held_line!(Level::INFO),
                Level::DEBUG => held_line!(Level::DEBUG),
                _ => held_line!(Level::TRACE),
            }
        }
    }
}

/// Time on the monotonic clock since the first call in this process.
pub fn now() -> Duration {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed()
}

/// Logs through a rate limit of its own: at most one line per second per
/// `key` (a `&'static str`, such as an error's label) from this call site.
/// `|held| event` names the [`Held`] figure the event can show (append it
/// to the message with `{held}`, and give it as a field `held = held.count`).
///
/// ```ignore
/// log_limited!(e.label(), |held| tracing::warn!(
///     target: "offload", reason = e.label(), held = held.count,
///     "install refused: {e}{held}"));
/// ```
#[macro_export]
macro_rules! log_limited {
    // The event's level is the one its held-back count is reported at.
    ($key:expr, |$held:ident| tracing::error!($($arg:tt)*)) => {
        $crate::log_limited!(@at ERROR, $key, |$held| tracing::error!($($arg)*))
    };
    ($key:expr, |$held:ident| tracing::warn!($($arg:tt)*)) => {
        $crate::log_limited!(@at WARN, $key, |$held| tracing::warn!($($arg)*))
    };
    ($key:expr, |$held:ident| tracing::info!($($arg:tt)*)) => {
        $crate::log_limited!(@at INFO, $key, |$held| tracing::info!($($arg)*))
    };
    ($key:expr, |$held:ident| tracing::debug!($($arg:tt)*)) => {
        $crate::log_limited!(@at DEBUG, $key, |$held| tracing::debug!($($arg)*))
    };
    (@at $level:ident, $key:expr, |$held:ident| $event:expr) => {{
        static LIMIT: $crate::log_limit::LogLimit = $crate::log_limit::LogLimit::at_site(
            ::tracing::Level::$level,
            concat!(file!(), ":", line!()),
        );
        if let Some($held) = LIMIT.admit($key) {
            $event;
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_storm_is_one_line_a_second_with_the_count_held_back() {
        let limit = LogLimit::new();
        let first = limit
            .admit_at("busy", ms(0))
            .expect("the first line goes out");
        assert_eq!(first.count, 0);
        assert_eq!(first.to_string(), "", "nothing held back: nothing said");
        // 1000 more within the second: all held back.
        for i in 1..=1000 {
            assert_eq!(limit.admit_at("busy", ms(i * 999 / 1000)), None);
        }
        let next = limit.admit_at("busy", ms(1000)).expect("a second later");
        assert_eq!(next.count, 1000);
        assert_eq!(next.to_string(), " (1000 more like this in the last 1.0 s)");
        // The count starts again from that line.
        assert_eq!(limit.admit_at("busy", ms(1500)), None);
        let later = limit.admit_at("busy", ms(3200)).unwrap();
        assert_eq!((later.count, later.over), (1, ms(2200)));
        assert_eq!(later.to_string(), " (1 more like this in the last 2.2 s)");
    }

    #[test]
    fn each_key_has_its_own_second() {
        let limit = LogLimit::new();
        assert!(limit.admit_at("busy", ms(0)).is_some());
        assert!(limit.admit_at("no_space", ms(10)).is_some());
        assert!(limit.admit_at("busy", ms(20)).is_none());
        assert!(limit.admit_at("no_space", ms(30)).is_none());
        assert!(limit.admit_at("no_space", ms(40)).is_none());
        assert_eq!(limit.admit_at("busy", ms(1000)).unwrap().count, 1);
        assert!(limit.admit_at("no_space", ms(1000)).is_none());
        assert_eq!(limit.admit_at("no_space", ms(1010)).unwrap().count, 3);
    }

    #[test]
    fn keys_beyond_the_slots_share_the_last_and_stay_bounded() {
        let limit = LogLimit::new();
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
        let mut lines = 0;
        for (t, k) in keys.iter().cycle().take(1100).enumerate() {
            if limit.admit_at(k, ms(t as u64 / 100)).is_some() {
                lines += 1;
            }
        }
        // Within 11 ms: one line for each of the 8 slots' first key, none
        // for the keys that share the last slot (its second has not passed).
        assert_eq!(lines, SLOTS);
    }

    #[test]
    fn a_storm_that_ends_is_reported_once_it_has_been_quiet_a_second() {
        let limit = LogLimit::new();
        assert!(limit.admit_at("busy", ms(0)).is_some());
        assert!(limit.admit_at("idle", ms(0)).is_some());
        for i in 1..=5 {
            assert!(limit.admit_at("busy", ms(i * 100)).is_none());
        }
        // The last came at 500 ms: not quiet a second yet.
        assert!(limit.take_held_at(ms(1000), false).is_empty());
        // Then the five, once; "idle", which held nothing back, never.
        let held = limit.take_held_at(ms(1500), false);
        assert_eq!(
            held,
            [(
                "busy",
                Held {
                    count: 5,
                    over: ms(1500)
                }
            )]
        );
        assert!(limit.take_held_at(ms(5000), false).is_empty());
        // Reported, they are not counted again by the next line.
        assert_eq!(limit.admit_at("busy", ms(5100)).unwrap().count, 0);
        // A stop takes what is held back at once.
        assert!(limit.admit_at("busy", ms(5200)).is_none());
        assert_eq!(limit.take_held_at(ms(5300), true)[0].1.count, 1);
    }

    #[test]
    fn a_storm_that_goes_on_is_counted_by_its_next_line_as_before() {
        let limit = LogLimit::new();
        assert!(limit.admit_at("busy", ms(0)).is_some());
        for t in (10..3000).step_by(10) {
            if let Some(held) = limit.admit_at("busy", ms(t)) {
                assert_eq!(held.count, 99, "at {t} ms");
            }
            // The engine asks each tick; a storm that goes on is not over.
            assert!(limit.take_held_at(ms(t + 5), false).is_empty());
        }
    }

    #[test]
    fn a_call_site_that_holds_a_line_back_is_registered_once() {
        static SITE: LogLimit = LogLimit::at_site(Level::INFO, "here:1");
        let registered = || {
            REGISTRY
                .lock()
                .unwrap()
                .iter()
                .filter(|l| std::ptr::eq(**l, &SITE))
                .count()
        };
        assert!(SITE.admit("x").is_some());
        assert_eq!(registered(), 0, "nothing held back yet");
        assert!(SITE.admit("x").is_none());
        assert!(SITE.admit("x").is_none());
        assert_eq!(registered(), 1);
        assert_eq!(SITE.take_held_at(now(), true)[0].1.count, 2);
    }

    #[test]
    fn a_clock_that_steps_back_holds_the_line() {
        let limit = LogLimit::new();
        assert!(limit.admit_at("x", ms(5000)).is_some());
        assert!(limit.admit_at("x", ms(10)).is_none());
        assert_eq!(limit.admit_at("x", ms(6000)).unwrap().count, 1);
    }
}
