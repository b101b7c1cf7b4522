//! The fast path's acceptance test: a capture of VLAN and QinQ frames, IPv6 with
//! extension headers, IPv4 with options, first and non-first fragments (IPv4
//! and IPv6; none in a flow), ARP, and truncated or malformed frames, replayed
//! once on the NIC model's wire (the demo's uplink, offload through
//! rte_flow). Every frame is forwarded per policy (the VF MAC table here),
//! frames without a 5-tuple are counted by reason, and the flow log summed by 5-tuple equals the per-flow
//! packet and byte counts the test computes from the frames it built (checked
//! against etherparse wherever etherparse decodes the frame).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use etherparse::{PacketBuilder, VlanId};
use flowlift_tests::{
    describe, final_counters, flow_log_lines, flowlift, one_at_a_time, oracle, read_pcap,
    sum_by_tuple, write_pcap, Tuple,
};

const PEER: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];

fn vf_mac(vf: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, vf]
}

/// What the test expects of one frame.
#[derive(Debug, Clone)]
enum Expect {
    /// Part of this flow.
    Flow(Tuple),
    /// No 5-tuple, for this reason (the label the final counters print).
    NoKey(&'static str),
}

struct Case {
    frame: Vec<u8>,
    expect: Expect,
    /// The VF it must come out of, or None if dropped.
    out: Option<u8>,
}

#[derive(Clone, Copy)]
enum Tags {
    None,
    One(u16),
    Two(u16, u16),
}

fn builder(dst: [u8; 6], tags: Tags) -> etherparse::PacketBuilderStep<etherparse::VlanHeader> {
    let b = PacketBuilder::ethernet2(PEER, dst);
    match tags {
        Tags::None => b.single_vlan(VlanId::try_new(1).unwrap()), // replaced below
        Tags::One(v) => b.single_vlan(VlanId::try_new(v).unwrap()),
        Tags::Two(o, i) => b.double_vlan(VlanId::try_new(o).unwrap(), VlanId::try_new(i).unwrap()),
    }
}

fn v4_udp(vf: u8, tags: Tags, src: [u8; 4], sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut out = Vec::new();
    match tags {
        Tags::None => PacketBuilder::ethernet2(PEER, vf_mac(vf))
            .ipv4(src, [192, 168, 7, 1], 64)
            .udp(sport, dport)
            .write(&mut out, &vec![0xab; payload])
            .unwrap(),
        _ => builder(vf_mac(vf), tags)
            .ipv4(src, [192, 168, 7, 1], 64)
            .udp(sport, dport)
            .write(&mut out, &vec![0xab; payload])
            .unwrap(),
    }
    out
}

fn v4_tcp(vf: u8, src: [u8; 4], sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER, vf_mac(vf))
        .ipv4(src, [192, 168, 7, 2], 64)
        .tcp(sport, dport, 1, 1000)
        .write(&mut out, &vec![0xcd; payload])
        .unwrap();
    out
}

fn v6_udp(vf: u8, tags: Tags, src_last: u8, sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut src = [0u8; 16];
    src[0] = 0xfd;
    src[15] = src_last;
    let mut dst = [0u8; 16];
    dst[0] = 0xfd;
    dst[15] = 0x99;
    let mut out = Vec::new();
    match tags {
        Tags::None => PacketBuilder::ethernet2(PEER, vf_mac(vf))
            .ipv6(src, dst, 64)
            .udp(sport, dport)
            .write(&mut out, &vec![0x11; payload])
            .unwrap(),
        _ => builder(vf_mac(vf), tags)
            .ipv6(src, dst, 64)
            .udp(sport, dport)
            .write(&mut out, &vec![0x11; payload])
            .unwrap(),
    }
    out
}

fn v6_tcp(vf: u8, src_last: u8, sport: u16, dport: u16) -> Vec<u8> {
    let mut src = [0u8; 16];
    src[0] = 0xfd;
    src[15] = src_last;
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER, vf_mac(vf))
        .ipv6(
            src,
            [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x98],
            64,
        )
        .tcp(sport, dport, 7, 1000)
        .write(&mut out, &[0x22; 12])
        .unwrap();
    out
}

/// Inserts IPv6 extension headers (each 8 bytes: next header, length 0, then 6
/// bytes) between the fixed header of an untagged IPv6 frame and its payload.
fn with_v6_exts(mut f: Vec<u8>, exts: &[(u8, [u8; 6])]) -> Vec<u8> {
    const L3: usize = 14;
    let upper = f[L3 + 6];
    let mut chain = Vec::new();
    for (i, (kind, body)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(upper, |(k, _)| *k);
        chain.push(next);
        chain.push(0);
        chain.extend_from_slice(body);
        let _ = kind;
    }
    f[L3 + 6] = exts[0].0;
    let plen = u16::from_be_bytes([f[L3 + 4], f[L3 + 5]]) + chain.len() as u16;
    f[L3 + 4..L3 + 6].copy_from_slice(&plen.to_be_bytes());
    f.splice(L3 + 40..L3 + 40, chain);
    f
}

/// Adds 4 bytes of IPv4 options (NOP NOP NOP EOL) to an untagged IPv4 frame.
fn with_v4_options(mut f: Vec<u8>) -> Vec<u8> {
    const L3: usize = 14;
    f[L3] = 0x46;
    let total = u16::from_be_bytes([f[L3 + 2], f[L3 + 3]]) + 4;
    f[L3 + 2..L3 + 4].copy_from_slice(&total.to_be_bytes());
    f.splice(L3 + 20..L3 + 20, [1, 1, 1, 0]);
    f
}

/// Sets an untagged IPv4 frame's fragment fields (offset in 8-byte units).
fn v4_fragment(mut f: Vec<u8>, offset: u16, more: bool) -> Vec<u8> {
    let v = offset | if more { 0x2000 } else { 0 };
    f[14 + 6..14 + 8].copy_from_slice(&v.to_be_bytes());
    f
}

fn arp(dst: [u8; 6]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.resize(60, 0);
    f
}

fn tuple_v4(
    vlan: Option<u16>,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    sport: u16,
    dport: u16,
) -> Tuple {
    Tuple {
        vlan,
        src: IpAddr::from(src),
        dst: IpAddr::from(dst),
        proto,
        sport,
        dport,
    }
}

fn tuple_v6(
    vlan: Option<u16>,
    src_last: u8,
    dst_last: u8,
    proto: u8,
    sport: u16,
    dport: u16,
) -> Tuple {
    let (mut s, mut d) = ([0u8; 16], [0u8; 16]);
    s[0] = 0xfd;
    s[15] = src_last;
    d[0] = 0xfd;
    d[15] = dst_last;
    Tuple {
        vlan,
        src: IpAddr::from(s),
        dst: IpAddr::from(d),
        proto,
        sport,
        dport,
    }
}

fn cases() -> Vec<Case> {
    let mut c = Vec::new();
    let mut add =
        |frame: Vec<u8>, expect: Expect, out: Option<u8>| c.push(Case { frame, expect, out });
    for round in 0..5u16 {
        // Plain IPv4 UDP and TCP flows to each VF.
        for vf in 1..=4u8 {
            add(
                v4_udp(
                    vf,
                    Tags::None,
                    [10, 0, 0, vf],
                    1000 + u16::from(vf),
                    53,
                    20 + usize::from(round),
                ),
                Expect::Flow(tuple_v4(
                    None,
                    [10, 0, 0, vf],
                    [192, 168, 7, 1],
                    17,
                    1000 + u16::from(vf),
                    53,
                )),
                Some(vf),
            );
        }
        add(
            v4_tcp(3, [10, 0, 1, 1], 40000, 443, 30),
            Expect::Flow(tuple_v4(
                None,
                [10, 0, 1, 1],
                [192, 168, 7, 2],
                6,
                40000,
                443,
            )),
            Some(3),
        );
        // 802.1Q and QinQ: keyed by the outer VID.
        add(
            v4_udp(2, Tags::One(100), [10, 0, 2, 1], 5000, 5001, 18),
            Expect::Flow(tuple_v4(
                Some(100),
                [10, 0, 2, 1],
                [192, 168, 7, 1],
                17,
                5000,
                5001,
            )),
            Some(2),
        );
        add(
            v6_udp(4, Tags::Two(200, 300), 7, 6000, 6001, 10),
            Expect::Flow(tuple_v6(Some(200), 7, 0x99, 17, 6000, 6001)),
            Some(4),
        );
        // IPv6 with hop-by-hop, routing and destination options before TCP.
        let pad = [1, 4, 0, 0, 0, 0];
        add(
            with_v6_exts(
                v6_tcp(1, 8, 7000, 22),
                &[(0, pad), (43, [0, 0, 0, 0, 0, 0]), (60, pad)],
            ),
            Expect::Flow(tuple_v6(None, 8, 0x98, 6, 7000, 22)),
            Some(1),
        );
        // IPv4 with options.
        add(
            with_v4_options(v4_udp(1, Tags::None, [10, 0, 3, 1], 8000, 8001, 16)),
            Expect::Flow(tuple_v4(
                None,
                [10, 0, 3, 1],
                [192, 168, 7, 1],
                17,
                8000,
                8001,
            )),
            Some(1),
        );
    }
    // Fragments: none belongs to a flow, not even the first, which carries the
    // ports (RSS hashes it with the other fragments, over the addresses, so
    // it could reach another worker than its flow): counted as fragments,
    // forwarded by MAC.
    add(
        v4_fragment(
            v4_udp(2, Tags::None, [10, 0, 4, 1], 9000, 9001, 40),
            0,
            true,
        ),
        Expect::NoKey("fragment"),
        Some(2),
    );
    add(
        v4_fragment(
            v4_udp(2, Tags::None, [10, 0, 4, 1], 9000, 9001, 40),
            6,
            false,
        ),
        Expect::NoKey("fragment"),
        Some(2),
    );
    let frag = |offset_units: u16, more: bool| {
        let v = (offset_units << 3) | u16::from(more);
        let b = v.to_be_bytes();
        (44u8, [b[0], b[1], 0, 0, 0, 9])
    };
    add(
        with_v6_exts(v6_udp(3, Tags::None, 9, 9100, 9101, 24), &[frag(0, true)]),
        Expect::NoKey("fragment"),
        Some(3),
    );
    add(
        with_v6_exts(v6_udp(3, Tags::None, 9, 9100, 9101, 24), &[frag(3, false)]),
        Expect::NoKey("fragment"),
        Some(3),
    );
    // ARP: no 5-tuple; unicast goes to its VF, broadcast is dropped (default).
    add(arp(vf_mac(4)), Expect::NoKey("non_ip"), Some(4));
    add(arp([0xff; 6]), Expect::NoKey("non_ip"), None);
    // Malformed frames: counted by reason, forwarded by MAC like any frame.
    let mut bad_ihl = v4_udp(2, Tags::None, [10, 0, 5, 1], 1, 2, 10);
    bad_ihl[14] = 0x43;
    add(bad_ihl, Expect::NoKey("bad_ipv4_header_len"), Some(2));
    let mut short_v4 = v4_udp(2, Tags::None, [10, 0, 5, 2], 1, 2, 10);
    short_v4.truncate(14 + 12);
    add(short_v4, Expect::NoKey("truncated_ipv4"), Some(2));
    let mut short_v6 = v6_udp(2, Tags::None, 3, 1, 2, 10);
    short_v6.truncate(14 + 30);
    add(short_v6, Expect::NoKey("truncated_ipv6"), Some(2));
    let mut short_tcp = v4_tcp(2, [10, 0, 5, 3], 1, 2, 0);
    short_tcp.truncate(14 + 20 + 10);
    let total = 30u16.to_be_bytes();
    short_tcp[16..18].copy_from_slice(&total);
    add(short_tcp, Expect::NoKey("truncated_l4"), Some(2));
    add(
        vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0],
        Expect::NoKey("truncated_ethernet"),
        None,
    );
    c
}

/// The "No-flow-key packets: N (reason n, ...)" line, by reason.
fn no_key_counts(stdout: &str) -> BTreeMap<String, u64> {
    let line = stdout
        .lines()
        .find(|l| l.contains("No-flow-key packets:"))
        .expect("no-key line");
    let mut out = BTreeMap::new();
    if let Some(inner) = line.split_once('(').map(|(_, r)| r.trim_end_matches(')')) {
        for part in inner.split(", ") {
            let (k, v) = part.rsplit_once(' ').expect("reason count");
            out.insert(k.to_string(), v.parse().unwrap());
        }
    }
    out
}

#[test]
fn mixed_capture_is_forwarded_counted_by_reason_and_logged_per_flow() {
    let _serial = one_at_a_time();
    let cases = cases();
    // The expectations are the test's own; where etherparse decodes a whole
    // frame (not fragments), it must agree with them.
    let mut checked = 0;
    for case in &cases {
        if let (Expect::Flow(t), Some(o)) = (&case.expect, oracle(&case.frame)) {
            assert_eq!(&o, t, "etherparse disagrees with the test's expectation");
            checked += 1;
        }
    }
    let flows = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Flow(_)))
        .count();
    // No fragment is a flow's, so etherparse (which leaves fragmented
    // payloads undecoded) reads every flow frame.
    assert_eq!(checked, flows, "etherparse checked every flow frame");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.pcap");
    write_pcap(
        &input,
        &cases.iter().map(|c| c.frame.clone()).collect::<Vec<_>>(),
    );
    let out_dir = dir.path().join("out");
    let log = dir.path().join("flows.jsonl");
    let out = flowlift(&[
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--capture-dir",
        out_dir.to_str().unwrap(),
        "--flow-log",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);

    // Forwarded per policy: each VF got exactly its frames, in order.
    for vf in 1..=4u8 {
        let want: Vec<Vec<u8>> = cases
            .iter()
            .filter(|c| c.out == Some(vf))
            .map(|c| c.frame.clone())
            .collect();
        let got = read_pcap(&out_dir.join(format!("vf{vf}.pcap")));
        assert_eq!(
            got.len(),
            want.len(),
            "vf{vf} frame count\n{}",
            describe(&out)
        );
        assert!(got == want, "vf{vf}: frames differ");
    }
    let counters = final_counters(&stdout);
    assert_eq!(counters["uplink"].rx_packets, cases.len() as u64);

    // Frames without a 5-tuple, by reason.
    let mut want_reasons: BTreeMap<String, u64> = BTreeMap::new();
    for case in &cases {
        if let Expect::NoKey(r) = case.expect {
            *want_reasons.entry(r.to_string()).or_default() += 1;
        }
    }
    assert_eq!(no_key_counts(&stdout), want_reasons, "{}", describe(&out));

    // The flow log, summed by 5-tuple, equals the counts from the frames.
    let mut want: HashMap<Tuple, (u64, u64)> = HashMap::new();
    for case in &cases {
        if let Expect::Flow(t) = &case.expect {
            let e = want.entry(t.clone()).or_default();
            e.0 += 1;
            e.1 += case.frame.len() as u64;
        }
    }
    let lines = flow_log_lines(&log);
    for v in &lines {
        assert_eq!(v["in_port"], "uplink");
        assert!(v["first_seen"].as_f64().unwrap() <= v["last_seen"].as_f64().unwrap());
    }
    assert_eq!(sum_by_tuple(&lines), want);
}

#[test]
fn idle_flows_are_evicted_and_logged_with_their_final_counters() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let frames: Vec<Vec<u8>> = (0..300u16)
        .map(|i| {
            v4_udp(
                1 + (i % 4) as u8,
                Tags::None,
                [10, 7, 0, (i % 30) as u8],
                2000,
                80,
                20,
            )
        })
        .collect();
    write_pcap(&dir.path().join("in.pcap"), &frames);
    // The uplink plays the capture once from the file and then stays quiet, so
    // every flow goes idle while the appliance runs on (the NIC model's wire
    // would end the run with the capture). Idle expiry is the workers' and
    // the control core's: no offload.
    let config = format!(
        r#"
[eal]
args = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry"]
[dataplane]
idle_timeout_s = 0.3
flow_table_size = 1024
flow_table_size_v6 = 64
[offload]
backend = "none"
[[port]]
name = "uplink"
role = "uplink"
device = "net_pcap0,rx_pcap={d}/in.pcap"
[[port]]
name = "vf1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_null1,no-rx=1"
"#
    );
    let cfg = dir.path().join("f.toml");
    std::fs::write(&cfg, config).unwrap();
    let log = dir.path().join("flows.jsonl");
    let out = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--duration",
        "3",
        "--flow-log",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Flows: created 30, evicted idle 30, alive at exit 0"),
        "{stdout}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    assert!(lines.iter().all(|v| v["end"] == "idle"), "{lines:?}");
    assert_eq!(
        lines
            .iter()
            .map(|v| v["packets"].as_u64().unwrap())
            .sum::<u64>(),
        300
    );
    assert_eq!(
        lines
            .iter()
            .map(|v| v["bytes"].as_u64().unwrap())
            .sum::<u64>(),
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
}
