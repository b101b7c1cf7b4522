//! What of a stretch of the frame (the frame, an IP packet, its payload) the
//! parser can read in place.
//!
//! A frame larger than one packet buffer arrives in segments (a 9000-byte
//! frame in chained mbufs), and the parser reads headers without copying,
//! from the first segment only. A [`Span`] pairs the bytes at hand with the
//! length the stretch truly has, so that the two ways a header can be missing
//! are told apart: the frame ends before it (a truncated frame, judged against
//! the true length) or the frame holds it but past the first segment (judged
//! against the bytes at hand; [`ParseError::HeadersPastFirstSegment`]).
//!
//! For a frame held whole the two lengths are equal and only the first case
//! can happen: parsing a whole frame is exactly what it was before segments
//! were known.

use super::bytes::header;
use super::ParseError;

/// A stretch of the frame: its first bytes, contiguous, and its true length.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// The bytes at hand, from the start of the stretch; never longer than
    /// `len`.
    at_hand: &'a [u8],
    /// The stretch's true length.
    len: usize,
}

impl<'a> Span<'a> {
    /// A stretch held whole.
    #[inline(always)]
    pub fn whole(bytes: &'a [u8]) -> Self {
        Span {
            at_hand: bytes,
            len: bytes.len(),
        }
    }

    /// A stretch `len` bytes long whose first bytes are `head`. A head
    /// longer than `len` is cut to it: a segment cannot hold more than its
    /// packet (`data_len <= pkt_len`), and if a buffer ever claimed so, the
    /// shorter claim is the one that cannot make the parser read past the
    /// packet.
    #[inline(always)]
    pub fn new(head: &'a [u8], len: usize) -> Self {
        Span {
            at_hand: head.get(..len).unwrap_or(head),
            len,
        }
    }

    /// The stretch's true length.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the stretch is empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `N`-byte header at offset `at`: `truncated` if the stretch ends
    /// before the header does, [`ParseError::HeadersPastFirstSegment`] if the
    /// stretch holds it but not all of it is at hand.
    #[inline(always)]
    pub fn header<const N: usize>(
        &self,
        at: usize,
        truncated: ParseError,
    ) -> Result<&'a [u8; N], ParseError> {
        if at.saturating_add(N) > self.len {
            return Err(truncated);
        }
        self.at_hand
            .get(at..)
            .and_then(header::<N>)
            .ok_or(ParseError::HeadersPastFirstSegment)
    }

    /// Bytes `from..to` of the stretch, or `None` if they are not within it.
    /// What of them is at hand stays at hand.
    #[inline(always)]
    pub fn sub(&self, from: usize, to: usize) -> Option<Span<'a>> {
        if from > to || to > self.len {
            return None;
        }
        let held = self.at_hand.len();
        Some(Span {
            // Both bounds are clamped to the bytes at hand and from <= to, so
            // the range is valid; the fallback is unreachable.
            at_hand: self
                .at_hand
                .get(from.min(held)..to.min(held))
                .unwrap_or_default(),
            len: to - from,
        })
    }

    /// Bytes `from..` of the stretch, or `None` if `from` is past its end.
    #[inline(always)]
    pub fn after(&self, from: usize) -> Option<Span<'a>> {
        self.sub(from, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_is_judged_by_the_true_length_split_by_the_bytes_at_hand() {
        let bytes = [1u8, 2, 3, 4, 5, 6];
        let s = Span::new(&bytes[..4], 6);
        assert_eq!(s.header::<4>(0, ParseError::TruncatedL4), Ok(&[1, 2, 3, 4]));
        assert_eq!(
            s.header::<4>(2, ParseError::TruncatedL4),
            Err(ParseError::HeadersPastFirstSegment)
        );
        assert_eq!(
            s.header::<4>(3, ParseError::TruncatedL4),
            Err(ParseError::TruncatedL4)
        );
        assert_eq!(
            s.header::<2>(usize::MAX, ParseError::TruncatedL4),
            Err(ParseError::TruncatedL4)
        );
        let w = Span::whole(&bytes[..4]);
        assert_eq!(
            w.header::<4>(2, ParseError::TruncatedL4),
            Err(ParseError::TruncatedL4)
        );
    }

    #[test]
    fn sub_spans_keep_what_is_at_hand() {
        let bytes = [0u8, 1, 2, 3, 4, 5, 6, 7];
        let s = Span::new(&bytes[..5], 8);
        let t = s.sub(3, 7).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t.header::<2>(0, ParseError::TruncatedL4), Ok(&[3, 4]));
        assert_eq!(
            t.header::<2>(1, ParseError::TruncatedL4),
            Err(ParseError::HeadersPastFirstSegment)
        );
        let past = s.sub(6, 8).unwrap();
        assert_eq!(past.len(), 2);
        assert_eq!(
            past.header::<1>(0, ParseError::TruncatedL4),
            Err(ParseError::HeadersPastFirstSegment)
        );
        assert!(s.sub(7, 9).is_none());
        assert!(s.sub(5, 4).is_none());
        assert_eq!(s.after(8).map(|a| a.len()), Some(0));
        assert!(s.after(9).is_none());
    }

    #[test]
    fn a_head_longer_than_the_packet_is_cut_to_it() {
        let bytes = [9u8; 10];
        let s = Span::new(&bytes, 4);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.header::<5>(0, ParseError::TruncatedEthernet),
            Err(ParseError::TruncatedEthernet)
        );
    }
}
