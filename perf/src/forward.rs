//! The forwarding comparison: captures of 1, 10K, 200K and 1M flows, each
//! contender run in turn (interleaved, so drift on a shared machine hits all
//! alike), medians of the steady per-second rates, and the flowlift / peer
//! ratios. A contender that cannot run a capture gets a row saying why instead
//! of ending the whole run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use flowlift_dataplane::mac::MacAddr;
use flowlift_traffic::{generate, TrafficSpec};

use crate::contenders::{self, Contender, Setup};
use crate::samples::{steady, summarize, Summary};

use crate::ovs::Rules;
use crate::plot::{self, Panel, Point, Series, PALETTE};
use crate::summary::Ratio;
use plotters::chart::SeriesLabelPosition;

const VF_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

/// One capture of the comparison.
#[derive(Debug, Clone, Copy)]
struct CaptureSpec {
    flows: u32,
    /// Every packet is held in an mbuf by `infinite_rx`; at least one per flow.
    packets: u64,
    /// Part of `--quick` (the 1M capture takes minutes to load and ~5 GB).
    quick: bool,
}

const CAPTURES: [CaptureSpec; 4] = [
    CaptureSpec {
        flows: 1,
        packets: 65_536,
        quick: true,
    },
    CaptureSpec {
        flows: 10_000,
        packets: 65_536,
        quick: true,
    },
    // 200K flows is where OVS's exact-match rules hit its flow limit; the
    // capture stays small enough for OVS's fixed mbuf pool.
    CaptureSpec {
        flows: 200_000,
        packets: 229_376,
        quick: true,
    },
    // 2^20 packets: every one of the 1M flows appears at least once.
    CaptureSpec {
        flows: 1_000_000,
        packets: 1_048_576,
        quick: false,
    },
];

/// Mbufs beside the capture: descriptors, caches and bursts in flight (the
/// 65,536-packet captures get 131,071 mbufs in all, as before).
pub const MBUF_ROOM: u64 = 65_535;

/// EAL memory for `mbufs`: `--no-huge` gives each mbuf a 4 KiB page; the rest
/// is heaps, rings and queues. Rounded up to whole GiB (131,071 mbufs: 2048).
pub fn memory_mb(mbufs: u32) -> u32 {
    let pool = (u64::from(mbufs) * 4096).div_ceil(1 << 20);
    ((pool + 1536).div_ceil(1024) * 1024) as u32
}

const CONTENDERS: [Contender; 7] = [
    Contender::Flowlift,
    Contender::Testpmd("io"),
    Contender::Testpmd("macswap"),
    // Swaps MACs, IPs and L4 ports: the testpmd mode that reads a 5-tuple.
    Contender::Testpmd("5tswap"),
    // Exact 5-tuple match in rte_hash: DPDK's own take on flowlift's lookup.
    Contender::L3fwd,
    Contender::Ovs(Rules::InPort),
    Contender::Ovs(Rules::FiveTuple),
];

/// Builds the release `flowlift` binary once per process and returns its
/// path: every benchmark of one `all` run measures the same build, even when
/// the sources change while it runs.
pub fn flowlift_binary() -> anyhow::Result<PathBuf> {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(p) = BUILT.get() {
        return Ok(p.clone());
    }
    let p = build_flowlift(&[])?;
    Ok(BUILT.get_or_init(|| p).clone())
}

/// Builds the release `flowlift` binary with `extra` cargo arguments (the
/// budget's features and target directory) and returns its path.
pub fn build_flowlift(extra: &[&str]) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "flowlift",
            "--bin",
            "flowlift",
            "--message-format=json-render-diagnostics",
        ])
        .args(extra)
        .output()
        .context("run cargo build")?;
    anyhow::ensure!(
        out.status.success(),
        "building flowlift failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "flowlift")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .context("cargo did not report the flowlift executable")
}

/// The machine line of a results table: CPU model, CPUs, kernel, DPDK.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dpdk = Command::new("pkg-config")
        .args(["--modversion", "libdpdk"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cpus} CPUs, Linux {}, DPDK {dpdk}", kernel.trim())
}

/// A contender's figures on one capture, or why there are none.
enum Outcome {
    Ran {
        mpps: Summary,
        /// None when the contender reported no cycle count.
        cycles: Option<Summary>,
        runs: usize,
    },
    NotRun(String),
}

struct Row {
    flows: u32,
    contender: Contender,
    outcome: Outcome,
}

impl Row {
    fn mpps(&self) -> Option<f64> {
        match &self.outcome {
            Outcome::Ran { mpps, .. } if mpps.median > 0.0 => Some(mpps.median),
            _ => None,
        }
    }
}

/// The first line of an error chain: a table cell (the whole error goes to stderr).
fn short_reason(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let line = text.lines().next().unwrap_or("").replace('|', "/");
    line.chars().take(200).collect()
}

/// Mpps and cycles per packet against the capture's flow count, one line per
/// contender that ran.
fn chart(rows: &[Row], runs: usize, path: &Path) -> anyhow::Result<()> {
    let mut mpps = Vec::new();
    let mut cycles = Vec::new();
    for (i, c) in CONTENDERS.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut m = Vec::new();
        let mut cy = Vec::new();
        for r in rows.iter().filter(|r| r.contender == *c) {
            if let Outcome::Ran {
                mpps: s,
                cycles: cs,
                ..
            } = &r.outcome
            {
                let x = f64::from(r.flows);
                m.push(Point {
                    x,
                    y: s.median,
                    min: s.min,
                    max: s.max,
                });
                if let Some(cs) = cs {
                    cy.push(Point {
                        x,
                        y: cs.median,
                        min: cs.min,
                        max: cs.max,
                    });
                }
            }
        }
        if !m.is_empty() {
            mpps.push(Series::new(c.name(), color, m));
        }
        if !cy.is_empty() {
            cycles.push(Series::new(c.name(), color, cy));
        }
    }
    let mut left = Panel::new(
        "Forwarded rate (higher is better)",
        "flows in the capture (log scale)",
        "Mpps forwarded (one lcore)",
        mpps,
    );
    left.log_x = true;
    let mut right = Panel::new(
        "Cost per packet (lower is better)",
        "flows in the capture (log scale)",
        "CPU cycles per packet",
        cycles,
    );
    right.log_x = true;
    right.log_y = true;
    right.legend = SeriesLabelPosition::UpperLeft;
    plot::draw(
        path,
        &format!("Forwarding on one lcore: flowlift vs testpmd, l3fwd -E and OVS-DPDK (median of {runs} runs, min-max bars)"),
        &[left, right],
        1500,
    )
}

/// The least flowlift / peer rate the fast-path issue sets as a goal, so that
/// the summary says whether a run met it: l3fwd -E, DPDK's own exact-match
/// forwarder, is the nearest peer of flowlift's software path.
fn goal(peer: Contender, flows: u32) -> Option<f64> {
    match (peer, flows) {
        (Contender::L3fwd, 10_000) => Some(1.3),
        (Contender::L3fwd, 1_000_000) => Some(1.5),
        _ => None,
    }
}

/// flowlift's rate over each peer's, per capture, for the summary.
fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.contender != Contender::Flowlift) {
        let ours = rows
            .iter()
            .find(|o| o.flows == r.flows && o.contender == Contender::Flowlift)
            .and_then(Row::mpps);
        let value = match (ours, r.mpps(), &r.outcome) {
            (Some(o), Some(m), _) => match goal(r.contender, r.flows) {
                Some(g) => format!(
                    "{:.2} (goal >= {g:.1}: {})",
                    o / m,
                    if o / m >= g { "met" } else { "not met" }
                ),
                None => format!("{:.2}", o / m),
            },
            (_, _, Outcome::NotRun(why)) => {
                format!("not run: {}", why.chars().take(60).collect::<String>())
            }
            _ => "-".into(),
        };
        out.push(Ratio::new(
            "forward",
            format!("flowlift / {} Mpps, {} flows", r.contender.name(), r.flows),
            value,
        ));
    }
    out
}

/// Writes the comparison's capture of `flows` flows under `scratch` and the
/// setup every contender runs it with (also the cycle budget's, `budget`).
pub fn capture_setup(flows: u32, scratch: &Path) -> anyhow::Result<Setup> {
    let spec = CAPTURES
        .iter()
        .find(|c| c.flows == flows)
        .with_context(|| format!("no capture of {flows} flows"))?;
    let capture = scratch.join(format!("flows{flows}.pcap"));
    eprintln!(
        "flowlift-perf: writing a capture of {flows} flows, {} packets",
        spec.packets
    );
    generate(
        &TrafficSpec {
            flows,
            packets: spec.packets,
            dst_macs: vec![VF_MAC],
            frame_len: 60,
            seed: 42,
            ..TrafficSpec::default()
        },
        &capture,
    )?;
    let mbufs = u32::try_from(spec.packets + MBUF_ROOM).context("mbuf count")?;
    Ok(Setup {
        capture,
        packets: spec.packets,
        mbufs,
        memory_mb: memory_mb(mbufs),
        descriptors: 1024,
        burst: 32,
        vf_mac: VF_MAC.to_string(),
    })
}

/// Runs the comparison and writes `forward.csv` and `forward.md` under `out`.
/// With `quick`, the 1M capture is skipped and any contender that fails where it
/// is expected to run makes the whole run fail (after the table is written).
/// A non-empty `only` keeps the captures of those flow counts.
pub fn run(
    runs: usize,
    seconds: usize,
    quick: bool,
    only: &[u32],
    out: &Path,
) -> anyhow::Result<Vec<Ratio>> {
    let captures: Vec<CaptureSpec> = CAPTURES
        .iter()
        .filter(|c| {
            if only.is_empty() {
                c.quick || !quick
            } else {
                only.contains(&c.flows)
            }
        })
        .copied()
        .collect();
    anyhow::ensure!(
        !captures.is_empty(),
        "no capture of {only:?} flows; there are {:?}",
        CAPTURES.map(|c| c.flows)
    );
    let flowlift = flowlift_binary()?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let scratch = std::env::temp_dir().join(format!("flowlift-perf-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let samples = seconds + 2; // plus the two edges `steady` drops
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for spec in &captures {
        let flows = spec.flows;
        let setup = capture_setup(flows, &scratch)?;
        let capture = setup.capture.clone();
        let mut per: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); CONTENDERS.len()];
        let mut not_run: Vec<Option<String>> =
            CONTENDERS.iter().map(|c| c.cannot_run(&setup)).collect();
        for (c, reason) in CONTENDERS.iter().zip(&not_run) {
            if let Some(r) = reason {
                eprintln!("flowlift-perf: {flows} flows: {} not run: {r}", c.name());
            }
        }
        for r in 0..runs {
            for (i, c) in CONTENDERS.iter().enumerate() {
                if not_run[i].is_some() {
                    continue;
                }
                eprintln!(
                    "flowlift-perf: {flows} flows, run {}/{runs}: {}",
                    r + 1,
                    c.name()
                );
                match contenders::run(*c, &setup, samples, &flowlift, &scratch) {
                    Ok(res) => {
                        per[i].0.push(summarize(steady(&res.mpps)).median);
                        if let Some(cpp) = res.cycles_per_packet {
                            per[i].1.push(cpp);
                        }
                    }
                    Err(e) => {
                        // It was expected to run here: record why not, and go
                        // on with the others rather than lose their figures.
                        eprintln!("flowlift-perf: {flows} flows: {} failed: {e:#}", c.name());
                        failures.push(format!(
                            "{} on {flows} flows: {}",
                            c.name(),
                            short_reason(&e)
                        ));
                        not_run[i] = Some(format!("failed: {}", short_reason(&e)));
                    }
                }
            }
        }
        for ((c, (mpps, cycles)), reason) in CONTENDERS.iter().zip(per).zip(not_run) {
            let outcome = match reason {
                // A run that failed after others succeeded still reports why.
                Some(reason) => Outcome::NotRun(reason),
                None => Outcome::Ran {
                    mpps: summarize(&mpps),
                    cycles: (!cycles.is_empty()).then(|| summarize(&cycles)),
                    runs: mpps.len(),
                },
            };
            rows.push(Row {
                flows,
                contender: *c,
                outcome,
            });
        }
        // The 1M capture is ~60 MB; the next one is written fresh.
        let _ = std::fs::remove_file(&capture);
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let mut csv = String::from(
        "flows,contender,mpps_median,mpps_min,mpps_max,cycles_per_packet_median,runs,not_run\n",
    );
    for r in &rows {
        match &r.outcome {
            Outcome::Ran { mpps, cycles, runs } => {
                let _ = writeln!(
                    csv,
                    "{},{},{:.3},{:.3},{:.3},{},{},",
                    r.flows,
                    r.contender.name(),
                    mpps.median,
                    mpps.min,
                    mpps.max,
                    cycles.map_or(String::new(), |c| format!("{:.1}", c.median)),
                    runs
                );
            }
            Outcome::NotRun(reason) => {
                let _ = writeln!(
                    csv,
                    "{},{},,,,,0,\"{}\"",
                    r.flows,
                    r.contender.name(),
                    reason.replace('"', "'")
                );
            }
        }
    }
    std::fs::write(out.join("forward.csv"), &csv)?;

    let mut md = format!(
        "Machine: {}. One forwarding lcore; {runs} runs x {seconds} s per contender, interleaved; \
         median of per-run medians (min-max).\n\n\
         | flows | contender | Mpps | cycles/packet | flowlift / this |\n|---|---|---|---|---|\n",
        machine()
    );
    for r in &rows {
        let ours = rows
            .iter()
            .find(|o| o.flows == r.flows && o.contender == Contender::Flowlift)
            .and_then(Row::mpps);
        let _ = match &r.outcome {
            Outcome::Ran { mpps, cycles, .. } => writeln!(
                md,
                "| {} | {} | {:.2} ({:.2}-{:.2}) | {} | {} |",
                r.flows,
                r.contender.name(),
                mpps.median,
                mpps.min,
                mpps.max,
                cycles.map_or("-".into(), |c| format!("{:.0}", c.median)),
                match (ours, r.mpps()) {
                    (Some(o), Some(m)) => format!("{:.2}", o / m),
                    _ => "-".into(),
                }
            ),
            Outcome::NotRun(reason) => writeln!(
                md,
                "| {} | {} | not run: {reason} | - | - |",
                r.flows,
                r.contender.name()
            ),
        };
    }
    std::fs::write(out.join("forward.md"), &md)?;
    println!("{md}");
    chart(&rows, runs, &out.join("forward.png"))?;
    let ratios = ratios(&rows);

    let missing: Vec<u32> = rows
        .iter()
        .filter(|r| r.contender == Contender::Flowlift && r.mpps().is_none())
        .map(|r| r.flows)
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "flowlift has no result for the captures of {missing:?} flows"
    );
    if !failures.is_empty() {
        if quick {
            bail!(
                "contenders expected to run here failed:\n  {}",
                failures.join("\n  ")
            );
        }
        eprintln!(
            "flowlift-perf: WARNING: contenders expected to run here failed:\n  {}",
            failures.join("\n  ")
        );
    }
    Ok(ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(flows: u32, contender: Contender, mpps: f64) -> Row {
        let s = summarize(&[mpps]);
        Row {
            flows,
            contender,
            outcome: Outcome::Ran {
                mpps: s,
                cycles: None,
                runs: 1,
            },
        }
    }

    #[test]
    fn the_l3fwd_ratio_says_whether_the_goal_was_met() {
        let rows = [
            ran(10_000, Contender::Flowlift, 9.0),
            ran(10_000, Contender::L3fwd, 6.0),
            ran(10_000, Contender::Testpmd("io"), 18.0),
            ran(1_000_000, Contender::Flowlift, 7.0),
            ran(1_000_000, Contender::L3fwd, 5.0),
        ];
        let r = ratios(&rows);
        let value = |what: &str| r.iter().find(|x| x.what == what).unwrap().value.clone();
        assert_eq!(
            value("flowlift / l3fwd -E Mpps, 10000 flows"),
            "1.50 (goal >= 1.3: met)"
        );
        assert_eq!(value("flowlift / testpmd io Mpps, 10000 flows"), "0.50");
        assert_eq!(
            value("flowlift / l3fwd -E Mpps, 1000000 flows"),
            "1.40 (goal >= 1.5: not met)"
        );
    }
}
