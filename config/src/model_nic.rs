//! What flowlift reads of a `net_flowlift` device line, the NIC model's PMD
//! built into the binary: its devargs (parsed by the model's own parser, so
//! the config check refuses exactly what the probe would), the representors
//! its PF makes, and the captures it replays.
//!
//! The model is an mlx5 in switchdev mode, named as mlx5 names its ports: the
//! PF `net_flowlift0` (`device = "net_flowlift0,wire=F,loops=N,representor=vf[0-3]"`)
//! and the representor of VF N `net_flowlift0_representor_vfN`, which the PF's
//! `representor=` makes and which takes no EAL argument of its own.
//!
//! Its captures are the PMD's own memory (read once at probe), not mbufs: the
//! switch copies each frame into one mbuf of the RX queue's pool when the host
//! has room for it, so a capture sets how large the pool's mbufs must be, never
//! how many there must be (see `eal_args::model_data_room`).

use std::path::{Path, PathBuf};

use flowlift_nic::Devargs;

/// The driver's name; DPDK gives a vdev to the first driver whose name is a
/// prefix of the device's (`net_flowlift0`, `net_flowlift_a`).
pub const DRIVER: &str = "net_flowlift";

/// The file the PMD is built as for other DPDK applications (`-d`).
pub const PLUGIN_FILE: &str = "librte_net_flowlift.so";

/// Whether `dpdk_name` (a device's name, before its first comma) is a PF of
/// the model, which the built-in driver probes.
pub fn is_pf(dpdk_name: &str) -> bool {
    dpdk_name.starts_with(DRIVER) && !dpdk_name.contains("_representor_")
}

/// The devargs of a model PF's device line (what follows its first comma), as
/// the PMD reads them at probe.
pub fn devargs(device: &str) -> Result<Devargs, String> {
    let args = device.split_once(',').map_or("", |(_, a)| a);
    Devargs::parse(args).map_err(|e| e.to_string())
}

/// The PF and VF of a representor of the model (`net_flowlift0_representor_vf2`
/// is VF 2 of `net_flowlift0`); `None` for any other name.
pub fn representor(dpdk_name: &str) -> Option<(&str, u16)> {
    let (pf, what) = dpdk_name.split_once("_representor_")?;
    if !is_pf(pf) {
        return None;
    }
    let vf = what.strip_prefix("vf")?;
    if vf.is_empty()
        || !vf.bytes().all(|b| b.is_ascii_digit())
        || (vf.len() > 1 && vf.starts_with('0'))
    {
        return None;
    }
    Some((pf, vf.parse().ok()?))
}

/// Every capture a model PF replays: the uplink's wire, then each VF's.
pub fn wires(d: &Devargs) -> Vec<PathBuf> {
    d.wire
        .iter()
        .cloned()
        .chain(
            d.vf_wires
                .iter()
                .filter(|w| w.gen.is_none())
                .map(|w| w.path.clone()),
        )
        .collect()
}

/// Packets a model PF's generated wire (`gen=`) sends in all, as the PMD
/// will generate them (the same settings, the same seed): `None` without a
/// generated wire, `Some(None)` for one that never ends.
pub fn generated_frames(d: &Devargs) -> Option<Option<u64>> {
    use flowlift_nic::generator::{planned_total, Params};
    let args = d.gen.as_ref()?;
    Some(planned_total(&Params::resolve(
        args,
        d.rate_pps,
        d.representors.len(),
    )))
}

/// Packets VF `w`'s generated wire (`vfN_gen`) sends in all, as the PMD
/// will generate them: `None` for a capture, `Some(None)` for one that never
/// ends.
pub fn generated_vf_frames(d: &Devargs, w: &flowlift_nic::devargs::VfWire) -> Option<Option<u64>> {
    use flowlift_nic::generator::{planned_total, Params};
    let scenario = w.gen?;
    let position = d.representors.iter().position(|&vf| vf == w.vf)?;
    Some(planned_total(&Params::resolve_vf(
        &d.vf_gen,
        scenario,
        d.vf_rate_pps(w),
        d.representors.len(),
        position,
        false,
    )))
}

/// `device` with its uplink wire set to `pcap`, replayed `loops` times (0:
/// forever), its other devargs kept: `--replay` on a model uplink.
pub fn with_wire(device: &str, pcap: &Path, loops: u64) -> String {
    let device = with_devarg(device, "wire", &pcap.display().to_string());
    with_devarg(&device, "loops", &loops.to_string())
}

/// `device` with devarg `key` set to `value`: in the place of an earlier
/// value (any further one dropped), else at the end; the other devargs kept
/// in order.
pub fn with_devarg(device: &str, key: &str, value: &str) -> String {
    let (name, args) = device.split_once(',').unwrap_or((device, ""));
    let mut out = name.to_string();
    let mut set = false;
    for pair in split_pairs(args) {
        let k = pair.split_once('=').map_or(pair, |(k, _)| k).trim();
        if k != key {
            out.push(',');
            out.push_str(pair);
        } else if !set {
            out.push_str(&format!(",{key}={value}"));
            set = true;
        }
    }
    if !set {
        out.push_str(&format!(",{key}={value}"));
    }
    out
}

/// The NIC model's switch: its busy and idle TSC cycles so far, from its
/// PF's xstats (`None` on any other NIC). It stands for hardware, so its
/// CPU is shown apart from the host's.
pub fn switch_cycles(pf: &rte::Port) -> Option<(u64, u64)> {
    let x = pf.xstats().ok()?;
    let get = |name: &str| x.iter().find(|s| s.name == name).map(|s| s.value);
    Some((get("switch_busy_cycles")?, get("switch_idle_cycles")?))
}

/// kvargs pairs: commas inside brackets (`representor=vf[0,2]`) do not split.
fn split_pairs(args: &str) -> Vec<&str> {
    let mut pairs = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in args.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth <= 0 => {
                pairs.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pairs.push(&args[start..]);
    pairs.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The values of EAL's `-d` options (`-d X`, `-dX`) in `args`.
pub fn plugin_paths(args: &[String]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-d" {
            if let Some(v) = it.next() {
                out.push(v.as_str());
            }
        } else if let Some(v) = a.strip_prefix("-d") {
            out.push(v);
        }
    }
    out
}

/// Whether a file name is the PMD's shared object (`librte_net_flowlift.so`,
/// or a versioned `librte_net_flowlift.so.23`).
pub fn is_plugin_file(name: &str) -> bool {
    name.starts_with(PLUGIN_FILE)
}

/// Why loading the PMD's shared object into flowlift is refused (`what`: the
/// `-d` argument that would load it).
pub fn plugin_refusal(what: &str) -> String {
    format!(
        "eal.args: -d {what} loads {PLUGIN_FILE}, but {DRIVER} is built into flowlift: remove it (a second copy of the driver would stay unregistered and the built-in one would serve every {DRIVER} device anyway)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfs_and_representors_by_name() {
        assert!(is_pf("net_flowlift0"));
        assert!(is_pf("net_flowlift_a"));
        assert!(!is_pf("net_flowlift0_representor_vf0"));
        assert!(!is_pf("net_pcap0"));
        assert_eq!(
            representor("net_flowlift0_representor_vf3"),
            Some(("net_flowlift0", 3))
        );
        assert_eq!(
            representor("net_flowlift1_representor_vf12"),
            Some(("net_flowlift1", 12))
        );
        for not in [
            "net_flowlift0",
            "net_flowlift0_representor_",
            "net_flowlift0_representor_vf",
            "net_flowlift0_representor_vf01",
            "net_flowlift0_representor_pf0vf1",
            "net_flowlift0_representor_vfx",
            "0000:03:00.0_representor_vf0",
            "net_pcap0_representor_vf0",
        ] {
            assert_eq!(representor(not), None, "{not}");
        }
    }

    #[test]
    fn devargs_as_the_pmd_reads_them() {
        let d = devargs("net_flowlift0,wire=/a.pcap,loops=2,representor=vf[0,2-3]").unwrap();
        assert_eq!(d.representors, vec![0, 2, 3]);
        assert_eq!(d.loops, 2);
        assert_eq!(wires(&d), vec![PathBuf::from("/a.pcap")]);
        assert!(devargs("net_flowlift0").unwrap().representors.is_empty());
        let e = devargs("net_flowlift0,wyre=/a.pcap").unwrap_err();
        assert!(e.contains("unknown devarg 'wyre'"), "{e}");
        let d = devargs("net_flowlift0,representor=vf[0-1],vf1_wire=/b.pcap,wire=/a.pcap").unwrap();
        assert_eq!(
            wires(&d),
            vec![PathBuf::from("/a.pcap"), PathBuf::from("/b.pcap")]
        );
    }

    #[test]
    fn a_generated_wire_s_frames_are_planned() {
        let d = devargs("net_flowlift0,gen=churn,gen_flows_per_s=100,gen_seconds=1,rate_pps=10000")
            .unwrap();
        let n = generated_frames(&d).unwrap().unwrap();
        assert!(n > 0);
        let d = devargs("net_flowlift0,gen=steady").unwrap();
        assert_eq!(generated_frames(&d), Some(None), "forever");
        let d = devargs("net_flowlift0,wire=/a.pcap").unwrap();
        assert_eq!(generated_frames(&d), None);
    }

    #[test]
    fn replay_sets_the_wire_and_keeps_the_rest() {
        assert_eq!(
            with_wire(
                "net_flowlift0,wire=/old.pcap,representor=vf[0,2],loops=7,rules=5",
                Path::new("/new.pcap"),
                3
            ),
            "net_flowlift0,wire=/new.pcap,representor=vf[0,2],loops=3,rules=5"
        );
        assert_eq!(
            with_devarg(
                "net_flowlift0,vf1_name=a,rules=5,vf1_name=c",
                "vf1_name",
                "b"
            ),
            "net_flowlift0,vf1_name=b,rules=5"
        );
        assert_eq!(
            with_wire("net_flowlift0", Path::new("/n.pcap"), 0),
            "net_flowlift0,wire=/n.pcap,loops=0"
        );
    }

    #[test]
    fn plugin_arguments() {
        let args: Vec<String> = ["--no-huge", "-d", "/x/a.so", "-d/y", "--vdev=net_null0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(plugin_paths(&args), vec!["/x/a.so", "/y"]);
        assert!(is_plugin_file("librte_net_flowlift.so"));
        assert!(is_plugin_file("librte_net_flowlift.so.23.0"));
        assert!(!is_plugin_file("librte_net_pcap.so"));
    }
}
