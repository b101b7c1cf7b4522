//! The control core's view of every worker's flows: what each flow id holds
//! (learnt from the workers' `New` events), and which flows have gone idle.
//! Idle expiry is the control core's decision; the worker only carries it out
//! (`WorkerCommand::Evict`) and reports the flow's end with its final counters.

use std::collections::HashMap;
use std::sync::Arc;

use flowlift_dataplane::flow::{FlowId, FlowKey};
use flowlift_dataplane::flowstate::FlowCounters;
use flowlift_dataplane::policy::FlowAction;

use crate::lifecycle::FlowOffload;

/// A flow the control core knows of.
#[derive(Debug, Clone, Copy)]
pub struct TrackedFlow {
    pub key: FlowKey,
    pub action: FlowAction,
    /// TSC when an eviction was last asked for (0: never), so that one is not
    /// asked again every tick while the worker has not answered.
    evict_asked: u64,
    /// Where the flow is carried, and what the NIC counted for it.
    pub off: FlowOffload,
}

/// Flows by (worker index, flow id).
#[derive(Debug, Default)]
pub struct FlowTracker {
    flows: HashMap<(usize, FlowId), TrackedFlow>,
}

impl FlowTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        FlowTracker::default()
    }

    /// Flows known.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is known.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// A worker announced a new flow.
    pub fn on_new(
        &mut self,
        worker: usize,
        id: FlowId,
        key: FlowKey,
        action: FlowAction,
        off: FlowOffload,
    ) {
        self.flows.insert(
            (worker, id),
            TrackedFlow {
                key,
                action,
                evict_asked: 0,
                off,
            },
        );
    }

    /// A worker removed a flow: its record, if the flow was known.
    pub fn on_ended(&mut self, worker: usize, id: FlowId) -> Option<TrackedFlow> {
        self.flows.remove(&(worker, id))
    }

    /// A flow's record.
    pub fn get_mut(&mut self, at: (usize, FlowId)) -> Option<&mut TrackedFlow> {
        self.flows.get_mut(&at)
    }

    /// Every flow, by (worker, id).
    pub fn iter(&self) -> impl Iterator<Item = (&(usize, FlowId), &TrackedFlow)> {
        self.flows.iter()
    }

    /// Every flow, to update.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&(usize, FlowId), &mut TrackedFlow)> {
        self.flows.iter_mut()
    }

    /// Onloaded flows whose last packet (on either path) is at least `idle` TSC
    /// ticks before `now`, not asked for in the last `retry` ticks:
    /// `(worker, id, idle_since)` to send as `Evict` commands. Marks them asked.
    /// A flow the NIC carries is demoted first (see `offload::manager`).
    pub fn idle_flows(
        &mut self,
        now: u64,
        idle: u64,
        retry: u64,
        counters: &[Arc<FlowCounters>],
    ) -> Vec<(usize, FlowId, u64)> {
        let idle_since = now.saturating_sub(idle);
        let mut out = Vec::new();
        for (&(worker, id), flow) in self.flows.iter_mut() {
            let Some(c) = counters.get(worker).and_then(|c| c.get(id)) else {
                continue;
            };
            if flow.off.state != crate::lifecycle::OffloadState::Onloaded {
                continue;
            }
            let last = c
                .last_seen
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(flow.off.hw_active_tsc);
            if last <= idle_since && now.saturating_sub(flow.evict_asked) >= retry {
                flow.evict_asked = now;
                out.push((worker, id, idle_since));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlift_dataplane::flow::KeyV4;
    use flowlift_dataplane::PortIdx;

    #[test]
    fn idle_flows_are_asked_for_once_per_retry_period() {
        let counters = vec![Arc::new(FlowCounters::new(4))];
        let mut t = FlowTracker::new();
        let key = FlowKey::V4(KeyV4::default());
        let off = FlowOffload::new(crate::policy::OffloadChoice::Auto);
        t.on_new(0, FlowId(1), key, FlowAction::Forward(PortIdx(1)), off);
        t.on_new(0, FlowId(2), key, FlowAction::Forward(PortIdx(1)), off);
        counters[0].get(FlowId(1)).unwrap().reset(100);
        counters[0].get(FlowId(2)).unwrap().reset(900);
        assert_eq!(
            t.idle_flows(1000, 500, 300, &counters),
            vec![(0, FlowId(1), 500)]
        );
        assert!(
            t.idle_flows(1100, 500, 300, &counters).is_empty(),
            "asked recently"
        );
        let again = t.idle_flows(1400, 500, 300, &counters);
        assert_eq!(
            again.len(),
            2,
            "flow 1 again after the retry period, flow 2 now idle"
        );
        t.on_ended(0, FlowId(1));
        assert_eq!(t.len(), 1);
    }
}
