//! A peer on the same NIC: Open vSwitch 3.1 (`ovs-vswitchd-dpdk`) with
//! `other_config:hw-offload=true` on the NIC model (`net_flowlift`, loaded
//! with `-d` into OVS's EAL), against flowlift on the same model, the same
//! capture and the same rule capacity (`rules=1024`).
//!
//! Both run the PF (`net_flowlift0`, its wire replaying a Zipf capture, its
//! switch thread on CPU 0) and four VF representors; each forwards each flow
//! to the VF owning its destination MAC, OVS with one exact OpenFlow rule per
//! flow (so each flow is a megaflow of its own, as each is a flow of
//! flowlift's), both with the forwarding thread alone on CPU 1.
//!
//! Steady runs (the wire played forever, contenders alternating) measure,
//! over the same window and from the same counters (the model's xstats, read
//! through DPDK's telemetry socket of each process): the share of the
//! delivered packets the NIC's rules carried; the forwarding thread's busy
//! cycles per delivered packet (flowlift's worker, OVS's PMD); the CPU of
//! the other host threads (from /proc); the model's switch apart (it stands
//! for the NIC's hardware). A finite run each (the wire played N times) then
//! compares each one's per-flow counts with the capture's: flowlift's flow
//! log, OVS's OpenFlow rule counters once every megaflow is gone.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use flowlift_traffic::{generate, TrafficSpec};
use pcap_file::pcap::PcapReader;

use crate::capture::{five_tuple, top_share, FiveTuple};
use crate::flowlift_run::{number_after, tail, FinalReport};
use crate::forward::{flowlift_binary, machine};
use crate::ovs::{Extra, Ovs};
use crate::samples::{summarize, Summary};

/// The rules the NIC holds (`rules=` of the model), for both contenders.
const MAX_RULES: u32 = 1024;
/// VFs (representors vf0..vf3), one per destination MAC of the capture.
const VFS: u8 = 4;
/// Zipf exponent of the capture (the offload figure's).
const ZIPF: f64 = 1.1;
/// The model's switch thread: beside the main lcore / OVS's main thread.
const SWITCH_CPU: u32 = 0;
/// flowlift's control tick and hold (its defaults).
const TICK_MS: u32 = 100;
const HOLD: u32 = 3;
/// flowlift's promote threshold before it is set from the measured rate
/// (see [`thresholds`]): low enough that the capture's 1024 largest flows
/// qualify at any rate seen on these machines (at 0.3 Mpps the 1024th,
/// 18 packets in 400K, runs at ~13 pps).
const FIRST_PROMOTE_PPS: f64 = 5.0;

const VSWITCHD: &str = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk";
const TELEMETRY: &str = "/usr/bin/dpdk-telemetry.py";

/// Start, warm-up and stop take seconds on a busy 2-CPU machine (OVS loads
/// 100K OpenFlow rules, flowlift learns the flows).
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// The capture and how long each part lasts.
#[derive(Debug, Clone, Copy)]
struct Workload {
    flows: u32,
    packets: u64,
    /// Steady runs per contender, alternating.
    runs: usize,
    /// Seconds from the first packet to the start of the measured window.
    warmup_s: u64,
    /// The measured window.
    window_s: u64,
    /// Passes of the wire in the accounting runs.
    loops: u32,
}

const FULL: Workload = Workload {
    flows: 100_000,
    packets: 400_000,
    runs: 3,
    warmup_s: 5,
    window_s: 8,
    loops: 10,
};

const QUICK: Workload = Workload {
    flows: 20_000,
    packets: 100_000,
    runs: 1,
    warmup_s: 3,
    window_s: 4,
    loops: 5,
};

/// The contenders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Flowlift,
    Ovs,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Flowlift => "flowlift",
            Peer::Ovs => "OVS-DPDK 3.1, hw-offload=true",
        }
    }
}

/// Why the section cannot run here, if it cannot.
fn missing_peer() -> Option<String> {
    if !Path::new(VSWITCHD).exists() {
        return Some(format!(
            "OVS-DPDK is not installed (no {VSWITCHD}; Debian's openvswitch-switch-dpdk, see scripts/setup)"
        ));
    }
    if !Path::new(TELEMETRY).exists() {
        return Some(format!(
            "{TELEMETRY} is missing (Debian's dpdk package): the NIC model's counters are read through it"
        ));
    }
    None
}

// ---------------------------------------------------------------- capture

/// What the harness knows of the capture: each flow's packets and VF.
#[derive(Debug, Clone, Default)]
struct Flows {
    /// Distinct flows in order of first appearance, with the VF (0..) their
    /// destination MAC belongs to.
    order: Vec<(FiveTuple, u8)>,
    counts: HashMap<FiveTuple, u64>,
    packets: u64,
}

impl Flows {
    fn read(capture: &Path) -> anyhow::Result<Flows> {
        let file = File::open(capture).with_context(|| format!("open {}", capture.display()))?;
        let mut reader = PcapReader::new(BufReader::with_capacity(1 << 20, file))
            .with_context(|| format!("read {}", capture.display()))?;
        let mut flows = Flows::default();
        while let Some(pkt) = reader.next_packet() {
            let pkt = pkt.with_context(|| format!("read {}", capture.display()))?;
            let Some((t, vf)) = tuple_and_vf(&pkt.data) else {
                continue;
            };
            let n = flows.counts.entry(t).or_insert(0);
            if *n == 0 {
                flows.order.push((t, vf));
            }
            *n += 1;
            flows.packets += 1;
        }
        anyhow::ensure!(
            flows.packets > 0,
            "{} has no TCP/UDP packet",
            capture.display()
        );
        Ok(flows)
    }

    /// Packets of the `k`-th largest flow (1-based; 0 past the last).
    fn kth_largest(&self, k: usize) -> u64 {
        let mut n: Vec<u64> = self.counts.values().copied().collect();
        n.sort_unstable_by(|a, b| b.cmp(a));
        n.get(k.saturating_sub(1)).copied().unwrap_or(0)
    }

    /// How many of `these` are among the `k` largest flows.
    fn in_top(&self, these: &[FiveTuple], k: usize) -> u64 {
        let mut by_size: Vec<(&FiveTuple, &u64)> = self.counts.iter().collect();
        by_size.sort_unstable_by(|a, b| b.1.cmp(a.1));
        let floor = by_size.get(k.saturating_sub(1)).map_or(0, |(_, n)| **n);
        // Flows tied with the k-th count as in the top.
        these
            .iter()
            .filter(|t| self.counts.get(t).is_some_and(|n| *n >= floor && floor > 0))
            .count() as u64
    }

    /// Share of the capture's packets `these` flows carry, in %.
    fn share_of(&self, these: &[FiveTuple]) -> f64 {
        let mut seen = std::collections::HashSet::new();
        let n: u64 = these
            .iter()
            .filter(|t| seen.insert(**t))
            .filter_map(|t| self.counts.get(t))
            .sum();
        100.0 * n as f64 / self.packets.max(1) as f64
    }

    /// Share of the packets the `k` largest flows carry, in %.
    fn top_share(&self, k: usize) -> f64 {
        top_share(self.counts.values().copied(), k)
    }
}

/// A frame's 5-tuple and the VF of its destination MAC (02:00:00:00:00:0N is
/// VF N-1, as `gen-traffic` deals them out).
fn tuple_and_vf(frame: &[u8]) -> Option<(FiveTuple, u8)> {
    let vf = frame.get(5)?.checked_sub(1)?;
    Some((five_tuple(frame)?, vf))
}

// ------------------------------------------------------ the model's counters

/// The NIC model's counters, from its xstats: what came off the wire, what
/// the switch left to the PF's host, what reached the VFs by the rules and
/// by the host, and the switch thread's time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Nic {
    wire_rx: u64,
    to_host: u64,
    from_switch: u64,
    from_host: u64,
    switch_busy: u64,
    switch_idle: u64,
}

impl Nic {
    fn delivered(&self) -> u64 {
        self.from_switch + self.from_host
    }

    /// Adds one port's xstats (a JSON object of name: value).
    fn add_port(&mut self, x: &serde_json::Value) {
        let v = |name: &str| x.get(name).and_then(serde_json::Value::as_u64);
        if let Some(w) = v("wire_rx_packets") {
            self.wire_rx += w;
            self.to_host += v("switch_to_host_packets").unwrap_or(0);
            self.switch_busy += v("switch_busy_cycles").unwrap_or(0);
            self.switch_idle += v("switch_idle_cycles").unwrap_or(0);
        }
        if let Some(s) = v("vf_rx_from_switch_packets") {
            self.from_switch += s;
            self.from_host += v("vf_rx_from_host_packets").unwrap_or(0);
        }
    }
}

/// Runs `commands` against the telemetry socket of the EAL process with
/// `--file-prefix` `prefix` (Debian's `dpdk-telemetry.py`, one JSON answer a
/// line, in order).
fn telemetry(prefix: &str, commands: &[String]) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut child = Command::new("python3")
        .arg(TELEMETRY)
        .args(["-f", prefix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start dpdk-telemetry.py")?;
    {
        let mut stdin = child.stdin.take().context("telemetry stdin")?;
        for c in commands {
            writeln!(stdin, "{c}")?;
        }
    }
    let out = child.wait_with_output()?;
    let answers: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    anyhow::ensure!(
        answers.len() == commands.len(),
        "telemetry of {prefix} gave {} answers to {} commands: {}",
        answers.len(),
        commands.len(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
    );
    Ok(answers)
}

/// The model's counters of the process with EAL prefix `prefix`.
fn nic_counters(prefix: &str) -> anyhow::Result<Nic> {
    let list = telemetry(prefix, &["/ethdev/list".into()])?;
    let ports: Vec<u64> = list[0]["/ethdev/list"]
        .as_array()
        .context("/ethdev/list")?
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    let cmds: Vec<String> = ports
        .iter()
        .map(|p| format!("/ethdev/xstats,{p}"))
        .collect();
    let mut nic = Nic::default();
    for a in telemetry(prefix, &cmds)? {
        nic.add_port(&a["/ethdev/xstats"]);
    }
    anyhow::ensure!(
        nic.wire_rx > 0 || nic.switch_busy + nic.switch_idle > 0,
        "no net_flowlift PF among the ports of {prefix}"
    );
    Ok(nic)
}

/// EAL's runtime directory of `prefix` (root's), removed after a run so that
/// runs leave nothing behind.
fn remove_runtime_dir(prefix: &str) {
    let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(prefix));
}

// ------------------------------------------------------------ thread CPU

/// What a thread of the contender's process is, for its CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadKind {
    /// The NIC model (its switch, its capture writer): hardware's, not the host's.
    Nic,
    /// The busy-polling forwarding thread (flowlift's worker, EAL's
    /// `rte-worker-1`; OVS's PMD, `pmd-c01/id:N`).
    Forwarding,
    /// Everything else: control core, revalidators, handlers, offload thread...
    Other,
}

fn thread_kind(comm: &str) -> ThreadKind {
    if comm.starts_with("flowlift-sw") || comm.starts_with("flowlift-cap") {
        ThreadKind::Nic
    } else if comm.starts_with("rte-worker") || comm.starts_with("pmd") {
        ThreadKind::Forwarding
    } else {
        ThreadKind::Other
    }
}

/// A thread's name and its user + system time in clock ticks, from
/// `/proc/PID/task/TID/stat` (the name may hold blanks and parentheses: it
/// ends at the last `)`).
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Clock ticks of the process's threads other than the forwarding thread
/// and the model's.
fn other_threads_ticks(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|s| parse_stat(&s))
        .filter(|(comm, _)| thread_kind(comm) == ThreadKind::Other)
        .map(|(_, ticks)| ticks)
        .sum()
}

/// Linux's USER_HZ, the unit of /proc's times.
const TICKS_PER_SECOND: f64 = 100.0;

// ------------------------------------------------------------ one window

/// What a contender's measured window gives.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    seconds: f64,
    nic: (Nic, Nic),
    /// The forwarding thread's busy TSC cycles in the window.
    fwd_busy_cycles: f64,
    /// CPU seconds of the other host threads in the window.
    other_cpu_s: f64,
    /// Rules on the NIC at the end.
    rules: Option<u64>,
    /// Rules installed during the whole run (flowlift's final report; OVS
    /// does not say).
    installs: Option<u64>,
    /// The flows whose rules were on the NIC at the end (flowlift's `show
    /// flows offloaded`, OVS's `dpctl/dump-flows type=offloaded`).
    nic_flows: Vec<FiveTuple>,
    /// OVS: where its PMD's packets went in the window.
    pmd: Option<PmdPaths>,
}

/// One steady run's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    nic_share_pct: f64,
    /// Of the flows on the NIC at the end, how many are among the capture's
    /// 1024 largest, and the share of the capture's packets they carry.
    nic_flows_in_top: Option<u64>,
    nic_flows_share_pct: Option<f64>,
    pmd: Option<PmdPaths>,
    delivered_mpps: f64,
    offered_mpps: f64,
    fwd_cycles_per_packet: f64,
    other_cpu_pct: f64,
    nic_model_busy_pct: f64,
    rules: Option<u64>,
    installs: Option<u64>,
}

impl Window {
    fn figures(&self, flows: &Flows) -> anyhow::Result<Figures> {
        let (a, b) = self.nic;
        let delivered = b.delivered().saturating_sub(a.delivered());
        anyhow::ensure!(delivered > 0, "nothing delivered in the window");
        let switch = (b.switch_busy - a.switch_busy) + (b.switch_idle - a.switch_idle);
        Ok(Figures {
            nic_share_pct: 100.0 * (b.from_switch - a.from_switch) as f64 / delivered as f64,
            delivered_mpps: delivered as f64 / self.seconds / 1e6,
            offered_mpps: (b.wire_rx - a.wire_rx) as f64 / self.seconds / 1e6,
            fwd_cycles_per_packet: self.fwd_busy_cycles / delivered as f64,
            other_cpu_pct: 100.0 * self.other_cpu_s / self.seconds,
            nic_model_busy_pct: 100.0 * (b.switch_busy - a.switch_busy) as f64
                / switch.max(1) as f64,
            rules: self.rules,
            installs: self.installs,
            nic_flows_in_top: (!self.nic_flows.is_empty())
                .then(|| flows.in_top(&self.nic_flows, MAX_RULES as usize)),
            nic_flows_share_pct: (!self.nic_flows.is_empty())
                .then(|| flows.share_of(&self.nic_flows)),
            pmd: self.pmd,
        })
    }
}

// ------------------------------------------------------------ flowlift

/// flowlift's config: the model's PF replaying `capture` `loops` times
/// (0: forever) with `rules=1024`, four VFs on its representors, rte_flow
/// offload with the same capacity. Telemetry stays on (its counters are
/// read as OVS's are).
fn flowlift_config(capture: &Path, loops: u32, prefix: &str) -> String {
    let mut text = format!(
        r#"[eal]
args = ["--no-huge", "--no-pci", "--no-shconf", "--lcores=0@0,1@1", "--file-prefix={prefix}"]
[dataplane]
worker_lcores = [1]
[[port]]
name = "uplink"
role = "uplink"
device = "{}"
"#,
        pf_devargs(capture, loops)
    );
    for vf in 0..VFS {
        let _ = write!(
            text,
            "[[port]]\nname = \"vf{}\"\nrole = \"vf\"\nmac = \"02:00:00:00:00:{:02x}\"\n\
             device = \"net_flowlift0_representor_vf{vf}\"\n",
            vf + 1,
            vf + 1
        );
    }
    let _ = write!(
        text,
        "[offload]\nbackend = \"rte_flow\"\nmax_rules = {MAX_RULES}\ntick_ms = {TICK_MS}\n\
         promote_pps = {FIRST_PROMOTE_PPS:.1}\ndemote_pps = {:.2}\nhold = {HOLD}\n",
        FIRST_PROMOTE_PPS / 4.0
    );
    text
}

/// The model's PF, the same for both contenders.
fn pf_devargs(capture: &Path, loops: u32) -> String {
    format!(
        "net_flowlift0,wire={},loops={loops},representor=vf[0-{}],rules={MAX_RULES},switch_cpu={SWITCH_CPU}",
        capture.display(),
        VFS - 1
    )
}

/// flowlift's promote and demote thresholds for `delivered_pps`: half the
/// rate of the capture's 1024th largest flow (`kth` packets in `packets`),
/// demote at a quarter of that, as the effect figure sets them (at least 1
/// pps).
fn thresholds(kth: u64, packets: u64, delivered_pps: f64) -> (f64, f64) {
    let promote = (0.5 * kth as f64 * delivered_pps / packets.max(1) as f64).max(1.0);
    (promote, promote / 4.0)
}

/// Whether a new promote threshold is above the one a run starts with (then
/// it is set before the demote threshold, which must stay below it).
fn thresholds_rise(promote: &str) -> bool {
    promote.parse::<f64>().is_ok_and(|p| p > FIRST_PROMOTE_PPS)
}

/// A running flowlift: the child, its stdout lines as they come.
struct FlowliftProc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    socket: PathBuf,
    metrics: String,
    prefix: String,
}

impl FlowliftProc {
    fn start(
        flowlift: &Path,
        scratch: &Path,
        capture: &Path,
        loops: u32,
        extra: &[String],
    ) -> anyhow::Result<FlowliftProc> {
        let prefix = format!("perf-ovsoff-fl-{}", std::process::id());
        remove_runtime_dir(&prefix);
        let config = scratch.join("flowlift.toml");
        std::fs::write(&config, flowlift_config(capture, loops, &prefix))?;
        let socket = scratch.join("flowlift.sock");
        let _ = std::fs::remove_file(&socket);
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let metrics = format!("127.0.0.1:{port}");
        let mut child = Command::new(flowlift)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .args(["--metrics", &metrics, "--status-every", "1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start flowlift")?;
        let stdout = child.stdout.take().context("flowlift's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().context("flowlift's stderr")?;
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Ok(FlowliftProc {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr: Some(stderr),
            socket,
            metrics,
            prefix,
        })
    }

    fn drain(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    /// Where the process stands, for an error: running or its exit status,
    /// and its last lines.
    fn state(&mut self) -> String {
        self.drain();
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!("flowlift exited ({s})"),
            Ok(None) => "flowlift still running".into(),
            Err(e) => format!("flowlift: {e}"),
        };
        format!("{status}; last output:\n{}", tail(&self.seen, 12))
    }

    /// Waits for the first status line (ports up, the wire flowing).
    fn wait_for_status(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.drain();
            if self.seen.iter().any(|l| l.starts_with('[')) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "flowlift exited ({status}) before its first status line:\n{}",
                    tail(&self.seen, 10)
                );
            }
            if Instant::now() > deadline {
                bail!("no status line from flowlift within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One command on the control socket; its answer.
    fn command(&self, line: &str) -> anyhow::Result<String> {
        let mut s = UnixStream::connect(&self.socket)
            .with_context(|| format!("connect {}", self.socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        writeln!(s, "{line}")?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        anyhow::ensure!(answer.starts_with("OK"), "`{line}`: {answer}");
        Ok(answer)
    }

    /// The worker's busy seconds so far (`/metrics`).
    fn busy_seconds(&self) -> anyhow::Result<f64> {
        let text = crate::flowlift_run::scrape(&self.metrics)?;
        worker_busy_seconds(&text).context("no flowlift_worker_busy_seconds_total in /metrics")
    }

    /// Rules on the NIC in the last status line.
    fn rules(&self) -> Option<u64> {
        self.seen
            .iter()
            .rev()
            .find(|l| l.starts_with('['))
            .and_then(|l| number_after(l, " rules "))
    }

    /// Waits for the process to end by itself (`--duration` or the end of a
    /// finite wire); its whole output.
    fn finish(mut self, within: Duration) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + within;
        let status = loop {
            self.drain();
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                remove_runtime_dir(&self.prefix);
                bail!(
                    "flowlift did not stop within {within:?}:\n{}",
                    tail(&self.seen, 10)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        self.drain();
        let err = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        remove_runtime_dir(&self.prefix);
        anyhow::ensure!(
            status.success(),
            "flowlift failed ({status}):\n{}\n{}",
            tail(&self.seen, 10),
            err.lines().rev().take(10).collect::<Vec<_>>().join("\n")
        );
        Ok(std::mem::take(&mut self.seen))
    }
}

impl Drop for FlowliftProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `flowlift_worker_busy_seconds_total{worker="1"} 2.5`, summed over workers.
fn worker_busy_seconds(metrics: &str) -> Option<f64> {
    let values: Vec<f64> = metrics
        .lines()
        .filter(|l| l.starts_with("flowlift_worker_busy_seconds_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Sleeps until `at`.
fn sleep_until(at: Instant) {
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}

/// One steady run of flowlift; its window and the thresholds it settled on.
fn flowlift_steady(
    flowlift: &Path,
    scratch: &Path,
    capture: &Path,
    flows: &Flows,
    work: &Workload,
) -> anyhow::Result<(Window, f64)> {
    // The harness ends the run (`quit`) once it has read what it needs; the
    // duration is a guard only.
    let duration = work.warmup_s + work.window_s + 120;
    let mut p = FlowliftProc::start(
        flowlift,
        scratch,
        capture,
        0,
        &["--duration".into(), duration.to_string()],
    )?;
    let measured = measure_flowlift(&mut p, flows, work);
    match measured {
        Ok(m) => finish_flowlift(p, m),
        Err(e) => Err(e.context(p.state())),
    }
}

/// What [`flowlift_steady`] measures while flowlift runs.
struct FlowliftWindow {
    a: (Instant, Nic, f64, u64),
    b: (Instant, Nic, f64, u64),
    rules: Option<u64>,
    nic_flows: Vec<FiveTuple>,
    promote: f64,
}

fn measure_flowlift(
    p: &mut FlowliftProc,
    flows: &Flows,
    work: &Workload,
) -> anyhow::Result<FlowliftWindow> {
    p.wait_for_status()?;
    let t0 = Instant::now();
    // The rate decides the thresholds (see `thresholds`): two seconds of it.
    let first = nic_counters(&p.prefix)?;
    sleep_until(t0 + Duration::from_secs(2));
    let second = nic_counters(&p.prefix)?;
    let pps =
        second.delivered().saturating_sub(first.delivered()) as f64 / t0.elapsed().as_secs_f64();
    let (promote, demote) = thresholds(flows.kth_largest(MAX_RULES as usize), flows.packets, pps);
    // Demote stays below promote at every step.
    let (demote, promote) = (format!("{demote:.2}"), format!("{promote:.2}"));
    let settings = [("demote-pps", &demote), ("promote-pps", &promote)];
    let order: Vec<_> = if thresholds_rise(&promote) {
        settings.iter().rev().collect()
    } else {
        settings.iter().collect()
    };
    for (knob, value) in order {
        p.command(&format!("set offload {knob} {value}"))?;
    }
    let promote: f64 = promote.parse()?;
    sleep_until(t0 + Duration::from_secs(work.warmup_s));
    let pid = p.child.id();
    let a = (
        Instant::now(),
        nic_counters(&p.prefix)?,
        p.busy_seconds()?,
        other_threads_ticks(pid),
    );
    sleep_until(a.0 + Duration::from_secs(work.window_s));
    let b = (
        Instant::now(),
        nic_counters(&p.prefix)?,
        p.busy_seconds()?,
        other_threads_ticks(pid),
    );
    p.drain();
    let rules = p.rules();
    let answer = p.command("show flows offloaded --json")?;
    let nic_flows = json_tuples(answer.split_once('\n').map_or("", |(_, j)| j));
    p.command("quit")?;
    Ok(FlowliftWindow {
        a,
        b,
        rules,
        nic_flows,
        promote,
    })
}

/// Waits for flowlift's end (its `--duration`) and reads its report.
fn finish_flowlift(p: FlowliftProc, m: FlowliftWindow) -> anyhow::Result<(Window, f64)> {
    let lines = p.finish(START_TIMEOUT)?;
    let report = FinalReport::of(&lines);
    let mhz = report
        .tsc_mhz
        .context("no TSC clock in flowlift's worker line")?;
    let (a, b) = (m.a, m.b);
    Ok((
        Window {
            seconds: b.0.duration_since(a.0).as_secs_f64(),
            nic: (a.1, b.1),
            fwd_busy_cycles: (b.2 - a.2) * mhz * 1e6,
            other_cpu_s: b.3.saturating_sub(a.3) as f64 / TICKS_PER_SECOND,
            rules: m.rules,
            installs: report.installs,
            nic_flows: m.nic_flows,
            pmd: None,
        },
        m.promote,
    ))
}

// ------------------------------------------------------------ OVS

/// OpenFlow port numbers: the PF 1, VF N's representor N + 2.
fn ofport_of_vf(vf: u8) -> u32 {
    u32::from(vf) + 2
}

/// One exact OpenFlow rule per flow, to the VF of its destination MAC.
fn openflow_rule(t: &FiveTuple, vf: u8) -> String {
    let (proto, field) = match (t.src, t.tcp) {
        (IpAddr::V4(_), true) => ("tcp", "nw"),
        (IpAddr::V4(_), false) => ("udp", "nw"),
        (IpAddr::V6(_), true) => ("tcp6", "ipv6"),
        (IpAddr::V6(_), false) => ("udp6", "ipv6"),
    };
    format!(
        "priority=10,in_port=1,{proto},{field}_src={},{field}_dst={},tp_src={},tp_dst={},actions=output:{}",
        t.src,
        t.dst,
        t.sport,
        t.dport,
        ofport_of_vf(vf)
    )
}

/// Starts OVS on the model: the `.so` loaded with `-d`, the PF a `--vdev`
/// of its EAL (the port's devargs then name it `net_flowlift0`: devargs with
/// `representor=` would match the representors, not the PF, in ethdev's
/// port iterator), br0 with one rule per flow, the representors as ports
/// (`net_flowlift0,representor=vfN`), then the PF, whose start starts the
/// wire: every VF is there before the first packet.
fn ovs_start(
    scratch: &Path,
    so: &Path,
    capture: &Path,
    loops: u32,
    flows: &Flows,
    tag: &str,
    capture_dir: Option<&Path>,
) -> anyhow::Result<Ovs> {
    let mut pf = pf_devargs(capture, loops);
    if let Some(dir) = capture_dir {
        let _ = write!(pf, ",capture_dir={}", dir.display());
    }
    let ovs = Ovs::start_with(
        scratch,
        tag,
        &Extra {
            eal: format!("-d {} --vdev={pf}", so.display()),
            other_config: vec!["other_config:hw-offload=true".into()],
        },
    )?;
    let setup = || -> anyhow::Result<()> {
        ovs.vsctl(&[
            "add-br",
            "br0",
            "--",
            "set",
            "Bridge",
            "br0",
            "datapath_type=netdev",
            "fail-mode=secure",
        ])?;
        let file = ovs.dir().join("flows.txt");
        let mut text = String::with_capacity(flows.order.len() * 130);
        for (t, vf) in &flows.order {
            let _ = writeln!(text, "{}", openflow_rule(t, *vf));
        }
        std::fs::write(&file, text)?;
        ovs.tool(
            "ovs-ofctl",
            &[
                "--bundle",
                "replace-flows",
                "br0",
                &file.display().to_string(),
            ],
        )?;
        ovs.appctl(&["revalidator/purge"])?;
        let mut args: Vec<String> = Vec::new();
        for vf in 0..VFS {
            let name = format!("vf{vf}");
            args.extend([
                "--".into(),
                "add-port".into(),
                "br0".into(),
                name.clone(),
                "--".into(),
                "set".into(),
                "Interface".into(),
                name,
                "type=dpdk".into(),
                format!("ofport_request={}", ofport_of_vf(vf)),
                format!("options:dpdk-devargs=\"net_flowlift0,representor=vf{vf}\""),
            ]);
        }
        let args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
        ovs.vsctl(&args)?;
        ovs.vsctl(&[
            "add-port",
            "br0",
            "pf",
            "--",
            "set",
            "Interface",
            "pf",
            "type=dpdk",
            "ofport_request=1",
            "options:dpdk-devargs=net_flowlift0",
        ])?;
        for port in ["pf", "vf0", "vf1", "vf2", "vf3"] {
            let err = ovs.vsctl(&["get", "Interface", port, "error"])?;
            let err = err.trim();
            if !err.is_empty() && err != "[]" {
                bail!("OVS port {port} failed: {err}");
            }
        }
        Ok(())
    };
    setup().with_context(|| format!("set up br0; log tail:\n{}", ovs.log_tail()))?;
    Ok(ovs)
}

/// Waits until the wire has sent something (the PF started).
fn wait_for_wire(ovs: &mut Ovs) -> anyhow::Result<Nic> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        ovs.check_alive()?;
        if let Ok(n) = nic_counters(ovs.file_prefix()) {
            if n.wire_rx > 0 {
                return Ok(n);
            }
        }
        if Instant::now() > deadline {
            bail!("the wire sent nothing within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `processing cycles: 100235949350 (98.39%)` of `pmd-stats-show`, summed
/// over the PMD threads.
fn processing_cycles(text: &str) -> Option<u64> {
    let v: Vec<u64> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("processing cycles:"))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    (!v.is_empty()).then(|| v.iter().sum())
}

/// Where the packets OVS's PMDs received went (`pmd-stats-show`, summed
/// over the PMD threads): its caches (EMC, SMC, megaflow classifier) or an
/// upcall, handled in the PMD thread itself (failed: over the flow limit,
/// the packet forwarded without a new megaflow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PmdPaths {
    received: u64,
    emc: u64,
    smc: u64,
    megaflow: u64,
    upcalls: u64,
    failed_upcalls: u64,
}

fn pmd_paths(text: &str) -> PmdPaths {
    let sum = |key: &str| -> u64 {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    };
    PmdPaths {
        received: sum("packets received:"),
        emc: sum("emc hits:"),
        smc: sum("smc hits:"),
        megaflow: sum("megaflow hits:"),
        upcalls: sum("miss with success upcall:"),
        failed_upcalls: sum("miss with failed upcall:"),
    }
}

/// `offloaded flows : 1024` of `upcall/show`.
fn offloaded_flows(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.contains("offloaded flows"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// `flows : (current 77359) ...` of `upcall/show`.
fn current_flows(text: &str) -> Option<u64> {
    number_after(text, "(current ")
}

/// What OVS asked of the model and how it answered, from its log: how many
/// creations failed, and each distinct reason (`rte_flow creation failed:
/// TYPE (MESSAGE)`) with its first `Failed flow:` line.
fn refusals(log: &str) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut reasons: Vec<String> = Vec::new();
    for l in log.lines() {
        if let Some(i) = l.find("rte_flow creation failed: ") {
            count += 1;
            let why = l[i + "rte_flow creation failed: ".len()..]
                .trim()
                .to_owned();
            if !reasons.contains(&why) {
                reasons.push(why);
            }
        }
    }
    (count, reasons)
}

/// One steady run of OVS.
fn ovs_steady(
    scratch: &Path,
    so: &Path,
    capture: &Path,
    flows: &Flows,
    work: &Workload,
    tag: &str,
) -> anyhow::Result<(Window, (usize, Vec<String>))> {
    let mut ovs = ovs_start(scratch, so, capture, 0, flows, tag, None)?;
    let measured = (|| -> anyhow::Result<Window> {
        wait_for_wire(&mut ovs)?;
        let t0 = Instant::now();
        sleep_until(t0 + Duration::from_secs(work.warmup_s));
        let pid = ovs.vswitchd_pid().context("ovs-vswitchd's pid")?;
        ovs.appctl(&["dpif-netdev/pmd-stats-clear"])?;
        let a = (
            Instant::now(),
            nic_counters(ovs.file_prefix())?,
            other_threads_ticks(pid),
        );
        sleep_until(a.0 + Duration::from_secs(work.window_s));
        let b = (
            Instant::now(),
            nic_counters(ovs.file_prefix())?,
            other_threads_ticks(pid),
        );
        let stats = ovs.appctl(&["dpif-netdev/pmd-stats-show"])?;
        ovs.check_alive()?;
        let upcall = ovs.appctl(&["upcall/show"])?;
        let offloaded = ovs.appctl(&["dpctl/dump-flows", "type=offloaded"])?;
        eprintln!(
            "flowlift-perf:   OVS: {} offloaded, {} megaflows",
            offloaded_flows(&upcall).map_or("?".into(), |n| n.to_string()),
            current_flows(&upcall).map_or("?".into(), |n| n.to_string())
        );
        Ok(Window {
            seconds: b.0.duration_since(a.0).as_secs_f64(),
            nic: (a.1, b.1),
            fwd_busy_cycles: processing_cycles(&stats).context("no processing cycles")? as f64,
            other_cpu_s: b.2.saturating_sub(a.2) as f64 / TICKS_PER_SECOND,
            rules: offloaded_flows(&upcall),
            // OVS reports the rules it has, not how many it made.
            installs: None,
            nic_flows: megaflow_tuples(&offloaded),
            pmd: Some(pmd_paths(&stats)),
        })
    })();
    let result = measured.with_context(|| format!("log tail:\n{}", ovs.log_tail()));
    let log = ovs.log();
    let prefix = ovs.file_prefix().to_owned();
    drop(ovs);
    remove_runtime_dir(&prefix);
    Ok((result?, refusals(&log)))
}

// ------------------------------------------------------------ accounting

/// One contender's per-flow counts against the capture's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Accounting {
    flows: u64,
    /// The capture's packets times the loops.
    truth: u64,
    /// Packets the VFs got (the model's counters), by either path.
    delivered: u64,
    counted: u64,
    abs_error: u64,
    exact_flows: u64,
    under_flows: u64,
    over_flows: u64,
    /// The largest shortfall of one flow, and that flow's packets.
    worst: (u64, u64),
    /// Of the shortfall, what falls on the capture's 1024 largest flows.
    short_in_top: u64,
    /// OVS: its datapath flows when the wire ended (`upcall/show`: current,
    /// average, most, and the flow limit its revalidators keep).
    dp_flows: Option<String>,
    /// OVS: the frames the NIC's rules delivered as the model captured them
    /// (`vfN-offloaded.pcap`), and as its counters say (`vf_rx_from_switch`).
    nic_frames: Option<(u64, u64)>,
    /// OVS: the shortfall beyond what the NIC carried of each flow (summed
    /// over flows): 0 when every packet OVS did not count is one its
    /// offloaded rules carried.
    short_beyond_nic: Option<u64>,
}

/// The NIC's deliveries per flow, from the model's `*-offloaded.pcap` files.
fn offloaded_counts(dir: &Path) -> anyhow::Result<HashMap<FiveTuple, u64>> {
    let mut out = HashMap::new();
    for vf in 0..VFS {
        let path = dir.join(format!("vf{vf}-offloaded.pcap"));
        let file = File::open(&path).with_context(|| format!("open {}", path.display()))?;
        let mut reader = PcapReader::new(BufReader::with_capacity(1 << 20, file))
            .with_context(|| format!("read {}", path.display()))?;
        while let Some(pkt) = reader.next_packet() {
            let pkt = pkt.with_context(|| format!("read {}", path.display()))?;
            if let Some((t, _)) = tuple_and_vf(&pkt.data) {
                *out.entry(t).or_insert(0) += 1;
            }
        }
    }
    Ok(out)
}

/// The shortfall of `counted` (per flow, against the capture times `loops`)
/// beyond each flow's `carried` packets, summed.
fn shortfall_beyond(
    flows: &Flows,
    loops: u32,
    counted: &HashMap<FiveTuple, u64>,
    carried: &HashMap<FiveTuple, u64>,
) -> u64 {
    flows
        .counts
        .iter()
        .map(|(t, n)| {
            let short = (n * u64::from(loops)).saturating_sub(counted.get(t).copied().unwrap_or(0));
            short.saturating_sub(carried.get(t).copied().unwrap_or(0))
        })
        .sum()
}

/// Compares `counted` (per flow) with the capture's counts times `loops`.
fn account(flows: &Flows, loops: u32, counted: &HashMap<FiveTuple, u64>) -> Accounting {
    let mut by_size: Vec<(&FiveTuple, &u64)> = flows.counts.iter().collect();
    by_size.sort_unstable_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.sport.cmp(&b.0.sport)));
    let mut acc = Accounting {
        flows: flows.counts.len() as u64,
        truth: flows.packets * u64::from(loops),
        counted: counted.values().sum(),
        ..Accounting::default()
    };
    for (rank, (t, n)) in by_size.iter().enumerate() {
        let want = **n * u64::from(loops);
        let got = counted.get(t).copied().unwrap_or(0);
        acc.abs_error += want.abs_diff(got);
        match got.cmp(&want) {
            std::cmp::Ordering::Equal => acc.exact_flows += 1,
            std::cmp::Ordering::Less => {
                acc.under_flows += 1;
                let short = want - got;
                if short > acc.worst.0 {
                    acc.worst = (short, want);
                }
                if rank < MAX_RULES as usize {
                    acc.short_in_top += short;
                }
            }
            std::cmp::Ordering::Greater => acc.over_flows += 1,
        }
    }
    acc
}

/// The 5-tuple of a flow as flowlift's JSON names its fields (`src`, `dst`,
/// `proto`, `sport`, `dport`: the flow log, `show flows --json`).
fn json_tuple(v: &serde_json::Value) -> Option<FiveTuple> {
    Some(FiveTuple {
        src: v["src"].as_str()?.parse().ok()?,
        dst: v["dst"].as_str()?.parse().ok()?,
        tcp: v["proto"].as_u64()? == 6,
        sport: u16::try_from(v["sport"].as_u64()?).ok()?,
        dport: u16::try_from(v["dport"].as_u64()?).ok()?,
    })
}

/// The flows of a JSON array (`show flows offloaded --json`).
fn json_tuples(text: &str) -> Vec<FiveTuple> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(json_tuple).collect())
        })
        .unwrap_or_default()
}

/// Per-flow packets of flowlift's flow log (`--flow-log`).
fn flow_log_counts(text: &str) -> HashMap<FiveTuple, u64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(t), Some(packets)) = (json_tuple(&v), v["packets"].as_u64()) {
            *out.entry(t).or_insert(0) += packets;
        }
    }
    out
}

/// The 5-tuples of `dpctl/dump-flows` megaflows (`ipv4(src=A,dst=B,...),
/// udp(src=S,dst=D)`; the same with `ipv6(` and `tcp(`).
fn megaflow_tuples(text: &str) -> Vec<FiveTuple> {
    let field = |s: &str, key: &str| -> Option<String> {
        let rest = &s[s.find(key)? + key.len()..];
        let end = rest.find([',', ')']).unwrap_or(rest.len());
        Some(rest[..end].split('/').next()?.to_owned())
    };
    text.lines()
        .filter_map(|l| {
            let l3 = &l[l.find("ipv4(").or_else(|| l.find("ipv6("))?..];
            let (tcp, l4) = match (l.find("tcp(src="), l.find("udp(src=")) {
                (Some(i), _) => (true, &l[i..]),
                (None, Some(i)) => (false, &l[i..]),
                _ => return None,
            };
            Some(FiveTuple {
                src: field(l3, "src=")?.parse().ok()?,
                dst: field(l3, "dst=")?.parse().ok()?,
                tcp,
                sport: field(l4, "src=")?.parse().ok()?,
                dport: field(l4, "dst=")?.parse().ok()?,
            })
        })
        .collect()
}

/// Per-flow `n_packets` of `ovs-ofctl dump-flows` (the rules of
/// [`openflow_rule`]).
fn openflow_counts(text: &str) -> HashMap<FiveTuple, u64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(packets) = number_after::<u64>(line, "n_packets=") else {
            continue;
        };
        let (mut src, mut dst, mut sport, mut dport, mut tcp) = (None, None, None, None, None);
        for field in line.split([',', ' ']) {
            let (k, v) = field.split_once('=').unwrap_or((field, ""));
            match k {
                "tcp" | "tcp6" => tcp = Some(true),
                "udp" | "udp6" => tcp = Some(false),
                "nw_src" | "ipv6_src" => src = v.parse::<IpAddr>().ok(),
                "nw_dst" | "ipv6_dst" => dst = v.parse::<IpAddr>().ok(),
                "tp_src" => sport = v.parse().ok(),
                "tp_dst" => dport = v.parse().ok(),
                _ => {}
            }
        }
        if let (Some(src), Some(dst), Some(sport), Some(dport), Some(tcp)) =
            (src, dst, sport, dport, tcp)
        {
            let t = FiveTuple {
                src,
                dst,
                tcp,
                sport,
                dport,
            };
            *out.entry(t).or_insert(0) += packets;
        }
    }
    out
}

/// flowlift on a wire played `loops` times: it stops by itself at the end
/// and logs every flow's counts (rules destroyed first, their indirect
/// counters read after).
fn flowlift_accounting(
    flowlift: &Path,
    scratch: &Path,
    capture: &Path,
    flows: &Flows,
    loops: u32,
) -> anyhow::Result<Accounting> {
    let log = scratch.join("flows.jsonl");
    let p = FlowliftProc::start(
        flowlift,
        scratch,
        capture,
        loops,
        &["--flow-log".into(), log.display().to_string()],
    )?;
    let lines = p.finish(START_TIMEOUT + Duration::from_secs(600))?;
    let report = FinalReport::of(&lines);
    let text = std::fs::read_to_string(&log).with_context(|| format!("read {}", log.display()))?;
    let mut acc = account(flows, loops, &flow_log_counts(&text));
    acc.delivered = report
        .delivered_packets
        .context("no TX-packets in flowlift's final report")?;
    Ok(acc)
}

/// OVS on a wire played `loops` times: once the wire is done and every
/// megaflow gone (idle, `max-idle` 10 s), its OpenFlow rules' counters.
fn ovs_accounting(
    scratch: &Path,
    so: &Path,
    capture: &Path,
    flows: &Flows,
    loops: u32,
) -> anyhow::Result<Accounting> {
    // What the NIC's rules delivered, frame by frame (`vfN-offloaded.pcap`):
    // where OVS's missing counts lie.
    let captures = scratch.join("ovs-captures");
    let _ = std::fs::remove_dir_all(&captures);
    std::fs::create_dir_all(&captures)?;
    let mut ovs = ovs_start(scratch, so, capture, loops, flows, "acct", Some(&captures))?;
    type Counted = (Accounting, HashMap<FiveTuple, u64>, u64);
    let counted = (|| -> anyhow::Result<Counted> {
        let want = flows.packets * u64::from(loops);
        let deadline = Instant::now() + START_TIMEOUT + Duration::from_secs(600);
        let nic = loop {
            ovs.check_alive()?;
            let n = nic_counters(ovs.file_prefix())?;
            if n.wire_rx >= want {
                // The host's ring drained too (what the PMD has not polled
                // is neither delivered nor counted yet).
                std::thread::sleep(Duration::from_secs(1));
                let upcall = ovs.appctl(&["upcall/show"])?;
                let line = upcall
                    .lines()
                    .find(|l| l.trim_start().starts_with("flows"))
                    .map(|l| l.split_once(':').map_or(l, |(_, r)| r).trim().to_owned());
                break (nic_counters(ovs.file_prefix())?, line);
            }
            if Instant::now() > deadline {
                bail!("the wire sent {} of {want} packets", n.wire_rx);
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        // Every megaflow deleted: its last counters pushed to its rule.
        let deadline = Instant::now() + Duration::from_secs(60);
        while current_flows(&ovs.appctl(&["upcall/show"])?).unwrap_or(0) > 0 {
            if Instant::now() > deadline {
                bail!("OVS's megaflows did not expire within 60 s");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(Duration::from_secs(2));
        let dump = ovs.tool("ovs-ofctl", &["dump-flows", "br0"])?;
        let per_flow = openflow_counts(&dump);
        let mut acc = account(flows, loops, &per_flow);
        acc.delivered = nic.0.delivered();
        acc.dp_flows = nic.1;
        Ok((acc, per_flow, nic.0.from_switch))
    })();
    let result = counted.with_context(|| format!("log tail:\n{}", ovs.log_tail()));
    let prefix = ovs.file_prefix().to_owned();
    // Removing the bridge stops its ports, which writes the captures out.
    if let Err(e) = ovs.vsctl(&["del-br", "br0"]) {
        eprintln!("flowlift-perf: OVS's bridge not removed: {e:#}");
    }
    drop(ovs);
    remove_runtime_dir(&prefix);
    let (mut acc, per_flow, from_switch) = result?;
    match offloaded_counts(&captures) {
        Ok(carried) => {
            acc.nic_frames = Some((carried.values().sum(), from_switch));
            acc.short_beyond_nic = Some(shortfall_beyond(flows, loops, &per_flow, &carried));
        }
        Err(e) => eprintln!("flowlift-perf: OVS's captures unread: {e:#}"),
    }
    let _ = std::fs::remove_dir_all(&captures);
    Ok(acc)
}

// ------------------------------------------------------------ the section

/// The `.so` OVS loads, built here so that it is the tree's. Built together
/// with flowlift (as `scripts/package` does): cargo unifies the PMD's
/// features over both, so neither this build nor flowlift's next one
/// rebuilds the PMD and relinks flowlift (a fat-LTO minute each).
fn pmd_library() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "flowlift",
            "-p",
            "rte-net-flowlift",
            "--lib",
            "--bin",
            "flowlift",
            "--message-format=json-render-diagnostics",
        ])
        .output()
        .context("run cargo build")?;
    anyhow::ensure!(
        out.status.success(),
        "building librte_net_flowlift.so failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let so = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact")
        .filter_map(|v| v["filenames"].as_array().cloned())
        .flatten()
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.file_name().is_some_and(|n| n == "librte_net_flowlift.so"))
        .context("cargo did not report librte_net_flowlift.so")?;
    // EAL loads plugins by absolute path only from directories no one else
    // may write to.
    Ok(std::fs::canonicalize(so)?)
}

/// Runs the section and writes `ovs-offload.csv` and `ovs-offload.md` under
/// `out`. Without OVS-DPDK it writes and prints one line saying so.
pub fn run(quick: bool, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    if let Some(why) = missing_peer() {
        let line = format!("ovs-offload: skipped: {why}.\n");
        eprint!("flowlift-perf: {line}");
        std::fs::write(out.join("ovs-offload.md"), &line)?;
        return Ok(());
    }
    let work = if quick { QUICK } else { FULL };
    let flowlift = flowlift_binary()?;
    let so = pmd_library()?;
    let scratch =
        std::env::temp_dir().join(format!("flowlift-perf-ovs-offload-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = run_in(&work, quick, &flowlift, &so, &scratch, out);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_in(
    work: &Workload,
    quick: bool,
    flowlift: &Path,
    so: &Path,
    scratch: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    let capture = scratch.join("zipf.pcap");
    eprintln!(
        "flowlift-perf: ovs-offload: a capture of {} flows, {} packets, Zipf {ZIPF}",
        work.flows, work.packets
    );
    generate(
        &TrafficSpec {
            flows: work.flows,
            packets: work.packets,
            zipf_s: ZIPF,
            ..TrafficSpec::default()
        },
        &capture,
    )?;
    let flows = Flows::read(&capture)?;
    let bound = flows.top_share(MAX_RULES as usize);

    let mut steady: Vec<(Peer, usize, Figures, Option<f64>)> = Vec::new();
    let mut failures: Vec<(Peer, String)> = Vec::new();
    let mut ovs_refusals = (0, Vec::new());
    for run in 1..=work.runs {
        for peer in [Peer::Flowlift, Peer::Ovs] {
            eprintln!(
                "flowlift-perf: ovs-offload: steady run {run}/{}: {}",
                work.runs,
                peer.name()
            );
            let r = match peer {
                Peer::Flowlift => flowlift_steady(flowlift, scratch, &capture, &flows, work)
                    .and_then(|(w, promote)| Ok((w.figures(&flows)?, Some(promote)))),
                Peer::Ovs => ovs_steady(scratch, so, &capture, &flows, work, "steady").and_then(
                    |(w, refused)| {
                        ovs_refusals = refused;
                        Ok((w.figures(&flows)?, None))
                    },
                ),
            };
            match r {
                Ok((f, promote)) => {
                    eprintln!(
                        "flowlift-perf:   NIC {:.1}% of {:.2} Mpps delivered, forwarding thread {:.0} busy cycles/packet, other threads {:.0}% CPU",
                        f.nic_share_pct, f.delivered_mpps, f.fwd_cycles_per_packet, f.other_cpu_pct
                    );
                    steady.push((peer, run, f, promote));
                }
                Err(e) => {
                    eprintln!("flowlift-perf: {} failed: {e:#}", peer.name());
                    let first = format!("{e:#}")
                        .lines()
                        .next()
                        .unwrap_or("")
                        .replace('|', "/");
                    failures.push((peer, first));
                }
            }
        }
    }

    eprintln!(
        "flowlift-perf: ovs-offload: accounting, the wire played {} times",
        work.loops
    );
    let acct = [
        (
            Peer::Flowlift,
            flowlift_accounting(flowlift, scratch, &capture, &flows, work.loops),
        ),
        (
            Peer::Ovs,
            ovs_accounting(scratch, so, &capture, &flows, work.loops),
        ),
    ];

    std::fs::write(out.join("ovs-offload.csv"), csv(&steady, &acct))?;
    let md = markdown(work, quick, bound, &steady, &failures, &acct, &ovs_refusals);
    std::fs::write(out.join("ovs-offload.md"), &md)?;
    println!("{md}");
    let mut errors: Vec<String> = failures
        .iter()
        .map(|(p, e)| format!("{}: {e}", p.name()))
        .collect();
    for (p, a) in &acct {
        if let Err(e) = a {
            errors.push(format!("{} accounting: {e:#}", p.name()));
        }
    }
    if !errors.is_empty() {
        bail!("runs failed:\n  {}", errors.join("\n  "));
    }
    Ok(())
}

fn csv(
    steady: &[(Peer, usize, Figures, Option<f64>)],
    acct: &[(Peer, anyhow::Result<Accounting>)],
) -> String {
    let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let mut s = String::from(
        "part,contender,run,nic_share_pct,delivered_mpps,offered_mpps,fwd_busy_cycles_per_delivered_packet,\
         other_threads_cpu_pct,nic_model_busy_pct,rules_on_nic,nic_flows_in_top_1024,nic_flows_capture_share_pct,installs,promote_pps,\
         truth_packets,delivered_packets,counted_packets,abs_error_packets,flows,exact_flows,under_flows,over_flows,shortfall_in_top_1024\n",
    );
    for (p, run, f, promote) in steady {
        let _ = writeln!(
            s,
            "steady,\"{}\",{run},{:.2},{:.3},{:.3},{:.1},{:.1},{:.1},{},{},{},{},{},,,,,,,,,",
            p.name(),
            f.nic_share_pct,
            f.delivered_mpps,
            f.offered_mpps,
            f.fwd_cycles_per_packet,
            f.other_cpu_pct,
            f.nic_model_busy_pct,
            opt(f.rules),
            opt(f.nic_flows_in_top),
            f.nic_flows_share_pct
                .map_or(String::new(), |v| format!("{v:.2}")),
            opt(f.installs),
            promote.map_or(String::new(), |p| format!("{p:.2}")),
        );
    }
    for (p, a) in acct {
        if let Ok(a) = a {
            let _ = writeln!(
                s,
                "accounting,\"{}\",1,,,,,,,,,,,,{},{},{},{},{},{},{},{},{}",
                p.name(),
                a.truth,
                a.delivered,
                a.counted,
                a.abs_error,
                a.flows,
                a.exact_flows,
                a.under_flows,
                a.over_flows,
                a.short_in_top
            );
        }
    }
    s
}

/// `12.3 [11.0..13.1]`, or one figure when there was one run.
fn cell(s: &Summary, decimals: usize) -> String {
    if s.min == s.max {
        format!("{:.*}", decimals, s.median)
    } else {
        format!(
            "{:.*} [{:.*}..{:.*}]",
            decimals, s.median, decimals, s.min, decimals, s.max
        )
    }
}

fn markdown(
    work: &Workload,
    quick: bool,
    bound: f64,
    steady: &[(Peer, usize, Figures, Option<f64>)],
    failures: &[(Peer, String)],
    acct: &[(Peer, anyhow::Result<Accounting>)],
    refused: &(usize, Vec<String>),
) -> String {
    let mut md = format!(
        "`cargo run -p flowlift-perf --release -- ovs-offload{}`\n\n\
         Machine: {}.\n\n\
         Capture: {} flows, {} packets (Zipf {ZIPF}, 60-byte frames, 4 VF MACs, seed 1); its \
         {MAX_RULES} largest flows carry {bound:.1}% of its packets. The NIC model's PF \
         (`{}`) replays it unpaced, its switch thread on CPU {SWITCH_CPU}; four VFs on its \
         representors; the forwarding thread alone on CPU 1 (flowlift's worker, OVS's PMD). \
         flowlift: rte_flow offload, at most {MAX_RULES} rules, tick {TICK_MS} ms, hold {HOLD}, \
         promote at half the rate of the capture's {MAX_RULES}th largest flow (measured in the \
         first 2 s), demote at a quarter of that. OVS-DPDK 3.1: `hw-offload=true`, one exact \
         OpenFlow rule per flow to its VF, defaults otherwise. {} steady run(s) each, \
         alternating; each figure over {} s after {} s of warm-up, from the model's xstats \
         (DPDK telemetry) for both; median [min..max].\n\n\
         | contender | runs | NIC share of delivered | delivered Mpps | offered Mpps | forwarding thread busy cycles / delivered packet | other host threads (% of a CPU) | NIC model's switch busy | rules on the NIC at the end | of them among the {MAX_RULES} largest flows | the capture's packets they carry | rules installed over the run |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        if quick { " --quick" } else { "" },
        machine(),
        work.flows,
        work.packets,
        pf_devargs(Path::new("CAPTURE"), 0),
        work.runs,
        work.window_s,
        work.warmup_s,
    );
    for peer in [Peer::Flowlift, Peer::Ovs] {
        let runs: Vec<&Figures> = steady
            .iter()
            .filter(|(p, ..)| *p == peer)
            .map(|(_, _, f, _)| f)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let of = |f: fn(&Figures) -> f64| summarize(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
        let opt = |f: fn(&Figures) -> Option<u64>| {
            let v: Vec<f64> = runs.iter().filter_map(|r| f(r)).map(|v| v as f64).collect();
            if v.is_empty() {
                "-".into()
            } else {
                cell(&summarize(&v), 0)
            }
        };
        let _ = writeln!(
            md,
            "| {} | {} | {}% | {} | {} | {} | {}% | {}% | {} | {} | {} | {} |",
            peer.name(),
            runs.len(),
            cell(&of(|f| f.nic_share_pct), 1),
            cell(&of(|f| f.delivered_mpps), 2),
            cell(&of(|f| f.offered_mpps), 2),
            cell(&of(|f| f.fwd_cycles_per_packet), 0),
            cell(&of(|f| f.other_cpu_pct), 0),
            cell(&of(|f| f.nic_model_busy_pct), 0),
            opt(|f| f.rules),
            opt(|f| f.nic_flows_in_top),
            {
                let v: Vec<f64> = runs.iter().filter_map(|r| r.nic_flows_share_pct).collect();
                if v.is_empty() {
                    "-".into()
                } else {
                    format!("{}%", cell(&summarize(&v), 1))
                }
            },
            opt(|f| f.installs),
        );
    }
    for (p, e) in failures {
        let _ = writeln!(md, "| {} | failed: {e} | | | | | | | | | | |", p.name());
    }
    let median = |peer: Peer, f: fn(&Figures) -> f64| {
        let v: Vec<f64> = steady
            .iter()
            .filter(|(p, ..)| *p == peer)
            .map(|(_, _, x, _)| f(x))
            .collect();
        (!v.is_empty()).then(|| summarize(&v).median)
    };
    if let (Some(fs), Some(os)) = (
        median(Peer::Flowlift, |f| f.nic_share_pct),
        median(Peer::Ovs, |f| f.nic_share_pct),
    ) {
        let _ = writeln!(
            md,
            "\nNIC share, flowlift / OVS: {fs:.1}% / {os:.1}% (the top-{MAX_RULES} bound {bound:.1}%)."
        );
    }
    if let (Some(fc), Some(oc)) = (
        median(Peer::Flowlift, |f| f.fwd_cycles_per_packet),
        median(Peer::Ovs, |f| f.fwd_cycles_per_packet),
    ) {
        let _ = writeln!(
            md,
            "Forwarding thread busy cycles per delivered packet, flowlift / OVS: {fc:.0} / {oc:.0} = {:.2}.",
            fc / oc
        );
    }
    let ovs_paths: Vec<PmdPaths> = steady
        .iter()
        .filter_map(|(p, _, f, _)| (*p == Peer::Ovs).then_some(f.pmd).flatten())
        .collect();
    if !ovs_paths.is_empty() {
        let pct = |f: fn(&PmdPaths) -> u64| {
            let v: Vec<f64> = ovs_paths
                .iter()
                .map(|p| 100.0 * f(p) as f64 / p.received.max(1) as f64)
                .collect();
            cell(&summarize(&v), 1)
        };
        let _ = writeln!(
            md,
            "OVS's PMD, of the packets it received in the windows: EMC {}%, SMC {}%, \
             megaflow {}%, upcalls {}% (of the received, upcalls over the flow limit, \
             forwarded without a megaflow: {}%).",
            pct(|p| p.emc),
            pct(|p| p.smc),
            pct(|p| p.megaflow),
            pct(|p| p.upcalls + p.failed_upcalls),
            pct(|p| p.failed_upcalls),
        );
    }
    if refused.0 > 0 {
        let _ = writeln!(
            md,
            "\nOVS's last steady run logged {} refused rte_flow creations (its log is \
             rate-limited: at least that many); the model's answers: {}.",
            refused.0,
            refused
                .1
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = write!(
        md,
        "\nAccounting: the wire played {} times ({} packets), each contender once; \
         flowlift's flow log (written at exit) and OVS's OpenFlow rule counters (`ovs-ofctl \
         dump-flows`, read once every megaflow has expired) against the capture's per-flow \
         counts.\n\n\
         | contender | packets sent | delivered to the VFs | counted | sum of per-flow errors | flows counted exactly | flows under / over | largest shortfall (of the flow's packets) | shortfall in the {MAX_RULES} largest flows |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        work.loops,
        work.packets * u64::from(work.loops),
    );
    for (p, a) in acct {
        match a {
            Ok(a) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} ({:.3}%) | {} of {} | {} / {} | {} (of {}) | {} |",
                    p.name(),
                    a.truth,
                    a.delivered,
                    a.counted,
                    a.abs_error,
                    100.0 * a.abs_error as f64 / a.truth.max(1) as f64,
                    a.exact_flows,
                    a.flows,
                    a.under_flows,
                    a.over_flows,
                    a.worst.0,
                    a.worst.1,
                    a.short_in_top
                );
            }
            Err(e) => {
                let first = format!("{e:#}")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .replace('|', "/");
                let _ = writeln!(md, "| {} | failed: {first} | | | | | | | |", p.name());
            }
        }
    }
    for (p, a) in acct {
        if let Ok(Accounting {
            dp_flows: Some(f), ..
        }) = a
        {
            let _ = writeln!(
                md,
                "\n{}'s datapath flows (megaflows) when the wire ended: {f}.",
                p.name()
            );
        }
        if let Ok(Accounting {
            nic_frames: Some((captured, counter)),
            short_beyond_nic: Some(beyond),
            ..
        }) = a
        {
            let _ = writeln!(
                md,
                "The NIC's rules delivered {captured} frames in that run (its captures \
                 `vfN-offloaded.pcap`; its counters say {counter}); the packets {} did not \
                 count beyond what the NIC carried of each flow: {beyond}.",
                p.name()
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn t(src: [u8; 4], tcp: bool, sport: u16) -> FiveTuple {
        FiveTuple {
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: "192.168.0.1".parse().unwrap(),
            tcp,
            sport,
            dport: 53,
        }
    }

    #[test]
    fn reads_thread_times_whatever_the_name() {
        let stat = "4242 (pmd-c01/id:8) R 1 2 3 4 5 6 7 8 9 10 1500 250 0 0 20 0";
        assert_eq!(parse_stat(stat), Some(("pmd-c01/id:8".into(), 1750)));
        let odd = "7 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 3 4 0 0";
        assert_eq!(parse_stat(odd), Some(("a (b) c".into(), 7)));
        assert_eq!(thread_kind("pmd-c01/id:8"), ThreadKind::Forwarding);
        assert_eq!(thread_kind("rte-worker-1"), ThreadKind::Forwarding);
        assert_eq!(thread_kind("flowlift-sw0"), ThreadKind::Nic);
        assert_eq!(thread_kind("revalidator10"), ThreadKind::Other);
    }

    #[test]
    fn reads_the_model_s_xstats() {
        let pf: serde_json::Value = serde_json::json!({"rx_good_packets": 5, "wire_rx_packets": 100,
            "switch_to_host_packets": 30, "switch_busy_cycles": 7, "switch_idle_cycles": 3});
        let vf: serde_json::Value = serde_json::json!({"vf_rx_from_switch_packets": 70,
            "vf_rx_from_host_packets": 29});
        let mut n = Nic::default();
        n.add_port(&pf);
        n.add_port(&vf);
        assert_eq!(
            (n.wire_rx, n.to_host, n.from_switch, n.from_host),
            (100, 30, 70, 29)
        );
        assert_eq!(n.delivered(), 99);
        let w = Window {
            seconds: 2.0,
            nic: (Nic::default(), n),
            fwd_busy_cycles: 9900.0,
            other_cpu_s: 0.5,
            rules: Some(3),
            installs: None,
            nic_flows: Vec::new(),
            pmd: None,
        };
        let f = w.figures(&Flows::default()).unwrap();
        assert!((f.nic_share_pct - 100.0 * 70.0 / 99.0).abs() < 1e-9);
        assert!((f.fwd_cycles_per_packet - 100.0).abs() < 1e-9);
        assert!((f.other_cpu_pct - 25.0).abs() < 1e-9);
        assert!((f.nic_model_busy_pct - 70.0).abs() < 1e-9);
    }

    #[test]
    fn reads_ovs_s_tools() {
        let pmd = "pmd thread numa_id 0 core_id 1:\n  packets received: 5\n  idle cycles: 16 (1.61%)\n  processing cycles: 100235949350 (98.39%)\n";
        assert_eq!(processing_cycles(pmd), Some(100_235_949_350));
        let paths = "pmd thread numa_id 0 core_id 1:\n  packets received: 100\n  emc hits: 60\n  smc hits: 0\n  megaflow hits: 10\n  avg. subtable lookups per megaflow hit: 1.19\n  miss with success upcall: 20\n  miss with failed upcall: 10\nmain thread:\n  packets received: 0\n  emc hits: 0\n";
        assert_eq!(
            pmd_paths(paths),
            PmdPaths {
                received: 100,
                emc: 60,
                smc: 0,
                megaflow: 10,
                upcalls: 20,
                failed_upcalls: 10
            }
        );
        let upcall = "netdev@ovs-netdev:\n  flows         : (current 77359) (avg 67252) (max 77352) (limit 84000)\n  offloaded flows : 1024\n  dump duration : 87ms\n";
        assert_eq!(offloaded_flows(upcall), Some(1024));
        assert_eq!(current_flows(upcall), Some(77_359));
        let log = "x|WARN|pf: rte_flow creation failed: 1 (the rule table is full).\n\
                   y|WARN|pf: rte_flow creation failed: 1 (the rule table is full).\n\
                   z|WARN|pf: rte_flow creation failed: 12 (ETH: only dst, src and type).\n";
        assert_eq!(
            refusals(log),
            (
                3,
                vec![
                    "1 (the rule table is full).".to_owned(),
                    "12 (ETH: only dst, src and type).".to_owned()
                ]
            )
        );
    }

    #[test]
    fn openflow_rules_and_their_counters() {
        let a = t([10, 0, 0, 1], false, 1000);
        assert_eq!(
            openflow_rule(&a, 2),
            "priority=10,in_port=1,udp,nw_src=10.0.0.1,nw_dst=192.168.0.1,tp_src=1000,tp_dst=53,actions=output:4"
        );
        let dump = " cookie=0x0, duration=12.1s, table=0, n_packets=42, n_bytes=2520, priority=10,udp,in_port=pf,nw_src=10.0.0.1,nw_dst=192.168.0.1,tp_src=1000,tp_dst=53 actions=output:vf2\n\
                    \x20cookie=0x0, duration=12.1s, table=0, n_packets=7, n_bytes=420, priority=10,tcp6,in_port=pf,ipv6_src=fd00::1,ipv6_dst=fd00::2,tp_src=1,tp_dst=2 actions=output:vf0\n\
                    NXST_FLOW reply (xid=0x4):\n";
        let c = openflow_counts(dump);
        assert_eq!(c.get(&a), Some(&42));
        let v6 = FiveTuple {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
            tcp: true,
            sport: 1,
            dport: 2,
        };
        assert_eq!(c.get(&v6), Some(&7));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn flows_on_the_nic_as_each_lists_them() {
        let dpctl = "ufid:d8, skb_priority(0/0),recirc_id(0),in_port(pf),packet_type(ns=0,id=0),eth(src=02:00:00:00:00:fe/00:00:00:00:00:00,dst=02:00:00:00:00:03/00:00:00:00:00:00),eth_type(0x0800),ipv4(src=10.0.0.1,dst=192.168.0.1,proto=17,tos=0/0,ttl=64/0,frag=no),udp(src=1000,dst=53), packets:3368, bytes:202080, used:0.099s, offloaded:yes, dp:dpdk, actions:vf2\n\
                     ufid:ff, recirc_id(0),in_port(pf),eth_type(0x86dd),ipv6(src=fd00::1,dst=fd00::2,label=0/0,proto=6,tclass=0/0,hlimit=64/0,frag=no),tcp(src=1,dst=2), packets:1, offloaded:yes, dp:dpdk, actions:vf0\n";
        let v6 = FiveTuple {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
            tcp: true,
            sport: 1,
            dport: 2,
        };
        assert_eq!(
            megaflow_tuples(dpctl),
            vec![t([10, 0, 0, 1], false, 1000), v6]
        );
        let json = r#"[{"id": 4, "in_port": "uplink", "vlan": null, "src": "10.0.0.1", "dst": "192.168.0.1", "proto": 17, "sport": 1000, "dport": 53, "packets": 9}]"#;
        assert_eq!(json_tuples(json), vec![t([10, 0, 0, 1], false, 1000)]);
        assert!(json_tuples("not json").is_empty());
        let flows = Flows {
            order: Vec::new(),
            counts: HashMap::from([(t([10, 0, 0, 1], false, 1000), 6), (v6, 2)]),
            packets: 8,
        };
        assert_eq!(flows.in_top(&[v6], 1), 0);
        assert_eq!(flows.in_top(&[v6], 2), 1);
        assert!((flows.share_of(&[v6, v6]) - 25.0).abs() < 1e-9, "once each");
    }

    #[test]
    fn flow_log_counts_sum_a_flow_s_records() {
        let log = r#"{"in_port":"uplink","vlan":null,"src":"10.0.0.1","dst":"192.168.0.1","proto":17,"sport":1000,"dport":53,"packets":40,"bytes":1}
{"in_port":"uplink","vlan":null,"src":"10.0.0.1","dst":"192.168.0.1","proto":17,"sport":1000,"dport":53,"packets":2,"bytes":1}
{"static_rule":1,"packets":5}"#;
        let c = flow_log_counts(log);
        assert_eq!(c.get(&t([10, 0, 0, 1], false, 1000)), Some(&42));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn accounting_against_the_capture() {
        let (big, small, gone) = (
            t([1, 0, 0, 1], true, 1),
            t([1, 0, 0, 2], true, 2),
            t([1, 0, 0, 3], false, 3),
        );
        let flows = Flows {
            order: vec![(big, 0), (small, 1), (gone, 2)],
            counts: HashMap::from([(big, 10), (small, 2), (gone, 1)]),
            packets: 13,
        };
        assert_eq!(flows.kth_largest(1), 10);
        assert_eq!(flows.kth_largest(9), 0);
        assert!((flows.top_share(1) - 100.0 * 10.0 / 13.0).abs() < 1e-9);
        let counted = HashMap::from([(big, 27), (small, 6)]);
        let a = account(&flows, 3, &counted);
        assert_eq!((a.truth, a.counted, a.abs_error), (39, 33, 6));
        assert_eq!((a.exact_flows, a.under_flows, a.over_flows), (1, 2, 0));
        assert_eq!(a.worst, (3, 30));
        assert_eq!(a.short_in_top, 6, "all three are among the 1024 largest");
    }

    #[test]
    fn configs_name_the_same_nic() {
        let cap = Path::new("/srv/c.pcap");
        assert_eq!(
            pf_devargs(cap, 10),
            "net_flowlift0,wire=/srv/c.pcap,loops=10,representor=vf[0-3],rules=1024,switch_cpu=0"
        );
        let c = flowlift_config(cap, 0, "p");
        assert!(c.contains("device = \"net_flowlift0,wire=/srv/c.pcap,loops=0,"));
        assert!(c.contains("net_flowlift0_representor_vf3\"") && c.contains("02:00:00:00:00:04"));
        assert!(c.contains("backend = \"rte_flow\"") && c.contains("max_rules = 1024"));
        assert!(!c.contains("--no-telemetry"));
        let (p, d) = thresholds(18, 400_000, 8e6);
        assert!((p - 180.0).abs() < 1e-9 && (d - 45.0).abs() < 1e-9);
        assert_eq!(thresholds(18, 400_000, 1000.0).0, 1.0);
        assert!(thresholds_rise("12.10") && !thresholds_rise("3.00"));
    }

    #[test]
    fn a_frame_s_tuple_and_vf() {
        let mut f = vec![2, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0xfe, 0x08, 0x00];
        f.extend_from_slice(&[
            0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 192, 168, 0, 1,
        ]);
        f.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 26, 0, 0]);
        f.resize(60, 0);
        assert_eq!(tuple_and_vf(&f), Some((t([10, 0, 0, 1], false, 1000), 2)));
    }
}
