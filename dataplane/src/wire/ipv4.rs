//! The IPv4 header: a view checked once by [`Packet::new_checked`], after which
//! every getter reads a fixed offset of a fixed-size array and cannot fail.

use super::bytes::{array, u16_at, u8_at};
use super::{ParseError, Span};

/// The fixed header, without options.
pub const HEADER_LEN: usize = 20;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const FLAGS_FRAG: usize = 6;
    pub const PROTOCOL: usize = 9;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// "More fragments" in the flags/fragment-offset word.
const MF: u16 = 0x2000;
/// Fragment offset, in 8-byte units, in the same word.
const FRAG_OFFSET: u16 = 0x1fff;

/// A validated IPv4 header over a stretch of the frame that starts with it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    hdr: &'a [u8; HEADER_LEN],
    /// Header length in bytes (IHL * 4), options included.
    header_len: usize,
    /// `total_length`, known to fit the frame.
    total_len: usize,
}

impl<'a> Packet<'a> {
    /// Checks, in order: the fixed header fits; version 4; IHL >= 5; options
    /// fit; `total_length` covers the header and fits the frame. Bytes past
    /// `total_length` (Ethernet padding of short frames) are ignored.
    ///
    /// Lengths are judged against the frame's true length (`buf.len()`, every
    /// segment), so a jumbo datagram whose payload lies in later segments is
    /// whole. Only the fixed header must be at hand: options are skipped,
    /// never read.
    #[inline(always)]
    pub fn new_checked(buf: Span<'a>) -> Result<Self, ParseError> {
        let hdr = buf.header::<HEADER_LEN>(0, ParseError::TruncatedIpv4)?;
        let ver_ihl = u8_at::<{ field::VER_IHL }, HEADER_LEN>(hdr);
        if ver_ihl >> 4 != 4 {
            return Err(ParseError::BadIpv4Version);
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if header_len < HEADER_LEN {
            return Err(ParseError::BadIpv4HeaderLen);
        }
        if header_len > buf.len() {
            return Err(ParseError::TruncatedIpv4);
        }
        let total_len = usize::from(u16_at::<{ field::TOTAL_LEN }, HEADER_LEN>(hdr));
        if total_len < header_len {
            return Err(ParseError::BadIpv4TotalLen);
        }
        if total_len > buf.len() {
            return Err(ParseError::TruncatedIpv4);
        }
        Ok(Packet {
            hdr,
            header_len,
            total_len,
        })
    }

    /// Header length in bytes, options included: where the payload starts.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Total length (header and payload) in bytes.
    #[inline(always)]
    pub fn total_len(&self) -> usize {
        self.total_len
    }

    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        u8_at::<{ field::PROTOCOL }, HEADER_LEN>(self.hdr)
    }

    #[inline(always)]
    pub fn src(&self) -> [u8; 4] {
        array::<{ field::SRC }, 4, HEADER_LEN>(self.hdr)
    }

    #[inline(always)]
    pub fn dst(&self) -> [u8; 4] {
        array::<{ field::DST }, 4, HEADER_LEN>(self.hdr)
    }

    /// Fragment offset in bytes (0 for an unfragmented packet and for a first
    /// fragment).
    #[inline(always)]
    pub fn frag_offset(&self) -> usize {
        usize::from(u16_at::<{ field::FLAGS_FRAG }, HEADER_LEN>(self.hdr) & FRAG_OFFSET) * 8
    }

    /// The "more fragments" flag.
    #[inline(always)]
    pub fn more_fragments(&self) -> bool {
        u16_at::<{ field::FLAGS_FRAG }, HEADER_LEN>(self.hdr) & MF != 0
    }
}
