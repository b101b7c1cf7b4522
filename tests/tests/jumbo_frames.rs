//! Jumbo frames (issue 17, finding 4): a capture of 9000-byte IPv4 and IPv6
//! frames beside normal ones, replayed once and three times on a `net_pcap`
//! uplink with the workers alone (the file read once, a jumbo frame chained
//! over default mbufs; or held in memory by net_pcap's infinite_rx, in mbufs
//! sized for its largest frame), and on the NIC model's wire through
//! rte_flow (mbufs sized for the wire's largest frame; the model's switch
//! parses, matches and delivers the jumbo frames by its rules). Every frame
//! becomes part of its flow, the flow log's packets and bytes per flow equal
//! the capture's (bytes by each frame's full length, times the loops; flows
//! read by etherparse from the pcap file), and each VF's captures hold the
//! whole frames, byte for byte (in order where one path feeds them).

use std::path::Path;

use etherparse::{PacketBuilder, VlanId};
use flowlift_tests::model;
use flowlift_tests::{
    describe, final_counters, flow_log_lines, flowlift, one_at_a_time, oracle_flows, read_pcap,
    replaced_uplink, replay_config, run_replay, sum_by_tuple, write_pcap,
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

/// Which uplink carries the capture, and which path the flows take.
#[derive(Clone, Copy, PartialEq)]
enum Carrier {
    /// A `net_pcap` uplink, the workers alone (`--offload none`): the file
    /// read once (a jumbo frame chained over default mbufs) or, looped, held
    /// in memory by net_pcap's infinite_rx in mbufs sized for its largest
    /// frame. One TX queue per VF, so each VF's capture is in order.
    NetPcap,
    /// The NIC model's wire (its mbufs sized for the wire's largest frame)
    /// through rte_flow, every flow offloaded at the tick after its first
    /// packet: the switch parses and matches every frame, and its rules
    /// deliver the flows' later frames. A VF's frames come by two paths,
    /// two files.
    Model,
}

/// The VF port names of each case, VF `i` owning MAC `02:00:00:00:00:0i`.
fn vf_names(path: Carrier) -> [&'static str; 4] {
    match path {
        Carrier::NetPcap => ["vf1", "vf2", "vf3", "vf4"],
        Carrier::Model => model::VFS.map(|(name, _)| name),
    }
}

/// The config of `path`'s case in `dir`, replaying `input` `loops` times.
fn config(dir: &Path, path: Carrier, input: &Path, loops: u64) -> std::path::PathBuf {
    match path {
        Carrier::NetPcap => {
            let vfs: String = (1..=4)
                .map(|i| {
                    format!(
                        "[[port]]\nname = \"vf{i}\"\nrole = \"vf\"\nmac = \"02:00:00:00:00:0{i}\"\ndevice = \"net_null{i},no-rx=1\"\n"
                    )
                })
                .collect();
            replay_config(
                dir,
                &format!(
                    "[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"--no-shconf\", \"--no-telemetry\"]\n[offload]\nbackend = \"none\"\n{}{vfs}",
                    replaced_uplink(dir)
                ),
            )
        }
        // Paced (50 frames a second) so that the ticks see each flow's
        // first frame before the rest of it comes.
        Carrier::Model => model::config(
            dir,
            &(model::uplink(input, loops) + ",rate_pps=50"),
            "[offload]\ntick_ms = 5\n[[offload.policy]]\nin_port = \"uplink\"\noffload = \"always\"\n",
        ),
    }
}

fn replay_and_check(loops: u64, path: Carrier) {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("jumbo.pcap");
    let frames = capture(&input);
    assert!(frames.iter().any(|f| f.len() == 9000));
    let cfg = config(dir.path(), path, &input, loops);
    let out_dir = dir.path().join("out");
    let log = dir.path().join("flows.jsonl");
    let out = run_replay(
        &cfg,
        &input,
        loops,
        &[
            "--capture-dir",
            out_dir.to_str().unwrap(),
            "--flow-log",
            log.to_str().unwrap(),
        ],
    );
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
    let hw: u64 = lines
        .iter()
        .map(|v| v["hw_packets"].as_u64().unwrap())
        .sum();

    let total: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let counters = final_counters(&stdout);
    assert_eq!(counters["uplink"].rx_packets, loops * frames.len() as u64);
    assert_eq!(counters["uplink"].rx_bytes, loops * total);

    // Each VF's capture holds its frames whole, every loop; in order where
    // one queue feeds it.
    let (mut offloaded, mut jumbo_offloaded) = (0, 0);
    for (vf, name) in (1..=4u8).zip(vf_names(path)) {
        let one: Vec<&Vec<u8>> = frames.iter().filter(|f| f[..6] == vf_mac(vf)).collect();
        let mut got = read_pcap(&out_dir.join(format!("{name}.pcap")));
        let mut want: Vec<&Vec<u8>> = (0..loops).flat_map(|_| one.iter().copied()).collect();
        if path == Carrier::Model {
            let nic = read_pcap(&out_dir.join(format!("{name}-offloaded.pcap")));
            offloaded += nic.len() as u64;
            jumbo_offloaded += nic.iter().filter(|f| f.len() == 9000).count();
            got.extend(nic);
            got.sort();
            want.sort();
        }
        assert_eq!(got.len(), want.len(), "{name}\n{}", describe(&out));
        for (i, (f, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(f.len(), w.len(), "{name} frame {i}: length");
            assert!(f == *w, "{name} frame {i}: bytes differ");
        }
        assert_eq!(
            counters[name].tx_bytes,
            loops * one.iter().map(|f| f.len() as u64).sum::<u64>()
        );
    }
    assert_eq!(offloaded, hw, "the rules delivered what they counted");
    if path == Carrier::Model {
        // Jumbo frames among what the NIC's rules delivered (a flow's first
        // frame is the workers', and the paced wire starts before the first
        // tick: the rules' share varies).
        assert!(
            jumbo_offloaded > 0,
            "the NIC carried {hw} of {}, no jumbo frame\n{}",
            loops * frames.len() as u64,
            describe(&out)
        );
    }
}

#[test]
fn jumbo_frames_replayed_once_become_flows_counted_by_their_full_length() {
    replay_and_check(1, Carrier::NetPcap);
}

#[test]
fn jumbo_frames_replayed_from_memory_three_times_become_flows_counted_by_their_full_length() {
    replay_and_check(3, Carrier::NetPcap);
}

#[test]
fn jumbo_frames_through_the_nic_model_become_flows_counted_by_their_full_length() {
    // Three loops: 63 frames over 1.3 s, so that the ticks have begun long
    // before the wire ends even on a busy machine (the paced wire starts
    // with the port, before flowlift's first tick: in one run of a single
    // loop, 21 frames in 0.4 s, the rules carried none of them).
    replay_and_check(3, Carrier::Model);
}

#[test]
fn a_frame_no_mbuf_can_hold_is_refused_naming_the_device_and_the_way_out() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("huge.pcap");
    // One byte more than a 65535-byte data room holds after its headroom.
    write_pcap(&input, &[v4_udp(1, 1, None, 65408), v4_udp(1, 2, None, 64)]);
    // net_pcap's infinite_rx holds each frame in one mbuf.
    let cfg = config(dir.path(), Carrier::NetPcap, &input, 3);
    let out = run_replay(&cfg, &input, 3, &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("net_pcap's infinite_rx") && stderr.contains("--loops 1"),
        "{}",
        describe(&out)
    );
    assert!(!stderr.contains("Invalid argument (EINVAL)\n"), "{stderr}");
    // So does the NIC model's wire (the demo's uplink), at any loops.
    let out = flowlift(&["run", "--replay", input.to_str().unwrap(), "--loops", "1"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("net_flowlift copies each frame into a single mbuf")
            && stderr.contains("editcap -s 65407"),
        "{}",
        describe(&out)
    );
}
