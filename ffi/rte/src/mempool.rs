//! Packet-buffer pools (`rte_pktmbuf_pool_create`).
//!
//! A pool lives as long as EAL: a [`Mempool`] is a handle that keeps EAL from
//! being cleaned up, and dropping it frees nothing. The pool is freed by
//! [`Eal::cleanup`], which refuses while any of its mbufs is out. So an
//! [`Mbuf`](crate::Mbuf), one pointer wide with no hold on its pool, can
//! outlive every handle of the pool it came from and still be freed into it.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::eal::EalShared;
use crate::{Eal, Errno, Error};

/// Data room of DPDK's default mbuf (2048 bytes of data + 128 headroom). The peers
/// are measured with this size; mbuf geometry moves figures a lot.
pub const MBUF_DEFAULT_DATAROOM: u16 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// A handle to a pool of packet buffers, made from an [`Eal`]. Queues keep an
/// `Arc` of the handle they draw from.
///
/// A pool cannot be made without EAL:
///
/// ```compile_fail,E0061
/// let pool = rte::Mempool::new("p", 1023, 32, rte::MBUF_DEFAULT_DATAROOM);
/// ```
///
/// but only from it:
///
/// ```no_run
/// # fn f(eal: &rte::Eal) -> Result<(), rte::Error> {
/// let pool = rte::Mempool::new(eal, "p", 1023, 32, rte::MBUF_DEFAULT_DATAROOM)?;
/// let mbuf = pool.alloc();
/// drop(pool); // the pool itself lives on until EAL's clean-up
/// drop(mbuf);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    /// Keeps EAL, and so the pool, alive while the handle is.
    _eal: Arc<EalShared>,
}

// SAFETY: rte_mempool is designed for concurrent use from many lcores (per-lcore
// caches plus a lock-free ring); the handle is only a pointer to it.
unsafe impl Send for Mempool {}
// SAFETY: as above; every operation we expose is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `count` mbufs of `data_room` bytes with a per-lcore
    /// cache of `cache` buffers, on any NUMA socket. The name stays taken until
    /// EAL's clean-up, since the pool does.
    pub fn new(
        eal: &Eal,
        name: &str,
        count: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Mempool, Error> {
        let cname = CString::new(name).map_err(|_| Error::BadArgument(name.to_owned()))?;
        let cache = cache.min(dpdk_sys::RTE_MEMPOOL_CACHE_MAX_SIZE);
        // SAFETY: cname is a valid C string and EAL is initialised (we hold it);
        // failure returns NULL with rte_errno set, which we report.
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, data_room, -1)
        };
        NonNull::new(raw)
            .map(|raw| {
                eal.shared().add_pool(raw);
                Mempool {
                    raw,
                    name: name.to_owned(),
                    _eal: Arc::clone(eal.shared()),
                }
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
        // SAFETY: the pool lives until EAL's clean-up, which our share of EAL
        // holds off; the count is a racy read by design.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Buffers currently taken from the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as for `available`.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Takes one buffer, or `None` if the pool is empty.
    pub fn alloc(&self) -> Option<crate::Mbuf> {
        // SAFETY: the pool is alive (as for `available`); a non-null result is a
        // fresh mbuf we own.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.raw.as_ptr()) };
        NonNull::new(m).map(crate::Mbuf::from_raw_nonnull)
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }
}
