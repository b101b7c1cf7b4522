//! Operators' static rules, as testpmd keeps them: numbered per port (the
//! next number is the highest plus one, 0 on an empty port), listed, queried
//! and destroyed by number. Each command's outcome is a [`StaticReply`] or a
//! [`StaticError`]: the shell words them as testpmd does. The backend holds
//! the rules; this keeps what the operator typed, for `flow list`.
//!
//! They live beside the per-flow offload rules, not among them: the offload
//! engine never counts, evicts or flushes them, and `flow flush` leaves the
//! per-flow rules alone.
//!
//! Accounting: a static rule whose fate is `drop`, `represented_port` or
//! `port_id` takes its packets before any worker sees them, so no flow's
//! counters hold them. On a real NIC a wildcard rule has one counter for all
//! the flows it matches: the packets cannot be given back to their 5-tuple
//! flows. So they are kept as a named bucket instead: flowlift adds a COUNT
//! action to every such rule (refusing the rule if the NIC will not count
//! it), folds each rule's final counters in when it is destroyed (the
//! counter is read as the rule goes), and reports the bucket by port and
//! fate: in the flow log (one `static_rule` record per rule when it ends),
//! in `/metrics` and in the final report. The flow log's flows plus its
//! `static_rule` records then account for every packet the ports took. A
//! `queue` fate hands its packets to the workers, which count them per flow
//! as usual: they are not in the bucket.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rte::flow::FlowError;

use super::flow_rule::{Action, FlowCommand, FlowRule};

use super::{HwCounters, HwRuleId, OffloadBackend};

/// Rules a port holds at most: testpmd's numbers are `u32`.
const MAX_NUMBER: u32 = u32::MAX;

/// What a `flow` command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticReply {
    /// `flow validate`: the NIC would take the rule.
    Validated,
    /// `flow create`: the rule's number on its port.
    Created { number: u32 },
    /// `flow list`: the port's rules, by number (none: the port holds none).
    Listed { port: u16, rules: Vec<ListedRule> },
    /// `flow query ... count`: the rule's COUNT action.
    Queried(HwCounters),
    /// `flow destroy`: the numbers destroyed, in the order named (a number
    /// named twice is destroyed once).
    Destroyed(Vec<u32>),
    /// `flow flush`: the port's rules, `count` of them, are destroyed.
    Flushed { port: u16, count: usize },
}

/// A rule as `flow list` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRule {
    pub number: u32,
    /// As the operator typed it (without the COUNT flowlift may add).
    pub rule: FlowRule,
}

/// Why a `flow` command changed nothing, or (a refused destroy) where it
/// stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticError {
    /// No such port; `ports` are the DPDK port ids that exist.
    InvalidPort { port: u16, ports: Vec<u16> },
    /// The port's highest number is taken: there is no next one.
    NumbersExhausted,
    /// The backend refused the rule or the call.
    Nic(FlowError),
    /// The backend refused, on its actions, a rule flowlift added a COUNT
    /// action to (it takes packets past the workers): the COUNT may be why.
    CountAdded(FlowError),
    /// `flow query` of a number the port does not hold.
    NoSuchRule { number: u32 },
    /// `flow query` of a rule without a COUNT action.
    NotCounted { number: u32 },
    /// `flow destroy` naming `missing`, which the port does not hold:
    /// none of the `named` numbers was destroyed.
    NotOnPort {
        port: u16,
        missing: u32,
        named: usize,
    },
    /// The backend refused to destroy a rule: the numbers in `destroyed`
    /// went before it, those after it were not tried.
    DestroyRefused {
        destroyed: Vec<u32>,
        error: FlowError,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    rule: FlowRule,
    id: HwRuleId,
    /// Where its packets go, if past the workers.
    taken: Option<TakenBy>,
    /// Unix time it was created.
    created: f64,
    /// Its counter as last read (what the bucket shows while it lives).
    last: HwCounters,
}

/// How a static rule takes packets past the workers: the bucket's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TakenBy {
    /// `drop`: the NIC dropped them.
    Drop,
    /// `represented_port` / `port_id`: the NIC switched them to a port.
    Switch,
}

impl TakenBy {
    /// The label in the flow log and `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            TakenBy::Drop => "drop",
            TakenBy::Switch => "switch",
        }
    }

    /// The fate of `rule` as far as accounting goes (`None`: the workers see
    /// its packets, or it takes none).
    pub fn of(rule: &FlowRule) -> Option<TakenBy> {
        rule.actions.iter().find_map(|a| match a {
            Action::Drop => Some(TakenBy::Drop),
            Action::RepresentedPort { .. } | Action::PortId { .. } => Some(TakenBy::Switch),
            _ => None,
        })
    }
}

/// Why a static rule's record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticEnd {
    /// `flow destroy` or `flow flush`.
    Destroyed,
    /// The appliance stopped.
    Exit,
}

impl StaticEnd {
    /// The flow log's `end` value.
    pub fn label(self) -> &'static str {
        match self {
            StaticEnd::Destroyed => "destroyed",
            StaticEnd::Exit => "exit",
        }
    }
}

/// A static rule that ended, with what it took: one record of the flow log.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedStatic {
    pub port: u16,
    pub number: u32,
    /// As `flow list` shows it (`ETH IPV4 UDP => COUNT DROP`).
    pub rule: String,
    /// `None`: a `queue` rule, whose packets are in the flows' counters.
    pub taken: Option<TakenBy>,
    /// Its final counters (zero for a rule without a counter).
    pub counters: HwCounters,
    pub created: f64,
    pub ended: f64,
    pub end: StaticEnd,
}

/// Packets and bytes static rules took past the workers, on one port, by
/// one fate: those of the rules that ended plus the last reading of those
/// alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticTaken {
    pub port: u16,
    pub by: TakenBy,
    pub counters: HwCounters,
}

/// The static rules, by port and number.
#[derive(Debug, Default)]
pub struct StaticRules {
    ports: BTreeMap<u16, BTreeMap<u32, Entry>>,
    /// What the rules that ended took, by port and fate.
    folded: BTreeMap<(u16, TakenBy), HwCounters>,
    /// Records of rules that ended, until the flow log takes them.
    ended: Vec<EndedStatic>,
    /// Records of destroyed rules whose final count the NIC shows a
    /// refresh period late (an indirect counter read after the destroy),
    /// with the reading at the destroy, until it shows.
    awaiting: BTreeMap<HwRuleId, EndedStatic>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn add(a: HwCounters, b: HwCounters) -> HwCounters {
    HwCounters {
        packets: a.packets + b.packets,
        bytes: a.bytes + b.bytes,
    }
}

impl StaticRules {
    /// An empty set.
    pub fn new() -> Self {
        StaticRules::default()
    }

    /// Rules held, on every port.
    pub fn len(&self) -> usize {
        self.ports.values().map(BTreeMap::len).sum()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The NIC's id of rule `number` on `port`, as long as it is held.
    pub fn hw_id(&self, port: u16, number: u32) -> Option<HwRuleId> {
        self.ports.get(&port)?.get(&number).map(|e| e.id)
    }

    /// Runs one `flow` command on `backend`; `ports` are the DPDK port ids
    /// that exist. An error changed nothing, but for a destroy the backend
    /// refused partway (see [`StaticError::DestroyRefused`]).
    pub fn run(
        &mut self,
        cmd: FlowCommand,
        backend: &mut dyn OffloadBackend,
        ports: &[u16],
    ) -> Result<StaticReply, StaticError> {
        let port = match &cmd {
            FlowCommand::Validate(r) | FlowCommand::Create(r) => r.port,
            FlowCommand::List { port }
            | FlowCommand::Query { port, .. }
            | FlowCommand::Destroy { port, .. }
            | FlowCommand::Flush { port } => *port,
        };
        if !ports.contains(&port) {
            return Err(StaticError::InvalidPort {
                port,
                ports: ports.to_vec(),
            });
        }
        match cmd {
            FlowCommand::Validate(rule) => backend
                .validate_static(&rule)
                .map(|()| StaticReply::Validated)
                .map_err(StaticError::Nic),
            FlowCommand::Create(rule) => self.create(rule, backend),
            FlowCommand::List { port } => Ok(self.list(port)),
            FlowCommand::Query { port, rule } => self.query(port, rule, backend),
            FlowCommand::Destroy { port, rules } => self.destroy(port, &rules, backend),
            FlowCommand::Flush { port } => {
                let numbers: Vec<u32> = self
                    .ports
                    .get(&port)
                    .map(|m| m.keys().copied().collect())
                    .unwrap_or_default();
                let count = numbers.len();
                self.destroy(port, &numbers, backend)
                    .map(|_| StaticReply::Flushed { port, count })
            }
        }
    }

    fn create(
        &mut self,
        rule: FlowRule,
        backend: &mut dyn OffloadBackend,
    ) -> Result<StaticReply, StaticError> {
        let rules = self.ports.entry(rule.port).or_default();
        let number = next_number(rules)?;
        let taken = TakenBy::of(&rule);
        let counted = rule
            .actions
            .iter()
            .any(|a| matches!(a, Action::Count { .. }));
        let id = if taken.is_some() && !counted {
            // Its packets never reach a worker: the NIC must count them, or
            // they would vanish from the accounting.
            let mut with_count = rule.clone();
            with_count.actions.insert(0, Action::Count { id: None });
            backend.create_static(&with_count).map_err(|e| {
                use rte::flow::error_type as et;
                if [et::ACTION, et::ACTION_NUM, et::ACTION_CONF].contains(&e.error_type) {
                    StaticError::CountAdded(e)
                } else {
                    StaticError::Nic(e)
                }
            })?
        } else {
            backend.create_static(&rule).map_err(StaticError::Nic)?
        };
        rules.insert(
            number,
            Entry {
                rule,
                id,
                taken,
                created: unix_now(),
                last: HwCounters::default(),
            },
        );
        Ok(StaticReply::Created { number })
    }

    /// The port's rules, by number.
    fn list(&self, port: u16) -> StaticReply {
        let rules = self
            .ports
            .get(&port)
            .into_iter()
            .flatten()
            .map(|(&number, e)| ListedRule {
                number,
                rule: e.rule.clone(),
            })
            .collect();
        StaticReply::Listed { port, rules }
    }

    fn query(
        &self,
        port: u16,
        number: u32,
        backend: &mut dyn OffloadBackend,
    ) -> Result<StaticReply, StaticError> {
        let e = self
            .ports
            .get(&port)
            .and_then(|m| m.get(&number))
            .ok_or(StaticError::NoSuchRule { number })?;
        if !e
            .rule
            .actions
            .iter()
            .any(|a| matches!(a, Action::Count { .. }))
        {
            return Err(StaticError::NotCounted { number });
        }
        let c = backend.query_static(e.id).map_err(StaticError::Nic)?;
        Ok(StaticReply::Queried(c))
    }

    /// Destroys `numbers` in order. Every number must exist first, so a typo
    /// destroys nothing; a backend refusal stops there, with the rules before
    /// it destroyed and said so.
    fn destroy(
        &mut self,
        port: u16,
        numbers: &[u32],
        backend: &mut dyn OffloadBackend,
    ) -> Result<StaticReply, StaticError> {
        let rules = self.ports.entry(port).or_default();
        if let Some(&missing) = numbers.iter().find(|n| !rules.contains_key(n)) {
            // testpmd would destroy the others: none is.
            return Err(StaticError::NotOnPort {
                port,
                missing,
                named: numbers.len(),
            });
        }
        let mut done = Vec::new();
        let mut gone = Vec::new();
        let mut refused = None;
        for &n in numbers {
            let Some(e) = rules.get(&n) else { continue };
            match backend.destroy_static(e.id) {
                Ok(last) => {
                    if let Some(e) = rules.remove(&n) {
                        let late = backend.final_pending(e.id);
                        gone.push((e.id, late, ended(port, n, e, last, StaticEnd::Destroyed)));
                    }
                    done.push(n);
                }
                Err(err) => {
                    refused = Some(err);
                    break;
                }
            }
        }
        for (id, late, r) in gone {
            self.end(id, late, r);
        }
        match refused {
            None => Ok(StaticReply::Destroyed(done)),
            Some(error) => Err(StaticError::DestroyRefused {
                destroyed: done,
                error,
            }),
        }
    }

    /// Destroys every rule (the appliance stops); returns what refused. A
    /// refused rule's record still goes to the flow log, with its last
    /// reading.
    pub fn destroy_all(&mut self, backend: &mut dyn OffloadBackend) -> Vec<String> {
        let mut refused = Vec::new();
        for (port, rules) in std::mem::take(&mut self.ports) {
            for (n, e) in rules {
                let id = e.id;
                let last = match backend.destroy_static(id) {
                    Ok(last) => last,
                    Err(err) => {
                        refused.push(format!("port {port} rule #{n}: {err}"));
                        e.last
                    }
                };
                let late = backend.final_pending(id);
                self.end(id, late, ended(port, n, e, last, StaticEnd::Exit));
            }
        }
        refused
    }

    /// Reads the counter of every rule that takes packets past the workers
    /// (once a tick); a failed read keeps the last one.
    pub fn refresh(&mut self, backend: &mut dyn OffloadBackend) {
        for e in self.ports.values_mut().flat_map(BTreeMap::values_mut) {
            if e.taken.is_some() {
                if let Ok(c) = backend.query_static(e.id) {
                    // A counter never goes back; a NIC that answers less
                    // than before is not believed.
                    if c.packets >= e.last.packets {
                        e.last = c;
                    }
                }
            }
        }
    }

    /// Whether destroyed rule `id`'s record waits for its final count.
    pub fn awaits(&self, id: HwRuleId) -> bool {
        self.awaiting.contains_key(&id)
    }

    /// Destroyed rules whose records wait for their final counts.
    pub fn awaiting(&self) -> usize {
        self.awaiting.len()
    }

    /// The final count `c` of destroyed rule `id` (its whole count, read
    /// a refresh period after the destroy): its record is whole.
    pub fn late_final(&mut self, id: HwRuleId, c: HwCounters) {
        if let Some(mut r) = self.awaiting.remove(&id) {
            // A NIC that answers less than the destroy's reading is not
            // believed (counts never go back).
            if c.packets >= r.counters.packets {
                r.counters = c;
            }
            self.record(r);
        }
    }

    /// Records waiting for a final count the NIC no longer has to give
    /// (`pending` says it has): the readings at their destroys stand.
    pub fn settle_lost(&mut self, pending: impl Fn(HwRuleId) -> bool) {
        let lost: Vec<HwRuleId> = self
            .awaiting
            .keys()
            .filter(|id| !pending(**id))
            .copied()
            .collect();
        for id in lost {
            if let Some(r) = self.awaiting.remove(&id) {
                self.record(r);
            }
        }
    }

    /// The final counts that never came (the exit's deadline passed): the
    /// readings at the destroys stand. Returns how many.
    pub fn give_up_awaiting(&mut self) -> usize {
        let n = self.awaiting.len();
        for (_, r) in std::mem::take(&mut self.awaiting) {
            self.record(r);
        }
        n
    }

    /// A rule ended: its record is whole, or (`late`) waits for the final
    /// count the NIC shows a refresh period after the destroy.
    fn end(&mut self, id: HwRuleId, late: bool, r: EndedStatic) {
        if late {
            self.awaiting.insert(id, r);
        } else {
            self.record(r);
        }
    }

    /// The bucket: what static rules took past the workers, by port and
    /// fate, the ended rules' final counts (or, while those are to come,
    /// the readings at their destroys) plus the live ones' last reading.
    pub fn taken(&self) -> Vec<StaticTaken> {
        let mut sums = self.folded.clone();
        for r in self.awaiting.values() {
            if let Some(by) = r.taken {
                let sum = sums.entry((r.port, by)).or_default();
                *sum = add(*sum, r.counters);
            }
        }
        for (&port, rules) in &self.ports {
            for e in rules.values() {
                if let Some(by) = e.taken {
                    let sum = sums.entry((port, by)).or_default();
                    *sum = add(*sum, e.last);
                }
            }
        }
        sums.into_iter()
            .map(|((port, by), counters)| StaticTaken { port, by, counters })
            .collect()
    }

    /// The records of the rules that ended since the last call.
    pub fn take_ended(&mut self) -> Vec<EndedStatic> {
        std::mem::take(&mut self.ended)
    }

    /// Keeps an ended rule's record for the flow log and adds what it
    /// took to the bucket.
    fn record(&mut self, r: EndedStatic) {
        if let Some(by) = r.taken {
            let sum = self.folded.entry((r.port, by)).or_default();
            *sum = add(*sum, r.counters);
        }
        self.ended.push(r);
    }
}

fn ended(port: u16, number: u32, e: Entry, last: HwCounters, end: StaticEnd) -> EndedStatic {
    EndedStatic {
        port,
        number,
        rule: e.rule.summary(),
        taken: e.taken,
        // The destroy's final reading, unless it is less than one seen
        // before (a NIC that lost its count must not shrink the bucket).
        counters: if last.packets >= e.last.packets {
            last
        } else {
            e.last
        },
        created: e.created,
        ended: unix_now(),
        end,
    }
}

/// The number a new rule on a port gets, as testpmd numbers them: 0 on an
/// empty port, else the highest plus one; none once the highest is taken.
fn next_number<T>(rules: &BTreeMap<u32, T>) -> Result<u32, StaticError> {
    match rules.last_key_value() {
        None => Ok(0),
        Some((&n, _)) if n < MAX_NUMBER => Ok(n + 1),
        Some(_) => Err(StaticError::NumbersExhausted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_highest_until_the_last_is_taken() {
        let mut rules = BTreeMap::new();
        assert_eq!(next_number(&rules), Ok(0));
        rules.insert(5, ());
        rules.insert(2, ());
        assert_eq!(next_number(&rules), Ok(6));
        rules.insert(MAX_NUMBER, ());
        assert_eq!(next_number(&rules), Err(StaticError::NumbersExhausted));
    }
}
