//! Offload effectiveness: the share of packets the NIC's rules carry against
//! the NIC's rule capacity (64..16K) on Zipf 0.9, 1.1 and 1.3 captures of 100K
//! flows, beside the most K rules can carry on that capture (its K largest
//! flows' share). The NIC is the model (`net_flowlift`) driven through
//! rte_flow, its switch pinned as in `offload.rs`. Each run also scrapes
//! `/metrics` for the install latency per rule (flowlift's `rte_flow_create`
//! calls on the model), which the timing figure (`timing.rs`) adds to the
//! control core's decision delay.
//!
//! The promote threshold follows the capacity: half the expected rate of the
//! capture's K-th largest flow, so about K flows qualify and flowlift keeps
//! the hottest (one fixed threshold would leave big tables empty or small
//! ones fought over).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use flowlift_traffic::{generate, zipf_counts, TrafficSpec};
use plotters::chart::SeriesLabelPosition;
use plotters::style::RGBColor;

use crate::capture::{five_tuples, top_flows_share};
use crate::flowlift_run::{
    self, metric, steady_samples, tail, Appliance, OffloadKnobs, SWITCH_CPU,
};
use crate::forward::{flowlift_binary, machine};
use crate::offload::Mode;
use crate::plot::{self, Panel, Point, Series, PALETTE};
use crate::samples::{summarize, Summary};
use crate::summary::Ratio;

/// Sizes of one sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub zipfs: Vec<f64>,
    pub rules: Vec<u32>,
    pub flows: u32,
    pub packets: u64,
    pub runs: usize,
    pub seconds: u64,
    pub warmup_s: u64,
}

impl Sweep {
    pub fn full() -> Sweep {
        Sweep {
            zipfs: vec![0.9, 1.1, 1.3],
            rules: vec![64, 256, 1024, 4096, 16384],
            flows: 100_000,
            packets: 400_000,
            runs: 3,
            seconds: 7,
            warmup_s: 3,
        }
    }

    pub fn quick() -> Sweep {
        Sweep {
            zipfs: vec![0.9, 1.3],
            rules: vec![64, 1024],
            flows: 20_000,
            packets: 100_000,
            runs: 1,
            seconds: 4,
            warmup_s: 2,
        }
    }
}

/// Mpps that reach the VFs with offload on here (the offload run's figure);
/// only used to place the promote threshold, so a rough value does.
const EXPECTED_MPPS: f64 = 7.0;

/// Promote threshold for `rules` rules: half the expected rate of the
/// capture's `rules`-th largest flow (`counts` heaviest first).
pub fn promote_pps(counts: &[u64], packets: u64, rules: u32) -> f64 {
    let k = (rules as usize).clamp(1, counts.len().max(1)) - 1;
    let loops_per_s = EXPECTED_MPPS * 1e6 / packets.max(1) as f64;
    let kth = counts.get(k).copied().unwrap_or(1) as f64;
    (0.5 * kth * loops_per_s).max(1.0)
}

/// One run's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RunFigures {
    nic_share_pct: f64,
    worker_busy_pct: f64,
    /// Mean seconds per rule install (the batch's time shared by its rules).
    install_s: Option<f64>,
    installs: f64,
}

/// Per (Zipf, rules): summaries over runs and the capture's bound.
#[derive(Debug, Clone)]
pub struct Cell {
    pub zipf: f64,
    pub rules: u32,
    pub runs: usize,
    pub nic_share: Summary,
    pub worker_busy: Summary,
    pub install_us: Option<Summary>,
    pub bound_pct: f64,
    pub promote_pps: f64,
}

/// What the sweep measured, for the timing figure and the summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub cells: Vec<Cell>,
    pub ratios: Vec<Ratio>,
}

impl Outcome {
    /// Median install latency (us) over every cell that had installs.
    pub fn install_us(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .cells
            .iter()
            .filter_map(|c| c.install_us.map(|s| s.median))
            .collect();
        (!v.is_empty()).then(|| summarize(&v).median)
    }
}

fn run_once(app: &Appliance, sweep: &Sweep) -> anyhow::Result<RunFigures> {
    let out = flowlift_run::run(app, sweep.seconds, true)?;
    let steady = steady_samples(&out.lines, sweep.warmup_s);
    let shares: Vec<f64> = steady.iter().filter_map(|s| s.nic_share_pct).collect();
    if shares.is_empty() || shares.len() < steady.len() {
        bail!(
            "no `| nic N%` in the status lines after {} s; last output:\n{}",
            sweep.warmup_s,
            tail(&out.lines, 12)
        );
    }
    let m = out.metrics.unwrap_or_default();
    let sum = metric(&m, "flowlift_offload_install_latency_seconds_sum")
        .context("no flowlift_offload_install_latency_seconds_sum in /metrics")?;
    let count = metric(&m, "flowlift_offload_install_latency_seconds_count")
        .context("no flowlift_offload_install_latency_seconds_count in /metrics")?;
    Ok(RunFigures {
        nic_share_pct: summarize(&shares).median,
        worker_busy_pct: summarize(&steady.iter().map(|s| s.busy_pct).collect::<Vec<_>>()).median,
        install_s: (count > 0.0).then(|| sum / count),
        installs: count,
    })
}

fn chart(cells: &[Cell], sweep: &Sweep, path: &Path) -> anyhow::Result<()> {
    let mut series = Vec::new();
    for (i, &z) in sweep.zipfs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let of: Vec<&Cell> = cells.iter().filter(|c| c.zipf == z).collect();
        series.push(Series::new(
            format!("Zipf {z}: NIC share measured"),
            color,
            of.iter()
                .map(|c| Point {
                    x: f64::from(c.rules),
                    y: c.nic_share.median,
                    min: c.nic_share.min,
                    max: c.nic_share.max,
                })
                .collect(),
        ));
        // Darker, dashed: it lies on the measured line when flowlift reaches it.
        let dark = RGBColor(color.0 / 2, color.1 / 2, color.2 / 2);
        series.push(
            Series::new(
                format!("Zipf {z}: top-K flows' share (bound)"),
                dark,
                of.iter()
                    .map(|c| Point::exact(f64::from(c.rules), c.bound_pct))
                    .collect(),
            )
            .dashed(),
        );
    }
    let mut p = Panel::new(
        "Share of packets carried by the NIC's rules",
        "NIC rule capacity (rules, log scale)",
        "packets carried by the NIC (%)",
        series,
    );
    p.log_x = true;
    p.y_max = Some(105.0);
    p.legend = SeriesLabelPosition::LowerRight;
    plot::draw(
        path,
        &format!(
            "Offload effectiveness: {}K flows, NIC model through rte_flow (median of {} runs, min-max bars)",
            sweep.flows / 1000,
            sweep.runs
        ),
        &[p],
        1000,
    )
}

fn csv(cells: &[Cell]) -> String {
    let mut out = String::from(
        "zipf,rules,runs,nic_share_pct,nic_share_min,nic_share_max,top_k_bound_pct,promote_pps,\
         worker_busy_pct,install_latency_us,install_latency_us_min,install_latency_us_max\n",
    );
    for c in cells {
        let _ = writeln!(
            out,
            "{},{},{},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{}",
            c.zipf,
            c.rules,
            c.runs,
            c.nic_share.median,
            c.nic_share.min,
            c.nic_share.max,
            c.bound_pct,
            c.promote_pps,
            c.worker_busy.median,
            c.install_us.map_or(",,".into(), |s| format!(
                "{:.2},{:.2},{:.2}",
                s.median, s.min, s.max
            )),
        );
    }
    out
}

fn markdown(cells: &[Cell], sweep: &Sweep) -> String {
    let mut md = format!(
        "Machine: {}.\n\nCaptures of {} flows, {} packets (60-byte frames, 4 VF MACs, seed 1); one \
         worker (lcore 1, CPU 1); rte_flow rules on the NIC model (`net_flowlift`, its switch thread on \
         CPU {SWITCH_CPU}), tick 100 ms, hold 3, promote at half the expected \
         rate of the K-th largest flow, demote at a quarter of that. {} run(s) x {} s, NIC share = \
         median of the status lines after {} s; install latency = the run's \
         `flowlift_offload_install_latency_seconds` sum / count from /metrics.\n\n\
         | Zipf | rules | NIC share | top-K bound | measured / bound | promote pps | worker busy | install latency per rule |\n\
         |---|---|---|---|---|---|---|---|\n",
        machine(),
        sweep.flows,
        sweep.packets,
        sweep.runs,
        sweep.seconds,
        sweep.warmup_s,
    );
    for c in cells {
        let share = if c.nic_share.min == c.nic_share.max {
            format!("{:.1}%", c.nic_share.median)
        } else {
            format!(
                "{:.1}% [{:.1}..{:.1}]",
                c.nic_share.median, c.nic_share.min, c.nic_share.max
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {share} | {:.1}% | {:.2} | {:.0} | {:.0}% | {} |",
            c.zipf,
            c.rules,
            c.bound_pct,
            c.nic_share.median / c.bound_pct.max(1e-9),
            c.promote_pps,
            c.worker_busy.median,
            c.install_us
                .map_or("-".into(), |s| format!("{:.1} us", s.median)),
        );
    }
    md
}

/// Runs the sweep; writes `effect.csv`, `effect.md` and `effect.png`.
pub fn run(sweep: &Sweep, out: &Path) -> anyhow::Result<Outcome> {
    let flowlift = flowlift_binary()?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let scratch = flowlift_run::scratch_dir("effect")?;
    let mut captures = Vec::new();
    for &z in &sweep.zipfs {
        let path = scratch.join(format!("zipf{z}.pcap"));
        eprintln!(
            "flowlift-perf: effect: writing a capture of {} flows, {} packets, Zipf {z}",
            sweep.flows, sweep.packets
        );
        let written = generate(
            &TrafficSpec {
                flows: sweep.flows,
                packets: sweep.packets,
                zipf_s: z,
                ..TrafficSpec::default()
            },
            &path,
        )?;
        let tuples = five_tuples(&path)?;
        let bounds: Vec<f64> = sweep
            .rules
            .iter()
            .map(|&k| top_flows_share(&tuples, k as usize))
            .collect();
        captures.push((z, path, written.packets, bounds));
    }
    let mut done: Vec<(f64, u32, RunFigures)> = Vec::new();
    let mut failures = Vec::new();
    let total = sweep.runs * captures.len() * sweep.rules.len();
    let mut i = 0;
    for _ in 0..sweep.runs {
        for (z, capture, packets, _) in &captures {
            let counts = zipf_counts(sweep.flows, *packets, *z);
            for &rules in &sweep.rules {
                i += 1;
                let promote = promote_pps(&counts, *packets, rules);
                eprintln!(
                    "flowlift-perf: effect: run {i}/{total}: Zipf {z}, {rules} rules, promote at {promote:.0} pps"
                );
                let knobs = Mode::On.knobs().context("offload on has knobs")?;
                let app = Appliance {
                    flowlift: flowlift.clone(),
                    wire: flowlift_run::replay(capture),
                    vfs: 4,
                    switch_cpu: Mode::On.switch_cpu(),
                    offload: Some(OffloadKnobs {
                        max_rules: rules,
                        promote_pps: promote,
                        demote_pps: promote / 4.0,
                        ..knobs
                    }),
                    scratch: scratch.clone(),
                };
                match run_once(&app, sweep) {
                    Ok(f) => {
                        eprintln!(
                            "flowlift-perf:   NIC {:.1}%, {} installs, {}",
                            f.nic_share_pct,
                            f.installs,
                            f.install_s
                                .map_or("-".into(), |s| format!("{:.1} us each", s * 1e6))
                        );
                        done.push((*z, rules, f));
                    }
                    Err(e) => {
                        eprintln!("flowlift-perf: effect: Zipf {z}, {rules} rules: {e:#}");
                        failures.push(format!(
                            "Zipf {z}, {rules} rules: {}",
                            format!("{e:#}").lines().next().unwrap_or("")
                        ));
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut cells = Vec::new();
    for (z, _, packets, bounds) in &captures {
        let counts = zipf_counts(sweep.flows, *packets, *z);
        for (&rules, &bound) in sweep.rules.iter().zip(bounds) {
            let runs: Vec<RunFigures> = done
                .iter()
                .filter(|(zz, r, _)| zz == z && *r == rules)
                .map(|(.., f)| *f)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let lat: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.install_s)
                .map(|s| s * 1e6)
                .collect();
            cells.push(Cell {
                zipf: *z,
                rules,
                runs: runs.len(),
                nic_share: summarize(&runs.iter().map(|r| r.nic_share_pct).collect::<Vec<_>>()),
                worker_busy: summarize(&runs.iter().map(|r| r.worker_busy_pct).collect::<Vec<_>>()),
                install_us: (!lat.is_empty()).then(|| summarize(&lat)),
                bound_pct: bound,
                promote_pps: promote_pps(&counts, *packets, rules),
            });
        }
    }
    std::fs::write(out.join("effect.csv"), csv(&cells))?;
    let md = markdown(&cells, sweep);
    std::fs::write(out.join("effect.md"), &md)?;
    println!("{md}");
    chart(&cells, sweep, &out.join("effect.png"))?;
    if !failures.is_empty() {
        bail!("effect runs failed:\n  {}", failures.join("\n  "));
    }
    let ratios = cells
        .iter()
        .map(|c| {
            Ratio::new(
                "effect",
                format!(
                    "NIC share / top-K bound, Zipf {}, {} rules",
                    c.zipf, c.rules
                ),
                format!(
                    "{:.2} ({:.1}% of {:.1}%)",
                    c.nic_share.median / c.bound_pct.max(1e-9),
                    c.nic_share.median,
                    c.bound_pct
                ),
            )
        })
        .collect();
    Ok(Outcome { cells, ratios })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_follows_the_kth_flow() {
        // 400K packets loop 17.5 times a second at 7 Mpps.
        let counts = vec![100, 50, 20, 10, 1];
        assert!((promote_pps(&counts, 400_000, 3) - 0.5 * 20.0 * 17.5).abs() < 1e-9);
        // More rules than flows: the lightest flow; never below 1 pps.
        assert!((promote_pps(&counts, 400_000, 64) - 8.75).abs() < 1e-9);
        assert_eq!(promote_pps(&[1], 1_000_000_000, 1), 1.0);
    }
}
