//! Building DPDK's l3fwd for the forwarding comparison. The source is
//! Debian's (`dpdk-doc`: /usr/share/dpdk/examples/l3fwd and ../common, the
//! installed DPDK's own version); it is copied under the target directory,
//! `perf/l3fwd/vdev.patch` is applied to the copy, and `make shared` builds
//! it against pkg-config's libdpdk. Nothing of DPDK is kept in the
//! repository or written to /usr. A stamp of the patch, the sources and
//! DPDK's version skips the build when none of them changed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// Where Debian's `dpdk-doc` puts DPDK's examples.
const EXAMPLES: &str = "/usr/share/dpdk/examples";
/// The example directories l3fwd's Makefile compiles from (`-I../common`).
const DIRS: [&str; 2] = ["l3fwd", "common"];

/// The patched l3fwd binary, built at most once per process (a failed build
/// is not retried for every capture: its error is kept).
pub fn binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let patch = Path::new(env!("CARGO_MANIFEST_DIR")).join("l3fwd/vdev.patch");
            build(Path::new(EXAMPLES), &patch, &target_dir().join("l3fwd"))
                .map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Cargo's target directory: the workspace's `target/` unless overridden.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Builds l3fwd from `examples` with `patch` under `out`, unless the stamp
/// there says this very source, patch and DPDK were built already.
fn build(examples: &Path, patch: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    if !examples.join("l3fwd/main.c").exists() {
        bail!(
            "{} is missing: DPDK's l3fwd is built from Debian's dpdk-doc (scripts/setup installs it)",
            examples.join("l3fwd").display()
        );
    }
    let src = out.join("src");
    let binary = src.join("l3fwd/build/l3fwd-shared");
    let stamp_file = out.join("stamp");
    let stamp = stamp(examples, patch)?;
    if binary.exists() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(&stamp) {
        return Ok(binary);
    }
    eprintln!(
        "flowlift-perf: building DPDK's l3fwd from {} with {}",
        examples.display(),
        patch.display()
    );
    // A fresh copy each time: the patch applies to pristine files only, and
    // a half-built tree of an earlier attempt never lingers.
    let fresh = out.join(format!("src.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    for dir in DIRS {
        copy_dir(&examples.join(dir), &fresh.join(dir))?;
    }
    run(
        Command::new("patch")
            .args(["-p1", "--batch", "--quiet", "-d"])
            .arg(&fresh)
            .arg("-i")
            .arg(patch),
        "patch l3fwd",
    )?;
    run(
        Command::new("make")
            .args(["-C"])
            .arg(fresh.join("l3fwd"))
            .arg("shared"),
        "make shared (l3fwd)",
    )?;
    let _ = std::fs::remove_dir_all(&src);
    std::fs::rename(&fresh, &src)
        .with_context(|| format!("move {} to {}", fresh.display(), src.display()))?;
    std::fs::write(&stamp_file, &stamp)
        .with_context(|| format!("write {}", stamp_file.display()))?;
    Ok(binary)
}

/// What the build depends on, as one line: DPDK's version and an FNV-1a hash
/// of the patch and of every source file (path and contents, in order).
fn stamp(examples: &Path, patch: &Path) -> anyhow::Result<String> {
    let mut files = vec![patch.to_path_buf()];
    for dir in DIRS {
        list_files(&examples.join(dir), &mut files)?;
    }
    let mut hash = Fnv::default();
    for f in &files {
        hash.write(f.to_string_lossy().as_bytes());
        hash.write(&std::fs::read(f).with_context(|| format!("read {}", f.display()))?);
    }
    let dpdk = Command::new("pkg-config")
        .args(["--modversion", "libdpdk"])
        .output()
        .context("run pkg-config")?;
    Ok(format!(
        "dpdk {} sources {:016x}\n",
        String::from_utf8_lossy(&dpdk.stdout).trim(),
        hash.0
    ))
}

/// FNV-1a, 64 bits: stable across Rust releases, unlike `DefaultHasher`.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Every file under `dir`, sorted, appended to `out`.
fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            list_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let p = entry?.path();
        let dest = to.join(p.file_name().context("a file name")?);
        if p.is_dir() {
            copy_dir(&p, &dest)?;
        } else {
            std::fs::copy(&p, &dest)
                .with_context(|| format!("copy {} to {}", p.display(), dest.display()))?;
        }
    }
    Ok(())
}

/// Runs a build step; its output goes into the error when it fails.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("run {what}"))?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            lines[lines.len().saturating_sub(20)..].join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        let mut h = Fnv::default();
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv::default().0, 0xcbf2_9ce4_8422_2325);
    }

    /// With dpdk-doc installed (scripts/setup): the patch applies to the
    /// packaged source, l3fwd builds, and a second call builds nothing. It
    /// builds where the harness does, so the quick perf run that follows in
    /// scripts/test finds it built.
    #[test]
    fn builds_once_then_reuses_the_build() {
        let out = target_dir().join("l3fwd");
        let patch = Path::new(env!("CARGO_MANIFEST_DIR")).join("l3fwd/vdev.patch");
        let bin = build(Path::new(EXAMPLES), &patch, &out).unwrap();
        let built = std::fs::metadata(&bin).unwrap().modified().unwrap();
        assert_eq!(build(Path::new(EXAMPLES), &patch, &out).unwrap(), bin);
        assert_eq!(std::fs::metadata(&bin).unwrap().modified().unwrap(), built);
    }
}
