//! What a reload may change live, and what it refuses, naming each.

use super::*;

const BASE: &str = r#"
[dataplane]
worker_lcores = [1]

[[port]]
name = "uplink"
role = "uplink"
device = "net_pcap0,rx_pcap=/tmp/in.pcap"

[[port]]
name = "vf1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_null1,no-rx=1"
rate_limit_pps = 1000
"#;

fn config(extra_dataplane: &str, vf_extra: &str, tail: &str) -> Config {
    let text =
        BASE.replace(
            "worker_lcores = [1]",
            &format!("worker_lcores = [1]\n{extra_dataplane}"),
        )
        .replace(
            "rate_limit_pps = 1000",
            if vf_extra.is_empty() {
                "rate_limit_pps = 1000"
            } else {
                vf_extra
            },
        ) + tail;
    Config::parse(&text, "t.toml").unwrap()
}

fn base() -> Config {
    config("", "", "")
}

#[test]
fn the_same_file_changes_nothing() {
    assert!(plan_reload(&base(), &base()).unwrap().is_empty());
}

#[test]
fn thresholds_policies_rules_and_rates_change_live_each_named() {
    let new = config(
        "unknown_unicast = \"flood\"\nidle_timeout_s = 3",
        "rate_limit_pps = 2000",
        r#"
[offload]
promote_pps = 5000
tick_ms = 50
max_rules = 10

[[offload.policy]]
dport = 53
offload = "never"

[[rule]]
dport = 80
action = "drop"
"#,
    );
    let plan = plan_reload(&base(), &new).unwrap();
    let keys: Vec<&str> = plan
        .changes
        .iter()
        .map(|c| c.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "dataplane.unknown_unicast",
            "dataplane.idle_timeout_s",
            "port",
            "rules",
            "offload.max_rules",
            "offload.tick_ms",
            "offload.promote_pps",
            "offload.policy",
        ],
        "{plan:?}"
    );
    assert!(plan
        .changes
        .contains(&"offload.promote_pps 1000.0 -> 5000.0".to_string()));
    assert!(plan
        .changes
        .contains(&"rules 0 -> 1 (for flows that start from now on)".to_string()));
    let rate = plan.changes.iter().find(|c| c.starts_with("port vf1"));
    assert_eq!(
        rate.map(String::as_str),
        Some("port vf1: rate limit 1000 pps, burst 10 -> 2000 pps, burst 20"),
        "{plan:?}"
    );
}

#[test]
fn the_log_level_changes_live() {
    let new = config("", "", "\n[log]\nlevel = \"debug\"\n");
    assert_eq!(
        plan_reload(&base(), &new).unwrap().changes,
        ["log.level Info -> Debug"]
    );
}

#[test]
fn sizes_wiring_and_meters_made_at_start_are_refused_each_named() {
    let new = config(
        "flow_table_size = 4096\nburst = 16",
        "rate_limit_bps = 8000000",
        "\n[control]\nsocket = \"/tmp/other.sock\"\n[offload]\npromote_pps = 5000\n",
    );
    let refused = plan_reload(&base(), &new).unwrap_err();
    let text = refused.to_string();
    for key in [
        "dataplane.burst",
        "dataplane.flow_table_size",
        "port vf1: rate limit",
        "control.socket",
    ] {
        assert!(text.contains(key), "{key} named in: {text}");
    }
    assert!(
        !text.contains("promote_pps"),
        "a live key is not among the refused: {text}"
    );
    assert!(text.starts_with("these settings change only at a restart: "));
}

#[test]
fn a_port_added_or_renamed_is_refused() {
    let mut more = base();
    more.ports.push(more.ports[1].clone());
    assert_eq!(
        plan_reload(&base(), &more).unwrap_err().0,
        ["ports (2 -> 3)"]
    );
    let mut renamed = base();
    renamed.ports[1].name = "vm1".into();
    assert_eq!(
        plan_reload(&base(), &renamed).unwrap_err().0,
        [r#"port name ("vf1" -> "vm1")"#]
    );
    let mut unlimited = base();
    unlimited.ports[1].rate_limit = None;
    let text = plan_reload(&base(), &unlimited).unwrap_err().to_string();
    assert!(
        text.starts_with("this setting changes only at a restart: "),
        "{text}"
    );
    assert!(text.contains("-> none: a meter is made or removed only at start"));
}
