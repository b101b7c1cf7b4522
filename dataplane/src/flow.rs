//! Flow identity: the key a flow is known by (as the NIC rule that may carry it
//! matches it: in-port, outer VLAN, addresses, protocol, ports) and its id.
//!
//! IPv4 and IPv6 keys are separate types so that an IPv4 flow, the common case,
//! costs 16 bytes (two machine words to hash and compare) rather than the 40 an
//! IPv6 key needs; each has its own table.
//!
//! A flow's action is decided by its first packet (destination MAC included) and
//! cached; later packets of the same key follow it even if their MAC differs, as
//! they would when a NIC rule on this key carries them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `vlan` of a key whose frame carried no 802.1Q/802.1ad tag (VIDs are 12 bits).
pub const NO_VLAN: u16 = u16::MAX;

/// An IPv4 flow key: 16 bytes, 8-byte aligned. Ports in host byte order (0 for
/// protocols without ports, e.g. ICMP).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(C, align(8))]
pub struct KeyV4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    /// Outer VLAN ID, or [`NO_VLAN`].
    pub vlan: u16,
    pub proto: u8,
    /// The appliance's port index ([`crate::PortIdx`]) the flow entered on.
    pub in_port: u8,
}

/// An IPv6 flow key: 40 bytes, 8-byte aligned.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(C, align(8))]
pub struct KeyV6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    /// Outer VLAN ID, or [`NO_VLAN`].
    pub vlan: u16,
    pub proto: u8,
    pub in_port: u8,
}

const _: () = assert!(std::mem::size_of::<KeyV4>() == 16);
const _: () = assert!(std::mem::size_of::<KeyV6>() == 40);

/// A flow key of either family.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FlowKey {
    V4(KeyV4),
    V6(KeyV6),
}

macro_rules! both {
    ($self:ident, $k:ident => $e:expr) => {
        match $self {
            FlowKey::V4($k) => $e,
            FlowKey::V6($k) => $e,
        }
    };
}

impl FlowKey {
    /// The input port index.
    pub fn in_port(&self) -> u8 {
        both!(self, k => k.in_port)
    }

    /// Sets the input port index (the parser does not know it).
    pub fn set_in_port(&mut self, port: u8) {
        both!(self, k => k.in_port = port)
    }

    /// The outer VLAN ID, if the frame was tagged.
    pub fn vlan(&self) -> Option<u16> {
        let v = both!(self, k => k.vlan);
        (v != NO_VLAN).then_some(v)
    }

    /// IP protocol (next header, for IPv6).
    pub fn proto(&self) -> u8 {
        both!(self, k => k.proto)
    }

    /// Source port (0 without ports).
    pub fn sport(&self) -> u16 {
        both!(self, k => k.sport)
    }

    /// Destination port (0 without ports).
    pub fn dport(&self) -> u16 {
        both!(self, k => k.dport)
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match self {
            FlowKey::V4(k) => IpAddr::V4(Ipv4Addr::from(k.src)),
            FlowKey::V6(k) => IpAddr::V6(Ipv6Addr::from(k.src)),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match self {
            FlowKey::V4(k) => IpAddr::V4(Ipv4Addr::from(k.dst)),
            FlowKey::V6(k) => IpAddr::V6(Ipv6Addr::from(k.dst)),
        }
    }
}

impl fmt::Display for FlowKey {
    /// `in_port=0,vlan=100,udp,10.0.0.1:1234->192.168.0.1:5001`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in_port={}", self.in_port())?;
        if let Some(v) = self.vlan() {
            write!(f, ",vlan={v}")?;
        }
        let proto = match self.proto() {
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            132 => "sctp".to_string(),
            1 => "icmp".to_string(),
            58 => "icmp6".to_string(),
            p => format!("proto={p}"),
        };
        match (self.src(), self.dst()) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                write!(f, ",{proto},[{s}]:{}->[{d}]:{}", self.sport(), self.dport())
            }
            (s, d) => write!(f, ",{proto},{s}:{}->{d}:{}", self.sport(), self.dport()),
        }
    }
}

/// A flow's index in its worker's table and counter arrays (stable while the
/// flow lives; reused after it is evicted).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FlowId(pub u32);

impl fmt::Debug for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flow{}", self.0)
    }
}

impl FlowId {
    /// As an array index.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_like_a_flow_dump() {
        let mut k = FlowKey::V4(KeyV4 {
            src: [10, 0, 0, 1],
            dst: [192, 168, 0, 1],
            sport: 1234,
            dport: 5001,
            vlan: NO_VLAN,
            proto: 17,
            in_port: 0,
        });
        assert_eq!(
            k.to_string(),
            "in_port=0,udp,10.0.0.1:1234->192.168.0.1:5001"
        );
        k.set_in_port(2);
        assert_eq!(k.in_port(), 2);
        assert_eq!(k.vlan(), None);
        let v6 = FlowKey::V6(KeyV6 {
            src: Ipv6Addr::LOCALHOST.octets(),
            dst: Ipv6Addr::LOCALHOST.octets(),
            vlan: 100,
            proto: 58,
            ..Default::default()
        });
        assert_eq!(v6.to_string(), "in_port=0,vlan=100,icmp6,[::1]:0->[::1]:0");
        assert_eq!(format!("{:?}", FlowId(7)), "flow7");
    }
}
