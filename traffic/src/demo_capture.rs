//! The built-in demo's capture: generated once and reused from a cache
//! directory, so that no run leaves a copy behind (a process killed with
//! SIGKILL cannot clean up after itself, and the demo used to leave a 4.9 MB
//! `/tmp/flowlift-demo-PID` each time).
//!
//! The file's name carries a hash of what it was generated from and the
//! crate's version, so a changed spec or generator makes a new file rather
//! than reusing a wrong one. It is written under a temporary name and renamed
//! into place: two demos starting at once, or one killed while writing, never
//! leave a half-written capture under the final name.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::{generate, TrafficSpec};

/// Where cached captures go: systemd's `CACHE_DIRECTORY` for a service, else
/// the XDG cache (`$XDG_CACHE_HOME`, `~/.cache`), else the temporary directory.
pub fn cache_dir() -> PathBuf {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = from_env("CACHE_DIRECTORY") {
        // systemd may pass several, separated by colons: the first is ours.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return PathBuf::from(first);
    }
    if let Some(dir) = from_env("XDG_CACHE_HOME") {
        return dir.join("flowlift");
    }
    if let Some(home) = from_env("HOME") {
        return home.join(".cache").join("flowlift");
    }
    std::env::temp_dir().join("flowlift-cache")
}

/// The capture for `spec` in `dir`, generated there if it is not yet.
pub fn cached_capture(spec: &TrafficSpec, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(file_name(spec));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(".demo-")
        .suffix(".pcap.partial")
        .tempfile_in(dir)
        .with_context(|| format!("create a capture in {}", dir.display()))?;
    generate(spec, partial.path())?;
    partial
        .persist(&path)
        .with_context(|| format!("move the capture to {}", path.display()))?;
    Ok(path)
}

/// `demo-<hash>.pcap`, the hash over the spec and the crate's version.
fn file_name(spec: &TrafficSpec) -> String {
    // `DefaultHasher::new()` has fixed keys: the same spec names the same
    // file in every run of this build.
    let mut h = DefaultHasher::new();
    format!("{spec:?}").hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("demo-{:016x}.pcap", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TrafficSpec {
        TrafficSpec {
            flows: 10,
            packets: 100,
            ..TrafficSpec::default()
        }
    }

    #[test]
    fn generated_once_then_reused_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let first = cached_capture(&small(), dir.path()).unwrap();
        let written = std::fs::metadata(&first).unwrap().modified().unwrap();
        let again = cached_capture(&small(), dir.path()).unwrap();
        assert_eq!(first, again);
        assert_eq!(
            std::fs::metadata(&again).unwrap().modified().unwrap(),
            written,
            "reused, not written again"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no partial file left: {names:?}");
    }

    #[test]
    fn another_spec_is_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = cached_capture(&small(), dir.path()).unwrap();
        let b = cached_capture(&TrafficSpec { seed: 7, ..small() }, dir.path()).unwrap();
        assert_ne!(a, b);
    }
}
