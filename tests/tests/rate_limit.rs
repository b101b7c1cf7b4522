//! VF rate limits: a VF limited well under its offered load receives no more
//! than its limit (within 5%), whether the workers carry its flows or the NIC
//! does, the packets over the limit are counted as meter drops, they stay in
//! their flows' totals, and the other VF is not held back.

use std::path::Path;

use flowlift_control::traffic::{generate, TrafficSpec};
use flowlift_dataplane::mac::MacAddr;
use flowlift_tests::{
    describe, flow_log_lines, one_at_a_time, replaced_uplink, replay_config, run_replay,
};

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

#[test]
fn a_rate_limited_vf_gets_its_limit_when_its_flows_are_offloaded() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path());
    let (stdout, times, from_nic, log) = run(
        dir.path(),
        &input,
        "backend = \"emulated\"\nlcore = 2\nmax_rules = 64\ntick_ms = 5\npromote_pps = 100\ndemote_pps = 10\nhold = 1",
    );
    assert!(
        from_nic * 10 >= times.len() * 9,
        "the NIC carried most of vf1's packets: {from_nic} of {}",
        times.len()
    );
    check(&stdout, &times, &log);
}
