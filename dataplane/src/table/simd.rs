//! The flow table's two uses of CPU intrinsics: comparing a bucket's eight 16-bit
//! tags with one tag in a single SSE2 instruction pair, and prefetching a cache
//! line before it is needed. Everywhere but x86_64 both fall back to portable
//! code (a scalar loop; no prefetch at all).
//!
//! This is the one file outside `ffi/` allowed to use `unsafe` (see the layering
//! test): SSE2 is part of the x86_64 baseline, so the intrinsics are always
//! available there, and a prefetch is a hint that never faults.
#![allow(unsafe_code)]

/// Bit `i` of the result is set when `tags[i] == tag`.
#[inline(always)]
pub fn tag_match_mask(tags: &[u16; 8], tag: u16) -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        tag_match_mask_sse2(tags, tag)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        tag_match_mask_scalar(tags, tag)
    }
}

/// SSE2: one 16-bit compare of all eight lanes, the eight 0xffff/0 lanes packed
/// to bytes (signed saturation keeps -1 as 0xff and 0 as 0), then one byte-mask.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn tag_match_mask_sse2(tags: &[u16; 8], tag: u16) -> u8 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi16, _mm_loadu_si128, _mm_movemask_epi8, _mm_packs_epi16,
        _mm_set1_epi16, _mm_setzero_si128,
    };
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics exist on every
    // CPU this code runs on; the unaligned load reads exactly the 16 bytes of
    // `tags`, a valid reference.
    unsafe {
        let lanes = _mm_loadu_si128(tags.as_ptr().cast::<__m128i>());
        let eq = _mm_cmpeq_epi16(lanes, _mm_set1_epi16(tag as i16));
        let bytes = _mm_packs_epi16(eq, _mm_setzero_si128());
        // Only the low 8 bits can be set: the upper 8 bytes are the zero vector.
        _mm_movemask_epi8(bytes) as u8
    }
}

/// The portable loop (also the reference the SIMD version is tested and
/// benchmarked against).
#[inline(always)]
pub fn tag_match_mask_scalar(tags: &[u16; 8], tag: u16) -> u8 {
    let mut mask = 0u8;
    for (i, &t) in tags.iter().enumerate() {
        mask |= u8::from(t == tag) << i;
    }
    mask
}

/// Asks the CPU to bring the cache line holding `ptr` into all cache levels, so a
/// later load of it does not stall. A hint: no effect on correctness.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch is a hint that never faults, even on an invalid
        // address; SSE is in the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = ptr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_and_scalar_agree() {
        let tags = [7, 0, 7, 3, 0xffff, 7, 0x8000, 7];
        for tag in [0, 3, 7, 0xffff, 0x8000, 9] {
            assert_eq!(
                tag_match_mask(&tags, tag),
                tag_match_mask_scalar(&tags, tag)
            );
        }
        assert_eq!(tag_match_mask(&tags, 7), 0b1010_0101);
        assert_eq!(tag_match_mask(&tags, 0), 0b0000_0010);
        assert_eq!(tag_match_mask(&tags, 0xffff), 0b0001_0000);
        assert_eq!(tag_match_mask(&tags, 0x8000), 0b0100_0000);
        assert_eq!(tag_match_mask(&tags, 9), 0);
    }
}
