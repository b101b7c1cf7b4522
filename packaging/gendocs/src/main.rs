//! `flowlift-gendocs OUT_DIR`: writes the man pages and the shell completions
//! of the `flowlift` binary, generated from its clap definitions
//! (`flowlift::cli::Cli`), so that what `--help` says, what `man flowlift`
//! says and what Tab completes never drift apart. `scripts/package` runs it
//! and puts the files where Debian's tools look for them.
//!
//! Writes `OUT_DIR/man1/flowlift.1` and one page per subcommand
//! (`flowlift-run.1`, ...), uncompressed (the packager gzips them), and
//! `OUT_DIR/completions/` `flowlift.bash`, `_flowlift` (zsh) and
//! `flowlift.fish`. Each file is written whole, the same bytes for the same
//! definitions (no date in the pages), so packages build reproducibly.

#![deny(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use flowlift::cli::Cli;

/// The binary's name, as installed and as the pages and completions call it.
const BIN: &str = "flowlift";

/// The manual the pages belong to, in their `.TH` line.
const MANUAL: &str = "flowlift manual";

/// The command as the pages show it: clap's `help` subcommand left out (the
/// pages are the help), every subcommand with the binary's version.
fn command() -> clap::Command {
    let mut cmd = Cli::command()
        .disable_help_subcommand(true)
        .propagate_version(true);
    cmd.build();
    cmd
}

/// `flowlift.1` and `flowlift-SUB.1` for each subcommand, in `dir`.
fn man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let cmd = command();
    let source = format!("{BIN} {}", cmd.get_version().unwrap_or_default());
    let page = |c: clap::Command| {
        clap_mangen::Man::new(c)
            .source(source.clone())
            .manual(MANUAL)
            .generate_to(dir)
    };
    let mut written = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // A built subcommand's display name is already `flowlift-SUB`.
        written.push(page(sub.clone())?);
    }
    written.push(page(cmd)?);
    Ok(written)
}

/// bash, zsh and fish completions in `dir`, named as each shell's packaging
/// convention has them before they are put in place.
fn completions(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "flowlift.bash"),
        (Shell::Zsh, "_flowlift"),
        (Shell::Fish, "flowlift.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), BIN, &mut text);
        let path = dir.join(file);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

fn run(out: &Path) -> std::io::Result<()> {
    let man = out.join("man1");
    let comp = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&comp)?;
    for path in man_pages(&man)?.into_iter().chain(completions(&comp)?) {
        println!("{}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: flowlift-gendocs OUT_DIR (writes OUT_DIR/man1 and OUT_DIR/completions)");
        return ExitCode::from(2);
    };
    match run(Path::new(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowlift-gendocs: {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
