//! An operator's static rule (the [`super::flow_rule`] model, which the shell
//! parses from testpmd's `flow create` syntax) lowered to rte_flow's items and actions
//! ([`to_rte_flow`]), which the NIC then judges. What flowlift does not pass
//! to rte_flow is refused here in rte_flow's own terms (error type, message,
//! errno), so `flow validate` answers the way testpmd would.

use rte::flow::{self as rf, error_type as et, FlowError};

use super::flow_rule::{Action, FieldMatch, FlowRule, Item};

// A rule a target cannot do gets `ENOTSUP`; one that names what does not
// exist (a port, a queue) `EINVAL`, as PMDs answer.
use rte::errno::{EINVAL, ENOTSUP};

fn unsupported(error_type: u32, message: impl Into<String>) -> FlowError {
    FlowError::new(error_type, message, ENOTSUP)
}

fn invalid(error_type: u32, message: impl Into<String>) -> FlowError {
    FlowError::new(error_type, message, EINVAL)
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
                    fragment_offset: None,
                })
            }
            Item::Ipv6(ip) => rf::Item::Ipv6(rf::Ipv6Item {
                src: exact(ip.src, "ipv6", "src")?,
                dst: exact(ip.dst, "ipv6", "dst")?,
                proto: exact(ip.proto, "ipv6", "proto")?,
                has_frag_ext: None,
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
