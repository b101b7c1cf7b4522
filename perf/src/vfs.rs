//! The seed paper's Fig. 2 and Fig. 6: x = number of VMs (VF ports), each the
//! destination of an equal share of heavy-tailed traffic; y1 = the worker's
//! busy share, y2 = delivered vs offered throughput; offload off and on (rte_flow
//! on the NIC model, as in `offload.rs`: 1024 rules, same thresholds, lcores
//! and switch CPU; the PF makes one representor per VF, up to `vf[0-11]`).
//! The model's switch thread is plotted apart: it stands in for hardware.
//!
//! One capture per VF count, all of the same size, so only the spreading over
//! VFs changes along x. Runs are interleaved (every x, off then on, then the
//! next round) so drift on the shared machine hits all points alike.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use plotters::chart::SeriesLabelPosition;
use plotters::style::RGBColor;

use crate::capture::{five_tuples, per_vf_zipf, top_flows_share};
use crate::flowlift_run::{self, steady_samples, tail, Appliance, StatusSample, SWITCH_CPU};
use crate::forward::{flowlift_binary, machine};
use crate::ground_truth;
use crate::offload::{Mode, ZIPF};
use crate::plot::{self, Panel, Point, Series, PALETTE};
use crate::samples::{summarize, summary_of, summary_of_some, Summary};
use crate::summary::Ratio;

/// What the PF's wire carries in a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VfWire {
    /// One Zipf capture per VF count, replayed unpaced: the wire waits for
    /// the host, so delivered is always offered.
    Zipf,
    /// The NIC model's generated wire (`gen=steady`), paced by its timeline
    /// at `per_vf_pps` for each VF: what the host cannot take is missed, as
    /// on a real wire, so delivered falls below offered once the worker
    /// saturates.
    Paced { per_vf_pps: u64 },
}

/// Sizes of one sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub wire: VfWire,
    pub vfs: Vec<u8>,
    pub flows: u32,
    pub packets: u64,
    pub runs: usize,
    pub seconds: u64,
    pub warmup_s: u64,
}

impl Sweep {
    /// The figure: 1 to 12 VFs on captures of 100K flows (as the offload run).
    pub fn full() -> Sweep {
        Sweep {
            wire: VfWire::Zipf,
            vfs: vec![1, 2, 4, 6, 8, 10, 12],
            flows: 100_000,
            packets: 400_000,
            runs: 3,
            seconds: 7,
            warmup_s: 3,
        }
    }

    /// Checks the harness: two points, small captures, one short run each.
    pub fn quick() -> Sweep {
        Sweep {
            wire: VfWire::Zipf,
            vfs: vec![1, 4],
            flows: 20_000,
            packets: 100_000,
            runs: 1,
            seconds: 4,
            warmup_s: 2,
        }
    }

    /// The figure on the paced, generated wire: the same VF counts, each VF
    /// offered [`PACED_PER_VF_PPS`].
    pub fn paced_full() -> Sweep {
        Sweep {
            wire: VfWire::Paced {
                per_vf_pps: PACED_PER_VF_PPS,
            },
            runs: 2,
            seconds: 12,
            warmup_s: 4,
            ..Sweep::full()
        }
    }

    /// Checks the paced sweep: one point, one short run each way.
    pub fn paced_quick() -> Sweep {
        Sweep {
            wire: VfWire::Paced {
                per_vf_pps: PACED_PER_VF_PPS,
            },
            vfs: vec![4],
            seconds: 5,
            warmup_s: 2,
            ..Sweep::quick()
        }
    }

    /// The results' file stem.
    fn stem(&self) -> &'static str {
        match self.wire {
            VfWire::Zipf => "vfs",
            VfWire::Paced { .. } => "vfs-paced",
        }
    }
}

/// Each VF's offered rate on the paced wire: 12 VFs offer more than the NIC
/// model's switch moves on this project's machines (about 1.3 Mpps with
/// offload off), so the sweep reaches whichever saturates first, the worker
/// or the model (perf/README.md: the model does).
pub const PACED_PER_VF_PPS: u64 = 150_000;

const MODES: [Mode; 2] = [Mode::Off, Mode::On];
/// flowlift's rule budget on the NIC with offload on (as in `offload.rs`).
const RULES: usize = 1024;

/// One run's medians over its steady status lines.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RunFigures {
    busy_pct: f64,
    delivered_mpps: f64,
    offered_mpps: f64,
    nic_share_pct: Option<f64>,
    /// The model's switch thread, offload on or off.
    nic_model_busy_pct: f64,
    /// Paced wire: the share of its timeline's rate the model's switch kept
    /// up with (its uplink RX and its misses against what the timeline
    /// offered); below 1 the hardware stand-in, not the host, was the limit.
    kept_pace: Option<f64>,
}

/// The figures of a run's status lines, or the first one missing.
fn figures(mode: Mode, steady: &[StatusSample]) -> Result<RunFigures, String> {
    if steady.is_empty() {
        return Err("no status line after the warm-up with packets delivered".into());
    }
    let med = |f: &dyn Fn(&StatusSample) -> f64| {
        summarize(&steady.iter().map(f).collect::<Vec<_>>()).median
    };
    let opt = |f: &dyn Fn(&StatusSample) -> Option<f64>, what: &str| {
        let v: Vec<f64> = steady.iter().filter_map(f).collect();
        if v.len() < steady.len() {
            return Err(format!("no `{what}` in the status lines"));
        }
        Ok(summarize(&v).median)
    };
    let mut fig = RunFigures {
        busy_pct: med(&|s| s.busy_pct),
        delivered_mpps: med(&|s| s.delivered_mpps),
        offered_mpps: med(&|s| s.offered_mpps),
        nic_share_pct: None,
        nic_model_busy_pct: opt(&|s| s.nic_model_busy_pct, "| nic model busy N%")?,
        kept_pace: None,
    };
    if mode == Mode::On {
        fig.nic_share_pct = Some(opt(&|s| s.nic_share_pct, "| nic N%")?);
    }
    Ok(fig)
}

/// Per (VF count, mode): the summaries over runs.
#[derive(Debug, Clone)]
struct Cell {
    vfs: u8,
    mode: Mode,
    runs: usize,
    busy: Summary,
    delivered: Summary,
    offered: Summary,
    nic_share: Option<Summary>,
    nic_busy: Summary,
    kept_pace: Option<Summary>,
    /// Share of the capture's packets its 1024 largest flows carry: the most
    /// the NIC's rules can carry.
    bound_pct: f64,
}

fn cell(vfs: u8, mode: Mode, runs: &[RunFigures], bound_pct: f64) -> Option<Cell> {
    if runs.is_empty() {
        return None;
    }
    let of = |f: fn(&RunFigures) -> f64| summary_of(runs, f);
    let of_some = |f: fn(&RunFigures) -> Option<f64>| summary_of_some(runs, f);
    Some(Cell {
        vfs,
        mode,
        runs: runs.len(),
        busy: of(|r| r.busy_pct),
        delivered: of(|r| r.delivered_mpps),
        offered: of(|r| r.offered_mpps),
        nic_share: of_some(|r| r.nic_share_pct),
        nic_busy: of(|r| r.nic_model_busy_pct),
        kept_pace: of_some(|r| r.kept_pace),
        bound_pct,
    })
}

fn point(x: u8, s: &Summary) -> Point {
    Point {
        x: f64::from(x),
        y: s.median,
        min: s.min,
        max: s.max,
    }
}

fn mode_label(m: Mode) -> &'static str {
    match m {
        Mode::Off => "offload off",
        _ => "offload on",
    }
}

fn chart(cells: &[Cell], sweep: &Sweep, path: &Path) -> anyhow::Result<()> {
    let line = |m: Mode, f: &dyn Fn(&Cell) -> Option<Summary>| -> Vec<Point> {
        cells
            .iter()
            .filter(|c| c.mode == m)
            .filter_map(|c| f(c).map(|s| point(c.vfs, &s)))
            .collect()
    };
    let (off_c, on_c) = (PALETTE[1], PALETTE[0]);
    let offered = match sweep.wire {
        VfWire::Zipf => "uplink RX",
        VfWire::Paced { .. } => "the wire sent",
    };
    let mut busy = Panel::new(
        "Host: worker lcore busy",
        "VF ports (VMs)",
        "worker busy share of its poll loop (%)",
        vec![
            Series::new("offload off", off_c, line(Mode::Off, &|c| Some(c.busy))),
            Series::new("offload on", on_c, line(Mode::On, &|c| Some(c.busy))),
        ],
    );
    busy.y_max = Some(110.0);
    // Below the lines: offload on reads 30-60%, off 100%.
    busy.legend = SeriesLabelPosition::LowerRight;
    let mut tput = Panel::new(
        "Throughput: delivered vs offered",
        "VF ports (VMs)",
        "Mpps (all VFs together)",
        vec![
            Series::new(
                "delivered, offload off",
                off_c,
                line(Mode::Off, &|c| Some(c.delivered)),
            ),
            Series::new(
                "delivered, offload on",
                on_c,
                line(Mode::On, &|c| Some(c.delivered)),
            ),
            Series::new(
                format!("offered ({offered}), off"),
                RGBColor(240, 150, 150),
                line(Mode::Off, &|c| Some(c.offered)),
            )
            .dashed(),
            Series::new(
                format!("offered ({offered}), on"),
                RGBColor(140, 180, 220),
                line(Mode::On, &|c| Some(c.offered)),
            )
            .dashed(),
        ],
    );
    // Headroom above the lines for the legend of four series.
    let top = cells
        .iter()
        .map(|c| c.offered.max.max(c.delivered.max))
        .fold(1.0, f64::max);
    tput.y_max = Some(top * 1.6);
    tput.legend = SeriesLabelPosition::UpperRight;
    let mut nic = Panel::new(
        "NIC model = hardware stand-in (not host CPU)",
        "VF ports (VMs)",
        "% (switch thread busy; packets carried)",
        vec![
            Series::new(
                "model's switch busy, offload off",
                PALETTE[3],
                line(Mode::Off, &|c| Some(c.nic_busy)),
            )
            .dashed(),
            Series::new(
                "model's switch busy, offload on",
                PALETTE[4],
                line(Mode::On, &|c| Some(c.nic_busy)),
            ),
            Series::new(
                "share of packets carried by NIC rules",
                PALETTE[2],
                line(Mode::On, &|c| c.nic_share),
            ),
            Series::new(
                "top-1024 flows' share of the capture (bound)",
                RGBColor(20, 80, 20),
                cells
                    .iter()
                    .filter(|c| c.mode == Mode::On && !c.bound_pct.is_nan())
                    .map(|c| Point::exact(f64::from(c.vfs), c.bound_pct))
                    .collect(),
            )
            .dashed(),
        ],
    );
    // The paced wire has no capture to bound the rules' share by.
    nic.series.retain(|s| !s.points.is_empty());
    nic.y_max = Some(110.0);
    nic.legend = SeriesLabelPosition::LowerRight;
    plot::draw(
        path,
        &match sweep.wire {
            VfWire::Zipf => format!(
                "Paper Fig. 2/6: 1..{} VMs, Zipf {ZIPF}, {}K flows, 1024 NIC rules (median of {} runs, min-max bars)",
                sweep.vfs.iter().max().copied().unwrap_or(0),
                sweep.flows / 1000,
                sweep.runs
            ),
            VfWire::Paced { per_vf_pps } => format!(
                "Paper Fig. 2/6 on a paced wire: 1..{} VMs, {}K packets/s each, 1024 NIC rules (median of {} runs)",
                sweep.vfs.iter().max().copied().unwrap_or(0),
                per_vf_pps / 1000,
                sweep.runs
            ),
        },
        &[busy, tput, nic],
        1800,
    )
}

fn csv(cells: &[Cell]) -> String {
    let mut out = String::from(
        "vfs,mode,runs,worker_busy_pct,worker_busy_min,worker_busy_max,delivered_mpps,delivered_min,delivered_max,\
         offered_mpps,offered_min,offered_max,nic_share_pct,nic_model_busy_pct,nic_model_busy_min,nic_model_busy_max,top_1024_bound_pct\n",
    );
    for c in cells {
        let _ = writeln!(
            out,
            "{},{},{},{:.1},{:.1},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{},{:.1},{:.1},{:.1},{:.1}",
            c.vfs,
            mode_label(c.mode),
            c.runs,
            c.busy.median,
            c.busy.min,
            c.busy.max,
            c.delivered.median,
            c.delivered.min,
            c.delivered.max,
            c.offered.median,
            c.offered.min,
            c.offered.max,
            c.nic_share
                .map_or(String::new(), |s| format!("{:.1}", s.median)),
            c.nic_busy.median,
            c.nic_busy.min,
            c.nic_busy.max,
            c.bound_pct,
        );
    }
    out
}

fn markdown(cells: &[Cell], sweep: &Sweep) -> String {
    let wire = match sweep.wire {
        VfWire::Zipf => format!(
            "With N VFs, each VF is the destination of 1/N of the flows and exactly 1/N of \
             the packets, Zipf({ZIPF}) within each VF (captures of {} flows, {} packets in all, 60-byte \
             frames, the same size for every N), replayed unpaced by the NIC model's PF",
            sweep.flows, sweep.packets
        ),
        VfWire::Paced { per_vf_pps } => format!(
            "With N VFs, the NIC model's generated wire (`gen=steady`: heavy-tailed flows, \
             the top 1% carrying 90% of the packets, 64-1024-byte frames) spreads its flows \
             over the N VFs and is paced by its own timeline at N x {per_vf_pps} packets/s; \
             offered is what it sent, delivered what the host or the rules took (the rest \
             missed: the worker fell behind), both from `gen_series` over the steady seconds"
        ),
    };
    let mut md = format!(
        "Machine: {}.\n\n{wire} (`net_flowlift`, \
         one representor per VF, its switch thread on CPU {SWITCH_CPU}); one worker (lcore 1, CPU 1); \
         offload on: rte_flow rules on the model, at most 1024. {} run(s) x {} s per point, medians \
         of the status lines after {} s, then median [min..max] over runs.\n\n\
         | VFs | offload | worker busy | delivered Mpps | offered Mpps | NIC share | top-1024 bound | NIC model busy (hardware stand-in) | model kept pace |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        machine(),
        sweep.runs,
        sweep.seconds,
        sweep.warmup_s,
    );
    let c = |s: &Summary, d: usize, u: &str| {
        if s.min == s.max {
            format!("{:.*}{u}", d, s.median)
        } else {
            format!("{:.*}{u} [{:.*}..{:.*}]", d, s.median, d, s.min, d, s.max)
        }
    };
    for x in cells {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            x.vfs,
            mode_label(x.mode),
            c(&x.busy, 0, "%"),
            c(&x.delivered, 2, ""),
            c(&x.offered, 2, ""),
            x.nic_share.map_or("-".into(), |s| c(&s, 0, "%")),
            if x.bound_pct.is_nan() {
                "-".to_owned()
            } else {
                format!("{:.1}%", x.bound_pct)
            },
            c(&x.nic_busy, 0, "%"),
            x.kept_pace.map_or("-".into(), |k| c(
                &Summary {
                    median: 100.0 * k.median,
                    min: 100.0 * k.min,
                    max: 100.0 * k.max,
                },
                0,
                "%"
            )),
        );
    }
    md
}

fn ratios(cells: &[Cell], sweep: &Sweep) -> Vec<Ratio> {
    let paced = match sweep.wire {
        VfWire::Zipf => "",
        VfWire::Paced { .. } => ", paced wire",
    };
    let mut out = Vec::new();
    let find = |v: u8, m: Mode| cells.iter().find(|c| c.vfs == v && c.mode == m);
    let mut xs: Vec<u8> = cells.iter().map(|c| c.vfs).collect();
    xs.dedup();
    for v in xs {
        if let (Some(off), Some(on)) = (find(v, Mode::Off), find(v, Mode::On)) {
            out.push(Ratio::new(
                "vfs",
                format!("worker busy on / off, {v} VFs{paced}"),
                format!(
                    "{:.2} ({:.0}% / {:.0}%)",
                    on.busy.median / off.busy.median,
                    on.busy.median,
                    off.busy.median
                ),
            ));
            out.push(Ratio::new(
                "vfs",
                format!("delivered / offered, offload on, {v} VFs{paced}"),
                format!("{:.3}", on.delivered.median / on.offered.median.max(1e-9)),
            ));
        }
    }
    out
}

/// Runs both sweeps: on the Zipf captures, then on the paced wire.
pub fn run_both(quick: bool, out: &Path) -> anyhow::Result<Vec<Ratio>> {
    let (zipf, paced) = if quick {
        (Sweep::quick(), Sweep::paced_quick())
    } else {
        (Sweep::full(), Sweep::paced_full())
    };
    let first = run(&zipf, out);
    let second = run(&paced, out);
    let mut ratios = first?;
    ratios.extend(second?);
    Ok(ratios)
}

/// Runs the sweep, writes `vfs.csv`, `vfs.md` and `vfs.png` (the paced
/// wire's: `vfs-paced.*`) under `out`.
/// Fails (after writing what it has) if any run failed or lacked a figure.
pub fn run(sweep: &Sweep, out: &Path) -> anyhow::Result<Vec<Ratio>> {
    let flowlift = flowlift_binary()?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let scratch = flowlift_run::scratch_dir("vfs")?;
    let mut captures: Vec<(u8, PathBuf, u64, f64)> = Vec::new();
    for &v in &sweep.vfs {
        let path = scratch.join(format!("vfs{v}.pcap"));
        if let VfWire::Paced { .. } = sweep.wire {
            // No capture: the bound is the generator's, not a capture's.
            captures.push((v, path, 0, f64::NAN));
            continue;
        }
        eprintln!(
            "flowlift-perf: vfs: writing a capture of {} flows, {} packets over {v} VFs",
            sweep.flows, sweep.packets
        );
        let n = per_vf_zipf(&path, v, sweep.flows, sweep.packets, ZIPF, 1)?;
        let bound = top_flows_share(&five_tuples(&path)?, RULES);
        captures.push((v, path, n, bound));
    }
    let mut done: Vec<(u8, Mode, RunFigures)> = Vec::new();
    let mut failures = Vec::new();
    let total = sweep.runs * captures.len() * MODES.len();
    let mut i = 0;
    for _ in 0..sweep.runs {
        for (v, capture, _, _) in &captures {
            for &mode in &MODES {
                i += 1;
                eprintln!(
                    "flowlift-perf: vfs: run {i}/{total}: {v} VFs, {}",
                    mode_label(mode)
                );
                let series = scratch.join("series.csv");
                let wire = match sweep.wire {
                    VfWire::Zipf => flowlift_run::replay(capture),
                    VfWire::Paced { per_vf_pps } => format!(
                        "gen=steady,gen_warm=600,gen_vfs={v},gen_seed=15,gen_series={},rate_pps={}",
                        series.display(),
                        per_vf_pps * u64::from(*v)
                    ),
                };
                let app = Appliance {
                    flowlift: flowlift.clone(),
                    wire,
                    vfs: *v,
                    switch_cpu: mode.switch_cpu(),
                    offload: mode.knobs(),
                    scratch: scratch.clone(),
                };
                let result = flowlift_run::run(&app, sweep.seconds, false).and_then(|o| {
                    let mut f =
                        figures(mode, &steady_samples(&o.lines, sweep.warmup_s)).map_err(|e| {
                            anyhow::anyhow!("{e}; last output:\n{}", tail(&o.lines, 12))
                        })?;
                    if let VfWire::Paced { .. } = sweep.wire {
                        // Offered is what the wire sent, delivered what the
                        // host or the rules took of it (the rest missed),
                        // over the same steady seconds of the generator's
                        // time.
                        let bins = ground_truth::read_series(&series)?;
                        // The last second is left out with the warm-up:
                        // the stop's stages (workers first, the wire last)
                        // miss what the wire still sends.
                        let end = sweep.seconds.saturating_sub(1) as f64;
                        let steady: Vec<_> = bins
                            .iter()
                            .filter(|b| {
                                b.t_s >= sweep.warmup_s as f64 && b.t_s + ground_truth::BIN_S <= end
                            })
                            .collect();
                        let secs = steady.len() as f64 * ground_truth::BIN_S;
                        let sent: u64 = steady.iter().map(|b| b.sent).sum();
                        let missed: u64 = steady.iter().map(|b| b.missed).sum();
                        let (rx, secs) = (f.offered_mpps, secs.max(1e-9));
                        f.offered_mpps = sent as f64 / secs / 1e6;
                        f.delivered_mpps = (sent - missed) as f64 / secs / 1e6;
                        let wire = rx + missed as f64 / secs / 1e6;
                        f.kept_pace = Some(wire / f.offered_mpps.max(1e-9));
                    }
                    Ok(f)
                });
                match result {
                    Ok(f) => {
                        eprintln!(
                            "flowlift-perf:   busy {:.0}%, {:.2} of {:.2} Mpps delivered, NIC {}",
                            f.busy_pct,
                            f.delivered_mpps,
                            f.offered_mpps,
                            f.nic_share_pct.map_or("-".into(), |s| format!("{s:.0}%"))
                        );
                        done.push((*v, mode, f));
                    }
                    Err(e) => {
                        eprintln!("flowlift-perf: vfs: {v} VFs, {}: {e:#}", mode_label(mode));
                        failures.push(format!(
                            "{v} VFs, {}: {}",
                            mode_label(mode),
                            format!("{e:#}").lines().next().unwrap_or("")
                        ));
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut cells = Vec::new();
    for &v in &sweep.vfs {
        for &m in &MODES {
            let runs: Vec<RunFigures> = done
                .iter()
                .filter(|(x, mode, _)| *x == v && *mode == m)
                .map(|(.., f)| *f)
                .collect();
            let bound = captures.iter().find(|c| c.0 == v).map_or(0.0, |c| c.3);
            cells.extend(cell(v, m, &runs, bound));
        }
    }
    let stem = sweep.stem();
    std::fs::write(out.join(format!("{stem}.csv")), csv(&cells))?;
    let md = markdown(&cells, sweep);
    std::fs::write(out.join(format!("{stem}.md")), &md)?;
    println!("{md}");
    chart(&cells, sweep, &out.join(format!("{stem}.png")))?;
    if !failures.is_empty() {
        bail!("vfs runs failed:\n  {}", failures.join("\n  "));
    }
    Ok(ratios(&cells, sweep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlift_run::parse_status;

    #[test]
    fn offload_on_needs_the_nic_figures() {
        let on = "[    5s] rx/tx/drop Mpps: uplink 6.11/0.00/0.00 vf1 0.00/6.10/0.00 | busy 26% | nic 72% rules 857/1024 flows 79873 (857 offloaded) | nic model busy 70%";
        let off = "[    5s] rx/tx/drop Mpps: uplink 9.00/0.00/0.00 vf1 0.00/9.00/0.00 | busy 100% | nic model busy 40%";
        let s_on = parse_status(on).unwrap();
        let s_off = parse_status(off).unwrap();
        let f = figures(Mode::On, &[s_on]).unwrap();
        assert_eq!(f.nic_model_busy_pct, 70.0);
        assert_eq!(f.offered_mpps, 6.11);
        assert!(figures(Mode::On, &[s_off])
            .unwrap_err()
            .contains("| nic N%"));
        let f = figures(Mode::Off, &[s_off]).unwrap();
        assert_eq!((f.busy_pct, f.nic_model_busy_pct), (100.0, 40.0));
        assert!(figures(Mode::Off, &[]).is_err());
        // The model's CPU is a figure of every run.
        let no_model = parse_status(off.trim_end_matches(" | nic model busy 40%")).unwrap();
        assert!(figures(Mode::Off, &[no_model])
            .unwrap_err()
            .contains("nic model busy"));
    }
}
