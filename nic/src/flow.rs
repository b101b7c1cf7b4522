//! Flow rules as rte_flow describes them (attributes, pattern items with
//! spec/last/mask, actions), checked and compiled into the embedded switch's
//! rule form ([`crate::wildcard::WildRule`]), with refusals as mlx5 gives
//! them: the same error kind (which attribute, item or action) and errno.
//!
//! The PMD reads the C structures into these types (it resolves ethdev port
//! ids into [`PortRef`]s and notes mask bits on fields the model does not
//! match); everything else, what is matched and what is refused, is here.
//!
//! Modelled: group 0; attributes ingress (on the PF) and transfer (on any
//! port of the switch); items ETH (type and `has_vlan`; no MAC matching
//! yet), VLAN (VID), IPV4 and IPV6 (addresses under masks, protocol, and
//! whether the frame is a fragment: IPv4's `fragment_offset` and IPv6's
//! `has_frag_ext` as mlx5 takes them), TCP, UDP and SCTP (ports under masks
//! and ranges), ICMP (no type/code), REPRESENTED_PORT and PORT_ID (the
//! source, transfer only); actions COUNT, INDIRECT (an indirect COUNT),
//! METER, DROP, QUEUE (ingress), REPRESENTED_PORT and PORT_ID (transfer).
//! Open vSwitch's offloads (`netdev-offload-dpdk.c`: `eth type is T has_vlan
//! is 0 / ipv4 ... fragment_offset is 0 / udp ...`) are such rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wildcard::{IpFamily, IpMatch, Masked, PortMatch, WildMatch};

/// Highest rule priority accepted (lower values first, as in rte_flow).
pub const MAX_PRIORITY: u32 = 15;

/// IPv4 `fragment_offset`: MF and the offset, what makes a fragment.
const IPV4_FRAGMENT: u16 = 0x3fff;

/// IP protocol numbers the L4 items imply.
const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
const ICMP: u8 = 1;

/// A port of the switch, as a rule names it (an ethdev port id, resolved by
/// the PMD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRef {
    /// The PF: the uplink, whose far side is the wire.
    Uplink,
    /// The representor of this VF (its far side is the VF itself).
    Vf(u16),
    /// An ethdev port that is not on this switch.
    Foreign(u32),
}

/// A rule's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr {
    pub group: u32,
    pub priority: u32,
    pub ingress: bool,
    pub egress: bool,
    pub transfer: bool,
}

/// One pattern item's spec, last and mask, each optional as in rte_flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parts<T> {
    pub spec: Option<T>,
    pub last: Option<T>,
    pub mask: Option<T>,
    /// Whether the given mask covers bits of header fields the model does
    /// not match (IPv4's TTL, TCP's flags, ...): such an item is refused.
    pub mask_beyond: bool,
}

/// ETH fields (host byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Eth {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ether_type: u16,
    /// rte_flow's `has_vlan` bit: under a mask of 1, a tag is (1) or is not
    /// (0) there.
    pub has_vlan: bool,
}

/// VLAN fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vlan {
    pub tci: u16,
    pub inner_type: u16,
}

/// IPv4 fields matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    /// `fragment_offset`: the flags (DF 0x4000, MF 0x2000) and the offset
    /// (0x1fff), host byte order.
    pub frag: u16,
}

/// IPv6 fields matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub proto: u8,
    /// rte_flow's `has_frag_ext` bit: under a mask of 1, the frame is (1) or
    /// is not (0) a fragment.
    pub has_frag_ext: bool,
}

/// L4 ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ports {
    pub src: u16,
    pub dst: u16,
}

/// ICMP fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Icmp {
    pub icmp_type: u8,
    pub code: u8,
}

/// A pattern item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Void,
    Eth(Parts<Eth>),
    Vlan(Parts<Vlan>),
    Ipv4(Parts<Ipv4>),
    Ipv6(Parts<Ipv6>),
    Tcp(Parts<Ports>),
    Udp(Parts<Ports>),
    Sctp(Parts<Ports>),
    Icmp(Parts<Icmp>),
    /// REPRESENTED_PORT or PORT_ID as a match item: where the packet entered
    /// the switch (`None`: an item without spec, which matches any port).
    Port(Option<PortRef>),
    /// Any other item type (its rte_flow type number).
    Other(i64),
}

/// An action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Void,
    /// PASSTHRU: no effect on its own (a meter policy's "pass").
    Passthru,
    Count,
    /// INDIRECT: an indirect action by its handle (the model's handles are
    /// indirect COUNTs); 0 for a null handle.
    Indirect(u64),
    /// METER, naming a meter object (`None`: no configuration given).
    Meter(Option<u32>),
    Drop,
    Queue(u16),
    /// REPRESENTED_PORT or PORT_ID: to the entity behind that port (the wire
    /// for the PF, the VF for a representor).
    Port(PortRef),
    /// Any other action type (its rte_flow type number).
    Other(i64),
}

/// The errno of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// ENOTSUP: the model (as the NIC) cannot match or do this.
    NotSupported,
    /// EINVAL: the request itself is wrong.
    Invalid,
    /// ENOSPC: a table or the counters are full.
    NoSpace,
    /// ENOENT: no such rule, handle, meter, profile.
    NotFound,
    /// EBUSY: over the insertion rate, or the object is in use.
    Busy,
    /// EEXIST: the id is taken.
    Exists,
    /// EIO: the device failed to answer (an injected query fault).
    Io,
    /// ENOMEM: no room for another meter object (as mlx5 answers).
    NoMemory,
}

/// What a refusal points at (rte_flow's error types; the index is the
/// item's or action's position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Unspecified,
    Handle,
    Attr,
    AttrGroup,
    AttrPriority,
    AttrIngress,
    AttrEgress,
    AttrTransfer,
    Item(usize),
    ItemSpec(usize),
    ItemLast(usize),
    ItemMask(usize),
    Action(usize),
    ActionConf(usize),
}

/// A refusal: errno, where, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FlowError {
    pub errno: Errno,
    pub at: At,
    pub message: &'static str,
}

fn refuse<T>(errno: Errno, at: At, message: &'static str) -> Result<T, FlowError> {
    Err(FlowError { errno, at, message })
}

/// Which table a rule goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// The NIC's receive rules of the PF: packets on their way to its host.
    Ingress,
    /// The embedded switch's rules (mlx5's FDB).
    Transfer,
}

/// What a matching packet becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Drop,
    /// RX queue N of the PF.
    Queue(u16),
    /// To the entity behind a port of the switch.
    Port(PortRef),
}

/// Which counter a rule counts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    None,
    /// Its own (a COUNT action), freed with the rule.
    Direct,
    /// An indirect COUNT's, by handle, which outlives the rule.
    Indirect(u64),
}

/// A checked rule, ready for the switch's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compiled {
    pub domain: Domain,
    pub priority: u32,
    pub matches: WildMatch,
    /// The port the packet entered on (transfer; `None`: any).
    pub source: Option<PortRef>,
    pub fate: Fate,
    pub count: Count,
    /// The meter object its METER action names.
    pub meter: Option<u32>,
    /// Whether the COUNT comes after the METER in the action list (actions
    /// act in order): then it counts only what the meter's policy passes;
    /// before it (or without a meter), every packet the rule takes.
    pub count_after_meter: bool,
}

/// What the rule's port offers, for the checks that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The port the rule is created on.
    pub port: PortRef,
    /// Its configured RX queues (QUEUE's bound).
    pub rx_queues: u16,
}

/// Checks a rule and compiles it; refuses as mlx5 does where the model
/// follows it (see the module's doc).
pub fn compile(
    ctx: Context,
    attr: Attr,
    items: &[Item],
    actions: &[Action],
) -> Result<Compiled, FlowError> {
    let domain = check_attr(ctx, attr)?;
    let (matches, source) = compile_pattern(domain, items)?;
    let acts = compile_actions(ctx, domain, actions)?;
    let source = match (domain, source) {
        (Domain::Ingress, _) | (Domain::Transfer, Source::Any) => None,
        // A transfer rule without a source item takes what enters on the port
        // it was created on, as mlx5's do.
        (Domain::Transfer, Source::Unset) => Some(ctx.port),
        (Domain::Transfer, Source::Port(p)) => Some(p),
    };
    Ok(Compiled {
        domain,
        priority: attr.priority,
        matches,
        source,
        fate: acts.fate,
        count: acts.count,
        meter: acts.meter,
        count_after_meter: acts.count_after_meter,
    })
}

/// What a rule's actions come to.
struct Acts {
    fate: Fate,
    count: Count,
    meter: Option<u32>,
    count_after_meter: bool,
}

/// The source port a pattern names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// No port item.
    Unset,
    /// A port item without spec.
    Any,
    Port(PortRef),
}

fn check_attr(ctx: Context, attr: Attr) -> Result<Domain, FlowError> {
    if attr.group != 0 {
        return refuse(
            Errno::NotSupported,
            At::AttrGroup,
            "groups are not modelled (group 0 only)",
        );
    }
    if attr.priority > MAX_PRIORITY {
        return refuse(
            Errno::NotSupported,
            At::AttrPriority,
            "priority out of range (0-15)",
        );
    }
    match (attr.ingress, attr.egress, attr.transfer) {
        (true, false, false) => {
            if ctx.port != PortRef::Uplink {
                return refuse(
                    Errno::NotSupported,
                    At::AttrIngress,
                    "ingress rules on a representor are not modelled yet",
                );
            }
            Ok(Domain::Ingress)
        }
        (false, false, true) => Ok(Domain::Transfer),
        (false, true, false) => refuse(
            Errno::NotSupported,
            At::AttrEgress,
            "egress rules are not supported",
        ),
        _ => refuse(
            Errno::Invalid,
            At::Attr,
            "give exactly one of ingress, egress or transfer",
        ),
    }
}

/// The effective mask: the given one, else the item's default (rte_flow's
/// `rte_flow_item_*_mask`).
fn mask_or<T: Copy>(p: &Parts<T>, default: T) -> T {
    p.mask.unwrap_or(default)
}

fn compile_pattern(domain: Domain, items: &[Item]) -> Result<(WildMatch, Source), FlowError> {
    let mut m = WildMatch::default();
    let mut source = Source::Unset;
    // Which layers were seen, to refuse a second one (a tunnel's inner
    // headers, or QinQ's inner tag).
    let (mut eth, mut vlan, mut l3, mut l4) = (false, false, false, false);
    for (i, item) in items.iter().enumerate() {
        let again = |seen: &mut bool, what: &'static str| {
            if std::mem::replace(seen, true) {
                refuse(Errno::NotSupported, At::Item(i), what)
            } else {
                Ok(())
            }
        };
        match item {
            Item::Void => {}
            Item::Eth(p) => {
                again(&mut eth, "a second ETH item (tunnels) is not modelled")?;
                if p.mask_beyond {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "ETH: only dst, src, type and has_vlan",
                    );
                }
                let Some(spec) = p.spec else { continue };
                let mask = mask_or(
                    p,
                    Eth {
                        dst: [0xff; 6],
                        src: [0xff; 6],
                        ..Eth::default()
                    },
                );
                if mask.has_vlan {
                    // mlx5 matches it as its cvlan_tag bit: tagged or not,
                    // whatever the VLAN item says besides.
                    m.frame.tagged = Some(spec.has_vlan);
                }
                if mask.dst != [0; 6] || mask.src != [0; 6] {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "matching MAC addresses is not modelled yet",
                    );
                }
                if mask.ether_type != 0 {
                    if mask.ether_type != 0xffff {
                        return refuse(
                            Errno::NotSupported,
                            At::ItemMask(i),
                            "ETH type: all or nothing",
                        );
                    }
                    let family = match spec.ether_type {
                        0x0800 => IpFamily::V4,
                        0x86dd => IpFamily::V6,
                        _ => {
                            return refuse(
                                Errno::NotSupported,
                                At::ItemSpec(i),
                                "ETH type: only IPv4 and IPv6 are modelled",
                            )
                        }
                    };
                    set_family(&mut m, family, i)?;
                }
            }
            Item::Vlan(p) => {
                again(
                    &mut vlan,
                    "a second VLAN item (QinQ's inner tag) is not modelled",
                )?;
                if l3 {
                    return refuse(Errno::Invalid, At::Item(i), "VLAN after L3");
                }
                if p.mask_beyond {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "VLAN: only tci and inner_type",
                    );
                }
                let Some(spec) = p.spec else {
                    // Any tagged frame: an item with no spec still needs a tag.
                    m.vlan = Some(Masked { spec: 0, mask: 0 });
                    continue;
                };
                let mask = mask_or(
                    p,
                    Vlan {
                        tci: 0x0fff,
                        inner_type: 0,
                    },
                );
                if mask.tci & !0x0fff != 0 {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "VLAN: only the VID is matched (no PCP/DEI)",
                    );
                }
                if mask.inner_type != 0 {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "VLAN: inner_type is not matched",
                    );
                }
                check_no_range(p.last, spec, |v| v.tci & mask.tci, i)?;
                m.vlan = Some(Masked {
                    spec: spec.tci & mask.tci,
                    mask: mask.tci,
                });
            }
            Item::Ipv4(p) => {
                again(&mut l3, "a second L3 item (tunnels) is not modelled")?;
                set_family(&mut m, IpFamily::V4, i)?;
                if p.mask_beyond {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "IPv4: only src, dst and next_proto_id",
                    );
                }
                let Some(spec) = p.spec else { continue };
                let mask = mask_or(
                    p,
                    Ipv4 {
                        src: [0xff; 4],
                        dst: [0xff; 4],
                        ..Ipv4::default()
                    },
                );
                m.frame.fragment = ipv4_fragment(spec.frag, mask.frag, p.last.map(|l| l.frag), i)?;
                check_no_range(
                    // `fragment_offset`'s range is checked above.
                    p.last.map(|l| Ipv4 { frag: 0, ..l }),
                    spec,
                    |v| {
                        (
                            and4(v.src, mask.src),
                            and4(v.dst, mask.dst),
                            v.proto & mask.proto,
                        )
                    },
                    i,
                )?;
                m.src = ip_match(
                    IpAddr::V4(Ipv4Addr::from(spec.src)),
                    IpAddr::V4(Ipv4Addr::from(mask.src)),
                );
                m.dst = ip_match(
                    IpAddr::V4(Ipv4Addr::from(spec.dst)),
                    IpAddr::V4(Ipv4Addr::from(mask.dst)),
                );
                set_proto(&mut m, spec.proto, mask.proto, i)?;
            }
            Item::Ipv6(p) => {
                again(&mut l3, "a second L3 item (tunnels) is not modelled")?;
                set_family(&mut m, IpFamily::V6, i)?;
                if p.mask_beyond {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "IPv6: only src, dst and proto",
                    );
                }
                let Some(spec) = p.spec else { continue };
                let mask = mask_or(
                    p,
                    Ipv6 {
                        src: [0xff; 16],
                        dst: [0xff; 16],
                        ..Ipv6::default()
                    },
                );
                if mask.has_frag_ext {
                    // mlx5 matches it as its frag bit, as IPv4's below.
                    m.frame.fragment = Some(spec.has_frag_ext);
                }
                check_no_range(
                    p.last,
                    spec,
                    |v| {
                        (
                            and16(v.src, mask.src),
                            and16(v.dst, mask.dst),
                            v.proto & mask.proto,
                        )
                    },
                    i,
                )?;
                m.src = ip_match(
                    IpAddr::V6(Ipv6Addr::from(spec.src)),
                    IpAddr::V6(Ipv6Addr::from(mask.src)),
                );
                m.dst = ip_match(
                    IpAddr::V6(Ipv6Addr::from(spec.dst)),
                    IpAddr::V6(Ipv6Addr::from(mask.dst)),
                );
                set_proto(&mut m, spec.proto, mask.proto, i)?;
            }
            Item::Tcp(p) | Item::Udp(p) | Item::Sctp(p) => {
                again(&mut l4, "a second L4 item is not modelled")?;
                let proto = match item {
                    Item::Tcp(_) => TCP,
                    Item::Udp(_) => UDP,
                    _ => SCTP,
                };
                set_proto(&mut m, proto, 0xff, i)?;
                if p.mask_beyond {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "L4: only the ports are matched",
                    );
                }
                let Some(spec) = p.spec else { continue };
                let mask = mask_or(
                    p,
                    Ports {
                        src: 0xffff,
                        dst: 0xffff,
                    },
                );
                let last = p.last;
                m.sport = port_match(spec.src, mask.src, last.map(|l| l.src), i)?;
                m.dport = port_match(spec.dst, mask.dst, last.map(|l| l.dst), i)?;
            }
            Item::Icmp(p) => {
                again(&mut l4, "a second L4 item is not modelled")?;
                if m.family == Some(IpFamily::V6) {
                    return refuse(Errno::Invalid, At::Item(i), "ICMP (v4) after IPv6");
                }
                set_family(&mut m, IpFamily::V4, i)?;
                set_proto(&mut m, ICMP, 0xff, i)?;
                let mask = mask_or(
                    p,
                    Icmp {
                        icmp_type: 0xff,
                        code: 0xff,
                    },
                );
                if p.mask_beyond || (p.spec.is_some() && mask != Icmp::default()) {
                    return refuse(
                        Errno::NotSupported,
                        At::ItemMask(i),
                        "ICMP type and code are not matched yet",
                    );
                }
            }
            Item::Port(port) => {
                if domain != Domain::Transfer {
                    return refuse(
                        Errno::Invalid,
                        At::Item(i),
                        "a port item needs the transfer attribute",
                    );
                }
                if source != Source::Unset {
                    return refuse(Errno::NotSupported, At::Item(i), "a second port item");
                }
                source = match port {
                    Some(PortRef::Foreign(_)) => {
                        return refuse(
                            Errno::Invalid,
                            At::ItemSpec(i),
                            "the port is not on this switch",
                        )
                    }
                    Some(p) => Source::Port(*p),
                    None => Source::Any,
                };
            }
            Item::Other(_) => {
                return refuse(Errno::NotSupported, At::Item(i), "item not supported");
            }
        }
    }
    Ok((m, source))
}

fn compile_actions(ctx: Context, domain: Domain, actions: &[Action]) -> Result<Acts, FlowError> {
    let mut fate = None;
    let mut count = Count::None;
    let mut meter = None;
    let mut count_after_meter = false;
    for (i, action) in actions.iter().enumerate() {
        let f = match *action {
            Action::Void | Action::Passthru => continue,
            Action::Count | Action::Indirect(_) => {
                if count != Count::None {
                    return refuse(Errno::NotSupported, At::Action(i), "a second COUNT action");
                }
                count = match *action {
                    Action::Indirect(0) => {
                        return refuse(
                            Errno::Invalid,
                            At::ActionConf(i),
                            "an INDIRECT action without a handle",
                        )
                    }
                    Action::Indirect(h) => Count::Indirect(h),
                    _ => Count::Direct,
                };
                count_after_meter = meter.is_some();
                continue;
            }
            Action::Meter(id) => {
                let Some(id) = id else {
                    return refuse(
                        Errno::Invalid,
                        At::Action(i),
                        "a METER action without its configuration",
                    );
                };
                if meter.replace(id).is_some() {
                    return refuse(
                        Errno::NotSupported,
                        At::Action(i),
                        "chained meters are not supported",
                    );
                }
                continue;
            }
            Action::Drop => Fate::Drop,
            Action::Queue(q) => {
                if domain == Domain::Transfer {
                    return refuse(
                        Errno::NotSupported,
                        At::Action(i),
                        "unsupported action QUEUE in a transfer rule",
                    );
                }
                if q >= ctx.rx_queues {
                    return refuse(
                        Errno::Invalid,
                        At::ActionConf(i),
                        "queue index out of range",
                    );
                }
                Fate::Queue(q)
            }
            Action::Port(p) => {
                if domain != Domain::Transfer {
                    return refuse(
                        Errno::NotSupported,
                        At::Action(i),
                        "a port action needs the transfer attribute",
                    );
                }
                if let PortRef::Foreign(_) = p {
                    return refuse(
                        Errno::Invalid,
                        At::ActionConf(i),
                        "the port is not on this switch",
                    );
                }
                Fate::Port(p)
            }
            Action::Other(_) => {
                return refuse(Errno::NotSupported, At::Action(i), "action not supported")
            }
        };
        if fate.replace(f).is_some() {
            return refuse(
                Errno::Invalid,
                At::Action(i),
                "can have only one fate action in a rule",
            );
        }
    }
    match fate {
        Some(f) => Ok(Acts {
            fate: f,
            count,
            meter,
            count_after_meter,
        }),
        None => refuse(
            Errno::Invalid,
            At::Action(actions.len().saturating_sub(1)),
            "no fate action is found",
        ),
    }
}

fn set_family(m: &mut WildMatch, family: IpFamily, i: usize) -> Result<(), FlowError> {
    match m.family {
        Some(f) if f != family => {
            refuse(Errno::Invalid, At::Item(i), "IPv4 and IPv6 in one pattern")
        }
        _ => {
            m.family = Some(family);
            Ok(())
        }
    }
}

fn set_proto(m: &mut WildMatch, proto: u8, mask: u8, i: usize) -> Result<(), FlowError> {
    if mask == 0 {
        return Ok(());
    }
    let want = Masked {
        spec: proto & mask,
        mask,
    };
    match m.proto {
        // Both masks cover what they compare; they agree if equal where both
        // look.
        Some(p) if (p.spec ^ want.spec) & p.mask & want.mask != 0 => refuse(
            Errno::Invalid,
            At::Item(i),
            "the L4 item does not agree with the L3 item's protocol",
        ),
        Some(p) => {
            m.proto = Some(Masked {
                spec: p.spec | want.spec,
                mask: p.mask | want.mask,
            });
            Ok(())
        }
        None => {
            m.proto = Some(want);
            Ok(())
        }
    }
}

/// What IPv4's `fragment_offset` under `mask` (with `last`, if given) asks,
/// as mlx5 takes it (`flow_dv_validate_item_ipv4` and its translation to the
/// one `frag` bit of its match parameters, DPDK 22.11): any mask with a spec
/// of 0 under it, whole datagrams only (what Open vSwitch's `frag=no` gives:
/// spec 0, mask 0x3fff); spec 1 to last 0x3fff under the full mask, fragments
/// only; every other value refused with mlx5's errno.
fn ipv4_fragment(
    spec: u16,
    mask: u16,
    last: Option<u16>,
    i: usize,
) -> Result<Option<bool>, FlowError> {
    if mask == 0 {
        return Ok(None);
    }
    let spec = spec & mask;
    if spec == 0 {
        return Ok(Some(false));
    }
    if mask & IPV4_FRAGMENT != IPV4_FRAGMENT {
        return refuse(
            Errno::Invalid,
            At::ItemMask(i),
            "must use full mask for fragment_offset",
        );
    }
    if spec == 0x2000 {
        return refuse(
            Errno::NotSupported,
            At::Item(i),
            "match on first fragment not supported",
        );
    }
    let Some(last) = last else {
        return refuse(
            Errno::NotSupported,
            At::Item(i),
            "specified value not supported",
        );
    };
    match (spec, last & mask) {
        (1, IPV4_FRAGMENT) => Ok(Some(true)),
        (0x2001, IPV4_FRAGMENT) => refuse(
            Errno::NotSupported,
            At::ItemLast(i),
            "match on following fragments not supported",
        ),
        (1, 0x1fff) => refuse(
            Errno::NotSupported,
            At::ItemLast(i),
            "match on last fragment not supported",
        ),
        _ => refuse(
            Errno::NotSupported,
            At::ItemLast(i),
            "specified range not supported",
        ),
    }
}

/// `None` for a mask of zero (the field is not matched).
fn ip_match(addr: IpAddr, mask: IpAddr) -> Option<IpMatch> {
    let zero = match mask {
        IpAddr::V4(m) => m.is_unspecified(),
        IpAddr::V6(m) => m.is_unspecified(),
    };
    if zero {
        None
    } else {
        IpMatch::new(addr, mask)
    }
}

fn port_match(
    spec: u16,
    mask: u16,
    last: Option<u16>,
    i: usize,
) -> Result<Option<PortMatch>, FlowError> {
    if mask == 0 {
        return Ok(None);
    }
    match PortMatch::new(spec, mask, last) {
        Some(p) => Ok(Some(p)),
        None => refuse(Errno::Invalid, At::ItemLast(i), "last is below spec"),
    }
}

/// Ranges (`last`) are modelled on L4 ports only: elsewhere `last` must be 0
/// or equal spec under the mask.
fn check_no_range<T: Copy + Default + PartialEq, K: PartialEq>(
    last: Option<T>,
    spec: T,
    masked: impl Fn(&T) -> K,
    i: usize,
) -> Result<(), FlowError> {
    match last {
        Some(l) if l != T::default() && masked(&l) != masked(&spec) => refuse(
            Errno::NotSupported,
            At::ItemLast(i),
            "ranges are modelled on L4 ports only",
        ),
        _ => Ok(()),
    }
}

fn and4(a: [u8; 4], m: [u8; 4]) -> [u8; 4] {
    std::array::from_fn(|i| a[i] & m[i])
}

fn and16(a: [u8; 16], m: [u8; 16]) -> [u8; 16] {
    std::array::from_fn(|i| a[i] & m[i])
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
