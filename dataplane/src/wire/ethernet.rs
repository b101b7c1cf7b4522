//! Ethernet II and its VLAN tags (802.1Q, 802.1ad, and the pre-standard 0x9100
//! that some switches still send for the outer tag of QinQ): finds the
//! ethertype of the payload, where the payload starts and the tags' VLAN IDs.

use super::bytes::u16_at;
use super::{ParseError, Span};
use crate::flow::NO_VLAN;

/// Destination MAC, source MAC, ethertype.
pub const HEADER_LEN: usize = 14;
/// A VLAN tag: TCI, then the ethertype of what follows it.
pub const TAG_LEN: usize = 4;
/// QinQ is the deepest stack keyed; more tags are refused as malformed rather
/// than walked, so a frame cannot make the parser loop.
pub const MAX_TAGS: usize = 2;

/// Ethertypes the parser acts on.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag (the outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// Pre-802.1ad QinQ outer tag.
    pub const QINQ_LEGACY: u16 = 0x9100;
}

mod field {
    /// Ethertype of the untagged frame, or TPID of the first tag.
    pub const ETHERTYPE: usize = 12;
    /// In a tag: the tag control information (PCP, DEI, 12-bit VID).
    pub const TCI: usize = 0;
    /// In a tag: the ethertype (or next TPID) that follows.
    pub const TAG_ETHERTYPE: usize = 2;
}

/// The 12 VID bits of a TCI (priority and drop-eligible bits are not part of
/// the flow's identity).
const VID_MASK: u16 = 0x0fff;

/// What the link layer tells the network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Ethertype after the last tag.
    pub ethertype: u16,
    /// Offset of the network header.
    pub l3_offset: usize,
    /// Outer VID, or [`NO_VLAN`].
    pub outer_vlan: u16,
    /// Inner VID of a QinQ frame.
    pub inner_vlan: Option<u16>,
}

#[inline(always)]
fn is_tag(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_LEGACY
    )
}

/// Walks the Ethernet header and up to [`MAX_TAGS`] VLAN tags.
#[inline(always)]
pub fn parse(frame: Span<'_>) -> Result<Link, ParseError> {
    let eth = frame.header::<HEADER_LEN>(0, ParseError::TruncatedEthernet)?;
    let mut link = Link {
        ethertype: u16_at::<{ field::ETHERTYPE }, HEADER_LEN>(eth),
        l3_offset: HEADER_LEN,
        outer_vlan: NO_VLAN,
        inner_vlan: None,
    };
    // Unrolled rather than a loop: at most two tags, and the untagged case
    // (the common one) pays a single comparison.
    if !is_tag(link.ethertype) {
        return Ok(link);
    }
    let (vid, next) = tag(frame, link.l3_offset)?;
    link.outer_vlan = vid;
    link.ethertype = next;
    link.l3_offset += TAG_LEN;
    if !is_tag(link.ethertype) {
        return Ok(link);
    }
    let (vid, next) = tag(frame, link.l3_offset)?;
    link.inner_vlan = Some(vid);
    link.ethertype = next;
    link.l3_offset += TAG_LEN;
    if is_tag(link.ethertype) {
        return Err(ParseError::TooManyVlans);
    }
    Ok(link)
}

/// The VID and the following ethertype of the tag at `at`.
#[inline(always)]
fn tag(frame: Span<'_>, at: usize) -> Result<(u16, u16), ParseError> {
    let t = frame.header::<TAG_LEN>(at, ParseError::TruncatedVlan)?;
    Ok((
        u16_at::<{ field::TCI }, TAG_LEN>(t) & VID_MASK,
        u16_at::<{ field::TAG_ETHERTYPE }, TAG_LEN>(t),
    ))
}
