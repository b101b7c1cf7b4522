//! Helpers for the end-to-end tests: build and find the `flowlift` binary, run it,
//! read pcap files, and parse the final counters it prints.
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use std::io::BufRead;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub mod model;

/// The `flowlift` binary of this workspace, built on first use (same profile as
/// the tests).
pub fn flowlift_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-p",
            "flowlift",
            "--bin",
            "flowlift",
            "--message-format=json-render-diagnostics",
        ]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "building flowlift failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "flowlift")
            .find_map(|v| v["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported the flowlift executable")
    })
}

/// Serialises the tests of one test binary: each starts busy-polling lcores, and
/// two at once on a 2-CPU machine only slow each other down.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `args` of a `flowlift run` made private to this test: its own control
/// socket and no /metrics unless the test names them, so that tests (and any
/// appliance an engineer runs on the machine, on the default
/// `/run/flowlift/flowlift.sock` and port 9464) never meet.
pub fn private_run(args: &[&str]) -> Vec<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let mut out: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if args.first() != Some(&"run") || args.contains(&"--check-config") {
        return out;
    }
    if !args.contains(&"--socket") {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("flowlift-test-{}-{n}.sock", std::process::id()));
        out.extend(["--socket".to_string(), path.display().to_string()]);
    }
    if !args.contains(&"--metrics") {
        out.extend(["--metrics".to_string(), String::new()]);
    }
    out
}

/// Runs `flowlift` with `args` to completion (a `run` on a private socket,
/// see [`private_run`]).
pub fn flowlift(args: &[&str]) -> Output {
    Command::new(flowlift_bin())
        .args(private_run(args))
        .output()
        .expect("start flowlift")
}

/// Runs `flowlift run --config cfg --offload offload --flow-log log` to the
/// end of a finite wire: it must succeed and say the replay completed.
/// Returns the run and its standard output.
pub fn run_to_wire_end(cfg: &Path, offload: &str, log: &Path) -> (Output, String) {
    let out = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--offload",
        offload,
        "--flow-log",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "the finite wire ends the run\n{}",
        describe(&out)
    );
    (out, stdout)
}

/// The uplink line of a test config whose uplink `--replay` replaces: a
/// `net_pcap` on `<dir>/unused.pcap`, which [`replay_config`] creates empty.
pub fn replaced_uplink(dir: &Path) -> String {
    format!(
        "[[port]]\nname = \"uplink\"\nrole = \"uplink\"\ndevice = \"net_pcap0,rx_pcap={}/unused.pcap\"\n",
        dir.display()
    )
}

/// Writes `config` to `<dir>/flowlift.toml`, with the empty capture its
/// [`replaced_uplink`] names (the device must parse even though `--replay`
/// replaces it); returns the config's path.
pub fn replay_config(dir: &Path, config: &str) -> PathBuf {
    write_pcap(&dir.join("unused.pcap"), &[]);
    let path = dir.join("flowlift.toml");
    std::fs::write(&path, config).expect("write the config");
    path
}

/// Runs `flowlift run --config CFG --replay INPUT --loops N` plus `extra`.
pub fn run_replay(cfg: &Path, input: &Path, loops: u64, extra: &[&str]) -> Output {
    let loops = loops.to_string();
    let mut args = vec![
        "run",
        "--config",
        cfg.to_str().expect("utf-8 path"),
        "--replay",
        input.to_str().expect("utf-8 path"),
        "--loops",
        &loops,
    ];
    args.extend_from_slice(extra);
    flowlift(&args)
}

/// stdout and stderr of a finished run, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every frame of a pcap file, in order.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        out.push(p.expect("pcap record").data.into_owned());
    }
    out
}

/// Writes frames to a pcap file.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = pcap_file::pcap::PcapWriter::new(file).expect("pcap header");
    for (i, f) in frames.iter().enumerate() {
        let pkt = pcap_file::pcap::PcapPacket::new(
            std::time::Duration::from_micros(i as u64),
            f.len() as u32,
            f,
        );
        w.write_packet(&pkt).expect("write frame");
    }
}

/// One port's final counters as `flowlift run` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalCounters {
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
    pub tx_bytes: u64,
    pub policy_dropped: u64,
    pub flooded: u64,
    /// Packets over the port's rate limit, and of them those the NIC's
    /// meter dropped (when the report shows them apart).
    pub meter_dropped: u64,
    pub meter_dropped_nic: u64,
}

fn field(line: &str, name: &str) -> Option<u64> {
    let rest = &line[line.find(name)? + name.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// The per-port blocks of the final report, by port name.
pub fn final_counters(stdout: &str) -> HashMap<String, FinalCounters> {
    let mut out = HashMap::new();
    let mut current: Option<(String, FinalCounters)> = None;
    for line in stdout.lines() {
        if let Some(i) = line.find("Forward statistics for port ") {
            if let Some((name, c)) = current.take() {
                out.insert(name, c);
            }
            let name = line[i + "Forward statistics for port ".len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned();
            current = Some((name, FinalCounters::default()));
        } else if line.contains("Accumulated forward statistics") {
            if let Some((name, c)) = current.take() {
                out.insert(name, c);
            }
        } else if let Some((_, c)) = current.as_mut() {
            if line.contains("RX-packets:") {
                c.rx_packets = field(line, "RX-packets:").unwrap_or(0);
                c.rx_dropped = field(line, "RX-dropped:").unwrap_or(0);
                c.rx_bytes = field(line, "RX-bytes:").unwrap_or(0);
            } else if line.contains("TX-packets:") {
                c.tx_packets = field(line, "TX-packets:").unwrap_or(0);
                c.tx_dropped = field(line, "TX-dropped:").unwrap_or(0);
                c.tx_bytes = field(line, "TX-bytes:").unwrap_or(0);
            } else if line.contains("Policy-dropped:") {
                c.policy_dropped = field(line, "Policy-dropped:").unwrap_or(0);
                c.flooded = field(line, "Flooded:").unwrap_or(0);
            } else if line.contains("Meter-dropped:") {
                c.meter_dropped = field(line, "Meter-dropped:").unwrap_or(0);
                // `... NIC's meter 12)`
                c.meter_dropped_nic = line
                    .find("NIC's meter ")
                    .and_then(|i| {
                        line[i + "NIC's meter ".len()..]
                            .trim_end_matches(')')
                            .parse()
                            .ok()
                    })
                    .unwrap_or(0);
            }
        }
    }
    out
}

/// A flow as the flow log names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tuple {
    pub vlan: Option<u16>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// etherparse's reading of a frame's 5-tuple, where it decodes one.
pub fn oracle(frame: &[u8]) -> Option<Tuple> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let vlan = match &p.vlan {
        Some(etherparse::VlanSlice::SingleVlan(v)) => Some(v.vlan_identifier().value()),
        Some(etherparse::VlanSlice::DoubleVlan(v)) => Some(v.outer().vlan_identifier().value()),
        None => None,
    };
    let (src, dst, proto) = match &p.net {
        Some(NetSlice::Ipv4(ip)) => (
            IpAddr::from(ip.header().source()),
            IpAddr::from(ip.header().destination()),
            ip.payload().ip_number.0,
        ),
        Some(NetSlice::Ipv6(ip)) => (
            IpAddr::from(ip.header().source()),
            IpAddr::from(ip.header().destination()),
            ip.payload().ip_number.0,
        ),
        _ => return None,
    };
    let (sport, dport) = match &p.transport {
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        _ => return None,
    };
    Some(Tuple {
        vlan,
        src,
        dst,
        proto,
        sport,
        dport,
    })
}

/// Packets and bytes by flow of `times` replays of `frames`, as etherparse
/// reads them: the oracle a run's flow log is checked against. Every frame
/// must have a 5-tuple.
pub fn oracle_flows(frames: &[Vec<u8>], times: u64) -> HashMap<Tuple, (u64, u64)> {
    let mut want: HashMap<Tuple, (u64, u64)> = HashMap::new();
    for f in frames {
        let t = oracle(f).expect("etherparse decodes a 5-tuple from every frame");
        let e = want.entry(t).or_default();
        e.0 += times;
        e.1 += times * f.len() as u64;
    }
    want
}

/// The number after `label` in `text` (`installs 12` -> 12).
pub fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"));
    text[at + label.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after {label:?} in {text}"))
}

/// The final report's offload line: `Offload (rte_flow, 8 rules, 70 ticks):
/// installs ...; rules left N`.
pub fn offload_line(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.contains("Offload (rte_flow"))
        .unwrap_or_else(|| panic!("the offload report line in\n{stdout}"))
        .to_string()
}

/// Every line of a `--flow-log` file, parsed.
pub fn flow_log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}

/// A flow log line's flow.
pub fn tuple_of(v: &serde_json::Value) -> Tuple {
    Tuple {
        vlan: v["vlan"].as_u64().map(|x| x as u16),
        src: v["src"]
            .as_str()
            .expect("src")
            .parse()
            .expect("src address"),
        dst: v["dst"]
            .as_str()
            .expect("dst")
            .parse()
            .expect("dst address"),
        proto: v["proto"].as_u64().expect("proto") as u8,
        sport: v["sport"].as_u64().expect("sport") as u16,
        dport: v["dport"].as_u64().expect("dport") as u16,
    }
}

/// Packets and bytes by flow, summed over the flow log's lines (a flow that
/// ended and came back has several).
pub fn sum_by_tuple(lines: &[serde_json::Value]) -> HashMap<Tuple, (u64, u64)> {
    let mut got: HashMap<Tuple, (u64, u64)> = HashMap::new();
    for v in lines {
        let e = got.entry(tuple_of(v)).or_default();
        e.0 += v["packets"].as_u64().expect("packets");
        e.1 += v["bytes"].as_u64().expect("bytes");
    }
    got
}

/// A `flowlift` started in the background, its stdout collected line by line.
#[derive(Debug)]
pub struct Background {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The thread collecting stdout: it ends at the pipe's end, once the
    /// child has exited and every line is taken.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts `flowlift` with `args`.
    pub fn start(args: &[&str]) -> Background {
        let mut child = Command::new(flowlift_bin())
            .args(private_run(args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flowlift");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Background {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The first stdout line containing `needle`, waiting up to `limit`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "flowlift exited ({status}) before printing {needle:?}:\n{}",
                    self.stdout()
                );
            }
            assert!(
                start.elapsed() < limit,
                "no {needle:?} within {limit:?}:\n{}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything printed so far.
    pub fn stdout(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Waits (up to `limit`) for the process to end; its exit status, stdout
    /// and stderr.
    pub fn finish(mut self, limit: Duration) -> (std::process::ExitStatus, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("flowlift did not exit within {limit:?}:\n{}", self.stdout());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        // Every line taken: the reader ends at the pipe's end.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.stdout(), err)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `flowlift shell --socket SOCK -c CMD`: whether it succeeded, and its
/// stdout (or stderr, when refused).
pub fn shell(socket: &Path, cmd: &str) -> (bool, String) {
    let out = flowlift(&[
        "shell",
        "--socket",
        socket.to_str().expect("utf-8 path"),
        "-c",
        cmd,
    ]);
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    (out.status.success(), text)
}

/// [`shell`], which must succeed: its answer.
pub fn shell_ok(socket: &Path, cmd: &str) -> String {
    let (good, text) = shell(socket, cmd);
    assert!(good, "{cmd:?} was refused: {text}");
    text
}

/// The body of one `GET /metrics` from `addr` (host:port), which must answer
/// 200.
pub fn scrape_metrics(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}
