//! The shell's command parser on arbitrary lines, as the control socket and
//! stdin hand them over: it must never panic, a refusal is one line, and a
//! command it parses displays as a line that parses back to the same
//! command (so the canonical form in logs and replies says what was run).
//! Completion and help, which see every partly typed line, must not panic
//! either.
#![no_main]

use flowlift_operator::shell::command::{self, Command};
use flowlift_operator::shell::testpmd_flow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Lines reach the shell as UTF-8 text (the socket client and rustyline
    // both hand over `str`).
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match command::parse(line) {
        Ok(Some(cmd)) => {
            let text = cmd.to_string();
            assert_eq!(
                command::parse(&text),
                Ok(Some(cmd.clone())),
                "{line:?} displays as {text:?}"
            );
            // `flow ...` lines go on to the testpmd parser, as exec does.
            if let Command::Flow(rule) = &cmd {
                let _ = testpmd_flow::parse(rule);
            }
        }
        Ok(None) => {}
        Err(e) => assert!(!e.0.contains('\n'), "{line:?}: {e}"),
    }
    let _ = command::completions(line);
    let _ = command::help(Some(line));
});
