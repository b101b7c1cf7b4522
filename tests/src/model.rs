//! Configs for runs on the NIC model (`net_flowlift`, built into flowlift):
//! the uplink on the PF, each VF port on one of its representors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use flowlift_traffic::{generate, TrafficSpec};

use crate::read_pcap;

/// The VF ports: names and MACs, as the traffic generator addresses its
/// flows. VF `i` is on representor `i`.
pub const VFS: [(&str, u8); 4] = [("vm1", 1), ("vm2", 2), ("vm3", 3), ("vm4", 4)];

/// The PF's device: `capture` replayed `loops` times, with the four
/// representors of [`VFS`].
pub fn uplink(capture: &Path, loops: u64) -> String {
    format!(
        "net_flowlift0,wire={},loops={loops},representor=vf[0-3]",
        capture.display()
    )
}

/// Writes `<dir>/flowlift.toml`: the uplink on `uplink_device`, VF `i` of
/// [`VFS`] on representor `i`, and `tables` (TOML tables such as
/// `[offload]`, or nothing) before the ports; returns its path.
pub fn config(dir: &Path, uplink_device: &str, tables: &str) -> PathBuf {
    config_with(dir, uplink_device, tables, &[])
}

/// [`config`] with VMs that send: each `(name, capture)` of `replays` gives
/// the VF port `name` of [`VFS`] `replay = "capture"`.
pub fn config_replaying(
    dir: &Path,
    uplink_device: &str,
    tables: &str,
    replays: &[(&str, &Path)],
) -> PathBuf {
    let keys: Vec<(&str, String)> = replays
        .iter()
        .map(|(vm, capture)| (*vm, format!("replay = \"{}\"", capture.display())))
        .collect();
    let keys: Vec<(&str, &str)> = keys.iter().map(|(vm, k)| (*vm, k.as_str())).collect();
    config_with(dir, uplink_device, tables, &keys)
}

/// [`config`], with `vf_keys` (a VF's name, and lines of keys such as
/// `rate_limit_pps = 1000`) added to those VFs' tables.
pub fn config_with(
    dir: &Path,
    uplink_device: &str,
    tables: &str,
    vf_keys: &[(&str, &str)],
) -> PathBuf {
    config_full(dir, uplink_device, tables, vf_keys, &[1])
}

/// [`config`] with a worker on each of `worker_lcores` (each port then has
/// as many RX queues, up to what its device offers, dealt out in turn).
pub fn config_on_lcores(
    dir: &Path,
    uplink_device: &str,
    tables: &str,
    worker_lcores: &[u32],
) -> PathBuf {
    config_full(dir, uplink_device, tables, &[], worker_lcores)
}

fn config_full(
    dir: &Path,
    uplink_device: &str,
    tables: &str,
    vf_keys: &[(&str, &str)],
    worker_lcores: &[u32],
) -> PathBuf {
    let lcores: Vec<String> = worker_lcores.iter().map(|l| l.to_string()).collect();
    let lcores = lcores.join(", ");
    let mut text = format!(
        r#"
[eal]
args = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry"]
[dataplane]
worker_lcores = [{lcores}]
{tables}[[port]]
name = "uplink"
role = "uplink"
device = "{uplink_device}"
"#
    );
    for (i, (name, mac)) in VFS.iter().enumerate() {
        text += &format!(
            "[[port]]\nname = \"{name}\"\nrole = \"vf\"\nmac = \"02:00:00:00:00:{mac:02x}\"\ndevice = \"net_flowlift0_representor_vf{i}\"\n"
        );
        for (_, keys) in vf_keys.iter().filter(|(n, _)| n == name) {
            text += keys;
            text += "\n";
        }
    }
    let path = dir.join("flowlift.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// Generates `spec`'s capture at `path` and returns its frames.
pub fn capture(path: &Path, spec: &TrafficSpec) -> Vec<Vec<u8>> {
    generate(spec, path).expect("generate the capture");
    read_pcap(path)
}

/// Frames and bytes of `frames` by VF port name (by destination MAC).
pub fn by_vf(frames: &[Vec<u8>]) -> HashMap<&'static str, (u64, u64)> {
    let mut out = HashMap::new();
    for f in frames {
        if let Some((name, _)) = VFS.iter().find(|(_, m)| f[..6] == [2, 0, 0, 0, 0, *m]) {
            let e = out.entry(*name).or_insert((0, 0));
            e.0 += 1;
            e.1 += f.len() as u64;
        }
    }
    out
}

/// What one VF received, from the files the PMD writes with `capture_dir`
/// (flowlift's `--capture-dir` on the model): by the host's path
/// (`<name>.pcap`, what the workers sent on its representor) and by the
/// NIC's rules (`<name>-offloaded.pcap`).
#[derive(Debug, Default)]
pub struct VfCapture {
    pub host: Vec<Vec<u8>>,
    pub offloaded: Vec<Vec<u8>>,
}

impl VfCapture {
    /// Both files' frames, the host's first.
    pub fn all(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.host.iter().chain(&self.offloaded)
    }
}

/// Each VF port's captures of [`VFS`] in `dir`.
pub fn vf_captures(dir: &Path) -> HashMap<&'static str, VfCapture> {
    VFS.iter()
        .map(|(name, _)| {
            let file = |suffix: &str| read_pcap(&dir.join(format!("{name}{suffix}.pcap")));
            (
                *name,
                VfCapture {
                    host: file(""),
                    offloaded: file("-offloaded"),
                },
            )
        })
        .collect()
}

/// The flow rules and indirect actions the device still held when its PF
/// was closed, as the PMD logs them (EAL's log, on stderr): the device's own
/// count, not flowlift's.
pub fn held_at_close(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("net_flowlift0: closed holding "))
        .unwrap_or_else(|| panic!("the PMD's close line in\n{stderr}"));
    (
        crate::number_after(line, "closed holding"),
        crate::number_after(line, "flow rule(s) and"),
    )
}
