//! flowlift on the NIC model's ports, with the PMD built into the binary (no
//! `-d`): the uplink is `net_flowlift0,wire=CAPTURE,loops=2,representor=vf[0-3]`
//! and each VF port its representor `net_flowlift0_representor_vfN`, the shape
//! docs/rte_flow.md gives for mlx5. With `--offload none` the workers forward
//! everything in software (offload through rte_flow onto the model is issue
//! 12). The wire is unpaced, so it waits for the host and nothing is missed:
//! the uplink receives the capture times the loops, each VF sends what the
//! capture addresses to its MAC times the loops, and the run ends by itself
//! when the finite wire is through.

use flowlift_tests::model::{self, by_vf, VFS};
use flowlift_tests::{describe, final_counters, flowlift, one_at_a_time, write_pcap};
use flowlift_traffic::TrafficSpec;

/// Checks a finished run's ports and final counters against `frames`
/// replayed `loops` times.
fn check_run(out: &std::process::Output, frames: &[Vec<u8>], loops: u64) {
    assert!(out.status.success(), "{}", describe(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The five ports, all the built-in driver's, named as the PMD names them.
    let ports: Vec<&str> = stdout.lines().filter(|l| l.starts_with("port ")).collect();
    // One worker: one RX queue a port, unspread.
    let mut want =
        vec!["port 0 uplink: net_flowlift0 (net_flowlift), link up, 1 RX queue".to_string()];
    for (i, (name, _)) in VFS.iter().enumerate() {
        want.push(format!(
            "port {} {name}: net_flowlift0_representor_vf{i} (net_flowlift), link up, 1 RX queue",
            i + 1
        ));
    }
    assert_eq!(ports, want, "{}", describe(out));
    // The finite wire ends the run by itself.
    assert!(
        stdout.contains("Stopping (replay complete)"),
        "{}",
        describe(out)
    );
    let counters = final_counters(&stdout);
    let uplink = &counters["uplink"];
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!(
        (uplink.rx_packets, uplink.rx_bytes),
        (frames.len() as u64 * loops, bytes * loops),
        "uplink RX: the capture times the loops\n{}",
        describe(out)
    );
    assert_eq!(
        (uplink.rx_dropped, uplink.tx_packets, uplink.policy_dropped),
        (0, 0, 0),
        "nothing missed at the uplink, nothing sent back\n{}",
        describe(out)
    );
    let want = by_vf(frames);
    for (name, _) in VFS {
        let c = &counters[name];
        let (packets, bytes) = want[name];
        assert!(packets > 0, "the capture addresses {name}");
        assert_eq!(
            (c.tx_packets, c.tx_bytes),
            (packets * loops, bytes * loops),
            "{name} TX: its frames of the capture times the loops\n{}",
            describe(out)
        );
        assert_eq!((c.rx_packets, c.tx_dropped), (0, 0), "{name}");
    }
}

#[test]
fn the_built_in_pmd_s_ports_carry_the_wire_to_the_representors() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("wire.pcap");
    let frames = model::capture(
        &capture,
        &TrafficSpec {
            flows: 300,
            packets: 5000,
            seed: 11,
            ..Default::default()
        },
    );
    let cfg = model::config(dir.path(), &model::uplink(&capture, 2), "");
    let out = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--offload",
        "none",
    ]);
    check_run(&out, &frames, 2);
}

/// `--replay` on the model's uplink sets its wire (the representors stay),
/// and jumbo frames get mbufs large enough: the PMD copies each frame into
/// one mbuf of flowlift's pool, and one that does not fit would be an
/// `ierrors`, never delivered.
#[test]
fn a_replayed_jumbo_wire_fits_the_mbufs() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.pcap");
    let small_frames = model::capture(
        &small,
        &TrafficSpec {
            flows: 20,
            packets: 400,
            seed: 3,
            ..Default::default()
        },
    );
    let jumbo_frames = model::capture(
        &dir.path().join("jumbo.pcap"),
        &TrafficSpec {
            flows: 20,
            packets: 400,
            frame_len: 9000,
            seed: 4,
            ..Default::default()
        },
    );
    // The small capture interleaved with the jumbo one: default and jumbo
    // frames on one wire.
    let mut frames = Vec::new();
    for (a, b) in small_frames.into_iter().zip(jumbo_frames) {
        frames.push(a);
        frames.push(b);
    }
    assert!(frames.iter().any(|f| f.len() == 9000));
    let input = dir.path().join("mixed.pcap");
    write_pcap(&input, &frames);
    let cfg = model::config(dir.path(), &model::uplink(&small, 1), "");
    let out = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--offload",
        "none",
        "--replay",
        input.to_str().unwrap(),
        "--loops",
        "3",
    ]);
    check_run(&out, &frames, 3);
}

#[test]
fn loading_the_pmd_s_shared_object_too_is_refused_before_eal() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("wire.pcap");
    write_pcap(&capture, &[]);
    let cfg = model::config(dir.path(), &model::uplink(&capture, 1), "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "args = [",
        "args = [\"-d\", \"/opt/x/librte_net_flowlift.so\", ",
    );
    std::fs::write(&cfg, text).unwrap();
    let out = flowlift(&["run", "--config", cfg.to_str().unwrap(), "--check-config"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loads librte_net_flowlift.so, but net_flowlift is built into flowlift"),
        "{}",
        describe(&out)
    );
}
