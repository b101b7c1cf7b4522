//! The IPv6 fixed header (a view checked once by [`Packet::new_checked`]) and
//! the walk over its extension headers to the upper-layer protocol.

use super::bytes::{array, u16_at, u8_at};
use super::{ParseError, Span};

/// The fixed header.
pub const HEADER_LEN: usize = 40;

/// Extension headers walked before giving up. Real traffic carries two or
/// three at most; the bound keeps the per-packet cost constant whatever a
/// frame claims (each header is at least 8 bytes, so a jumbo frame could
/// otherwise chain over a thousand).
pub const MAX_EXT_HEADERS: usize = 8;

mod field {
    pub const VER_TC: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Next-header values of the extension headers walked.
pub mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
}

/// A validated IPv6 fixed header over a stretch of the frame that starts
/// with it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    hdr: &'a [u8; HEADER_LEN],
    /// The payload (extension headers included), `payload_length` bytes long:
    /// Ethernet padding past it is excluded.
    payload: Span<'a>,
}

impl<'a> Packet<'a> {
    /// Checks that the fixed header fits, the version is 6 and the payload
    /// length fits the frame (its true length, every segment). A payload
    /// length of 0 means an empty payload: the jumbograms that use 0 to point
    /// at a hop-by-hop option (RFC 2675) are larger than any Ethernet frame.
    #[inline(always)]
    pub fn new_checked(buf: Span<'a>) -> Result<Self, ParseError> {
        let hdr = buf.header::<HEADER_LEN>(0, ParseError::TruncatedIpv6)?;
        if u8_at::<{ field::VER_TC }, HEADER_LEN>(hdr) >> 4 != 6 {
            return Err(ParseError::BadIpv6Version);
        }
        let len = usize::from(u16_at::<{ field::PAYLOAD_LEN }, HEADER_LEN>(hdr));
        let payload = buf
            .sub(HEADER_LEN, HEADER_LEN + len)
            .ok_or(ParseError::TruncatedIpv6)?;
        Ok(Packet { hdr, payload })
    }

    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        u8_at::<{ field::NEXT_HEADER }, HEADER_LEN>(self.hdr)
    }

    #[inline(always)]
    pub fn src(&self) -> [u8; 16] {
        array::<{ field::SRC }, 16, HEADER_LEN>(self.hdr)
    }

    #[inline(always)]
    pub fn dst(&self) -> [u8; 16] {
        array::<{ field::DST }, 16, HEADER_LEN>(self.hdr)
    }

    /// The payload after the fixed header, bounded by `payload_length`.
    #[inline(always)]
    pub fn payload(&self) -> Span<'a> {
        self.payload
    }
}

/// Where the extension-header chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upper {
    /// The upper-layer protocol (the last next-header value).
    pub protocol: u8,
    /// Its offset in the IPv6 payload.
    pub offset: usize,
    /// A fragment header with offset 0 and "more fragments" set was crossed.
    pub first_fragment: bool,
}

/// The fragment extension header: next header, reserved, offset and flags,
/// identification.
const FRAG_LEN: usize = 8;

mod frag {
    pub const NEXT_HEADER: usize = 0;
    pub const OFFSET_FLAGS: usize = 2;
    /// Fragment offset (8-byte units) in the offset/flags word.
    pub const OFFSET: u16 = 0xfff8;
    /// "More fragments".
    pub const MORE: u16 = 0x0001;
}

#[inline(always)]
fn is_ext(next: u8) -> bool {
    matches!(
        next,
        ext::HOP_BY_HOP | ext::ROUTING | ext::FRAGMENT | ext::AUTH | ext::DEST_OPTS
    )
}

/// Walks the extension headers at the start of `payload`, whose type is
/// `next`: hop-by-hop, routing and destination options (length in 8-byte
/// units, not counting the first 8), fragment (8 bytes) and AH (length in
/// 4-byte units, minus 2). A fragment header with a non-zero offset ends the
/// walk with [`ParseError::Fragment`]: no upper-layer header follows it.
#[inline]
pub fn walk(mut next: u8, payload: Span<'_>) -> Result<Upper, ParseError> {
    let mut offset = 0;
    let mut first_fragment = false;
    for _ in 0..MAX_EXT_HEADERS {
        let (nh, len) = match next {
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS => {
                let [nh, len] = two_bytes(payload, offset)?;
                (nh, (usize::from(len) + 1) * 8)
            }
            ext::AUTH => {
                let [nh, len] = two_bytes(payload, offset)?;
                (nh, (usize::from(len) + 2) * 4)
            }
            ext::FRAGMENT => {
                let h = payload.header::<FRAG_LEN>(offset, ParseError::TruncatedIpv6Ext)?;
                let word = u16_at::<{ frag::OFFSET_FLAGS }, FRAG_LEN>(h);
                if word & frag::OFFSET != 0 {
                    return Err(ParseError::Fragment);
                }
                first_fragment |= word & frag::MORE != 0;
                (u8_at::<{ frag::NEXT_HEADER }, FRAG_LEN>(h), FRAG_LEN)
            }
            _ => break,
        };
        next = nh;
        offset += len;
        if offset > payload.len() {
            return Err(ParseError::TruncatedIpv6Ext);
        }
    }
    if is_ext(next) {
        return Err(ParseError::Ipv6ExtChainTooLong);
    }
    Ok(Upper {
        protocol: next,
        offset,
        first_fragment,
    })
}

/// The next-header and length bytes that start every extension header but
/// the fragment header.
#[inline(always)]
fn two_bytes(payload: Span<'_>, offset: usize) -> Result<[u8; 2], ParseError> {
    payload
        .header::<2>(offset, ParseError::TruncatedIpv6Ext)
        .copied()
}
