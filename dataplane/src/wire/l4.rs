//! The transport header: the ports of TCP, UDP and SCTP, and the minimum
//! header of ICMP/ICMPv6 (keyed without ports). Other protocols are keyed by
//! address and protocol alone.

use super::bytes::{u16_at, u8_at};
use super::{ParseError, Span};

/// IP protocol numbers the parser looks into.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// TCP without options.
pub const TCP_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;
/// SCTP's common header: ports, verification tag, checksum.
pub const SCTP_HEADER_LEN: usize = 12;
/// Type, code, checksum: what every ICMP message has.
pub const ICMP_HEADER_LEN: usize = 4;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    /// TCP: data offset in the high nibble.
    pub const TCP_DATA_OFFSET: usize = 12;
}

/// The (source, destination) ports of the `protocol` header at the start of
/// `l4` (which ends where the IP payload ends), `(0, 0)` for protocols
/// without ports. Only the fixed header must be at hand; TCP options are
/// measured, not read.
///
/// In a first fragment (`first_fragment`) TCP options may continue in the
/// next fragment, so only TCP's fixed header must be present there.
#[inline(always)]
pub fn ports(protocol: u8, l4: Span<'_>, first_fragment: bool) -> Result<(u16, u16), ParseError> {
    const T: ParseError = ParseError::TruncatedL4;
    match protocol {
        protocol::TCP => {
            let h = l4.header::<TCP_HEADER_LEN>(0, T)?;
            let words = usize::from(u8_at::<{ field::TCP_DATA_OFFSET }, TCP_HEADER_LEN>(h) >> 4);
            if words < TCP_HEADER_LEN / 4 {
                return Err(ParseError::BadTcpOffset);
            }
            if words * 4 > l4.len() && !first_fragment {
                return Err(ParseError::TruncatedL4);
            }
            Ok(port_pair(h))
        }
        protocol::UDP => l4.header::<UDP_HEADER_LEN>(0, T).map(port_pair),
        protocol::SCTP => l4.header::<SCTP_HEADER_LEN>(0, T).map(port_pair),
        protocol::ICMP | protocol::ICMPV6 => l4.header::<ICMP_HEADER_LEN>(0, T).map(|_| (0, 0)),
        _ => Ok((0, 0)),
    }
}

#[inline(always)]
fn port_pair<const L: usize>(h: &[u8; L]) -> (u16, u16) {
    (
        u16_at::<{ field::SRC_PORT }, L>(h),
        u16_at::<{ field::DST_PORT }, L>(h),
    )
}
