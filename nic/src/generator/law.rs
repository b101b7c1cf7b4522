//! The flows' sizes: a Pareto law bounded at `ratio` times its smallest
//! size, whose shape is solved so that the top 1% of flows carries a chosen
//! share of the packets.
//!
//! For the unbounded law of shape `a` the top fraction `p` of flows holds
//! `p^(1-1/a)` of the mass, so a share `s` wants `a = 1 / (1 - ln s / ln p)`
//! (1.023 for 90%). A law that heavy has a mean near infinity: the top
//! share is held by sizes no run reaches, and capping it at a million times
//! the smallest flow leaves the top 1% with about 67%, not 90%. So the shape
//! is solved for the bounded law itself, whose quantile and partial means
//! have closed forms; the unbounded formula is its limit for a large bound
//! (checked in the tests).

/// The top fraction of flows the share is about.
pub const TOP: f64 = 0.01;

/// Bounds tried, smallest first: the largest flow is at most this many
/// times the smallest. The narrowest law that reaches the share is taken:
/// its sizes are the ones a run of some 10^5 flows draws, so the share
/// realised in a run is the law's (a wider law puts part of its top share
/// in sizes too rare to be drawn). 10^6 covers shares up to about 0.92
/// (the AGH trace's 91% included).
const RATIOS: [f64; 11] = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];

/// The lightest shape solved for: its top 1% holds about 1.05% (no tail).
const MAX_SHAPE: f64 = 20.0;

/// A Pareto law bounded to `[min, min * ratio]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeLaw {
    shape: f64,
    min: f64,
    ratio: f64,
}

impl SizeLaw {
    /// The law whose top 1% of flows holds `share` of the packets (as
    /// near as a bounded law can: 0.0105 to about 0.99), with a mean of
    /// `mean` packets, but no flow smaller than one packet.
    pub fn for_share(share: f64, mean: f64) -> SizeLaw {
        let mut law = SizeLaw {
            shape: MAX_SHAPE,
            min: 1.0,
            ratio: RATIOS[0],
        };
        for ratio in RATIOS {
            law.ratio = ratio;
            // The share peaks at one shape and falls on either side; the
            // lighter side (the larger shape) has the smaller mean for the
            // same share, so more flows for the packets.
            let peak = (5..300)
                .map(|i| f64::from(i) / 100.0)
                .max_by(|a, b| {
                    law.with_shape(*a)
                        .top_share(TOP)
                        .total_cmp(&law.with_shape(*b).top_share(TOP))
                })
                .unwrap_or(1.0);
            if law.with_shape(peak).top_share(TOP) < share && ratio < RATIOS[RATIOS.len() - 1] {
                continue;
            }
            let (mut lo, mut hi) = (peak, MAX_SHAPE);
            for _ in 0..100 {
                let mid = (lo + hi) / 2.0;
                if law.with_shape(mid).top_share(TOP) > share {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            law.shape = (lo + hi) / 2.0;
            break;
        }
        law.min = (mean / law.mean_ratio()).max(1.0);
        law
    }

    /// The law of shape `shape` bounded at `ratio`, smallest size 1.
    #[cfg(test)]
    pub(crate) fn bounded(shape: f64, ratio: f64) -> SizeLaw {
        SizeLaw {
            shape,
            min: 1.0,
            ratio,
        }
    }

    fn with_shape(self, shape: f64) -> SizeLaw {
        SizeLaw { shape, ..self }
    }

    /// Its shape `a`.
    pub fn shape(&self) -> f64 {
        self.shape
    }

    /// Its smallest size, in packets (at least 1).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Its largest size over its smallest.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The size at quantile `u` (0 <= u < 1).
    pub fn quantile(&self, u: f64) -> f64 {
        let c = 1.0 - self.ratio.powf(-self.shape);
        (self.min * (1.0 - u * c).powf(-1.0 / self.shape)).min(self.min * self.ratio)
    }

    /// A whole size in packets at quantile `u`: at least 1.
    pub fn size(&self, u: f64) -> u64 {
        // Saturating: the largest sizes are far below u64's range.
        (self.quantile(u).floor() as u64).max(1)
    }

    /// `∫ Q(u) du` over `[u0, u1]`, over `min`.
    fn partial(&self, u0: f64, u1: f64) -> f64 {
        let a = self.shape;
        let c = 1.0 - self.ratio.powf(-a);
        let e = 1.0 - 1.0 / a;
        if e.abs() < 1e-9 {
            ((1.0 - u0 * c).ln() - (1.0 - u1 * c).ln()) / c
        } else {
            ((1.0 - u0 * c).powf(e) - (1.0 - u1 * c).powf(e)) / (c * e)
        }
    }

    /// The mean over the smallest size.
    fn mean_ratio(&self) -> f64 {
        self.partial(0.0, 1.0)
    }

    /// The mean size, in packets (of the continuous law).
    pub fn mean(&self) -> f64 {
        self.min * self.mean_ratio()
    }

    /// The share of all packets the top fraction `p` of flows carries.
    pub fn top_share(&self, p: f64) -> f64 {
        self.partial(1.0 - p, 1.0) / self.mean_ratio()
    }
}
