//! The zero-copy packet parser: from an Ethernet frame to its flow key and the
//! offsets of its headers, for every packet a worker receives.
//!
//! Covered: Ethernet II with up to two VLAN tags (0x8100, 0x88a8, 0x9100);
//! IPv4 with options; IPv6 with hop-by-hop, routing, fragment, destination
//! options and AH extension headers; the ports of TCP, UDP and SCTP; ICMP and
//! ICMPv6 keyed with ports 0, any other protocol likewise.
//!
//! # Nothing here panics
//!
//! No function in `wire` panics, allocates or reads out of bounds, on any
//! input. Each header is reached through a bounds-checked [`Span::header`]
//! that yields a fixed-size array (`&[u8; LEN]`), and every field is read at a
//! constant offset of that array with the bounds proved at compile time (see
//! `bytes`).
//! Offsets and lengths are computed in `usize` from at most 16-bit fields, so
//! they cannot overflow. The unit tests parse every truncation of every sample
//! frame, each split at every point into a first segment and the rest; the
//! property tests compare against `etherparse` (jumbo frames in segments
//! too) and feed random bytes, and `fuzz/` runs the parser under libFuzzer.
//!
//! # Frames in segments
//!
//! A frame larger than one packet buffer (a 9000-byte jumbo frame in 2 KiB
//! mbufs) arrives as a chain of segments. [`parse_segmented`] takes the first
//! segment and the frame's true length (`pkt_len`): every length check (IPv4
//! `total_length`, IPv6 `payload_length`, extension headers, the L4 header)
//! is judged against the true length, and header fields are read from the
//! first segment, which in practice holds them all (it is a full buffer).
//! Headers that do run past the first segment are not misparsed, and nothing
//! is copied to join them: the frame gets no key, with the reason
//! [`ParseError::HeadersPastFirstSegment`]. [`parse`] is the same for a frame
//! held whole. See [`Span`].
//!
//! # Fragments
//!
//! A fragment with a non-zero offset has no L4 header, hence no 5-tuple:
//! [`ParseError::Fragment`], which the worker counts and forwards by L2
//! policy, without a flow key and without a flow-log entry. A first fragment
//! (offset 0, "more fragments" set) is keyed with its ports, and says so in
//! [`Parsed::first_fragment`] (the NIC model's rules match it as a
//! fragment); if it is too short to hold the L4 header it is treated like the
//! other fragments. The worker counts a first fragment as a fragment too:
//! RSS hashes every fragment over its addresses only (so that a datagram's
//! fragments stay together), the flow's whole datagrams over their ports as
//! well, so a first fragment may reach another worker than its flow.

mod bytes;
pub mod error;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod l4;
pub mod span;

pub use error::ParseError;
pub use span::Span;

use crate::flow::{FlowKey, KeyV4, KeyV6};
use ethernet::ethertype;

/// What the parser found in a frame that has a flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The flow key, with `in_port` left 0 (the caller knows the port) and
    /// `vlan` the outer VID or [`crate::flow::NO_VLAN`].
    pub key: FlowKey,
    /// Offset of the IPv4/IPv6 header.
    pub l3_offset: u16,
    /// Offset of the L4 header: after IPv4 options and IPv6 extension headers.
    pub l4_offset: u16,
    /// The inner VID of a QinQ frame.
    pub inner_vlan: Option<u16>,
    /// An IPv4/IPv6 first fragment (offset 0, more to come): its ports are
    /// keyed, the datagram's later fragments will not be.
    pub first_fragment: bool,
}

/// Parses `frame`, held whole and starting at its Ethernet header, into its
/// flow key.
#[inline]
pub fn parse(frame: &[u8]) -> Result<Parsed, ParseError> {
    parse_span(Span::whole(frame))
}

/// Parses a frame of `frame_len` bytes (a packet's `pkt_len`) whose first
/// segment is `first` (its `data_len` bytes), starting at its Ethernet
/// header, into its flow key. What a worker calls for every packet: a frame
/// in one segment parses exactly as [`parse`] parses it; a longer one is
/// judged by its true length and read from its first segment (see the
/// module's "Frames in segments").
#[inline]
pub fn parse_segmented(first: &[u8], frame_len: usize) -> Result<Parsed, ParseError> {
    parse_span(Span::new(first, frame_len))
}

#[inline(always)]
fn parse_span(frame: Span<'_>) -> Result<Parsed, ParseError> {
    match plain_ipv4(frame) {
        Some(parsed) => Ok(parsed),
        None => parse_any(frame),
    }
}

/// Bytes of an untagged Ethernet header and an IPv4 header without options.
const PLAIN_L4_OFFSET: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;

/// The frame nearly every packet is, read at fixed offsets: untagged
/// Ethernet, IPv4 without options and not a fragment, TCP or UDP with its
/// whole header inside the datagram and the first segment. Anything else,
/// or any doubt, is `None` and goes to [`parse_any`], which gives these
/// frames the same answer (tests: `the_fast_path_agrees_with_the_general_parser`);
/// this path only skips the general one's branches for tags, options,
/// extension headers and the rarer protocols.
#[inline(always)]
fn plain_ipv4(frame: Span<'_>) -> Option<Parsed> {
    use bytes::{array, u16_at, u8_at};
    const UDP: usize = PLAIN_L4_OFFSET + l4::UDP_HEADER_LEN;
    let h = frame.header::<UDP>(0, ParseError::TruncatedL4).ok()?;
    // Ethertype IPv4, version 4 with a 5-word header, no fragment bits
    // (offset 0, "more fragments" clear; "don't fragment" may be set).
    if u16_at::<12, UDP>(h) != ethertype::IPV4
        || u8_at::<14, UDP>(h) != 0x45
        || u16_at::<20, UDP>(h) & 0x3fff != 0
    {
        return None;
    }
    let total_len = usize::from(u16_at::<16, UDP>(h));
    if ethernet::HEADER_LEN + total_len > frame.len() {
        return None;
    }
    let proto = u8_at::<23, UDP>(h);
    let l4_len = match proto {
        l4::protocol::UDP => l4::UDP_HEADER_LEN,
        l4::protocol::TCP => {
            const TCP: usize = PLAIN_L4_OFFSET + l4::TCP_HEADER_LEN;
            let t = frame.header::<TCP>(0, ParseError::TruncatedL4).ok()?;
            let words = usize::from(u8_at::<{ PLAIN_L4_OFFSET + 12 }, TCP>(t) >> 4);
            if words < l4::TCP_HEADER_LEN / 4 {
                return None;
            }
            words * 4
        }
        _ => return None,
    };
    if ipv4::HEADER_LEN + l4_len > total_len {
        return None;
    }
    Some(Parsed {
        key: FlowKey::V4(KeyV4 {
            src: array::<26, 4, UDP>(h),
            dst: array::<30, 4, UDP>(h),
            sport: u16_at::<{ PLAIN_L4_OFFSET }, UDP>(h),
            dport: u16_at::<{ PLAIN_L4_OFFSET + 2 }, UDP>(h),
            vlan: crate::flow::NO_VLAN,
            proto,
            in_port: 0,
        }),
        l3_offset: offset(ethernet::HEADER_LEN),
        l4_offset: offset(PLAIN_L4_OFFSET),
        inner_vlan: None,
        first_fragment: false,
    })
}

/// Any frame, header by header (see the module doc).
#[inline(always)]
fn parse_any(frame: Span<'_>) -> Result<Parsed, ParseError> {
    let link = ethernet::parse(frame)?;
    // `l3_offset` is within the frame (the link layer checked its headers fit);
    // the empty fallback is unreachable and would read as a truncated header.
    let l3 = frame.after(link.l3_offset).unwrap_or(Span::whole(&[]));
    match link.ethertype {
        ethertype::IPV4 => parse_ipv4(&link, l3),
        ethertype::IPV6 => parse_ipv6(&link, l3),
        _ => Err(ParseError::NonIp),
    }
}

#[inline(always)]
fn parse_ipv4(link: &ethernet::Link, l3: Span<'_>) -> Result<Parsed, ParseError> {
    let ip = ipv4::Packet::new_checked(l3)?;
    if ip.frag_offset() != 0 {
        return Err(ParseError::Fragment);
    }
    let first_fragment = ip.more_fragments();
    // The L4 header ends where `total_length` says, not at the end of the
    // frame: Ethernet pads short frames, and padding is not payload. Both
    // bounds are within `l3` (`new_checked` checked them); the empty
    // fallback is unreachable and would read as a truncated header.
    let l4 = l3
        .sub(ip.header_len(), ip.total_len())
        .unwrap_or(Span::whole(&[]));
    let (sport, dport) = transport(ip.protocol(), l4, first_fragment)?;
    Ok(Parsed {
        key: FlowKey::V4(KeyV4 {
            src: ip.src(),
            dst: ip.dst(),
            sport,
            dport,
            vlan: link.outer_vlan,
            proto: ip.protocol(),
            in_port: 0,
        }),
        l3_offset: offset(link.l3_offset),
        l4_offset: offset(link.l3_offset + ip.header_len()),
        inner_vlan: link.inner_vlan,
        first_fragment,
    })
}

#[inline(always)]
fn parse_ipv6(link: &ethernet::Link, l3: Span<'_>) -> Result<Parsed, ParseError> {
    let ip = ipv6::Packet::new_checked(l3)?;
    let upper = ipv6::walk(ip.next_header(), ip.payload())?;
    // `walk` ends within the payload; as above, the fallback is unreachable.
    let l4 = ip.payload().after(upper.offset).unwrap_or(Span::whole(&[]));
    let (sport, dport) = transport(upper.protocol, l4, upper.first_fragment)?;
    Ok(Parsed {
        key: FlowKey::V6(KeyV6 {
            src: ip.src(),
            dst: ip.dst(),
            sport,
            dport,
            vlan: link.outer_vlan,
            proto: upper.protocol,
            in_port: 0,
        }),
        l3_offset: offset(link.l3_offset),
        l4_offset: offset(link.l3_offset + ipv6::HEADER_LEN + upper.offset),
        inner_vlan: link.inner_vlan,
        first_fragment: upper.first_fragment,
    })
}

/// The ports, where a first fragment too short for its L4 header is, like any
/// other fragment, a frame without a 5-tuple rather than a malformed one.
#[inline(always)]
fn transport(protocol: u8, l4: Span<'_>, first_fragment: bool) -> Result<(u16, u16), ParseError> {
    match l4::ports(protocol, l4, first_fragment) {
        Err(ParseError::TruncatedL4) if first_fragment => Err(ParseError::Fragment),
        r => r,
    }
}

/// A header offset as stored in [`Parsed`]. Offsets are at most 22 bytes of
/// link layer, plus 60 of IPv4 header or 40 of IPv6 header and 8 extension
/// headers of at most 2 KiB each: always below 64 KiB, so the cast is exact.
#[inline(always)]
fn offset(at: usize) -> u16 {
    at as u16
}

#[cfg(test)]
mod tests;
