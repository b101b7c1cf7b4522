//! The model's rte_flow rules as DPDK hands them over: patterns, masks and their
//! defaults, actions, transfer rules and the port they are created on.

use super::*;
use crate::wildcard::FrameMatch;

const PF: Context = Context {
    port: PortRef::Uplink,
    rx_queues: 4,
};

fn ingress() -> Attr {
    Attr {
        ingress: true,
        ..Attr::default()
    }
}

fn transfer() -> Attr {
    Attr {
        transfer: true,
        ..Attr::default()
    }
}

fn spec<T: Copy + Default>(v: T) -> Parts<T> {
    Parts {
        spec: Some(v),
        ..Parts::default()
    }
}

fn udp_dst(port: u16) -> Item {
    Item::Udp(Parts {
        spec: Some(Ports { src: 0, dst: port }),
        mask: Some(Ports {
            src: 0,
            dst: 0xffff,
        }),
        ..Parts::default()
    })
}

fn ipv4_src(a: [u8; 4]) -> Item {
    Item::Ipv4(Parts {
        spec: Some(Ipv4 {
            src: a,
            ..Ipv4::default()
        }),
        mask: Some(Ipv4 {
            src: [0xff; 4],
            ..Ipv4::default()
        }),
        ..Parts::default()
    })
}

fn eth() -> Item {
    Item::Eth(Parts::default())
}

fn err(r: Result<Compiled, FlowError>) -> (Errno, At) {
    let e = r.expect_err("refused");
    (e.errno, e.at)
}

#[test]
fn an_ingress_drop_with_count() {
    let c = compile(
        PF,
        ingress(),
        &[eth(), ipv4_src([10, 0, 0, 1]), udp_dst(5001)],
        &[Action::Count, Action::Drop],
    )
    .unwrap();
    assert_eq!(c.domain, Domain::Ingress);
    assert_eq!(c.fate, Fate::Drop);
    assert_eq!(c.count, Count::Direct);
    assert_eq!((c.meter, c.count_after_meter), (None, false));
    assert_eq!(c.source, None);
    assert_eq!(c.matches.family, Some(IpFamily::V4));
    assert_eq!(
        c.matches.src,
        IpMatch::new(
            "10.0.0.1".parse().unwrap(),
            "255.255.255.255".parse().unwrap()
        )
    );
    assert_eq!(c.matches.dst, None, "a zero mask matches nothing");
    assert_eq!(c.matches.proto, Some(Masked::is(17)));
    assert_eq!(c.matches.dport, Some(PortMatch::is(5001)));
    assert_eq!(c.matches.sport, None);
}

#[test]
fn a_transfer_rule_to_a_representor_takes_the_creating_port_as_source() {
    let c = compile(
        PF,
        transfer(),
        &[eth(), udp_dst(5001)],
        &[Action::Port(PortRef::Vf(0)), Action::Count],
    )
    .unwrap();
    assert_eq!(c.domain, Domain::Transfer);
    assert_eq!(c.fate, Fate::Port(PortRef::Vf(0)));
    assert_eq!(c.source, Some(PortRef::Uplink));
    let from_vf = compile(
        PF,
        transfer(),
        &[Item::Port(Some(PortRef::Vf(2))), eth()],
        &[Action::Drop],
    )
    .unwrap();
    assert_eq!(from_vf.source, Some(PortRef::Vf(2)));
    let any = compile(PF, transfer(), &[Item::Port(None), eth()], &[Action::Drop]).unwrap();
    assert_eq!(any.source, None);
}

#[test]
fn default_masks_apply_when_none_is_given() {
    let c = compile(
        PF,
        ingress(),
        &[
            Item::Ipv4(spec(Ipv4 {
                src: [1, 2, 3, 4],
                dst: [5, 6, 7, 8],
                ..Ipv4::default()
            })),
            Item::Tcp(spec(Ports { src: 1, dst: 2 })),
        ],
        &[Action::Queue(3)],
    )
    .unwrap();
    assert_eq!(
        c.matches.src,
        Some(IpMatch::host("1.2.3.4".parse().unwrap()))
    );
    assert_eq!(
        c.matches.dst,
        Some(IpMatch::host("5.6.7.8".parse().unwrap()))
    );
    assert_eq!(c.matches.sport, Some(PortMatch::is(1)));
    assert_eq!(c.matches.dport, Some(PortMatch::is(2)));
    assert_eq!(c.matches.proto, Some(Masked::is(6)));
    assert_eq!(c.fate, Fate::Queue(3));
    // An ETH item with a spec and no mask would match MACs (rte_flow's
    // default ETH mask): not modelled.
    assert_eq!(
        err(compile(
            PF,
            ingress(),
            &[Item::Eth(spec(Eth::default()))],
            &[Action::Drop]
        )),
        (Errno::NotSupported, At::ItemMask(0))
    );
}

#[test]
fn port_ranges_and_vlan_and_ipv6() {
    let c = compile(
        PF,
        ingress(),
        &[
            eth(),
            Item::Vlan(Parts {
                spec: Some(Vlan {
                    tci: 0x2064,
                    inner_type: 0,
                }),
                ..Parts::default()
            }),
            Item::Ipv6(Parts {
                spec: Some(Ipv6 {
                    dst: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    ..Ipv6::default()
                }),
                mask: Some(Ipv6 {
                    dst: [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    ..Ipv6::default()
                }),
                ..Parts::default()
            }),
            Item::Udp(Parts {
                spec: Some(Ports { src: 0, dst: 1000 }),
                last: Some(Ports { src: 0, dst: 2000 }),
                mask: Some(Ports {
                    src: 0,
                    dst: 0xffff,
                }),
                mask_beyond: false,
            }),
        ],
        &[Action::Drop],
    )
    .unwrap();
    assert_eq!(
        c.matches.vlan,
        Some(Masked {
            spec: 100,
            mask: 0x0fff
        }),
        "PCP bits of the spec are masked off"
    );
    assert_eq!(c.matches.family, Some(IpFamily::V6));
    assert_eq!(c.matches.dport, PortMatch::range(1000, 2000));
}

#[test]
fn attribute_refusals() {
    let pat = [eth()];
    let act = [Action::Drop];
    let with = |f: fn(&mut Attr)| {
        let mut a = ingress();
        f(&mut a);
        err(compile(PF, a, &pat, &act))
    };
    assert_eq!(with(|a| a.group = 1), (Errno::NotSupported, At::AttrGroup));
    assert_eq!(
        with(|a| a.priority = MAX_PRIORITY + 1),
        (Errno::NotSupported, At::AttrPriority)
    );
    assert_eq!(with(|a| a.ingress = false), (Errno::Invalid, At::Attr));
    assert_eq!(with(|a| a.transfer = true), (Errno::Invalid, At::Attr));
    assert_eq!(
        err(compile(
            PF,
            Attr {
                egress: true,
                ..Attr::default()
            },
            &pat,
            &act
        )),
        (Errno::NotSupported, At::AttrEgress)
    );
    let vf = Context {
        port: PortRef::Vf(1),
        rx_queues: 1,
    };
    assert_eq!(
        err(compile(vf, ingress(), &pat, &act)),
        (Errno::NotSupported, At::AttrIngress)
    );
    assert!(
        compile(vf, transfer(), &pat, &act).is_ok(),
        "transfer rules on a representor are fine"
    );
}

#[test]
fn action_refusals() {
    let pat = [eth()];
    let c = |attr, actions: &[Action]| err(compile(PF, attr, &pat, actions));
    assert_eq!(
        c(transfer(), &[Action::Queue(0)]),
        (Errno::NotSupported, At::Action(0))
    );
    assert_eq!(
        c(ingress(), &[Action::Count, Action::Queue(4)]),
        (Errno::Invalid, At::ActionConf(1))
    );
    assert_eq!(
        c(ingress(), &[Action::Drop, Action::Queue(0)]),
        (Errno::Invalid, At::Action(1))
    );
    assert_eq!(
        c(ingress(), &[Action::Count]),
        (Errno::Invalid, At::Action(0)),
        "no fate"
    );
    assert_eq!(c(ingress(), &[]).0, Errno::Invalid);
    assert_eq!(
        c(ingress(), &[Action::Void, Action::Other(42), Action::Drop]),
        (Errno::NotSupported, At::Action(1))
    );
    assert_eq!(
        c(ingress(), &[Action::Port(PortRef::Vf(0))]),
        (Errno::NotSupported, At::Action(0))
    );
    assert_eq!(
        c(transfer(), &[Action::Port(PortRef::Foreign(9))]),
        (Errno::Invalid, At::ActionConf(0))
    );
    assert_eq!(
        c(ingress(), &[Action::Count, Action::Count, Action::Drop]),
        (Errno::NotSupported, At::Action(1))
    );
}

#[test]
fn meter_and_indirect_count_actions() {
    let pat = [eth()];
    let ok = |actions: &[Action]| compile(PF, ingress(), &pat, actions).unwrap();
    let c = ok(&[Action::Count, Action::Meter(Some(7)), Action::Drop]);
    assert_eq!(
        (c.count, c.meter, c.count_after_meter),
        (Count::Direct, Some(7), false)
    );
    let c = ok(&[Action::Meter(Some(7)), Action::Indirect(3), Action::Drop]);
    assert_eq!(
        (c.count, c.meter, c.count_after_meter),
        (Count::Indirect(3), Some(7), true),
        "a COUNT after the METER counts what the policy passes"
    );
    let c = ok(&[Action::Passthru, Action::Drop]);
    assert_eq!(c.count, Count::None);

    let e = |actions: &[Action]| err(compile(PF, ingress(), &pat, actions));
    assert_eq!(
        e(&[Action::Meter(None), Action::Drop]),
        (Errno::Invalid, At::Action(0))
    );
    assert_eq!(
        e(&[Action::Meter(Some(1)), Action::Meter(Some(2)), Action::Drop]),
        (Errno::NotSupported, At::Action(1)),
        "chained meters"
    );
    assert_eq!(
        e(&[Action::Count, Action::Indirect(3), Action::Drop]),
        (Errno::NotSupported, At::Action(1)),
        "two counters"
    );
    assert_eq!(
        e(&[Action::Indirect(0), Action::Drop]),
        (Errno::Invalid, At::ActionConf(0))
    );
}

#[test]
fn item_refusals() {
    let drop = [Action::Drop];
    let c = |attr, items: &[Item]| err(compile(PF, attr, items, &drop));
    assert_eq!(
        c(ingress(), &[eth(), Item::Other(9)]),
        (Errno::NotSupported, At::Item(1))
    );
    assert_eq!(
        c(
            ingress(),
            &[Item::Eth(Parts {
                spec: Some(Eth::default()),
                mask: Some(Eth {
                    dst: [0xff; 6],
                    ..Eth::default()
                }),
                ..Parts::default()
            })]
        ),
        (Errno::NotSupported, At::ItemMask(0))
    );
    let beyond = Item::Ipv4(Parts {
        spec: Some(Ipv4::default()),
        mask_beyond: true,
        ..Parts::default()
    });
    assert_eq!(
        c(ingress(), &[eth(), beyond]),
        (Errno::NotSupported, At::ItemMask(1))
    );
    let pcp = Item::Vlan(Parts {
        spec: Some(Vlan::default()),
        mask: Some(Vlan {
            tci: 0xe000,
            inner_type: 0,
        }),
        ..Parts::default()
    });
    assert_eq!(
        c(ingress(), &[eth(), pcp]),
        (Errno::NotSupported, At::ItemMask(1))
    );
    assert_eq!(
        c(ingress(), &[Item::Port(Some(PortRef::Vf(0)))]),
        (Errno::Invalid, At::Item(0))
    );
    assert_eq!(
        c(transfer(), &[Item::Port(Some(PortRef::Foreign(7)))]),
        (Errno::Invalid, At::ItemSpec(0))
    );
    let backwards = Item::Tcp(Parts {
        spec: Some(Ports { src: 0, dst: 2000 }),
        last: Some(Ports { src: 0, dst: 1000 }),
        ..Parts::default()
    });
    assert_eq!(
        c(ingress(), &[backwards]),
        (Errno::Invalid, At::ItemLast(0))
    );
    let v4_range = Item::Ipv4(Parts {
        spec: Some(Ipv4 {
            src: [10, 0, 0, 1],
            ..Ipv4::default()
        }),
        last: Some(Ipv4 {
            src: [10, 0, 0, 9],
            ..Ipv4::default()
        }),
        ..Parts::default()
    });
    assert_eq!(
        c(ingress(), &[v4_range]),
        (Errno::NotSupported, At::ItemLast(0))
    );
    assert_eq!(
        c(
            ingress(),
            &[Item::Ipv4(Parts::default()), Item::Ipv6(Parts::default())]
        ),
        (Errno::NotSupported, At::Item(1)),
        "a second L3 item"
    );
    let tcp_proto = Item::Ipv4(Parts {
        spec: Some(Ipv4 {
            proto: 6,
            ..Ipv4::default()
        }),
        mask: Some(Ipv4 {
            proto: 0xff,
            ..Ipv4::default()
        }),
        ..Parts::default()
    });
    assert_eq!(
        c(ingress(), &[tcp_proto, udp_dst(1)]),
        (Errno::Invalid, At::Item(1))
    );
    let icmp_type = Item::Icmp(Parts {
        spec: Some(Icmp {
            icmp_type: 8,
            code: 0,
        }),
        ..Parts::default()
    });
    assert_eq!(
        c(ingress(), &[icmp_type]),
        (Errno::NotSupported, At::ItemMask(0))
    );
    assert!(compile(PF, ingress(), &[Item::Icmp(Parts::default())], &drop).is_ok());
}

/// What Open vSwitch 3.1 asks for a megaflow (`netdev-offload-dpdk.c`,
/// `parse_flow_match`): `eth type is 0x0800 has_vlan is 0 / ipv4 src is A dst
/// is B proto is 17 fragment_offset is 0x0 / udp src is S dst is D`, each
/// field under its megaflow mask (`has_vlan` and the fragment bits always).
fn ovs_v4_udp() -> [Item; 3] {
    [
        Item::Eth(Parts {
            spec: Some(Eth {
                ether_type: 0x0800,
                ..Eth::default()
            }),
            mask: Some(Eth {
                ether_type: 0xffff,
                has_vlan: true,
                ..Eth::default()
            }),
            ..Parts::default()
        }),
        Item::Ipv4(Parts {
            spec: Some(Ipv4 {
                src: [10, 0, 0, 1],
                dst: [10, 1, 0, 1],
                proto: 17,
                frag: 0,
            }),
            mask: Some(Ipv4 {
                src: [0xff; 4],
                dst: [0xff; 4],
                proto: 0xff,
                frag: 0x3fff,
            }),
            ..Parts::default()
        }),
        Item::Udp(Parts {
            spec: Some(Ports { src: 1000, dst: 53 }),
            mask: Some(Ports {
                src: 0xffff,
                dst: 0xffff,
            }),
            ..Parts::default()
        }),
    ]
}

#[test]
fn open_vswitch_megaflows_compile_untagged_and_unfragmented() {
    let c = compile(
        PF,
        transfer(),
        &ovs_v4_udp(),
        &[Action::Count, Action::Port(PortRef::Vf(3))],
    )
    .unwrap();
    assert_eq!(
        c.matches.frame,
        FrameMatch {
            tagged: Some(false),
            fragment: Some(false),
        }
    );
    assert_eq!(c.matches.dport, Some(PortMatch::is(53)));
    assert_eq!(c.fate, Fate::Port(PortRef::Vf(3)));
    // IPv6: `has_frag_ext is 0` under a mask of 1.
    let v6 = Item::Ipv6(Parts {
        spec: Some(Ipv6 {
            proto: 6,
            ..Ipv6::default()
        }),
        mask: Some(Ipv6 {
            src: [0xff; 16],
            dst: [0xff; 16],
            proto: 0xff,
            has_frag_ext: true,
        }),
        ..Parts::default()
    });
    let c = compile(PF, transfer(), &[v6], &[Action::Drop]).unwrap();
    assert_eq!(c.matches.frame.fragment, Some(false));
    assert_eq!(c.matches.frame.tagged, None, "no ETH item: either");
    // has_vlan is 1: tagged frames only; a spec without has_vlan in the mask
    // (rte_flow's default ETH mask) asks nothing.
    let tagged = Item::Eth(Parts {
        spec: Some(Eth {
            has_vlan: true,
            ..Eth::default()
        }),
        mask: Some(Eth {
            has_vlan: true,
            ..Eth::default()
        }),
        ..Parts::default()
    });
    let c = compile(PF, transfer(), &[tagged], &[Action::Drop]).unwrap();
    assert_eq!(c.matches.frame.tagged, Some(true));
    let c = compile(
        PF,
        transfer(),
        &[Item::Eth(spec(Eth::default()))],
        &[Action::Drop],
    );
    assert_eq!(c.unwrap_err().at, At::ItemMask(0), "default mask: the MACs");
}

/// IPv4's `fragment_offset` as mlx5 takes it (DPDK 22.11's
/// `flow_dv_validate_item_ipv4`): whole datagrams under any mask, fragments
/// as spec 1 to last 0x3fff under the full mask, the rest refused alike.
#[test]
fn ipv4_fragment_offset_as_mlx5_takes_it() {
    let frag = |spec: u16, mask: u16, last: Option<u16>| {
        let item = Item::Ipv4(Parts {
            spec: Some(Ipv4 {
                frag: spec,
                ..Ipv4::default()
            }),
            mask: Some(Ipv4 {
                frag: mask,
                ..Ipv4::default()
            }),
            last: last.map(|l| Ipv4 {
                frag: l,
                ..Ipv4::default()
            }),
            ..Parts::default()
        });
        compile(PF, transfer(), &[eth(), item], &[Action::Drop])
            .map(|c| c.matches.frame.fragment)
            .map_err(|e| (e.errno, e.at))
    };
    assert_eq!(frag(0, 0x3fff, None), Ok(Some(false)), "frag=no");
    assert_eq!(frag(0x4000, 0x3fff, None), Ok(Some(false)), "DF not masked");
    assert_eq!(frag(0, 0, None), Ok(None));
    assert_eq!(
        frag(1, 0x3fff, Some(0x3fff)),
        Ok(Some(true)),
        "any fragment"
    );
    assert_eq!(
        frag(1, 0x1fff, Some(0x1fff)),
        Err((Errno::Invalid, At::ItemMask(1))),
        "not the full mask"
    );
    assert_eq!(
        frag(0x2000, 0x3fff, None),
        Err((Errno::NotSupported, At::Item(1))),
        "first fragments"
    );
    assert_eq!(
        frag(1, 0x3fff, None),
        Err((Errno::NotSupported, At::Item(1))),
        "a value without a range"
    );
    for (spec, last) in [(0x2001, 0x3fff), (1, 0x1fff), (2, 0x3fff)] {
        assert_eq!(
            frag(spec, 0x3fff, Some(last)),
            Err((Errno::NotSupported, At::ItemLast(1))),
            "{spec:#x}..{last:#x}"
        );
    }
}
