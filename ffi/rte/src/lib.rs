//! The only safe face of DPDK in flowlift.
//!
//! Every `unsafe` block of the workspace outside `dpdk-sys` lives in this crate (the
//! table's `simd.rs` aside), each with a `// SAFETY:` line. Every DPDK object is an
//! owning Rust type whose `Drop` releases it: [`Eal`], [`Mbuf`], [`Port`] and its
//! queues, [`flow::Rule`], [`flow::IndirectCounter`], [`mtr::Profile`],
//! [`mtr::Policy`], [`mtr::Meter`], [`hash::RteHash`]. A [`Mempool`] is the
//! exception: its handle holds the pool, which EAL's clean-up frees.
//!
//! Ownership (`src/eal.rs`'s module docs tell it whole): pools, ports and tables are
//! made from an [`Eal`] and hold it; EAL is cleaned up only once none of them,
//! no running lcore and no mbuf is left, so nothing outlives it; pools outlive
//! their mbufs for the same reason; and the [`Eal`] keeps one registry of open
//! ports, so a port id has one owner.
//!
//! Threading: [`Eal`] is initialised once per process. A [`RxQueue`] or [`TxQueue`]
//! is `Send` but not `Sync`: one lcore polls it, as DPDK requires. [`Port`] handles
//! are shared (`Arc`) between the control thread, which reads stats, and the queues,
//! which keep the port open until the last of them is gone.

pub mod cycles;
#[cfg(feature = "direct-burst")]
mod direct;
mod eal;
mod error;
pub mod flow;
pub mod hash;
mod ids;
mod mbuf;
mod memlock;
mod mempool;
pub mod mtr;
mod pages;
mod port;
mod rss;

pub use eal::{CleanupRefused, Eal, InUse, LaunchHandle};
pub use error::{errno, errno_name, Errno, Error};
pub use ids::{LcoreId, PortId, QueueId};
pub use mbuf::{Mbuf, MbufBurst, MAX_BURST, MBUF_HEADROOM};
pub use memlock::lock_current_memory;
pub use mempool::{Mempool, MBUF_DEFAULT_DATAROOM};
pub use pages::advise_huge_pages;
pub use port::{DeviceInfo, Link, Port, PortConfig, PortStats, RxQueue, TxQueue, Xstat};
pub use rss::{hash_function_names, RxSpread};

/// DPDK's version string, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
    let ptr = unsafe { dpdk_sys::rte_version() };
    cstr_to_string(ptr)
}

/// Copies a C string owned by DPDK; a null pointer gives an empty string.
pub(crate) fn cstr_to_string(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: DPDK hands out NUL-terminated strings that stay valid at least until
    // the call that returned them is repeated; we copy before returning.
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}
