//! The flow bookkeeping around a NIC whose final counts show late: a flow
//! that ends waiting for one is logged once, whole, at the tick that brings
//! it (or at exit), and the totals count its packets once all along.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crossbeam_channel::{unbounded, Sender};
use flowlift_dataplane::flow::{FlowId, KeyV4, NO_VLAN};
use flowlift_dataplane::PortIdx;

use super::*;
use crate::manager::{OffloadParams, PortPlan};
use crate::{Capabilities, Fate, HwRule, HwRuleId, OffloadBackend, OffloadError};

/// Packets of a rule the NIC shows only in its final count, a refresh
/// period after the removal (here: once the test says `ready`).
const LATE: u64 = 3;

/// A NIC with cached counters: readings and removals miss a rule's last
/// `LATE` packets; the final count shows once `ready`.
#[derive(Default)]
struct Nic {
    rules: HashMap<HwRuleId, u64>,
    next: u64,
    retired: HashMap<HwRuleId, u64>,
    ready: bool,
}

struct FakeNic(Rc<RefCell<Nic>>);

fn counts(packets: u64) -> HwCounters {
    HwCounters {
        packets,
        bytes: 100 * packets,
    }
}

impl OffloadBackend for FakeNic {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn probe(&mut self) -> Capabilities {
        Capabilities {
            max_rules: Some(10),
            count: true,
            indirect_count: true,
            meter: false,
            fates: vec![Fate::RepresentedPort],
        }
    }
    fn install(&mut self, _rule: &HwRule) -> Result<HwRuleId, OffloadError> {
        let mut nic = self.0.borrow_mut();
        nic.next += 1;
        let id = HwRuleId(nic.next);
        nic.rules.insert(id, 0);
        Ok(id)
    }
    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError> {
        let mut nic = self.0.borrow_mut();
        let c = nic.rules.remove(&id).ok_or(OffloadError::NoSuchRule(id))?;
        nic.retired.insert(id, c);
        Ok(counts(c.saturating_sub(LATE)))
    }
    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        let nic = self.0.borrow();
        ids.iter()
            .map(|id| {
                nic.rules
                    .get(id)
                    .map(|c| counts(c.saturating_sub(LATE)))
                    .ok_or(OffloadError::NoSuchRule(*id))
            })
            .collect()
    }
    fn installed(&self) -> usize {
        self.0.borrow().rules.len()
    }
    fn flush_stale(&mut self) -> Result<(), OffloadError> {
        Ok(())
    }
    fn final_due_in(&self, id: Option<HwRuleId>) -> Option<std::time::Duration> {
        let nic = self.0.borrow();
        let pending = id.map_or(!nic.retired.is_empty(), |id| nic.retired.contains_key(&id));
        pending.then_some(std::time::Duration::ZERO)
    }
    fn take_final(&mut self) -> Vec<(HwRuleId, Result<HwCounters, OffloadError>)> {
        let mut nic = self.0.borrow_mut();
        if !nic.ready {
            return Vec::new();
        }
        nic.retired
            .drain()
            .map(|(id, c)| (id, Ok(counts(c))))
            .collect()
    }
    fn final_pending(&self, id: HwRuleId) -> bool {
        self.0.borrow().retired.contains_key(&id)
    }
}

const HZ: u64 = 1000;

struct Rig {
    nic: Rc<RefCell<Nic>>,
    keeper: FlowKeeper,
    workers: Vec<WorkerHandle>,
    announce: Sender<FlowEvent>,
    now: u64,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn key(src: u8) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src: [10, 0, 0, src],
        dst: [192, 168, 0, 1],
        sport: 1000,
        dport: 5001,
        vlan: NO_VLAN,
        proto: 17,
        in_port: 0,
    })
}

const TO_VF1: FlowAction = FlowAction::Forward(PortIdx(1));

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("flows.jsonl");
        let names: Vec<String> = ["uplink", "vf1"].map(String::from).to_vec();
        let mut keeper = FlowKeeper::new(
            Some(FlowLog::create(&log).unwrap()),
            TscClock::new(0, HZ),
            HZ,
            0.0,
            names,
        );
        let nic = Rc::new(RefCell::new(Nic::default()));
        let params = OffloadParams {
            max_rules: 10,
            promote_pps: 1e9,
            demote_pps: 0.0,
            hold: 1,
            ewma_alpha: 1.0,
            evict_margin: 2.0,
            changes_per_sec: 1000.0,
            backoff_ticks: 1,
            idle_tsc: 0,
        };
        keeper.offload = Some(
            Offloader::start(
                Box::new(FakeNic(Rc::clone(&nic))),
                params,
                Vec::new(),
                PortPlan {
                    hw_port: vec![0, 1],
                    nic_in: vec![true, false],
                    metered: vec![false, false],
                },
                0,
                HZ,
            )
            .unwrap(),
        );
        let (announce, events) = unbounded();
        let (commands, _) = unbounded();
        let worker = WorkerHandle {
            lcore: 1,
            stats: Arc::new(WorkerStats::new(2)),
            counters: Arc::new(FlowCounters::new(64)),
            events,
            commands,
            returned: Arc::new(Mutex::new(None)),
            signal: Arc::default(),
        };
        Rig {
            nic,
            keeper,
            workers: vec![worker],
            announce,
            now: 0,
            log,
            _dir: dir,
        }
    }

    /// Flow `src` appears, sends `sw` packets on the worker, is put on the
    /// NIC by hand, and sends `hw` packets through its rule.
    fn offloaded_flow(&mut self, src: u8, sw: u64, hw: u64) {
        let id = FlowId(u32::from(src));
        let c = self.workers[0].counters.get(id).unwrap();
        c.reset(self.now);
        for _ in 0..sw {
            c.count(100, self.now + 1);
        }
        self.announce
            .send(FlowEvent::New {
                id,
                key: key(src),
                action: TO_VF1,
            })
            .unwrap();
        self.keeper.drain_events(&self.workers).unwrap();
        let rule = self.keeper.offload_now((0, id), self.now).result.unwrap();
        *self.nic.borrow_mut().rules.get_mut(&rule).unwrap() += hw;
    }

    /// The worker reports flow `src`'s end (idle).
    fn end(&mut self, src: u8) {
        let id = FlowId(u32::from(src));
        let counters = self.workers[0].counters.get(id).unwrap().snapshot();
        self.announce
            .send(FlowEvent::Ended {
                id,
                key: key(src),
                action: TO_VF1,
                counters,
                reason: EndReason::Idle,
            })
            .unwrap();
        self.keeper.drain_events(&self.workers).unwrap();
    }

    /// A tick, and the loop's next drain of events.
    fn tick(&mut self) {
        self.now += 100;
        self.keeper.offload_tick(&self.workers, self.now);
        self.keeper.drain_events(&self.workers).unwrap();
    }

    fn logged(&self) -> u64 {
        self.keeper.log.as_ref().unwrap().lines()
    }

    /// The flow log's records, by source address's last byte.
    fn records(&mut self) -> HashMap<u8, serde_json::Value> {
        self.keeper.log.as_mut().unwrap().flush().unwrap();
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let src: std::net::Ipv4Addr = v["src"].as_str().unwrap().parse().unwrap();
                (src.octets()[3], v)
            })
            .collect()
    }

    /// What the totals say the NIC carried: overall, and into vf1.
    fn hw_totals(&self) -> (u64, u64) {
        (
            self.keeper.hw_packets_total(),
            self.keeper.hw_by_port()[1].tx.packets,
        )
    }
}

#[test]
fn a_flow_ending_before_its_final_count_shows_is_logged_whole_once_and_counted_once() {
    let mut r = Rig::new();
    r.offloaded_flow(1, 5, 50);
    r.tick();
    assert_eq!(r.hw_totals(), (50 - LATE, 50 - LATE), "as read");
    r.end(1);
    assert_eq!(r.keeper.ended, 1);
    assert_eq!(r.logged(), 0, "not logged before it is whole");
    assert_eq!(r.keeper.ended_waiting(), 1);
    assert_eq!(
        r.hw_totals(),
        (50 - LATE, 50 - LATE),
        "counted once meanwhile"
    );
    assert_eq!(r.nic.borrow().rules.len(), 0, "its rule is off");
    for _ in 0..3 {
        r.tick();
        assert_eq!(r.logged(), 0);
        assert_eq!(r.hw_totals(), (50 - LATE, 50 - LATE));
    }
    // The final count shows: the tick folds it in, the record is logged.
    r.nic.borrow_mut().ready = true;
    r.tick();
    assert_eq!(r.hw_totals(), (50, 50), "the late packets, once");
    assert_eq!(r.logged(), 1);
    assert_eq!(r.keeper.ended_waiting(), 0);
    for _ in 0..3 {
        r.tick();
    }
    assert_eq!((r.logged(), r.keeper.ended), (1, 1), "once");
    assert_eq!(r.hw_totals(), (50, 50));
    let v = &r.records()[&1];
    let n = |k: &str| v[k].as_u64().unwrap();
    assert_eq!(
        (n("packets"), n("sw_packets"), n("hw_packets")),
        (55, 5, 50)
    );
    assert_eq!((n("bytes"), n("hw_bytes")), (5500, 5000));
    assert_eq!(v["end"], "idle");
}

#[test]
fn at_exit_the_flows_waiting_aside_are_logged_whole() {
    let mut r = Rig::new();
    r.offloaded_flow(1, 2, 30);
    r.offloaded_flow(2, 4, 40);
    r.tick();
    r.end(1);
    assert_eq!(r.logged(), 0);
    // The NIC shows the final counts by the time the exit waits for them.
    r.nic.borrow_mut().ready = true;
    r.keeper.finish(&r.workers).unwrap();
    assert_eq!(r.keeper.ended_waiting(), 0);
    assert_eq!(r.hw_totals(), (70, 70));
    let recs = r.records();
    assert_eq!(recs.len(), 1, "flow 2 is still in the worker's table");
    let v = &recs[&1];
    assert_eq!(
        (v["packets"].as_u64(), v["hw_packets"].as_u64()),
        (Some(32), Some(30))
    );
    let live = r.keeper.tracker().iter().next().unwrap().1.off.hw_total();
    assert_eq!(live.packets, 40, "the live flow's final count is folded in");
}
