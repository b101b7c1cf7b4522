//! The offload issue's acceptance test: a heavy-tailed capture of thousands of
//! flows whose hot set moves (four phases, each a rotation of the Zipf ranks),
//! replayed several times through the emulated NIC with a rule table far
//! smaller than the flows and thresholds low enough that hundreds of
//! promotions, demotions and evictions happen. After exit:
//! - the flow log summed by flow equals, for every flow, the packets and bytes
//!   computed from the input, exactly, and each line's `sw_packets + hw_packets`
//!   is its `packets`;
//! - the VF captures (the workers' file and the NIC's file of each VF) hold
//!   every packet once;
//! - no rule is left installed.
//!
//! The same again with the NIC refusing installs (no space, busy) and failing
//! counter queries on purpose: the accounting stays exact and the failures are
//! reported by reason.

use std::collections::HashMap;
use std::path::Path;

use flowlift_control::traffic::{generate, TrafficSpec};
use flowlift_tests::{
    describe, final_counters, flow_log_lines, one_at_a_time, oracle, read_pcap, replaced_uplink,
    replay_config, run_replay, sum_by_tuple, tuple_of, write_pcap, Tuple,
};

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

/// The figures of the final report's offload lines.
#[derive(Debug, Default)]
struct OffloadLine {
    installs: u64,
    removals: u64,
    cold: u64,
    evicted: u64,
    rules_left: u64,
    text: String,
}

fn number_after(text: &str, label: &str) -> u64 {
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

fn offload_line(stdout: &str) -> OffloadLine {
    let text = stdout
        .lines()
        .find(|l| l.contains("Offload (emulated"))
        .expect("the offload report line")
        .to_string();
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
    log: Vec<serde_json::Value>,
    /// Every frame the VFs received, by VF name, from both files of each.
    vf_frames: HashMap<String, Vec<Vec<u8>>>,
    /// Frames of each VF's NIC file.
    offloaded_frames: u64,
}

fn run(dir: &Path, input: &Path, faults: &str) -> Run {
    let config = format!(
        r#"
[eal]
# On a 2-CPU machine the NIC model shares the worker's CPU here, not the main
# lcore's: slower forwarding, but the 2 ms control tick keeps its pace (beside
# a busy-polling lcore it would come every time slice), so the hot sets, which
# move every few tens of milliseconds, are followed.
args = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "--lcores=0@0,1@1,2@1"]
[dataplane]
worker_lcores = [1]
idle_timeout_s = 0.5
[offload]
backend = "emulated"
lcore = 2
max_rules = 8
tick_ms = 2
promote_pps = 2000
demote_pps = 500
hold = 2
evict_margin = 1.5
backoff_ms = 10
{faults}
"#
    ) + &replaced_uplink(dir)
        + &(1..=4)
            .map(|i| {
                format!(
                    "[[port]]\nname = \"vf{i}\"\nrole = \"vf\"\nmac = \"02:00:00:00:00:0{i}\"\ndevice = \"net_null{i},no-rx=1\"\n"
                )
            })
            .collect::<String>();
    let cfg = replay_config(dir, &config);
    let out_dir = dir.join("out");
    let log = dir.join("flows.jsonl");
    let out = run_replay(
        &cfg,
        input,
        LOOPS,
        &[
            "--capture-dir",
            out_dir.to_str().unwrap(),
            "--flow-log",
            log.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "{}",
        describe(&out)
    );
    let mut vf_frames = HashMap::new();
    let mut offloaded_frames = 0;
    for i in 1..=4 {
        let name = format!("vf{i}");
        let mut frames = read_pcap(&out_dir.join(format!("{name}.pcap")));
        let nic = read_pcap(&out_dir.join(format!("{name}-offloaded.pcap")));
        offloaded_frames += nic.len() as u64;
        frames.extend(nic);
        vf_frames.insert(name, frames);
    }
    Run {
        stdout,
        log: flow_log_lines(&log),
        vf_frames,
        offloaded_frames,
    }
}

/// Checks everything the acceptance list asks of a run; returns its offload
/// line.
fn check_exact(run: &Run, frames: &[Vec<u8>]) -> OffloadLine {
    // Per flow, from the input alone.
    let mut want: HashMap<Tuple, (u64, u64)> = HashMap::new();
    for f in frames {
        let t = oracle(f).expect("every generated frame has a 5-tuple");
        let e = want.entry(t).or_default();
        e.0 += LOOPS;
        e.1 += LOOPS * f.len() as u64;
    }
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
    for (name, fs) in &run.vf_frames {
        let mac = [2, 0, 0, 0, 0, name[2..].parse::<u8>().unwrap()];
        for f in fs {
            assert_eq!(f[..6], mac, "{name} got a frame for another VF");
            *got_frames.entry(f).or_default() += 1;
        }
    }
    assert!(
        got_frames == want_frames,
        "the VF captures hold every packet exactly once"
    );
    assert_eq!(
        run.offloaded_frames, hw_total,
        "the NIC delivered what its counters say"
    );

    let counters = final_counters(&run.stdout);
    let n = frames.len() as u64 * LOOPS;
    assert_eq!(counters["uplink"].rx_packets, n);
    let tx: u64 = (1..=4)
        .map(|i| counters[&format!("vf{i}")].tx_packets)
        .sum();
    assert_eq!(tx, n);

    let line = offload_line(&run.stdout);
    assert_eq!(line.rules_left, 0, "no rule left installed: {}", line.text);
    assert_eq!(line.installs, line.removals, "{}", line.text);
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
    assert!(run.offloaded_frames > 0);
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
        "[offload.faults]\nno_space_every = 7\nbusy_every = 5\nquery_every = 11",
    );
    let line = check_exact(&run, &frames);
    eprintln!("{}", line.text);
    assert!(line.installs >= 100, "{}", line.text);
    let failed_part = line.text.split("failed").nth(1).unwrap_or("");
    assert!(failed_part.contains("busy"), "{}", line.text);
    assert!(failed_part.contains("no_space"), "{}", line.text);
    assert!(
        line.text.contains("queries failed busy"),
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
