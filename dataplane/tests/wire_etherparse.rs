//! `wire::parse` against an independent parser, `etherparse`: frames built by
//! its `PacketBuilder` must give the key they were built with, and on any
//! bytes (random, truncated, bit-flipped) our parser must not panic and must
//! agree with `etherparse` whenever both decode the frame. Frames up to
//! jumbo size, handed over in segments (`wire::parse_segmented`), must give
//! the key `etherparse` reads from the whole frame, or say that their headers
//! run past the first segment, and only when they do.

use etherparse::{
    NetSlice, PacketBuilder, PacketBuilderStep, SlicedPacket, TransportSlice, VlanId, VlanSlice,
};
use flowlift_dataplane::flow::{FlowKey, NO_VLAN};
use flowlift_dataplane::wire::{parse, parse_segmented, ParseError, Parsed};
use proptest::prelude::*;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy)]
enum L4 {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone)]
struct Spec {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    l4: L4,
    sport: u16,
    dport: u16,
    /// Outer and optional inner VID.
    vlan: Option<(u16, Option<u16>)>,
    payload: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        prop_oneof![Just(L4::Tcp), Just(L4::Udp), Just(L4::Icmp)],
        any::<u16>(),
        any::<u16>(),
        prop::option::of((0..4096u16, prop::option::of(0..4096u16))),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(v6, src, dst, l4, sport, dport, vlan, payload)| Spec {
            v6,
            src,
            dst,
            l4,
            sport,
            dport,
            vlan,
            payload,
        })
}

fn vid(v: u16) -> VlanId {
    VlanId::try_new(v).expect("strategy yields 12-bit VIDs")
}

fn v4(a: [u8; 16]) -> [u8; 4] {
    [a[0], a[1], a[2], a[3]]
}

fn build(s: &Spec) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip: PacketBuilderStep<etherparse::IpHeaders> = match (s.vlan, s.v6) {
        (None, false) => eth.ipv4(v4(s.src), v4(s.dst), 64),
        (None, true) => eth.ipv6(s.src, s.dst, 64),
        (Some((o, None)), false) => eth.single_vlan(vid(o)).ipv4(v4(s.src), v4(s.dst), 64),
        (Some((o, None)), true) => eth.single_vlan(vid(o)).ipv6(s.src, s.dst, 64),
        (Some((o, Some(i))), false) => {
            eth.double_vlan(vid(o), vid(i))
                .ipv4(v4(s.src), v4(s.dst), 64)
        }
        (Some((o, Some(i))), true) => eth.double_vlan(vid(o), vid(i)).ipv6(s.src, s.dst, 64),
    };
    let mut out = Vec::new();
    let written = match s.l4 {
        L4::Tcp => ip
            .tcp(s.sport, s.dport, 1, 8192)
            .write(&mut out, &s.payload),
        L4::Udp => ip.udp(s.sport, s.dport).write(&mut out, &s.payload),
        L4::Icmp if s.v6 => ip.icmpv6_echo_request(1, 2).write(&mut out, &s.payload),
        L4::Icmp => ip.icmpv4_echo_request(1, 2).write(&mut out, &s.payload),
    };
    written.expect("a small frame serializes");
    out
}

/// Parses `frame` with both parsers and checks that, where both decode it,
/// they agree on every field of the key; and that a frame `etherparse`
/// decodes down to TCP/UDP/ICMP is one we key too.
fn agree(frame: &[u8]) {
    agree_with(frame, parse(frame));
}

/// As [`agree`], for `ours`, our reading of `frame` (whole or segmented).
fn agree_with(frame: &[u8], ours: Result<Parsed, ParseError>) {
    let Ok(theirs) = SlicedPacket::from_ethernet(frame) else {
        return;
    };
    let Some(net) = &theirs.net else {
        return;
    };
    let (src, dst, proto, fragmented, ipv4_ext) = match net {
        // etherparse reads a zero IPv6 payload length as "up to the end of the
        // frame" (a jumbogram); jumbograms cannot cross Ethernet, so we take
        // the zero literally: compare nothing.
        NetSlice::Ipv6(s) if s.header().payload_length() == 0 => return,
        NetSlice::Ipv4(s) => (
            IpAddr::from(s.header().source()),
            IpAddr::from(s.header().destination()),
            s.payload().ip_number.0,
            s.payload().fragmented,
            !s.extensions().is_empty(),
        ),
        NetSlice::Ipv6(s) => (
            IpAddr::from(s.header().source()),
            IpAddr::from(s.header().destination()),
            s.payload().ip_number.0,
            s.payload().fragmented,
            false,
        ),
    };
    let key = match ours {
        Ok(p) => p.key,
        // Both parsers refuse non-first fragments' L4; etherparse walks longer
        // IPv6 extension chains than we do.
        Err(ParseError::Fragment) if fragmented => return,
        Err(ParseError::Ipv6ExtChainTooLong) => return,
        // etherparse reads the whole frame; our segmented reading may not have
        // every header at hand, which its caller checks it says only rightly.
        Err(ParseError::HeadersPastFirstSegment) => return,
        // Without a transport header etherparse checked nothing below IP.
        Err(_) if theirs.transport.is_none() => return,
        Err(e) => panic!("we refused ({e:?}) what etherparse decodes: {theirs:?}"),
    };
    assert_eq!(key.src(), src);
    assert_eq!(key.dst(), dst);
    // etherparse reports the protocol after IPv4's AH; the key keeps the
    // header's protocol field, which is what a NIC rule matches.
    if !ipv4_ext {
        assert_eq!(key.proto(), proto);
    }
    let vlan = match &theirs.vlan {
        None => NO_VLAN,
        Some(VlanSlice::SingleVlan(s)) => s.vlan_identifier().value(),
        Some(VlanSlice::DoubleVlan(d)) => d.outer().vlan_identifier().value(),
    };
    assert_eq!(key.vlan().unwrap_or(NO_VLAN), vlan);
    let ports = match &theirs.transport {
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        Some(TransportSlice::Icmpv4(_) | TransportSlice::Icmpv6(_)) => (0, 0),
        None => return,
    };
    assert_eq!((key.sport(), key.dport()), ports);
}

proptest! {
    #[test]
    fn built_frames_give_their_key(s in spec()) {
        let frame = build(&s);
        let p = parse(&frame).expect("a well-formed frame parses");
        let key = p.key;
        if s.v6 {
            prop_assert!(matches!(key, FlowKey::V6(_)));
            prop_assert_eq!(key.src(), IpAddr::from(s.src));
            prop_assert_eq!(key.dst(), IpAddr::from(s.dst));
        } else {
            prop_assert!(matches!(key, FlowKey::V4(_)));
            prop_assert_eq!(key.src(), IpAddr::from(v4(s.src)));
            prop_assert_eq!(key.dst(), IpAddr::from(v4(s.dst)));
        }
        let (proto, ports) = match (s.l4, s.v6) {
            (L4::Tcp, _) => (6, (s.sport, s.dport)),
            (L4::Udp, _) => (17, (s.sport, s.dport)),
            (L4::Icmp, false) => (1, (0, 0)),
            (L4::Icmp, true) => (58, (0, 0)),
        };
        prop_assert_eq!(key.proto(), proto);
        prop_assert_eq!((key.sport(), key.dport()), ports);
        prop_assert_eq!(key.vlan(), s.vlan.map(|(o, _)| o));
        prop_assert_eq!(p.inner_vlan, s.vlan.and_then(|(_, i)| i));
        prop_assert_eq!(key.in_port(), 0);
        let tags = s.vlan.map_or(0, |(_, i)| if i.is_some() { 2 } else { 1 });
        prop_assert_eq!(usize::from(p.l3_offset), 14 + 4 * tags);
        prop_assert!(!p.first_fragment);
        agree(&frame);
    }

    #[test]
    fn jumbo_frames_in_segments_give_etherparse_s_key_or_name_the_split(
        s in spec(),
        len in 0usize..9000,
        fill in any::<u8>(),
        first in any::<prop::sample::Index>(),
    ) {
        let s = Spec { payload: vec![fill; len], ..s };
        let frame = build(&s);
        let whole = parse(&frame).expect("a well-formed frame parses");
        // Where the headers the parser reads end: the L4 header's fixed part.
        let l4_len = match s.l4 {
            L4::Tcp => 20,
            L4::Udp => 8,
            L4::Icmp => 4,
        };
        let headers_end = usize::from(whole.l4_offset) + l4_len;
        // A first segment of any size, and the one a default mbuf holds.
        for first in [first.index(frame.len() + 1), 2048.min(frame.len())] {
            let got = parse_segmented(&frame[..first], frame.len());
            if first >= headers_end {
                prop_assert_eq!(got, Ok(whole));
            } else {
                prop_assert_eq!(got, Err(ParseError::HeadersPastFirstSegment));
            }
            agree_with(&frame, got);
        }
    }

    #[test]
    fn random_bytes_never_panic(frame in prop::collection::vec(any::<u8>(), 0..128)) {
        agree(&frame);
    }

    #[test]
    fn random_bytes_behind_an_ip_ethertype_never_panic(
        ethertype in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100), Just(0x88a8)],
        version in 0u8..16,
        rest in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.push(version << 4 | 5);
        frame.extend_from_slice(&rest);
        agree(&frame);
    }

    #[test]
    fn truncations_and_bit_flips_agree(
        s in spec(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut frame = build(&s);
        for f in &flips {
            let bit = f.index(frame.len() * 8);
            frame[bit / 8] ^= 1 << (bit % 8);
        }
        agree(&frame);
        let len = cut.index(frame.len() + 1);
        let cut = &frame[..len];
        if let Ok(p) = parse(cut) {
            prop_assert!(usize::from(p.l4_offset) <= len);
        }
        agree(cut);
    }
}
