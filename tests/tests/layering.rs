//! The workspace's layering rules, checked on its sources: unchecked code only
//! under `ffi/` (and in a file named `simd.rs`), the lint denying it at the root of
//! every other crate, and a `//!` module doc at the top of every source file.

use std::path::{Path, PathBuf};

/// The keyword this test hunts for, spelt in two halves so that this file does
/// not itself read as using it.
const KEYWORD: &str = concat!("un", "safe");

/// The crate-root attribute that forbids the keyword's code.
const DENY_ATTR: &str = concat!("#![deny(", "un", "safe_code)]");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for top in [
        "dataplane",
        "offload",
        "config",
        "traffic",
        "operator",
        "appliance",
        "nic",
        "perf",
        "tests",
        "ffi",
        "packaging",
    ] {
        let dir = workspace().join(top);
        if dir.exists() {
            rust_files(&dir, &mut files);
        }
    }
    files
}

fn is_ffi(path: &Path) -> bool {
    path.strip_prefix(workspace()).unwrap().starts_with("ffi")
}

/// The line with the contents of its string literals removed.
fn without_strings(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        match (in_string, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (_, _, '"') => in_string = !in_string,
            (false, _, c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether the code uses the keyword (a block, fn, impl, extern or trait),
/// not merely a word containing it.
fn uses_keyword(code: &str) -> bool {
    let bytes = code.as_bytes();
    code.match_indices(KEYWORD).any(|(i, _)| {
        let before_ok = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let after = code[i + KEYWORD.len()..].trim_start();
        let after_ok = ["{", "fn", "impl", "extern", "trait"]
            .iter()
            .any(|k| after.starts_with(k));
        before_ok && after_ok
    })
}

#[test]
fn unchecked_code_lives_only_in_ffi() {
    let mut offenders = Vec::new();
    for f in sources()
        .iter()
        .filter(|f| !is_ffi(f) && !f.ends_with("simd.rs"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = without_strings(line.split("//").next().unwrap_or(""));
            if uses_keyword(&code) {
                offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "{KEYWORD} outside ffi/:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_crate_outside_ffi_denies_unchecked_code() {
    let roots = [
        "dataplane/src/lib.rs",
        "offload/src/lib.rs",
        "config/src/lib.rs",
        "traffic/src/lib.rs",
        "operator/src/lib.rs",
        "appliance/src/lib.rs",
        "appliance/src/bin/flowlift.rs",
        "packaging/gendocs/src/main.rs",
        "tests/src/lib.rs",
    ];
    for root in roots {
        let text = std::fs::read_to_string(workspace().join(root)).unwrap();
        assert!(text.contains(DENY_ATTR), "{root} lacks {DENY_ATTR}");
    }
    let perf = workspace().join("perf/src");
    if perf.exists() {
        for f in std::fs::read_dir(perf).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name == "lib.rs" || name == "main.rs" {
                assert!(
                    std::fs::read_to_string(&f).unwrap().contains(DENY_ATTR),
                    "{}",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap()
                .trim_start()
                .starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! doc:\n{}",
        missing.join("\n")
    );
}

/// The workspace's crates from the bottom up. A crate may depend (for its
/// code, its tests or its build) only on crates of lower layers: the
/// dependencies run one way, and a back-edge is refused here by name.
const LAYERS: &[&[&str]] = &[
    &["dpdk-sys", "dpdk-driver-sys"],
    &["rte"],
    &["flowlift-dataplane"],
    &["flowlift-nic", "flowlift-traffic"],
    &["rte-net-flowlift", "flowlift-offload"],
    &["flowlift-config"],
    &["flowlift-operator"],
    &["flowlift"],
    // flowlift-gendocs: the man pages and completions, generated from
    // flowlift's command line for the package (scripts/package).
    &[
        "flowlift-perf",
        "flowlift-tests",
        "flowlift-fuzz",
        "flowlift-gendocs",
    ],
];

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&name))
}

/// `(package name, names of the packages it depends on by path)` for every
/// manifest of the workspace (and the fuzz crate beside it).
fn manifests() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut dirs = vec![workspace()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    dirs.push(path);
                }
            } else if name == "Cargo.toml" && dir != workspace() {
                let text = std::fs::read_to_string(&path).unwrap();
                let package = text
                    .lines()
                    .find_map(|l| l.strip_prefix("name = \""))
                    .map(|n| n.trim_end_matches('"').to_string())
                    .unwrap_or_else(|| panic!("{}: no package name", path.display()));
                let deps = text
                    .lines()
                    .filter(|l| l.contains("path = \"") && !l.starts_with("path"))
                    .filter_map(|l| l.split('=').next())
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty() && !n.starts_with('['))
                    .collect();
                out.push((package, deps));
            }
        }
    }
    out
}

#[test]
fn every_crate_depends_only_on_lower_layers() {
    let mut back_edges = Vec::new();
    let all = manifests();
    assert!(all.len() >= 12, "found the manifests: {all:?}");
    for (package, deps) in &all {
        let Some(mine) = layer_of(package) else {
            panic!("{package} is in no layer of LAYERS: place it");
        };
        for dep in deps {
            let Some(theirs) = layer_of(dep) else {
                panic!("{package} depends on {dep}, which is in no layer");
            };
            if theirs >= mine {
                back_edges.push(format!("{package} -> {dep}"));
            }
        }
    }
    assert!(
        back_edges.is_empty(),
        "dependencies against the layers: {back_edges:?}"
    );
}

#[test]
fn control_is_no_longer_one_crate() {
    assert!(
        !workspace().join("control").exists(),
        "control/ is split into crates"
    );
    let names: Vec<String> = manifests().into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n == "flowlift-control"), "{names:?}");
}

/// The crates of `package`'s normal dependencies, every feature on, as
/// `cargo tree` resolves them (the lock file; nothing is fetched).
fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(workspace())
        .args(["tree", "-p", package, "--all-features", "-e", "normal"])
        .args(["--prefix", "none", "-f", "{p}", "--offline"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Nothing is logged per packet: the crate of the workers' fast path (and
/// what it is built on) has no logging library to call, so a log line
/// cannot creep into the poll loop. The control core's crates log.
#[test]
fn the_fast_path_cannot_log() {
    let loggers = ["tracing", "tracing-core", "log"];
    let fast = normal_dependencies("flowlift-dataplane");
    assert!(
        fast.iter().any(|d| d == "rte"),
        "the tree was read: {fast:?}"
    );
    let found: Vec<&String> = fast
        .iter()
        .filter(|d| loggers.contains(&d.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "flowlift-dataplane depends on {found:?}: the workers must not log"
    );
    let control = normal_dependencies("flowlift-offload");
    assert!(
        control.iter().any(|d| d == "tracing"),
        "the check would see tracing where it is: {control:?}"
    );
}
