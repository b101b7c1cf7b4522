//! A worker's flow table: a bucketized cuckoo hash from flow key to [`FlowId`],
//! the index of the flow's key (and, in the worker, of its counters and cached
//! action).
//!
//! Layout, as DPDK's `rte_hash` has it and for the same reasons:
//! - Buckets are one cache line each: eight 16-bit tags (one SSE2 register) and
//!   eight 32-bit entry indices. A lookup reads at most two buckets and then the
//!   one key whose tag matched; the tag rejects all but about 1 in 2^15 of the
//!   other slots without touching their keys.
//! - Every key has two candidate buckets. The primary comes from the hash's low
//!   bits; the alternate is the primary XOR a hash of the tag, so a slot's other
//!   bucket is known from its tag alone and an entry can be moved (displaced)
//!   without reading or rehashing its key.
//! - Keys live in a separate array indexed by entry index, which is the
//!   [`FlowId`]. Displacement moves tag and index between buckets, never keys, so
//!   an id stays valid for as long as its entry lives.
//!
//! Everything is allocated by [`CuckooTable::with_capacity`]; lookup, insert and
//! remove never allocate and never panic. A full table refuses an insert with
//! [`TableFull`] (above 95% load, thanks to the breadth-first displacement
//! search) rather than growing: a worker's memory is fixed at start-up.
//!
//! Threading: a table belongs to one worker, which alone mutates it. The borrow
//! rules are the only synchronisation: anyone else (the control core at exit)
//! reads it through `&self` only when the worker is not running.

mod hash;
pub mod simd;
#[cfg(test)]
mod tests;

pub use hash::TableKey;

use crate::flow::FlowId;
use crate::pages;
use simd::{prefetch, tag_match_mask};

/// Slots per bucket: eight 16-bit tags are one 128-bit SSE2 compare, and eight
/// tags plus eight 32-bit indices (48 bytes) fit one 64-byte cache line. With
/// two choices of bucket, eight slots allow loads above 95% (two-choice,
/// 8-slot cuckoo hashing fills to about 99.9% in theory).
pub const SLOTS_PER_BUCKET: usize = 8;

/// The tag of an empty slot; a key's tag is never 0 (see [`Hashed::new`]).
const EMPTY_TAG: u16 = 0;

/// The most keys [`CuckooTable::lookup_bulk`] works on at once: its per-key state
/// lives on the stack in arrays this long. 64 is DPDK's
/// `RTE_HASH_LOOKUP_BULK_MAX` too and above any RX burst flowlift uses; longer
/// inputs are taken in chunks of 64.
pub const BULK_MAX: usize = 64;

/// Tables whose buckets and keys fit in this many bytes are looked up without
/// the prefetch passes: half a MiB is the L2 cache of the smallest x86 server
/// cores flowlift runs on (AMD Zen 2/3), so such a table stays cache-resident
/// while a worker runs. Measured at 10K flows (perf/README.md, "Flow table").
const CACHE_RESIDENT_BYTES: usize = 512 * 1024;

/// Nodes (full buckets) the displacement search may visit per insert. Each node
/// has eight children, so 512 nodes cover the two roots and about three levels
/// below them: enough for loads of 99.5-100% before the first refusal with
/// random keys (the load-factor test asks for 95%), while an
/// insert that fails stays bounded (512 bucket reads, a few microseconds).
const BFS_NODES: usize = 512;

/// The longest displacement path, in moves. Beyond three or four moves the
/// queue is exhausted anyway; this bounds the work of applying a path and keeps
/// the ancestor check that prevents cyclic paths short.
const BFS_MAX_DEPTH: u8 = 5;

/// Odd multiplier turning a tag into the alternate bucket's XOR offset: 2^64
/// divided by the golden ratio (Fibonacci hashing), which spreads the 2^16 tags
/// over all bucket-index bits, so that a key's two buckets are unrelated even in
/// tables of millions of buckets (DPDK XORs the raw 16-bit signature, which keeps
/// both buckets of a key within the same 2^16-bucket block).
const ALT_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// The table is full: neither of the key's buckets has a free slot, and no
/// short chain of displacements frees one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("flow table full")]
pub struct TableFull;

/// One cache line: eight tags (0 = empty) and the entry index each slot holds.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u16; SLOTS_PER_BUCKET],
    slots: [u32; SLOTS_PER_BUCKET],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    /// The first empty slot.
    #[inline(always)]
    fn free_slot(&self) -> Option<usize> {
        let free = tag_match_mask(&self.tags, EMPTY_TAG);
        (free != 0).then_some(free.trailing_zeros() as usize)
    }
}

/// What a key's hash says about where it lives.
#[derive(Clone, Copy, Debug, Default)]
struct Hashed {
    // u32, not usize: twelve bytes a key keeps lookup_bulk's per-chunk state
    // (which it zeroes on entry) small. Capacity is capped at 2^31 entries, so
    // bucket indices fit.
    primary: u32,
    alternate: u32,
    tag: u16,
}

impl Hashed {
    #[inline(always)]
    fn new(hash: u64, mask: usize) -> Self {
        // The top 16 bits: independent of the low bits that pick the bucket. 0
        // marks empty slots, so it becomes 1 (a 1-in-65536 bias).
        let tag = ((hash >> 48) as u16).max(1);
        let primary = hash as usize & mask;
        Hashed {
            primary: primary as u32,
            alternate: alt_bucket(primary, tag, mask) as u32,
            tag,
        }
    }
}

impl Hashed {
    #[inline(always)]
    fn primary(&self) -> usize {
        self.primary as usize
    }

    #[inline(always)]
    fn alternate(&self) -> usize {
        self.alternate as usize
    }
}

/// A key's hash as one table uses it ([`CuckooTable::hash_key`]): its two
/// buckets and its tag. Meaningful only for the table that made it.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHash(Hashed);

/// The other bucket of an entry in `bucket` with `tag`. An involution:
/// `alt_bucket(alt_bucket(b, t), t) == b`. The offset is odd, so the two buckets
/// differ whenever the table has more than one.
#[inline(always)]
fn alt_bucket(bucket: usize, tag: u16, mask: usize) -> usize {
    let offset = (u64::from(tag).wrapping_mul(ALT_MULTIPLIER) >> 24) as usize | 1;
    (bucket ^ offset) & mask
}

/// A bucket the displacement search reached, and how.
#[derive(Clone, Copy, Debug, Default)]
struct BfsNode {
    bucket: u32,
    /// The node whose bucket's entry at `via_slot` would move here; `NO_PARENT`
    /// for the key's own two buckets.
    parent: u16,
    via_slot: u8,
    depth: u8,
}

const NO_PARENT: u16 = u16::MAX;
const _: () = assert!(BFS_NODES < NO_PARENT as usize);

/// A bucketized cuckoo hash from key to [`FlowId`]; see the module doc.
#[derive(Debug)]
pub struct CuckooTable<K: TableKey> {
    buckets: Vec<Bucket>,
    /// `buckets.len() - 1` (a power of two minus one).
    mask: usize,
    /// Keys by entry index. Grows (within its preallocated capacity, so without
    /// allocating) up to the highest index ever used; freed indices are reused.
    keys: Vec<K>,
    /// One bit per entry index: set while the entry lives.
    live: Vec<u64>,
    /// Freed entry indices, reused last-freed first (its key is likely cached).
    free: Vec<u32>,
    len: usize,
    /// The displacement search's queue, kept here so an insert never allocates.
    bfs: Vec<BfsNode>,
    /// Whether buckets and keys together fit a core's L2 cache, where the bulk
    /// lookup's prefetch passes cost more than the misses they hide.
    cache_resident: bool,
}

/// The most entries a table holds: entry indices are [`FlowId`]s, 32 bits, and
/// a worker numbers its IPv6 flows after its IPv4 ones, so two tables of at
/// most 2^31 entries each still give every flow an id.
pub const MAX_CAPACITY: usize = 1 << 31;

impl<K: TableKey> CuckooTable<K> {
    /// The capacity [`CuckooTable::with_capacity`] gives for `entries` (rounded
    /// up to a power of two of buckets, at least one), or `None` above
    /// [`MAX_CAPACITY`]. Allocates nothing: configs are checked with it.
    pub fn capacity_for(entries: usize) -> Option<usize> {
        let buckets = entries
            .div_ceil(SLOTS_PER_BUCKET)
            .max(1)
            .checked_next_power_of_two()?;
        let capacity = buckets.checked_mul(SLOTS_PER_BUCKET)?;
        (capacity <= MAX_CAPACITY).then_some(capacity)
    }

    /// The bytes [`CuckooTable::with_capacity`] allocates for `entries` (what
    /// [`CuckooTable::memory_bytes`] then reports), or `None` above
    /// [`MAX_CAPACITY`]. Allocates nothing.
    pub fn memory_for(entries: usize) -> Option<usize> {
        use std::mem::size_of;
        let capacity = Self::capacity_for(entries)?;
        Some(
            capacity / SLOTS_PER_BUCKET * size_of::<Bucket>()
                + capacity * size_of::<K>()
                + capacity.div_ceil(64) * size_of::<u64>()
                + capacity * size_of::<u32>()
                + BFS_NODES * size_of::<BfsNode>(),
        )
    }

    /// A table for at least `entries` keys (rounded up: a power of two of
    /// buckets, at least one), with every byte it will ever use allocated now.
    ///
    /// # Panics
    /// If the entry count is above [`MAX_CAPACITY`] (see
    /// [`CuckooTable::capacity_for`], which callers with untrusted sizes check
    /// first).
    pub fn with_capacity(entries: usize) -> Self {
        let capacity = Self::capacity_for(entries)
            .unwrap_or_else(|| panic!("a flow table holds at most 2^31 entries (asked {entries})"));
        let buckets = capacity / SLOTS_PER_BUCKET;
        CuckooTable {
            buckets: pages::filled_with(buckets, Bucket::default),
            mask: buckets - 1,
            keys: pages::reserved(capacity),
            live: pages::filled_with(capacity.div_ceil(64), || 0),
            free: pages::reserved(capacity),
            len: 0,
            bfs: vec![BfsNode::default(); BFS_NODES],
            cache_resident: buckets * std::mem::size_of::<Bucket>()
                + capacity * std::mem::size_of::<K>()
                <= CACHE_RESIDENT_BYTES,
        }
    }

    /// The number of entries the table can hold (one per slot; inserts may fail
    /// somewhat earlier, above 95% load).
    pub fn capacity(&self) -> usize {
        self.buckets.len() * SLOTS_PER_BUCKET
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated: buckets, keys, the free list, the live bitmap and the
    /// displacement queue. Fixed from construction on.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.buckets.capacity() * size_of::<Bucket>()
            + self.keys.capacity() * size_of::<K>()
            + self.live.capacity() * size_of::<u64>()
            + self.free.capacity() * size_of::<u32>()
            + self.bfs.capacity() * size_of::<BfsNode>()
    }

    #[inline(always)]
    fn hashed(&self, key: &K) -> Hashed {
        Hashed::new(key.hash64(), self.mask)
    }

    #[inline(always)]
    fn bucket(&self, i: usize) -> &Bucket {
        &self.buckets[i & self.mask]
    }

    #[inline(always)]
    fn bucket_mut(&mut self, i: usize) -> &mut Bucket {
        let mask = self.mask;
        &mut self.buckets[i & mask]
    }

    #[inline(always)]
    fn is_live(&self, index: usize) -> bool {
        self.live
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    #[inline(always)]
    fn set_live(&mut self, index: usize, live: bool) {
        if let Some(w) = self.live.get_mut(index / 64) {
            if live {
                *w |= 1 << (index % 64);
            } else {
                *w &= !(1 << (index % 64));
            }
        }
    }

    /// Among the slots of `bucket` set in `candidates` (tag matches), the one
    /// holding `key`: its slot number and entry index.
    #[inline(always)]
    fn match_in(&self, bucket: usize, mut candidates: u8, key: &K) -> Option<(usize, u32)> {
        let b = self.bucket(bucket);
        while candidates != 0 {
            let slot = candidates.trailing_zeros() as usize;
            let index = b.slots[slot];
            if self.keys.get(index as usize) == Some(key) {
                return Some((slot, index));
            }
            candidates &= candidates - 1;
        }
        None
    }

    /// Where `key` is: bucket, slot and entry index.
    #[inline(always)]
    fn find(&self, h: &Hashed, key: &K) -> Option<(usize, usize, u32)> {
        let m = tag_match_mask(&self.bucket(h.primary()).tags, h.tag);
        if let Some((slot, index)) = self.match_in(h.primary(), m, key) {
            return Some((h.primary(), slot, index));
        }
        let m = tag_match_mask(&self.bucket(h.alternate()).tags, h.tag);
        self.match_in(h.alternate(), m, key)
            .map(|(slot, index)| (h.alternate(), slot, index))
    }

    /// The id of `key`'s entry, if it has one.
    #[inline]
    pub fn lookup(&self, key: &K) -> Option<FlowId> {
        let h = self.hashed(key);
        self.find(&h, key).map(|(_, _, index)| FlowId(index))
    }

    /// Looks up `keys[i]` for every `i` and writes the result to `out[i]` (as
    /// many as the shorter of the two has). Faster per key than [`Self::lookup`]
    /// on a table larger than the cache: the memory accesses of all keys overlap.
    /// Stages, each over the whole chunk of up to [`BULK_MAX`] keys: hash and
    /// prefetch both buckets; compare tags (the buckets are arriving) and
    /// prefetch the first candidate's key; compare keys. A table that fits in
    /// a core's L2 cache (512 KiB) has no misses to hide and is probed key by key
    /// instead, which measured faster there (perf/README.md).
    pub fn lookup_bulk(&self, keys: &[K], out: &mut [Option<FlowId>]) {
        for (keys, out) in keys.chunks(BULK_MAX).zip(out.chunks_mut(BULK_MAX)) {
            let mut hashes = [KeyHash::default(); BULK_MAX];
            for (h, key) in hashes.iter_mut().zip(keys) {
                *h = self.hash_key(key);
            }
            self.lookup_bulk_hashed(keys, &hashes, out);
        }
    }

    /// `key`'s hash as this table uses it and, on a table larger than the
    /// cache, a prefetch of both its buckets: what a caller that makes its
    /// keys one by one (the worker's parse) does as each is made, so that the
    /// buckets have the rest of the burst's parsing to arrive before
    /// [`Self::lookup_bulk_hashed`] reads them.
    #[inline(always)]
    pub fn hash_key(&self, key: &K) -> KeyHash {
        let h = self.hashed(key);
        if !self.cache_resident {
            prefetch(self.bucket(h.primary()));
            prefetch(self.bucket(h.alternate()));
        }
        KeyHash(h)
    }

    /// [`Self::lookup_bulk`] of keys whose hashes [`Self::hash_key`] gave
    /// (`hashes[i]` is `keys[i]`'s; as many as the shortest of the three).
    pub fn lookup_bulk_hashed(&self, keys: &[K], hashes: &[KeyHash], out: &mut [Option<FlowId>]) {
        if self.cache_resident {
            // Nothing to hide: probe key by key, the primary bucket first, and let
            // the core overlap the independent probes.
            for ((o, key), h) in out.iter_mut().zip(keys).zip(hashes) {
                *o = self.find(&h.0, key).map(|(_, _, index)| FlowId(index));
            }
            return;
        }
        for ((keys, hashes), out) in keys
            .chunks(BULK_MAX)
            .zip(hashes.chunks(BULK_MAX))
            .zip(out.chunks_mut(BULK_MAX))
        {
            self.lookup_chunk(keys, hashes, out);
        }
    }

    /// The bulk lookup's passes over one chunk whose buckets were prefetched
    /// when the keys were hashed.
    #[inline(always)]
    fn lookup_chunk(&self, keys: &[K], hashed: &[KeyHash], out: &mut [Option<FlowId>]) {
        let mut masks = [(0u8, 0u8); BULK_MAX];
        for ((m, KeyHash(h)), _) in masks.iter_mut().zip(hashed).zip(keys) {
            let primary = self.bucket(h.primary());
            let alternate = self.bucket(h.alternate());
            *m = (
                tag_match_mask(&primary.tags, h.tag),
                tag_match_mask(&alternate.tags, h.tag),
            );
            let first = if m.0 != 0 {
                Some(primary.slots[m.0.trailing_zeros() as usize])
            } else if m.1 != 0 {
                Some(alternate.slots[m.1.trailing_zeros() as usize])
            } else {
                None
            };
            if let Some(key) = first.and_then(|i| self.keys.get(i as usize)) {
                prefetch(key);
            }
        }
        for (((o, key), KeyHash(h)), m) in out.iter_mut().zip(keys).zip(hashed).zip(&masks) {
            *o = self
                .match_in(h.primary(), m.0, key)
                .or_else(|| self.match_in(h.alternate(), m.1, key))
                .map(|(_, index)| FlowId(index));
        }
    }

    /// Whether `lookup_bulk` uses its prefetching passes (tables larger than a
    /// core's L2 cache) rather than probing key by key.
    pub fn bulk_lookup_prefetches(&self) -> bool {
        !self.cache_resident
    }

    /// Chooses the bulk lookup regardless of the table's size: the prefetching
    /// one (`true`) or key by key (`false`). For tests and benchmarks.
    pub fn use_prefetching_bulk_lookup(&mut self, on: bool) {
        self.cache_resident = !on;
    }

    /// The key of entry `id`, if it lives.
    pub fn key(&self, id: FlowId) -> Option<&K> {
        if self.is_live(id.index()) {
            self.keys.get(id.index())
        } else {
            None
        }
    }

    /// Inserts `key` and returns its new id, or the id it already had.
    pub fn insert(&mut self, key: K) -> Result<FlowId, TableFull> {
        self.find_or_insert(key).map(|(id, _)| id)
    }

    /// The id `key` already has (`false`), or the id it gets now (`true`):
    /// one hash and one probe, where a lookup followed by an insert would
    /// hash and probe twice. A full table refuses only a key it does not hold.
    pub fn find_or_insert(&mut self, key: K) -> Result<(FlowId, bool), TableFull> {
        let h = self.hashed(&key);
        if let Some((_, _, index)) = self.find(&h, &key) {
            return Ok((FlowId(index), false));
        }
        self.insert_absent(&h, key).map(|id| (id, true))
    }

    /// Inserts `key`, which the table does not hold, hashed as `h`.
    fn insert_absent(&mut self, h: &Hashed, key: K) -> Result<FlowId, TableFull> {
        if self.len >= self.capacity() {
            return Err(TableFull);
        }
        let (bucket, slot) = if let Some(s) = self.bucket(h.primary()).free_slot() {
            (h.primary(), s)
        } else if let Some(s) = self.bucket(h.alternate()).free_slot() {
            (h.alternate(), s)
        } else {
            self.make_room(h).ok_or(TableFull)?
        };
        let index = match self.free.pop() {
            Some(i) => {
                if let Some(k) = self.keys.get_mut(i as usize) {
                    *k = key;
                }
                i
            }
            None => {
                // len < capacity and no freed index: keys.len() == len, so
                // this push stays within the preallocated capacity.
                let i = self.keys.len() as u32;
                self.keys.push(key);
                i
            }
        };
        self.set_live(index as usize, true);
        let b = self.bucket_mut(bucket);
        b.tags[slot] = h.tag;
        b.slots[slot] = index;
        self.len += 1;
        Ok(FlowId(index))
    }

    /// Frees a slot in one of `h`'s two (full) buckets by moving entries along
    /// the shortest chain of displacements the breadth-first search finds: the
    /// last entry of the chain moves to a free slot in its other bucket, each
    /// entry before it into the slot just vacated. Returns the freed slot, or
    /// `None` (nothing moved) when no chain within the search's bounds exists.
    fn make_room(&mut self, h: &Hashed) -> Option<(usize, usize)> {
        let roots = if h.alternate() == h.primary() { 1 } else { 2 };
        for (i, &b) in [h.primary(), h.alternate()].iter().take(roots).enumerate() {
            self.bfs[i] = BfsNode {
                bucket: b as u32,
                parent: NO_PARENT,
                via_slot: 0,
                depth: 0,
            };
        }
        let mut tail = roots;
        let mut head = 0;
        while head < tail {
            let node = self.bfs[head];
            let from = node.bucket as usize;
            let tags = self.bucket(from).tags;
            for (slot, &tag) in tags.iter().enumerate() {
                let to = alt_bucket(from, tag, self.mask);
                if let Some(free) = self.bucket(to).free_slot() {
                    self.move_entry(from, slot, to, free);
                    return Some(self.apply_path(head, slot));
                }
                if tail < BFS_NODES && node.depth < BFS_MAX_DEPTH && !self.on_path(head, to as u32)
                {
                    self.bfs[tail] = BfsNode {
                        bucket: to as u32,
                        parent: head as u16,
                        via_slot: slot as u8,
                        depth: node.depth + 1,
                    };
                    tail += 1;
                }
            }
            head += 1;
        }
        None
    }

    /// Whether `bucket` is node `n`'s or one of its ancestors'. A path through
    /// the same bucket twice would move an entry out of a slot an earlier move
    /// already refilled.
    fn on_path(&self, mut n: usize, bucket: u32) -> bool {
        loop {
            let node = self.bfs[n];
            if node.bucket == bucket {
                return true;
            }
            if node.parent == NO_PARENT {
                return false;
            }
            n = usize::from(node.parent);
        }
    }

    /// Slot `vacated` of node `n`'s bucket was just emptied: fill it from the
    /// parent, and so on up to the root, whose emptied slot is returned.
    fn apply_path(&mut self, mut n: usize, mut vacated: usize) -> (usize, usize) {
        loop {
            let node = self.bfs[n];
            if node.parent == NO_PARENT {
                return (node.bucket as usize, vacated);
            }
            let parent = self.bfs[usize::from(node.parent)];
            let slot = usize::from(node.via_slot);
            self.move_entry(parent.bucket as usize, slot, node.bucket as usize, vacated);
            vacated = slot;
            n = usize::from(node.parent);
        }
    }

    #[inline(always)]
    fn move_entry(&mut self, from: usize, from_slot: usize, to: usize, to_slot: usize) {
        let src = self.bucket(from);
        let (tag, index) = (src.tags[from_slot], src.slots[from_slot]);
        self.bucket_mut(from).tags[from_slot] = EMPTY_TAG;
        let dst = self.bucket_mut(to);
        dst.tags[to_slot] = tag;
        dst.slots[to_slot] = index;
    }

    /// Empties a slot and frees its entry index.
    fn release(&mut self, bucket: usize, slot: usize, index: u32) {
        self.bucket_mut(bucket).tags[slot] = EMPTY_TAG;
        self.set_live(index as usize, false);
        // At most `capacity` indices are ever freed at once: no reallocation.
        self.free.push(index);
        self.len -= 1;
    }

    /// Removes `key`; returns the id it had.
    pub fn remove(&mut self, key: &K) -> Option<FlowId> {
        let h = self.hashed(key);
        let (bucket, slot, index) = self.find(&h, key)?;
        self.release(bucket, slot, index);
        Some(FlowId(index))
    }

    /// Removes the entry with id `id`; returns its key.
    pub fn remove_id(&mut self, id: FlowId) -> Option<K> {
        let key = *self.key(id)?;
        let h = self.hashed(&key);
        for bucket in [h.primary(), h.alternate()] {
            let b = self.bucket(bucket);
            let mut m = tag_match_mask(&b.tags, h.tag);
            while m != 0 {
                let slot = m.trailing_zeros() as usize;
                if b.slots[slot] == id.0 {
                    self.release(bucket, slot, id.0);
                    return Some(key);
                }
                m &= m - 1;
            }
        }
        None
    }

    /// Every entry, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (FlowId, &K)> + '_ {
        self.keys
            .iter()
            .enumerate()
            .filter(|(i, _)| self.is_live(*i))
            .map(|(i, k)| (FlowId(i as u32), k))
    }
}
