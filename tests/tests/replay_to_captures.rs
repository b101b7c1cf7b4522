//! The foundation's acceptance test: a generated capture replayed on the uplink
//! (the NIC model's wire, the demo's, with the workers alone; then a
//! `net_pcap` uplink with `net_pcap` VF writers), each VF's capture written
//! (by the PMD, or by net_pcap); afterwards every input frame is in the right
//! VF's capture, byte for byte and in order, nowhere else, and the final
//! counters the binary prints equal the capture's counts.

use std::collections::HashMap;

use flowlift_tests::{
    describe, final_counters, flowlift, one_at_a_time, read_pcap, replaced_uplink, replay_config,
    run_replay, write_pcap,
};
use flowlift_traffic::{generate, TrafficSpec};

const VFS: [&str; 4] = ["vf1", "vf2", "vf3", "vf4"];

fn vf_of(frame: &[u8]) -> Option<&'static str> {
    match frame.get(..6)? {
        [2, 0, 0, 0, 0, i @ 1..=4] => Some(VFS[usize::from(*i) - 1]),
        _ => None,
    }
}

/// A generated Zipf capture plus frames the switch must not deliver: unknown
/// unicast, broadcast, multicast and a runt.
fn capture_with_misses(dir: &std::path::Path) -> (std::path::PathBuf, Vec<Vec<u8>>) {
    let gen = dir.join("gen.pcap");
    generate(
        &TrafficSpec {
            flows: 500,
            packets: 6000,
            seed: 7,
            ..Default::default()
        },
        &gen,
    )
    .unwrap();
    let mut frames = read_pcap(&gen);
    // Frames of flows of their own (a flow's first packet decides its fate).
    let udp_to = |dst: [u8; 6], host: u8| {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], dst)
            .ipv4([10, 99, 0, host], [192, 168, 99, 1], 64)
            .udp(4000, 4000)
            .write(&mut f, &[0u8; 18])
            .unwrap();
        f
    };
    let unknown = udp_to([2, 0, 0, 0, 0, 0x77], 1);
    let bcast = udp_to([0xff; 6], 2);
    let mcast = udp_to([1, 0, 0x5e, 0, 0, 1], 3);
    let runt = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0];
    for (i, f) in [unknown, bcast, mcast, runt].into_iter().enumerate() {
        frames.insert(100 + i * 977, f);
    }
    let path = dir.join("in.pcap");
    write_pcap(&path, &frames);
    (path, frames)
}

#[test]
fn every_packet_reaches_its_vf_byte_for_byte_and_the_counters_agree() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (input, frames) = capture_with_misses(dir.path());
    let out_dir = dir.path().join("out");
    let out = flowlift(&[
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--capture-dir",
        out_dir.to_str().unwrap(),
        // The software path alone: one worker's TX queue per VF, so the
        // VF's file holds its frames in order.
        "--offload",
        "none",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "{}",
        describe(&out)
    );

    let mut want: HashMap<&str, Vec<Vec<u8>>> = HashMap::new();
    let mut misses = 0;
    for f in &frames {
        match vf_of(f) {
            Some(vf) if f.len() >= 14 => want.entry(vf).or_default().push(f.clone()),
            _ => misses += 1,
        }
    }
    assert_eq!(misses, 4);
    let counters = final_counters(&stdout);
    let uplink = &counters["uplink"];
    assert_eq!(uplink.rx_packets, frames.len() as u64);
    assert_eq!(
        uplink.rx_bytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(
        uplink.policy_dropped, 4,
        "unknown unicast, broadcast, multicast, runt"
    );
    assert_eq!(uplink.tx_packets, 0);
    let mut delivered = 0;
    for vf in VFS {
        let got = read_pcap(&out_dir.join(format!("{vf}.pcap")));
        let expected = &want[vf];
        assert_eq!(got.len(), expected.len(), "{vf}: frame count");
        assert!(
            got == *expected,
            "{vf}: frames differ from the input's, byte for byte or in order"
        );
        let c = &counters[vf];
        assert_eq!(c.tx_packets, expected.len() as u64, "{vf} TX-packets");
        assert_eq!(
            c.tx_bytes,
            expected.iter().map(|f| f.len() as u64).sum::<u64>(),
            "{vf} TX-bytes"
        );
        assert_eq!((c.rx_packets, c.tx_dropped, c.rx_dropped), (0, 0, 0));
        delivered += got.len();
    }
    assert_eq!(
        delivered + misses,
        frames.len(),
        "nothing lost, nothing duplicated"
    );
}

#[test]
fn a_config_with_flooding_and_several_loops_delivers_every_copy() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (input, frames) = capture_with_misses(dir.path());
    let d = dir.path().display();
    let config = format!(
        r#"
[eal]
args = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry"]
[dataplane]
worker_lcores = [1]
burst = 64
unknown_unicast = "flood"
broadcast = "flood"
{uplink}
[[port]]
name = "a"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_pcap1,tx_pcap={d}/a.pcap"
[[port]]
name = "b"
role = "vf"
mac = "02:00:00:00:00:02"
device = "net_pcap2,tx_pcap={d}/b.pcap"
[offload]
backend = "none"
"#,
        uplink = replaced_uplink(dir.path())
    );
    let cfg = replay_config(dir.path(), &config);
    let out = run_replay(&cfg, &input, 2, &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let counters = final_counters(&String::from_utf8_lossy(&out.stdout));
    let n = frames.len() as u64;
    assert_eq!(counters["uplink"].rx_packets, 2 * n);
    let (vf_a, vf_b) = ([2u8, 0, 0, 0, 0, 1], [2u8, 0, 0, 0, 0, 2]);
    // Frames for vf3/vf4 are unknown unicast here, as are the 0x77 one; with the
    // broadcast and multicast they are flooded to both VFs. The runt is dropped.
    let a_frames: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| f.len() >= 14 && f[..6] != vf_b)
        .collect();
    let b_frames: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| f.len() >= 14 && f[..6] != vf_a)
        .collect();
    let flooded = frames
        .iter()
        .filter(|f| f.len() >= 14 && f[..6] != vf_a && f[..6] != vf_b)
        .count() as u64;
    assert_eq!(counters["uplink"].flooded, 2 * flooded);
    assert_eq!(counters["uplink"].policy_dropped, 2, "the runt, twice");
    for (name, want) in [("a", a_frames), ("b", b_frames)] {
        let got = read_pcap(&dir.path().join(format!("{name}.pcap")));
        let twice: Vec<&Vec<u8>> = want.iter().chain(want.iter()).copied().collect();
        assert_eq!(got.len(), twice.len(), "{name}");
        assert!(
            got.iter().zip(&twice).all(|(g, w)| g == *w),
            "{name}: frames differ"
        );
        assert_eq!(counters[name].tx_packets, twice.len() as u64);
    }
}
