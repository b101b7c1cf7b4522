//! The control core's side of the workers: each worker's shared counters and
//! channels, and the flow bookkeeping done from the main lcore: draining flow
//! events, the offload tick, idle expiry (the control core decides, the worker
//! evicts), and the flow log, including every flow still alive when the
//! appliance stops, each with what the NIC counted for it.
//!
//! A flow that ends soon after its rule came off may still wait for that
//! rule's final count (a NIC with cached counters shows it a refresh period
//! late): its record is kept aside, counted in the totals with what the NIC
//! had shown, and logged once whole, at the tick that brings the rest (or at
//! exit). The control loop never waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use flowlift_dataplane::flowstate::{
    EndReason, FlowCounters, FlowEvent, FlowSnapshot, WorkerCommand,
};
use flowlift_dataplane::lcore::{LcoreSignal, LcoreState};
use flowlift_dataplane::stats::WorkerStats;
use flowlift_dataplane::worker::Worker;
use flowlift_dataplane::Tsc;
use rte::{RxQueue, TxQueue};

use crate::flowlog::{EndedFlow, FlowLog, TscClock};
use crate::lifecycle::FlowOffload;
use crate::manager::{EndTicket, EndedOffload, Offloader};
use crate::policy::OffloadChoice;
use crate::tracker::FlowTracker;
use crate::HwCounters;
use flowlift_dataplane::flow::FlowKey;
use flowlift_dataplane::policy::FlowAction;

/// A worker on DPDK queues.
pub type DpdkWorker = Worker<RxQueue, TxQueue, Tsc>;

/// What the control core holds of one worker.
#[derive(Debug)]
pub struct WorkerHandle {
    pub lcore: u32,
    pub stats: Arc<WorkerStats>,
    pub counters: Arc<FlowCounters>,
    pub events: Receiver<FlowEvent>,
    pub commands: Sender<WorkerCommand>,
    /// The worker hands itself back here when it stops, so its remaining flows
    /// can be logged.
    pub returned: Arc<Mutex<Option<DpdkWorker>>>,
    /// What the control core asks of the worker's lcore, and its answer.
    pub signal: Arc<LcoreSignal>,
}

/// How often a wait for the workers' acknowledgement says who it waits for.
const ACK_NOTE_EVERY: Duration = Duration::from_secs(1);

/// The state the control core last asked of the workers (they are all asked
/// alike): what the shell says forwarding is.
pub fn requested_state(workers: &[WorkerHandle]) -> LcoreState {
    workers
        .first()
        .map_or(LcoreState::Running, |w| w.signal.requested().1)
}

/// Asks every worker for `state` and returns once each has acknowledged it:
/// a paused worker has sent everything it took; a draining one has, besides,
/// queued every flow event it owes. It waits for the acknowledgements, never
/// for a time: a stalled lcore is waited for, and `waiting` is told which
/// lcores it still waits for, once a second. The workers' flow events are
/// handed to `keeper` meanwhile (a draining worker needs room in its queue).
pub fn set_state(
    workers: &[WorkerHandle],
    keeper: &mut FlowKeeper,
    state: LcoreState,
    mut waiting: impl FnMut(&[u32]),
) -> anyhow::Result<()> {
    let epochs: Vec<u64> = workers.iter().map(|w| w.signal.request(state)).collect();
    let mut note_at = Instant::now() + ACK_NOTE_EVERY;
    loop {
        keeper.drain_events(workers)?;
        let pending: Vec<u32> = workers
            .iter()
            .zip(&epochs)
            .filter(|(w, &epoch)| !w.signal.has_acknowledged(epoch))
            .map(|(w, _)| w.lcore)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= note_at {
            waiting(&pending);
            note_at += ACK_NOTE_EVERY;
        }
        // Pacing only: the answer decides, not the time waited.
        std::thread::yield_now();
    }
}

/// Flow bookkeeping on the main lcore.
#[derive(Debug)]
pub struct FlowKeeper {
    tracker: FlowTracker,
    log: Option<FlowLog>,
    clock: TscClock,
    port_names: Vec<String>,
    /// TSC ticks without a packet before a flow is evicted (0: never).
    idle_ticks: u64,
    /// TSC ticks before an unanswered eviction is asked again.
    retry_ticks: u64,
    /// Flows that ended (logged or not).
    pub ended: u64,
    /// The offload engine, unless offload is off.
    pub offload: Option<Offloader>,
    /// Packets and bytes the NIC counted for the flows that ended so far
    /// (for those whose records wait aside, what it had shown; the rest is
    /// added when it shows).
    pub hw_packets_logged: u64,
    pub hw_bytes_logged: u64,
    /// The same by port: what the NIC's rules took from each port and
    /// delivered to each.
    hw_logged_by_port: Vec<PortHw>,
    /// Ended flows whose offload records wait for final counts (see
    /// [`Offloader::release_ended`]).
    aside: HashMap<EndTicket, Ended>,
    /// Ended flows made whole and counted, to write at the next
    /// [`FlowKeeper::drain_events`].
    to_log: Vec<(Ended, FlowOffload)>,
}

/// What the flow log needs of an ended flow, besides its offload record.
#[derive(Debug, Clone, Copy)]
struct Ended {
    key: FlowKey,
    counters: FlowSnapshot,
    action: FlowAction,
    reason: EndReason,
    worker_lcore: u32,
    /// What the NIC had counted for it when it ended (in the totals already).
    counted: HwCounters,
}

/// What the NIC's per-flow rules carried for one port, from the rules'
/// counters: taken as the port's arrivals (`rx`), delivered to it (`tx`),
/// and what the port's NIC meter dropped of what they took for it
/// (`meter_dropped`, from the meter's statistics; not in `tx`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortHw {
    pub rx: HwCounters,
    pub tx: HwCounters,
    pub meter_dropped: HwCounters,
}

fn add_hw(by_port: &mut [PortHw], key: &FlowKey, action: FlowAction, c: HwCounters) {
    if c.packets == 0 && c.bytes == 0 {
        return;
    }
    if let Some(p) = by_port.get_mut(usize::from(key.in_port())) {
        p.rx.packets += c.packets;
        p.rx.bytes += c.bytes;
    }
    if let FlowAction::Forward(out) = action {
        if let Some(p) = by_port.get_mut(out.index()) {
            p.tx.packets += c.packets;
            p.tx.bytes += c.bytes;
        }
    }
}

impl FlowKeeper {
    /// A keeper writing to `log` (if any), expiring flows idle for `idle_s`
    /// seconds (0: never).
    pub fn new(
        log: Option<FlowLog>,
        clock: TscClock,
        tsc_hz: u64,
        idle_s: f64,
        port_names: Vec<String>,
    ) -> Self {
        FlowKeeper {
            tracker: FlowTracker::new(),
            log,
            clock,
            port_names: port_names.clone(),
            idle_ticks: (idle_s * tsc_hz as f64) as u64,
            retry_ticks: tsc_hz.max(1),
            ended: 0,
            offload: None,
            hw_packets_logged: 0,
            hw_bytes_logged: 0,
            hw_logged_by_port: vec![PortHw::default(); port_names.len()],
            aside: HashMap::new(),
            to_log: Vec::new(),
        }
    }

    /// What the NIC's per-flow rules carried by port, from their counters:
    /// the ended flows' final counts and the live flows' latest. A metered
    /// VF's rules count (COUNT before METER) what its meter then dropped:
    /// that is the meter's drops, not the VF's TX.
    pub fn hw_by_port(&self) -> Vec<PortHw> {
        let mut out = self.hw_logged_by_port.clone();
        for (_, f) in self.tracker.iter() {
            add_hw(&mut out, &f.key, f.action, f.off.hw_total());
        }
        if let Some(off) = self.offload.as_ref() {
            for (&meter, d) in off.meter_drops() {
                // A VF's meter is numbered by its port index.
                if let Some(p) = out.get_mut(meter as usize) {
                    p.tx.packets = p.tx.packets.saturating_sub(d.packets);
                    p.tx.bytes = p.tx.bytes.saturating_sub(d.bytes);
                    p.meter_dropped = *d;
                }
            }
        }
        out
    }

    /// Packets the NIC's per-flow rules carried, ended flows and live ones.
    pub fn hw_packets_total(&self) -> u64 {
        self.hw_packets_logged
            + self
                .tracker
                .iter()
                .map(|(_, f)| f.off.hw_total().packets)
                .sum::<u64>()
    }

    /// The flows the control core knows, with their offload records.
    pub fn tracker(&self) -> &FlowTracker {
        &self.tracker
    }

    /// One offload tick (nothing without an offload engine).
    pub fn offload_tick(&mut self, workers: &[WorkerHandle], now_tsc: u64) {
        let Some(off) = self.offload.as_mut() else {
            return;
        };
        let counters: Vec<Arc<FlowCounters>> =
            workers.iter().map(|w| Arc::clone(&w.counters)).collect();
        off.tick(&mut self.tracker, &counters, now_tsc);
        off.refresh_static();
        self.collect_settled();
    }

    /// Ended flows waiting for final counters (their records are logged
    /// once those show).
    pub fn ended_waiting(&self) -> usize {
        self.aside.len()
    }

    /// Takes the ended flows' records the offload engine made whole: their
    /// late counts go into the totals now, and they are logged at the next
    /// [`FlowKeeper::drain_events`] (a tick writes nothing).
    fn collect_settled(&mut self) {
        let Some(off) = self.offload.as_mut() else {
            return;
        };
        for (ticket, record) in off.take_settled() {
            let Some(e) = self.aside.remove(&ticket) else {
                continue;
            };
            let whole = record.hw_total();
            let late = HwCounters {
                packets: whole.packets.saturating_sub(e.counted.packets),
                bytes: whole.bytes.saturating_sub(e.counted.bytes),
            };
            self.count_hw(&e.key, e.action, late);
            self.to_log.push((e, record));
        }
    }

    /// Writes the records made whole to the flow log.
    fn log_settled(&mut self) -> anyhow::Result<()> {
        for (e, record) in std::mem::take(&mut self.to_log) {
            if let Some(log) = self.log.as_mut() {
                let flow = EndedFlow {
                    key: &e.key,
                    counters: e.counters,
                    action: e.action,
                    reason: e.reason,
                    worker_lcore: e.worker_lcore,
                    offload: Some(&record),
                };
                log.write(&flow, &self.port_names, &self.clock)?;
            }
        }
        Ok(())
    }

    /// `flow offload`: the operator puts a flow on the NIC now.
    pub fn offload_now(
        &mut self,
        at: (usize, flowlift_dataplane::flow::FlowId),
        now_tsc: u64,
    ) -> crate::manager::OffloadedNow {
        match self.offload.as_mut() {
            Some(off) => off.offload_now(&mut self.tracker, at, now_tsc),
            None => crate::manager::OffloadedNow {
                result: Err("offload is off".into()),
                evicted: None,
            },
        }
    }

    /// `flow onload`: the operator brings a flow back to the workers now.
    pub fn onload_now(
        &mut self,
        at: (usize, flowlift_dataplane::flow::FlowId),
    ) -> Result<Option<crate::HwCounters>, String> {
        match self.offload.as_mut() {
            Some(off) => off.onload_now(&mut self.tracker, at),
            None => Err("offload is off".into()),
        }
    }

    /// `set offload max-rules`: the rule budget, the flows beyond it demoted
    /// (see [`crate::manager::Offloader::set_max_rules`]); returns
    /// how many.
    pub fn set_max_rules(&mut self, n: usize) -> Result<usize, String> {
        match self.offload.as_mut() {
            Some(off) => Ok(off.set_max_rules(&mut self.tracker, n)),
            None => Err("offload is off".into()),
        }
    }

    /// Takes every flow off the NIC, folding the final counters in. Called once
    /// the traffic has stopped, while the NIC still answers.
    pub fn release_offloaded(&mut self) {
        if let Some(off) = self.offload.as_mut() {
            // Static rules first: their final counts come a refresh period
            // after their destroys, and the flows' settle waits for them too.
            for refused in off.destroy_static_rules() {
                tracing::warn!(target: "offload", "static rule left on the NIC: {refused}");
            }
            off.release_all(&mut self.tracker);
        }
    }

    /// Writes the records of the static rules that ended to the flow log.
    fn log_ended_static(&mut self) -> anyhow::Result<()> {
        let Some(off) = self.offload.as_mut() else {
            return Ok(());
        };
        for r in off.take_ended_static() {
            if let Some(log) = self.log.as_mut() {
                log.write_static(&r)?;
            }
        }
        Ok(())
    }

    /// Flows the control core knows to be alive.
    pub fn tracked(&self) -> usize {
        self.tracker.len()
    }

    /// Takes every queued flow event: new flows are tracked, ended ones logged.
    pub fn drain_events(&mut self, workers: &[WorkerHandle]) -> anyhow::Result<()> {
        self.log_ended_static()?;
        self.collect_settled();
        self.log_settled()?;
        for (w, handle) in workers.iter().enumerate() {
            while let Ok(event) = handle.events.try_recv() {
                match event {
                    FlowEvent::New { id, key, action } => {
                        let choice = self
                            .offload
                            .as_ref()
                            .map_or(OffloadChoice::Never, |o| o.choose(&key));
                        self.tracker
                            .on_new(w, id, key, action, FlowOffload::new(choice));
                    }
                    FlowEvent::Ended {
                        id,
                        key,
                        action,
                        counters,
                        reason,
                    } => {
                        let mut record = self.tracker.on_ended(w, id).map(|t| t.off);
                        if let (Some(off), Some(o)) = (record, self.offload.as_mut()) {
                            // Not asked for while the NIC carries a flow; should
                            // it happen, the rule goes and its count is kept.
                            // A flow demoted a moment ago may still wait for
                            // its rule's final count (cached counters): its
                            // record waits aside, and is logged once whole.
                            match o.release_ended((w, id), off) {
                                EndedOffload::Whole(off) => record = Some(off),
                                EndedOffload::Awaiting { ticket, so_far } => {
                                    self.ended += 1;
                                    self.count_hw(&key, action, so_far);
                                    let e = Ended {
                                        key,
                                        counters,
                                        action,
                                        reason,
                                        worker_lcore: handle.lcore,
                                        counted: so_far,
                                    };
                                    self.aside.insert(ticket, e);
                                    continue;
                                }
                            }
                        }
                        self.record_end(&EndedFlow {
                            key: &key,
                            counters,
                            action,
                            reason,
                            worker_lcore: handle.lcore,
                            offload: record.as_ref(),
                        })?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Counts an ended flow and writes it to the flow log, if there is one.
    fn record_end(&mut self, flow: &EndedFlow<'_>) -> anyhow::Result<()> {
        self.ended += 1;
        if let Some(o) = flow.offload {
            self.count_hw(flow.key, flow.action, o.hw_total());
        }
        match self.log.as_mut() {
            Some(log) => log.write(flow, &self.port_names, &self.clock),
            None => Ok(()),
        }
    }

    /// Adds what the NIC counted for an ended flow to the totals.
    fn count_hw(&mut self, key: &FlowKey, action: FlowAction, c: HwCounters) {
        self.hw_packets_logged += c.packets;
        self.hw_bytes_logged += c.bytes;
        add_hw(&mut self.hw_logged_by_port, key, action, c);
    }

    /// Expires flows idle for `idle_s` seconds from now on (0: never).
    pub fn set_idle_timeout(&mut self, idle_s: f64, tsc_hz: u64) {
        self.idle_ticks = (idle_s * tsc_hz as f64) as u64;
    }

    /// Asks workers to evict flows idle for longer than the timeout.
    pub fn expire_idle(&mut self, workers: &[WorkerHandle], now_tsc: u64) {
        if self.idle_ticks == 0 {
            return;
        }
        let counters: Vec<Arc<FlowCounters>> =
            workers.iter().map(|w| Arc::clone(&w.counters)).collect();
        for (w, id, idle_since) in
            self.tracker
                .idle_flows(now_tsc, self.idle_ticks, self.retry_ticks, &counters)
        {
            // A full command queue only delays the eviction to a later tick.
            let _ = workers[w]
                .commands
                .try_send(WorkerCommand::Evict { id, idle_since });
        }
    }

    /// After the workers stopped: logs the events still queued, then every flow
    /// left in each worker's table, as ended by exit. Returns the flows logged at
    /// exit.
    pub fn finish(&mut self, workers: &[WorkerHandle]) -> anyhow::Result<u64> {
        self.drain_events(workers)?;
        // Every rule off and every final count in (or given up on): the
        // ended flows waiting aside are whole, and logged now.
        self.release_offloaded();
        self.collect_settled();
        self.log_settled()?;
        self.log_ended_static()?;
        let mut at_exit = 0;
        for (w, handle) in workers.iter().enumerate() {
            let guard = handle.returned.lock().unwrap_or_else(|e| e.into_inner());
            let Some(worker) = guard.as_ref() else {
                continue;
            };
            for (id, key, action, counters) in worker.remaining_flows() {
                at_exit += 1;
                let record = self.tracker.on_ended(w, id).map(|t| t.off);
                self.record_end(&EndedFlow {
                    key: &key,
                    counters,
                    action,
                    reason: EndReason::Exit,
                    worker_lcore: handle.lcore,
                    offload: record.as_ref(),
                })?;
            }
        }
        if let Some(log) = self.log.as_mut() {
            log.flush()?;
        }
        Ok(at_exit)
    }
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod tests;
