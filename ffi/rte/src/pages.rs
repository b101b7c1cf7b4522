//! Transparent huge pages under the workers' big arrays.
//!
//! DPDK keeps its own memory on hugepages so that a poll loop's random reads
//! do not each miss the TLB. The flow tables and counters are ordinary heap
//! memory (and with `--no-huge` so is everything else): tens of megabytes on
//! 4 KiB pages, more pages than the TLB holds, so at a million flows nearly
//! every bucket, key and counter read also walks the page tables. Asking the
//! kernel for transparent huge pages (`MADV_HUGEPAGE`) before the memory is
//! first touched puts those arrays on 2 MiB pages, a few dozen in all, when
//! the kernel allows it (`/sys/kernel/mm/transparent_hugepage/enabled` set to
//! `madvise` or `always`). Anywhere else it changes nothing.

/// The size of a transparent huge page on x86_64 (and arm64 with 4 KiB base
/// pages): only whole, aligned 2 MiB ranges can be backed by one.
const HUGE_PAGE: usize = 2 << 20;

/// Asks that the whole 2 MiB pages inside `memory` be backed by transparent
/// huge pages. A hint: the contents are untouched and nothing is refused
/// because of it; best called before the memory is first written, since the
/// kernel only gives huge pages at the first fault of a range (or later, in
/// the background, slowly). Memory smaller than a huge page is left alone.
/// Errors are the OS's (`EINVAL` on a kernel built without THP).
pub fn advise_huge_pages<T>(memory: &[T]) -> std::io::Result<()> {
    let start = memory.as_ptr() as usize;
    let end = start + std::mem::size_of_val(memory);
    let first = start.next_multiple_of(HUGE_PAGE);
    let last = end / HUGE_PAGE * HUGE_PAGE;
    if last <= first {
        return Ok(());
    }
    // SAFETY: the range lies inside `memory`, which this process owns and maps;
    // MADV_HUGEPAGE only marks how the kernel may back those pages, it neither
    // moves nor changes their contents, so every reference into them stays valid.
    let ret = unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            last - first,
            libc::MADV_HUGEPAGE,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_memory_alike_are_accepted() {
        assert!(advise_huge_pages(&[0u8; 64]).is_ok());
        let big = vec![0u64; 3 * HUGE_PAGE / 8];
        // Holds on any kernel with THP built in, whatever its setting.
        advise_huge_pages(&big).expect("madvise(MADV_HUGEPAGE)");
        assert!(big.iter().all(|&x| x == 0));
    }
}
