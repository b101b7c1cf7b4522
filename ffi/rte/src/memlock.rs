//! Locking the process's memory in RAM, as dpdk-testpmd does at start-up.
//!
//! A poll-mode worker must not take page faults: a fault is a trip into the
//! kernel in the middle of a burst. With hugepages DPDK's memory is pinned
//! anyway; with `--no-huge` (and for the Rust heap in every case) it is
//! ordinary pageable memory, faulted in page by page as it is first touched.
//! `mlockall(MCL_CURRENT)` faults in everything mapped now (EAL's whole `-m`,
//! in address order; the workers' tables, once built) and keeps it resident.
//!
//! Not `MCL_FUTURE`, which testpmd adds: it would fault in and lock every
//! later mapping as it is made, and the control core's allocations come and
//! go (glibc maps large blocks afresh each time). Measured, a debug build's
//! control thread then took the CPUs from the workers (tests/rte_flow_on_model's
//! paced wire overflowed its RX ring). What the workers touch is all mapped
//! before they start, so locking what is mapped then is enough.

/// Locks every current mapping of the process in RAM (not later ones). Fails
/// with the OS error (`EPERM`, `ENOMEM`) when `RLIMIT_MEMLOCK` is below what
/// the process maps and it lacks `CAP_IPC_LOCK`.
pub fn lock_current_memory() -> std::io::Result<()> {
    // SAFETY: mlockall takes flags only and touches no memory of ours; it
    // changes how the kernel keeps our pages, not what they hold.
    let ret = unsafe { libc::mlockall(libc::MCL_CURRENT) };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
