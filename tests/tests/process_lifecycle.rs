//! How the process starts and stops: the demo's status line, `--duration`,
//! SIGTERM and SIGINT with final counters and exit 0, and bad configs refused with
//! one clear line and a non-zero exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowlift_tests::{
    describe, final_counters, flowlift, flowlift_bin, one_at_a_time, private_run,
};

#[test]
fn the_demo_prints_a_moving_status_line_and_stops_at_its_duration() {
    let _serial = one_at_a_time();
    let out = flowlift(&["run", "--duration", "2.5"]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let status: Vec<&str> = stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert!(status.len() >= 2, "{}", describe(&out));
    assert!(
        status[0].contains("rx/tx/drop Mpps: uplink ") && status[0].contains(" vf4 "),
        "{}",
        status[0]
    );
    assert!(
        !status[1].contains("uplink 0.00/"),
        "traffic moves: {}",
        status[1]
    );
    assert!(stdout.contains("Stopping (--duration reached)"));
    let c = final_counters(&stdout);
    let up = &c["uplink"];
    assert!(up.rx_packets > 0);
    let vf_tx: u64 = ["vf1", "vf2", "vf3", "vf4"]
        .iter()
        .map(|v| c[*v].tx_packets)
        .sum();
    assert_eq!(
        up.rx_packets,
        vf_tx + up.policy_dropped,
        "every packet received was sent or counted"
    );
}

fn stop_with(signal: &str) {
    let mut child = Command::new(flowlift_bin())
        .args(private_run(&["run"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flowlift");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait for the first status line: the workers are forwarding.
    loop {
        let line = lines
            .next()
            .expect("flowlift printed a status line")
            .unwrap();
        if line.starts_with('[') {
            break;
        }
        assert!(Instant::now() < deadline, "no status line");
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-s", signal, &pid])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let rest = rest.join("\n");
    assert!(status.success(), "SIG{signal}: exit {status:?}\n{rest}");
    assert!(rest.contains("Stopping (signal)"), "{rest}");
    assert!(final_counters(&rest)["uplink"].rx_packets > 0, "{rest}");
}

#[test]
fn sigterm_and_sigint_stop_cleanly_with_final_counters() {
    let _serial = one_at_a_time();
    stop_with("TERM");
    stop_with("INT");
}

fn refused(config: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).unwrap();
    let out = flowlift(&["run", "--config", path.to_str().unwrap(), "--duration", "1"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("flowlift: error: "))
        .collect();
    assert_eq!(ours.len(), 1, "one line from flowlift:\n{stderr}");
    assert!(ours[0].contains(want), "expected {want:?} in {:?}", ours[0]);
}

const PORTS: &str = r#"
[[port]]
name = "uplink"
role = "uplink"
device = "net_null0"
[[port]]
name = "vf1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_null1,no-rx=1"
"#;

#[test]
fn bad_configs_exit_non_zero_with_one_line_naming_the_problem() {
    let _serial = one_at_a_time();
    let eal = "[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"--no-shconf\", \"--no-telemetry\"]\n";
    refused(
        &format!("{eal}[dataplane]\nburst_size = 32\n{PORTS}"),
        "unknown field `burst_size`",
    );
    refused(
        &format!(
            "{eal}{}",
            PORTS.replace(
                "role = \"uplink\"",
                "role = \"vf\"\nmac = \"02:00:00:00:00:09\""
            )
        ),
        "no port has role = \"uplink\"",
    );
    refused(
        &format!(
            "{eal}{}",
            PORTS.replace("02:00:00:00:00:01", "02:00:00:00:01")
        ),
        "bad MAC address \"02:00:00:00:01\"",
    );
    refused(
        &format!(
            "{eal}{}",
            PORTS.replace("net_null1,no-rx=1", "0000:99:00.0")
        ),
        "port vf1: no DPDK port named \"0000:99:00.0\"",
    );
    refused(
        &format!("[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"--bogus-eal-flag\"]\n{PORTS}"),
        "EAL initialisation failed",
    );
    let two_lcores =
        "[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"--no-shconf\", \"-l\", \"0-1\"]\n";
    refused(
        &format!("{two_lcores}[dataplane]\nworker_lcores = [1, 3]\n{PORTS}"),
        "worker lcore 3 is not in EAL's lcore list",
    );
    // The emulated NIC's lcore went with it.
    refused(
        &format!("{eal}[offload]\nlcore = 2\n{PORTS}"),
        "unknown field `lcore`",
    );
    // rte_flow, the default, on a device without flow rules.
    refused(
        &format!("{eal}{PORTS}"),
        "offload backend rte_flow on port uplink (net_null)",
    );
    let dir = tempfile::tempdir().unwrap();
    let one_queue = format!("net_pcap1,tx_pcap={}/vf1.pcap", dir.path().display());
    let three_lcores =
        "[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"--no-shconf\", \"--lcores=0@0,1@1,2@1\"]\n";
    refused(
        &format!(
            "{three_lcores}[dataplane]\nworker_lcores = [1, 2]\n[offload]\nbackend = \"none\"\n{}",
            PORTS.replace("net_null1,no-rx=1", &one_queue)
        ),
        "port vf1: net_pcap offers 1 TX queues; 2 workers need one each",
    );
    let out = flowlift(&["run", "--config", "/nonexistent/flowlift.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("config /nonexistent/flowlift.toml: No such file"));
}
