//! The summary of an `all` run: one line per ratio or headline figure, from
//! every benchmark that ran, printed as one table at the end and kept in
//! `summary.md`.

use std::fmt::Write as _;

/// One figure of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// The benchmark it comes from (`forward`, `vfs`, ...).
    pub figure: &'static str,
    /// What is divided by what, or measured, with its unit.
    pub what: String,
    pub value: String,
}

impl Ratio {
    pub fn new(figure: &'static str, what: impl Into<String>, value: impl Into<String>) -> Ratio {
        Ratio {
            figure,
            what: what.into(),
            value: value.into(),
        }
    }
}

/// The summary as a Markdown table.
pub fn table(rows: &[Ratio]) -> String {
    let mut md = String::from("| benchmark | figure | value |\n|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            r.figure,
            r.what.replace('|', "/"),
            r.value.replace('|', "/")
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_figure() {
        let t = table(&[Ratio::new("scale", "a | b", "1.5")]);
        assert!(t.ends_with("| scale | a / b | 1.5 |\n"), "{t}");
    }
}
