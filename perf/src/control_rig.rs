//! flowlift's control core without EAL or a NIC: the library's `Offloader`,
//! `FlowTracker` and the workers' `FlowCounters`, driven tick by tick on a
//! simulated clock, with a rule table in memory as the NIC. It measures what
//! only the control core decides: how long a tick takes with N tracked flows,
//! and how many ticks pass between a flow turning hot and its rule.
//!
//! The traffic is a Zipf law over the flows (rank r gets a share r^-s of the
//! packets); an offloaded flow's packets go to its rule's counter, the others'
//! to their worker counter, as on the appliance.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlift_config::{OffloadChoice, OffloadSection};
use flowlift_dataplane::flow::{FlowId, FlowKey, KeyV4, NO_VLAN};
use flowlift_dataplane::flowstate::FlowCounters;
use flowlift_dataplane::policy::FlowAction;
use flowlift_dataplane::PortIdx;
use flowlift_offload::lifecycle::{FlowOffload, OffloadState};
use flowlift_offload::manager::{Offloader, PortPlan};
use flowlift_offload::tracker::FlowTracker;
use flowlift_offload::{
    Capabilities, Fate, HwCounters, HwRule, HwRuleId, OffloadBackend, OffloadError,
};

/// The simulated TSC runs at 1 GHz: one tick of it is a nanosecond.
const HZ: u64 = 1_000_000_000;
/// Bytes per packet, as in the captures.
const FRAME: u64 = 60;

/// The NIC's rule table: counters by rule, shared with the rig, which adds the
/// offloaded flows' packets to them.
#[derive(Debug, Default)]
struct Table {
    rules: HashMap<HwRuleId, HwCounters>,
    next: u64,
}

/// An [`OffloadBackend`] that holds rules in memory: installs and queries cost
/// a hash-map operation, so a tick's time is the control core's own.
#[derive(Debug)]
struct MemoryNic {
    table: Rc<RefCell<Table>>,
    capacity: usize,
}

impl OffloadBackend for MemoryNic {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn probe(&mut self) -> Capabilities {
        Capabilities {
            max_rules: Some(self.capacity as u32),
            count: true,
            indirect_count: true,
            meter: false,
            fates: vec![Fate::RepresentedPort],
        }
    }
    fn install(&mut self, _rule: &HwRule) -> Result<HwRuleId, OffloadError> {
        let mut t = self.table.borrow_mut();
        if t.rules.len() >= self.capacity {
            return Err(OffloadError::NoSpace("memory NIC full".into()));
        }
        t.next += 1;
        let id = HwRuleId(t.next);
        t.rules.insert(id, HwCounters::default());
        Ok(id)
    }
    fn remove(&mut self, id: HwRuleId) -> Result<HwCounters, OffloadError> {
        self.table
            .borrow_mut()
            .rules
            .remove(&id)
            .ok_or(OffloadError::NoSuchRule(id))
    }
    fn query_batch(&mut self, ids: &[HwRuleId]) -> Vec<Result<HwCounters, OffloadError>> {
        let t = self.table.borrow();
        ids.iter()
            .map(|id| {
                t.rules
                    .get(id)
                    .copied()
                    .ok_or(OffloadError::NoSuchRule(*id))
            })
            .collect()
    }
    fn installed(&self) -> usize {
        self.table.borrow().rules.len()
    }
    fn flush_stale(&mut self) -> Result<(), OffloadError> {
        Ok(())
    }
}

/// The decision knobs of a rig (flowlift's `[offload]` names).
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    pub max_rules: u32,
    pub tick_ms: u32,
    pub promote_pps: f64,
    pub demote_pps: f64,
}

/// The control core, its flows, and the traffic they get.
pub struct Rig {
    table: Rc<RefCell<Table>>,
    off: Offloader,
    tracker: FlowTracker,
    counters: Vec<Arc<FlowCounters>>,
    /// Packets per second of each flow, by flow id.
    rates: Vec<f64>,
    /// Packets owed to each flow from fractions of earlier ticks.
    carry: Vec<f64>,
    now: u64,
    tick_tsc: u64,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("flows", &self.tracker.len())
            .finish()
    }
}

/// The `i`-th flow's key: distinct IPv4/UDP 5-tuples entering on the uplink.
fn key(i: u32) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src: (0x0a00_0000 | i).to_be_bytes(),
        dst: [192, 168, 0, 1],
        sport: 1024 + (i % 60_000) as u16,
        dport: 5001,
        vlan: NO_VLAN,
        proto: 17,
        in_port: 0,
    })
}

impl Rig {
    /// `flows` flows on one worker, all known to the control core, sending
    /// `total_pps` packets per second in all with Zipf exponent `zipf`.
    pub fn new(flows: u32, total_pps: f64, zipf: f64, knobs: Knobs) -> anyhow::Result<Rig> {
        let table = Rc::new(RefCell::new(Table::default()));
        let nic = MemoryNic {
            table: Rc::clone(&table),
            capacity: knobs.max_rules as usize,
        };
        let mut section = OffloadSection::default();
        section.max_rules = knobs.max_rules;
        section.tick_ms = knobs.tick_ms;
        section.promote_pps = knobs.promote_pps;
        section.demote_pps = knobs.demote_pps;
        // No rate limit of its own: the tick's decisions are what is timed.
        section.inserts_per_sec = 1_000_000_000;
        let params = section.params(0);
        // Port 0 is the uplink (its flows pass the NIC), port 1 the VF.
        let ports = PortPlan {
            hw_port: vec![0, 1],
            nic_in: vec![true, false],
            metered: vec![false, false],
        };
        let off = Offloader::start(Box::new(nic), params, Vec::new(), ports, 0, HZ)
            .map_err(|e| anyhow::anyhow!("start the offloader: {e}"))?;
        let counters = vec![Arc::new(FlowCounters::new(flows as usize))];
        let mut tracker = FlowTracker::new();
        for i in 0..flows {
            tracker.on_new(
                0,
                FlowId(i),
                key(i),
                FlowAction::Forward(PortIdx(1)),
                FlowOffload::new(OffloadChoice::Auto),
            );
            if let Some(c) = counters[0].get(FlowId(i)) {
                c.reset(0);
            }
        }
        let weights: Vec<f64> = (1..=flows).map(|r| f64::from(r).powf(-zipf)).collect();
        let sum: f64 = weights.iter().sum();
        Ok(Rig {
            table,
            off,
            tracker,
            counters,
            rates: weights.iter().map(|w| total_pps * w / sum).collect(),
            carry: vec![0.0; flows as usize],
            now: 0,
            tick_tsc: u64::from(knobs.tick_ms) * HZ / 1000,
        })
    }

    /// Sets flow `id`'s packet rate from now on.
    pub fn set_rate(&mut self, id: u32, pps: f64) {
        self.rates[id as usize] = pps;
    }

    /// Whether flow `id` has a rule now.
    pub fn offloaded(&mut self, id: u32) -> bool {
        self.tracker
            .get_mut((0, FlowId(id)))
            .is_some_and(|f| matches!(f.off.state, OffloadState::Offloaded(_)))
    }

    /// Rules installed.
    #[cfg(test)]
    pub fn rules(&self) -> usize {
        self.off.rules_installed()
    }

    /// One tick's worth of traffic (each flow on its path), then the control
    /// tick itself; returns how long the tick took, traffic excluded.
    pub fn step(&mut self) -> Duration {
        let secs = self.tick_tsc as f64 / HZ as f64;
        let end = self.now + self.tick_tsc;
        {
            let mut table = self.table.borrow_mut();
            for (&(_, id), f) in self.tracker.iter() {
                let i = id.index();
                let due = self.rates[i] * secs + self.carry[i];
                let n = due.floor();
                self.carry[i] = due - n;
                let n = n as u64;
                if n == 0 {
                    continue;
                }
                match f.off.state.rule().and_then(|r| table.rules.get_mut(&r)) {
                    Some(c) => {
                        c.packets += n;
                        c.bytes += n * FRAME;
                    }
                    None => {
                        if let Some(c) = self.counters[0].get(id) {
                            c.packets.fetch_add(n, Relaxed);
                            c.bytes.fetch_add(n * FRAME, Relaxed);
                            c.last_seen.store(end, Relaxed);
                        }
                    }
                }
            }
        }
        self.now = end;
        let started = Instant::now();
        self.off.tick(&mut self.tracker, &self.counters, self.now);
        started.elapsed()
    }
}

/// Ticks from flow `hot` turning hot (at `factor` x the promote rate, from
/// nothing) to its rule being in place, with `flows` other flows around it.
pub fn ticks_to_offload(flows: u32, knobs: Knobs, factor: f64) -> anyhow::Result<u32> {
    // The background stays below the promote rate, so the hot flow finds a rule.
    let total = knobs.promote_pps * 0.5 * f64::from(flows.max(1)).sqrt();
    let mut rig = Rig::new(flows + 1, total, 1.1, knobs)?;
    let hot = flows;
    rig.set_rate(hot, 0.0);
    // Settle: a few ticks with the flow silent.
    for _ in 0..5 {
        rig.step();
    }
    anyhow::ensure!(!rig.offloaded(hot), "a silent flow was offloaded");
    rig.set_rate(hot, knobs.promote_pps * factor);
    for n in 1..=1000 {
        rig.step();
        if rig.offloaded(hot) {
            return Ok(n);
        }
    }
    anyhow::bail!("the hot flow was not offloaded within 1000 ticks")
}

/// Milliseconds per control tick with `flows` tracked flows (Zipf 1.1 at
/// 10 Mpps in all, 1024 rules): `warm` ticks first (rules get installed, rates
/// settle), then `ticks` timed ones.
pub fn tick_ms(flows: u32, warm: usize, ticks: usize) -> anyhow::Result<Vec<f64>> {
    let knobs = Knobs {
        max_rules: 1024,
        tick_ms: 100,
        promote_pps: 300.0,
        demote_pps: 75.0,
    };
    let mut rig = Rig::new(flows, 10e6, 1.1, knobs)?;
    for _ in 0..warm {
        rig.step();
    }
    Ok((0..ticks).map(|_| rig.step().as_secs_f64() * 1e3).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs() -> Knobs {
        Knobs {
            max_rules: 64,
            tick_ms: 100,
            promote_pps: 1000.0,
            demote_pps: 100.0,
        }
    }

    #[test]
    fn the_hottest_flows_get_the_rules() {
        // 1000 flows, 1M pps: flow 0 gets ~17% of them, far above 1000 pps.
        let mut rig = Rig::new(1000, 1e6, 1.1, knobs()).unwrap();
        for _ in 0..10 {
            rig.step();
        }
        assert_eq!(rig.rules(), 64);
        assert!(rig.offloaded(0) && rig.offloaded(10));
        assert!(!rig.offloaded(999));
    }

    #[test]
    fn a_hot_flow_waits_hold_ticks() {
        // hold 3 at a rate well above the threshold: a few ticks, not many.
        let n = ticks_to_offload(100, knobs(), 10.0).unwrap();
        assert!((3..=6).contains(&n), "{n} ticks");
    }
}
