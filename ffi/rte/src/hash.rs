//! DPDK's `rte_hash` (the cuckoo hash DPDK's l3fwd exact-match mode uses), owned
//! and safe: the yardstick flowlift's own flow table is benchmarked against.
//!
//! Keys are byte strings of the length fixed at creation; each carries a 64-bit
//! value (DPDK stores it as a `void *`). The hash function is DPDK's
//! `rte_hash_crc` (CRC32-C with SSE4.2 where the CPU has it), the default DPDK
//! itself picks on x86 and the one l3fwd uses. The table is allocated from EAL's
//! memory, so it is made from an [`Eal`] and holds off EAL's clean-up until it
//! is freed.

use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::eal::EalShared;
use crate::{Eal, Errno, Error};

/// DPDK's limit on keys per `rte_hash_lookup_bulk_data` call
/// (`RTE_HASH_LOOKUP_BULK_MAX`); longer inputs are taken in chunks this long.
pub const LOOKUP_BULK_MAX: usize = dpdk_sys::RTE_HASH_LOOKUP_BULK_MAX as usize;

/// `SOCKET_ID_ANY`: allocate on whatever NUMA node EAL prefers.
const SOCKET_ID_ANY: i32 = -1;

/// An `rte_hash` table, freed on `Drop`.
///
/// Created without DPDK's concurrency flags: at most one writer and no reader
/// during writes, which `&mut self` on [`RteHash::add_key_data`] enforces;
/// lookups through `&self` may run on several threads at once.
///
/// A table cannot be made without EAL:
///
/// ```compile_fail,E0061
/// let table = rte::hash::RteHash::new("t", 1024, 16);
/// ```
#[derive(Debug)]
pub struct RteHash {
    raw: NonNull<dpdk_sys::rte_hash>,
    key_len: usize,
    name: String,
    /// Keeps EAL, whose memory holds the table, alive until `Drop` frees it.
    _eal: Arc<EalShared>,
}

// SAFETY: the table is plain memory in EAL's heap, usable from any thread; the
// only thread-affine state DPDK keeps is the per-lcore free-slot cache, which it
// indexes by the calling lcore id itself.
unsafe impl Send for RteHash {}
// SAFETY: shared references only read (lookups); DPDK allows concurrent readers
// without writers even without its RW-concurrency flag.
unsafe impl Sync for RteHash {}

impl RteHash {
    /// Creates a table for `entries` keys of `key_len` bytes. `name` must be
    /// unique in the process (DPDK names a memory zone after it) and shorter
    /// than 32 bytes.
    pub fn new(eal: &Eal, name: &str, entries: u32, key_len: u32) -> Result<RteHash, Error> {
        let cname = CString::new(name).map_err(|_| Error::BadArgument(name.to_owned()))?;
        let params = dpdk_sys::rte_hash_parameters {
            name: cname.as_ptr(),
            entries,
            reserved: 0,
            key_len,
            hash_func: Some(dpdk_sys::rte_hash_crc),
            hash_func_init_val: 0,
            socket_id: SOCKET_ID_ANY,
            extra_flag: 0,
        };
        // SAFETY: params and the name it points to are valid for the call (DPDK
        // copies the name); EAL is initialised (we borrow it); failure returns
        // NULL and sets rte_errno.
        let raw = unsafe { dpdk_sys::rte_hash_create(&params) };
        NonNull::new(raw)
            .map(|raw| RteHash {
                raw,
                key_len: key_len as usize,
                name: name.to_owned(),
                _eal: Arc::clone(eal.shared()),
            })
            .ok_or_else(|| Error::Hash {
                name: name.to_owned(),
                op: "create",
                errno: Errno::last(),
            })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key length every key must have.
    pub fn key_len(&self) -> usize {
        self.key_len
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        // SAFETY: the table is alive; rte_hash_count only reads it.
        let n = unsafe { dpdk_sys::rte_hash_count(self.raw.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Whether the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bad_key(&self, key: &[u8]) -> Error {
        Error::BadArgument(format!(
            "{} key of {} bytes (table keys are {})",
            self.name,
            key.len(),
            self.key_len
        ))
    }

    /// Adds `key` with value `data`, or replaces the value of a present key.
    /// `ENOSPC` when the table is full.
    pub fn add_key_data(&mut self, key: &[u8], data: u64) -> Result<(), Error> {
        if key.len() != self.key_len {
            return Err(self.bad_key(key));
        }
        // SAFETY: key holds key_len readable bytes (checked above), which DPDK
        // copies; data is stored as an opaque pointer-sized value, never
        // dereferenced; &mut self excludes concurrent lookups.
        let ret = unsafe {
            dpdk_sys::rte_hash_add_key_data(
                self.raw.as_ptr(),
                key.as_ptr().cast::<c_void>(),
                data as usize as *mut c_void,
            )
        };
        if ret < 0 {
            return Err(Error::Hash {
                name: self.name.clone(),
                op: "add_key_data",
                errno: Errno::from_ret(ret),
            });
        }
        Ok(())
    }

    /// The value stored with `key`, if present (`None` for a key of the wrong
    /// length too).
    pub fn lookup_data(&self, key: &[u8]) -> Option<u64> {
        if key.len() != self.key_len {
            return None;
        }
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: key holds key_len readable bytes; data is a valid out-pointer.
        let ret = unsafe {
            dpdk_sys::rte_hash_lookup_data(
                self.raw.as_ptr(),
                key.as_ptr().cast::<c_void>(),
                &mut data,
            )
        };
        (ret >= 0).then_some(data as usize as u64)
    }

    /// Looks up `keys[i]` for every `i` and writes the result to `out[i]` (as
    /// many as the shorter of the two has), with DPDK's pipelined bulk lookup,
    /// [`LOOKUP_BULK_MAX`] keys per call.
    pub fn lookup_bulk_data(&self, keys: &[&[u8]], out: &mut [Option<u64>]) {
        for (keys, out) in keys
            .chunks(LOOKUP_BULK_MAX)
            .zip(out.chunks_mut(LOOKUP_BULK_MAX))
        {
            // DPDK reads key_len bytes of every key: a shorter one must not reach
            // it. Such chunks (a caller's bug) go key by key.
            if keys.iter().any(|k| k.len() != self.key_len) {
                for (o, k) in out.iter_mut().zip(keys) {
                    *o = self.lookup_data(k);
                }
                continue;
            }
            let n = keys.len().min(out.len());
            let mut ptrs = [std::ptr::null::<c_void>(); LOOKUP_BULK_MAX];
            for (p, k) in ptrs.iter_mut().zip(keys) {
                *p = k.as_ptr().cast::<c_void>();
            }
            let mut data = [std::ptr::null_mut::<c_void>(); LOOKUP_BULK_MAX];
            let mut hits = 0u64;
            // SAFETY: the first n pointers each point at key_len readable bytes
            // (checked above); n <= RTE_HASH_LOOKUP_BULK_MAX; hits and data are
            // valid out-pointers for n results (data has room for 64).
            unsafe {
                dpdk_sys::rte_hash_lookup_bulk_data(
                    self.raw.as_ptr(),
                    ptrs.as_mut_ptr(),
                    n as u32,
                    &mut hits,
                    data.as_mut_ptr(),
                )
            };
            for (i, (o, d)) in out.iter_mut().zip(data).take(n).enumerate() {
                *o = (hits & (1 << i) != 0).then_some(d as usize as u64);
            }
        }
    }
}

impl Drop for RteHash {
    fn drop(&mut self) {
        // SAFETY: we own the table; nothing refers to it after this, and EAL is
        // alive (`_eal` is dropped after this).
        unsafe { dpdk_sys::rte_hash_free(self.raw.as_ptr()) }
    }
}

/// Bytes allocated from EAL's heap on NUMA socket 0 (where `--no-huge` puts all
/// of it): the difference across an [`RteHash::new`] is that table's footprint.
pub fn heap_allocated_bytes(_eal: &Eal) -> usize {
    let mut stats = dpdk_sys::rte_malloc_socket_stats::default();
    // SAFETY: stats is a valid out-pointer; the call only reads heap metadata
    // (under the heap's lock), which exists while EAL does (we borrow it).
    let ret = unsafe { dpdk_sys::rte_malloc_get_socket_stats(0, &mut stats) };
    if ret < 0 {
        0
    } else {
        stats.heap_allocsz_bytes
    }
}
