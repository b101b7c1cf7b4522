//! The operator's interfaces end to end: the appliance runs a known capture
//! on the NIC model's wire (`net_flowlift`, offload through rte_flow); the
//! test drives it through its control socket
//! with every command (`flowlift shell -c`), checks the answers (and the JSON
//! shapes) against the capture, scrapes `/metrics` (promtool-clean) and checks
//! that its counters agree with `show port stats`, the final report and the
//! flow log. Bad commands and a client that leaves mid-command leave the
//! appliance serving.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use flowlift_tests::model::{self, VFS};
use flowlift_tests::{
    final_counters, flow_log_lines, number_after, one_at_a_time, oracle, read_pcap,
    scrape_metrics as scrape, shell, Background, Tuple,
};
use flowlift_traffic::{generate, TrafficSpec};

const FLOWS: u32 = 200;

/// The value of the sample line `name` exactly (labels included).
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name:?} in\n{metrics}"))
}

fn promtool_ok(metrics: &str, dir: &Path) {
    let f = dir.join("metrics.txt");
    std::fs::write(&f, metrics).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .expect("promtool (scripts/setup installs prometheus)");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A capture of `FLOWS` flows, 4000 packets, in `dir`.
fn capture(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in.pcap");
    let spec = TrafficSpec {
        flows: FLOWS,
        packets: 4000,
        ..TrafficSpec::default()
    };
    generate(&spec, &input).unwrap();
    input
}

/// The appliance replaying `input` endlessly (for up to two minutes), its
/// control socket at `sock`, /metrics on a free port, `extra` options after.
fn serve(input: &Path, sock: &Path, extra: &[&str]) -> Background {
    let mut args = vec![
        "run",
        "--replay",
        input.to_str().unwrap(),
        "--loops",
        "0",
        "--duration",
        "120",
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    Background::start(&args)
}

/// The answer to `cmd`, which must be accepted.
fn answered(sock: &Path, cmd: &str) -> String {
    let (good, text) = shell(sock, cmd);
    assert!(good, "{cmd:?} was refused: {text}");
    text
}

/// Checks that `cmd` is refused in one line that contains `want`.
fn refused_in_one_line(sock: &Path, cmd: &str, want: &str) {
    let (good, text) = shell(sock, cmd);
    assert!(!good, "{cmd:?} should be refused: {text}");
    assert!(
        text.contains(want),
        "{cmd:?}: expected {want:?} in {text:?}"
    );
    assert_eq!(text.trim().lines().count(), 1, "one line: {text:?}");
}

/// `RX-packets: N` and `TX-packets: N` of each block of `show port stats`.
fn shown_packets(text: &str) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut rx = 0;
    for line in text.lines() {
        if let Some(i) = line.find("NIC statistics for port ") {
            let rest = &line[i..];
            name = rest[rest.find('(').unwrap() + 1..rest.find(')').unwrap()].to_string();
        } else if line.contains("RX-packets:") {
            rx = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        } else if line.contains("TX-packets:") {
            let tx = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            out.push((name.clone(), rx, tx));
        }
    }
    out
}

#[test]
fn every_command_answers_from_the_running_appliance_and_metrics_agree() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path());
    let tuples: HashSet<Tuple> = read_pcap(&input)
        .iter()
        .map(|f| oracle(f).expect("a 5-tuple"))
        .collect();
    assert_eq!(tuples.len(), FLOWS as usize);
    let sock = dir.path().join("ctl.sock");
    let log = dir.path().join("flows.jsonl");
    let mut app = serve(
        &input,
        &sock,
        &[
            "--flow-log",
            log.to_str().unwrap(),
            "--promote-pps",
            "50",
            "--demote-pps",
            "10",
            "--tick-ms",
            "20",
            // Fewer rules than flows: some flows on each path.
            "--max-rules",
            "20",
        ],
    );
    app.wait_for("control socket", Duration::from_secs(60));
    let metrics_line = app.wait_for("metrics on http://", Duration::from_secs(5));
    let addr = metrics_line
        .trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .to_string();
    let ok = |cmd: &str| answered(&sock, cmd);
    let refused = |cmd: &str, want: &str| refused_in_one_line(&sock, cmd, want);
    wait_until("flows on the NIC and every flow seen", || {
        ok("show offload").contains("flows: 200 tracked")
            && ok("show flows offloaded top 1").contains("1 of ")
    });

    assert!(ok("help").contains("show port stats all|N"));
    let stats = shown_packets(&ok("show port stats all"));
    assert_eq!(
        stats.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["uplink", "vf1", "vf2", "vf3", "vf4"]
    );
    assert!(stats[0].1 > 0, "the uplink receives");
    assert!(ok("show port xstats 0").contains("NIC extended statistics for port 0"));
    assert!(ok("show fwd stats").contains("lcore 1: packets"));
    let offload = ok("show offload");
    assert!(offload.contains("Offload backend: rte_flow"), "{offload}");
    assert!(offload.contains("flows: 200 tracked"), "{offload}");

    // show flows --json: the capture's flows, each with the documented fields.
    let flows: Vec<serde_json::Value> = serde_json::from_str(&ok("show flows --json")).unwrap();
    assert_eq!(flows.len(), FLOWS as usize);
    let keys = [
        "id",
        "in_port",
        "vlan",
        "src",
        "dst",
        "proto",
        "sport",
        "dport",
        "state",
        "rate_pps",
        "packets",
        "bytes",
        "sw_packets",
        "sw_bytes",
        "hw_packets",
        "hw_bytes",
        "offloads",
        "offload_failure",
        "used_s",
        "action",
    ];
    let mut seen = HashSet::new();
    for f in &flows {
        let obj = f.as_object().unwrap();
        assert_eq!(obj.keys().map(String::as_str).collect::<Vec<_>>(), keys);
        assert_eq!(
            f["packets"].as_u64().unwrap(),
            f["sw_packets"].as_u64().unwrap() + f["hw_packets"].as_u64().unwrap()
        );
        seen.insert(flowlift_tests::tuple_of(f));
    }
    assert_eq!(seen, tuples, "show flows lists exactly the capture's flows");
    let top: Vec<serde_json::Value> =
        serde_json::from_str(&ok("show flows offloaded top 3 --json")).unwrap();
    assert!(!top.is_empty() && top.len() <= 3, "{top:?}");
    assert!(top.iter().all(|f| f["state"] == "offloaded"));
    let text = ok("show flows top 5");
    assert!(text.contains("5 of 200 flows"), "{text}");
    let dump = ok("dump-flows");
    assert_eq!(dump.lines().count(), FLOWS as usize);
    assert!(dump.lines().all(|l| l.starts_with("in_port(uplink),")
        && l.contains(", packets:")
        && l.contains(", carried:")));
    assert!(dump.contains("carried:nic") && dump.contains("carried:workers"));
    let dumped: Vec<serde_json::Value> = serde_json::from_str(&ok("dump-flows --json")).unwrap();
    assert_eq!(dumped.len(), FLOWS as usize);

    // Settings, policies, manual overrides.
    assert!(ok("set offload promote-pps 60").contains("promote-pps set to 60"));
    assert!(ok("show offload").contains("promote-pps 60,"));
    refused("set offload demote-pps 100", "flows would flap");
    // The model, as mlx5, says no capacity (its ENOSPC is handled): any
    // budget in the config's range goes.
    assert!(ok("set offload max-rules 5000").contains("max-rules set to 5000"));
    refused(
        "set offload max-rules 0",
        "set offload max-rules 0: refused",
    );
    assert!(ok("set offload max-rules 20").contains("max-rules set to 20"));
    assert!(ok("set offload tick-ms 25").contains("tick-ms set to 25"));
    assert!(ok("policy add priority 3 proto udp dport 53 offload never").contains("policy added"));
    assert!(ok("policy list").contains("0: priority 3 proto 17 dport 53-53 -> offload never"));
    refused(
        "policy add proto udp offload sometimes",
        "unknown variant `sometimes`",
    );
    assert!(ok("policy del 0").contains("policy 0 removed"));
    refused("policy del 0", "no policy 0");
    let id = top[0]["id"].as_u64().unwrap();
    assert!(ok(&format!("flow onload {id}")).contains("onloaded"));
    let after: Vec<serde_json::Value> = serde_json::from_str(&ok("show flows --json")).unwrap();
    let me = after.iter().find(|f| f["id"] == id).unwrap();
    assert_eq!(me["state"], "onloaded");
    assert!(ok(&format!("flow offload {id}")).contains(&format!("flow {id} offloaded")));
    refused("flow offload 999999", "no such flow");
    refused("flow offload {id}", "expected a flow id");

    // Bad input of every kind leaves it serving.
    refused("frobnicate", "unknown command \"frobnicate\"");
    refused("show port stats 9", "no port 9");
    refused("show port stats", "expected \"all\" or a port id");
    {
        let mut half = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        half.write_all(b"show fl").unwrap();
    }
    drop(std::os::unix::net::UnixStream::connect(&sock).unwrap());
    assert!(ok("show offload").contains("Offload backend"));

    // Stop forwarding: counters settle; show port stats and /metrics agree.
    // Held, the workers carry nothing more and the wire soon stands (its
    // next frame for the host meets a full RX ring), but the NIC's share
    // moves on until its cached counters (the demo's device refreshes them
    // every 1000 ms) have shown the rules' last packets: settled is no
    // change over longer than a refresh period.
    assert!(ok("stop").contains("Forwarding stopped"));
    // `stop` answers once every worker acknowledged it: from then on the
    // workers take nothing, at once (the NIC's share settles later).
    let worker_packets = |text: &str| -> String {
        text.lines()
            .find(|l| l.contains("lcore 1: packets"))
            .and_then(|l| l.split(',').next())
            .unwrap_or_else(|| panic!("no worker line in {text}"))
            .to_string()
    };
    let held = worker_packets(&ok("show fwd stats"));
    assert_eq!(
        worker_packets(&ok("show fwd stats")),
        held,
        "the workers still took packets after stop answered"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut shown = shown_packets(&ok("show port stats all"));
    loop {
        std::thread::sleep(Duration::from_millis(1300));
        let later = shown_packets(&ok("show port stats all"));
        if later == shown {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never settled");
        shown = later;
    }
    let m = scrape(&addr);
    promtool_ok(&m, dir.path());
    for (name, rx, tx) in &shown {
        let mrx = sample(
            &m,
            &format!("flowlift_port_rx_packets_total{{port=\"{name}\"}}"),
        );
        let mtx = sample(
            &m,
            &format!("flowlift_port_tx_packets_total{{port=\"{name}\"}}"),
        );
        assert_eq!(
            (*rx, *tx),
            (mrx as u64, mtx as u64),
            "{name}: show port stats vs /metrics"
        );
    }
    let again = shown_packets(&ok("show port stats all"));
    assert_eq!(shown, again, "nothing moves while stopped");
    let carried_nic = sample(&m, "flowlift_carried_packets_total{path=\"nic\"}") as u64;
    let carried_sw = sample(&m, "flowlift_carried_packets_total{path=\"workers\"}") as u64;
    assert_eq!(
        carried_nic + carried_sw,
        shown[0].1,
        "every packet by one path"
    );
    // The NIC model's switch: its own CPU, not the host's, one series.
    assert!(
        sample(&m, "flowlift_nic_model_busy_seconds_total") > 0.0,
        "the model's switch time in /metrics"
    );
    assert!(ok("clear port stats all").contains("cleared"));
    assert!(shown_packets(&ok("show port stats 0"))[0].1 == 0);

    assert!(ok("quit").contains("Stopping"));
    let (status, stdout, stderr) = app.finish(Duration::from_secs(60));
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Stopping (quit)"), "{stdout}");
    // The final report (never cleared) and the flow log agree with /metrics,
    // but for what moved after it was scraped. The workers, held, carry
    // nothing more until the exit lets them go to empty their TX batches:
    // then one burst at most (the default `burst`, 32). The NIC's rules may
    // take more: the wire runs on while its frames go to rules (until one
    // for the host meets the full RX ring), and the device's cached
    // counters show them late. Whatever moved is in the ports' counters and
    // in the flow log alike.
    let fin = final_counters(&stdout);
    let lines = flow_log_lines(&log);
    let sum = |k: &str| -> u64 { lines.iter().map(|v| v[k].as_u64().unwrap()).sum() };
    let (sw, hw) = (sum("sw_packets"), sum("hw_packets"));
    assert!(
        (carried_sw..=carried_sw + 32).contains(&sw),
        "the workers' share: {sw} at exit, {carried_sw} in /metrics"
    );
    assert!(hw >= carried_nic, "the NIC's share: {hw} < {carried_nic}");
    assert_eq!(
        sw + hw,
        fin["uplink"].rx_packets,
        "the flow log holds every packet"
    );
    let moved = fin["uplink"].rx_packets - shown[0].1;
    assert_eq!(moved, (sw - carried_sw) + (hw - carried_nic));
    let vfs_moved: u64 = shown[1..]
        .iter()
        .map(|(name, _, tx)| fin[name.as_str()].tx_packets - tx)
        .sum();
    assert_eq!(vfs_moved, moved, "what moved went out of the VFs");
    assert!(!sock.exists(), "the control socket goes with the appliance");
}

#[test]
fn check_config_validates_without_starting() {
    let _serial = one_at_a_time();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../flowlift.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    generate(&TrafficSpec::default(), &input).unwrap();
    // The example's uplink replays a capture of its own; --replay stands in.
    let replay = input.to_str().unwrap();
    let out = flowlift_tests::flowlift(&[
        "run",
        "--config",
        example,
        "--replay",
        replay,
        "--check-config",
    ]);
    assert!(out.status.success(), "{}", flowlift_tests::describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(": OK: 5 ports (uplink, vf1, vf2, vf3, vf4)"),
        "{stdout}"
    );
    assert!(stdout.contains("EAL arguments: --no-huge"), "{stdout}");
    assert!(
        !stdout.contains("port 0 uplink"),
        "no port was opened: {stdout}"
    );
    let out = flowlift_tests::flowlift(&[
        "run",
        "--config",
        example,
        "--replay",
        replay,
        "--check-config",
        "--promote-pps",
        "1",
        "--demote-pps",
        "2",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("flows would flap"));
}

#[test]
fn the_shell_without_an_appliance_says_so() {
    let (ok, text) = shell(Path::new("/nonexistent/flowlift.sock"), "show offload");
    assert!(!ok);
    assert!(
        text.contains("cannot reach flowlift at /nonexistent/flowlift.sock"),
        "{text}"
    );
}

/// `Dropped: policy N` of the port block that `show port stats N` prints.
fn shown_policy_drops(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Dropped: policy "))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no policy drops in {text}"))
}

/// The `hits:` and `bytes:` of a `flow query` answer.
fn queried(text: &str) -> (u64, u64) {
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text:?}"))
    };
    assert!(
        text.starts_with("COUNT:\n hits_set: 1\n bytes_set: 1\n"),
        "{text:?}"
    );
    (field("hits:"), field("bytes:"))
}

#[test]
fn static_rules_answer_as_testpmd_and_every_packet_they_take_is_counted() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path());
    // The NIC model with live counters (`flow query` answers what the rules
    // took up to now) and a small RX ring: frames wait there after the
    // switch decided them, so a rule made while they wait does not take them.
    let cfg = model::config(
        dir.path(),
        &(model::uplink(&input, 0) + ",counter_refresh_ms=0"),
        &format!("rx_desc = {RX_DESC}\n"),
    );
    let sock = dir.path().join("ctl.sock");
    let mut app = Background::start(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--duration",
        "120",
        "--socket",
        sock.to_str().unwrap(),
        // No per-flow offload: every flow is on the workers until a static
        // rule takes it.
        "--promote-pps",
        "1000000000",
        "--demote-pps",
        "1",
    ]);
    app.wait_for("control socket", Duration::from_secs(60));
    let ok = |cmd: &str| answered(&sock, cmd);
    let refused = |cmd: &str, want: &str| refused_in_one_line(&sock, cmd, want);
    let flows = || -> HashMap<u64, serde_json::Value> {
        let all: Vec<serde_json::Value> = serde_json::from_str(&ok("show flows --json")).unwrap();
        all.into_iter()
            .map(|f| (f["id"].as_u64().unwrap(), f))
            .collect()
    };
    wait_until("every flow of the capture seen", || {
        flows().len() == FLOWS as usize
    });

    // The three busiest IPv4 flows: one to drop, one to send to vm2 past the
    // workers, one to hand to the workers' queue 0.
    let top: Vec<serde_json::Value> =
        serde_json::from_str(&ok("show flows top 40 --json")).unwrap();
    let picked: Vec<&serde_json::Value> = top
        .iter()
        .filter(|f| f["src"].as_str().unwrap().contains('.'))
        .filter(|f| f["proto"] == 6 || f["proto"] == 17)
        .take(3)
        .collect();
    assert_eq!(picked.len(), 3, "{top:?}");
    let pattern = |f: &serde_json::Value| {
        format!(
            "eth / ipv4 src is {} dst is {} / {} src is {} dst is {} / end",
            f["src"].as_str().unwrap(),
            f["dst"].as_str().unwrap(),
            if f["proto"] == 6 { "tcp" } else { "udp" },
            f["sport"],
            f["dport"]
        )
    };

    // The rules go in while the workers are held.
    assert!(ok("stop").contains("Forwarding stopped"));
    let drop_rule = format!(
        "flow create 0 ingress pattern {} actions count / drop / end",
        pattern(picked[0])
    );
    assert_eq!(
        ok(&drop_rule.replace("flow create", "flow validate")).trim(),
        "Flow rule validated"
    );
    assert_eq!(ok(&drop_rule).trim(), "Flow rule #0 created");
    assert_eq!(
        ok(&format!(
            "flow create 0 transfer priority 1 pattern {} actions count / represented_port ethdev_port_id 2 / end",
            pattern(picked[1])
        ))
        .trim(),
        "Flow rule #1 created"
    );
    assert_eq!(
        ok(&format!(
            "flow create 0 ingress pattern {} actions count / queue index 0 / end",
            pattern(picked[2])
        ))
        .trim(),
        "Flow rule #2 created"
    );
    let list = ok("flow list 0");
    let lines: Vec<&str> = list.trim().lines().collect();
    assert_eq!(lines[0], "ID\tGroup\tPrio\tAttr\tRule");
    assert!(lines[1].starts_with("0\t0\t0\ti--\tETH IPV4 "), "{list}");
    assert!(lines[1].ends_with(" => COUNT DROP"), "{list}");
    assert!(lines[2].starts_with("1\t0\t1\t--t\tETH IPV4 "), "{list}");
    assert!(lines[2].ends_with(" => COUNT REPRESENTED_PORT"), "{list}");
    assert_eq!(lines.len(), 4, "{list}");
    let hits = || -> Vec<(u64, u64)> {
        (0..3)
            .map(|n| queried(&ok(&format!("flow query 0 {n} count"))))
            .collect()
    };

    // Two intervals of traffic. The RX ring still holds frames the switch
    // decided before the rules existed: the first interval takes them. In
    // the second, every frame was decided with the rules in place.
    assert!(ok("start").contains("Forwarding started"));
    wait_until("every rule hit", || hits().iter().all(|h| h.0 > 0));
    assert!(ok("stop").contains("Forwarding stopped"));
    let before = flows();
    let hits_before = hits();
    let drops_before = shown_policy_drops(&ok("show port stats 0"));
    let switched = || number_after(&ok("show port xstats 2"), "vf_rx_from_switch_packets:");
    let switched_before = switched();
    assert!(ok("start").contains("Forwarding started"));
    wait_until("every rule hit again", || {
        hits().iter().zip(&hits_before).all(|(h, b)| h.0 > b.0)
    });
    assert!(ok("stop").contains("Forwarding stopped"));
    let after = flows();
    let hits: Vec<(u64, u64)> = hits()
        .iter()
        .zip(&hits_before)
        .map(|(h, b)| (h.0 - b.0, h.1 - b.1))
        .collect();
    let id = |f: &serde_json::Value| f["id"].as_u64().unwrap();
    let packets = |m: &HashMap<u64, serde_json::Value>, f: &serde_json::Value| {
        m[&id(f)]["packets"].as_u64().unwrap()
    };
    // Dropped and forwarded by the NIC: the workers never see those packets.
    assert_eq!(packets(&after, picked[0]), packets(&before, picked[0]));
    assert_eq!(packets(&after, picked[1]), packets(&before, picked[1]));
    // Handed to the workers' queue: they carry (and count) the hits, but
    // for those in the RX ring at either stop (a ring's worth at most).
    let queued = packets(&after, picked[2]) - packets(&before, picked[2]);
    assert!(
        queued.abs_diff(hits[2].0) <= u64::from(RX_DESC),
        "the queue rule's {} hits, the workers' {queued}",
        hits[2].0
    );
    // The NIC's drops are no policy drop of the workers; its forwards
    // reached vm2 past the workers, as the device counts what its switch
    // delivered to the VF.
    assert_eq!(shown_policy_drops(&ok("show port stats 0")), drops_before);
    assert_eq!(switched() - switched_before, hits[1].0);

    // Mistakes: one line each, nothing changes.
    refused(
        "flow create 0 ingress pattern eth / ipv4 / tcp flags is 2 / end actions drop / end",
        "Caught error type 12 (item specification mask): tcp flags",
    );
    refused(
        "flow create 0 ingress pattern eth / end actions queue index 7 / end",
        "Caught error type 15 (action configuration): queue index out of range",
    );
    refused(
        "flow create 9 ingress pattern eth / end actions drop / end",
        "Invalid port 9",
    );
    refused(
        "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.300 / end actions drop / end",
        "flow create:",
    );
    refused("flow query 0 7 count", "Flow rule #7 not found");
    refused("flow destroy 0 rule 1 rule 7", "Flow rule #7 not found");
    assert_eq!(ok("flow list 0").trim().lines().count(), 4);

    assert_eq!(ok("flow destroy 0 rule 1").trim(), "Flow rule #1 destroyed");
    refused("flow query 0 1 count", "Flow rule #1 not found");
    assert_eq!(
        ok("flow create 0 ingress pattern eth / ipv6 / end actions drop / end").trim(),
        "Flow rule #3 created",
        "numbered after the highest, as testpmd does"
    );
    assert_eq!(ok("flow flush 0").trim(), "Flushed 3 flow rules on port 0");
    assert_eq!(ok("flow list 0").trim(), "No flow rules on port 0");
    assert_eq!(
        ok("flow create 0 ingress pattern eth / end actions queue index 0 / end").trim(),
        "Flow rule #0 created"
    );
    assert!(ok("start").contains("Forwarding started"));

    // At exit every packet the uplink took is out of a VF or a counted
    // drop; what the NIC's rules took past the workers is reported apart,
    // at least what was queried above.
    assert!(ok("quit").contains("Stopping"));
    let (status, stdout, stderr) = app.finish(Duration::from_secs(60));
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("static rule left"), "{stderr}");
    assert_eq!(model::held_at_close(&stderr), (0, 0), "{stderr}");
    let fin = final_counters(&stdout);
    let out: u64 = VFS
        .iter()
        .map(|(v, _)| fin[*v].tx_packets + fin[*v].tx_dropped)
        .sum();
    assert_eq!(
        fin["uplink"].rx_packets,
        out + fin["uplink"].policy_dropped,
        "{stdout}"
    );
    let taken = stdout
        .lines()
        .find(|l| l.contains("Static rules took past the workers:"))
        .unwrap_or_else(|| panic!("the static rules' line in {stdout}"));
    assert!(number_after(taken, "uplink drop") >= hits[0].0, "{taken}");
    assert!(number_after(taken, "uplink switch") >= hits[1].0, "{taken}");
}

/// The RX descriptors of [`static_rules_answer_as_testpmd_and_every_packet_they_take_is_counted`]'s
/// uplink.
const RX_DESC: u16 = 64;

/// Waits (up to a minute) until `done`; fails naming `what`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "not within a minute: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
