//! EAL start-up and clean-up, and running closures on worker lcores.

use std::ffi::{c_void, CString};
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Errno, Error, LcoreId};

/// EAL can be initialised once per process, ever (even after `rte_eal_cleanup`).
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// The initialised Environment Abstraction Layer. Dropping it calls
/// `rte_eal_cleanup`; every port, pool and ring must be gone by then, which the
/// borrow-free design cannot enforce, so the binary drops it last.
#[derive(Debug)]
pub struct Eal {
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
            _not_send: std::marker::PhantomData,
        })
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
        Ok(LaunchHandle { lcore })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: EAL was initialised by this process; it is cleaned up once.
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
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
}

impl LaunchHandle {
    /// The lcore the work runs on.
    pub fn lcore(&self) -> LcoreId {
        self.lcore
    }

    /// Waits for the work to return; its return value (-1 if it panicked).
    pub fn join(self) -> i32 {
        // SAFETY: waits on an lcore that we launched work on.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore.0) }
    }
}
