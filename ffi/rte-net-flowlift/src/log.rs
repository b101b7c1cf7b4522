//! The driver's log type (`pmd.net.flowlift`, level NOTICE unless EAL's
//! `--log-level` says otherwise), registered at load as DPDK's own PMDs do.

use std::ffi::CString;
use std::sync::atomic::{AtomicI32, Ordering};

use dpdk_driver_sys as sys;

static LOGTYPE: AtomicI32 = AtomicI32::new(-1);

/// Registers the log type (at load, before any probe).
pub(crate) fn init() {
    // SAFETY: the name is a NUL-terminated literal; DPDK's log registry may be
    // used before EAL is initialised (its own PMDs register from constructors).
    let t = unsafe {
        sys::rte_log_register_type_and_pick_level(c"pmd.net.flowlift".as_ptr(), sys::RTE_LOG_NOTICE)
    };
    LOGTYPE.store(t, Ordering::Relaxed);
}

/// Logs `msg` at `level` (`sys::RTE_LOG_ERR`, ...).
pub(crate) fn log(level: u32, msg: &str) {
    let logtype = u32::try_from(LOGTYPE.load(Ordering::Relaxed)).unwrap_or(sys::RTE_LOGTYPE_PMD);
    let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the format takes exactly one C string argument, and `text` is a
    // NUL-terminated string that outlives the call.
    unsafe {
        sys::rte_log(
            level,
            logtype,
            c"net_flowlift: %s\n".as_ptr(),
            text.as_ptr(),
        );
    }
}

/// Logs an error.
pub(crate) fn err(msg: &str) {
    log(sys::RTE_LOG_ERR, msg);
}

/// Logs a notice.
pub(crate) fn notice(msg: &str) {
    log(sys::RTE_LOG_NOTICE, msg);
}
