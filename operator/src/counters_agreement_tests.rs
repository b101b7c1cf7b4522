//! One set of counters, rendered by every reader (the final report,
//! `/metrics`, `show port stats`, the status line) and parsed back: every
//! counter each of them shows is the same number.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::metrics::{ControlSnapshot, Sources};
use crate::report::{final_report, status_line, worker_lines, PortLabel};
use crate::shell::port_stats;

const NAMES: [&str; 3] = ["uplink", "vf1", "vf2"];

/// Every counter non-zero and different, in multiples of 10,000 packets so
/// that the status line's Mpps (two decimals, over one second) are exact.
fn workers() -> Vec<(u32, Arc<WorkerStats>)> {
    (0..2u64)
        .map(|w| {
            let s = WorkerStats::new(NAMES.len());
            for (i, c) in s.ports.iter().enumerate() {
                let k = 10_000 * (1 + w + 3 * i as u64);
                c.rx_packets.store(100 * k, Relaxed);
                c.rx_bytes.store(6400 * k + 1, Relaxed);
                c.tx_packets.store(90 * k, Relaxed);
                c.tx_bytes.store(5760 * k + 2, Relaxed);
                c.tx_dropped.store(k, Relaxed);
                c.drop_unknown_unicast.store(2 * k, Relaxed);
                c.drop_group.store(3 * k, Relaxed);
                c.drop_runt.store(4 * k, Relaxed);
                c.drop_rule.store(5 * k, Relaxed);
                c.flooded.store(6 * k, Relaxed);
                c.drop_meter.store(7 * k, Relaxed);
            }
            s.busy_cycles.store(1_000_000 * (w + 1), Relaxed);
            s.idle_cycles.store(500_000, Relaxed);
            s.bursts.store(77 + w, Relaxed);
            (w as u32 + 1, Arc::new(s))
        })
        .collect()
}

fn hw(packets: u64) -> HwCounters {
    HwCounters {
        packets,
        bytes: 64 * packets + 3,
    }
}

fn nic() -> Vec<PortHw> {
    (0..NAMES.len() as u64)
        .map(|i| PortHw {
            rx: hw(1_000_000 * (i + 1)),
            tx: hw(990_000 * (i + 2)),
            meter_dropped: hw(10_000 * i),
        })
        .collect()
}

fn ethdev() -> Vec<rte::PortStats> {
    (0..NAMES.len() as u64)
        .map(|i| rte::PortStats {
            rx_missed: 11 + i,
            rx_nombuf: 13 + i,
            rx_errors: 17 + i,
            tx_errors: 19 + i,
            ..rte::PortStats::default()
        })
        .collect()
}

fn labels() -> Vec<PortLabel> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| PortLabel {
            name: n.to_string(),
            port_id: i as u16,
            driver: "net_flowlift".into(),
        })
        .collect()
}

/// The number after `key` in `text` (spaces skipped).
fn after(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} in\n{text}"));
    let rest = text[at + key.len()..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("a number after {key:?} in\n{text}"))
}

/// `/metrics` samples by their line's name and labels.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// One port's counters as one reader shows them, by name.
type Shown = BTreeMap<&'static str, u64>;

fn from_report(block: &str) -> Shown {
    let mut m = Shown::new();
    for (name, key) in [
        ("rx_packets", "RX-packets:"),
        ("rx_dropped", "RX-dropped:"),
        ("rx_bytes", "RX-bytes:"),
        ("tx_packets", "TX-packets:"),
        ("tx_refused", "TX-dropped:"),
        ("tx_bytes", "TX-bytes:"),
        ("policy", "Policy-dropped:"),
        ("flooded", "Flooded:"),
    ] {
        m.insert(name, after(block, key));
    }
    if block.contains("Meter-dropped:") {
        m.insert("meter", after(block, "Meter-dropped:"));
    }
    if block.contains("NIC's meter") {
        m.insert("meter_nic", after(block, "NIC's meter"));
    }
    m
}

fn from_metrics(s: &BTreeMap<String, f64>, port: &str) -> Shown {
    let get = |k: String| *s.get(&k).unwrap_or_else(|| panic!("{k} in {s:?}")) as u64;
    let drop = |r: &str| {
        get(format!(
            "flowlift_port_dropped_packets_total{{port=\"{port}\",reason=\"{r}\"}}"
        ))
    };
    Shown::from([
        (
            "rx_packets",
            get(format!("flowlift_port_rx_packets_total{{port=\"{port}\"}}")),
        ),
        (
            "rx_bytes",
            get(format!("flowlift_port_rx_bytes_total{{port=\"{port}\"}}")),
        ),
        (
            "tx_packets",
            get(format!("flowlift_port_tx_packets_total{{port=\"{port}\"}}")),
        ),
        (
            "tx_bytes",
            get(format!("flowlift_port_tx_bytes_total{{port=\"{port}\"}}")),
        ),
        ("policy", drop("policy")),
        ("meter", drop("meter")),
        ("tx_refused", drop("tx_refused")),
        ("rx_dropped", drop("rx_missed")),
        (
            "rx_errors",
            get(format!(
                "flowlift_port_errors_total{{port=\"{port}\",direction=\"rx\"}}"
            )),
        ),
        (
            "tx_errors",
            get(format!(
                "flowlift_port_errors_total{{port=\"{port}\",direction=\"tx\"}}"
            )),
        ),
    ])
}

fn from_shell(block: &str) -> Shown {
    let mut m = Shown::new();
    for (name, key) in [
        ("rx_packets", "RX-packets:"),
        ("rx_missed", "RX-missed:"),
        ("rx_bytes", "RX-bytes:"),
        ("rx_errors", "RX-errors:"),
        ("rx_nombuf", "RX-nombuf:"),
        ("tx_packets", "TX-packets:"),
        ("tx_errors_and_refused", "TX-errors:"),
        ("tx_bytes", "TX-bytes:"),
        ("policy", "Dropped: policy"),
        ("meter", "meter"),
        ("tx_refused", "TX refused"),
    ] {
        m.insert(name, after(block, key));
    }
    m.insert("rx_dropped", m["rx_missed"] + m["rx_nombuf"]);
    m.insert("tx_errors", m["tx_errors_and_refused"] - m["tx_refused"]);
    m
}

/// `uplink 2.00/0.00/0.50` in the status line, as packets over one second.
fn from_status(line: &str, port: &str) -> Shown {
    let at = line.find(&format!(" {port} ")).unwrap() + port.len() + 2;
    let rates: Vec<u64> = line[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .split('/')
        .map(|r| (r.parse::<f64>().unwrap() * 1e6).round() as u64)
        .collect();
    Shown::from([
        ("rx_packets", rates[0]),
        ("tx_packets", rates[1]),
        ("taken_drops", rates[2]),
    ])
}

/// Every key two readers both show has the same value.
fn agree(port: &str, a: (&str, &Shown), b: (&str, &Shown)) -> usize {
    let mut compared = 0;
    for (k, v) in a.1 {
        if let Some(w) = b.1.get(k) {
            assert_eq!(v, w, "{port}'s {k}: {} says {v}, {} says {w}", a.0, b.0);
            compared += 1;
        }
    }
    compared
}

#[test]
fn report_metrics_shell_and_status_line_agree_on_every_counter() {
    let workers = workers();
    let (nic, ethdev) = (nic(), ethdev());
    let sources = Arc::new(Sources {
        port_names: NAMES.iter().map(|n| n.to_string()).collect(),
        workers: workers.clone(),
        table_capacity: 1024,
        tsc_hz: 1_000_000,
        snapshot: Arc::new(Mutex::new(ControlSnapshot {
            hw_by_port: nic.clone(),
            ethdev: ethdev.clone(),
            ..ControlSnapshot::default()
        })),
    });
    let metrics = samples(&crate::metrics::render(&sources));
    let snap = Snapshot::read(
        workers.iter().map(|(lc, w)| (*lc, w.as_ref())),
        &nic,
        &ethdev,
        NAMES.len(),
    );
    let labels = labels();
    let report = final_report(&labels, &snap);
    let zero = Snapshot {
        ports: vec![PortCounts::default(); NAMES.len()],
        workers: Vec::new(),
    };
    let status = status_line(Duration::from_secs(1), &labels, &zero, &snap, 1.0);

    let mut accumulated = Shown::new();
    for (i, port) in NAMES.iter().enumerate() {
        let title = format!("Forward statistics for port {port} ");
        let block = &report[report.find(&title).unwrap()..];
        let block = &block[..block.find("\n  ---").unwrap()];
        let report_p = from_report(block);
        let mut metrics_p = from_metrics(&metrics, port);
        metrics_p.insert(
            "taken_drops",
            metrics_p["policy"] + metrics_p["meter"] + metrics_p["tx_refused"],
        );
        let shell_p = from_shell(&port_stats::block(
            &labels[i],
            &snap.ports[i],
            port_stats::Rates::default(),
        ));
        let status_p = from_status(&status, port);

        let n = agree(port, ("report", &report_p), ("/metrics", &metrics_p))
            + agree(port, ("shell", &shell_p), ("/metrics", &metrics_p))
            + agree(port, ("shell", &shell_p), ("report", &report_p))
            + agree(port, ("status line", &status_p), ("/metrics", &metrics_p));
        assert_eq!(n, 8 + 10 + 8 + 3, "{port}: counters compared");
        // And each is the model's: the workers' and the NIC's paths added,
        // rule drops in the policy drops.
        let t = snap.ports[i].total();
        let k = |w: u64| 10_000 * (1 + w + 3 * i as u64);
        let (k0, k1) = (k(0), k(1));
        let ii = i as u64;
        assert_eq!(
            metrics_p["rx_packets"],
            100 * (k0 + k1) + 1_000_000 * (ii + 1)
        );
        assert_eq!(report_p["policy"], 14 * (k0 + k1), "rule drops included");
        assert_eq!(shell_p["meter"], 7 * (k0 + k1) + 10_000 * ii);
        assert_eq!(report_p["rx_dropped"], 24 + 2 * ii);
        assert_eq!(metrics_p["tx_bytes"], t.tx_bytes);
        for (k, v) in &metrics_p {
            if [
                "rx_packets",
                "rx_bytes",
                "tx_packets",
                "tx_bytes",
                "policy",
                "rx_dropped",
                "tx_refused",
            ]
            .contains(k)
            {
                *accumulated.entry(k).or_default() += v;
            }
        }
    }
    // The Accumulated block is the sum of every port's, as /metrics has it.
    let acc = &report[report.find("Accumulated forward statistics").unwrap()..];
    let acc = from_report(acc);
    let n = agree(
        "all ports",
        ("Accumulated", &acc),
        ("sum of /metrics", &accumulated),
    );
    assert_eq!(n, 7, "{acc:?}");
    assert_eq!(acc["policy"], 14 * 10_000 * (1 + 2 + 4 + 5 + 7 + 8));

    // Per worker and per path.
    let lines = worker_lines(&snap.workers, 1_000_000);
    for (lc, w) in &workers {
        let packets: u64 = w.ports.iter().map(|p| p.rx_packets.load(Relaxed)).sum();
        let m = metrics[&format!("flowlift_worker_packets_total{{worker=\"{lc}\"}}")] as u64;
        assert_eq!(m, packets);
        let line = lines
            .lines()
            .find(|l| l.starts_with(&format!("  lcore {lc}:")))
            .unwrap();
        assert_eq!(after(line, "packets="), packets, "{line}");
        assert_eq!(after(line, "busy cycles="), w.busy_cycles.load(Relaxed));
    }
    let carried = snap.carried();
    assert_eq!(
        metrics["flowlift_carried_packets_total{path=\"nic\"}"] as u64,
        carried.nic.packets
    );
    assert_eq!(carried.nic.packets, 6_000_000);
    assert_eq!(
        metrics["flowlift_carried_packets_total{path=\"workers\"}"] as u64,
        carried.workers.packets
    );
}
