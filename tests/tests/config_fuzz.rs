//! The config fuzzer: every value of `flowlift.example.toml` mutated by type and
//! by range (0, -1, 1, the key's bounds and one past them, 2^31, 2^32-1, 2^63,
//! NaN, infinities, 1e30, 0.5, "", a long string, strings, arrays and tables
//! where they do not belong, values that must be unique repeated), every key
//! deleted, repeated and misspelt, tables repeated, `[[...]]` blocks dropped
//! and doubled, random combinations of those from a fixed seed, and random
//! combinations of values that were each accepted. Each goes
//! to the real binary as `flowlift run --config F --check-config`, which must
//! accept it (exit 0) or refuse it in exactly one line `flowlift: error: ...`
//! (exit 1): no panic, no backtrace, no abort.
//!
//! Then a sample is started for real on DPDK virtual devices for a moment
//! (`--duration`): the three values issue 17 found aborting the start
//! (`flow_table_size` 4294967295 and 2147483648, `event_queue` 4294967295),
//! every accepted value at the upper bound of a key that sizes what the start
//! allocates or pins (queues, tables, pools, lcores), and a few accepted
//! mutations and combinations picked by the seed. An accepted one must start
//! and stop cleanly (exit 0); a refused one must be refused by the start in the
//! same one line. That is the test of "--check-config refuses everything the
//! start would refuse". The command-line options that override the config get
//! the same treatment (`options_are_accepted_or_refused_in_one_line`).
//!
//! Deterministic: the seed is fixed. To run it longer, or elsewhere in the
//! space, set (and see the counts with `--nocapture`):
//!
//! ```text
//! FLOWLIFT_FUZZ_SEED=5 FLOWLIFT_FUZZ_COMBOS=2000 FLOWLIFT_FUZZ_STARTS=60 \
//!     cargo test -p flowlift-tests --test config_fuzz -- --nocapture
//! ```
//!
//! `FLOWLIFT_FUZZ_COMBOS`: random combinations checked, of any values and
//! again of accepted ones (default 40 each);
//! `FLOWLIFT_FUZZ_STARTS`: random accepted mutations started besides the
//! fixed sample (default 6); `FLOWLIFT_FUZZ_SEED`: the seed (default 17);
//! `FLOWLIFT_FUZZ_BIN`: another flowlift binary to fuzz (a release build, an
//! older one) instead of this workspace's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowlift_config::BOUNDS;
use flowlift_tests::{flowlift_bin, one_at_a_time};

/// Keys whose value sizes or pins what the start allocates: their accepted
/// upper bounds are all started, as the values that aborted were of this kind.
const SIZING_KEYS: &[&str] = &[
    "eal.memory_mb",
    "dataplane.main_lcore",
    "dataplane.burst",
    "dataplane.rx_desc",
    "dataplane.tx_desc",
    "dataplane.mbufs",
    "dataplane.flow_table_size",
    "dataplane.flow_table_size_v6",
    "dataplane.event_queue",
    "offload.max_rules",
    "offload.inserts_per_sec",
    "rate_limit_pps",
];

/// The values issue 17 found passing `--check-config` and then aborting.
const ABORTED: &[(&str, &str)] = &[
    ("dataplane.flow_table_size", "4294967295"),
    ("dataplane.flow_table_size", "2147483648"),
    ("dataplane.event_queue", "4294967295"),
];

/// SplitMix64: a fixed seed gives the same mutations everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `key = value` line of the base config.
#[derive(Debug, Clone)]
struct KeyLine {
    /// Line number in the base text.
    at: usize,
    /// The table it is in (`dataplane`, `port`).
    table: String,
    /// Whether that is an array of tables (`[[port]]`).
    array: bool,
    key: String,
    value: String,
}

impl KeyLine {
    /// The key as `BOUNDS` names it: `dataplane.burst`, or bare in arrays of
    /// tables (`rate_limit_pps`).
    fn bound_key(&self) -> String {
        if self.array || self.table.is_empty() {
            self.key.clone()
        } else {
            format!("{}.{}", self.table, self.key)
        }
    }

    /// The key with its table, for labels and de-duplication.
    fn generic(&self) -> String {
        format!("{}.{}", self.table, self.key)
    }
}

/// One mutated config.
#[derive(Debug, Clone)]
struct Mutation {
    label: String,
    text: String,
    /// Started whatever `--check-config` says.
    always_start: bool,
    /// An accepted value at a sizing key's upper bound: started if accepted.
    edge: bool,
    /// A combination of several mutations.
    combo: bool,
    /// For a single value: its line and the line written there instead.
    change: Option<(usize, String)>,
}

fn key_lines(text: &str) -> Vec<KeyLine> {
    let mut out = Vec::new();
    let (mut table, mut array) = (String::new(), false);
    for (at, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix("[[") {
            table = h.trim_end_matches("]]").to_owned();
            array = true;
        } else if let Some(h) = t.strip_prefix('[') {
            table = h.trim_end_matches(']').to_owned();
            array = false;
        } else if !t.starts_with('#') {
            if let Some((k, v)) = t.split_once(" = ") {
                out.push(KeyLine {
                    at,
                    table: table.clone(),
                    array,
                    key: k.to_owned(),
                    value: v.to_owned(),
                });
            }
        }
    }
    out
}

/// `text` with line `at` replaced by `line` (`None`: deleted).
fn replace_line(text: &str, at: usize, line: Option<&str>) -> String {
    let mut out = String::new();
    for (i, l) in text.lines().enumerate() {
        let l = if i == at { line } else { Some(l) };
        if let Some(l) = l {
            out += l;
            out.push('\n');
        }
    }
    out
}

/// Formats a bound as TOML: integers bare, floats with a point.
fn num(v: f64, integer: bool) -> String {
    if integer {
        format!("{}", v as i128)
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v:e}")
    }
}

/// The values a key is given: by its value's type, by its bound, and a few
/// that only that key can get wrong.
fn values_for(k: &KeyLine, all: &[KeyLine]) -> Vec<(String, bool)> {
    let v = k.value.as_str();
    let int_like = v.parse::<i64>().is_ok();
    let float_like = !int_like && v.parse::<f64>().is_ok();
    let string = v.starts_with('"');
    let array = v.starts_with('[');
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut add = |s: &str| out.push((s.to_owned(), false));
    // Wrong types, for every key.
    for s in ["true", "{ a = 1 }", "1979-05-27T07:32:00Z", "[[1], [2]]"] {
        add(s);
    }
    if !string {
        add("\"x\"");
        add("\"\"");
    }
    if !int_like && !float_like {
        for s in ["0", "-1", "4294967296", "1.5", "nan"] {
            add(s);
        }
    }
    if !array {
        add("[1]");
        add("[\"x\"]");
    }
    if int_like {
        for s in [
            "0",
            "-1",
            "1",
            "2",
            "255",
            "65536",
            "2147483647",
            "2147483648",
            "4294967295",
            "4294967296",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "0.5",
            "1e30",
            "nan",
        ] {
            add(s);
        }
    }
    if float_like {
        for s in [
            "0.0", "-0.0", "-1.0", "0.5", "1.0", "1e-9", "1e30", "-1e30", "1e308", "nan", "inf",
            "-inf", "0", "1000",
        ] {
            add(s);
        }
    }
    if string {
        add("\"\"");
        add("\"x\"");
        add("\"0\"");
        add("\" \"");
        add("\"\\u0000\"");
        add("\"é\"");
        add("\"\\n\"");
        let long = format!("\"{}\"", "a".repeat(300));
        add(&long);
    }
    if array {
        for s in [
            "[]",
            "[\"\"]",
            "[0]",
            "[1, 1]",
            "[4294967295]",
            "[-1]",
            "[1.5]",
        ] {
            add(s);
        }
        let many: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        add(&format!("[{}]", many.join(", ")));
        add(&format!("[\"{}\"]", "a".repeat(300)));
    }
    // The key's own bounds: each side and one past it.
    if let Some(b) = BOUNDS.iter().find(|b| b.key == k.bound_key()) {
        let step = if b.integer { 1.0 } else { b.hi.max(1.0) * 0.5 };
        for (x, edge) in [
            (b.lo - 1.0, false),
            (b.lo, false),
            (b.hi - 1.0, false),
            (b.hi, true),
            (b.hi + step, false),
        ] {
            if x >= 0.0 || !b.integer {
                out.push((num(x, b.integer), edge));
            }
        }
    }
    let mut add = |s: &str| out.push((s.to_owned(), false));
    // What only this key can get wrong.
    match k.key.as_str() {
        "name" => {
            for p in all.iter().filter(|o| o.key == "name") {
                add(&p.value);
            }
            add("\"a b\"");
            add(&format!("\"{}\"", "v".repeat(65)));
        }
        "mac" => {
            for s in [
                "\"00:00:00:00:00:00\"",
                "\"ff:ff:ff:ff:ff:ff\"",
                "\"01:00:5e:00:00:01\"",
                "\"02:00:00:00:00\"",
                "\"02:00:00:00:00:02\"",
                "\"02:00:00:00:00:fe\"",
            ] {
                add(s);
            }
        }
        "device" => {
            for s in [
                "\"net_null2,no-rx=1\"",
                "\"0000:99:00.0\"",
                "\"03:00.0\"",
                "\"net_\"",
                "\"net_null9,\"",
                "\"net_null9,,x\"",
                "\"net_pcap9,rx_pcap=/nonexistent.pcap\"",
                "\"net_pcap9,tx_pcap=/nonexistent/dir/x.pcap\"",
            ] {
                add(s);
            }
        }
        "role" => {
            for s in ["\"uplink\"", "\"vf\"", "\"vm\""] {
                add(s);
            }
        }
        // A file that is no socket: flowlift must not replace it. Inside the
        // test's own directory, so that a flowlift that did would harm nothing.
        "socket" => {
            for s in ["\"notasocket.txt\"", "\"sub/dir/s.sock\"", "\"/\"", "\".\""] {
                add(s);
            }
        }
        "metrics" => {
            for s in [
                "\"x\"",
                "\"127.0.0.1:99999\"",
                "\"localhost:0\"",
                "\"[::1]:0\"",
                "\":9464\"",
            ] {
                add(s);
            }
        }
        "backend" => {
            for s in ["\"none\"", "\"rte_flow\"", "\"dpdk\""] {
                add(s);
            }
        }
        "unknown_unicast" | "broadcast" => add("\"flood\""),
        "offload" => add("\"sometimes\""),
        "action" => {
            for s in [
                "\"output:vf9\"",
                "\"output:uplink\"",
                "\"output:\"",
                "\"forward\"",
            ] {
                add(s);
            }
        }
        "proto" => {
            for s in ["\"gre\"", "\"icmp6\"", "256", "-1"] {
                add(s);
            }
        }
        "in_port" => add("\"nope\""),
        "src" => {
            for s in ["\"10.0.0.0/40\"", "\"::/0\"", "\"x\""] {
                add(s);
            }
        }
        "dport" => {
            for s in ["70000", "\"9-1\"", "\"1-65535\"", "\"x\""] {
                add(s);
            }
        }
        "args" => {
            for s in [
                r#"["--no-huge", "--no-pci", "--no-shconf", "-l", "0-1"]"#,
                r#"["--no-huge", "--no-pci", "--no-shconf", "-l", "0-2"]"#,
                r#"["--no-huge", "--no-pci", "--no-shconf", "--lcores=0@0,1@1,2@1"]"#,
                r#"["--no-huge", "--no-pci", "--no-shconf", "-c", "0x3"]"#,
                r#"["--no-huge", "--no-pci", "--no-shconf", "--main-lcore=1"]"#,
                r#"["--no-huge", "--no-pci", "--no-shconf", "-m", "1"]"#,
                r#"["--no-huge", "--no-pci", "--no-shconf", "-m"]"#,
                r#"["--no-huge", "--no-pci", "--no-shconf", "-m", "4000000000"]"#,
                r#"["--no-pci", "--no-shconf"]"#,
            ] {
                add(s);
            }
        }
        "worker_lcores" => {
            for s in ["[2]", "[1, 3]", "[127]", "[128]"] {
                add(s);
            }
        }
        _ => {}
    }
    // One mutation per value; an edge if any of its sources says so.
    let mut unique: Vec<(String, bool)> = Vec::new();
    for (v, edge) in out {
        match unique.iter_mut().find(|(u, _)| *u == v) {
            Some(u) => u.1 |= edge,
            None => unique.push((v, edge)),
        }
    }
    unique
}

/// Every mutation of `base`, single ones first, then `combos` combinations.
fn mutations(base: &str, seed: u64, combos: u64) -> Vec<Mutation> {
    let lines = key_lines(base);
    let mut out = Vec::new();
    let single = |label: String, text: String| Mutation {
        label,
        text,
        always_start: false,
        edge: false,
        combo: false,
        change: None,
    };
    // Per line: each value, deleted, repeated, misspelt. A key repeated in
    // later blocks of the same kind (vf3 after vf1) gets only the changes
    // that depend on where it is.
    let mut seen = std::collections::HashSet::new();
    let mut values_by_line = Vec::new();
    for k in &lines {
        let first = seen.insert(k.generic());
        let values = values_for(k, &lines);
        let line_of = |v: &str| format!("{} = {v}", k.key);
        for (v, edge) in &values {
            let keep = first
                || matches!(k.key.as_str(), "name" | "mac" | "device" | "role")
                || v == "\"\"";
            if !keep {
                continue;
            }
            let mut m = single(
                format!("{}[line {}] = {v}", k.generic(), k.at + 1),
                replace_line(base, k.at, Some(&line_of(v))),
            );
            m.edge = *edge && SIZING_KEYS.contains(&k.bound_key().as_str());
            m.change = Some((k.at, line_of(v)));
            m.always_start = ABORTED
                .iter()
                .any(|(key, val)| *key == k.bound_key() && val == v);
            out.push(m);
        }
        let original = base.lines().nth(k.at).unwrap_or("");
        out.push(single(
            format!("{}[line {}] deleted", k.generic(), k.at + 1),
            replace_line(base, k.at, None),
        ));
        out.push(single(
            format!("{}[line {}] twice", k.generic(), k.at + 1),
            replace_line(base, k.at, Some(&format!("{original}\n{original}"))),
        ));
        if first {
            out.push(single(
                format!("{}[line {}] misspelt", k.generic(), k.at + 1),
                replace_line(base, k.at, Some(&format!("{}x = {}", k.key, k.value))),
            ));
        }
        values_by_line.push((k.clone(), values));
    }
    // The three values that aborted the start are in the example's own
    // keys; make sure they are there even if the example changes.
    for (key, v) in ABORTED {
        assert!(
            out.iter()
                .any(|m| m.always_start && m.label.contains(key) && m.label.ends_with(v)),
            "the fuzzer lost {key} = {v}"
        );
    }
    // Tables: an unknown key in each, each repeated, each array block
    // dropped and doubled.
    let text_lines: Vec<&str> = base.lines().collect();
    let headers: Vec<usize> = text_lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with('['))
        .map(|(i, _)| i)
        .collect();
    for (n, &h) in headers.iter().enumerate() {
        let header = text_lines[h];
        let end = headers.get(n + 1).copied().unwrap_or(text_lines.len());
        out.push(single(
            format!("{header}[line {}] with an unknown key", h + 1),
            replace_line(base, h, Some(&format!("{header}\nno_such_key = 1"))),
        ));
        if header.starts_with("[[") {
            let block = text_lines[h..end].join("\n");
            let dropped: String = text_lines
                .iter()
                .enumerate()
                .filter(|(i, _)| !(h..end).contains(i))
                .map(|(_, l)| format!("{l}\n"))
                .collect();
            out.push(single(format!("{header}[line {}] dropped", h + 1), dropped));
            out.push(single(
                format!("{header}[line {}] doubled", h + 1),
                format!("{base}\n{block}\n"),
            ));
            out.push(single(
                format!("{header}[line {}] empty one added", h + 1),
                format!("{base}\n{header}\n"),
            ));
        } else {
            out.push(single(
                format!("{header}[line {}] repeated", h + 1),
                format!("{base}\n{header}\n"),
            ));
        }
    }
    // Whole files.
    for (label, text) in [
        ("empty file", String::new()),
        ("only a comment", "# nothing\n".to_owned()),
        ("a NUL byte", "\0".to_owned()),
        ("a byte-order mark", format!("\u{feff}{base}")),
        ("cut in half", base[..base.len() / 2].to_owned()),
        ("an open table header", format!("{base}\n[")),
        ("a unicode key", format!("{base}\nü = 1\n")),
        ("a top-level value", format!("flow_table_size = 1\n{base}")),
        ("CRLF line ends", base.replace('\n', "\r\n")),
    ] {
        out.push(single(label.to_owned(), text));
    }
    // Random combinations of two to four value mutations on distinct lines.
    let mut rng = Rng(seed);
    for _ in 0..combos {
        let n = 2 + rng.below(3);
        let mut text = base.to_owned();
        let mut parts = Vec::new();
        let mut used = std::collections::HashSet::new();
        for _ in 0..n {
            let (k, values) = &values_by_line[rng.below(values_by_line.len())];
            if !used.insert(k.at) || values.is_empty() {
                continue;
            }
            let (v, _) = &values[rng.below(values.len())];
            text = replace_line(&text, k.at, Some(&format!("{} = {v}", k.key)));
            parts.push(format!("{} = {v}", k.generic()));
        }
        out.push(Mutation {
            label: format!("combination: {}", parts.join(", ")),
            text,
            always_start: false,
            edge: false,
            combo: true,
            change: None,
        });
    }
    out
}

/// `n` combinations of two to four single values that were each accepted,
/// on distinct lines: what a start must survive together.
fn accepted_combinations(base: &str, singles: &[&Mutation], seed: u64, n: u64) -> Vec<Mutation> {
    let mut rng = Rng(seed ^ 0xc0b0);
    let mut out = Vec::new();
    if singles.is_empty() {
        return out;
    }
    for _ in 0..n {
        let (mut text, mut parts, mut used) = (base.to_owned(), Vec::new(), Vec::new());
        for _ in 0..2 + rng.below(3) {
            let m = singles[rng.below(singles.len())];
            let Some((at, line)) = &m.change else {
                continue;
            };
            if used.contains(at) {
                continue;
            }
            used.push(*at);
            text = replace_line(&text, *at, Some(line));
            parts.push(m.label.clone());
        }
        out.push(Mutation {
            label: format!("combination of accepted: {}", parts.join(", ")),
            text,
            always_start: false,
            edge: false,
            combo: true,
            change: None,
        });
    }
    out
}

/// What a refusal must look like: exit 1 (2 for clap's), exactly one line on
/// stderr starting `flowlift: error: `, no panic.
fn refusal_problem(out: &Output, codes: &[i32]) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let code = out.status.code();
    if stderr.contains("panicked") || stderr.contains("backtrace") {
        return Some(format!("panicked ({:?}): {stderr}", out.status));
    }
    if !code.is_some_and(|c| codes.contains(&c)) {
        return Some(format!(
            "exit {:?}, wanted one of {codes:?}: {stderr}",
            out.status
        ));
    }
    if lines.len() != 1 || !lines[0].starts_with("flowlift: error: ") {
        return Some(format!("not one `flowlift: error:` line:\n{stderr}"));
    }
    None
}

/// The verdict on a `--check-config` run: accepted, or a problem.
fn check_verdict(out: &Output, codes: &[i32]) -> Result<bool, String> {
    if out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stdout.contains(": OK: ") || !stderr.trim().is_empty() {
            return Err(format!(
                "exit 0 without OK or with stderr:\n{stdout}\n{stderr}"
            ));
        }
        return Ok(true);
    }
    match refusal_problem(out, codes) {
        None => Ok(false),
        Some(p) => Err(p),
    }
}

/// The binary under test: `FLOWLIFT_FUZZ_BIN`, or this workspace's.
fn binary() -> PathBuf {
    std::env::var_os("FLOWLIFT_FUZZ_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| flowlift_bin().to_owned())
}

/// Runs `flowlift` in `dir` with `args`, killed after `limit`.
fn run_in(dir: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flowlift");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("flowlift output")
}

/// The fuzzer's directory: the capture the example's uplink replays, a file
/// that is no socket, the base config.
struct Bench {
    dir: tempfile::TempDir,
    base: String,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = run_in(
            dir.path(),
            &[
                "gen-traffic",
                "-o",
                "uplink.pcap",
                "--flows",
                "50",
                "--packets",
                "500",
            ],
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "gen-traffic: {out:?}");
        std::fs::write(dir.path().join("notasocket.txt"), "keep me\n").expect("write a file");
        let example = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../flowlift.example.toml"
        ))
        .expect("read the example config");
        // The socket in the test's directory and /metrics on a free port, so
        // that started runs share nothing with anyone.
        let base = example
            .replace(
                "socket = \"/run/flowlift/flowlift.sock\"",
                "socket = \"flowlift.sock\"",
            )
            .replace("metrics = \"127.0.0.1:9464\"", "metrics = \"127.0.0.1:0\"");
        assert!(base.contains("socket = \"flowlift.sock\"") && base.contains(":0\""));
        Bench { dir, base }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write a mutation");
        p
    }
}

/// `flowlift run --config M --check-config` on each mutation, two at a time;
/// the verdicts in the mutations' order.
fn check_all(bench: &Bench, all: &[Mutation]) -> Vec<(usize, Result<bool, String>)> {
    let next = AtomicUsize::new(0);
    let verdicts: Mutex<Vec<(usize, Result<bool, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..2 {
            let (next, verdicts) = (&next, &verdicts);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(m) = all.get(i) else { break };
                let path = bench.write(&format!("check{t}.toml"), &m.text);
                let out = run_in(
                    bench.path(),
                    &["run", "--config", path.to_str().unwrap(), "--check-config"],
                    Duration::from_secs(60),
                );
                let v = check_verdict(&out, &[1]);
                verdicts.lock().unwrap().push((i, v));
            });
        }
    });
    let mut verdicts = verdicts.into_inner().unwrap();
    verdicts.sort_by_key(|(i, _)| *i);
    verdicts
}

#[test]
fn every_mutation_is_accepted_or_refused_in_one_line_and_the_sample_starts_as_checked() {
    let started_at = Instant::now();
    let bench = Bench::new();
    let seed = env_or("FLOWLIFT_FUZZ_SEED", 17);
    let combos = env_or("FLOWLIFT_FUZZ_COMBOS", 40);
    let random_starts = env_or("FLOWLIFT_FUZZ_STARTS", 6) as usize;
    let all = mutations(&bench.base, seed, combos);

    // --check-config on each, two at a time (no EAL, no lcores busy); then
    // the same for combinations of values that were each accepted.
    let mut all = all;
    let mut verdicts = check_all(&bench, &all);
    let singles: Vec<&Mutation> = verdicts
        .iter()
        .filter(|(i, v)| v == &Ok(true) && all[*i].change.is_some())
        .map(|(i, _)| &all[*i])
        .collect();
    let more = accepted_combinations(&bench.base, &singles, seed, combos);
    let offset = all.len();
    verdicts.extend(
        check_all(&bench, &more)
            .into_iter()
            .map(|(i, v)| (i + offset, v)),
    );
    all.extend(more);
    let mut problems: Vec<String> = verdicts
        .iter()
        .filter_map(|(i, v)| v.as_ref().err().map(|p| format!("{}: {p}", all[*i].label)))
        .collect();
    let accepted: Vec<usize> = verdicts
        .iter()
        .filter(|(_, v)| v == &Ok(true))
        .map(|(i, _)| *i)
        .collect();
    let checked_in = started_at.elapsed();

    // Without its socket or /metrics line a config falls back to the shared
    // defaults (/run/flowlift/flowlift.sock, port 9464), which another flowlift on the
    // machine may hold: such mutations are checked, not started.
    let private = |i: usize| {
        let t = &all[i].text;
        t.contains("\nsocket = ") && t.contains("\nmetrics = ")
    };
    // The sample that is started: the base, the values that aborted, every
    // accepted sizing edge, and a few accepted ones the seed picks.
    let mut sample: Vec<(String, String, bool)> =
        vec![("the base config".into(), bench.base.clone(), true)];
    for (i, m) in all.iter().enumerate() {
        if m.always_start || (m.edge && accepted.contains(&i) && private(i)) {
            sample.push((m.label.clone(), m.text.clone(), accepted.contains(&i)));
        }
    }
    let mut rng = Rng(seed ^ 0x5eed);
    let mut pool: Vec<usize> = accepted
        .iter()
        .copied()
        .filter(|&i| !all[i].edge && !all[i].always_start && private(i))
        .collect();
    // Distinct picks: a partial Fisher-Yates shuffle.
    let mut pick = |pool: &mut Vec<usize>, n: usize| -> Vec<usize> {
        let n = n.min(pool.len());
        for k in 0..n {
            let j = k + rng.below(pool.len() - k);
            pool.swap(k, j);
        }
        pool[..n].to_vec()
    };
    let mut combos_pool: Vec<usize> = pool.iter().copied().filter(|&i| all[i].combo).collect();
    let mut picked = pick(&mut pool, random_starts);
    picked.extend(pick(&mut combos_pool, 2));
    for i in picked {
        if !sample.iter().any(|s| s.0 == all[i].label) {
            sample.push((all[i].label.clone(), all[i].text.clone(), true));
        }
    }

    let _serial = one_at_a_time();
    for (label, text, accepted) in &sample {
        let start = Instant::now();
        let path = bench.write("start.toml", text);
        let out = run_in(
            bench.path(),
            &[
                "run",
                "--config",
                path.to_str().unwrap(),
                "--duration",
                "0.3",
            ],
            Duration::from_secs(90),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let problem = if *accepted {
            let clean = out.status.success()
                && stdout.contains("Stopping (--duration reached)")
                && !stderr.contains("panicked");
            (!clean).then(|| {
                format!(
                    "--check-config accepted it, the start did not stop cleanly ({:?}):\n{}\n{stderr}",
                    out.status,
                    stdout.lines().rev().take(5).collect::<Vec<_>>().join("\n")
                )
            })
        } else {
            refusal_problem(&out, &[1]).map(|p| format!("started after a refusal: {p}"))
        };
        eprintln!(
            "started {label:.100} ({}): {:?} in {:.1}s",
            if *accepted { "accepted" } else { "refused" },
            out.status,
            start.elapsed().as_secs_f64()
        );
        if let Some(p) = problem {
            problems.push(format!("start of {label}: {p}"));
        }
    }
    assert_eq!(
        std::fs::read_to_string(bench.path().join("notasocket.txt"))
            .ok()
            .as_deref(),
        Some("keep me\n"),
        "a file where the socket goes must be left alone"
    );
    let refused = verdicts.iter().filter(|(_, v)| v == &Ok(false)).count();
    eprintln!(
        "config fuzz (seed {seed}): {} mutations checked ({} accepted, {refused} refused) in {:.1}s; {} started; {:.1}s in all",
        all.len(),
        accepted.len(),
        checked_in.as_secs_f64(),
        sample.len(),
        started_at.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} mutations went wrong:\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .map(|p| p.chars().take(600).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn options_are_accepted_or_refused_in_one_line() {
    let bench = Bench::new();
    let config = bench.write("options.toml", &bench.base);
    let config = config.to_str().unwrap();
    let mut cases: Vec<Vec<String>> = Vec::new();
    let numbers = [
        "0",
        "-1",
        "1",
        "0.5",
        "nan",
        "inf",
        "-inf",
        "1e30",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "x",
        "",
    ];
    for opt in [
        "--max-rules",
        "--promote-pps",
        "--demote-pps",
        "--tick-ms",
        "--duration",
        "--status-every",
    ] {
        for v in numbers {
            cases.push(vec![opt.into(), v.into()]);
        }
    }
    for v in numbers {
        cases.push(vec![
            "--replay".into(),
            "uplink.pcap".into(),
            "--loops".into(),
            v.into(),
        ]);
    }
    for (opt, v) in [
        ("--socket", ""),
        ("--socket", "notasocket.txt"),
        ("--socket", "/nonexistent/dir/s.sock"),
        ("--socket", &"s".repeat(200)),
        ("--metrics", "x"),
        ("--metrics", ""),
        ("--metrics", "127.0.0.1:99999"),
        ("--flow-log", "/nonexistent/dir/flows.jsonl"),
        ("--flow-log", "."),
        ("--offload", "dpdk"),
        ("--offload", "rte_flow"),
        ("--replay", "/nonexistent.pcap"),
        ("--capture-dir", "/proc/nope"),
    ] {
        cases.push(vec![opt.into(), v.into()]);
    }
    let mut problems = Vec::new();
    // The built-in demo, which no file holds: its config is checked as a
    // file's would be.
    let demo = run_in(
        bench.path(),
        &["run", "--check-config"],
        Duration::from_secs(60),
    );
    if check_verdict(&demo, &[]) != Ok(true) {
        problems.push(format!("the built-in demo: {demo:?}"));
    }
    for extra in &cases {
        let mut args = vec!["run", "--config", config, "--check-config"];
        args.extend(extra.iter().map(String::as_str));
        let out = run_in(bench.path(), &args, Duration::from_secs(60));
        if let Err(p) = check_verdict(&out, &[1, 2]) {
            problems.push(format!("{extra:?}: {p}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} option values went wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
