//! Config parsing: the example file, defaults, and one clear line per mistake.

use super::*;
use flowlift_dataplane::policy::RuleAction;
use flowlift_dataplane::PortIdx;

const GOOD: &str = r#"
[dataplane]
worker_lcores = [1]
unknown_unicast = "flood"

[[port]]
name = "vf1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_null1,no-rx=1"

[[port]]
name = "uplink"
role = "uplink"
device = "net_pcap0,rx_pcap=/tmp/in.pcap"
"#;

fn err(text: &str) -> String {
    Config::parse(text, "t.toml").unwrap_err().to_string()
}

#[test]
fn a_good_config_puts_the_uplink_first_and_keeps_defaults() {
    let c = Config::parse(GOOD, "t.toml").unwrap();
    assert_eq!(c.uplink().name, "uplink");
    assert_eq!(c.vfs()[0].mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
    assert_eq!(c.dataplane.burst, 32);
    assert_eq!(c.dataplane.unknown_unicast, Miss::Flood);
    assert_eq!(c.dataplane.broadcast, Miss::Drop);
    assert_eq!(c.uplink().dpdk_name(), "net_pcap0");
    assert!(c.uplink().is_vdev());
}

#[test]
fn the_example_config_in_the_repository_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../flowlift.example.toml");
    let c = Config::load(Path::new(path)).unwrap();
    assert_eq!(c.ports.len(), 5);
    assert_eq!(
        c.offload,
        OffloadSection::default(),
        "the example shows the defaults"
    );
    assert_eq!(c.offload_policies.len(), 2);
    assert!(c.ports[2].rate_limit.is_some());
    assert_eq!(
        c.eal,
        EalSection {
            args: c.eal.args.clone(),
            ..EalSection::default()
        },
        "the example shows the defaults"
    );
}

#[test]
fn the_log_level_is_optional_and_one_of_five() {
    let with = |log: &str| Config::parse(&format!("{log}\n{GOOD}"), "t.toml");
    assert_eq!(
        with("").unwrap().log.level,
        LogLevel::Info,
        "info by default"
    );
    assert_eq!(
        with("[log]\nlevel = \"debug\"").unwrap().log.level,
        LogLevel::Debug
    );
    let e = with("[log]\nlevel = \"verbose\"").unwrap_err().to_string();
    assert!(e.contains("verbose") && e.contains("debug"), "{e}");
    let e = with("[log]\nformat = \"json\"").unwrap_err().to_string();
    assert!(e.contains("unknown field `format`"), "{e}");
    for name in LogLevel::NAMES {
        assert_eq!(name.parse::<LogLevel>().unwrap().name(), name);
    }
    assert!("loud"
        .parse::<LogLevel>()
        .unwrap_err()
        .contains("error, warn"));
}

#[test]
fn memory_is_locked_unless_the_config_says_not() {
    let with = |eal: &str| Config::parse(&format!("[eal]\n{eal}\n{GOOD}"), "t.toml").unwrap();
    assert!(with("").eal.mlockall, "locked by default, as testpmd");
    assert!(!with("mlockall = false").eal.mlockall);
    let e = err("[eal]\nmlockall = 1\n");
    assert!(e.contains("mlockall"), "{e}");
}

#[test]
fn unknown_keys_name_the_key_and_the_line() {
    let e = err("[dataplane]\nburst = 32\nbursty = 3\n");
    assert!(e.contains("line 3") && e.contains("bursty"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
    let e = err("[[port]]\nname='a'\nrole='vf'\ndevice='x'\ncolour='red'\n");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn each_mistake_gets_one_clear_line() {
    let cases: &[(&str, &str)] = &[
        (
            &GOOD.replace("02:00:00:00:00:01", "02:00:00:00:00"),
            "bad MAC address",
        ),
        (
            &GOOD.replace("02:00:00:00:00:01", "01:00:5e:00:00:01"),
            "multicast",
        ),
        (
            &GOOD.replace(
                "role = \"uplink\"",
                "role = \"vf\"\nmac = \"02:00:00:00:00:09\"",
            ),
            "no port has role = \"uplink\"",
        ),
        (
            &GOOD.replace("role = \"vf\"", "role = \"uplink\""),
            "2 ports have role",
        ),
        (
            &GOOD.replace("mac = \"02:00:00:00:00:01\"\n", ""),
            "a vf needs a mac",
        ),
        (
            &GOOD.replace("role = \"vf\"", "role = \"vm\""),
            "unknown variant",
        ),
        (
            &GOOD.replace("worker_lcores = [1]", "worker_lcores = []"),
            "worker_lcores is empty",
        ),
        (
            &GOOD.replace("worker_lcores = [1]", "worker_lcores = [0]"),
            "main lcore",
        ),
        (
            &GOOD.replace("worker_lcores = [1]", "worker_lcores = [1]\nburst = 65"),
            "burst = 65",
        ),
        (
            &GOOD.replace("name = \"vf1\"", "name = \"uplink\""),
            "defined twice",
        ),
        (
            &GOOD.replace("net_null1,no-rx=1", "net_pcap0"),
            "used by another port",
        ),
        (
            &GOOD.replace("name = \"vf1\"", "name = \"v f\""),
            "port name",
        ),
        ("[dataplane\n", "line 1"),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.contains(want), "expected {want:?} in {e:?}");
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(e.starts_with("config t.toml: "), "{e}");
    }
}

#[test]
fn rules_name_ports_and_parse_their_fields() {
    let text = format!(
        "{GOOD}\n[[rule]]\npriority = 5\nin_port = \"uplink\"\nproto = \"udp\"\ndport = \"5000-5010\"\nsrc = \"10.0.0.0/8\"\naction = \"output:vf1\"\n\n[[rule]]\nproto = 6\nsport = 22\naction = \"drop\"\n"
    );
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.rules.len(), 2);
    let r = &c.rules[0];
    assert_eq!(r.in_port, Some(PortIdx(0)));
    assert_eq!(r.proto, Some(17));
    assert_eq!(r.dport.unwrap().hi, 5010);
    assert_eq!(r.action, Some(RuleAction::Output(PortIdx(1))));
    assert_eq!(c.rules[1].sport.unwrap().lo, 22);
    assert_eq!(c.rules[1].action, Some(RuleAction::Drop));
    for (bad, want) in [
        ("action = \"output:vf9\"", "no port named \"vf9\""),
        ("action = \"forward\"", "use \"drop\" or \"output:PORT\""),
        ("proto = \"gre\"\naction = \"drop\"", "unknown proto"),
        ("dport = \"9-1\"\naction = \"drop\"", "bad port range"),
        (
            "src = \"10.0.0.0/40\"\naction = \"drop\"",
            "bad prefix length",
        ),
        (
            "vlan = 5000\naction = \"drop\"",
            "vlan = 5000: must be 0..=4095",
        ),
        ("action = \"drop\"\ncolour = 1", "unknown field `colour`"),
    ] {
        let e = err(&format!("{GOOD}\n[[rule]]\n{bad}\n"));
        assert!(e.contains(want), "expected {want:?} in {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

/// `validate`'s own refusals, word for word, and the order it checks in: the
/// sections, then the ports, the rules, `[offload]`, its policies; the first
/// mistake in that order is the one named.
#[test]
fn validate_names_the_first_mistake_in_section_order() {
    let uplink_only = "[dataplane]\nworker_lcores = [1]\n\n[[port]]\nname = \"uplink\"\nrole = \"uplink\"\ndevice = \"net_null0\"\n";
    let bad_rule =
        "\n[[rule]]\naction = \"drop\"\n\n[[rule]]\npriority = 7\naction = \"output:vf9\"\n";
    let bad_policy = "\n[[offload.policy]]\noffload = \"never\"\n\n[[offload.policy]]\npriority = 3\nin_port = \"nope\"\noffload = \"never\"\n";
    let bad_offload = "\n[offload]\npromote_pps = 10.0\ndemote_pps = 20.0\n";
    let bad_name = GOOD.replace("name = \"vf1\"", "name = \"v f\"");
    let cases: &[(String, &str)] = &[
        (
            uplink_only.to_string(),
            "config t.toml: no port has role = \"vf\": at least one is needed",
        ),
        (
            format!("{GOOD}{bad_rule}"),
            "config t.toml: rule 2 (priority 7): no port named \"vf9\"",
        ),
        (
            format!("{GOOD}{bad_policy}"),
            "config t.toml: offload policy 2 (priority 3): no port named \"nope\"",
        ),
        (
            // A port's name is refused without the "port NAME: " prefix.
            bad_name.clone(),
            "config t.toml: port name \"v f\": use 1..=64 letters, digits, '-' or '_' (it names files, metric labels and status columns)",
        ),
        (
            GOOD.replace("mac = \"02:00:00:00:00:01\"\n", ""),
            "config t.toml: port vf1: a vf needs a mac",
        ),
        // Order: the sections before the ports, the ports before the rules,
        // the rules before [offload], [offload] before its policies.
        (
            bad_name.replace("worker_lcores = [1]", "worker_lcores = [1]\nburst = 0"),
            "config t.toml: dataplane.burst = 0",
        ),
        (
            format!("{bad_name}{bad_rule}"),
            "config t.toml: port name \"v f\"",
        ),
        (
            format!("{GOOD}{bad_rule}{bad_offload}"),
            "config t.toml: rule 2 (priority 7)",
        ),
        (
            format!("{GOOD}{bad_offload}{bad_policy}"),
            "config t.toml: offload.demote_pps = 20 is above",
        ),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(
            e.starts_with(want),
            "expected {want:?} at the start of {e:?}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    }
    // Equal priorities keep file order; higher ones go first.
    let c = Config::parse(
        &format!(
            "{GOOD}\n[[offload.policy]]\nproto = 6\noffload = \"never\"\n\n[[offload.policy]]\npriority = 5\nproto = 17\noffload = \"always\"\n\n[[offload.policy]]\nproto = 1\noffload = \"auto\"\n"
        ),
        "t",
    )
    .unwrap();
    let protos: Vec<Option<u8>> = c.offload_policies.iter().map(|p| p.matches.proto).collect();
    assert_eq!(protos, [Some(17), Some(6), Some(1)]);
}

#[test]
fn the_demo_has_an_uplink_and_four_vfs() {
    let c = Config::demo(Path::new("/tmp/x.pcap"), None);
    let names: Vec<&str> = c.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["uplink", "vf1", "vf2", "vf3", "vf4"]);
    assert_eq!(c.ports[4].mac.unwrap().to_string(), "02:00:00:00:00:04");
    assert_eq!(
        c.uplink().device,
        "net_flowlift0,wire=/tmp/x.pcap,loops=0,representor=vf[0-3]"
    );
    assert_eq!(c.ports[2].device, "net_flowlift0_representor_vf1");
    assert_eq!(c.offload.backend, BackendKind::RteFlow);
    let c = Config::demo(Path::new("/tmp/x.pcap"), Some(Path::new("/out")));
    assert_eq!(
        c.uplink().device,
        "net_flowlift0,wire=/tmp/x.pcap,loops=0,representor=vf[0-3],capture_dir=/out,\
         vf0_name=vf1,vf1_name=vf2,vf2_name=vf3,vf3_name=vf4",
        "the PMD writes the captures, named as the VF ports"
    );
    assert_eq!(c.ports[2].device, "net_flowlift0_representor_vf1");
    let mut c = Config::demo(Path::new("/tmp/x.pcap"), None);
    c.ports[0].device = "net_pcap0,rx_pcap=/tmp/x.pcap".into();
    c.capture_vfs_to(Path::new("/out"));
    assert_eq!(c.ports[2].device, "net_pcap_cap2,tx_pcap=/out/vf2.pcap");
}

#[test]
fn offload_section_defaults_and_checks() {
    let c = Config::parse(GOOD, "t").unwrap();
    assert_eq!(c.offload, OffloadSection::default());
    assert_eq!(c.offload.backend, BackendKind::RteFlow);
    for (bad, want) in [
        ("backend = \"dpdk\"", "unknown offload backend \"dpdk\""),
        ("backend = \"emulated\"", "the emulated backend is gone"),
        ("lcore = 2", "unknown field `lcore`"),
        ("tick_ms = 0", "offload.tick_ms = 0"),
        ("promote_pps = 10.0\ndemote_pps = 20.0", "flows would flap"),
        ("hold = 0", "offload.hold = 0: must be 1..=10000"),
        ("ewma_alpha = 1.5", "offload.ewma_alpha = 1.5"),
        ("evict_margin = 0.5", "offload.evict_margin = 0.5"),
        ("bogus = 1", "unknown field `bogus`"),
        ("[offload.faults]\nbusy_every = 3", "unknown field `faults`"),
    ] {
        let e = err(&format!("{GOOD}\n[offload]\n{bad}\n"));
        assert!(e.contains(want), "expected {want:?} in {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn offload_policies_match_on_the_key_and_sort_by_priority() {
    let c = Config::parse(
        &format!(
            "{GOOD}\n[[offload.policy]]\nproto = \"udp\"\ndport = 5001\noffload = \"always\"\n\n[[offload.policy]]\npriority = 10\nsrc = \"10.9.0.0/16\"\noffload = \"never\"\n"
        ),
        "t",
    )
    .unwrap();
    let choices: Vec<OffloadChoice> = c.offload_policies.iter().map(|p| p.choice).collect();
    assert_eq!(choices, [OffloadChoice::Never, OffloadChoice::Always]);
    assert_eq!(c.offload_policies[1].matches.proto, Some(17));
    for (bad, want) in [
        ("offload = \"sometimes\"", "unknown variant `sometimes`"),
        (
            "src_mac = \"02:00:00:00:00:01\"\noffload = \"never\"",
            "unknown field `src_mac`",
        ),
        (
            "in_port = \"nope\"\noffload = \"never\"",
            "no port named \"nope\"",
        ),
    ] {
        let e = err(&format!("{GOOD}\n[[offload.policy]]\n{bad}\n"));
        assert!(e.contains(want), "expected {want:?} in {e}");
    }
}

#[test]
fn vf_rate_limits() {
    let with = |extra: &str| GOOD.replacen("role = \"vf\"", &format!("role = \"vf\"\n{extra}"), 1);
    let c = Config::parse(&with("rate_limit_pps = 1000"), "t").unwrap();
    let l = c.vfs()[0].rate_limit.unwrap();
    assert_eq!((l.rate, l.burst), (1000, 10));
    let c = Config::parse(&with("rate_limit_bps = 8000000\nrate_burst = 3000"), "t").unwrap();
    let l = c.vfs()[0].rate_limit.unwrap();
    assert_eq!(
        (l.unit, l.rate, l.burst),
        (flowlift_dataplane::meter::MeterUnit::Bytes, 1_000_000, 3000)
    );
    for (bad, want) in [
        (
            "rate_limit_pps = 0",
            "rate_limit_pps = 0: must be 1..=1500000000",
        ),
        ("rate_limit_pps = 1\nrate_limit_bps = 8", "not both"),
        ("rate_burst = 5", "rate_burst without"),
    ] {
        let e = err(&with(bad));
        assert!(e.contains(want), "expected {want:?} in {e}");
    }
}

#[test]
fn replay_loops_once_from_the_file_and_otherwise_from_memory() {
    let mut c = Config::parse(GOOD, "t").unwrap();
    c.replay_on_uplink(Path::new("/c.pcap"), 1);
    assert_eq!(c.uplink().device, "net_pcap_replay,rx_pcap=/c.pcap");
    c.replay_on_uplink(Path::new("/c.pcap"), 3);
    assert_eq!(
        c.uplink().device,
        "net_pcap_replay,rx_pcap=/c.pcap,infinite_rx=1"
    );
}

// Issue 17, finding 2: values that passed `--check-config` and then aborted
// the start, or were taken silently. Each test here failed before the bounds.

/// `GOOD` with `extra` lines in its `[dataplane]`.
fn dataplane(extra: &str) -> String {
    GOOD.replace(
        "worker_lcores = [1]",
        &format!("worker_lcores = [1]\n{extra}"),
    )
}

/// `GOOD` with a section of its own added.
fn with_section(section: &str, extra: &str) -> String {
    format!("{GOOD}\n[{section}]\n{extra}\n")
}

/// Checks that `text` is refused in one line holding every one of `want`.
fn refused_with(text: &str, want: &[&str]) {
    let e = match Config::parse(text, "t.toml") {
        Ok(_) => panic!("accepted, expected a refusal with {want:?}:\n{text}"),
        Err(e) => e.to_string(),
    };
    for w in want {
        assert!(e.contains(w), "expected {w:?} in {e:?}");
    }
    assert!(!e.contains('\n'), "one line: {e:?}");
    assert!(e.starts_with("config t.toml: "), "{e}");
}

#[test]
fn table_and_queue_sizes_that_aborted_the_start_are_refused_by_the_parse() {
    // Was: a panic in table/mod.rs ("at most 2^31 entries"), exit 134.
    refused_with(
        &dataplane("flow_table_size = 4294967295"),
        &[
            "dataplane.flow_table_size = 4294967295",
            "must be 1..=2147483648",
        ],
    );
    refused_with(
        &dataplane("flow_table_size_v6 = 4294967295"),
        &[
            "dataplane.flow_table_size_v6 = 4294967295",
            "1..=2147483648",
        ],
    );
    // Was: a 446 GB allocation for the event channel, exit 134.
    refused_with(
        &dataplane("event_queue = 4294967295"),
        &["dataplane.event_queue = 4294967295", "must be 1..=4194304"],
    );
}

#[test]
fn values_taken_silently_are_refused_naming_key_value_and_range() {
    for (extra, want) in [
        (
            "idle_timeout_s = nan",
            "dataplane.idle_timeout_s = NaN: must be 0 (never) or 0.1..=604800",
        ),
        (
            "idle_timeout_s = inf",
            "dataplane.idle_timeout_s = inf: must be",
        ),
        (
            "idle_timeout_s = -1.0",
            "dataplane.idle_timeout_s = -1: must be",
        ),
        (
            "idle_timeout_s = 0.001",
            "dataplane.idle_timeout_s = 0.001: must be",
        ),
        (
            "tx_drain_us = nan",
            "dataplane.tx_drain_us = NaN: must be 0..=1000",
        ),
        ("tx_drain_us = inf", "dataplane.tx_drain_us = inf: must be"),
        ("tx_drain_us = -1.0", "dataplane.tx_drain_us = -1: must be"),
        // Quietly turned offload off: no flow event ever reached the control core.
        (
            "event_queue = 0",
            "dataplane.event_queue = 0: must be 1..=4194304",
        ),
        (
            "flow_table_size = 0",
            "dataplane.flow_table_size = 0: must be 1..=2147483648",
        ),
        (
            "flow_table_size_v6 = 0",
            "dataplane.flow_table_size_v6 = 0: must be",
        ),
        (
            "main_lcore = 4294967295",
            "dataplane.main_lcore = 4294967295: must be 0..=127",
        ),
        (
            "mbufs = 4294967295",
            "dataplane.mbufs = 4294967295: must be 0 (sized",
        ),
    ] {
        refused_with(&dataplane(extra), &[want]);
    }
    refused_with(
        &GOOD.replace("02:00:00:00:00:01", "00:00:00:00:00:00"),
        &["port vf1: mac = 00:00:00:00:00:00: must be a unicast address"],
    );
    refused_with(
        &with_section("eal", "memory_mb = 4294967295"),
        &["eal.memory_mb = 4294967295: must be 0 (sized from the mbuf pool) or 1..=16777216"],
    );
    refused_with(
        &with_section("eal", "args = [\"--no-huge\", \"a\\u0000b\"]"),
        &["eal.args: \"a\\0b\" holds a NUL character"],
    );
}

#[test]
fn offload_values_taken_silently_are_refused() {
    for (extra, want) in [
        // 0 rules: offload off without saying so (backend = "none" says it).
        (
            "max_rules = 0",
            "offload.max_rules = 0: must be 1..=16777216",
        ),
        // Was paced to 1 install a second by the manager, unlimited by the NIC.
        (
            "inserts_per_sec = 0",
            "offload.inserts_per_sec = 0: must be 1..=10000000",
        ),
        (
            "backoff_ms = 0",
            "offload.backoff_ms = 0: must be 1..=600000",
        ),
        // A hold no rate ever reaches: offload off again.
        (
            "hold = 4294967295",
            "offload.hold = 4294967295: must be 1..=10000",
        ),
        (
            "evict_margin = 1e30",
            "offload.evict_margin = 1e30: must be 1..=1000000",
        ),
        (
            "promote_pps = 1e30",
            "offload.promote_pps = 1e30: must be 0..=1500000000",
        ),
    ] {
        refused_with(&with_section("offload", extra), &[want]);
    }
}

#[test]
fn port_values_taken_silently_are_refused() {
    let vf = |extra: &str| GOOD.replacen("role = \"vf\"", &format!("role = \"vf\"\n{extra}"), 1);
    refused_with(
        &GOOD.replace("name = \"vf1\"", &format!("name = \"{}\"", "v".repeat(65))),
        &["port name \"vvvv", "use 1..=64 letters"],
    );
    // A device EAL cannot parse was refused only by the start.
    refused_with(
        &GOOD.replace("net_null1,no-rx=1", "x"),
        &["port vf1: device \"x\": not a DPDK virtual device"],
    );
    refused_with(
        &GOOD.replace("net_null1,no-rx=1", "net_null1\\nno-rx=1"),
        &["port vf1: device \"net_null1\\nno-rx=1\": holds a control character"],
    );
    refused_with(
        &vf("rate_limit_pps = 2000000000"),
        &["port vf1: rate_limit_pps = 2000000000: must be 1..=1500000000"],
    );
    // Frames above the burst never conform: every one dropped.
    refused_with(
        &vf("rate_limit_bps = 8000000\nrate_burst = 5"),
        &["port vf1: rate_burst = 5: must be 1518..=60000000 bytes"],
    );
    refused_with(
        &vf("rate_limit_pps = 1000\nrate_burst = 1000000000000"),
        &["port vf1: rate_burst = 1000000000000: must be 1..=60000 packets"],
    );
    // The rte_flow backend polices rate limits with rte_mtr meters (it
    // refused them before it made any).
    let c = Config::parse(
        &format!(
            "{}\n[offload]\nbackend = \"rte_flow\"\n",
            vf("rate_limit_pps = 1000")
        ),
        "t",
    )
    .expect("rate limits with the rte_flow backend");
    assert_eq!(c.vfs()[0].rate_limit.map(|l| l.rate), Some(1000));
}

#[test]
fn device_queues_and_port_counts_are_checked_before_eal() {
    // net_pcap has one TX queue per tx_pcap=; each worker needs one.
    refused_with(
        &GOOD.replace("worker_lcores = [1]", "worker_lcores = [1, 3]"),
        &["port uplink: net_pcap offers 1 TX queues; 2 workers need one each"],
    );
    // 33 ports: 33 ethdevs.
    let mut text = GOOD.to_owned();
    for i in 2..=32 {
        text += &format!(
            "\n[[port]]\nname = \"vf{i}\"\nrole = \"vf\"\nmac = \"02:00:00:00:01:{i:02x}\"\ndevice = \"net_null{i}\"\n"
        );
    }
    refused_with(&text, &["33 ports: DPDK here supports at most 32"]);
    let at_most = text[..text.rfind("[[port]]").unwrap()].to_string();
    assert!(Config::parse(&at_most, "t").is_ok());
}

#[test]
fn control_values_are_checked() {
    for (extra, want) in [
        (
            "socket = \"\"",
            "control.socket = \"\": must be a path of 1..=107 bytes",
        ),
        (
            &format!("socket = \"/tmp/{}\"", "s".repeat(200)),
            "control.socket = \"/tmp/ssss",
        ),
        // A newline in the path would break every line that names it.
        (
            "socket = \"a\\nb\"",
            "control.socket = \"a\\nb\": must be a path",
        ),
        (
            "metrics = \"x\"",
            "control.metrics = \"x\": must be \"\" (off) or HOST:PORT",
        ),
        (
            "metrics = \"127.0.0.1:99999\"",
            "control.metrics = \"127.0.0.1:99999\"",
        ),
    ] {
        refused_with(&with_section("control", extra), &[want]);
    }
    let c = Config::parse(
        &with_section("control", "metrics = \"localhost:9464\""),
        "t",
    )
    .unwrap();
    assert_eq!(c.control.metrics, "localhost:9464");
}

#[test]
fn values_of_the_wrong_type_name_the_key_and_what_it_takes() {
    for (extra, want) in [
        (
            "flow_table_size = -1",
            "dataplane.flow_table_size = -1: must be an integer in 1..=2147483648",
        ),
        (
            "flow_table_size = \"big\"",
            "dataplane.flow_table_size = \"big\": must be an integer",
        ),
        (
            "flow_table_size = 1.5",
            "dataplane.flow_table_size = 1.5: must be an integer",
        ),
        (
            "flow_table_size = 9223372036854775808",
            "dataplane.flow_table_size = 9223372036854775808: must be",
        ),
        (
            "burst = [1]",
            "dataplane.burst = [1]: must be an integer in 1..=64",
        ),
        (
            "idle_timeout_s = \"10\"",
            "dataplane.idle_timeout_s = \"10\": must be a number in 0 (never) or",
        ),
        ("burst = 32\nburst = 3", "dataplane.burst: duplicate key"),
    ] {
        refused_with(&dataplane(extra), &["line ", want]);
    }
    refused_with(
        &GOOD.replace("worker_lcores = [1]", "worker_lcores = 1"),
        &["dataplane.worker_lcores = 1: must be an array of lcore ids"],
    );
    refused_with(
        &GOOD.replace("mac = \"02:00:00:00:00:01\"", "mac = 2"),
        &["port #1: mac = 2: must be a MAC address"],
    );
    refused_with(
        &format!("{GOOD}\n[[offload.policy]]\nproto = -1\noffload = \"never\"\n"),
        &["offload.policy #1: proto = -1: must be tcp, udp, sctp, icmp, icmp6 or a protocol number"],
    );
}

#[test]
fn command_line_overrides_are_checked_and_named() {
    use crate::OffloadOverrides;
    let base = Config::parse(GOOD, "t").unwrap();
    for (o, want) in [
        (
            OffloadOverrides {
                max_rules: Some(0),
                ..Default::default()
            },
            "--max-rules 0: must be 1..=16777216",
        ),
        (
            OffloadOverrides {
                tick_ms: Some(0),
                ..Default::default()
            },
            "--tick-ms 0: must be 1..=60000",
        ),
        (
            OffloadOverrides {
                promote_pps: Some(f64::NAN),
                ..Default::default()
            },
            "--promote-pps NaN: must be",
        ),
        (
            OffloadOverrides {
                demote_pps: Some(1e30),
                ..Default::default()
            },
            "--demote-pps 1e30: must be",
        ),
        (
            OffloadOverrides {
                demote_pps: Some(5000.0),
                ..Default::default()
            },
            "offload.demote_pps = 5000 is above offload.promote_pps = 1000: flows would flap (after the command-line options)",
        ),
    ] {
        let e = o.apply(&mut base.clone()).unwrap_err().to_string();
        assert!(e.contains(want), "expected {want:?} in {e:?}");
    }
    let mut c = base.clone();
    OffloadOverrides {
        max_rules: Some(16),
        ..Default::default()
    }
    .apply(&mut c)
    .unwrap();
    assert_eq!(c.offload.max_rules, 16);
}

#[test]
fn every_bound_is_a_range_and_the_defaults_are_in_it() {
    for b in BOUNDS {
        assert!(b.lo <= b.hi, "{}", b.key);
        assert!(!b.why.is_empty(), "{}", b.key);
    }
    let demo = Config::demo(Path::new("/tmp/x.pcap"), None);
    demo.check().unwrap();
    Config::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../flowlift.example.toml"
    )))
    .unwrap()
    .check()
    .unwrap();
}

#[test]
fn memory_for_is_what_a_table_allocates() {
    use flowlift_dataplane::flow::{KeyV4, KeyV6};
    use flowlift_dataplane::table::CuckooTable;
    for n in [0, 1, 9, 1000, 1 << 16] {
        assert_eq!(
            CuckooTable::<KeyV4>::memory_for(n),
            Some(CuckooTable::<KeyV4>::with_capacity(n).memory_bytes())
        );
        assert_eq!(
            CuckooTable::<KeyV6>::memory_for(n),
            Some(CuckooTable::<KeyV6>::with_capacity(n).memory_bytes())
        );
    }
    assert_eq!(CuckooTable::<KeyV4>::capacity_for(1 << 31), Some(1 << 31));
    assert_eq!(CuckooTable::<KeyV4>::capacity_for((1 << 31) + 1), None);
    assert_eq!(CuckooTable::<KeyV4>::capacity_for(usize::MAX), None);
}

// The start-up's own checks, before EAL (what `--check-config` now runs).

/// A machine with 16 GiB available, no hugepages and one PCI device.
fn host() -> crate::eal_args::Host {
    crate::eal_args::Host {
        available_bytes: 16 << 30,
        free_hugepage_bytes: 0,
        pci_devices: ["0000:03:00.0".to_string()].into(),
        cpus: (0..4).collect(),
    }
}

/// What `eal_args::check` says of `text` on `host`.
fn start_check(text: &str, host: &crate::eal_args::Host) -> Result<(), String> {
    let c = Config::parse(text, "t").map_err(|e| e.to_string())?;
    let mbufs = crate::eal_args::mbufs_needed(&c, c.dataplane.worker_lcores.len() as u32, 0);
    let pool = crate::eal_args::PoolShape {
        mbufs,
        data_room: rte::MBUF_DEFAULT_DATAROOM,
    };
    crate::eal_args::check(&c, pool, 0, host)
}

const NO_HUGE: &str = "args = [\"--no-huge\", \"--no-pci\"]";

#[test]
fn a_flow_table_larger_than_the_memory_is_refused_with_what_fits() {
    // Was: a 16 GiB allocation that failed after --check-config said OK.
    let text = format!(
        "{}\n[eal]\n{NO_HUGE}\n",
        dataplane("flow_table_size = 2147483648")
    );
    let e = start_check(&text, &host()).unwrap_err();
    assert!(
        e.starts_with("dataplane.flow_table_size = 2147483648: the appliance would allocate"),
        "{e}"
    );
    assert!(
        e.contains("more than the 16.0 GiB this machine has available (MemAvailable): at most "),
        "{e}"
    );
    // The value it names does fit.
    let most: u32 = e
        .rsplit("at most ")
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let fits = text.replace("2147483648", &most.to_string());
    start_check(&fits, &host()).unwrap();
    let over = text.replace("2147483648", &(most + 1).to_string());
    assert!(start_check(&over, &host()).is_err());
    start_check(&format!("{GOOD}\n[eal]\n{NO_HUGE}\n"), &host()).unwrap();
}

#[test]
fn the_users_lcore_list_must_hold_the_configs_lcores() {
    // A net_null uplink: a TX queue for every worker.
    let with_args = |args: &str, workers: &str| {
        format!(
            "{}\n[eal]\nargs = [\"--no-huge\", {args}]\n",
            GOOD.replace("worker_lcores = [1]", workers)
                .replace("net_pcap0,rx_pcap=/tmp/in.pcap", "net_null0")
        )
    };
    for (args, workers, want) in [
        (
            "\"-l\", \"0-2\"",
            "worker_lcores = [1, 3]",
            "worker lcore 3 is not in EAL's lcore list",
        ),
        (
            "\"--lcores=1@0,(2-3)@1\"",
            "",
            "EAL's main lcore would be 1, dataplane.main_lcore is 0",
        ),
        (
            "\"-c\", \"0x1\"",
            "",
            "worker lcore 1 is not in EAL's lcore list",
        ),
        (
            "\"--main-lcore=5\"",
            "",
            "eal.args: --main-lcore 5, dataplane.main_lcore is 0",
        ),
        ("\"-l\"", "", "eal.args: -l needs a value"),
        (
            "\"-l\", \"0-4\"",
            "",
            "eal.args: an lcore would run on CPU 4, which this process cannot use",
        ),
        ("\"--lcores=0-2@(0,7)\"", "", "an lcore would run on CPU 7"),
        ("\"-l\", \"x\"", "", "eal.args: -l \"x\": not an lcore list"),
        ("\"-m\", \"512\"", "", ""),
    ] {
        let mut text = with_args(
            args,
            if workers.is_empty() {
                "worker_lcores = [1]"
            } else {
                workers
            },
        );
        if want.is_empty() {
            // -m and memory_mb together: one must go.
            text = text.replace("[eal]\n", "[eal]\nmemory_mb = 512\n");
        }
        let e = start_check(&text, &host()).unwrap_err();
        let want = if want.is_empty() {
            "give the memory once"
        } else {
            want
        };
        assert!(e.contains(want), "{args}: expected {want:?} in {e:?}");
    }
    for args in [
        "\"-l\", \"0-2\"",
        "\"-l0,1,2\"",
        "\"--lcores=0@0,(1-2)@1\"",
        "\"-c\", \"7\"",
    ] {
        start_check(&with_args(args, "worker_lcores = [1]"), &host())
            .unwrap_or_else(|e| panic!("{args}: {e}"));
    }
}

#[test]
fn memory_hugepages_and_pci_devices_are_checked_on_the_machine() {
    // No --no-huge: EAL memory comes from hugepages, and there are none.
    let e = start_check(GOOD, &host()).unwrap_err();
    assert!(
        e.contains("comes from hugepages, and this machine has 0 MB free"),
        "{e}"
    );
    let huge = crate::eal_args::Host {
        free_hugepage_bytes: 4 << 30,
        ..host()
    };
    start_check(GOOD, &huge).unwrap();
    let no_huge = |extra: &str| format!("{}\n[eal]\n{NO_HUGE}\n", dataplane(extra));
    let e = start_check(&no_huge("mbufs = 100"), &host()).unwrap_err();
    assert!(
        e.contains("dataplane.mbufs = 100: the queues, bursts and caches need at least"),
        "{e}"
    );
    let e = start_check(
        &format!("{GOOD}\n[eal]\n{NO_HUGE}\nmemory_mb = 16\n"),
        &host(),
    )
    .unwrap_err();
    assert!(
        e.contains("eal.memory_mb = 16: 16 MB of EAL memory cannot hold the pool"),
        "{e}"
    );
    // A PCI device: not with --no-pci, and only one this machine has.
    let pci = |dev: &str, args: &str| {
        format!(
            "{}\n[eal]\nargs = [{args}]\n",
            GOOD.replace("net_null1,no-rx=1", dev)
        )
    };
    let e = start_check(&pci("0000:03:00.0", "\"--no-huge\", \"--no-pci\""), &host()).unwrap_err();
    assert!(
        e.contains("port vf1: no DPDK port named \"0000:03:00.0\" with --no-pci"),
        "{e}"
    );
    let e = start_check(&pci("0000:99:00.0", "\"--no-huge\""), &host()).unwrap_err();
    assert!(
        e.contains("port vf1: no DPDK port named \"0000:99:00.0\": no PCI device"),
        "{e}"
    );
    start_check(&pci("03:00.0,dv_flow_en=1", "\"--no-huge\""), &host()).unwrap();
}

/// The NIC model as docs/rte_flow.md gives mlx5: one device line for the PF
/// with `representor=vf[...]`, each VF on a representor the PMD names.
const MODEL: &str = r#"
[eal]
args = ["--no-huge", "--no-pci"]
[[port]]
name = "uplink"
role = "uplink"
device = "net_flowlift0,wire=/c.pcap,loops=2,representor=vf[0-1]"
[[port]]
name = "vm1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_flowlift0_representor_vf0"
[[port]]
name = "vm2"
role = "vf"
mac = "02:00:00:00:00:02"
device = "net_flowlift0_representor_vf1"
"#;

#[test]
fn the_model_nic_takes_the_mlx5_shape_with_one_eal_argument() {
    let c = Config::parse(MODEL, "t.toml").unwrap();
    assert!(c.vfs().iter().all(|p| p.is_representor()));
    assert!(!c.uplink().is_representor());
    let pool = crate::eal_args::PoolShape {
        mbufs: 8191,
        data_room: rte::MBUF_DEFAULT_DATAROOM,
    };
    let args = crate::eal_args::eal_args(&c, pool, 4);
    let vdevs: Vec<&String> = args.iter().filter(|a| a.starts_with("--vdev")).collect();
    assert_eq!(
        vdevs,
        ["--vdev=net_flowlift0,wire=/c.pcap,loops=2,representor=vf[0-1]"]
    );
    // A list with commas inside its brackets, and VFs other than the first.
    let c = Config::parse(
        &MODEL
            .replace("vf[0-1]", "vf[1,3]")
            .replace("_vf0\"", "_vf3\""),
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.vfs()[0].dpdk_name(), "net_flowlift0_representor_vf3");
    // --replay sets the model's wire and keeps its representors.
    let mut c = Config::parse(MODEL, "t.toml").unwrap();
    c.replay_on_uplink(Path::new("/r.pcap"), 0);
    assert_eq!(
        c.uplink().device,
        "net_flowlift0,wire=/r.pcap,loops=0,representor=vf[0-1]"
    );
    c.check().unwrap();
}

#[test]
fn model_nic_mistakes_are_refused_before_eal() {
    refused_with(
        &MODEL.replace("vf[0-1]", "vf[0]"),
        &["port vm2: device net_flowlift0_representor_vf1: port uplink's net_flowlift0 makes no representor of VF 1"],
    );
    refused_with(
        &MODEL.replace("_representor_vf1", "_representor_pf0vf1"),
        &["port vm2: device \"net_flowlift0_representor_pf0vf1\": net_flowlift0's representors are named net_flowlift0_representor_vfN"],
    );
    refused_with(
        &MODEL.replace("net_flowlift0_representor_vf1", "net_flowlift7_representor_vf1"),
        &["port vm2: device net_flowlift7_representor_vf1: no port's device is its PF net_flowlift7"],
    );
    refused_with(
        &MODEL.replace("_representor_vf1\"", "_representor_vf1,rules=5\""),
        &["port vm2: device \"net_flowlift0_representor_vf1,rules=5\": a representor takes no arguments"],
    );
    // The PMD's own parser: what the probe would refuse, in the config's words.
    refused_with(
        &MODEL.replace("loops=2", "loops=2,wyre=/d.pcap"),
        &["port uplink: device net_flowlift0: unknown devarg 'wyre'"],
    );
    refused_with(
        &MODEL.replace("loops=2", "loops=-1"),
        &["port uplink: device net_flowlift0: devarg loops=-1: a whole number"],
    );
    // The PMD is built in: its .so in -d would be a second copy.
    refused_with(
        &MODEL.replace("\"--no-pci\"]", "\"--no-pci\", \"-d\", \"/x/librte_net_flowlift.so\"]"),
        &["eal.args: -d \"/x/librte_net_flowlift.so\" loads librte_net_flowlift.so, but net_flowlift is built into flowlift"],
    );
    refused_with(
        &MODEL.replace(
            "\"--no-pci\"]",
            "\"--no-pci\", \"-d/x/librte_net_flowlift.so\"]",
        ),
        &["is built into flowlift"],
    );
    Config::parse(
        &MODEL.replace(
            "\"--no-pci\"]",
            "\"--no-pci\", \"-d\", \"/x/librte_net_pcap.so\"]",
        ),
        "t.toml",
    )
    .unwrap();
}

#[test]
fn representors_of_pci_pfs_keep_their_names_and_take_no_arguments() {
    let vf = |dev: &str| GOOD.replace("net_null1,no-rx=1", dev);
    Config::parse(&vf("0000:03:00.0_representor_vf0"), "t.toml").unwrap();
    // ice DCF's representors (docs/rte_flow.md) were refused as vdev names.
    Config::parse(&vf("net_0000:3b:01.0_representor_1"), "t.toml").unwrap();
    refused_with(
        &vf("0000:03:00.0_representor_vf0,x=1"),
        &["a representor takes no arguments"],
    );
    refused_with(&vf("zz_representor_vf0"), &["not a DPDK virtual device"]);
}

#[test]
fn the_model_s_files_are_checked_before_eal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let with = |args: &str| {
        let text = MODEL.replace(
            "wire=/c.pcap,loops=2,representor=vf[0-1]",
            &format!("representor=vf[0-1]{args}"),
        );
        Config::parse(&text, "t.toml").unwrap().check_files()
    };
    with("").unwrap();
    let e = with(&format!(",wire={d}/none.pcap")).unwrap_err();
    assert!(
        e.contains("port uplink: wire capture") && e.contains("none.pcap"),
        "{e}"
    );
    let e = with(&format!(",wire={d}")).unwrap_err();
    assert!(e.contains("is a directory"), "{e}");
    let e = with(&format!(",vf1_wire={d}/vf.pcap")).unwrap_err();
    assert!(e.contains("vf.pcap"), "{e}");
    std::fs::write(dir.path().join("vf.pcap"), b"").unwrap();
    with(&format!(",vf1_wire={d}/vf.pcap")).unwrap();
    let e = with(&format!(",vf_capture_dir={d}/out")).unwrap_err();
    assert!(
        e.contains("capture_dir") && e.contains("no such directory"),
        "{e}"
    );
    with(&format!(",vf_capture_dir={d}")).unwrap();
    // A plugin directory holding the PMD.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let mut c = Config::parse(MODEL, "t.toml").unwrap();
    c.eal
        .args
        .extend(["-d".into(), plugins.display().to_string()]);
    // /c.pcap does not exist: only the plugin check is looked at here.
    assert!(!c.check_files().unwrap_err().contains("built into"));
    std::fs::write(plugins.join("librte_net_flowlift.so"), b"").unwrap();
    let e = c.check_files().unwrap_err();
    assert!(
        e.contains("(which holds librte_net_flowlift.so)") && e.contains("built into flowlift"),
        "{e}"
    );
}

/// [`MODEL`] with `replay = FILE` on port `vm` (`vm1` or `vm2`).
fn replaying(text: &str, vm: &str, file: &str) -> String {
    let at = text.find(&format!("name = \"{vm}\"")).expect("the port");
    let line_end = at + text[at..].find("device = ").unwrap();
    let line_end = line_end + text[line_end..].find('\n').unwrap() + 1;
    format!(
        "{}replay = \"{file}\"\n{}",
        &text[..line_end],
        &text[line_end..]
    )
}

#[test]
fn a_vf_s_replay_becomes_its_source_on_the_model_s_pf_with_the_uplink_s_loops() {
    let text = replaying(&replaying(MODEL, "vm2", "/b.pcap"), "vm1", "/a.pcap");
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.vfs()[0].replay.as_deref(), Some(Path::new("/a.pcap")));
    assert_eq!(
        c.uplink().device,
        "net_flowlift0,wire=/c.pcap,loops=2,representor=vf[0-1],vf0_wire=/a.pcap,vf0_loops=2,vf1_wire=/b.pcap,vf1_loops=2"
    );
    // Checked again after the command line: the lowered devargs are the
    // replays' own, not a second source.
    c.check().unwrap();
    // --replay --loops on the uplink: the VFs' replays follow its loops.
    let mut r = c.clone();
    r.replay_on_uplink(Path::new("/w.pcap"), 5);
    assert_eq!(
        r.uplink().device,
        "net_flowlift0,wire=/w.pcap,loops=5,representor=vf[0-1],vf0_wire=/a.pcap,vf0_loops=5,vf1_wire=/b.pcap,vf1_loops=5"
    );
    r.check().unwrap();
    let d = crate::model_nic::devargs(&r.uplink().device).unwrap();
    assert!(d.vf_wires.iter().all(|w| d.vf_loops(w) == 5));
    // One EAL argument still: the PF's.
    let pool = crate::eal_args::PoolShape {
        mbufs: 8191,
        data_room: rte::MBUF_DEFAULT_DATAROOM,
    };
    let vdevs: Vec<String> = crate::eal_args::eal_args(&r, pool, 4)
        .into_iter()
        .filter(|a| a.starts_with("--vdev"))
        .collect();
    assert_eq!(vdevs, [format!("--vdev={}", r.uplink().device)]);
    // --capture-dir keeps them.
    r.capture_vfs_to(Path::new("/out"));
    assert!(r.uplink().device.contains("vf0_wire=/a.pcap,vf0_loops=5"));
    r.check().unwrap();
    // The same capture given as the PF's own devarg is one source, not two.
    let same = text.replace("loops=2,", "loops=2,vf0_wire=/a.pcap,");
    Config::parse(&same, "t.toml").unwrap();
}

#[test]
fn a_vf_s_replay_in_the_wrong_place_is_refused_in_one_line() {
    // Not on the model: net_pcap would only hand the frames to the host.
    refused_with(
        &replaying(GOOD, "vf1", "/a.pcap"),
        &[
            "port vf1: replay = \"/a.pcap\": only a VF on a representor of the NIC model",
            "device \"net_null1\" is not one",
        ],
    );
    refused_with(
        &MODEL.replace(
            "role = \"uplink\"\n",
            "role = \"uplink\"\nreplay = \"/u.pcap\"\n",
        ),
        &["port uplink: replay = \"/u.pcap\": only a vf replays a capture"],
    );
    for bad in ["/a,b.pcap", "/a[1].pcap", " /a.pcap", "/a.pcap\\t"] {
        refused_with(
            &replaying(MODEL, "vm1", bad),
            &["port vm1: replay = ", "a path without commas, brackets"],
        );
    }
    refused_with(
        &replaying(MODEL, "vm1", ""),
        &["port vm1: replay = \"\": must be a path to a pcap file"],
    );
    let long = format!("/{}", "a".repeat(MAX_REPLAY_PATH));
    refused_with(
        &replaying(MODEL, "vm1", &long),
        &["port vm1: replay = ", "4096 bytes; a path has at most 4095"],
    );
    // The PF's devargs give the VF another source, or other passes.
    refused_with(
        &replaying(MODEL, "vm1", "/a.pcap").replace("loops=2,", "loops=2,vf0_wire=/o.pcap,"),
        &["port vm1: replay = \"/a.pcap\": the uplink's device gives VF 0 a source too (vf0_wire=\"/o.pcap\"): keep one"],
    );
    refused_with(
        &replaying(MODEL, "vm1", "/a.pcap")
            .replace("loops=2,", "loops=2,vf0_wire=/a.pcap,vf0_loops=7,"),
        &[
            "vf0_loops=7",
            "as many times as the uplink's wire (loops=2)",
        ],
    );
    // A wrong type names the key and what it takes.
    refused_with(
        &MODEL.replace(
            "device = \"net_flowlift0_representor_vf0\"",
            "device = \"net_flowlift0_representor_vf0\"\nreplay = 5",
        ),
        &["replay = 5: must be a path to a pcap file"],
    );
    // A VF source whose representor is no port's would never play.
    refused_with(
        &MODEL
            .replace("vf[0-1]", "vf[0-2]")
            .replace("loops=2,", "loops=2,vf2_wire=/x.pcap,"),
        &["port uplink: vf2_wire= sends from VF 2, but no port's device is its representor net_flowlift0_representor_vf2"],
    );
}

#[test]
fn a_vf_s_replay_file_is_checked_before_eal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vm1.pcap");
    let text = |path: &Path| {
        replaying(MODEL, "vm1", &path.display().to_string()).replace("wire=/c.pcap,", "")
    };
    let check = |path: &Path| Config::parse(&text(path), "t.toml").unwrap().check_files();
    let e = check(&file).unwrap_err();
    assert!(
        e.starts_with("port vm1: replay \"") && e.contains("vm1.pcap"),
        "{e}"
    );
    let e = check(dir.path()).unwrap_err();
    assert!(
        e.contains("port vm1: replay") && e.contains("is a directory"),
        "{e}"
    );
    std::fs::write(&file, b"not a capture").unwrap();
    let e = check(&file).unwrap_err();
    assert!(
        e.contains("port vm1: replay") && e.contains("is not a pcap capture"),
        "{e}"
    );
    flowlift_traffic::generate(
        &flowlift_traffic::TrafficSpec {
            flows: 2,
            packets: 3,
            ..Default::default()
        },
        &file,
    )
    .unwrap();
    check(&file).unwrap();
}

#[test]
fn the_nic_s_rules_see_the_uplink_and_the_vfs_on_its_representors() {
    let c = Config::parse(MODEL, "t.toml").unwrap();
    assert_eq!(c.nic_in_ports(), [true, true, true]);
    // A VF on a device of its own reaches the host past the switch.
    let c = Config::parse(GOOD, "t.toml").unwrap();
    assert_eq!(c.nic_in_ports(), [true, false]);
    let c = Config::parse(
        &GOOD
            .replace(
                "net_pcap0,rx_pcap=/tmp/in.pcap",
                "0000:03:00.0,representor=vf[0]",
            )
            .replace("net_null1,no-rx=1", "0000:03:00.0_representor_vf0"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.nic_in_ports(), [true, true]);
    let c = Config::parse(
        &GOOD
            .replace("net_pcap0,rx_pcap=/tmp/in.pcap", "0000:03:00.0")
            .replace("net_null1,no-rx=1", "0000:04:00.0_representor_vf0"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.nic_in_ports(), [true, false], "another PF's representor");
}
