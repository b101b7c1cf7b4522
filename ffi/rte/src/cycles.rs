//! The TSC, as DPDK reads it: the clock of the fast path (no syscall).

/// The current TSC value.
#[inline(always)]
pub fn tsc() -> u64 {
    // SAFETY: rte_rdtsc reads the time-stamp counter; no memory is touched.
    unsafe { dpdk_sys::rte_rdtsc() }
}

/// TSC ticks per second, as EAL measured at start-up (0 before `Eal::init`).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL computed at initialisation.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
