//! Lowering of [`Pattern`], [`Actions`] and [`Attr`] to the C arrays rte_flow
//! reads. Every spec, mask and action configuration is boxed, so the pointers in
//! the arrays stay valid for as long as the `Raw*` value lives. Multi-byte fields
//! are written in network byte order, as DPDK expects.

use std::os::raw::c_void;

use dpdk_sys as sys;

use super::items::{
    Action, Actions, Attr, EthItem, Ipv4Item, Ipv6Item, Item, L4Item, Pattern, VlanItem,
};

/// Spec and mask of one item, side by side in one allocation.
enum SpecMask {
    Eth(Box<[sys::rte_flow_item_eth; 2]>),
    Vlan(Box<[sys::rte_flow_item_vlan; 2]>),
    Ipv4(Box<[sys::rte_flow_item_ipv4; 2]>),
    Ipv6(Box<[sys::rte_flow_item_ipv6; 2]>),
    Tcp(Box<[sys::rte_flow_item_tcp; 2]>),
    Udp(Box<[sys::rte_flow_item_udp; 2]>),
    PortId(Box<sys::rte_flow_item_port_id>),
    Ethdev(Box<sys::rte_flow_item_ethdev>),
}

/// A pattern as DPDK's END-terminated `rte_flow_item` array.
pub struct RawPattern {
    items: Vec<sys::rte_flow_item>,
    _storage: Vec<SpecMask>,
}

impl std::fmt::Debug for RawPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawPattern")
            .field("items", &self.items.len())
            .finish()
    }
}

fn be16(v: u16) -> u16 {
    v.to_be()
}

/// Pointers of a boxed [spec, mask] pair, or nulls when nothing is matched (any
/// header of the item's kind).
fn pair_ptrs<T>(pair: &[T; 2], any: bool) -> (*const c_void, *const c_void) {
    if any {
        (std::ptr::null(), std::ptr::null())
    } else {
        (
            &pair[0] as *const T as *const c_void,
            &pair[1] as *const T as *const c_void,
        )
    }
}

fn lower_eth(e: &EthItem) -> Box<[sys::rte_flow_item_eth; 2]> {
    let mut p: Box<[sys::rte_flow_item_eth; 2]> = Box::default();
    let mut spec = sys::rte_ether_hdr::default();
    let mut mask = sys::rte_ether_hdr::default();
    if let Some(m) = e.dst {
        spec.dst_addr.addr_bytes = m.value;
        mask.dst_addr.addr_bytes = m.mask;
    }
    if let Some(m) = e.src {
        spec.src_addr.addr_bytes = m.value;
        mask.src_addr.addr_bytes = m.mask;
    }
    if let Some(m) = e.ether_type {
        spec.ether_type = be16(m.value);
        mask.ether_type = be16(m.mask);
    }
    p[0].__bindgen_anon_1.hdr = spec;
    p[1].__bindgen_anon_1.hdr = mask;
    p
}

fn lower_vlan(v: &VlanItem) -> Box<[sys::rte_flow_item_vlan; 2]> {
    let mut p: Box<[sys::rte_flow_item_vlan; 2]> = Box::default();
    let mut spec = sys::rte_vlan_hdr::default();
    let mut mask = sys::rte_vlan_hdr::default();
    if let Some(m) = v.tci {
        spec.vlan_tci = be16(m.value);
        mask.vlan_tci = be16(m.mask);
    }
    if let Some(m) = v.inner_type {
        spec.eth_proto = be16(m.value);
        mask.eth_proto = be16(m.mask);
    }
    p[0].__bindgen_anon_1.hdr = spec;
    p[1].__bindgen_anon_1.hdr = mask;
    p
}

fn lower_ipv4(i: &Ipv4Item) -> Box<[sys::rte_flow_item_ipv4; 2]> {
    let mut p: Box<[sys::rte_flow_item_ipv4; 2]> = Box::default();
    if let Some(m) = i.src {
        p[0].hdr.src_addr = u32::from(m.value).to_be();
        p[1].hdr.src_addr = u32::from(m.mask).to_be();
    }
    if let Some(m) = i.dst {
        p[0].hdr.dst_addr = u32::from(m.value).to_be();
        p[1].hdr.dst_addr = u32::from(m.mask).to_be();
    }
    if let Some(m) = i.proto {
        p[0].hdr.next_proto_id = m.value;
        p[1].hdr.next_proto_id = m.mask;
    }
    if let Some(m) = i.tos {
        p[0].hdr.type_of_service = m.value;
        p[1].hdr.type_of_service = m.mask;
    }
    if let Some(m) = i.fragment_offset {
        p[0].hdr.fragment_offset = be16(m.value);
        p[1].hdr.fragment_offset = be16(m.mask);
    }
    p
}

fn lower_ipv6(i: &Ipv6Item) -> Box<[sys::rte_flow_item_ipv6; 2]> {
    let mut p: Box<[sys::rte_flow_item_ipv6; 2]> = Box::default();
    if let Some(m) = i.src {
        p[0].hdr.src_addr = m.value.octets();
        p[1].hdr.src_addr = m.mask.octets();
    }
    if let Some(m) = i.dst {
        p[0].hdr.dst_addr = m.value.octets();
        p[1].hdr.dst_addr = m.mask.octets();
    }
    if let Some(m) = i.proto {
        p[0].hdr.proto = m.value;
        p[1].hdr.proto = m.mask;
    }
    if let Some(frag) = i.has_frag_ext {
        p[0].set_has_frag_ext(u32::from(frag));
        p[1].set_has_frag_ext(1);
    }
    p
}

/// TCP and UDP items hold the same two ports at the same names.
macro_rules! lower_ports {
    ($name:ident, $item:ty) => {
        fn $name(l: &L4Item) -> Box<[$item; 2]> {
            let mut p: Box<[$item; 2]> = Box::default();
            if let Some(m) = l.src_port {
                p[0].hdr.src_port = be16(m.value);
                p[1].hdr.src_port = be16(m.mask);
            }
            if let Some(m) = l.dst_port {
                p[0].hdr.dst_port = be16(m.value);
                p[1].hdr.dst_port = be16(m.mask);
            }
            p
        }
    };
}
lower_ports!(lower_tcp, sys::rte_flow_item_tcp);
lower_ports!(lower_udp, sys::rte_flow_item_udp);

impl RawPattern {
    /// Lowers `pattern`, END-terminated.
    pub fn new(pattern: &Pattern) -> RawPattern {
        let mut items = Vec::with_capacity(pattern.items.len() + 1);
        let mut storage = Vec::with_capacity(pattern.items.len());
        for item in &pattern.items {
            let (type_, stored, any) = match item {
                Item::Eth(e) => (
                    sys::RTE_FLOW_ITEM_TYPE_ETH,
                    SpecMask::Eth(lower_eth(e)),
                    *e == EthItem::default(),
                ),
                Item::Vlan(v) => (
                    sys::RTE_FLOW_ITEM_TYPE_VLAN,
                    SpecMask::Vlan(lower_vlan(v)),
                    *v == VlanItem::default(),
                ),
                Item::Ipv4(i) => (
                    sys::RTE_FLOW_ITEM_TYPE_IPV4,
                    SpecMask::Ipv4(lower_ipv4(i)),
                    *i == Ipv4Item::default(),
                ),
                Item::Ipv6(i) => (
                    sys::RTE_FLOW_ITEM_TYPE_IPV6,
                    SpecMask::Ipv6(lower_ipv6(i)),
                    *i == Ipv6Item::default(),
                ),
                Item::Tcp(l) => (
                    sys::RTE_FLOW_ITEM_TYPE_TCP,
                    SpecMask::Tcp(lower_tcp(l)),
                    *l == L4Item::default(),
                ),
                Item::Udp(l) => (
                    sys::RTE_FLOW_ITEM_TYPE_UDP,
                    SpecMask::Udp(lower_udp(l)),
                    *l == L4Item::default(),
                ),
                Item::PortId(id) => (
                    sys::RTE_FLOW_ITEM_TYPE_PORT_ID,
                    SpecMask::PortId(Box::new(sys::rte_flow_item_port_id { id: *id })),
                    false,
                ),
                Item::RepresentedPort(port_id) => (
                    sys::RTE_FLOW_ITEM_TYPE_REPRESENTED_PORT,
                    SpecMask::Ethdev(Box::new(sys::rte_flow_item_ethdev { port_id: *port_id })),
                    false,
                ),
            };
            let (spec, mask) = match &stored {
                SpecMask::Eth(p) => pair_ptrs(p, any),
                SpecMask::Vlan(p) => pair_ptrs(p, any),
                SpecMask::Ipv4(p) => pair_ptrs(p, any),
                SpecMask::Ipv6(p) => pair_ptrs(p, any),
                SpecMask::Tcp(p) => pair_ptrs(p, any),
                SpecMask::Udp(p) => pair_ptrs(p, any),
                // Port items: spec only; the PMD applies its default (full) mask.
                SpecMask::PortId(b) => (&**b as *const _ as *const c_void, std::ptr::null()),
                SpecMask::Ethdev(b) => (&**b as *const _ as *const c_void, std::ptr::null()),
            };
            items.push(sys::rte_flow_item {
                type_,
                spec,
                last: std::ptr::null(),
                mask,
            });
            storage.push(stored);
        }
        items.push(sys::rte_flow_item {
            type_: sys::RTE_FLOW_ITEM_TYPE_END,
            spec: std::ptr::null(),
            last: std::ptr::null(),
            mask: std::ptr::null(),
        });
        RawPattern {
            items,
            _storage: storage,
        }
    }

    /// The END-terminated array.
    pub fn items(&self) -> &[sys::rte_flow_item] {
        &self.items
    }

    pub(crate) fn as_ptr(&self) -> *const sys::rte_flow_item {
        self.items.as_ptr()
    }
}

enum Conf {
    None,
    Queue(Box<sys::rte_flow_action_queue>),
    Ethdev(Box<sys::rte_flow_action_ethdev>),
    PortId(Box<sys::rte_flow_action_port_id>),
    Meter(Box<sys::rte_flow_action_meter>),
    Mark(Box<sys::rte_flow_action_mark>),
    // The queue list is owned here because the RSS conf points into it.
    Rss(
        Box<sys::rte_flow_action_rss>,
        #[allow(dead_code)] Box<[u16]>,
    ),
    Handle(*mut sys::rte_flow_action_handle),
}

/// An action list as DPDK's END-terminated `rte_flow_action` array.
pub struct RawActions {
    actions: Vec<sys::rte_flow_action>,
    _storage: Vec<Conf>,
}

impl std::fmt::Debug for RawActions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawActions")
            .field("actions", &self.actions.len())
            .finish()
    }
}

impl RawActions {
    /// Lowers `actions`, END-terminated.
    pub fn new(actions: &Actions) -> RawActions {
        let mut raw = Vec::with_capacity(actions.actions.len() + 1);
        let mut storage = Vec::with_capacity(actions.actions.len());
        for action in &actions.actions {
            let (type_, conf) = match action {
                Action::Count => (sys::RTE_FLOW_ACTION_TYPE_COUNT, Conf::None),
                Action::IndirectCount(h) => (sys::RTE_FLOW_ACTION_TYPE_INDIRECT, Conf::Handle(h.0)),
                Action::Queue(index) => (
                    sys::RTE_FLOW_ACTION_TYPE_QUEUE,
                    Conf::Queue(Box::new(sys::rte_flow_action_queue { index: *index })),
                ),
                Action::RepresentedPort(port_id) => (
                    sys::RTE_FLOW_ACTION_TYPE_REPRESENTED_PORT,
                    Conf::Ethdev(Box::new(sys::rte_flow_action_ethdev { port_id: *port_id })),
                ),
                Action::PortId(id) => {
                    let c = sys::rte_flow_action_port_id {
                        id: *id,
                        ..Default::default()
                    };
                    (sys::RTE_FLOW_ACTION_TYPE_PORT_ID, Conf::PortId(Box::new(c)))
                }
                Action::Drop => (sys::RTE_FLOW_ACTION_TYPE_DROP, Conf::None),
                Action::Meter(mtr_id) => (
                    sys::RTE_FLOW_ACTION_TYPE_METER,
                    Conf::Meter(Box::new(sys::rte_flow_action_meter { mtr_id: *mtr_id })),
                ),
                Action::Mark(id) => (
                    sys::RTE_FLOW_ACTION_TYPE_MARK,
                    Conf::Mark(Box::new(sys::rte_flow_action_mark { id: *id })),
                ),
                Action::Rss(queues) => {
                    let queues: Box<[u16]> = queues.clone().into_boxed_slice();
                    // Default hash function and key, PMD's default hash types.
                    let c = sys::rte_flow_action_rss {
                        queue_num: queues.len() as u32,
                        queue: queues.as_ptr(),
                        ..Default::default()
                    };
                    (
                        sys::RTE_FLOW_ACTION_TYPE_RSS,
                        Conf::Rss(Box::new(c), queues),
                    )
                }
            };
            let conf_ptr: *const c_void = match &conf {
                Conf::None => std::ptr::null(),
                Conf::Queue(b) => &**b as *const _ as *const c_void,
                Conf::Ethdev(b) => &**b as *const _ as *const c_void,
                Conf::PortId(b) => &**b as *const _ as *const c_void,
                Conf::Meter(b) => &**b as *const _ as *const c_void,
                Conf::Mark(b) => &**b as *const _ as *const c_void,
                Conf::Rss(b, _) => &**b as *const _ as *const c_void,
                // An indirect action's conf is the handle itself.
                Conf::Handle(h) => *h as *const c_void,
            };
            raw.push(sys::rte_flow_action {
                type_,
                conf: conf_ptr,
            });
            storage.push(conf);
        }
        raw.push(sys::rte_flow_action {
            type_: sys::RTE_FLOW_ACTION_TYPE_END,
            conf: std::ptr::null(),
        });
        RawActions {
            actions: raw,
            _storage: storage,
        }
    }

    /// The END-terminated array.
    pub fn actions(&self) -> &[sys::rte_flow_action] {
        &self.actions
    }

    pub(crate) fn as_ptr(&self) -> *const sys::rte_flow_action {
        self.actions.as_ptr()
    }
}

/// Lowers rule attributes.
pub fn lower_attr(attr: &Attr) -> sys::rte_flow_attr {
    let mut a = sys::rte_flow_attr {
        group: attr.group,
        priority: attr.priority,
        ..Default::default()
    };
    a.set_ingress(u32::from(attr.ingress));
    a.set_egress(u32::from(attr.egress));
    a.set_transfer(u32::from(attr.transfer));
    a
}

#[cfg(test)]
#[path = "raw_tests.rs"]
mod tests;
