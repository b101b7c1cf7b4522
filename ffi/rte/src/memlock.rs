//! Locking the process's memory in RAM, as dpdk-testpmd does at start-up.
//!
//! A poll-mode worker must not take page faults: a fault is a trip into the
//! kernel in the middle of a burst. With hugepages DPDK's memory is pinned
//! anyway; with `--no-huge` (and for the Rust heap in every case) it is
//! ordinary pageable memory, faulted in page by page as it is first touched.
//! `mlockall(MCL_CURRENT | MCL_FUTURE)` faults in everything mapped now (EAL's
//! whole `-m`, in address order) and every later mapping as it is made, and
//! keeps it all resident.

/// Locks every current and future mapping of the process in RAM. Fails with
/// the OS error (`EPERM`, `ENOMEM`) when `RLIMIT_MEMLOCK` is below what the
/// process maps and it lacks `CAP_IPC_LOCK`.
pub fn lock_all_memory() -> std::io::Result<()> {
    // SAFETY: mlockall takes flags only and touches no memory of ours; it
    // changes how the kernel keeps our pages, not what they hold.
    let ret = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
