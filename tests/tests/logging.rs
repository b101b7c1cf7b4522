//! The appliance's log, end to end: `flowlift run --log-format json
//! --log-level debug` on the NIC model made to refuse every rule install
//! (`fault_busy_every=1`). What flowlift writes
//! on stderr is one JSON object per line (DPDK's own lines, EAL's and the
//! PMD's, are DPDK's and stay as they are); the refusals are `offload`
//! events naming the reason and the NIC's error; and the storm of
//! refusals is cut to about a line a second, each saying how many like it
//! were held back, against the final report's count of refusals.

use flowlift_tests::model;
use flowlift_tests::{describe, flowlift, number_after, offload_line, one_at_a_time};
use flowlift_traffic::TrafficSpec;
use serde_json::Value;

/// The JSON events of a run's stderr, after checking that every line
/// flowlift wrote is one: a line that is not JSON must be DPDK's (EAL, a
/// PMD), never flowlift's.
fn events(stderr: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => {
                assert!(v.is_object(), "an event is an object: {line}");
                for key in ["timestamp", "level", "target", "message"] {
                    assert!(v.get(key).is_some(), "{key} in {line}");
                }
                out.push(v);
            }
            Err(_) => assert!(
                is_dpdk(line),
                "a line of flowlift's that is not JSON: {line:?}"
            ),
        }
    }
    out
}

/// A line of DPDK's own log: `TYPE: ...`, EAL's or a driver's
/// (`EAL: ...`, `net_flowlift: ...`), never flowlift's (whose text lines
/// would start with a timestamp, and whose error line with `flowlift:`).
fn is_dpdk(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(kind, _)| {
        !kind.is_empty()
            && kind != "flowlift"
            && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn refusals_are_json_offload_events_and_a_storm_is_a_line_a_second() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("in.pcap");
    model::capture(
        &capture,
        &TrafficSpec {
            flows: 2000,
            packets: 20_000,
            seed: 3,
            ..TrafficSpec::default()
        },
    );
    // Forever (loops=0), stopped by --duration: the refusals go on for
    // three seconds whatever the machine's speed.
    let device =
        model::uplink(&capture, 0) + ",counter_refresh_ms=0,switch_cpu=1,fault_busy_every=1";
    let tables = "[offload]
tick_ms = 5
promote_pps = 50
demote_pps = 10
hold = 1
backoff_ms = 5
";
    let cfg = model::config(dir.path(), &device, tables);
    let out = flowlift(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--duration",
        "3",
        "--log-format",
        "json",
        "--log-level",
        "debug",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events = events(&stderr);

    // The report's count of refusals, all busy.
    let line = offload_line(&stdout);
    let refused = number_after(&line, "failed busy");
    assert!(refused >= 100, "a storm of refusals: {line}");

    // The offload target's lines of reason "busy" whose message says so.
    let busy_lines = |says: &dyn Fn(&str) -> bool| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["target"] == "offload" && e["reason"] == "busy")
            .filter(|e| says(e["message"].as_str().unwrap()))
            .collect()
    };
    let refusals = busy_lines(&|m| m.starts_with("rte_flow install refused"));
    assert!(!refusals.is_empty(), "refusals logged:\n{stderr}");
    for e in &refusals {
        assert_eq!(e["level"], "WARN", "{e}");
        assert!(e["flow"].as_str().is_some_and(|f| f.contains("->")), "{e}");
        // The NIC's own words: EBUSY, as the PMD said it.
        assert!(e["error"].as_str().unwrap().contains("EBUSY"), "{e}");
    }
    // Rate-limited: a few lines for hundreds of refusals, at most one a
    // second (three seconds, and the one that starts the count), and the
    // ones held back are counted in the next line.
    assert!(
        refusals.len() <= 4,
        "{} lines for {refused} refusals:\n{stderr}",
        refusals.len()
    );
    let held: u64 = refusals.iter().map(|e| e["held"].as_u64().unwrap()).sum();
    assert!(held > 0, "a line says how many were held back:\n{stderr}");
    assert!(
        refusals.iter().any(|e| {
            let m = e["message"].as_str().unwrap();
            m.contains("more like this in the last")
        }),
        "{stderr}"
    );
    assert!(
        held + refusals.len() as u64 <= refused,
        "{held} held, {line}"
    );
    // The storm went on to the stop: what its last second held back is
    // said then, at the refusals' level, with no refusal line to carry it.
    let last = busy_lines(&|m| m.contains("more like the last \"busy\" line"));
    assert!(
        !last.is_empty(),
        "the held count said at the stop:\n{stderr}"
    );
    for e in &last {
        assert_eq!(e["level"], "WARN", "{e}");
        assert!(e["held"].as_u64().unwrap() > 0, "{e}");
    }
    let at_stop: u64 = last.iter().map(|e| e["held"].as_u64().unwrap()).sum();
    assert!(
        held + at_stop + refusals.len() as u64 <= refused,
        "{held} + {at_stop} held, {line}"
    );

    // The NIC's insertion back-off.
    assert!(
        events.iter().any(|e| e["target"] == "offload"
            && e["message"]
                .as_str()
                .unwrap()
                .starts_with("insertion back-off started")),
        "{stderr}"
    );
    // Start-up and stop, as the other targets tell them.
    assert!(
        events
            .iter()
            .any(|e| e["target"] == "ports" && e["port"] == "uplink"),
        "{stderr}"
    );
    for stage in [
        "flowlift started",
        "stopping (--duration reached)",
        "stopped",
    ] {
        assert!(
            events
                .iter()
                .any(|e| e["target"] == "control"
                    && e["message"].as_str().unwrap().starts_with(stage)),
            "{stage}:\n{stderr}"
        );
    }
}

#[test]
fn dpdk_lines_are_told_from_flowlifts() {
    assert!(is_dpdk("EAL: Detected CPU lcores: 2"));
    assert!(is_dpdk(
        "net_flowlift: net_flowlift0: closed holding 0 flow rule(s)"
    ));
    assert!(!is_dpdk("flowlift: error: config t.toml: nope"));
    assert!(!is_dpdk(
        "2026-11-30T16:37:34.782222Z  WARN offload: refused"
    ));
    assert!(!is_dpdk("  Offload (rte_flow): installs 0"));
}

#[test]
fn a_bad_log_option_is_the_one_error_line() {
    let out = flowlift(&["run", "--log-level", "loud"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("flowlift: error: ") && stderr.contains("loud"),
        "{stderr}"
    );
    let out = std::process::Command::new(flowlift_tests::flowlift_bin())
        .args(["run", "--check-config"])
        .env("RUST_LOG", "offload=bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("flowlift: error: RUST_LOG") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
