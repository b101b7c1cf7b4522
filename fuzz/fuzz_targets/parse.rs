//! `wire::parse` on arbitrary bytes: it must never panic, and a key it returns
//! must point inside the frame. The same for `wire::parse_segmented` (a frame
//! in chained buffers, as a worker parses every packet), with the first two
//! input bytes choosing where the first segment ends: segmentation must give
//! the whole frame's result or name the split, nothing else.
#![no_main]

use flowlift_dataplane::wire::{parse, parse_segmented, ParseError, Parsed};
use libfuzzer_sys::fuzz_target;

fn check(parsed: &Result<Parsed, ParseError>, frame_len: usize) {
    if let Ok(p) = parsed {
        assert!(p.l3_offset < p.l4_offset);
        assert!(usize::from(p.l4_offset) <= frame_len);
        assert_eq!(p.key.in_port(), 0);
    }
}

fuzz_target!(|input: &[u8]| {
    check(&parse(input), input.len());
    if let Some((cut, frame)) = input.split_first_chunk::<2>() {
        let first = usize::from(u16::from_le_bytes(*cut)).min(frame.len());
        let got = parse_segmented(&frame[..first], frame.len());
        check(&got, frame.len());
        assert!(got == parse(frame) || got == Err(ParseError::HeadersPastFirstSegment));
    }
});
