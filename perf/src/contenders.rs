//! Running one contender on one capture: flowlift, dpdk-testpmd in a forwarding
//! mode, DPDK's l3fwd -E (see `l3fwd.rs`) or OVS-DPDK (see `ovs.rs`), each on
//! lcores 0 (main) and 1 (the one forwarding core; l3fwd on lcore 1 alone), the capture
//! replayed from memory by `net_pcap` (`infinite_rx=1`) into a `net_null` sink,
//! with the same mbuf count, descriptors and burst. Their per-second output is
//! read as it streams; after enough samples the process gets SIGINT.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::l3fwd;
use crate::ovs::{self, Rules};

/// What every contender shares.
#[derive(Debug, Clone)]
pub struct Setup {
    pub capture: PathBuf,
    /// Packets in the capture: all of them sit in mbufs while it is replayed.
    pub packets: u64,
    pub mbufs: u32,
    pub memory_mb: u32,
    pub descriptors: u16,
    pub burst: usize,
    /// The MAC every frame of the capture is sent to (flowlift's VF).
    pub vf_mac: String,
}

/// Who runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    Flowlift,
    Testpmd(&'static str),
    /// DPDK's l3fwd in exact-match mode, one rule per flow.
    L3fwd,
    Ovs(Rules),
}

impl Contender {
    /// Its name in tables.
    pub fn name(self) -> String {
        match self {
            Contender::Flowlift => "flowlift (offload off)".into(),
            Contender::Testpmd(mode) => format!("testpmd {mode}"),
            Contender::L3fwd => "l3fwd -E".into(),
            Contender::Ovs(Rules::InPort) => "OVS-DPDK in_port".into(),
            Contender::Ovs(Rules::FiveTuple) => "OVS-DPDK 5-tuple".into(),
        }
    }

    /// Why this contender cannot run `setup` on any machine (a limit of the
    /// program, not a fault of this one); such a row says so instead of a figure.
    pub fn cannot_run(self, setup: &Setup) -> Option<String> {
        match self {
            Contender::Ovs(_) => ovs::cannot_run(setup),
            Contender::Flowlift | Contender::Testpmd(_) | Contender::L3fwd => None,
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// Forwarded Mpps, one sample per second, in order.
    pub mpps: Vec<f64>,
    /// Cycles per packet the contender reported for its forwarding core.
    pub cycles_per_packet: Option<f64>,
    /// flowlift built with `stage-cycles`: its cycles per packet by stage of
    /// the poll loop, as the report names them.
    pub stages: Vec<(String, f64)>,
}

/// How long a contender may take to start forwarding and finish.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Parses testpmd's periodic output: the `Tx-pps` of port 1 (the sink) is what it
/// forwarded. Returns Mpps for each such line.
#[derive(Debug, Default)]
pub struct TestpmdParser {
    port: Option<u32>,
}

impl TestpmdParser {
    pub fn line(&mut self, line: &str) -> Option<f64> {
        if let Some(i) = line.find("NIC statistics for port ") {
            self.port = line[i + 24..]
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok());
            return None;
        }
        let rest = line.trim_start().strip_prefix("Tx-pps:")?;
        if self.port != Some(1) {
            return None;
        }
        let pps: f64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(pps / 1e6)
    }
}

/// Parses flowlift's status line: the TX Mpps of port `vf1`
/// (`... vf1 0.00/22.27/0.00 ...`).
pub fn flowlift_sample(line: &str) -> Option<f64> {
    if !line.starts_with('[') {
        return None;
    }
    let after = &line[line.find(" vf1 ")? + " vf1 ".len()..];
    let rates = after.split_whitespace().next()?;
    rates.split('/').nth(1)?.parse().ok()
}

/// flowlift's `lcore 1: cycles/packet by stage: rx 20.1, parse 18.0, ... (sum
/// 150.2)` (a build with `stage-cycles`): each stage and its cycles.
pub fn stage_cycles(line: &str) -> Option<Vec<(String, f64)>> {
    let rest = &line[line.find("cycles/packet by stage: ")? + "cycles/packet by stage: ".len()..];
    let stages = rest.split(" (sum").next()?;
    stages
        .split(", ")
        .map(|s| {
            let (name, cycles) = s.rsplit_once(' ')?;
            Some((name.to_string(), cycles.parse().ok()?))
        })
        .collect()
}

/// `CPU cycles/packet=98.04 ...` (testpmd and flowlift print the same form).
pub fn cycles_per_packet(line: &str) -> Option<f64> {
    let rest = &line[line.find("CPU cycles/packet=")? + "CPU cycles/packet=".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

fn flowlift_config(setup: &Setup, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("flowlift-perf.toml");
    let text = format!(
        r#"[eal]
args = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0,1", "--file-prefix=perf-fl-{pid}"]
memory_mb = {mem}
[dataplane]
worker_lcores = [1]
burst = {burst}
rx_desc = {desc}
tx_desc = {desc}
mbufs = {mbufs}
[[port]]
name = "uplink"
role = "uplink"
device = "net_pcap0,rx_pcap={cap},infinite_rx=1"
[[port]]
name = "vf1"
role = "vf"
mac = "{mac}"
device = "net_null1,no-rx=1"
[offload]
# The software path alone, as the peers have it.
backend = "none"
[control]
# Its own socket and no /metrics: a run never meets another flowlift on the
# machine (a demo, a test), nor the default port 9464.
socket = "{sock}"
metrics = ""
"#,
        pid = std::process::id(),
        mem = setup.memory_mb,
        burst = setup.burst,
        desc = setup.descriptors,
        mbufs = setup.mbufs,
        cap = setup.capture.display(),
        mac = setup.vf_mac,
        sock = dir.join("flowlift.sock").display(),
    );
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

fn testpmd_args(setup: &Setup, mode: &str) -> Vec<String> {
    vec![
        "-oL".into(),
        "dpdk-testpmd".into(),
        "-l".into(),
        "0,1".into(),
        "--no-huge".into(),
        "-m".into(),
        setup.memory_mb.to_string(),
        "--no-pci".into(),
        "--no-shconf".into(),
        format!("--file-prefix=perf-tp-{}", std::process::id()),
        format!(
            "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
            setup.capture.display()
        ),
        "--vdev=net_null1,no-rx=1".into(),
        "--".into(),
        "--nb-cores=1".into(),
        format!("--forward-mode={mode}"),
        "--stats-period=1".into(),
        "--no-flush-rx".into(),
        format!("--total-num-mbufs={}", setup.mbufs),
        format!("--rxd={}", setup.descriptors),
        format!("--txd={}", setup.descriptors),
        format!("--burst={}", setup.burst),
        "--record-core-cycles".into(),
    ]
}

/// Runs `contender` until it has produced `samples` non-zero per-second rates.
pub fn run(
    contender: Contender,
    setup: &Setup,
    samples: usize,
    flowlift: &Path,
    scratch: &Path,
) -> anyhow::Result<RunResult> {
    let mut cmd = match contender {
        Contender::Ovs(rules) => {
            let tag = match rules {
                Rules::InPort => "inport",
                Rules::FiveTuple => "5tuple",
            };
            return ovs::run(rules, setup, samples, scratch, tag, RUN_TIMEOUT);
        }
        Contender::L3fwd => return l3fwd::run(setup, samples, scratch, RUN_TIMEOUT),
        Contender::Flowlift => {
            let cfg = flowlift_config(setup, scratch)?;
            let mut c = Command::new(flowlift);
            c.arg("run").arg("--config").arg(cfg);
            c
        }
        Contender::Testpmd(mode) => {
            // testpmd block-buffers a piped stdout; stdbuf makes it line-buffered.
            let mut c = Command::new("stdbuf");
            c.args(testpmd_args(setup, mode));
            c
        }
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", contender.name()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut result = RunResult::default();
    let mut parser = TestpmdParser::default();
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut interrupted = false;
    let mut log_tail = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                bail!(
                    "{} did not finish within {:?}",
                    contender.name(),
                    RUN_TIMEOUT
                );
            }
        };
        let sample = match contender {
            Contender::Flowlift => flowlift_sample(&line),
            Contender::Testpmd(_) => parser.line(&line),
            Contender::Ovs(_) | Contender::L3fwd => {
                unreachable!("OVS and l3fwd are run by their own modules")
            }
        };
        if let Some(mpps) = sample {
            // Rates before forwarding starts (testpmd's first periods) are not samples.
            if mpps > 0.0 || !result.mpps.is_empty() {
                result.mpps.push(mpps);
            }
        }
        if let Some(c) = cycles_per_packet(&line) {
            result.cycles_per_packet = Some(c);
        }
        if let Some(stages) = stage_cycles(&line) {
            result.stages = stages;
        }
        log_tail.push(line);
        if log_tail.len() > 40 {
            log_tail.remove(0);
        }
        if !interrupted && result.mpps.len() >= samples {
            let pid = child.id().to_string();
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .context("send SIGINT")?;
            interrupted = true;
        }
    }
    let status = child.wait()?;
    let _ = reader.join();
    if !interrupted || !status.success() {
        bail!(
            "{} ended early ({status}) after {} samples; last output:\n{}",
            contender.name(),
            result.mpps.len(),
            log_tail.join("\n")
        );
    }
    result.mpps.truncate(samples);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_testpmds_sink_rate() {
        let text = "  ######################## NIC statistics for port 0  ########################\n  \
            Rx-pps:     26801105          Rx-bps:            0\n  Tx-pps:            0          Tx-bps:            0\n  \
            ######################## NIC statistics for port 1  ########################\n  \
            Rx-pps:            0          Rx-bps:            0\n  Tx-pps:     26751718          Tx-bps:            0\n";
        let mut p = TestpmdParser::default();
        let got: Vec<f64> = text.lines().filter_map(|l| p.line(l)).collect();
        assert_eq!(got, vec![26.751718]);
        assert_eq!(
            cycles_per_packet("  CPU cycles/packet=98.04 (total cycles=2554452984 / total io packets=26053920) at 2600 MHz Clock"),
            Some(98.04)
        );
    }

    #[test]
    fn reads_flowlifts_status_line() {
        let line =
            "[    2s] rx/tx/drop Mpps: uplink 22.27/0.00/0.00 vf1 0.00/22.26/0.00 | busy 100%";
        assert_eq!(flowlift_sample(line), Some(22.26));
        assert_eq!(flowlift_sample("port 1 vf1: net_null1"), None);
        assert_eq!(
            cycles_per_packet("  lcore 1: CPU cycles/packet=119.93 (busy cycles=7803323410 / packets=65064608) at 2600 MHz Clock"),
            Some(119.93)
        );
        assert_eq!(
            stage_cycles(
                "  lcore 1: cycles/packet by stage: rx 20.5, hash+lookup 30.0, loop 1.0 (sum 51.5)"
            ),
            Some(vec![
                ("rx".to_string(), 20.5),
                ("hash+lookup".to_string(), 30.0),
                ("loop".to_string(), 1.0)
            ])
        );
        assert_eq!(stage_cycles("  lcore 1: CPU cycles/packet=119.93"), None);
    }
}
