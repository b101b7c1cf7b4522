//! Lowering operators' testpmd rules to rte_flow: every field with its mask,
//! in order; what flowlift does not pass to rte_flow is refused with the
//! rte_flow error type a PMD would give, in testpmd's `Caught error type`
//! form. (What the NIC then makes of a rule is the NIC's: the model's own
//! tests, `nic/src/flow_tests.rs`, and the end-to-end static rule tests.)

use flowlift_offload::flow_rule::{FlowCommand, FlowRule};
use flowlift_offload::static_lower::*;
use flowlift_operator::shell::testpmd_flow;
use rte::errno::EINVAL;
use rte::flow::{self as rf, error_type as et, FlowError};

/// The rule of a `flow create` or `flow validate` line.
fn rule(line: &str) -> FlowRule {
    match testpmd_flow::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}")) {
        FlowCommand::Create(r) | FlowCommand::Validate(r) => r,
        other => panic!("{line:?}: not a rule: {other:?}"),
    }
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
        let line = format!("flow create 0 ingress pattern {pattern} / end actions drop / end");
        let err = rte_refused(&line, et::ITEM);
        assert_eq!(err.errno.0, EINVAL, "{pattern}: {err}");
        assert!(
            err.message
                .starts_with(&format!("{item} cannot come after {after}")),
            "{pattern}: {err}"
        );
    }
    // Layers may be left out, and port items stand anywhere.
    for pattern in [
        "ipv4 / udp",
        "vlan vid is 3 / tcp",
        "eth / ipv4 / udp / port_id id is 0",
    ] {
        rte(&format!(
            "flow create 0 transfer pattern {pattern} / end actions drop / end"
        ));
    }
}

#[test]
fn attributes_are_checked() {
    rte_refused(
        "flow create 0 egress pattern eth / end actions drop / end",
        et::ATTR_EGRESS,
    );
    rte_refused(
        "flow create 0 pattern eth / end actions drop / end",
        et::ATTR,
    );
}

#[test]
fn the_priority_is_carried_over() {
    let r = rule("flow validate 0 ingress priority 7 pattern eth / end actions drop / end");
    let (attr, _, _) = to_rte_flow(&r).unwrap();
    assert_eq!(attr.priority, 7);
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
                has_frag_ext: None,
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
                fragment_offset: None,
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
