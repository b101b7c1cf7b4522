//! The workers' big arrays (flow tables, counters, actions), allocated so the
//! kernel can back them with transparent huge pages: the memory is advised
//! (`rte::advise_huge_pages`, with the `dpdk` feature) before anything is
//! written to it, since the kernel picks a page's size at its first fault.
//!
//! Why: at a million flows those arrays span some 70 MB. On 4 KiB pages
//! that is more pages than the TLB holds, and nearly every random read of a
//! bucket, key or counter slot also walks the page tables; on 2 MiB pages
//! they fit in a few dozen TLB entries (measured in perf/README.md, "The
//! software path's cycle budget"). Without the `dpdk` feature (unit tests)
//! these are plain allocations.

/// A vector of `len` items made by `make`, on huge pages where the kernel
/// allows.
pub fn filled_with<T>(len: usize, make: impl FnMut() -> T) -> Vec<T> {
    let mut v = reserved(len);
    v.resize_with(len, make);
    v
}

/// An empty vector with room for `capacity` items, that room on huge pages
/// where the kernel allows.
pub fn reserved<T>(capacity: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(capacity);
    advise(v.spare_capacity_mut());
    v
}

#[cfg(feature = "dpdk")]
fn advise<T>(memory: &[T]) {
    // A hint only: a kernel without THP keeps 4 KiB pages, which work the same.
    let _ = rte::advise_huge_pages(memory);
}

#[cfg(not(feature = "dpdk"))]
fn advise<T>(_memory: &[T]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_and_reserved_are_what_they_say() {
        let v = filled_with(1 << 20, || 7u32);
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&x| x == 7));
        let r: Vec<u64> = reserved(1 << 19);
        assert!(r.is_empty() && r.capacity() >= 1 << 19);
    }
}
