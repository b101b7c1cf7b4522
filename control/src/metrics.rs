//! `/metrics`: Prometheus text format, served by [`crate::metrics_server`].
//!
//! Built on the Prometheus project's `prometheus-client` crate, for its
//! scrape-time collectors: nothing is copied into metric objects as traffic
//! flows; at each scrape the collector reads the workers' and the NIC model's
//! counters (the same relaxed loads the status line does, never a lock on the
//! fast path) and the control core's latest [`ControlSnapshot`] (offload
//! figures, flows by state, ethdev counters), which the control core publishes
//! every tick behind a mutex only it and this thread take.
//!
//! Names: `flowlift_` prefix, base units in the names (`_seconds`, `_bytes`),
//! `_total` on counters, and only low-cardinality labels (port, worker, state,
//! reason, path, result): per-flow figures belong to the shell.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use flowlift_dataplane::stats::{PortTotals, WorkerStats};
use flowlift_dataplane::wire::ParseError;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::lifecycle::DemoteReason;
pub use crate::metrics_server::MetricsServer;
use crate::offload::manager::{Latency, OffloadStats};

/// What the control core publishes for the metrics thread, once a tick.
#[derive(Debug, Clone, Default)]
pub struct ControlSnapshot {
    /// The offload engine's counts, if offload is on.
    pub offload: Option<OffloadStats>,
    pub rules_used: u64,
    pub rules_max: u64,
    /// Rules the engine holds at most now (`rules_max`, or fewer after the
    /// NIC refused one for space).
    pub rule_budget: u64,
    /// Rule changes a second the engine makes at most now.
    pub change_rate: f64,
    /// How old a hardware counter reading may be, in seconds.
    pub counter_staleness_s: f64,
    /// Tracked flows by state: onloaded, offloading, offloaded, onloading.
    pub flows_by_state: [u64; 4],
    /// Packets and bytes the NIC's rules carried (all flows, ended or not).
    pub hw_packets: u64,
    pub hw_bytes: u64,
    /// The same by port, from the rules' counters (taken at the port,
    /// delivered to it).
    pub hw_by_port: Vec<crate::fleet::PortHw>,
    /// The ethdev counters of each port (missed, errors, nombuf).
    pub ethdev: Vec<rte::PortStats>,
    /// What operators' static rules took past the workers: (port name,
    /// `drop` or `switch`, packets, bytes).
    pub static_taken: Vec<(String, &'static str, u64, u64)>,
    /// The NIC model's switch: its busy and idle time so far, in TSC
    /// cycles (the PF's xstats; `None` on any other NIC).
    pub nic_model_cycles: Option<(u64, u64)>,
}

/// Everything a scrape reads.
#[derive(Debug)]
pub struct Sources {
    pub port_names: Vec<String>,
    /// (lcore, counters) of each worker.
    pub workers: Vec<(u32, Arc<WorkerStats>)>,
    /// Flows each worker's tables hold.
    pub table_capacity: u64,
    pub tsc_hz: u64,
    pub snapshot: Arc<Mutex<ControlSnapshot>>,
}

#[derive(Debug)]
struct Collector(Arc<Sources>);

type Enc<'a> = DescriptorEncoder<'a>;

fn counter(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: &[(Vec<(&str, String)>, u64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, v) in samples {
        let mut f = m.encode_family(labels)?;
        f.encode_counter::<NoLabelSet, u64, f64>(v, None)?;
    }
    Ok(())
}

fn counter_f(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: &[(Vec<(&str, String)>, f64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, v) in samples {
        let mut f = m.encode_family(labels)?;
        f.encode_counter::<NoLabelSet, f64, f64>(v, None)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    samples: &[(Vec<(&str, String)>, u64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in samples {
        let mut f = m.encode_family(labels)?;
        f.encode_gauge(v)?;
    }
    Ok(())
}

fn gauge_f(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
) -> std::fmt::Result {
    let no_labels: Vec<(&str, String)> = Vec::new();
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    let mut f = m.encode_family(&no_labels)?;
    f.encode_gauge(&value)
}

fn histogram(enc: &mut Enc<'_>, name: &str, help: &str, h: &Latency) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    m.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets(), None)
}

fn one(v: u64) -> Vec<(Vec<(&'static str, String)>, u64)> {
    vec![(Vec::new(), v)]
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let s = &*self.0;
        let snap = s.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let stats: Vec<Arc<WorkerStats>> = s.workers.iter().map(|(_, w)| Arc::clone(w)).collect();
        let mut totals =
            WorkerStats::port_totals(stats.iter().map(|w| w.as_ref()), s.port_names.len());
        merge_flows_hw(&mut totals, &snap.hw_by_port);
        let port = |i: usize| vec![("port", s.port_names[i].clone())];
        let per_port = |f: fn(&PortTotals) -> u64| -> Vec<(Vec<(&str, String)>, u64)> {
            totals
                .iter()
                .enumerate()
                .map(|(i, t)| (port(i), f(t)))
                .collect()
        };
        counter(
            &mut enc,
            "port_rx_packets",
            "Packets received on the port.",
            None,
            &per_port(|t| t.rx_packets),
        )?;
        counter(
            &mut enc,
            "port_rx",
            "Bytes received on the port.",
            Some(&Unit::Bytes),
            &per_port(|t| t.rx_bytes),
        )?;
        counter(
            &mut enc,
            "port_tx_packets",
            "Packets sent out of the port, by either path.",
            None,
            &per_port(|t| t.tx_packets),
        )?;
        counter(
            &mut enc,
            "port_tx",
            "Bytes sent out of the port, by either path.",
            Some(&Unit::Bytes),
            &per_port(|t| t.tx_bytes),
        )?;
        let mut drops = Vec::new();
        for (i, t) in totals.iter().enumerate() {
            let missed = snap.ethdev.get(i).map_or(0, |e| e.rx_missed + e.rx_nombuf);
            for (reason, v) in [
                ("policy", t.policy_drops()),
                ("meter", t.drop_meter),
                ("tx_refused", t.tx_dropped),
                ("rx_missed", missed),
            ] {
                drops.push((
                    vec![
                        ("port", s.port_names[i].clone()),
                        ("reason", reason.to_string()),
                    ],
                    v,
                ));
            }
        }
        counter(
            &mut enc,
            "port_dropped_packets",
            "Packets received on or bound for the port and not delivered, by reason.",
            None,
            &drops,
        )?;
        let errors: Vec<_> = snap
            .ethdev
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                [
                    (
                        vec![
                            ("port", s.port_names[i].clone()),
                            ("direction", "rx".to_string()),
                        ],
                        e.rx_errors,
                    ),
                    (
                        vec![
                            ("port", s.port_names[i].clone()),
                            ("direction", "tx".to_string()),
                        ],
                        e.tx_errors,
                    ),
                ]
            })
            .collect();
        counter(
            &mut enc,
            "port_errors",
            "Errors the port's driver counted.",
            None,
            &errors,
        )?;

        let worker = |lc: u32| vec![("worker", lc.to_string())];
        let per_worker = |f: &dyn Fn(&WorkerStats) -> u64| -> Vec<(Vec<(&str, String)>, u64)> {
            s.workers
                .iter()
                .map(|(lc, w)| (worker(*lc), f(w)))
                .collect()
        };
        counter(
            &mut enc,
            "worker_packets",
            "Packets the worker received (the flows the NIC does not carry).",
            None,
            &per_worker(&|w| w.ports.iter().map(|p| p.rx_packets.load(Relaxed)).sum()),
        )?;
        let hz = s.tsc_hz.max(1) as f64;
        let secs = |f: fn(&WorkerStats) -> u64| -> Vec<(Vec<(&str, String)>, f64)> {
            s.workers
                .iter()
                .map(|(lc, w)| (worker(*lc), f(w) as f64 / hz))
                .collect()
        };
        counter_f(
            &mut enc,
            "worker_busy",
            "Time in poll-loop passes that moved packets.",
            Some(&Unit::Seconds),
            &secs(|w| w.busy_cycles.load(Relaxed)),
        )?;
        counter_f(
            &mut enc,
            "worker_idle",
            "Time in poll-loop passes that moved nothing.",
            Some(&Unit::Seconds),
            &secs(|w| w.idle_cycles.load(Relaxed)),
        )?;
        counter(
            &mut enc,
            "worker_bursts",
            "RX bursts that returned packets.",
            None,
            &per_worker(&|w| w.bursts.load(Relaxed)),
        )?;
        if let Some((busy, idle)) = snap.nic_model_cycles {
            counter_f(
                &mut enc,
                "nic_model_busy",
                "Time the NIC model's switch (a model of hardware, not host work) spent moving packets and rules.",
                Some(&Unit::Seconds),
                &[(Vec::new(), busy as f64 / hz)],
            )?;
            counter_f(
                &mut enc,
                "nic_model_idle",
                "Time the NIC model's switch spent polling with nothing to move.",
                Some(&Unit::Seconds),
                &[(Vec::new(), idle as f64 / hz)],
            )?;
        }

        gauge(
            &mut enc,
            "flow_table_capacity",
            "Flows each worker's tables hold.",
            &per_worker(&|_| s.table_capacity),
        )?;
        gauge(
            &mut enc,
            "flow_table_used",
            "Flows in the worker's tables.",
            &per_worker(&|w| {
                w.flows_created
                    .load(Relaxed)
                    .saturating_sub(w.flows_evicted.load(Relaxed))
            }),
        )?;
        counter(
            &mut enc,
            "flow_table_insert_failures",
            "Packets of new flows forwarded uncached because the table was full.",
            None,
            &per_worker(&|w| w.table_full.load(Relaxed)),
        )?;
        counter(
            &mut enc,
            "flows_created",
            "Flows created.",
            None,
            &per_worker(&|w| w.flows_created.load(Relaxed)),
        )?;
        let states = ["onloaded", "offloading", "offloaded", "onloading"];
        let by_state: Vec<_> = states
            .iter()
            .zip(snap.flows_by_state)
            .map(|(st, n)| (vec![("state", st.to_string())], n))
            .collect();
        gauge(
            &mut enc,
            "flows",
            "Flows the control core tracks, by offload state.",
            &by_state,
        )?;

        let sw_packets: u64 = stats
            .iter()
            .flat_map(|w| w.ports.iter())
            .map(|p| p.rx_packets.load(Relaxed))
            .sum();
        let sw_bytes: u64 = stats
            .iter()
            .flat_map(|w| w.ports.iter())
            .map(|p| p.rx_bytes.load(Relaxed))
            .sum();
        let (hw_packets, hw_bytes) = (snap.hw_packets, snap.hw_bytes);
        let path = |p: &str| vec![("path", p.to_string())];
        counter(
            &mut enc,
            "carried_packets",
            "Packets carried, by path: the NIC's rules or the workers.",
            None,
            &[(path("nic"), hw_packets), (path("workers"), sw_packets)],
        )?;
        counter(
            &mut enc,
            "carried",
            "Bytes carried, by path.",
            Some(&Unit::Bytes),
            &[(path("nic"), hw_bytes), (path("workers"), sw_bytes)],
        )?;
        // Always present (zero without static rules), so that a query
        // summing the flows and this bucket never misses a series.
        let mut taken: std::collections::BTreeMap<(String, &str), (u64, u64)> =
            std::collections::BTreeMap::new();
        for name in s.port_names.iter().take(1) {
            for by in ["drop", "switch"] {
                taken.insert((name.clone(), by), (0, 0));
            }
        }
        for (name, by, packets, bytes) in &snap.static_taken {
            taken.insert((name.clone(), by), (*packets, *bytes));
        }
        let taken_by = |pick: fn(&(u64, u64)) -> u64| -> Vec<(Vec<(&str, String)>, u64)> {
            taken
                .iter()
                .map(|((name, by), v)| {
                    (
                        vec![("port", name.clone()), ("taken", by.to_string())],
                        pick(v),
                    )
                })
                .collect()
        };
        counter(
            &mut enc,
            "static_rule_packets",
            "Packets operators' static rules took past the workers (dropped or switched by the NIC), so in no flow's counters.",
            None,
            &taken_by(|v| v.0),
        )?;
        counter(
            &mut enc,
            "static_rule",
            "Bytes operators' static rules took past the workers.",
            Some(&Unit::Bytes),
            &taken_by(|v| v.1),
        )?;

        let parse = WorkerStats::parse_error_totals(stats.iter().map(|w| w.as_ref()));
        let parse: Vec<_> = ParseError::ALL
            .iter()
            .zip(parse)
            .map(|(e, (_, n))| (vec![("reason", e.label().to_string())], n))
            .collect();
        counter(
            &mut enc,
            "no_flow_key_packets",
            "Packets without a flow key (forwarded by MAC), by reason.",
            None,
            &parse,
        )?;
        let sum = |f: fn(&WorkerStats) -> u64| stats.iter().map(|w| f(w)).sum::<u64>();
        counter(
            &mut enc,
            "flow_events_dropped",
            "New-flow events lost (queue and deferred list full).",
            None,
            &one(sum(|w| w.events_dropped.load(Relaxed))),
        )?;
        counter(
            &mut enc,
            "flow_events_deferred",
            "New-flow events sent late because the queue was full.",
            None,
            &one(sum(|w| w.events_deferred.load(Relaxed))),
        )?;

        if let Some(o) = &snap.offload {
            gauge(
                &mut enc,
                "offload_rules",
                "Rules installed on the NIC.",
                &one(snap.rules_used),
            )?;
            gauge(
                &mut enc,
                "offload_rules_max",
                "Rules flowlift may use.",
                &one(snap.rules_max),
            )?;
            gauge(
                &mut enc,
                "offload_rule_budget",
                "Rules flowlift holds at most now: offload_rules_max, or fewer after the NIC refused one for space (ENOSPC).",
                &one(snap.rule_budget),
            )?;
            gauge_f(
                &mut enc,
                "offload_change_rate",
                "Rule installs and removals per second flowlift makes at most now: inserts_per_sec, or fewer after the NIC answered busy (EBUSY/EAGAIN).",
                None,
                snap.change_rate,
            )?;
            gauge_f(
                &mut enc,
                "offload_hw_staleness",
                "How old a hardware counter reading may be: the NIC's counter cache period (0: live).",
                Some(&Unit::Seconds),
                snap.counter_staleness_s,
            )?;
            let mut installs = vec![(vec![("result", "ok".to_string())], o.installs)];
            installs.extend(
                o.install_failures
                    .iter()
                    .map(|(r, n)| (vec![("result", r.to_string())], *n)),
            );
            counter(
                &mut enc,
                "offload_installs",
                "Rule installs, by result.",
                None,
                &installs,
            )?;
            let mut removals = vec![(vec![("result", "ok".to_string())], o.removals)];
            removals.extend(
                o.removal_failures
                    .iter()
                    .map(|(r, n)| (vec![("result", r.to_string())], *n)),
            );
            counter(
                &mut enc,
                "offload_removals",
                "Rule removals, by result.",
                None,
                &removals,
            )?;
            let demotions: Vec<_> = DemoteReason::ALL
                .iter()
                .zip(o.demotions)
                .map(|(r, n)| (vec![("reason", r.label().to_string())], n))
                .collect();
            counter(
                &mut enc,
                "offload_demotions",
                "Flows taken off the NIC, by reason.",
                None,
                &demotions,
            )?;
            let queries: Vec<_> = o
                .query_failures
                .iter()
                .map(|(r, n)| (vec![("reason", r.to_string())], *n))
                .collect();
            counter(
                &mut enc,
                "offload_query_failures",
                "Rule counter reads that failed, by reason.",
                None,
                &queries,
            )?;
            gauge(
                &mut enc,
                "offload_finals_pending",
                "Removed rules whose final counts the NIC has yet to show (cached counters).",
                &one(o.finals_pending),
            )?;
            gauge(
                &mut enc,
                "offload_ended_waiting",
                "Ended flows whose records wait for their rules' final counts before they are logged.",
                &one(o.ended_waiting),
            )?;
            counter(
                &mut enc,
                "offload_ticks",
                "Control ticks run.",
                None,
                &one(o.ticks),
            )?;
            histogram(
                &mut enc,
                "offload_install_latency",
                "Time to install one rule.",
                &o.install_latency,
            )?;
            histogram(
                &mut enc,
                "offload_query_latency",
                "Time to read every rule's counter (one batch).",
                &o.query_latency,
            )?;
        }
        Ok(())
    }
}

/// Adds the NIC's share, from its rules' counters and meters, to per-port
/// totals: what the rules took counts as RX on the port it came in on; what
/// they delivered as the VF's TX, and what the VF's NIC meter dropped as its
/// meter drops (beside the workers' meter's).
pub fn merge_flows_hw(totals: &mut [PortTotals], hw: &[crate::fleet::PortHw]) {
    for (t, h) in totals.iter_mut().zip(hw) {
        t.rx_packets += h.rx.packets;
        t.rx_bytes += h.rx.bytes;
        t.tx_packets += h.tx.packets;
        t.tx_bytes += h.tx.bytes;
        t.drop_meter += h.meter_dropped.packets;
    }
}

/// The metrics text for `sources`, as a scrape gets it.
pub fn render(sources: &Arc<Sources>) -> String {
    let mut registry = Registry::with_prefix("flowlift");
    registry.register_collector(Box::new(Collector(Arc::clone(sources))));
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Arc<Sources> {
        let w = Arc::new(WorkerStats::new(2));
        w.ports[0].rx_packets.store(10, Relaxed);
        w.ports[1].tx_packets.store(9, Relaxed);
        w.ports[1].drop_meter.store(1, Relaxed);
        w.busy_cycles.store(2_000_000, Relaxed);
        let mut offload = OffloadStats {
            installs: 3,
            finals_pending: 2,
            ended_waiting: 1,
            ..OffloadStats::default()
        };
        offload.install_failures.insert("busy", 2);
        offload.install_latency.observe(2e-5, 3);
        Arc::new(Sources {
            port_names: vec!["uplink".into(), "vf1".into()],
            workers: vec![(1, w)],
            table_capacity: 1024,
            tsc_hz: 1_000_000,
            snapshot: Arc::new(Mutex::new(ControlSnapshot {
                offload: Some(offload),
                rules_used: 3,
                rules_max: 8,
                flows_by_state: [5, 0, 3, 0],
                ..ControlSnapshot::default()
            })),
        })
    }

    #[test]
    fn names_units_and_labels_follow_prometheus_conventions() {
        let text = render(&sources());
        for line in [
            "# TYPE flowlift_port_rx_packets_total counter",
            "flowlift_port_rx_packets_total{port=\"uplink\"} 10",
            "flowlift_port_tx_bytes_total{port=\"vf1\"} 0",
            "flowlift_port_dropped_packets_total{port=\"vf1\",reason=\"meter\"} 1",
            "flowlift_worker_busy_seconds_total{worker=\"1\"} 2.0",
            "flowlift_flows{state=\"offloaded\"} 3",
            "flowlift_offload_installs_total{result=\"busy\"} 2",
            "flowlift_offload_install_latency_seconds_count 3",
            "flowlift_offload_install_latency_seconds_bucket{le=\"5e-05\"} 3",
            "flowlift_offload_install_latency_seconds_bucket{le=\"+Inf\"} 3",
            "# TYPE flowlift_offload_finals_pending gauge",
            "flowlift_offload_finals_pending 2",
            "flowlift_offload_ended_waiting 1",
            "flowlift_carried_packets_total{path=\"workers\"} 10",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
