//! `flowlift-perf all`: every benchmark in one go (forwarding against the
//! peers, offload on/off, the paper's VF sweep, offload effectiveness, scale,
//! timing), CSV, Markdown and PNG under one directory, then one summary table
//! of ratios. A section that fails does not stop the others; the command
//! fails at the end if any did.
//!
//! `--quick` shrinks every section (one short run, small captures, two or
//! three x-points) to check the harness in a few minutes: it fails when a
//! peer expected to run here cannot, or a flowlift figure is missing, never
//! on a timing threshold.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::ValueEnum;

use crate::forward::machine;
use crate::samples::{summarize, Summary};
use crate::summary::{self, Ratio};
use crate::{budget, control_rig, effect, forward, offload, scale, scenarios, timing, vfs};

/// The benchmarks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Section {
    Forward,
    Budget,
    Offload,
    Vfs,
    Effect,
    Scale,
    Timing,
    Scenarios,
}

const ALL: [Section; 8] = [
    Section::Forward,
    Section::Budget,
    Section::Offload,
    Section::Vfs,
    Section::Effect,
    Section::Scale,
    Section::Timing,
    Section::Scenarios,
];

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Forward => "forward",
            Section::Budget => "budget",
            Section::Offload => "offload",
            Section::Vfs => "vfs",
            Section::Effect => "effect",
            Section::Scale => "scale",
            Section::Timing => "timing",
            Section::Scenarios => "scenarios",
        }
    }
}

/// The 1-minute load average: how busy the shared machine was around a section.
fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// How one section went.
#[derive(Debug)]
struct Done {
    section: Section,
    took: Duration,
    load_before: f64,
    load_after: f64,
    error: Option<String>,
}

/// Tick settings of the timing figure.
fn tick_values(quick: bool) -> Vec<u32> {
    if quick {
        vec![10, 100, 1000]
    } else {
        vec![10, 20, 50, 100, 200, 500, 1000]
    }
}

/// Runs `only` (every section when empty) and writes `summary.md` under `out`.
pub fn run(quick: bool, only: &[Section], out: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let sections: Vec<Section> = ALL
        .into_iter()
        // The budget builds a second flowlift (with stage-cycles, a whole
        // release build on a clean machine): quick runs it only when named.
        .filter(|s| only.contains(s) || (only.is_empty() && !(quick && *s == Section::Budget)))
        .collect();
    let mut ratios: Vec<Ratio> = Vec::new();
    let mut done: Vec<Done> = Vec::new();
    let mut install_us = None;
    let mut tick_cost: Option<Vec<(u32, Summary)>> = None;
    for &section in &sections {
        eprintln!("flowlift-perf: all: {} ...", section.name());
        let t0 = Instant::now();
        let load_before = load();
        let result: anyhow::Result<Vec<Ratio>> = match section {
            Section::Forward => {
                if quick {
                    // The 10K-flow capture, every contender once, 2 steady seconds.
                    forward::run(1, 2, true, &[10_000], out)
                } else {
                    forward::run(3, 5, false, &[], out)
                }
            }
            Section::Budget => budget::run(if quick { 1 } else { 3 }, 5, quick, None, out),
            // The shared-CPU run only shows a placement to avoid; quick skips it.
            Section::Offload => offload::run(3, quick, !quick, out),
            Section::Vfs => vfs::run_both(quick, out),
            Section::Effect => effect::run(
                &if quick {
                    effect::Sweep::quick()
                } else {
                    effect::Sweep::full()
                },
                out,
            )
            .map(|o| {
                install_us = o.install_us();
                o.ratios
            }),
            Section::Scale => scale::run(
                &if quick {
                    scale::Sweep::quick()
                } else {
                    scale::Sweep::full()
                },
                out,
            )
            .map(|o| {
                tick_cost = Some(o.ticks);
                o.ratios
            }),
            Section::Timing => {
                let cost = match tick_cost.take() {
                    Some(c) => Ok(c),
                    // Timing alone: measure the tick here.
                    None => [100_000u32, 1_000_000]
                        .iter()
                        .map(|&n| {
                            control_rig::tick_ms(n, 5, if quick { 3 } else { 10 })
                                .map(|v| (n, summarize(&v)))
                        })
                        .collect(),
                };
                cost.and_then(|c| timing::run(&tick_values(quick), install_us, &c, out))
            }
            Section::Scenarios => scenarios::run(
                &if quick {
                    scenarios::Plan::quick()
                } else {
                    scenarios::Plan::full()
                },
                out,
            ),
        };
        let error = match result {
            Ok(r) => {
                ratios.extend(r);
                None
            }
            Err(e) => {
                eprintln!("flowlift-perf: all: {} FAILED: {e:#}", section.name());
                Some(format!("{e:#}").lines().next().unwrap_or("").to_owned())
            }
        };
        done.push(Done {
            section,
            took: t0.elapsed(),
            load_before,
            load_after: load(),
            error,
        });
    }

    let mut md = format!(
        "Machine: {}. Mode: {}. Total {:.0} s.\n\n\
         | section | took | 1-min load before / after | result |\n|---|---|---|---|\n",
        machine(),
        if quick { "--quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    for d in &done {
        let _ = writeln!(
            md,
            "| {} | {:.0} s | {:.2} / {:.2} | {} |",
            d.section.name(),
            d.took.as_secs_f64(),
            d.load_before,
            d.load_after,
            d.error
                .as_deref()
                .map_or("ok".into(), |e| format!("FAILED: {}", e.replace('|', "/")))
        );
    }
    md += "\n";
    md += &summary::table(&ratios);
    std::fs::write(out.join("summary.md"), &md)?;
    println!("\n{md}");
    let failed: Vec<&str> = done
        .iter()
        .filter(|d| d.error.is_some())
        .map(|d| d.section.name())
        .collect();
    if !failed.is_empty() {
        bail!("sections failed: {}", failed.join(", "));
    }
    Ok(())
}
