//! Two workers on one uplink with two RX queues: flowlift on the NIC model
//! (`net_flowlift0`, whose RSS spreads what no rule takes over the PF's RX
//! queues) with `worker_lcores = [1, 2]`, so every port gets two RX queues,
//! one per worker. The machine has two CPUs: the second worker shares the
//! main lcore's, so this is about correctness, not speed.
//!
//! The capture is a Zipf mix of TCP and UDP flows (IPv4 and IPv6) plus what
//! RSS cannot hash by ports: IPv4 and IPv6 fragments (first and later) of
//! some of those UDP flows' datagrams, and ARP. RSS hashes a fragment over
//! its addresses only (a later fragment has no ports, and a datagram's
//! fragments must stay together), so a first fragment can land on the other
//! worker than its flow's whole datagrams; flowlift therefore keys no
//! fragment (see `dataplane/src/wire/mod.rs`) and its rules take whole
//! datagrams only, so every flow lives on one worker. Non-IP frames are
//! not hashed (queue 0) and have no flow. Checked, with `--offload none`
//! and with `rte_flow`:
//! - the uplink is configured with RSS over IP, TCP and UDP on two queues
//!   (the start-up line, read back from the device), and both workers carry
//!   a sizeable share of the flows and of the packets;
//! - the flow log has each flow exactly once (on one worker), with exactly
//!   the packets and bytes the capture times the loops holds (etherparse's
//!   reading of it), `sw + hw` on each line;
//! - the uplink's RX and the VFs' TX are exactly the capture times the
//!   loops, the workers' packets plus the NIC's are the whole wire, and the
//!   frames without a flow key are counted by reason.

use std::collections::HashMap;
use std::path::Path;

use flowlift_tests::model::{self, by_vf, VFS};
use flowlift_tests::{
    final_counters, flow_log_lines, number_after, one_at_a_time, oracle, oracle_flows,
    run_to_wire_end, tuple_of, write_pcap, Tuple,
};
use flowlift_traffic::TrafficSpec;

const LOOPS: u64 = 3;
const WORKERS: [u32; 2] = [1, 2];

/// UDP flows (IPv4, then IPv6) whose datagrams are also sent fragmented.
const FRAGMENTED_V4: usize = 24;
const FRAGMENTED_V6: usize = 8;
/// First and later fragments added per fragmented flow.
const FRAGMENTS_EACH: usize = 3;

/// The capture's frames, and which of them have no flow key (by the reason
/// flowlift counts them under).
struct Capture {
    frames: Vec<Vec<u8>>,
    /// Whole datagrams with a 5-tuple.
    keyed: Vec<Vec<u8>>,
    fragments: u64,
    non_ip: u64,
}

/// A UDP frame's datagram sent as an IPv4 fragment: offset in 8-byte units,
/// "more fragments" as given (offset 0 with more: the first fragment, which
/// still carries the UDP header).
fn v4_fragment(mut f: Vec<u8>, offset: u16, more: bool) -> Vec<u8> {
    let word = offset | if more { 0x2000 } else { 0 };
    f[14 + 6..14 + 8].copy_from_slice(&word.to_be_bytes());
    f
}

/// A UDP frame's datagram behind an IPv6 fragment header (offset in 8-byte
/// units, "more fragments" as given).
fn v6_fragment(f: &[u8], offset: u16, more: bool) -> Vec<u8> {
    const IP6: usize = 14;
    let mut out = f[..IP6 + 40].to_vec();
    let next = out[IP6 + 6];
    out[IP6 + 6] = 44;
    let len = u16::from_be_bytes([out[IP6 + 4], out[IP6 + 5]]) + 8;
    out[IP6 + 4..IP6 + 6].copy_from_slice(&len.to_be_bytes());
    let word = (offset << 3) | u16::from(more);
    let w = word.to_be_bytes();
    out.extend_from_slice(&[next, 0, w[0], w[1], 0, 0, 0x51, 0x7e]);
    out.extend_from_slice(&f[IP6 + 40..]);
    out
}

/// ARP to VF `mac`'s port: no IP, so RSS does not hash it (queue 0).
fn arp(mac: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, mac, 2, 0, 0, 0, 0, 0xfe, 0x08, 0x06];
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.resize(60, 0);
    f
}

/// A Zipf mix of 1000 flows, with fragments of the first UDP flows'
/// datagrams and ARP frames spread through it.
fn capture(dir: &Path) -> Capture {
    let base = model::capture(
        &dir.join("base.pcap"),
        &TrafficSpec {
            flows: 1000,
            packets: 20_000,
            seed: 11,
            ..Default::default()
        },
    );
    // The first frame of each UDP flow, in order of first appearance.
    let mut seen = std::collections::HashSet::new();
    let (mut udp4, mut udp6) = (Vec::new(), Vec::new());
    for f in &base {
        let t = oracle(f).expect("every generated frame has a 5-tuple");
        if t.proto == 17 && seen.insert(t.clone()) {
            if t.src.is_ipv4() {
                udp4.push(f.clone());
            } else {
                udp6.push(f.clone());
            }
        }
    }
    assert!(udp4.len() >= FRAGMENTED_V4 && udp6.len() >= FRAGMENTED_V6);
    let mut extra = Vec::new();
    for f in &udp4[..FRAGMENTED_V4] {
        for _ in 0..FRAGMENTS_EACH {
            extra.push(v4_fragment(f.clone(), 0, true));
            extra.push(v4_fragment(f.clone(), 6, false));
        }
    }
    for f in &udp6[..FRAGMENTED_V6] {
        for _ in 0..FRAGMENTS_EACH {
            extra.push(v6_fragment(f, 0, true));
            extra.push(v6_fragment(f, 3, false));
        }
    }
    let fragments = extra.len() as u64;
    for (_, mac) in VFS {
        extra.extend(std::iter::repeat_n(arp(mac), 4));
    }
    let non_ip = extra.len() as u64 - fragments;
    for f in &extra {
        assert!(oracle(f).is_none(), "etherparse reads no 5-tuple either");
    }
    // One extra frame every `stride` frames of the mix.
    let stride = base.len() / extra.len();
    let mut frames = Vec::with_capacity(base.len() + extra.len());
    let mut extra = extra.into_iter();
    for (i, f) in base.iter().enumerate() {
        frames.push(f.clone());
        if i % stride == stride - 1 {
            frames.extend(extra.next());
        }
    }
    frames.extend(extra);
    Capture {
        frames,
        keyed: base,
        fragments,
        non_ip,
    }
}

struct Run {
    stdout: String,
    log: Vec<serde_json::Value>,
}

/// flowlift on the model's PF replaying `capture` LOOPS times, with the
/// workers of [`WORKERS`], `--offload offload` and `tables`.
fn run(dir: &Path, capture: &Path, offload: &str, devargs: &str, tables: &str) -> Run {
    let device = model::uplink(capture, LOOPS) + devargs;
    let cfg = model::config_on_lcores(dir, &device, tables, &WORKERS);
    let log = dir.join(format!("flows-{offload}.jsonl"));
    let (_, stdout) = run_to_wire_end(&cfg, offload, &log);
    Run {
        stdout,
        log: flow_log_lines(&log),
    }
}

/// Packets each worker received, from the report's `lcore N: ...
/// packets=P)` lines.
fn worker_packets(stdout: &str) -> HashMap<u32, u64> {
    stdout
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().strip_prefix("lcore ")?;
            let (lcore, rest) = l.split_once(':')?;
            Some((lcore.parse().ok()?, number_after(rest, "packets=")))
        })
        .collect()
}

/// What every run must show, whatever carried the flows; returns the
/// packets the NIC's rules carried.
fn check(run: &Run, cap: &Capture) -> u64 {
    let out = &run.stdout;
    // The uplink is spread by RSS over two queues, as the device reports it.
    let uplink = out
        .lines()
        .find(|l| l.starts_with("port 0 uplink:"))
        .unwrap_or_else(|| panic!("the uplink's start-up line in\n{out}"));
    assert!(uplink.contains("2 RX queues"), "{uplink}");
    let rss = uplink
        .split_once("RSS over ")
        .unwrap_or_else(|| panic!("RSS on the uplink: {uplink}"))
        .1;
    for hf in [
        "ipv4",
        "ipv4-frag",
        "ipv4-tcp",
        "ipv4-udp",
        "ipv6",
        "ipv6-frag",
        "ipv6-tcp",
        "ipv6-udp",
    ] {
        assert!(
            rss.split_whitespace().any(|w| w == hf),
            "{hf} in the uplink's RSS hash functions: {uplink}"
        );
    }

    // Each flow exactly once, on one worker, and both workers used.
    let mut lines_by_flow: HashMap<Tuple, Vec<u64>> = HashMap::new();
    for v in &run.log {
        let worker = v["worker"].as_u64().expect("worker");
        lines_by_flow.entry(tuple_of(v)).or_default().push(worker);
    }
    let split: Vec<_> = lines_by_flow
        .iter()
        .filter(|(_, w)| w.len() > 1)
        .take(5)
        .collect();
    assert!(
        split.is_empty(),
        "flows in the flow log more than once (by worker): {split:?}"
    );
    let want = oracle_flows(&cap.keyed, LOOPS);
    assert_eq!(lines_by_flow.len(), want.len(), "every flow, and no other");
    let mut flows_by_worker: HashMap<u64, usize> = HashMap::new();
    for w in lines_by_flow.values() {
        *flows_by_worker.entry(w[0]).or_default() += 1;
    }
    for lc in WORKERS {
        let n = flows_by_worker.get(&u64::from(lc)).copied().unwrap_or(0);
        assert!(
            n * 4 >= want.len(),
            "worker {lc} holds a sizeable share of the flows: {flows_by_worker:?}"
        );
    }

    // Every flow exact, from the capture alone.
    let mut hw_total = 0;
    for v in &run.log {
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        let t = tuple_of(v);
        assert_eq!(
            Some(&(n("packets"), n("bytes"))),
            want.get(&t),
            "{t:?} counted wrong: {v}"
        );
        assert_eq!(n("sw_packets") + n("hw_packets"), n("packets"), "{v}");
        assert_eq!(n("sw_bytes") + n("hw_bytes"), n("bytes"), "{v}");
        hw_total += n("hw_packets");
    }

    // The ports' totals: the whole wire in, every frame out to its VF.
    let total = cap.frames.len() as u64 * LOOPS;
    let bytes: u64 = cap.frames.iter().map(|f| f.len() as u64).sum::<u64>() * LOOPS;
    let counters = final_counters(out);
    assert_eq!(counters["uplink"].rx_packets, total, "{out}");
    assert_eq!(counters["uplink"].rx_bytes, bytes, "{out}");
    let per_vf = by_vf(&cap.frames);
    for (name, _) in VFS {
        let (p, b) = per_vf[name];
        assert_eq!(counters[name].tx_packets, p * LOOPS, "{name}: {out}");
        assert_eq!(counters[name].tx_bytes, b * LOOPS, "{name}: {out}");
    }
    let no_key = out
        .lines()
        .find(|l| l.contains("No-flow-key packets:"))
        .expect("the no-flow-key line");
    assert_eq!(
        number_after(no_key, "No-flow-key packets:"),
        (cap.fragments + cap.non_ip) * LOOPS,
        "{no_key}"
    );
    assert_eq!(
        number_after(no_key, "fragment"),
        cap.fragments * LOOPS,
        "{no_key}"
    );
    assert_eq!(
        number_after(no_key, "non_ip"),
        cap.non_ip * LOOPS,
        "{no_key}"
    );

    // Both workers carried a sizeable share; with the NIC's, the whole wire.
    let workers = worker_packets(out);
    let sw: u64 = workers.values().sum();
    assert_eq!(sw + hw_total, total, "workers {workers:?} + NIC {hw_total}");
    for lc in WORKERS {
        let n = workers.get(&lc).copied().unwrap_or(0);
        assert!(
            n * 5 >= sw,
            "worker {lc} received a sizeable share: {workers:?}"
        );
    }
    hw_total
}

#[test]
fn two_workers_share_the_flows_and_every_flow_is_counted_once_on_one() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let cap = capture(dir.path());
    let input = dir.path().join("wire.pcap");
    write_pcap(&input, &cap.frames);
    let run = run(dir.path(), &input, "none", "", "");
    let hw = check(&run, &cap);
    assert_eq!(hw, 0, "no rule with --offload none");
}

#[test]
fn two_workers_and_the_nic_share_the_flows_and_every_flow_adds_up() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let cap = capture(dir.path());
    let input = dir.path().join("wire.pcap");
    write_pcap(&input, &cap.frames);
    // A rule budget far below the flows, low thresholds and fast ticks, so
    // that flows of both workers go to the NIC and come back.
    let tables = "[offload]
max_rules = 8
tick_ms = 5
promote_pps = 2000
demote_pps = 500
hold = 2
evict_margin = 1.5
backoff_ms = 10
";
    let run = run(
        dir.path(),
        &input,
        "rte_flow",
        ",counter_refresh_ms=100",
        tables,
    );
    let hw = check(&run, &cap);
    assert!(hw > 0, "the NIC carried packets");
    assert_eq!(
        number_after(&run.stdout, "Carried by the NIC:"),
        hw,
        "the report's NIC share is the rules' counters"
    );
    let offload = flowlift_tests::offload_line(&run.stdout);
    assert_eq!(
        number_after(&offload, "rules left"),
        0,
        "no rule left: {offload}"
    );
    // Flows of both workers were put on the NIC.
    let offloaded_on: std::collections::HashSet<u64> = run
        .log
        .iter()
        .filter(|v| v["offloads"].as_u64() > Some(0))
        .map(|v| v["worker"].as_u64().expect("worker"))
        .collect();
    assert_eq!(
        offloaded_on.len(),
        WORKERS.len(),
        "offloaded flows on every worker: {offloaded_on:?}"
    );
}
