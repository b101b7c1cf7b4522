//! How the appliance ends when an operator is impatient or brutal: a second
//! SIGINT hurries the stop but the final counters, the flow log and the
//! socket clean-up still happen (and the flow log accounts for every packet);
//! SIGTERM with flows on the NIC model leaves no rule on the device and every
//! packet a VF got in the flow log; a SIGKILLed demo leaves no capture behind
//! and the next demo reuses its cached one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use flowlift_tests::model;
use flowlift_tests::{
    final_counters, flow_log_lines, flowlift_bin, number_after, offload_line, one_at_a_time,
    oracle_flows, shell, sum_by_tuple, Background,
};
use flowlift_traffic::{generate, TrafficSpec};

fn kill(pid: u32, signal: &str) {
    assert!(Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_second_sigint_hurries_the_stop_but_loses_nothing() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    generate(
        &TrafficSpec {
            flows: 500,
            packets: 5000,
            ..TrafficSpec::default()
        },
        &input,
    )
    .unwrap();
    let sock = dir.path().join("ctl.sock");
    let log = dir.path().join("flows.jsonl");
    let mut app = Background::start(&[
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--loops",
        "0",
        "--duration",
        "120",
        "--flow-log",
        log.to_str().unwrap(),
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        "",
    ]);
    app.wait_for("[", Duration::from_secs(60));
    let pid = app.child.id();
    kill(pid, "INT");
    std::thread::sleep(Duration::from_millis(30));
    kill(pid, "INT");
    let (status, stdout, stderr) = app.finish(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(stdout.contains("Stopping (signal)"), "{stdout}");
    assert!(!sock.exists(), "the socket file goes with the appliance");
    let fin = final_counters(&stdout);
    let flows = sum_by_tuple(&flow_log_lines(&log));
    assert!(!flows.is_empty());
    let logged: u64 = flows.values().map(|c| c.0).sum();
    assert_eq!(
        logged, fin["uplink"].rx_packets,
        "every packet the uplink took is in the flow log\n{stdout}"
    );
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_killed_demo_leaves_no_capture_behind_and_the_next_reuses_the_cached_one() {
    let _serial = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let demo = |socket: &str| {
        let mut child = Command::new(flowlift_bin())
            .args(["run", "--socket", socket, "--metrics", ""])
            .env("TMPDIR", tmp.path())
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("CACHE_DIRECTORY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The first status line: the capture is made and replayed.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.starts_with('[') {
            line.clear();
            assert!(
                std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
                "the demo ended before its first status line"
            );
        }
        kill(child.id(), "KILL");
        child.wait().unwrap();
    };
    let sock = tmp.path().join("a.sock");
    demo(sock.to_str().unwrap());
    let cached = entries(&cache.path().join("flowlift"));
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with("demo-") && cached[0].ends_with(".pcap"));
    let file = cache.path().join("flowlift").join(&cached[0]);
    let made = std::fs::metadata(&file).unwrap().modified().unwrap();
    // Only the dead run's socket is left in the temporary directory (a
    // SIGKILL leaves that to the next run, which replaces a stale socket).
    assert_eq!(entries(tmp.path()), ["a.sock"]);

    let sock = tmp.path().join("b.sock");
    demo(sock.to_str().unwrap());
    assert_eq!(entries(&cache.path().join("flowlift")), cached);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        made,
        "reused, not made again"
    );
}

/// SIGTERM while flows are on the NIC (the model, its counters cached
/// 200 ms, so a destroyed rule's last packets show a refresh later): before
/// it exits flowlift takes every rule and indirect count off the device (the
/// PMD's own count when its PF closes is none of either), and no packet is
/// lost on the way: every frame a VF received, by the workers or by the
/// rules (the PMD's captures, read by etherparse), is in the flow log under
/// its flow, and nothing else is.
#[test]
fn sigterm_takes_every_rule_off_the_nic_and_every_delivered_packet_is_logged() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    model::capture(
        &input,
        &TrafficSpec {
            flows: 300,
            packets: 5000,
            ..TrafficSpec::default()
        },
    );
    let cfg = model::config(
        dir.path(),
        &(model::uplink(&input, 0) + ",counter_refresh_ms=200"),
        "[offload]\nmax_rules = 32\ntick_ms = 20\npromote_pps = 200\ndemote_pps = 50\n",
    );
    let sock = dir.path().join("ctl.sock");
    let log = dir.path().join("flows.jsonl");
    let out_dir = dir.path().join("out");
    let mut app = Background::start(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--socket",
        sock.to_str().unwrap(),
        "--flow-log",
        log.to_str().unwrap(),
        "--capture-dir",
        out_dir.to_str().unwrap(),
    ]);
    app.wait_for("control socket", Duration::from_secs(60));
    // Rules on the NIC that have carried packets (a fresh reading of their
    // counters shows them).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (good, text) = shell(&sock, "show flows offloaded top 8 --json");
        let carried = good
            && serde_json::from_str::<Vec<serde_json::Value>>(&text)
                .is_ok_and(|f| f.iter().any(|f| f["hw_packets"].as_u64() > Some(0)));
        if carried {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no rule carried packets:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(app.child.id(), "TERM");
    let (status, stdout, stderr) = app.finish(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(stdout.contains("Stopping (signal)"), "{stdout}");

    let line = offload_line(&stdout);
    assert!(number_after(&line, "installs") > 0, "{line}");
    assert_eq!(number_after(&line, "rules left"), 0, "{line}");
    assert_eq!(
        number_after(&line, "removals"),
        number_after(&line, "installs"),
        "{line}"
    );
    assert_eq!(
        model::held_at_close(&stderr),
        (0, 0),
        "the device's own count of rules and indirect counts at close"
    );

    // Per flow: the flow log against what the VFs received.
    let vfs = model::vf_captures(&out_dir);
    let delivered: Vec<Vec<u8>> = vfs.values().flat_map(|c| c.all().cloned()).collect();
    let lines = flow_log_lines(&log);
    assert_eq!(sum_by_tuple(&lines), oracle_flows(&delivered, 1));
    let hw: u64 = lines
        .iter()
        .map(|v| v["hw_packets"].as_u64().unwrap())
        .sum();
    let offloaded: u64 = vfs.values().map(|c| c.offloaded.len() as u64).sum();
    assert!(offloaded > 0);
    assert_eq!(
        hw, offloaded,
        "the rules' final counts are what they delivered"
    );
    let fin = final_counters(&stdout);
    assert_eq!(fin["uplink"].rx_packets, delivered.len() as u64);
}
