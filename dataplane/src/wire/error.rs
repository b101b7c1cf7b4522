//! Why a frame yielded no flow key: a `Copy` reason per failure, cheap to return
//! on the per-packet path and to count in a fixed array indexed by
//! [`ParseError::index`].

/// Why [`super::parse`] returned no key. Three reasons are not faults of the
/// frame ([`ParseError::NonIp`], [`ParseError::Fragment`],
/// [`ParseError::HeadersPastFirstSegment`]); every other one names the first
/// header found truncated or inconsistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// An ethertype other than IPv4/IPv6 (ARP, LLDP, unknown): forwarded by L2
    /// policy, never keyed.
    NonIp,
    /// An IPv4 or IPv6 fragment with a non-zero offset: it carries no L4
    /// header, so it has no 5-tuple. Counted and forwarded by L2 policy; not
    /// keyed and not in the flow log. The worker counts first fragments here
    /// too (see the parser's module doc).
    Fragment,
    /// Shorter than the 14-byte Ethernet header.
    TruncatedEthernet,
    /// A VLAN tag cut short by the end of the frame.
    TruncatedVlan,
    /// More than two VLAN tags (QinQ is the deepest stack we key).
    TooManyVlans,
    /// The IPv4 header (or its options, or the `total_length` bytes it
    /// announces) runs past the end of the frame: its whole length, every
    /// segment (`pkt_len`), not just the first.
    TruncatedIpv4,
    /// Ethertype IPv4 but the version nibble is not 4.
    BadIpv4Version,
    /// IHL below 5 (a header shorter than its fixed 20 bytes).
    BadIpv4HeaderLen,
    /// `total_length` shorter than the header itself.
    BadIpv4TotalLen,
    /// The IPv6 fixed header, or the payload length it announces, runs past
    /// the end of the frame.
    TruncatedIpv6,
    /// Ethertype IPv6 but the version nibble is not 6.
    BadIpv6Version,
    /// An IPv6 extension header runs past the end of the IPv6 payload.
    TruncatedIpv6Ext,
    /// More IPv6 extension headers than we walk (see `ipv6::MAX_EXT_HEADERS`).
    Ipv6ExtChainTooLong,
    /// The TCP/UDP/SCTP/ICMP header runs past the end of the IP payload.
    TruncatedL4,
    /// A TCP data offset below 5 (a header shorter than its fixed 20 bytes).
    BadTcpOffset,
    /// The frame holds its headers, but they run past its first segment
    /// (buffer): the parser reads headers in place and copies nothing on the
    /// fast path, so the frame is forwarded by L2 policy without a key. No
    /// driver flowlift knows does this (the first segment of a chained frame
    /// is a full buffer, 2 KiB by default); a frame cut short is counted as
    /// truncated, never as this. Last in the list so that the counters of
    /// the other reasons keep their places.
    HeadersPastFirstSegment,
}

impl ParseError {
    /// Every reason, in [`ParseError::index`] order: size a counter array with
    /// `ALL.len()` and label it with `ALL[i].label()`.
    pub const ALL: [ParseError; 16] = [
        ParseError::NonIp,
        ParseError::Fragment,
        ParseError::TruncatedEthernet,
        ParseError::TruncatedVlan,
        ParseError::TooManyVlans,
        ParseError::TruncatedIpv4,
        ParseError::BadIpv4Version,
        ParseError::BadIpv4HeaderLen,
        ParseError::BadIpv4TotalLen,
        ParseError::TruncatedIpv6,
        ParseError::BadIpv6Version,
        ParseError::TruncatedIpv6Ext,
        ParseError::Ipv6ExtChainTooLong,
        ParseError::TruncatedL4,
        ParseError::BadTcpOffset,
        ParseError::HeadersPastFirstSegment,
    ];

    /// Position in [`ParseError::ALL`].
    #[inline]
    pub fn index(self) -> usize {
        // The declaration order is the `ALL` order (a test checks it), so the
        // discriminant is the index: no table lookup on the hot path.
        self as usize
    }

    /// A snake_case name for metrics and the final counters.
    pub fn label(self) -> &'static str {
        match self {
            ParseError::NonIp => "non_ip",
            ParseError::Fragment => "fragment",
            ParseError::TruncatedEthernet => "truncated_ethernet",
            ParseError::TruncatedVlan => "truncated_vlan",
            ParseError::TooManyVlans => "too_many_vlans",
            ParseError::TruncatedIpv4 => "truncated_ipv4",
            ParseError::BadIpv4Version => "bad_ipv4_version",
            ParseError::BadIpv4HeaderLen => "bad_ipv4_header_len",
            ParseError::BadIpv4TotalLen => "bad_ipv4_total_len",
            ParseError::TruncatedIpv6 => "truncated_ipv6",
            ParseError::BadIpv6Version => "bad_ipv6_version",
            ParseError::TruncatedIpv6Ext => "truncated_ipv6_ext",
            ParseError::Ipv6ExtChainTooLong => "ipv6_ext_chain_too_long",
            ParseError::TruncatedL4 => "truncated_l4",
            ParseError::BadTcpOffset => "bad_tcp_offset",
            ParseError::HeadersPastFirstSegment => "headers_past_first_segment",
        }
    }

    /// Whether the frame is broken. `false` for [`ParseError::NonIp`] and
    /// [`ParseError::Fragment`], valid frames that simply have no 5-tuple,
    /// and for [`ParseError::HeadersPastFirstSegment`], a valid frame laid
    /// out in buffers in a way the parser does not read.
    #[inline]
    pub fn is_malformed(self) -> bool {
        !matches!(
            self,
            ParseError::NonIp | ParseError::Fragment | ParseError::HeadersPastFirstSegment
        )
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_with_unique_labels() {
        for (i, e) in ParseError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?}");
            assert!(ParseError::ALL[..i].iter().all(|o| o.label() != e.label()));
            assert!(e
                .label()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        assert!(!ParseError::NonIp.is_malformed());
        assert!(!ParseError::Fragment.is_malformed());
        assert!(!ParseError::HeadersPastFirstSegment.is_malformed());
        assert!(ParseError::TruncatedL4.is_malformed());
    }
}
