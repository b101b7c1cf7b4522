//! The switch's exact-match table: per-flow rules (a fully specified 5-tuple
//! and the port the packet entered on) found with one hash lookup, as a NIC
//! keeps them in hash tables rather than in its TCAM-like wildcard stage. It
//! is flowlift's own bucketized cuckoo hash (`dataplane::table`), keyed by
//! the flow key the parser makes.
//!
//! Which rules come here is decided by their shape alone
//! ([`exact_key`]): an IPv4 or IPv6 pattern whose addresses are fully
//! masked, whose protocol is fully masked and is TCP, UDP or SCTP with both
//! ports fully masked (no range), on one source port (a transfer rule's port
//! item, or the creating port; an ingress rule's PF), with no VLAN item or
//! one that matches the whole VID. Everything else goes to the wildcard
//! table. Both kinds obey one order (priority, then age), so where a rule
//! lives changes how fast it is found, never what a packet meets.
//!
//! A rule without a VLAN item matches tagged and untagged frames alike: it
//! is keyed with [`NO_VLAN`], and a tagged frame is looked up twice (with its
//! VID, then as [`NO_VLAN`]). Two rules may have the same key (at different
//! priorities, or one after another): the key's entry keeps them in lookup
//! order. What a rule asks beyond the key (ETH's `has_vlan`, fragment or
//! not: [`crate::wildcard::FrameMatch`]) is checked on the key's rules in
//! that order, so a rule for whole datagrams (Open vSwitch's `frag=no`) stays
//! one hash lookup.
//!
//! The hash table grows by doubling (a rehash, under the switch's lock) up
//! to room for the device's rule limit; a hash table that cannot place a
//! key at its largest refuses it, as a NIC's hash table can be full before
//! its nominal size.

use crate::wildcard::IpFamily;
use flowlift_dataplane::flow::{FlowKey, KeyV4, KeyV6, NO_VLAN};
use flowlift_dataplane::table::{CuckooTable, TableFull, TableKey};
use std::net::IpAddr;

use crate::flow::{Compiled, Domain};

/// The in-port an ingress rule is keyed with: apart from the switch ports
/// (0 the uplink, 1.. the VFs, at most 32) that key transfer rules.
pub const INGRESS_PORT: u8 = 0xfe;

/// Entries the table starts with room for (it doubles from there).
const START: usize = 1024;

/// One rule of a key: lower priority first, then older (smaller id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<V> {
    pub priority: u32,
    pub id: u64,
    pub value: V,
}

impl<V> Entry<V> {
    /// The order rules are met in.
    pub fn order(&self) -> (u32, u64) {
        (self.priority, self.id)
    }
}

/// One family's hash table and the rules of each key.
#[derive(Debug)]
struct Family<K: TableKey, V> {
    keys: CuckooTable<K>,
    /// By the key's id in `keys`.
    rules: Vec<Vec<Entry<V>>>,
}

impl<K: TableKey, V: Copy> Family<K, V> {
    fn new(entries: usize) -> Self {
        Family {
            keys: CuckooTable::with_capacity(entries),
            rules: Vec::new(),
        }
    }

    fn lookup(&self, key: &K, accept: impl Fn(&V) -> bool) -> Option<&Entry<V>> {
        let id = self.keys.lookup(key)?;
        self.rules
            .get(id.index())?
            .iter()
            .find(|e| accept(&e.value))
    }

    fn insert(&mut self, key: K, entry: Entry<V>) -> Result<(), TableFull> {
        let id = self.keys.insert(key)?;
        let i = id.index();
        if self.rules.len() <= i {
            self.rules.resize_with(i + 1, Vec::new);
        }
        let list = &mut self.rules[i];
        let at = list.partition_point(|e| e.order() < entry.order());
        list.insert(at, entry);
        Ok(())
    }

    fn remove(&mut self, key: &K, rule: u64) -> bool {
        let Some(id) = self.keys.lookup(key) else {
            return false;
        };
        let Some(list) = self.rules.get_mut(id.index()) else {
            return false;
        };
        let Some(at) = list.iter().position(|e| e.id == rule) else {
            return false;
        };
        list.remove(at);
        if list.is_empty() {
            self.keys.remove(key);
        }
        true
    }

    /// Keys held (distinct).
    fn keys(&self) -> usize {
        self.keys.len()
    }

    /// The same rules in a table with room for `entries` keys.
    fn rebuilt(&self, entries: usize) -> Result<Self, TableFull> {
        let mut next = Family::new(entries);
        for (id, key) in self.keys.iter() {
            for e in self.rules.get(id.index()).into_iter().flatten() {
                next.insert(*key, *e)?;
            }
        }
        Ok(next)
    }

    fn capacity(&self) -> usize {
        self.keys.capacity()
    }
}

/// The exact-match table of both families.
#[derive(Debug)]
pub struct ExactTable<V> {
    v4: Family<KeyV4, V>,
    v6: Family<KeyV6, V>,
    /// Rules held.
    len: usize,
    /// The most keys a family's table is grown to hold.
    max_keys: usize,
}

impl<V: Copy> ExactTable<V> {
    /// An empty table that grows to hold `max_rules` keys a family (with
    /// room to spare, so that a full device is refused by its rule limit
    /// rather than by hash collisions, except in unlucky cases).
    pub fn new(max_rules: usize) -> Self {
        // A quarter more than the limit keeps the cuckoo table below 80%
        // load, where it places keys reliably.
        let max_keys = max_rules.saturating_add(max_rules / 4).max(1);
        let start = START.min(max_keys);
        ExactTable {
            v4: Family::new(start),
            v6: Family::new(start),
            len: 0,
            max_keys,
        }
    }

    /// Rules held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds rule `id` for `key`; refused only if the hash table, at its
    /// largest, cannot place the key.
    pub fn insert(
        &mut self,
        key: FlowKey,
        priority: u32,
        id: u64,
        value: V,
    ) -> Result<(), TableFull> {
        let entry = Entry {
            priority,
            id,
            value,
        };
        match key {
            FlowKey::V4(k) => insert(&mut self.v4, k, entry, self.max_keys)?,
            FlowKey::V6(k) => insert(&mut self.v6, k, entry, self.max_keys)?,
        }
        self.len += 1;
        Ok(())
    }

    /// Removes rule `id` of `key`; whether it was there.
    pub fn remove(&mut self, key: &FlowKey, id: u64) -> bool {
        let gone = match key {
            FlowKey::V4(k) => self.v4.remove(k, id),
            FlowKey::V6(k) => self.v6.remove(k, id),
        };
        if gone {
            self.len -= 1;
        }
        gone
    }

    /// The first rule (in lookup order) that a packet with `key` meets among
    /// those `accept` takes (the rules' conditions beyond the key): one for
    /// its VID, if tagged, or one without a VLAN item.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, accept: impl Fn(&V) -> bool + Copy) -> Option<&Entry<V>> {
        if self.len == 0 {
            return None;
        }
        let tagged = key.vlan().is_some();
        match key {
            FlowKey::V4(k) => {
                let with = if tagged {
                    self.v4.lookup(k, accept)
                } else {
                    None
                };
                let any = self.v4.lookup(
                    &KeyV4 {
                        vlan: NO_VLAN,
                        ..*k
                    },
                    accept,
                );
                first(with, any)
            }
            FlowKey::V6(k) => {
                let with = if tagged {
                    self.v6.lookup(k, accept)
                } else {
                    None
                };
                let any = self.v6.lookup(
                    &KeyV6 {
                        vlan: NO_VLAN,
                        ..*k
                    },
                    accept,
                );
                first(with, any)
            }
        }
    }
}

fn first<'a, V>(a: Option<&'a Entry<V>>, b: Option<&'a Entry<V>>) -> Option<&'a Entry<V>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.order() <= b.order() { a } else { b }),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Inserts into `f`, doubling its table first when it is 3/4 full (and
/// again if the key cannot be placed), until it has room for `max_keys`.
fn insert<K: TableKey, V: Copy>(
    f: &mut Family<K, V>,
    key: K,
    entry: Entry<V>,
    max_keys: usize,
) -> Result<(), TableFull> {
    loop {
        let cap = f.capacity();
        let can_grow = cap < max_keys;
        let crowded = (f.keys() + 1) * 4 > cap * 3;
        if !(crowded && can_grow) {
            match f.insert(key, entry) {
                Ok(()) => return Ok(()),
                Err(full) if !can_grow => return Err(full),
                Err(_) => {}
            }
        }
        *f = f.rebuilt(cap * 2)?;
    }
}

/// The exact-match key of `rule` entering on switch port `in_port` (its
/// source, for a transfer rule), if its shape is exact (see the module's
/// doc).
pub fn exact_key(rule: &Compiled, in_port: Option<u8>) -> Option<FlowKey> {
    let m = &rule.matches;
    let in_port = match rule.domain {
        Domain::Ingress => INGRESS_PORT,
        Domain::Transfer => in_port?,
    };
    let proto = m.proto.filter(|p| p.mask == 0xff)?.spec;
    if !matches!(proto, 6 | 17 | 132) {
        return None;
    }
    let port = |p: Option<crate::wildcard::PortMatch>| {
        p.filter(|p| p.mask() == 0xffff && p.last().is_none())
            .map(|p| p.spec())
    };
    let (sport, dport) = (port(m.sport)?, port(m.dport)?);
    let vlan = match m.vlan {
        None => NO_VLAN,
        Some(v) if v.mask & 0x0fff == 0x0fff => v.spec & 0x0fff,
        Some(_) => return None,
    };
    let (src, dst) = (m.src?, m.dst?);
    let full = |ip: &crate::wildcard::IpMatch| match ip.mask() {
        IpAddr::V4(a) => u32::from(a) == u32::MAX,
        IpAddr::V6(a) => u128::from(a) == u128::MAX,
    };
    if !full(&src) || !full(&dst) || m.family.is_some_and(|f| f != src.family()) {
        return None;
    }
    match (src.addr(), dst.addr(), src.family()) {
        (IpAddr::V4(s), IpAddr::V4(d), IpFamily::V4) => Some(FlowKey::V4(KeyV4 {
            src: s.octets(),
            dst: d.octets(),
            sport,
            dport,
            vlan,
            proto,
            in_port,
        })),
        (IpAddr::V6(s), IpAddr::V6(d), IpFamily::V6) => Some(FlowKey::V6(KeyV6 {
            src: s.octets(),
            dst: d.octets(),
            sport,
            dport,
            vlan,
            proto,
            in_port,
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sport: u16, vlan: u16) -> FlowKey {
        FlowKey::V4(KeyV4 {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
            sport,
            dport: 80,
            vlan,
            proto: 6,
            in_port: 0,
        })
    }

    #[test]
    fn rules_of_a_key_are_met_by_priority_then_age() {
        let mut t = ExactTable::new(16);
        t.insert(key(1, NO_VLAN), 3, 10, 'a').unwrap();
        t.insert(key(1, NO_VLAN), 1, 11, 'b').unwrap();
        t.insert(key(1, NO_VLAN), 1, 12, 'c').unwrap();
        assert_eq!(t.lookup(&key(1, NO_VLAN), |_| true).unwrap().value, 'b');
        assert!(t.remove(&key(1, NO_VLAN), 11));
        assert_eq!(t.lookup(&key(1, NO_VLAN), |_| true).unwrap().value, 'c');
        assert!(!t.remove(&key(1, NO_VLAN), 11), "already gone");
        assert!(t.remove(&key(1, NO_VLAN), 12));
        assert!(t.remove(&key(1, NO_VLAN), 10));
        assert!(t.lookup(&key(1, NO_VLAN), |_| true).is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn a_rule_without_vlan_matches_tagged_frames_too() {
        let mut t = ExactTable::new(16);
        t.insert(key(1, NO_VLAN), 5, 1, "any").unwrap();
        assert_eq!(t.lookup(&key(1, 100), |_| true).unwrap().value, "any");
        t.insert(key(1, 100), 5, 2, "vid 100").unwrap();
        assert_eq!(
            t.lookup(&key(1, 100), |_| true).unwrap().value,
            "any",
            "equal priority: the older rule"
        );
        t.insert(key(1, 100), 4, 3, "vid 100 first").unwrap();
        assert_eq!(
            t.lookup(&key(1, 100), |_| true).unwrap().value,
            "vid 100 first"
        );
        assert_eq!(t.lookup(&key(1, 200), |_| true).unwrap().value, "any");
        assert_eq!(t.lookup(&key(1, NO_VLAN), |_| true).unwrap().value, "any");
        assert!(t.lookup(&key(2, 100), |_| true).is_none());
    }

    #[test]
    fn conditions_beyond_the_key_pick_among_its_rules_in_order() {
        // 'w' for whole datagrams only (frag=no), 'f' for fragments only;
        // the condition is the caller's, here on the value itself.
        let mut t = ExactTable::new(16);
        t.insert(key(1, NO_VLAN), 1, 1, 'w').unwrap();
        t.insert(key(1, NO_VLAN), 2, 2, 'f').unwrap();
        let whole = |v: &char| *v == 'w';
        let fragment = |v: &char| *v == 'f';
        assert_eq!(t.lookup(&key(1, NO_VLAN), whole).unwrap().value, 'w');
        assert_eq!(
            t.lookup(&key(1, NO_VLAN), fragment).unwrap().value,
            'f',
            "the later rule, which the earlier one's condition leaves it"
        );
        assert!(t.lookup(&key(1, NO_VLAN), |_| false).is_none());
        assert!(t.lookup(&key(2, NO_VLAN), whole).is_none());
    }

    #[test]
    fn it_grows_to_tens_of_thousands_and_refuses_beyond_its_largest() {
        let n = 50_000;
        let mut t = ExactTable::new(n);
        for i in 0..n {
            let k = FlowKey::V4(KeyV4 {
                src: (i as u32).to_be_bytes(),
                dst: [10, 1, 0, 1],
                sport: 1000,
                dport: 5001,
                vlan: NO_VLAN,
                proto: 17,
                in_port: 0,
            });
            t.insert(k, 0, i as u64 + 1, i).unwrap();
        }
        assert_eq!(t.len(), n);
        for i in (0..n).step_by(997) {
            let k = FlowKey::V4(KeyV4 {
                src: (i as u32).to_be_bytes(),
                dst: [10, 1, 0, 1],
                sport: 1000,
                dport: 5001,
                vlan: NO_VLAN,
                proto: 17,
                in_port: 0,
            });
            assert_eq!(t.lookup(&k, |_| true).unwrap().value, i);
        }
        // A tiny table at its largest refuses keys it cannot place.
        let mut small = ExactTable::new(1);
        let mut refused = false;
        for i in 0..64u16 {
            if small
                .insert(key(i, NO_VLAN), 0, u64::from(i) + 1, ())
                .is_err()
            {
                refused = true;
                break;
            }
        }
        assert!(refused, "a bounded hash table fills up");
    }
}
