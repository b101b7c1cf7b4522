//! Every packet of every flow, whichever path carried it, operators' static
//! rules included: a finite replay is held with the shell's `stop` (longer
//! than the replay's stall limit, which must not end it), static rules go in
//! (a drop on one flow, a drop without `count` on another, a forward to a VF
//! for a whole prefix, a queue rule that hands its flow to the workers),
//! `start` lets the capture run to its end, one rule is destroyed half-way.
//! Then the oracle, from the capture read with etherparse: a flow no rule
//! takes is in the flow log exactly; for each rule that takes packets past
//! the workers, what its flows miss in the flow log is exactly what its
//! `static_rule` record says; flows plus records equal the whole wire (the
//! capture times the loops, on the NIC model's wire), the
//! flows alone the uplink's RX; `/metrics` carries the same bucket; and the
//! device holds no rule at close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use flowlift_tests::model;
use flowlift_tests::{
    final_counters, flow_log_lines, number_after, one_at_a_time, oracle, read_pcap,
    run_to_wire_end, shell_ok, sum_by_tuple, Background, Tuple,
};
use flowlift_traffic::{generate, TrafficSpec};

/// Long enough (12M packets) that half a second of traffic, even from a
/// release build, leaves most of it to come.
const LOOPS: u64 = 2000;

fn in_prefix(ip: &IpAddr, net: [u8; 4], bits: u32) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX << (32 - bits);
            u32::from(*a) & mask == u32::from_be_bytes(net) & mask
        }
        IpAddr::V6(_) => false,
    }
}

fn scrape(addr: &str, name: &str, taken: &str) -> u64 {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", &format!("http://{addr}/metrics")])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!("{name}{{port=\"uplink\",taken=\"{taken}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .unwrap_or_else(|| {
            panic!(
                "{want} in /metrics:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn static_rule_packets_are_accounted_for_and_a_held_replay_waits_for_start() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    generate(
        &TrafficSpec {
            flows: 300,
            packets: 6000,
            ipv6_share: 0.0,
            ..TrafficSpec::default()
        },
        &input,
    )
    .unwrap();
    let frames = read_pcap(&input);
    let mut once: HashMap<Tuple, (u64, u64)> = HashMap::new();
    for f in &frames {
        let t = oracle(f).expect("a 5-tuple");
        let e = once.entry(t).or_default();
        e.0 += 1;
        e.1 += f.len() as u64;
    }
    // The busiest TCP flows, outside the forwarded prefix, one per drop rule;
    // a UDP flow for the queue rule.
    let forwarded = |t: &Tuple| t.proto == 17 && in_prefix(&t.dst, [192, 168, 0, 0], 17);
    let mut by_size: Vec<(&Tuple, &(u64, u64))> = once.iter().collect();
    by_size.sort_by_key(|(t, c)| (std::cmp::Reverse(c.0), (*t).clone()));
    let tcp: Vec<&Tuple> = by_size
        .iter()
        .filter(|(t, _)| t.proto == 6)
        .map(|(t, _)| *t)
        .take(2)
        .collect();
    let queued: &Tuple = by_size
        .iter()
        .map(|(t, _)| *t)
        .find(|t| t.proto == 17 && !forwarded(t))
        .unwrap();
    assert!(once.keys().filter(|t| forwarded(t)).count() >= 3);
    let exact = |t: &Tuple, proto: &str| {
        format!(
            "eth / ipv4 src is {} dst is {} / {proto} src is {} dst is {} / end",
            t.src, t.dst, t.sport, t.dport
        )
    };

    let sock = dir.path().join("ctl.sock");
    let log = dir.path().join("flows.jsonl");
    // The NIC model with its counters cached (200 ms): a static rule's
    // COUNT is an indirect counter, read a refresh period after the rule's
    // destroy, so the rule's last hits are in its record as a per-flow
    // rule's are in its flow's.
    let cfg = model::config(
        dir.path(),
        &(model::uplink(&input, LOOPS) + ",counter_refresh_ms=200"),
        "",
    );
    let mut app = Background::start(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--flow-log",
        log.to_str().unwrap(),
        "--max-rules",
        "16",
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
    ]);
    let started = app.wait_for("metrics on http://", Duration::from_secs(60));
    let addr = started
        .lines()
        .find_map(|l| l.strip_prefix("metrics on http://"))
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap()
        .to_string();
    assert!(shell_ok(&sock, "stop").contains("Forwarding stopped"));
    // Held for longer than a finite replay may stall: `stop` must not end it.
    let held = Instant::now();
    std::thread::sleep(Duration::from_secs(7));
    assert!(
        app.child.try_wait().unwrap().is_none(),
        "a replay held by `stop` ended the run:\n{}",
        app.stdout()
    );

    let created = |cmd: String| assert!(shell_ok(&sock, &cmd).contains("created"), "{cmd}");
    created(format!(
        "flow create 0 ingress pattern {} actions count / drop / end",
        exact(tcp[0], "tcp")
    ));
    created(format!(
        "flow create 0 ingress priority 1 pattern {} actions drop / end",
        exact(tcp[1], "tcp")
    ));
    created(
        "flow create 0 transfer priority 2 pattern eth / ipv4 dst spec 192.168.0.0 dst prefix 17 / udp / end actions count / represented_port ethdev_port_id 2 / end"
            .to_string(),
    );
    created(format!(
        "flow create 0 ingress priority 3 pattern {} actions count / queue index 0 / end",
        exact(queued, "udp")
    ));
    assert!(shell_ok(&sock, "start").contains("Forwarding started"));
    assert!(held.elapsed() >= Duration::from_secs(7));
    // Traffic flows until a tick has read the drop rule's first packets.
    let deadline = Instant::now() + Duration::from_secs(60);
    while scrape(&addr, "flowlift_static_rule_packets_total", "drop") == 0 {
        assert!(
            Instant::now() < deadline,
            "the drop rule took nothing:\n{}",
            app.stdout()
        );
        std::thread::yield_now();
    }
    // Held again, to read the bucket and destroy a rule mid-run.
    assert!(shell_ok(&sock, "stop").contains("Forwarding stopped"));
    let drops_seen = scrape(&addr, "flowlift_static_rule_packets_total", "drop");
    assert!(shell_ok(&sock, "flow destroy 0 rule 0").contains("Flow rule #0 destroyed"));
    assert!(shell_ok(&sock, "start").contains("Forwarding started"));
    let (status, stdout, stderr) = app.finish(Duration::from_secs(120));
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Stopping (replay complete)"), "{stdout}");
    assert!(
        stdout.contains("Static rules took past the workers: uplink drop"),
        "{stdout}"
    );

    let lines = flow_log_lines(&log);
    let (rules, flows): (Vec<_>, Vec<_>) = lines
        .into_iter()
        .partition(|v| v.get("static_rule").is_some());
    let got = sum_by_tuple(&flows);
    let rule = |n: u64| -> &serde_json::Value {
        rules
            .iter()
            .find(|r| r["static_rule"] == n)
            .unwrap_or_else(|| panic!("rule #{n}'s record in {rules:?}"))
    };
    assert_eq!(rules.len(), 4, "{rules:?}");
    assert_eq!(rule(0)["end"], "destroyed");
    assert_eq!(rule(1)["end"], "exit");
    assert_eq!(rule(0)["taken"], "drop");
    assert_eq!(rule(1)["taken"], "drop");
    assert_eq!(rule(2)["taken"], "switch");
    assert!(
        rule(3)["taken"].is_null(),
        "a queue rule's packets are the flows'"
    );
    let counted =
        |r: &serde_json::Value| (r["packets"].as_u64().unwrap(), r["bytes"].as_u64().unwrap());
    assert!(counted(rule(0)).0 > 0 && counted(rule(1)).0 > 0 && counted(rule(2)).0 > 0);
    // /metrics showed the bucket while the rules lived, never above the
    // final counts.
    assert!(drops_seen > 0);
    assert!(drops_seen <= counted(rule(0)).0 + counted(rule(1)).0);

    // What each rule's flows miss in the flow log is what its record says.
    let missing = |t: &Tuple| {
        let want = once[t];
        let have = got.get(t).copied().unwrap_or_default();
        (want.0 * LOOPS - have.0, want.1 * LOOPS - have.1)
    };
    assert_eq!(missing(tcp[0]), counted(rule(0)), "drop rule #0");
    assert_eq!(
        missing(tcp[1]),
        counted(rule(1)),
        "drop rule #1, counted by flowlift"
    );
    let to_vf = once
        .keys()
        .filter(|t| forwarded(t))
        .map(missing)
        .fold((0, 0), |a, m| (a.0 + m.0, a.1 + m.1));
    assert_eq!(to_vf, counted(rule(2)), "forward rule #2");
    // Every other flow, the queued one included, is in the flow log exactly.
    for t in once.keys() {
        if t != tcp[0] && t != tcp[1] && !forwarded(t) {
            assert_eq!(missing(t), (0, 0), "{t:?}");
        }
    }
    assert!(counted(rule(3)).0 > 0, "the queue rule counted its hits");

    // Flows plus the bucket are the whole wire. The uplink's RX is the
    // flows': what the NIC's rules took past the workers never reached the
    // host, and the report gives it apart.
    let fin = final_counters(&stdout);
    let in_flows: u64 = got.values().map(|c| c.0).sum();
    let in_bucket: u64 = (0..3).map(|n| counted(rule(n)).0).sum();
    assert_eq!(
        in_flows + in_bucket,
        frames.len() as u64 * LOOPS,
        "{stdout}"
    );
    assert_eq!(fin["uplink"].rx_packets, in_flows, "{stdout}");
    assert_eq!(model::held_at_close(&stderr), (0, 0), "{stderr}");
}

/// A config drop rule (`[[rule]] action = "drop"`, carried out by the
/// workers) on a finite replay: its packets are in the uplink's
/// Policy-dropped and in the Accumulated block's, which is every port's
/// Policy-dropped added up (it once left rule drops out).
#[test]
fn a_config_drop_rule_s_packets_are_in_the_accumulated_policy_drops() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    generate(
        &TrafficSpec {
            flows: 60,
            packets: 3000,
            ipv6_share: 0.0,
            ..TrafficSpec::default()
        },
        &input,
    )
    .unwrap();
    // The generator's sources are in 10.0.0.0/8: the rule drops about half.
    let dropped = read_pcap(&input)
        .iter()
        .filter(|f| in_prefix(&oracle(f).expect("a 5-tuple").src, [10, 0, 0, 0], 9))
        .count() as u64;
    assert!(dropped > 0);
    let rule = "[[rule]]\npriority = 5\nsrc = \"10.0.0.0/9\"\naction = \"drop\"\n";
    let cfg = model::config(dir.path(), &model::uplink(&input, 1), rule);
    let log = dir.path().join("flows.jsonl");
    let (_, stdout) = run_to_wire_end(&cfg, "none", &log);

    let fin = final_counters(&stdout);
    let uplink = stdout
        .lines()
        .skip_while(|l| !l.contains("Forward statistics for port uplink "))
        .find(|l| l.contains("Policy-dropped:"))
        .unwrap_or_else(|| panic!("the uplink's Policy-dropped in\n{stdout}"));
    let l2 = number_after(uplink, "unknown-unicast")
        + number_after(uplink, "broadcast")
        + number_after(uplink, "runt");
    assert_eq!(
        fin["uplink"].policy_dropped - l2,
        dropped,
        "the rule's drops in the uplink's Policy-dropped: {uplink}"
    );
    let accumulated = stdout
        .lines()
        .skip_while(|l| !l.contains("Accumulated forward statistics"))
        .find(|l| l.contains("Policy-dropped:"))
        .unwrap_or_else(|| panic!("the Accumulated Policy-dropped in\n{stdout}"));
    let every_port: u64 = fin.values().map(|c| c.policy_dropped).sum();
    assert_eq!(
        number_after(accumulated, "Policy-dropped:"),
        every_port,
        "{stdout}"
    );
    assert!(every_port >= dropped, "{stdout}");
}
