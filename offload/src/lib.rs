//! The offload side of flowlift: a flow's life cycle ([`lifecycle`]), the
//! flows the control core tracks ([`tracker`], [`fleet`]), the flow log
//! ([`flowlog`]), the engine's decisions ([`manager`]), the operator's choices
//! ([`policy`]), static rules ([`flow_rule`] is their model, [`static_rules`]
//! and [`static_lower`] put them on the NIC). It reads no config and no shell:
//! they hand it what it needs.
//!
//! Offload backends: how the control core puts a flow on the NIC and takes it
//! back. One trait, [`OffloadBackend`], and one implementation that talks to
//! a NIC: [`rte_flow`], for NICs with flow rules (mlx5, ice, i40e, ...; here
//! the NIC model `net_flowlift`, a PMD driven exactly as mlx5 is), whose
//! per-VF rate-limit meters (rte_mtr) [`meters`] makes. The unit tests drive
//! the engine with scripted doubles of the trait; the backend itself is tested
//! end to end on the model (`tests/tests/rte_flow_on_model.rs`).
//!
//! A backend owns its rules: it hands out [`HwRuleId`]s, and `remove` returns the
//! rule's final counters, read *after* the rule is gone where the NIC has
//! indirect counters, so that no packet that hit the rule is lost to accounting.
#![deny(unsafe_code)]

pub mod fleet;
pub mod flow_rule;
pub mod flowlog;
pub mod lifecycle;
pub mod log_limit;
pub mod manager;
pub mod meters;
pub mod nic_limits;
pub mod policy;
pub mod rte_flow;
pub mod rule;
pub mod static_lower;
pub mod static_rules;
pub mod tracker;

use std::fmt;

use flowlift_dataplane::flow::FlowKey;
use rte::flow::FlowError;

use flow_rule::FlowRule;
use policy::RateLimit;

/// A flow to carry in hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwRule {
    pub key: FlowKey,
    /// DPDK port id the flow enters on (the uplink, or a VF's representor).
    pub in_port: u16,
    /// DPDK port id of the representor of the VF the flow goes to.
    pub out_port: u16,
    /// An `rte_mtr` meter to police the flow with, if any.
    pub meter: Option<u32>,
}

/// A rule installed by a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HwRuleId(pub u64);

/// A rule's hardware counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HwCounters {
    pub packets: u64,
    pub bytes: u64,
}

/// How a rule sends its hits to the VF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Through the embedded switch to the port a representor stands for
    /// (`REPRESENTED_PORT`, transfer rules).
    RepresentedPort,
    /// To the DPDK port id (`PORT_ID`, the older spelling some PMDs keep).
    PortId,
    /// To an RX queue of the receiving port (`QUEUE`, ingress rules), when the NIC
    /// cannot switch to VFs.
    Queue(u16),
}

/// What the NIC can do, as probed at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Rules it holds, if known.
    pub max_rules: Option<u32>,
    /// COUNT on rules.
    pub count: bool,
    /// Indirect (shared) COUNT actions, which outlive their rules.
    pub indirect_count: bool,
    /// METER actions.
    pub meter: bool,
    /// Fates that validated, best first.
    pub fates: Vec<Fate>,
}

impl Capabilities {
    /// Whether flows can be offloaded at all: a fate that delivers to the VF
    /// past the workers, and some counter. `QUEUE` alone does not do: its hits
    /// still reach a host queue the workers poll, so the workers would carry
    /// (and count) them as well as the rule.
    pub fn can_offload(&self) -> bool {
        self.fates
            .iter()
            .any(|f| matches!(f, Fate::RepresentedPort | Fate::PortId))
            && (self.count || self.indirect_count)
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = |b: bool| if b { "yes" } else { "no" };
        write!(
            f,
            "max rules {}, count {}, indirect count {}, meter {}, fates [{}]",
            self.max_rules
                .map_or("unknown".to_string(), |n| n.to_string()),
            yes(self.count),
            yes(self.indirect_count),
            yes(self.meter),
            self.fates
                .iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Why a backend refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    /// The NIC's rule table is full.
    #[error("no space: {0}")]
    NoSpace(String),
    /// The NIC is busy; retry later.
    #[error("busy: {0}")]
    Busy(String),
    /// The NIC cannot do this pattern or action.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The device is gone or broken.
    #[error("device gone: {0}")]
    DeviceGone(String),
    /// No rule has this id.
    #[error("no such rule {0:?}")]
    NoSuchRule(HwRuleId),
    /// Anything else, with the driver's message.
    #[error("{0}")]
    Other(String),
}

impl OffloadError {
    /// A short label for metrics and the shell.
    pub fn label(&self) -> &'static str {
        match self {
            OffloadError::NoSpace(_) => "no_space",
            OffloadError::Busy(_) => "busy",
            OffloadError::Unsupported(_) => "unsupported",
            OffloadError::DeviceGone(_) => "device_gone",
            OffloadError::NoSuchRule(_) => "no_such_rule",
            OffloadError::Other(_) => "other",
        }
    }
}

impl From<rte::flow::FlowError> for OffloadError {
    fn from(e: rte::flow::FlowError) -> Self {
        use rte::flow::FlowErrorClass as C;
        let text = e.to_string();
        match e.class() {
            C::NoSpace => OffloadError::NoSpace(text),
            C::Busy => OffloadError::Busy(text),
            C::Unsupported => OffloadError::Unsupported(text),
            C::DeviceGone => OffloadError::DeviceGone(text),
            C::Other => OffloadError::Other(text),
        }
    }
}

/// A NIC (or a model of one) that carries flows.
pub trait OffloadBackend {
    /// The backend's name (`rte_flow`, or a test double's).
    fn name(&self) -> &'static str;
    /// What the NIC can do; also chooses the fate and counter kind used by
    /// `install`.
    fn probe(&mut self) -> Capabilities;
    /// Installs a rule for the flow.
    fn install(&mut self, rule: &HwRule) -> Result<HwRuleId, OffloadError>;
    /// Removes a rule and returns its final counters.
    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError>;
    /// Installs rules for several flows, one result each, in order. NICs
    /// with batched or asynchronous rule APIs do better than one at a time.
    fn install_batch(&mut self, rules: &[HwRule]) -> Vec<Result<HwRuleId, OffloadError>> {
        rules.iter().map(|r| self.install(r)).collect()
    }
    /// Removes several rules, one result (final counters) each, in order.
    fn remove_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        ids.iter().map(|id| self.remove(*id)).collect()
    }
    /// Reads the counters of `ids`, one result each, in order.
    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>>;
    /// Rules currently installed.
    fn installed(&self) -> usize;
    /// Removes every rule on the NIC, including those an earlier run that
    /// crashed left behind (called once, at start-up).
    fn flush_stale(&mut self) -> Result<(), OffloadError>;

    // Final counters the NIC shows late. A device that answers counter
    // queries from a cache it refreshes every period (mlx5: once a second)
    // shows a destroyed rule's last hits only from the next period on. Such
    // a backend's `remove` returns what it could read then, keeps the rule's
    // indirect counter, and hands the final count over here once the cache
    // has caught up; the engine folds in what the early reading missed.

    /// How long until the final counters of removed rule `id` (with `None`:
    /// of every removed rule) can be read; `None` if none is pending.
    fn final_due_in(&self, _id: Option<HwRuleId>) -> Option<std::time::Duration> {
        None
    }
    /// Reads the final counters of the removed rules that are due: each
    /// rule's whole count (not a delta), or the read's failure (the rule
    /// stays pending and is read again at the next call).
    fn take_final(&mut self) -> Vec<(HwRuleId, Result<HwCounters, OffloadError>)> {
        Vec::new()
    }
    /// Whether removed rule `id`'s final counters are still to come.
    fn final_pending(&self, _id: HwRuleId) -> bool {
        false
    }
    /// How stale a counter reading may be: the period of the device's
    /// counter cache (zero: reads are live). Until a period has passed, a
    /// reading that has not moved says nothing about the flow's rate.
    fn counter_refresh(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    // Per-VF rate limits on the NIC (a rule's `HwRule::meter`). Whatever
    // `meter_ready` says, `install` of a rule naming a meter the backend
    // cannot apply fails: a flow to a rate-limited VF is never carried
    // unmetered.

    /// Whether rules may name `meter`: false when the NIC cannot police
    /// that VF, whose flows then stay on the workers (and their meter). A
    /// backend that says nothing meters every rule that names a meter, or
    /// refuses it at `install`.
    fn meter_ready(&self, _meter: u32) -> bool {
        true
    }
    /// What the NIC's meters dropped (policed red), per meter, since they
    /// were made: whole counts (not deltas), or the read's failure.
    fn meter_drops(&mut self) -> Vec<(u32, Result<HwCounters, OffloadError>)> {
        Vec::new()
    }
    /// How long until a read of the meters' drops is final: a counter
    /// cache's period after the last rule naming a meter went (`None`:
    /// now, or no meters).
    fn meter_drops_due_in(&self) -> Option<std::time::Duration> {
        None
    }
    /// What the backend made of the rate limits at start, to say once
    /// (`None`: nothing to say).
    fn meters_line(&self) -> Option<String> {
        None
    }
    /// Polices `meter`'s VF at `limit` from now on (a reload). A backend
    /// without meters has nothing to change.
    fn set_rate_limit(&mut self, _meter: u32, _limit: RateLimit) -> Result<(), OffloadError> {
        Ok(())
    }

    // Operators' static rules (testpmd's `flow` commands), apart from the
    // per-flow rules above: they are refused in rte_flow's terms, so the shell
    // answers as testpmd does. A backend without them refuses every call.

    /// Checks a static rule without creating it (`flow validate`).
    fn validate_static(&mut self, _rule: &FlowRule) -> Result<(), FlowError> {
        Err(no_static_rules(self.name()))
    }
    /// Creates a static rule (`flow create`).
    fn create_static(&mut self, _rule: &FlowRule) -> Result<HwRuleId, FlowError> {
        Err(no_static_rules(self.name()))
    }
    /// Destroys a static rule (`flow destroy`) and returns its final
    /// counters (zero for a rule without COUNT): the packets it took past the
    /// workers are accounted for by them.
    fn destroy_static(&mut self, _id: HwRuleId) -> Result<HwCounters, FlowError> {
        Err(no_static_rules(self.name()))
    }
    /// Reads a static rule's COUNT action (`flow query ... count`).
    fn query_static(&mut self, _id: HwRuleId) -> Result<HwCounters, FlowError> {
        Err(no_static_rules(self.name()))
    }
}

/// The refusal of a backend without static rules (`ENOSYS`, as a PMD
/// without flow operations answers).
pub fn no_static_rules(backend: &str) -> FlowError {
    FlowError::new(
        rte::flow::error_type::UNSPECIFIED,
        format!("the {backend} backend takes no static flow rules"),
        rte::errno::ENOSYS,
    )
}

/// The refusal of a static rule id the backend does not hold.
pub fn no_such_static_rule() -> FlowError {
    FlowError::new(
        rte::flow::error_type::HANDLE,
        "no such static rule",
        rte::errno::ENOENT,
    )
}
