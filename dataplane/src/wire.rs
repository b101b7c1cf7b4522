//! STUB (not committed)
use crate::flow::FlowKey;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub key: FlowKey,
    pub l3_offset: u16,
    pub l4_offset: u16,
    pub inner_vlan: Option<u16>,
    pub first_fragment: bool,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    NonIp,
    Fragment,
    TruncatedEthernet,
}
impl ParseError {
    pub const ALL: [ParseError; 3] = [
        ParseError::NonIp,
        ParseError::Fragment,
        ParseError::TruncatedEthernet,
    ];
    pub fn label(self) -> &'static str {
        match self {
            ParseError::NonIp => "non_ip",
            ParseError::Fragment => "fragment",
            ParseError::TruncatedEthernet => "truncated_ethernet",
        }
    }
    pub fn is_malformed(self) -> bool {
        !matches!(self, ParseError::NonIp | ParseError::Fragment)
    }
    pub fn index(self) -> usize {
        self as usize
    }
}
pub fn parse(frame: &[u8]) -> Result<Parsed, ParseError> {
    if frame.len() < 14 {
        return Err(ParseError::TruncatedEthernet);
    }
    if frame[12..14] != [8, 0] || frame.len() < 38 {
        return Err(ParseError::NonIp);
    }
    let mut k = crate::flow::KeyV4 {
        vlan: crate::flow::NO_VLAN,
        ..Default::default()
    };
    k.src.copy_from_slice(&frame[26..30]);
    k.dst.copy_from_slice(&frame[30..34]);
    k.proto = frame[23];
    k.sport = u16::from_be_bytes([frame[34], frame[35]]);
    k.dport = u16::from_be_bytes([frame[36], frame[37]]);
    Ok(Parsed {
        key: FlowKey::V4(k),
        l3_offset: 14,
        l4_offset: 34,
        inner_vlan: None,
        first_fragment: false,
    })
}
