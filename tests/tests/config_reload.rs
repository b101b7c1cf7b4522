//! A config reload on a running appliance (the NIC model, a finite replay,
//! the flow log): the shell's `reload` and SIGHUP apply new thresholds and
//! rules live and say what changed; a file that fails validation or changes
//! what cannot change live is refused, naming why, and the running config
//! stays as it was (the thresholds `show offload` prints, and what the
//! engine does: nothing is offloaded until a good reload allows it). Flows,
//! rules and counters survive every reload: the flow log equals the wire,
//! flow by flow, and the NIC carried part of it. Each reload is in the log.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use flowlift_tests::model;
use flowlift_tests::{
    flow_log_lines, one_at_a_time, oracle, read_pcap, shell, shell_ok, sum_by_tuple, Background,
    Tuple,
};
use flowlift_traffic::{generate, TrafficSpec};

/// Times the capture plays: long enough that the reloads happen while it
/// flows (the shell's `stop` holds it meanwhile).
const LOOPS: u64 = 300;

/// The `[offload]` and `[dataplane]` tables of the config, as rewritten.
fn tables(offload: &str, lcores: &str) -> String {
    format!("[offload]\nhold = 1\ntick_ms = 50\n{offload}\n[dataplane]\nworker_lcores = {lcores}\n")
}

/// Writes `<dir>/flowlift.toml` (`model::config_with`), with `[offload]`
/// keys, the worker lcores, vm1's rate limit and `rules` (whole tables).
fn write(dir: &Path, uplink: &str, offload: &str, lcores: &str, vm1_pps: u32, rules: &str) {
    let limit = format!("rate_limit_pps = {vm1_pps}");
    let path = model::config_with(dir, uplink, "", &[("vm1", &limit)]);
    let text = std::fs::read_to_string(&path).unwrap();
    // The generated file's own [dataplane] table goes; ours replaces it.
    let text = text.replace("[dataplane]\nworker_lcores = [1]\n", "");
    std::fs::write(&path, format!("{}{text}{rules}", tables(offload, lcores))).unwrap();
}

/// `show offload`'s rules in use.
fn rules_used(sock: &Path) -> u64 {
    let text = shell_ok(sock, "show offload");
    let at = text.find("rules: ").expect("a rules line");
    text[at + 7..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("rules used in {text}"))
}

/// `show offload`'s ticks so far.
fn ticks(sock: &Path) -> u64 {
    let text = shell_ok(sock, "show offload");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("ticks: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("ticks in {text}"))
}

fn thresholds(sock: &Path) -> String {
    shell_ok(sock, "show offload")
        .lines()
        .find(|l| l.contains("thresholds:"))
        .expect("a thresholds line")
        .trim()
        .to_string()
}

/// Waits for a stdout line containing `needle` after the `skip` first lines.
fn wait_line(app: &mut Background, needle: &str, after: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = app.stdout();
        if let Some(l) = out.lines().skip(after).find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(Instant::now() < deadline, "no {needle:?} in stdout:\n{out}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sighup(app: &Background) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &app.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn a_reload_changes_what_may_change_refuses_the_rest_and_every_packet_stays_counted() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    generate(
        &TrafficSpec {
            flows: 200,
            packets: 4000,
            ipv6_share: 0.0,
            ..TrafficSpec::default()
        },
        &input,
    )
    .unwrap();
    let uplink = model::uplink(&input, LOOPS);
    // At start nothing is promoted by rate (promote_pps 0: only `always`
    // policies, and there are none).
    write(
        dir.path(),
        &uplink,
        "promote_pps = 0\ndemote_pps = 0",
        "[1]",
        100_000,
        "",
    );
    let cfg = dir.path().join("flowlift.toml");
    let sock = dir.path().join("ctl.sock");
    let log = dir.path().join("flows.jsonl");
    let mut app = Background::start(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--flow-log",
        log.to_str().unwrap(),
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        "",
        "--log-format",
        "json",
    ]);
    app.wait_for("control socket", Duration::from_secs(60));
    assert!(shell_ok(&sock, "stop").contains("Forwarding stopped"));
    let before = thresholds(&sock);
    assert!(before.contains("promote-pps 0"), "{before}");

    // 1. A file that cannot be applied, each way: nothing changes.
    for (offload, lcores, why) in [
        ("promote_pps = -1", "[1]", "promote_pps"),
        ("promote_pps = 500", "[1, 2]", "dataplane.worker_lcores"),
        (
            "promote_pps = 500\nbackend = \"none\"",
            "[1]",
            "offload.backend",
        ),
    ] {
        write(dir.path(), &uplink, offload, lcores, 100_000, "");
        let (good, text) = shell(&sock, "reload");
        assert!(!good, "{offload} {lcores}: {text}");
        assert!(
            text.contains("refused, nothing changed") && text.contains(why),
            "{why}: {text}"
        );
        assert_eq!(thresholds(&sock), before, "{why}: the thresholds stand");
    }
    assert!(shell_ok(&sock, "start").contains("Forwarding started"));
    // The engine too: with promote_pps 0 nothing goes to the NIC, however
    // many ticks pass over the traffic (hold 1: a promotion would take one).
    let first = ticks(&sock);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ticks(&sock) < first + 10 {
        assert!(Instant::now() < deadline, "the ticks stand still");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rules_used(&sock), 0, "a refused reload offloads nothing");
    assert!(shell_ok(&sock, "stop").contains("Forwarding stopped"));

    // 2. A good reload: the flows hot enough go to the NIC from the next
    // ticks; a forwarding rule for new flows reaches the workers.
    write(
        dir.path(),
        &uplink,
        "promote_pps = 500",
        "[1]",
        50_000,
        "[[rule]]\nproto = \"udp\"\ndport = 9\naction = \"drop\"\n",
    );
    let text = shell_ok(&sock, "reload");
    assert!(text.contains("offload.promote_pps 0.0 -> 500.0"), "{text}");
    assert!(
        text.contains("rules 0 -> 1 (for flows that start from now on)"),
        "{text}"
    );
    // vm1's limit: the workers' meter and the NIC's (a new rte_mtr profile).
    assert!(
        text.contains("port vm1: rate limit 100000 pps, burst 1000 -> 50000 pps, burst 500"),
        "{text}"
    );
    let offload = shell_ok(&sock, "show offload");
    assert!(
        offload.contains("rate limits on the NIC: vm1 50000 pps burst 500"),
        "{offload}"
    );
    assert!(thresholds(&sock).contains("promote-pps 500"));
    assert!(shell_ok(&sock, "start").contains("Forwarding started"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while rules_used(&sock) == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing offloaded after the reload:\n{}",
            app.stdout()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // 3. SIGHUP: the same reload, its outcome on stdout.
    let seen = app.stdout().lines().count();
    write(
        dir.path(),
        &uplink,
        "promote_pps = 500\ndemote_pps = 50",
        "[1]",
        50_000,
        "",
    );
    sighup(&app);
    let line = wait_line(&mut app, "SIGHUP: reload", seen);
    assert!(line.contains("2 settings changed"), "{line}");
    wait_line(&mut app, "offload.demote_pps 100.0 -> 50.0", seen);
    let seen = app.stdout().lines().count();
    write(
        dir.path(),
        &uplink,
        "promote_pps = 500\ndemote_pps = 50",
        "[2]",
        50_000,
        "",
    );
    sighup(&app);
    let line = wait_line(&mut app, "SIGHUP: reload", seen);
    assert!(
        line.contains("refused, nothing changed") && line.contains("dataplane.worker_lcores"),
        "{line}"
    );
    assert!(thresholds(&sock).contains("demote-pps 50"));

    // 4. The replay runs to its end: every packet in the flow log.
    let (status, stdout, stderr) = app.finish(Duration::from_secs(300));
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Stopping (replay complete)"), "{stdout}");
    // Each reload is in the log (target control): four refused, two applied.
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["target"] == "control")
        .collect();
    let said = |level: &str, text: &str| {
        events
            .iter()
            .filter(|v| v["level"] == level && v["message"].as_str().unwrap_or("").contains(text))
            .count()
    };
    assert_eq!(
        said("ERROR", "not reloaded, the running config stays"),
        4,
        "{stderr}"
    );
    assert_eq!(said("INFO", "reloaded: "), 2, "{stderr}");
    let frames = read_pcap(&input);
    let mut want: HashMap<Tuple, (u64, u64)> = HashMap::new();
    for f in &frames {
        let e = want.entry(oracle(f).expect("a 5-tuple")).or_default();
        e.0 += LOOPS;
        e.1 += f.len() as u64 * LOOPS;
    }
    let lines = flow_log_lines(&log);
    let got = sum_by_tuple(&lines);
    assert_eq!(got.len(), want.len(), "every flow in the flow log");
    for (t, w) in &want {
        assert_eq!(got.get(t), Some(w), "{t:?}");
    }
    let on_nic: u64 = lines
        .iter()
        .map(|v| v["hw_packets"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        on_nic > 0,
        "the NIC carried part of the traffic after the reload"
    );
}
