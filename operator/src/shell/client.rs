//! The interactive shell (rustyline: history, line editing, tab completion),
//! for `flowlift run -i` on the appliance's own terminal and for `flowlift
//! shell` on the control socket: the same prompt and commands either way,
//! only the way a line reaches the control core differs.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::command::completions;
use super::socket::Reply;

/// Completion from the command grammar.
struct ShellHelper;

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let upto = &line[..pos];
        let start = upto.rfind(' ').map_or(0, |i| i + 1);
        Ok((start, completions(upto)))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

/// Where the shell keeps its history.
fn history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".flowlift_history"))
}

/// Reads commands at `prompt` until `quit` or end of input (Ctrl-D, which
/// also sends `quit` when `eof_quits`), hands each to `send` and prints its
/// answer: on stdout, or on stderr for a refusal.
pub fn interactive(
    prompt: &str,
    eof_quits: bool,
    mut send: impl FnMut(&str) -> Reply,
) -> anyhow::Result<()> {
    let mut editor: Editor<ShellHelper, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(ShellHelper));
    let history = history_file();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    loop {
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            // Ctrl-C clears the line, as in testpmd.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => {
                if eof_quits {
                    print_reply(&send("quit"));
                }
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(trimmed);
        let reply = send(trimmed);
        print_reply(&reply);
        if trimmed == "quit" && reply.ok {
            break;
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// Prints an answer the way a one-shot command does.
pub fn print_reply(r: &Reply) {
    let text = r.text.trim_end_matches('\n');
    if text.is_empty() {
        return;
    }
    // A reader that went away (`| head`) is not an error worth a panic.
    let _ = if r.ok {
        writeln!(std::io::stdout().lock(), "{text}")
    } else {
        writeln!(std::io::stderr().lock(), "{text}")
    };
}
