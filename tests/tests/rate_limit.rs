//! VF rate limits. On the software path (`--offload none`): a VF limited
//! well under its offered load receives no more than its limit (within 5%),
//! the packets over it are counted as meter drops, they stay in their flows'
//! totals, and the other VF is not held back. On the NIC model through
//! rte_flow (`--offload rte_flow` on `net_flowlift`, a paced wire, hot flows
//! on the NIC): the workers' meter polices what they carry and the NIC's
//! rte_mtr meter what its rules carry, each with the whole limit, as
//! docs/rte_flow.md promises; every packet over the limit is a meter drop
//! of one or the other, exactly; every flow's count stays exact.

use std::path::Path;

use flowlift_dataplane::mac::MacAddr;
use flowlift_tests::model::{self, by_vf, VFS};
use flowlift_tests::{
    describe, final_counters, flow_log_lines, flowlift, one_at_a_time, oracle_flows,
    replaced_uplink, replay_config, run_replay, sum_by_tuple,
};
use flowlift_traffic::{generate, TrafficSpec};
use std::collections::HashMap;

/// vf1's limit, in packets per second.
const LIMIT_PPS: f64 = 20_000.0;

/// Timestamps (seconds) of every frame in a pcap file.
fn stamps(path: &Path) -> Vec<f64> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.expect("record").timestamp.as_secs_f64());
    }
    out
}

/// Runs 3 s of the capture on a loop with `offload` settings; returns stdout,
/// vf1's frame times (both files, sorted) and how many came from the NIC.
fn run(
    dir: &Path,
    input: &Path,
    offload: &str,
) -> (String, Vec<f64>, usize, Vec<serde_json::Value>) {
    let config = format!(
        r#"
[eal]
args = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry"]
[dataplane]
worker_lcores = [1]
[offload]
{offload}
{uplink}
[[port]]
name = "vf1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_null1,no-rx=1"
rate_limit_pps = {LIMIT_PPS}
[[port]]
name = "vf2"
role = "vf"
mac = "02:00:00:00:00:02"
device = "net_null2,no-rx=1"
"#,
        uplink = replaced_uplink(dir)
    );
    let cfg = replay_config(dir, &config);
    let out_dir = dir.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    let log = dir.join("flows.jsonl");
    let out = run_replay(
        &cfg,
        input,
        0,
        &[
            "--duration",
            "3",
            "--capture-dir",
            out_dir.to_str().unwrap(),
            "--flow-log",
            log.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let mut t = stamps(&out_dir.join("vf1.pcap"));
    let nic_file = out_dir.join("vf1-offloaded.pcap");
    let from_nic = if nic_file.exists() {
        let n = stamps(&nic_file);
        let k = n.len();
        t.extend(n);
        k
    } else {
        0
    };
    t.sort_by(f64::total_cmp);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        t,
        from_nic,
        flow_log_lines(&log),
    )
}

fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"));
    text[at + label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after {label:?}"))
}

/// vf1's block of the final report.
fn vf1_block(stdout: &str) -> &str {
    let start = stdout.find("port vf1").expect("vf1's block");
    let end = stdout[start..]
        .find("port vf2")
        .map_or(stdout.len(), |e| start + e);
    &stdout[start..end]
}

fn check(stdout: &str, times: &[f64], log: &[serde_json::Value]) {
    // Past the first burst, the delivered rate is the limit.
    let span = times.last().unwrap() - times.first().unwrap();
    assert!(span > 1.5, "vf1 received over {span:.2}s only");
    let rate = (times.len() - 1) as f64 / span;
    assert!(
        rate <= LIMIT_PPS * 1.05,
        "vf1 received {rate:.0} pps, its limit is {LIMIT_PPS}"
    );
    assert!(
        rate >= LIMIT_PPS * 0.90,
        "vf1 received {rate:.0} pps: the offered load is far above {LIMIT_PPS}, so the meter should pass about that much"
    );
    eprintln!(
        "vf1: {} frames over {span:.3}s = {rate:.0} pps (limit {LIMIT_PPS})",
        times.len()
    );
    let block = vf1_block(stdout);
    let dropped = number_after(block, "Meter-dropped:");
    let sent = number_after(block, "TX-packets:");
    assert_eq!(
        sent as usize,
        times.len(),
        "the report counts what the VF got"
    );
    assert!(dropped > sent, "offered well over the limit: {block}");
    // The flows keep every packet they sent, delivered or metered.
    let to_vf1: u64 = log
        .iter()
        .filter(|v| v["action"] == "output:vf1")
        .map(|v| v["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(
        to_vf1,
        sent + dropped,
        "flow totals = delivered + meter drops"
    );
    // vf2 has no limit: it gets its whole share.
    let vf2: u64 = log
        .iter()
        .filter(|v| v["action"] == "output:vf2")
        .map(|v| v["packets"].as_u64().unwrap())
        .sum();
    assert!(
        vf2 > 2 * to_vf1 / 3,
        "vf2 is not held back: {vf2} vs {to_vf1}"
    );
}

fn capture(dir: &Path) -> std::path::PathBuf {
    let spec = TrafficSpec {
        flows: 40,
        packets: 4000,
        zipf_s: 0.5,
        dst_macs: vec![MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])],
        ..TrafficSpec::default()
    };
    let input = dir.join("in.pcap");
    generate(&spec, &input).expect("generate");
    input
}

#[test]
fn a_rate_limited_vf_gets_its_limit_on_the_software_path() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path());
    let (stdout, times, from_nic, log) = run(dir.path(), &input, "backend = \"none\"");
    assert_eq!(from_nic, 0);
    check(&stdout, &times, &log);
}

/// vm1's limit on the NIC model (packets a second) and its burst (packets):
/// a tenth of a second of credit, so that a worker the shared CPUs hold
/// back for a few milliseconds still gets about the limit.
const MODEL_LIMIT: u64 = 1000;
const MODEL_BURST: u64 = 100;

/// The model's wire: 4 loops of a 20,000-frame capture paced at 40,000
/// frames a second (2 s), vm1 offered about nine times its limit.
const LOOPS: u64 = 4;
const WIRE_PPS: u64 = 40_000;

/// How far a path's capture stamps may stray from its meter's clock: the
/// workers meter a packet when they queue it and the VF's capture stamps it
/// when the TX batch leaves (or once the shared CPUs let the worker run).
const STAMP_SLACK_S: f64 = 0.05;

/// Capture stamps (seconds), sorted; none if the file was not written.
fn stamps_or_none(path: &Path) -> Vec<f64> {
    let mut t = if path.exists() {
        stamps(path)
    } else {
        Vec::new()
    };
    t.sort_by(f64::total_cmp);
    t
}

/// The most frames of `times` (sorted) in any window beyond what `rate` a
/// second allows over the window's length: max over i <= j of
/// `(j - i + 1) - rate * (t_j - t_i)`. A token bucket of `burst` filled at
/// `rate` lets through at most `burst` beyond it.
fn beyond_rate(times: &[f64], rate: f64) -> f64 {
    let mut best = 0.0f64;
    let mut lowest = f64::MAX;
    for (j, t) in times.iter().enumerate() {
        let here = j as f64 - rate * t;
        lowest = lowest.min(here);
        best = best.max(here - lowest + 1.0);
    }
    best
}

/// Sums a numeric field of the flow log's lines for flows to `port`.
fn to_port(log: &[serde_json::Value], port: &str, key: &str) -> u64 {
    log.iter()
        .filter(|v| v["action"] == format!("output:{port}"))
        .map(|v| v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}")))
        .sum()
}

/// A run on the NIC model, with what every test of it checks done.
struct ModelRun {
    stdout: String,
    log: Vec<serde_json::Value>,
    frames: Vec<Vec<u8>>,
    /// vm1's capture stamps: the workers' TX on its representor, the rules'.
    host: Vec<f64>,
    nic: Vec<f64>,
    counters: HashMap<String, flowlift_tests::FinalCounters>,
}

/// Runs the model's wire through `--offload rte_flow` with vm1 rate-limited
/// and `devargs` added to the PF's; checks that it ran to the wire's end,
/// that every flow is exact against the capture, that nothing was missed,
/// and that vm1's meter drops are exactly what it was offered and did not
/// get (`Meter-dropped` = offered - delivered, the NIC's share = its rules'
/// packets - what they delivered). Returns the run for the rest.
fn run_model(devargs: &str) -> ModelRun {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("wire.pcap");
    let frames = model::capture(
        &capture,
        &TrafficSpec {
            flows: 100,
            packets: 20_000,
            seed: 5,
            ..Default::default()
        },
    );
    let caps = dir.path().join("vfs");
    std::fs::create_dir(&caps).unwrap();
    let uplink = format!(
        "{},rate_pps={WIRE_PPS},vf_capture_dir={}{devargs}",
        model::uplink(&capture, LOOPS),
        caps.display()
    );
    // A paced wire does not wait for the host: a deep RX ring takes what
    // comes while the CPUs are busy elsewhere, so no frame is missed.
    let tables = "rx_desc = 32768
[offload]
max_rules = 8
tick_ms = 20
promote_pps = 2000
demote_pps = 500
hold = 2
evict_margin = 1.5
backoff_ms = 10
";
    let limit = format!("rate_limit_pps = {MODEL_LIMIT}\nrate_burst = {MODEL_BURST}");
    let cfg = model::config_with(dir.path(), &uplink, tables, &[("vm1", &limit)]);
    let log_path = dir.path().join("flows.jsonl");
    let out = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--offload",
        "rte_flow",
        "--flow-log",
        log_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "{}",
        describe(&out)
    );
    let log = flow_log_lines(&log_path);

    // Every flow exactly, from the capture alone: a flow's packets include
    // those a meter dropped, on either path.
    let want = oracle_flows(&frames, LOOPS);
    let got = sum_by_tuple(&log);
    let wrong: Vec<_> = want
        .iter()
        .filter(|(t, w)| got.get(*t) != Some(*w))
        .take(5)
        .map(|(t, w)| format!("{t:?}: want {w:?}, got {:?}", got.get(t)))
        .collect();
    assert!(
        wrong.is_empty(),
        "flows counted wrong: {wrong:#?}\n{stdout}"
    );
    assert_eq!(got.len(), want.len(), "no flow the capture does not have");
    for v in &log {
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        assert_eq!(n("sw_packets") + n("hw_packets"), n("packets"), "{v}");
    }
    let counters = final_counters(&stdout);
    let up = &counters["uplink"];
    assert_eq!(
        (up.rx_packets, up.rx_dropped),
        (frames.len() as u64 * LOOPS, 0),
        "the whole wire in, nothing missed\n{stdout}"
    );

    // What vm1 was offered (its flows' packets, by path) and what it got.
    let host = stamps_or_none(&caps.join("vf0.pcap"));
    let nic = stamps_or_none(&caps.join("vf0-offloaded.pcap"));
    let (sw_offered, hw_offered) = (
        to_port(&log, "vm1", "sw_packets"),
        to_port(&log, "vm1", "hw_packets"),
    );
    eprintln!(
        "vm1 offered {sw_offered} to the workers, {hw_offered} to the NIC; got {} and {}",
        host.len(),
        nic.len()
    );
    let vm1 = &counters["vm1"];
    assert_eq!(
        vm1.tx_packets,
        (host.len() + nic.len()) as u64,
        "vm1's TX is what it got\n{stdout}"
    );
    // Exactly: each meter's drops are what its path was offered and did not
    // deliver.
    let workers_dropped = sw_offered - host.len() as u64;
    let nic_dropped = hw_offered - nic.len() as u64;
    assert_eq!(
        (vm1.meter_dropped, vm1.meter_dropped_nic),
        (workers_dropped + nic_dropped, nic_dropped),
        "Meter-dropped = offered - delivered, the NIC's share apart\n{stdout}"
    );
    assert!(workers_dropped > 0, "the limit bit\n{stdout}");

    // The other VFs have no limit: every frame of theirs, no meter drop.
    let vf_want = by_vf(&frames);
    for (name, _) in VFS.iter().skip(1) {
        let c = &counters[*name];
        assert_eq!(
            (c.tx_packets, c.meter_dropped),
            (vf_want[name].0 * LOOPS, 0),
            "{name}\n{stdout}"
        );
    }
    let line = stdout
        .lines()
        .find(|l| l.contains("Offload (rte_flow"))
        .expect("the offload report line");
    assert!(line.ends_with("rules left 0"), "{line}");
    ModelRun {
        stdout,
        log,
        frames,
        host,
        nic,
        counters,
    }
}

/// Checks that `times` (a path's capture stamps) hold to `rate` a second
/// plus `burst` over every window (allowing for the stamps' slack), and
/// that the meter passed about the rate, not far less.
fn within_limit(path: &str, times: &[f64], rate: f64, burst: f64) {
    let over = beyond_rate(times, rate);
    let span = times.last().unwrap() - times.first().unwrap();
    eprintln!(
        "vm1 via the {path}: {} frames over {span:.3}s ({:.0} pps), at most {over:.0} beyond {rate} pps in a window",
        times.len(),
        (times.len() - 1) as f64 / span
    );
    assert!(
        over <= burst + rate * STAMP_SLACK_S,
        "vm1 got {over:.0} frames beyond {rate} pps from the {path} in one window (burst {burst})"
    );
    assert!(
        times.len() as f64 >= 0.5 * rate * span,
        "the {path}' meter passes about the limit, not far less: {} frames in {span:.3}s",
        times.len()
    );
}

#[test]
fn on_the_nic_model_each_path_polices_with_the_whole_limit_and_every_drop_is_counted() {
    let _serial = one_at_a_time();
    let run = run_model("");
    let stdout = &run.stdout;
    assert!(
        stdout.contains("meter yes"),
        "the probe found the model's meters\n{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "rate limits on the NIC: vm1 {MODEL_LIMIT} pps burst {MODEL_BURST} packets (srTCM meter 1 on the PF)"
        )),
        "flowlift says what it made of the limit\n{stdout}"
    );
    let vm1 = &run.counters["vm1"];
    assert!(
        to_port(&run.log, "vm1", "hw_packets") > 0 && !run.nic.is_empty(),
        "vm1's hot flows were on the NIC\n{stdout}"
    );
    assert!(
        vm1.meter_dropped_nic > 0,
        "the NIC's meter bit too\n{stdout}"
    );
    // What docs/rte_flow.md promises: each path at most the limit (over any
    // window, plus the burst), so together at most twice the limit.
    let (rate, burst) = (MODEL_LIMIT as f64, MODEL_BURST as f64);
    within_limit("workers", &run.host, rate, burst);
    within_limit("NIC", &run.nic, rate, burst);
    let mut both: Vec<f64> = run.host.iter().chain(&run.nic).copied().collect();
    both.sort_by(f64::total_cmp);
    assert!(beyond_rate(&both, 2.0 * rate) <= 2.0 * (burst + rate * STAMP_SLACK_S));
    assert!(
        !stdout.contains("Rate limits:"),
        "nothing kept back\n{stdout}"
    );
}

/// A NIC without room for a meter (the model's `meters=0`): the probe says
/// `meter no`, flowlift says why once, and vm1's flows stay on the workers
/// (never on the NIC unmetered), held to the limit by the workers' meter;
/// the other VFs' hot flows still go to the NIC.
#[test]
fn on_a_nic_that_cannot_meter_the_vf_s_flows_stay_on_the_workers() {
    let _serial = one_at_a_time();
    let run = run_model(",meters=0");
    let stdout = &run.stdout;
    assert!(stdout.contains("meter no"), "{stdout}");
    let said = stdout
        .lines()
        .find(|l| l.starts_with("rate limits on the NIC:"))
        .unwrap_or_else(|| panic!("the limits' line\n{stdout}"));
    assert!(
        said.contains("vm1: no NIC meter (the NIC refused a meter: ")
            && said.ends_with("its flows stay on the workers"),
        "{said}"
    );
    assert_eq!(to_port(&run.log, "vm1", "hw_packets"), 0, "{stdout}");
    assert!(run.nic.is_empty(), "nothing reached vm1 through a rule");
    let kept: Vec<_> = run
        .log
        .iter()
        .filter(|v| v["offload_failure"] == "no_meter")
        .collect();
    assert!(
        !kept.is_empty() && kept.iter().all(|v| v["action"] == "output:vm1"),
        "vm1's hot flows say why they stayed: {kept:?}"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("Rate limits:"))
        .unwrap_or_else(|| panic!("the report's rate limits line\n{stdout}"));
    assert!(
        line.contains(&format!(
            "Rate limits: {} flows kept on the workers (no NIC meter for their VF)",
            kept.len()
        )),
        "{line}"
    );
    within_limit("workers", &run.host, MODEL_LIMIT as f64, MODEL_BURST as f64);
    let others_on_nic: u64 = VFS[1..]
        .iter()
        .map(|(name, _)| to_port(&run.log, name, "hw_packets"))
        .sum();
    assert!(others_on_nic > 0, "the other VFs' hot flows on the NIC");
    assert_eq!(run.frames.len(), 20_000);
}
