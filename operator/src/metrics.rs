//! `/metrics`: Prometheus text format, served by [`crate::metrics_server`].
//!
//! Built on the Prometheus project's `prometheus-client` crate, for its
//! scrape-time collectors: nothing is copied into metric objects as traffic
//! flows; at each scrape the collector reads the workers' counters (the same
//! relaxed loads the status line does, never a lock on the fast path) and the
//! control core's latest [`ControlSnapshot`] (offload figures, flows by
//! state, the NIC's rules' and the ethdev counters), which the control core
//! publishes every tick behind a mutex only it and this thread take. Port,
//! path and worker figures come from one [`crate::counters::Snapshot`] built
//! from both, as the status line's, the shell's and the final report's do.
//!
//! Names: `flowlift_` prefix, base units in the names (`_seconds`, `_bytes`),
//! `_total` on counters, and only low-cardinality labels (port, worker, state,
//! reason, path, result): per-flow figures belong to the shell.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use flowlift_dataplane::stats::{PortTotals, WorkerStats};
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::counters::{Snapshot, WorkerCounts};
pub use crate::metrics_server::MetricsServer;
use flowlift_offload::lifecycle::DemoteReason;
use flowlift_offload::manager::{Latency, OffloadStats};

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
    /// What the NIC's rules carried (all flows, ended or not), by port, from
    /// the rules' counters (taken at the port, delivered to it).
    pub hw_by_port: Vec<flowlift_offload::fleet::PortHw>,
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

type Samples<'a, T> = Vec<(Vec<(&'a str, String)>, T)>;

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let s = &*self.0;
        let snap = s.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let counts = Snapshot::read(
            s.workers.iter().map(|(lc, w)| (*lc, w.as_ref())),
            &snap.hw_by_port,
            &snap.ethdev,
            s.port_names.len(),
        );
        encode_ports(&mut enc, &s.port_names, &counts)?;
        encode_workers(&mut enc, s.tsc_hz, &counts, snap.nic_model_cycles)?;
        encode_flow_table(&mut enc, s, &snap)?;
        encode_carried(&mut enc, &s.port_names, &counts, &snap)?;
        encode_no_key(&mut enc, s)?;
        if let Some(o) = &snap.offload {
            encode_offload(&mut enc, &snap, o)?;
        }
        Ok(())
    }
}

/// Each port's packets and bytes (both paths), drops by reason, errors.
fn encode_ports(enc: &mut Enc<'_>, names: &[String], counts: &Snapshot) -> std::fmt::Result {
    let port = |i: usize| vec![("port", names[i].clone())];
    let per_port = |f: fn(&PortTotals) -> u64| -> Samples<'_, u64> {
        counts
            .totals()
            .iter()
            .enumerate()
            .map(|(i, t)| (port(i), f(t)))
            .collect()
    };
    counter(
        enc,
        "port_rx_packets",
        "Packets received on the port.",
        None,
        &per_port(|t| t.rx_packets),
    )?;
    counter(
        enc,
        "port_rx",
        "Bytes received on the port.",
        Some(&Unit::Bytes),
        &per_port(|t| t.rx_bytes),
    )?;
    counter(
        enc,
        "port_tx_packets",
        "Packets sent out of the port, by either path.",
        None,
        &per_port(|t| t.tx_packets),
    )?;
    counter(
        enc,
        "port_tx",
        "Bytes sent out of the port, by either path.",
        Some(&Unit::Bytes),
        &per_port(|t| t.tx_bytes),
    )?;
    let mut drops = Vec::new();
    for (i, p) in counts.ports.iter().enumerate() {
        let d = p.drops();
        for (reason, v) in [
            ("policy", d.policy),
            ("meter", d.meter),
            ("tx_refused", d.tx_refused),
            ("rx_missed", d.rx_missed),
        ] {
            let mut labels = port(i);
            labels.push(("reason", reason.to_string()));
            drops.push((labels, v));
        }
    }
    counter(
        enc,
        "port_dropped_packets",
        "Packets received on or bound for the port and not delivered, by reason.",
        None,
        &drops,
    )?;
    let mut errors = Vec::new();
    for (i, p) in counts.ports.iter().enumerate() {
        for (direction, v) in [("rx", p.ethdev.rx_errors), ("tx", p.ethdev.tx_errors)] {
            let mut labels = port(i);
            labels.push(("direction", direction.to_string()));
            errors.push((labels, v));
        }
    }
    counter(
        enc,
        "port_errors",
        "Errors the port's driver counted.",
        None,
        &errors,
    )
}

/// Each worker's packets, time busy and idle, bursts; the NIC model's time.
fn encode_workers(
    enc: &mut Enc<'_>,
    tsc_hz: u64,
    counts: &Snapshot,
    nic_model_cycles: Option<(u64, u64)>,
) -> std::fmt::Result {
    let per_worker = |f: fn(&WorkerCounts) -> u64| -> Samples<'_, u64> {
        counts
            .workers
            .iter()
            .map(|w| (worker(w.lcore), f(w)))
            .collect()
    };
    counter(
        enc,
        "worker_packets",
        "Packets the worker received (the flows the NIC does not carry).",
        None,
        &per_worker(|w| w.packets),
    )?;
    let hz = tsc_hz.max(1) as f64;
    let secs = |f: fn(&WorkerCounts) -> u64| -> Samples<'_, f64> {
        counts
            .workers
            .iter()
            .map(|w| (worker(w.lcore), f(w) as f64 / hz))
            .collect()
    };
    counter_f(
        enc,
        "worker_busy",
        "Time in poll-loop passes that moved packets.",
        Some(&Unit::Seconds),
        &secs(|w| w.busy_cycles),
    )?;
    counter_f(
        enc,
        "worker_idle",
        "Time in poll-loop passes that moved nothing.",
        Some(&Unit::Seconds),
        &secs(|w| w.idle_cycles),
    )?;
    counter(
        enc,
        "worker_bursts",
        "RX bursts that returned packets.",
        None,
        &per_worker(|w| w.bursts),
    )?;
    if let Some((busy, idle)) = nic_model_cycles {
        counter_f(
            enc,
            "nic_model_busy",
            "Time the NIC model's switch (a model of hardware, not host work) spent moving packets and rules.",
            Some(&Unit::Seconds),
            &[(Vec::new(), busy as f64 / hz)],
        )?;
        counter_f(
            enc,
            "nic_model_idle",
            "Time the NIC model's switch spent polling with nothing to move.",
            Some(&Unit::Seconds),
            &[(Vec::new(), idle as f64 / hz)],
        )?;
    }
    Ok(())
}

fn worker(lcore: u32) -> Vec<(&'static str, String)> {
    vec![("worker", lcore.to_string())]
}

/// Each worker's flow table, and the flows the control core tracks by state.
fn encode_flow_table(enc: &mut Enc<'_>, s: &Sources, snap: &ControlSnapshot) -> std::fmt::Result {
    let per_worker = |f: &dyn Fn(&WorkerStats) -> u64| -> Samples<'_, u64> {
        s.workers
            .iter()
            .map(|(lc, w)| (worker(*lc), f(w)))
            .collect()
    };
    gauge(
        enc,
        "flow_table_capacity",
        "Flows each worker's tables hold.",
        &per_worker(&|_| s.table_capacity),
    )?;
    gauge(
        enc,
        "flow_table_used",
        "Flows in the worker's tables.",
        &per_worker(&|w| {
            w.flows_created
                .load(Relaxed)
                .saturating_sub(w.flows_evicted.load(Relaxed))
        }),
    )?;
    counter(
        enc,
        "flow_table_insert_failures",
        "Packets of new flows forwarded uncached because the table was full.",
        None,
        &per_worker(&|w| w.table_full.load(Relaxed)),
    )?;
    counter(
        enc,
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
        enc,
        "flows",
        "Flows the control core tracks, by offload state.",
        &by_state,
    )
}

/// Packets and bytes carried by path, and what static rules took past the
/// workers.
fn encode_carried(
    enc: &mut Enc<'_>,
    names: &[String],
    counts: &Snapshot,
    snap: &ControlSnapshot,
) -> std::fmt::Result {
    let c = counts.carried();
    let path = |p: &str| vec![("path", p.to_string())];
    counter(
        enc,
        "carried_packets",
        "Packets carried, by path: the NIC's rules or the workers.",
        None,
        &[
            (path("nic"), c.nic.packets),
            (path("workers"), c.workers.packets),
        ],
    )?;
    counter(
        enc,
        "carried",
        "Bytes carried, by path.",
        Some(&Unit::Bytes),
        &[
            (path("nic"), c.nic.bytes),
            (path("workers"), c.workers.bytes),
        ],
    )?;
    // Always present (zero without static rules), so that a query
    // summing the flows and this bucket never misses a series.
    let mut taken: std::collections::BTreeMap<(String, &str), (u64, u64)> =
        std::collections::BTreeMap::new();
    for name in names.iter().take(1) {
        for by in ["drop", "switch"] {
            taken.insert((name.clone(), by), (0, 0));
        }
    }
    for (name, by, packets, bytes) in &snap.static_taken {
        taken.insert((name.clone(), by), (*packets, *bytes));
    }
    let taken_by = |pick: fn(&(u64, u64)) -> u64| -> Samples<'_, u64> {
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
        enc,
        "static_rule_packets",
        "Packets operators' static rules took past the workers (dropped or switched by the NIC), so in no flow's counters.",
        None,
        &taken_by(|v| v.0),
    )?;
    counter(
        enc,
        "static_rule",
        "Bytes operators' static rules took past the workers.",
        Some(&Unit::Bytes),
        &taken_by(|v| v.1),
    )
}

/// Packets without a flow key by reason, and new-flow events lost or late.
fn encode_no_key(enc: &mut Enc<'_>, s: &Sources) -> std::fmt::Result {
    let stats = || s.workers.iter().map(|(_, w)| w.as_ref());
    let parse: Vec<_> = WorkerStats::parse_error_totals(stats())
        .into_iter()
        .map(|(e, n)| (vec![("reason", e.label().to_string())], n))
        .collect();
    counter(
        enc,
        "no_flow_key_packets",
        "Packets without a flow key (forwarded by MAC), by reason.",
        None,
        &parse,
    )?;
    let sum = |f: fn(&WorkerStats) -> u64| stats().map(f).sum::<u64>();
    counter(
        enc,
        "flow_events_dropped",
        "New-flow events lost (queue and deferred list full).",
        None,
        &one(sum(|w| w.events_dropped.load(Relaxed))),
    )?;
    counter(
        enc,
        "flow_events_deferred",
        "New-flow events sent late because the queue was full.",
        None,
        &one(sum(|w| w.events_deferred.load(Relaxed))),
    )
}

/// The offload engine: its rules, limits, results and latencies.
fn encode_offload(enc: &mut Enc<'_>, snap: &ControlSnapshot, o: &OffloadStats) -> std::fmt::Result {
    encode_offload_limits(enc, snap)?;
    encode_offload_results(enc, o)?;
    histogram(
        enc,
        "offload_install_latency",
        "Time to install one rule.",
        &o.install_latency,
    )?;
    histogram(
        enc,
        "offload_query_latency",
        "Time to read every rule's counter (one batch).",
        &o.query_latency,
    )
}

/// The rules installed and what flowlift may use now.
fn encode_offload_limits(enc: &mut Enc<'_>, snap: &ControlSnapshot) -> std::fmt::Result {
    gauge(
        enc,
        "offload_rules",
        "Rules installed on the NIC.",
        &one(snap.rules_used),
    )?;
    gauge(
        enc,
        "offload_rules_max",
        "Rules flowlift may use.",
        &one(snap.rules_max),
    )?;
    gauge(
        enc,
        "offload_rule_budget",
        "Rules flowlift holds at most now: offload_rules_max, or fewer after the NIC refused one for space (ENOSPC).",
        &one(snap.rule_budget),
    )?;
    gauge_f(
        enc,
        "offload_change_rate",
        "Rule installs and removals per second flowlift makes at most now: inserts_per_sec, or fewer after the NIC answered busy (EBUSY/EAGAIN).",
        None,
        snap.change_rate,
    )?;
    gauge_f(
        enc,
        "offload_hw_staleness",
        "How old a hardware counter reading may be: the NIC's counter cache period (0: live).",
        Some(&Unit::Seconds),
        snap.counter_staleness_s,
    )
}

/// Installs, removals, demotions and counter reads by result, the finals
/// waited for, the ticks.
fn encode_offload_results(enc: &mut Enc<'_>, o: &OffloadStats) -> std::fmt::Result {
    let by_result = |ok: u64, failures: &std::collections::BTreeMap<&'static str, u64>| {
        let mut v = vec![(vec![("result", "ok".to_string())], ok)];
        v.extend(
            failures
                .iter()
                .map(|(r, n)| (vec![("result", r.to_string())], *n)),
        );
        v
    };
    counter(
        enc,
        "offload_installs",
        "Rule installs, by result.",
        None,
        &by_result(o.installs, &o.install_failures),
    )?;
    counter(
        enc,
        "offload_removals",
        "Rule removals, by result.",
        None,
        &by_result(o.removals, &o.removal_failures),
    )?;
    let demotions: Vec<_> = DemoteReason::ALL
        .iter()
        .zip(o.demotions)
        .map(|(r, n)| (vec![("reason", r.label().to_string())], n))
        .collect();
    counter(
        enc,
        "offload_demotions",
        "Flows taken off the NIC, by reason.",
        None,
        &demotions,
    )?;
    counter(
        enc,
        "offload_flaps",
        "Rules the engine removed (cold, idle or evicted) within 5 ticks of their install.",
        None,
        &[(vec![], o.flaps)],
    )?;
    let queries: Vec<_> = o
        .query_failures
        .iter()
        .map(|(r, n)| (vec![("reason", r.to_string())], *n))
        .collect();
    counter(
        enc,
        "offload_query_failures",
        "Rule counter reads that failed, by reason.",
        None,
        &queries,
    )?;
    gauge(
        enc,
        "offload_finals_pending",
        "Removed rules whose final counts the NIC has yet to show (cached counters).",
        &one(o.finals_pending),
    )?;
    gauge(
        enc,
        "offload_ended_waiting",
        "Ended flows whose records wait for their rules' final counts before they are logged.",
        &one(o.ended_waiting),
    )?;
    counter(
        enc,
        "offload_ticks",
        "Control ticks run.",
        None,
        &one(o.ticks),
    )
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
