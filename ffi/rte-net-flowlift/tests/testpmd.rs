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

/// A private directory (mode 0700 from tempfile) under `target/tmp` with the
/// PMD at mode 0755.
fn plugin_dir() -> (tempfile::TempDir, PathBuf) {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for dir in base.ancestors() {
        let mode = std::fs::metadata(dir).map_or(0, |m| m.permissions().mode());
        assert!(
            mode & 0o002 == 0,
            "{} is world writable: EAL would refuse the plugin (set CARGO_TARGET_DIR elsewhere)",
            dir.display()
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("flowlift-pmd-test")
        .tempdir_in(base)
        .expect("temporary directory");
    let so = dir.path().join("librte_net_flowlift.so");
    std::fs::copy(pmd_so(), &so).expect("copy the PMD");
    std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, so)
}

/// Writes `n` distinct 60-byte UDP/IPv4 frames (one flow each) as a pcap.
fn write_capture(path: &Path, n: u16) {
    let mut w =
        PcapWriter::new(std::fs::File::create(path).expect("create capture")).expect("pcap header");
    for i in 0..n {
        let frame = udp_frame(
            [10, 0, (i >> 8) as u8, i as u8],
            [10, 1, 0, 1],
            1000 + i,
            5001,
        );
        w.write_packet(&PcapPacket::new(
            Duration::from_micros(u64::from(i)),
            frame.len() as u32,
            &frame,
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

/// An interactive testpmd, its stdout line-buffered (`stdbuf`) so that each
/// command's answer can be read before the next is sent.
struct Testpmd {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything read so far, for failure messages.
    transcript: Vec<String>,
}

impl Testpmd {
    fn start(testpmd: &Path, plugin: &Path, vdev: &str, app_args: &[&str]) -> Testpmd {
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
            .arg("-d")
            .arg(plugin)
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
            transcript: Vec::new(),
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
                    self.transcript.push(line.clone());
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
        let header = format!("NIC statistics for port {port} ");
        self.read_until(Duration::from_secs(5), |l| l.contains(&header))
            .unwrap_or_else(|| self.fail(&format!("no stats for port {port}")));
        let mut s = PortStats::default();
        for _ in 0..4 {
            let line = self
                .read_until(Duration::from_secs(5), |_| true)
                .unwrap_or_else(|| self.fail("stats cut short"));
            s.read(&line);
        }
        s
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
        let mut read = |key: &str| -> u64 {
            let line = self
                .read_until(Duration::from_secs(5), |l| l.trim_start().starts_with(key))
                .unwrap_or_else(|| self.fail(&format!("no {key} for rule {rule}")));
            line.trim_start()[key.len()..]
                .trim()
                .parse()
                .unwrap_or_else(|_| self.fail(&line))
        };
        let hits = read("hits:");
        let bytes = read("bytes:");
        (hits, bytes)
    }

    /// One of `show port xstats PORT`'s values.
    fn xstat(&mut self, port: u16, name: &str) -> u64 {
        self.send(&format!("show port xstats {port}"));
        let key = format!("{name}:");
        let line = self
            .read_until(Duration::from_secs(5), |l| l.starts_with(&key))
            .unwrap_or_else(|| self.fail(&format!("no xstat {name} on port {port}")));
        line[key.len()..]
            .trim()
            .parse()
            .unwrap_or_else(|_| self.fail(&line))
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
    fn quit(mut self) -> Vec<String> {
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
            self.transcript.push(line);
        }
        std::mem::take(&mut self.transcript)
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "{why}\n--- testpmd transcript ---\n{}",
            self.transcript.join("\n")
        );
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
#[test]
fn testpmd_sees_five_ports_and_receives_the_whole_wire() {
    let Some(testpmd) = testpmd() else { return };
    let (dir, so) = plugin_dir();
    let capture = dir.path().join("wire.pcap");
    const FRAMES: u16 = 1000;
    const LOOPS: u64 = 2;
    write_capture(&capture, FRAMES);
    let vdev = format!(
        "net_flowlift0,wire={},loops={LOOPS},representor=vf[0-3]",
        capture.display()
    );
    let started = Instant::now();
    let mut pmd = Testpmd::start(
        &testpmd,
        &so,
        &vdev,
        &["--forward-mode=io", "--no-flush-rx"],
    );

    pmd.send("show port summary all");
    let count = pmd
        .read_until(Duration::from_secs(20), |l| {
            l.starts_with("Number of available ports:")
        })
        .unwrap_or_else(|| pmd.fail("testpmd did not list its ports"));
    assert_eq!(count.trim(), "Number of available ports: 5", "{count}");
    let mut names = Vec::new();
    for _ in 0..6 {
        let line = pmd
            .read_until(Duration::from_secs(5), |_| true)
            .unwrap_or_else(|| pmd.fail("port summary cut short"));
        names.push(line);
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

    let context = || format!("--- testpmd transcript ---\n{}", transcript.join("\n"));
    assert_eq!(pf.rx_packets, want, "PF RX\n{}", context());
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
        vf0.tx_packets,
        want,
        "io forwarding sends port 0's RX out of port 1\n{}",
        context()
    );
    assert_eq!(vf0.tx_bytes, want * 60);
    assert!(
        transcript.iter().any(|l| l.contains("Bye")),
        "testpmd did not quit cleanly\n{}",
        context()
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
    let Some(testpmd) = testpmd() else { return };
    let (dir, so) = plugin_dir();
    let capture = dir.path().join("wire.pcap");
    // Frame i: 10.0.(i/256).(i%256):(1000 + i) -> 10.1.0.1:5001.
    write_capture(&capture, 1000);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,representor=vf[0-3]",
        capture.display()
    );
    let mut pmd = Testpmd::start(
        &testpmd,
        &so,
        &vdev,
        &[
            "--forward-mode=rxonly",
            "--no-flush-rx",
            "--disable-device-start",
        ],
    );
    pmd.read_until(Duration::from_secs(20), |l| {
        l.contains("Interactive-mode selected")
    })
    .unwrap_or_else(|| pmd.fail("testpmd did not start"));

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
    let context = || format!("--- testpmd transcript ---\n{}", transcript.join("\n"));

    assert_eq!(wire, 1000, "{}", context());
    assert_eq!((hits, bytes), (100, 6000), "{}", context());
    assert_eq!(
        (vf0, vf0_bytes),
        (hits, bytes),
        "the rule's hits are what VF 0 got"
    );
    assert_eq!((drops, dropped), (256, 256), "{}", context());
    assert_eq!(pf.rx_packets, host, "{}", context());
    assert_eq!(pf.rx_missed, 0);
    assert_eq!(pf.rx_packets + pf.rx_missed + vf0 + dropped, wire);
}

/// A devarg the device does not know fails the probe, with the PMD's reason in
/// the log, and testpmd sees no port.
#[test]
fn testpmd_refuses_an_unknown_devarg() {
    let Some(testpmd) = testpmd() else { return };
    let (_dir, so) = plugin_dir();
    let mut pmd = Testpmd::start(&testpmd, &so, "net_flowlift0,wyre=x", &[]);
    let why = pmd
        .read_until(Duration::from_secs(20), |l| l.contains("unknown devarg"))
        .unwrap_or_else(|| pmd.fail("no refusal logged"));
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

impl Testpmd {
    /// `flow indirect_action PORT query ID` of an indirect COUNT: hits and
    /// bytes.
    fn indirect_query(&mut self, port: u16, id: u32) -> (u64, u64) {
        self.send(&format!("flow indirect_action {port} query {id}"));
        self.read_until(Duration::from_secs(5), |l| {
            l.contains("Indirect COUNT action:")
        })
        .unwrap_or_else(|| self.fail(&format!("no answer to the query of indirect action {id}")));
        let mut read = |key: &str| -> u64 {
            let line = self
                .read_until(Duration::from_secs(5), |l| l.trim_start().starts_with(key))
                .unwrap_or_else(|| self.fail(&format!("no {key} for indirect action {id}")));
            line.trim_start()[key.len()..]
                .trim()
                .parse()
                .unwrap_or_else(|_| self.fail(&line))
        };
        let hits = read("hits:");
        let bytes = read("bytes:");
        (hits, bytes)
    }

    /// `show port meter stats PORT ID no`: packets green, yellow, red and
    /// dropped.
    fn meter_stats(&mut self, port: u16, id: u32) -> [u64; 4] {
        self.send(&format!("show port meter stats {port} {id} no"));
        let mut out = [0; 4];
        for (i, key) in ["Pkts G:", "Pkts Y:", "Pkts R:", "Pkts DROPPED:"]
            .iter()
            .enumerate()
        {
            let line = self
                .read_until(Duration::from_secs(5), |l| l.trim_start().starts_with(key))
                .unwrap_or_else(|| self.fail(&format!("no '{key}' for meter {id}")));
            out[i] = line.trim_start()[key.len()..]
                .trim()
                .parse()
                .unwrap_or_else(|_| self.fail(&line));
        }
        out
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
    let Some(testpmd) = testpmd() else { return };
    let (dir, so) = plugin_dir();
    let capture = dir.path().join("wire.pcap");
    // Frame i: 10.0.(i/256).(i%256):(1000 + i) -> 10.1.0.1:5001.
    const FRAMES: u64 = 1000;
    write_capture(&capture, FRAMES as u16);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,rate_pps=20000,representor=vf[0-3],\
         rules=4,counter_refresh_ms=100",
        capture.display()
    );
    let mut pmd = Testpmd::start(
        &testpmd,
        &so,
        &vdev,
        &[
            "--forward-mode=rxonly",
            "--no-flush-rx",
            "--disable-device-start",
        ],
    );
    pmd.read_until(Duration::from_secs(20), |l| {
        l.contains("Interactive-mode selected")
    })
    .unwrap_or_else(|| pmd.fail("testpmd did not start"));

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
    let context = || format!("--- testpmd transcript ---\n{}", transcript.join("\n"));

    assert_eq!(wire, FRAMES);
    assert_eq!((hits0, bytes0), (100, 6000), "{}", context());
    assert_eq!((vf0, vf0_bytes), (hits0, bytes0), "hits are what VF 0 got");
    assert_eq!(green + yellow + red, 100, "the meter saw the rule's flows");
    assert_eq!(yellow, 0, "no excess burst: nothing is yellow");
    assert!(green >= 10 && red >= 50, "G {green} R {red}\n{}", context());
    assert_eq!(hits1, vf1, "COUNT after METER: what the policy passed");
    assert_eq!(red, 100 - vf1, "red is what VF 1 did not get");
    assert_eq!(meter_dropped, red + yellow);
    assert_eq!(
        (hits2, vf2),
        (1, 1),
        "the exact-match rule took its one frame"
    );
    assert_eq!((drop_hits, drop_bytes), (256, 256 * 60), "{}", context());
    assert_eq!(
        dropped,
        drop_hits + meter_dropped,
        "every drop is accounted for"
    );
    assert!(freed.contains("destroyed"), "{freed}");
    assert_eq!(pf.rx_packets + pf.rx_missed, host, "{}", context());
    assert!(
        pf.rx_missed > 0,
        "the host's ring overflowed while it was not polled\n{}",
        context()
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
    let Some(testpmd) = testpmd() else { return };
    let (dir, so) = plugin_dir();
    let capture = dir.path().join("wire.pcap");
    const FRAMES: u64 = 4000;
    write_capture(&capture, FRAMES as u16);
    let vdev = format!(
        "net_flowlift0,wire={},loops=1,rate_pps=20000,representor=vf[0-1],\
         inserts_per_sec=5,fault_busy_every=3,fault_query_every=2,\
         fault_stall_ms=60,fault_stall_every_ms=100,counter_refresh_ms=0",
        capture.display()
    );
    let mut pmd = Testpmd::start(
        &testpmd,
        &so,
        &vdev,
        &[
            "--forward-mode=rxonly",
            "--no-flush-rx",
            "--disable-device-start",
        ],
    );
    pmd.read_until(Duration::from_secs(20), |l| {
        l.contains("Interactive-mode selected")
    })
    .unwrap_or_else(|| pmd.fail("testpmd did not start"));

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
    let context = || format!("--- testpmd transcript ---\n{}", transcript.join("\n"));
    assert_eq!(wire, FRAMES, "{}", context());
    assert_eq!(pf.rx_packets + pf.rx_missed, FRAMES, "{}", context());
    assert!(
        pf.rx_missed > 0,
        "stalls of the switch miss frames of a paced wire\n{}",
        context()
    );
    eprintln!(
        "wire {wire}: PF RX {} + missed {} (stalls of 60 ms every 100 ms)",
        pf.rx_packets, pf.rx_missed
    );
}
