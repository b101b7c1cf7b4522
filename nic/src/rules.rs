//! The embedded switch's rule tables and counters: created, destroyed and
//! queried on the control path (the PMD's rte_flow ops), looked up per packet
//! by the switch thread.
//!
//! Tables: the transfer rules (the e-switch, looked up first for every packet
//! that enters the switch) and the PF's ingress rules (looked up for what the
//! transfer rules leave to the PF's host). Both are `dataplane::eswitch`'s
//! priority-ordered wildcard table; hits count on `dataplane::eswitch`'s
//! counter bank.
//!
//! Thread-safety: the control path owns the rule records under a mutex and,
//! on every change, publishes a new immutable [`RuleSet`] with a new
//! generation. The switch picks the newest set up before each packet and
//! acknowledges the generation it uses; a change returns only once the
//! switch has acknowledged it (or is not running), so after `destroy`
//! returns no packet hits the rule and its counter is final. Counters have one
//! writer (the switch) and are read with relaxed loads; a query's reset is a
//! baseline, so it never races the writer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flowlift_dataplane::eswitch::{CounterBank, WildAction, WildRule, WildcardTable};
use flowlift_dataplane::PortIdx;

use crate::flow::{
    compile, Action, At, Attr, Compiled, Context, Domain, Errno, Fate, FlowError, Item, PortRef,
};

/// Rules each table holds by default (until the `rules=` devarg).
pub const DEFAULT_CAPACITY: usize = 1024;
/// Counters the switch has by default.
pub const DEFAULT_COUNTERS: usize = 4096;
/// How long a change waits for the switch's acknowledgement before giving
/// up (the switch acknowledges within a millisecond while it runs).
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// `seen` while no switch runs: every generation counts as acknowledged.
const PARKED: u64 = u64::MAX;

/// One immutable set of tables, as the switch looks them up.
#[derive(Debug)]
pub struct RuleSet {
    transfer: WildcardTable,
    ingress: WildcardTable,
}

/// Where the switch sends a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// To the PF's host, on this RX queue.
    Host(u16),
    /// Back out on the wire.
    Wire,
    /// To the VF at this position of the representor list.
    Vf(usize),
    Drop,
    /// No rule took it: the default path of the port it entered on (from the
    /// wire, RSS over the PF's RX queues; from a VF, its representor's RX).
    Miss,
}

impl RuleSet {
    /// No rule: everything misses.
    pub fn empty() -> RuleSet {
        RuleSet {
            transfer: WildcardTable::new(0),
            ingress: WildcardTable::new(0),
        }
    }

    /// The verdict on a frame that entered on `in_port` (0: the wire), and
    /// the counter of the rule that decided it, if any. Frames without a flow
    /// key (non-IP, later fragments) match no rule. The PF's ingress rules
    /// see only what came from the wire.
    #[inline]
    pub fn classify(&self, frame: &[u8], in_port: u8) -> (Verdict, Option<u32>) {
        if self.transfer.is_empty() && (self.ingress.is_empty() || in_port != 0) {
            return (Verdict::Miss, None);
        }
        let Ok(parsed) = flowlift_dataplane::wire::parse(frame) else {
            return (Verdict::Miss, None);
        };
        let mut key = parsed.key;
        key.set_in_port(in_port);
        if let Some((_, rule)) = self.transfer.lookup(&key) {
            let verdict = match rule.action {
                WildAction::Forward(PortIdx(0)) => Verdict::Wire,
                WildAction::Forward(PortIdx(p)) => Verdict::Vf(usize::from(p) - 1),
                WildAction::Drop => Verdict::Drop,
                WildAction::Queue(q) => Verdict::Host(q),
            };
            return (verdict, rule.counter);
        }
        if in_port != 0 {
            return (Verdict::Miss, None);
        }
        if let Some((_, rule)) = self.ingress.lookup(&key) {
            let verdict = match rule.action {
                WildAction::Queue(q) => Verdict::Host(q),
                WildAction::Drop => Verdict::Drop,
                WildAction::Forward(_) => Verdict::Host(0),
            };
            return (verdict, rule.counter);
        }
        (Verdict::Miss, None)
    }
}

/// A rule as the control path keeps it.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// The port it was created on (destroy, query and flush go through it).
    owner: PortRef,
    rule: Compiled,
    counter: Option<u32>,
    /// Counter values at the last query reset.
    base: (u64, u64),
}

#[derive(Debug)]
struct Control {
    records: BTreeMap<u64, Record>,
    next_id: u64,
    free_counters: Vec<u32>,
}

/// The switch's rules and counters.
#[derive(Debug)]
pub struct Rules {
    control: Mutex<Control>,
    published: Mutex<Arc<RuleSet>>,
    generation: AtomicU64,
    /// The generation the switch uses, or [`PARKED`].
    seen: AtomicU64,
    bank: CounterBank,
    capacity: usize,
    /// VF numbers in representor order: `PortRef::Vf(n)` is switch port
    /// (position + 1), the uplink switch port 0.
    vfs: Vec<u16>,
}

impl Rules {
    /// Empty tables of `capacity` rules each, `counters` counters, for a
    /// switch with these VFs.
    pub fn new(vfs: Vec<u16>, capacity: usize, counters: usize) -> Rules {
        let n = u32::try_from(counters).unwrap_or(u32::MAX);
        Rules {
            control: Mutex::new(Control {
                records: BTreeMap::new(),
                next_id: 1,
                free_counters: (0..n).rev().collect(),
            }),
            published: Mutex::new(Arc::new(RuleSet::empty())),
            generation: AtomicU64::new(0),
            seen: AtomicU64::new(PARKED),
            bank: CounterBank::new(counters),
            capacity,
            vfs,
        }
    }

    /// Checks a rule as [`Rules::create`] would, without creating it.
    pub fn validate(
        &self,
        ctx: Context,
        attr: Attr,
        items: &[Item],
        actions: &[Action],
    ) -> Result<(), FlowError> {
        let rule = compile(ctx, attr, items, actions)?;
        let control = lock(&self.control);
        self.check_room(&control, &rule)?;
        if rule.count && control.free_counters.is_empty() {
            return no_counter();
        }
        Ok(())
    }

    /// Creates a rule on port `ctx.port`; returns its id (never 0).
    pub fn create(
        &self,
        ctx: Context,
        attr: Attr,
        items: &[Item],
        actions: &[Action],
    ) -> Result<u64, FlowError> {
        let rule = compile(ctx, attr, items, actions)?;
        let mut control = lock(&self.control);
        self.check_room(&control, &rule)?;
        let counter = if rule.count {
            match control.free_counters.pop() {
                Some(c) => Some(c),
                None => return no_counter(),
            }
        } else {
            None
        };
        if let Some(c) = counter.and_then(|c| self.bank.get(c)) {
            // Free counters have no writer: this one starts from zero.
            c.reset();
        }
        let id = control.next_id;
        control.next_id += 1;
        control.records.insert(
            id,
            Record {
                owner: ctx.port,
                rule,
                counter,
                base: (0, 0),
            },
        );
        self.publish(&control);
        Ok(id)
    }

    /// Destroys rule `id` of port `owner`; once this returns, nothing hits it.
    pub fn destroy(&self, owner: PortRef, id: u64) -> Result<(), FlowError> {
        let mut control = lock(&self.control);
        match control.records.get(&id) {
            Some(r) if r.owner == owner => {}
            _ => return refuse_handle(),
        }
        let record = control.records.remove(&id);
        self.publish(&control);
        if let Some(c) = record.and_then(|r| r.counter) {
            control.free_counters.push(c);
        }
        Ok(())
    }

    /// Destroys every rule of port `owner`.
    pub fn flush(&self, owner: PortRef) {
        let mut control = lock(&self.control);
        let ids: Vec<u64> = control
            .records
            .iter()
            .filter(|(_, r)| r.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let gone: Vec<Record> = ids
            .iter()
            .filter_map(|id| control.records.remove(id))
            .collect();
        self.publish(&control);
        control
            .free_counters
            .extend(gone.iter().filter_map(|r| r.counter));
    }

    /// Rule `id`'s hits and bytes since its creation or the last reset
    /// (`reset` starts a new count); refused if it has no COUNT action.
    pub fn query(&self, owner: PortRef, id: u64, reset: bool) -> Result<(u64, u64), FlowError> {
        let mut control = lock(&self.control);
        let Some(record) = control.records.get_mut(&id).filter(|r| r.owner == owner) else {
            return refuse_handle();
        };
        let Some(slot) = record.counter.and_then(|c| self.bank.get(c)) else {
            return Err(FlowError {
                errno: Errno::NotSupported,
                at: At::Action(0),
                message: "the rule has no COUNT action",
            });
        };
        let now = slot.read();
        let since = (
            now.0.saturating_sub(record.base.0),
            now.1.saturating_sub(record.base.1),
        );
        if reset {
            record.base = now;
        }
        Ok(since)
    }

    /// Rules held, both tables together.
    pub fn len(&self) -> usize {
        lock(&self.control).records.len()
    }

    /// Whether no rule is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counter bank (the switch counts hits on it).
    pub fn bank(&self) -> &CounterBank {
        &self.bank
    }

    fn check_room(&self, control: &Control, rule: &Compiled) -> Result<(), FlowError> {
        let held = control
            .records
            .values()
            .filter(|r| r.rule.domain == rule.domain)
            .count();
        if held >= self.capacity {
            return Err(FlowError {
                errno: Errno::NoSpace,
                at: At::Unspecified,
                message: "the rule table is full",
            });
        }
        Ok(())
    }

    /// The switch port of `p` (0: the uplink).
    fn switch_port(&self, p: PortRef) -> u8 {
        match p {
            PortRef::Vf(vf) => self
                .vfs
                .iter()
                .position(|v| *v == vf)
                .map_or(u8::MAX, |i| u8::try_from(i + 1).unwrap_or(u8::MAX)),
            PortRef::Uplink | PortRef::Foreign(_) => 0,
        }
    }

    /// Builds and publishes the tables for `control`'s records, then waits
    /// for the switch to take them up.
    fn publish(&self, control: &Control) {
        let mut set = RuleSet {
            transfer: WildcardTable::new(self.capacity),
            ingress: WildcardTable::new(self.capacity),
        };
        for (&id, r) in &control.records {
            let mut matches = r.rule.matches;
            matches.in_port = r.rule.source.map(|p| self.switch_port(p));
            let action = match r.rule.fate {
                Fate::Drop => WildAction::Drop,
                Fate::Queue(q) => WildAction::Queue(q),
                Fate::Port(p) => WildAction::Forward(PortIdx(u16::from(self.switch_port(p)))),
            };
            let wild = WildRule {
                priority: r.rule.priority,
                matches,
                action,
                counter: r.counter,
                metered: false,
            };
            let table = match r.rule.domain {
                Domain::Transfer => &mut set.transfer,
                Domain::Ingress => &mut set.ingress,
            };
            // Within capacity (checked at create) and ids are unique.
            let _ = table.add(id, wild);
        }
        let generation = {
            let mut published = lock(&self.published);
            *published = Arc::new(set);
            self.generation.fetch_add(1, Ordering::AcqRel) + 1
        };
        let deadline = Instant::now() + ACK_TIMEOUT;
        while self.seen.load(Ordering::Acquire) < generation && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// The switch's view of the rules, for the thread that runs the switch:
    /// while it lives, changes wait for its acknowledgement.
    pub fn view(&self) -> RuleView<'_> {
        let (generation, set) = self.current();
        self.seen.store(generation, Ordering::Release);
        RuleView {
            rules: self,
            generation,
            set,
        }
    }

    fn current(&self) -> (u64, Arc<RuleSet>) {
        let published = lock(&self.published);
        (
            self.generation.load(Ordering::Acquire),
            Arc::clone(&published),
        )
    }
}

/// The rule set the switch thread uses, refreshed before each packet.
#[derive(Debug)]
pub struct RuleView<'a> {
    rules: &'a Rules,
    generation: u64,
    set: Arc<RuleSet>,
}

impl RuleView<'_> {
    /// Takes up the newest rules, if they changed, and acknowledges them.
    #[inline]
    pub fn refresh(&mut self) -> &RuleSet {
        if self.rules.generation.load(Ordering::Acquire) != self.generation {
            let (generation, set) = self.rules.current();
            self.generation = generation;
            self.set = set;
            self.rules.seen.store(generation, Ordering::Release);
        }
        &self.set
    }

    /// The rules in use.
    pub fn set(&self) -> &RuleSet {
        &self.set
    }
}

impl Drop for RuleView<'_> {
    fn drop(&mut self) {
        // No switch runs: changes need no acknowledgement.
        self.rules.seen.store(PARKED, Ordering::Release);
    }
}

fn no_counter<T>() -> Result<T, FlowError> {
    Err(FlowError {
        errno: Errno::NoSpace,
        at: At::Unspecified,
        message: "no counter left",
    })
}

fn refuse_handle<T>() -> Result<T, FlowError> {
    Err(FlowError {
        errno: Errno::NotFound,
        at: At::Handle,
        message: "no such flow rule on this port",
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
