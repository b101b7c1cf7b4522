//! The offload decisions against a scripted NIC: promotion after `hold` hot
//! ticks, top-K under a small rule budget, the eviction margin, demotion when
//! cold or idle, back-off after refusals, the change rate limit, header
//! policies, and exact counts through all of it.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use flowlift_dataplane::flow::KeyV4;
use flowlift_dataplane::flowstate::FlowCounters;

use super::*;
use crate::policy::OffloadPolicy;
use crate::{Fate, HwRuleId};

/// The NIC's side, shared with the test.
#[derive(Default)]
struct Nic {
    rules: HashMap<HwRuleId, (HwRule, HwCounters)>,
    next: u64,
    refuse: VecDeque<OffloadError>,
    failing_queries: u32,
    installs: u64,
    /// Counters as a cached device shows them: a query or a removal reads
    /// all but the last `late` packets (100 bytes each); the rest shows once
    /// `finals_ready` (a refresh period later), through `take_final`.
    late: u64,
    /// Removed rules' whole counts, and when (on [`Nic::now_ms`]) each shows.
    retired: HashMap<HwRuleId, (HwCounters, u64)>,
    /// Every retired rule's final count shows now.
    finals_ready: bool,
    /// With `late_ms` > 0, a retired rule's final count shows `late_ms`
    /// after its removal (as a device's counter cache refresh period).
    late_ms: u64,
    /// Real time from here adds to the ticks' time (see [`Nic::now_ms`]).
    started: Option<std::time::Instant>,
    /// Removals to refuse as busy, one each.
    busy_removals: u32,
    /// Counters as mlx5 shows them between its pool fetches: with
    /// `refresh_ticks` > 0, a query answers from `shown`, which takes every
    /// rule's live count once every `refresh_ticks` ticks (a new rule shows
    /// zero until then). Removals read the live count (the final one, as
    /// read a period after the destroy).
    refresh_ticks: u64,
    ticks: u64,
    shown: HashMap<HwRuleId, HwCounters>,
    /// Rules the NIC takes before ENOSPC without saying so at probe (as
    /// mlx5 does not), and installs it takes a tick before EBUSY.
    hidden_capacity: Option<usize>,
    per_tick: Option<u64>,
    this_tick: u64,
    /// The NIC could not make VF 2's meter.
    no_meter: bool,
    /// What VF 2's meter dropped, as a read shows it, and whether reads fail.
    meter_dropped: HwCounters,
    failing_meter_reads: u32,
}

impl Nic {
    /// The flow of `src` sends `n` packets of 100 bytes through its rule, if
    /// it has one; returns whether it had.
    fn hit(&mut self, src: u8, n: u64) -> bool {
        for (rule, c) in self.rules.values_mut() {
            if rule.key == key(src) {
                c.packets += n;
                c.bytes += 100 * n;
                return true;
            }
        }
        false
    }

    /// The device's clock, ms: the ticks' time, plus the real time since
    /// `started` (so that waiting for it at exit ends).
    fn now_ms(&self) -> u64 {
        self.ticks * TICK * 1000 / HZ + self.started.map_or(0, |s| s.elapsed().as_millis() as u64)
    }

    /// Whether retired rule `id`'s final count shows now.
    fn final_shows(&self, due_ms: u64) -> bool {
        self.finals_ready || (self.late_ms > 0 && due_ms <= self.now_ms())
    }

    /// A tick passes on the device: its counter cache refreshes when due.
    fn tick(&mut self) {
        self.ticks += 1;
        self.this_tick = 0;
        if self.refresh_ticks > 0 && self.ticks.is_multiple_of(self.refresh_ticks) {
            self.shown = self.rules.iter().map(|(id, (_, c))| (*id, *c)).collect();
        }
    }
}

struct FakeNic(Rc<RefCell<Nic>>, usize);

impl OffloadBackend for FakeNic {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn probe(&mut self) -> Capabilities {
        Capabilities {
            max_rules: Some(self.1 as u32),
            count: true,
            indirect_count: true,
            meter: true,
            fates: vec![Fate::RepresentedPort],
        }
    }
    fn install(&mut self, rule: &HwRule) -> Result<HwRuleId, OffloadError> {
        let mut nic = self.0.borrow_mut();
        if let Some(e) = nic.refuse.pop_front() {
            return Err(e);
        }
        if nic.rules.len() >= self.1 || nic.hidden_capacity.is_some_and(|c| nic.rules.len() >= c) {
            return Err(OffloadError::NoSpace("full".into()));
        }
        if nic.per_tick.is_some_and(|n| nic.this_tick >= n) {
            return Err(OffloadError::Busy("insertion rate".into()));
        }
        nic.this_tick += 1;
        nic.next += 1;
        nic.installs += 1;
        let id = HwRuleId(nic.next);
        nic.rules.insert(id, (*rule, HwCounters::default()));
        Ok(id)
    }
    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError> {
        let mut nic = self.0.borrow_mut();
        if nic.busy_removals > 0 && nic.rules.contains_key(&id) {
            nic.busy_removals -= 1;
            return Err(OffloadError::Busy("remove".into()));
        }
        let c = nic
            .rules
            .remove(&id)
            .map(|(_, c)| c)
            .ok_or(OffloadError::NoSuchRule(id))?;
        if nic.late == 0 {
            return Ok(c);
        }
        let due = nic.now_ms() + nic.late_ms;
        nic.retired.insert(id, (c, due));
        let late = nic.late.min(c.packets);
        Ok(HwCounters {
            packets: c.packets - late,
            bytes: c.bytes - 100 * late,
        })
    }
    fn final_due_in(&self, id: Option<HwRuleId>) -> Option<std::time::Duration> {
        let nic = self.0.borrow();
        let left = |due: u64| {
            if nic.final_shows(due) || nic.late_ms == 0 {
                // Unknown (`late_ms` 0): as good as now.
                std::time::Duration::ZERO
            } else {
                std::time::Duration::from_millis(due - nic.now_ms())
            }
        };
        match id {
            Some(id) => nic.retired.get(&id).map(|(_, due)| left(*due)),
            None => nic.retired.values().map(|(_, due)| left(*due)).max(),
        }
    }
    fn take_final(&mut self) -> Vec<(HwRuleId, Result<HwCounters, OffloadError>)> {
        let mut nic = self.0.borrow_mut();
        let due: Vec<HwRuleId> = nic
            .retired
            .iter()
            .filter(|(_, (_, due))| nic.final_shows(*due))
            .map(|(id, _)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| nic.retired.remove(&id).map(|(c, _)| (id, Ok(c))))
            .collect()
    }
    fn final_pending(&self, id: HwRuleId) -> bool {
        self.0.borrow().retired.contains_key(&id)
    }
    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        let mut nic = self.0.borrow_mut();
        ids.iter()
            .map(|id| {
                if nic.failing_queries > 0 {
                    nic.failing_queries -= 1;
                    return Err(OffloadError::Busy("query".into()));
                }
                if nic.refresh_ticks > 0 {
                    return if nic.rules.contains_key(id) {
                        Ok(nic.shown.get(id).copied().unwrap_or_default())
                    } else {
                        Err(OffloadError::NoSuchRule(*id))
                    };
                }
                let late = nic.late;
                nic.rules
                    .get(id)
                    .map(|(_, c)| HwCounters {
                        packets: c.packets - late.min(c.packets),
                        bytes: c.bytes - 100 * late.min(c.packets),
                    })
                    .ok_or(OffloadError::NoSuchRule(*id))
            })
            .collect()
    }
    fn installed(&self) -> usize {
        self.0.borrow().rules.len()
    }
    fn counter_refresh(&self) -> std::time::Duration {
        let ticks = self.0.borrow().refresh_ticks;
        std::time::Duration::from_millis(ticks * TICK * 1000 / HZ)
    }
    fn flush_stale(&mut self) -> Result<(), OffloadError> {
        Ok(())
    }
    fn meter_ready(&self, meter: u32) -> bool {
        meter == 2 && !self.0.borrow().no_meter
    }
    fn meter_drops(&mut self) -> Vec<(u32, Result<HwCounters, OffloadError>)> {
        let mut nic = self.0.borrow_mut();
        if nic.no_meter {
            return Vec::new();
        }
        if nic.failing_meter_reads > 0 {
            nic.failing_meter_reads -= 1;
            return vec![(2, Err(OffloadError::DeviceGone("stats".into())))];
        }
        vec![(2, Ok(nic.meter_dropped))]
    }
}

fn key(src: u8) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src: [10, 0, 0, src],
        dst: [192, 168, 0, 1],
        sport: 1000,
        dport: 5001,
        vlan: flowlift_dataplane::flow::NO_VLAN,
        proto: 17,
        in_port: 0,
    })
}

/// Ticks are 100 clock units on a 1000 Hz clock: 0.1 s.
const HZ: u64 = 1000;
const TICK: u64 = 100;

struct Rig {
    nic: Rc<RefCell<Nic>>,
    off: Offloader,
    flows: FlowTracker,
    sw: Vec<Arc<FlowCounters>>,
    now: u64,
}

fn params() -> OffloadParams {
    OffloadParams {
        max_rules: 1000,
        promote_pps: 1000.0,
        demote_pps: 100.0,
        hold: 2,
        ewma_alpha: 1.0,
        evict_margin: 1.5,
        changes_per_sec: 1e6,
        backoff_ticks: 4,
        idle_tsc: 0,
    }
}

fn rig(capacity: usize, params: OffloadParams, policies: Vec<OffloadPolicy>) -> Rig {
    cached_rig(capacity, params, policies, 0)
}

/// A rig whose NIC's counters refresh every `refresh_ticks` ticks.
fn cached_rig(
    capacity: usize,
    params: OffloadParams,
    policies: Vec<OffloadPolicy>,
    refresh_ticks: u64,
) -> Rig {
    let nic = Rc::new(RefCell::new(Nic {
        refresh_ticks,
        ..Nic::default()
    }));
    let ports = PortPlan {
        hw_port: vec![0, 1, 2],
        nic_in: vec![true, false, false],
        metered: vec![false, false, true],
    };
    let off = Offloader::start(
        Box::new(FakeNic(Rc::clone(&nic), capacity)),
        params,
        policies,
        ports,
        0,
        HZ,
    )
    .unwrap();
    Rig {
        nic,
        off,
        flows: FlowTracker::new(),
        sw: vec![Arc::new(FlowCounters::new(64))],
        now: 0,
    }
}

impl Rig {
    /// Flow `src` (flow id `src`) appears, forwarded to VF `out`.
    fn add(&mut self, src: u8, out: u16) {
        let k = key(src);
        let choice = self.off.choose(&k);
        self.flows.on_new(
            0,
            FlowId(u32::from(src)),
            k,
            FlowAction::Forward(PortIdx(out)),
            FlowOffload::new(choice),
        );
        self.sw[0]
            .get(FlowId(u32::from(src)))
            .unwrap()
            .reset(self.now);
    }

    /// Flow `src` sends `n` packets of 100 bytes during the next tick, through
    /// its rule if it has one, else through the worker.
    fn send(&mut self, src: u8, n: u64) {
        if !self.nic.borrow_mut().hit(src, n) {
            let c = self.sw[0].get(FlowId(u32::from(src))).unwrap();
            for _ in 0..n {
                c.count(100, self.now + 1);
            }
        }
    }

    fn tick(&mut self) {
        self.now += TICK;
        self.nic.borrow_mut().tick();
        self.off.tick(&mut self.flows, &self.sw, self.now);
    }

    fn state(&mut self, src: u8) -> OffloadState {
        self.flows
            .get_mut((0, FlowId(u32::from(src))))
            .unwrap()
            .off
            .state
    }

    fn offloaded(&mut self) -> Vec<u8> {
        let mut v: Vec<u8> = (0..64u8)
            .filter(|&s| {
                self.flows
                    .get_mut((0, FlowId(u32::from(s))))
                    .is_some_and(|f| matches!(f.off.state, OffloadState::Offloaded(_)))
            })
            .collect();
        v.sort();
        v
    }

    /// Flow `src` ends (it leaves the tracker): what becomes of its record.
    fn end(&mut self, src: u8) -> EndedOffload {
        let off = self.flows.on_ended(0, FlowId(u32::from(src))).unwrap().off;
        self.off.release_ended((0, FlowId(u32::from(src))), off)
    }

    /// The packets flow `src`'s worker counted.
    fn sw(&self, src: u8) -> u64 {
        self.sw[0]
            .get(FlowId(u32::from(src)))
            .unwrap()
            .snapshot()
            .packets
    }

    /// A flow's packets on all paths: sw + folded + current.
    fn total(&mut self, src: u8) -> u64 {
        let sw = self.sw[0]
            .get(FlowId(u32::from(src)))
            .unwrap()
            .snapshot()
            .packets;
        sw + self
            .flows
            .get_mut((0, FlowId(u32::from(src))))
            .unwrap()
            .off
            .hw_total()
            .packets
    }
}

#[test]
fn a_flow_hot_for_hold_ticks_is_promoted_a_cool_one_is_not() {
    let mut r = rig(100, params(), vec![]);
    r.add(1, 1);
    r.add(2, 1);
    r.send(1, 200); // 2000 pps
    r.send(2, 50); // 500 pps
    r.tick();
    assert_eq!(
        r.state(1),
        OffloadState::Onloaded,
        "one hot tick is not enough"
    );
    r.send(1, 200);
    r.send(2, 50);
    r.tick();
    assert!(matches!(r.state(1), OffloadState::Offloaded(_)));
    assert_eq!(r.state(2), OffloadState::Onloaded);
    let rule = r.nic.borrow().rules.values().next().unwrap().0;
    assert_eq!((rule.in_port, rule.out_port, rule.meter), (0, 1, None));
}

#[test]
fn with_few_rules_the_hottest_flows_get_them() {
    let mut r = rig(2, params(), vec![]);
    for s in 1..=4 {
        r.add(s, 1);
    }
    for _ in 0..2 {
        for s in 1..=4 {
            r.send(s, 100 * u64::from(s)); // 1000..4000 pps
        }
        r.tick();
    }
    assert_eq!(r.offloaded(), vec![3, 4]);
}

#[test]
fn a_newcomer_takes_a_rule_only_when_hotter_by_the_margin() {
    let mut r = rig(1, params(), vec![]);
    r.add(1, 1);
    r.add(2, 1);
    for _ in 0..2 {
        r.send(1, 200);
        r.tick();
    }
    assert_eq!(r.offloaded(), vec![1]);
    // Flow 2 at 1.25x: not enough; the rule stays, tick after tick.
    for _ in 0..5 {
        r.send(1, 200);
        r.send(2, 250);
        r.tick();
        assert_eq!(r.offloaded(), vec![1]);
    }
    // At 2x it takes the rule.
    for _ in 0..2 {
        r.send(1, 200);
        r.send(2, 400);
        r.tick();
    }
    assert_eq!(r.offloaded(), vec![2]);
    assert_eq!(r.off.stats().demotions[2], 1, "one eviction");
    assert_eq!(r.state(1), OffloadState::Onloaded);
}

#[test]
fn cold_flows_are_demoted_and_every_packet_is_counted_once() {
    let mut r = rig(10, params(), vec![]);
    r.add(1, 1);
    let mut sent = 0;
    for n in [200, 200, 200, 200, 5, 5, 5, 200, 200, 200, 1, 1, 1] {
        r.send(1, n);
        sent += n;
        r.tick();
        assert_eq!(r.total(1), sent, "after {sent} packets");
    }
    let f = r.flows.get_mut((0, FlowId(1))).unwrap().off;
    assert_eq!(f.offloads, 2);
    assert_eq!(f.state, OffloadState::Onloaded);
    assert_eq!(r.off.stats().demotions[0], 2, "demoted cold twice");
    assert!(f.hw_folded.packets > 0);
}

#[test]
fn an_idle_offloaded_flow_is_demoted() {
    let mut p = params();
    p.idle_tsc = 3 * TICK;
    // A slow EWMA: the rate decays but does not reach the demotion rate.
    p.promote_pps = 100.0;
    p.demote_pps = 0.0;
    p.ewma_alpha = 0.1;
    p.hold = 1;
    let mut r = rig(10, p, vec![]);
    r.add(1, 1);
    r.send(1, 200);
    r.tick();
    assert!(matches!(r.state(1), OffloadState::Offloaded(_)));
    r.send(1, 1);
    r.tick();
    r.tick();
    r.tick();
    assert!(
        matches!(r.state(1), OffloadState::Offloaded(_)),
        "idle 2 ticks"
    );
    r.tick();
    r.tick();
    assert_eq!(r.state(1), OffloadState::Onloaded);
    assert_eq!(r.off.stats().demotions[1], 1);
    assert_eq!(r.total(1), 201);
}

#[test]
fn refusals_keep_the_flow_onloaded_with_the_reason_and_back_off() {
    let mut r = rig(10, params(), vec![]);
    r.nic.borrow_mut().refuse.extend([
        OffloadError::Busy("b".into()),
        OffloadError::NoSpace("n".into()),
    ]);
    r.add(1, 1);
    let mut tries = Vec::new();
    for t in 0..20 {
        r.send(1, 200);
        let before = r.off.stats().installs + OffloadStats::total(&r.off.stats().install_failures);
        r.tick();
        let after = r.off.stats().installs + OffloadStats::total(&r.off.stats().install_failures);
        if after > before {
            tries.push(t);
        }
        if matches!(r.state(1), OffloadState::Offloaded(_)) {
            break;
        }
    }
    // Tick 1 (hot twice) fails busy: back-off 4 ticks. Tick 5 fails for
    // space with no rule on the NIC: the engine's budget is 0 until a quiet
    // back-off (ticks 6-9) grows it to one; the flow itself waits no more.
    assert_eq!(tries, vec![1, 5, 10]);
    let f = r.flows.get_mut((0, FlowId(1))).unwrap().off;
    assert_eq!(f.last_failure, Some("no_space"));
    assert_eq!(r.off.stats().install_failures.get("busy"), Some(&1));
    assert_eq!(r.off.stats().install_failures.get("no_space"), Some(&1));
    assert_eq!(r.total(1), 11 * 200);
}

#[test]
fn rule_changes_keep_to_the_rate_limit() {
    let mut p = params();
    p.changes_per_sec = 20.0; // two per 0.1 s tick
    let mut r = rig(100, p, vec![]);
    for s in 1..=10 {
        r.add(s, 1);
    }
    let mut per_tick = Vec::new();
    for _ in 0..6 {
        for s in 1..=10 {
            r.send(s, 200);
        }
        let before = r.nic.borrow().installs;
        r.tick();
        per_tick.push(r.nic.borrow().installs - before);
    }
    assert!(per_tick.iter().all(|&n| n <= 2), "{per_tick:?}");
    // Hot from the second tick: two installs a tick from then on.
    assert_eq!(per_tick, vec![0, 2, 2, 2, 2, 2]);
}

#[test]
fn header_policies_force_or_forbid_offload() {
    let always = OffloadPolicy {
        matches: flowlift_dataplane::policy::Rule {
            src: Some("10.0.0.1/32".parse().unwrap()),
            ..Default::default()
        },
        choice: OffloadChoice::Always,
    };
    let never = OffloadPolicy {
        matches: flowlift_dataplane::policy::Rule {
            src: Some("10.0.0.2/32".parse().unwrap()),
            ..Default::default()
        },
        choice: OffloadChoice::Never,
    };
    let mut r = rig(10, params(), vec![always, never]);
    r.add(1, 2);
    r.add(2, 1);
    r.send(2, 500);
    r.tick();
    assert!(
        matches!(r.state(1), OffloadState::Offloaded(_)),
        "always, at once"
    );
    for _ in 0..5 {
        r.send(2, 500);
        r.tick();
    }
    assert_eq!(r.state(2), OffloadState::Onloaded, "never");
    let rule = r.nic.borrow().rules.values().next().unwrap().0;
    assert_eq!(
        rule.meter,
        Some(2),
        "VF 2 is metered: its meter goes on the rule"
    );
    // An always flow is not demoted for being cold.
    for _ in 0..5 {
        r.tick();
    }
    assert!(matches!(r.state(1), OffloadState::Offloaded(_)));
}

#[test]
fn failed_queries_leave_the_count_to_the_removal() {
    let mut r = rig(10, params(), vec![]);
    r.add(1, 1);
    for _ in 0..2 {
        r.send(1, 200);
        r.tick();
    }
    r.nic.borrow_mut().failing_queries = 3;
    for _ in 0..3 {
        r.send(1, 200);
        r.tick();
    }
    assert_eq!(r.off.stats().query_failures.get("busy"), Some(&3));
    r.off.release_all(&mut r.flows);
    assert_eq!(r.total(1), 1000);
    assert_eq!(r.off.rules_installed(), 0);
}

#[test]
fn flows_the_nic_cannot_carry_stay_onloaded() {
    let mut r = rig(10, params(), vec![]);
    let k = key(9);
    r.flows.on_new(
        0,
        FlowId(9),
        k,
        FlowAction::Flood,
        FlowOffload::new(OffloadChoice::Auto),
    );
    for _ in 0..3 {
        r.send(9, 500);
        r.tick();
    }
    assert_eq!(r.state(9), OffloadState::Onloaded);
    assert_eq!(r.nic.borrow().installs, 0);
}

/// Flows 1..=7 each send 100 + 10 * src packets a tick (1100..1700 pps, the
/// coldest first), through their rules once they have them; `sent` keeps
/// what each sent.
fn seven_flows_round(r: &mut Rig, sent: &mut [u64; 8]) {
    for s in 1..=7u8 {
        let n = 100 + 10 * u64::from(s);
        r.send(s, n);
        sent[usize::from(s)] += n;
    }
    r.tick();
}

fn every_packet_counted(r: &mut Rig, sent: &[u64; 8]) {
    for s in 1..=7u8 {
        assert_eq!(r.total(s), sent[usize::from(s)], "flow {s}");
    }
}

#[test]
fn a_budget_lowered_below_the_rules_in_use_is_kept_at_the_next_tick() {
    let mut r = rig(100, params(), vec![]);
    for s in 1..=7 {
        r.add(s, 1);
    }
    let mut sent = [0; 8];
    for _ in 0..2 {
        seven_flows_round(&mut r, &mut sent);
    }
    assert_eq!(r.offloaded(), vec![1, 2, 3, 4, 5, 6, 7]);
    // Lowered behind the engine's back (as `set offload` once did): the next
    // tick still ends within it, the coldest gone.
    r.off.params_mut().max_rules = 4;
    seven_flows_round(&mut r, &mut sent);
    assert_eq!(r.off.rules_installed(), 4);
    assert_eq!(r.offloaded(), vec![4, 5, 6, 7]);
    every_packet_counted(&mut r, &sent);
}

#[test]
fn set_max_rules_demotes_the_surplus_coldest_first_and_counts_every_packet() {
    let always = OffloadPolicy {
        matches: flowlift_dataplane::policy::Rule {
            src: Some("10.0.0.1/32".parse().unwrap()),
            ..Default::default()
        },
        choice: OffloadChoice::Always,
    };
    let mut r = rig(100, params(), vec![always]);
    for s in 1..=7 {
        r.add(s, 1);
    }
    let mut sent = [0; 8];
    for _ in 0..2 {
        seven_flows_round(&mut r, &mut sent);
    }
    assert_eq!(r.offloaded(), vec![1, 2, 3, 4, 5, 6, 7]);
    // Flow 1 is the coldest but a policy put it there: the rates' coldest go.
    assert_eq!(r.off.set_max_rules(&mut r.flows, 4), 3);
    for s in [2, 3, 4] {
        assert!(
            matches!(r.state(s), OffloadState::Onloading(_)),
            "flow {s} demoted at once"
        );
    }
    seven_flows_round(&mut r, &mut sent);
    assert_eq!(r.off.rules_installed(), 4, "the rules came off at the tick");
    assert_eq!(r.offloaded(), vec![1, 5, 6, 7]);
    assert_eq!(r.off.stats().demotions[3], 3, "requested");
    every_packet_counted(&mut r, &sent);
    // Down to none: the policy's flow goes too, and nothing comes back.
    assert_eq!(r.off.set_max_rules(&mut r.flows, 0), 4);
    for _ in 0..3 {
        seven_flows_round(&mut r, &mut sent);
    }
    assert_eq!(r.off.rules_installed(), 0);
    assert!(r.offloaded().is_empty());
    every_packet_counted(&mut r, &sent);
    // Raising it again: at most that many come back.
    assert_eq!(r.off.set_max_rules(&mut r.flows, 2), 0);
    for _ in 0..3 {
        seven_flows_round(&mut r, &mut sent);
    }
    assert_eq!(r.off.rules_installed(), 2);
    every_packet_counted(&mut r, &sent);
}

#[test]
fn flow_offload_names_the_flow_it_demoted_to_make_room() {
    let mut p = params();
    p.max_rules = 2;
    let mut r = rig(100, p, vec![]);
    for s in 1..=4 {
        r.add(s, 1);
    }
    for _ in 0..2 {
        r.send(1, 150);
        r.send(2, 120); // the colder of the two
        r.send(3, 1);
        r.send(4, 1);
        r.tick();
    }
    assert_eq!(r.offloaded(), vec![1, 2]);
    let done = r.off.offload_now(&mut r.flows, (0, FlowId(3)), r.now);
    assert!(done.result.is_ok(), "{done:?}");
    assert_eq!(done.evicted, Some((0, FlowId(2))));
    assert_eq!(r.offloaded(), vec![1, 3]);
    // An install that then fails still reports the flow that made room.
    r.nic
        .borrow_mut()
        .refuse
        .push_back(OffloadError::Busy("b".into()));
    let done = r.off.offload_now(&mut r.flows, (0, FlowId(4)), r.now);
    assert!(done.result.is_err(), "{done:?}");
    assert_eq!(done.evicted, Some((0, FlowId(1))));
    // Nothing to demote: none named.
    let done = r.off.offload_now(&mut r.flows, (0, FlowId(9)), r.now);
    assert_eq!(done.result, Err("no such flow".to_string()));
    assert_eq!(done.evicted, None);
}

#[test]
fn final_counts_a_cached_nic_shows_late_are_folded_in_when_they_show() {
    let mut r = rig(10, params(), vec![]);
    r.nic.borrow_mut().late = 3;
    r.add(1, 1);
    let mut sent = 0;
    for n in [200, 200, 200, 200] {
        r.send(1, n);
        sent += n;
        r.tick();
    }
    assert!(matches!(r.state(1), OffloadState::Offloaded(_)));
    // Cold: demoted, and the removal's reading misses the last 3 packets.
    for _ in 0..3 {
        r.send(1, 1);
        sent += 1;
        r.tick();
    }
    assert_eq!(r.state(1), OffloadState::Onloaded);
    assert_eq!(r.total(1), sent - 3, "the cache has not shown them yet");
    assert_eq!(r.off.finals_pending(), 1);
    r.nic.borrow_mut().finals_ready = true;
    r.tick();
    assert_eq!(r.total(1), sent, "folded in at the next tick");
    assert_eq!(r.off.finals_pending(), 0);
    let f = r.flows.get_mut((0, FlowId(1))).unwrap().off;
    assert_eq!(f.hw_folded.bytes, 100 * f.hw_folded.packets);
}

/// The demotions so far, by reason: cold, idle, evicted, requested.
fn demotions(r: &Rig) -> [u64; 4] {
    r.off.stats().demotions
}

#[test]
fn with_cached_counters_hot_flows_stay_offloaded_and_colder_ones_do_not_evict_them() {
    // mlx5's cache at 100 ms ticks: a reading moves once every 10 ticks.
    let mut r = cached_rig(2, params(), vec![], 10);
    for s in 1..=3 {
        r.add(s, 1);
    }
    // 3000 and 2500 pps offloaded; 1500 pps, hot but colder, onloaded.
    let rates = [(1u8, 300u64), (2, 250), (3, 150)];
    let mut sent = [0u64; 4];
    for t in 1..=60 {
        for (s, n) in rates {
            r.send(s, n);
            sent[usize::from(s)] += n;
        }
        r.tick();
        if t >= 2 {
            assert_eq!(r.offloaded(), vec![1, 2], "tick {t}");
        }
    }
    assert_eq!(r.nic.borrow().installs, 2, "each put on the NIC once");
    assert_eq!(demotions(&r), [0; 4], "no cold demotion, no eviction");
    // Their rates come from readings a refresh period apart: right, not zero.
    for (s, n) in [(1u8, 300u64), (2, 250)] {
        let rate = r
            .flows
            .get_mut((0, FlowId(u32::from(s))))
            .unwrap()
            .off
            .rate_pps;
        let want = (n * HZ / TICK) as f64;
        assert!((rate - want).abs() < want * 0.05, "flow {s}: {rate} pps");
    }
    r.off.release_all(&mut r.flows);
    for s in 1..=3u8 {
        assert_eq!(r.total(s), sent[usize::from(s)], "flow {s}");
    }
}

#[test]
fn with_cached_counters_a_flow_that_stops_is_still_demoted_cold() {
    let refresh = 10;
    let mut r = cached_rig(10, params(), vec![], refresh);
    r.add(1, 1);
    let mut sent = 0;
    for _ in 0..25 {
        r.send(1, 300);
        sent += 300;
        r.tick();
    }
    assert!(matches!(r.state(1), OffloadState::Offloaded(_)));
    assert_eq!(r.nic.borrow().installs, 1, "put on the NIC once");
    // It stops. Its last packets show at the next refresh (tick 30); only a
    // whole period after that reading (plus a tick) is its standing still
    // news, and `hold` cold readings later it is demoted.
    let mut demoted_after = None;
    for t in 1..=3 * refresh {
        r.tick();
        if r.state(1) == OffloadState::Onloaded {
            demoted_after = Some(t);
            break;
        }
    }
    let t = demoted_after.expect("demoted");
    assert!(t > refresh, "not before a refresh period: after {t} ticks");
    assert!(
        t <= 2 * refresh + 1 + u64::from(params().hold),
        "at most two periods and the hold: after {t} ticks"
    );
    assert_eq!(demotions(&r), [1, 0, 0, 0], "cold");
    assert_eq!(r.total(1), sent);
}

#[test]
fn with_cached_counters_idle_expiry_allows_for_the_refresh_period() {
    let refresh = 10;
    let mut p = params();
    // Idle after 3 ticks without a packet: far less than the refresh period.
    p.idle_tsc = 3 * TICK;
    // A slow EWMA that never reaches the demotion rate: only idleness demotes.
    p.promote_pps = 100.0;
    p.demote_pps = 0.0;
    p.ewma_alpha = 0.1;
    p.hold = 1;
    let mut r = cached_rig(10, p, vec![], refresh);
    r.add(1, 1);
    let mut sent = 0;
    for t in 1..=45 {
        r.send(1, 300);
        sent += 300;
        r.tick();
        if t >= 2 {
            assert!(
                matches!(r.state(1), OffloadState::Offloaded(_)),
                "sending, yet demoted at tick {t}: {:?}",
                demotions(&r)
            );
        }
    }
    // It stops: idle once no reading has moved for the idle time plus a
    // refresh period.
    let mut demoted_after = None;
    for t in 1..=4 * refresh {
        r.tick();
        if r.state(1) == OffloadState::Onloaded {
            demoted_after = Some(t);
            break;
        }
    }
    let t = demoted_after.expect("demoted");
    assert!(t > 3, "not before the idle time: after {t} ticks");
    assert!(t <= 2 * refresh + 3 + 1, "after {t} ticks");
    assert_eq!(demotions(&r), [0, 1, 0, 0], "idle");
    assert_eq!(r.total(1), sent);
}

/// Installs attempted (made or refused) in the last tick.
fn attempts(r: &Rig) -> u64 {
    r.off.stats().installs + OffloadStats::total(&r.off.stats().install_failures)
}

#[test]
fn after_enospc_the_engine_keeps_to_what_the_nic_held_and_evicts_for_hotter_flows() {
    // max_rules 1000, but the NIC holds 5 and does not say so at probe.
    let mut r = rig(1000, params(), vec![]);
    r.nic.borrow_mut().hidden_capacity = Some(5);
    for s in 1..=20 {
        r.add(s, 1);
    }
    let mut refused = Vec::new();
    for t in 0..12u64 {
        for s in 1..=20u8 {
            // Flows 1..5 are the hottest at first; 16..20 turn much hotter
            // from tick 6 on.
            let n = if s > 15 && t >= 6 {
                2000
            } else {
                300 - u64::from(s)
            };
            r.send(s, n);
        }
        let before = r
            .off
            .stats()
            .install_failures
            .get("no_space")
            .copied()
            .unwrap_or(0);
        r.tick();
        let after = r
            .off
            .stats()
            .install_failures
            .get("no_space")
            .copied()
            .unwrap_or(0);
        refused.push(after - before);
    }
    assert_eq!(r.off.limits().capacity(), Some(5), "{refused:?}");
    assert_eq!(r.off.rule_budget(), 5);
    // One tick of refusals (the batch past the fifth rule), then a single
    // try past the budget once a back-off (4 ticks): the engine does not
    // hammer a full NIC every tick, and finds out when it has room again.
    assert_eq!(refused[1], 15, "{refused:?}");
    assert!(refused[2..].iter().all(|&n| n <= 1), "{refused:?}");
    assert!(refused[2..].iter().sum::<u64>() <= 3, "{refused:?}");
    // The hotter flows took the rules, by eviction.
    assert_eq!(r.offloaded(), vec![16, 17, 18, 19, 20]);
    assert_eq!(demotions(&r)[DemoteReason::Evicted as usize], 5);
}

#[test]
fn ebusy_slows_the_engine_s_insertions_and_the_rate_comes_back() {
    let mut p = params();
    p.changes_per_sec = 100.0; // ten per 0.1 s tick
    let mut r = rig(1000, p, vec![]);
    r.nic.borrow_mut().per_tick = Some(2);
    for s in 1..=60 {
        r.add(s, 1);
    }
    let mut per_tick = Vec::new();
    for _ in 0..8 {
        for s in 1..=60 {
            r.send(s, 200);
        }
        let before = attempts(&r);
        r.tick();
        per_tick.push(attempts(&r) - before);
    }
    // Hot from the second tick: 10 tries, 2 taken; then 5, 2 (1.25 rounds
    // to one and a bit), ... the engine backs off towards what the NIC takes.
    assert_eq!(per_tick[1], 10, "{per_tick:?}");
    assert!(per_tick[2] <= 5 && per_tick[3] <= 3, "{per_tick:?}");
    assert!(r.off.change_rate() < 100.0);
    // Without refusals the rate comes back.
    r.nic.borrow_mut().per_tick = None;
    for _ in 0..20 {
        r.tick();
    }
    assert_eq!(r.off.change_rate(), 100.0);
}

/// A writer into a shared buffer, to read what the engine logged.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    /// Runs `f` with this buffer taking the log (this thread only).
    fn during<T>(&self, f: impl FnOnce() -> T) -> T {
        let out = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f)
    }

    fn lines_with(&self, text: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(text))
            .count()
    }
}

#[test]
fn an_insertion_back_off_is_logged_once_as_it_starts_and_once_as_it_ends() {
    let log = LogBuf::default();
    log.during(|| {
        let mut p = params();
        p.changes_per_sec = 100.0;
        let mut r = rig(1000, p, vec![]);
        r.nic.borrow_mut().per_tick = Some(2);
        for s in 1..=60 {
            r.add(s, 1);
        }
        // EBUSY tick after tick: the rate halves, and recovers a little
        // between refusals, many times; one episode.
        for _ in 0..8 {
            for s in 1..=60 {
                r.send(s, 200);
            }
            r.tick();
        }
        assert_eq!(log.lines_with("insertion back-off started"), 1);
        assert_eq!(log.lines_with("insertion back-off ended"), 0);
        r.nic.borrow_mut().per_tick = None;
        // Full again (a sixteenth a tick), but not yet for a second.
        let mut ticks = 0;
        while r.off.change_rate() < 100.0 {
            r.tick();
            ticks += 1;
            assert!(ticks < 100, "the rate comes back");
        }
        for _ in 0..9 {
            r.tick();
        }
        assert_eq!(
            log.lines_with("insertion back-off ended"),
            0,
            "not yet a second"
        );
        r.tick();
        r.tick();
        assert_eq!(log.lines_with("insertion back-off ended"), 1);
        for _ in 0..20 {
            r.tick();
        }
        assert_eq!(log.lines_with("insertion back-off"), 2, "said once each");
    });
}

#[test]
fn flows_to_a_vf_the_nic_cannot_meter_stay_on_the_workers_said_once() {
    let mut r = rig(10, params(), vec![]);
    r.nic.borrow_mut().no_meter = true;
    r.add(1, 2); // to the metered VF
    r.add(2, 1);
    for _ in 0..6 {
        r.send(1, 500);
        r.send(2, 500);
        r.tick();
    }
    assert_eq!(
        r.state(1),
        OffloadState::Onloaded,
        "never on the NIC unmetered"
    );
    assert!(matches!(r.state(2), OffloadState::Offloaded(_)));
    assert!(
        r.nic
            .borrow()
            .rules
            .values()
            .all(|(rule, _)| rule.meter.is_none()),
        "no rule to the metered VF was even tried"
    );
    assert_eq!(
        r.off.stats().kept_unmetered,
        1,
        "counted once, not per tick"
    );
    assert_eq!(r.off.stats().installs, 1);
    let f = r.flows.get_mut((0, FlowId(1))).unwrap();
    assert_eq!(
        f.off.last_failure,
        Some(NO_METER),
        "the flow's record says why"
    );
    let refused = r.off.offload_now(&mut r.flows, (0, FlowId(1)), r.now);
    assert!(
        refused
            .result
            .as_ref()
            .is_err_and(|e| e.contains("no meter")),
        "{refused:?}"
    );
    assert_eq!(r.total(1), 3000, "its packets all counted by the worker");
}

#[test]
fn the_nic_meters_drops_are_read_each_tick_and_once_more_at_release() {
    let mut r = rig(10, params(), vec![]);
    r.add(1, 2);
    r.send(1, 500);
    r.tick();
    assert!(r.off.meter_drops().get(&2).is_some_and(|d| d.packets == 0));
    r.nic.borrow_mut().meter_dropped = HwCounters {
        packets: 5,
        bytes: 500,
    };
    r.tick();
    assert_eq!(r.off.meter_drops()[&2].packets, 5);
    // A failed read keeps the last good one, and is counted.
    r.nic.borrow_mut().meter_dropped.packets = 7;
    r.nic.borrow_mut().failing_meter_reads = 1;
    r.tick();
    assert_eq!(r.off.meter_drops()[&2].packets, 5);
    assert_eq!(
        r.off.stats().meter_read_failures.get("device_gone"),
        Some(&1)
    );
    // The last read comes after every rule is gone, failures retried.
    r.nic.borrow_mut().meter_dropped.packets = 9;
    r.nic.borrow_mut().failing_meter_reads = 2;
    r.off.release_all(&mut r.flows);
    assert_eq!(r.off.meter_drops()[&2].packets, 9);
    assert_eq!(
        r.off.stats().meter_read_failures.get("device_gone"),
        Some(&3)
    );
}

/// A rig whose NIC shows a removed rule's last `late` packets only
/// `late_ms` after its removal (a counter cache's refresh period), on a
/// clock that ticks advance by 100 ms and real time by itself.
fn late_rig(capacity: usize, late: u64, late_ms: u64) -> Rig {
    let r = rig(capacity, params(), vec![]);
    {
        let mut nic = r.nic.borrow_mut();
        nic.late = late;
        nic.late_ms = late_ms;
        nic.started = Some(std::time::Instant::now());
    }
    r
}

/// Flows `srcs` send 200 packets a tick until the NIC carries them all;
/// `sent` keeps what each sent.
fn offload_all(r: &mut Rig, srcs: &[u8], sent: &mut [u64]) {
    for &s in srcs {
        r.add(s, 1);
    }
    for _ in 0..3 {
        for &s in srcs {
            r.send(s, 200);
            sent[usize::from(s)] += 200;
        }
        r.tick();
    }
    for &s in srcs {
        assert!(matches!(r.state(s), OffloadState::Offloaded(_)), "flow {s}");
    }
}

/// The ticket of a record set aside, and what the NIC had counted then.
fn awaiting(e: EndedOffload) -> (EndTicket, HwCounters) {
    match e {
        EndedOffload::Awaiting { ticket, so_far } => (ticket, so_far),
        EndedOffload::Whole(off) => panic!("whole at once: {off:?}"),
    }
}

#[test]
fn a_flow_ending_with_its_final_count_due_later_does_not_hold_up_the_control_loop() {
    // The final count shows 2 s after the removal (20 ticks): the old engine
    // slept that long inside the flow's end.
    let mut r = late_rig(10, 3, 2000);
    let mut sent = [0u64; 3];
    offload_all(&mut r, &[1, 2], &mut sent);
    let started = std::time::Instant::now();
    let (ticket, so_far) = awaiting(r.end(1));
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "the flow's end took {:?}",
        started.elapsed()
    );
    assert_eq!(r.off.rules_installed(), 1, "its rule is off at once");
    assert_eq!(
        r.sw(1) + so_far.packets,
        sent[1] - 3,
        "what the NIC showed at the removal"
    );
    // Ten ticks (1 s): not due; nothing handed over, and no tick waits.
    let started = std::time::Instant::now();
    for _ in 0..10 {
        r.send(2, 200);
        sent[2] += 200;
        r.tick();
        assert!(r.off.take_settled().is_empty(), "not whole yet");
        assert_eq!(r.off.ended_waiting(), 1);
        assert_eq!(r.off.stats().ended_waiting, 1);
        assert_eq!(r.off.stats().finals_pending, 1);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "ten ticks took {:?}",
        started.elapsed()
    );
    // The tick that finds the final count hands the record over, once.
    let mut got = Vec::new();
    for _ in 0..15 {
        r.send(2, 200);
        sent[2] += 200;
        r.tick();
        got.extend(r.off.take_settled());
    }
    assert_eq!(got.len(), 1, "handed over once: {got:?}");
    let (t, record) = got[0];
    assert_eq!(t, ticket);
    assert_eq!(r.sw(1) + record.hw_total().packets, sent[1], "exact");
    assert_eq!(
        record.hw_total().bytes,
        100 * record.hw_total().packets,
        "bytes too"
    );
    assert_eq!(record.state, OffloadState::Onloaded);
    assert_eq!((r.off.ended_waiting(), r.off.finals_pending()), (0, 0));
    assert_eq!(r.off.stats().ended_waiting, 0);
    // Its last 3 packets show only in its rule's final count.
    assert_eq!(r.total(2), sent[2] - 3, "the live flow's count is its own");
}

#[test]
fn an_ended_flow_waits_for_the_final_counts_of_rules_removed_before_it_ended() {
    let mut r = late_rig(10, 3, 500);
    let mut sent = [0u64; 3];
    offload_all(&mut r, &[1, 2], &mut sent);
    // Flow 1 turns cold and is demoted: its rule goes, its final count to
    // show 5 ticks later; it sends a little on the workers, and ends.
    for _ in 0..3 {
        r.send(1, 1);
        sent[1] += 1;
        r.send(2, 200);
        sent[2] += 200;
        r.tick();
    }
    assert_eq!(r.state(1), OffloadState::Onloaded);
    assert_eq!(r.off.finals_pending(), 1);
    r.send(1, 4);
    sent[1] += 4;
    let (ticket, _) = awaiting(r.end(1));
    // Flow 2 is demoted meanwhile: its final count goes to it, not to the
    // ended flow's record.
    let mut got = Vec::new();
    for _ in 0..10 {
        r.send(2, 1);
        sent[2] += 1;
        r.tick();
        got.extend(r.off.take_settled());
    }
    assert_eq!(r.state(2), OffloadState::Onloaded);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, ticket);
    assert_eq!(r.sw(1) + got[0].1.hw_total().packets, sent[1]);
    r.nic.borrow_mut().late_ms = 1;
    for _ in 0..2 {
        r.tick();
    }
    assert_eq!(r.total(2), sent[2]);
    assert!(r.off.take_settled().is_empty(), "once");
}

#[test]
fn a_rule_the_nic_refuses_to_remove_at_a_flow_s_end_is_asked_again_at_later_ticks() {
    // Live counters (no late final): only the refusals keep the record.
    let mut r = late_rig(10, 0, 0);
    let mut sent = [0u64; 2];
    offload_all(&mut r, &[1], &mut sent);
    r.nic.borrow_mut().busy_removals = 3;
    let started = std::time::Instant::now();
    awaiting(r.end(1));
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    // The rule still carries the flow's packets: they are its to count.
    r.nic.borrow_mut().hit(1, 7);
    sent[1] += 7;
    let busy = |r: &Rig| r.off.stats().removal_failures.get("busy").copied();
    let mut asked_at = Vec::new();
    let mut got = Vec::new();
    for t in 1..=10 {
        let before = busy(&r);
        let rules = r.off.rules_installed();
        r.tick();
        if busy(&r) != before || r.off.rules_installed() != rules {
            asked_at.push(t);
        }
        got.extend(r.off.take_settled());
    }
    // Refused at the end and at ticks 1 and 3; removed at tick 7: the
    // wait doubles.
    assert_eq!(asked_at, vec![1, 3, 7]);
    assert_eq!(busy(&r), Some(3));
    assert_eq!(r.off.rules_installed(), 0);
    assert_eq!(got.len(), 1);
    assert_eq!(r.sw(1) + got[0].1.hw_total().packets, sent[1]);
}

#[test]
fn at_exit_the_last_final_counts_are_waited_for_by_a_deadline() {
    // Finals 300 ms after each removal, a NIC that refuses one removal.
    let mut r = late_rig(10, 5, 300);
    let mut sent = [0u64; 3];
    offload_all(&mut r, &[1, 2], &mut sent);
    let (ticket, _) = awaiting(r.end(2));
    r.nic.borrow_mut().busy_removals = 1;
    let started = std::time::Instant::now();
    r.off.release_all(&mut r.flows);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(300 + 500 + 500),
        "{took:?}"
    );
    assert_eq!(r.off.rules_installed(), 0);
    assert_eq!(r.total(1), sent[1]);
    let got = r.off.take_settled();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, ticket);
    assert_eq!(r.sw(2) + got[0].1.hw_total().packets, sent[2]);
    assert_eq!((r.off.finals_pending(), r.off.ended_waiting()), (0, 0));
    assert_eq!(r.off.stats().unconfirmed_at_exit, 0);
}

#[test]
fn at_exit_final_counts_that_never_show_are_unconfirmed_and_the_records_still_handed_over() {
    // The NIC never shows the last 5 packets of a removed rule.
    let mut r = late_rig(10, 5, 0);
    let mut sent = [0u64; 3];
    offload_all(&mut r, &[1, 2], &mut sent);
    awaiting(r.end(2));
    let started = std::time::Instant::now();
    r.off.release_all(&mut r.flows);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(r.off.stats().unconfirmed_at_exit, 2);
    assert_eq!(r.total(1), sent[1] - 5, "the removal's reading stands");
    let got = r.off.take_settled();
    assert_eq!(got.len(), 1);
    assert_eq!(r.sw(2) + got[0].1.hw_total().packets, sent[2] - 5);
    assert_eq!((r.off.finals_pending(), r.off.ended_waiting()), (0, 0));
}

#[test]
fn a_rule_the_engine_removes_within_five_ticks_of_its_install_flapped() {
    // hold 2: hot for two ticks, installed; cold for two, removed.
    let mut r = rig(10, params(), vec![]);
    r.add(1, 1);
    r.add(2, 2);
    for _ in 0..2 {
        r.send(1, 200);
        r.send(2, 200);
        r.tick();
    }
    assert_eq!(r.offloaded(), vec![1, 2]);
    // Flow 1 cools at once: off again within 5 ticks of its install.
    for _ in 0..2 {
        r.send(2, 200);
        r.tick();
    }
    assert_eq!(r.offloaded(), vec![2]);
    assert_eq!(r.off.stats().flaps, 1);
    // Flow 2 stays hot long past 5 ticks, then cools: no flap.
    for _ in 0..6 {
        r.send(2, 200);
        r.tick();
    }
    for _ in 0..3 {
        r.tick();
    }
    assert!(r.offloaded().is_empty());
    assert_eq!(r.off.stats().demotions[0], 2, "both demoted cold");
    assert_eq!(r.off.stats().flaps, 1, "only the first flapped");
}

#[test]
fn a_rule_within_five_ticks_of_its_install_is_not_taken_by_a_hotter_flow() {
    // One rule. Flow 1 (1000 pps) gets it; flow 2 (3000 pps) comes a tick
    // later and waits until flow 1's rule is past 5 ticks old.
    let mut r = rig(1, params(), vec![]);
    r.add(1, 1);
    r.add(2, 1);
    let mut installed_at = None;
    let mut taken_at = None;
    for t in 1..=12 {
        r.send(1, 120);
        if t >= 2 {
            r.send(2, 300);
        }
        r.tick();
        let on = r.offloaded();
        if on == vec![1] && installed_at.is_none() {
            installed_at = Some(t);
        }
        if on == vec![2] && taken_at.is_none() {
            taken_at = Some(t);
        }
    }
    let (i, t) = (
        installed_at.unwrap(),
        taken_at.expect("flow 2 took the rule"),
    );
    assert!(t - i > 5, "installed at tick {i}, taken at {t}");
    assert_eq!(r.off.stats().flaps, 0);
    assert_eq!(r.off.stats().demotions[2], 1, "one eviction");
}
