//! The control core's offload decisions, once a tick: read every rule's
//! counter in one batch, update each flow's rate, demote the cold and the idle,
//! choose the hottest candidates for the free rules (a candidate takes an
//! offloaded flow's rule only when it is hotter by the eviction margin), and
//! carry the changes out no faster than the NIC's insertion rate.
//!
//! Header policies (`[[offload.policy]]`) decide at a flow's announcement:
//! `always` flows go to the NIC at the next tick whatever their rate and are
//! never demoted for being cold or evicted; `never` flows stay on the workers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use flowlift_dataplane::flow::{FlowId, FlowKey};
use flowlift_dataplane::flowstate::{FlowCounter, FlowCounters};
use flowlift_dataplane::policy::FlowAction;
use flowlift_dataplane::PortIdx;

use super::nic_limits::NicLimits;
use super::static_rules::{EndedStatic, StaticRules, StaticTaken};
use super::{Capabilities, HwCounters, HwRule, HwRuleId, OffloadBackend, OffloadError};
use crate::config::{OffloadChoice, OffloadPolicy, OffloadSection};
use crate::lifecycle::{DemoteReason, FlowOffload, OffloadState};
use crate::shell::testpmd_flow::FlowCommand;
use crate::tracker::{FlowTracker, TrackedFlow};

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

impl OffloadParams {
    /// From the `[offload]` section, with the idle timeout in TSC ticks.
    pub fn from_config(o: &OffloadSection, idle_tsc: u64) -> Self {
        OffloadParams {
            max_rules: o.max_rules as usize,
            promote_pps: o.promote_pps,
            demote_pps: o.demote_pps,
            hold: o.hold,
            ewma_alpha: o.ewma_alpha,
            evict_margin: o.evict_margin,
            changes_per_sec: f64::from(o.inserts_per_sec.max(1)),
            backoff_ticks: u64::from(o.backoff_ms.div_ceil(o.tick_ms.max(1))).max(1),
            idle_tsc,
        }
    }
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
    /// Rule removals that failed at exit, whose last counter reading stands in
    /// for the final one (0 unless the NIC misbehaves).
    pub unconfirmed_at_exit: u64,
    /// Flows that wanted the NIC and stayed on the workers because the NIC
    /// has no meter for their VF's rate limit (each flow counted once).
    pub kept_unmetered: u64,
    /// Failed reads of the NIC meters' drops, by reason.
    pub meter_read_failures: BTreeMap<&'static str, u64>,
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

/// Removal attempts for one rule at exit (a busy NIC is given a moment).
const EXIT_REMOVE_TRIES: u32 = 50;

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
    /// [`OffloadBackend::take_final`]): the flow's place (`None`: it ended
    /// and waits for them) and what its removal folded in.
    unsettled: HashMap<HwRuleId, (Option<At>, HwCounters)>,
    /// Final counters read while waiting for another rule's, kept for the
    /// next tick.
    finals_aside: Vec<(HwRuleId, Result<HwCounters, OffloadError>)>,
    /// The NIC's capacity and insertion rate, as its refusals said them.
    limits: NicLimits,
    /// What each NIC meter dropped, as last read (whole counts), by meter
    /// id (the VF's port index).
    meter_drops: BTreeMap<u32, HwCounters>,
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
            finals_aside: Vec::new(),
            limits: NicLimits::default(),
            meter_drops: BTreeMap::new(),
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
                }
            }
        }
    }

    /// The last read of the meters' drops, once every rule is gone: waits
    /// for the device's counter cache to show the last rule's packets,
    /// then reads until a read of every meter succeeds (or gives up,
    /// leaving the last good reading).
    fn read_meters_final(&mut self) {
        if let Some(d) = self.backend.meter_drops_due_in() {
            std::thread::sleep(d);
        }
        for attempt in 0..EXIT_REMOVE_TRIES {
            let before = OffloadStats::total(&self.stats.meter_read_failures);
            self.read_meters();
            if OffloadStats::total(&self.stats.meter_read_failures) == before {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2 * u64::from(attempt + 1)));
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
                .filter(|(_, g)| {
                    matches!(g.off.state, OffloadState::Offloaded(_))
                        && g.off.choice == OffloadChoice::Auto
                })
                .min_by(|a, b| a.1.off.rate_pps.total_cmp(&b.1.off.rate_pps))
                .map(|(at, _)| *at);
            let Some(victim) = coldest.and_then(|v| flows.get_mut(v)) else {
                return OffloadedNow::refused(format!(
                    "all {} rules are held by flows put there by policy or by hand (flow onload one, or set offload max-rules)",
                    self.rule_budget()
                ));
            };
            victim.off.demote_reason = Some(DemoteReason::Evicted);
            if !self.remove_rule(coldest, &mut victim.off) {
                return OffloadedNow::refused("the NIC refused to free a rule for it");
            }
            evicted = coldest;
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
                f.off.hw_active_tsc = now;
                self.stats.installs += 1;
                Ok(id)
            }
            Err(e) => {
                f.off
                    .install_failed(e.label(), self.tick_no, self.params.backoff_ticks);
                *self.stats.install_failures.entry(e.label()).or_default() += 1;
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
        if self.settle_removal(Some(at), rule, &mut f.off, result) {
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
        self.limits
            .end_tick(self.params.max_rules, self.params.backoff_ticks);
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
        for ((at, _), reading) in with_rules.iter().zip(readings) {
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
                if f.off.choice != OffloadChoice::Always {
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
                if self.settle_removal(Some(at), rule, &mut f.off, result) {
                    removed += 1;
                } else {
                    kept.push((at, rule));
                }
            }
        }
        (removed, kept)
    }

    /// Removes a flow's rule and folds its final counters in; returns whether
    /// the rule is gone.
    fn remove_rule(&mut self, at: Option<At>, off: &mut FlowOffload) -> bool {
        let Some(rule) = off.state.rule() else {
            return true;
        };
        let result = self.backend.remove(rule);
        self.settle_removal(at, rule, off, result)
    }

    /// Folds a removal's result into the flow; returns whether the rule is gone.
    fn settle_removal(
        &mut self,
        at: Option<At>,
        rule: HwRuleId,
        off: &mut FlowOffload,
        result: Result<HwCounters, OffloadError>,
    ) -> bool {
        let reason = off.demote_reason.unwrap_or(DemoteReason::Requested);
        match result {
            Ok(last) => {
                let before = off.hw_folded;
                off.removed(last);
                if self.backend.final_pending(rule) {
                    let folded = HwCounters {
                        packets: off.hw_folded.packets - before.packets,
                        bytes: off.hw_folded.bytes - before.bytes,
                    };
                    self.unsettled.insert(rule, (at, folded));
                }
                self.stats.removals += 1;
                if let Some(i) = DemoteReason::ALL.iter().position(|r| *r == reason) {
                    self.stats.demotions[i] += 1;
                }
                true
            }
            Err(e) => {
                *self.stats.removal_failures.entry(e.label()).or_default() += 1;
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
                    f.off.installed(id);
                    f.off.hw_active_tsc = now;
                    self.stats.installs += 1;
                }
                Err(e) => {
                    match e {
                        OffloadError::NoSpace(_) => {
                            self.limits.no_space(self.backend.installed());
                            f.off.refused_for_space(e.label());
                        }
                        OffloadError::Busy(_) => {
                            self.limits.busy();
                            f.off.install_failed(
                                e.label(),
                                self.tick_no,
                                self.params.backoff_ticks,
                            );
                        }
                        _ => {
                            f.off
                                .install_failed(e.label(), self.tick_no, self.params.backoff_ticks)
                        }
                    }
                    *self.stats.install_failures.entry(e.label()).or_default() += 1;
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

    /// Takes a flow off the NIC at once (it ended, or the appliance stops),
    /// folding its final counters in. A NIC that keeps refusing leaves the last
    /// reading as the flow's count, and is counted as unconfirmed.
    pub fn release(&mut self, off: &mut FlowOffload) {
        if off.state == OffloadState::Offloading {
            off.state = OffloadState::Onloaded;
        }
        if off.state.rule().is_none() {
            return;
        }
        off.demote_reason.get_or_insert(DemoteReason::Requested);
        for attempt in 0..EXIT_REMOVE_TRIES {
            if self.remove_rule(None, off) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2 * u64::from(attempt + 1)));
        }
        self.stats.unconfirmed_at_exit += 1;
        off.removed(HwCounters::default());
    }

    /// Runs an operator's `flow` command (static rules) on the backend;
    /// `ports` are the DPDK port ids that exist.
    pub fn static_flow(&mut self, cmd: FlowCommand, ports: &[u16]) -> Result<String, String> {
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

    /// Takes every flow off the NIC (the traffic has stopped): one batch, then
    /// one by one (with retries) for the rules the batch could not remove.
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
        let ids: Vec<HwRuleId> = holders.iter().map(|(_, r)| *r).collect();
        let results = self.backend.remove_batch(&ids);
        for ((at, rule), result) in holders.into_iter().zip(results) {
            if let Some(f) = flows.get_mut(at) {
                if !self.settle_removal(Some(at), rule, &mut f.off, result) {
                    self.release(&mut f.off);
                    self.settle_ended(&mut f.off);
                }
            }
        }
        self.settle_all(flows);
        self.read_meters_final();
    }

    /// Folds the final counters the NIC now shows for removed rules into
    /// their flows (once a tick, and when waiting for them).
    fn fold_finals(&mut self, flows: &mut FlowTracker) {
        let mut finals = std::mem::take(&mut self.finals_aside);
        finals.extend(self.backend.take_final());
        for (rule, result) in finals {
            match result {
                Ok(c) => {
                    let Some((Some(at), folded)) = self.unsettled.remove(&rule) else {
                        continue;
                    };
                    if let Some(f) = flows.get_mut(at) {
                        f.off.late_final(c, folded);
                    }
                }
                Err(e) => *self.stats.query_failures.entry(e.label()).or_default() += 1,
            }
        }
    }

    /// Waits for the final counters of every removed rule and folds them in
    /// (the traffic has stopped, every rule is off). A NIC that keeps
    /// failing the reads leaves the removal's reading as the flow's count,
    /// counted as unconfirmed.
    fn settle_all(&mut self, flows: &mut FlowTracker) {
        for attempt in 0..EXIT_REMOVE_TRIES {
            if self.unsettled.is_empty() {
                return;
            }
            if let Some(d) = self.backend.final_due_in(None) {
                std::thread::sleep(d);
            }
            self.fold_finals(flows);
            if !self.unsettled.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(2 * u64::from(attempt + 1)));
            }
        }
        self.stats.unconfirmed_at_exit += self.unsettled.len() as u64;
        self.unsettled.clear();
    }

    /// Waits for the final counters of the rules of flow `off`, which left
    /// the tracker (it ended), and folds them in; the other rules' finals
    /// read meanwhile wait for the next tick.
    fn settle_ended(&mut self, off: &mut FlowOffload) {
        let mine: Vec<HwRuleId> = self
            .unsettled
            .iter()
            .filter(|(_, (at, _))| at.is_none())
            .map(|(r, _)| *r)
            .collect();
        for rule in mine {
            for attempt in 0..EXIT_REMOVE_TRIES {
                if let Some(d) = self.backend.final_due_in(Some(rule)) {
                    std::thread::sleep(d);
                }
                let mut got = None;
                for (r, result) in self.backend.take_final() {
                    if r == rule {
                        got = Some(result);
                    } else {
                        self.finals_aside.push((r, result));
                    }
                }
                match got {
                    Some(Ok(c)) => {
                        if let Some((_, folded)) = self.unsettled.remove(&rule) {
                            off.late_final(c, folded);
                        }
                        break;
                    }
                    Some(Err(e)) => {
                        *self.stats.query_failures.entry(e.label()).or_default() += 1;
                    }
                    None if !self.backend.final_pending(rule) => {
                        self.unsettled.remove(&rule);
                        break;
                    }
                    None => {}
                }
                std::thread::sleep(std::time::Duration::from_millis(2 * u64::from(attempt + 1)));
            }
            if self.unsettled.remove(&rule).is_some() {
                self.stats.unconfirmed_at_exit += 1;
            }
        }
    }

    /// A flow ended (it left the tracker at `at`): its rule comes off, and
    /// the final counters of its rules, this one and those removed before
    /// and not yet read, are waited for, so that its record is whole.
    pub fn release_ended(&mut self, at: At, off: &mut FlowOffload) {
        for (place, _) in self.unsettled.values_mut() {
            if *place == Some(at) {
                *place = None;
            }
        }
        self.release(off);
        self.settle_ended(off);
    }

    /// Removed rules whose final counters are still to be read.
    pub fn finals_pending(&self) -> usize {
        self.unsettled.len()
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
