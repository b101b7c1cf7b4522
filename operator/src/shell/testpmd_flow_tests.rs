//! testpmd's `flow` syntax: the user guide's examples and the operators'
//! combinations parse to the rule they mean, every mistake is one line naming
//! what was expected and the word at fault, completion offers exactly what the
//! parser takes, and no input makes it panic.

use super::*;

fn ok(line: &str) -> FlowCommand {
    parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn created(line: &str) -> FlowRule {
    match ok(line) {
        FlowCommand::Create(rule) => rule,
        other => panic!("{line:?}: not a create: {other:?}"),
    }
}

/// The single item of `flow create 0 ingress pattern ITEM / end actions drop / end`.
fn item(text: &str) -> Item {
    let rule = created(&format!(
        "flow create 0 ingress pattern {text} / end actions drop / end"
    ));
    assert_eq!(rule.pattern.len(), 1, "{text}");
    rule.pattern[0]
}

/// The single action of `flow create 0 ingress pattern end actions ACTION / end`.
fn action(text: &str) -> Action {
    let rule = created(&format!(
        "flow create 0 ingress pattern end actions {text} / end"
    ));
    assert_eq!(rule.actions.len(), 1, "{text}");
    rule.actions[0]
}

/// The error's one line.
fn bad(line: &str) -> String {
    let e = parse(line).expect_err(line).to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

fn fm<T>(spec: T, mask: T, last: Option<T>) -> Option<FieldMatch<T>> {
    Some(FieldMatch { spec, mask, last })
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

const ALL4: &str = "255.255.255.255";

#[test]
fn guide_example_count_and_queue() {
    let line = "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / udp dst is 5001 / end actions count / queue index 1 / end";
    assert_eq!(
        ok(line),
        FlowCommand::Create(FlowRule {
            port: 0,
            attr: Attr {
                ingress: true,
                ..Attr::default()
            },
            pattern: vec![
                Item::Eth(EthItem::default()),
                Item::Ipv4(Ipv4Item {
                    src: fm(v4("10.0.0.1"), v4(ALL4), None),
                    ..Ipv4Item::default()
                }),
                Item::Udp(PortsItem {
                    src: None,
                    dst: fm(5001, 0xffff, None),
                }),
            ],
            actions: vec![Action::Count { id: None }, Action::Queue { index: 1 }],
        })
    );
}

#[test]
fn validate_is_the_same_rule_as_create() {
    let body = "0 ingress pattern eth / ipv4 / tcp dst is 80 / end actions drop / end";
    let FlowCommand::Validate(v) = ok(&format!("flow validate {body}")) else {
        panic!("not a validate");
    };
    assert_eq!(v, created(&format!("flow create {body}")));
    assert_eq!(v.actions, vec![Action::Drop]);
    assert_eq!(
        v.pattern.iter().map(Item::name).collect::<Vec<_>>(),
        ["eth", "ipv4", "tcp"]
    );
}

#[test]
fn transfer_rule_with_represented_ports() {
    let rule = created(
        "flow create 0 transfer pattern represented_port ethdev_port_id is 1 / eth / end actions represented_port ethdev_port_id 2 / end",
    );
    assert_eq!(
        rule.attr,
        Attr {
            transfer: true,
            ..Attr::default()
        }
    );
    assert_eq!(
        rule.pattern,
        vec![
            Item::RepresentedPort(RepresentedPortItem {
                ethdev_port_id: fm(1, 0xffff, None),
            }),
            Item::Eth(EthItem::default()),
        ]
    );
    assert_eq!(
        rule.actions,
        vec![Action::RepresentedPort { ethdev_port_id: 2 }]
    );
}

#[test]
fn attributes_in_any_order_and_port_id_forms() {
    let rule = created(
        "flow create 1 priority 3 transfer group 1 pattern port_id id is 2 / eth dst is 02:00:00:00:00:0a / end actions port_id id 3 / count identifier 7 / end",
    );
    assert_eq!(rule.port, 1);
    assert_eq!(
        rule.attr,
        Attr {
            group: 1,
            priority: 3,
            ingress: false,
            egress: false,
            transfer: true,
        }
    );
    assert_eq!(
        rule.pattern[0],
        Item::PortId(PortIdItem {
            id: fm(2, u32::MAX, None)
        })
    );
    assert_eq!(
        rule.pattern[1],
        Item::Eth(EthItem {
            dst: fm(mac("02:00:00:00:00:0a"), MacAddr::BROADCAST, None),
            ..EthItem::default()
        })
    );
    assert_eq!(
        rule.actions,
        vec![Action::PortId { id: 3 }, Action::Count { id: Some(7) }]
    );
}

#[test]
fn masks_prefixes_and_ranges() {
    let rule = created(
        "flow create 0 ingress pattern eth / ipv4 src spec 10.0.0.0 src mask 255.0.0.0 dst spec 192.168.0.0 dst prefix 16 / tcp dst is 1000 dst last 2000 src spec 1024 src last 65535 / end actions drop / end",
    );
    assert_eq!(
        rule.pattern[1],
        Item::Ipv4(Ipv4Item {
            src: fm(v4("10.0.0.0"), v4("255.0.0.0"), None),
            dst: fm(v4("192.168.0.0"), v4("255.255.0.0"), None),
            ..Ipv4Item::default()
        })
    );
    assert_eq!(
        rule.pattern[2],
        Item::Tcp(TcpItem {
            src: fm(1024, 0xffff, Some(65535)),
            dst: fm(1000, 0xffff, Some(2000)),
            flags: None,
        })
    );
}

#[test]
fn operators_apply_in_the_order_typed() {
    let src = |text: &str| match item(&format!("ipv4 {text}")) {
        Item::Ipv4(i) => i.src,
        other => panic!("{other:?}"),
    };
    // `is` sets the full mask, over an earlier `mask`; a later `mask` wins.
    assert_eq!(
        src("src mask 255.0.0.0 src is 10.0.0.1"),
        fm(v4("10.0.0.1"), v4(ALL4), None)
    );
    assert_eq!(
        src("src is 10.0.0.1 src mask 255.0.0.0"),
        fm(v4("10.0.0.1"), v4("255.0.0.0"), None)
    );
    // What no operator set: spec 0, full mask.
    assert_eq!(
        src("src mask 255.255.0.0"),
        fm(v4("0.0.0.0"), v4("255.255.0.0"), None)
    );
    assert_eq!(src("src spec 10.1.2.3"), fm(v4("10.1.2.3"), v4(ALL4), None));
    assert_eq!(
        src("src last 10.0.0.9"),
        fm(v4("0.0.0.0"), v4(ALL4), Some(v4("10.0.0.9")))
    );
    // A repeat overwrites, as in testpmd.
    assert_eq!(
        src("src is 10.0.0.1 src spec 10.0.0.2"),
        fm(v4("10.0.0.2"), v4(ALL4), None)
    );
    // The prefix's edges.
    assert_eq!(
        src("src spec 1.2.3.4 src prefix 0"),
        fm(v4("1.2.3.4"), v4("0.0.0.0"), None)
    );
    assert_eq!(
        src("src spec 1.2.3.4 src prefix 32"),
        fm(v4("1.2.3.4"), v4(ALL4), None)
    );
    assert_eq!(
        src("src spec 1.2.3.4 src prefix 1"),
        fm(v4("1.2.3.4"), v4("128.0.0.0"), None)
    );
    assert_eq!(src("dst is 1.2.3.4"), None);
}

#[test]
fn ipv6_addresses_and_prefixes() {
    assert_eq!(
        item("ipv6 src is 2001:db8::1 src prefix 64 dst spec fe80:: dst prefix 10 proto is 17"),
        Item::Ipv6(Ipv6Item {
            src: fm(v6("2001:db8::1"), v6("ffff:ffff:ffff:ffff::"), None),
            dst: fm(v6("fe80::"), v6("ffc0::"), None),
            proto: fm(17, 0xff, None),
        })
    );
    assert_eq!(
        item("ipv6 dst spec ::1 dst prefix 128"),
        Item::Ipv6(Ipv6Item {
            dst: fm(
                v6("::1"),
                v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                None
            ),
            ..Ipv6Item::default()
        })
    );
}

#[test]
fn eth_fields_and_number_bases() {
    assert_eq!(
        item("eth src is 02:00:00:00:00:01 dst spec ff:ff:ff:ff:ff:ff dst mask 01:00:00:00:00:00 type is 0x0800"),
        Item::Eth(EthItem {
            src: fm(mac("02:00:00:00:00:01"), MacAddr::BROADCAST, None),
            dst: fm(MacAddr::BROADCAST, mac("01:00:00:00:00:00"), None),
            ether_type: fm(0x0800, 0xffff, None),
        })
    );
    // strtoumax with base 0: decimal, hex, and octal after a leading 0.
    for text in ["2048", "0x800", "0X800", "04000"] {
        assert_eq!(
            item(&format!("eth type is {text}")),
            Item::Eth(EthItem {
                ether_type: fm(2048, 0xffff, None),
                ..EthItem::default()
            }),
            "{text}"
        );
    }
    assert_eq!(
        item("eth type is 0"),
        Item::Eth(EthItem {
            ether_type: fm(0, 0xffff, None),
            ..EthItem::default()
        })
    );
    // The prefix works on any field, a MAC address too.
    assert_eq!(
        item("eth dst spec 01:00:5e:00:00:00 dst prefix 25"),
        Item::Eth(EthItem {
            dst: fm(mac("01:00:5e:00:00:00"), mac("ff:ff:ff:80:00:00"), None),
            ..EthItem::default()
        })
    );
}

#[test]
fn vlan_fields_and_their_tci() {
    let Item::Vlan(v) = item("vlan vid is 100 pcp is 5 inner_type is 0x86dd") else {
        panic!("not a vlan");
    };
    assert_eq!(v.vid, fm(100, 0x0fff, None));
    assert_eq!(v.pcp, fm(5, 0x7, None));
    assert_eq!(v.inner_type, fm(0x86dd, 0xffff, None));
    assert_eq!(v.tci, None);
    assert_eq!(v.tci_match(), fm(0xa064, 0xefff, None));

    // vid over the TCI's low bits, the TCI's own bits kept elsewhere.
    let Item::Vlan(v) = item("vlan tci spec 0xf000 tci mask 0xf000 vid is 42") else {
        panic!("not a vlan");
    };
    assert_eq!(v.tci_match(), fm(0xf02a, 0xffff, None));

    // A vid range is a TCI range over the same bits.
    let Item::Vlan(v) = item("vlan vid is 10 vid last 20") else {
        panic!("not a vlan");
    };
    assert_eq!(v.tci_match(), fm(10, 0x0fff, Some(20)));

    // A pcp range with a fixed vid: the vid's bits stay in `last`.
    let Item::Vlan(v) = item("vlan vid is 7 pcp is 1 pcp last 3") else {
        panic!("not a vlan");
    };
    assert_eq!(v.tci_match(), fm(0x2007, 0xefff, Some(0x6007)));

    let Item::Vlan(v) = item("vlan") else {
        panic!("not a vlan");
    };
    assert_eq!(v, VlanItem::default());
    assert_eq!(v.tci_match(), None);
}

#[test]
fn the_other_items_and_actions() {
    let rule = created(
        "flow create 0 egress group 2 pattern eth / ipv4 proto is 1 tos spec 0x10 ttl is 64 / icmp type is 8 code is 0 / end actions meter mtr_id 3 / jump group 5 / mark id 0xbeef / end",
    );
    assert_eq!(
        rule.attr,
        Attr {
            group: 2,
            egress: true,
            ..Attr::default()
        }
    );
    assert_eq!(
        rule.pattern[1],
        Item::Ipv4(Ipv4Item {
            proto: fm(1, 0xff, None),
            tos: fm(0x10, 0xff, None),
            ttl: fm(64, 0xff, None),
            ..Ipv4Item::default()
        })
    );
    assert_eq!(
        rule.pattern[2],
        Item::Icmp(IcmpItem {
            icmp_type: fm(8, 0xff, None),
            code: fm(0, 0xff, None),
        })
    );
    assert_eq!(
        rule.actions,
        vec![
            Action::Meter { mtr_id: 3 },
            Action::Jump { group: 5 },
            Action::Mark { id: 0xbeef },
        ]
    );
    assert_eq!(
        item("udp src is 53"),
        Item::Udp(PortsItem {
            src: fm(53, 0xffff, None),
            dst: None,
        })
    );
    assert_eq!(
        item("sctp src is 36412 dst spec 1 dst mask 0xff00"),
        Item::Sctp(PortsItem {
            src: fm(36412, 0xffff, None),
            dst: fm(1, 0xff00, None),
        })
    );
    assert_eq!(
        item("tcp flags spec 0x02 flags mask 0x12"),
        Item::Tcp(TcpItem {
            flags: fm(0x02, 0x12, None),
            ..TcpItem::default()
        })
    );
    assert_eq!(action("queue index 65535"), Action::Queue { index: 65535 });
    assert_eq!(
        action("count identifier 4294967295"),
        Action::Count { id: Some(u32::MAX) }
    );
    // A repeated parameter: the last one counts, as in testpmd.
    assert_eq!(action("queue index 1 index 2"), Action::Queue { index: 2 });
}

#[test]
fn every_item_and_action_names_itself() {
    for def in ITEMS {
        assert_eq!(item(def.name).name(), def.name);
    }
    for def in ACTIONS {
        let text: String = std::iter::once(def.name.to_string())
            .chain(def.params.iter().map(|p| format!("{} 1", p.name)))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(action(&text).name(), def.name, "{text}");
    }
}

/// Every field and parameter in the tables reaches the AST: a name the
/// builder misspelled would leave it `None` or 0 whatever was typed.
#[test]
fn every_field_and_parameter_lands_in_the_ast() {
    for def in ITEMS {
        let empty = item(def.name);
        for (field, kind) in def.fields {
            let value = match kind {
                Kind::Mac => "02:00:00:00:00:01",
                Kind::Ipv4 => "10.0.0.1",
                Kind::Ipv6 => "::1",
                Kind::Uint(_) => "1",
            };
            let text = format!("{} {field} is {value}", def.name);
            assert_ne!(item(&text), empty, "{text}");
        }
    }
    for def in ACTIONS {
        for param in def.params {
            let with = |v: u32| {
                let others = def
                    .params
                    .iter()
                    .filter(|p| p.name != param.name)
                    .map(|p| format!(" {} 1", p.name))
                    .collect::<String>();
                action(&format!("{} {} {v}{others}", def.name, param.name))
            };
            assert_ne!(with(1), with(2), "{} {}", def.name, param.name);
        }
    }
}

#[test]
fn empty_pattern_and_actions_parse() {
    // testpmd takes them; whether a NIC does is `flow validate`'s question.
    let rule = created("flow create 7 pattern end actions end");
    assert_eq!(rule.port, 7);
    assert_eq!(rule.attr, Attr::default());
    assert!(rule.pattern.is_empty() && rule.actions.is_empty());
}

#[test]
fn list_query_destroy_flush() {
    assert_eq!(ok("flow list 0"), FlowCommand::List { port: 0 });
    assert_eq!(ok("flow flush 65535"), FlowCommand::Flush { port: 65535 });
    assert_eq!(
        ok("flow query 0 0 count"),
        FlowCommand::Query { port: 0, rule: 0 }
    );
    assert_eq!(
        ok("  flow\tquery 1 0x10   count  "),
        FlowCommand::Query { port: 1, rule: 16 }
    );
    assert_eq!(
        ok("flow destroy 0 rule 0"),
        FlowCommand::Destroy {
            port: 0,
            rules: vec![0]
        }
    );
    assert_eq!(
        ok("flow destroy 1 rule 3 rule 1 rule 4294967295"),
        FlowCommand::Destroy {
            port: 1,
            rules: vec![3, 1, u32::MAX]
        }
    );
}

#[test]
fn errors_name_the_command_the_word_and_what_was_expected() {
    let e = parse("flow create 0 ingress patern").unwrap_err();
    assert_eq!(e.command, "flow create");
    assert_eq!(e.token, 4);
    assert_eq!(
        e.to_string(),
        "flow create: expected \"pattern\" after the attributes (ingress, egress, transfer, group N, priority N), got \"patern\" (token 4)"
    );
    let e = parse("flow list").unwrap_err();
    assert_eq!((e.command, e.token), ("flow list", 2));
}

#[test]
fn command_errors() {
    let cases = [
        ("", "flow: expected \"flow\", got the end of the line (token 0)"),
        ("flw create", "flow: expected \"flow\", got \"flw\" (token 0)"),
        (
            "flow",
            "flow: expected create, validate, list, query, destroy or flush, got the end of the line (token 1)",
        ),
        (
            "flow crate 0",
            "flow: expected create, validate, list, query, destroy or flush, got \"crate\" (token 1)",
        ),
        (
            "flow list",
            "flow list: expected a port id (a number from 0 to 65535), got the end of the line (token 2)",
        ),
        (
            "flow list 65536",
            "flow list: expected a port id (a number from 0 to 65535), got \"65536\" (token 2)",
        ),
        (
            "flow flush -1",
            "flow flush: expected a port id (a number from 0 to 65535), got \"-1\" (token 2)",
        ),
        (
            "flow flush +1",
            "flow flush: expected a port id (a number from 0 to 65535), got \"+1\" (token 2)",
        ),
        (
            "flow list 0 1",
            "flow list: expected the end of the line, got \"1\" (token 3)",
        ),
        (
            "flow query 0",
            "flow query: expected a rule id (a number from 0 to 4294967295), got the end of the line (token 3)",
        ),
        (
            "flow query 0 1",
            "flow query: expected \"count\" (the only action queried), got the end of the line (token 4)",
        ),
        (
            "flow query 0 1 age",
            "flow query: expected \"count\" (the only action queried), got \"age\" (token 4)",
        ),
        (
            "flow query 0 1 count count",
            "flow query: expected the end of the line, got \"count\" (token 5)",
        ),
        (
            "flow destroy 0",
            "flow destroy: expected \"rule\", got the end of the line (token 3)",
        ),
        (
            "flow destroy 0 1",
            "flow destroy: expected \"rule\", got \"1\" (token 3)",
        ),
        (
            "flow destroy 0 rule",
            "flow destroy: expected a rule id (a number from 0 to 4294967295), got the end of the line (token 4)",
        ),
        (
            "flow destroy 0 rule 4294967296",
            "flow destroy: expected a rule id (a number from 0 to 4294967295), got \"4294967296\" (token 4)",
        ),
        (
            "flow destroy 0 rule 1 2",
            "flow destroy: expected \"rule\" or the end of the line, got \"2\" (token 5)",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(bad(line), want, "{line:?}");
    }
}

#[test]
fn rule_errors() {
    let create = "flow create 0 ingress pattern";
    let actions = "flow create 0 ingress pattern end actions";
    let cases = [
        (
            "flow create 0".to_string(),
            "flow create: expected \"pattern\" after the attributes (ingress, egress, transfer, group N, priority N), got the end of the line (token 3)",
        ),
        (
            "flow create 0 ingress ingress pattern end actions end".to_string(),
            "flow create: \"ingress\" given twice (each attribute at most once) (token 4)",
        ),
        (
            "flow create 0 group 1 transfer group 2 pattern end actions end".to_string(),
            "flow create: \"group\" given twice (each attribute at most once) (token 6)",
        ),
        (
            "flow create 0 group x".to_string(),
            "flow create: expected a group (a number from 0 to 4294967295), got \"x\" (token 4)",
        ),
        (
            "flow validate 0 priority".to_string(),
            "flow validate: expected a priority (a number from 0 to 4294967295), got the end of the line (token 4)",
        ),
        (
            format!("{create} ethh"),
            "flow create: expected an item (eth, vlan, ipv4, ipv6, tcp, udp, sctp, icmp, represented_port, port_id or \"end\"), got \"ethh\" (token 5)",
        ),
        (
            format!("{create} / end"),
            "flow create: expected an item (eth, vlan, ipv4, ipv6, tcp, udp, sctp, icmp, represented_port, port_id or \"end\"), got \"/\" (token 5)",
        ),
        (
            format!("{create} eth/ipv4 / end"),
            "flow create: expected an item (eth, vlan, ipv4, ipv6, tcp, udp, sctp, icmp, represented_port, port_id or \"end\"), got \"eth/ipv4\" (\"/\" stands apart: put spaces around it) (token 5)",
        ),
        (
            format!("{create} eth end"),
            "flow create: expected a field of eth (dst, src, type or \"/\"), got \"end\" (token 6)",
        ),
        (
            format!("{create} udp port is 1 / end"),
            "flow create: expected a field of udp (src, dst or \"/\"), got \"port\" (token 6)",
        ),
        (
            format!("{create} ipv4 src 10.0.0.1 / end"),
            "flow create: expected \"is\", \"spec\", \"mask\", \"last\" or \"prefix\" after ipv4 src, got \"10.0.0.1\" (token 7)",
        ),
        (
            format!("{create} ipv4 src is 10.0.0.300 / end"),
            "flow create: expected an IPv4 address like 10.0.0.1 for ipv4 src, got \"10.0.0.300\" (token 8)",
        ),
        (
            format!("{create} ipv4 src is"),
            "flow create: expected an IPv4 address like 10.0.0.1 for ipv4 src, got the end of the line (token 8)",
        ),
        (
            format!("{create} ipv6 dst is 10.0.0.1 / end"),
            "flow create: expected an IPv6 address like 2001:db8::1 for ipv6 dst, got \"10.0.0.1\" (token 8)",
        ),
        (
            format!("{create} eth src is 02:00:00:00:00 / end"),
            "flow create: expected a MAC address like 02:00:00:00:00:01 for eth src, got \"02:00:00:00:00\" (token 8)",
        ),
        (
            format!("{create} udp dst is 70000 / end"),
            "flow create: expected a number from 0 to 65535 for udp dst, got \"70000\" (token 8)",
        ),
        (
            format!("{create} vlan vid is 4096 / end"),
            "flow create: expected a number from 0 to 4095 for vlan vid, got \"4096\" (token 8)",
        ),
        (
            format!("{create} vlan pcp is 8 / end"),
            "flow create: expected a number from 0 to 7 for vlan pcp, got \"8\" (token 8)",
        ),
        (
            format!("{create} eth type is 0800 / end"),
            "flow create: expected a number from 0 to 65535 for eth type, got \"0800\" (token 8)",
        ),
        (
            format!("{create} ipv4 proto is 0x / end"),
            "flow create: expected a number from 0 to 255 for ipv4 proto, got \"0x\" (token 8)",
        ),
        (
            format!("{create} ipv4 src prefix 33 / end"),
            "flow create: expected a prefix length from 0 to 32 for ipv4 src, got \"33\" (token 8)",
        ),
        (
            format!("{create} tcp dst prefix x / end"),
            "flow create: expected a prefix length from 0 to 16 for tcp dst, got \"x\" (token 8)",
        ),
        (
            format!("{create} eth / ipv4"),
            "flow create: expected a field of ipv4 (src, dst, proto, tos, ttl or \"/\"), got the end of the line (token 8)",
        ),
        (
            format!("{create} eth /"),
            "flow create: expected an item (eth, vlan, ipv4, ipv6, tcp, udp, sctp, icmp, represented_port, port_id or \"end\"), got the end of the line (token 7)",
        ),
        (
            format!("{create} end drop / end"),
            "flow create: expected \"actions\" after the pattern's \"end\", got \"drop\" (token 6)",
        ),
        (
            format!("{actions} forward / end"),
            "flow create: expected an action (count, queue, drop, represented_port, port_id, meter, jump, mark or \"end\"), got \"forward\" (token 7)",
        ),
        (
            format!("{actions} queue / end"),
            "flow create: expected \"index N\" after queue, got \"/\" (token 8)",
        ),
        (
            format!("{actions} jump"),
            "flow create: expected \"group N\" after jump, got the end of the line (token 8)",
        ),
        (
            format!("{actions} queue index 65536 / end"),
            "flow create: expected a number from 0 to 65535 for queue index, got \"65536\" (token 9)",
        ),
        (
            format!("{actions} drop index 1 / end"),
            "flow create: expected \"/\" after drop, got \"index\" (token 8)",
        ),
        (
            format!("{actions} drop"),
            "flow create: expected \"/\" after drop, got the end of the line (token 8)",
        ),
        (
            format!("{actions} count id 1 / end"),
            "flow create: expected a parameter of count (identifier N or \"/\"), got \"id\" (token 8)",
        ),
        (
            format!("{actions} drop /"),
            "flow create: expected an action (count, queue, drop, represented_port, port_id, meter, jump, mark or \"end\"), got the end of the line (token 9)",
        ),
        (
            format!("{actions} drop / end extra"),
            "flow create: expected the end of the line, got \"extra\" (token 10)",
        ),
        (
            "flow create 0 ingress pattern end".to_string(),
            "flow create: expected \"actions\" after the pattern's \"end\", got the end of the line (token 6)",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(bad(&line), want, "{line:?}");
    }
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn item_names_and_end() -> Vec<&'static str> {
    ITEMS.iter().map(|d| d.name).chain(["end"]).collect()
}

#[test]
fn completions_at_the_common_positions() {
    let c = |line: &str| completions(&words(line));
    assert_eq!(c(""), ["flow"]);
    assert_eq!(
        c("flow"),
        ["create", "validate", "list", "query", "destroy", "flush"]
    );
    assert!(c("flow create").is_empty(), "a port id comes next");
    assert_eq!(
        c("flow create 0"),
        ["ingress", "egress", "transfer", "group", "priority", "pattern"]
    );
    assert_eq!(
        c("flow create 0 ingress group 1"),
        ["egress", "transfer", "priority", "pattern"]
    );
    assert!(c("flow create 0 group").is_empty());
    assert_eq!(c("flow create 0 pattern"), item_names_and_end());
    assert_eq!(
        c("flow create 0 pattern eth / ipv4"),
        ["src", "dst", "proto", "tos", "ttl", "/"]
    );
    assert_eq!(
        c("flow create 0 pattern eth / ipv4 src"),
        ["is", "spec", "mask", "last", "prefix"]
    );
    assert!(c("flow create 0 pattern eth / ipv4 src is").is_empty());
    assert_eq!(
        c("flow create 0 pattern eth / ipv4 src is 10.0.0.1"),
        ["src", "dst", "proto", "tos", "ttl", "/"]
    );
    assert_eq!(c("flow create 0 pattern eth /"), item_names_and_end());
    assert_eq!(c("flow create 0 pattern eth / end"), ["actions"]);
    let mut acts: Vec<&str> = ACTIONS.iter().map(|d| d.name).collect();
    acts.push("end");
    assert_eq!(c("flow create 0 pattern end actions"), acts);
    assert_eq!(c("flow create 0 pattern end actions drop /"), acts);
    assert_eq!(c("flow create 0 pattern end actions queue"), ["index"]);
    assert!(c("flow create 0 pattern end actions queue index").is_empty());
    assert_eq!(
        c("flow create 0 pattern end actions queue index 1"),
        ["index", "/"]
    );
    assert_eq!(
        c("flow create 0 pattern end actions count"),
        ["identifier", "/"]
    );
    assert_eq!(c("flow create 0 pattern end actions drop"), ["/"]);
    assert!(c("flow create 0 pattern end actions drop / end").is_empty());
    assert!(c("flow list").is_empty());
    assert!(c("flow list 0").is_empty());
    assert_eq!(c("flow query 0 1"), ["count"]);
    assert_eq!(c("flow destroy 0"), ["rule"]);
    assert_eq!(c("flow destroy 0 rule 1"), ["rule"]);
    // After a mistake there is nothing to offer.
    assert!(c("flow bogus").is_empty());
    assert!(c("flow create 0 pattern ethh").is_empty());
    assert!(c("flow list x").is_empty());
}

/// Valid commands of every shape, for the prefix, completion and mutation
/// tests.
const VALID: &[&str] = &[
    "flow create 0 ingress pattern eth / ipv4 src is 10.0.0.1 / udp dst is 5001 / end actions count / queue index 1 / end",
    "flow validate 0 ingress pattern eth / ipv4 / tcp dst is 80 / end actions drop / end",
    "flow create 0 transfer pattern represented_port ethdev_port_id is 1 / eth / end actions represented_port ethdev_port_id 2 / end",
    "flow create 1 priority 3 transfer group 1 pattern port_id id is 2 / eth dst is 02:00:00:00:00:0a / end actions port_id id 3 / count identifier 7 / end",
    "flow create 0 ingress pattern eth / ipv4 src spec 10.0.0.0 src mask 255.0.0.0 dst spec 192.168.0.0 dst prefix 16 / tcp dst is 1000 dst last 2000 / end actions drop / end",
    "flow create 0 egress group 2 pattern eth type is 0x0800 / vlan vid is 100 pcp is 5 inner_type is 0x86dd / ipv6 src is 2001:db8::1 src prefix 64 / icmp type is 8 code is 0 / end actions meter mtr_id 3 / jump group 5 / mark id 0xbeef / end",
    "flow create 0 ingress pattern eth / ipv4 / sctp src is 36412 / end actions queue index 0 / end",
    "flow list 0",
    "flow flush 3",
    "flow query 0 5 count",
    "flow destroy 0 rule 1 rule 2 rule 3",
];

/// A keyword, as opposed to a value: numbers start with a digit, and
/// addresses hold `.` or `:`.
fn is_keyword(word: &str) -> bool {
    word == "/"
        || (word.starts_with(|c: char| c.is_ascii_lowercase())
            && word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
}

#[test]
fn a_command_displays_as_a_line_that_parses_back_to_it() {
    for line in VALID {
        let cmd = ok(line);
        let text = cmd.to_string();
        assert_eq!(ok(&text), cmd, "{line:?} displays as {text:?}");
    }
    // Every field written out, spec and mask, in decimal.
    assert_eq!(
        ok("flow create 0 ingress priority 2 pattern eth type is 0x0800 / ipv4 src spec 10.0.0.0 src prefix 8 / udp dst is 53 dst last 60 / end actions count / queue index 1 / end").to_string(),
        "flow create 0 ingress priority 2 pattern eth type spec 2048 type mask 65535 / ipv4 src spec 10.0.0.0 src mask 255.0.0.0 / udp dst spec 53 dst mask 65535 dst last 60 / end actions count / queue index 1 / end"
    );
    assert_eq!(
        ok("flow destroy 0 rule 3 rule 1").to_string(),
        "flow destroy 0 rule 3 rule 1"
    );
}

#[test]
fn completion_offers_every_next_keyword_and_nothing_before_a_value() {
    for line in VALID {
        let w = words(line);
        for i in 0..w.len() {
            let offered = completions(&w[..i]);
            if is_keyword(w[i]) {
                assert!(
                    offered.contains(&w[i]),
                    "after {:?}: {:?} not in {offered:?}",
                    &w[..i],
                    w[i]
                );
            } else {
                assert!(
                    offered.is_empty(),
                    "after {:?} a value comes, yet {offered:?}",
                    &w[..i]
                );
            }
        }
        assert!(
            completions(&w).iter().all(|c| *c == "rule"),
            "{line}: only destroy goes on"
        );
    }
}

#[test]
fn every_prefix_of_a_command_fails_at_its_end() {
    for line in VALID {
        let w = words(line);
        for i in 0..w.len() {
            let prefix = w[..i].join(" ");
            match parse(&prefix) {
                // `flow destroy 0 rule 1` is itself whole.
                Ok(FlowCommand::Destroy { .. }) if line.starts_with("flow destroy") => {}
                Ok(cmd) => panic!("{prefix:?} parsed: {cmd:?}"),
                Err(e) => {
                    assert_eq!(e.token, i, "{prefix:?}: {e}");
                    assert!(e.to_string().contains("the end of the line"), "{e}");
                }
            }
        }
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Words the grammar knows, values of every kind, and junk.
fn vocabulary() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = vec![
        "flow",
        "pattern",
        "actions",
        "end",
        "/",
        "rule",
        "count",
        "is",
        "spec",
        "mask",
        "last",
        "prefix",
        "0",
        "1",
        "7",
        "16",
        "32",
        "33",
        "128",
        "129",
        "255",
        "4095",
        "65535",
        "65536",
        "4294967295",
        "4294967296",
        "0x",
        "0x10",
        "0xffffffffffffffffffffffffffffffffff",
        "08",
        "010",
        "-1",
        "+1",
        "",
        "10.0.0.1",
        "255.0.0.0",
        "1.2.3.4.5",
        "::",
        "::1",
        "2001:db8::1",
        "fe80::/10",
        "02:00:00:00:00:01",
        "ff:ff:ff:ff:ff:ff",
        "ff:ff",
        "999999999999999999999999999999999999999999999999",
        "eth/ipv4",
        "é",
        "\u{7f}",
        "ＥＴＨ",
    ];
    v.extend(VERBS.iter().map(|(verb, _)| *verb));
    v.extend(ATTRIBUTES);
    for def in ITEMS {
        v.push(def.name);
        v.extend(def.fields.iter().map(|(n, _)| *n));
    }
    for def in ACTIONS {
        v.push(def.name);
        v.extend(def.params.iter().map(|p| p.name));
    }
    v
}

/// Asserts that `line` parses or fails cleanly (a command it parses to
/// displays as a line that parses back to it), and that completion after it
/// does not panic either.
fn check_no_panic(line: &str) {
    match parse(line) {
        Ok(cmd) => {
            let text = cmd.to_string();
            assert_eq!(parse(&text), Ok(cmd), "{line:?} displays as {text:?}");
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{line:?}: {text}");
            assert!(e.token <= words(line).len(), "{line:?}: {text}");
        }
    }
    let _ = completions(&words(line));
}

#[test]
fn no_input_panics() {
    let vocab = vocabulary();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // Each valid command mutated at each word: dropped, doubled, replaced.
    for line in VALID {
        let w = words(line);
        for i in 0..w.len() {
            let mut dropped = w.clone();
            dropped.remove(i);
            check_no_panic(&dropped.join(" "));
            let mut doubled = w.clone();
            doubled.insert(i, w[i]);
            check_no_panic(&doubled.join(" "));
            for word in &vocab {
                let mut replaced = w.clone();
                replaced[i] = word;
                check_no_panic(&replaced.join(" "));
            }
        }
    }

    // Soups of known words, most starting like a command so they get deep.
    for _ in 0..20_000 {
        let mut soup: Vec<&str> = Vec::new();
        if rng.below(4) != 0 {
            soup.push("flow");
            soup.push(VERBS[rng.below(VERBS.len())].0);
            soup.push("0");
        }
        for _ in 0..rng.below(40) {
            soup.push(vocab[rng.below(vocab.len())]);
        }
        check_no_panic(&soup.join(" "));
    }

    // Odd bytes and blanks.
    for line in [
        "\0",
        "flow\u{2028}list 0",
        "flow list 0\n",
        "flow create 0 pattern eth src is \u{0}",
        "   ",
        "flow create 0 pattern ipv6 src prefix 128 / end actions end",
        "flow create 0 pattern ipv6 src prefix 129 / end actions end",
        "flow create 0 pattern ipv4 src prefix 340282366920938463463374607431768211456",
    ] {
        check_no_panic(line);
    }
}
