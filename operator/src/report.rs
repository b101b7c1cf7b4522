//! What the appliance prints: the one-line status every second, and the final
//! per-port counters in testpmd's "Forward statistics" layout, which DPDK users
//! read (and grep) without thinking.

use std::fmt::Write as _;
use std::time::Duration;

use flowlift_dataplane::stages::Stage;
use flowlift_dataplane::stats::PortTotals;

use crate::counters::{Drops, Snapshot, WorkerCounts};

/// A port as the reports name it.
#[derive(Debug, Clone)]
pub struct PortLabel {
    /// The operator's name from the config (`uplink`, `vf1`).
    pub name: String,
    /// DPDK's port id.
    pub port_id: u16,
    /// The driver (`net_pcap`, `net_null`, `mlx5_pci`).
    pub driver: String,
}

/// `part` as a percentage of `whole` (0 when `whole` is 0).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn mpps(packets: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        0.0
    } else {
        packets as f64 / secs / 1e6
    }
}

/// `[    3s] rx/tx/drop Mpps: uplink 17.06/0.00/0.00 vf1 0.00/5.76/0.00 ... | busy 100%`
///
/// Rates between two snapshots `secs` apart; the drops are those of what
/// the appliance took ([`crate::counters::Drops::taken`]), busy the workers'
/// share of busy cycles. Compact on purpose: five ports fit a 132-column
/// terminal.
pub fn status_line(
    elapsed: Duration,
    labels: &[PortLabel],
    prev: &Snapshot,
    now: &Snapshot,
    secs: f64,
) -> String {
    let mut line = format!("[{:>5}s] rx/tx/drop Mpps:", elapsed.as_secs());
    for ((label, p), n) in labels.iter().zip(&prev.ports).zip(&now.ports) {
        let (pt, nt) = (p.total(), n.total());
        let _ = write!(
            line,
            " {} {:.2}/{:.2}/{:.2}",
            label.name,
            mpps(nt.rx_packets - pt.rx_packets, secs),
            mpps(nt.tx_packets - pt.tx_packets, secs),
            mpps(n.drops().taken() - p.drops().taken(), secs),
        );
    }
    let (b0, i0) = prev.cycles();
    let (b1, i1) = now.cycles();
    let (busy, idle) = (b1.saturating_sub(b0), i1.saturating_sub(i0));
    let _ = write!(line, " | busy {:.0}%", percent(busy, busy + idle));
    line
}

/// Each worker's cycles per received packet by stage of its loop (the cycle
/// budget of perf/README.md; builds with `stage-cycles` only):
/// `lcore 1: cycles/packet by stage: rx 20.1, parse 18.0, ... (sum 150.2)`.
pub fn stage_lines(workers: &[WorkerCounts]) -> String {
    let mut out = String::new();
    for w in workers {
        let per = |c: u64| c as f64 / w.packets.max(1) as f64;
        let _ = write!(out, "  lcore {}: cycles/packet by stage:", w.lcore);
        for (i, (stage, &c)) in Stage::ALL.iter().zip(&w.stages).enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(out, "{sep}{} {:.1}", stage.label(), per(c));
        }
        let _ = writeln!(out, " (sum {:.1})", per(w.stages.iter().sum()));
    }
    out
}

/// testpmd's `--record-core-cycles` line, per worker:
/// `lcore 1: CPU cycles/packet=98.04 (busy cycles=... / packets=...) at 2600 MHz Clock, busy 99.9%`
pub fn worker_lines(workers: &[WorkerCounts], tsc_hz: u64) -> String {
    let mut out = String::new();
    for w in workers {
        let cpp = if w.packets == 0 {
            0.0
        } else {
            w.busy_cycles as f64 / w.packets as f64
        };
        let busy = percent(w.busy_cycles, w.busy_cycles + w.idle_cycles);
        let _ = writeln!(
            out,
            "  lcore {}: CPU cycles/packet={:.2} (busy cycles={} / packets={}) at {} MHz Clock, busy {:.1}%",
            w.lcore,
            cpp,
            w.busy_cycles,
            w.packets,
            tsc_hz / 1_000_000,
            busy
        );
    }
    out
}

/// Flow figures for the final report.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowFigures {
    pub created: u64,
    pub evicted: u64,
    pub at_exit: u64,
    pub table_full: u64,
    pub events_deferred: u64,
    pub events_dropped: u64,
}

/// Packets without a flow key by reason, and the flow table's figures.
pub fn flow_report(
    parse: &[(flowlift_dataplane::wire::ParseError, u64)],
    f: &FlowFigures,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  Flows: created {}, evicted idle {}, alive at exit {}; table-full packets {}; new-flow events deferred {}, dropped {}",
        f.created, f.evicted, f.at_exit, f.table_full, f.events_deferred, f.events_dropped
    );
    let no_key: Vec<String> = parse
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(e, n)| format!("{} {n}", e.label()))
        .collect();
    let total: u64 = parse.iter().map(|(_, n)| n).sum();
    let _ = writeln!(
        out,
        "  No-flow-key packets: {total}{}{}",
        if no_key.is_empty() { "" } else { " (" },
        if no_key.is_empty() {
            String::new()
        } else {
            no_key.join(", ") + ")"
        }
    );
    out
}

/// The final counters: one block per port, then the totals of every port
/// ([`Snapshot::accumulated`]). A port's meter drops show the NIC's meter's
/// apart when there are any.
pub fn final_report(labels: &[PortLabel], snap: &Snapshot) -> String {
    let mut out = String::new();
    for (label, p) in labels.iter().zip(&snap.ports) {
        let title = format!(
            " Forward statistics for port {} (port {}, {}) ",
            label.name, label.port_id, label.driver
        );
        let _ = writeln!(out, "  {:-^76}", title);
        let (t, d) = (p.total(), p.drops());
        write_rx_tx(&mut out, &t, &d);
        let _ = writeln!(
            out,
            "  Policy-dropped: {:<10} (unknown-unicast {}, broadcast {}, runt {})  Flooded: {}",
            d.policy, t.drop_unknown_unicast, t.drop_group, t.drop_runt, t.flooded
        );
        if d.meter_nic > 0 {
            let _ = writeln!(
                out,
                "  Meter-dropped: {} (over the port's rate limit: workers' meter {}, NIC's meter {})",
                d.meter,
                d.meter.saturating_sub(d.meter_nic),
                d.meter_nic
            );
        } else if d.meter > 0 {
            let _ = writeln!(
                out,
                "  Meter-dropped: {} (over the port's rate limit)",
                d.meter
            );
        }
        let _ = writeln!(out, "  {}", "-".repeat(76));
    }
    let all = snap.accumulated();
    let (t, d) = (all.total(), all.drops());
    let _ = writeln!(
        out,
        "\n  {:+^76}",
        " Accumulated forward statistics for all ports "
    );
    write_rx_tx(&mut out, &t, &d);
    let _ = writeln!(
        out,
        "  Policy-dropped: {:<10} Flooded: {}",
        d.policy, t.flooded
    );
    let _ = writeln!(out, "  {}", "+".repeat(76));
    out
}

/// testpmd's RX and TX lines of a port's (or all ports') block.
fn write_rx_tx(out: &mut String, t: &PortTotals, d: &Drops) {
    let _ = writeln!(
        out,
        "  RX-packets: {:<14} RX-dropped: {:<14} RX-bytes: {}",
        t.rx_packets, d.rx_missed, t.rx_bytes
    );
    let _ = writeln!(
        out,
        "  TX-packets: {:<14} TX-dropped: {:<14} TX-bytes: {}",
        t.tx_packets, d.tx_refused, t.tx_bytes
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<PortLabel> {
        ["uplink", "vf1"]
            .iter()
            .enumerate()
            .map(|(i, n)| PortLabel {
                name: n.to_string(),
                port_id: i as u16,
                driver: "net_null".into(),
            })
            .collect()
    }

    fn snapshot(ports: Vec<PortTotals>) -> Snapshot {
        Snapshot {
            ports: ports
                .into_iter()
                .map(|workers| crate::counters::PortCounts {
                    workers,
                    ..Default::default()
                })
                .collect(),
            workers: Vec::new(),
        }
    }

    #[test]
    fn status_line_shows_each_ports_rates() {
        let prev = Snapshot {
            workers: vec![WorkerCounts {
                busy_cycles: 10,
                idle_cycles: 1000,
                ..WorkerCounts::default()
            }],
            ..snapshot(vec![PortTotals::default(); 2])
        };
        let mut now = prev.clone();
        now.ports[0].workers.rx_packets = 2_000_000;
        now.ports[1].workers.tx_packets = 1_500_000;
        now.ports[0].workers.drop_group = 500_000;
        now.workers[0].busy_cycles += 996;
        now.workers[0].idle_cycles += 4;
        let line = status_line(Duration::from_secs(3), &labels(), &prev, &now, 1.0);
        assert_eq!(
            line,
            "[    3s] rx/tx/drop Mpps: uplink 2.00/0.00/0.50 vf1 0.00/1.50/0.00 | busy 100%"
        );
    }

    #[test]
    fn worker_lines_give_cycles_per_packet() {
        let w = WorkerCounts {
            lcore: 1,
            packets: 1000,
            busy_cycles: 98_040,
            idle_cycles: 0,
            stages: [20_000, 18_000, 30_000, 0, 25_000, 5_040, 0],
            ..WorkerCounts::default()
        };
        assert_eq!(
            stage_lines(&[w]),
            "  lcore 1: cycles/packet by stage: rx 20.0, parse 18.0, hash+lookup 30.0, miss 0.0, count+act 25.0, tx 5.0, loop 0.0 (sum 98.0)\n"
        );
        assert_eq!(
            worker_lines(&[w], 2_600_000_000),
            "  lcore 1: CPU cycles/packet=98.04 (busy cycles=98040 / packets=1000) at 2600 MHz Clock, busy 100.0%\n"
        );
    }

    #[test]
    fn final_report_reads_like_testpmd() {
        let mut sw = vec![PortTotals::default(); 2];
        sw[0].rx_packets = 10;
        sw[0].rx_bytes = 600;
        sw[0].drop_unknown_unicast = 2;
        sw[1].tx_packets = 8;
        sw[1].tx_bytes = 480;
        let r = final_report(&labels(), &snapshot(sw));
        assert!(
            r.contains("Forward statistics for port uplink (port 0, net_null)"),
            "{r}"
        );
        assert!(
            r.contains("  RX-packets: 10             RX-dropped: 0              RX-bytes: 600\n"),
            "{r}"
        );
        assert!(
            r.contains("Policy-dropped: 2          (unknown-unicast 2, broadcast 0, runt 0)"),
            "{r}"
        );
        assert!(r.contains("Accumulated forward statistics for all ports"));
        assert!(
            r.contains("  TX-packets: 8              TX-dropped: 0              TX-bytes: 480\n"),
            "{r}"
        );
        assert!(!r.contains("Meter-dropped"), "no meter, no line: {r}");
    }

    #[test]
    fn meter_drops_show_the_nic_s_share_apart() {
        let mut sw = vec![PortTotals::default(); 2];
        sw[1].drop_meter = 18;
        let mut snap = snapshot(sw);
        snap.ports[1].nic.meter_dropped.packets = 12;
        let r = final_report(&labels(), &snap);
        assert!(
            r.contains(
                "  Meter-dropped: 30 (over the port's rate limit: workers' meter 18, NIC's meter 12)\n"
            ),
            "{r}"
        );
        snap.ports[1].workers.drop_meter = 30;
        snap.ports[1].nic.meter_dropped.packets = 0;
        let r = final_report(&labels(), &snap);
        assert!(
            r.contains("  Meter-dropped: 30 (over the port's rate limit)\n"),
            "{r}"
        );
    }

    /// The bug: the Accumulated block left out a static rule's drops
    /// (`drop_rule`) though each port's block counted them.
    #[test]
    fn accumulated_policy_drops_include_static_rule_drops() {
        let mut sw = vec![PortTotals::default(); 2];
        sw[0].drop_rule = 7;
        sw[0].drop_runt = 1;
        sw[1].drop_rule = 3;
        let mut snap = snapshot(sw);
        snap.ports[0].ethdev.rx_missed = 4;
        snap.ports[1].ethdev.rx_nombuf = 2;
        let r = final_report(&labels(), &snap);
        let acc = &r[r.find("Accumulated forward statistics").expect("the block")..];
        assert!(
            acc.contains("  Policy-dropped: 11         Flooded: 0\n"),
            "{r}"
        );
        assert!(acc.contains("RX-dropped: 6 "), "{r}");
        assert!(
            r.contains("  Policy-dropped: 8          (unknown-unicast 0, broadcast 0, runt 1)"),
            "{r}"
        );
    }
}

/// The offload figures for the final report.
#[derive(Debug, Clone)]
pub struct OffloadFigures<'a> {
    pub backend: &'a str,
    pub max_rules: usize,
    pub stats: &'a flowlift_offload::manager::OffloadStats,
    /// Rules still installed after the exit clean-up (0 unless the NIC refused).
    pub rules_left: usize,
    /// Packets the NIC's rules carried, and packets the workers carried.
    pub hw_packets: u64,
    pub sw_packets: u64,
    /// The NIC model's switch: its busy and idle TSC cycles (`None` on a
    /// real NIC).
    pub nic_cycles: Option<(u64, u64)>,
    /// The workers' busy TSC cycles, and the TSC rate.
    pub worker_busy_cycles: u64,
    pub tsc_hz: u64,
}

fn by_reason(m: &std::collections::BTreeMap<&'static str, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Offload (rte_flow, 1024 rules): installs 812, failed none; removals ...`
pub fn offload_report(f: &OffloadFigures<'_>) -> String {
    use flowlift_offload::lifecycle::DemoteReason;
    let s = f.stats;
    let mut out = String::new();
    let demoted: Vec<String> = DemoteReason::ALL
        .iter()
        .zip(s.demotions)
        .map(|(r, n)| format!("{} {n}", r.label()))
        .collect();
    let _ = writeln!(
        out,
        "  Offload ({}, {} rules, {} ticks): installs {}, failed {}; removals {} ({}; flapped {}); removals failed {}; queries failed {}; rules left {}",
        f.backend,
        f.max_rules,
        s.ticks,
        s.installs,
        by_reason(&s.install_failures),
        s.removals,
        demoted.join(", "),
        s.flaps,
        by_reason(&s.removal_failures),
        by_reason(&s.query_failures),
        f.rules_left
    );
    let share = percent(f.hw_packets, f.hw_packets + f.sw_packets);
    let _ = writeln!(
        out,
        "  Carried by the NIC: {} packets ({share:.1}%), by the workers: {}",
        f.hw_packets, f.sw_packets
    );
    let delivered = f.hw_packets + f.sw_packets;
    if delivered > 0 {
        // What the host pays per packet, whichever path carried it (the
        // per-worker line above divides by the workers' packets only).
        let _ = writeln!(
            out,
            "  Host CPU per packet, both paths: {:.2} worker busy cycles ({} / {delivered}) at {} MHz",
            f.worker_busy_cycles as f64 / delivered as f64,
            f.worker_busy_cycles,
            f.tsc_hz / 1_000_000
        );
    }
    if let Some((busy, idle)) = f.nic_cycles {
        let pct = percent(busy, busy + idle);
        let _ = writeln!(
            out,
            "  NIC model's switch: busy {pct:.1}% (a model of hardware: its CPU is not the host's)"
        );
    }
    if s.kept_unmetered > 0 || !s.meter_read_failures.is_empty() {
        let _ = writeln!(
            out,
            "  Rate limits: {} flows kept on the workers (no NIC meter for their VF); meter reads failed {}",
            s.kept_unmetered,
            by_reason(&s.meter_read_failures)
        );
    }
    if s.unconfirmed_at_exit > 0 {
        let _ = writeln!(
            out,
            "  WARNING: {} rules could not be removed at exit; their last counter readings stand in for the final counts",
            s.unconfirmed_at_exit
        );
    }
    out
}
