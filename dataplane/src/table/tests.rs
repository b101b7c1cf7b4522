//! The flow table against its contract: unit tests of each operation, the load
//! it reaches before the first refusal, and a proptest model check against
//! `std::collections::HashMap` on tables small enough to fill and displace.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::flow::{KeyV4, KeyV6, NO_VLAN};

/// splitmix64: a tiny deterministic generator for random keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn key(&mut self) -> KeyV4 {
        let a = self.next();
        let b = self.next();
        KeyV4 {
            src: (a as u32).to_be_bytes(),
            dst: ((a >> 32) as u32).to_be_bytes(),
            sport: b as u16,
            dport: (b >> 16) as u16,
            vlan: NO_VLAN,
            proto: 17,
            in_port: (b >> 32) as u8 & 3,
        }
    }
}

fn key(i: u32) -> KeyV4 {
    KeyV4 {
        src: [10, 0, 0, 1],
        dst: i.to_be_bytes(),
        sport: 1000,
        dport: 53,
        vlan: NO_VLAN,
        proto: 17,
        in_port: 0,
    }
}

#[test]
fn sizes_round_up_to_powers_of_two_of_buckets() {
    for (asked, capacity) in [
        (0, 8),
        (1, 8),
        (8, 8),
        (9, 16),
        (100, 128),
        (10_000, 16_384),
    ] {
        let t = CuckooTable::<KeyV4>::with_capacity(asked);
        assert_eq!(t.capacity(), capacity, "asked {asked}");
        assert!(t.is_empty());
        assert!(t.memory_bytes() >= capacity * (16 + 8));
    }
}

#[test]
fn insert_lookup_remove() {
    let mut t = CuckooTable::with_capacity(100);
    let a = t.insert(key(1)).unwrap();
    let b = t.insert(key(2)).unwrap();
    assert_ne!(a, b);
    assert_eq!(t.insert(key(1)), Ok(a), "a present key keeps its id");
    assert_eq!(t.len(), 2);
    assert_eq!(t.lookup(&key(1)), Some(a));
    assert_eq!(t.lookup(&key(3)), None);
    assert_eq!(t.key(b), Some(&key(2)));
    assert_eq!(t.remove(&key(1)), Some(a));
    assert_eq!(t.remove(&key(1)), None);
    assert_eq!(t.lookup(&key(1)), None);
    assert_eq!(t.key(a), None);
    assert_eq!(t.remove_id(a), None);
    assert_eq!(t.remove_id(b), Some(key(2)));
    assert_eq!(t.remove_id(FlowId(1_000_000)), None);
    assert!(t.is_empty());
    // Freed ids are reused.
    let c = t.insert(key(3)).unwrap();
    assert!(c == a || c == b);
}

#[test]
fn one_bucket_table_fills_exactly() {
    let mut t = CuckooTable::with_capacity(1);
    for i in 0..8 {
        t.insert(key(i)).unwrap();
    }
    assert_eq!(t.insert(key(8)), Err(TableFull));
    assert_eq!(t.len(), 8);
    for i in 0..8 {
        assert!(t.lookup(&key(i)).is_some());
    }
}

#[test]
fn find_or_insert_says_whether_it_inserted() {
    let mut t = CuckooTable::with_capacity(1);
    let (id, new) = t.find_or_insert(key(0)).unwrap();
    assert!(new);
    assert_eq!(t.find_or_insert(key(0)), Ok((id, false)));
    assert_eq!(t.lookup(&key(0)), Some(id));
    for i in 1..8 {
        assert!(t.find_or_insert(key(i)).unwrap().1);
    }
    // Full: a new key is refused, a held one is still found.
    assert_eq!(t.find_or_insert(key(8)), Err(TableFull));
    assert_eq!(t.find_or_insert(key(0)), Ok((id, false)));
    assert_eq!(t.len(), 8);
}

#[test]
fn bulk_lookup_matches_single_lookups() {
    let mut t = CuckooTable::with_capacity(1000);
    for i in 0..900 {
        t.insert(key(i * 2)).unwrap();
    }
    // 150 keys: more than one chunk of BULK_MAX; half hits, half misses.
    let keys: Vec<KeyV4> = (0..150).map(key).collect();
    let mut out = vec![None; keys.len()];
    t.lookup_bulk(&keys, &mut out);
    for (k, o) in keys.iter().zip(&out) {
        assert_eq!(*o, t.lookup(k));
    }
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 75);
    // A short output slice takes only as many results.
    let mut short = [None; 3];
    t.lookup_bulk(&keys, &mut short);
    assert_eq!(short, [t.lookup(&key(0)), None, t.lookup(&key(2))]);
}

#[test]
fn ipv6_keys_work_too() {
    let mut t = CuckooTable::<KeyV6>::with_capacity(64);
    let mut k = KeyV6::default();
    let mut ids = Vec::new();
    for i in 0..50u8 {
        k.dst[15] = i;
        ids.push(t.insert(k).unwrap());
    }
    for i in 0..50u8 {
        k.dst[15] = i;
        assert_eq!(t.lookup(&k), Some(ids[usize::from(i)]));
    }
    assert_eq!(t.iter().count(), 50);
}

/// Inserts random keys until the first refusal; returns the load then.
fn fill(entries: usize, seed: u64) -> (CuckooTable<KeyV4>, Vec<(KeyV4, FlowId)>) {
    let mut t = CuckooTable::with_capacity(entries);
    let mut rng = Rng(seed);
    let mut inserted = Vec::new();
    loop {
        let k = rng.key();
        match t.insert(k) {
            Ok(id) => inserted.push((k, id)),
            Err(TableFull) => return (t, inserted),
        }
    }
}

#[test]
fn fills_above_95_percent_before_the_first_refusal() {
    for entries in [1 << 10, 10_000, 1 << 16, 300_000] {
        for seed in 1..=3 {
            let (t, inserted) = fill(entries, seed * 0x1234_5678);
            let load = t.len() as f64 / t.capacity() as f64;
            assert!(load > 0.95, "{entries} entries, seed {seed}: load {load}");
            // Displacement moved entries around; every one is still found
            // under the id its insert returned.
            for (k, id) in &inserted {
                assert_eq!(t.lookup(k), Some(*id));
            }
        }
    }
}

#[test]
fn emptying_a_full_table_and_refilling_it_works() {
    let (mut t, inserted) = fill(4096, 99);
    for (k, id) in &inserted {
        assert_eq!(t.remove_id(*id), Some(*k));
    }
    assert!(t.is_empty());
    assert_eq!(t.iter().count(), 0);
    let (t2, again) = fill(4096, 99);
    assert_eq!(again.len(), inserted.len());
    let mut rng = Rng(99);
    for _ in 0..inserted.len() {
        t.insert(rng.key()).unwrap();
    }
    assert_eq!(t.len(), t2.len());
    assert_eq!(t.memory_bytes(), t2.memory_bytes());
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u16),
    Remove(u16),
    RemoveId(u32),
    Lookup(u16),
    LookupBulk(Vec<u16>),
}

fn op(universe: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..universe).prop_map(Op::Insert),
        2 => (0..universe).prop_map(Op::Remove),
        1 => (0..300u32).prop_map(Op::RemoveId),
        1 => (0..universe).prop_map(Op::Lookup),
        1 => prop::collection::vec(0..universe, 0..80).prop_map(Op::LookupBulk),
    ]
}

/// Key `i` of the model's universe: spread over all fields.
fn model_key(i: u16) -> KeyV4 {
    Rng(u64::from(i) + 1).key()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn behaves_like_a_hash_map(
        entries in 1usize..200,
        ops in prop::collection::vec(op(400), 1..600),
        prefetching in any::<bool>(),
    ) {
        let mut t = CuckooTable::with_capacity(entries);
        // Both bulk lookups: the prefetching one of large tables, and the
        // direct one small (cache-resident) tables use.
        t.use_prefetching_bulk_lookup(prefetching);
        let mut model: HashMap<KeyV4, FlowId> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(i) => {
                    let k = model_key(i);
                    match t.insert(k) {
                        Ok(id) => {
                            if let Some(&old) = model.get(&k) {
                                prop_assert_eq!(id, old);
                            } else {
                                prop_assert!(!model.values().any(|&v| v == id));
                                model.insert(k, id);
                            }
                        }
                        Err(TableFull) => {
                            prop_assert!(!model.contains_key(&k));
                            prop_assert!(model.len() <= t.capacity());
                        }
                    }
                }
                Op::Remove(i) => {
                    let k = model_key(i);
                    prop_assert_eq!(t.remove(&k), model.remove(&k));
                }
                Op::RemoveId(raw) => {
                    let id = FlowId(raw);
                    let expect = model.iter().find(|(_, &v)| v == id).map(|(k, _)| *k);
                    if let Some(k) = expect {
                        model.remove(&k);
                    }
                    prop_assert_eq!(t.remove_id(id), expect);
                }
                Op::Lookup(i) => {
                    let k = model_key(i);
                    prop_assert_eq!(t.lookup(&k), model.get(&k).copied());
                }
                Op::LookupBulk(is) => {
                    let keys: Vec<KeyV4> = is.iter().map(|&i| model_key(i)).collect();
                    let mut out = vec![Some(FlowId(u32::MAX)); keys.len()];
                    t.lookup_bulk(&keys, &mut out);
                    for (k, o) in keys.iter().zip(&out) {
                        prop_assert_eq!(*o, model.get(k).copied());
                    }
                }
            }
            prop_assert_eq!(t.len(), model.len());
            // Every live entry is still found under its original id.
            for (k, &id) in &model {
                prop_assert_eq!(t.lookup(k), Some(id));
                prop_assert_eq!(t.key(id), Some(k));
            }
            // Iteration lists exactly the live entries, in id order.
            let listed: Vec<(FlowId, KeyV4)> = t.iter().map(|(id, k)| (id, *k)).collect();
            let mut expect: Vec<(FlowId, KeyV4)> =
                model.iter().map(|(k, &id)| (id, *k)).collect();
            expect.sort_by_key(|e| e.0);
            prop_assert_eq!(listed, expect);
        }
    }
}
