//! How the appliance ends when an operator is impatient or brutal: a second
//! SIGINT hurries the stop but the final counters, the flow log and the
//! socket clean-up still happen (and the flow log accounts for every packet);
//! a SIGKILLed demo leaves no capture behind and the next demo reuses its
//! cached one.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flowlift_control::traffic::{generate, TrafficSpec};
use flowlift_tests::{
    final_counters, flow_log_lines, flowlift_bin, one_at_a_time, sum_by_tuple, Background,
};

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
