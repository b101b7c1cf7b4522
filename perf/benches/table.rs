//! flowlift's flow table (`dataplane::table::CuckooTable`) against
//! `hashbrown::HashMap` (its default foldhash hasher over the derived `Hash`) and
//! DPDK's `rte_hash` (CRC32-C hash, 16-byte keys), on the same random IPv4 keys,
//! at 10K, 1M and 8M entries:
//! - bulk lookup of 32 keys, all hits, drawn at random from the table (a stream
//!   of 2^20 prepared queries, so that big tables miss the caches as real
//!   traffic would); hashbrown does 32 single lookups, having no bulk call;
//! - insert rate: N keys into an empty table preallocated for N (timed once per
//!   fill outside criterion, since an 8M fill takes seconds);
//! - bytes per flow;
//! - and the SIMD tag compare against the scalar loop it replaces.
//!
//! EAL runs in this bench's own process (`--no-huge`, its heap sized for the 8M
//! rte_hash).
//!
//! `cargo bench -p flowlift-perf --bench table`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use flowlift_dataplane::flow::{FlowId, KeyV4, NO_VLAN};
use flowlift_dataplane::table::{simd, CuckooTable};
use rte::hash::RteHash;
use rte::Eal;

/// Keys per bulk lookup: flowlift's RX burst.
const BURST: usize = 32;
/// Prepared lookup keys per size, cycled through: 16 MiB of keys, more than the
/// last-level cache, so the query stream itself does not keep the table's lines
/// warm.
const QUERIES: usize = 1 << 20;
const SIZES: [usize; 3] = [10_000, 1_000_000, 8_000_000];

/// splitmix64: deterministic random keys, the same for every contender.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` distinct random keys (UDP 5-tuples on four ports, no VLAN).
fn random_keys(n: usize) -> Vec<KeyV4> {
    let mut rng = Rng(0x5eed);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let (a, b) = (rng.next(), rng.next());
        let k = KeyV4 {
            src: (a as u32).to_be_bytes(),
            dst: ((a >> 32) as u32).to_be_bytes(),
            sport: b as u16,
            dport: (b >> 16) as u16,
            vlan: NO_VLAN,
            proto: 17,
            in_port: (b >> 32) as u8 & 3,
        };
        if seen.insert(k) {
            keys.push(k);
        }
    }
    keys
}

/// The key as rte_hash sees it: its 16 bytes in field order.
fn key_bytes(k: &KeyV4) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&k.src);
    b[4..8].copy_from_slice(&k.dst);
    b[8..10].copy_from_slice(&k.sport.to_ne_bytes());
    b[10..12].copy_from_slice(&k.dport.to_ne_bytes());
    b[12..14].copy_from_slice(&k.vlan.to_ne_bytes());
    b[14] = k.proto;
    b[15] = k.in_port;
    b
}

type Hashbrown = hashbrown::HashMap<KeyV4, u32>;

/// Nanoseconds per insert of the median of `runs` fills of `keys` into a fresh
/// table (`fill` builds, fills and returns it; building is inside the timing,
/// but allocation is lazy so it costs page faults mostly during the fill, as for
/// all three).
fn insert_ns<T>(keys: usize, runs: usize, mut fill: impl FnMut() -> (T, Duration)) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let (table, d) = fill();
            drop(black_box(table));
            d.as_secs_f64() * 1e9 / keys as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let eal = Eal::init([
        "-l",
        "0",
        "--no-huge",
        // The 8M-entry rte_hash takes about 350 MB; the rest is slack.
        "-m",
        "2048",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=bench-table",
    ])
    .expect("EAL init");
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    simd_vs_scalar(&mut c);

    let all_keys = random_keys(*SIZES.iter().max().expect("sizes"));
    let all_bytes: Vec<[u8; 16]> = all_keys.iter().map(key_bytes).collect();
    let mut summary = Vec::new();
    for (round, &n) in SIZES.iter().enumerate() {
        let keys = &all_keys[..n];
        let bytes = &all_bytes[..n];
        let runs = match n {
            0..=100_000 => 21,
            100_001..=1_000_000 => 3,
            _ => 1,
        };

        let ours_ins = insert_ns(n, runs, || {
            let mut t = CuckooTable::<KeyV4>::with_capacity(n);
            let start = Instant::now();
            for k in keys {
                let _ = black_box(t.insert(*k));
            }
            (t, start.elapsed())
        });
        let hb_ins = insert_ns(n, runs, || {
            let mut t = Hashbrown::with_capacity(n);
            let start = Instant::now();
            for (i, k) in keys.iter().enumerate() {
                black_box(t.insert(*k, i as u32));
            }
            (t, start.elapsed())
        });
        let mut rte_runs = 0;
        let rte_ins = insert_ns(n, runs, || {
            rte_runs += 1;
            let name = format!("bench{round}_{rte_runs}");
            let mut t = RteHash::new(&eal, &name, n as u32, 16).expect("rte_hash_create");
            let start = Instant::now();
            for (i, k) in bytes.iter().enumerate() {
                let _ = black_box(t.add_key_data(k, i as u64));
            }
            (t, start.elapsed())
        });

        // The tables the lookups run on, filled once.
        let mut ours = CuckooTable::<KeyV4>::with_capacity(n);
        let mut hb = Hashbrown::with_capacity(n);
        let heap_before = rte::hash::heap_allocated_bytes(&eal);
        let mut theirs =
            RteHash::new(&eal, &format!("bench{round}"), n as u32, 16).expect("create");
        let rte_bytes = rte::hash::heap_allocated_bytes(&eal) - heap_before;
        let mut refused = [0usize; 3];
        for (i, (k, b)) in keys.iter().zip(bytes).enumerate() {
            refused[0] += usize::from(ours.insert(*k).is_err());
            hb.insert(*k, i as u32);
            refused[2] += usize::from(theirs.add_key_data(b, i as u64).is_err());
        }
        // Queries: random keys that all three hold (all hits for everyone).
        let mut rng = Rng(n as u64);
        let mut q_keys = Vec::with_capacity(QUERIES);
        let mut q_bytes = Vec::with_capacity(QUERIES);
        while q_keys.len() < QUERIES {
            let i = (rng.next() % n as u64) as usize;
            if ours.lookup(&keys[i]).is_some() && theirs.lookup_data(&bytes[i]).is_some() {
                q_keys.push(keys[i]);
                q_bytes.push(bytes[i]);
            }
        }

        let mut g = c.benchmark_group(format!("lookup32_hits_{n}"));
        let mut at = 0;
        let mut out = [None::<FlowId>; BURST];
        g.bench_function("flowlift", |b| {
            b.iter(|| {
                at = (at + BURST) % QUERIES;
                ours.lookup_bulk(&q_keys[at..at + BURST], &mut out);
                black_box(&out);
            })
        });
        // The other bulk lookup on the same table, side by side: the prefetching
        // one for a table that would otherwise be probed key by key, and back.
        let prefetching_by_size = ours.bulk_lookup_prefetches();
        ours.use_prefetching_bulk_lookup(!prefetching_by_size);
        let other = if prefetching_by_size {
            "flowlift_key_by_key"
        } else {
            "flowlift_prefetching"
        };
        g.bench_function(other, |b| {
            b.iter(|| {
                at = (at + BURST) % QUERIES;
                ours.lookup_bulk(&q_keys[at..at + BURST], &mut out);
                black_box(&out);
            })
        });
        ours.use_prefetching_bulk_lookup(prefetching_by_size);
        let mut out = [None::<u32>; BURST];
        g.bench_function("hashbrown", |b| {
            b.iter(|| {
                at = (at + BURST) % QUERIES;
                for (o, k) in out.iter_mut().zip(&q_keys[at..at + BURST]) {
                    *o = hb.get(k).copied();
                }
                black_box(&out);
            })
        });
        let mut out = [None::<u64>; BURST];
        g.bench_function("rte_hash", |b| {
            b.iter(|| {
                at = (at + BURST) % QUERIES;
                let mut refs = [&[][..]; BURST];
                for (r, k) in refs.iter_mut().zip(&q_bytes[at..at + BURST]) {
                    *r = &k[..];
                }
                theirs.lookup_bulk_data(&refs, &mut out);
                black_box(&out);
            })
        });
        g.finish();

        // hashbrown: one control byte per bucket plus the (key, value) pair,
        // padded to the key's 8-byte alignment: 16 + 4 -> 24 bytes.
        let hb_bytes =
            hb.capacity().next_power_of_two() * (std::mem::size_of::<(KeyV4, u32)>() + 1);
        summary.push(format!(
            "{n} entries: insert ns/key flowlift {ours_ins:.1}, hashbrown {hb_ins:.1}, \
             rte_hash {rte_ins:.1}; bytes/flow flowlift {:.1} (capacity {}), hashbrown ~{:.1} \
             (estimated, {} buckets), rte_hash {:.1} (heap); refused flowlift {}, rte_hash {}",
            ours.memory_bytes() as f64 / ours.len() as f64,
            ours.capacity(),
            hb_bytes as f64 / hb.len() as f64,
            hb.capacity().next_power_of_two(),
            rte_bytes as f64 / theirs.len() as f64,
            refused[0],
            refused[2],
        ));
    }
    c.final_summary();
    for line in summary {
        println!("{line}");
    }
}

/// The tag compare of one bucket, SSE2 against the scalar loop, over 4096
/// buckets' tag arrays (32 KiB, cache-resident, so the compare dominates), two
/// ways: independent compares (throughput, as in a bulk lookup; the compiler may
/// vectorise the scalar loop across buckets), and chained ones where the next
/// tag depends on the last result (latency, as in a single lookup).
fn simd_vs_scalar(c: &mut Criterion) {
    let mut rng = Rng(7);
    let tags: Vec<[u16; 8]> = (0..4096)
        .map(|_| {
            let mut t = [0u16; 8];
            for x in &mut t {
                // A small tag range, so that some lanes match.
                *x = (rng.next() % 16) as u16;
            }
            t
        })
        .collect();
    let mut g = c.benchmark_group("tag_match_mask_4096_buckets");
    macro_rules! both {
        ($name:literal, $f:path) => {
            g.bench_function(concat!($name, "_independent"), |b| {
                b.iter(|| {
                    let tag = black_box(3u16);
                    tags.iter().map(|t| u32::from($f(t, tag))).sum::<u32>()
                })
            });
            g.bench_function(concat!($name, "_chained"), |b| {
                b.iter(|| {
                    let mut tag = black_box(3u16);
                    for t in &tags {
                        tag = u16::from($f(t, tag)) & 15;
                    }
                    tag
                })
            });
        };
    }
    #[cfg(target_arch = "x86_64")]
    both!("sse2", simd::tag_match_mask_sse2);
    both!("scalar", simd::tag_match_mask_scalar);
    g.finish();
}
