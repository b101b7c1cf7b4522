//! The forwarding policy a flow's first packet is classified by: priority match
//! rules from the config (in-port, MACs, VLAN, IP prefixes, protocol, port ranges
//! -> output port or drop), then the L2 MAC table. The result is cached in the
//! flow entry, so only a flow's first packet pays for this.
//!
//! Rules apply to packets that have a flow key; frames without one (non-IP,
//! malformed, fragments) follow the L2 table alone.

use std::net::IpAddr;

use crate::flow::FlowKey;
use crate::l2::{DropReason, L2Table, Verdict};
use crate::mac::MacAddr;
use crate::PortIdx;

/// What a flow's packets do, decided once per flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    /// Send out of this port.
    Forward(PortIdx),
    /// Send a copy to every VF.
    Flood,
    /// Drop, for this reason.
    Drop(DropCause),
}

/// Why a flow's packets are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// A policy rule says so.
    Rule,
    /// The L2 table decided (unknown unicast, broadcast, runt).
    L2(DropReason),
}

impl From<Verdict> for FlowAction {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Forward(p) => FlowAction::Forward(p),
            Verdict::Flood => FlowAction::Flood,
            Verdict::Drop(r) => FlowAction::Drop(DropCause::L2(r)),
        }
    }
}

/// An IPv4 or IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Prefix {
    /// Whether `ip` lies in the prefix (never across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let len = u32::from(self.len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let len = u32::from(self.len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a host prefix).
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("bad IP prefix {s:?}: expected e.g. 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("bad prefix length in {s:?}: 0..={max}"))?,
            None => max,
        };
        Ok(Prefix { addr, len })
    }
}

/// An inclusive range of L4 ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.lo..=self.hi).contains(&port)
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;
    /// `5001` or `1000-2000`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad port range {s:?}: expected 5001 or 1000-2000");
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let p = s.trim().parse().map_err(|_| bad())?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(bad());
        }
        Ok(PortRange { lo, hi })
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    Output(PortIdx),
    Drop,
}

/// One match rule: every field given must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// Higher first; equal priorities keep config order.
    pub priority: i32,
    pub in_port: Option<PortIdx>,
    pub src_mac: Option<MacAddr>,
    pub dst_mac: Option<MacAddr>,
    /// Outer VLAN ID.
    pub vlan: Option<u16>,
    pub src: Option<Prefix>,
    pub dst: Option<Prefix>,
    pub proto: Option<u8>,
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    pub action: Option<RuleAction>,
}

impl Rule {
    fn matches(&self, key: &FlowKey, frame: &[u8]) -> bool {
        let mac_at = |off: usize| frame.get(off..off + 6).and_then(MacAddr::from_slice);
        self.dst_mac.is_none_or(|m| mac_at(0) == Some(m))
            && self.src_mac.is_none_or(|m| mac_at(6) == Some(m))
            && self.matches_key(key)
    }

    /// Whether the flow key matches every field given except the MACs (which
    /// are not part of a key): what offload policies match on.
    pub fn matches_key(&self, key: &FlowKey) -> bool {
        self.in_port.is_none_or(|p| p.0 == u16::from(key.in_port()))
            && self.vlan.is_none_or(|v| key.vlan() == Some(v))
            && self.src.is_none_or(|p| p.contains(key.src()))
            && self.dst.is_none_or(|p| p.contains(key.dst()))
            && self.proto.is_none_or(|p| p == key.proto())
            && self.sport.is_none_or(|r| r.contains(key.sport()))
            && self.dport.is_none_or(|r| r.contains(key.dport()))
    }
}

/// Rules, then the L2 table.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    l2: L2Table,
}

impl Policy {
    /// A policy of `rules` (any order) in front of `l2`.
    pub fn new(mut rules: Vec<Rule>, l2: L2Table) -> Self {
        // Stable sort: equal priorities keep their config order.
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        Policy { rules, l2 }
    }

    /// The L2 table (for frames without a flow key).
    pub fn l2(&self) -> &L2Table {
        &self.l2
    }

    /// The rules, highest priority first.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides the action of the flow whose first packet is `frame`, keyed `key`.
    pub fn classify(&self, key: &FlowKey, frame: &[u8]) -> FlowAction {
        for rule in &self.rules {
            if rule.matches(key, frame) {
                match rule.action {
                    Some(RuleAction::Output(p)) => return FlowAction::Forward(p),
                    Some(RuleAction::Drop) => return FlowAction::Drop(DropCause::Rule),
                    None => break, // a rule without action defers to the L2 table
                }
            }
        }
        self.l2
            .decide(PortIdx(u16::from(key.in_port())), frame)
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{KeyV4, KeyV6, NO_VLAN};
    use crate::l2::MissAction;

    fn key(dport: u16, proto: u8) -> FlowKey {
        FlowKey::V4(KeyV4 {
            src: [10, 1, 2, 3],
            dst: [192, 168, 0, 9],
            sport: 40000,
            dport,
            vlan: NO_VLAN,
            proto,
            in_port: 0,
        })
    }

    fn frame(dst_last: u8) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, dst_last, 2, 0, 0, 0, 0, 0xfe, 8, 0];
        f.resize(60, 0);
        f
    }

    fn policy(rules: Vec<Rule>) -> Policy {
        let vfs = [
            (MacAddr([2, 0, 0, 0, 0, 1]), PortIdx(1)),
            (MacAddr([2, 0, 0, 0, 0, 2]), PortIdx(2)),
        ];
        Policy::new(
            rules,
            L2Table::new(PortIdx(0), &vfs, MissAction::Drop, MissAction::Drop),
        )
    }

    #[test]
    fn without_rules_the_l2_table_decides() {
        let p = policy(vec![]);
        assert_eq!(
            p.classify(&key(80, 6), &frame(2)),
            FlowAction::Forward(PortIdx(2))
        );
        assert_eq!(
            p.classify(&key(80, 6), &frame(9)),
            FlowAction::Drop(DropCause::L2(DropReason::UnknownUnicast))
        );
    }

    #[test]
    fn the_highest_priority_matching_rule_wins() {
        let udp5001_to_vf2 = Rule {
            priority: 10,
            proto: Some(17),
            dport: Some("5000-5010".parse().unwrap()),
            action: Some(RuleAction::Output(PortIdx(2))),
            ..Rule::default()
        };
        let drop_from_10 = Rule {
            priority: 5,
            src: Some("10.0.0.0/8".parse().unwrap()),
            action: Some(RuleAction::Drop),
            ..Rule::default()
        };
        let p = policy(vec![drop_from_10, udp5001_to_vf2]);
        assert_eq!(p.rules()[0].priority, 10);
        assert_eq!(
            p.classify(&key(5001, 17), &frame(1)),
            FlowAction::Forward(PortIdx(2))
        );
        assert_eq!(
            p.classify(&key(5001, 6), &frame(1)),
            FlowAction::Drop(DropCause::Rule)
        );
        assert_eq!(
            p.classify(&key(5011, 17), &frame(1)),
            FlowAction::Drop(DropCause::Rule)
        );
    }

    #[test]
    fn every_field_must_match() {
        let r = Rule {
            in_port: Some(PortIdx(0)),
            dst_mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            vlan: Some(7),
            action: Some(RuleAction::Drop),
            ..Rule::default()
        };
        let p = policy(vec![r]);
        let mut k = key(1, 17);
        assert_eq!(
            p.classify(&k, &frame(1)),
            FlowAction::Forward(PortIdx(1)),
            "untagged: no match"
        );
        if let FlowKey::V4(v) = &mut k {
            v.vlan = 7;
        }
        assert_eq!(p.classify(&k, &frame(1)), FlowAction::Drop(DropCause::Rule));
        assert_eq!(
            p.classify(&k, &frame(2)),
            FlowAction::Forward(PortIdx(2)),
            "other MAC: no match"
        );
        let v6 = FlowKey::V6(KeyV6 {
            vlan: 7,
            ..Default::default()
        });
        let p = policy(vec![Rule {
            src: Some("10.0.0.0/8".parse().unwrap()),
            action: Some(RuleAction::Drop),
            ..Rule::default()
        }]);
        assert_ne!(
            p.classify(&v6, &frame(1)),
            FlowAction::Drop(DropCause::Rule),
            "a v4 prefix never matches v6"
        );
    }

    #[test]
    fn prefixes_and_ranges_parse_and_refuse_nonsense() {
        let p: Prefix = "2001:db8::/32".parse().unwrap();
        assert!(p.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!p.contains("2001:db9::1".parse().unwrap()));
        let host: Prefix = "10.0.0.1".parse().unwrap();
        assert_eq!(host.len, 32);
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0/8", "x/1", "::/129"] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
        assert_eq!(
            "53".parse::<PortRange>().unwrap(),
            PortRange { lo: 53, hi: 53 }
        );
        for bad in ["2000-1000", "70000", "a-b", ""] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }
}
