//! Jumbo frames (issue 17, finding 4): a capture of 9000-byte IPv4 and IPv6
//! frames beside normal ones, replayed once (frames read from the file, a
//! jumbo frame chained over default mbufs) and three times (the capture held
//! in memory by net_pcap's infinite_rx, in mbufs sized for its largest frame).
//! Every frame becomes part of its flow, the flow log's packets and bytes per
//! flow equal the capture's (bytes by each frame's full length, times the
//! loops; flows read by etherparse from the pcap file), and each VF's capture
//! holds the whole frames, byte for byte, in order.

use std::collections::HashMap;
use std::path::Path;

use etherparse::{PacketBuilder, VlanId};
use flowlift_tests::{
    describe, final_counters, flow_log_lines, flowlift, one_at_a_time, oracle, read_pcap,
    sum_by_tuple, write_pcap, Tuple,
};

const PEER: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];

fn vf_mac(vf: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, vf]
}

/// The frame's length fills `len` bytes: Ethernet, IP, UDP/TCP and payload.
fn v4_udp(vf: u8, host: u8, vlan: Option<u16>, len: usize) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(PEER, vf_mac(vf));
    let (b, tag) = match vlan {
        Some(v) => (
            eth.single_vlan(VlanId::try_new(v).unwrap()).ipv4(
                [10, 0, 0, host],
                [192, 168, 7, 1],
                64,
            ),
            4,
        ),
        None => (eth.ipv4([10, 0, 0, host], [192, 168, 7, 1], 64), 0),
    };
    let mut out = Vec::new();
    b.udp(4000 + u16::from(host), 9000)
        .write(&mut out, &vec![0xab; len - 42 - tag])
        .unwrap();
    out
}

fn v4_tcp(vf: u8, host: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER, vf_mac(vf))
        .ipv4([10, 0, 1, host], [192, 168, 7, 2], 64)
        .tcp(40000, 443, 1, 65000)
        .write(&mut out, &vec![0xcd; len - 54])
        .unwrap();
    out
}

fn v6_udp(vf: u8, host: u8, len: usize) -> Vec<u8> {
    let mut src = [0u8; 16];
    src[0] = 0xfd;
    src[15] = host;
    let mut dst = [0u8; 16];
    dst[0] = 0xfd;
    dst[15] = 0x99;
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER, vf_mac(vf))
        .ipv6(src, dst, 64)
        .udp(5000 + u16::from(host), 9001)
        .write(&mut out, &vec![0x11; len - 62])
        .unwrap();
    out
}

/// Three rounds of jumbo and normal frames: 9000-byte UDP over IPv4 (untagged
/// and 802.1Q) and IPv6, 9000-byte TCP, a 3000-byte frame (two default mbufs)
/// and normal frames of each family.
fn capture(path: &Path) -> Vec<Vec<u8>> {
    let round = [
        v4_udp(1, 1, None, 9000),
        v4_udp(1, 2, None, 64),
        v6_udp(2, 3, 9000),
        v6_udp(3, 4, 100),
        v4_tcp(3, 5, 9000),
        v4_udp(4, 6, Some(100), 9000),
        v4_udp(4, 7, None, 3000),
    ];
    let frames: Vec<Vec<u8>> = (0..3).flat_map(|_| round.iter().cloned()).collect();
    write_pcap(path, &frames);
    // What the appliance replays is what the file holds.
    let read = read_pcap(path);
    assert_eq!(read, frames);
    read
}

/// Per flow, the packets and bytes `loops` replays of `frames` carry, as
/// etherparse reads the frames.
fn oracle_flows(frames: &[Vec<u8>], loops: u64) -> HashMap<Tuple, (u64, u64)> {
    let mut want: HashMap<Tuple, (u64, u64)> = HashMap::new();
    for f in frames {
        let t = oracle(f).expect("etherparse decodes every frame of the capture");
        let e = want.entry(t).or_default();
        e.0 += loops;
        e.1 += loops * f.len() as u64;
    }
    want
}

/// Which path carries the flows.
#[derive(Clone, Copy, PartialEq)]
enum Offload {
    /// The workers alone: one TX queue per VF, so each VF's capture is in
    /// order.
    None,
    /// The NIC model in front of the workers (the default): it parses every
    /// frame too, and a VF's frames may leave by two queues.
    Emulated,
}

fn replay_and_check(loops: u64, offload: Offload) {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("jumbo.pcap");
    let frames = capture(&input);
    assert!(frames.iter().any(|f| f.len() == 9000));
    let out_dir = dir.path().join("out");
    let log = dir.path().join("flows.jsonl");
    let sock = dir.path().join("control.sock");
    let loops_arg = loops.to_string();
    let out = flowlift(&[
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--loops",
        &loops_arg,
        // A socket of its own and no /metrics listener: other appliances may
        // run on this machine (the defaults are one per machine).
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        "",
        "--capture-dir",
        out_dir.to_str().unwrap(),
        "--flow-log",
        log.to_str().unwrap(),
        "--offload",
        match offload {
            Offload::None => "none",
            Offload::Emulated => "emulated",
        },
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "{}",
        describe(&out)
    );
    // Every frame has a flow key: none counted as truncated.
    let no_key = stdout
        .lines()
        .find(|l| l.contains("No-flow-key packets:"))
        .expect("the no-key line");
    assert_eq!(
        no_key.trim(),
        "No-flow-key packets: 0",
        "{}",
        describe(&out)
    );

    // The flow log, per flow, against the capture read by etherparse: bytes by
    // each frame's full length.
    let want = oracle_flows(&frames, loops);
    assert_eq!(want.len(), 7);
    let lines = flow_log_lines(&log);
    assert_eq!(sum_by_tuple(&lines), want, "{}", describe(&out));

    let total: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let counters = final_counters(&stdout);
    assert_eq!(counters["uplink"].rx_packets, loops * frames.len() as u64);
    assert_eq!(counters["uplink"].rx_bytes, loops * total);

    // Each VF's capture holds its frames whole, every loop; in order where
    // one queue feeds it.
    for vf in 1..=4u8 {
        let one: Vec<&Vec<u8>> = frames.iter().filter(|f| f[..6] == vf_mac(vf)).collect();
        let mut got = read_pcap(&out_dir.join(format!("vf{vf}.pcap")));
        let mut want: Vec<&Vec<u8>> = (0..loops).flat_map(|_| one.iter().copied()).collect();
        if offload == Offload::Emulated {
            got.extend(read_pcap(&out_dir.join(format!("vf{vf}-offloaded.pcap"))));
            got.sort();
            want.sort();
        }
        assert_eq!(got.len(), want.len(), "vf{vf}\n{}", describe(&out));
        for (i, (f, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(f.len(), w.len(), "vf{vf} frame {i}: length");
            assert!(f == *w, "vf{vf} frame {i}: bytes differ");
        }
        assert_eq!(
            counters[&format!("vf{vf}")].tx_bytes,
            loops * one.iter().map(|f| f.len() as u64).sum::<u64>()
        );
    }
}

#[test]
fn jumbo_frames_replayed_once_become_flows_counted_by_their_full_length() {
    replay_and_check(1, Offload::None);
}

#[test]
fn jumbo_frames_replayed_from_memory_three_times_become_flows_counted_by_their_full_length() {
    replay_and_check(3, Offload::None);
}

#[test]
fn jumbo_frames_through_the_nic_model_become_flows_counted_by_their_full_length() {
    replay_and_check(1, Offload::Emulated);
    replay_and_check(3, Offload::Emulated);
}

#[test]
fn a_frame_no_mbuf_can_hold_is_refused_naming_infinite_rx_and_the_way_out() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("huge.pcap");
    // One byte more than a 65535-byte data room holds after its headroom.
    write_pcap(&input, &[v4_udp(1, 1, None, 65408), v4_udp(1, 2, None, 64)]);
    let out = flowlift(&["run", "--replay", input.to_str().unwrap(), "--loops", "3"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("net_pcap's infinite_rx") && stderr.contains("--loops 1"),
        "{}",
        describe(&out)
    );
    assert!(!stderr.contains("Invalid argument (EINVAL)\n"), "{stderr}");
}
