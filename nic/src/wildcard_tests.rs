//! The wildcard table on its own: what each kind of field matches (masks,
//! prefixes, port ranges with `last`, VLANs, families), that a field left out
//! matches anything, and the table's order, capacity and removal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use flowlift_dataplane::flow::{KeyV4, KeyV6, NO_VLAN};

fn v4(src: [u8; 4], sport: u16, dport: u16, proto: u8) -> FlowKey {
    FlowKey::V4(KeyV4 {
        src,
        dst: [192, 168, 0, 1],
        sport,
        dport,
        vlan: NO_VLAN,
        proto,
        in_port: 0,
    })
}

fn udp_from(src: [u8; 4]) -> FlowKey {
    v4(src, 1000, 5001, 17)
}

fn v6(src: Ipv6Addr) -> FlowKey {
    FlowKey::V6(KeyV6 {
        src: src.octets(),
        dst: Ipv6Addr::LOCALHOST.octets(),
        sport: 1000,
        dport: 5001,
        vlan: NO_VLAN,
        proto: 17,
        in_port: 0,
    })
}

fn with_vlan(mut k: FlowKey, vid: u16) -> FlowKey {
    match &mut k {
        FlowKey::V4(k) => k.vlan = vid,
        FlowKey::V6(k) => k.vlan = vid,
    }
    k
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rule(priority: u32, matches: WildMatch, action: WildAction) -> WildRule {
    WildRule {
        priority,
        matches,
        action,
        counter: None,
        metered: false,
    }
}

#[test]
fn fields_left_out_match_anything() {
    let any = WildMatch::default();
    assert!(any.matches(&udp_from([10, 0, 0, 1])));
    assert!(any.matches(&v4([1, 2, 3, 4], 0, 0, 1)));
    assert!(any.matches(&v6(Ipv6Addr::LOCALHOST)));
    assert!(any.matches(&with_vlan(udp_from([10, 0, 0, 1]), 7)));
}

#[test]
fn addresses_match_under_their_mask_and_prefix() {
    let ten = WildMatch {
        src: IpMatch::new(ip("10.0.0.0"), ip("255.0.0.0")),
        ..WildMatch::default()
    };
    assert!(ten.matches(&udp_from([10, 200, 3, 4])));
    assert!(!ten.matches(&udp_from([11, 0, 0, 1])));
    // A mask need not be a prefix: the last octet alone.
    let last_octet = WildMatch {
        src: IpMatch::new(ip("9.9.9.7"), ip("0.0.0.255")),
        ..WildMatch::default()
    };
    assert!(last_octet.matches(&udp_from([1, 2, 3, 7])));
    assert!(!last_octet.matches(&udp_from([1, 2, 3, 8])));
    // Bits of the spec outside the mask do not count.
    let m = IpMatch::prefix("10.1.2.3/16".parse().unwrap()).unwrap();
    assert_eq!(m.addr(), ip("10.1.0.0"));
    assert_eq!(m.mask(), ip("255.255.0.0"));
    assert_eq!(m, IpMatch::prefix("10.1.0.0/16".parse().unwrap()).unwrap());
    // The destination is matched on the destination.
    let dst = WildMatch {
        dst: Some(IpMatch::host(ip("192.168.0.1"))),
        ..WildMatch::default()
    };
    assert!(dst.matches(&udp_from([10, 0, 0, 1])));
    let not_dst = WildMatch {
        dst: Some(IpMatch::host(ip("10.0.0.1"))),
        ..WildMatch::default()
    };
    assert!(!not_dst.matches(&udp_from([10, 0, 0, 1])));
    // IPv6, and the zero-length prefix.
    let doc = WildMatch {
        src: IpMatch::prefix("2001:db8::/32".parse().unwrap()),
        ..WildMatch::default()
    };
    assert!(doc.matches(&v6(ip_v6("2001:db8:ffff::1"))));
    assert!(!doc.matches(&v6(ip_v6("2001:db9::1"))));
    let all_v4 = WildMatch {
        src: IpMatch::prefix("0.0.0.0/0".parse().unwrap()),
        ..WildMatch::default()
    };
    assert!(all_v4.matches(&udp_from([255, 255, 255, 255])));
    assert!(IpMatch::prefix(Prefix {
        addr: ip("10.0.0.0"),
        len: 33
    })
    .is_none());
    assert!(IpMatch::prefix(Prefix {
        addr: ip("::"),
        len: 129
    })
    .is_none());
}

fn ip_v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn a_family_never_matches_the_other() {
    assert_eq!(IpMatch::new(ip("10.0.0.0"), ip("ffff::")), None);
    assert_eq!(IpMatch::new(ip("::"), ip("255.0.0.0")), None);
    let v6_key = v6(Ipv6Addr::UNSPECIFIED);
    let v4_key = udp_from([0, 0, 0, 0]);
    // Even the match-everything prefix of one family misses the other.
    let all_v4 = WildMatch {
        src: IpMatch::prefix("0.0.0.0/0".parse().unwrap()),
        ..WildMatch::default()
    };
    assert!(!all_v4.matches(&v6_key));
    let all_v6 = WildMatch {
        dst: IpMatch::prefix("::/0".parse().unwrap()),
        ..WildMatch::default()
    };
    assert!(!all_v6.matches(&v4_key));
    assert!(all_v6.matches(&v6_key));
    // `eth / ipv6 / end`: the family alone.
    let ipv6 = WildMatch {
        family: Some(IpFamily::V6),
        ..WildMatch::default()
    };
    assert!(ipv6.matches(&v6_key));
    assert!(!ipv6.matches(&v4_key));
    assert_eq!(IpMatch::host(ip("::1")).family(), IpFamily::V6);
}

#[test]
fn the_protocol_matches_under_its_mask() {
    let udp = WildMatch {
        proto: Some(Masked::is(17)),
        ..WildMatch::default()
    };
    assert!(udp.matches(&v4([1, 1, 1, 1], 1, 2, 17)));
    assert!(!udp.matches(&v4([1, 1, 1, 1], 1, 2, 6)));
    // 0x10..=0x1f: UDP (0x11) is in, TCP (0x06) is not.
    let high_nibble = WildMatch {
        proto: Some(Masked {
            spec: 0x10,
            mask: 0xf0,
        }),
        ..WildMatch::default()
    };
    assert!(high_nibble.matches(&v4([1, 1, 1, 1], 1, 2, 17)));
    assert!(!high_nibble.matches(&v4([1, 1, 1, 1], 1, 2, 6)));
    let zero_mask = WildMatch {
        proto: Some(Masked { spec: 99, mask: 0 }),
        ..WildMatch::default()
    };
    assert!(zero_mask.matches(&v4([1, 1, 1, 1], 1, 2, 6)));
}

#[test]
fn ports_match_a_masked_value_or_a_range_up_to_last() {
    let dport = |m: PortMatch| WildMatch {
        dport: Some(m),
        ..WildMatch::default()
    };
    let to = |port: u16| v4([1, 1, 1, 1], 40000, port, 6);
    let http = dport(PortMatch::is(80));
    assert!(http.matches(&to(80)));
    assert!(!http.matches(&to(8080)));
    // spec 1000, last 2000: both ends are in.
    let range = dport(PortMatch::range(1000, 2000).unwrap());
    for (port, hit) in [
        (999, false),
        (1000, true),
        (1500, true),
        (2000, true),
        (2001, false),
    ] {
        assert_eq!(range.matches(&to(port)), hit, "port {port}");
    }
    // The mask applies to spec, last and the packet's port: 0x1000..=0x12ff.
    let masked = PortMatch::new(0x1034, 0xff00, Some(0x12ab)).unwrap();
    assert_eq!((masked.spec(), masked.last()), (0x1000, Some(0x1200)));
    for (port, hit) in [
        (0x0fff, false),
        (0x1000, true),
        (0x12ff, true),
        (0x1300, false),
    ] {
        assert_eq!(dport(masked).matches(&to(port)), hit, "port {port:#x}");
    }
    // Low byte only: every port ending in 0x50.
    let low = dport(PortMatch::new(0x50, 0x00ff, None).unwrap());
    assert!(low.matches(&to(0x50)));
    assert!(low.matches(&to(0x7750)));
    assert!(!low.matches(&to(0x7751)));
    // As in rte_flow: a `last` equal to spec or 0 makes no range, one below
    // spec is refused.
    assert_eq!(
        PortMatch::new(80, 0xffff, Some(80)),
        Some(PortMatch::is(80))
    );
    assert_eq!(PortMatch::new(80, 0xffff, Some(0)), Some(PortMatch::is(80)));
    assert_eq!(PortMatch::new(80, 0xffff, Some(79)), None);
    assert_eq!(PortMatch::range(2000, 1000), None);
    assert_eq!(PortMatch::is(80).last(), None);
    // The ends of the port space.
    let all = dport(PortMatch::range(0, u16::MAX).unwrap());
    assert!(all.matches(&to(0)) && all.matches(&to(u16::MAX)));
    // The source port is matched on the source port.
    let sport = WildMatch {
        sport: Some(PortMatch::is(40000)),
        ..WildMatch::default()
    };
    assert!(sport.matches(&to(1)));
    assert!(!dport(PortMatch::is(40000)).matches(&to(1)));
}

#[test]
fn a_vlan_item_needs_a_tag_and_compares_the_vid() {
    let untagged = udp_from([10, 0, 0, 1]);
    let vid = |spec: u16, mask: u16| WildMatch {
        vlan: Some(Masked { spec, mask }),
        ..WildMatch::default()
    };
    assert!(vid(100, 0x0fff).matches(&with_vlan(untagged, 100)));
    assert!(!vid(100, 0x0fff).matches(&with_vlan(untagged, 101)));
    assert!(!vid(100, 0x0fff).matches(&untagged), "untagged: no tag");
    // Mask 0: any tagged packet, still no untagged one (VID 0 is a tag too).
    assert!(vid(0, 0).matches(&with_vlan(untagged, 4095)));
    assert!(vid(0, 0).matches(&with_vlan(untagged, 0)));
    assert!(!vid(0, 0).matches(&untagged));
    // A whole-TCI spec (PCP 1, VID 100) under a full mask, as testpmd's
    // `vlan tci is 0x2064`: the key has no PCP, so the VID decides.
    assert!(vid(0x2064, 0xffff).matches(&with_vlan(untagged, 100)));
    assert!(!vid(0x2064, 0xffff).matches(&with_vlan(untagged, 101)));
    assert!(
        Masked::<u16>::is(100)
            == Masked {
                spec: 100,
                mask: 0xffff
            }
    );
}

#[test]
fn every_field_given_must_match() {
    let key = with_vlan(
        FlowKey::V4(KeyV4 {
            src: [10, 0, 0, 1],
            dst: [192, 168, 0, 1],
            sport: 1000,
            dport: 5001,
            vlan: NO_VLAN,
            proto: 17,
            in_port: 3,
        }),
        42,
    );
    let full = WildMatch {
        in_port: Some(3),
        vlan: Some(Masked::is(42)),
        family: Some(IpFamily::V4),
        src: IpMatch::prefix("10.0.0.0/8".parse().unwrap()),
        dst: Some(IpMatch::host(ip("192.168.0.1"))),
        proto: Some(Masked::is(17)),
        sport: PortMatch::range(1000, 1000),
        dport: PortMatch::range(5000, 5010),
        frame: FrameMatch::default(),
    };
    assert!(full.matches(&key));
    let spoilt = [
        WildMatch {
            in_port: Some(0),
            ..full
        },
        WildMatch {
            vlan: Some(Masked::is(43)),
            ..full
        },
        WildMatch {
            family: Some(IpFamily::V6),
            ..full
        },
        WildMatch {
            src: IpMatch::prefix("11.0.0.0/8".parse().unwrap()),
            ..full
        },
        WildMatch {
            dst: Some(IpMatch::host(ip("192.168.0.2"))),
            ..full
        },
        WildMatch {
            proto: Some(Masked::is(6)),
            ..full
        },
        WildMatch {
            sport: Some(PortMatch::is(1001)),
            ..full
        },
        WildMatch {
            dport: PortMatch::range(5002, 5010),
            ..full
        },
    ];
    for (i, m) in spoilt.iter().enumerate() {
        assert!(!m.matches(&key), "field {i} spoilt, still matched");
    }
}

#[test]
fn the_lowest_priority_value_wins_then_the_oldest() {
    let mut t = WildcardTable::new(8);
    let from_ten = WildMatch {
        src: IpMatch::prefix("10.0.0.0/8".parse().unwrap()),
        ..WildMatch::default()
    };
    let to_port = |p| WildAction::Forward(PortIdx(p));
    t.add(1, rule(5, WildMatch::default(), WildAction::Drop))
        .unwrap();
    t.add(2, rule(3, from_ten, to_port(1))).unwrap();
    t.add(3, rule(3, WildMatch::default(), to_port(2))).unwrap();
    t.add(4, rule(0, WildMatch::default(), to_port(3))).unwrap();
    t.add(5, rule(3, from_ten, to_port(4))).unwrap();
    let order: Vec<_> = t.iter().map(|(id, _)| id).collect();
    assert_eq!(order, vec![4, 2, 3, 5, 1]);
    assert_eq!(
        t.lookup(&udp_from([10, 0, 0, 1]), false).map(|(id, _)| id),
        Some(4)
    );
    t.remove(4).unwrap();
    // Priority 3: rule 2 was added before 3 and 5.
    assert_eq!(
        t.lookup(&udp_from([10, 0, 0, 1]), false).map(|(id, _)| id),
        Some(2)
    );
    assert_eq!(
        t.lookup(&udp_from([11, 0, 0, 1]), false).map(|(id, _)| id),
        Some(3)
    );
    t.remove(2).unwrap();
    t.remove(3).unwrap();
    assert_eq!(
        t.lookup(&udp_from([10, 0, 0, 1]), false).map(|(id, _)| id),
        Some(5)
    );
    let (_, last) = t.lookup(&udp_from([11, 0, 0, 1]), false).unwrap();
    assert_eq!(last.action, WildAction::Drop);
    // A rule added later at an equal priority goes after those there.
    t.add(6, rule(5, WildMatch::default(), to_port(6))).unwrap();
    assert_eq!(
        t.lookup(&udp_from([11, 0, 0, 1]), false).map(|(id, _)| id),
        Some(1)
    );
}

#[test]
fn a_full_table_says_no_space_ids_are_unique_and_removal_is_by_id() {
    let mut t = WildcardTable::new(2);
    assert!(t.is_empty());
    assert_eq!(t.capacity(), 2);
    let r = rule(1, WildMatch::default(), WildAction::Drop);
    t.add(10, r).unwrap();
    assert_eq!(t.add(10, r), Err(WildcardError::Exists));
    t.add(11, r).unwrap();
    assert_eq!(t.add(12, r), Err(WildcardError::NoSpace));
    assert_eq!(t.len(), 2);
    assert_eq!(t.remove(12), Err(WildcardError::NoSuchRule));
    assert_eq!(t.remove(10), Ok(r));
    assert_eq!(t.get(10), None);
    assert_eq!(t.get(11), Some(&r));
    t.add(12, r).unwrap();
    assert_eq!(t.remove(11), Ok(r));
    assert_eq!(t.remove(12), Ok(r));
    assert_eq!(t.lookup(&udp_from([10, 0, 0, 1]), false), None);
    let mut none = WildcardTable::new(0);
    assert_eq!(none.add(1, r), Err(WildcardError::NoSpace));
}

proptest! {
    /// Prefix and range matches agree with the policy's own `Prefix` and
    /// `PortRange`, for both families.
    #[test]
    fn prefixes_and_ranges_agree_with_the_policy_types(
        key_src in any::<u128>(),
        rule_src in any::<u128>(),
        len in 0u8..=128,
        v6_family in any::<bool>(),
        dport in any::<u16>(),
        a in any::<u16>(),
        b in any::<u16>(),
    ) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (key, prefix) = if v6_family {
            let mut k = v6(Ipv6Addr::from(key_src));
            if let FlowKey::V6(k) = &mut k {
                k.dport = dport;
            }
            (k, Prefix { addr: IpAddr::V6(Ipv6Addr::from(rule_src)), len })
        } else {
            let k = v4(Ipv4Addr::from(key_src as u32).octets(), 1, dport, 17);
            (k, Prefix { addr: IpAddr::V4(Ipv4Addr::from(rule_src as u32)), len: len % 33 })
        };
        let m = WildMatch {
            src: Some(IpMatch::prefix(prefix).unwrap()),
            dport: Some(PortMatch::range(lo, hi).unwrap()),
            ..WildMatch::default()
        };
        let range = flowlift_dataplane::policy::PortRange { lo, hi };
        prop_assert_eq!(m.matches(&key), prefix.contains(key.src()) && range.contains(dport));
    }
}
