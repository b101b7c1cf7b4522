//! The metering algorithms a NIC's policer runs, as their RFCs define them:
//! the single rate three colour marker (srTCM, RFC 2697) and the two rate
//! three colour markers of RFC 2698 and RFC 4115, in bytes or in packets,
//! colour-blind or colour-aware.
//!
//! The RFCs describe token counts that grow by one token every 1/rate
//! seconds. Here the counts are kept in whole tokens plus, per bucket, the
//! fraction of a token accrued so far (in token-nanoseconds), so that a meter
//! updated at any instants gives exactly the tokens the RFC's clock would
//! have given by then: nothing is lost to rounding, however often or seldom
//! packets come. Time is the caller's, in nanoseconds; it never goes
//! backwards here (an earlier instant counts as no time at all).
//!
//! Everything is plain integers: no allocation, no float, no panic on any
//! input (counts saturate).

/// Nanoseconds in a second.
const NS_PER_S: u128 = 1_000_000_000;

/// A packet's colour, as rte_mtr numbers them (`RTE_COLOR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Color {
    Green = 0,
    Yellow = 1,
    Red = 2,
}

impl Color {
    /// The three colours, in rte_mtr's order.
    pub const ALL: [Color; 3] = [Color::Green, Color::Yellow, Color::Red];

    /// rte_mtr's index of the colour.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a meter counts: bytes (rates in bytes per second, bursts in bytes)
/// or packets (rates in packets per second, bursts in packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    #[default]
    Bytes,
    Packets,
}

/// A meter's algorithm and its parameters (rates per second, bursts in the
/// meter's unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RFC 2697: one rate (CIR) fills the committed bucket (CBS), and what
    /// overflows it fills the excess bucket (EBS).
    SrTcm { cir: u64, cbs: u64, ebs: u64 },
    /// RFC 2698: the peak bucket (PBS) fills at PIR, the committed bucket
    /// (CBS) at CIR; a packet over the peak is red, over the committed rate
    /// yellow.
    TrTcm2698 {
        cir: u64,
        pir: u64,
        cbs: u64,
        pbs: u64,
    },
    /// RFC 4115: the committed bucket (CBS) fills at CIR, the excess bucket
    /// (EBS) at EIR, independently; green takes committed tokens only,
    /// yellow excess tokens only.
    TrTcm4115 {
        cir: u64,
        eir: u64,
        cbs: u64,
        ebs: u64,
    },
}

/// A meter profile: the algorithm and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub algorithm: Algorithm,
    pub unit: Unit,
}

impl Profile {
    /// The two buckets as (rate, size): first the committed bucket, then the
    /// excess (srTCM, RFC 4115) or peak (RFC 2698) bucket. srTCM's second
    /// bucket has no rate of its own: it takes the committed bucket's
    /// overflow.
    fn buckets(&self) -> [(u64, u64); 2] {
        match self.algorithm {
            Algorithm::SrTcm { cir, cbs, ebs } => [(cir, cbs), (0, ebs)],
            Algorithm::TrTcm2698 { cir, pir, cbs, pbs } => [(cir, cbs), (pir, pbs)],
            Algorithm::TrTcm4115 { cir, eir, cbs, ebs } => [(cir, cbs), (eir, ebs)],
        }
    }
}

/// One token bucket: whole tokens, and the fraction of the next token
/// earned so far, in token-nanoseconds (below `NS_PER_S`). The fraction runs
/// on whether or not the bucket is full, so tokens come at the RFC's fixed
/// instants (k / rate after the meter started), and a full bucket simply
/// discards them. srTCM's excess bucket has no clock of its own: it takes the
/// committed bucket's overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Bucket {
    tokens: u64,
    fraction: u128,
}

impl Bucket {
    /// Earns `rate` tokens a second for `ns` nanoseconds; returns the whole
    /// tokens earned (the caller decides where they go).
    fn earn(&mut self, rate: u64, ns: u64) -> u64 {
        let total = self.fraction + u128::from(rate) * u128::from(ns);
        self.fraction = total % NS_PER_S;
        u64::try_from(total / NS_PER_S).unwrap_or(u64::MAX)
    }

    /// Adds `n` tokens, up to `size`; returns those that did not fit.
    fn fill(&mut self, n: u64, size: u64) -> u64 {
        let room = size.saturating_sub(self.tokens);
        let taken = n.min(room);
        self.tokens += taken;
        n - taken
    }

    fn has(&self, n: u64) -> bool {
        self.tokens >= n
    }

    fn take(&mut self, n: u64) {
        self.tokens = self.tokens.saturating_sub(n);
    }
}

/// The state of one meter running a profile: its two buckets and when they
/// were last brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBuckets {
    profile: Profile,
    /// Committed bucket, then excess (srTCM, RFC 4115) or peak (RFC 2698).
    c: Bucket,
    e: Bucket,
    last_ns: u64,
}

impl TokenBuckets {
    /// A meter of `profile` whose buckets are full at `now_ns`, as the RFCs
    /// start them.
    pub fn new(profile: Profile, now_ns: u64) -> TokenBuckets {
        let [(_, cs), (_, es)] = profile.buckets();
        TokenBuckets {
            profile,
            c: Bucket {
                tokens: cs,
                fraction: 0,
            },
            e: Bucket {
                tokens: es,
                fraction: 0,
            },
            last_ns: now_ns,
        }
    }

    /// The profile it runs.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Tokens in the committed bucket and in the other (excess or peak) one.
    pub fn tokens(&self) -> (u64, u64) {
        (self.c.tokens, self.e.tokens)
    }

    /// Brings the buckets up to `now_ns`.
    fn refill(&mut self, now_ns: u64) {
        let ns = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        if ns == 0 {
            return;
        }
        let [(cr, cs), (er, es)] = self.profile.buckets();
        match self.profile.algorithm {
            Algorithm::SrTcm { .. } => {
                // One clock at CIR: into C while C is below CBS, else into
                // E while E is below EBS, else nowhere (RFC 2697, 3.1).
                let earned = self.c.earn(cr, ns);
                let over = self.c.fill(earned, cs);
                self.e.fill(over, es);
            }
            Algorithm::TrTcm2698 { .. } | Algorithm::TrTcm4115 { .. } => {
                // Two independent clocks (RFC 2698, 3.1; RFC 4115, 2.3).
                let n = self.c.earn(cr, ns);
                self.c.fill(n, cs);
                let n = self.e.earn(er, ns);
                self.e.fill(n, es);
            }
        }
    }

    /// The colour of a packet of `len` bytes arriving at `now_ns` with
    /// colour `input` (`Green` for colour-blind metering), and the state the
    /// meter would have after it. `self` is unchanged: [`TokenBuckets::mark`]
    /// applies it; a caller that may yet discard the packet (a host ring that
    /// is full) decides first and marks only once the packet is taken.
    #[must_use]
    pub fn peek(&self, now_ns: u64, len: u64, input: Color) -> (Color, TokenBuckets) {
        let mut next = *self;
        let color = next.apply(now_ns, len, input);
        (color, next)
    }

    /// Colours a packet of `len` bytes arriving at `now_ns` with colour
    /// `input` (`Green` for colour-blind metering) and takes its tokens.
    pub fn mark(&mut self, now_ns: u64, len: u64, input: Color) -> Color {
        self.apply(now_ns, len, input)
    }

    fn apply(&mut self, now_ns: u64, len: u64, input: Color) -> Color {
        self.refill(now_ns);
        let b = match self.profile.unit {
            Unit::Bytes => len,
            Unit::Packets => 1,
        };
        match self.profile.algorithm {
            // RFC 2697, 3.3 and RFC 4115, 2.4 colour alike (they differ in
            // how the buckets fill): green from the committed bucket only,
            // yellow from the excess bucket only; colour-aware, a yellow
            // packet may take only excess tokens, a red one none.
            Algorithm::SrTcm { .. } | Algorithm::TrTcm4115 { .. } => {
                if input == Color::Green && self.c.has(b) {
                    self.c.take(b);
                    Color::Green
                } else if input != Color::Red && self.e.has(b) {
                    self.e.take(b);
                    Color::Yellow
                } else {
                    Color::Red
                }
            }
            // RFC 2698, 3.2: the peak bucket (`e` here) decides red first;
            // green takes from both buckets, yellow from the peak only.
            Algorithm::TrTcm2698 { .. } => {
                if input == Color::Red || !self.e.has(b) {
                    Color::Red
                } else if input == Color::Yellow || !self.c.has(b) {
                    self.e.take(b);
                    Color::Yellow
                } else {
                    self.e.take(b);
                    self.c.take(b);
                    Color::Green
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    fn bytes(algorithm: Algorithm) -> Profile {
        Profile {
            algorithm,
            unit: Unit::Bytes,
        }
    }

    fn srtcm(cir: u64, cbs: u64, ebs: u64) -> TokenBuckets {
        TokenBuckets::new(bytes(Algorithm::SrTcm { cir, cbs, ebs }), 0)
    }

    fn trtcm_2698(cir: u64, pir: u64, cbs: u64, pbs: u64) -> TokenBuckets {
        TokenBuckets::new(bytes(Algorithm::TrTcm2698 { cir, pir, cbs, pbs }), 0)
    }

    fn trtcm_4115(cir: u64, eir: u64, cbs: u64, ebs: u64) -> TokenBuckets {
        TokenBuckets::new(bytes(Algorithm::TrTcm4115 { cir, eir, cbs, ebs }), 0)
    }

    fn blind(m: &mut TokenBuckets, t: u64, len: u64) -> Color {
        m.mark(t, len, Color::Green)
    }

    /// RFC 2697: both buckets start full; a packet takes committed tokens
    /// while there are enough, then excess tokens, else it is red and takes
    /// nothing.
    #[test]
    fn srtcm_blind_drains_committed_then_excess_then_marks_red() {
        let mut m = srtcm(1000, 300, 200);
        assert_eq!(blind(&mut m, 0, 100), Color::Green);
        assert_eq!(blind(&mut m, 0, 200), Color::Green, "Tc - B = 0 is green");
        assert_eq!(m.tokens(), (0, 200));
        assert_eq!(blind(&mut m, 0, 150), Color::Yellow);
        assert_eq!(blind(&mut m, 0, 100), Color::Red, "Te = 50 < 100");
        assert_eq!(m.tokens(), (0, 50), "a red packet takes no token");
        assert_eq!(blind(&mut m, 0, 50), Color::Yellow);
    }

    /// RFC 2697, 3.1: tokens come at CIR, into C until it holds CBS, then
    /// into E until it holds EBS, then nowhere.
    #[test]
    fn srtcm_refills_committed_first_then_excess() {
        let mut m = srtcm(1000, 300, 200);
        blind(&mut m, 0, 300);
        blind(&mut m, 0, 200);
        assert_eq!(m.tokens(), (0, 0));
        // 1000 tokens/s: 250 ms brings 250 tokens, all into C.
        m.refill(250 * MS);
        assert_eq!(m.tokens(), (250, 0));
        // 100 ms more: 50 fill C to 300, 50 overflow into E.
        m.refill(350 * MS);
        assert_eq!(m.tokens(), (300, 50));
        // A long idle time fills both, and no more.
        m.refill(100 * S);
        assert_eq!(m.tokens(), (300, 200));
    }

    /// Updating often or seldom gives the same tokens (no rounding loss).
    #[test]
    fn tokens_do_not_depend_on_how_often_the_meter_is_updated() {
        let mut often = srtcm(3, 1000, 0);
        let mut seldom = often;
        blind(&mut often, 0, 1000);
        blind(&mut seldom, 0, 1000);
        // 3 tokens a second, updated every 1/7 s for 7 s: 21 tokens.
        for i in 1..=49 {
            often.refill(i * S / 7);
        }
        seldom.refill(7 * S);
        assert_eq!(often.tokens(), (21, 0));
        assert_eq!(seldom.tokens(), (21, 0));
    }

    /// RFC 2697, colour-aware: a yellow packet may use excess tokens only; a
    /// red one stays red.
    #[test]
    fn srtcm_colour_aware() {
        let mut m = srtcm(1000, 300, 200);
        assert_eq!(m.mark(0, 100, Color::Yellow), Color::Yellow);
        assert_eq!(m.tokens(), (300, 100), "committed tokens untouched");
        assert_eq!(m.mark(0, 10, Color::Red), Color::Red);
        assert_eq!(m.tokens(), (300, 100));
        assert_eq!(m.mark(0, 200, Color::Yellow), Color::Red);
        assert_eq!(m.mark(0, 300, Color::Green), Color::Green);
    }

    /// RFC 2698: red when the peak bucket cannot cover the packet (nothing
    /// taken), yellow when only the committed one cannot (peak tokens taken),
    /// green when both can (both taken).
    #[test]
    fn trtcm_2698_blind() {
        let mut m = trtcm_2698(1000, 2000, 100, 300);
        assert_eq!(m.tokens(), (100, 300));
        assert_eq!(blind(&mut m, 0, 100), Color::Green);
        assert_eq!(m.tokens(), (0, 200));
        assert_eq!(blind(&mut m, 0, 150), Color::Yellow);
        assert_eq!(m.tokens(), (0, 50));
        assert_eq!(blind(&mut m, 0, 60), Color::Red);
        assert_eq!(m.tokens(), (0, 50));
        // Independent clocks: 50 ms gives C 50 and P 100.
        m.refill(50 * MS);
        assert_eq!(m.tokens(), (50, 150));
        assert_eq!(blind(&mut m, 50 * MS, 50), Color::Green);
        assert_eq!(m.tokens(), (0, 100));
    }

    /// RFC 2698, colour-aware: red stays red; yellow never takes committed
    /// tokens.
    #[test]
    fn trtcm_2698_colour_aware() {
        let mut m = trtcm_2698(1000, 2000, 100, 300);
        assert_eq!(m.mark(0, 10, Color::Red), Color::Red);
        assert_eq!(m.mark(0, 50, Color::Yellow), Color::Yellow);
        assert_eq!(m.tokens(), (100, 250));
        assert_eq!(m.mark(0, 100, Color::Green), Color::Green);
        assert_eq!(m.tokens(), (0, 150));
    }

    /// RFC 4115: green from C only; yellow from E only; red takes nothing.
    /// Unlike RFC 2698, a green packet does not draw on the excess bucket.
    #[test]
    fn trtcm_4115_blind_and_aware() {
        let mut m = trtcm_4115(1000, 500, 100, 200);
        assert_eq!(blind(&mut m, 0, 100), Color::Green);
        assert_eq!(m.tokens(), (0, 200), "E untouched by green");
        assert_eq!(blind(&mut m, 0, 150), Color::Yellow);
        assert_eq!(m.tokens(), (0, 50));
        assert_eq!(blind(&mut m, 0, 60), Color::Red);
        // 100 ms: C gets 100, E 50.
        m.refill(100 * MS);
        assert_eq!(m.tokens(), (100, 100));
        assert_eq!(m.mark(100 * MS, 80, Color::Yellow), Color::Yellow);
        assert_eq!(m.tokens(), (100, 20), "yellow input never takes C");
        assert_eq!(m.mark(100 * MS, 10, Color::Red), Color::Red);
    }

    /// RFC 4115 with no excess rate nor burst is a single-rate two-colour
    /// policer: what C cannot cover is red.
    #[test]
    fn trtcm_4115_without_excess_is_two_colour() {
        let mut m = trtcm_4115(1000, 0, 100, 0);
        assert_eq!(blind(&mut m, 0, 100), Color::Green);
        assert_eq!(blind(&mut m, 0, 1), Color::Red);
        m.refill(10 * S);
        assert_eq!(m.tokens(), (100, 0));
    }

    /// Packet mode: one token a packet, whatever its length.
    #[test]
    fn packet_mode_counts_packets() {
        let p = Profile {
            algorithm: Algorithm::SrTcm {
                cir: 10,
                cbs: 2,
                ebs: 1,
            },
            unit: Unit::Packets,
        };
        let mut m = TokenBuckets::new(p, 0);
        let colours: Vec<Color> = (0..4).map(|_| blind(&mut m, 0, 1500)).collect();
        assert_eq!(
            colours,
            [Color::Green, Color::Green, Color::Yellow, Color::Red]
        );
        // 10 packets a second: one token every 100 ms.
        assert_eq!(blind(&mut m, 99 * MS, 64), Color::Red);
        assert_eq!(blind(&mut m, 100 * MS, 64), Color::Green);
    }

    /// A long run at twice the committed rate: about half is green, and
    /// green bytes never exceed CBS + CIR x time (the RFC's bound).
    #[test]
    fn a_steady_overload_is_held_to_the_committed_rate() {
        let mut m = srtcm(1_000_000, 10_000, 0);
        let (len, gap) = (1000u64, 500_000u64); // 2 MB/s offered
        let mut green = 0u64;
        let mut t = 0;
        while t <= 10 * S {
            if blind(&mut m, t, len) == Color::Green {
                green += len;
            }
            t += gap;
        }
        let bound = 10_000 + 1_000_000 * 10;
        assert!(green <= bound, "{green} > {bound}");
        assert!(green >= bound - 2 * len, "{green} far below {bound}");
    }

    /// `peek` decides without changing the meter; `mark` then takes the
    /// same decision.
    #[test]
    fn peek_then_mark_agree_and_peek_changes_nothing() {
        let m = srtcm(1000, 100, 0);
        let (c, next) = m.peek(0, 100, Color::Green);
        assert_eq!(c, Color::Green);
        assert_eq!(m.tokens(), (100, 0));
        assert_eq!(next.tokens(), (0, 0));
        let mut m2 = m;
        assert_eq!(m2.mark(0, 100, Color::Green), c);
        assert_eq!(m2, next);
    }

    /// Time going backwards earns nothing and never panics; huge values
    /// saturate.
    #[test]
    fn odd_times_and_huge_values() {
        let mut m = srtcm(u64::MAX, u64::MAX, u64::MAX);
        blind(&mut m, u64::MAX, u64::MAX);
        blind(&mut m, 0, 1);
        let mut z = srtcm(0, 0, 0);
        assert_eq!(blind(&mut z, S, 1), Color::Red);
        assert_eq!(blind(&mut z, 0, 0), Color::Green, "a zero-length packet");
    }
}
