//! The Prometheus rules and the Grafana dashboard shipped in `packaging/`:
//! `promtool check rules` and `promtool test rules` pass on them, and every
//! metric name their expressions use is one a running flowlift exports on
//! `/metrics` (or a recording rule the rules file defines), so a renamed
//! metric cannot leave an alert or a panel silently empty.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flowlift_tests::{one_at_a_time, scrape_metrics as scrape, shell, Background};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rules_file() -> PathBuf {
    workspace().join("packaging/prometheus/flowlift.rules.yml")
}

fn dashboard_file() -> PathBuf {
    workspace().join("packaging/grafana/flowlift.json")
}

/// Runs `promtool ARGS` in `dir`; it must succeed (its output in the
/// message if not).
fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (scripts/setup installs prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let dir = workspace().join("packaging/prometheus");
    let check = promtool(&dir, &["check", "rules", "flowlift.rules.yml"]);
    assert!(check.contains("SUCCESS"), "{check}");
    let test = promtool(&dir, &["test", "rules", "flowlift.rules.test.yml"]);
    assert!(test.contains("SUCCESS"), "{test}");
}

/// The identifiers in `text` that start with `prefix` (`flowlift_` for a
/// metric, `flowlift:` for a recording rule): runs of `[a-z0-9_:]` that do
/// not continue an identifier.
fn names(text: &str, prefix: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    text.match_indices(prefix)
        .filter(|(i, _)| !text[..*i].chars().next_back().is_some_and(ident))
        .map(|(i, _)| {
            let end = text[i..]
                .find(|c: char| !ident(c))
                .map_or(text.len(), |e| i + e);
            text[i..end].to_string()
        })
        .collect()
}

/// The rules file's `expr:` texts (one line, or a `|` block: the lines
/// indented deeper than the key), and the names its `record:` lines define.
fn rules_exprs(yaml: &str) -> (Vec<String>, BTreeSet<String>) {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut exprs = Vec::new();
    let mut recorded = BTreeSet::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start().trim_start_matches("- ");
        if let Some(name) = t.strip_prefix("record:") {
            recorded.insert(name.trim().to_string());
        } else if let Some(e) = t.strip_prefix("expr:") {
            let e = e.trim();
            if e == "|" || e == ">" || e == "|-" || e == ">-" {
                let mut block = String::new();
                while let Some(next) =
                    lines.next_if(|n| n.trim().is_empty() || indent(n) > indent(line))
                {
                    block.push_str(next.trim());
                    block.push('\n');
                }
                exprs.push(block);
            } else {
                exprs.push(e.to_string());
            }
        }
    }
    (exprs, recorded)
}

/// Every query of the dashboard: the panels' targets' `expr`, and the
/// template variables' queries.
fn dashboard_exprs(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition" | "query", serde_json::Value::String(s)) => {
                        out.push(s.clone())
                    }
                    _ => dashboard_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, out)),
        _ => {}
    }
}

/// The names a scrape exposes: each `# TYPE` family as written (counters
/// carry `_total` there), and a histogram's or summary's sample names.
fn exported(metrics: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        out.insert(name.to_string());
        let suffixes: &[&str] = match kind {
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["_sum", "_count"],
            _ => &[],
        };
        out.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    out
}

/// What `exprs` (labelled by `source`) name that is neither in `exported`
/// nor in `recorded`, one line each: `source: name in expr`.
fn unknown_names(
    source: &str,
    exprs: &[String],
    exported: &BTreeSet<String>,
    recorded: &BTreeSet<String>,
) -> Vec<String> {
    let mut bad = Vec::new();
    for e in exprs {
        for n in names(e, "flowlift_") {
            if !exported.contains(&n) {
                bad.push(format!("{source}: metric {n} (not exported) in {e:?}"));
            }
        }
        for n in names(e, "flowlift:") {
            if !recorded.contains(&n) {
                bad.push(format!(
                    "{source}: recording rule {n} (not defined) in {e:?}"
                ));
            }
        }
    }
    bad
}

/// A scrape of the demo (the NIC model, offload on) once the offload
/// engine's figures are in it.
fn demo_metrics() -> String {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut app = Background::start(&[
        "run",
        "--duration",
        "60",
        "--socket",
        sock.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
    ]);
    let line = app.wait_for("metrics on http://", Duration::from_secs(60));
    let addr = line
        .trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .to_string();
    let start = Instant::now();
    let metrics = loop {
        let m = scrape(&addr);
        if m.contains("# TYPE flowlift_offload_ticks_total") {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no offload figures in /metrics within 30 s:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    app.wait_for("control socket", Duration::from_secs(5));
    let (good, text) = shell(&sock, "quit");
    assert!(good, "quit refused: {text}");
    let (status, _, stderr) = app.finish(Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    metrics
}

#[test]
fn every_metric_the_rules_and_dashboard_name_is_exported() {
    let _serial = one_at_a_time();
    let yaml = std::fs::read_to_string(rules_file()).unwrap();
    let (rule_exprs, recorded) = rules_exprs(&yaml);
    assert!(rule_exprs.len() >= 13, "{rule_exprs:#?}");
    assert!(recorded.len() >= 5, "{recorded:?}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard_file()).unwrap())
            .expect("the dashboard is JSON");
    let mut panel_exprs = Vec::new();
    dashboard_exprs(&json, &mut panel_exprs);
    assert!(panel_exprs.len() >= 12, "{panel_exprs:#?}");

    let metrics = demo_metrics();
    let exported = exported(&metrics);
    assert!(
        exported.contains("flowlift_carried_packets_total")
            && exported.contains("flowlift_offload_install_latency_seconds_bucket"),
        "{exported:?}"
    );
    // Every expression names something, else the tokenizer found nothing.
    for e in rule_exprs.iter().chain(&panel_exprs) {
        assert!(
            !names(e, "flowlift_").is_empty() || !names(e, "flowlift:").is_empty(),
            "no flowlift name in {e:?}"
        );
    }
    let mut bad = unknown_names("rules", &rule_exprs, &exported, &recorded);
    bad.extend(unknown_names(
        "dashboard",
        &panel_exprs,
        &exported,
        &recorded,
    ));
    assert!(
        bad.is_empty(),
        "{}\n\nexported: {exported:?}\nrecorded: {recorded:?}",
        bad.join("\n")
    );
}

/// The check above catches a misspelt metric and an undefined recording
/// rule, and passes names it should.
#[test]
fn a_misspelt_name_is_caught() {
    let exported: BTreeSet<String> = ["flowlift_port_rx_packets_total", "flowlift_flows"]
        .map(String::from)
        .into();
    let recorded: BTreeSet<String> = ["flowlift:worker_busy:ratio_rate5m"]
        .map(String::from)
        .into();
    let good = [
        "sum by (port) (rate(flowlift_port_rx_packets_total[5m]))".to_string(),
        "flowlift:worker_busy:ratio_rate5m > 0.9 and flowlift_flows > 0".to_string(),
    ];
    assert_eq!(
        unknown_names("t", &good, &exported, &recorded),
        Vec::<String>::new()
    );
    let bad = [
        "rate(flowlift_port_rx_packet_total[5m])".to_string(),
        "flowlift:worker_busy:ratio_rate1m".to_string(),
    ];
    let found = unknown_names("t", &bad, &exported, &recorded);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("flowlift_port_rx_packet_total"),
        "{found:?}"
    );
    assert!(
        found[1].contains("flowlift:worker_busy:ratio_rate1m"),
        "{found:?}"
    );
}

#[test]
fn the_rules_parser_reads_one_line_and_block_exprs() {
    let yaml = "groups:\n  - name: g\n    rules:\n      - record: flowlift:a:rate5m\n        expr: rate(flowlift_x_total[5m])\n      - alert: A\n        expr: |\n          flowlift:a:rate5m\n            > flowlift_y\n        for: 5m\n";
    let (exprs, recorded) = rules_exprs(yaml);
    assert_eq!(
        exprs,
        [
            "rate(flowlift_x_total[5m])",
            "flowlift:a:rate5m\n> flowlift_y\n"
        ]
    );
    assert_eq!(recorded, ["flowlift:a:rate5m".to_string()].into());
    assert_eq!(
        names("x{a=\"b\"} myflowlift_z flowlift_q_total", "flowlift_"),
        ["flowlift_q_total"]
    );
}
