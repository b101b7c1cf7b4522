//! The static-rule model: what an operator's testpmd `flow` command means
//! (DPDK 22.11's "Flow rules management"), as rte_flow would take it: a rule's
//! port, attributes, pattern items with their spec/mask/last fields, and
//! actions; and the commands that validate, create, list, query, destroy and
//! flush such rules. No syntax here: the shell parses testpmd's words into
//! these types; [`super::static_lower`] lowers a rule to rte_flow and
//! [`super::static_rules`] keeps the rules an operator made.
//!
//! Every field is given explicitly: a field named in a rule has its full mask
//! unless the rule gave one (not rte_flow's per-item default mask), so the NIC
//! sees the rule as written.
//!
//! The `Display` impls write a command back in testpmd's syntax (canonical:
//! every spec and mask spelled out, numbers in decimal), for logs and tests;
//! the shell's parser reads it back to the same value.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use flowlift_dataplane::mac::MacAddr;

/// One `flow` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowCommand {
    /// `flow validate ...`: check a rule, install nothing.
    Validate(FlowRule),
    /// `flow create ...`: install a rule.
    Create(FlowRule),
    /// `flow list PORT`: the port's rules.
    List { port: u16 },
    /// `flow query PORT RULE count`: hits and bytes of the rule's COUNT
    /// action.
    Query { port: u16, rule: u32 },
    /// `flow destroy PORT rule ID [rule ID ...]`, ids in the order given.
    Destroy { port: u16, rules: Vec<u32> },
    /// `flow flush PORT`: destroy all of the port's rules.
    Flush { port: u16 },
}

/// A rule of `flow validate` or `flow create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRule {
    pub port: u16,
    pub attr: Attr,
    /// The items in order, without the closing `end` (rte_flow's END item,
    /// which a caller lowering to rte_flow appends).
    pub pattern: Vec<Item>,
    /// The actions in order, without the closing `end`.
    pub actions: Vec<Action>,
}

/// A rule's attributes, as `struct rte_flow_attr`: what is not given is 0 or
/// false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr {
    pub group: u32,
    pub priority: u32,
    pub ingress: bool,
    pub egress: bool,
    pub transfer: bool,
}

/// One field of a pattern item, as rte_flow takes it: a packet's field `f`
/// matches when `f & mask == spec & mask` or, with `last`, when
/// `spec & mask <= f & mask <= last & mask`. Integers are in host order.
///
/// testpmd's operators fill it in the order typed, a later one overwriting:
/// `is V` sets spec to V and the mask to all ones, `spec V` the spec,
/// `mask V` the mask, `prefix N` the mask to N leading ones, `last V` the
/// range's end. What no operator set is a spec of 0 and a mask of all ones
/// (see the module doc for why not rte_flow's default mask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldMatch<T> {
    pub spec: T,
    pub mask: T,
    pub last: Option<T>,
}

/// A pattern item. A field that is `None` was not given: it matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Eth(EthItem),
    Vlan(VlanItem),
    Ipv4(Ipv4Item),
    Ipv6(Ipv6Item),
    Tcp(TcpItem),
    Udp(PortsItem),
    Sctp(PortsItem),
    Icmp(IcmpItem),
    /// Traffic entering the switch from the port an ethdev represents
    /// (transfer rules).
    RepresentedPort(RepresentedPortItem),
    /// Traffic from a DPDK port (the older form of `represented_port`).
    PortId(PortIdItem),
}

/// `eth dst ... src ... type ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EthItem {
    pub dst: Option<FieldMatch<MacAddr>>,
    pub src: Option<FieldMatch<MacAddr>>,
    /// `type`: the EtherType.
    pub ether_type: Option<FieldMatch<u16>>,
}

/// `vlan tci ... pcp ... vid ... inner_type ...`. testpmd writes `pcp` and
/// `vid` into bits of the one TCI field; they are kept apart here, as typed,
/// and [`VlanItem::tci_match`] lays them over each other for rte_flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VlanItem {
    /// The whole 16-bit TCI.
    pub tci: Option<FieldMatch<u16>>,
    /// Priority code point, 3 bits (the TCI's top bits).
    pub pcp: Option<FieldMatch<u8>>,
    /// VLAN id, 12 bits (the TCI's low bits); its full mask is 0x0fff.
    pub vid: Option<FieldMatch<u16>>,
    /// The EtherType after the tag.
    pub inner_type: Option<FieldMatch<u16>>,
}

/// `ipv4 src ... dst ... proto ... tos ... ttl ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv4Item {
    pub src: Option<FieldMatch<Ipv4Addr>>,
    pub dst: Option<FieldMatch<Ipv4Addr>>,
    pub proto: Option<FieldMatch<u8>>,
    pub tos: Option<FieldMatch<u8>>,
    pub ttl: Option<FieldMatch<u8>>,
}

/// `ipv6 src ... dst ... proto ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv6Item {
    pub src: Option<FieldMatch<Ipv6Addr>>,
    pub dst: Option<FieldMatch<Ipv6Addr>>,
    /// Next header.
    pub proto: Option<FieldMatch<u8>>,
}

/// `tcp src ... dst ... flags ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpItem {
    pub src: Option<FieldMatch<u16>>,
    pub dst: Option<FieldMatch<u16>>,
    pub flags: Option<FieldMatch<u8>>,
}

/// `udp` or `sctp` with `src ... dst ...` ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortsItem {
    pub src: Option<FieldMatch<u16>>,
    pub dst: Option<FieldMatch<u16>>,
}

/// `icmp type ... code ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IcmpItem {
    pub icmp_type: Option<FieldMatch<u8>>,
    pub code: Option<FieldMatch<u8>>,
}

/// `represented_port ethdev_port_id ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepresentedPortItem {
    pub ethdev_port_id: Option<FieldMatch<u16>>,
}

/// `port_id id ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortIdItem {
    pub id: Option<FieldMatch<u32>>,
}

/// An action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `count [identifier N]`: count hits and bytes (read by `flow query`).
    Count { id: Option<u32> },
    /// `queue index N`: to this RX queue.
    Queue { index: u16 },
    /// `drop`
    Drop,
    /// `represented_port ethdev_port_id N`: out of the port an ethdev
    /// represents (transfer rules).
    RepresentedPort { ethdev_port_id: u16 },
    /// `port_id id N`: to a DPDK port (the older form of
    /// `represented_port`).
    PortId { id: u32 },
    /// `meter mtr_id N`: police with this meter.
    Meter { mtr_id: u32 },
    /// `jump group N`: continue in another group.
    Jump { group: u32 },
    /// `mark id N`: tag the packet's mbuf.
    Mark { id: u32 },
}

impl Item {
    /// Its testpmd name (`eth`, `ipv4`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Item::Eth(_) => "eth",
            Item::Vlan(_) => "vlan",
            Item::Ipv4(_) => "ipv4",
            Item::Ipv6(_) => "ipv6",
            Item::Tcp(_) => "tcp",
            Item::Udp(_) => "udp",
            Item::Sctp(_) => "sctp",
            Item::Icmp(_) => "icmp",
            Item::RepresentedPort(_) => "represented_port",
            Item::PortId(_) => "port_id",
        }
    }
}

impl FlowRule {
    /// Its items then its actions by their rte_flow names, as testpmd's
    /// `flow list` shows a rule after the attributes: each item and a space,
    /// `=>`, then a space and each action (`ETH IPV4 UDP => COUNT DROP`).
    /// The flow log's `static_rule` records name a rule so too.
    pub fn summary(&self) -> String {
        let items: String = self
            .pattern
            .iter()
            .map(|i| format!("{} ", i.name().to_uppercase()))
            .collect();
        let actions: String = self
            .actions
            .iter()
            .map(|a| format!(" {}", a.name().to_uppercase()))
            .collect();
        format!("{items}=>{actions}")
    }
}

impl Action {
    /// Its testpmd name (`count`, `queue`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Count { .. } => "count",
            Action::Queue { .. } => "queue",
            Action::Drop => "drop",
            Action::RepresentedPort { .. } => "represented_port",
            Action::PortId { .. } => "port_id",
            Action::Meter { .. } => "meter",
            Action::Jump { .. } => "jump",
            Action::Mark { .. } => "mark",
        }
    }
}

// The canonical text of a command: every attribute that is not rte_flow's
// default, every field with its spec and mask written out (and its last, if
// any), numbers in decimal. It parses back to the same command, which the
// fuzz target checks, and reads as testpmd's syntax for logs and tests.

impl fmt::Display for FlowCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowCommand::Validate(r) => write!(f, "flow validate {r}"),
            FlowCommand::Create(r) => write!(f, "flow create {r}"),
            FlowCommand::List { port } => write!(f, "flow list {port}"),
            FlowCommand::Query { port, rule } => write!(f, "flow query {port} {rule} count"),
            FlowCommand::Destroy { port, rules } => {
                write!(f, "flow destroy {port}")?;
                for r in rules {
                    write!(f, " rule {r}")?;
                }
                Ok(())
            }
            FlowCommand::Flush { port } => write!(f, "flow flush {port}"),
        }
    }
}

/// The rule after `flow create`: `PORT ATTR... pattern ... / end actions
/// ... / end`.
impl fmt::Display for FlowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.attr;
        write!(f, "{}", self.port)?;
        for (on, name) in [
            (a.ingress, "ingress"),
            (a.egress, "egress"),
            (a.transfer, "transfer"),
        ] {
            if on {
                write!(f, " {name}")?;
            }
        }
        if a.group != 0 {
            write!(f, " group {}", a.group)?;
        }
        if a.priority != 0 {
            write!(f, " priority {}", a.priority)?;
        }
        f.write_str(" pattern")?;
        for item in &self.pattern {
            write!(f, " {item} /")?;
        }
        f.write_str(" end actions")?;
        for action in &self.actions {
            write!(f, " {action} /")?;
        }
        f.write_str(" end")
    }
}

/// ` NAME spec V NAME mask M [NAME last L]`, nothing for a field not given.
fn write_field<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    m: &Option<FieldMatch<T>>,
) -> fmt::Result {
    let Some(m) = m else { return Ok(()) };
    write!(f, " {name} spec {} {name} mask {}", m.spec, m.mask)?;
    if let Some(last) = &m.last {
        write!(f, " {name} last {last}")?;
    }
    Ok(())
}

/// An item without its `/`: `ipv4 src spec 10.0.0.1 src mask 255.255.255.255`.
impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Item::Eth(e) => {
                write_field(f, "dst", &e.dst)?;
                write_field(f, "src", &e.src)?;
                write_field(f, "type", &e.ether_type)
            }
            Item::Vlan(v) => {
                write_field(f, "tci", &v.tci)?;
                write_field(f, "pcp", &v.pcp)?;
                write_field(f, "vid", &v.vid)?;
                write_field(f, "inner_type", &v.inner_type)
            }
            Item::Ipv4(ip) => {
                write_field(f, "src", &ip.src)?;
                write_field(f, "dst", &ip.dst)?;
                write_field(f, "proto", &ip.proto)?;
                write_field(f, "tos", &ip.tos)?;
                write_field(f, "ttl", &ip.ttl)
            }
            Item::Ipv6(ip) => {
                write_field(f, "src", &ip.src)?;
                write_field(f, "dst", &ip.dst)?;
                write_field(f, "proto", &ip.proto)
            }
            Item::Tcp(t) => {
                write_field(f, "src", &t.src)?;
                write_field(f, "dst", &t.dst)?;
                write_field(f, "flags", &t.flags)
            }
            Item::Udp(p) | Item::Sctp(p) => {
                write_field(f, "src", &p.src)?;
                write_field(f, "dst", &p.dst)
            }
            Item::Icmp(i) => {
                write_field(f, "type", &i.icmp_type)?;
                write_field(f, "code", &i.code)
            }
            Item::RepresentedPort(p) => write_field(f, "ethdev_port_id", &p.ethdev_port_id),
            Item::PortId(p) => write_field(f, "id", &p.id),
        }
    }
}

/// An action without its `/`: `queue index 3`.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match *self {
            Action::Count { id: None } | Action::Drop => Ok(()),
            Action::Count { id: Some(id) } => write!(f, " identifier {id}"),
            Action::Queue { index } => write!(f, " index {index}"),
            Action::RepresentedPort { ethdev_port_id } => {
                write!(f, " ethdev_port_id {ethdev_port_id}")
            }
            Action::PortId { id } | Action::Mark { id } => write!(f, " id {id}"),
            Action::Meter { mtr_id } => write!(f, " mtr_id {mtr_id}"),
            Action::Jump { group } => write!(f, " group {group}"),
        }
    }
}

/// The bits of the TCI that `pcp` and `vid` stand for.
const PCP_BITS: u16 = 0xe000;
const VID_BITS: u16 = 0x0fff;

impl VlanItem {
    /// The match on the whole TCI that rte_flow's VLAN item takes: `tci`,
    /// with the `pcp` and then the `vid` bits laid over it (bits none of them
    /// set are not compared). `None` if none of the three was given.
    pub fn tci_match(&self) -> Option<FieldMatch<u16>> {
        if self.tci.is_none() && self.pcp.is_none() && self.vid.is_none() {
            return None;
        }
        let mut m = self.tci.unwrap_or(FieldMatch {
            spec: 0,
            mask: 0,
            last: None,
        });
        if let Some(p) = self.pcp {
            let widen = FieldMatch {
                spec: u16::from(p.spec),
                mask: u16::from(p.mask),
                last: p.last.map(u16::from),
            };
            overlay(&mut m, widen, 13, PCP_BITS);
        }
        if let Some(v) = self.vid {
            overlay(&mut m, v, 0, VID_BITS);
        }
        Some(m)
    }
}

/// Writes `sub`, shifted left by `shift`, into the `bits` of `m`. A range on
/// either side makes a range on the whole: the other side's bits then stay
/// as in its spec.
fn overlay(m: &mut FieldMatch<u16>, sub: FieldMatch<u16>, shift: u32, bits: u16) {
    let put = |base: u16, v: u16| (base & !bits) | (v.wrapping_shl(shift) & bits);
    if m.last.is_some() || sub.last.is_some() {
        m.last = Some(put(m.last.unwrap_or(m.spec), sub.last.unwrap_or(sub.spec)));
    }
    m.spec = put(m.spec, sub.spec);
    m.mask = put(m.mask, sub.mask);
}
