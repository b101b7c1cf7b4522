//! The forwarding comparison: captures of 1 and 10,000 flows, each contender run
//! in turn (interleaved, so drift on a shared machine hits all alike), medians
//! of the steady per-second rates, and the flowlift / peer ratios.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use flowlift_control::traffic::{generate, TrafficSpec};
use flowlift_dataplane::mac::MacAddr;

use crate::contenders::{self, Contender, Setup};
use crate::samples::{steady, summarize, Summary};

/// Packets in each capture: every one is held in an mbuf by `infinite_rx`.
const CAPTURE_PACKETS: u64 = 65_536;
/// Mbufs for every contender (the capture plus room for queues and caches).
const MBUFS: u32 = 131_071;
/// EAL memory: `--no-huge` gives each mbuf a 4 KiB page.
const MEMORY_MB: u32 = 2048;
const VF_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

const CONTENDERS: [Contender; 3] = [
    Contender::Flowlift,
    Contender::Testpmd("io"),
    Contender::Testpmd("macswap"),
];

/// Builds the release `flowlift` binary and returns its path.
fn flowlift_binary() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "flowlift-control",
            "--bin",
            "flowlift",
            "--message-format=json-render-diagnostics",
        ])
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

fn machine() -> String {
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

struct Row {
    flows: u32,
    contender: Contender,
    mpps: Summary,
    cycles: Summary,
    runs: Vec<f64>,
}

/// Runs the comparison and writes `forward.csv` and `forward.md` under `out`.
pub fn run(runs: usize, seconds: usize, out: &Path) -> anyhow::Result<()> {
    let flowlift = flowlift_binary()?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let scratch = std::env::temp_dir().join(format!("flowlift-perf-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let samples = seconds + 2; // plus the two edges `steady` drops
    let mut rows = Vec::new();
    for flows in [1u32, 10_000] {
        let capture = scratch.join(format!("flows{flows}.pcap"));
        generate(
            &TrafficSpec {
                flows,
                packets: CAPTURE_PACKETS,
                dst_macs: vec![VF_MAC],
                frame_len: 60,
                seed: 42,
                ..TrafficSpec::default()
            },
            &capture,
        )?;
        let setup = Setup {
            capture,
            mbufs: MBUFS,
            memory_mb: MEMORY_MB,
            descriptors: 1024,
            burst: 32,
            vf_mac: VF_MAC.to_string(),
        };
        let mut per: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); CONTENDERS.len()];
        for r in 0..runs {
            for (i, c) in CONTENDERS.iter().enumerate() {
                eprintln!(
                    "flowlift-perf: {flows} flows, run {}/{runs}: {}",
                    r + 1,
                    c.name()
                );
                let res = contenders::run(*c, &setup, samples, &flowlift, &scratch)?;
                per[i].0.push(summarize(steady(&res.mpps)).median);
                if let Some(cpp) = res.cycles_per_packet {
                    per[i].1.push(cpp);
                }
            }
        }
        for (c, (mpps, cycles)) in CONTENDERS.iter().zip(per) {
            rows.push(Row {
                flows,
                contender: *c,
                mpps: summarize(&mpps),
                cycles: summarize(&cycles),
                runs: mpps,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let mut csv = String::from(
        "flows,contender,mpps_median,mpps_min,mpps_max,cycles_per_packet_median,runs\n",
    );
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{:.3},{:.3},{:.3},{:.1},{}",
            r.flows,
            r.contender.name(),
            r.mpps.median,
            r.mpps.min,
            r.mpps.max,
            r.cycles.median,
            r.runs.len()
        );
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
            .map_or(0.0, |o| o.mpps.median);
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} ({:.2}-{:.2}) | {:.0} | {:.2} |",
            r.flows,
            r.contender.name(),
            r.mpps.median,
            r.mpps.min,
            r.mpps.max,
            r.cycles.median,
            if r.mpps.median > 0.0 {
                ours / r.mpps.median
            } else {
                0.0
            }
        );
    }
    std::fs::write(out.join("forward.md"), &md)?;
    println!("{md}");
    Ok(())
}
