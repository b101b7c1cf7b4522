//! `net_flowlift` checked by an independent client: Debian's `dpdk-testpmd`
//! loads the PMD (`-d librte_net_flowlift.so`), probes
//! `net_flowlift0,wire=CAPTURE,loops=N,representor=vf[0-3]`, and its own
//! commands must show the five ports, count the capture's packets, create,
//! query and refuse flow rules as a NIC does.
//!
//! The shared object is the one cargo built for this test run (beside the test
//! binary), or `$FLOWLIFT_PMD_SO`. It is copied, mode 0755, into a private
//! directory under cargo's `target/tmp`: EAL refuses to load a plugin from a
//! directory any ancestor of which is world writable, as /tmp is.
//!
//! Without `dpdk-testpmd` (scripts/setup installs it) the tests say so loudly
//! and skip, unless `FLOWLIFT_REQUIRE_TESTPMD=1` or `CI` is set, where they
//! fail.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapWriter};

const TESTPMD: &str = "dpdk-testpmd";

/// `dpdk-testpmd`'s path, or `None` (after saying so loudly) to skip.
fn testpmd() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(TESTPMD))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let must = std::env::var_os("FLOWLIFT_REQUIRE_TESTPMD").is_some_and(|v| v == "1")
            || std::env::var_os("CI").is_some();
        assert!(!must, "{TESTPMD} is not on PATH: run scripts/setup");
        // Straight to the process's stderr, past the harness's capture, so a
        // skip is seen even when the tests pass.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: {TESTPMD} is not on PATH (run scripts/setup); the PMD was NOT checked ***\n"
        );
    }
    found
}

/// The PMD cargo built with this test (`target/<profile>/deps` or its
/// parent), or `$FLOWLIFT_PMD_SO`.
fn pmd_so() -> PathBuf {
    if let Some(p) = std::env::var_os("FLOWLIFT_PMD_SO") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps directory");
    [deps.to_path_buf(), deps.join("..")]
        .iter()
        .map(|d| d.join("librte_net_flowlift.so"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("librte_net_flowlift.so not found beside {}", exe.display()))
}

/// A private directory (mode 0700 from tempfile) with the PMD at mode 0755,
/// under `target/tmp` or, where the checkout lies below a world-writable
/// directory (a clone in /tmp), under `~/.cache/flowlift`: EAL refuses a
/// plugin whose directory or any parent of it anyone may write to (its
/// `verify_perms` walks up to /), sticky bit or not.
fn plugin_dir() -> (tempfile::TempDir, PathBuf) {
    let safe = |base: &Path| {
        base.ancestors()
            .all(|dir| std::fs::metadata(dir).map_or(true, |m| m.permissions().mode() & 0o002 == 0))
    };
    let cache = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache").join("flowlift"));
    let base = [Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR"))), cache]
        .into_iter()
        .flatten()
        .find(|b| {
            let _ = std::fs::create_dir_all(b);
            safe(b)
        })
        .unwrap_or_else(|| {
            panic!(
                "no directory for the plugin that EAL would accept: {} and ~/.cache/flowlift lie below a world-writable directory (set CARGO_TARGET_DIR or HOME elsewhere)",
                env!("CARGO_TARGET_TMPDIR")
            )
        });
    let dir = tempfile::Builder::new()
        .prefix("flowlift-pmd-test")
        .tempdir_in(&base)
        .expect("temporary directory");
    let so = dir.path().join("librte_net_flowlift.so");
    std::fs::copy(pmd_so(), &so).expect("copy the PMD");
    std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, so)
}

/// Writes `n` distinct 60-byte UDP/IPv4 frames (one flow each) as a pcap.
fn write_capture(path: &Path, n: u16) {
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            udp_frame(
                [10, 0, (i >> 8) as u8, i as u8],
                [10, 1, 0, 1],
                1000 + i,
                5001,
            )
        })
        .collect();
    write_frames(path, &frames);
}

/// Writes `frames` as a pcap, frame `i` stamped `i` microseconds.
fn write_frames(path: &Path, frames: &[Vec<u8>]) {
    let mut w =
        PcapWriter::new(std::fs::File::create(path).expect("create capture")).expect("pcap header");
    for (i, frame) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::from_micros(i as u64),
            frame.len() as u32,
            frame,
        ))
        .expect("write frame");
    }
}

fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let payload = [0x78u8; 18];
    let udp_len = 8 + payload.len() as u16;
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + usize::from(ip_len));
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What every test starts from: testpmd's path and a private directory
/// holding the PMD (see [`plugin_dir`]) and the test's captures.
struct Bench {
    testpmd: PathBuf,
    dir: tempfile::TempDir,
    so: PathBuf,
}

impl Bench {
    /// `None` (after saying so, see [`testpmd`]) to skip.
    fn new() -> Option<Bench> {
        let testpmd = testpmd()?;
        let (dir, so) = plugin_dir();
        Some(Bench { testpmd, dir, so })
    }

    /// A file of the private directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start(&self, vdev: &str, app_args: &[&str]) -> Testpmd {
        Testpmd::start_with(&self.testpmd, &[&self.so], vdev, app_args)
    }

    /// testpmd with its ports not started (`--disable-device-start`), at its
    /// prompt: rules made now see the wire's first frame.
    fn start_stopped(&self, vdev: &str, forward_mode: &str) -> Testpmd {
        let mut pmd = self.start(
            vdev,
            &[forward_mode, "--no-flush-rx", "--disable-device-start"],
        );
        pmd.wait_for(
            Duration::from_secs(20),
            "Interactive-mode selected",
            "testpmd did not start",
        );
        pmd
    }
}

/// The lines testpmd wrote; shown under a header in failure messages.
struct Transcript(Vec<String>);

impl std::ops::Deref for Transcript {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Display for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- testpmd transcript ---\n{}", self.0.join("\n"))
    }
}

/// An interactive testpmd, its stdout line-buffered (`stdbuf`) so that each
/// command's answer can be read before the next is sent.
struct Testpmd {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything read so far, for failure messages.
    transcript: Transcript,
}

impl Testpmd {
    /// Loads each of `plugins` with a `-d` of its own.
    fn start_with(testpmd: &Path, plugins: &[&Path], vdev: &str, app_args: &[&str]) -> Testpmd {
        let mut cmd = Command::new("stdbuf");
        cmd.args(["-oL", "-eL"])
            .arg(testpmd)
            .args([
                "-l",
                "0,1",
                "--no-huge",
                "-m",
                "512",
                "--no-pci",
                "--no-shconf",
            ])
            .args(plugins.iter().flat_map(|p| ["-d".as_ref(), p.as_os_str()]))
            .arg("--vdev")
            .arg(vdev)
            .args(["--", "-i", "--total-num-mbufs=16384"])
            .args(app_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start stdbuf dpdk-testpmd");
        let (tx, lines) = channel();
        for out in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Testpmd {
            child,
            stdin,
            lines,
            transcript: Transcript(Vec::new()),
        }
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("testpmd's stdin is open");
        writeln!(stdin, "{command}").expect("write a testpmd command");
        stdin.flush().expect("flush");
    }

    /// Reads lines until one satisfies `want` (returned), or `timeout`.
    fn read_until(&mut self, timeout: Duration, want: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.0.push(line.clone());
                    if want(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// `show port stats N`, parsed.
    fn port_stats(&mut self, port: u16) -> PortStats {
        self.send(&format!("show port stats {port}"));
        self.wait_for(
            Duration::from_secs(5),
            &format!("NIC statistics for port {port} "),
            &format!("no stats for port {port}"),
        );
        let mut s = PortStats::default();
        for _ in 0..4 {
            s.read(&self.next_line("stats cut short"));
        }
        s
    }

    /// Reads lines until one contains `needle` (returned); fails with `why`
    /// after `timeout`.
    fn wait_for(&mut self, timeout: Duration, needle: &str, why: &str) -> String {
        self.read_until(timeout, |l| l.contains(needle))
            .unwrap_or_else(|| self.fail(why))
    }

    /// The next line, which must come within 5 s (else fails with `why`).
    fn next_line(&mut self, why: &str) -> String {
        self.read_until(Duration::from_secs(5), |_| true)
            .unwrap_or_else(|| self.fail(why))
    }

    /// Reads on to the line that starts (past its indent) with `key`, and
    /// returns the number after it; `what` names whose value it is.
    fn value(&mut self, key: &str, what: &str) -> u64 {
        let line = self
            .read_until(Duration::from_secs(5), |l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| self.fail(&format!("no {key} for {what}")));
        line.trim_start()[key.len()..]
            .trim()
            .parse()
            .unwrap_or_else(|_| self.fail(&line))
    }

    /// A COUNT's `hits:` and `bytes:`, as `flow query` and `flow
    /// indirect_action query` print them.
    fn hits_and_bytes(&mut self, what: &str) -> (u64, u64) {
        let hits = self.value("hits:", what);
        let bytes = self.value("bytes:", what);
        (hits, bytes)
    }

    /// Sends `command` and returns the first answer line containing one of
    /// `answers`.
    fn ask(&mut self, command: &str, answers: &[&str]) -> String {
        self.send(command);
        self.read_until(Duration::from_secs(5), |l| {
            answers.iter().any(|a| l.contains(a))
        })
        .unwrap_or_else(|| self.fail(&format!("no answer to: {command}")))
    }

    /// `flow create ...`, which must succeed; returns the rule's number.
    fn flow_create(&mut self, rule: &str) -> u32 {
        let line = self.ask(
            &format!("flow create {rule}"),
            &["Flow rule #", "Caught PMD error"],
        );
        line.strip_prefix("Flow rule #")
            .and_then(|r| r.strip_suffix(" created"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| self.fail(&format!("flow create {rule}: {line}")))
    }

    /// `flow create ...`, which the PMD must refuse; returns testpmd's
    /// complaint.
    fn flow_refused(&mut self, rule: &str) -> String {
        let line = self.ask(
            &format!("flow create {rule}"),
            &["Flow rule #", "Caught PMD error"],
        );
        if !line.contains("Caught PMD error") {
            self.fail(&format!("flow create {rule} was not refused: {line}"));
        }
        line
    }

    /// `flow query PORT RULE count`: hits and bytes.
    fn flow_query(&mut self, port: u16, rule: u32) -> (u64, u64) {
        self.send(&format!("flow query {port} {rule} count"));
        self.hits_and_bytes(&format!("rule {rule}"))
    }

    /// One of `show port xstats PORT`'s values.
    fn xstat(&mut self, port: u16, name: &str) -> u64 {
        self.send(&format!("show port xstats {port}"));
        // Past what is left of an earlier answer, to this one's header.
        self.wait_for(
            Duration::from_secs(5),
            &format!("NIC extended statistics for port {port} "),
            &format!("no xstats for port {port}"),
        );
        self.value(&format!("{name}:"), &format!("the xstats of port {port}"))
    }

    /// Polls port `port`'s stats until `done` holds (returned) or `timeout`.
    fn wait_stats(
        &mut self,
        port: u16,
        timeout: Duration,
        done: impl Fn(&PortStats) -> bool,
    ) -> PortStats {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.port_stats(port);
            if done(&s) || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Quits and waits (killing it after a grace period); returns the
    /// transcript.
    fn quit(mut self) -> Transcript {
        self.send("quit");
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.fail("testpmd did not quit within 15 s");
        }
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.transcript.0.push(line);
        }
        Transcript(std::mem::take(&mut self.transcript.0))
    }

    fn fail(&self, why: &str) -> ! {
        panic!("{why}\n{}", self.transcript);
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The counters testpmd prints for a port.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct PortStats {
    rx_packets: u64,
    rx_missed: u64,
    rx_bytes: u64,
    rx_errors: u64,
    rx_nombuf: u64,
    tx_packets: u64,
    tx_errors: u64,
    tx_bytes: u64,
}

impl PortStats {
    /// Takes the `Name: value` pairs of one line of testpmd's stats block.
    fn read(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let Ok(v) = pair[1].parse::<u64>() else {
                continue;
            };
            match pair[0] {
                "RX-packets:" => self.rx_packets = v,
                "RX-missed:" => self.rx_missed = v,
                "RX-bytes:" => self.rx_bytes = v,
                "RX-errors:" => self.rx_errors = v,
                "RX-nombuf:" => self.rx_nombuf = v,
                "TX-packets:" => self.tx_packets = v,
                "TX-errors:" => self.tx_errors = v,
                "TX-bytes:" => self.tx_bytes = v,
                _ => {}
            }
        }
    }
}

/// testpmd loads the PMD, sees the PF and four representors, and with io
/// forwarding (ports paired 0<->1) receives every frame of the wire on port 0
/// (capture x loops, none missed) and sends each out of port 1, the
/// representor of VF 0.
/// Two copies of the driver in one process (the `.so` loaded into an
/// application that has it built in, as flowlift has; here two copies of the
/// `.so`): DPDK 22.11 would take a second driver of the same name without a
/// word and never use it; the second copy says so and stays unregistered,
/// and the first serves the device.
#[test]
fn a_second_copy_of_the_driver_stays_unregistered_and_says_so() {
    let Some(bench) = Bench::new() else { return };
    let copy_dir = bench.path("copy");
    std::fs::create_dir(&copy_dir).expect("mkdir");
    std::fs::set_permissions(&copy_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let copy = copy_dir.join("librte_net_flowlift.so");
    std::fs::copy(&bench.so, &copy).expect("copy the PMD");
    let capture = bench.path("wire.pcap");
    write_capture(&capture, 100);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,representor=vf[0-1]",
        capture.display()
    );
    let mut pmd = Testpmd::start_with(
        &bench.testpmd,
        &[&bench.so, &copy],
        &vdev,
        &["--forward-mode=rxonly", "--no-flush-rx"],
    );
    pmd.send("start");
    let pf = pmd.wait_stats(0, Duration::from_secs(15), |s| s.rx_packets >= 100);
    pmd.send("stop");
    let transcript = pmd.quit();
    let said = transcript
        .iter()
        .filter(|l| l.contains("another copy of this driver is already registered"))
        .count();
    assert_eq!(said, 1, "{}", transcript);
    let probed = transcript
        .iter()
        .filter(|l| l.contains("net_flowlift0: 3 port(s)"))
        .count();
    assert_eq!(probed, 1, "one driver probed the device\n{}", transcript);
    assert_eq!(pf.rx_packets, 100, "{}", transcript);
}

#[test]
fn testpmd_sees_five_ports_and_receives_the_whole_wire() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    const FRAMES: u16 = 1000;
    const LOOPS: u64 = 2;
    write_capture(&capture, FRAMES);
    let vdev = format!(
        "net_flowlift0,wire={},loops={LOOPS},representor=vf[0-3]",
        capture.display()
    );
    let started = Instant::now();
    let mut pmd = bench.start(&vdev, &["--forward-mode=io", "--no-flush-rx"]);

    pmd.send("show port summary all");
    let count = pmd
        .read_until(Duration::from_secs(20), |l| {
            l.starts_with("Number of available ports:")
        })
        .unwrap_or_else(|| pmd.fail("testpmd did not list its ports"));
    assert_eq!(count.trim(), "Number of available ports: 5", "{count}");
    let mut names = Vec::new();
    for _ in 0..6 {
        names.push(pmd.next_line("port summary cut short"));
    }
    let summary = names.join("\n");
    for (port, name) in [
        (0, "net_flowlift0 "),
        (1, "net_flowlift0_representor_vf0"),
        (2, "net_flowlift0_representor_vf1"),
        (3, "net_flowlift0_representor_vf2"),
        (4, "net_flowlift0_representor_vf3"),
    ] {
        assert!(
            summary.lines().any(|l| l.starts_with(&format!("{port} "))
                && l.contains(name)
                && l.contains("net_flowlift")),
            "port {port} ({name}) missing from:\n{summary}"
        );
    }

    pmd.send("start");
    let want = u64::from(FRAMES) * LOOPS;
    let pf = pmd.wait_stats(0, Duration::from_secs(15), |s| s.rx_packets >= want);
    // Give a replay that would overrun its loops the time to show it.
    std::thread::sleep(Duration::from_millis(300));
    let pf_after = pmd.port_stats(0);
    let vf0 = pmd.wait_stats(1, Duration::from_secs(5), |s| s.tx_packets >= want);
    pmd.send("stop");
    let transcript = pmd.quit();

    assert_eq!(pf.rx_packets, want, "PF RX\n{}", transcript);
    assert_eq!(
        pf_after.rx_packets, want,
        "the wire stops after {LOOPS} loops"
    );
    assert_eq!(
        pf_after.rx_missed, 0,
        "unpaced, the wire waits for the host"
    );
    assert_eq!(pf_after.rx_bytes, want * 60);
    assert_eq!(pf_after.rx_errors + pf_after.rx_nombuf, 0);
    assert_eq!(
        vf0.tx_packets, want,
        "io forwarding sends port 0's RX out of port 1\n{}",
        transcript
    );
    assert_eq!(vf0.tx_bytes, want * 60);
    assert!(
        transcript.iter().any(|l| l.contains("Bye")),
        "testpmd did not quit cleanly\n{}",
        transcript
    );
    eprintln!("testpmd run took {:?}", started.elapsed());
}

/// Rules made with testpmd's own commands before the ports start (so they
/// see the first frame): a transfer rule sends a port range of the wire to
/// VF 0 and counts, an ingress rule drops a /24 and counts, and the rest
/// reaches the PF's host. `flow query` hits equal what VF 0 received from the
/// switch and what the switch dropped; PF RX + missed + switched + dropped
/// equals the wire. Rules the model cannot take are refused as testpmd shows
/// a PMD's errors.
#[test]
fn testpmd_flow_rules_count_what_the_vf_sink_receives() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    // Frame i: 10.0.(i/256).(i%256):(1000 + i) -> 10.1.0.1:5001.
    write_capture(&capture, 1000);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,representor=vf[0-3]",
        capture.display()
    );
    let mut pmd = bench.start_stopped(&vdev, "--forward-mode=rxonly");

    // Ports 1000-1099: 100 frames to VF 0 (port 1).
    let to_vf0 = pmd.flow_create(
        "0 transfer pattern eth / ipv4 / udp src spec 1000 src last 1099 src mask 0xffff / end \
         actions represented_port ethdev_port_id 1 / count / end",
    );
    // 10.0.2.0/24: frames 512-767, 256 of them, dropped.
    let drop = pmd.flow_create(
        "0 ingress pattern eth / ipv4 src spec 10.0.2.0 src mask 255.255.255.0 / end \
         actions drop / count / end",
    );
    let group = pmd.flow_refused("0 ingress group 1 pattern eth / end actions drop / end");
    assert!(
        group.contains("Caught PMD error type 3 (group field)"),
        "{group}"
    );
    assert!(group.contains("Operation not supported"), "{group}");
    let queue = pmd.flow_refused("0 transfer pattern eth / end actions queue index 0 / end");
    assert!(
        queue.contains("Caught PMD error type 16 (specific action)"),
        "{queue}"
    );
    let fate = pmd.flow_refused("0 ingress pattern eth / ipv4 / end actions count / end");
    assert!(fate.contains("Invalid argument"), "{fate}");

    pmd.ask("port start all", &["Done"]);
    pmd.send("start");
    let host = 1000 - 100 - 256;
    let pf = pmd.wait_stats(0, Duration::from_secs(15), |s| s.rx_packets >= host);
    let wire = pmd.xstat(0, "wire_rx_packets");
    let (hits, bytes) = pmd.flow_query(0, to_vf0);
    let vf0 = pmd.xstat(1, "vf_rx_from_switch_packets");
    let vf0_bytes = pmd.xstat(1, "vf_rx_from_switch_bytes");
    let (drops, _) = pmd.flow_query(0, drop);
    let dropped = pmd.xstat(0, "switch_drop_packets");
    pmd.send("stop");
    let transcript = pmd.quit();

    assert_eq!(wire, 1000, "{}", transcript);
    assert_eq!((hits, bytes), (100, 6000), "{}", transcript);
    assert_eq!(
        (vf0, vf0_bytes),
        (hits, bytes),
        "the rule's hits are what VF 0 got"
    );
    assert_eq!((drops, dropped), (256, 256), "{}", transcript);
    assert_eq!(pf.rx_packets, host, "{}", transcript);
    assert_eq!(pf.rx_missed, 0);
    assert_eq!(pf.rx_packets + pf.rx_missed + vf0 + dropped, wire);
}

/// The rule Open vSwitch 3.1 makes for a megaflow (`netdev-offload-dpdk.c`,
/// as its log prints it, in testpmd's syntax): `eth type is 0x0800 has_vlan
/// is 0 / ipv4 ... fragment_offset is 0x0 / udp ...`, COUNT and PORT_ID to a
/// representor. The PMD takes it (mlx5 does), and it carries the flow's
/// untagged whole datagrams only: the same flow's first fragments and its
/// VLAN-tagged frames reach the PF's host.
#[test]
fn testpmd_takes_open_vswitch_s_megaflow_rules() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    let whole = udp_frame([10, 0, 0, 1], [10, 1, 0, 1], 1000, 5001);
    let mut fragment = whole.clone();
    // MF set, offset 0: a first fragment, its UDP header there; checksum again.
    fragment[20] = 0x20;
    fragment[24..26].copy_from_slice(&[0, 0]);
    let sum = ip_checksum(&fragment[14..34]);
    fragment[24..26].copy_from_slice(&sum.to_be_bytes());
    let mut tagged = whole[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    tagged.extend_from_slice(&whole[12..]);
    let frames = [
        whole.clone(),
        fragment.clone(),
        whole.clone(),
        tagged,
        fragment,
        whole,
    ];
    write_frames(&capture, &frames);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,representor=vf[0-3]",
        capture.display()
    );
    let mut pmd = bench.start_stopped(&vdev, "--forward-mode=rxonly");
    let rule = pmd.flow_create(
        "0 priority 0 group 0 transfer pattern eth type is 0x0800 has_vlan is 0 / \
         ipv4 src is 10.0.0.1 dst is 10.1.0.1 proto is 0x11 fragment_offset is 0x0 / \
         udp src is 1000 dst is 5001 / end actions count / port_id original 0 id 1 / end",
    );
    // OVS's other shapes: frag=first, frag=later (mlx5 refuses both alike).
    let first = pmd.flow_refused(
        "0 transfer pattern eth type is 0x0800 / ipv4 src is 10.0.0.1 \
         fragment_offset spec 0x2000 fragment_offset mask 0x3fff / end \
         actions count / port_id original 0 id 1 / end",
    );
    assert!(first.contains("Operation not supported"), "{first}");
    let later = pmd.flow_refused(
        "0 transfer pattern eth type is 0x0800 / ipv4 src is 10.0.0.1 \
         fragment_offset spec 0x1 fragment_offset last 0x1fff fragment_offset mask 0x1fff / end \
         actions count / port_id original 0 id 1 / end",
    );
    assert!(later.contains("Invalid argument"), "{later}");
    pmd.ask("port start all", &["Done"]);
    pmd.send("start");
    let pf = pmd.wait_stats(0, Duration::from_secs(15), |s| s.rx_packets >= 3);
    let (hits, _) = pmd.flow_query(0, rule);
    let vf0 = pmd.xstat(1, "vf_rx_from_switch_packets");
    pmd.send("stop");
    let transcript = pmd.quit();
    assert_eq!(hits, 3, "the whole untagged datagrams: {}", transcript);
    assert_eq!(vf0, 3, "{}", transcript);
    assert_eq!(
        pf.rx_packets, 3,
        "two first fragments and the tagged frame: {}",
        transcript
    );
}

/// A devarg the device does not know fails the probe, with the PMD's reason in
/// the log, and testpmd sees no port.
#[test]
fn testpmd_refuses_an_unknown_devarg() {
    let Some(bench) = Bench::new() else { return };
    let mut pmd = bench.start("net_flowlift0,wyre=x", &[]);
    let why = pmd.wait_for(
        Duration::from_secs(20),
        "unknown devarg",
        "no refusal logged",
    );
    assert!(
        why.contains("net_flowlift0: unknown devarg 'wyre'"),
        "{why}"
    );
    pmd.send("show port summary all");
    let count = pmd.read_until(Duration::from_secs(10), |l| {
        l.starts_with("Number of available ports:")
    });
    let transcript = pmd.quit();
    if let Some(count) = count {
        assert_eq!(
            count.trim(),
            "Number of available ports: 0",
            "{}",
            transcript.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// The data path: RSS, VF sources, captures, stats.
// ---------------------------------------------------------------------------

/// Flow `f` of the data-path captures: 10.0.(f/256).(f%256):(1000 + f) ->
/// 10.1.0.1:5001 over UDP, its source MAC 02:00:00:00:(f/256):(f%256) so that
/// testpmd's verbose lines (which print MACs, not addresses) name the flow.
fn flow_frame(f: u16) -> Vec<u8> {
    let mut frame = udp_frame(
        [10, 0, (f >> 8) as u8, f as u8],
        [10, 1, 0, 1],
        1000 + f,
        5001,
    );
    frame[10] = (f >> 8) as u8;
    frame[11] = f as u8;
    frame
}

/// Writes `flows` flows, `rounds` frames each, round-robin (frame `i` is flow
/// `i % flows`).
fn write_flows(path: &Path, flows: u16, rounds: u16) {
    let frames: Vec<Vec<u8>> = (0..u32::from(flows) * u32::from(rounds))
        .map(|i| flow_frame((i % u32::from(flows)) as u16))
        .collect();
    write_frames(path, &frames);
}

/// The RSS hash the model must give flow `f` under `key` with UDP hashing
/// (`--rss-udp`): Toeplitz over its 4-tuple, checked against Microsoft's
/// vectors in flowlift-nic's unit tests.
fn flow_hash(key: &[u8], f: u16) -> u32 {
    use flowlift_nic::rss::{ipv4_input, toeplitz};
    let input = ipv4_input(
        [10, 0, (f >> 8) as u8, f as u8].into(),
        [10, 1, 0, 1].into(),
        Some((1000 + f, 5001)),
    );
    toeplitz(key, &input)
}

/// One packet as testpmd's `set verbose 1` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    port: u16,
    flow: u16,
    hash: Option<u32>,
    queue: u16,
}

impl Seen {
    /// Reads a verbose line: `port 0/queue 1: received ...` sets the port;
    /// `src=02:00:00:00:HH:LL - ... - RSS hash=0x... - ... - Receive
    /// queue=0x1` is a packet. testpmd's prompt, written by its main thread
    /// while the forwarding lcore prints, may land in front of either (even
    /// cut in pieces, `testpmd>   src=...` or `estp  src=...`): the fields
    /// are looked for anywhere in the line.
    fn parse(line: &str, port: &mut u16) -> Option<Seen> {
        if let Some((head, _)) = line.split_once("/queue ") {
            if let Some(p) = head.rsplit_once("port ").and_then(|(_, p)| p.parse().ok()) {
                *port = p;
            }
            return None;
        }
        let (_, rest) = line.split_once("src=")?;
        let mac = rest.get(..17)?;
        let bytes: Vec<u8> = mac
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).ok())
            .collect::<Option<_>>()?;
        let hex_after = |key: &str| -> Option<u32> {
            let v = line.split(key).nth(1)?;
            let v = v.strip_prefix("0x")?;
            let end = v.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(v.len());
            u32::from_str_radix(&v[..end], 16).ok()
        };
        Some(Seen {
            port: *port,
            flow: u16::from_be_bytes([bytes[4], bytes[5]]),
            hash: hex_after("RSS hash="),
            queue: hex_after("Receive queue=")? as u16,
        })
    }
}

impl Testpmd {
    /// Reads lines until `n` packets of testpmd's verbose output have been
    /// seen (or `timeout`); returns them in order.
    fn packets(&mut self, n: usize, timeout: Duration) -> Vec<Seen> {
        let seen = std::cell::RefCell::new(Vec::new());
        let port = std::cell::Cell::new(0u16);
        self.read_until(timeout, |l| {
            let mut p = port.get();
            if let Some(s) = Seen::parse(l, &mut p) {
                seen.borrow_mut().push(s);
            }
            port.set(p);
            seen.borrow().len() >= n
        });
        seen.into_inner()
    }

    /// `show port PORT rss-hash key`: the key, as hex.
    fn rss_key(&mut self, port: u16) -> String {
        self.send(&format!("show port {port} rss-hash key"));
        self.read_until(Duration::from_secs(5), |l| l.starts_with("RSS key:"))
            .unwrap_or_else(|| self.fail("no RSS key"));
        self.next_line("RSS key cut short").trim().to_owned()
    }

    /// `show port PORT rss reta 64 (mask)`: the first 64 RETA entries.
    fn reta64(&mut self, port: u16) -> Vec<u16> {
        self.send(&format!(
            "show port {port} rss reta 64 (0xffffffffffffffff)"
        ));
        let mut reta = vec![u16::MAX; 64];
        for _ in 0..64 {
            let line = self
                .read_until(Duration::from_secs(5), |l| {
                    l.starts_with("RSS RETA configuration: hash index=")
                })
                .unwrap_or_else(|| self.fail("RETA cut short"));
            let (i, q) = line
                .strip_prefix("RSS RETA configuration: hash index=")
                .and_then(|r| r.split_once(", queue="))
                .unwrap_or_else(|| self.fail(&line));
            let (i, q): (usize, u16) = (i.parse().unwrap(), q.trim().parse().unwrap());
            reta[i] = q;
        }
        reta
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// With two RX queues and UDP hashing, what no rule takes is spread by RSS:
/// every packet carries the Toeplitz hash of its 4-tuple under the default
/// key (`RTE_MBUF_F_RX_RSS_HASH`), lands on the queue the default RETA gives
/// that hash's low bits (entry `hash & 511`, queue `entry % 2`), each flow on
/// one queue only, and the per-queue stats add up to the wire.
#[test]
fn testpmd_rss_spreads_flows_over_two_queues() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    const FLOWS: u16 = 64;
    const ROUNDS: u16 = 4;
    let total = usize::from(FLOWS) * usize::from(ROUNDS);
    write_flows(&capture, FLOWS, ROUNDS);
    let vdev = format!("net_flowlift0,wire={},loops=1", capture.display());
    let mut pmd = bench.start(
        &vdev,
        &[
            "--rxq=2",
            "--txq=2",
            "--rss-udp",
            "--forward-mode=rxonly",
            "--no-flush-rx",
        ],
    );
    let key = pmd.rss_key(0);
    let reta = pmd.reta64(0);
    pmd.send("set verbose 1");
    pmd.send("start");
    let seen = pmd.packets(total, Duration::from_secs(20));
    pmd.send("stop");
    let q0 = pmd.xstat(0, "rx_q0_packets");
    let q1 = pmd.xstat(0, "rx_q1_packets");
    let stats = pmd.port_stats(0);
    let transcript = pmd.quit();

    use flowlift_nic::rss::DEFAULT_KEY;
    assert_eq!(key, hex(&DEFAULT_KEY), "the default key");
    assert!(
        reta.iter()
            .enumerate()
            .all(|(i, &q)| usize::from(q) == i % 2),
        "default RETA {reta:?}"
    );
    assert_eq!(seen.len(), total, "{}", transcript);
    let mut queue_of = std::collections::HashMap::new();
    for s in &seen {
        let want = flow_hash(&DEFAULT_KEY, s.flow);
        assert_eq!(s.hash, Some(want), "flow {}: {s:?}", s.flow);
        assert_eq!(s.queue, ((want & 511) % 2) as u16, "flow {}", s.flow);
        assert_eq!(*queue_of.entry(s.flow).or_insert(s.queue), s.queue);
    }
    assert_eq!(queue_of.len(), usize::from(FLOWS));
    let want_q1: u64 = (0..FLOWS)
        .map(|f| u64::from(flow_hash(&DEFAULT_KEY, f) & 1) * u64::from(ROUNDS))
        .sum();
    assert_eq!(q0 + q1, total as u64, "{}", transcript);
    assert_eq!(q1, want_q1, "queue 1 got its flows' packets");
    assert!(q0 > 0 && q1 > 0, "both queues used: {q0} {q1}");
    assert_eq!(stats.rx_packets, total as u64);
    assert_eq!(stats.rx_missed, 0);
}

/// The key and the RETA set through testpmd's own commands
/// (`rte_eth_dev_rss_hash_update`, `rte_eth_dev_rss_reta_update`) while the
/// port is stopped take effect when it starts again: every packet after is
/// hashed with the new key and steered by the new RETA. What was in the rings
/// at the stop is missed, so RX + missed is still the whole wire.
#[test]
fn testpmd_rss_key_and_reta_set_through_ethdev() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    const FLOWS: u16 = 64;
    const ROUNDS: u16 = 4;
    let total = u64::from(FLOWS) * u64::from(ROUNDS);
    write_flows(&capture, FLOWS, ROUNDS);
    let vdev = format!("net_flowlift0,wire={},loops=1", capture.display());
    // 32 descriptors a queue: at most 64 frames wait in the rings, so most
    // of the wire comes after the restart.
    let mut pmd = bench.start(
        &vdev,
        &[
            "--rxq=2",
            "--txq=2",
            "--rxd=32",
            "--rss-udp",
            "--forward-mode=rxonly",
            "--no-flush-rx",
        ],
    );
    pmd.ask("port stop 0", &["Done"]);
    let key: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x5c).collect();
    pmd.send(&format!(
        "port config 0 rss-hash-key ipv4-udp {}",
        hex(&key)
    ));
    // Flip the queue of the first 16 flows' RETA entries.
    let mut reta: Vec<u16> = (0..512).map(|i| (i % 2) as u16).collect();
    let mut entries = Vec::new();
    for f in 0..16 {
        let e = (flow_hash(&key, f) & 511) as usize;
        if entries.iter().all(|(x, _)| *x != e) {
            reta[e] = 1 - reta[e];
            entries.push((e, reta[e]));
        }
    }
    let list: Vec<String> = entries.iter().map(|(e, q)| format!("({e},{q})")).collect();
    pmd.send(&format!("port config 0 rss reta {}", list.join(",")));
    assert_eq!(pmd.rss_key(0), hex(&key));
    let missed = pmd.port_stats(0).rx_missed;
    pmd.ask("port start 0", &["Done"]);
    pmd.send("set verbose 1");
    pmd.send("start");
    let want = (total - missed) as usize;
    let seen = pmd.packets(want, Duration::from_secs(20));
    pmd.send("stop");
    let stats = pmd.port_stats(0);
    let wire = pmd.xstat(0, "wire_rx_packets");
    let transcript = pmd.quit();

    assert!(
        missed <= 64,
        "at most the rings' frames are missed: {missed}"
    );
    assert!(seen.len() >= 128, "{}", transcript);
    assert_eq!(seen.len(), want, "{}", transcript);
    for s in &seen {
        let hash = flow_hash(&key, s.flow);
        assert_eq!(s.hash, Some(hash), "flow {}: the new key", s.flow);
        assert_eq!(
            s.queue,
            reta[(hash & 511) as usize],
            "flow {}: the new RETA",
            s.flow
        );
    }
    assert!(
        seen.iter()
            .any(|s| s.flow < 16 && s.queue != (flow_hash(&key, s.flow) & 1) as u16),
        "a flipped entry was used"
    );
    assert_eq!(wire, total);
    assert_eq!(
        stats.rx_packets + stats.rx_missed,
        wire,
        "RX + missed = the wire"
    );
}

/// Every frame of a pcap, in order.
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut r = pcap_file::pcap::PcapReader::new(file).expect("a pcap");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.expect("a whole record").data.into_owned());
    }
    out
}

/// `vf_capture_dir` (`capture_dir`'s first name, still taken): what VF 0
/// received is in `vf0-offloaded.pcap` when a transfer rule delivered it
/// and in `vf0.pcap` when the host sent it on the representor (testpmd's io
/// forwarding sends port 0's RX out of port 1), byte for byte and in wire
/// order; VF 1 got nothing, and has empty files.
#[test]
fn testpmd_vf_captures_split_by_path() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    let out = bench.path("out");
    std::fs::create_dir(&out).unwrap();
    const FRAMES: u16 = 1000;
    write_flows(&capture, FRAMES, 1);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,representor=vf[0-1],vf_capture_dir={}",
        capture.display(),
        out.display()
    );
    let mut pmd = bench.start_stopped(&vdev, "--forward-mode=io");
    // Flows 0-99 (source ports 1000-1099) go to VF 0 through the switch.
    pmd.flow_create(
        "0 transfer pattern eth / ipv4 / udp src spec 1000 src last 1099 src mask 0xffff / end \
         actions represented_port ethdev_port_id 1 / count / end",
    );
    pmd.ask("port start all", &["Done"]);
    pmd.send("start");
    let sent = pmd.wait_stats(1, Duration::from_secs(15), |s| s.tx_packets >= 900);
    pmd.send("stop");
    let transcript = pmd.quit();
    assert_eq!(sent.tx_packets, 900, "{}", transcript);

    let frames: Vec<Vec<u8>> = (0..FRAMES).map(flow_frame).collect();
    let offloaded = read_pcap(&out.join("vf0-offloaded.pcap"));
    let from_host = read_pcap(&out.join("vf0.pcap"));
    assert_eq!(
        offloaded,
        frames[..100].to_vec(),
        "the rule's frames, in order"
    );
    assert_eq!(
        from_host,
        frames[100..].to_vec(),
        "the host's frames, in order"
    );
    assert!(read_pcap(&out.join("vf1.pcap")).is_empty());
    assert!(read_pcap(&out.join("vf1-offloaded.pcap")).is_empty());
}

/// VF 0 sends (`vf0_wire`) while the uplink's wire runs: transfer rules made
/// on VF 0's representor put its port-80 traffic on the wire (the uplink's
/// TX side, `wire_tx_packets`) and its port-81 traffic to VF 1; what no rule
/// takes reaches VF 0's representor's RX (port 1), as mlx5 sends a VF's
/// unmatched traffic to its representor. The counters agree with the rules'
/// hits and with the captures.
#[test]
fn testpmd_vf_sources_go_through_the_rules_and_misses_reach_the_representor() {
    let Some(bench) = Bench::new() else { return };
    let wire = bench.path("wire.pcap");
    write_flows(&wire, 200, 1);
    let vf0 = bench.path("vf0.pcap");
    let frames: Vec<Vec<u8>> = (0..300u16)
        .map(|i| {
            let dport = [80, 81, 9][usize::from(i % 3)];
            udp_frame([10, 2, 0, (i % 50) as u8], [10, 3, 0, 1], 2000 + i, dport)
        })
        .collect();
    write_frames(&vf0, &frames);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,representor=vf[0-1],vf0_wire={}",
        wire.display(),
        vf0.display()
    );
    let mut pmd = bench.start_stopped(&vdev, "--forward-mode=rxonly");
    let out = pmd.flow_create(
        "1 transfer pattern eth / ipv4 / udp dst is 80 / end \
         actions represented_port ethdev_port_id 0 / count / end",
    );
    let across = pmd.flow_create(
        "1 transfer pattern eth / ipv4 / udp dst is 81 / end \
         actions represented_port ethdev_port_id 2 / count / end",
    );
    pmd.ask("port start all", &["Done"]);
    pmd.send("start");
    let rep = pmd.wait_stats(1, Duration::from_secs(15), |s| s.rx_packets >= 100);
    let pf = pmd.wait_stats(0, Duration::from_secs(15), |s| s.rx_packets >= 200);
    let sent = pmd.xstat(1, "vf_tx_packets");
    let to_wire = pmd.xstat(0, "wire_tx_packets");
    let to_vf1 = pmd.xstat(2, "vf_rx_from_switch_packets");
    let to_host = pmd.xstat(1, "vf_tx_to_host_packets");
    let (out_hits, _) = pmd.flow_query(1, out);
    let (across_hits, across_bytes) = pmd.flow_query(1, across);
    std::thread::sleep(Duration::from_millis(200));
    let rep_after = pmd.port_stats(1);
    pmd.send("stop");
    let transcript = pmd.quit();

    assert_eq!(sent, 300, "VF 0 sent its whole capture\n{}", transcript);
    assert_eq!((out_hits, to_wire), (100, 100), "{}", transcript);
    assert_eq!((across_hits, to_vf1), (100, 100), "{}", transcript);
    assert_eq!(across_bytes, 100 * 60);
    assert_eq!(to_host, 100, "{}", transcript);
    assert_eq!(
        rep.rx_packets, 100,
        "the misses reach the representor's RX\n{}",
        transcript
    );
    assert_eq!(
        rep_after.rx_packets, 100,
        "and nothing more (vf0_loops defaults to loops=1)"
    );
    assert_eq!(rep.rx_packets + rep.rx_missed, to_host);
    assert_eq!(rep.rx_bytes, 100 * 60);
    assert_eq!(pf.rx_packets, 200, "the uplink's wire ran beside it");
}

/// VM traffic both ways, captured as flowlift's `--capture-dir` names the
/// files (`capture_dir`, VFs named by `vfN_name`). VF 0 (`vm1`) sends
/// (`vf0_wire`); transfer rules made on the PF with a `represented_port`
/// item naming VF 0's representor put its port-80 flow on the wire and its
/// port-81 flow to VF 1 (`vm2`); the rest reaches port 1's RX, which
/// testpmd's io forwarding sends out of port 0, the PF, to the wire. The
/// uplink's wire comes in on port 0 and goes out of port 1 to VF 0. Each
/// file holds, byte for byte and in order, what left by its path:
/// `uplink.pcap` the host's TX on the PF, `uplink-offloaded.pcap` the rule's
/// frames, `vm1.pcap` the host's TX to VF 0, `vm2-offloaded.pcap` the other
/// rule's; and the counters agree (the PF's TX-packets, `wire_tx_packets`,
/// the rules' hits, the VF's `vf_tx_*`).
#[test]
fn testpmd_vm_traffic_both_ways_captured_by_port_name() {
    let Some(bench) = Bench::new() else { return };
    let wire = bench.path("wire.pcap");
    const WIRE: u16 = 200;
    write_flows(&wire, WIRE, 1);
    let vf0 = bench.path("vf0-egress.pcap");
    let vm1_sent: Vec<Vec<u8>> = (0..300u16)
        .map(|i| {
            let dport = [80, 81, 9][usize::from(i % 3)];
            udp_frame([10, 2, 0, (i % 50) as u8], [10, 3, 0, 1], 2000 + i, dport)
        })
        .collect();
    write_frames(&vf0, &vm1_sent);
    let out = bench.path("out");
    std::fs::create_dir(&out).unwrap();
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,representor=vf[0-1],vf0_wire={},\
         vf0_name=vm1,vf1_name=vm2,capture_dir={}",
        wire.display(),
        vf0.display(),
        out.display()
    );
    let mut pmd = bench.start_stopped(&vdev, "--forward-mode=io");
    let to_wire = pmd.flow_create(
        "0 transfer pattern represented_port ethdev_port_id is 1 / eth / \
         ipv4 dst is 10.3.0.1 / udp dst is 80 / end \
         actions represented_port ethdev_port_id 0 / count / end",
    );
    let to_vm2 = pmd.flow_create(
        "0 transfer pattern represented_port ethdev_port_id is 1 / eth / \
         ipv4 dst is 10.3.0.1 / udp dst is 81 / end \
         actions represented_port ethdev_port_id 2 / count / end",
    );
    pmd.ask("port start all", &["Done"]);
    pmd.send("start");
    let pf = pmd.wait_stats(0, Duration::from_secs(15), |s| {
        s.rx_packets >= u64::from(WIRE) && s.tx_packets >= 100
    });
    let rep = pmd.wait_stats(1, Duration::from_secs(15), |s| {
        s.rx_packets >= 100 && s.tx_packets >= u64::from(WIRE)
    });
    let wire_tx = pmd.xstat(0, "wire_tx_packets");
    let sent = pmd.xstat(1, "vf_tx_packets");
    let vf_to_wire = pmd.xstat(1, "vf_tx_to_wire_packets");
    let vf_to_vf = pmd.xstat(1, "vf_tx_to_vf_packets");
    let vf_to_host = pmd.xstat(1, "vf_tx_to_host_packets");
    let vm2_got = pmd.xstat(2, "vf_rx_from_switch_packets");
    let (out_hits, out_bytes) = pmd.flow_query(0, to_wire);
    let (across_hits, _) = pmd.flow_query(0, to_vm2);
    pmd.send("stop");
    let transcript = pmd.quit();

    assert_eq!(sent, 300, "VF 0 sent its whole capture\n{transcript}");
    assert_eq!(
        (out_hits, out_bytes, vf_to_wire),
        (100, 100 * 60, 100),
        "{transcript}"
    );
    assert_eq!(
        (across_hits, vf_to_vf, vm2_got),
        (100, 100, 100),
        "{transcript}"
    );
    assert_eq!(vf_to_host, 100, "{transcript}");
    assert_eq!(
        (rep.rx_packets, rep.rx_missed, rep.tx_packets),
        (100, 0, u64::from(WIRE)),
        "port 1: VF 0's misses in, the wire out to VF 0\n{transcript}"
    );
    assert_eq!(
        (pf.rx_packets, pf.tx_packets, pf.tx_bytes),
        (u64::from(WIRE), 100, 100 * 60),
        "port 0: the wire in, VF 0's misses out to the wire\n{transcript}"
    );
    assert_eq!(
        wire_tx, 200,
        "the wire's TX: the host's 100 and the rule's 100\n{transcript}"
    );

    let of_port = |dport: u16| -> Vec<Vec<u8>> {
        vm1_sent
            .iter()
            .filter(|f| u16::from_be_bytes([f[36], f[37]]) == dport)
            .cloned()
            .collect()
    };
    let holds = |name: &str, want: &[Vec<u8>], what: &str| {
        let got = read_pcap(&out.join(name));
        let first_off = got.iter().zip(want).position(|(g, w)| g != w);
        assert!(
            got.len() == want.len() && first_off.is_none(),
            "{name} ({what}): {} frames, {} expected, first difference at {first_off:?}",
            got.len(),
            want.len()
        );
    };
    holds("uplink.pcap", &of_port(9), "the host's TX on the PF");
    holds(
        "uplink-offloaded.pcap",
        &of_port(80),
        "the rule's to the wire",
    );
    let wire_frames: Vec<Vec<u8>> = (0..WIRE).map(flow_frame).collect();
    holds("vm1.pcap", &wire_frames, "the host's TX to VF 0");
    holds("vm1-offloaded.pcap", &[], "no rule to VF 0");
    holds("vm2-offloaded.pcap", &of_port(81), "the rule's to VF 1");
    holds("vm2.pcap", &[], "the host sent VF 1 nothing");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "uplink-offloaded.pcap",
            "uplink.pcap",
            "vm1-offloaded.pcap",
            "vm1.pcap",
            "vm2-offloaded.pcap",
            "vm2.pcap"
        ],
        "files by port name only"
    );
}

/// The CPUs a thread of process `pid` named `name` may run on
/// (`Cpus_allowed_list` of /proc), if there is such a thread.
fn thread_cpus(pid: u32, name: &str) -> Option<String> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(task.path().join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned());
        }
    }
    None
}

/// `switch_cpu=1`: the switch thread (`flowlift-sw0`) may run on CPU 1
/// only, whatever CPU testpmd's main lcore has; its busy and idle time show
/// as the PF's `switch_busy_cycles` / `switch_idle_cycles`. A CPU that does
/// not exist fails the PF's start, with the reason in the log.
#[test]
fn testpmd_switch_thread_pinned_and_its_cycles_reported() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    write_flows(&capture, 1000, 1);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,switch_cpu=1",
        capture.display()
    );
    let mut pmd = bench.start(&vdev, &["--forward-mode=rxonly", "--no-flush-rx"]);
    pmd.wait_for(
        Duration::from_secs(20),
        "runs on CPU 1",
        "no word of the switch's CPU",
    );
    let cpus = thread_cpus(pmd.child.id(), "flowlift-sw0");
    pmd.send("start");
    pmd.wait_stats(0, Duration::from_secs(15), |s| s.rx_packets >= 1000);
    std::thread::sleep(Duration::from_millis(100));
    let busy = pmd.xstat(0, "switch_busy_cycles");
    let idle = pmd.xstat(0, "switch_idle_cycles");
    pmd.send("stop");
    let transcript = pmd.quit();
    assert_eq!(cpus.as_deref(), Some("1"), "{}", transcript);
    assert!(busy > 0, "the switch moved 1000 frames: {busy}");
    assert!(idle > busy, "then idled: busy {busy}, idle {idle}");

    let vdev = format!(
        "net_flowlift0,wire={},loops=1,switch_cpu=1023",
        capture.display()
    );
    let mut pmd = bench.start(&vdev, &["--forward-mode=rxonly"]);
    let why = pmd.wait_for(Duration::from_secs(20), "cannot pin", "no refusal logged");
    assert!(why.contains("switch_cpu=1023"), "{why}");
    pmd.quit();
}

/// A paced wire does not wait for the host, as a physical link does not:
/// with nothing polling, the PF's ring (64 descriptors) fills and the rest
/// is missed; once testpmd polls, RX + missed is the whole wire, and the
/// per-queue stats agree. `clear port xstats` zeroes the counters, as a
/// NIC's.
#[test]
fn testpmd_uplink_rx_plus_imissed_is_the_wire() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    const FRAMES: u64 = 5000;
    write_flows(&capture, FRAMES as u16, 1);
    // 100 000 frames a second: the wire is done in 50 ms.
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,rate_pps=100000",
        capture.display()
    );
    let mut pmd = bench.start(
        &vdev,
        &["--forward-mode=rxonly", "--no-flush-rx", "--rxd=64"],
    );
    pmd.wait_for(
        Duration::from_secs(20),
        "Checking link statuses",
        "testpmd did not start its ports",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pmd.xstat(0, "wire_rx_packets") < FRAMES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    pmd.send("start");
    let stats = pmd.wait_stats(0, Duration::from_secs(10), |s| {
        s.rx_packets + s.rx_missed >= FRAMES
    });
    let wire = pmd.xstat(0, "wire_rx_packets");
    let q0 = pmd.xstat(0, "rx_q0_packets");
    pmd.send("stop");
    pmd.send("clear port xstats 0");
    let cleared = pmd.port_stats(0);
    let wire_cleared = pmd.xstat(0, "wire_rx_packets");
    let transcript = pmd.quit();

    assert_eq!(wire, FRAMES, "{}", transcript);
    assert_eq!(stats.rx_packets + stats.rx_missed, wire, "{}", transcript);
    assert!(stats.rx_missed > 0, "nothing polled while the wire ran");
    assert!(
        (1..=64).contains(&stats.rx_packets),
        "at most a ring's worth got in: {}",
        stats.rx_packets
    );
    assert_eq!(q0, stats.rx_packets, "per-queue stats");
    assert_eq!(stats.rx_errors + stats.rx_nombuf, 0);
    assert_eq!(
        (cleared.rx_packets, cleared.rx_missed),
        (0, 0),
        "{}",
        transcript
    );
    assert_eq!(wire_cleared, 0);
}

impl Testpmd {
    /// `flow indirect_action PORT query ID` of an indirect COUNT: hits and
    /// bytes.
    fn indirect_query(&mut self, port: u16, id: u32) -> (u64, u64) {
        self.send(&format!("flow indirect_action {port} query {id}"));
        self.wait_for(
            Duration::from_secs(5),
            "Indirect COUNT action:",
            &format!("no answer to the query of indirect action {id}"),
        );
        self.hits_and_bytes(&format!("indirect action {id}"))
    }

    /// `show port meter stats PORT ID no`: packets green, yellow, red and
    /// dropped.
    fn meter_stats(&mut self, port: u16, id: u32) -> [u64; 4] {
        self.send(&format!("show port meter stats {port} {id} no"));
        let meter = format!("meter {id}");
        ["Pkts G:", "Pkts Y:", "Pkts R:", "Pkts DROPPED:"].map(|key| self.value(key, &meter))
    }

    /// Sends an rte_mtr command that must succeed (testpmd prints nothing
    /// then): checked by the prompt that follows and no error line.
    fn mtr_ok(&mut self, command: &str) {
        self.send(command);
        self.send("show port meter cap 0");
        let line = self
            .read_until(Duration::from_secs(5), |l| {
                l.contains("(error ") || l.contains("Port Meter Object Capabilities")
            })
            .unwrap_or_else(|| self.fail(&format!("no answer to: {command}")));
        if line.contains("(error ") {
            self.fail(&format!("{command}: {line}"));
        }
    }
}

/// Frame `i` of [`write_capture`]: its source address.
fn source_of(i: u16) -> String {
    format!("10.0.{}.{}", i >> 8, i & 0xff)
}

/// The issue's check of the model by testpmd's own commands, all made
/// before the first packet (`--disable-device-start`), on a paced wire the
/// host does not poll until it is over (so some frames are missed):
///
/// - a transfer rule to VF 0's representor with COUNT: its hits are what
///   VF 0's sink received from the switch;
/// - an ingress DROP counting on an indirect COUNT: after the rule is
///   destroyed (and a counter refresh later), the handle's hits are the
///   switch's drops that were not the meter's;
/// - a transfer rule through an srTCM meter (green passes, yellow and red
///   drop) with COUNT after the METER, to VF 1: its hits are what VF 1 got,
///   and the meter's red packets what VF 1 did not get of the rule's flows;
/// - a fully specified 5-tuple rule (the exact-match table) to VF 2;
/// - uplink RX + missed is what reached the PF's host, and with the rules'
///   share it is the whole wire.
///
/// And refusals as testpmd prints them: a full rule table (`rules=4`), an
/// unknown meter, an indirect COUNT or meter still in use, a meter policy
/// the model cannot do, a meter with an unknown profile.
#[test]
fn testpmd_counts_meters_and_indirect_counts_as_the_issue_asks() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    // Frame i: 10.0.(i/256).(i%256):(1000 + i) -> 10.1.0.1:5001.
    const FRAMES: u64 = 1000;
    write_capture(&capture, FRAMES as u16);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,rate_pps=20000,representor=vf[0-3],\
         rules=4,counter_refresh_ms=100",
        capture.display()
    );
    let mut pmd = bench.start_stopped(&vdev, "--forward-mode=rxonly");

    // A meter of 1000 bytes a second, 600 bytes of committed burst and no
    // excess: the first ten 60-byte frames are green, nearly all the rest red.
    pmd.mtr_ok("add port meter profile srtcm_rfc2697 0 1 1000 600 0 0");
    pmd.mtr_ok("add port meter policy 0 1 g_actions end y_actions drop / end r_actions drop / end");
    pmd.mtr_ok("create port meter 0 1 1 1 yes 255 0 g 0");
    let created = pmd.ask(
        "flow indirect_action 0 create action_id 7 ingress action count / end",
        &["Indirect action #", "Caught PMD error"],
    );
    assert!(created.contains("Indirect action #7 created"), "{created}");

    // Frames 0-99 (ports 1000-1099) to VF 0.
    let to_vf0 = pmd.flow_create(
        "0 transfer pattern eth / ipv4 / udp src spec 1000 src last 1099 src mask 0xffff / end \
         actions represented_port ethdev_port_id 1 / count / end",
    );
    // Frames 512-767 (10.0.2.0/24) dropped, counted on indirect action 7.
    let dropper = pmd.flow_create(
        "0 ingress pattern eth / ipv4 src spec 10.0.2.0 src mask 255.255.255.0 / end \
         actions indirect 7 / drop / end",
    );
    // Frames 100-199 through meter 1, counted after it, to VF 1.
    let metered = pmd.flow_create(
        "0 transfer pattern eth / ipv4 / udp src spec 1100 src last 1199 src mask 0xffff / end \
         actions meter mtr_id 1 / count / represented_port ethdev_port_id 2 / end",
    );
    // Frame 868 alone, by its whole 5-tuple, to VF 2.
    let exact = pmd.flow_create(&format!(
        "0 transfer pattern eth / ipv4 src is {} dst is 10.1.0.1 / udp src is 1868 dst is 5001 / end \
         actions represented_port ethdev_port_id 3 / count / end",
        source_of(868)
    ));
    let full =
        pmd.flow_refused("0 ingress pattern eth / ipv4 src is 10.9.9.9 / end actions drop / end");
    assert!(
        full.contains("Caught PMD error type 1 (cause unspecified)")
            && full.contains("No space left on device"),
        "{full}"
    );
    let no_meter = pmd.ask(
        "flow validate 0 ingress pattern eth / end actions meter mtr_id 99 / drop / end",
        &["Flow rule validated", "Caught PMD error"],
    );
    assert!(
        no_meter.contains("Caught PMD error type 16 (specific action)")
            && no_meter.contains("Invalid argument"),
        "{no_meter}"
    );
    let busy = pmd.ask(
        "flow indirect_action 0 destroy action_id 7",
        &["Indirect action #7 destroyed", "Caught PMD error"],
    );
    assert!(
        busy.contains("Caught PMD error type 16") && busy.contains("Device or resource busy"),
        "{busy}"
    );
    let in_use = pmd.ask("del port meter 0 1", &["(error "]);
    assert!(
        in_use.contains("cause unspecified") && in_use.contains("(error 1)"),
        "{in_use}"
    );
    let policy = pmd.ask(
        "add port meter policy 0 2 g_actions queue index 0 / end y_actions end r_actions drop / end",
        &["(error "],
    );
    assert!(policy.contains("(error 14)"), "meter policy: {policy}");
    let profile = pmd.ask("create port meter 0 2 9 1 yes 255 0 g 0", &["(error "]);
    assert!(
        profile.contains("meter profile id") && profile.contains("(error 2)"),
        "{profile}"
    );

    // The wire starts with the PF; the host polls only once it is over.
    pmd.ask("port start all", &["Done"]);
    let wire = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            pmd.xstat(0, "wire_rx_packets")
        })
        .find(|w| *w == FRAMES)
        .unwrap_or_else(|| pmd.fail("the paced wire did not finish"));
    pmd.send("start");
    let host = FRAMES - 100 - 256 - 100 - 1;
    let pf = pmd.wait_stats(0, Duration::from_secs(10), |s| {
        s.rx_packets + s.rx_missed >= host
    });
    let (hits0, bytes0) = pmd.flow_query(0, to_vf0);
    let vf0 = pmd.xstat(1, "vf_rx_from_switch_packets");
    let vf0_bytes = pmd.xstat(1, "vf_rx_from_switch_bytes");
    let (hits1, _) = pmd.flow_query(0, metered);
    let vf1 = pmd.xstat(2, "vf_rx_from_switch_packets");
    let [green, yellow, red, meter_dropped] = pmd.meter_stats(0, 1);
    let (hits2, _) = pmd.flow_query(0, exact);
    let vf2 = pmd.xstat(3, "vf_rx_from_switch_packets");
    let dropped = pmd.xstat(0, "switch_drop_packets");
    let destroyed = pmd.ask(
        &format!("flow destroy 0 rule {dropper}"),
        &["destroyed", "Caught PMD error"],
    );
    assert!(destroyed.contains("destroyed"), "{destroyed}");
    // Counters are the device's cache: the final count shows from the next
    // refresh (counter_refresh_ms=100) on.
    std::thread::sleep(Duration::from_millis(250));
    let (drop_hits, drop_bytes) = pmd.indirect_query(0, 7);
    let freed = pmd.ask(
        "flow indirect_action 0 destroy action_id 7",
        &["Indirect action #7 destroyed", "Caught PMD error"],
    );
    pmd.send("stop");
    let transcript = pmd.quit();

    assert_eq!(wire, FRAMES);
    assert_eq!((hits0, bytes0), (100, 6000), "{}", transcript);
    assert_eq!((vf0, vf0_bytes), (hits0, bytes0), "hits are what VF 0 got");
    assert_eq!(green + yellow + red, 100, "the meter saw the rule's flows");
    assert_eq!(yellow, 0, "no excess burst: nothing is yellow");
    assert!(
        green >= 10 && red >= 50,
        "G {green} R {red}\n{}",
        transcript
    );
    assert_eq!(hits1, vf1, "COUNT after METER: what the policy passed");
    assert_eq!(red, 100 - vf1, "red is what VF 1 did not get");
    assert_eq!(meter_dropped, red + yellow);
    assert_eq!(
        (hits2, vf2),
        (1, 1),
        "the exact-match rule took its one frame"
    );
    assert_eq!((drop_hits, drop_bytes), (256, 256 * 60), "{}", transcript);
    assert_eq!(
        dropped,
        drop_hits + meter_dropped,
        "every drop is accounted for"
    );
    assert!(freed.contains("destroyed"), "{freed}");
    assert_eq!(pf.rx_packets + pf.rx_missed, host, "{}", transcript);
    assert!(
        pf.rx_missed > 0,
        "the host's ring overflowed while it was not polled\n{}",
        transcript
    );
    assert_eq!(
        pf.rx_packets + pf.rx_missed + vf0 + vf1 + vf2 + dropped,
        wire,
        "uplink RX + missed + what the rules took is the whole wire"
    );
    eprintln!(
        "wire {wire}: PF RX {} + missed {}, VF0 {vf0} (rule hits {hits0}), VF1 {vf1} \
         (meter G {green} Y {yellow} R {red}), VF2 {vf2}, dropped {dropped} \
         (indirect COUNT {drop_hits} after destroy + meter {meter_dropped})",
        pf.rx_packets, pf.rx_missed
    );
}

/// The insertion rate (`inserts_per_sec=5`: a burst of one, then one every
/// 200 ms) and the fault devargs, as testpmd shows them: an injected busy
/// refusal on every 3rd creation, a failed read on every 2nd query, and
/// switch stalls that make a paced wire's frames missed.
#[test]
fn testpmd_meets_the_insertion_rate_and_injected_faults() {
    let Some(bench) = Bench::new() else { return };
    let capture = bench.path("wire.pcap");
    const FRAMES: u64 = 4000;
    write_capture(&capture, FRAMES as u16);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,rate_pps=20000,representor=vf[0-1],\
         inserts_per_sec=5,fault_busy_every=3,fault_query_every=2,\
         fault_stall_ms=60,fault_stall_every_ms=100,counter_refresh_ms=0",
        capture.display()
    );
    let mut pmd = bench.start_stopped(&vdev, "--forward-mode=rxonly");

    let rule = |port: u16| {
        format!("0 ingress pattern eth / ipv4 / udp dst is {port} / end actions drop / count / end")
    };
    let first = pmd.flow_create(&rule(1));
    let over = pmd.flow_refused(&rule(2));
    assert!(
        over.contains("Caught PMD error type 1 (cause unspecified)")
            && over.contains("insertion rate")
            && over.contains("Device or resource busy"),
        "{over}"
    );
    std::thread::sleep(Duration::from_millis(250));
    // The 3rd creation that passes the checks is refused by the fault.
    let injected = pmd.flow_refused(&rule(2));
    assert!(
        injected.contains("injected fault") && injected.contains("Device or resource busy"),
        "{injected}"
    );
    std::thread::sleep(Duration::from_millis(250));
    pmd.flow_create(&rule(2));
    // Queries: the 1st reads, the 2nd fails.
    assert_eq!(pmd.flow_query(0, first), (0, 0));
    let failed = pmd.ask(
        &format!("flow query 0 {first} count"),
        &["Caught PMD error", "hits:"],
    );
    assert!(
        failed.contains("Caught PMD error type 1 (cause unspecified)")
            && failed.contains("Input/output error"),
        "{failed}"
    );

    // Stalls of 60 ms every 100 ms on a 200 ms paced wire: what arrives
    // during a stall is missed, and nothing is lost from the books.
    pmd.ask("port start all", &["Done"]);
    pmd.send("start");
    let pf = pmd.wait_stats(0, Duration::from_secs(10), |s| {
        s.rx_packets + s.rx_missed >= FRAMES
    });
    let wire = pmd.xstat(0, "wire_rx_packets");
    pmd.send("stop");
    let transcript = pmd.quit();
    assert_eq!(wire, FRAMES, "{}", transcript);
    assert_eq!(pf.rx_packets + pf.rx_missed, FRAMES, "{}", transcript);
    assert!(
        pf.rx_missed > 0,
        "stalls of the switch miss frames of a paced wire\n{}",
        transcript
    );
    eprintln!(
        "wire {wire}: PF RX {} + missed {} (stalls of 60 ms every 100 ms)",
        pf.rx_packets, pf.rx_missed
    );
}
