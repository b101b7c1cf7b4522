//! Pattern items and actions as typed Rust values (host byte order, `Option` for
//! "not matched"). Lowering to DPDK's structures is in `raw`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A field value with its mask: bits set in `mask` must equal `value`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Masked<T> {
    pub value: T,
    pub mask: T,
}

/// Field types that have an all-ones mask.
pub trait FullMask: Copy {
    /// The mask that matches every bit.
    const FULL: Self;
}

/// Address types that take a CIDR prefix mask.
pub trait PrefixMask: Copy {
    /// The mask of the first `len` bits (clamped to the address width).
    fn prefix_mask(len: u8) -> Self;
}

impl FullMask for u8 {
    const FULL: Self = u8::MAX;
}
impl FullMask for u16 {
    const FULL: Self = u16::MAX;
}
impl FullMask for [u8; 6] {
    const FULL: Self = [0xff; 6];
}
impl FullMask for Ipv4Addr {
    const FULL: Self = Ipv4Addr::BROADCAST;
}
impl FullMask for Ipv6Addr {
    const FULL: Self = Ipv6Addr::new(
        0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
    );
}

impl PrefixMask for Ipv4Addr {
    fn prefix_mask(len: u8) -> Self {
        let len = u32::from(len.min(32));
        Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
    }
}

impl PrefixMask for Ipv6Addr {
    fn prefix_mask(len: u8) -> Self {
        let len = u32::from(len.min(128));
        Ipv6Addr::from(u128::MAX.checked_shl(128 - len).unwrap_or(0))
    }
}

impl<T: FullMask> Masked<T> {
    /// Matches exactly this value.
    pub fn exact(value: T) -> Self {
        Masked {
            value,
            mask: T::FULL,
        }
    }
}

impl<T: PrefixMask> Masked<T> {
    /// Matches the first `len` bits (a CIDR prefix).
    pub fn prefix(value: T, len: u8) -> Self {
        Masked {
            value,
            mask: T::prefix_mask(len),
        }
    }
}

/// Ethernet header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EthItem {
    pub dst: Option<Masked<[u8; 6]>>,
    pub src: Option<Masked<[u8; 6]>>,
    pub ether_type: Option<Masked<u16>>,
}

/// 802.1Q tag fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VlanItem {
    /// The whole TCI (PCP, DEI, VID); mask `0x0fff` for the VID alone.
    pub tci: Option<Masked<u16>>,
    pub inner_type: Option<Masked<u16>>,
}

/// IPv4 header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv4Item {
    pub src: Option<Masked<Ipv4Addr>>,
    pub dst: Option<Masked<Ipv4Addr>>,
    pub proto: Option<Masked<u8>>,
    pub tos: Option<Masked<u8>>,
    /// Flags and fragment offset (host order): `0` under `0x3fff` is a whole
    /// datagram, no fragment (Open vSwitch's `fragment_offset is 0`).
    pub fragment_offset: Option<Masked<u16>>,
}

/// IPv6 header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv6Item {
    pub src: Option<Masked<Ipv6Addr>>,
    pub dst: Option<Masked<Ipv6Addr>>,
    pub proto: Option<Masked<u8>>,
    /// Whether the packet has a fragment extension header (`has_frag_ext`
    /// under a mask of 1): `Some(false)` is a whole datagram.
    pub has_frag_ext: Option<bool>,
}

/// TCP or UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L4Item {
    pub src_port: Option<Masked<u16>>,
    pub dst_port: Option<Masked<u16>>,
}

/// One pattern item. An item with no field set matches any header of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Eth(EthItem),
    Vlan(VlanItem),
    Ipv4(Ipv4Item),
    Ipv6(Ipv6Item),
    Tcp(L4Item),
    Udp(L4Item),
    /// Traffic from this DPDK port id (deprecated in DPDK for `RepresentedPort`,
    /// still the one some PMDs accept).
    PortId(u32),
    /// Traffic entering the embedded switch from this ethdev's represented port.
    RepresentedPort(u16),
}

/// A pattern: items from outermost to innermost (END is added when lowering).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pattern {
    pub items: Vec<Item>,
}

impl Pattern {
    /// An empty pattern (matches everything).
    pub fn new() -> Self {
        Pattern::default()
    }

    /// Appends an item.
    pub fn item(mut self, item: Item) -> Self {
        self.items.push(item);
        self
    }

    /// Appends an Ethernet item.
    pub fn eth(self, eth: EthItem) -> Self {
        self.item(Item::Eth(eth))
    }

    /// Appends a VLAN item.
    pub fn vlan(self, vlan: VlanItem) -> Self {
        self.item(Item::Vlan(vlan))
    }

    /// Appends an IPv4 item.
    pub fn ipv4(self, ip: Ipv4Item) -> Self {
        self.item(Item::Ipv4(ip))
    }

    /// Appends an IPv6 item.
    pub fn ipv6(self, ip: Ipv6Item) -> Self {
        self.item(Item::Ipv6(ip))
    }

    /// Appends a TCP item.
    pub fn tcp(self, l4: L4Item) -> Self {
        self.item(Item::Tcp(l4))
    }

    /// Appends a UDP item.
    pub fn udp(self, l4: L4Item) -> Self {
        self.item(Item::Udp(l4))
    }
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Count hits and bytes on this rule (read with [`crate::flow::Rule::query_count`]).
    Count,
    /// Count on a shared, indirect counter that outlives the rule.
    IndirectCount(crate::flow::CounterRef),
    /// Deliver to this RX queue of the port.
    Queue(u16),
    /// Send out of the port this ethdev represents (e.g. a VF), through the switch.
    RepresentedPort(u16),
    /// Send to this DPDK port id (older PMDs' spelling of the above).
    PortId(u32),
    /// Drop.
    Drop,
    /// Police through this `rte_mtr` meter object.
    Meter(u32),
    /// Tag the packet's mbuf with this mark (`PKT_RX_FDIR_ID`).
    Mark(u32),
    /// Spread over these RX queues by RSS.
    Rss(Vec<u16>),
}

/// An action list (END is added when lowering).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    pub actions: Vec<Action>,
}

impl Actions {
    /// An empty list.
    pub fn new() -> Self {
        Actions::default()
    }

    /// Appends an action.
    pub fn then(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }
}

/// Rule attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr {
    pub group: u32,
    pub priority: u32,
    pub ingress: bool,
    pub egress: bool,
    /// Rule for the embedded switch (E-Switch/`transfer`), e.g. uplink -> VF.
    pub transfer: bool,
}

impl Attr {
    /// Group 0, priority 0, ingress.
    pub fn ingress() -> Self {
        Attr {
            ingress: true,
            ..Attr::default()
        }
    }

    /// Group 0, priority 0, transfer (switch rule).
    pub fn transfer() -> Self {
        Attr {
            transfer: true,
            ..Attr::default()
        }
    }
}
