//! DPDK's l3fwd in exact-match mode (`-E`: one rte_hash lookup of the
//! 5-tuple per packet) as a contender, with one rule per flow of the capture
//! sending it to port 1, the `net_null` sink. It is built by `l3fwd_build`
//! (Debian's source with perf/l3fwd/vdev.patch) and run on the same capture,
//! sink, mbuf count and descriptors as the others. l3fwd prints no rates:
//! port 1's TX counter is read once a second from its telemetry socket, and
//! cycles per packet are the TSC rate over the forwarded rate, its lcore
//! being a poll-mode core that is busy all the time.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::capture::{five_tuples, FiveTuple};
use crate::contenders::{RunResult, Setup};
use crate::l3fwd_build;
use crate::samples::{steady, summarize};
use crate::telemetry::{runtime_dir, Telemetry};

/// EAL memory l3fwd takes beside the mbufs: its IPv4 and IPv6 rte_hash
/// tables of 4M entries each (L3FWD_HASH_ENTRIES, whatever the rule count),
/// about 560 MB as read from `/eal/heap_info` with the 10K-flow capture.
const HASH_MB: u32 = 1024;

/// The answer to one telemetry command may take this long on a busy machine.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// l3fwd's rule files for `capture`: one `R<dst> <src> <dport> <sport>
/// <proto> 1` line per distinct 5-tuple (sent to port 1), IPv4 and IPv6 apart
/// as `--rule_ipv4` and `--rule_ipv6` take them. l3fwd refuses an empty
/// file, so a family the capture lacks gets one rule from its benchmarking
/// range (RFC 2544's 198.18.0.0/15, RFC 5180's 2001:200::/48), which no
/// capture here uses.
pub fn rule_files(tuples: &[FiveTuple]) -> (String, String) {
    let mut seen = HashSet::new();
    let (mut v4, mut v6) = (String::new(), String::new());
    for t in tuples.iter().filter(|t| seen.insert(**t)) {
        let file = match t.src {
            IpAddr::V4(_) => &mut v4,
            IpAddr::V6(_) => &mut v6,
        };
        let proto = if t.tcp { 6 } else { 17 };
        let _ = writeln!(
            file,
            "R{} {} {} {} {proto} 1",
            t.dst, t.src, t.dport, t.sport
        );
    }
    if v4.is_empty() {
        v4 = "R198.18.0.0 198.18.0.1 9 9 17 1\n".into();
    }
    if v6.is_empty() {
        v6 = "R2001:200:: 2001:200::1 9 9 17 1\n".into();
    }
    (v4, v6)
}

/// `EAL: TSC frequency is ~2600000 KHz` (EAL's debug log) in Hz.
pub fn tsc_hz(line: &str) -> Option<f64> {
    let rest = &line[line.find("TSC frequency is ~")? + "TSC frequency is ~".len()..];
    let khz: f64 = rest.split_whitespace().next()?.parse().ok()?;
    Some(khz * 1e3)
}

/// The command line after the binary.
fn args(setup: &Setup, prefix: &str, v4: &Path, v6: &Path) -> Vec<String> {
    vec![
        // One EAL lcore, the forwarding one on CPU 1: l3fwd gives every EAL
        // lcore a TX queue on every port, and net_pcap has one.
        "-l".into(),
        "1".into(),
        "--no-huge".into(),
        "-m".into(),
        (setup.memory_mb + HASH_MB).to_string(),
        "--no-pci".into(),
        "--no-shconf".into(),
        format!("--file-prefix={prefix}"),
        // For its "TSC frequency" line.
        "--log-level=lib.eal:debug".into(),
        format!(
            "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
            setup.capture.display()
        ),
        "--vdev=net_null1,no-rx=1".into(),
        "--".into(),
        "-p".into(),
        "0x3".into(),
        "-E".into(),
        "--parse-ptype".into(),
        "--config=(0,0,1),(1,0,1)".into(),
        format!("--rule_ipv4={}", v4.display()),
        format!("--rule_ipv6={}", v6.display()),
        format!("--rx-queue-size={}", setup.descriptors),
        format!("--tx-queue-size={}", setup.descriptors),
        // vdev.patch's option.
        format!("--total-num-mbufs={}", setup.mbufs),
    ]
}

/// The running l3fwd; dropping it kills it if it still runs and removes its
/// EAL runtime directory, on every path out of [`run`].
struct Running {
    child: Child,
    prefix: String,
    lines: mpsc::Receiver<String>,
    /// Its output so far, but for the line per rule it prints at start.
    log: Vec<String>,
}

impl Running {
    fn drain(&mut self) {
        self.log.extend(self.lines.try_iter());
    }

    fn tail(&mut self) -> String {
        self.drain();
        self.log[self.log.len().saturating_sub(20)..].join("\n")
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            // Let the readers catch its last words.
            std::thread::sleep(Duration::from_millis(100));
            bail!("l3fwd exited ({status}); last output:\n{}", self.tail());
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(runtime_dir(&self.prefix));
    }
}

/// Sends every line of `from` but the per-rule ones to `tx`.
fn forward_lines(from: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if !line.starts_with("EM: Adding route") && tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// Port `port`'s `opackets` from `/ethdev/stats`.
fn opackets(t: &mut Telemetry, port: u16) -> anyhow::Result<u64> {
    let v = t.query(&format!("/ethdev/stats,{port}"), QUERY_TIMEOUT)?;
    v["opackets"]
        .as_u64()
        .with_context(|| format!("no opackets in /ethdev/stats,{port}: {v}"))
}

/// Runs l3fwd on `setup` until `samples` per-second rates are in.
pub fn run(
    setup: &Setup,
    samples: usize,
    scratch: &Path,
    timeout: Duration,
) -> anyhow::Result<RunResult> {
    let binary = l3fwd_build::binary()?;
    let (v4, v6) = rule_files(&five_tuples(&setup.capture)?);
    let (v4_file, v6_file) = (
        scratch.join("l3fwd-v4.rules"),
        scratch.join("l3fwd-v6.rules"),
    );
    std::fs::write(&v4_file, v4)?;
    std::fs::write(&v6_file, v6)?;
    let prefix = format!("perf-l3fwd-{}", std::process::id());
    let _ = std::fs::remove_dir_all(runtime_dir(&prefix));
    let mut child = Command::new(&binary)
        .args(args(setup, &prefix, &v4_file, &v6_file))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    let (tx, lines) = mpsc::channel();
    forward_lines(child.stdout.take().context("stdout")?, tx.clone());
    forward_lines(child.stderr.take().context("stderr")?, tx);
    let mut l3fwd = Running {
        child,
        prefix,
        lines,
        log: Vec::new(),
    };
    let deadline = Instant::now() + timeout;
    let prefix = l3fwd.prefix.clone();
    let mut telemetry = Telemetry::connect(&prefix, timeout, || l3fwd.check_alive())?;
    let mut result = RunResult::default();
    let mut last = (Instant::now(), opackets(&mut telemetry, 1)?);
    while result.mpps.len() < samples {
        if Instant::now() > deadline {
            bail!(
                "l3fwd forwarded nothing for {timeout:?} ({} samples); last output:\n{}",
                result.mpps.len(),
                l3fwd.tail()
            );
        }
        std::thread::sleep(
            (last.0 + Duration::from_secs(1)).saturating_duration_since(Instant::now()),
        );
        l3fwd.check_alive()?;
        let now = (Instant::now(), opackets(&mut telemetry, 1)?);
        let secs = now.0.duration_since(last.0).as_secs_f64();
        let mpps = now.1.saturating_sub(last.1) as f64 / secs / 1e6;
        last = now;
        // As for the others: seconds before forwarding starts are not samples.
        if mpps > 0.0 || !result.mpps.is_empty() {
            result.mpps.push(mpps);
        }
    }
    // A packet no rule matched goes back out of its RX port: then the rules
    // did not cover the capture and the rate is not the job's.
    let missed = opackets(&mut telemetry, 0)?;
    if missed > 0 {
        bail!("l3fwd matched no rule for {missed} packets (sent back out of port 0)");
    }
    drop(telemetry);
    Command::new("kill")
        .args(["-INT", &l3fwd.child.id().to_string()])
        .status()
        .context("send SIGINT")?;
    let stop = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = l3fwd.child.try_wait()? {
            break s;
        }
        if Instant::now() > stop {
            bail!("l3fwd did not stop within 30 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        bail!("l3fwd ended with {status}; last output:\n{}", l3fwd.tail());
    }
    l3fwd.drain();
    let hz = l3fwd
        .log
        .iter()
        .find_map(|l| tsc_hz(l))
        .context("no `TSC frequency` line in l3fwd's EAL log")?;
    let rate = summarize(steady(&result.mpps)).median;
    // A poll-mode lcore spins whether packets come or not: every TSC cycle
    // of the second went to the packets forwarded in it.
    result.cycles_per_packet = (rate > 0.0).then(|| hz / (rate * 1e6));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn writes_one_rule_per_flow_destination_first() {
        let a = FiveTuple {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2)),
            tcp: false,
            sport: 1000,
            dport: 53,
        };
        let (v4, v6) = rule_files(&[a, a]);
        assert_eq!(v4, "R192.168.0.2 10.0.0.1 53 1000 17 1\n");
        assert_eq!(v6, "R2001:200:: 2001:200::1 9 9 17 1\n");
        let b = FiveTuple {
            src: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            dst: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, 2)),
            tcp: true,
            sport: 7,
            dport: 8,
        };
        let (v4, v6) = rule_files(&[b]);
        assert_eq!(v6, "Rfd00:0:0:1::2 fd00::1 8 7 6 1\n");
        assert!(v4.starts_with("R198.18."));
    }

    #[test]
    fn reads_the_tsc_rate_from_eals_log() {
        assert_eq!(tsc_hz("EAL: TSC frequency is ~2600000 KHz"), Some(2.6e9));
        assert_eq!(tsc_hz("EAL: Main lcore 0 is ready"), None);
    }
}
