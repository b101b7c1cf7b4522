//! The appliance under a `Type=notify` unit, with a fake `NOTIFY_SOCKET`: it
//! says `READY=1` once it forwards (after its start-up lines), `STATUS=` with
//! each status line, `WATCHDOG=1` at half the watchdog timeout while it runs,
//! and `STOPPING=1` before its final report. Outside systemd (no socket) it
//! says nothing and runs as before.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use flowlift_tests::{flowlift_bin, private_run};
use flowlift_traffic::{generate, TrafficSpec};

/// Every datagram that arrives while `child` runs, with when it came.
fn datagrams(sock: &UnixDatagram, child: &mut Child) -> Vec<(Instant, String)> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            )),
            // Nothing came: over once the appliance has exited (and its
            // last datagram, sent before, was read).
            Err(_) if child.try_wait().unwrap().is_some() => return got,
            Err(_) => assert!(Instant::now() < deadline, "flowlift ran too long"),
        }
    }
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    generate(
        &TrafficSpec {
            flows: 200,
            packets: 2000,
            ..TrafficSpec::default()
        },
        &input,
    )
    .unwrap();
    let notify = dir.path().join("notify");
    let sock = UnixDatagram::bind(&notify).unwrap();
    let args = private_run(&[
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--loops",
        "0",
        "--duration",
        "3",
    ]);
    let mut child = Command::new(flowlift_bin())
        .args(&args)
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "400000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = datagrams(&sock, &mut child);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Vec<&str> = first.iter().map(|(_, m)| m.as_str()).collect();
    let ready = said
        .iter()
        .position(|m| m.starts_with("READY=1\nSTATUS=forwarding on "))
        .unwrap_or_else(|| panic!("no READY=1 in {said:?}"));
    let stopping = said
        .iter()
        .position(|m| *m == "STOPPING=1")
        .unwrap_or_else(|| panic!("no STOPPING=1 in {said:?}"));
    assert!(ready < stopping, "{said:?}");
    assert_eq!(
        stopping,
        said.len() - 1,
        "STOPPING=1 is the last word: {said:?}"
    );
    let statuses: Vec<&&str> = said[ready..stopping]
        .iter()
        .filter(|m| m.starts_with("STATUS=[") && m.contains("rx/tx/drop Mpps"))
        .collect();
    assert!(statuses.len() >= 2, "a STATUS= per status line: {said:?}");
    for s in &statuses {
        let line = s.strip_prefix("STATUS=").unwrap();
        assert!(stdout.contains(line), "the status line printed: {line}");
    }
    // Fed at half the 400 ms timeout while the loop turns: never a gap of
    // the whole timeout between two feeds.
    let feeds: Vec<Instant> = first
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert!(feeds.len() >= 5, "{} feeds in 3 s: {said:?}", feeds.len());
    for pair in feeds.windows(2) {
        assert!(
            pair[1] - pair[0] < Duration::from_millis(400),
            "a watchdog gap of {:?}",
            pair[1] - pair[0]
        );
    }
}
