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
        ("vlan = 5000\naction = \"drop\"", "above 4095"),
        ("action = \"drop\"\ncolour = 1", "unknown field `colour`"),
    ] {
        let e = err(&format!("{GOOD}\n[[rule]]\n{bad}\n"));
        assert!(e.contains(want), "expected {want:?} in {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn the_demo_has_an_uplink_and_four_vfs() {
    let c = Config::demo(Path::new("/tmp/x.pcap"), None);
    let names: Vec<&str> = c.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["uplink", "vf1", "vf2", "vf3", "vf4"]);
    assert_eq!(c.ports[4].mac.unwrap().to_string(), "02:00:00:00:00:04");
    assert!(c.uplink().device.contains("infinite_rx=1"));
    let c = Config::demo(Path::new("/tmp/x.pcap"), Some(Path::new("/out")));
    assert_eq!(
        c.ports[2].device, "net_pcap_cap2,tx_pcap=/out/vf2.pcap,tx_pcap=/out/vf2-offloaded.pcap",
        "the emulated NIC's TX queue writes a file of its own"
    );
    let mut c = Config::demo(Path::new("/tmp/x.pcap"), None);
    c.offload.backend = BackendKind::None;
    c.capture_vfs_to(Path::new("/out"));
    assert_eq!(c.ports[2].device, "net_pcap_cap2,tx_pcap=/out/vf2.pcap");
}

#[test]
fn offload_section_defaults_and_checks() {
    let c = Config::parse(GOOD, "t").unwrap();
    assert_eq!(c.offload, OffloadSection::default());
    assert_eq!(c.offload.backend, BackendKind::Emulated);
    for (bad, want) in [
        ("backend = \"dpdk\"", "unknown variant `dpdk`"),
        (
            "lcore = 1",
            "offload.lcore = 1: the emulated NIC needs an lcore of its own",
        ),
        ("tick_ms = 0", "offload.tick_ms = 0"),
        ("promote_pps = 10.0\ndemote_pps = 20.0", "flows would flap"),
        ("hold = 0", "offload.hold must be at least 1"),
        ("ewma_alpha = 1.5", "offload.ewma_alpha = 1.5"),
        ("evict_margin = 0.5", "offload.evict_margin = 0.5"),
        ("bogus = 1", "unknown field `bogus`"),
        (
            "backend = \"none\"\n[offload.faults]\nbusy_every = 3",
            "only the emulated NIC",
        ),
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
        ("rate_limit_pps = 0", "a rate limit must be above 0"),
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
