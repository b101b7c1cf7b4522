//! EAL in its own process (one test per file): DPDK's `rte_hash` through
//! `rte::hash::RteHash`: add, single and bulk lookups (hits, misses, chunks
//! longer than DPDK's 64-key limit), wrong key lengths, a full table.

use rte::hash::RteHash;
use rte::Eal;

fn key(i: u32) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k[8] = 0xab;
    k
}

#[test]
fn rte_hash_adds_and_looks_up() {
    let eal = Eal::init([
        "-l",
        "0",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--log-level=lib.hash:error",
        "--file-prefix=rte-test-hash",
    ])
    .expect("EAL init");

    let heap = rte::hash::heap_allocated_bytes(&eal);
    let mut h = RteHash::new(&eal, "test_hash", 1024, 16).expect("create");
    // At least the buckets (1024 / 8 of 64 bytes) and the keys (16 bytes each).
    assert!(rte::hash::heap_allocated_bytes(&eal) >= heap + 1024 * 24);
    assert!(h.is_empty());
    assert_eq!(h.key_len(), 16);
    for i in 0..500 {
        h.add_key_data(&key(i), u64::from(i) * 3 + 1).expect("add");
    }
    assert_eq!(h.len(), 500);
    h.add_key_data(&key(7), 99).expect("replace");
    assert_eq!(h.len(), 500);
    assert_eq!(h.lookup_data(&key(7)), Some(99));
    assert_eq!(h.lookup_data(&key(8)), Some(25));
    assert_eq!(h.lookup_data(&key(5000)), None);
    assert_eq!(h.lookup_data(&[0u8; 4]), None, "wrong length");
    assert!(h.add_key_data(&[0u8; 4], 1).is_err());

    // 150 keys: three bulk calls; half hits.
    let keys: Vec<[u8; 16]> = (0..150).map(|i| key(i * 7)).collect();
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut out = vec![None; refs.len()];
    h.lookup_bulk_data(&refs, &mut out);
    for (k, o) in refs.iter().zip(&out) {
        assert_eq!(*o, h.lookup_data(k));
    }
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 72);
    // A chunk with a short key goes key by key.
    let mixed: Vec<&[u8]> = vec![&keys[1], &[1, 2, 3], &keys[0]];
    let mut out = [None; 3];
    h.lookup_bulk_data(&mixed, &mut out);
    assert_eq!(out, [Some(99), None, Some(1)], "keys 7 (replaced) and 0");

    // Filling past capacity ends in ENOSPC.
    let mut small = RteHash::new(&eal, "test_hash_small", 64, 16).expect("create");
    let full = (0..10_000)
        .map(|i| small.add_key_data(&key(i), 0))
        .find_map(Result::err)
        .expect("a 64-entry table fills up");
    assert!(full.to_string().contains("ENOSPC"), "{full}");
    assert!(
        RteHash::new(&eal, "test_hash", 64, 16).is_err(),
        "duplicate name"
    );
}
