//! The emulated NIC's rule engine: the exact-match rule table, the operators'
//! wildcard table in front of it, the insertion rate limit, injected faults,
//! and the command loop the control core drives.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::flow::{FlowId, FlowKey, KeyV4, KeyV6};
use crate::table::CuckooTable;
use crate::PortIdx;

use super::bank::CounterBank;
use super::wildcard::{WildAction, WildRule, WildcardTable};

/// How the modelled NIC behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EswitchConfig {
    /// Rules it holds at most (both families together).
    pub max_rules: usize,
    /// Wildcard (operator) rules it holds at most, apart from `max_rules`: a
    /// NIC's table for static rules is small and separate, and every packet
    /// is checked against all of them.
    pub max_wildcards: usize,
    /// Rule insertions per second it accepts at most (0: unlimited); a burst of
    /// a tenth of a second's worth is allowed, as NIC firmware queues do.
    pub inserts_per_sec: u64,
    /// Ticks per second of the clock the switch is given.
    pub clock_hz: u64,
}

/// Refusals to inject: the next `no_space` installs fail with no space, then
/// the next `busy` ones with busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    pub no_space: u32,
    pub busy: u32,
}

/// What the control core asks of the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EswitchCommand {
    /// Carry `key` to `out_port`, counting hits on bank counter `counter` and,
    /// if `metered`, policing them with `out_port`'s meter (a METER action).
    Install {
        rule: u64,
        key: FlowKey,
        out_port: PortIdx,
        counter: u32,
        metered: bool,
    },
    /// Remove rule `rule`; once answered, its counter gets no more hits.
    Remove { rule: u64 },
    /// Add an operator's wildcard rule as `rule` (ids apart from those of
    /// exact rules). Wildcard rules are looked up before exact ones, as a
    /// NIC's static rules sit in a group ahead of the per-flow rules. They are
    /// few and rarely changed, so they are held neither to the insertion rate
    /// nor to injected faults (which tests of the per-flow offload count on).
    AddWildcard { rule: u64, wild: WildRule },
    /// Remove wildcard rule `rule`; once answered, its counter gets no more
    /// hits.
    RemoveWildcard { rule: u64 },
    /// Refuse the next installs as told.
    InjectFaults(Faults),
}

/// Why the switch refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EswitchError {
    /// The rule table (exact or wildcard, as asked) is full.
    #[error("rule table full")]
    NoSpace,
    /// Insertion rate exceeded; retry later.
    #[error("insertion rate exceeded")]
    Busy,
    /// No rule has this id.
    #[error("no such rule")]
    NoSuchRule,
    /// A rule for this flow (or, for a wildcard rule, with this id) exists
    /// already.
    #[error("a rule for this flow exists")]
    Exists,
    /// The counter is not one of the bank's.
    #[error("no such counter")]
    BadCounter,
}

/// The switch's answer to a command, in command order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EswitchReply {
    Installed { rule: u64 },
    Removed { rule: u64 },
    Refused { rule: u64, error: EswitchError },
    FaultsSet,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    out_port: PortIdx,
    counter: u32,
    metered: bool,
}

/// Which of the switch's tables a rule is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleTable {
    /// The per-flow exact-match rules the offload installs.
    Exact,
    /// The operators' wildcard rules.
    Wildcard,
}

/// What the rule a packet matched does: forward it (exact rules always do) or
/// drop it, count it on its counter if it has one, and whether the out port's
/// meter polices it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub action: WildAction,
    pub counter: Option<u32>,
    pub metered: bool,
    pub table: RuleTable,
}

impl Hit {
    /// The port a forwarding rule sends to (`None`: the rule drops or hands
    /// the packet to a host queue).
    #[inline]
    pub fn out_port(&self) -> Option<PortIdx> {
        match self.action {
            WildAction::Forward(p) => Some(p),
            WildAction::Drop | WildAction::Queue(_) => None,
        }
    }
}

/// Most commands handled per call of [`Eswitch::take_commands`], so rule churn
/// cannot starve the packets.
const COMMANDS_PER_CALL: usize = 64;

/// The switch's state. Owned by the lcore that runs it.
#[derive(Debug)]
pub struct Eswitch {
    v4: CuckooTable<KeyV4>,
    v6: CuckooTable<KeyV6>,
    /// By global entry id (IPv4 ids, then IPv6 ids after the IPv4 capacity).
    entries: Box<[Option<Entry>]>,
    /// Rule id -> global entry id. Sized for `max_rules` up front.
    by_rule: HashMap<u64, FlowId>,
    /// The operators' rules, looked up before the exact ones.
    wild: WildcardTable,
    bank: Arc<CounterBank>,
    config: EswitchConfig,
    /// Insertion tokens (rate limit), and when they were last topped up.
    tokens: u64,
    refilled_at: u64,
    faults: Faults,
    commands: Receiver<EswitchCommand>,
    replies: Sender<EswitchReply>,
    clock: fn() -> u64,
}

impl Eswitch {
    /// A switch counting on `bank`, taking commands and answering on the
    /// channels given, timing its insertion rate with `clock`.
    pub fn new(
        config: EswitchConfig,
        bank: Arc<CounterBank>,
        commands: Receiver<EswitchCommand>,
        replies: Sender<EswitchReply>,
        clock: fn() -> u64,
    ) -> Self {
        let v4 = CuckooTable::with_capacity(config.max_rules.max(1));
        let v6 = CuckooTable::with_capacity(config.max_rules.max(1));
        let slots = v4.capacity() + v6.capacity();
        Eswitch {
            v4,
            v6,
            entries: vec![None; slots].into_boxed_slice(),
            by_rule: HashMap::with_capacity(config.max_rules),
            wild: WildcardTable::new(config.max_wildcards),
            bank,
            tokens: burst_tokens(&config),
            refilled_at: clock(),
            config,
            faults: Faults::default(),
            commands,
            replies,
            clock,
        }
    }

    /// Exact rules installed.
    pub fn rules(&self) -> usize {
        self.by_rule.len()
    }

    /// Wildcard rules installed.
    pub fn wildcards(&self) -> usize {
        self.wild.len()
    }

    /// What the rule `key` matches does with it, if one matches: the first
    /// wildcard rule that matches, else the exact rule for `key`.
    #[inline]
    pub fn classify(&self, key: &FlowKey) -> Option<Hit> {
        if let Some((_, w)) = self.wild.lookup(key) {
            return Some(Hit {
                action: w.action,
                counter: w.counter,
                metered: w.metered,
                table: RuleTable::Wildcard,
            });
        }
        self.classify_exact(key)
    }

    /// The exact rule for `key`, if there is one, whatever wildcard rules
    /// say.
    #[inline]
    pub fn classify_exact(&self, key: &FlowKey) -> Option<Hit> {
        let id = match key {
            FlowKey::V4(k) => self.v4.lookup(k)?,
            FlowKey::V6(k) => FlowId(self.v6.lookup(k)?.0 + self.v4.capacity() as u32),
        };
        self.entries
            .get(id.index())
            .copied()
            .flatten()
            .map(|e| Hit {
                action: WildAction::Forward(e.out_port),
                counter: Some(e.counter),
                metered: e.metered,
                table: RuleTable::Exact,
            })
    }

    /// Counts a hit of `len` bytes on `counter`.
    #[inline]
    pub fn hit(&self, counter: u32, len: u64) {
        if let Some(c) = self.bank.get(counter) {
            c.count(len);
        }
    }

    /// Carries out waiting commands (a bounded number); returns how many.
    pub fn take_commands(&mut self) -> usize {
        let mut done = 0;
        while done < COMMANDS_PER_CALL {
            let Ok(cmd) = self.commands.try_recv() else {
                break;
            };
            let reply = match cmd {
                EswitchCommand::Install {
                    rule,
                    key,
                    out_port,
                    counter,
                    metered,
                } => match self.install(
                    rule,
                    key,
                    Entry {
                        out_port,
                        counter,
                        metered,
                    },
                ) {
                    Ok(()) => EswitchReply::Installed { rule },
                    Err(error) => EswitchReply::Refused { rule, error },
                },
                EswitchCommand::Remove { rule } => match self.remove(rule) {
                    Ok(()) => EswitchReply::Removed { rule },
                    Err(error) => EswitchReply::Refused { rule, error },
                },
                EswitchCommand::AddWildcard { rule, wild } => match self.add_wildcard(rule, wild) {
                    Ok(()) => EswitchReply::Installed { rule },
                    Err(error) => EswitchReply::Refused { rule, error },
                },
                EswitchCommand::RemoveWildcard { rule } => match self.wild.remove(rule) {
                    Ok(_) => EswitchReply::Removed { rule },
                    Err(error) => EswitchReply::Refused { rule, error },
                },
                EswitchCommand::InjectFaults(f) => {
                    self.faults = f;
                    EswitchReply::FaultsSet
                }
            };
            // The control core waits for every answer; should it be gone, the
            // answer has nobody to go to and the switch carries on.
            let _ = self.replies.send(reply);
            done += 1;
        }
        done
    }

    fn install(&mut self, rule: u64, key: FlowKey, entry: Entry) -> Result<(), EswitchError> {
        if self.faults.no_space > 0 {
            self.faults.no_space -= 1;
            return Err(EswitchError::NoSpace);
        }
        if self.faults.busy > 0 {
            self.faults.busy -= 1;
            return Err(EswitchError::Busy);
        }
        if self.bank.get(entry.counter).is_none() {
            return Err(EswitchError::BadCounter);
        }
        if self.by_rule.contains_key(&rule) || self.classify_exact(&key).is_some() {
            return Err(EswitchError::Exists);
        }
        if self.by_rule.len() >= self.config.max_rules {
            return Err(EswitchError::NoSpace);
        }
        if !self.take_token() {
            return Err(EswitchError::Busy);
        }
        let id = match key {
            FlowKey::V4(k) => self.v4.insert(k).map_err(|_| EswitchError::NoSpace)?,
            FlowKey::V6(k) => {
                let id = self.v6.insert(k).map_err(|_| EswitchError::NoSpace)?;
                FlowId(id.0 + self.v4.capacity() as u32)
            }
        };
        if let Some(slot) = self.entries.get_mut(id.index()) {
            *slot = Some(entry);
        }
        self.by_rule.insert(rule, id);
        Ok(())
    }

    fn add_wildcard(&mut self, rule: u64, wild: WildRule) -> Result<(), EswitchError> {
        if wild.counter.is_some_and(|c| self.bank.get(c).is_none()) {
            return Err(EswitchError::BadCounter);
        }
        self.wild.add(rule, wild)
    }

    fn remove(&mut self, rule: u64) -> Result<(), EswitchError> {
        let id = self.by_rule.remove(&rule).ok_or(EswitchError::NoSuchRule)?;
        let base = self.v4.capacity() as u32;
        if id.0 < base {
            self.v4.remove_id(id);
        } else {
            self.v6.remove_id(FlowId(id.0 - base));
        }
        if let Some(slot) = self.entries.get_mut(id.index()) {
            *slot = None;
        }
        Ok(())
    }

    /// Takes one insertion token, topping the bucket up by the time passed.
    fn take_token(&mut self) -> bool {
        if self.config.inserts_per_sec == 0 {
            return true;
        }
        let now = (self.clock)();
        let elapsed = now.saturating_sub(self.refilled_at);
        let per_token = (self.config.clock_hz / self.config.inserts_per_sec).max(1);
        let earned = elapsed / per_token;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(burst_tokens(&self.config));
            self.refilled_at += earned * per_token;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The bucket's size: a tenth of a second of insertions, at least one.
fn burst_tokens(c: &EswitchConfig) -> u64 {
    (c.inserts_per_sec / 10).max(1)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
