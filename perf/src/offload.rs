//! The seed paper's figure in one run: flowlift on a Zipf(1.1) capture of 100K
//! flows, one worker, the NIC model (`net_flowlift`, its PF's wire replaying
//! the capture) with 1024 rules made through rte_flow, offload on vs off. Per
//! run: the packets delivered to the VFs, the share the NIC's rules carried,
//! and the worker's busy cycles per delivered packet (what the host pays for
//! each packet, whichever path carried it). The NIC model's own CPU (its
//! switch thread) is reported apart: on real hardware those cycles would be
//! the NIC's.
//!
//! Three busy threads (main lcore, worker, the model's switch) do not fit on
//! this project's 2-CPU machines. Every run pins the switch beside the main
//! lcore, which sleeps between ticks (`switch_cpu=0`), so the worker keeps
//! CPU 1 to itself, offload on or off; one more run with the switch on the
//! worker's CPU shows what sharing it costs.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use flowlift_traffic::{generate, TrafficSpec};

use crate::capture::{five_tuples, top_flows_share};
use crate::flowlift_run::{
    self, parse_status, tail, Appliance, FinalReport, OffloadKnobs, StatusSample, SWITCH_CPU,
};
use crate::forward::{flowlift_binary, machine};
use crate::plot::{self, Panel, Point, Series, PALETTE};
use crate::samples::{summarize, summary_of, summary_of_some, Summary};
use crate::summary::Ratio;
use plotters::chart::SeriesLabelPosition;
use plotters::style::RGBColor;

/// Rules flowlift keeps on the NIC (`max_rules`): the paper's scarce hardware
/// table (the model itself holds far more; flowlift's budget binds).
const MAX_RULES: u32 = 1024;
/// Control ticks (counters read, rates updated, decisions), flowlift's default.
const TICK_MS: u32 = 100;
/// With offload on, about 8 Mpps reach the VFs here, so the 400K-packet capture
/// loops ~20 times a second and its 1024th largest flow (18 packets in it) runs
/// at ~360 pps: at 300 a few more flows than rules qualify and flowlift keeps
/// the hottest (lower changes little); higher and rules stay unused.
const PROMOTE_PPS: f64 = 300.0;
/// A quarter of the promote rate, so a flow whose rate wobbles with the
/// delivered Mpps is not demoted and promoted again.
const DEMOTE_PPS: f64 = 75.0;
/// Ticks a rate must hold before a promotion or demotion (flowlift's default).
const HOLD: u32 = 3;
/// Zipf exponent of the capture: the paper's heavy-tailed traffic.
pub(crate) const ZIPF: f64 = 1.1;
/// VFs, one per destination MAC of the generated capture (02:00:00:00:00:01..04).
const VFS: u8 = 4;

/// The capture and how long each run lasts.
#[derive(Debug, Clone, Copy)]
struct Workload {
    flows: u32,
    packets: u64,
    /// `--duration` of each flowlift run.
    seconds: u64,
    /// Status lines up to this many seconds are warm-up (flows being learnt,
    /// rules being installed) and left out of the figures.
    warmup_s: u64,
}

/// The figure run: 400K packets hold every one of the 100K flows (the model
/// keeps the wire in its own memory, not in mbufs).
const FULL: Workload = Workload {
    flows: 100_000,
    packets: 400_000,
    seconds: 10,
    warmup_s: 3,
};

/// Checks the harness in well under a minute.
const QUICK: Workload = Workload {
    flows: 20_000,
    packets: 100_000,
    seconds: 5,
    warmup_s: 2,
};

/// How flowlift runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No offload: the worker carries every packet.
    Off,
    /// The NIC's rules in front of the worker, its switch on the main lcore's CPU.
    On,
    /// The same with the model's switch on the worker's CPU.
    OnSharedCpu,
}

const MODES: [Mode; 3] = [Mode::Off, Mode::On, Mode::OnSharedCpu];

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::On => "on",
            Mode::OnSharedCpu => "on, NIC model on the worker's CPU",
        }
    }

    fn offloads(self) -> bool {
        self != Mode::Off
    }

    /// The CPU of the model's switch thread (`switch_cpu=`); main lcore on
    /// CPU 0 and the worker on CPU 1 in every mode. The main lcore takes about
    /// 10% of its CPU (it sleeps between ticks), so the switch gets most of
    /// CPU 0 and the worker all of CPU 1. Offload off still runs the switch:
    /// it carries the wire to the host's RX ring.
    pub(crate) fn switch_cpu(self) -> u32 {
        match self {
            Mode::Off | Mode::On => SWITCH_CPU,
            // Two busy threads time-sliced on one CPU: a placement to avoid.
            Mode::OnSharedCpu => 1,
        }
    }

    /// The `[offload]` knobs (`None`: `backend = "none"`).
    pub(crate) fn knobs(self) -> Option<OffloadKnobs> {
        self.offloads().then_some(OffloadKnobs {
            max_rules: MAX_RULES,
            tick_ms: TICK_MS,
            promote_pps: PROMOTE_PPS,
            demote_pps: DEMOTE_PPS,
            hold: HOLD,
        })
    }
}

/// One run's figures. Rates and shares are medians of the steady status lines;
/// the `whole_run` ones come from the final report (warm-up included).
#[derive(Debug, Clone, Copy, PartialEq)]
struct RunFigures {
    mpps: f64,
    nic_share_pct: Option<f64>,
    busy_pct: f64,
    /// Worker busy cycles per packet delivered by either path: the host's cost.
    cycles_per_delivered: f64,
    /// The model's switch thread, busy share (status lines), offload on or off.
    nic_busy_pct: f64,
    nic_busy_pct_whole_run: Option<f64>,
    nic_share_pct_whole_run: Option<f64>,
    cycles_per_delivered_whole_run: f64,
    /// Worker busy cycles per packet the worker itself carried (its final
    /// `CPU cycles/packet=`): with offload on, only the flows left to it.
    cycles_per_worker_packet_whole_run: f64,
    rules_at_end: Option<u32>,
    installs: Option<u64>,
}

/// The figures of one run, or the first expected figure flowlift did not print.
fn figures(
    mode: Mode,
    samples: &[StatusSample],
    report: &FinalReport,
    warmup_s: u64,
) -> Result<RunFigures, String> {
    let steady: Vec<&StatusSample> = samples
        .iter()
        .filter(|s| s.elapsed_s > warmup_s && s.delivered_mpps > 0.0)
        .collect();
    if steady.is_empty() {
        return Err(format!(
            "no status line after {warmup_s} s with packets delivered"
        ));
    }
    if report.workers == 0 {
        return Err("no `lcore N: CPU cycles/packet=` line".into());
    }
    if steady.iter().any(|s| s.nic_model_busy_pct.is_none()) {
        return Err("no `| nic model busy N%` in the status lines".into());
    }
    let mhz = report.tsc_mhz.ok_or("no TSC clock in the worker line")?;
    let delivered = report
        .delivered_packets
        .filter(|&p| p > 0)
        .ok_or("no TX-packets in the accumulated statistics")?;
    let median = |f: &dyn Fn(&StatusSample) -> f64| {
        summarize(&steady.iter().map(|s| f(s)).collect::<Vec<_>>()).median
    };
    // Busy share of each worker's TSC cycles, over packets delivered per second.
    let workers = report.workers as f64;
    let cycles_per_delivered = median(&|s| s.busy_pct / 100.0 * workers * mhz / s.delivered_mpps);
    let mut fig = RunFigures {
        mpps: median(&|s| s.delivered_mpps),
        nic_share_pct: None,
        busy_pct: median(&|s| s.busy_pct),
        cycles_per_delivered,
        nic_busy_pct: median(&|s| s.nic_model_busy_pct.unwrap_or(0.0)),
        nic_busy_pct_whole_run: None,
        nic_share_pct_whole_run: None,
        cycles_per_delivered_whole_run: report.worker_busy_cycles as f64 / delivered as f64,
        cycles_per_worker_packet_whole_run: report.worker_busy_cycles as f64
            / report.worker_packets.max(1) as f64,
        rules_at_end: steady.last().and_then(|s| s.rules),
        installs: None,
    };
    if mode.offloads() {
        if steady.iter().any(|s| s.nic_share_pct.is_none()) {
            return Err("no `| nic N%` in the status lines".into());
        }
        fig.nic_share_pct = Some(median(&|s| s.nic_share_pct.unwrap_or(0.0)));
        fig.nic_share_pct_whole_run =
            Some(report.nic_share_pct.ok_or("no `Carried by the NIC` line")?);
        fig.nic_busy_pct_whole_run = Some(
            report
                .nic_busy_pct
                .ok_or("no `NIC model's switch: busy` line")?,
        );
        report
            .offload_ticks
            .ok_or("no `Offload (rte_flow, ...)` line")?;
        fig.installs = report.installs;
    }
    Ok(fig)
}

/// What every run shares.
#[derive(Debug)]
struct Setup {
    app: Appliance,
    work: Workload,
}

/// A run's figures and its status lines (for the timeline chart).
fn run_once(mode: Mode, setup: &Setup) -> anyhow::Result<(RunFigures, Vec<StatusSample>)> {
    let app = Appliance {
        switch_cpu: mode.switch_cpu(),
        offload: mode.knobs(),
        ..setup.app.clone()
    };
    let lines = flowlift_run::run(&app, setup.work.seconds, false)?.lines;
    let samples: Vec<StatusSample> = lines.iter().filter_map(|l| parse_status(l)).collect();
    let report = FinalReport::of(&lines);
    figures(mode, &samples, &report, setup.work.warmup_s)
        .map(|f| (f, samples))
        .map_err(|missing| anyhow::anyhow!("{missing}; last output:\n{}", tail(&lines, 12)))
}

/// Second by second, the first off run and the first on run: the worker's
/// busy share (and the model's switch, apart), the NIC's share of the packets,
/// and the delivered rate, with the warm-up the figures leave out marked.
fn timeline(
    lines: &[(Mode, Vec<StatusSample>)],
    work: &Workload,
    path: &Path,
) -> anyhow::Result<()> {
    let of = |m: Mode| {
        lines
            .iter()
            .find(|(mode, _)| *mode == m)
            .map(|(_, s)| s.as_slice())
    };
    let series = |m: Mode, f: &dyn Fn(&StatusSample) -> Option<f64>| -> Vec<Point> {
        of(m)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| f(s).map(|y| Point::exact(s.elapsed_s as f64, y)))
            .collect()
    };
    let (off_c, on_c) = (PALETTE[1], PALETTE[0]);
    let warm = |top: f64| {
        Series::new(
            format!("end of warm-up ({} s)", work.warmup_s),
            RGBColor(120, 120, 120),
            vec![
                Point::exact(work.warmup_s as f64 + 0.5, 0.0),
                Point::exact(work.warmup_s as f64 + 0.5, top),
            ],
        )
        .dashed()
    };
    let mut busy = Panel::new(
        "CPU busy share",
        "seconds since start",
        "busy share of the poll loop (%)",
        vec![
            Series::new(
                "worker, offload off",
                off_c,
                series(Mode::Off, &|s| Some(s.busy_pct)),
            ),
            Series::new(
                "worker, offload on",
                on_c,
                series(Mode::On, &|s| Some(s.busy_pct)),
            ),
            Series::new(
                "NIC model's switch, offload off (hardware stand-in)",
                PALETTE[3],
                series(Mode::Off, &|s| s.nic_model_busy_pct),
            )
            .dashed(),
            Series::new(
                "NIC model's switch, offload on (hardware stand-in)",
                PALETTE[4],
                series(Mode::On, &|s| s.nic_model_busy_pct),
            )
            .dashed(),
            warm(100.0),
        ],
    );
    busy.y_max = Some(140.0);
    let mut nic = Panel::new(
        "Packets carried by the NIC's rules",
        "seconds since start",
        "share of the second's packets (%)",
        vec![
            Series::new(
                format!("offload on, {MAX_RULES} rules"),
                on_c,
                series(Mode::On, &|s| s.nic_share_pct),
            ),
            warm(100.0),
        ],
    );
    nic.y_max = Some(110.0);
    nic.legend = SeriesLabelPosition::LowerRight;
    let mut rate = Panel::new(
        "Delivered to the VFs",
        "seconds since start",
        "Mpps (all VFs together)",
        vec![
            Series::new(
                "offload off",
                off_c,
                series(Mode::Off, &|s| Some(s.delivered_mpps)),
            ),
            Series::new(
                "offload on",
                on_c,
                series(Mode::On, &|s| Some(s.delivered_mpps)),
            ),
            warm(1.0),
        ],
    );
    let top = lines
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| s.delivered_mpps))
        .fold(1.0, f64::max);
    rate.y_max = Some(top * 1.4);
    rate.series.last_mut().expect("warm-up line").points[1].y = top * 1.4;
    plot::draw(
        path,
        &format!(
            "Offload on vs off, one run each: Zipf {ZIPF}, {} flows, 4 VFs, NIC model through rte_flow",
            work.flows
        ),
        &[busy, nic, rate],
        1800,
    )
}

/// Per-mode summaries over runs.
#[derive(Debug)]
struct ModeSummary {
    mode: Mode,
    runs: usize,
    mpps: Summary,
    nic_share_pct: Option<Summary>,
    busy_pct: Summary,
    cycles_per_delivered: Summary,
    nic_busy_pct: Summary,
}

fn summarize_mode(mode: Mode, runs: &[RunFigures]) -> Option<ModeSummary> {
    if runs.is_empty() {
        return None;
    }
    let of = |f: fn(&RunFigures) -> f64| summary_of(runs, f);
    let of_some = |f: fn(&RunFigures) -> Option<f64>| summary_of_some(runs, f);
    Some(ModeSummary {
        mode,
        runs: runs.len(),
        mpps: of(|r| r.mpps),
        nic_share_pct: of_some(|r| r.nic_share_pct),
        busy_pct: of(|r| r.busy_pct),
        cycles_per_delivered: of(|r| r.cycles_per_delivered),
        nic_busy_pct: of(|r| r.nic_busy_pct),
    })
}

/// `12.3 [11.0..13.1]`, or one figure when there was one run.
fn cell(s: &Summary, decimals: usize, unit: &str) -> String {
    if s.min == s.max {
        format!("{:.*}{unit}", decimals, s.median)
    } else {
        format!(
            "{:.*}{unit} [{:.*}..{:.*}]",
            decimals, s.median, decimals, s.min, decimals, s.max
        )
    }
}

fn csv(rows: &[(Mode, usize, RunFigures)]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
    let mut out = String::from(
        "mode,run,mpps_delivered,nic_share_pct,worker_busy_pct,worker_busy_cycles_per_delivered_packet,\
         nic_model_busy_pct,nic_model_busy_pct_whole_run,nic_share_pct_whole_run,worker_busy_cycles_per_delivered_packet_whole_run,\
         worker_busy_cycles_per_worker_packet_whole_run,rules_at_end,installs\n",
    );
    for (mode, run, f) in rows {
        let _ = writeln!(
            out,
            "\"{}\",{run},{:.3},{},{:.1},{:.1},{:.1},{},{},{:.1},{:.1},{},{}",
            mode.name(),
            f.mpps,
            opt(f.nic_share_pct),
            f.busy_pct,
            f.cycles_per_delivered,
            f.nic_busy_pct,
            opt(f.nic_busy_pct_whole_run),
            opt(f.nic_share_pct_whole_run),
            f.cycles_per_delivered_whole_run,
            f.cycles_per_worker_packet_whole_run,
            f.rules_at_end.map_or(String::new(), |r| r.to_string()),
            f.installs.map_or(String::new(), |r| r.to_string()),
        );
    }
    out
}

/// Runs the comparison and writes `offload.csv` and `offload.md` under `out`.
/// Off and on runs alternate (noise on the shared machine hits both); one
/// run with the model's switch on the worker's CPU follows. With `quick`, any run
/// that fails makes the command fail (after the table is written).
pub fn run(
    runs: usize,
    quick: bool,
    shared_cpu_run: bool,
    out: &Path,
) -> anyhow::Result<Vec<Ratio>> {
    let (work, runs) = if quick {
        (QUICK, 1)
    } else {
        (FULL, runs.max(1))
    };
    let flowlift = flowlift_binary()?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let scratch =
        std::env::temp_dir().join(format!("flowlift-perf-offload-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let capture = scratch.join("zipf.pcap");
    eprintln!(
        "flowlift-perf: writing a capture of {} flows, {} packets, Zipf {ZIPF}",
        work.flows, work.packets
    );
    // The defaults of `flowlift gen-traffic` (4 VF MACs, seed 1) otherwise.
    generate(
        &TrafficSpec {
            flows: work.flows,
            packets: work.packets,
            zipf_s: ZIPF,
            ..TrafficSpec::default()
        },
        &capture,
    )?;
    let best_share = top_flows_share(&five_tuples(&capture)?, MAX_RULES as usize);
    let setup = Setup {
        app: Appliance {
            flowlift,
            wire: flowlift_run::replay(&capture),
            vfs: VFS,
            switch_cpu: SWITCH_CPU,
            offload: None,
            scratch: scratch.clone(),
        },
        work,
    };

    let mut order: Vec<Mode> = (0..runs).flat_map(|_| [Mode::Off, Mode::On]).collect();
    if shared_cpu_run {
        order.push(Mode::OnSharedCpu);
    }
    let mut done: Vec<(Mode, usize, RunFigures)> = Vec::new();
    let mut failures: Vec<(Mode, String)> = Vec::new();
    let mut timelines: Vec<(Mode, Vec<StatusSample>)> = Vec::new();
    for (i, &mode) in order.iter().enumerate() {
        let run = done.iter().filter(|(m, ..)| *m == mode).count() + 1;
        eprintln!(
            "flowlift-perf: run {}/{}: offload {}",
            i + 1,
            order.len(),
            mode.name()
        );
        match run_once(mode, &setup) {
            Ok((f, samples)) => {
                if !timelines.iter().any(|(m, _)| *m == mode) {
                    timelines.push((mode, samples));
                }
                eprintln!(
                    "flowlift-perf:   {:.2} Mpps, NIC {}, worker busy {:.0}%, {:.0} busy cycles/delivered packet, NIC model busy {:.0}%",
                    f.mpps,
                    f.nic_share_pct.map_or("-".into(), |s| format!("{s:.0}%")),
                    f.busy_pct,
                    f.cycles_per_delivered,
                    f.nic_busy_pct
                );
                done.push((mode, run, f));
            }
            Err(e) => {
                eprintln!("flowlift-perf: offload {} failed: {e:#}", mode.name());
                let first = format!("{e:#}")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .replace('|', "/");
                failures.push((mode, first));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    std::fs::write(out.join("offload.csv"), csv(&done))?;
    let summaries: Vec<ModeSummary> = MODES
        .iter()
        .filter_map(|&m| {
            let figs: Vec<RunFigures> = done
                .iter()
                .filter(|(mode, ..)| *mode == m)
                .map(|(.., f)| *f)
                .collect();
            summarize_mode(m, &figs)
        })
        .collect();
    let md = markdown(
        &summaries,
        &failures,
        &work,
        runs,
        best_share,
        shared_cpu_run,
    );
    std::fs::write(out.join("offload.md"), &md)?;
    println!("{md}");
    timeline(&timelines, &work, &out.join("offload.png"))?;

    let has = |m: Mode| summaries.iter().any(|s| s.mode == m);
    anyhow::ensure!(
        has(Mode::Off) && has(Mode::On),
        "no figures for offload off or on: see the errors above"
    );
    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(m, e)| format!("offload {}: {e}", m.name()))
            .collect();
        if quick {
            bail!("runs failed:\n  {}", list.join("\n  "));
        }
        eprintln!(
            "flowlift-perf: WARNING: runs failed:\n  {}",
            list.join("\n  ")
        );
    }
    let find = |m: Mode| summaries.iter().find(|s| s.mode == m);
    let mut ratios = Vec::new();
    if let (Some(off), Some(on)) = (find(Mode::Off), find(Mode::On)) {
        ratios.push(Ratio::new(
            "offload",
            "worker busy cycles per delivered packet, on / off",
            format!(
                "{:.2} ({:.0} / {:.0})",
                on.cycles_per_delivered.median / off.cycles_per_delivered.median,
                on.cycles_per_delivered.median,
                off.cycles_per_delivered.median
            ),
        ));
        ratios.push(Ratio::new(
            "offload",
            format!("NIC share with {MAX_RULES} rules (top-{MAX_RULES} bound {best_share:.1}%)"),
            on.nic_share_pct
                .map_or("-".into(), |s| format!("{:.1}%", s.median)),
        ));
        ratios.push(Ratio::new(
            "offload",
            "NIC model's switch busy (hardware stand-in), on / off",
            format!(
                "{:.2} ({:.0}% / {:.0}%)",
                on.nic_busy_pct.median / off.nic_busy_pct.median.max(1e-9),
                on.nic_busy_pct.median,
                off.nic_busy_pct.median
            ),
        ));
    }
    Ok(ratios)
}

fn markdown(
    summaries: &[ModeSummary],
    failures: &[(Mode, String)],
    work: &Workload,
    runs: usize,
    best_share: f64,
    shared_cpu_run: bool,
) -> String {
    let then = if shared_cpu_run {
        ", then one run with the model's switch on the worker's CPU"
    } else {
        ""
    };
    let mut md = format!(
        "Machine: {}.\n\n\
         Capture: {} flows, {} packets (Zipf {ZIPF}, 60-byte frames, 4 VF MACs, seed 1); its \
         {MAX_RULES} largest flows carry {best_share:.1}% of its packets, replayed unpaced by the NIC \
         model's PF (`net_flowlift`, its switch thread on CPU {SWITCH_CPU}). One worker (lcore 1, CPU 1), \
         main lcore on CPU 0. Offload on: rte_flow rules on the model, at most {MAX_RULES}, tick \
         {TICK_MS} ms, promote at {PROMOTE_PPS} pps, demote at {DEMOTE_PPS} pps, hold {HOLD} ticks. \
         {runs} x {} s per mode, off and on alternating{then}. Each figure \
         is the median of a run's per-second status lines after {} s of warm-up; the table gives \
         the median over runs [min..max]. NIC model busy: its switch thread's busy share (a model \
         of hardware, not host CPU).\n\n\
         | offload | runs | Mpps delivered | NIC share | worker busy | worker busy cycles / delivered packet | NIC model busy |\n\
         |---|---|---|---|---|---|---|\n",
        machine(),
        work.flows,
        work.packets,
        work.seconds,
        work.warmup_s,
    );
    let dash =
        |s: &Option<Summary>, unit: &str| s.as_ref().map_or("-".into(), |s| cell(s, 0, unit));
    for s in summaries {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.mode.name(),
            s.runs,
            cell(&s.mpps, 2, ""),
            dash(&s.nic_share_pct, "%"),
            cell(&s.busy_pct, 0, "%"),
            cell(&s.cycles_per_delivered, 0, ""),
            cell(&s.nic_busy_pct, 0, "%"),
        );
    }
    for (mode, reason) in failures {
        let _ = writeln!(md, "| {} | failed: {reason} | | | | | |", mode.name());
    }
    let find = |m: Mode| summaries.iter().find(|s| s.mode == m);
    if let (Some(off), Some(on)) = (find(Mode::Off), find(Mode::On)) {
        let _ = write!(
            md,
            "\nOn / off: worker busy cycles per delivered packet {:.0} / {:.0} = {:.2}; \
             delivered Mpps {:.2} / {:.2} = {:.2}. With offload on the NIC carried {} of the \
             packets (at most {best_share:.1}% with {MAX_RULES} rules).\n",
            on.cycles_per_delivered.median,
            off.cycles_per_delivered.median,
            on.cycles_per_delivered.median / off.cycles_per_delivered.median,
            on.mpps.median,
            off.mpps.median,
            on.mpps.median / off.mpps.median,
            dash(&on.nic_share_pct, "%"),
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF_STATUS: &str = "[    4s] rx/tx/drop Mpps: uplink 10.41/0.00/0.00 vf1 0.00/3.41/0.00 vf2 0.00/2.58/0.00 vf3 0.00/2.29/0.00 vf4 0.00/2.12/0.00 | busy 100% | nic model busy 45%";
    const ON_STATUS: &str = "[    5s] rx/tx/drop Mpps: uplink 6.11/0.00/0.00 vf1 0.00/2.00/0.00 vf2 0.00/1.52/0.00 vf3 0.00/1.34/0.00 vf4 0.00/1.24/0.00 | busy 26% | nic 72% rules 857/1024 flows 79873 (857 offloaded) | nic model busy 88%";

    const ON_REPORT: &str = "\
  +++++++++++++++ Accumulated forward statistics for all ports +++++++++++++++
  RX-packets: 56385280       RX-dropped: 0              RX-bytes: 3456314368
  TX-packets: 56385280       TX-dropped: 0              TX-bytes: 3456314368
  Policy-dropped: 0          Flooded: 0
  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++
  lcore 1: CPU cycles/packet=365.94 (busy cycles=7078191162 / packets=19342270) at 2600 MHz Clock, busy 30.3%
  Flows: created 100000, evicted idle 0, alive at exit 100000; table-full packets 0; new-flow events dropped 20127
  No-flow-key packets: 0
  Offload (rte_flow, 1024 rules, 49 ticks): installs 857, failed none; removals 857 (cold 0, idle 0, evicted 0, requested 857); removals failed none; queries failed none; rules left 0
  Carried by the NIC: 37043010 packets (65.7%), by the workers: 19342270
  Host CPU per packet, both paths: 125.53 worker busy cycles (7078191162 / 56385280) at 2600 MHz
  NIC model's switch: busy 71.7% (a model of hardware: its CPU is not the host's)";

    #[test]
    fn reads_the_status_line_with_offload_off() {
        let s = parse_status(OFF_STATUS).unwrap();
        assert_eq!(s.elapsed_s, 4);
        assert!((s.delivered_mpps - 10.40).abs() < 1e-9, "{s:?}");
        assert_eq!(s.busy_pct, 100.0);
        assert_eq!((s.nic_share_pct, s.rules), (None, None));
        assert_eq!(s.nic_model_busy_pct, Some(45.0));
    }

    #[test]
    fn reads_the_status_line_with_offload_on() {
        let s = parse_status(ON_STATUS).unwrap();
        assert_eq!(s.elapsed_s, 5);
        assert!((s.delivered_mpps - 6.10).abs() < 1e-9, "{s:?}");
        assert_eq!(s.busy_pct, 26.0);
        assert_eq!(s.nic_share_pct, Some(72.0));
        assert_eq!(s.rules, Some(857));
        assert_eq!(s.nic_model_busy_pct, Some(88.0));
    }

    #[test]
    fn other_lines_are_not_status_lines() {
        assert_eq!(
            parse_status("port 1 vf1: net_flowlift0_representor_vf0 (net_flowlift), link up"),
            None
        );
        assert_eq!(
            parse_status("Stopping (--duration reached). Final counters:"),
            None
        );
        assert_eq!(
            parse_status("  [1s] something else | busy 5%"),
            None,
            "not at the start of the line"
        );
    }

    #[test]
    fn reads_the_final_report() {
        let mut r = FinalReport::default();
        // A port block's TX-packets comes before the accumulated one and must
        // not count as delivered.
        r.line("  TX-packets: 5              TX-dropped: 0              TX-bytes: 300");
        for l in ON_REPORT.lines() {
            r.line(l);
        }
        assert_eq!(r.delivered_packets, Some(56_385_280));
        assert_eq!(r.workers, 1);
        assert_eq!(r.worker_busy_cycles, 7_078_191_162);
        assert_eq!(r.worker_packets, 19_342_270);
        assert_eq!(r.tsc_mhz, Some(2600.0));
        assert_eq!(r.nic_packets, Some(37_043_010));
        assert_eq!(r.nic_share_pct, Some(65.7));
        assert_eq!(r.nic_busy_pct, Some(71.7));
        assert_eq!(r.offload_ticks, Some(49));
        assert_eq!(r.installs, Some(857));
    }

    fn report(text: &str) -> FinalReport {
        let mut r = FinalReport::default();
        for l in text.lines() {
            r.line(l);
        }
        r
    }

    #[test]
    fn figures_keep_the_steady_samples_and_charge_busy_cycles_to_delivered_packets() {
        let early = StatusSample {
            elapsed_s: 1,
            offered_mpps: 9.0,
            delivered_mpps: 9.0,
            busy_pct: 40.0,
            nic_share_pct: Some(50.0),
            rules: Some(500),
            nic_model_busy_pct: Some(10.0),
        };
        let steady = parse_status(ON_STATUS).unwrap();
        let f = figures(Mode::On, &[early, steady], &report(ON_REPORT), 3).unwrap();
        assert_eq!(f.mpps, steady.delivered_mpps);
        assert_eq!(f.nic_share_pct, Some(72.0));
        assert_eq!(f.rules_at_end, Some(857));
        // 26% of 2600 MHz over 6.10 Mpps delivered.
        assert!((f.cycles_per_delivered - 0.26 * 2600.0 / 6.10).abs() < 1e-6);
        assert!((f.cycles_per_delivered_whole_run - 7_078_191_162.0 / 56_385_280.0).abs() < 1e-6);
        assert!((f.cycles_per_worker_packet_whole_run - 365.94).abs() < 0.01);
        assert_eq!(f.nic_busy_pct, 88.0);
        assert_eq!(f.nic_busy_pct_whole_run, Some(71.7));
        assert_eq!(f.nic_share_pct_whole_run, Some(65.7));
    }

    #[test]
    fn a_missing_figure_is_an_error_that_names_it() {
        let steady = parse_status(ON_STATUS).unwrap();
        let without_nic: String = ON_REPORT
            .lines()
            .filter(|l| !l.contains("Carried by the NIC"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = figures(Mode::On, &[steady], &report(&without_nic), 3).unwrap_err();
        assert!(err.contains("Carried by the NIC"), "{err}");
        // Offload off needs none of the NIC's lines, but a status line after warm-up.
        let off = parse_status(OFF_STATUS).unwrap();
        assert!(figures(Mode::Off, &[off], &report(&without_nic), 3).is_ok());
        let err = figures(Mode::Off, &[off], &report(&without_nic), 4).unwrap_err();
        assert!(err.contains("after 4 s"), "{err}");
        let off_status_for_on = figures(Mode::On, &[off], &report(ON_REPORT), 3).unwrap_err();
        assert!(off_status_for_on.contains("| nic"), "{off_status_for_on}");
        // The model's CPU is a figure of every run, offload on or off.
        let no_model = parse_status(OFF_STATUS.trim_end_matches(" | nic model busy 45%")).unwrap();
        let err = figures(Mode::Off, &[no_model], &report(ON_REPORT), 3).unwrap_err();
        assert!(err.contains("nic model busy"), "{err}");
        let without_switch: String = ON_REPORT
            .lines()
            .filter(|l| !l.contains("NIC model's switch"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = figures(Mode::On, &[steady], &report(&without_switch), 3).unwrap_err();
        assert!(err.contains("NIC model's switch"), "{err}");
    }

    #[test]
    fn configs_place_the_nic_model_and_set_the_thresholds() {
        let on = Mode::On.knobs().unwrap();
        assert_eq!(on.max_rules, 1024);
        assert_eq!((on.promote_pps, on.demote_pps), (300.0, 75.0));
        assert_eq!(Mode::Off.knobs(), None);
        assert_eq!((Mode::Off.switch_cpu(), Mode::On.switch_cpu()), (0, 0));
        assert_eq!(Mode::OnSharedCpu.switch_cpu(), 1);
    }

    #[test]
    fn cells_show_the_range_only_when_there_is_one() {
        let s = summarize(&[10.0, 12.0, 11.0]);
        assert_eq!(cell(&s, 1, "%"), "11.0% [10.0..12.0]");
        assert_eq!(cell(&summarize(&[5.0]), 0, ""), "5");
    }
}
