//! The TSC, as DPDK reads it: the clock of the fast path (no syscall).

/// The current TSC value. On x86-64 an inline `rdtsc`, as DPDK's own
/// `rte_rdtsc` is (unfenced): bindgen can only reach that `static inline`
/// function through an out-of-line C wrapper, a call the poll loop paid on
/// every read.
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc reads the time-stamp counter into registers; it touches
    // no memory and every x86-64 CPU has it.
    let now = unsafe { core::arch::x86_64::_rdtsc() };
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: rte_rdtsc reads the CPU's cycle counter; no memory is touched.
    let now = unsafe { dpdk_sys::rte_rdtsc() };
    now
}

/// TSC ticks per second, as EAL measured at start-up (0 before `Eal::init`).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL computed at initialisation.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
