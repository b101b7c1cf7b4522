//! `wire::parse` on arbitrary bytes: it must never panic, and a key it returns
//! must point inside the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    if let Ok(p) = flowlift_dataplane::wire::parse(frame) {
        assert!(p.l3_offset < p.l4_offset);
        assert!(usize::from(p.l4_offset) <= frame.len());
        assert_eq!(p.key.in_port(), 0);
    }
});
