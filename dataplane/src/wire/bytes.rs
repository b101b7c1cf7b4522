//! Reads of big-endian fields at fixed offsets of a fixed-size header, with the
//! bounds proved at compile time: a header view holds `&[u8; LEN]`, and every
//! read names its offset as a const generic, so an offset past the header is a
//! build error rather than a run-time check or panic.

/// `N` bytes at offset `AT` of a `L`-byte header.
#[inline(always)]
pub(crate) fn array<const AT: usize, const N: usize, const L: usize>(h: &[u8; L]) -> [u8; N] {
    const { assert!(AT + N <= L, "field lies beyond the fixed header") };
    // In bounds by the assertion above, so the fallback is dead code the
    // optimizer drops; it is written instead of an `unwrap` so that no panic
    // path exists even in principle.
    match h.get(AT..).and_then(<[u8]>::first_chunk::<N>) {
        Some(a) => *a,
        None => [0; N],
    }
}

/// The byte at offset `AT`.
#[inline(always)]
pub(crate) fn u8_at<const AT: usize, const L: usize>(h: &[u8; L]) -> u8 {
    let [b] = array::<AT, 1, L>(h);
    b
}

/// The big-endian `u16` at offset `AT`.
#[inline(always)]
pub(crate) fn u16_at<const AT: usize, const L: usize>(h: &[u8; L]) -> u16 {
    u16::from_be_bytes(array::<AT, 2, L>(h))
}

/// The first `N` bytes of `buf` as a fixed-size header, or `None` if `buf` is
/// shorter: the one run-time length check a header view needs.
#[inline(always)]
pub(crate) fn header<const N: usize>(buf: &[u8]) -> Option<&[u8; N]> {
    buf.first_chunk::<N>()
}
