//! Packet-buffer pools (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::ptr::NonNull;

use crate::{Errno, Error};

/// Data room of DPDK's default mbuf (2048 bytes of data + 128 headroom). The peers
/// are measured with this size; mbuf geometry moves figures a lot.
pub const MBUF_DEFAULT_DATAROOM: u16 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// A pool of packet buffers. Queues keep an `Arc` of the pool they draw from.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    name: String,
}

// SAFETY: rte_mempool is designed for concurrent use from many lcores (per-lcore
// caches plus a lock-free ring); the handle is only a pointer to it.
unsafe impl Send for Mempool {}
// SAFETY: as above; every operation we expose is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `count` mbufs of `data_room` bytes with a per-lcore
    /// cache of `cache` buffers, on any NUMA socket.
    pub fn new(name: &str, count: u32, cache: u32, data_room: u16) -> Result<Mempool, Error> {
        let cname = CString::new(name).map_err(|_| Error::BadArgument(name.to_owned()))?;
        let cache = cache.min(dpdk_sys::RTE_MEMPOOL_CACHE_MAX_SIZE);
        // SAFETY: cname is a valid C string; EAL must be initialised, else the call
        // fails with rte_errno set, which we report.
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, data_room, -1)
        };
        NonNull::new(raw)
            .map(|raw| Mempool {
                raw,
                name: name.to_owned(),
            })
            .ok_or_else(|| Error::Mempool {
                name: name.to_owned(),
                errno: Errno::last(),
            })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Buffers currently free in the pool (caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive; the count is a racy read by design.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Buffers currently taken from the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as for `available`.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Takes one buffer, or `None` if the pool is empty.
    pub fn alloc(&self) -> Option<crate::Mbuf> {
        // SAFETY: the pool is alive; a non-null result is a fresh mbuf we own.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.raw.as_ptr()) };
        NonNull::new(m).map(crate::Mbuf::from_raw_nonnull)
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: queues and mbufs hold an Arc of the pool or are freed before it
        // (ports are closed before their pool is dropped).
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) }
    }
}
