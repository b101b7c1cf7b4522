//! OVS-DPDK as a contender: a private `ovsdb-server` and `ovs-vswitchd-dpdk` in a
//! temp directory (never the system instance), one netdev bridge whose two DPDK
//! ports are the same `net_pcap` capture and `net_null` sink the other contenders
//! use, the PMD on CPU 1. OVS prints no rates, so the forwarded rate is read once
//! per second from port 2's TX counter, and cycles per packet from
//! `dpif-netdev/pmd-perf-show` at the end. Both processes are killed when the
//! [`Ovs`] guard drops, on success and on every error path alike.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::capture::five_tuples;
use crate::contenders::{RunResult, Setup};

/// OVS 3.1 sizes its shared mempool at 262,144 mbufs whatever the capture needs.
pub const POOL_MBUFS: u64 = 262_144;
/// Mbufs OVS needs beside the capture: RX/TX descriptors (2048 each by default),
/// per-lcore mempool caches and packets in flight; kept generous so a capture
/// that is refused here would also be refused by OVS.
const POOL_RESERVE: u64 = 16_384;

const VSWITCHD: &str = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk";
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Generous: DPDK init, `net_pcap` loading the capture and 200K rules each take
/// seconds on a busy 2-CPU machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(240);

/// Which OpenFlow rules the bridge gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// `in_port=1,actions=output:2`: the cheapest useful pipeline.
    InPort,
    /// One exact 5-tuple rule per flow of the capture: the job flowlift does.
    FiveTuple,
}

/// Why OVS cannot run `setup`'s capture at all, known before starting it.
pub fn cannot_run(setup: &Setup) -> Option<String> {
    (setup.packets + POOL_RESERVE > POOL_MBUFS).then(|| {
        format!(
            "OVS-DPDK's mempool is fixed at {POOL_MBUFS} mbufs and net_pcap infinite_rx \
             holds all {} packets of the capture in mbufs",
            setup.packets
        )
    })
}

/// One OpenFlow rule per distinct 5-tuple of `capture`, in order of first
/// appearance.
pub fn five_tuple_rules(capture: &Path) -> anyhow::Result<Vec<String>> {
    let mut seen = HashSet::new();
    Ok(five_tuples(capture)?
        .into_iter()
        .filter(|t| seen.insert(*t))
        .map(|t| rule(t.src, t.dst, t.tcp, t.sport, t.dport))
        .collect())
}

fn rule(src: IpAddr, dst: IpAddr, tcp: bool, sport: u16, dport: u16) -> String {
    let (proto, field) = match (src, tcp) {
        (IpAddr::V4(_), true) => ("tcp", "nw"),
        (IpAddr::V4(_), false) => ("udp", "nw"),
        (IpAddr::V6(_), true) => ("tcp6", "ipv6"),
        (IpAddr::V6(_), false) => ("udp6", "ipv6"),
    };
    format!(
        "priority=10,in_port=1,{proto},{field}_src={src},{field}_dst={dst},\
         tp_src={sport},tp_dst={dport},actions=output:2"
    )
}

/// What a run adds to the common setup: EAL arguments after the common
/// ones (a driver's `-d`, `--vdev`s) and `other_config` settings
/// (`hw-offload=true`), both read when ovs-vswitchd starts.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub eal: String,
    pub other_config: Vec<String>,
}

/// A private OVS: its directory and the processes started in it. Dropping it
/// stops them (SIGTERM, then SIGKILL) and removes the directory.
#[derive(Debug)]
pub struct Ovs {
    dir: PathBuf,
    db: Option<Child>,
    vswitchd: Option<Child>,
    /// EAL's `--file-prefix` (its runtime directory, its telemetry socket).
    file_prefix: String,
}

impl Ovs {
    /// Starts ovsdb-server and ovs-vswitchd-dpdk (DPDK initialised, no bridge yet).
    pub fn start(scratch: &Path, tag: &str) -> anyhow::Result<Ovs> {
        Ovs::start_with(scratch, tag, &Extra::default())
    }

    /// [`Ovs::start`] with `extra` EAL arguments and `other_config` settings.
    pub fn start_with(scratch: &Path, tag: &str, extra: &Extra) -> anyhow::Result<Ovs> {
        let dir = scratch.join(format!("ovs-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        // The guard exists before the first process does, so `?` below cleans up.
        let mut ovs = Ovs {
            dir,
            db: None,
            vswitchd: None,
            file_prefix: format!("perf-ovs-{}-{tag}", std::process::id()),
        };
        let db = ovs.dir.join("conf.db");
        ovs.tool("ovsdb-tool", &["create", &path(&db), SCHEMA])?;
        let sock = ovs.dir.join("db.sock");
        let mut c = ovs.command("ovsdb-server");
        c.arg(&db)
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!(
                "--pidfile={}",
                ovs.dir.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                ovs.dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                ovs.dir.join("ovsdb-server.log").display()
            ))
            .arg("--no-chdir");
        ovs.db = Some(spawn(c, "ovsdb-server")?);
        ovs.wait_for(&sock, "ovsdb-server's socket")?;
        ovs.vsctl(&["--no-wait", "init"])?;
        // OVS 3.1 adds --in-memory, which EAL refuses with --no-huge, unless
        // --legacy-mem is given; the file prefix keeps its EAL apart from others'.
        let mut eal = format!(
            "--no-huge -m {} --no-pci --legacy-mem --no-shconf --file-prefix={}",
            OVS_MEMORY_MB, ovs.file_prefix
        );
        if !extra.eal.is_empty() {
            eal = format!("{eal} {}", extra.eal);
        }
        let dpdk_extra = format!("other_config:dpdk-extra=\"{eal}\"");
        let mut settings = vec![
            "--no-wait",
            "set",
            "Open_vSwitch",
            ".",
            "other_config:dpdk-init=true",
            "other_config:dpdk-lcore-mask=0x1",
            "other_config:pmd-cpu-mask=0x2",
            &dpdk_extra,
        ];
        settings.extend(extra.other_config.iter().map(String::as_str));
        ovs.vsctl(&settings)?;
        let mut c = ovs.command(VSWITCHD);
        c.arg(format!("unix:{}", sock.display()))
            .arg(format!(
                "--pidfile={}",
                ovs.dir.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!("--unixctl={}", ovs.ctl().display()))
            .arg(format!(
                "--log-file={}",
                ovs.dir.join("ovs-vswitchd.log").display()
            ))
            .arg("--no-chdir");
        ovs.vswitchd = Some(spawn(c, "ovs-vswitchd-dpdk")?);
        ovs.wait_for(&ovs.ctl(), "ovs-vswitchd's control socket")?;
        Ok(ovs)
    }

    /// Creates br0 with `rules` installed, then its two ports: the rules are in
    /// place before the first packet arrives.
    pub fn bridge(&mut self, setup: &Setup, rules: &[String]) -> anyhow::Result<()> {
        // fail-mode secure: no default NORMAL rule forwarding before ours land.
        self.vsctl(&[
            "add-br",
            "br0",
            "--",
            "set",
            "Bridge",
            "br0",
            "datapath_type=netdev",
            "fail-mode=secure",
        ])?;
        let file = self.dir.join("flows.txt");
        let mut text = String::with_capacity(rules.len() * 110);
        for r in rules {
            let _ = writeln!(text, "{r}");
        }
        std::fs::write(&file, text).with_context(|| format!("write {}", file.display()))?;
        self.tool(
            "ovs-ofctl",
            &["--bundle", "replace-flows", "br0", &path(&file)],
        )?;
        self.appctl(&["revalidator/purge"])?;
        let rx = format!(
            "options:dpdk-devargs=\"net_pcap0,rx_pcap={},infinite_rx=1\"",
            setup.capture.display()
        );
        // Descriptors as for the other contenders; ofport_request fixes the port
        // numbers the rules name.
        let desc_rx = format!("options:n_rxq_desc={}", setup.descriptors);
        let desc_tx = format!("options:n_txq_desc={}", setup.descriptors);
        self.vsctl(&[
            "add-port",
            "br0",
            "p0",
            "--",
            "set",
            "Interface",
            "p0",
            "type=dpdk",
            "ofport_request=1",
            &rx,
            &desc_rx,
            &desc_tx,
            "--",
            "add-port",
            "br0",
            "p1",
            "--",
            "set",
            "Interface",
            "p1",
            "type=dpdk",
            "ofport_request=2",
            "options:dpdk-devargs=\"net_null1,no-rx=1\"",
            &desc_rx,
            &desc_tx,
        ])?;
        for port in ["p0", "p1"] {
            let err = self.vsctl(&["get", "Interface", port, "error"])?;
            let err = err.trim();
            if !err.is_empty() && err != "[]" {
                bail!("OVS port {port} failed: {err}");
            }
        }
        Ok(())
    }

    /// Packets port 2 (the sink) has sent.
    pub fn tx_packets(&self) -> anyhow::Result<u64> {
        let out = self.tool("ovs-ofctl", &["dump-ports", "br0", "2"])?;
        parse_tx_packets(&out).with_context(|| format!("no tx pkts in dump-ports: {out}"))
    }

    /// Fails when ovs-vswitchd is gone (crashed, or refused the ports).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.vswitchd.as_mut() {
            if let Some(status) = c.try_wait()? {
                bail!(
                    "ovs-vswitchd exited ({status}); log tail:\n{}",
                    self.log_tail()
                );
            }
        }
        Ok(())
    }

    /// The private directory (database, sockets, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// EAL's `--file-prefix` of this ovs-vswitchd.
    pub fn file_prefix(&self) -> &str {
        &self.file_prefix
    }

    /// The process id of ovs-vswitchd, while it runs.
    pub fn vswitchd_pid(&self) -> Option<u32> {
        self.vswitchd.as_ref().map(Child::id)
    }

    /// ovs-vswitchd's whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ovs-vswitchd.log")).unwrap_or_default()
    }

    /// The end of ovs-vswitchd's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("ovs-vswitchd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    pub fn appctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-t".to_owned(), path(&self.ctl())];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.tool("ovs-appctl", &all)
    }

    pub fn vsctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let db = format!("--db=unix:{}", self.dir.join("db.sock").display());
        let timeout = format!("--timeout={}", STEP_TIMEOUT.as_secs());
        let mut all = vec![db.as_str(), timeout.as_str()];
        all.extend_from_slice(args);
        self.tool("ovs-vsctl", &all)
    }

    fn ctl(&self) -> PathBuf {
        self.dir.join("ovs-vswitchd.ctl")
    }

    /// A command whose OVS directories all point into the private directory, so
    /// no tool can reach the system instance by default paths.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            c.env(var, &self.dir);
        }
        c.current_dir(&self.dir);
        c
    }

    /// Runs a short-lived OVS tool and returns its stdout.
    pub fn tool(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn wait_for(&mut self, file: &Path, what: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while !file.exists() {
            self.check_alive()?;
            if let Some(c) = self.db.as_mut() {
                if let Some(status) = c.try_wait()? {
                    bail!("ovsdb-server exited ({status}) before {what} appeared");
                }
            }
            if Instant::now() > deadline {
                bail!("{what} did not appear within {STEP_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// EAL memory for OVS: its 262,144-mbuf pool takes a 4 KiB page per mbuf with
/// `--no-huge` (1 GiB), plus its other pools and heaps.
const OVS_MEMORY_MB: u32 = 4096;

impl Drop for Ovs {
    fn drop(&mut self) {
        // ovs-vswitchd first: it is the one holding CPU 1 and the DPDK memory.
        for child in [self.vswitchd.take(), self.db.take()].into_iter().flatten() {
            stop(child);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(mut c: Command, what: &str) -> anyhow::Result<Child> {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {what}"))
}

/// SIGTERM lets OVS exit cleanly; SIGKILL after 5 s if it does not.
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `tx pkts=24394207, bytes=0, ...` in `ovs-ofctl dump-ports` output.
pub fn parse_tx_packets(text: &str) -> Option<u64> {
    let rest = &text[text.find("tx pkts=")? + "tx pkts=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `Rx packets: 24641152  (2822 Kpps, 438 cycles/pkt)` in `pmd-perf-show`.
pub fn parse_cycles_per_packet(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains("Rx packets:"))?;
    let before = &line[..line.find(" cycles/pkt")?];
    before.rsplit([' ', ',', '(']).next()?.parse().ok()
}

/// The datapath's hit shares from `pmd-perf-show` (`EMC hits: ... ( 99.9 %)`),
/// for the log: they say why a rate is what it is.
pub fn hit_shares(text: &str) -> String {
    let mut parts = Vec::new();
    for (label, short) in [
        // OVS 3.1 serves an in_port-only table from its "simple match" cache.
        ("Simple Match hits:", "simple match"),
        ("EMC hits:", "EMC"),
        ("SMC hits:", "SMC"),
        ("Megaflow hits:", "megaflow"),
        ("Upcalls:", "upcalls"),
        ("Lost upcalls:", "lost upcalls"),
    ] {
        if let Some(line) = text.lines().find(|l| l.contains(label)) {
            if let Some(share) = line.split('(').nth(1).and_then(|s| s.split('%').next()) {
                parts.push(format!("{short} {}%", share.trim()));
            }
        }
    }
    parts.join(", ")
}

/// Runs OVS with `rules` on `setup` until `samples` per-second rates are in.
pub fn run(
    rules: Rules,
    setup: &Setup,
    samples: usize,
    scratch: &Path,
    tag: &str,
    timeout: Duration,
) -> anyhow::Result<RunResult> {
    let flows = match rules {
        Rules::InPort => vec!["in_port=1,actions=output:2".to_owned()],
        Rules::FiveTuple => five_tuple_rules(&setup.capture)?,
    };
    let mut ovs = Ovs::start(scratch, tag)?;
    ovs.bridge(setup, &flows)
        .with_context(|| format!("set up br0; log tail:\n{}", ovs.log_tail()))?;
    let deadline = Instant::now() + timeout;
    let mut result = RunResult::default();
    let mut last = (Instant::now(), ovs.tx_packets()?);
    while result.mpps.len() < samples {
        if Instant::now() > deadline {
            bail!(
                "OVS forwarded nothing for {timeout:?} ({} samples); log tail:\n{}",
                result.mpps.len(),
                ovs.log_tail()
            );
        }
        std::thread::sleep(
            (last.0 + Duration::from_secs(1)).saturating_duration_since(Instant::now()),
        );
        ovs.check_alive()?;
        let now = (Instant::now(), ovs.tx_packets()?);
        let secs = now.0.duration_since(last.0).as_secs_f64();
        let mpps = now.1.saturating_sub(last.1) as f64 / secs / 1e6;
        last = now;
        // As for testpmd: seconds before forwarding starts are not samples.
        if mpps > 0.0 || !result.mpps.is_empty() {
            if result.mpps.is_empty() {
                // Warm: packets flow. Cycles count from here, like the rates
                // that `steady` keeps.
                ovs.appctl(&["dpif-netdev/pmd-stats-clear"])?;
            }
            result.mpps.push(mpps);
        }
    }
    let perf = ovs.appctl(&["dpif-netdev/pmd-perf-show"])?;
    result.cycles_per_packet = parse_cycles_per_packet(&perf);
    eprintln!("flowlift-perf:   OVS PMD: {}", hit_shares(&perf));
    drop(ovs);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERF: &str = "pmd thread numa_id 0 core_id 1:\n\n  Iterations:               770033  (5.40 us/it)\n  \
        Rx packets:             24641152  (2822 Kpps, 438 cycles/pkt)\n  \
        - Simple Match hits:           0  (  0.0 %)\n  - EMC hits:             24624448  ( 99.9 %)\n  - SMC hits:                    0  (  0.0 %)\n  \
        - Megaflow hits:              94  (  0.0 %, 1.00 subtbl lookups/hit)\n  \
        - Upcalls:                     1  (  0.0 %, 0.0 us/upcall)\n  - Lost upcalls:            16577  (  0.1 %)\n";

    #[test]
    fn reads_pmd_perf_show() {
        assert_eq!(parse_cycles_per_packet(PERF), Some(438.0));
        assert_eq!(
            hit_shares(PERF),
            "simple match 0.0%, EMC 99.9%, SMC 0.0%, megaflow 0.0%, upcalls 0.0%, lost upcalls 0.1%"
        );
    }

    #[test]
    fn reads_dump_ports() {
        let text = "OFPST_PORT reply (xid=0x2): 1 ports\n  port  2: rx pkts=0, bytes=0, drop=0, errs=0, frame=?, over=?, crc=?\n           tx pkts=24394207, bytes=0, drop=0, errs=0, coll=?\n";
        assert_eq!(parse_tx_packets(text), Some(24_394_207));
        assert_eq!(parse_tx_packets("port 2: rx pkts=5"), None);
    }

    #[test]
    fn writes_rules_per_family_and_protocol() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let v4b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            rule(v4, v4b, false, 1000, 53),
            "priority=10,in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1000,tp_dst=53,actions=output:2"
        );
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert!(rule(v6, v6, true, 1, 2)
            .starts_with("priority=10,in_port=1,tcp6,ipv6_src=::1,ipv6_dst=::1,"));
    }

    /// Needs root and openvswitch-switch-dpdk, which `scripts/setup` installs
    /// and CI runs as (2 s). A port OVS cannot open must fail the run and still
    /// leave no process or directory behind.
    #[test]
    fn a_failed_start_leaves_nothing_running() {
        let scratch =
            std::env::temp_dir().join(format!("flowlift-perf-test-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let setup = Setup {
            capture: scratch.join("missing.pcap"),
            packets: 1,
            mbufs: 0,
            memory_mb: 0,
            descriptors: 1024,
            burst: 32,
            vf_mac: String::new(),
        };
        let err = run(
            Rules::InPort,
            &setup,
            3,
            &scratch,
            "t",
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("p0"), "{err:#}");
        assert!(!scratch.join("ovs-t").exists());
        let needle = scratch.display().to_string();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(&needle),
                "left running: {}",
                String::from_utf8_lossy(&cmdline)
            );
        }
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn refuses_captures_larger_than_its_pool() {
        let mut setup = Setup {
            capture: PathBuf::from("x.pcap"),
            packets: 65_536,
            mbufs: 131_071,
            memory_mb: 2048,
            descriptors: 1024,
            burst: 32,
            vf_mac: String::new(),
        };
        assert!(cannot_run(&setup).is_none());
        setup.packets = 1_048_576;
        assert!(cannot_run(&setup).unwrap().contains("262144 mbufs"));
    }
}
