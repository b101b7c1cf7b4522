//! An operator's static rule (testpmd's `flow create` syntax, parsed by
//! `shell::testpmd_flow`) lowered for a backend: to the emulated NIC's
//! wildcard match ([`to_wildcard`]), or to rte_flow's items and actions
//! ([`to_rte_flow`]). What a target cannot express is refused in rte_flow's
//! own terms (error type, message, errno), so `flow validate` answers the
//! same way whichever backend runs, and the way testpmd would.

use flowlift_dataplane::eswitch::{
    IpFamily, IpMatch, Masked, PortMatch, WildAction, WildMatch, WildRule,
};
use flowlift_dataplane::PortIdx;
use rte::flow::{self as rf, error_type as et, FlowError};

use crate::shell::testpmd_flow::{Action, FieldMatch, FlowRule, Item, VlanItem};

// A rule a target cannot do gets `ENOTSUP`; one that names what does not
// exist (a port, a queue) `EINVAL`, as PMDs answer.
use rte::errno::{EINVAL, ENOTSUP};

fn unsupported(error_type: u32, message: impl Into<String>) -> FlowError {
    FlowError::new(error_type, message, ENOTSUP)
}

fn invalid(error_type: u32, message: impl Into<String>) -> FlowError {
    FlowError::new(error_type, message, EINVAL)
}

/// The emulated switch's ports and queues, in the DPDK port ids the shell
/// names them by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchLayout {
    /// DPDK port id of each appliance port, by `PortIdx` (0: the uplink, the
    /// one port whose traffic enters the switch).
    pub port_ids: Vec<u16>,
    /// Host RX queues: one per worker, as the switch hands misses over.
    pub queues: u16,
}

impl SwitchLayout {
    fn uplink(&self) -> u16 {
        self.port_ids.first().copied().unwrap_or(0)
    }

    fn index_of(&self, port_id: u32) -> Option<PortIdx> {
        self.port_ids
            .iter()
            .position(|&p| u32::from(p) == port_id)
            .map(|i| PortIdx(i as u16))
    }
}

/// A rule for the emulated NIC's wildcard table, and whether it counts
/// (the caller picks its counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WildLowered {
    pub wild: WildRule,
    pub count: bool,
}

/// Field values with a zero, which as `last` means "no range" in rte_flow.
trait Zero: Copy + PartialEq {
    fn is_zero(&self) -> bool;
}

macro_rules! zero_is_default {
    ($($t:ty),*) => {$(
        impl Zero for $t {
            fn is_zero(&self) -> bool {
                *self == <$t>::default()
            }
        }
    )*};
}
zero_is_default!(u8, u16, u32, [u8; 6]);

impl Zero for std::net::Ipv4Addr {
    fn is_zero(&self) -> bool {
        self.is_unspecified()
    }
}

impl Zero for std::net::Ipv6Addr {
    fn is_zero(&self) -> bool {
        self.is_unspecified()
    }
}

/// A field's value without a range: `last` absent, 0 or equal to `spec`, as
/// rte_flow reads it. Fields that take no range refuse one.
fn no_range<T: Zero>(
    f: FieldMatch<T>,
    item: &str,
    field: &str,
) -> Result<FieldMatch<T>, FlowError> {
    match f.last {
        Some(l) if l != f.spec && !l.is_zero() => Err(unsupported(
            et::ITEM_LAST,
            format!("{item} {field}: ranges (last) are not supported on this field"),
        )),
        _ => Ok(f),
    }
}

/// What an EtherType match selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EtherTypeMatch {
    /// Any frame (no type given, or a zero mask).
    Any,
    /// An IP family.
    Ip(IpFamily),
    /// 802.1Q's TPID: a tagged frame (rte_flow's `eth type` is the outer
    /// EtherType, which in a tagged frame is the tag's TPID).
    Tagged,
}

/// 802.1Q's tag protocol id.
const TPID_8021Q: u16 = 0x8100;

/// An EtherType match as what it selects. `tpid` says whether a tag's TPID
/// may stand there (the outer `eth type`; not `vlan inner_type`, as the flow
/// key holds one tag).
fn ether_type_match(
    f: Option<FieldMatch<u16>>,
    item: &str,
    field: &str,
    tpid: bool,
) -> Result<EtherTypeMatch, FlowError> {
    let Some(f) = f else {
        return Ok(EtherTypeMatch::Any);
    };
    let f = no_range(f, item, field)?;
    match (f.spec & f.mask, f.mask) {
        (_, 0) => Ok(EtherTypeMatch::Any),
        (0x0800, 0xffff) => Ok(EtherTypeMatch::Ip(IpFamily::V4)),
        (0x86dd, 0xffff) => Ok(EtherTypeMatch::Ip(IpFamily::V6)),
        (TPID_8021Q, 0xffff) if tpid => Ok(EtherTypeMatch::Tagged),
        _ => Err(unsupported(
            et::ITEM_SPEC,
            format!(
                "{item} {field}: the emulated NIC matches IPv4 (0x0800){} or IPv6 (0x86dd) only",
                if tpid { ", 802.1Q (0x8100)" } else { "" }
            ),
        )),
    }
}

/// What the pattern so far says, item by item.
#[derive(Debug, Default)]
struct PatternState {
    m: WildMatch,
    seen_eth: bool,
    seen_vlan: bool,
    seen_l3: bool,
    seen_l4: bool,
}

impl PatternState {
    fn family(&mut self, f: Option<IpFamily>, item: &str) -> Result<(), FlowError> {
        match (self.m.family, f) {
            (_, None) => Ok(()),
            (Some(a), Some(b)) if a != b => Err(unsupported(
                et::ITEM,
                format!("{item}: contradicts the IP version matched before it"),
            )),
            _ => {
                self.m.family = f;
                Ok(())
            }
        }
    }

    /// The IP protocol an L4 item implies, or an `ipv4|ipv6 proto` gives.
    fn proto(&mut self, p: Masked<u8>, item: &str) -> Result<(), FlowError> {
        if let Some(q) = self.m.proto {
            let both = p.mask & q.mask;
            if (p.spec ^ q.spec) & both != 0 {
                return Err(unsupported(
                    et::ITEM,
                    format!("{item}: contradicts the IP protocol matched before it"),
                ));
            }
            if q.mask == u8::MAX {
                return Ok(());
            }
        }
        self.m.proto = Some(p);
        Ok(())
    }

    fn layer(seen: &mut bool, item: &str, what: &str) -> Result<(), FlowError> {
        if std::mem::replace(seen, true) {
            return Err(unsupported(
                et::ITEM,
                format!("{item}: a second {what} item (tunnels are not supported)"),
            ));
        }
        Ok(())
    }
}

fn ip_match<A: Zero + Into<std::net::IpAddr>>(
    f: Option<FieldMatch<A>>,
    item: &str,
    field: &str,
) -> Result<Option<IpMatch>, FlowError> {
    let Some(f) = f else { return Ok(None) };
    let f = no_range(f, item, field)?;
    // Same family by construction, so `new` cannot refuse.
    Ok(IpMatch::new(f.spec.into(), f.mask.into()))
}

fn port_match(
    f: Option<FieldMatch<u16>>,
    item: &str,
    field: &str,
) -> Result<Option<PortMatch>, FlowError> {
    let Some(f) = f else { return Ok(None) };
    PortMatch::new(f.spec, f.mask, f.last)
        .map(Some)
        .ok_or_else(|| invalid(et::ITEM_LAST, format!("{item} {field}: last is below spec")))
}

fn refuse_field<T>(f: &Option<FieldMatch<T>>, item: &str, field: &str) -> Result<(), FlowError> {
    match f {
        Some(_) => Err(unsupported(
            et::ITEM_MASK,
            format!("{item} {field}: the emulated NIC does not match on this field"),
        )),
        None => Ok(()),
    }
}

/// A VLAN item as a match on the VID (the flow key has no PCP or DEI).
fn vid_match(v: &VlanItem) -> Result<Masked<u16>, FlowError> {
    let Some(t) = v.tci_match() else {
        // A bare `vlan` item: any tagged packet.
        return Ok(Masked { spec: 0, mask: 0 });
    };
    let t = no_range(t, "vlan", "tci")?;
    if t.mask & !0x0fff != 0 {
        return Err(unsupported(
            et::ITEM_MASK,
            "vlan: only the VID bits (mask 0x0fff) can be matched: the flow key has no PCP or DEI",
        ));
    }
    Ok(Masked {
        spec: t.spec & t.mask,
        mask: t.mask,
    })
}

/// The port an `in_port` item names, which must be the uplink.
fn in_port(id: Option<FieldMatch<u32>>, layout: &SwitchLayout) -> Result<Option<u8>, FlowError> {
    let Some(f) = id else { return Ok(None) };
    if f.mask != u32::MAX || f.last.is_some_and(|l| l != f.spec && l != 0) {
        return Err(unsupported(
            et::ITEM_MASK,
            "a port item matches one port, with the full mask",
        ));
    }
    match layout.index_of(f.spec) {
        Some(PortIdx(0)) => Ok(Some(0)),
        Some(_) => Err(unsupported(
            et::ITEM_SPEC,
            format!(
                "only traffic from port {} (the uplink) enters the emulated switch",
                layout.uplink()
            ),
        )),
        None => Err(invalid(et::ITEM_SPEC, format!("no port {}", f.spec))),
    }
}

fn lower_item(s: &mut PatternState, item: &Item, layout: &SwitchLayout) -> Result<(), FlowError> {
    match item {
        Item::Eth(e) => {
            PatternState::layer(&mut s.seen_eth, "eth", "eth")?;
            for (f, name) in [(&e.dst, "dst"), (&e.src, "src")] {
                if f.is_some_and(|f| f.mask.0 != [0; 6]) {
                    return Err(unsupported(
                        et::ITEM_MASK,
                        format!("eth {name}: the emulated NIC classifies on the flow key, which has no MAC addresses"),
                    ));
                }
            }
            match ether_type_match(e.ether_type, "eth", "type", true)? {
                EtherTypeMatch::Any => Ok(()),
                EtherTypeMatch::Ip(fam) => s.family(Some(fam), "eth"),
                // Any tag, as a bare `vlan` item; a `vlan` item after it
                // narrows it to its VID. The flow key keeps no TPID, so an
                // 802.1ad outer tag matches too, as it does a `vlan` item.
                EtherTypeMatch::Tagged => {
                    s.m.vlan = Some(Masked { spec: 0, mask: 0 });
                    Ok(())
                }
            }
        }
        Item::Vlan(v) => {
            PatternState::layer(&mut s.seen_vlan, "vlan", "vlan")?;
            s.m.vlan = Some(vid_match(v)?);
            match ether_type_match(v.inner_type, "vlan", "inner_type", false)? {
                EtherTypeMatch::Ip(fam) => s.family(Some(fam), "vlan"),
                _ => Ok(()),
            }
        }
        Item::Ipv4(ip) => {
            PatternState::layer(&mut s.seen_l3, "ipv4", "ipv4/ipv6")?;
            refuse_field(&ip.tos, "ipv4", "tos")?;
            refuse_field(&ip.ttl, "ipv4", "ttl")?;
            s.family(Some(IpFamily::V4), "ipv4")?;
            s.m.src = ip_match(ip.src, "ipv4", "src")?;
            s.m.dst = ip_match(ip.dst, "ipv4", "dst")?;
            if let Some(p) = ip.proto {
                let p = no_range(p, "ipv4", "proto")?;
                s.proto(
                    Masked {
                        spec: p.spec,
                        mask: p.mask,
                    },
                    "ipv4",
                )?;
            }
            Ok(())
        }
        Item::Ipv6(ip) => {
            PatternState::layer(&mut s.seen_l3, "ipv6", "ipv4/ipv6")?;
            s.family(Some(IpFamily::V6), "ipv6")?;
            s.m.src = ip_match(ip.src, "ipv6", "src")?;
            s.m.dst = ip_match(ip.dst, "ipv6", "dst")?;
            if let Some(p) = ip.proto {
                let p = no_range(p, "ipv6", "proto")?;
                s.proto(
                    Masked {
                        spec: p.spec,
                        mask: p.mask,
                    },
                    "ipv6",
                )?;
            }
            Ok(())
        }
        Item::Tcp(t) => {
            refuse_field(&t.flags, "tcp", "flags")?;
            l4(s, "tcp", 6, t.src, t.dst)
        }
        Item::Udp(u) => l4(s, "udp", 17, u.src, u.dst),
        Item::Sctp(u) => l4(s, "sctp", 132, u.src, u.dst),
        Item::Icmp(i) => {
            if s.m.family == Some(IpFamily::V6) {
                return Err(unsupported(
                    et::ITEM,
                    "icmp after ipv6: the icmp item is ICMPv4",
                ));
            }
            refuse_field(&i.icmp_type, "icmp", "type")?;
            refuse_field(&i.code, "icmp", "code")?;
            l4(s, "icmp", 1, None, None)
        }
        Item::RepresentedPort(p) => {
            let id = p.ethdev_port_id.map(|f| FieldMatch {
                spec: u32::from(f.spec),
                mask: if f.mask == u16::MAX {
                    u32::MAX
                } else {
                    u32::from(f.mask)
                },
                last: f.last.map(u32::from),
            });
            s.m.in_port = in_port(id, layout)?;
            Ok(())
        }
        Item::PortId(p) => {
            s.m.in_port = in_port(p.id, layout)?;
            Ok(())
        }
    }
}

fn l4(
    s: &mut PatternState,
    item: &str,
    proto: u8,
    src: Option<FieldMatch<u16>>,
    dst: Option<FieldMatch<u16>>,
) -> Result<(), FlowError> {
    PatternState::layer(&mut s.seen_l4, item, "L4")?;
    s.proto(Masked::is(proto), item)?;
    s.m.sport = port_match(src, item, "src")?;
    s.m.dport = port_match(dst, item, "dst")?;
    Ok(())
}

/// Where an item sits in a packet's header stack, outermost 0. Port items
/// say where the packet came from, not which header it has: they may stand
/// anywhere.
fn stack_layer(item: &Item) -> Option<u8> {
    match item {
        Item::Eth(_) => Some(0),
        Item::Vlan(_) => Some(1),
        Item::Ipv4(_) | Item::Ipv6(_) => Some(2),
        Item::Tcp(_) | Item::Udp(_) | Item::Sctp(_) | Item::Icmp(_) => Some(3),
        Item::RepresentedPort(_) | Item::PortId(_) => None,
    }
}

/// Checks that the header items follow the stack's order (eth, vlan, ipv4 or
/// ipv6, then tcp, udp, sctp or icmp): rte_flow reads a pattern outermost
/// first, so `ipv4 / eth` describes no packet. Refused on the item with
/// `EINVAL`, as mlx5 refuses an L2 item after L3; layers may be left out
/// (`ipv4 / udp` is fine).
fn check_order(rule: &FlowRule) -> Result<(), FlowError> {
    let mut outer: Option<(u8, &Item)> = None;
    for item in &rule.pattern {
        let Some(layer) = stack_layer(item) else {
            continue;
        };
        if let Some((_, before)) = outer.filter(|(b, _)| layer < *b) {
            return Err(invalid(
                et::ITEM,
                format!(
                    "{} cannot come after {}: items go outermost first (eth, vlan, ipv4 or ipv6, then tcp, udp, sctp or icmp)",
                    item.name(),
                    before.name()
                ),
            ));
        }
        outer = Some((layer, item));
    }
    Ok(())
}

/// Checks the attributes every target shares: one direction into the switch
/// and group 0.
fn check_attr(rule: &FlowRule) -> Result<(), FlowError> {
    let a = &rule.attr;
    if a.egress {
        return Err(unsupported(
            et::ATTR_EGRESS,
            "egress rules are not supported",
        ));
    }
    if !a.ingress && !a.transfer {
        return Err(invalid(et::ATTR, "ingress or transfer is needed"));
    }
    Ok(())
}

/// Lowers `rule` for the emulated NIC's wildcard table.
pub fn to_wildcard(rule: &FlowRule, layout: &SwitchLayout) -> Result<WildLowered, FlowError> {
    if rule.port != layout.uplink() {
        return Err(unsupported(
            et::UNSPECIFIED,
            format!(
                "the emulated NIC takes rules on port {} (the uplink) only: traffic enters its switch there",
                layout.uplink()
            ),
        ));
    }
    check_attr(rule)?;
    check_order(rule)?;
    if rule.attr.group != 0 {
        return Err(unsupported(
            et::ATTR_GROUP,
            "only group 0: the emulated NIC has one wildcard table",
        ));
    }
    let mut s = PatternState::default();
    for item in &rule.pattern {
        lower_item(&mut s, item, layout)?;
    }
    let mut count = false;
    let mut fate: Option<WildAction> = None;
    for action in &rule.actions {
        let this = match *action {
            Action::Count { .. } => {
                if std::mem::replace(&mut count, true) {
                    return Err(unsupported(et::ACTION, "count: given twice"));
                }
                continue;
            }
            Action::Drop => WildAction::Drop,
            Action::Queue { index } => {
                if index >= layout.queues {
                    return Err(invalid(
                        et::ACTION_CONF,
                        format!(
                            "queue index {index} out of range ({} queue{})",
                            layout.queues,
                            if layout.queues == 1 { "" } else { "s" }
                        ),
                    ));
                }
                WildAction::Queue(index)
            }
            Action::RepresentedPort { ethdev_port_id } => {
                WildAction::Forward(out_port(u32::from(ethdev_port_id), layout)?)
            }
            Action::PortId { id } => WildAction::Forward(out_port(id, layout)?),
            Action::Meter { .. } => {
                return Err(unsupported(
                    et::ACTION,
                    "meter: the emulated NIC polices per VF (rate_limit_pps in the config), it has no rte_mtr objects",
                ))
            }
            Action::Jump { .. } => {
                return Err(unsupported(
                    et::ACTION,
                    "jump: the emulated NIC has one group",
                ))
            }
            Action::Mark { .. } => {
                return Err(unsupported(
                    et::ACTION,
                    "mark: the emulated NIC sets no mbuf marks",
                ))
            }
        };
        if fate.replace(this).is_some() {
            return Err(unsupported(
                et::ACTION,
                "one fate action only (drop, queue, represented_port or port_id)",
            ));
        }
    }
    let action = fate.ok_or_else(|| {
        invalid(
            et::ACTION_NUM,
            "a fate action is needed (drop, queue, represented_port or port_id)",
        )
    })?;
    Ok(WildLowered {
        wild: WildRule {
            priority: rule.attr.priority,
            matches: s.m,
            action,
            counter: None,
            metered: false,
        },
        count,
    })
}

/// The VF a forwarding action names.
fn out_port(id: u32, layout: &SwitchLayout) -> Result<PortIdx, FlowError> {
    match layout.index_of(id) {
        Some(PortIdx(0)) => Err(unsupported(
            et::ACTION_CONF,
            format!(
                "port {id} is the uplink: the emulated switch does not send traffic back out of it"
            ),
        )),
        Some(p) => Ok(p),
        None => Err(invalid(et::ACTION_CONF, format!("no port {id}"))),
    }
}

/// rte_flow's form of a rule: what `rte_flow_validate` and `rte_flow_create`
/// take.
pub type RteRule = (rf::Attr, rf::Pattern, rf::Actions);

fn exact<T: Zero>(
    f: Option<FieldMatch<T>>,
    item: &str,
    field: &str,
) -> Result<Option<rf::Masked<T>>, FlowError> {
    let Some(f) = f else { return Ok(None) };
    let f = no_range(f, item, field)?;
    Ok(Some(rf::Masked {
        value: f.spec,
        mask: f.mask,
    }))
}

fn rte_refuse<T>(f: &Option<FieldMatch<T>>, item: &str, field: &str) -> Result<(), FlowError> {
    match f {
        Some(_) => Err(unsupported(
            et::ITEM_MASK,
            format!("{item} {field}: not passed to rte_flow by flowlift"),
        )),
        None => Ok(()),
    }
}

/// Lowers `rule` to rte_flow's attributes, items and actions. Ranges
/// (`last`) are refused: flowlift's rte_flow items carry spec and mask only.
pub fn to_rte_flow(rule: &FlowRule) -> Result<RteRule, FlowError> {
    check_attr(rule)?;
    check_order(rule)?;
    let a = rule.attr;
    let attr = rf::Attr {
        group: a.group,
        priority: a.priority,
        ingress: a.ingress,
        egress: a.egress,
        transfer: a.transfer,
    };
    let mut pattern = rf::Pattern::new();
    for item in &rule.pattern {
        let lowered = match item {
            Item::Eth(e) => {
                let mac = |f: Option<FieldMatch<flowlift_dataplane::mac::MacAddr>>| {
                    f.map(|f| FieldMatch {
                        spec: f.spec.0,
                        mask: f.mask.0,
                        last: f.last.map(|l| l.0),
                    })
                };
                rf::Item::Eth(rf::EthItem {
                    dst: exact(mac(e.dst), "eth", "dst")?,
                    src: exact(mac(e.src), "eth", "src")?,
                    ether_type: exact(e.ether_type, "eth", "type")?,
                })
            }
            Item::Vlan(v) => rf::Item::Vlan(rf::VlanItem {
                tci: exact(v.tci_match(), "vlan", "tci")?,
                inner_type: exact(v.inner_type, "vlan", "inner_type")?,
            }),
            Item::Ipv4(ip) => {
                rte_refuse(&ip.ttl, "ipv4", "ttl")?;
                rf::Item::Ipv4(rf::Ipv4Item {
                    src: exact(ip.src, "ipv4", "src")?,
                    dst: exact(ip.dst, "ipv4", "dst")?,
                    proto: exact(ip.proto, "ipv4", "proto")?,
                    tos: exact(ip.tos, "ipv4", "tos")?,
                })
            }
            Item::Ipv6(ip) => rf::Item::Ipv6(rf::Ipv6Item {
                src: exact(ip.src, "ipv6", "src")?,
                dst: exact(ip.dst, "ipv6", "dst")?,
                proto: exact(ip.proto, "ipv6", "proto")?,
            }),
            Item::Tcp(t) => {
                rte_refuse(&t.flags, "tcp", "flags")?;
                rf::Item::Tcp(rf::L4Item {
                    src_port: exact(t.src, "tcp", "src")?,
                    dst_port: exact(t.dst, "tcp", "dst")?,
                })
            }
            Item::Udp(u) => rf::Item::Udp(rf::L4Item {
                src_port: exact(u.src, "udp", "src")?,
                dst_port: exact(u.dst, "udp", "dst")?,
            }),
            Item::Sctp(_) | Item::Icmp(_) => {
                return Err(unsupported(
                    et::ITEM,
                    format!("{}: not passed to rte_flow by flowlift", item.name()),
                ))
            }
            Item::RepresentedPort(p) => {
                rf::Item::RepresentedPort(whole_port(p.ethdev_port_id, item.name())?)
            }
            Item::PortId(p) => rf::Item::PortId(whole_port(p.id, item.name())?),
        };
        pattern = pattern.item(lowered);
    }
    let mut actions = rf::Actions::new();
    for action in &rule.actions {
        let lowered = match *action {
            Action::Count { .. } => rf::Action::Count,
            Action::Queue { index } => rf::Action::Queue(index),
            Action::Drop => rf::Action::Drop,
            Action::RepresentedPort { ethdev_port_id } => {
                rf::Action::RepresentedPort(ethdev_port_id)
            }
            Action::PortId { id } => rf::Action::PortId(id),
            Action::Meter { mtr_id } => rf::Action::Meter(mtr_id),
            Action::Mark { id } => rf::Action::Mark(id),
            Action::Jump { .. } => {
                return Err(unsupported(
                    et::ACTION,
                    "jump: not passed to rte_flow by flowlift",
                ))
            }
        };
        actions = actions.then(lowered);
    }
    Ok((attr, pattern, actions))
}

/// A port item's id, which must be matched whole.
fn whole_port<T: Copy + PartialEq + num_full::Full>(
    f: Option<FieldMatch<T>>,
    item: &str,
) -> Result<T, FlowError> {
    match f {
        Some(f) if f.last.is_none() && f.mask == T::FULL => Ok(f.spec),
        _ => Err(unsupported(
            et::ITEM_SPEC,
            format!("{item}: give the port id, with the full mask"),
        )),
    }
}

mod num_full {
    /// Integers with an all-ones value.
    pub trait Full {
        const FULL: Self;
    }
    impl Full for u16 {
        const FULL: Self = u16::MAX;
    }
    impl Full for u32 {
        const FULL: Self = u32::MAX;
    }
}

#[cfg(test)]
#[path = "static_lower_tests.rs"]
mod tests;
