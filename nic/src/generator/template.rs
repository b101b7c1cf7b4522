//! A flow's frame, written once when the flow is born: every packet of the
//! flow is this template, so sending one costs no formatting at all.
//!
//! Ethernet (from the router or the sending VM, to the flow's VF's MAC or
//! the router's), an optional 802.1Q tag, IPv4 (with
//! its header checksum) or IPv6, TCP (ACK) or UDP, and zero payload up to
//! the flow's length. L4 checksums are left 0: nothing on the model's path
//! checks them, and the flow key does not include them.

use std::net::IpAddr;

use super::births::{FlowSpec, TCP};

/// The source MAC of everything on the generated wire: the far end of the
/// uplink (a router), locally administered.
pub const ROUTER_MAC: [u8; 6] = [0x02, 0xf1, 0xee, 0, 0, 1];

const ETH: u16 = 14;
const VLAN: u16 = 4;

/// Bytes of the headers of a flow of this kind.
pub fn header_len(v6: bool, tcp: bool, vlan: bool) -> u16 {
    ETH + if vlan { VLAN } else { 0 } + if v6 { 40 } else { 20 } + if tcp { 20 } else { 8 }
}

/// The frame every packet of `f` is.
pub fn frame(f: &FlowSpec) -> Box<[u8]> {
    let k = &f.key;
    let tcp = k.proto == TCP;
    let len = usize::from(f.len);
    let mut out = Vec::with_capacity(len);
    let vm = |n: u8| [0x02, 0, 0, 0, 0, n];
    out.extend_from_slice(&if f.vf == 0 { ROUTER_MAC } else { vm(f.vf) });
    out.extend_from_slice(&if f.from == 0 { ROUTER_MAC } else { vm(f.from) });
    if let Some(vid) = k.vlan {
        out.extend_from_slice(&0x8100u16.to_be_bytes());
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    let l3 = out.len() + 2;
    let l4_len = len - l3 - if k.src.is_ipv6() { 40 } else { 20 };
    let l4_len16 = u16::try_from(l4_len).unwrap_or(u16::MAX);
    match (k.src, k.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&0x0800u16.to_be_bytes());
            let total = u16::try_from(len - l3).unwrap_or(u16::MAX);
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            // Don't fragment: a whole datagram, as a flow's rule matches.
            ip[6] = 0x40;
            ip[8] = 64;
            ip[9] = k.proto;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            out.extend_from_slice(&ip);
        }
        (s, d) => {
            out.extend_from_slice(&0x86ddu16.to_be_bytes());
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&l4_len16.to_be_bytes());
            out.push(k.proto);
            out.push(64);
            out.extend_from_slice(&v6(s));
            out.extend_from_slice(&v6(d));
        }
    }
    out.extend_from_slice(&k.sport.to_be_bytes());
    out.extend_from_slice(&k.dport.to_be_bytes());
    if tcp {
        // seq, ack, data offset 5 words, ACK, window 64 KiB - 1.
        out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        out.extend_from_slice(&l4_len16.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
    out.resize(len, 0);
    out.into_boxed_slice()
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// The Internet checksum of an IPv4 header whose checksum field is 0.
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
