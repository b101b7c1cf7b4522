//! The Debian package `scripts/package` builds (issue 16, point 3): what it
//! holds (`dpkg-deb --info/--contents`: the binary, the unit, the conffile,
//! man pages, completions, the rules and dashboard, the PMD under DPDK's
//! plugin directory; Depends naming the librte runtime packages), that it
//! installs with `dpkg -i` into an empty root and runs from there
//! (`--version`, `run --check-config` on the shipped config, the unit's own
//! command line), that its man pages render and its bash completion parses,
//! that dpdk-testpmd loads the installed PMD, and that lintian finds nothing
//! wrong with it.
//!
//! The package is built once per run of this file, with the profile
//! `FLOWLIFT_PROFILE` names (release by default, what scripts/demo and the
//! perf harness build too). No test skips: a missing tool fails, naming the
//! Debian package that has it (scripts/setup installs them all).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `tool`, which Debian's `package` has: its path, or the test fails.
fn need(tool: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{tool} is missing: install {package} (scripts/setup does)"))
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` to its end: its output, which must be a success.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", said(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `.deb`, built by `scripts/package` once for this file's tests.
fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        need("dpkg-deb", "dpkg");
        need("dpkg-shlibdeps", "dpkg-dev");
        let out =
            run_ok(Command::new(workspace().join("scripts/package")).current_dir(workspace()));
        let deb = workspace().join(out.lines().last().expect("scripts/package prints the .deb"));
        let name = format!("flowlift_{}_amd64.deb", env!("CARGO_PKG_VERSION"));
        assert!(
            deb.ends_with(Path::new("target/debian").join(&name)),
            "{deb:?}"
        );
        assert!(deb.is_file(), "{deb:?}");
        deb
    })
}

/// A field of the package's control file.
fn field(name: &str) -> String {
    run_ok(Command::new("dpkg-deb").arg("--field").arg(deb()).arg(name))
        .trim()
        .to_string()
}

/// The paths of the package's contents, without the leading `.`.
fn contents() -> Vec<String> {
    run_ok(Command::new("dpkg-deb").arg("--contents").arg(deb()))
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').trim_end_matches('/').to_string())
        .collect()
}

/// DPDK's plugin directory, as the installed EAL has it compiled in.
fn plugin_dir() -> String {
    let out = run_ok(Command::new("pkg-config").args(["--variable=libdir", "libdpdk"]));
    let eal = std::fs::read(Path::new(out.trim()).join("librte_eal.so")).unwrap();
    let key = b"DPDK_PLUGIN_PATH=";
    let at = eal
        .windows(key.len())
        .position(|w| w == key)
        .expect("DPDK_PLUGIN_PATH in librte_eal.so")
        + key.len();
    let end = eal[at..].iter().position(|&b| b == 0).unwrap() + at;
    String::from_utf8(eal[at..end].to_vec()).unwrap()
}

/// Where the package puts the PMD: its own directory below DPDK's plugins.
fn pmd_path() -> String {
    format!("{}/flowlift/librte_net_flowlift.so", plugin_dir())
}

#[test]
fn the_package_holds_what_the_issue_lists() {
    assert_eq!(field("Package"), "flowlift");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Section"), "net");
    assert_eq!(field("Priority"), "optional");
    assert!(!field("Maintainer").is_empty());
    let depends = field("Depends");
    for lib in ["librte-eal", "librte-ethdev", "libc6"] {
        assert!(depends.contains(lib), "Depends names {lib}: {depends}");
    }
    let paths = contents();
    let mut wanted = vec![
        "/usr/bin/flowlift".to_string(),
        "/lib/systemd/system/flowlift.service".into(),
        "/etc/flowlift/flowlift.toml".into(),
        "/usr/share/bash-completion/completions/flowlift".into(),
        "/usr/share/zsh/vendor-completions/_flowlift".into(),
        "/usr/share/fish/vendor_completions.d/flowlift.fish".into(),
        "/usr/share/doc/flowlift/copyright".into(),
        "/usr/share/doc/flowlift/changelog.gz".into(),
        "/usr/share/flowlift/prometheus/flowlift.rules.yml".into(),
        "/usr/share/flowlift/grafana/flowlift.json".into(),
        pmd_path(),
    ];
    wanted.extend(
        [
            "flowlift",
            "flowlift-run",
            "flowlift-shell",
            "flowlift-gen-traffic",
        ]
        .iter()
        .map(|p| format!("/usr/share/man/man1/{p}.1.gz")),
    );
    let missing: Vec<&String> = wanted.iter().filter(|w| !paths.contains(w)).collect();
    assert!(missing.is_empty(), "missing {missing:?} from {paths:#?}");
    let info = run_ok(Command::new("dpkg-deb").arg("--info").arg(deb()));
    assert!(info.contains(" conffiles"), "{info}");
    let conffiles = run_ok(
        Command::new("dpkg-deb")
            .args(["--info"])
            .arg(deb())
            .arg("conffiles"),
    );
    assert_eq!(conffiles.trim(), "/etc/flowlift/flowlift.toml");
    // Everything root's, as dpkg-deb --root-owner-group makes it.
    let listing = run_ok(Command::new("dpkg-deb").arg("--contents").arg(deb()));
    assert!(
        listing.lines().all(|l| l.contains(" root/root ")),
        "{listing}"
    );
}

#[test]
fn the_host_has_every_package_depends_names() {
    // The root below is empty, so dpkg is told to ignore Depends there; here
    // each one (or an alternative) must be a package this host has, so the
    // field names real packages. scripts/setup installed DPDK's runtime.
    let depends = field("Depends");
    for dep in depends.split(',') {
        let found = dep.split('|').any(|alt| {
            let name = alt.split_whitespace().next().unwrap();
            Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", name])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        });
        assert!(found, "no installed package for '{dep}' of {depends}");
    }
}

/// The package installed with `dpkg -i` into a fresh, empty root (an empty
/// status file: nothing else is installed there).
struct Installed {
    root: tempfile::TempDir,
}

/// Where the install root goes: cargo's target/tmp, or, where the checkout
/// lies below a world-writable directory (a clone in /tmp), `~/.cache/
/// flowlift`. EAL loads a plugin only from a directory no one else may
/// write to, nor any parent of it (its `verify_perms` walks up to /), and
/// the testpmd test loads the installed PMD from the root. (The PMD's own
/// testpmd test chooses its directory the same way.)
fn private_base() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let safe = |base: &Path| {
        base.ancestors()
            .all(|dir| std::fs::metadata(dir).map_or(true, |m| m.permissions().mode() & 0o002 == 0))
    };
    let cache = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache").join("flowlift"));
    [Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR"))), cache]
        .into_iter()
        .flatten()
        .find(|b| {
            let _ = std::fs::create_dir_all(b);
            safe(b)
        })
        .unwrap_or_else(|| {
            panic!(
                "no directory EAL would load the installed PMD from: {} and ~/.cache/flowlift lie below a world-writable directory (set CARGO_TARGET_DIR or HOME elsewhere)",
                env!("CARGO_TARGET_TMPDIR")
            )
        })
}

impl Installed {
    fn new() -> Installed {
        need("dpkg", "dpkg");
        let root = tempfile::Builder::new()
            .prefix("flowlift-root")
            .tempdir_in(private_base())
            .unwrap();
        let admin = root.path().join("var/lib/dpkg");
        for dir in ["info", "updates", "triggers"] {
            std::fs::create_dir_all(admin.join(dir)).unwrap();
        }
        std::fs::write(admin.join("status"), "").unwrap();
        let mut dpkg = Command::new("dpkg");
        dpkg.arg(format!("--root={}", root.path().display()))
            .arg("--log=/dev/null")
            // The Depends (libc, librte-*) are the host's, which the binary
            // runs against; the empty root has no record of them.
            .arg("--force-depends")
            // The root has no /bin/sh to chroot into: the maintainer
            // scripts run outside it, with DPKG_ROOT set (they do nothing
            // then, as systemd does not run that root).
            .arg("--force-script-chrootless");
        // dpkg refuses a user other than root unless told; the files then
        // belong to that user.
        if !run_ok(Command::new("id").arg("-u")).trim().eq("0") {
            dpkg.arg("--force-not-root");
        }
        dpkg.env(
            "PATH",
            format!(
                "{}:/usr/sbin:/sbin",
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        run_ok(dpkg.arg("--install").arg(deb()));
        Installed { root }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p.trim_start_matches('/'))
    }

    /// `root/usr/bin/flowlift` with `args`.
    fn flowlift(&self, args: &[&str]) -> Output {
        Command::new(self.path("/usr/bin/flowlift"))
            .args(args)
            .output()
            .expect("start the installed flowlift")
    }
}

#[test]
fn installed_in_an_empty_root_it_runs_from_the_installed_paths() {
    let inst = Installed::new();
    let status = std::fs::read_to_string(inst.path("/var/lib/dpkg/status")).unwrap();
    assert!(
        status.contains("Package: flowlift\nStatus: install ok installed"),
        "{status}"
    );
    assert!(
        status.contains(" /etc/flowlift/flowlift.toml "),
        "the config is a conffile: {status}"
    );

    let out = inst.flowlift(&["--version"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("flowlift {}", env!("CARGO_PKG_VERSION"))
    );

    let config = inst.path("/etc/flowlift/flowlift.toml");
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("flowlift.sock");
    // The config names /run/flowlift/flowlift.sock, which systemd makes for
    // the service (RuntimeDirectory=); here the check gets a directory that
    // exists, as the unit's --socket does.
    let out = inst.flowlift(&[
        "run",
        "--check-config",
        "-c",
        config.to_str().unwrap(),
        "--socket",
        sock.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", said(&out));

    // The installed unit's ExecStart, run from the root: its binary and its
    // config are where the package put them.
    let unit = std::fs::read_to_string(inst.path("/lib/systemd/system/flowlift.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let mut words = exec.split_whitespace();
    let bin = inst.path(words.next().unwrap());
    assert!(bin.is_file(), "ExecStart's binary {bin:?} is installed");
    let args: Vec<String> = words
        .map(|w| match w {
            w if w.starts_with("/etc/") => {
                let p = inst.path(w);
                assert!(
                    p.is_file(),
                    "ExecStart names {w}, which the package installs"
                );
                p.display().to_string()
            }
            "/run/flowlift/flowlift.sock" => sock.display().to_string(),
            w => w.to_string(),
        })
        .chain(["--check-config".to_string()])
        .collect();
    let out = Command::new(&bin).args(&args).output().unwrap();
    assert!(out.status.success(), "{bin:?} {args:?}: {}", said(&out));
}

/// A man page of the package, uncompressed.
fn man_page(inst: &Installed, name: &str) -> String {
    let gz = inst.path(&format!("/usr/share/man/man1/{name}.1.gz"));
    run_ok(Command::new("gzip").arg("-dc").arg(gz))
}

#[test]
fn the_man_pages_render_and_the_bash_completion_parses() {
    let inst = Installed::new();
    need("groff", "groff-base");
    for (page, says) in [
        (
            "flowlift",
            vec!["flowlift-run(1)", "gen-traffic", "--version"],
        ),
        (
            "flowlift-run",
            vec!["--check-config", "--config", "--socket"],
        ),
        ("flowlift-shell", vec!["--socket"]),
        ("flowlift-gen-traffic", vec!["--zipf"]),
    ] {
        let text = man_page(&inst, page);
        assert!(
            text.starts_with(".ie") || text.contains(&format!(".TH {}", page)),
            "{page}: {text}"
        );
        let mut groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-Wbreak"])
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = groff.wait_with_output().unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).replace(['\u{2010}', '\u{2212}'], "-");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff on {page}: {}",
            said(&out)
        );
        // groff's terminal output bolds by overstriking: drop the backspaces.
        let plain: String = {
            let mut s = String::new();
            for c in shown.chars() {
                if c == '\u{8}' {
                    s.pop();
                } else {
                    s.push(c);
                }
            }
            s
        };
        assert!(plain.contains("NAME"), "{page}: {plain}");
        for word in says {
            let word = word.replace("flowlift-run(1)", "run");
            assert!(plain.contains(&word), "{page} says {word}: {plain}");
        }
    }

    let bash = need("bash", "bash");
    let completion = inst.path("/usr/share/bash-completion/completions/flowlift");
    run_ok(Command::new(&bash).arg("-n").arg(&completion));
    let registered = run_ok(
        Command::new(&bash)
            .arg("-c")
            .arg("source \"$1\" && complete -p flowlift")
            .arg("bash")
            .arg(&completion),
    );
    assert!(registered.contains("flowlift"), "{registered}");
}

#[test]
fn dpdk_testpmd_loads_the_installed_pmd() {
    let testpmd = need("dpdk-testpmd", "dpdk-dev");
    let inst = Installed::new();
    let so = inst.path(&pmd_path());
    assert!(so.is_file(), "{so:?}");
    // `-d DIR` loads every plugin of the directory, as EAL does with its own.
    let mut child = Command::new(testpmd)
        .args([
            "-l",
            "0,1",
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--no-shconf",
        ])
        .arg("-d")
        .arg(so.parent().unwrap())
        .args(["--vdev", "net_flowlift0,representor=vf[0-1]"])
        .args(["--", "-i", "--total-num-mbufs=8192"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dpdk-testpmd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"show port summary all\nquit\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = said(&out);
    assert!(
        text.contains("Number of available ports: 3"),
        "testpmd sees the PF and two representors:\n{text}"
    );
    assert!(text.contains("net_flowlift0_representor_vf1"), "{text}");
}

#[test]
fn lintian_finds_no_error_nor_warning() {
    let lintian = need("lintian", "lintian");
    let out = Command::new(lintian)
        .args(["--fail-on", "error,warning", "--tag-display-limit", "0"])
        .arg(deb())
        .output()
        .unwrap();
    assert!(out.status.success(), "lintian: {}", said(&out));
}
