//! `flowlift-perf`: runs flowlift and its peers on the same captures, devices and
//! lcores, one after the other in one run, and reports the ratios.
//!
//! `cargo run -p flowlift-perf --release -- all` (or `perf/run`) reproduces
//! every table and chart in `perf/README.md`; `forward`, `offload`, `vfs`
//! run one benchmark each.
#![deny(unsafe_code)]

mod all;
mod budget;
mod capture;
mod contenders;
mod control_rig;
mod effect;
mod flowlift_run;
mod forward;
mod ground_truth;
mod l3fwd;
mod l3fwd_build;
mod offload;
mod ovs;
mod ovs_offload;
mod plot;
mod samples;
mod scale;
mod scenarios;
mod summary;
mod telemetry;
mod timing;
mod vfs;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "flowlift-perf", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every benchmark in one go (forward, offload, vfs, effect, scale,
    /// timing): CSV, Markdown and PNG under --out, then a summary of ratios.
    All {
        /// Each section shrunk to check the harness in under 5 minutes; fails
        /// if a peer expected here cannot run or a flowlift figure is missing.
        #[arg(long)]
        quick: bool,
        /// Only these sections, comma-separated (all by default).
        #[arg(long, value_delimiter = ',', value_enum)]
        only: Vec<all::Section>,
        /// Where CSV, Markdown and PNG results go.
        #[arg(long, default_value = "perf/results")]
        out: PathBuf,
    },
    /// Forwarding Mpps on one worker lcore: flowlift vs dpdk-testpmd (io,
    /// macswap, 5tswap), DPDK's l3fwd -E (exact 5-tuple rules in rte_hash) and
    /// OVS-DPDK (in_port rule, exact 5-tuple rules) on the same captures and
    /// virtual devices.
    Forward {
        /// Runs per contender and capture (medians of these are reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// One-second rate samples per run (first and last are dropped).
        #[arg(long, default_value_t = 6)]
        seconds: usize,
        /// One run of 3 samples each, no 1M-flow capture: checks the harness works
        /// in a few minutes, and fails if any contender expected here cannot run.
        #[arg(long)]
        quick: bool,
        /// Only the captures of these flow counts (1, 10000, 200000, 1000000),
        /// comma-separated; all by default.
        #[arg(long, value_delimiter = ',')]
        flows: Vec<u32>,
        /// Where CSV and Markdown results go.
        #[arg(long, default_value = "perf/results")]
        out: PathBuf,
    },
    /// The paper's figure: offload on vs off on a Zipf(1.1) capture of 100K flows
    /// on the NIC model (net_flowlift, its switch pinned to CPU 0) with 1024
    /// rte_flow rules (NIC share, the worker's busy cycles per delivered packet,
    /// the model's CPU apart).
    Offload {
        /// Runs per mode, off and on alternating (medians of these are reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// One run per mode, 5 s each, on a 20K-flow capture: checks the harness
        /// works in under a minute, and fails if any expected figure is missing.
        #[arg(long)]
        quick: bool,
        /// Where CSV and Markdown results go.
        #[arg(long, default_value = "perf/results")]
        out: PathBuf,
    },
    /// OVS-DPDK 3.1 with hw-offload on the same NIC model, the same capture
    /// and rule capacity: NIC share, host CPU per packet, per-flow counts
    /// against the capture (skipped, with a line, without OVS-DPDK).
    OvsOffload {
        /// A 20K-flow capture, one steady run each: checks the harness.
        #[arg(long)]
        quick: bool,
        /// Where CSV and Markdown results go.
        #[arg(long, default_value = "perf/results")]
        out: PathBuf,
    },
    /// The software path's cycle budget, stage by stage: flowlift built with
    /// its `stage-cycles` probes (into target/stage-cycles) on the forward
    /// comparison's 10K and 1M captures.
    Budget {
        /// Runs per build and capture (medians and min-max of these).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// One-second samples per run (first and last are dropped).
        #[arg(long, default_value_t = 6)]
        seconds: usize,
        /// One run of 3 s on the 10K capture only.
        #[arg(long)]
        quick: bool,
        /// Another flowlift built with stage-cycles (an older commit's), run
        /// interleaved with this tree's: before and after, side by side.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Where CSV and Markdown results go.
        #[arg(long, default_value = "perf/results")]
        out: PathBuf,
    },
    /// The paper's Fig. 2/6: 1..12 VF ports (the NIC model's representors),
    /// each with an equal share of Zipf traffic; worker busy share and
    /// delivered vs offered Mpps with offload (rte_flow) off and on, the
    /// model's CPU apart.
    Vfs {
        /// Two VF counts, small captures, one short run each.
        #[arg(long)]
        quick: bool,
        /// The paced sweep only (on the generated wire).
        #[arg(long)]
        paced: bool,
        /// Where CSV, Markdown and PNG results go.
        #[arg(long, default_value = "perf/results")]
        out: PathBuf,
    },
    /// Issue 15's scenarios on the NIC model's generated wire (steady,
    /// churn, hot-set shift, flash crowd, mice), offload on, and the steady
    /// one offload off: the NIC share against the top-K oracle, rule
    /// changes a second, time to offload, host CPU, and the flow log
    /// against the ground truth.
    Scenarios {
        /// Every scenario, a few seconds each.
        #[arg(long)]
        quick: bool,
        /// Some scenarios only (steady always runs: the CPU figure needs it).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Rule budgets (K) to run, instead of 256 and 4096.
        #[arg(long, value_delimiter = ',')]
        rules: Vec<u32>,
        /// Where CSV, Markdown and PNG results go.
        #[arg(long, default_value = "perf/results")]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Forward {
            runs,
            seconds,
            quick,
            flows,
            out,
        } => {
            let (runs, seconds) = if quick {
                (1, 3)
            } else {
                (runs.max(1), seconds.max(3))
            };
            // The table is printed as it is written; the ratios (with the
            // goals met or not, and the scaling) follow it.
            let ratios = forward::run(runs, seconds, quick, &flows, &out)?;
            println!("{}", summary::table(&ratios));
            Ok(())
        }
        Command::Offload { runs, quick, out } => offload::run(runs, quick, true, &out).map(|_| ()),
        Command::Budget {
            runs,
            seconds,
            quick,
            baseline,
            out,
        } => {
            let (runs, seconds) = if quick {
                (1, 3)
            } else {
                (runs.max(1), seconds.max(3))
            };
            budget::run(runs, seconds, quick, baseline.as_deref(), &out).map(|_| ())
        }
        Command::All { quick, only, out } => all::run(quick, &only, &out),
        Command::OvsOffload { quick, out } => ovs_offload::run(quick, &out),
        Command::Scenarios {
            quick,
            only,
            rules,
            out,
        } => {
            let mut plan = if quick {
                scenarios::Plan::quick()
            } else {
                scenarios::Plan::full()
            };
            if !only.is_empty() {
                plan.scenarios
                    .retain(|s| s.name == "steady" || only.iter().any(|o| o == s.name));
            }
            if !rules.is_empty() {
                plan.rules = rules;
            }
            scenarios::run(&plan, &out).map(|_| ())
        }
        Command::Vfs { quick, paced, out } => {
            let sweep = match (quick, paced) {
                (false, false) => return vfs::run_both(false, &out).map(|_| ()),
                (true, false) => return vfs::run_both(true, &out).map(|_| ()),
                (false, true) => vfs::Sweep::paced_full(),
                (true, true) => vfs::Sweep::paced_quick(),
            };
            vfs::run(&sweep, &out).map(|_| ())
        }
    }
}
