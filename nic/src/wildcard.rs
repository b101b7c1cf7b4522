//! The switch's wildcard rule table: a few priority-ordered rules on masked
//! fields (operators' `flow create` rules, and any rule the exact table
//! cannot hold), kept beside the exact-match table as real NICs keep a small
//! TCAM-like table for them.
//!
//! A rule matches fields of the flow key under a mask, the way an rte_flow
//! pattern item's `spec`, `mask` and `last` do: a field matches when the
//! key's value under the mask equals the spec under the mask, or, where `last`
//! is given (L4 ports), lies between the masked spec and the masked `last`.
//! A field left out matches anything.
//!
//! Lookups scan the rules in order, lowest priority value first (as rte_flow
//! orders them) and, among equal priorities, oldest first. With the few dozen
//! rules a NIC holds for operators a scan of a preallocated array is as fast
//! as anything cleverer, and it allocates nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Not;

use flowlift_dataplane::flow::FlowKey;
use flowlift_dataplane::policy::Prefix;
use flowlift_dataplane::PortIdx;

/// Why the table refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WildcardError {
    /// The table is full.
    #[error("wildcard table full")]
    NoSpace,
    /// A rule with this id exists already.
    #[error("a rule with this id exists")]
    Exists,
    /// No rule has this id.
    #[error("no such rule")]
    NoSuchRule,
}

/// The VID bits of a TCI. Keys carry the VID alone (no PCP, no DEI), so a
/// VLAN match is judged on these bits only.
const VID_MASK: u16 = 0x0fff;

/// A value and the bits of it that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Masked<T> {
    pub spec: T,
    pub mask: T,
}

impl<T: Default + Not<Output = T>> Masked<T> {
    /// Exactly `v` (all bits compared: the mask is all ones), as testpmd's
    /// `is`.
    pub fn is(v: T) -> Self {
        Masked {
            spec: v,
            mask: !T::default(),
        }
    }
}

impl Masked<u8> {
    #[inline(always)]
    fn hits(&self, v: u8) -> bool {
        (v ^ self.spec) & self.mask == 0
    }
}

/// IP version, for a pattern that names `ipv4` or `ipv6` without addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    /// The family of `key`.
    #[inline(always)]
    pub fn of(key: &FlowKey) -> Self {
        match key {
            FlowKey::V4(_) => IpFamily::V4,
            FlowKey::V6(_) => IpFamily::V6,
        }
    }
}

/// An IP address under a mask, of one family: it never matches a key of the
/// other. Built by [`IpMatch::new`] or [`IpMatch::prefix`], which refuse
/// mixed families, so a rule cannot carry a match that silently never hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpMatch(IpBits);

/// The address is kept already masked: the bits outside the mask are ignored
/// anyway (as in rte_flow), and a lookup then costs one AND and one compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpBits {
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

impl IpMatch {
    /// `addr` under `mask` (testpmd's `src spec A src mask M`); `None` if
    /// they are of different families.
    pub fn new(addr: IpAddr, mask: IpAddr) -> Option<Self> {
        let bits = match (addr, mask) {
            (IpAddr::V4(a), IpAddr::V4(m)) => {
                let mask = u32::from(m);
                IpBits::V4 {
                    addr: u32::from(a) & mask,
                    mask,
                }
            }
            (IpAddr::V6(a), IpAddr::V6(m)) => {
                let mask = u128::from(m);
                IpBits::V6 {
                    addr: u128::from(a) & mask,
                    mask,
                }
            }
            _ => return None,
        };
        Some(IpMatch(bits))
    }

    /// The addresses of prefix `p` (testpmd's `src spec A src prefix L`);
    /// `None` if its length exceeds its family's.
    pub fn prefix(p: Prefix) -> Option<Self> {
        let len = u32::from(p.len);
        let mask = match p.addr {
            IpAddr::V4(_) if len <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0)))
            }
            IpAddr::V6(_) if len <= 128 => IpAddr::V6(Ipv6Addr::from(
                u128::MAX.checked_shl(128 - len).unwrap_or(0),
            )),
            _ => return None,
        };
        IpMatch::new(p.addr, mask)
    }

    /// Exactly `addr` (testpmd's `src is A`).
    pub fn host(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => IpMatch(IpBits::V4 {
                addr: u32::from(a),
                mask: u32::MAX,
            }),
            IpAddr::V6(a) => IpMatch(IpBits::V6 {
                addr: u128::from(a),
                mask: u128::MAX,
            }),
        }
    }

    /// The address, with the bits outside the mask cleared.
    pub fn addr(&self) -> IpAddr {
        match self.0 {
            IpBits::V4 { addr, .. } => IpAddr::V4(Ipv4Addr::from(addr)),
            IpBits::V6 { addr, .. } => IpAddr::V6(Ipv6Addr::from(addr)),
        }
    }

    /// The mask.
    pub fn mask(&self) -> IpAddr {
        match self.0 {
            IpBits::V4 { mask, .. } => IpAddr::V4(Ipv4Addr::from(mask)),
            IpBits::V6 { mask, .. } => IpAddr::V6(Ipv6Addr::from(mask)),
        }
    }

    /// The family it matches.
    pub fn family(&self) -> IpFamily {
        match self.0 {
            IpBits::V4 { .. } => IpFamily::V4,
            IpBits::V6 { .. } => IpFamily::V6,
        }
    }

    /// Whether the key's source (`src`) or destination address matches.
    #[inline(always)]
    fn hits(&self, key: &FlowKey, src: bool) -> bool {
        match (self.0, key) {
            (IpBits::V4 { addr, mask }, FlowKey::V4(k)) => {
                let a = u32::from_be_bytes(if src { k.src } else { k.dst });
                a & mask == addr
            }
            (IpBits::V6 { addr, mask }, FlowKey::V6(k)) => {
                let a = u128::from_be_bytes(if src { k.src } else { k.dst });
                a & mask == addr
            }
            _ => false,
        }
    }
}

/// An L4 port under a mask, optionally a range: rte_flow's `spec`, `mask` and
/// `last`. Built by [`PortMatch::new`], which refuses a `last` below `spec`
/// (as PMDs refuse it), so every range holds at least one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMatch {
    /// Masked spec, and masked `last` (equal to `lo` without a range).
    lo: u16,
    hi: u16,
    mask: u16,
}

impl PortMatch {
    /// A port whose value under `mask` lies in `[spec & mask, last & mask]`,
    /// or equals `spec & mask` without `last`. As in rte_flow, a `last` of 0
    /// or equal to `spec` makes no range, and one below `spec` is refused
    /// (`None`).
    pub fn new(spec: u16, mask: u16, last: Option<u16>) -> Option<Self> {
        let lo = spec & mask;
        let hi = last.filter(|l| *l != 0).map_or(lo, |l| l & mask);
        (hi >= lo).then_some(PortMatch { lo, hi, mask })
    }

    /// Exactly `port` (testpmd's `dst is P`).
    pub fn is(port: u16) -> Self {
        PortMatch {
            lo: port,
            hi: port,
            mask: u16::MAX,
        }
    }

    /// Ports `lo..=hi` (testpmd's `dst spec LO dst last HI`); `None` if
    /// `hi < lo`.
    pub fn range(lo: u16, hi: u16) -> Option<Self> {
        PortMatch::new(lo, u16::MAX, Some(hi))
    }

    /// The masked spec (the range's low end).
    pub fn spec(&self) -> u16 {
        self.lo
    }

    /// The masked `last`, if this is a range.
    pub fn last(&self) -> Option<u16> {
        (self.hi != self.lo).then_some(self.hi)
    }

    /// The mask.
    pub fn mask(&self) -> u16 {
        self.mask
    }

    #[inline(always)]
    fn hits(&self, port: u16) -> bool {
        let v = port & self.mask;
        self.lo <= v && v <= self.hi
    }
}

/// What a rule asks of a frame beyond its flow key, as mlx5 matches them
/// (single bits of its match parameters: `cvlan_tag`, `frag`). `None`: either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameMatch {
    /// ETH's `has_vlan` under its mask: `Some(false)` untagged frames only,
    /// `Some(true)` tagged frames only.
    pub tagged: Option<bool>,
    /// IPv4's `fragment_offset` (MF or an offset set) or IPv6's
    /// `has_frag_ext` under their masks: `Some(false)` whole datagrams only
    /// (Open vSwitch's `frag=no`), `Some(true)` fragments only. Only first
    /// fragments have a flow key (later ones match no rule), so for the
    /// switch a fragment is a first fragment; an IPv6 atomic fragment (a
    /// fragment header with M = 0 and offset 0) counts as whole.
    pub fragment: Option<bool>,
}

impl FrameMatch {
    /// Whether a frame with `key` (tagged if it has a VID) that is a first
    /// fragment or not (`fragment`) meets these conditions.
    #[inline(always)]
    pub fn accepts(&self, key: &FlowKey, fragment: bool) -> bool {
        self.tagged.is_none_or(|t| t == key.vlan().is_some())
            && self.fragment.is_none_or(|f| f == fragment)
    }
}

/// What a wildcard rule matches: every field given must match; a field left
/// out (`None`) matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WildMatch {
    /// The appliance's port index the packet entered on (0: the uplink).
    pub in_port: Option<u8>,
    /// The outer VLAN ID under a mask (only its 12 VID bits are compared: the
    /// key has no PCP or DEI). Untagged packets never match a VLAN item, as
    /// on a NIC a pattern with a VLAN item needs a tag; a mask of 0 matches
    /// any tagged packet.
    pub vlan: Option<Masked<u16>>,
    /// The IP version, for `eth / ipv4 / ...` without addresses.
    pub family: Option<IpFamily>,
    /// Source and destination addresses.
    pub src: Option<IpMatch>,
    pub dst: Option<IpMatch>,
    /// IP protocol (IPv6: next header after the extension headers).
    pub proto: Option<Masked<u8>>,
    /// L4 ports (0 for protocols without ports, as in the key).
    pub sport: Option<PortMatch>,
    pub dport: Option<PortMatch>,
    /// Conditions on the frame beyond its key (VLAN tag present or not,
    /// fragment or not): [`WildMatch::matches`] leaves them out, the tables'
    /// lookups check them (the key does not say whether a frame is a fragment).
    pub frame: FrameMatch,
}

impl WildMatch {
    /// Whether `key` matches, on the key's fields (not [`WildMatch::frame`]).
    /// Allocation-free and branch-light: run on every packet of the switch
    /// while any wildcard rule exists.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        self.in_port.is_none_or(|p| p == key.in_port())
            && self.family.is_none_or(|f| f == IpFamily::of(key))
            && self.proto.is_none_or(|p| p.hits(key.proto()))
            && self.dport.is_none_or(|p| p.hits(key.dport()))
            && self.sport.is_none_or(|p| p.hits(key.sport()))
            && self.vlan.is_none_or(|v| {
                key.vlan()
                    .is_some_and(|k| (k ^ v.spec) & v.mask & VID_MASK == 0)
            })
            && self.dst.is_none_or(|m| m.hits(key, false))
            && self.src.is_none_or(|m| m.hits(key, true))
    }
}

/// What a rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WildAction {
    /// Send out of this port (testpmd's `port_id id N` / `represented_port`).
    Forward(PortIdx),
    /// Drop (testpmd's `drop`).
    Drop,
    /// Hand to the host's RX queue `N` (testpmd's `queue index N`): the
    /// worker polling that queue carries the packet as it does a miss, so the
    /// switch counts it with the misses, not with the hits it carries itself.
    Queue(u16),
}

/// One operator rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WildRule {
    /// Lower first, as rte_flow's priority; equal priorities keep the order
    /// the rules were added in.
    pub priority: u32,
    pub matches: WildMatch,
    pub action: WildAction,
    /// A counter of the switch's bank to count hits on (a COUNT action);
    /// several rules may share one, as an indirect counter allows.
    pub counter: Option<u32>,
    /// Whether the out port's meter polices the hits (a METER action); has no
    /// effect on a rule that drops.
    pub metered: bool,
}

/// The wildcard rules, in lookup order. Its capacity is fixed when it is
/// made: adding never reallocates, looking up never allocates.
#[derive(Debug)]
pub struct WildcardTable {
    /// (rule id, rule), by priority then insertion order: the first that
    /// matches is the answer.
    rules: Vec<(u64, WildRule)>,
    capacity: usize,
}

impl WildcardTable {
    /// An empty table holding at most `capacity` rules.
    pub fn new(capacity: usize) -> Self {
        WildcardTable {
            rules: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// Rules held.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rules it holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds `rule` as `id`, after every rule of the same or a lower priority
    /// value. Refuses with [`WildcardError::Exists`] if `id` is taken and
    /// [`WildcardError::NoSpace`] if the table is full.
    pub fn add(&mut self, id: u64, rule: WildRule) -> Result<(), WildcardError> {
        if self.get(id).is_some() {
            return Err(WildcardError::Exists);
        }
        if self.rules.len() >= self.capacity {
            return Err(WildcardError::NoSpace);
        }
        let at = self
            .rules
            .partition_point(|(_, r)| r.priority <= rule.priority);
        self.rules.insert(at, (id, rule));
        Ok(())
    }

    /// Removes rule `id` and returns it ([`WildcardError::NoSuchRule`] if none).
    pub fn remove(&mut self, id: u64) -> Result<WildRule, WildcardError> {
        let at = self
            .rules
            .iter()
            .position(|(i, _)| *i == id)
            .ok_or(WildcardError::NoSuchRule)?;
        Ok(self.rules.remove(at).1)
    }

    /// Rule `id`.
    pub fn get(&self, id: u64) -> Option<&WildRule> {
        self.rules.iter().find(|(i, _)| *i == id).map(|(_, r)| r)
    }

    /// The first rule, in lookup order, that a frame with `key` matches
    /// (`fragment`: whether it is a first fragment), and its id.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, fragment: bool) -> Option<(u64, &WildRule)> {
        self.rules
            .iter()
            .find(|(_, r)| r.matches.matches(key) && r.matches.frame.accepts(key, fragment))
            .map(|(i, r)| (*i, r))
    }

    /// The rules with their ids, in lookup order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &WildRule)> + '_ {
        self.rules.iter().map(|(i, r)| (*i, r))
    }
}

#[cfg(test)]
#[path = "wildcard_tests.rs"]
mod tests;
