//! The service unit shipped in `packaging/systemd/flowlift.service`: systemd
//! accepts it (`systemd-analyze verify`, in a root holding the binary where
//! the unit says), it asks for what the appliance implements (notify, the
//! watchdog, locked memory), and the binary takes its command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use flowlift_tests::flowlift_bin;
use flowlift_traffic::{generate, TrafficSpec};

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd/flowlift.service")
}

/// `systemd-analyze verify` of `unit` in a root where `/usr/bin/flowlift` is
/// the binary under test (and `/bin/kill`, which `ExecReload=` runs, the
/// host's, in a merged /usr as on Debian 12): its output and whether it
/// passed.
fn verify(unit: &str) -> (bool, String) {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("usr/bin");
    let units = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&units).unwrap();
    std::fs::copy(flowlift_bin(), bin.join("flowlift")).unwrap();
    std::fs::copy("/usr/bin/kill", bin.join("kill")).expect("/usr/bin/kill (procps)");
    std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
    std::fs::write(units.join("flowlift.service"), unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(format!("--root={}", root.path().display()))
        .arg("/etc/systemd/system/flowlift.service")
        .output()
        .expect("systemd-analyze (scripts/setup installs systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && said.trim().is_empty(), said)
}

#[test]
fn systemd_verifies_the_unit_and_refuses_a_broken_one() {
    let unit = std::fs::read_to_string(unit_path()).unwrap();
    let (ok, said) = verify(&unit);
    assert!(ok, "systemd-analyze verify: {said}");
    // The check can fail: a misspelt key, a binary that is not there.
    let (ok, said) = verify(&unit.replace("Type=notify", "Tpye=notify"));
    assert!(!ok && said.contains("Tpye"), "{said}");
    let (ok, said) = verify(&unit.replace("/usr/bin/flowlift ", "/usr/bin/flowlifx "));
    assert!(!ok && said.contains("flowlifx"), "{said}");
}

#[test]
fn the_unit_asks_for_what_the_appliance_does() {
    let unit = std::fs::read_to_string(unit_path()).unwrap();
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
        "LimitMEMLOCK=infinity",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_IPC_LOCK",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(line)),
            "{line} in the unit"
        );
    }
}

#[test]
fn the_binary_takes_the_unit_s_command_line() {
    let unit = std::fs::read_to_string(unit_path()).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/flowlift "))
        .expect("ExecStart");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flowlift.example.toml");
    // The example replays `uplink.pcap` from where it runs.
    let dir = tempfile::tempdir().unwrap();
    let capture = TrafficSpec {
        flows: 10,
        packets: 100,
        ..TrafficSpec::default()
    };
    generate(&capture, &dir.path().join("uplink.pcap")).unwrap();
    let sock = dir.path().join("flowlift.sock");
    let args: Vec<String> = exec
        .split_whitespace()
        .map(|a| match a {
            "/etc/flowlift/flowlift.toml" => example.display().to_string(),
            "/run/flowlift/flowlift.sock" => sock.display().to_string(),
            other => other.to_string(),
        })
        .chain(["--check-config".to_string()])
        .collect();
    let out = Command::new(flowlift_bin())
        .args(&args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flowlift {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
