//! Receive-side scaling as a NIC does it: what no rule takes is spread over a
//! port's RX queues by a Toeplitz hash of the packet's addresses (and ports,
//! for TCP and UDP), through a redirection table (RETA).
//!
//! - **Hash input**, in network byte order: IPv4 source and destination
//!   addresses, then for TCP/UDP (not fragmented) the source and destination
//!   ports; IPv6 likewise with 16-byte addresses (the fixed header's, after
//!   VLAN tags; extension headers are walked to find the ports). Fragments
//!   (first ones included, so every fragment of a datagram lands on one queue)
//!   and other protocols hash the addresses alone. Frames that are not IP,
//!   or that no enabled hash type covers, are not hashed: hash 0, no
//!   `RTE_MBUF_F_RX_RSS_HASH`, so RETA entry 0 (queue 0 by default).
//! - **Hash types** ([`HashTypes`], rte_eth_rss_conf's `rss_hf`): a TCP or UDP
//!   packet is hashed over its 4-tuple if its type (`IPV4_TCP`, ...) is on,
//!   else over its addresses if the plain family type (`IPV4`) is on;
//!   fragments need `FRAG_IPV4` or `IPV4`, other protocols `IPV4_OTHER` or
//!   `IPV4` (IPv6 the same).
//! - **Key**: 40 bytes, by default Microsoft's RSS verification key (the one
//!   its test vectors use); settable (`rte_eth_dev_rss_hash_update`).
//! - **RETA**: [`RETA_SIZE`] entries, as mlx5 reports. The entry is picked by
//!   the hash's **low 9 bits** (`hash & (RETA_SIZE - 1)`), as NICs do; by
//!   default entry `i` is queue `i % queues`.
//!
//! A consequence for whoever hashes the same tuple again: a software flow
//! table that indexes its buckets by the low bits of this same Toeplitz hash
//! would, on each queue, only ever see the buckets whose low bits map to that
//! queue (with 4 queues, a quarter of each table). flowlift's own table must
//! take its bucket index from other bits, or from another hash.

use std::net::{Ipv4Addr, Ipv6Addr};

use flowlift_dataplane::flow::FlowKey;
use flowlift_dataplane::wire::{self, ethernet, ipv4, ipv6, ParseError, Span};

/// Bytes of a Toeplitz key (mlx5's and most NICs' length).
pub const KEY_LEN: usize = 40;
/// Entries of the redirection table (what mlx5 reports as `reta_size`).
pub const RETA_SIZE: usize = 512;

/// The default key: Microsoft's RSS verification key, whose published test
/// vectors [`toeplitz`] is checked against.
pub const DEFAULT_KEY: [u8; KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

const TCP: u8 = 6;
const UDP: u8 = 17;

/// The Toeplitz hash of `input` under `key`: for every input bit that is
/// set, from the most significant bit of the first byte on, the 32 key bits
/// starting at that bit's position are XORed into the result. `key` must be
/// at least 4 bytes longer than `input` (40 covers IPv6's 36-byte 4-tuple);
/// missing key bits count as zeros.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_bit = |i: usize| -> u32 {
        key.get(i / 8)
            .map_or(0, |b| u32::from(b >> (7 - (i % 8)) & 1))
    };
    // `window` holds key bits [pos, pos + 32) for the input bit at `pos`.
    let mut window = (0..32).fold(0u32, |w, i| (w << 1) | key_bit(i));
    let mut hash = 0u32;
    let mut pos = 0usize;
    for &byte in input {
        for bit in (0..8).rev() {
            if byte >> bit & 1 == 1 {
                hash ^= window;
            }
            window = (window << 1) | key_bit(pos + 32);
            pos += 1;
        }
    }
    hash
}

/// Which packets are hashed, and over what (DPDK's `rss_hf`, in the model's
/// own bits: the PMD translates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashTypes(u16);

impl HashTypes {
    pub const NONE: HashTypes = HashTypes(0);
    /// IPv4 addresses, for any IPv4 packet no finer type covers.
    pub const IPV4: HashTypes = HashTypes(1);
    /// IPv4 fragments, by addresses.
    pub const FRAG_IPV4: HashTypes = HashTypes(1 << 1);
    /// IPv4 TCP, not fragmented, by addresses and ports.
    pub const IPV4_TCP: HashTypes = HashTypes(1 << 2);
    /// IPv4 UDP, not fragmented, by addresses and ports.
    pub const IPV4_UDP: HashTypes = HashTypes(1 << 3);
    /// IPv4, neither TCP nor UDP nor a fragment, by addresses.
    pub const IPV4_OTHER: HashTypes = HashTypes(1 << 4);
    pub const IPV6: HashTypes = HashTypes(1 << 5);
    pub const FRAG_IPV6: HashTypes = HashTypes(1 << 6);
    pub const IPV6_TCP: HashTypes = HashTypes(1 << 7);
    pub const IPV6_UDP: HashTypes = HashTypes(1 << 8);
    pub const IPV6_OTHER: HashTypes = HashTypes(1 << 9);
    /// Every type the model hashes.
    pub const ALL: HashTypes = HashTypes((1 << 10) - 1);

    /// Whether every type of `other` is on.
    pub const fn contains(self, other: HashTypes) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any type of `other` is on.
    pub const fn intersects(self, other: HashTypes) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: HashTypes) -> HashTypes {
        HashTypes(self.0 | other.0)
    }
}

impl std::ops::BitOr for HashTypes {
    type Output = HashTypes;
    fn bitor(self, other: HashTypes) -> HashTypes {
        self.union(other)
    }
}

/// What a frame offers the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Fragment,
    Other,
}

/// A frame's hash input: family, kind, addresses and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tuple {
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        ports: (u16, u16),
        kind: Kind,
    },
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        ports: (u16, u16),
        kind: Kind,
    },
}

/// The hash input of `frame`, or `None` when it is not IP (or its IP header
/// is broken).
fn tuple(frame: &[u8]) -> Option<Tuple> {
    let kind_of = |proto: u8, first_fragment: bool| match proto {
        _ if first_fragment => Kind::Fragment,
        TCP => Kind::Tcp,
        UDP => Kind::Udp,
        _ => Kind::Other,
    };
    match wire::parse(frame) {
        Ok(p) => Some(match p.key {
            FlowKey::V4(k) => Tuple::V4 {
                src: k.src,
                dst: k.dst,
                ports: (k.sport, k.dport),
                kind: kind_of(k.proto, p.first_fragment),
            },
            FlowKey::V6(k) => Tuple::V6 {
                src: k.src,
                dst: k.dst,
                ports: (k.sport, k.dport),
                kind: kind_of(k.proto, p.first_fragment),
            },
        }),
        // No 5-tuple, but maybe addresses: later fragments, and IP packets
        // whose upper layer is cut short.
        Err(ParseError::NonIp) => None,
        Err(e) => {
            let kind = if e == ParseError::Fragment {
                Kind::Fragment
            } else {
                Kind::Other
            };
            let span = Span::whole(frame);
            let link = ethernet::parse(span).ok()?;
            let l3 = span.after(link.l3_offset)?;
            match link.ethertype {
                ethernet::ethertype::IPV4 => {
                    let ip = ipv4::Packet::new_checked(l3).ok()?;
                    Some(Tuple::V4 {
                        src: ip.src(),
                        dst: ip.dst(),
                        ports: (0, 0),
                        kind,
                    })
                }
                ethernet::ethertype::IPV6 => {
                    let ip = ipv6::Packet::new_checked(l3).ok()?;
                    Some(Tuple::V6 {
                        src: ip.src(),
                        dst: ip.dst(),
                        ports: (0, 0),
                        kind,
                    })
                }
                _ => None,
            }
        }
    }
}

/// One port's RSS configuration: whether RSS is on (the port was configured
/// with an RSS multi-queue mode), the hash types, the key and the RETA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssConf {
    pub enabled: bool,
    pub types: HashTypes,
    pub key: [u8; KEY_LEN],
    reta: Box<[u16; RETA_SIZE]>,
    /// RX queues the RETA was spread over by default.
    queues: u16,
}

impl Default for RssConf {
    /// Off, over one queue, with the default key and every type.
    fn default() -> RssConf {
        RssConf {
            enabled: false,
            types: HashTypes::ALL,
            key: DEFAULT_KEY,
            reta: Box::new([0; RETA_SIZE]),
            queues: 1,
        }
    }
}

/// Why a RETA update is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetaError {
    /// More entries than the table has.
    #[error("the redirection table has {RETA_SIZE} entries")]
    Size,
    /// An entry names a queue the port does not have.
    #[error("RETA entry {entry} names queue {queue}, the port has {queues}")]
    Queue {
        entry: usize,
        queue: u16,
        queues: u16,
    },
}

impl RssConf {
    /// Configures the port for `queues` RX queues: `enabled` and `types` as
    /// given, the key `key` (or the default key, as mlx5 takes it again at
    /// every configure without one), and, when the queue count changed, the
    /// default RETA (entry `i` to queue `i % queues`).
    pub fn configure(
        &mut self,
        queues: u16,
        enabled: bool,
        types: HashTypes,
        key: Option<[u8; KEY_LEN]>,
    ) {
        let queues = queues.max(1);
        if queues != self.queues || self.reta.iter().any(|&q| q >= queues) {
            for (i, e) in self.reta.iter_mut().enumerate() {
                // `i % queues` < queues <= u16::MAX.
                *e = (i % usize::from(queues)) as u16;
            }
        }
        self.queues = queues;
        self.enabled = enabled;
        self.types = types;
        self.key = key.unwrap_or(DEFAULT_KEY);
    }

    /// RX queues the port is configured with.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// The RETA.
    pub fn reta(&self) -> &[u16; RETA_SIZE] {
        &self.reta
    }

    /// Sets RETA entries: `(entry, queue)` pairs, all checked before any is
    /// set.
    pub fn set_reta(
        &mut self,
        entries: impl IntoIterator<Item = (usize, u16)>,
    ) -> Result<(), RetaError> {
        let entries: Vec<(usize, u16)> = entries.into_iter().collect();
        for &(entry, queue) in &entries {
            if entry >= RETA_SIZE {
                return Err(RetaError::Size);
            }
            if queue >= self.queues {
                return Err(RetaError::Queue {
                    entry,
                    queue,
                    queues: self.queues,
                });
            }
        }
        for (entry, queue) in entries {
            self.reta[entry] = queue;
        }
        Ok(())
    }

    /// The hash of `frame` under this key and these types, or `None` when it
    /// is not hashed (RSS off, not IP, or no type on covers it).
    #[inline]
    pub fn hash(&self, frame: &[u8]) -> Option<u32> {
        if !self.enabled || self.types == HashTypes::NONE {
            return None;
        }
        let t = tuple(frame)?;
        let (family, frag, tcp, udp, other) = match t {
            Tuple::V4 { .. } => (
                HashTypes::IPV4,
                HashTypes::FRAG_IPV4,
                HashTypes::IPV4_TCP,
                HashTypes::IPV4_UDP,
                HashTypes::IPV4_OTHER,
            ),
            Tuple::V6 { .. } => (
                HashTypes::IPV6,
                HashTypes::FRAG_IPV6,
                HashTypes::IPV6_TCP,
                HashTypes::IPV6_UDP,
                HashTypes::IPV6_OTHER,
            ),
        };
        let kind = match t {
            Tuple::V4 { kind, .. } | Tuple::V6 { kind, .. } => kind,
        };
        let with_ports = match kind {
            Kind::Tcp if self.types.contains(tcp) => true,
            Kind::Udp if self.types.contains(udp) => true,
            Kind::Fragment if self.types.intersects(frag | family) => false,
            Kind::Other if self.types.intersects(other | family) => false,
            Kind::Tcp | Kind::Udp if self.types.contains(family) => false,
            _ => return None,
        };
        let mut input = [0u8; 36];
        let len = match t {
            Tuple::V4 {
                src, dst, ports, ..
            } => put(&mut input, &src, &dst, ports, with_ports),
            Tuple::V6 {
                src, dst, ports, ..
            } => put(&mut input, &src, &dst, ports, with_ports),
        };
        Some(toeplitz(&self.key, &input[..len]))
    }

    /// The RX queue for a frame of hash `hash` (`None`: not hashed, entry 0),
    /// from the RETA entry the hash's low bits pick.
    #[inline]
    pub fn queue(&self, hash: Option<u32>) -> u16 {
        if !self.enabled {
            return 0;
        }
        let entry = hash.map_or(0, |h| h as usize & (RETA_SIZE - 1));
        self.reta[entry]
    }

    /// The frame's queue and hash.
    #[inline]
    pub fn steer(&self, frame: &[u8]) -> (u16, Option<u32>) {
        let hash = self.hash(frame);
        (self.queue(hash), hash)
    }
}

/// Writes `src, dst[, sport, dport]` into `out`; returns the length.
fn put(out: &mut [u8; 36], src: &[u8], dst: &[u8], ports: (u16, u16), with_ports: bool) -> usize {
    let a = src.len();
    out[..a].copy_from_slice(src);
    out[a..2 * a].copy_from_slice(dst);
    if !with_ports {
        return 2 * a;
    }
    out[2 * a..2 * a + 2].copy_from_slice(&ports.0.to_be_bytes());
    out[2 * a + 2..2 * a + 4].copy_from_slice(&ports.1.to_be_bytes());
    2 * a + 4
}

/// The Toeplitz input of an IPv4 2-tuple or 4-tuple (for tests and tools
/// that compute the hash a frame will get).
pub fn ipv4_input(src: Ipv4Addr, dst: Ipv4Addr, ports: Option<(u16, u16)>) -> Vec<u8> {
    let mut out = [0u8; 36];
    let len = put(
        &mut out,
        &src.octets(),
        &dst.octets(),
        ports.unwrap_or_default(),
        ports.is_some(),
    );
    out[..len].to_vec()
}

/// The Toeplitz input of an IPv6 2-tuple or 4-tuple.
pub fn ipv6_input(src: Ipv6Addr, dst: Ipv6Addr, ports: Option<(u16, u16)>) -> Vec<u8> {
    let mut out = [0u8; 36];
    let len = put(
        &mut out,
        &src.octets(),
        &dst.octets(),
        ports.unwrap_or_default(),
        ports.is_some(),
    );
    out[..len].to_vec()
}

#[cfg(test)]
#[path = "rss_tests.rs"]
mod tests;
