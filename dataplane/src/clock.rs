//! The worker's clock: a type, not a function pointer, so that on DPDK the
//! TSC read is inlined into the poll loop (an `rdtsc`, a few tens of cycles)
//! instead of an indirect call into bindgen's out-of-line `rte_rdtsc` wrapper.

/// A monotonic tick counter (the TSC on DPDK).
pub trait Clock {
    /// The current tick.
    fn now(&self) -> u64;
}

/// Any `Fn() -> u64` is a clock: the unit tests' fixed and stepped clocks.
impl<F: Fn() -> u64> Clock for F {
    #[inline(always)]
    fn now(&self) -> u64 {
        self()
    }
}
