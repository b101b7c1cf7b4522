//! EAL start-up and clean-up, and running closures on worker lcores.
//!
//! # Who owns what
//!
//! Everything DPDK hands out lives in EAL's memory, so nothing may be used
//! after `rte_eal_cleanup`. The crate makes that hold by construction:
//!
//! - Every pool, port, hash table and launched lcore is made from an `&Eal`
//!   and holds a share of EAL (an `Arc` of its shared state); nothing else can
//!   make one.
//! - A pool is never freed before EAL is: dropping a [`Mempool`](crate::Mempool)
//!   handle only lets go of the share. The pool itself is freed by the
//!   clean-up, so an [`Mbuf`](crate::Mbuf) stays one pointer wide and can
//!   outlive every handle of its pool.
//! - [`Eal::cleanup`] (and `Drop`) cleans up only when it holds the last share
//!   (no pool, port, queue, rule, meter, table or launch handle is left), no
//!   worker lcore is running, and every pool has all its mbufs back. Otherwise
//!   it refuses: `cleanup` hands the `Eal` back with what is still in use, and
//!   `Drop` leaves EAL as it is for the process's exit to reclaim.
//! - The shared state also holds the registry of open ports, one entry per port
//!   id, so a port has one owner however many times it is looked up
//!   ([`Port`](crate::Port)).

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::fmt;
use std::os::raw::{c_char, c_int};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::port::PortShared;
use crate::{Errno, Error, LcoreId};

/// EAL can be initialised once per process, ever (even after `rte_eal_cleanup`).
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// What every DPDK object made from an [`Eal`] shares with it: holding an `Arc`
/// of it keeps EAL from being cleaned up.
#[derive(Default)]
pub(crate) struct EalShared {
    /// The open ports by id (`Weak`, so the registry does not keep them open).
    /// An entry whose port is gone stays: the port was closed, and DPDK released
    /// its id.
    pub(crate) ports: Mutex<HashMap<u16, Weak<PortShared>>>,
    /// Every pool made, freed only by the clean-up.
    pools: Mutex<Vec<PoolPtr>>,
}

impl fmt::Debug for EalShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EalShared").finish_non_exhaustive()
    }
}

/// A pool pointer in the registry.
struct PoolPtr(NonNull<dpdk_sys::rte_mempool>);

// SAFETY: the pointer is only dereferenced by DPDK calls that are thread-safe on
// a pool (counting) or made by the clean-up, which holds the only share of EAL.
unsafe impl Send for PoolPtr {}

impl EalShared {
    /// Records a pool for the clean-up to count and free.
    pub(crate) fn add_pool(&self, raw: NonNull<dpdk_sys::rte_mempool>) {
        self.pools.lock().expect("pool registry").push(PoolPtr(raw));
    }

    /// Mbufs taken from any pool and not yet back (in a queue, a worker's state
    /// or an owner's hands).
    fn mbufs_out(&self) -> u64 {
        let pools = self.pools.lock().expect("pool registry");
        pools
            .iter()
            // SAFETY: registered pools are freed only by the clean-up, which
            // empties the registry first; the count reads the pool's ring and its
            // per-lcore caches.
            .map(|p| u64::from(unsafe { dpdk_sys::rte_mempool_in_use_count(p.0.as_ptr()) }))
            .sum()
    }
}

/// What keeps EAL from being cleaned up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InUse {
    /// Pools, ports (with their queues, rules and meters), hash tables and
    /// launch handles still held.
    pub handles: usize,
    /// Mbufs taken from a pool and not freed.
    pub mbufs: u64,
    /// Worker lcores still running a launched closure.
    pub running_lcores: Vec<LcoreId>,
}

impl InUse {
    /// Whether nothing is in use, so EAL may be cleaned up.
    pub fn is_empty(&self) -> bool {
        self.handles == 0 && self.mbufs == 0 && self.running_lcores.is_empty()
    }
}

impl fmt::Display for InUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pool, port, table or launch handles held, {} mbufs out, lcores running: {:?}",
            self.handles, self.mbufs, self.running_lcores
        )
    }
}

/// [`Eal::cleanup`] refused: something made from EAL is still alive. The `Eal`
/// comes back, to retry once it is gone.
#[derive(Debug)]
pub struct CleanupRefused {
    pub eal: Eal,
    pub in_use: InUse,
}

impl fmt::Display for CleanupRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EAL clean-up refused: {}", self.in_use)
    }
}

impl std::error::Error for CleanupRefused {}

/// The initialised Environment Abstraction Layer: the one way to make pools,
/// ports, hash tables and lcore launches, and the owner of EAL's clean-up (see
/// the crate docs). Not `Send`: it is cleaned up on the thread that
/// initialised it, the main lcore.
///
/// Using it after a successful clean-up does not compile:
///
/// ```compile_fail,E0382
/// # fn f(eal: rte::Eal) {
/// eal.cleanup().expect("nothing in use");
/// let _ = eal.port_count(); // moved into cleanup
/// # }
/// ```
///
/// Nor does handing it to another thread:
///
/// ```compile_fail,E0277
/// # fn f(eal: rte::Eal) {
/// std::thread::spawn(move || drop(eal));
/// # }
/// ```
#[derive(Debug)]
pub struct Eal {
    shared: Arc<EalShared>,
    /// Set once `rte_eal_cleanup` has run, so `Drop` does not repeat it.
    cleaned: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Eal {
    /// Initialises EAL with `args` (without the program name), e.g.
    /// `["-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--no-shconf"]`.
    pub fn init<I, S>(args: I) -> Result<Eal, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut owned = vec![CString::new("flowlift").expect("static name")];
        for arg in args {
            let arg = arg.as_ref();
            owned.push(CString::new(arg).map_err(|_| Error::BadArgument(arg.to_owned()))?);
        }
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(Error::EalAlreadyInitialised);
        }
        // EAL may keep pointers into argv for the life of the process (it permutes
        // and stores some of them), so the strings are leaked on purpose: once per
        // process, a few hundred bytes.
        let owned: &'static mut Vec<CString> = Box::leak(Box::new(owned));
        let argv: &'static mut Vec<*mut c_char> = Box::leak(Box::new(
            owned.iter().map(|s| s.as_ptr() as *mut c_char).collect(),
        ));
        let argc = argv.len() as c_int;
        // SAFETY: argv points at argc valid NUL-terminated strings that outlive the
        // process; EAL has not been initialised in this process (checked above).
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(Error::EalInit(Errno::last()));
        }
        Ok(Eal {
            shared: Arc::new(EalShared::default()),
            cleaned: false,
            _not_send: std::marker::PhantomData,
        })
    }

    /// The share of EAL a pool, port, table or launch holds.
    pub(crate) fn shared(&self) -> &Arc<EalShared> {
        &self.shared
    }

    /// What would keep [`Eal::cleanup`] from cleaning up now.
    pub fn in_use(&self) -> InUse {
        InUse {
            handles: Arc::strong_count(&self.shared) - 1,
            mbufs: self.shared.mbufs_out(),
            running_lcores: self
                .worker_lcores()
                .into_iter()
                // SAFETY: EAL is initialised; the call reads one lcore's state.
                .filter(|l| unsafe { dpdk_sys::rte_eal_get_lcore_state(l.0) } == dpdk_sys::RUNNING)
                .collect(),
        }
    }

    /// Frees every pool and cleans EAL up (`rte_eal_cleanup`), if nothing made
    /// from it is in use; otherwise hands it back with what is.
    pub fn cleanup(mut self) -> Result<(), CleanupRefused> {
        match self.try_cleanup() {
            Ok(()) => Ok(()),
            Err(in_use) => Err(CleanupRefused { eal: self, in_use }),
        }
    }

    fn try_cleanup(&mut self) -> Result<(), InUse> {
        if self.cleaned {
            return Ok(());
        }
        // The last share: no pool, port, table or launch handle is left, and
        // none can be made (that takes `&self`, which we hold mutably).
        if Arc::get_mut(&mut self.shared).is_none() {
            return Err(self.in_use());
        }
        for lcore in self.worker_lcores() {
            // SAFETY: EAL is initialised; the call reads one lcore's state.
            if unsafe { dpdk_sys::rte_eal_get_lcore_state(lcore.0) } == dpdk_sys::RUNNING {
                return Err(self.in_use());
            }
            // SAFETY: the lcore is not running (checked above, and only this
            // thread launches), so the wait returns at once; it acquires what the
            // lcore's last closure did, its frees into its mbuf cache included.
            unsafe { dpdk_sys::rte_eal_wait_lcore(lcore.0) };
        }
        // No handle is left, so no mbuf can be allocated or received any more;
        // what is out can only come back. A worker's frees are ordered before
        // this count by the wait above; this thread is the main lcore and counts
        // its own cache; any other thread is no lcore (this crate registers
        // none), so it has no cache and frees into the pool's ring, whose count
        // is atomic. So a zero count means no mbuf exists.
        if self.shared.mbufs_out() != 0 {
            return Err(self.in_use());
        }
        let pools = std::mem::take(&mut *self.shared.pools.lock().expect("pool registry"));
        for pool in pools {
            // SAFETY: the pool has every mbuf back, no port uses it (ports hold a
            // share of EAL, and there is none left), and it is freed once: the
            // registry no longer lists it.
            unsafe { dpdk_sys::rte_mempool_free(pool.0.as_ptr()) };
        }
        // SAFETY: EAL was initialised by this process and is cleaned up once
        // (`cleaned`); nothing made from it is left (checked above), so no DPDK
        // pointer outlives it.
        unsafe { dpdk_sys::rte_eal_cleanup() };
        self.cleaned = true;
        Ok(())
    }

    /// The lcore this thread runs as (the main lcore for the thread that called
    /// `init`).
    pub fn current_lcore() -> LcoreId {
        // SAFETY: reads this thread's per-lcore id variable.
        LcoreId(unsafe { dpdk_sys::rte_lcore_id() })
    }

    /// The main lcore.
    pub fn main_lcore(&self) -> LcoreId {
        // SAFETY: EAL is initialised (we hold an Eal).
        LcoreId(unsafe { dpdk_sys::rte_get_main_lcore() })
    }

    /// The enabled worker lcores, in order.
    pub fn worker_lcores(&self) -> Vec<LcoreId> {
        let mut out = Vec::new();
        let mut id = u32::MAX; // rte_get_next_lcore's "start before the first"
        loop {
            // SAFETY: EAL is initialised; the call only reads the lcore config.
            id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
            if id >= dpdk_sys::RTE_MAX_LCORE {
                return out;
            }
            out.push(LcoreId(id));
        }
    }

    /// Whether `lcore` is enabled in EAL's core list.
    pub fn lcore_enabled(&self, lcore: LcoreId) -> bool {
        // SAFETY: EAL is initialised; out-of-range ids return 0.
        unsafe { dpdk_sys::rte_lcore_is_enabled(lcore.0) != 0 }
    }

    /// Number of enabled lcores (main included).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: EAL is initialised.
        unsafe { dpdk_sys::rte_lcore_count() }
    }

    /// Number of usable ethdev ports.
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised.
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// Runs `work` on worker `lcore`; join the handle to get its result.
    pub fn launch<F>(&self, lcore: LcoreId, work: F) -> Result<LaunchHandle, Error>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if lcore == self.main_lcore() {
            return Err(Error::Launch {
                lcore,
                reason: "it is the main lcore",
            });
        }
        if !self.lcore_enabled(lcore) {
            return Err(Error::Launch {
                lcore,
                reason: "it is not enabled in EAL's lcore list",
            });
        }
        let boxed: Box<Box<dyn FnOnce() -> i32 + Send>> = Box::new(Box::new(work));
        let arg = Box::into_raw(boxed) as *mut c_void;
        // SAFETY: trampoline takes back ownership of `arg`, which stays valid until
        // it runs; the lcore is an enabled worker.
        let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore.0) };
        if ret < 0 {
            // SAFETY: launch failed, so the trampoline never ran: the box is ours.
            drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() -> i32 + Send>) });
            return Err(Error::Launch {
                lcore,
                reason: "it is busy running another function",
            });
        }
        Ok(LaunchHandle {
            lcore,
            _eal: Arc::clone(&self.shared),
        })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // If something is still in use, EAL stays as it is (its memory mapped,
        // its pools whole) until the process exits: leaking is sound, cleaning up
        // under a live object is not.
        let _ = self.try_cleanup();
    }
}

/// Runs the boxed closure on the worker lcore.
extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box::into_raw of `launch`, handed to exactly one call.
    let work = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() -> i32 + Send>) };
    // A panic must not unwind into C: turn it into an error code.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or(-1)
}

/// A closure running on a worker lcore.
#[derive(Debug)]
#[must_use = "join the lcore to learn how its work ended"]
pub struct LaunchHandle {
    lcore: LcoreId,
    /// Waiting on the lcore needs EAL.
    _eal: Arc<EalShared>,
}

impl LaunchHandle {
    /// The lcore the work runs on.
    pub fn lcore(&self) -> LcoreId {
        self.lcore
    }

    /// Waits for the work to return; its return value (-1 if it panicked).
    pub fn join(self) -> i32 {
        // SAFETY: waits on an lcore that we launched work on; EAL is alive (we
        // hold a share of it).
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore.0) }
    }
}
