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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSpec {
    pub flows: u32,
    /// Every packet is held in an mbuf by `infinite_rx`; at least one per flow.
    pub packets: u64,
    /// Part of `--quick` (the 1M capture takes minutes to load and ~5 GB).
    quick: bool,
}

impl CaptureSpec {
    /// The scaling goal's control: the 10K flows in as many packets as the 1M
    /// capture. `net_pcap`'s `infinite_rx` copies each packet out of its stored
    /// capture, so its RX cost grows with the capture, for every contender
    /// alike; against this capture the 1M-flow rate shows what the flow
    /// count alone costs.
    fn is_control(&self) -> bool {
        self.packets != standard_packets(self.flows)
    }

    /// The table's first column: the flow count, and the packets when they
    /// are not the usual ones for it.
    fn label(&self) -> String {
        if self.is_control() {
            format!("{} ({} packets)", self.flows, self.packets)
        } else {
            self.flows.to_string()
        }
    }
}

/// The usual capture's packet count for `flows`.
fn standard_packets(flows: u32) -> u64 {
    CAPTURES
        .iter()
        .find(|c| c.flows == flows)
        .map_or(0, |c| c.packets)
}

const CAPTURES: [CaptureSpec; 5] = [
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
    // The scaling control (`is_control`): after the 1M capture, so that the
    // first capture of a flow count is the usual one.
    CaptureSpec {
        flows: 10_000,
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
    capture: CaptureSpec,
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
        for r in rows
            .iter()
            .filter(|r| r.contender == *c && !r.capture.is_control())
        {
            if let Outcome::Ran {
                mpps: s,
                cycles: cs,
                ..
            } = &r.outcome
            {
                let x = f64::from(r.capture.flows);
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
fn goal(peer: Contender, capture: &CaptureSpec) -> Option<f64> {
    if capture.is_control() {
        return None;
    }
    match (peer, capture.flows) {
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
            .find(|o| o.capture == r.capture && o.contender == Contender::Flowlift)
            .and_then(Row::mpps);
        let value = match (ours, r.mpps(), &r.outcome) {
            (Some(o), Some(m), _) => match goal(r.contender, &r.capture) {
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
            format!(
                "flowlift / {} Mpps, {} flows",
                r.contender.name(),
                r.capture.label()
            ),
            value,
        ));
    }
    out.extend(scaling(rows));
    out
}

/// The scaling goal (flowlift's 1M-flow rate at least 0.85x its
/// 10K-flow rate), for every contender that ran both: against the usual 10K
/// capture, and against the control of as many packets as the 1M one, which
/// leaves out what the vdev's replay of a larger capture costs everyone.
fn scaling(rows: &[Row]) -> Vec<Ratio> {
    let rate = |c: Contender, flows: u32, control: bool| {
        rows.iter()
            .find(|r| {
                r.contender == c && r.capture.flows == flows && r.capture.is_control() == control
            })
            .and_then(Row::mpps)
    };
    let mut out = Vec::new();
    for c in CONTENDERS {
        let Some(big) = rate(c, 1_000_000, false) else {
            continue;
        };
        for (control, against) in [(false, "10000 flows"), (true, "10000 flows, same packets")] {
            let Some(small) = rate(c, 10_000, control) else {
                continue;
            };
            let r = big / small;
            let value = if c == Contender::Flowlift {
                let met = if r >= SCALING_GOAL { "met" } else { "not met" };
                format!("{r:.2} (goal >= {SCALING_GOAL}: {met})")
            } else {
                format!("{r:.2}")
            };
            out.push(Ratio::new(
                "forward",
                format!("{} Mpps, 1000000 flows / {against}", c.name()),
                value,
            ));
        }
    }
    out
}

/// The least 1M-flow / 10K-flow rate the fast-path issue asks of flowlift.
const SCALING_GOAL: f64 = 0.85;

/// The usual capture of `flows` flows under `scratch` (see [`setup_capture`]).
pub fn capture_setup(flows: u32, scratch: &Path) -> anyhow::Result<Setup> {
    let spec = CAPTURES
        .iter()
        .find(|c| c.flows == flows)
        .with_context(|| format!("no capture of {flows} flows"))?;
    setup_capture(spec, scratch)
}

/// Writes the comparison's capture `spec` under `scratch` and the
/// setup every contender runs it with (also the cycle budget's, `budget`).
fn setup_capture(spec: &CaptureSpec, scratch: &Path) -> anyhow::Result<Setup> {
    let flows = spec.flows;
    let capture = scratch.join(format!("flows{flows}-{}.pcap", spec.packets));
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

/// The captures a run measures: `only`'s flow counts (all when empty), the
/// quick ones in `--quick`; the scaling control only in a full run that has
/// both the 10K and the 1M capture.
fn select(quick: bool, only: &[u32]) -> Vec<CaptureSpec> {
    CAPTURES
        .iter()
        .filter(|c| {
            // The control only with the full run's 10K and 1M captures.
            let wanted = |flows| only.is_empty() || only.contains(&flows);
            if c.is_control() {
                !quick && wanted(10_000) && wanted(1_000_000)
            } else if only.is_empty() {
                c.quick || !quick
            } else {
                only.contains(&c.flows)
            }
        })
        .copied()
        .collect()
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
    let captures = select(quick, only);
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
        let flows = spec.label();
        let setup = setup_capture(spec, &scratch)?;
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
                capture: *spec,
                contender: *c,
                outcome,
            });
        }
        // The 1M capture is ~60 MB; the next one is written fresh.
        let _ = std::fs::remove_file(&capture);
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let mut csv = String::from(
        "flows,packets,contender,mpps_median,mpps_min,mpps_max,cycles_per_packet_median,runs,not_run\n",
    );
    for r in &rows {
        match &r.outcome {
            Outcome::Ran { mpps, cycles, runs } => {
                let _ = writeln!(
                    csv,
                    "{},{},{},{:.3},{:.3},{:.3},{},{},",
                    r.capture.flows,
                    r.capture.packets,
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
                    "{},{},{},,,,,0,\"{}\"",
                    r.capture.flows,
                    r.capture.packets,
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
            .find(|o| o.capture == r.capture && o.contender == Contender::Flowlift)
            .and_then(Row::mpps);
        let _ = match &r.outcome {
            Outcome::Ran { mpps, cycles, .. } => writeln!(
                md,
                "| {} | {} | {:.2} ({:.2}-{:.2}) | {} | {} |",
                r.capture.label(),
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
                r.capture.label(),
                r.contender.name()
            ),
        };
    }
    std::fs::write(out.join("forward.md"), &md)?;
    println!("{md}");
    chart(&rows, runs, &out.join("forward.png"))?;
    let ratios = ratios(&rows);

    let missing: Vec<String> = rows
        .iter()
        .filter(|r| r.contender == Contender::Flowlift && r.mpps().is_none())
        .map(|r| r.capture.label())
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

    fn capture(flows: u32, packets: u64) -> CaptureSpec {
        *CAPTURES
            .iter()
            .find(|c| c.flows == flows && c.packets == packets)
            .unwrap()
    }

    fn ran_on(capture: CaptureSpec, contender: Contender, mpps: f64) -> Row {
        let s = summarize(&[mpps]);
        Row {
            capture,
            contender,
            outcome: Outcome::Ran {
                mpps: s,
                cycles: None,
                runs: 1,
            },
        }
    }

    fn ran(flows: u32, contender: Contender, mpps: f64) -> Row {
        ran_on(capture(flows, standard_packets(flows)), contender, mpps)
    }

    fn value(r: &[Ratio], what: &str) -> String {
        r.iter()
            .find(|x| x.what == what)
            .unwrap_or_else(|| panic!("no {what:?} in {r:?}"))
            .value
            .clone()
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
        assert_eq!(
            value(&r, "flowlift / l3fwd -E Mpps, 10000 flows"),
            "1.50 (goal >= 1.3: met)"
        );
        assert_eq!(value(&r, "flowlift / testpmd io Mpps, 10000 flows"), "0.50");
        assert_eq!(
            value(&r, "flowlift / l3fwd -E Mpps, 1000000 flows"),
            "1.40 (goal >= 1.5: not met)"
        );
    }

    #[test]
    fn scaling_is_judged_against_both_10k_captures() {
        let control = capture(10_000, 1_048_576);
        assert!(control.is_control() && !capture(10_000, 65_536).is_control());
        assert_eq!(control.label(), "10000 (1048576 packets)");
        let rows = [
            ran(10_000, Contender::Flowlift, 10.0),
            ran_on(control, Contender::Flowlift, 8.0),
            ran(1_000_000, Contender::Flowlift, 7.0),
            ran(10_000, Contender::Testpmd("io"), 16.0),
            ran_on(control, Contender::Testpmd("io"), 12.0),
            ran(1_000_000, Contender::Testpmd("io"), 11.4),
            ran_on(control, Contender::L3fwd, 4.0),
        ];
        let r = ratios(&rows);
        assert_eq!(
            value(
                &r,
                "flowlift (offload off) Mpps, 1000000 flows / 10000 flows"
            ),
            "0.70 (goal >= 0.85: not met)"
        );
        assert_eq!(
            value(
                &r,
                "flowlift (offload off) Mpps, 1000000 flows / 10000 flows, same packets"
            ),
            "0.88 (goal >= 0.85: met)"
        );
        assert_eq!(
            value(
                &r,
                "testpmd io Mpps, 1000000 flows / 10000 flows, same packets"
            ),
            "0.95"
        );
        // No goal against a peer on the control, and no scaling without a 1M rate.
        assert_eq!(
            value(
                &r,
                "flowlift / l3fwd -E Mpps, 10000 (1048576 packets) flows"
            ),
            "2.00"
        );
        assert!(!r
            .iter()
            .any(|x| x.what.starts_with("l3fwd -E Mpps, 1000000")));
    }

    #[test]
    fn the_control_runs_only_in_a_full_run_with_both_flow_counts() {
        let picked = |quick: bool, only: &[u32]| -> Vec<String> {
            select(quick, only).iter().map(CaptureSpec::label).collect()
        };
        assert_eq!(picked(true, &[10_000]), ["10000"]);
        assert_eq!(picked(false, &[10_000]), ["10000"]);
        assert_eq!(
            picked(false, &[10_000, 1_000_000]),
            ["10000", "1000000", "10000 (1048576 packets)"]
        );
        assert_eq!(picked(true, &[]), ["1", "10000", "200000"]);
        assert_eq!(picked(false, &[]).len(), 5);
    }
}
