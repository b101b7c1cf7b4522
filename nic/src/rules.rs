//! The embedded switch's state: its rule tables, flow counters, indirect
//! COUNT handles and meters, with the limits and faults a NIC has; changed
//! on the control path (the PMD's rte_flow and rte_mtr ops), used per packet
//! by the switch.
//!
//! Tables: per-flow rules (a fully specified 5-tuple on one source port) go
//! to the exact-match table ([`crate::exact`]), every other rule to the
//! priority-ordered wildcard table ([`crate::wildcard`]) of its domain:
//! transfer (the e-switch, met first by every packet that enters the switch)
//! or ingress (the PF's receive rules, met by what the transfer rules leave
//! to the PF's host). Across both tables a packet meets rules by priority,
//! then age.
//!
//! Limits and faults ([`crate::limits`], [`crate::faults`]): a rule creation
//! is refused ENOSPC beyond `rules=` rules or `counters=` counters, EBUSY
//! over `inserts_per_sec=`, and as the fault devargs say; counters read as
//! the device's cache ([`crate::flowcount`]).
//!
//! Thread-safety: everything is one [`RuleSet`] under one mutex. The switch
//! holds it for one packet at a time (decide, deliver, count), the control
//! path for one operation; so once `destroy` returns, no packet hits the rule
//! and its counter is final, and a packet is never counted on a counter
//! given to another rule meanwhile. Control callers announce themselves
//! (`waiting`) and the switch steps aside before taking the lock again, so a
//! switch looping on the lock cannot starve them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::wildcard::{FrameMatch, WildAction, WildRule, WildcardTable};
use flowlift_dataplane::flow::FlowKey;
use flowlift_dataplane::PortIdx;

use crate::clock::{MonotonicClock, SharedClock};
use crate::exact::{exact_key, ExactTable, INGRESS_PORT};
use crate::faults::{FaultState, Faults, InstallFault, StallPlan};
use crate::flow::{
    compile, Action, At, Attr, Compiled, Context, Count, Domain, Errno, Fate, FlowError, Item,
    PortRef,
};
use crate::flowcount::FlowCounters;
use crate::limits::{InsertRate, Limits};
use crate::mtr::{Marking, MeterStats, Meters, MtrAt, MtrError, PolicyAction};

/// Wildcard rules a domain holds at most: the wildcard stage is looked up
/// rule by rule, and a NIC's TCAM-like stage is the small one.
pub const WILDCARD_MAX: usize = 65_536;

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

/// What a rule does to the packets it takes, resolved for the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    verdict: Verdict,
    /// What the rule asks of the frame beyond its key (checked in the exact
    /// table; a wildcard rule has it in its match).
    frame: FrameMatch,
    counter: Option<u32>,
    meter: Option<u32>,
    count_after_meter: bool,
}

/// What the switch decided for one packet: [`RuleSet::commit`] carries out
/// its counting and metering once the packet is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The counter to count it on.
    counter: Option<u32>,
    marking: Option<Marking>,
}

impl Decision {
    /// No rule took the packet: the default path of the port it entered on.
    pub const MISS: Decision = Decision {
        verdict: Verdict::Miss,
        counter: None,
        marking: None,
    };

    /// The counter it counts on, if any.
    pub fn counter(&self) -> Option<u32> {
        self.counter
    }
}

/// A rule as the control path keeps it.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// The port it was created on (destroy, query and flush go through it).
    owner: PortRef,
    rule: Compiled,
    hit: Hit,
    /// Its key, if it is in the exact-match table.
    exact: Option<FlowKey>,
}

/// An indirect COUNT.
#[derive(Debug, Clone, Copy)]
struct Handle {
    owner: PortRef,
    counter: u32,
    /// Rules whose INDIRECT action names it.
    rules: u32,
}

/// The switch's whole state (see the module's doc).
#[derive(Debug)]
pub struct RuleSet {
    /// VF numbers in representor order: `PortRef::Vf(n)` is switch port
    /// (position + 1), the uplink switch port 0.
    vfs: Vec<u16>,
    limits: Limits,
    records: BTreeMap<u64, Record>,
    next_id: u64,
    exact: ExactTable<Hit>,
    transfer: WildcardTable,
    ingress: WildcardTable,
    counters: FlowCounters,
    handles: BTreeMap<u64, Handle>,
    next_handle: u64,
    meters: Meters,
    rate: InsertRate,
    faults: FaultState,
    stall: Option<StallPlan>,
    clock: SharedClock,
}

impl RuleSet {
    fn new(vfs: Vec<u16>, limits: Limits, faults: Faults, clock: SharedClock) -> RuleSet {
        let wild = limits.rules.min(WILDCARD_MAX);
        RuleSet {
            vfs,
            records: BTreeMap::new(),
            next_id: 1,
            exact: ExactTable::new(limits.rules),
            transfer: WildcardTable::new(wild),
            ingress: WildcardTable::new(wild),
            counters: FlowCounters::new(limits.counters, limits.counter_refresh_ms),
            handles: BTreeMap::new(),
            next_handle: 1,
            meters: Meters::new(limits.meters),
            rate: InsertRate::new(limits.inserts_per_sec),
            faults: FaultState::new(faults),
            stall: StallPlan::new(&faults),
            clock,
            limits,
        }
    }

    /// No rule, no VF, no limit met by accident: everything misses.
    pub fn empty() -> RuleSet {
        RuleSet::new(
            Vec::new(),
            Limits::unlimited(),
            Faults::default(),
            MonotonicClock::shared(),
        )
    }

    /// What happens to a frame that entered the switch on `in_port` (0: the
    /// wire): the first transfer rule it meets, else (from the wire) the
    /// first ingress rule, else a miss ([`Verdict::Miss`]: RSS over the PF's
    /// RX queues from the wire, the representor's RX from a VF). The PF's
    /// ingress rules see only what came from the wire. Frames without a flow
    /// key (non-IP, later fragments) match no rule; first fragments meet the
    /// rules as fragments (a rule for whole datagrams does not take them).
    /// Changes nothing:
    /// [`RuleSet::commit`] counts and meters once the packet is taken.
    #[inline]
    pub fn decide(&self, frame: &[u8], in_port: u8) -> Decision {
        if self.records.is_empty() {
            return Decision::MISS;
        }
        let Ok(parsed) = flowlift_dataplane::wire::parse(frame) else {
            return Decision::MISS;
        };
        let mut key = parsed.key;
        key.set_in_port(in_port);
        let fragment = parsed.first_fragment;
        let hit = match self.lookup(&key, fragment, Domain::Transfer) {
            Some(h) => h,
            None if in_port == 0 => match self.lookup(&key, fragment, Domain::Ingress) {
                Some(h) => h,
                None => return Decision::MISS,
            },
            None => return Decision::MISS,
        };
        let mut d = Decision {
            verdict: hit.verdict,
            counter: hit.counter,
            marking: None,
        };
        if let Some(m) = hit.meter {
            let marking = self.meters.peek(m, self.clock.now_ns(), frame.len() as u64);
            if let Some(mk) = marking {
                if mk.action == PolicyAction::Drop {
                    d.verdict = Verdict::Drop;
                    if hit.count_after_meter {
                        d.counter = None;
                    }
                }
                d.marking = Some(mk);
            }
        }
        d
    }

    /// Counts and meters a packet of `len` bytes that `d` was decided for
    /// and that the switch took.
    #[inline]
    pub fn commit(&mut self, d: &Decision, len: u64) {
        if let Some(m) = &d.marking {
            self.meters.mark(m, len);
        }
        if let Some(c) = d.counter {
            self.counters.count(c, len);
        }
    }

    /// A stall due now (the `fault_stall_ms` fault), if any.
    #[inline]
    pub fn stall_due(&mut self) -> Option<Duration> {
        let plan = self.stall.as_mut()?;
        plan.due(self.clock.now_ns())
    }

    /// The first rule of `domain` that a frame with `key` (with its in-port)
    /// meets; `fragment`: whether it is a first fragment.
    #[inline]
    fn lookup(&self, key: &FlowKey, fragment: bool, domain: Domain) -> Option<Hit> {
        let exact = if self.exact.is_empty() {
            None
        } else {
            // The frame's own key says whether it is tagged, whichever key
            // the table is probed with.
            let accept = |h: &Hit| h.frame.accepts(key, fragment);
            let found = match domain {
                Domain::Transfer => self.exact.lookup(key, accept),
                Domain::Ingress => {
                    let mut k = *key;
                    k.set_in_port(INGRESS_PORT);
                    self.exact.lookup(&k, accept)
                }
            };
            found.map(|e| (e.order(), e.value))
        };
        let table = match domain {
            Domain::Transfer => &self.transfer,
            Domain::Ingress => &self.ingress,
        };
        let wild = if table.is_empty() {
            None
        } else {
            table.lookup(key, fragment).and_then(|(id, r)| {
                let rec = self.records.get(&id)?;
                Some(((r.priority, id), rec.hit))
            })
        };
        match (exact, wild) {
            (Some(e), Some(w)) => Some(if e.0 <= w.0 { e.1 } else { w.1 }),
            (e, w) => e.or(w).map(|x| x.1),
        }
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

    fn verdict(&self, fate: Fate) -> Verdict {
        match fate {
            Fate::Drop => Verdict::Drop,
            Fate::Queue(q) => Verdict::Host(q),
            Fate::Port(PortRef::Uplink) => Verdict::Wire,
            Fate::Port(p) => Verdict::Vf(usize::from(self.switch_port(p)).saturating_sub(1)),
        }
    }

    /// Checks what a rule names (meters, indirect COUNTs) exists.
    fn check_refs(&self, actions: &[Action]) -> Result<(), FlowError> {
        for (i, a) in actions.iter().enumerate() {
            match *a {
                Action::Meter(Some(m)) if !self.meters.exists(m) => {
                    return Err(FlowError {
                        errno: Errno::Invalid,
                        at: At::Action(i),
                        message: "no such meter",
                    })
                }
                Action::Indirect(h) if h != 0 && !self.handles.contains_key(&h) => {
                    return Err(FlowError {
                        errno: Errno::Invalid,
                        at: At::ActionConf(i),
                        message: "no such indirect action",
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks there is room for `rule` (rules and counters).
    fn check_room(&self, rule: &Compiled, actions: &[Action]) -> Result<(), FlowError> {
        if self.records.len() >= self.limits.rules {
            return Err(FlowError {
                errno: Errno::NoSpace,
                at: At::Unspecified,
                message: "the rule table is full",
            });
        }
        if rule.count == Count::Direct && !self.counters.available() {
            let at = actions
                .iter()
                .position(|a| *a == Action::Count)
                .unwrap_or(0);
            return Err(FlowError {
                errno: Errno::NoSpace,
                at: At::Action(at),
                message: "no counter left",
            });
        }
        Ok(())
    }

    fn validate(
        &self,
        ctx: Context,
        attr: Attr,
        items: &[Item],
        actions: &[Action],
    ) -> Result<(), FlowError> {
        let rule = compile(ctx, attr, items, actions)?;
        self.check_refs(actions)?;
        self.check_room(&rule, actions)
    }

    fn create(
        &mut self,
        ctx: Context,
        attr: Attr,
        items: &[Item],
        actions: &[Action],
    ) -> Result<u64, FlowError> {
        let rule = compile(ctx, attr, items, actions)?;
        self.check_refs(actions)?;
        match self.faults.install() {
            Some(InstallFault::NoSpace) => {
                return Err(FlowError {
                    errno: Errno::NoSpace,
                    at: At::Unspecified,
                    message: "the rule table is full (injected fault)",
                })
            }
            Some(InstallFault::Busy) => {
                return Err(FlowError {
                    errno: Errno::Busy,
                    at: At::Unspecified,
                    message: "the device is busy (injected fault)",
                })
            }
            None => {}
        }
        self.check_room(&rule, actions)?;
        if !self.rate.admit(self.clock.now_ns()) {
            return Err(FlowError {
                errno: Errno::Busy,
                at: At::Unspecified,
                message: "over the device's rule insertion rate: try again later",
            });
        }
        let counter = match rule.count {
            Count::None => None,
            Count::Direct => self.counters.alloc(),
            Count::Indirect(h) => self.handles.get(&h).map(|h| h.counter),
        };
        let id = self.next_id;
        let hit = Hit {
            verdict: self.verdict(rule.fate),
            frame: rule.matches.frame,
            counter,
            meter: rule.meter,
            count_after_meter: rule.count_after_meter,
        };
        let source = rule.source.map(|p| self.switch_port(p));
        let key = exact_key(&rule, source);
        let placed = match key {
            Some(k) => self
                .exact
                .insert(k, rule.priority, id, hit)
                .map_err(|_| "the exact-match table cannot place the rule (hash collisions)"),
            None => {
                let mut matches = rule.matches;
                matches.in_port = source;
                let wild = WildRule {
                    priority: rule.priority,
                    matches,
                    action: match rule.fate {
                        Fate::Drop => WildAction::Drop,
                        Fate::Queue(q) => WildAction::Queue(q),
                        Fate::Port(p) => {
                            WildAction::Forward(PortIdx(u16::from(self.switch_port(p))))
                        }
                    },
                    counter,
                    metered: rule.meter.is_some(),
                };
                let table = match rule.domain {
                    Domain::Transfer => &mut self.transfer,
                    Domain::Ingress => &mut self.ingress,
                };
                table
                    .add(id, wild)
                    .map_err(|_| "the wildcard stage is full")
            }
        };
        if let Err(message) = placed {
            if rule.count == Count::Direct {
                if let Some(c) = counter {
                    self.counters.release(c);
                }
            }
            return Err(FlowError {
                errno: Errno::NoSpace,
                at: At::Unspecified,
                message,
            });
        }
        self.next_id += 1;
        if let Count::Indirect(h) = rule.count {
            if let Some(h) = self.handles.get_mut(&h) {
                h.rules += 1;
            }
        }
        if let Some(m) = rule.meter {
            self.meters.attach(m, true);
        }
        self.records.insert(
            id,
            Record {
                owner: ctx.port,
                rule,
                hit,
                exact: key,
            },
        );
        Ok(id)
    }

    /// Takes rule `id` (known) out of the tables and gives back what it held.
    fn remove(&mut self, id: u64) {
        let Some(r) = self.records.remove(&id) else {
            return;
        };
        match r.exact {
            Some(k) => {
                self.exact.remove(&k, id);
            }
            None => {
                let table = match r.rule.domain {
                    Domain::Transfer => &mut self.transfer,
                    Domain::Ingress => &mut self.ingress,
                };
                let _ = table.remove(id);
            }
        }
        match r.rule.count {
            Count::Direct => {
                if let Some(c) = r.hit.counter {
                    self.counters.release(c);
                }
            }
            Count::Indirect(h) => {
                if let Some(h) = self.handles.get_mut(&h) {
                    h.rules = h.rules.saturating_sub(1);
                }
            }
            Count::None => {}
        }
        if let Some(m) = r.rule.meter {
            self.meters.attach(m, false);
        }
    }

    fn destroy(&mut self, owner: PortRef, id: u64) -> Result<(), FlowError> {
        match self.records.get(&id) {
            Some(r) if r.owner == owner => {
                self.remove(id);
                Ok(())
            }
            _ => refuse_handle(),
        }
    }

    fn flush(&mut self, owner: PortRef) {
        let ids: Vec<u64> = self
            .records
            .iter()
            .filter(|(_, r)| r.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    fn query(&mut self, owner: PortRef, id: u64, reset: bool) -> Result<(u64, u64), FlowError> {
        let Some(record) = self.records.get(&id).filter(|r| r.owner == owner) else {
            return refuse_handle();
        };
        let Some(c) = record.hit.counter else {
            return Err(FlowError {
                errno: Errno::NotSupported,
                at: At::Action(0),
                message: "the rule has no COUNT action",
            });
        };
        self.read_counter(c, reset)
    }

    fn read_counter(&mut self, c: u32, reset: bool) -> Result<(u64, u64), FlowError> {
        if self.faults.query() {
            return Err(FlowError {
                errno: Errno::Io,
                at: At::Unspecified,
                message: "the counter could not be read (injected fault)",
            });
        }
        let now = self.clock.now_ns();
        Ok(self.counters.read(c, now, reset))
    }

    fn handle_create(&mut self, owner: PortRef, action: &Action) -> Result<u64, FlowError> {
        if *action != Action::Count {
            return Err(FlowError {
                errno: Errno::NotSupported,
                at: At::Action(0),
                message: "only COUNT can be an indirect action",
            });
        }
        let Some(counter) = self.counters.alloc() else {
            return Err(FlowError {
                errno: Errno::NoSpace,
                at: At::Action(0),
                message: "no counter left",
            });
        };
        let h = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(
            h,
            Handle {
                owner,
                counter,
                rules: 0,
            },
        );
        Ok(h)
    }

    fn handle(&self, owner: PortRef, h: u64) -> Result<Handle, FlowError> {
        match self.handles.get(&h) {
            Some(handle) if handle.owner == owner => Ok(*handle),
            _ => Err(FlowError {
                errno: Errno::NotFound,
                at: At::Handle,
                message: "no such indirect action on this port",
            }),
        }
    }

    fn handle_destroy(&mut self, owner: PortRef, h: u64) -> Result<(), FlowError> {
        let handle = self.handle(owner, h)?;
        if handle.rules > 0 {
            return Err(FlowError {
                errno: Errno::Busy,
                at: At::Action(0),
                message: "the indirect COUNT is still used by a rule",
            });
        }
        self.handles.remove(&h);
        self.counters.release(handle.counter);
        Ok(())
    }

    fn handle_query(
        &mut self,
        owner: PortRef,
        h: u64,
        reset: bool,
    ) -> Result<(u64, u64), FlowError> {
        let handle = self.handle(owner, h)?;
        self.read_counter(handle.counter, reset)
    }

    fn meter_stats(&mut self, id: u32, clear: bool) -> Result<(MeterStats, u64), MtrError> {
        if !self.meters.exists(id) {
            return Err(MtrError {
                errno: Errno::NotFound,
                at: MtrAt::MtrId,
                message: "no such meter",
            });
        }
        if self.faults.query() {
            return Err(MtrError {
                errno: Errno::Io,
                at: MtrAt::Stats,
                message: "the meter's statistics could not be read (injected fault)",
            });
        }
        let period = self.counters.period(self.clock.now_ns());
        self.meters.read_stats(id, period, clear)
    }
}

/// The switch's rules, counters and meters, shared by the control path and
/// the switch (see the module's doc).
#[derive(Debug)]
pub struct Rules {
    state: Mutex<RuleSet>,
    /// Control-path callers waiting for the lock.
    waiting: AtomicUsize,
    limits: Limits,
}

impl Rules {
    /// A switch with these VFs, limits and faults, on `clock`.
    pub fn new(vfs: Vec<u16>, limits: Limits, faults: Faults, clock: SharedClock) -> Rules {
        Rules {
            state: Mutex::new(RuleSet::new(vfs, limits, faults, clock)),
            waiting: AtomicUsize::new(0),
            limits,
        }
    }

    /// A switch with these VFs and limits, no faults, on the host's clock.
    pub fn with_limits(vfs: Vec<u16>, limits: Limits) -> Rules {
        Rules::new(vfs, limits, Faults::default(), MonotonicClock::shared())
    }

    /// Its limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The state, for one control-path operation.
    fn control(&self) -> MutexGuard<'_, RuleSet> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let guard = lock(&self.state);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        guard
    }

    /// The state, for the switch to move one packet (or stall): it steps
    /// aside while a control-path caller waits.
    #[inline]
    pub fn lock_switch(&self) -> MutexGuard<'_, RuleSet> {
        let mut spins = 0u32;
        while self.waiting.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        lock(&self.state)
    }

    /// Starts the stall fault's clock (the switch starts).
    pub fn arm_stall(&self) {
        let mut s = self.control();
        let now = s.clock.now_ns();
        if let Some(p) = s.stall.as_mut() {
            p.arm(now);
        }
    }

    /// Checks a rule as [`Rules::create`] would, without creating it (no
    /// insertion rate, no injected fault).
    pub fn validate(
        &self,
        ctx: Context,
        attr: Attr,
        items: &[Item],
        actions: &[Action],
    ) -> Result<(), FlowError> {
        self.control().validate(ctx, attr, items, actions)
    }

    /// Creates a rule on port `ctx.port`; returns its id (never 0).
    pub fn create(
        &self,
        ctx: Context,
        attr: Attr,
        items: &[Item],
        actions: &[Action],
    ) -> Result<u64, FlowError> {
        self.control().create(ctx, attr, items, actions)
    }

    /// Destroys rule `id` of port `owner`; once this returns, nothing hits it.
    pub fn destroy(&self, owner: PortRef, id: u64) -> Result<(), FlowError> {
        self.control().destroy(owner, id)
    }

    /// Destroys every rule of port `owner`.
    pub fn flush(&self, owner: PortRef) {
        self.control().flush(owner)
    }

    /// Rule `id`'s hits and bytes since its creation or the last reset, as
    /// the device reports them (its counter cache); refused if it has no
    /// COUNT action.
    pub fn query(&self, owner: PortRef, id: u64, reset: bool) -> Result<(u64, u64), FlowError> {
        self.control().query(owner, id, reset)
    }

    /// Creates an indirect action on port `owner` (COUNT only); returns its
    /// handle (never 0). Rules of any port of the switch may name it.
    pub fn handle_create(&self, owner: PortRef, action: &Action) -> Result<u64, FlowError> {
        self.control().handle_create(owner, action)
    }

    /// Destroys indirect action `h` of port `owner`, once no rule names it.
    pub fn handle_destroy(&self, owner: PortRef, h: u64) -> Result<(), FlowError> {
        self.control().handle_destroy(owner, h)
    }

    /// Indirect COUNT `h`'s hits and bytes, as [`Rules::query`]; it outlives
    /// the rules that counted on it.
    pub fn handle_query(
        &self,
        owner: PortRef,
        h: u64,
        reset: bool,
    ) -> Result<(u64, u64), FlowError> {
        self.control().handle_query(owner, h, reset)
    }

    /// Runs `f` on the meters with the device's time (rte_mtr's ops).
    pub fn meters<T>(&self, f: impl FnOnce(&mut Meters, u64) -> T) -> T {
        let mut s = self.control();
        let now = s.clock.now_ns();
        f(&mut s.meters, now)
    }

    /// Meter `id`'s statistics as the device reports them (the counter
    /// cache's refresh applies) and which it keeps; `clear` starts them again.
    pub fn meter_stats(&self, id: u32, clear: bool) -> Result<(MeterStats, u64), MtrError> {
        self.control().meter_stats(id, clear)
    }

    /// Rules held, both tables together.
    pub fn len(&self) -> usize {
        self.control().records.len()
    }

    /// Rules in the exact-match table.
    pub fn exact_len(&self) -> usize {
        self.control().exact.len()
    }

    /// Indirect actions (COUNT handles) held.
    pub fn indirect_len(&self) -> usize {
        self.control().handles.len()
    }

    /// Whether no rule is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
