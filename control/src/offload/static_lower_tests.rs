//! Lowering operators' testpmd rules: the wildcard match a rule becomes hits
//! the keys the rule names and misses the others; what the emulated NIC (or
//! flowlift's rte_flow items) cannot express is refused with the rte_flow
//! error type a PMD would give, in testpmd's `Caught error type` form.

use std::net::Ipv6Addr;

use flowlift_dataplane::flow::{FlowKey, KeyV4, KeyV6, NO_VLAN};

use super::*;
use crate::shell::testpmd_flow::{self, FlowCommand};

/// The switch of these tests: the uplink is DPDK port 0, VF representors
/// are ports 3 and 4 (so port ids and `PortIdx` differ), two host queues.
fn layout() -> SwitchLayout {
    SwitchLayout {
        port_ids: vec![0, 3, 4],
        queues: 2,
    }
}

/// The rule of a `flow create` or `flow validate` line.
fn rule(line: &str) -> FlowRule {
    match testpmd_flow::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}")) {
        FlowCommand::Create(r) | FlowCommand::Validate(r) => r,
        other => panic!("{line:?}: not a rule: {other:?}"),
    }
}

/// `flow create 0 ingress pattern PATTERN / end actions ACTIONS / end`.
fn ingress(pattern: &str, actions: &str) -> FlowRule {
    let pattern = if pattern.is_empty() {
        String::new()
    } else {
        format!("{pattern} / ")
    };
    rule(&format!(
        "flow create 0 ingress pattern {pattern}end actions {actions} / end"
    ))
}

fn lower(pattern: &str, actions: &str) -> WildLowered {
    let r = ingress(pattern, actions);
    to_wildcard(&r, &layout()).unwrap_or_else(|e| panic!("{pattern:?} => {actions:?}: {e}"))
}

/// The match of `pattern`, with a queue fate.
fn matching(pattern: &str) -> WildMatch {
    lower(pattern, "queue index 0").wild.matches
}

/// The refusal of `r`, checked to be of `error_type` and in testpmd's form.
fn refused_rule(r: &FlowRule, error_type: u32) -> FlowError {
    let err = match to_wildcard(r, &layout()) {
        Ok(l) => panic!("{r:?} was lowered to {l:?}"),
        Err(e) => e,
    };
    assert_eq!(
        err.error_type, error_type,
        "{r:?}: {err} (expected type {error_type})"
    );
    let text = err.to_string();
    assert!(text.starts_with("Caught error type "), "{text}");
    assert!(text.contains(&err.message), "{text}");
    assert!(!err.message.is_empty(), "{text}");
    err
}

fn refused(pattern: &str, actions: &str, error_type: u32) -> FlowError {
    refused_rule(&ingress(pattern, actions), error_type)
}

fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src,
        dst,
        sport,
        dport,
        vlan: NO_VLAN,
        proto,
        in_port: 0,
    })
}

fn udp4(src: [u8; 4], dport: u16) -> FlowKey {
    v4(src, [192, 168, 0, 1], 17, 40000, dport)
}

fn with_vlan(key: FlowKey, vlan: u16) -> FlowKey {
    match key {
        FlowKey::V4(mut k) => {
            k.vlan = vlan;
            FlowKey::V4(k)
        }
        FlowKey::V6(mut k) => {
            k.vlan = vlan;
            FlowKey::V6(k)
        }
    }
}

fn v6(src: &str, dst: &str, proto: u8, sport: u16, dport: u16) -> FlowKey {
    FlowKey::V6(KeyV6 {
        src: src.parse::<Ipv6Addr>().unwrap().octets(),
        dst: dst.parse::<Ipv6Addr>().unwrap().octets(),
        sport,
        dport,
        vlan: NO_VLAN,
        proto,
        in_port: 0,
    })
}

// to_wildcard: what the match hits.

#[test]
fn the_issues_example_hits_its_flow_and_only_it() {
    let r = rule(
        "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / udp dst is 5001 / end \
         actions count / queue index 0 / end",
    );
    let l = to_wildcard(&r, &layout()).unwrap();
    assert!(l.count);
    assert_eq!(l.wild.action, WildAction::Queue(0));
    assert_eq!(l.wild.priority, 0);
    assert_eq!(l.wild.counter, None, "the caller picks the counter");
    assert!(!l.wild.metered);
    let m = l.wild.matches;
    assert!(m.matches(&udp4([10, 0, 0, 1], 5001)));
    assert!(m.matches(&v4([10, 0, 0, 1], [1, 2, 3, 4], 17, 1, 5001)));
    assert!(
        m.matches(&with_vlan(udp4([10, 0, 0, 1], 5001), 7)),
        "no vlan item: tags do not matter"
    );
    assert!(!m.matches(&udp4([10, 0, 0, 2], 5001)), "other source");
    assert!(!m.matches(&udp4([10, 0, 0, 1], 5002)), "other dport");
    assert!(
        !m.matches(&v4([10, 0, 0, 1], [192, 168, 0, 1], 6, 40000, 5001)),
        "tcp"
    );
    assert!(!m.matches(&v6("::1", "::2", 17, 40000, 5001)), "ipv6");
}

#[test]
fn a_rule_without_count_does_not_count() {
    let l = lower("eth / ipv4", "drop");
    assert!(!l.count);
    assert_eq!(l.wild.action, WildAction::Drop);
    assert_eq!(l.wild.matches.family, Some(IpFamily::V4));
}

#[test]
fn spec_and_mask_match_a_subnet() {
    let m = matching("eth / ipv4 dst spec 10.1.0.0 dst mask 255.255.0.0");
    assert!(m.matches(&v4([1, 1, 1, 1], [10, 1, 0, 0], 6, 1, 2)));
    assert!(m.matches(&v4([1, 1, 1, 1], [10, 1, 255, 9], 17, 1, 2)));
    assert!(!m.matches(&v4([1, 1, 1, 1], [10, 2, 0, 1], 6, 1, 2)));
    assert!(
        !m.matches(&v4([10, 1, 0, 1], [1, 1, 1, 1], 6, 1, 2)),
        "the subnet is the destination's, not the source's"
    );
    // Bits of the spec outside the mask do not matter.
    let m = matching("eth / ipv4 dst spec 10.1.7.7 dst mask 255.255.0.0");
    assert!(m.matches(&v4([1, 1, 1, 1], [10, 1, 0, 1], 6, 1, 2)));
}

#[test]
fn a_prefix_matches_its_addresses() {
    let m = matching("ipv4 src spec 172.16.0.0 src prefix 12");
    assert!(m.matches(&v4([172, 16, 0, 1], [1, 1, 1, 1], 6, 1, 2)));
    assert!(m.matches(&v4([172, 31, 255, 255], [1, 1, 1, 1], 6, 1, 2)));
    assert!(!m.matches(&v4([172, 32, 0, 0], [1, 1, 1, 1], 6, 1, 2)));
    let m = matching("ipv6 dst spec 2001:db8:: dst prefix 32 / tcp");
    assert!(m.matches(&v6("::1", "2001:db8:1::5", 6, 1, 2)));
    assert!(!m.matches(&v6("::1", "2001:db9::5", 6, 1, 2)));
    assert!(!m.matches(&v6("::1", "2001:db8::5", 17, 1, 2)), "udp");
    assert!(!m.matches(&v4([1, 1, 1, 1], [1, 1, 1, 1], 6, 1, 2)));
}

#[test]
fn a_port_range_matches_its_ports() {
    let m = matching("eth / ipv4 / udp dst spec 1000 dst last 2000");
    for (port, hit) in [
        (999, false),
        (1000, true),
        (1500, true),
        (2000, true),
        (2001, false),
    ] {
        assert_eq!(m.matches(&udp4([10, 0, 0, 1], port)), hit, "dport {port}");
    }
    assert_eq!(m.dport, PortMatch::range(1000, 2000));
    // A last equal to the spec, or 0, is no range at all (as in rte_flow).
    let m = matching("udp src spec 53 src last 53");
    assert_eq!(m.sport, Some(PortMatch::is(53)));
    let m = matching("udp src spec 53 src last 0");
    assert_eq!(m.sport, Some(PortMatch::is(53)));
}

#[test]
fn a_last_below_spec_is_refused() {
    let e = refused(
        "eth / ipv4 / udp dst spec 2000 dst last 1000",
        "drop",
        et::ITEM_LAST,
    );
    assert_eq!(e.errno.0, EINVAL);
    refused("tcp src spec 10 src last 9", "drop", et::ITEM_LAST);
}

#[test]
fn ranges_are_refused_on_fields_that_take_none() {
    refused(
        "ipv4 src spec 10.0.0.1 src last 10.0.0.9",
        "drop",
        et::ITEM_LAST,
    );
    refused("ipv4 proto spec 6 proto last 17", "drop", et::ITEM_LAST);
    refused(
        "eth type spec 0x0800 type last 0x86dd",
        "drop",
        et::ITEM_LAST,
    );
    refused("vlan vid spec 10 vid last 20", "drop", et::ITEM_LAST);
    // An address range whose last is the spec is no range.
    let m = matching("ipv4 src spec 10.0.0.1 src last 10.0.0.1");
    assert!(m.matches(&udp4([10, 0, 0, 1], 1)));
    assert!(!m.matches(&udp4([10, 0, 0, 2], 1)));
}

#[test]
fn vlan_vid_matches_the_tag() {
    let m = matching("eth / vlan vid is 100 / ipv4");
    assert_eq!(
        m.vlan,
        Some(Masked {
            spec: 100,
            mask: 0x0fff
        })
    );
    let k = udp4([10, 0, 0, 1], 1);
    assert!(m.matches(&with_vlan(k, 100)));
    assert!(!m.matches(&with_vlan(k, 101)));
    assert!(!m.matches(&k), "untagged");
    // A bare vlan item: any tag, but a tag.
    let m = matching("eth / vlan / ipv4");
    assert!(m.matches(&with_vlan(k, 5)));
    assert!(!m.matches(&k));
    // The TCI given with a VID-only mask.
    let m = matching("vlan tci spec 0x0064 tci mask 0x0fff");
    assert!(m.matches(&with_vlan(k, 100)));
}

#[test]
fn vlan_pcp_and_a_full_tci_mask_are_refused() {
    refused("eth / vlan pcp is 3 / ipv4", "drop", et::ITEM_MASK);
    refused("eth / vlan tci is 100", "drop", et::ITEM_MASK);
    // A PCP mask of 0 compares nothing: allowed.
    let m = matching("vlan pcp mask 0 vid is 7");
    assert!(m.matches(&with_vlan(udp4([1, 1, 1, 1], 1), 7)));
}

#[test]
fn eth_type_selects_the_family() {
    let m = matching("eth type is 0x86dd");
    assert_eq!(m.family, Some(IpFamily::V6));
    assert!(m.matches(&v6("::1", "::2", 17, 1, 2)));
    assert!(!m.matches(&udp4([10, 0, 0, 1], 1)));
    let m = matching("eth type is 0x0800 / udp");
    assert!(m.matches(&udp4([10, 0, 0, 1], 1)));
    assert!(!m.matches(&v6("::1", "::2", 17, 1, 2)));
    // vlan's inner_type too.
    let m = matching("eth / vlan inner_type is 0x86dd");
    assert_eq!(m.family, Some(IpFamily::V6));
    // A zero mask selects nothing.
    assert_eq!(matching("eth type spec 0x0800 type mask 0").family, None);
}

#[test]
fn contradicting_families_are_refused() {
    refused("eth type is 0x0800 / ipv6", "drop", et::ITEM);
    refused("eth type is 0x86dd / ipv4", "drop", et::ITEM);
    refused(
        "eth type is 0x0800 / vlan inner_type is 0x86dd",
        "drop",
        et::ITEM,
    );
    refused("ipv6 / icmp", "drop", et::ITEM);
    // Other EtherTypes the flow key cannot tell apart.
    refused("eth type is 0x0806", "drop", et::ITEM_SPEC);
}

#[test]
fn l4_items_agree_with_the_ip_protocol() {
    refused("eth / ipv4 proto is 17 / tcp", "drop", et::ITEM);
    refused("ipv6 proto is 6 / udp dst is 53", "drop", et::ITEM);
    let m = matching("eth / ipv4 proto is 6 / tcp dst is 80");
    assert_eq!(m.proto, Some(Masked::is(6)));
    assert!(m.matches(&v4([1, 1, 1, 1], [2, 2, 2, 2], 6, 1, 80)));
    assert!(!m.matches(&v4([1, 1, 1, 1], [2, 2, 2, 2], 17, 1, 80)));
    // `ipv4 proto` alone matches that protocol, any ports.
    let m = matching("ipv4 proto is 47");
    assert!(m.matches(&v4([1, 1, 1, 1], [2, 2, 2, 2], 47, 0, 0)));
    assert!(!m.matches(&v4([1, 1, 1, 1], [2, 2, 2, 2], 6, 0, 0)));
    // sctp and icmp imply theirs.
    assert_eq!(matching("ipv4 / sctp").proto, Some(Masked::is(132)));
    assert_eq!(matching("ipv4 / icmp").proto, Some(Masked::is(1)));
}

#[test]
fn a_second_layer_is_refused() {
    refused("eth / eth", "drop", et::ITEM);
    refused("ipv4 / ipv6", "drop", et::ITEM);
    refused("ipv4 / udp / tcp", "drop", et::ITEM);
    refused("vlan / vlan", "drop", et::ITEM);
}

#[test]
fn items_out_of_stack_order_are_refused_on_the_item() {
    for (pattern, item, after) in [
        ("ipv4 / eth", "eth", "ipv4"),
        ("vlan / eth", "eth", "vlan"),
        ("ipv6 / vlan", "vlan", "ipv6"),
        ("udp / ipv4", "ipv4", "udp"),
        ("eth / tcp / ipv6", "ipv6", "tcp"),
        (
            "eth / ipv4 / udp / represented_port ethdev_port_id is 0 / eth",
            "eth",
            "udp",
        ),
    ] {
        let err = refused(pattern, "drop", et::ITEM);
        assert_eq!(err.errno.0, EINVAL, "{pattern}: {err}");
        assert!(
            err.message
                .starts_with(&format!("{item} cannot come after {after}")),
            "{pattern}: {err}"
        );
        let line = format!("flow create 0 ingress pattern {pattern} / end actions drop / end");
        rte_refused(&line, et::ITEM);
    }
    // Layers may be left out, and port items stand anywhere.
    matching("ipv4 / udp");
    matching("vlan vid is 3 / tcp");
    matching("eth / ipv4 / udp / port_id id is 0");
}

#[test]
fn eth_type_8021q_means_a_tagged_frame() {
    let k = udp4([10, 0, 0, 1], 1);
    // testpmd's way of saying "tagged": the outer EtherType is the TPID.
    let m = matching("eth type is 0x8100 / vlan vid is 100 / ipv4");
    assert!(m.matches(&with_vlan(k, 100)));
    assert!(!m.matches(&with_vlan(k, 101)));
    assert!(!m.matches(&k), "untagged");
    // Without a vlan item: any tag, but a tag.
    let m = matching("eth type is 0x8100 / ipv4");
    assert!(m.matches(&with_vlan(k, 7)));
    assert!(!m.matches(&k));
    // The flow key holds one tag: a TPID inside the tag is refused.
    refused("eth / vlan inner_type is 0x8100", "drop", et::ITEM_SPEC);
    // 802.1ad's TPID is not told apart from 802.1Q's by the key: refused.
    refused("eth type is 0x88a8 / vlan", "drop", et::ITEM_SPEC);
}

#[test]
fn fields_the_key_lacks_are_refused() {
    refused("eth dst is 02:00:00:00:00:01 / ipv4", "drop", et::ITEM_MASK);
    refused("eth src is 02:00:00:00:00:01", "drop", et::ITEM_MASK);
    refused("eth / ipv4 ttl is 64", "drop", et::ITEM_MASK);
    refused("eth / ipv4 tos is 4", "drop", et::ITEM_MASK);
    refused("eth / ipv4 / tcp flags is 2", "drop", et::ITEM_MASK);
    refused("ipv4 / icmp type is 8", "drop", et::ITEM_MASK);
    refused("ipv4 / icmp code is 0", "drop", et::ITEM_MASK);
    // A MAC masked out entirely compares nothing: allowed.
    let m = matching("eth dst spec 02:00:00:00:00:01 dst mask 00:00:00:00:00:00");
    assert_eq!(m, WildMatch::default());
}

#[test]
fn in_port_items_name_the_uplink() {
    let m = matching("represented_port ethdev_port_id is 0 / eth / ipv4");
    assert_eq!(m.in_port, Some(0));
    assert!(m.matches(&udp4([1, 1, 1, 1], 1)));
    assert_eq!(matching("port_id id is 0").in_port, Some(0));
    refused(
        "represented_port ethdev_port_id is 3",
        "drop",
        et::ITEM_SPEC,
    );
    let e = refused("port_id id is 9", "drop", et::ITEM_SPEC);
    assert_eq!(e.errno.0, EINVAL);
    refused("port_id id spec 0 id mask 0xff", "drop", et::ITEM_MASK);
}

#[test]
fn fates_map_to_the_switch_ports() {
    assert_eq!(lower("eth", "drop").wild.action, WildAction::Drop);
    assert_eq!(
        lower("eth", "queue index 1").wild.action,
        WildAction::Queue(1)
    );
    assert_eq!(
        lower("eth", "represented_port ethdev_port_id 3")
            .wild
            .action,
        WildAction::Forward(PortIdx(1))
    );
    assert_eq!(
        lower("eth", "represented_port ethdev_port_id 4")
            .wild
            .action,
        WildAction::Forward(PortIdx(2))
    );
    assert_eq!(
        lower("eth", "port_id id 4").wild.action,
        WildAction::Forward(PortIdx(2))
    );
    let l = lower("eth / ipv6", "count / port_id id 3");
    assert!(l.count);
    assert_eq!(l.wild.action, WildAction::Forward(PortIdx(1)));
    // Transfer rules lower as ingress ones do.
    let r = rule(
        "flow create 0 transfer pattern eth / end actions represented_port ethdev_port_id 3 / end",
    );
    assert_eq!(
        to_wildcard(&r, &layout()).unwrap().wild.action,
        WildAction::Forward(PortIdx(1))
    );
}

#[test]
fn forwarding_needs_a_vf_port() {
    refused("eth", "represented_port ethdev_port_id 0", et::ACTION_CONF);
    refused("eth", "port_id id 0", et::ACTION_CONF);
    let e = refused("eth", "port_id id 7", et::ACTION_CONF);
    assert_eq!(e.errno.0, EINVAL);
    refused("eth", "represented_port ethdev_port_id 1", et::ACTION_CONF);
}

#[test]
fn a_queue_out_of_range_is_refused() {
    let e = refused("eth", "queue index 2", et::ACTION_CONF);
    assert_eq!(e.errno.0, EINVAL);
    assert!(e.message.contains("2 queues"), "{}", e.message);
    let one = SwitchLayout {
        port_ids: vec![0, 3],
        queues: 1,
    };
    let e = to_wildcard(&ingress("eth", "queue index 1"), &one).unwrap_err();
    assert_eq!(e.error_type, et::ACTION_CONF);
    assert!(e.message.contains("(1 queue)"), "{}", e.message);
}

#[test]
fn one_fate_is_needed() {
    refused("eth", "drop / queue index 0", et::ACTION);
    refused("eth", "queue index 0 / port_id id 3", et::ACTION);
    let e = refused("eth", "count", et::ACTION_NUM);
    assert_eq!(e.errno.0, EINVAL);
    refused("eth", "count / count / drop", et::ACTION);
}

#[test]
fn actions_the_emulated_nic_lacks_are_refused() {
    refused("eth", "meter mtr_id 1 / drop", et::ACTION);
    refused("eth", "jump group 1", et::ACTION);
    refused("eth", "mark id 5 / queue index 0", et::ACTION);
}

#[test]
fn attributes_are_checked() {
    refused_rule(
        &rule("flow create 0 egress pattern eth / end actions drop / end"),
        et::ATTR_EGRESS,
    );
    refused_rule(
        &rule("flow create 0 pattern eth / end actions drop / end"),
        et::ATTR,
    );
    refused_rule(
        &rule("flow create 0 ingress group 1 pattern eth / end actions drop / end"),
        et::ATTR_GROUP,
    );
    // A rule on a VF's port: traffic enters the switch at the uplink only.
    let e = refused_rule(
        &rule("flow create 3 ingress pattern eth / end actions drop / end"),
        et::UNSPECIFIED,
    );
    assert!(e.message.contains("port 0"), "{}", e.message);
}

#[test]
fn the_priority_is_carried_over() {
    let r = rule("flow create 0 ingress priority 7 pattern eth / ipv4 / end actions drop / end");
    assert_eq!(to_wildcard(&r, &layout()).unwrap().wild.priority, 7);
    let r = rule("flow validate 0 ingress priority 7 pattern eth / end actions drop / end");
    let (attr, _, _) = to_rte_flow(&r).unwrap();
    assert_eq!(attr.priority, 7);
}

#[test]
fn an_empty_pattern_matches_everything() {
    let m = matching("");
    assert_eq!(m, WildMatch::default());
    assert!(m.matches(&udp4([1, 2, 3, 4], 9)));
    assert!(m.matches(&v6("::1", "::2", 58, 0, 0)));
}

// to_rte_flow

fn rte(line: &str) -> RteRule {
    to_rte_flow(&rule(line)).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn rte_refused(line: &str, error_type: u32) -> FlowError {
    let err = match to_rte_flow(&rule(line)) {
        Ok(r) => panic!("{line:?} was lowered to {r:?}"),
        Err(e) => e,
    };
    assert_eq!(err.error_type, error_type, "{line:?}: {err}");
    assert!(err.to_string().starts_with("Caught error type "), "{err}");
    err
}

#[test]
fn the_issues_example_lowers_to_rte_flow() {
    let (attr, pattern, actions) = rte(
        "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / udp dst is 5001 / end \
         actions count / queue index 0 / end",
    );
    assert_eq!(attr, rf::Attr::ingress());
    assert_eq!(
        pattern,
        rf::Pattern::new()
            .eth(rf::EthItem::default())
            .ipv4(rf::Ipv4Item {
                src: Some(rf::Masked::exact("10.0.0.1".parse().unwrap())),
                ..Default::default()
            })
            .udp(rf::L4Item {
                src_port: None,
                dst_port: Some(rf::Masked::exact(5001)),
            })
    );
    assert_eq!(
        actions,
        rf::Actions::new()
            .then(rf::Action::Count)
            .then(rf::Action::Queue(0))
    );
}

#[test]
fn rte_flow_gets_every_field_with_its_mask() {
    let (attr, pattern, actions) = rte("flow create 1 transfer group 2 priority 3 pattern \
         represented_port ethdev_port_id is 1 / \
         eth dst is 02:00:00:00:00:01 type is 0x8100 / \
         vlan vid is 100 inner_type is 0x86dd / \
         ipv6 src spec 2001:db8:: src prefix 32 proto is 6 / \
         tcp src is 1234 dst spec 80 dst mask 0xfff0 / end \
         actions count identifier 5 / meter mtr_id 2 / mark id 9 / port_id id 3 / end");
    assert_eq!(
        attr,
        rf::Attr {
            group: 2,
            priority: 3,
            ingress: false,
            egress: false,
            transfer: true,
        }
    );
    assert_eq!(
        pattern.items,
        vec![
            rf::Item::RepresentedPort(1),
            rf::Item::Eth(rf::EthItem {
                dst: Some(rf::Masked::exact([2, 0, 0, 0, 0, 1])),
                src: None,
                ether_type: Some(rf::Masked::exact(0x8100)),
            }),
            rf::Item::Vlan(rf::VlanItem {
                tci: Some(rf::Masked {
                    value: 100,
                    mask: 0x0fff
                }),
                inner_type: Some(rf::Masked::exact(0x86dd)),
            }),
            rf::Item::Ipv6(rf::Ipv6Item {
                src: Some(rf::Masked::prefix("2001:db8::".parse().unwrap(), 32)),
                dst: None,
                proto: Some(rf::Masked::exact(6)),
            }),
            rf::Item::Tcp(rf::L4Item {
                src_port: Some(rf::Masked::exact(1234)),
                dst_port: Some(rf::Masked {
                    value: 80,
                    mask: 0xfff0
                }),
            }),
        ]
    );
    assert_eq!(
        actions.actions,
        vec![
            rf::Action::Count,
            rf::Action::Meter(2),
            rf::Action::Mark(9),
            rf::Action::PortId(3),
        ]
    );
}

#[test]
fn rte_flow_items_and_fates() {
    let (_, pattern, actions) = rte(
        "flow create 0 ingress pattern port_id id is 2 / ipv4 dst spec 10.1.0.0 dst mask 255.255.0.0 \
         proto is 17 tos is 4 / udp / end actions represented_port ethdev_port_id 4 / end",
    );
    assert_eq!(
        pattern.items,
        vec![
            rf::Item::PortId(2),
            rf::Item::Ipv4(rf::Ipv4Item {
                src: None,
                dst: Some(rf::Masked {
                    value: "10.1.0.0".parse().unwrap(),
                    mask: "255.255.0.0".parse().unwrap(),
                }),
                proto: Some(rf::Masked::exact(17)),
                tos: Some(rf::Masked::exact(4)),
            }),
            rf::Item::Udp(rf::L4Item::default()),
        ]
    );
    assert_eq!(actions.actions, vec![rf::Action::RepresentedPort(4)]);
    let (_, _, actions) = rte("flow create 0 ingress pattern end actions drop / end");
    assert_eq!(actions.actions, vec![rf::Action::Drop]);
}

#[test]
fn rte_flow_refuses_what_flowlift_does_not_pass() {
    rte_refused(
        "flow create 0 ingress pattern eth / ipv4 / udp dst spec 1000 dst last 2000 / end actions drop / end",
        et::ITEM_LAST,
    );
    rte_refused(
        "flow create 0 ingress pattern ipv4 src spec 10.0.0.1 src last 10.0.0.5 / end actions drop / end",
        et::ITEM_LAST,
    );
    rte_refused(
        "flow create 0 ingress pattern eth / ipv4 / sctp / end actions drop / end",
        et::ITEM,
    );
    rte_refused(
        "flow create 0 ingress pattern eth / ipv4 / icmp / end actions drop / end",
        et::ITEM,
    );
    rte_refused(
        "flow create 0 ingress pattern eth / end actions jump group 1 / end",
        et::ACTION,
    );
    rte_refused(
        "flow create 0 ingress pattern ipv4 ttl is 1 / end actions drop / end",
        et::ITEM_MASK,
    );
    rte_refused(
        "flow create 0 ingress pattern tcp flags is 2 / end actions drop / end",
        et::ITEM_MASK,
    );
    rte_refused(
        "flow create 0 transfer pattern represented_port / end actions drop / end",
        et::ITEM_SPEC,
    );
    rte_refused(
        "flow create 0 transfer pattern port_id id spec 1 id mask 0xff / end actions drop / end",
        et::ITEM_SPEC,
    );
    rte_refused(
        "flow create 0 egress pattern eth / end actions drop / end",
        et::ATTR_EGRESS,
    );
    rte_refused(
        "flow create 0 pattern eth / end actions drop / end",
        et::ATTR,
    );
    // A last equal to the spec is no range.
    let (_, pattern, _) =
        rte("flow create 0 ingress pattern udp dst spec 53 dst last 53 / end actions drop / end");
    assert_eq!(
        pattern.items,
        vec![rf::Item::Udp(rf::L4Item {
            src_port: None,
            dst_port: Some(rf::Masked::exact(53)),
        })]
    );
}
