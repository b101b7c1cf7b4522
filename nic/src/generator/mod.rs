//! The generated wire (`gen=PRESET`): instead of replaying a capture, the
//! uplink's wire carries flows that are born and die all the run long, with
//! heavy-tailed sizes, each at its own rate, and keeps their ground truth.
//!
//! - [`args`]: the devargs, the scenario presets and what they resolve to;
//! - [`law`]: the sizes' law, solved for the top 1%'s share of packets;
//! - [`births`]: the Poisson births and each flow's kind, rate and unique
//!   5-tuple;
//! - [`template`]: the one frame each flow's packets are;
//! - [`truth`]: per flow, what was sent, what the host missed and what the
//!   NIC's rules carried, written as JSONL at the port's stop;
//! - [`series`]: the same, summed per 100 ms of the generator's time, as
//!   CSV (`gen_series`).
//!
//! The generator merges the live flows' packets in the order of their own
//! timeline (a heap of each flow's next packet); a paced wire
//! ([`crate::Wire`]) sends each packet at its time on that timeline, so the
//! load offered is the flows' own (a flash crowd's births add to it), and
//! `rate_pps` only sets the sizes whose steady state it is. Births come lazily,
//! as the timeline reaches them, so memory holds the live flows' templates,
//! and, only when the truth is to be written (`gen_truth`), a small record
//! per flow born (some 100 bytes: a run of 10^5 flows a minute adds about
//! 10 MB a minute).

pub mod args;
pub mod births;
pub mod law;
pub mod series;
pub mod template;
pub mod truth;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub use args::{GenArgs, Params, Scenario};
pub use births::{planned_total, Births, FlowSpec, GenKey};
pub use series::{Bin, Series, BIN_NS};
pub use truth::{FlowTruth, Truth};

/// A live flow: what it is, its frame, and the packets it has had
/// scheduled.
#[derive(Debug)]
struct Live {
    spec: FlowSpec,
    template: Box<[u8]>,
    scheduled: u64,
}

/// The generated wire's source of frames.
#[derive(Debug)]
pub struct Generator {
    /// The wire's start on the generator's time (`gen_warm`): the times it
    /// shows are counted from here.
    warm_ns: u64,
    end_ns: Option<u64>,
    births: Births,
    next_birth: Option<FlowSpec>,
    /// Each live flow's next packet: (time, flow index, slot in `live`).
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    live: Vec<Option<Live>>,
    free: Vec<usize>,
    /// The frame `peek` shows: when it is due (ns of the generator's own
    /// time, from before the warm-up), its flow's index and slot.
    current: Option<(u64, u64, usize)>,
    /// The ground truth, if it is kept (`gen_truth`).
    truth: Option<Truth>,
    /// The run's time series, if it is kept (`gen_series`).
    series: Option<Series>,
    total: Option<u64>,
}

impl Generator {
    /// A generator for `p`, at its first frame.
    pub fn new(p: &Params) -> Generator {
        let mut births = Births::new(p);
        let truth = p.keep_truth.then(|| Truth::new(births.ids(), p.warm_ns));
        let series = p.keep_series.then(Series::default);
        let next_birth = births.next();
        let mut g = Generator {
            warm_ns: p.warm_ns,
            end_ns: p.end_ns,
            births,
            next_birth,
            heap: BinaryHeap::new(),
            live: Vec::new(),
            free: Vec::new(),
            current: None,
            truth,
            series,
            total: planned_total(p),
        };
        g.refill();
        g
    }

    /// Brings the next packet of the timeline up, giving birth to the flows
    /// whose time has come first.
    fn refill(&mut self) {
        loop {
            let due = self.heap.peek().map(|Reverse((t, _, _))| *t);
            match &self.next_birth {
                Some(b) if due.is_none_or(|t| b.born_ns <= t) => {
                    let spec = *b;
                    self.next_birth = self.births.next();
                    if let Some(t) = &mut self.truth {
                        t.born(spec);
                    }
                    // Born before the wire's start (`gen_warm`): under way,
                    // from its first packet due after it; or already over.
                    let first = births::first_sent(&spec, self.warm_ns);
                    let at = spec.born_ns + first * spec.interval_ns;
                    if first >= spec.size || self.end_ns.is_some_and(|end| at >= end) {
                        continue;
                    }
                    let live = Live {
                        spec,
                        template: template::frame(&spec),
                        scheduled: first + 1,
                    };
                    let slot = match self.free.pop() {
                        Some(s) => {
                            self.live[s] = Some(live);
                            s
                        }
                        None => {
                            self.live.push(Some(live));
                            self.live.len() - 1
                        }
                    };
                    self.heap.push(Reverse((at, spec.index, slot)));
                }
                _ => {
                    self.current = self.heap.pop().map(|Reverse((t, i, s))| (t, i, s));
                    return;
                }
            }
        }
    }

    /// The next frame, or `None` once the run is over.
    #[inline]
    pub fn peek(&self) -> Option<&[u8]> {
        let (_, _, slot) = self.current?;
        self.live[slot].as_ref().map(|l| &l.template[..])
    }

    /// When the frame `peek` shows is due, in nanoseconds of the wire's
    /// time (from its start, `gen_warm` into the generator's; `None` once
    /// the run is over): a paced wire sends it then.
    #[inline]
    pub fn due_ns(&self) -> Option<u64> {
        self.current.map(|(t, _, _)| t - self.warm_ns)
    }

    /// Takes the frame `peek` showed off the wire (sent, whatever becomes of
    /// it).
    pub fn advance(&mut self) {
        let Some((at, index, slot)) = self.current.take() else {
            return;
        };
        if let Some(t) = &mut self.truth {
            t.sent(index);
        }
        if let Some(s) = &mut self.series {
            s.bin(at - self.warm_ns).sent += 1;
        }
        let live = self.live[slot].as_mut().expect("a current flow is live");
        let spec = live.spec;
        let j = live.scheduled;
        let next = spec.born_ns + j.saturating_mul(spec.interval_ns);
        if j < spec.size && self.end_ns.is_none_or(|end| next < end) {
            live.scheduled += 1;
            self.heap.push(Reverse((next, index, slot)));
        } else {
            // Dead: its template goes, its record stays.
            self.live[slot] = None;
            self.free.push(slot);
        }
        self.refill();
    }

    /// The frame `peek` shows is lost to the host (missed, or refused):
    /// counted against its flow, before [`Generator::advance`] sends it.
    pub fn lost(&mut self) {
        let Some((at, index, _)) = self.current else {
            return;
        };
        if let Some(t) = &mut self.truth {
            t.missed(index);
        }
        if let Some(s) = &mut self.series {
            s.bin(at - self.warm_ns).missed += 1;
        }
    }

    /// A rule of the NIC took the frame `peek` shows (to a VF, back to the
    /// wire, or dropped), past the host: counted on its flow and its time,
    /// before [`Generator::advance`] sends it.
    pub fn carried(&mut self) {
        let Some((at, index, _)) = self.current else {
            return;
        };
        let at = at - self.warm_ns;
        if let Some(t) = &mut self.truth {
            t.carried(index, at);
        }
        if let Some(s) = &mut self.series {
            s.bin(at).nic += 1;
        }
    }

    /// A frame sent earlier is lost after all (freed from a ring at the
    /// port's stop): counted against its flow, found by its key. Returns
    /// whether it was one of the generator's.
    pub fn lost_frame(&mut self, frame: &[u8]) -> bool {
        self.truth.as_mut().is_some_and(|t| t.missed_frame(frame))
    }

    /// Whether the run is over.
    pub fn finished(&self) -> bool {
        self.current.is_none()
    }

    /// Packets the run sends in all (`None`: it never ends).
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The ground truth so far, if it is kept.
    pub fn truth(&self) -> Option<&Truth> {
        self.truth.as_ref()
    }

    /// The time series so far, if it is kept.
    pub fn series(&self) -> Option<&Series> {
        self.series.as_ref()
    }
}
