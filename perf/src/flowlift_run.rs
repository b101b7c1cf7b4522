//! One flowlift appliance run as a child process, for the harnesses that vary
//! its configuration (offload on/off, VF count, rule capacity, tick): the
//! config file, the run itself (it stops by itself after `--duration`), the
//! per-second status lines and the final report read back, and optionally one
//! scrape of its `/metrics` near the end.
//!
//! The appliance's ports are the NIC model's (`net_flowlift`, built into
//! flowlift): the uplink is the PF, whose wire replays the capture from the
//! model's memory, and each VF port is one of its representors; with offload
//! on, flowlift drives the model through rte_flow as it would a ConnectX. The
//! model's switch is a thread of the PMD's own, pinned to a CPU of the run's
//! choosing (`switch_cpu=`); its CPU is read back apart (the status line's
//! `nic model busy`, the report's `NIC model's switch` line): it stands for
//! the NIC's hardware, not the host.
//!
//! Each run gets its own control socket and metrics port, so it never meets
//! another flowlift on the machine (a developer's demo, another test).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The port that feeds the appliance; every other port is a VF.
pub const UPLINK: &str = "uplink";

/// One status line (`[    5s] rx/tx/drop Mpps: uplink ... | busy 25% | nic 72%
/// rules 857/1024 flows 79873 (857 offloaded) | nic model busy 70%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusSample {
    pub elapsed_s: u64,
    /// RX of the uplink (the workers' and the rules'): what left the wire in
    /// the interval.
    pub offered_mpps: f64,
    /// TX of every port but the uplink: what reached the VFs, by either path.
    pub delivered_mpps: f64,
    /// The workers' busy share of their poll loops over the interval.
    pub busy_pct: f64,
    /// Share of the interval's packets the NIC's rules carried (offload on).
    pub nic_share_pct: Option<f64>,
    /// Rules installed at the end of the interval (offload on).
    pub rules: Option<u32>,
    /// The NIC model's switch thread: its busy share over the interval
    /// (present whenever the uplink is the model, offload on or off).
    pub nic_model_busy_pct: Option<f64>,
}

/// Reads a status line; anything else is `None`.
pub fn parse_status(line: &str) -> Option<StatusSample> {
    let (elapsed, rest) = line.strip_prefix('[')?.split_once("s]")?;
    let elapsed_s = elapsed.trim().parse().ok()?;
    let mut parts = rest
        .trim_start()
        .strip_prefix("rx/tx/drop Mpps:")?
        .split(" | ");
    let mut ports = parts.next()?.split_whitespace();
    let (mut offered_mpps, mut delivered_mpps) = (0.0, 0.0);
    while let Some(name) = ports.next() {
        let mut rates = ports.next()?.split('/');
        let rx: f64 = rates.next()?.parse().ok()?;
        let tx: f64 = rates.next()?.parse().ok()?;
        if name == UPLINK {
            offered_mpps += rx;
        } else {
            delivered_mpps += tx;
        }
    }
    let busy_pct = parts
        .next()?
        .strip_prefix("busy ")?
        .strip_suffix('%')?
        .parse()
        .ok()?;
    let mut s = StatusSample {
        elapsed_s,
        offered_mpps,
        delivered_mpps,
        busy_pct,
        nic_share_pct: None,
        rules: None,
        nic_model_busy_pct: None,
    };
    for part in parts {
        if let Some(busy) = part.strip_prefix("nic model busy ") {
            s.nic_model_busy_pct = Some(number_after(busy, "")?);
        } else if part.starts_with("nic ") {
            s.nic_share_pct = Some(number_after(part, "nic ")?);
            s.rules = Some(number_after(part, "rules ")?);
        }
    }
    Some(s)
}

/// The number right after `key` in `text` (digits and a decimal point).
pub fn number_after<T: FromStr>(text: &str, key: &str) -> Option<T> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// What the final report says, read line by line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalReport {
    /// Worker lines seen (`lcore 1: CPU cycles/packet=...`), and their sums.
    pub workers: usize,
    pub worker_busy_cycles: u64,
    pub worker_packets: u64,
    pub tsc_mhz: Option<f64>,
    /// TX-packets of the `Accumulated forward statistics` block: every packet
    /// delivered, by the workers or by the NIC's rules.
    pub delivered_packets: Option<u64>,
    /// `Carried by the NIC: H packets (S%), ...`
    pub nic_packets: Option<u64>,
    pub nic_share_pct: Option<f64>,
    /// `NIC model's switch: busy Z% (a model of hardware: ...)`, over the
    /// whole run (printed with offload on).
    pub nic_busy_pct: Option<f64>,
    /// `Offload (rte_flow, 1024 rules, T ticks): installs N, ...`
    pub offload_ticks: Option<u64>,
    pub installs: Option<u64>,
    in_accumulated: bool,
}

impl FinalReport {
    pub fn line(&mut self, line: &str) {
        let l = line.trim_start();
        if l.contains("Accumulated forward statistics") {
            self.in_accumulated = true;
        } else if l.starts_with("TX-packets:") && self.in_accumulated {
            self.delivered_packets = number_after(l, "TX-packets: ");
        } else if l.starts_with("lcore ") && l.contains("CPU cycles/packet=") {
            self.workers += 1;
            self.worker_busy_cycles += number_after(l, "busy cycles=").unwrap_or(0);
            self.worker_packets += number_after(l, "/ packets=").unwrap_or(0);
            self.tsc_mhz = number_after(l, ") at ");
        } else if l.starts_with("Carried by the NIC:") {
            self.nic_packets = number_after(l, "Carried by the NIC: ");
            self.nic_share_pct = number_after(l, " packets (");
        } else if l.starts_with("NIC model's switch:") {
            self.nic_busy_pct = number_after(l, ": busy ");
        } else if l.starts_with("Offload (") {
            self.offload_ticks = number_after(l, " rules, ");
            self.installs = number_after(l, "installs ");
        }
    }

    /// The report of a run's whole output.
    pub fn of(lines: &[String]) -> FinalReport {
        let mut r = FinalReport::default();
        for l in lines {
            r.line(l);
        }
        r
    }
}

/// The offload knobs a run sets (`[offload]`, backend `rte_flow`); `None` in
/// [`Appliance`] is `backend = "none"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffloadKnobs {
    pub max_rules: u32,
    pub tick_ms: u32,
    pub promote_pps: f64,
    pub demote_pps: f64,
    pub hold: u32,
}

impl OffloadKnobs {
    fn section(&self) -> String {
        format!(
            "backend = \"rte_flow\"\nmax_rules = {}\ntick_ms = {}\n\
             promote_pps = {:.1}\ndemote_pps = {:.1}\nhold = {}\n",
            self.max_rules, self.tick_ms, self.promote_pps, self.demote_pps, self.hold
        )
    }
}

/// EAL's lcore-to-CPU map of every run: the main lcore on CPU 0, the one
/// worker (lcore 1) alone on CPU 1.
pub const LCORES: &str = "0@0,1@1";

/// Where the NIC model's switch thread runs (`switch_cpu=`): beside the main
/// lcore, which sleeps between ticks, so the worker keeps CPU 1 to itself.
pub const SWITCH_CPU: u32 = 0;

/// How one appliance is set up: the capture on the NIC model's wire (replayed
/// forever, unpaced: as fast as the host and the switch take it), `vfs` VF
/// representors with the MACs 02:00:00:00:00:01.., one worker on lcore 1.
#[derive(Debug, Clone)]
pub struct Appliance {
    pub flowlift: PathBuf,
    /// The PF's wire, as devargs: a capture replayed ([`replay`]) or a
    /// generated wire (`gen=...`).
    pub wire: String,
    /// VF ports, 1..=32: VF `i` (port `vf{i+1}`) on representor `i`.
    pub vfs: u8,
    /// The CPU the NIC model's switch thread is pinned to.
    pub switch_cpu: u32,
    pub offload: Option<OffloadKnobs>,
    /// Where the config and the control socket go.
    pub scratch: PathBuf,
}

/// The wire devargs that replay `capture` forever, unpaced.
pub fn replay(capture: &std::path::Path) -> String {
    format!("wire={},loops=0", capture.display())
}

impl Appliance {
    /// The PF's device: the model's wire, its representors, its switch's CPU.
    /// Counters are the model's default cache (1 s, as mlx5's), so the
    /// status line's NIC share reads the rules' counters as flowlift does.
    pub fn uplink_device(&self) -> String {
        let representors = match self.vfs {
            0 | 1 => "vf0".to_owned(),
            n => format!("vf[0-{}]", n - 1),
        };
        format!(
            "net_flowlift0,{},representor={representors},switch_cpu={}",
            self.wire, self.switch_cpu
        )
    }

    /// The TOML config of this appliance. Mbufs and EAL memory are left to
    /// flowlift (the wire is the model's memory, not mbufs).
    pub fn config(&self) -> String {
        let mut text = format!(
            r#"[eal]
args = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "--lcores={LCORES}", "--file-prefix=perf-run-{pid}"]
[dataplane]
worker_lcores = [1]
[[port]]
name = "{UPLINK}"
role = "uplink"
device = "{device}"
"#,
            pid = std::process::id(),
            device = self.uplink_device(),
        );
        for vf in 1..=self.vfs {
            let _ = write!(
                text,
                "[[port]]\nname = \"vf{vf}\"\nrole = \"vf\"\nmac = \"02:00:00:00:00:{vf:02x}\"\n\
                 device = \"net_flowlift0_representor_vf{}\"\n",
                vf - 1
            );
        }
        text += "[offload]\n";
        match &self.offload {
            Some(k) => text += &k.section(),
            None => text += "backend = \"none\"\n",
        }
        text
    }
}

/// Capture load, EAL start and the staged stop take seconds on a busy machine.
const START_AND_STOP: Duration = Duration::from_secs(120);

/// The last lines of a log, for an error message.
pub fn tail(lines: &[String], n: usize) -> String {
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn read_lines(r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || BufReader::new(r).lines().map_while(Result::ok).collect())
}

/// What a run printed, and its `/metrics` text if asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub lines: Vec<String>,
    pub metrics: Option<String>,
    /// With [`Scrape::EverySecond`]: `/metrics` at each status line, with
    /// the line's second.
    pub scrapes: Vec<(u64, String)>,
}

/// When a run's `/metrics` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scrape {
    Never,
    /// Once, at the status line of second `seconds - 1`.
    NearTheEnd,
    /// At every status line (a time series); none is required.
    EverySecond,
}

/// A TCP port nobody listens on now (the kernel's choice), for `/metrics`.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `GET /metrics` over plain HTTP/1.0; the body.
pub fn scrape(addr: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no HTTP header in the /metrics answer")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.") && head.contains(" 200"),
        "/metrics answered {}",
        head.lines().next().unwrap_or("")
    );
    Ok(body.to_owned())
}

/// The value of the metric line `name` (no labels) in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Runs `app` for `seconds` (it stops itself) and returns its stdout lines;
/// with `scrape_metrics`, `/metrics` is read once the status line of second
/// `seconds - 1` is out (the counters then cover the run, the process still
/// serves).
pub fn run(app: &Appliance, seconds: u64, scrape_metrics: bool) -> anyhow::Result<RunOutput> {
    let scrape = if scrape_metrics {
        Scrape::NearTheEnd
    } else {
        Scrape::Never
    };
    run_scraping(app, seconds, scrape, &[])
}

/// [`run`], with `/metrics` read as `scrape` says and `extra` arguments to
/// `flowlift run` (`--flow-log FILE`, ...). A run whose wire ends first
/// stops before `seconds`.
pub fn run_scraping(
    app: &Appliance,
    seconds: u64,
    scrape: Scrape,
    extra: &[&str],
) -> anyhow::Result<RunOutput> {
    let scrape_metrics = scrape != Scrape::Never;
    let config = app.scratch.join("flowlift-run.toml");
    std::fs::write(&config, app.config()).with_context(|| format!("write {}", config.display()))?;
    let socket = app.scratch.join("flowlift-run.sock");
    let metrics_addr = if scrape_metrics {
        format!("127.0.0.1:{}", free_port()?)
    } else {
        String::new()
    };
    let mut child = Command::new(&app.flowlift)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--socket")
        .arg(&socket)
        .args(["--metrics", &metrics_addr])
        .args(["--duration", &seconds.to_string(), "--status-every", "1"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start flowlift")?;
    let stdout = child.stdout.take().context("flowlift's stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = read_lines(child.stderr.take().context("flowlift's stderr")?);
    let deadline = Instant::now() + Duration::from_secs(seconds) + START_AND_STOP;
    let mut out = RunOutput::default();
    let mut scrape_error = None;
    let status = loop {
        while let Ok(line) = rx.try_recv() {
            if scrape == Scrape::EverySecond {
                if let Some(st) = parse_status(&line) {
                    // A scrape that fails (the run stopping) ends the series.
                    if let Ok(m) = self::scrape(&metrics_addr) {
                        out.scrapes.push((st.elapsed_s, m));
                    }
                }
            }
            let due = scrape == Scrape::NearTheEnd
                && out.metrics.is_none()
                && scrape_error.is_none()
                && parse_status(&line).is_some_and(|s| s.elapsed_s + 1 >= seconds);
            out.lines.push(line);
            if due {
                match self::scrape(&metrics_addr) {
                    Ok(m) => out.metrics = Some(m),
                    Err(e) => scrape_error = Some(e),
                }
            }
        }
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = reader.join();
    out.lines.extend(rx.try_iter());
    let err = stderr.join().unwrap_or_default();
    match status {
        None => bail!(
            "flowlift did not stop within {:?} of its --duration {seconds}; last output:\n{}",
            START_AND_STOP,
            tail(&out.lines, 20)
        ),
        Some(s) if !s.success() => bail!(
            "flowlift failed ({s}):\n{}\n{}",
            tail(&out.lines, 10),
            tail(&err, 10)
        ),
        Some(_) => {
            if let Some(e) = scrape_error {
                return Err(e.context("scraping flowlift's /metrics"));
            }
            if scrape == Scrape::NearTheEnd && out.metrics.is_none() {
                bail!(
                    "no status line of second {} to scrape /metrics at; last output:\n{}",
                    seconds.saturating_sub(1),
                    tail(&out.lines, 10)
                );
            }
            Ok(out)
        }
    }
}

/// The status lines after `warmup_s` seconds with packets delivered.
pub fn steady_samples(lines: &[String], warmup_s: u64) -> Vec<StatusSample> {
    lines
        .iter()
        .filter_map(|l| parse_status(l))
        .filter(|s| s.elapsed_s > warmup_s && s.delivered_mpps > 0.0)
        .collect()
}

/// A scratch directory of this process, removed by the caller.
pub fn scratch_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("flowlift-perf-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_nic_model_and_the_offered_rate() {
        let line = "[    5s] rx/tx/drop Mpps: uplink 6.11/0.00/0.00 vf1 0.00/2.00/0.00 vf2 0.00/4.10/0.00 | busy 26% | nic 72% rules 857/1024 flows 79873 (857 offloaded) | nic model busy 70%";
        let s = parse_status(line).unwrap();
        assert_eq!(s.offered_mpps, 6.11);
        assert!((s.delivered_mpps - 6.10).abs() < 1e-9);
        assert_eq!(s.nic_share_pct, Some(72.0));
        assert_eq!(s.rules, Some(857));
        assert_eq!(s.nic_model_busy_pct, Some(70.0));
        // Offload off: the model still runs the wire and reports its CPU.
        let off = "[    2s] rx/tx/drop Mpps: uplink 9.00/0.00/0.00 vf1 0.00/9.00/0.00 | busy 100% | nic model busy 41%";
        let s = parse_status(off).unwrap();
        assert_eq!((s.nic_share_pct, s.nic_model_busy_pct), (None, Some(41.0)));
    }

    #[test]
    fn reads_a_metric_without_labels() {
        let text = "# HELP x\nflowlift_offload_install_latency_seconds_sum 0.25\n\
                    flowlift_offload_install_latency_seconds_count 5\n\
                    flowlift_offload_installs_total{result=\"ok\"} 5\n";
        assert_eq!(
            metric(text, "flowlift_offload_install_latency_seconds_sum"),
            Some(0.25)
        );
        assert_eq!(
            metric(text, "flowlift_offload_install_latency_seconds_count"),
            Some(5.0)
        );
        assert_eq!(metric(text, "flowlift_offload_installs_total"), None);
    }

    #[test]
    fn configs_have_one_representor_per_vf_and_the_offload_knobs() {
        let app = Appliance {
            flowlift: "flowlift".into(),
            wire: replay(std::path::Path::new("/tmp/c.pcap")),
            vfs: 12,
            switch_cpu: 0,
            offload: Some(OffloadKnobs {
                max_rules: 256,
                tick_ms: 10,
                promote_pps: 50.0,
                demote_pps: 12.5,
                hold: 3,
            }),
            scratch: "/tmp".into(),
        };
        let c = app.config();
        assert!(c.contains(
            "device = \"net_flowlift0,wire=/tmp/c.pcap,loops=0,representor=vf[0-11],switch_cpu=0\""
        ));
        assert!(c.contains("02:00:00:00:00:0c") && c.contains("net_flowlift0_representor_vf11\""));
        assert!(!c.contains("representor_vf12"));
        assert!(c.contains("backend = \"rte_flow\"") && !c.contains("lcore ="));
        assert!(c.contains("max_rules = 256") && c.contains("tick_ms = 10"));
        assert!(c.contains("--lcores=0@0,1@1\""));
        let one = Appliance {
            vfs: 1,
            switch_cpu: 1,
            offload: None,
            ..app
        };
        assert!(one
            .uplink_device()
            .ends_with(",representor=vf0,switch_cpu=1"));
        assert!(one.config().contains("backend = \"none\""));
    }
}
