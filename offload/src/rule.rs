//! The rte_flow rule that carries one flow: an exact match on what the flow key
//! holds (in-port, outer VLAN, addresses, protocol, ports) of whole datagrams
//! (no fragment, as the workers key none) and the actions COUNT
//! (plain or indirect), optional METER, and the fate. Pure data: unit-tested
//! without a NIC.

use std::net::{Ipv4Addr, Ipv6Addr};

use flowlift_dataplane::flow::FlowKey;
use rte::flow::{
    Action, Actions, Attr, CounterRef, EthItem, Ipv4Item, Ipv6Item, Item, L4Item, Masked, Pattern,
    VlanItem,
};

use super::{Fate, HwRule};

/// Which counter the rule counts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// The rule's own COUNT (read with the rule; gone with it).
    Plain,
    /// A shared counter created beforehand, readable after the rule is gone.
    Indirect(CounterRef),
}

/// VID bits of an 802.1Q TCI.
const VID_MASK: u16 = 0x0fff;

/// IPv4's "more fragments" flag and fragment offset: both 0 is a whole
/// datagram.
const IPV4_FRAGMENT: u16 = 0x3fff;

/// The attribute, pattern and actions of the rule for `rule`.
///
/// Transfer rules (fates through the embedded switch) match the in-port with a
/// `REPRESENTED_PORT` item; ingress rules (`Fate::Queue`) are created on the
/// in-port itself, which is their match. TCP and UDP ports are matched exactly;
/// other protocols (SCTP, ICMP, ...) by protocol number and addresses, which is
/// all rte_flow's basic items hold for them here.
pub fn build(rule: &HwRule, fate: Fate, counter: Counter) -> (Attr, Pattern, Actions) {
    let transfer = !matches!(fate, Fate::Queue(_));
    let attr = if transfer {
        Attr::transfer()
    } else {
        Attr::ingress()
    };
    let key = &rule.key;
    let mut pattern = Pattern::new();
    if transfer {
        pattern = pattern.item(Item::RepresentedPort(rule.in_port));
    }
    pattern = pattern.eth(EthItem::default());
    if let Some(vid) = key.vlan() {
        pattern = pattern.vlan(VlanItem {
            tci: Some(Masked {
                value: vid,
                mask: VID_MASK,
            }),
            inner_type: None,
        });
    }
    let proto = Some(Masked::exact(key.proto()));
    // Whole datagrams only, as Open vSwitch's offloads: the workers count no
    // fragment in a flow (RSS may hand a first fragment to another worker
    // than its flow), so the NIC must not count one in it either.
    pattern = match key {
        FlowKey::V4(k) => pattern.ipv4(Ipv4Item {
            src: Some(Masked::exact(Ipv4Addr::from(k.src))),
            dst: Some(Masked::exact(Ipv4Addr::from(k.dst))),
            proto,
            tos: None,
            fragment_offset: Some(Masked {
                value: 0,
                mask: IPV4_FRAGMENT,
            }),
        }),
        FlowKey::V6(k) => pattern.ipv6(Ipv6Item {
            src: Some(Masked::exact(Ipv6Addr::from(k.src))),
            dst: Some(Masked::exact(Ipv6Addr::from(k.dst))),
            proto,
            has_frag_ext: Some(false),
        }),
    };
    let ports = L4Item {
        src_port: Some(Masked::exact(key.sport())),
        dst_port: Some(Masked::exact(key.dport())),
    };
    pattern = match key.proto() {
        6 => pattern.tcp(ports),
        17 => pattern.udp(ports),
        _ => pattern,
    };
    let mut actions = Actions::new().then(match counter {
        Counter::Plain => Action::Count,
        Counter::Indirect(c) => Action::IndirectCount(c),
    });
    if let Some(m) = rule.meter {
        actions = actions.then(Action::Meter(m));
    }
    actions = actions.then(match fate {
        Fate::RepresentedPort => Action::RepresentedPort(rule.out_port),
        Fate::PortId => Action::PortId(u32::from(rule.out_port)),
        Fate::Queue(q) => Action::Queue(q),
    });
    (attr, pattern, actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlift_dataplane::flow::{KeyV4, KeyV6, NO_VLAN};

    fn v4(proto: u8, vlan: u16) -> HwRule {
        HwRule {
            key: FlowKey::V4(KeyV4 {
                src: [10, 0, 0, 1],
                dst: [192, 168, 1, 2],
                sport: 1234,
                dport: 5001,
                vlan,
                proto,
                in_port: 0,
            }),
            in_port: 0,
            out_port: 3,
            meter: None,
        }
    }

    #[test]
    fn ipv4_udp_transfer_rule_to_a_vf() {
        let (attr, p, a) = build(&v4(17, NO_VLAN), Fate::RepresentedPort, Counter::Plain);
        assert!(attr.transfer && !attr.ingress);
        assert_eq!(p.items.len(), 4);
        assert_eq!(p.items[0], Item::RepresentedPort(0));
        assert_eq!(p.items[1], Item::Eth(EthItem::default()));
        let Item::Ipv4(ip) = p.items[2] else {
            panic!("{:?}", p.items[2])
        };
        assert_eq!(ip.src, Some(Masked::exact(Ipv4Addr::new(10, 0, 0, 1))));
        assert_eq!(ip.dst, Some(Masked::exact(Ipv4Addr::new(192, 168, 1, 2))));
        assert_eq!(ip.proto, Some(Masked::exact(17)));
        assert_eq!(
            ip.fragment_offset,
            Some(Masked {
                value: 0,
                mask: 0x3fff
            }),
            "whole datagrams: the workers key no fragment"
        );
        assert_eq!(
            p.items[3],
            Item::Udp(L4Item {
                src_port: Some(Masked::exact(1234)),
                dst_port: Some(Masked::exact(5001)),
            })
        );
        assert_eq!(a.actions, vec![Action::Count, Action::RepresentedPort(3)]);
    }

    #[test]
    fn tcp_with_vlan_meter_and_indirect_counter() {
        let mut r = v4(6, 100);
        r.meter = Some(7);
        let handle = rte::flow::CounterRef::dangling_for_tests();
        let (_, p, a) = build(&r, Fate::PortId, Counter::Indirect(handle));
        assert_eq!(
            p.items[2],
            Item::Vlan(VlanItem {
                tci: Some(Masked {
                    value: 100,
                    mask: 0x0fff
                }),
                inner_type: None
            })
        );
        assert!(matches!(p.items[4], Item::Tcp(_)));
        assert_eq!(
            a.actions,
            vec![
                Action::IndirectCount(handle),
                Action::Meter(7),
                Action::PortId(3)
            ]
        );
    }

    #[test]
    fn ipv6_and_portless_protocols() {
        let r = HwRule {
            key: FlowKey::V6(KeyV6 {
                src: Ipv6Addr::LOCALHOST.octets(),
                dst: "2001:db8::2".parse::<Ipv6Addr>().unwrap().octets(),
                vlan: NO_VLAN,
                proto: 58,
                ..Default::default()
            }),
            in_port: 1,
            out_port: 2,
            meter: None,
        };
        let (_, p, _) = build(&r, Fate::RepresentedPort, Counter::Plain);
        assert_eq!(p.items.len(), 3, "ICMPv6: no L4 item");
        let Item::Ipv6(ip) = p.items[2] else { panic!() };
        assert_eq!(ip.proto, Some(Masked::exact(58)));
        assert_eq!(ip.has_frag_ext, Some(false), "whole datagrams");
        assert_eq!(
            ip.dst.unwrap().value,
            "2001:db8::2".parse::<Ipv6Addr>().unwrap()
        );
        let (_, p, _) = build(&v4(132, NO_VLAN), Fate::RepresentedPort, Counter::Plain);
        assert_eq!(p.items.len(), 3, "SCTP: matched by protocol");
    }

    #[test]
    fn queue_fate_makes_an_ingress_rule_without_port_item() {
        let (attr, p, a) = build(&v4(17, NO_VLAN), Fate::Queue(2), Counter::Plain);
        assert!(attr.ingress && !attr.transfer);
        assert_eq!(p.items[0], Item::Eth(EthItem::default()));
        assert_eq!(a.actions.last(), Some(&Action::Queue(2)));
    }
}
