//! The control core's offload decisions, once a tick: read every rule's
//! counter in one batch, update each flow's rate, demote the cold and the idle,
//! choose the hottest candidates for the free rules (a candidate takes an
//! offloaded flow's rule only when it is hotter by the eviction margin), and
//! carry the changes out no faster than the NIC's insertion rate.
//!
//! Header policies (`[[offload.policy]]`) decide at a flow's announcement:
//! `always` flows go to the NIC at the next tick whatever their rate and are
//! never demoted for being cold or evicted; `never` flows stay on the workers.
//!
//! The control loop never sleeps on the NIC. A flow that ends while the
//! final count of its rule (a NIC with cached counters shows it a refresh
//! period late) is still to come, or whose rule the NIC will not let go yet,
//! has its record kept aside and handed back whole at the tick that
//! completes it ([`Offloader::release_ended`], [`Offloader::take_settled`]);
//! refused removals are asked again at later ticks, with back-off. Only the
//! exit waits, by a deadline, once the traffic has stopped.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlift_dataplane::flow::{FlowId, FlowKey};
use flowlift_dataplane::flowstate::{FlowCounter, FlowCounters};
use flowlift_dataplane::policy::FlowAction;
use flowlift_dataplane::PortIdx;

use super::flow_rule::FlowCommand;
use super::nic_limits::NicLimits;
use super::policy::{OffloadChoice, OffloadPolicy, RateLimit};
use super::static_rules::{EndedStatic, StaticError, StaticReply, StaticRules, StaticTaken};
use super::{Capabilities, HwCounters, HwRule, HwRuleId, OffloadBackend, OffloadError};
use crate::lifecycle::{DemoteReason, FlowOffload, OffloadState};
use crate::log_limited;
use crate::tracker::{FlowTracker, TrackedFlow};

/// How long the insertion rate must be full again before a back-off is
/// logged as over (EBUSYs come in bursts).
const BACKOFF_OVER: Duration = Duration::from_secs(1);

/// The thresholds and limits the decisions follow.
#[derive(Debug, Clone, PartialEq)]
pub struct OffloadParams {
    /// Rules flowlift may use (the config's, capped by what the NIC says).
    pub max_rules: usize,
    pub promote_pps: f64,
    pub demote_pps: f64,
    pub hold: u32,
    pub ewma_alpha: f64,
    pub evict_margin: f64,
    /// Rule installs and removals per second, together.
    pub changes_per_sec: f64,
    /// Ticks before a failed flow is tried again (doubling).
    pub backoff_ticks: u64,
    /// TSC ticks without a packet on either path before an offloaded flow is
    /// demoted as idle (0: never).
    pub idle_tsc: u64,
}

/// How the appliance's ports look to the NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    /// The DPDK port id a rule names for each [`PortIdx`].
    pub hw_port: Vec<u16>,
    /// Ports whose arriving flows pass the NIC's rule table.
    pub nic_in: Vec<bool>,
    /// VFs with a rate limit (their rules get the VF's meter, numbered by
    /// its [`PortIdx`]).
    pub metered: Vec<bool>,
}

/// A rule removed by the engine within this many ticks of its install
/// flapped.
pub const FLAP_TICKS: u64 = 5;

/// Counts by result, for the report, the shell and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OffloadStats {
    pub installs: u64,
    pub install_failures: BTreeMap<&'static str, u64>,
    pub removals: u64,
    pub removal_failures: BTreeMap<&'static str, u64>,
    pub query_failures: BTreeMap<&'static str, u64>,
    /// Demotions by [`DemoteReason`] (indexed as `DemoteReason::ALL`).
    pub demotions: [u64; 4],
    /// Rules the engine itself removed (cold, idle, evicted: not an
    /// operator's or the stop's) within [`FLAP_TICKS`] of their install: an
    /// insertion spent on a flow that did not keep its rule.
    pub flaps: u64,
    /// Rule removals that failed at exit, and removed rules whose final
    /// counts never showed by then, whose last counter readings stand in for
    /// the final ones (0 unless the NIC misbehaves).
    pub unconfirmed_at_exit: u64,
    /// Flows that wanted the NIC and stayed on the workers because the NIC
    /// has no meter for their VF's rate limit (each flow counted once).
    pub kept_unmetered: u64,
    /// Failed reads of the NIC meters' drops, by reason.
    pub meter_read_failures: BTreeMap<&'static str, u64>,
    /// Gauges, as of the last tick (or flow end): removed rules whose final
    /// counts the NIC shows late and are still to be read, and the ended
    /// flows whose records wait for them (or for their rule to come off)
    /// before they are logged.
    pub finals_pending: u64,
    pub ended_waiting: u64,
    pub ticks: u64,
    /// Seconds per rule install (a batch's time shared by its rules), and per
    /// counter query batch.
    pub install_latency: Latency,
    pub query_latency: Latency,
}

/// A latency histogram with fixed buckets (seconds), Prometheus style.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    /// Observations at or below each of [`Latency::BOUNDS`] (not cumulative).
    pub counts: [u64; 12],
    pub sum: f64,
    pub count: u64,
}

impl Latency {
    /// Bucket upper bounds, seconds: 10 us to 1 s.
    pub const BOUNDS: [f64; 12] = [
        1e-5,
        5e-5,
        1e-4,
        5e-4,
        1e-3,
        5e-3,
        1e-2,
        5e-2,
        0.1,
        0.5,
        1.0,
        f64::INFINITY,
    ];

    /// Records `n` observations of `secs` each.
    pub fn observe(&mut self, secs: f64, n: u64) {
        let i = Latency::BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(Latency::BOUNDS.len() - 1);
        self.counts[i] += n;
        self.sum += secs * n as f64;
        self.count += n;
    }

    /// (upper bound, observations in that bucket alone) pairs.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        Latency::BOUNDS.iter().copied().zip(self.counts).collect()
    }
}

impl OffloadStats {
    /// Total of a by-reason map.
    pub fn total(m: &BTreeMap<&'static str, u64>) -> u64 {
        m.values().sum()
    }
}

/// Flows a tick looks at: key into the tracker and the facts it decides on.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    at: (usize, FlowId),
    rate: f64,
    always: bool,
}

/// A flow's place in the tracker.
type At = (usize, FlowId);

/// A flow whose rule is to come off.
type Leaving = (At, HwRuleId);

/// What the tick's pass over every flow found, so that the rest of the tick
/// works on these short lists instead of walking a million flows again.
#[derive(Debug, Default)]
struct Census {
    /// `Onloading` flows: rules to remove.
    leaving: Vec<Leaving>,
    /// Onloaded flows that want a rule.
    candidates: Vec<Candidate>,
    /// Offloaded flows a hotter one may evict.
    offloaded: Vec<Candidate>,
    /// Flows holding a rule (offloaded, or on their way back).
    holding: usize,
    /// Offloaded flows (holding a rule and keeping it), whatever their choice.
    staying: usize,
    /// Flows first found wanting the NIC with no meter for their VF.
    kept_unmetered: u64,
}

/// What `flow offload` did: the flow's rule or why not, and the flow that
/// gave its rule up to make room, if the budget was used up (it stays
/// demoted whether the install then worked or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffloadedNow {
    pub result: Result<HwRuleId, String>,
    /// The demoted flow's place (worker, flow id).
    pub evicted: Option<(usize, FlowId)>,
}

impl OffloadedNow {
    fn refused(why: impl Into<String>) -> Self {
        OffloadedNow {
            result: Err(why.into()),
            evicted: None,
        }
    }
}

/// How long the exit keeps asking a NIC that refuses to remove rules (busy).
const EXIT_REMOVE_WAIT: Duration = Duration::from_secs(2);

/// How long the exit waits for the last final counts beyond the NIC's
/// counter refresh period: the device's refresh (and our read) may run late
/// on a loaded host.
const EXIT_FINALS_MARGIN: Duration = Duration::from_millis(500);

/// The pause between two looks at the NIC while the exit waits.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// An ended flow whose offload record is kept aside until it is whole: see
/// [`Offloader::release_ended`] and [`Offloader::take_settled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndTicket(pub u64);

/// What became of an ended flow's offload record.
#[derive(Debug, Clone, Copy)]
pub enum EndedOffload {
    /// Whole: its rule is off and every final count is in; log it now.
    Whole(FlowOffload),
    /// Final counts of its rules are still to come (or the NIC has not let
    /// its rule go yet): the record comes back whole from
    /// [`Offloader::take_settled`] under `ticket`. `so_far` is what the NIC
    /// counted for it until now (the rest is added when it comes).
    Awaiting {
        ticket: EndTicket,
        so_far: HwCounters,
    },
}

/// Whose flow a removed rule's late final count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// A flow in the tracker.
    Live(At),
    /// A flow that ended, its record kept aside.
    Ended(EndTicket),
}

/// An ended flow's record kept aside until it is whole.
#[derive(Debug, Clone, Copy)]
struct Aside {
    off: FlowOffload,
    /// Its removed rules whose final counts are still to come.
    finals_due: u32,
    /// While its rule is still on the NIC (`off.state`): the NIC's refusals
    /// in a row, and the tick of the next try.
    refusals: u32,
    retry_tick: u64,
}

impl Aside {
    fn is_whole(&self) -> bool {
        self.finals_due == 0 && self.off.state.rule().is_none()
    }
}

/// A flow's `last_failure` when it stays on the workers for want of a NIC
/// meter for its VF's rate limit.
pub const NO_METER: &str = "no_meter";

/// The control core's offload engine.
pub struct Offloader {
    backend: Box<dyn OffloadBackend>,
    caps: Capabilities,
    params: OffloadParams,
    policies: Vec<OffloadPolicy>,
    ports: PortPlan,
    stats: OffloadStats,
    tick_no: u64,
    /// Rule changes the rate limit allows now (a token bucket).
    change_tokens: f64,
    last_tick_tsc: u64,
    /// TSC ticks between the last two ticks.
    tick_tsc: u64,
    tsc_hz: u64,
    /// The period of the NIC's counter cache, in TSC ticks (0: live reads).
    /// A rule's reading may lag its packets by up to this much.
    refresh_tsc: u64,
    /// Operators' static rules (`flow create`), kept on the same backend.
    statics: StaticRules,
    /// Removed rules whose final counters the NIC shows late (see
    /// [`OffloadBackend::take_final`]): whose they are and what their
    /// removal folded in.
    unsettled: HashMap<HwRuleId, (Owner, HwCounters)>,
    /// Ended flows whose records wait for final counts (or for their rule
    /// to come off), so that no tick waits for them.
    aside: HashMap<EndTicket, Aside>,
    /// Ended flows' records made whole, for [`Offloader::take_settled`].
    settled: Vec<(EndTicket, FlowOffload)>,
    next_ticket: u64,
    /// The NIC's capacity and insertion rate, as its refusals said them.
    limits: NicLimits,
    /// What each NIC meter dropped, as last read (whole counts), by meter
    /// id (the VF's port index).
    meter_drops: BTreeMap<u32, HwCounters>,
    /// The insertion back-off under way, for the log.
    backoff: Option<Backoff>,
}

/// An insertion back-off (the NIC said EBUSY), from the first refusal to
/// a second at the full rate again: one episode, logged as it starts and
/// as it ends, however often the rate halves and recovers within it.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    started_tsc: u64,
    /// The lowest share of the configured rate it came to.
    lowest: f64,
    /// Since when the rate has been full again.
    full_since: Option<u64>,
}

impl std::fmt::Debug for Offloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offloader")
            .field("backend", &self.backend.name())
            .field("params", &self.params)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Offloader {
    /// Probes the backend, flushes rules an earlier run may have left, and
    /// caps the rule budget by what the NIC says it holds.
    pub fn start(
        mut backend: Box<dyn OffloadBackend>,
        mut params: OffloadParams,
        policies: Vec<OffloadPolicy>,
        ports: PortPlan,
        now_tsc: u64,
        tsc_hz: u64,
    ) -> Result<Offloader, OffloadError> {
        backend.flush_stale().map_err(|e| {
            // Keep the kind (callers match on it), say what was being done.
            let what = |m: String| format!("flushing the rules an earlier run left: {m}");
            match e {
                OffloadError::Unsupported(m) => OffloadError::Unsupported(what(m)),
                OffloadError::DeviceGone(m) => OffloadError::DeviceGone(what(m)),
                other => OffloadError::Other(what(other.to_string())),
            }
        })?;
        let caps = backend.probe();
        if !caps.can_offload() {
            return Err(OffloadError::Unsupported(format!(
                "{} cannot carry flows: {caps}",
                backend.name()
            )));
        }
        if let Some(n) = caps.max_rules {
            params.max_rules = params.max_rules.min(n as usize);
        }
        let refresh_tsc = (backend.counter_refresh().as_secs_f64() * tsc_hz as f64) as u64;
        Ok(Offloader {
            backend,
            caps,
            change_tokens: 1.0,
            params,
            policies,
            ports,
            stats: OffloadStats::default(),
            tick_no: 0,
            last_tick_tsc: now_tsc,
            tick_tsc: 0,
            tsc_hz: tsc_hz.max(1),
            refresh_tsc,
            statics: StaticRules::new(),
            unsettled: HashMap::new(),
            aside: HashMap::new(),
            settled: Vec::new(),
            next_ticket: 0,
            limits: NicLimits::default(),
            meter_drops: BTreeMap::new(),
            backoff: None,
        })
    }

    /// The NIC's limits as its refusals said them.
    pub fn limits(&self) -> &NicLimits {
        &self.limits
    }

    /// The rules the engine holds at most now: `max_rules`, or fewer after
    /// the NIC refused one for space.
    pub fn rule_budget(&self) -> usize {
        self.limits.rule_budget(self.params.max_rules)
    }

    /// Rule changes a second the engine makes at most now: `inserts_per_sec`,
    /// or less after the NIC answered busy.
    pub fn change_rate(&self) -> f64 {
        self.params.changes_per_sec * self.limits.rate_scale()
    }

    /// How stale a hardware counter reading may be (the NIC's counter
    /// cache period; zero: live).
    pub fn counter_refresh(&self) -> std::time::Duration {
        self.backend.counter_refresh()
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// What the probe found.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The thresholds in force.
    pub fn params(&self) -> &OffloadParams {
        &self.params
    }

    /// Counts so far.
    pub fn stats(&self) -> &OffloadStats {
        &self.stats
    }

    /// Rules installed now.
    pub fn rules_installed(&self) -> usize {
        self.backend.installed()
    }

    /// What the NIC's meters dropped, by meter id (the VF's port index), as
    /// last read: whole counts since the meters were made.
    pub fn meter_drops(&self) -> &BTreeMap<u32, HwCounters> {
        &self.meter_drops
    }

    /// What the backend made of the VFs' rate limits, to say once.
    pub fn meters_line(&self) -> Option<String> {
        self.backend.meters_line()
    }

    /// Reads the NIC meters' drops. A failed read keeps the last good one
    /// (the counts only grow; the next read catches up).
    fn read_meters(&mut self) {
        for (id, reading) in self.backend.meter_drops() {
            match reading {
                Ok(c) => {
                    let e = self.meter_drops.entry(id).or_default();
                    if c.packets >= e.packets {
                        *e = c;
                    }
                }
                Err(e) => {
                    *self.stats.meter_read_failures.entry(e.label()).or_default() += 1;
                    log_limited!(e.label(), |held| tracing::warn!(
                        target: "offload", meter = id, reason = e.label(), error = %e,
                        held = held.count,
                        "rte_mtr stats read failed: the meter's drops stay at their last reading{held}"
                    ));
                }
            }
        }
    }

    /// The last read of the meters' drops, once every rule is gone: waits
    /// for the device's counter cache to show the last rule's packets,
    /// then reads until a read of every meter succeeds, or the exit's
    /// deadline passes (leaving the last good reading).
    fn read_meters_final(&mut self) {
        if let Some(d) = self.backend.meter_drops_due_in() {
            std::thread::sleep(d);
        }
        let deadline = Instant::now() + EXIT_REMOVE_WAIT;
        loop {
            let before = OffloadStats::total(&self.stats.meter_read_failures);
            self.read_meters();
            let now = Instant::now();
            if OffloadStats::total(&self.stats.meter_read_failures) == before || now >= deadline {
                return;
            }
            std::thread::sleep(EXIT_POLL.min(deadline - now));
        }
    }

    /// The thresholds, to change at run time (`set offload`). The rule
    /// budget changes through [`Offloader::set_max_rules`], which keeps the
    /// rules in use within it.
    pub fn params_mut(&mut self) -> &mut OffloadParams {
        &mut self.params
    }

    /// Sets the rule budget to `n`. Flows holding rules beyond it are
    /// demoted at once (reason `requested`); their rules come off at the next
    /// ticks through the removals every demotion takes (at the insertion
    /// rate, their final counters folded in). Returns how many were demoted.
    pub fn set_max_rules(&mut self, flows: &mut FlowTracker, n: usize) -> usize {
        self.params.max_rules = n;
        self.trim_to_budget(flows).len()
    }

    /// Demotes the offloaded flows beyond the rule budget: those the rates
    /// put on the NIC before those a policy or an operator did, the coldest
    /// first. Flows already on their way off free their rules anyway, so
    /// only the staying ones count. Returns the demoted flows' rules.
    fn trim_to_budget(&mut self, flows: &mut FlowTracker) -> Vec<Leaving> {
        let mut staying: Vec<(bool, f64, At)> = flows
            .iter()
            .filter(|(_, f)| matches!(f.off.state, OffloadState::Offloaded(_)))
            .map(|(at, f)| (f.off.choice != OffloadChoice::Auto, f.off.rate_pps, *at))
            .collect();
        let surplus = staying.len().saturating_sub(self.params.max_rules);
        if surplus == 0 {
            return Vec::new();
        }
        // The rates' choices first (false < true), coldest first; the flow's
        // place breaks ties, so the choice does not hang on the tracker's
        // order.
        staying.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut demoted = Vec::with_capacity(surplus);
        for &(_, _, at) in &staying[..surplus] {
            if let Some(f) = flows.get_mut(at) {
                if let OffloadState::Offloaded(rule) = f.off.state {
                    f.off.state = OffloadState::Onloading(rule);
                    f.off.demote_reason = Some(DemoteReason::Requested);
                    demoted.push((at, rule));
                }
            }
        }
        demoted
    }

    /// The header policies, highest priority first.
    pub fn policies(&self) -> &[OffloadPolicy] {
        &self.policies
    }

    /// Adds a header policy (for flows announced from now on), keeping the
    /// order by priority (equal priorities: older first). Returns its place
    /// in that order, the number `policy del` takes (the ones after it move
    /// up one).
    pub fn add_policy(&mut self, p: OffloadPolicy) -> usize {
        let at = self
            .policies
            .iter()
            .position(|q| q.matches.priority < p.matches.priority)
            .unwrap_or(self.policies.len());
        self.policies.insert(at, p);
        at
    }

    /// Replaces every header policy (a reload; for flows announced from now
    /// on), given highest priority first as the config keeps them.
    pub fn set_policies(&mut self, policies: Vec<OffloadPolicy>) {
        self.policies = policies;
    }

    /// Polices `meter`'s VF at `limit` on the NIC from now on (a reload).
    pub fn set_rate_limit(&mut self, meter: u32, limit: RateLimit) -> Result<(), OffloadError> {
        self.backend.set_rate_limit(meter, limit)
    }

    /// Removes header policy `i` (0-based, as listed).
    pub fn remove_policy(&mut self, i: usize) -> Option<OffloadPolicy> {
        (i < self.policies.len()).then(|| self.policies.remove(i))
    }

    /// Puts a flow on the NIC now, whatever its rate, and keeps it there (its
    /// choice becomes `always`): the operator's override. With the rule
    /// budget used up, the coldest flow the rates put on the NIC gives its
    /// rule up first; the answer names it, whether the install then worked
    /// or not.
    pub fn offload_now(
        &mut self,
        flows: &mut FlowTracker,
        at: (usize, FlowId),
        now: u64,
    ) -> OffloadedNow {
        let Some(f) = flows.get_mut(at) else {
            return OffloadedNow::refused("no such flow");
        };
        if let Some(rule) = f.off.state.rule() {
            return OffloadedNow::refused(format!("already on the NIC (rule {})", rule.0));
        }
        if !self.carriable(f) {
            return OffloadedNow::refused(
                "the NIC cannot carry it (it is flooded or dropped, or does not enter on the uplink)",
            );
        }
        if self.meter_missing(f) {
            return OffloadedNow::refused(
                "the NIC has no meter for its port's rate limit: it stays on the workers, whose meter polices it",
            );
        }
        let mut evicted = None;
        if self.backend.installed() >= self.rule_budget() {
            // The operator's choice outranks the rates: the coldest flow the
            // rates put on the NIC gives its rule up.
            let coldest = flows
                .iter()
                .filter(|(_, g)| g.off.choice == OffloadChoice::Auto)
                .filter_map(|(at, g)| match g.off.state {
                    OffloadState::Offloaded(rule) => Some((*at, rule, g.off.rate_pps)),
                    _ => None,
                })
                .min_by(|a, b| a.2.total_cmp(&b.2));
            let Some((victim_at, rule, _)) = coldest else {
                return OffloadedNow::refused(format!(
                    "all {} rules are held by flows put there by policy or by hand (flow onload one, or set offload max-rules)",
                    self.rule_budget()
                ));
            };
            let Some(victim) = flows.get_mut(victim_at) else {
                return OffloadedNow::refused("no such flow");
            };
            victim.off.demote_reason = Some(DemoteReason::Evicted);
            tracing::info!(target: "offload", flow = %victim.key, rule = rule.0,
                reason = DemoteReason::Evicted.label(),
                "flow demoted: its rule goes to a flow the operator put on the NIC");
            let result = self.backend.remove(rule);
            if !self.settle_removal(Owner::Live(victim_at), rule, &mut victim.off, result) {
                return OffloadedNow::refused("the NIC refused to free a rule for it");
            }
            evicted = Some(victim_at);
        }
        OffloadedNow {
            result: self.install_now(flows, at, now),
            evicted,
        }
    }

    /// The install of `offload_now`, once there is room.
    fn install_now(
        &mut self,
        flows: &mut FlowTracker,
        at: (usize, FlowId),
        now: u64,
    ) -> Result<HwRuleId, String> {
        let Some(f) = flows.get_mut(at) else {
            return Err("no such flow".into());
        };
        let Some(rule) = self.hw_rule(f) else {
            return Err("the flow's ports have no NIC port".into());
        };
        let started = std::time::Instant::now();
        let result = self.backend.install(&rule);
        self.stats
            .install_latency
            .observe(started.elapsed().as_secs_f64(), 1);
        match result {
            Ok(id) => {
                f.off.choice = OffloadChoice::Always;
                f.off.installed(id);
                f.off.installed_tick = self.tick_no;
                f.off.hw_active_tsc = now;
                self.stats.installs += 1;
                tracing::info!(target: "offload", flow = %f.key, rule = id.0,
                    "flow put on the NIC by the operator");
                Ok(id)
            }
            Err(e) => {
                f.off
                    .install_failed(e.label(), self.tick_no, self.params.backoff_ticks);
                *self.stats.install_failures.entry(e.label()).or_default() += 1;
                tracing::warn!(target: "offload", flow = %f.key, reason = e.label(), error = %e,
                    "rte_flow install refused for the operator's flow offload");
                Err(e.to_string())
            }
        }
    }

    /// Brings a flow back to the workers now and keeps it there (its choice
    /// becomes `never`); returns its rule's final counters, if it had one.
    pub fn onload_now(
        &mut self,
        flows: &mut FlowTracker,
        at: (usize, FlowId),
    ) -> Result<Option<HwCounters>, String> {
        let Some(f) = flows.get_mut(at) else {
            return Err("no such flow".into());
        };
        f.off.choice = OffloadChoice::Never;
        let Some(rule) = f.off.state.rule() else {
            f.off.state = OffloadState::Onloaded;
            return Ok(None);
        };
        f.off.demote_reason = Some(DemoteReason::Requested);
        let before = f.off.hw_folded;
        let result = self.backend.remove(rule);
        let refusal = result.as_ref().err().map(|e| e.to_string());
        if self.settle_removal(Owner::Live(at), rule, &mut f.off, result) {
            Ok(Some(HwCounters {
                packets: f.off.hw_folded.packets - before.packets,
                bytes: f.off.hw_folded.bytes - before.bytes,
            }))
        } else {
            Err(format!(
                "the NIC refused to remove rule {}: {}; it stays offloaded",
                rule.0,
                refusal.unwrap_or_default()
            ))
        }
    }

    /// The header policies' choice for a new flow.
    pub fn choose(&self, key: &FlowKey) -> OffloadChoice {
        self.policies
            .iter()
            .find(|p| p.matches.matches_key(key))
            .map_or(OffloadChoice::Auto, |p| p.choice)
    }

    /// Whether the NIC could carry a flow at all: it arrives where the NIC's
    /// rules apply and goes to one VF.
    fn carriable(&self, flow: &TrackedFlow) -> bool {
        let FlowAction::Forward(out) = flow.action else {
            return false;
        };
        let in_port = usize::from(flow.key.in_port());
        self.ports.nic_in.get(in_port).copied().unwrap_or(false)
            && out.index() < self.ports.hw_port.len()
            && out.index() != in_port
    }

    /// Whether the flow goes to a rate-limited VF the NIC has no meter for
    /// (its flows stay on the workers: never on the NIC unmetered).
    fn meter_missing(&self, flow: &TrackedFlow) -> bool {
        let FlowAction::Forward(out) = flow.action else {
            return false;
        };
        self.ports
            .metered
            .get(out.index())
            .copied()
            .unwrap_or(false)
            && !self.backend.meter_ready(u32::from(out.0))
    }

    /// One control tick at TSC `now`.
    pub fn tick(&mut self, flows: &mut FlowTracker, sw: &[Arc<FlowCounters>], now: u64) {
        self.tick_no += 1;
        self.stats.ticks += 1;
        self.tick_tsc = now.saturating_sub(self.last_tick_tsc);
        let secs = self.tick_tsc as f64 / self.tsc_hz as f64;
        self.last_tick_tsc = now;
        // No saving up: at most one tick's worth of changes (at least one).
        let allowance = self.change_rate() * secs;
        self.change_tokens = (self.change_tokens + allowance).min(allowance.max(1.0));

        // Two passes over every flow (counters read, then rates and the
        // census); the rest works on the census's lists: at a million flows
        // each pass costs milliseconds.
        self.fold_finals(flows);
        self.retry_ended_removals(false);
        self.read_rules(flows, now);
        self.read_meters();
        let mut census = self.update_flows(flows, sw, now);
        self.stats.kept_unmetered += census.kept_unmetered;
        let leaving = std::mem::take(&mut census.leaving);
        let (removed, mut still_leaving) = self.carry_out_removals(flows, leaving);
        census.holding -= removed;
        if census.staying > self.params.max_rules {
            // The budget was lowered without `set_max_rules` demoting the
            // surplus: do it now, so no tick ends over the budget.
            still_leaving.extend(self.trim_to_budget(flows));
        }
        let (evicted, joining) = self.choose_promotions(flows, census);
        still_leaving.extend(evicted);
        self.carry_out_removals(flows, still_leaving);
        self.carry_out_installs(flows, joining, now);
        let budget_before = self.rule_budget();
        self.limits
            .end_tick(self.params.max_rules, self.params.backoff_ticks);
        self.note_limits(budget_before, now);
        self.note_waiting();
        // The counts of storms that ended with no line to carry them.
        crate::log_limit::report_held(false);
    }

    /// Logs what the NIC's refusals changed in the engine's limits this
    /// tick: an insertion back-off (EBUSY) starting, and ending once the
    /// rate has been full for [`BACKOFF_OVER`]; the rule budget shrinking
    /// to what the NIC held (ENOSPC), and back at `max_rules`. Courses,
    /// not each tick's step.
    fn note_limits(&mut self, budget_before: usize, now: u64) {
        let (budget, scale) = (self.rule_budget(), self.limits.rate_scale());
        let full = self.params.changes_per_sec;
        let over_tsc = (BACKOFF_OVER.as_secs_f64() * self.tsc_hz as f64) as u64;
        match &mut self.backoff {
            None if scale < 1.0 => {
                self.backoff = Some(Backoff {
                    started_tsc: now,
                    lowest: scale,
                    full_since: None,
                });
                tracing::warn!(target: "offload", reason = "busy", rate = full * scale,
                    "insertion back-off started: the NIC refused installs as busy, rule changes slowed to {:.0}/s (of {full:.0}/s)",
                    full * scale);
            }
            None => {}
            Some(b) if scale < 1.0 => {
                b.lowest = b.lowest.min(scale);
                b.full_since = None;
            }
            Some(b) => {
                let since = *b.full_since.get_or_insert(now);
                if now.saturating_sub(since) >= over_tsc {
                    let secs = since.saturating_sub(b.started_tsc) as f64 / self.tsc_hz as f64;
                    tracing::info!(target: "offload", rate = full, seconds = secs,
                        lowest_rate = full * b.lowest,
                        "insertion back-off ended: rule changes at {full:.0}/s again after {secs:.1} s (down to {:.0}/s)",
                        full * b.lowest);
                    self.backoff = None;
                }
            }
        }
        if budget < budget_before {
            log_limited!("shrunk", |held| tracing::warn!(
                target: "offload", reason = "no_space", budget, was = budget_before,
                held = held.count,
                "the NIC refused a rule for space: flowlift now holds at most {budget} rules (was {budget_before}){held}"
            ));
        } else if budget > budget_before && budget == self.params.max_rules {
            log_limited!("regrown", |held| tracing::info!(
                target: "offload", budget, held = held.count,
                "rule budget back to max_rules ({budget}): no refusal for space in a while{held}"
            ));
        }
    }

    /// Reads every rule's counter in one batch. A flow whose reading failed
    /// keeps its rate until the next good one (`rated_at_tsc` stays behind).
    fn read_rules(&mut self, flows: &mut FlowTracker, now: u64) {
        let with_rules: Vec<_> = flows
            .iter()
            .filter_map(|(at, f)| f.off.state.rule().map(|r| (*at, r)))
            .collect();
        if with_rules.is_empty() {
            return;
        }
        let ids: Vec<_> = with_rules.iter().map(|(_, r)| *r).collect();
        let started = std::time::Instant::now();
        let readings = self.backend.query_batch(&ids);
        self.stats
            .query_latency
            .observe(started.elapsed().as_secs_f64(), 1);
        for ((at, rule), reading) in with_rules.iter().zip(readings) {
            match reading {
                Ok(c) => {
                    if let Some(f) = flows.get_mut(*at) {
                        f.off.read_hw(c, now);
                    }
                }
                // The rule's count stays at its last reading; removal reads
                // the final one, so nothing is lost.
                Err(e) => {
                    *self.stats.query_failures.entry(e.label()).or_default() += 1;
                    log_limited!(e.label(), |held| tracing::warn!(
                        target: "offload", rule = rule.0, reason = e.label(), error = %e,
                        held = held.count,
                        "rte_flow counter query failed: the rule's count stays at its last reading{held}"
                    ));
                    if let Some(f) = flows.get_mut(*at) {
                        f.off.reading_failed = true;
                    }
                }
            }
        }
    }

    /// Rates, streaks, and the demotions they call for; then where each flow
    /// stands, for the rest of the tick.
    fn update_flows(
        &mut self,
        flows: &mut FlowTracker,
        sw: &[Arc<FlowCounters>],
        now: u64,
    ) -> Census {
        let hz = self.tsc_hz as f64;
        let mut census = Census::default();
        for (&(worker, id), f) in flows.iter_mut() {
            if !std::mem::take(&mut f.off.reading_failed) {
                self.update_flow(f, sw.get(worker).and_then(|c| c.get(id)), hz, now);
            }
            self.count_in(&mut census, (worker, id), f);
        }
        census
    }

    /// How long a rule's reading may stand still while its flow still
    /// sends: the NIC's counter cache period, plus a tick for the query that
    /// sees the refresh (0 with live counters).
    fn hw_lag_tsc(&self) -> u64 {
        if self.refresh_tsc == 0 {
            0
        } else {
            self.refresh_tsc + self.tick_tsc
        }
    }

    /// One flow's rate, streaks, and the demotion they call for.
    fn update_flow(&self, f: &mut TrackedFlow, sw: Option<&FlowCounter>, hz: f64, now: u64) {
        let p = &self.params;
        let (sw_packets, sw_last) = sw.map_or((0, 0), |c| {
            (c.packets.load(Relaxed), c.last_seen.load(Relaxed))
        });
        // A NIC that answers counter queries from a cache (mlx5: refreshed
        // once a second) shows the same reading for a whole period however
        // many packets hit the rule: a reading that has not moved since the
        // last one that did (or since the install), less than a period ago,
        // is no news, not a zero-rate sample. Such a flow keeps its rate and
        // its streaks (no decay, no cold decision) until a fresh reading can
        // have come; its packets meanwhile stay in the delta, so the next
        // sample's rate is over the whole span between distinct readings.
        // The software counters are live: flows without a rule are rated
        // every tick. Only rates and decisions wait; the counts are exact.
        let hw_lag = if f.off.state.rule().is_some() {
            self.hw_lag_tsc()
        } else {
            0
        };
        let since_moved = now.saturating_sub(f.off.hw_active_tsc);
        let no_news = hw_lag > 0 && since_moved > 0 && since_moved < hw_lag;
        if !no_news {
            let total = sw_packets + f.off.hw_total().packets;
            if f.off.rated_at_tsc == 0 {
                // First sight: the flow started at its first packet.
                f.off.rated_at_tsc = sw.map_or(now, |c| c.first_seen.load(Relaxed));
            }
            let span = now.saturating_sub(f.off.rated_at_tsc);
            f.off.rated_at_tsc = now;
            // A sample over several ticks weighs as that many per-tick
            // samples would, so the average forgets at the same pace in time
            // whether the readings come every tick or once a refresh period.
            let ticks = span as f64 / self.tick_tsc.max(1) as f64;
            let alpha = if ticks > 1.0 {
                1.0 - (1.0 - p.ewma_alpha).powf(ticks)
            } else {
                p.ewma_alpha
            };
            f.off
                .update_rate(total, span as f64 / hz, alpha, p.promote_pps, p.demote_pps);
        }
        if let OffloadState::Offloaded(rule) = f.off.state {
            // The NIC may show a flow's packets up to `hw_lag` late: idle
            // only once no reading has moved for the idle time plus that.
            let last = sw_last.max(f.off.hw_active_tsc);
            let reason = if f.off.choice == OffloadChoice::Never {
                // An operator's `flow onload` the NIC refused: try again.
                Some(DemoteReason::Requested)
            } else if p.idle_tsc > 0 && now.saturating_sub(last) >= p.idle_tsc + hw_lag {
                Some(DemoteReason::Idle)
            } else if !no_news
                && f.off.ticks_cold >= p.hold
                && f.off.choice != OffloadChoice::Always
            {
                Some(DemoteReason::Cold)
            } else {
                None
            };
            if let Some(r) = reason {
                f.off.state = OffloadState::Onloading(rule);
                f.off.demote_reason = Some(r);
                note_demotion(f, rule, r);
            }
        }
    }

    /// Notes where flow `at` stands. A flow still waiting for a rule
    /// (`Offloading`) is onloaded again: it is chosen afresh each tick, and
    /// waiting is no claim on a rule.
    fn count_in(&self, census: &mut Census, at: (usize, FlowId), f: &mut TrackedFlow) {
        let p = &self.params;
        match f.off.state {
            OffloadState::Onloaded | OffloadState::Offloading => {
                f.off.state = OffloadState::Onloaded;
                let always = f.off.choice == OffloadChoice::Always;
                let wanted = f.off.choice != OffloadChoice::Never
                    && (always || f.off.ticks_hot >= p.hold)
                    && f.off.retry_tick <= self.tick_no
                    && self.carriable(f);
                if wanted && self.meter_missing(f) {
                    // Said once a flow: in its record and in the count.
                    if f.off.last_failure != Some(NO_METER) {
                        f.off.last_failure = Some(NO_METER);
                        census.kept_unmetered += 1;
                    }
                } else if wanted {
                    census.candidates.push(Candidate {
                        at,
                        rate: f.off.rate_pps,
                        always,
                    });
                }
            }
            OffloadState::Offloaded(_) => {
                census.holding += 1;
                census.staying += 1;
                // A rule within FLAP_TICKS of its install is no hotter
                // flow's to take: its install has had no time to pay, and
                // taking it would spend two insertions on one flip (a flap).
                let settled = self.tick_no.saturating_sub(f.off.installed_tick) > FLAP_TICKS;
                if f.off.choice != OffloadChoice::Always && settled {
                    census.offloaded.push(Candidate {
                        at,
                        rate: f.off.rate_pps,
                        always: false,
                    });
                }
            }
            OffloadState::Onloading(rule) => {
                census.holding += 1;
                census.leaving.push((at, rule));
            }
        }
    }

    /// Picks the flows to promote, and the offloaded flows they displace;
    /// returns the rules of the displaced and the flows to install, with
    /// their install priority.
    fn choose_promotions(
        &mut self,
        flows: &mut FlowTracker,
        census: Census,
    ) -> (Vec<Leaving>, Vec<(f64, At)>) {
        let Census {
            mut candidates,
            mut offloaded,
            holding,
            ..
        } = census;
        let mut evicted = Vec::new();
        let mut joining = Vec::new();
        // Policy-chosen flows first, then the hottest.
        candidates.sort_by(|a, b| b.always.cmp(&a.always).then(b.rate.total_cmp(&a.rate)));
        offloaded.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        let mut free = self.rule_budget().saturating_sub(holding);
        let mut victims = offloaded.into_iter();
        for c in candidates {
            if free > 0 {
                free -= 1;
            } else {
                let Some(v) = victims.next() else { break };
                if !(c.always || c.rate >= v.rate * self.params.evict_margin) {
                    // The coldest rule holder is not cold enough to give way
                    // (and the candidates only get colder): no flapping.
                    break;
                }
                if let Some(vf) = flows.get_mut(v.at) {
                    if let OffloadState::Offloaded(rule) = vf.off.state {
                        vf.off.state = OffloadState::Onloading(rule);
                        vf.off.demote_reason = Some(DemoteReason::Evicted);
                        note_demotion(vf, rule, DemoteReason::Evicted);
                        evicted.push((v.at, rule));
                    }
                }
            }
            if let Some(f) = flows.get_mut(c.at) {
                f.off.state = OffloadState::Offloading;
                let boost = if c.always { f64::INFINITY } else { 0.0 };
                joining.push((c.rate.max(boost), c.at));
            }
        }
        (evicted, joining)
    }

    /// Removes the rules of `leaving` flows, as the rate limit allows, in one
    /// batch. Returns how many flows lost their rule, and the flows still
    /// holding one (no budget left, or the NIC refused).
    fn carry_out_removals(
        &mut self,
        flows: &mut FlowTracker,
        mut leaving: Vec<Leaving>,
    ) -> (usize, Vec<Leaving>) {
        let budget = (self.change_tokens.max(0.0) as usize).min(leaving.len());
        let later = leaving.split_off(budget);
        if leaving.is_empty() {
            return (0, later);
        }
        self.change_tokens -= leaving.len() as f64;
        let ids: Vec<HwRuleId> = leaving.iter().map(|(_, r)| *r).collect();
        let results = self.backend.remove_batch(&ids);
        let mut removed = 0;
        let mut kept = later;
        for ((at, rule), result) in leaving.into_iter().zip(results) {
            if let Some(f) = flows.get_mut(at) {
                if self.settle_removal(Owner::Live(at), rule, &mut f.off, result) {
                    removed += 1;
                } else {
                    kept.push((at, rule));
                }
            }
        }
        (removed, kept)
    }

    /// Folds a removal's result into the flow; returns whether the rule is
    /// gone. A final count the NIC shows late is noted as `owner`'s.
    fn settle_removal(
        &mut self,
        owner: Owner,
        rule: HwRuleId,
        off: &mut FlowOffload,
        result: Result<HwCounters, OffloadError>,
    ) -> bool {
        let reason = off.demote_reason.unwrap_or(DemoteReason::Requested);
        match result {
            Ok(last) => {
                if reason != DemoteReason::Requested
                    && self.tick_no.saturating_sub(off.installed_tick) <= FLAP_TICKS
                {
                    self.stats.flaps += 1;
                }
                let before = off.hw_folded;
                off.removed(last);
                if self.backend.final_pending(rule) {
                    let folded = HwCounters {
                        packets: off.hw_folded.packets - before.packets,
                        bytes: off.hw_folded.bytes - before.bytes,
                    };
                    self.unsettled.insert(rule, (owner, folded));
                }
                self.stats.removals += 1;
                tracing::trace!(target: "offload", rule = rule.0, reason = reason.label(),
                    packets = off.hw_folded.packets, "rule removed, its count folded in");
                if let Some(i) = DemoteReason::ALL.iter().position(|r| *r == reason) {
                    self.stats.demotions[i] += 1;
                }
                true
            }
            Err(e) => {
                *self.stats.removal_failures.entry(e.label()).or_default() += 1;
                log_limited!(e.label(), |held| tracing::warn!(
                    target: "offload", rule = rule.0, reason = e.label(), error = %e,
                    held = held.count,
                    "rte_flow destroy refused{}{held}",
                    if matches!(e, OffloadError::NoSuchRule(_)) {
                        ": the NIC no longer has the rule, its last reading stands"
                    } else {
                        ": the flow stays on the NIC and the removal is asked again"
                    }
                ));
                if matches!(e, OffloadError::NoSuchRule(_)) {
                    // The NIC no longer has it: the last reading is all there is.
                    off.removed(HwCounters::default());
                    return true;
                }
                false
            }
        }
    }

    /// Installs rules for the `joining` flows (`Offloading`, with their
    /// install priority), hottest first, as the rate limit and the rule
    /// budget allow, in one batch.
    fn carry_out_installs(
        &mut self,
        flows: &mut FlowTracker,
        mut joining: Vec<(f64, At)>,
        now: u64,
    ) {
        joining.sort_by(|a, b| b.0.total_cmp(&a.0));
        let room = self.rule_budget().saturating_sub(self.backend.installed());
        let budget = (self.change_tokens.max(0.0) as usize).min(room);
        let mut batch = Vec::with_capacity(budget.min(joining.len()));
        let mut rules = Vec::with_capacity(batch.capacity());
        for (_, at) in joining {
            if batch.len() == budget {
                break;
            }
            let Some(f) = flows.get_mut(at) else { continue };
            match self.hw_rule(f) {
                Some(rule) => {
                    batch.push(at);
                    rules.push(rule);
                }
                None => f.off.state = OffloadState::Onloaded,
            }
        }
        if rules.is_empty() {
            return;
        }
        self.change_tokens -= rules.len() as f64;
        let started = std::time::Instant::now();
        let results = self.backend.install_batch(&rules);
        let n = rules.len() as u64;
        self.stats
            .install_latency
            .observe(started.elapsed().as_secs_f64() / n as f64, n);
        for (at, result) in batch.into_iter().zip(results) {
            let Some(f) = flows.get_mut(at) else { continue };
            match result {
                Ok(id) => {
                    if f.off.failures_in_row > 0 {
                        log_limited!("back_off_over", |held| tracing::debug!(
                            target: "offload", flow = %f.key, rule = id.0,
                            failures = f.off.failures_in_row, held = held.count,
                            "flow's install back-off over: installed after {} refusal(s){held}",
                            f.off.failures_in_row
                        ));
                    }
                    f.off.installed(id);
                    f.off.installed_tick = self.tick_no;
                    f.off.hw_active_tsc = now;
                    self.stats.installs += 1;
                    tracing::trace!(target: "offload", flow = %f.key, rule = id.0,
                        rate_pps = f.off.rate_pps, "flow put on the NIC");
                }
                Err(e) => {
                    let backoff = match e {
                        OffloadError::NoSpace(_) => {
                            self.limits.no_space(self.backend.installed());
                            f.off.refused_for_space(e.label());
                            0
                        }
                        OffloadError::Busy(_) => {
                            self.limits.busy();
                            f.off.install_failed(
                                e.label(),
                                self.tick_no,
                                self.params.backoff_ticks,
                            );
                            f.off.retry_tick.saturating_sub(self.tick_no)
                        }
                        _ => {
                            f.off.install_failed(
                                e.label(),
                                self.tick_no,
                                self.params.backoff_ticks,
                            );
                            f.off.retry_tick.saturating_sub(self.tick_no)
                        }
                    };
                    *self.stats.install_failures.entry(e.label()).or_default() += 1;
                    log_limited!(e.label(), |held| tracing::warn!(
                        target: "offload", flow = %f.key, reason = e.label(), error = %e,
                        retry_in_ticks = backoff, failures = f.off.failures_in_row,
                        held = held.count,
                        "rte_flow install refused: the flow stays on the workers{}{held}",
                        if backoff == 0 {
                            String::new()
                        } else {
                            format!(", tried again in {backoff} tick(s) (back-off)")
                        }
                    ));
                }
            }
        }
    }

    fn hw_rule(&self, f: &TrackedFlow) -> Option<HwRule> {
        let FlowAction::Forward(out) = f.action else {
            return None;
        };
        let in_port = PortIdx(u16::from(f.key.in_port()));
        Some(HwRule {
            key: f.key,
            in_port: *self.ports.hw_port.get(in_port.index())?,
            out_port: *self.ports.hw_port.get(out.index())?,
            meter: self
                .ports
                .metered
                .get(out.index())
                .copied()
                .unwrap_or(false)
                .then_some(u32::from(out.0)),
        })
    }

    /// Runs an operator's `flow` command (static rules) on the backend;
    /// `ports` are the DPDK port ids that exist. The shell words the outcome.
    pub fn static_flow(
        &mut self,
        cmd: FlowCommand,
        ports: &[u16],
    ) -> Result<StaticReply, StaticError> {
        self.statics.run(cmd, self.backend.as_mut(), ports)
    }

    /// Static rules held.
    pub fn static_rules(&self) -> usize {
        self.statics.len()
    }

    /// Destroys every static rule (the traffic has stopped); returns the
    /// refusals, one line each.
    pub fn destroy_static_rules(&mut self) -> Vec<String> {
        self.statics.destroy_all(self.backend.as_mut())
    }

    /// Reads the counters of the static rules that take packets past the
    /// workers (once a tick, for the bucket in `/metrics`).
    pub fn refresh_static(&mut self) {
        self.statics.refresh(self.backend.as_mut());
    }

    /// What static rules took past the workers, by port and fate.
    pub fn static_taken(&self) -> Vec<StaticTaken> {
        self.statics.taken()
    }

    /// The records of the static rules that ended since the last call.
    pub fn take_ended_static(&mut self) -> Vec<EndedStatic> {
        self.statics.take_ended()
    }

    /// Takes every flow off the NIC (the traffic has stopped): one batch;
    /// the rules the NIC refuses to let go (busy), of live flows and of
    /// ended ones set aside, are asked again until a deadline; then it waits
    /// for the last final counts (see [`Offloader::settle_all`]). Whatever
    /// the NIC never confirms leaves the last reading as the flow's count,
    /// counted as unconfirmed. The ended flows' records are then all whole,
    /// for [`Offloader::take_settled`]. The only waiting the engine does:
    /// the traffic has stopped, and nothing else is left to do.
    pub fn release_all(&mut self, flows: &mut FlowTracker) {
        let mut holders = Vec::new();
        for (at, f) in flows.iter_mut() {
            if f.off.state == OffloadState::Offloading {
                f.off.state = OffloadState::Onloaded;
            }
            if let Some(rule) = f.off.state.rule() {
                f.off.demote_reason.get_or_insert(DemoteReason::Requested);
                holders.push((*at, rule));
            }
        }
        let mut refused = self.remove_live(flows, holders);
        let deadline = Instant::now() + EXIT_REMOVE_WAIT;
        loop {
            self.retry_ended_removals(true);
            let ended_holding = self.aside.values().any(|a| a.off.state.rule().is_some());
            if refused.is_empty() && !ended_holding {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                self.give_up_removals(flows, refused);
                break;
            }
            std::thread::sleep(EXIT_POLL.min(deadline - now));
            refused = self.remove_live(flows, refused);
        }
        self.settle_all(flows);
        self.read_meters_final();
        self.note_waiting();
        // Whatever is still held back, second over or not: the stop is the
        // last chance to say it.
        crate::log_limit::report_held(true);
    }

    /// Removes the rules of live flows in one batch; returns those the NIC
    /// refused.
    fn remove_live(&mut self, flows: &mut FlowTracker, holders: Vec<Leaving>) -> Vec<Leaving> {
        if holders.is_empty() {
            return holders;
        }
        let ids: Vec<HwRuleId> = holders.iter().map(|(_, r)| *r).collect();
        let results = self.backend.remove_batch(&ids);
        let mut refused = Vec::new();
        for ((at, rule), result) in holders.into_iter().zip(results) {
            if let Some(f) = flows.get_mut(at) {
                if !self.settle_removal(Owner::Live(at), rule, &mut f.off, result) {
                    refused.push((at, rule));
                }
            }
        }
        refused
    }

    /// At exit, past the deadline: the rules the NIC still refuses to remove
    /// count with their last readings, as unconfirmed.
    fn give_up_removals(&mut self, flows: &mut FlowTracker, refused: Vec<Leaving>) {
        for (at, _) in refused {
            if let Some(f) = flows.get_mut(at) {
                f.off.removed(HwCounters::default());
                self.stats.unconfirmed_at_exit += 1;
            }
        }
        let holding: Vec<EndTicket> = self
            .aside
            .iter()
            .filter(|(_, a)| a.off.state.rule().is_some())
            .map(|(t, _)| *t)
            .collect();
        for t in holding {
            if let Some(mut a) = self.aside.remove(&t) {
                a.off.removed(HwCounters::default());
                self.stats.unconfirmed_at_exit += 1;
                self.keep_or_settle(t, a);
            }
        }
    }

    /// Asks the NIC again to remove the rules of ended flows it refused
    /// before: those whose back-off is over, or (`all`, at exit) every one.
    /// The back-off doubles with each refusal in a row, from one tick to 64:
    /// a busy NIC is not asked every tick, and no tick waits for it. Like
    /// the removal at the flow's end, these take no share of the change
    /// rate limit: the rule carries no flow the engine keeps, and holds a
    /// slot a live flow could use.
    fn retry_ended_removals(&mut self, all: bool) {
        let tick = self.tick_no;
        let due: Vec<(EndTicket, HwRuleId)> = self
            .aside
            .iter()
            .filter(|(_, a)| all || a.retry_tick <= tick)
            .filter_map(|(t, a)| a.off.state.rule().map(|r| (*t, r)))
            .collect();
        if due.is_empty() {
            return;
        }
        let ids: Vec<HwRuleId> = due.iter().map(|(_, r)| *r).collect();
        let results = self.backend.remove_batch(&ids);
        for ((t, rule), result) in due.into_iter().zip(results) {
            let Some(mut a) = self.aside.remove(&t) else {
                continue;
            };
            if self.settle_removal(Owner::Ended(t), rule, &mut a.off, result) {
                if self.unsettled.contains_key(&rule) {
                    a.finals_due += 1;
                }
            } else {
                a.refusals = a.refusals.saturating_add(1);
                a.retry_tick = tick + (1u64 << (a.refusals - 1).min(6));
            }
            self.keep_or_settle(t, a);
        }
    }

    /// Keeps an ended flow's record aside, or hands it over once whole.
    fn keep_or_settle(&mut self, t: EndTicket, a: Aside) {
        if a.is_whole() {
            self.settled.push((t, a.off));
        } else {
            self.aside.insert(t, a);
        }
    }

    /// A final count for ended flow `t`'s rule came (`Some`: the count, and
    /// what the removal folded in), or never will (`None`: the removal's
    /// reading stands).
    fn final_for_ended(&mut self, t: EndTicket, got: Option<(HwCounters, HwCounters)>) {
        let Some(mut a) = self.aside.remove(&t) else {
            return;
        };
        if let Some((c, folded)) = got {
            a.off.late_final(c, folded);
        }
        a.finals_due = a.finals_due.saturating_sub(1);
        self.keep_or_settle(t, a);
    }

    /// Folds the final counters the NIC now shows for removed rules into
    /// their flows, live or ended (once a tick, and at exit). Never waits.
    fn fold_finals(&mut self, flows: &mut FlowTracker) {
        for (rule, result) in self.backend.take_final() {
            match result {
                Ok(c) => match self.unsettled.remove(&rule) {
                    Some((Owner::Live(at), folded)) => {
                        if let Some(f) = flows.get_mut(at) {
                            f.off.late_final(c, folded);
                        }
                    }
                    Some((Owner::Ended(t), folded)) => self.final_for_ended(t, Some((c, folded))),
                    // An operator's static rule, destroyed a refresh ago.
                    None => self.statics.late_final(rule, c),
                },
                Err(e) => {
                    *self.stats.query_failures.entry(e.label()).or_default() += 1;
                    log_limited!(e.label(), |held| tracing::warn!(
                        target: "offload", rule = rule.0, reason = e.label(), error = %e,
                        held = held.count,
                        "rte_flow query of a removed rule's final count failed{held}"
                    ));
                }
            }
        }
        // A rule the NIC no longer keeps a final count for (it lost it)
        // would keep an ended flow waiting for ever: its removal's reading
        // stands.
        let lost: Vec<HwRuleId> = self
            .unsettled
            .keys()
            .filter(|r| !self.backend.final_pending(**r))
            .copied()
            .collect();
        for rule in lost {
            if let Some((Owner::Ended(t), _)) = self.unsettled.remove(&rule) {
                self.final_for_ended(t, None);
            }
        }
        let backend = &self.backend;
        self.statics.settle_lost(|id| backend.final_pending(id));
    }

    /// Waits for the final counters of every removed rule and folds them in
    /// (the traffic has stopped, every rule is off): until a deadline a
    /// refresh period (or the latest due time the NIC names) and a margin
    /// away. What has not shown by then leaves the removal's reading as the
    /// flow's count, counted as unconfirmed.
    fn settle_all(&mut self, flows: &mut FlowTracker) {
        let due = self.backend.final_due_in(None).unwrap_or_default();
        let deadline =
            Instant::now() + self.backend.counter_refresh().max(due) + EXIT_FINALS_MARGIN;
        loop {
            self.fold_finals(flows);
            if self.unsettled.is_empty() && self.statics.awaiting() == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let next = self.backend.final_due_in(None).unwrap_or_default();
            std::thread::sleep(next.max(EXIT_POLL).min(deadline - now));
        }
        self.stats.unconfirmed_at_exit +=
            self.unsettled.len() as u64 + self.statics.give_up_awaiting() as u64;
        for (_, (owner, _)) in std::mem::take(&mut self.unsettled) {
            if let Owner::Ended(t) = owner {
                self.final_for_ended(t, None);
            }
        }
    }

    /// A flow ended (it left the tracker at `at`): its rule comes off now.
    /// Its record is whole if nothing is left to wait for; otherwise (the
    /// final counts of its rules, this one and those removed before, show
    /// a refresh period late, or the NIC refused to let the rule go) it is
    /// kept aside and comes back whole from [`Offloader::take_settled`] at
    /// the tick that completes it (or at exit). Never waits: a control loop
    /// that ticks every 100 ms must not stall for a NIC's 1 s refresh.
    pub fn release_ended(&mut self, at: At, off: FlowOffload) -> EndedOffload {
        let mut a = Aside {
            off,
            finals_due: 0,
            refusals: 0,
            retry_tick: 0,
        };
        if a.off.state == OffloadState::Offloading {
            a.off.state = OffloadState::Onloaded;
        }
        if let Some(rule) = a.off.state.rule() {
            a.off.demote_reason.get_or_insert(DemoteReason::Requested);
            let result = self.backend.remove(rule);
            if !self.settle_removal(Owner::Live(at), rule, &mut a.off, result) {
                a.refusals = 1;
                a.retry_tick = self.tick_no + 1;
            }
        }
        let ticket = EndTicket(self.next_ticket);
        // Only a flow that was ever on the NIC can have rules to settle (and
        // the scan is then over the few removed in the last refresh period).
        if a.off.offloads > 0 {
            for (owner, _) in self.unsettled.values_mut() {
                if *owner == Owner::Live(at) {
                    *owner = Owner::Ended(ticket);
                    a.finals_due += 1;
                }
            }
        }
        if a.is_whole() {
            return EndedOffload::Whole(a.off);
        }
        self.next_ticket += 1;
        self.aside.insert(ticket, a);
        self.note_waiting();
        EndedOffload::Awaiting {
            ticket,
            so_far: a.off.hw_total(),
        }
    }

    /// The ended flows' records made whole since the last call (at ticks,
    /// and at exit by [`Offloader::release_all`]), each once.
    pub fn take_settled(&mut self) -> Vec<(EndTicket, FlowOffload)> {
        std::mem::take(&mut self.settled)
    }

    /// Removed rules whose final counters are still to be read.
    pub fn finals_pending(&self) -> usize {
        self.unsettled.len()
    }

    /// Ended flows whose records wait (for final counts, or for their rule
    /// to come off).
    pub fn ended_waiting(&self) -> usize {
        self.aside.len()
    }

    /// Brings the waiting gauges of [`OffloadStats`] up to date.
    fn note_waiting(&mut self) {
        self.stats.finals_pending = self.unsettled.len() as u64;
        self.stats.ended_waiting = self.aside.len() as u64;
    }
}

/// Logs a flow's demotion and its reason, at debug (demotions are the
/// engine's daily work), rate-limited per reason: a hot set that moves
/// demotes many flows at once.
fn note_demotion(f: &TrackedFlow, rule: HwRuleId, reason: DemoteReason) {
    log_limited!(reason.label(), |held| tracing::debug!(
        target: "offload", flow = %f.key, rule = rule.0, reason = reason.label(),
        rate_pps = f.off.rate_pps, held = held.count,
        "flow demoted ({}){held}", reason.label()
    ));
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
