//! The `rte_flow` backend: real NIC rules through DPDK's generic flow API, for
//! NICs with an embedded switch (mlx5 in switchdev mode; the NIC model
//! `net_flowlift`, which flowlift drives exactly as it would drive mlx5).
//!
//! Rules go on one port, the uplink: on a switchdev NIC the PF is the
//! transfer proxy of its switch, so a `transfer` rule created there matches
//! the in-port with a `REPRESENTED_PORT` item and sends to a VF with the
//! `REPRESENTED_PORT` action naming the VF's representor's ethdev port id.
//!
//! At `probe` it asks the PMD (`rte_flow_validate`) which fate it accepts for a
//! typical flow rule, best first: `REPRESENTED_PORT` (transfer), `PORT_ID`
//! (transfer), `QUEUE` (ingress); and whether it has indirect COUNT actions.
//! With indirect counters a rule is destroyed first and its counter read after,
//! so packets that hit the rule in its last microseconds are counted; without
//! them the counter is read just before the rule is destroyed, and what hits it
//! in between is the bounded residual window the design accepts.
//!
//! A VF with a rate limit gets a meter of its own on the same port (see
//! [`super::meters`]), probed as the `METER` action of a sample rule; its
//! flows' rules carry `METER` after their COUNT, so the COUNT sees every
//! packet the rule takes, the meter's drops included, as a worker counts a
//! flow's packets before its VF's meter. A rule naming a meter the NIC does
//! not have is refused, never installed unmetered.
//!
//! Devices answer counter queries from a cache (mlx5 fetches its counter
//! pools once a second): a destroyed rule's last hits show only from the next
//! refresh on. So the indirect counter of a removed rule is kept a refresh
//! period and read then (`take_final`), and the engine folds in what the
//! reading at removal missed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use flowlift_dataplane::flow::{FlowKey, KeyV4, NO_VLAN};
use rte::flow::{self, Action, IndirectCounter, Rule};
use rte::Port;

use rte::flow::{error_type as et, FlowError};

use super::flow_rule::FlowRule;

use super::meters::{VfLimit, VfMeters};
use super::policy::RateLimit;
use super::rule::{build, Counter};
use super::static_lower::to_rte_flow;
use super::{
    no_such_static_rule, Capabilities, Fate, HwCounters, HwRule, HwRuleId, OffloadBackend,
    OffloadError,
};

struct Installed {
    rule: Rule,
    counter: Option<IndirectCounter>,
    /// Whether the rule names a VF's meter.
    metered: bool,
}

/// An operator's static rule, with the indirect counter that stands for its
/// COUNT action where the NIC has them (so that its last hits are read
/// after its destroy, as a per-flow rule's are).
struct StaticRule {
    rule: Rule,
    counter: Option<IndirectCounter>,
}

/// The indirect counter of a destroyed rule, kept until the device's
/// counter cache shows its final count.
struct Retired {
    counter: IndirectCounter,
    /// When a read is sure to see the final count: a whole refresh period
    /// after the rule went.
    due: Instant,
}

/// mlx5's counter pools are fetched from the device once a second
/// (`MLX5_POOL_QUERY_FREQ_US`), and `rte_flow_query` answers from that fetch.
pub const MLX5_COUNTER_REFRESH_MS: u64 = 1000;

/// Rules on one port (the uplink, which is the transfer proxy on switch NICs).
pub struct RteFlowBackend {
    port: Port,
    /// A VF representor's port id, for the probe's sample rule.
    sample_out_port: u16,
    fate: Option<Fate>,
    indirect: bool,
    rules: HashMap<HwRuleId, Installed>,
    /// Operators' static rules (`flow create`), apart from the per-flow ones.
    statics: HashMap<HwRuleId, StaticRule>,
    next_id: u64,
    /// How old a counter read may be: the device's counter cache period
    /// (mlx5 fetches its counter pools once a second; the model takes
    /// `counter_refresh_ms`). Zero: reads are live.
    counter_refresh: Duration,
    /// Counters of removed rules whose final count is still to be read.
    retired: HashMap<HwRuleId, Retired>,
    /// The rate-limited VFs' meters. Declared after the rules, so that on
    /// drop the rules naming a meter go before it.
    meters: VfMeters,
}

impl std::fmt::Debug for RteFlowBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RteFlowBackend")
            .field("port", &self.port)
            .field("fate", &self.fate)
            .field("indirect", &self.indirect)
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl RteFlowBackend {
    /// A backend creating rules on `port`, probing with `sample_out_port` (a VF
    /// representor) as the sample rule's destination.
    pub fn new(port: Port, sample_out_port: u16) -> Self {
        RteFlowBackend {
            sample_out_port,
            fate: None,
            indirect: false,
            rules: HashMap::new(),
            statics: HashMap::new(),
            next_id: 1,
            counter_refresh: Duration::from_millis(MLX5_COUNTER_REFRESH_MS),
            retired: HashMap::new(),
            meters: VfMeters::new(port.clone(), Vec::new()),
            port,
        }
    }

    /// Polices `limits` (the rate-limited VFs) with meters of the NIC, made
    /// at `probe`.
    pub fn with_rate_limits(mut self, limits: Vec<VfLimit>) -> Self {
        self.meters = VfMeters::new(self.port.clone(), limits);
        self
    }

    /// Sets how stale the device's counter reads may be (its cache's refresh
    /// period; zero for live counters).
    pub fn with_counter_refresh(mut self, period: Duration) -> Self {
        self.counter_refresh = period;
        self
    }

    fn sample_rule(&self) -> HwRule {
        HwRule {
            key: FlowKey::V4(KeyV4 {
                src: [10, 0, 0, 1],
                dst: [10, 0, 0, 2],
                sport: 1024,
                dport: 1024,
                vlan: NO_VLAN,
                proto: 17,
                in_port: 0,
            }),
            in_port: self.port.id().0,
            out_port: self.sample_out_port,
            meter: None,
        }
    }
}

impl OffloadBackend for RteFlowBackend {
    /// Destroys every rule on the port, ours or left by an earlier run that
    /// crashed.
    fn flush_stale(&mut self) -> Result<(), OffloadError> {
        self.rules.clear();
        self.retired.clear();
        flow::flush(&self.port).map_err(OffloadError::from)
    }

    fn name(&self) -> &'static str {
        "rte_flow"
    }

    fn probe(&mut self) -> Capabilities {
        let sample = self.sample_rule();
        let mut caps = Capabilities::default();
        for fate in [Fate::RepresentedPort, Fate::PortId, Fate::Queue(0)] {
            let (attr, pattern, actions) = build(&sample, fate, Counter::Plain);
            if flow::validate(&self.port, &attr, &pattern, &actions).is_ok() {
                caps.fates.push(fate);
                caps.count = true;
            }
        }
        if let Some(&fate) = caps.fates.first() {
            let (attr, _, _) = build(&sample, fate, Counter::Plain);
            if let Ok(c) = IndirectCounter::create(&self.port, &attr) {
                caps.indirect_count = true;
                let _ = c.destroy();
            }
        }
        self.fate = caps.fates.first().copied();
        self.indirect = caps.indirect_count;
        if let Some(&fate) = caps.fates.first() {
            let port = &self.port;
            caps.meter = self.meters.probe(|meter| {
                let mut rule = sample;
                rule.meter = Some(meter);
                let (attr, pattern, actions) = build(&rule, fate, Counter::Plain);
                flow::validate(port, &attr, &pattern, &actions).map_err(|e| e.to_string())
            });
        }
        caps
    }

    fn install(&mut self, rule: &HwRule) -> Result<HwRuleId, OffloadError> {
        let fate = self.fate.ok_or_else(|| {
            OffloadError::Unsupported("no fate action validated on this port at probe".into())
        })?;
        if let Some(m) = rule.meter {
            if !self.meters.ready(m) {
                return Err(OffloadError::Unsupported(format!(
                    "no meter {m} on the NIC for the flow's rate-limited port"
                )));
            }
        }
        let (attr, _, _) = build(rule, fate, Counter::Plain);
        let counter = if self.indirect {
            Some(IndirectCounter::create(&self.port, &attr)?)
        } else {
            None
        };
        let kind = counter
            .as_ref()
            .map_or(Counter::Plain, |c| Counter::Indirect(c.reference()));
        let (attr, pattern, actions) = build(rule, fate, kind);
        // On failure the counter (if any) is dropped, which destroys it.
        let created = Rule::create(&self.port, &attr, &pattern, &actions)?;
        let id = HwRuleId(self.next_id);
        self.next_id += 1;
        self.rules.insert(
            id,
            Installed {
                rule: created,
                counter,
                metered: rule.meter.is_some(),
            },
        );
        Ok(id)
    }

    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError> {
        let installed = self.rules.remove(&id).ok_or(OffloadError::NoSuchRule(id))?;
        let metered = installed.metered;
        let result = self.remove_installed(id, installed);
        if metered && result.is_ok() {
            self.meters.rule_gone(self.counter_refresh);
        }
        result
    }

    fn final_due_in(&self, id: Option<HwRuleId>) -> Option<Duration> {
        let now = Instant::now();
        let left = |r: &Retired| r.due.saturating_duration_since(now);
        match id {
            Some(id) => self.retired.get(&id).map(left),
            None => self.retired.values().map(left).max(),
        }
    }

    fn take_final(&mut self) -> Vec<(HwRuleId, Result<HwCounters, OffloadError>)> {
        let now = Instant::now();
        let due: Vec<HwRuleId> = self
            .retired
            .iter()
            .filter(|(_, r)| r.due <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for id in due {
            let Some(r) = self.retired.remove(&id) else {
                continue;
            };
            match r.counter.query() {
                Ok(c) => {
                    let _ = r.counter.destroy();
                    out.push((id, Ok(counts(c))));
                }
                Err(e) => {
                    self.retired.insert(id, r);
                    out.push((id, Err(e.into())));
                }
            }
        }
        out
    }

    fn final_pending(&self, id: HwRuleId) -> bool {
        self.retired.contains_key(&id)
    }

    fn counter_refresh(&self) -> Duration {
        self.counter_refresh
    }

    fn meter_ready(&self, meter: u32) -> bool {
        self.meters.ready(meter)
    }

    fn meter_drops(&mut self) -> Vec<(u32, Result<HwCounters, OffloadError>)> {
        self.meters.drops()
    }

    fn meter_drops_due_in(&self) -> Option<Duration> {
        self.meters.due_in()
    }

    fn meters_line(&self) -> Option<String> {
        self.meters.line()
    }

    fn set_rate_limit(&mut self, meter: u32, limit: RateLimit) -> Result<(), OffloadError> {
        self.meters.set_limit(meter, limit)
    }

    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        ids.iter()
            .map(|id| {
                let installed = self.rules.get(id).ok_or(OffloadError::NoSuchRule(*id))?;
                let c = match &installed.counter {
                    Some(counter) => counter.query()?,
                    None => installed.rule.query_count(false)?,
                };
                Ok(counts(c))
            })
            .collect()
    }

    fn installed(&self) -> usize {
        self.rules.len()
    }

    fn validate_static(&mut self, rule: &FlowRule) -> Result<(), FlowError> {
        self.static_port(rule)?;
        let (attr, pattern, actions) = to_rte_flow(rule)?;
        flow::validate(&self.port, &attr, &pattern, &actions)
    }

    fn create_static(&mut self, rule: &FlowRule) -> Result<HwRuleId, FlowError> {
        self.static_port(rule)?;
        let (attr, pattern, mut actions) = to_rte_flow(rule)?;
        // Its COUNT becomes an indirect counter where the NIC has them: read
        // a refresh period after the destroy, it holds the rule's last hits.
        let counting = actions.actions.iter().position(|a| *a == Action::Count);
        let counter = match counting {
            Some(_) if self.indirect => IndirectCounter::create(&self.port, &attr).ok(),
            _ => None,
        };
        if let (Some(at), Some(c)) = (counting, counter.as_ref()) {
            actions.actions[at] = Action::IndirectCount(c.reference());
        }
        // On failure the counter (if any) is dropped, which destroys it.
        let created = Rule::create(&self.port, &attr, &pattern, &actions)?;
        let id = HwRuleId(self.next_id);
        self.next_id += 1;
        self.statics.insert(
            id,
            StaticRule {
                rule: created,
                counter,
            },
        );
        Ok(id)
    }

    fn destroy_static(&mut self, id: HwRuleId) -> Result<HwCounters, FlowError> {
        let s = self.statics.remove(&id).ok_or_else(no_such_static_rule)?;
        let Some(counter) = s.counter else {
            // A rule's own COUNT goes with it: read it last thing before the
            // destroy. Hits between the two, and those the device's counter
            // cache has not shown yet, are lost to the bucket.
            let last = s
                .rule
                .query_count(false)
                .map(|c| HwCounters {
                    packets: c.hits,
                    bytes: c.bytes,
                })
                .unwrap_or_default();
            return s.rule.destroy().map(|()| last).map_err(|(rule, e)| {
                self.statics.insert(
                    id,
                    StaticRule {
                        rule,
                        counter: None,
                    },
                );
                e
            });
        };
        // Rule first, counter after, as for a flow's rule: the counter's
        // final count shows a refresh period later (`take_final`).
        if let Err((rule, e)) = s.rule.destroy() {
            self.statics.insert(
                id,
                StaticRule {
                    rule,
                    counter: Some(counter),
                },
            );
            return Err(e);
        }
        Ok(self.read_after_destroy(id, counter))
    }

    fn query_static(&mut self, id: HwRuleId) -> Result<HwCounters, FlowError> {
        let s = self.statics.get(&id).ok_or_else(no_such_static_rule)?;
        let c = match &s.counter {
            Some(counter) => counter.query()?,
            None => s.rule.query_count(false)?,
        };
        Ok(counts(c))
    }
}

impl RteFlowBackend {
    /// Reads the indirect counter of rule `id`, which is gone: a live
    /// counter's reading is final (and the counter goes); a cached one's
    /// (or a failed read) is final only a refresh period from now, so the
    /// counter is kept until then (`take_final`). Returns the reading now.
    fn read_after_destroy(&mut self, id: HwRuleId, counter: IndirectCounter) -> HwCounters {
        let now = counter.query();
        if self.counter_refresh.is_zero() {
            if let Ok(c) = now {
                let _ = counter.destroy();
                return counts(c);
            }
        }
        self.retired.insert(
            id,
            Retired {
                counter,
                due: Instant::now() + self.counter_refresh + Duration::from_millis(1),
            },
        );
        now.map(counts).unwrap_or_default()
    }

    /// Destroys a rule taken out of `rules` and reads its counter; on
    /// failure the rule goes back.
    fn remove_installed(
        &mut self,
        id: HwRuleId,
        installed: Installed,
    ) -> Result<HwCounters, OffloadError> {
        let metered = installed.metered;
        match installed.counter {
            Some(counter) => {
                // Rule first, counter after: nothing that hit the rule is missed.
                if let Err((rule, e)) = installed.rule.destroy() {
                    self.rules.insert(
                        id,
                        Installed {
                            rule,
                            counter: Some(counter),
                            metered,
                        },
                    );
                    return Err(e.into());
                }
                // The rule is gone, so the removal stands whatever the read
                // says.
                Ok(self.read_after_destroy(id, counter))
            }
            None => {
                // Without an indirect counter the rule's own is read last
                // thing before the destroy: what hits it in between, and
                // what the device's cache has not shown yet, is lost.
                let c = installed.rule.query_count(false)?;
                if let Err((rule, e)) = installed.rule.destroy() {
                    self.rules.insert(
                        id,
                        Installed {
                            rule,
                            counter: None,
                            metered,
                        },
                    );
                    return Err(e.into());
                }
                Ok(counts(c))
            }
        }
    }

    /// Static rules go on the backend's port (the uplink, the transfer proxy
    /// on switch NICs), where its per-flow rules are.
    fn static_port(&self, rule: &FlowRule) -> Result<(), FlowError> {
        let own = self.port.id().0;
        if rule.port == own {
            Ok(())
        } else {
            Err(FlowError::new(
                et::UNSPECIFIED,
                format!(
                    "flowlift creates rules on port {own} (the uplink, the transfer proxy) only"
                ),
                22,
            ))
        }
    }
}

fn counts(c: flow::Counts) -> HwCounters {
    HwCounters {
        packets: c.hits,
        bytes: c.bytes,
    }
}
