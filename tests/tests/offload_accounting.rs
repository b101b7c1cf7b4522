//! The offload issue's acceptance test: a heavy-tailed capture of thousands of
//! flows whose hot set moves (four phases, each a rotation of the Zipf ranks),
//! replayed several times on the NIC model's wire (`net_flowlift`, driven
//! through rte_flow) with a rule table far smaller than the flows and
//! thresholds low enough that hundreds of promotions, demotions and evictions
//! happen. After exit:
//! - the flow log summed by flow equals, for every flow, the packets and bytes
//!   computed from the input, exactly, and each line's `sw_packets + hw_packets`
//!   is its `packets`;
//! - the VF captures the PMD writes (what the workers sent each VF, and what
//!   the NIC's rules delivered to it) hold every packet once, and the rules'
//!   file holds what their counters say;
//! - no rule is left installed, in flowlift's count and in the device's.
//!
//! The same again with the PMD refusing installs (`fault_nospace_every`,
//! `fault_busy_every`) and failing counter queries (`fault_query_every`) on
//! purpose: the accounting stays exact and the failures are reported by
//! reason.
//!
//! The device's counters are live here (`counter_refresh_ms=0`): the hot
//! sets move every few tens of milliseconds, and a rule's rate must follow
//! them for flows to change hands this often (`rte_flow_on_model` runs the
//! cached counters of a real NIC).

use std::collections::HashMap;
use std::path::Path;

use flowlift_tests::model::{self, VfCapture, VFS};
use flowlift_tests::{
    describe, final_counters, flow_log_lines, flowlift, number_after, one_at_a_time, oracle_flows,
    read_pcap, sum_by_tuple, tuple_of, write_pcap,
};
use flowlift_traffic::{generate, TrafficSpec};

const FLOWS: u32 = 3000;
const PHASES: usize = 4;
const PACKETS_PER_PHASE: u64 = 50_000;
const LOOPS: u64 = 8;

/// The capture: every flow's frame (a flow's frames are identical), and the
/// replayed sequence. Phase `p` gives flow `i` the packet count of rank
/// `(i + p * FLOWS / PHASES) % FLOWS`, so each phase has a new hot set.
fn phased_capture(dir: &Path) -> Vec<Vec<u8>> {
    let spec = TrafficSpec {
        flows: FLOWS,
        packets: PACKETS_PER_PHASE,
        seed: 7,
        ..TrafficSpec::default()
    };
    let base = dir.join("base.pcap");
    generate(&spec, &base).expect("generate");
    let frames = read_pcap(&base);
    // Distinct frames by count, heaviest first: the flows by Zipf rank.
    let mut counts: HashMap<&Vec<u8>, u64> = HashMap::new();
    for f in &frames {
        *counts.entry(f).or_default() += 1;
    }
    let mut ranked: Vec<(&Vec<u8>, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    assert_eq!(ranked.len(), FLOWS as usize);
    let shift = FLOWS as usize / PHASES;
    let mut out = Vec::new();
    for p in 0..PHASES {
        let mut phase: Vec<&Vec<u8>> = Vec::new();
        for (i, (frame, _)) in ranked.iter().enumerate() {
            let n = ranked[(i + p * shift) % ranked.len()].1;
            phase.extend(std::iter::repeat_n(*frame, n as usize));
        }
        // Spread each flow over its phase: a stride through the list near the
        // golden ratio of its length (coprime with it, so every entry once).
        let len = phase.len();
        let stride = (len * 618 / 1000..len)
            .find(|s| gcd(*s, len) == 1)
            .unwrap_or(1);
        out.extend((0..len).map(|k| phase[(k * stride) % len].clone()));
    }
    out
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The figures of the final report's offload line.
#[derive(Debug, Default)]
struct OffloadLine {
    installs: u64,
    removals: u64,
    cold: u64,
    evicted: u64,
    rules_left: u64,
    text: String,
}

fn offload_line(stdout: &str) -> OffloadLine {
    let text = flowlift_tests::offload_line(stdout);
    OffloadLine {
        installs: number_after(&text, "installs"),
        removals: number_after(&text, "removals"),
        cold: number_after(&text, "cold"),
        evicted: number_after(&text, "evicted"),
        rules_left: number_after(&text, "rules left"),
        text,
    }
}

struct Run {
    stdout: String,
    stderr: String,
    log: Vec<serde_json::Value>,
    /// What each VF received, by path.
    vfs: HashMap<&'static str, VfCapture>,
}

/// The model's PF replaying `input` `LOOPS` times, with `devargs` (faults)
/// added to its own; the switch thread shares the worker's CPU (1), so the
/// control core keeps CPU 0 and its 2 ms tick follows the moving hot sets.
fn run(dir: &Path, input: &Path, devargs: &str) -> Run {
    let tables = "idle_timeout_s = 0.5
[offload]
max_rules = 8
tick_ms = 2
promote_pps = 2000
demote_pps = 500
hold = 2
evict_margin = 1.5
backoff_ms = 10
";
    let device = model::uplink(input, LOOPS) + ",counter_refresh_ms=0,switch_cpu=1" + devargs;
    let cfg = model::config(dir, &device, tables);
    let out_dir = dir.join("out");
    let log = dir.join("flows.jsonl");
    let out = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--capture-dir",
        out_dir.to_str().unwrap(),
        "--flow-log",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "{}",
        describe(&out)
    );
    Run {
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        log: flow_log_lines(&log),
        vfs: model::vf_captures(&out_dir),
    }
}

/// Checks everything the acceptance list asks of a run; returns its offload
/// line.
fn check_exact(run: &Run, frames: &[Vec<u8>]) -> OffloadLine {
    // Per flow, from the input alone.
    let want = oracle_flows(frames, LOOPS);
    assert_eq!(want.len(), FLOWS as usize);
    let got = sum_by_tuple(&run.log);
    let wrong: Vec<_> = want
        .iter()
        .filter(|(t, w)| got.get(*t) != Some(*w))
        .take(5)
        .map(|(t, w)| format!("{t:?}: want {w:?}, got {:?}", got.get(t)))
        .collect();
    assert!(wrong.is_empty(), "flows counted wrong: {wrong:#?}");
    assert_eq!(got.len(), want.len(), "no flow the input does not have");
    let mut hw_total = 0;
    for v in &run.log {
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        assert_eq!(n("sw_packets") + n("hw_packets"), n("packets"), "{v}");
        assert_eq!(n("sw_bytes") + n("hw_bytes"), n("bytes"), "{v}");
        hw_total += n("hw_packets");
    }

    // Every packet reached its VF once, by one path or the other.
    let mut want_frames: HashMap<&[u8], u64> = HashMap::new();
    for f in frames {
        *want_frames.entry(f).or_default() += LOOPS;
    }
    let mut got_frames: HashMap<&[u8], u64> = HashMap::new();
    for (name, mac) in VFS {
        for f in run.vfs[name].all() {
            assert_eq!(
                f[..6],
                [2, 0, 0, 0, 0, mac],
                "{name} got a frame for another VF"
            );
            *got_frames.entry(f).or_default() += 1;
        }
    }
    assert!(
        got_frames == want_frames,
        "the VF captures hold every packet exactly once"
    );
    let offloaded: u64 = run.vfs.values().map(|c| c.offloaded.len() as u64).sum();
    assert!(offloaded > 0, "the NIC delivered packets");
    assert_eq!(
        offloaded, hw_total,
        "the NIC delivered what its counters say"
    );

    let counters = final_counters(&run.stdout);
    let n = frames.len() as u64 * LOOPS;
    assert_eq!(counters["uplink"].rx_packets, n);
    let tx: u64 = VFS.iter().map(|(name, _)| counters[*name].tx_packets).sum();
    assert_eq!(tx, n);

    let line = offload_line(&run.stdout);
    assert_eq!(line.rules_left, 0, "no rule left installed: {}", line.text);
    assert_eq!(line.installs, line.removals, "{}", line.text);
    assert_eq!(
        model::held_at_close(&run.stderr),
        (0, 0),
        "the device held no rule and no indirect count at close"
    );
    line
}

#[test]
fn hot_flows_move_between_workers_and_nic_and_every_packet_is_counted_once() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let frames = phased_capture(dir.path());
    let input = dir.path().join("phased.pcap");
    write_pcap(&input, &frames);
    let run = run(dir.path(), &input, "");
    let line = check_exact(&run, &frames);
    eprintln!("{}", line.text);
    assert!(
        line.installs >= 200,
        "hundreds of promotions: {}",
        line.text
    );
    assert!(
        line.cold + line.evicted >= 100,
        "hundreds of demotions: {}",
        line.text
    );
    assert!(
        line.evicted >= 20,
        "evictions by hotter flows: {}",
        line.text
    );
    let offloads: u64 = run
        .log
        .iter()
        .map(|v| v["offloads"].as_u64().unwrap())
        .sum();
    assert_eq!(offloads, line.installs, "the flow log's offloads add up");
    let repromoted = run
        .log
        .iter()
        .filter(|v| v["offloads"].as_u64() > Some(1))
        .count();
    assert!(
        repromoted > 0,
        "flows came back to the NIC in a later phase"
    );
}

#[test]
fn refused_installs_and_failed_queries_keep_the_accounting_exact() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let frames = phased_capture(dir.path());
    let input = dir.path().join("phased.pcap");
    write_pcap(&input, &frames);
    let run = run(
        dir.path(),
        &input,
        ",fault_nospace_every=7,fault_busy_every=5,fault_query_every=11",
    );
    let line = check_exact(&run, &frames);
    eprintln!("{}", line.text);
    assert!(line.installs >= 100, "{}", line.text);
    let failed_part = line.text.split("failed").nth(1).unwrap_or("");
    assert!(failed_part.contains("busy"), "{}", line.text);
    assert!(failed_part.contains("no_space"), "{}", line.text);
    // The PMD fails a counter read with EIO, which flowlift files under
    // device_gone.
    assert!(
        line.text.contains("queries failed device_gone"),
        "query failures by reason: {}",
        line.text
    );
    let reasons: Vec<&str> = run
        .log
        .iter()
        .filter_map(|v| v["offload_failure"].as_str())
        .collect();
    assert!(reasons.contains(&"busy") && reasons.contains(&"no_space"));
    let flows = run
        .log
        .iter()
        .map(tuple_of)
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(flows.len(), FLOWS as usize);
}
