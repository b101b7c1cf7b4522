//! The cycle budget of flowlift's software path, stage by stage
//! (perf/README.md, "Cycle budget"): flowlift built with its `stage-cycles`
//! probes (TSC laps between the poll loop's stages: rx, parse, hash+lookup,
//! miss, count+act, tx, loop), run exactly as the forward comparison runs it
//! (same captures, `net_pcap` into `net_null`, one worker on lcore 1), its
//! final report's `cycles/packet by stage` line read back.
//!
//! The probed build goes to its own target directory (`target/stage-cycles`),
//! so the plain release build the other sections measure is left alone; the
//! first build there is a whole release build (minutes). `--baseline BINARY`
//! runs another probed build (an older commit's) interleaved with this one,
//! on the same captures: the before/after of a change, side by side.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::contenders::{self, Contender};
use crate::forward::{build_flowlift, capture_setup, machine};
use crate::samples::{steady, summarize, Summary};
use crate::summary::Ratio;

/// The captures: the forward comparison's 10K and 1M flows (quick: 10K).
fn captures(quick: bool) -> Vec<u32> {
    if quick {
        vec![10_000]
    } else {
        vec![10_000, 1_000_000]
    }
}

/// Stages that are flowlift's own work, beside the I/O every peer pays
/// (rx, tx): what the "own work" budget counts.
const OWN_WORK: [&str; 4] = ["parse", "hash+lookup", "miss", "count+act"];

/// One build's figures on one capture, over its runs.
#[derive(Debug, Default)]
struct Measured {
    mpps: Vec<f64>,
    cycles: Vec<f64>,
    /// Per stage, in the report's order: each run's cycles per packet.
    stages: Vec<(String, Vec<f64>)>,
}

impl Measured {
    fn add(&mut self, run: &contenders::RunResult) {
        self.mpps.push(summarize(steady(&run.mpps)).median);
        if let Some(c) = run.cycles_per_packet {
            self.cycles.push(c);
        }
        for (name, c) in &run.stages {
            match self.stages.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.push(*c),
                None => self.stages.push((name.clone(), vec![*c])),
            }
        }
    }

    fn stage(&self, name: &str) -> Summary {
        let v = self
            .stages
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[][..], |(_, v)| v);
        summarize(v)
    }

    /// The own-work stages' sum, per run, summarised.
    fn own_work(&self) -> Summary {
        let runs = self.stages.first().map_or(0, |(_, v)| v.len());
        let sums: Vec<f64> = (0..runs)
            .map(|r| {
                self.stages
                    .iter()
                    .filter(|(n, _)| OWN_WORK.contains(&n.as_str()))
                    .filter_map(|(_, v)| v.get(r))
                    .sum()
            })
            .collect();
        summarize(&sums)
    }
}

/// Builds flowlift with `stage-cycles` into `target/stage-cycles` and returns
/// the binary's path.
fn build_probed_flowlift() -> anyhow::Result<PathBuf> {
    eprintln!("flowlift-perf: building flowlift with stage-cycles (target/stage-cycles)");
    build_flowlift(&[
        "--features",
        "stage-cycles",
        "--target-dir",
        "target/stage-cycles",
    ])
    .context("flowlift with stage-cycles")
}

/// Runs the budget and writes `budget.csv` and `budget.md` under `out`.
pub fn run(
    runs: usize,
    seconds: usize,
    quick: bool,
    baseline: Option<&Path>,
    out: &Path,
) -> anyhow::Result<Vec<Ratio>> {
    let mut builds = vec![("this tree".to_string(), build_probed_flowlift()?)];
    if let Some(b) = baseline {
        anyhow::ensure!(b.is_file(), "baseline {} is not a file", b.display());
        builds.push(("baseline".to_string(), b.to_path_buf()));
    }
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let scratch = std::env::temp_dir().join(format!("flowlift-budget-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let samples = seconds + 2;
    let mut results: Vec<(u32, Vec<Measured>)> = Vec::new();
    for flows in captures(quick) {
        let setup = capture_setup(flows, &scratch)?;
        let mut per: Vec<Measured> = builds.iter().map(|_| Measured::default()).collect();
        for r in 0..runs {
            for ((name, binary), m) in builds.iter().zip(per.iter_mut()) {
                eprintln!(
                    "flowlift-perf: budget, {flows} flows, run {}/{runs}: {name}",
                    r + 1
                );
                let res = contenders::run(Contender::Flowlift, &setup, samples, binary, &scratch)?;
                anyhow::ensure!(
                    !res.stages.is_empty(),
                    "{name} printed no cycles by stage: not built with stage-cycles?"
                );
                m.add(&res);
            }
        }
        let _ = std::fs::remove_file(&setup.capture);
        results.push((flows, per));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    write_tables(&builds, &results, runs, seconds, out)?;
    let mut ratios = Vec::new();
    for (flows, per) in &results {
        let own = per[0].own_work();
        ratios.push(Ratio::new(
            "budget",
            format!("own work (parse+lookup+miss+count) cycles/packet, {flows} flows"),
            format!("{:.1}", own.median),
        ));
        if let Some(base) = per.get(1) {
            ratios.push(Ratio::new(
                "budget",
                format!("own work this tree / baseline, {flows} flows"),
                format!(
                    "{:.2}",
                    own.median / base.own_work().median.max(f64::MIN_POSITIVE)
                ),
            ));
        }
    }
    Ok(ratios)
}

/// A summary row of the table: what one build measured, summarised.
type Figure = fn(&Measured) -> Summary;

fn cell(s: Summary) -> String {
    format!("{:.1} [{:.1}..{:.1}]", s.median, s.min, s.max)
}

fn write_tables(
    builds: &[(String, PathBuf)],
    results: &[(u32, Vec<Measured>)],
    runs: usize,
    seconds: usize,
    out: &Path,
) -> anyhow::Result<()> {
    let mut csv = String::from("flows,build,stage,cycles_per_packet_median,min,max\n");
    let mut md = format!(
        "Machine: {}. One worker lcore, flowlift with `stage-cycles`; {runs} runs x {seconds} s \
         per build, interleaved; cycles per received packet, median [min..max] over runs.\n",
        machine()
    );
    for (flows, per) in results {
        let _ = write!(md, "\n**{flows} flows**\n\n| stage |");
        for (name, _) in builds {
            let _ = write!(md, " {name} |");
        }
        md.push_str("\n|---|");
        md.push_str(&"---|".repeat(builds.len()));
        md.push('\n');
        let names: Vec<String> = per[0].stages.iter().map(|(n, _)| n.clone()).collect();
        for stage in &names {
            let _ = write!(md, "| {stage} |");
            for ((build, _), m) in builds.iter().zip(per) {
                let s = m.stage(stage);
                let _ = write!(md, " {} |", cell(s));
                let _ = writeln!(
                    csv,
                    "{flows},{build},{stage},{:.1},{:.1},{:.1}",
                    s.median, s.min, s.max
                );
            }
            md.push('\n');
        }
        let rows: [(&str, Figure); 3] = [
            ("own work (parse+lookup+miss+count)", Measured::own_work),
            ("all stages (CPU cycles/packet)", |m| summarize(&m.cycles)),
            ("Mpps", |m| summarize(&m.mpps)),
        ];
        for (label, f) in rows {
            let _ = write!(md, "| **{label}** |");
            for m in per {
                let _ = write!(md, " {} |", cell(f(m)));
            }
            md.push('\n');
        }
    }
    std::fs::write(out.join("budget.csv"), csv)?;
    std::fs::write(out.join("budget.md"), &md)?;
    println!("{md}");
    Ok(())
}
