//! testpmd's flow syntax on arbitrary lines: the parser must never panic and
//! its errors are one line pointing at a word of the line; a command it
//! parses displays as canonical text that parses back to the same command.
//! A rule it reads is then lowered as `flow validate` would (rte_flow's
//! items, and DPDK's C arrays that `ffi/rte` builds from those): none of it
//! may panic, a refusal is one line, and the C item array is the pattern plus
//! its END. This target itself is safe code.
#![no_main]

use flowlift_offload::static_lower::to_rte_flow;
use flowlift_operator::shell::testpmd_flow::{self, FlowCommand};
use libfuzzer_sys::fuzz_target;
use rte::flow::raw::{RawActions, RawPattern};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let _ = testpmd_flow::completions(&words);
    let cmd = match testpmd_flow::parse(line) {
        Ok(cmd) => cmd,
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{line:?}: {text}");
            assert!(e.token <= words.len(), "{line:?}: {text}");
            return;
        }
    };
    let text = cmd.to_string();
    assert_eq!(
        testpmd_flow::parse(&text),
        Ok(cmd.clone()),
        "{line:?} displays as {text:?}"
    );
    let (FlowCommand::Create(rule) | FlowCommand::Validate(rule)) = &cmd else {
        return;
    };
    match to_rte_flow(rule) {
        Ok((_, pattern, actions)) => {
            let raw = RawPattern::new(&pattern);
            assert_eq!(raw.items().len(), pattern.items.len() + 1, "{line:?}");
            let _ = RawActions::new(&actions);
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{line:?}: {e}"),
    }
});
