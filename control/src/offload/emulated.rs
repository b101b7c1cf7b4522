//! The `emulated` backend: the control core's side of the emulated NIC
//! (`dataplane::eswitch`). Rule changes go to the switch as commands and wait
//! for its answer, as `rte_flow_create` waits for NIC firmware; counters are read
//! straight from the shared counter bank. Every rule counts on its own bank
//! counter (an indirect counter): `remove` reads it only after the switch has
//! confirmed the rule is gone, so the final count is exact.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use flowlift_dataplane::eswitch::{
    CounterBank, EswitchCommand, EswitchError, EswitchReply, Faults,
};
use flowlift_dataplane::PortIdx;

use rte::errno;
use rte::flow::{error_type as et, FlowError};

use crate::config::FaultPlan;
use crate::shell::testpmd_flow::FlowRule;

use super::static_lower::{to_wildcard, SwitchLayout};
use super::{
    no_static_rules, no_such_static_rule, Capabilities, Fate, HwCounters, HwRule, HwRuleId,
    OffloadBackend, OffloadError,
};

/// How long the switch may take to answer before it counts as gone.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Commands sent before their answers are read: well within what the command
/// and answer channels hold, so neither side waits on a full channel.
const BATCH: usize = 256;

/// An install asked of the switch, not yet answered.
#[derive(Debug)]
struct PendingInstall {
    id: HwRuleId,
    counter: u32,
    command: EswitchCommand,
}

/// The control core's handle on the emulated NIC. `HwRule::out_port` is the
/// switch's port index (the appliance's `PortIdx`), not a DPDK port id.
#[derive(Debug)]
pub struct EmulatedBackend {
    commands: Sender<EswitchCommand>,
    replies: Receiver<EswitchReply>,
    bank: Arc<CounterBank>,
    max_rules: usize,
    free_counters: Vec<u32>,
    rules: HashMap<HwRuleId, u32>,
    next_id: u64,
    plan: FaultPlan,
    installs_asked: u64,
    queries_asked: u64,
    /// Operators' static rules: the switch's ports as the shell names them
    /// (`None`: static rules are not offered), their own counters, and each
    /// rule's counter if it counts.
    layout: Option<SwitchLayout>,
    static_counters: Vec<u32>,
    statics: HashMap<HwRuleId, Option<u32>>,
    /// Static rules held at most: one bank counter is set aside for each, so
    /// a rule that counts never finds the counters gone before the table.
    static_capacity: usize,
}

impl EmulatedBackend {
    /// A backend for a switch holding `max_rules` rules, counting on `bank`.
    pub fn new(
        commands: Sender<EswitchCommand>,
        replies: Receiver<EswitchReply>,
        bank: Arc<CounterBank>,
        max_rules: usize,
    ) -> Self {
        let free_counters = (0..bank.len() as u32).rev().collect();
        EmulatedBackend {
            commands,
            replies,
            bank,
            max_rules,
            free_counters,
            rules: HashMap::new(),
            next_id: 1,
            plan: FaultPlan::default(),
            installs_asked: 0,
            queries_asked: 0,
            layout: None,
            static_counters: Vec::new(),
            statics: HashMap::new(),
            static_capacity: 0,
        }
    }

    /// Offers operators' static rules on the switch's wildcard table, its
    /// ports and queues laid out as `layout`, counting on `counters` of the
    /// bank (kept apart from the per-flow rules' counters). The static-rule
    /// table holds as many rules as there are counters (the caller sizes the
    /// switch's wildcard table the same).
    pub fn with_static_rules(
        mut self,
        layout: SwitchLayout,
        counters: std::ops::Range<u32>,
    ) -> Self {
        self.free_counters.retain(|c| !counters.contains(c));
        self.static_counters = counters.rev().collect();
        self.static_capacity = self.static_counters.len();
        self.layout = Some(layout);
        self
    }

    /// Makes every n-th install or query fail, for the life of the backend, as
    /// `[offload.faults]` asks.
    pub fn with_fault_plan(mut self, plan: FaultPlan) -> Self {
        self.plan = plan;
        self
    }

    /// Whether the `n`-th request fails under a plan of every `every`.
    fn planned_fault(n: u64, every: u32) -> bool {
        every > 0 && n.is_multiple_of(u64::from(every))
    }

    /// Makes the switch refuse its next installs (for tests of failure paths).
    pub fn inject_faults(&mut self, faults: Faults) -> Result<(), OffloadError> {
        match self.ask(EswitchCommand::InjectFaults(faults))? {
            EswitchReply::FaultsSet => Ok(()),
            other => Err(OffloadError::Other(format!("unexpected answer {other:?}"))),
        }
    }

    fn ask(&self, cmd: EswitchCommand) -> Result<EswitchReply, OffloadError> {
        self.send(cmd)?;
        self.answer()
    }

    fn send(&self, cmd: EswitchCommand) -> Result<(), OffloadError> {
        self.commands
            .send_timeout(cmd, ANSWER_TIMEOUT)
            .map_err(|_| OffloadError::DeviceGone("the emulated switch takes no commands".into()))
    }

    fn answer(&self) -> Result<EswitchReply, OffloadError> {
        self.replies
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| OffloadError::DeviceGone("the emulated switch did not answer".into()))
    }

    /// Everything an install needs before the switch is asked: a refusal
    /// planned by `[offload.faults]`, a free counter, an id.
    fn prepare_install(&mut self, rule: &HwRule) -> Result<PendingInstall, OffloadError> {
        self.installs_asked += 1;
        if Self::planned_fault(self.installs_asked, self.plan.no_space_every) {
            return Err(OffloadError::NoSpace(
                "emulated NIC rule table full (injected)".into(),
            ));
        }
        if Self::planned_fault(self.installs_asked, self.plan.busy_every) {
            return Err(OffloadError::Busy(
                "emulated NIC insertion queue busy (injected)".into(),
            ));
        }
        let counter = self
            .free_counters
            .pop()
            .ok_or_else(|| OffloadError::NoSpace("emulated NIC has no free counter".into()))?;
        if let Some(c) = self.bank.get(counter) {
            c.reset();
        }
        let id = HwRuleId(self.next_id);
        self.next_id += 1;
        let command = EswitchCommand::Install {
            rule: id.0,
            key: rule.key,
            out_port: PortIdx(rule.out_port),
            counter,
            // The emulated NIC has one meter per VF, numbered by its port.
            metered: rule.meter.is_some(),
        };
        Ok(PendingInstall {
            id,
            counter,
            command,
        })
    }

    /// Settles an install from the switch's answer.
    fn finish_install(
        &mut self,
        p: PendingInstall,
        answer: Result<EswitchReply, OffloadError>,
    ) -> Result<HwRuleId, OffloadError> {
        match answer {
            Ok(EswitchReply::Installed { .. }) => {
                self.rules.insert(p.id, p.counter);
                Ok(p.id)
            }
            Ok(EswitchReply::Refused { error, .. }) => {
                self.free_counters.push(p.counter);
                Err(refusal(error, p.id))
            }
            Ok(other) => {
                self.free_counters.push(p.counter);
                Err(OffloadError::Other(format!("unexpected answer {other:?}")))
            }
            // The switch may or may not hold the rule: keep the counter out of use.
            Err(e) => Err(e),
        }
    }

    /// Settles a removal from the switch's answer.
    fn finish_remove(
        &mut self,
        id: HwRuleId,
        counter: u32,
        answer: Result<EswitchReply, OffloadError>,
    ) -> Result<HwCounters, OffloadError> {
        match answer? {
            EswitchReply::Removed { .. } => {
                // The rule is gone: nothing counts on the counter any more.
                self.rules.remove(&id);
                let last = self.read(counter);
                self.free_counters.push(counter);
                Ok(last)
            }
            EswitchReply::Refused { error, .. } => Err(refusal(error, id)),
            other => Err(OffloadError::Other(format!("unexpected answer {other:?}"))),
        }
    }

    fn read(&self, counter: u32) -> HwCounters {
        let (packets, bytes) = self.bank.get(counter).map_or((0, 0), |c| c.read());
        HwCounters { packets, bytes }
    }
}

/// The refusal of a static rule when the table holds `size` rules: on the
/// rule handle with `ENOSPC`, as PMDs refuse a rule they have no room for.
fn static_table_full(size: usize) -> FlowError {
    FlowError::new(
        et::HANDLE,
        format!("the static-rule table is full ({size} rules): flow destroy one first"),
        errno::ENOSPC,
    )
}

fn refusal(e: EswitchError, id: HwRuleId) -> OffloadError {
    match e {
        EswitchError::NoSpace => OffloadError::NoSpace("emulated NIC rule table full".into()),
        EswitchError::Busy => OffloadError::Busy("emulated NIC insertion rate exceeded".into()),
        EswitchError::NoSuchRule => OffloadError::NoSuchRule(id),
        EswitchError::Exists => OffloadError::Other("a rule for this flow exists".into()),
        EswitchError::BadCounter => OffloadError::Other("no such counter".into()),
    }
}

impl OffloadBackend for EmulatedBackend {
    /// The emulated NIC starts empty with the process: nothing is stale.
    fn flush_stale(&mut self) -> Result<(), OffloadError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "emulated"
    }

    fn probe(&mut self) -> Capabilities {
        Capabilities {
            max_rules: Some(self.max_rules as u32),
            count: true,
            indirect_count: true,
            meter: false,
            fates: vec![Fate::RepresentedPort],
        }
    }

    fn install(&mut self, rule: &HwRule) -> Result<HwRuleId, OffloadError> {
        let p = self.prepare_install(rule)?;
        let answer = self.ask(p.command);
        self.finish_install(p, answer)
    }

    /// All the commands go to the switch first, then the answers are read, in
    /// chunks the channels hold: one wait for the switch per chunk, not one
    /// per rule (which, with the switch's lcore sharing a CPU, is a time slice
    /// each).
    fn install_batch(&mut self, rules: &[HwRule]) -> Vec<Result<HwRuleId, OffloadError>> {
        let mut out = Vec::with_capacity(rules.len());
        for chunk in rules.chunks(BATCH) {
            let mut pending = Vec::with_capacity(chunk.len());
            for rule in chunk {
                pending.push(
                    self.prepare_install(rule)
                        .and_then(|p| self.send(p.command).map(|()| p)),
                );
            }
            for p in pending {
                out.push(match p {
                    Ok(p) => {
                        let answer = self.answer();
                        self.finish_install(p, answer)
                    }
                    Err(e) => Err(e),
                });
            }
        }
        out
    }

    fn remove_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let sent: Vec<Result<u32, OffloadError>> = chunk
                .iter()
                .map(|id| {
                    let counter = *self.rules.get(id).ok_or(OffloadError::NoSuchRule(*id))?;
                    self.send(EswitchCommand::Remove { rule: id.0 })?;
                    Ok(counter)
                })
                .collect();
            for (id, s) in chunk.iter().zip(sent) {
                out.push(match s {
                    Ok(counter) => {
                        let answer = self.answer();
                        self.finish_remove(*id, counter, answer)
                    }
                    Err(e) => Err(e),
                });
            }
        }
        out
    }

    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError> {
        let counter = *self.rules.get(&id).ok_or(OffloadError::NoSuchRule(id))?;
        let answer = self.ask(EswitchCommand::Remove { rule: id.0 });
        self.finish_remove(id, counter, answer)
    }

    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        ids.iter()
            .map(|id| {
                self.queries_asked += 1;
                if Self::planned_fault(self.queries_asked, self.plan.query_every) {
                    return Err(OffloadError::Busy(
                        "emulated NIC counter query failed (injected)".into(),
                    ));
                }
                self.rules
                    .get(id)
                    .map(|&c| self.read(c))
                    .ok_or(OffloadError::NoSuchRule(*id))
            })
            .collect()
    }

    fn installed(&self) -> usize {
        self.rules.len()
    }

    fn validate_static(&mut self, rule: &FlowRule) -> Result<(), FlowError> {
        let layout = self
            .layout
            .as_ref()
            .ok_or_else(|| no_static_rules(self.name()))?;
        to_wildcard(rule, layout).map(|_| ())
    }

    fn create_static(&mut self, rule: &FlowRule) -> Result<HwRuleId, FlowError> {
        let layout = self
            .layout
            .as_ref()
            .ok_or_else(|| no_static_rules(self.name()))?;
        let mut lowered = to_wildcard(rule, layout)?;
        // A full table is said so whichever of its resources would run out
        // first (a counter or a wildcard slot): the operator's remedy is the
        // same, `flow destroy`.
        if self.statics.len() >= self.static_capacity {
            return Err(static_table_full(self.static_capacity));
        }
        if lowered.count {
            // One counter per rule the table holds: none missing while it
            // has room, unless a switch that stopped answering kept some.
            let c = self.static_counters.pop().ok_or_else(|| {
                FlowError::new(
                    et::ACTION,
                    "count: no free counter for static rules (counters held back after the switch stopped answering)",
                    errno::ENOSPC,
                )
            })?;
            if let Some(slot) = self.bank.get(c) {
                slot.reset();
            }
            lowered.wild.counter = Some(c);
        }
        let id = HwRuleId(self.next_id);
        self.next_id += 1;
        let answer = self.ask(EswitchCommand::AddWildcard {
            rule: id.0,
            wild: lowered.wild,
        });
        match answer {
            Ok(EswitchReply::Installed { .. }) => {
                self.statics.insert(id, lowered.wild.counter);
                Ok(id)
            }
            Ok(EswitchReply::Refused { error, .. }) => {
                self.static_counters.extend(lowered.wild.counter);
                Err(match error {
                    // The switch's wildcard table is smaller than the
                    // counters set aside: full at what it holds.
                    EswitchError::NoSpace => static_table_full(self.statics.len()),
                    other => FlowError::new(et::UNSPECIFIED, other.to_string(), errno::EINVAL),
                })
            }
            Ok(other) => Err(FlowError::new(
                et::UNSPECIFIED,
                format!("unexpected answer {other:?}"),
                errno::EIO,
            )),
            // The switch may hold the rule: its counter stays out of use.
            Err(e) => Err(FlowError::new(
                et::UNSPECIFIED,
                e.to_string(),
                errno::ENODEV,
            )),
        }
    }

    fn destroy_static(&mut self, id: HwRuleId) -> Result<HwCounters, FlowError> {
        let counter = *self.statics.get(&id).ok_or_else(no_such_static_rule)?;
        match self.ask(EswitchCommand::RemoveWildcard { rule: id.0 }) {
            Ok(EswitchReply::Removed { .. }) => {
                // The switch answered between bursts: no hit of the rule is
                // still on its way to the counter, so this read is final.
                let last = counter.map(|c| self.read(c)).unwrap_or_default();
                self.statics.remove(&id);
                self.static_counters.extend(counter);
                Ok(last)
            }
            Ok(other) => Err(FlowError::new(
                et::HANDLE,
                format!("unexpected answer {other:?}"),
                errno::EIO,
            )),
            Err(e) => Err(FlowError::new(
                et::UNSPECIFIED,
                e.to_string(),
                errno::ENODEV,
            )),
        }
    }

    fn query_static(&mut self, id: HwRuleId) -> Result<HwCounters, FlowError> {
        match self.statics.get(&id) {
            None => Err(no_such_static_rule()),
            Some(None) => Err(FlowError::new(
                et::ACTION,
                "the rule has no COUNT action",
                errno::ENOTSUP,
            )),
            Some(Some(c)) => Ok(self.read(*c)),
        }
    }
}
