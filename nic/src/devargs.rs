//! The device arguments of `net_flowlift` (`--vdev net_flowlift0,wire=F,...`),
//! parsed and checked before any port exists, as a PMD refuses a bad devarg at
//! probe.
//!
//! The string is DPDK's kvargs form: `key=value` pairs separated by commas.
//! A value may hold a bracketed list with commas of its own (mlx5's
//! `representor=vf[0,2-3]`), so commas inside brackets do not separate pairs.

use std::path::PathBuf;

/// VF numbers a representor list may name: one PF and its VFs share DPDK's
/// port table (`RTE_MAX_ETHPORTS`, 32 in Debian's build), so at most 31 VFs.
pub const MAX_VFS: u16 = 31;

/// CPUs `switch_cpu` may name (glibc's `CPU_SETSIZE`).
pub const MAX_CPUS: usize = 1024;

/// The device's configuration, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Devargs {
    /// The uplink's wire: a pcap replayed from memory (`wire=PCAP`). Without
    /// one, nothing arrives on the uplink.
    pub wire: Option<PathBuf>,
    /// Times the capture is replayed (`loops=N`); 0, the default, is forever.
    pub loops: u64,
    /// Packets per second the wire carries (`rate_pps=N`); 0, the default, is
    /// as fast as the host takes them (the wire waits for room in the RX
    /// ring, so nothing is missed).
    pub rate_pps: u64,
    /// The VFs that get a representor port, ascending (`representor=vf[0-3]`).
    pub representors: Vec<u16>,
    /// Where the ports' captures go (`capture_dir=DIR`, or by its first
    /// name `vf_capture_dir=DIR`; see [`crate::capture`]): each represented
    /// VF's `DIR/NAME.pcap` (sent by the host on its representor) and
    /// `DIR/NAME-offloaded.pcap` (delivered by the switch's rules), NAME its
    /// [`Devargs::vf_name`], and the uplink's `DIR/uplink.pcap` (sent by the
    /// host on the PF) and `DIR/uplink-offloaded.pcap` (put on the wire by
    /// the switch's rules). The field keeps the devarg's first name, which
    /// flowlift's config check reads.
    pub vf_capture_dir: Option<PathBuf>,
    /// The VFs' names for their capture files (`vfN_name=NAME`), ascending
    /// by VF; a VF not listed is `vfN`. Each VF named has a representor, and
    /// no two ports' capture files share a name.
    pub vf_names: Vec<(u16, String)>,
    /// VFs that send (a VM's egress): `vfN_wire=PCAP`, with `vfN_loops` and
    /// `vfN_rate_pps` (by default the device's `loops` and `rate_pps`).
    /// Ascending by VF; each VF has a representor.
    pub vf_wires: Vec<VfWire>,
    /// The CPU the switch thread is pinned to (`switch_cpu=N`); by default it
    /// runs where the thread that started the PF may run.
    pub switch_cpu: Option<usize>,
    /// The switch's limits (`rules=`, `counters=`, `meters=`,
    /// `inserts_per_sec=`, `counter_refresh_ms=`; see [`crate::limits`]).
    pub limits: crate::limits::Limits,
    /// Injected faults (`fault_*=`; see [`crate::faults`]).
    pub faults: crate::faults::Faults,
    /// A generated wire instead of `wire=` (`gen=PRESET`, `gen_*=`; see
    /// [`crate::generator`]), paced by `rate_pps`.
    pub gen: Option<crate::generator::GenArgs>,
    /// The `gen_*` settings the VFs' generated wires (`vfN_gen`) share,
    /// with or without `gen=`.
    pub vf_gen: crate::generator::GenArgs,
}

/// What one VF sends: a capture, replayed as the uplink's wire is
/// (`vfN_wire`), or a generated wire (`vfN_gen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfWire {
    pub vf: u16,
    /// `vfN_wire`; empty with `vfN_gen`.
    pub path: PathBuf,
    /// `vfN_gen=PRESET`: the VM's flows are generated (the device's
    /// `gen_*` settings apply), to the outside and to the other VFs.
    pub gen: Option<crate::generator::Scenario>,
    /// `vfN_gen_truth=PATH`: where that wire's ground truth goes.
    pub gen_truth: Option<PathBuf>,
    /// `vfN_loops`; `None`: the device's `loops`.
    pub loops: Option<u64>,
    /// `vfN_rate_pps`; `None`: the device's `rate_pps`.
    pub rate_pps: Option<u64>,
}

impl Devargs {
    /// VF `w`'s passes (0: forever).
    pub fn vf_loops(&self, w: &VfWire) -> u64 {
        w.loops.unwrap_or(self.loops)
    }

    /// VF `w`'s pace (0: as fast as its receivers take it).
    pub fn vf_rate_pps(&self, w: &VfWire) -> u64 {
        w.rate_pps.unwrap_or(self.rate_pps)
    }

    /// The stem of VF `vf`'s capture files: its `vfN_name`, else `vfN`.
    pub fn vf_name(&self, vf: u16) -> String {
        match self.vf_names.iter().find(|(v, _)| *v == vf) {
            Some((_, name)) => name.clone(),
            None => format!("vf{vf}"),
        }
    }
}

/// The longest `vfN_name`: a file-name stem, as long as flowlift's port
/// names may be (DPDK's `RTE_ETH_NAME_MAX_LEN`), so any of them fits.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` may name a VF's capture files: 1..=[`MAX_NAME_LEN`]
/// letters, digits, '-' or '_' (flowlift's rule for port names), so it is
/// a plain file name everywhere (no '/', no '.', no space to quote).
fn check_name(name: &str) -> Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("a file-name stem: 1 to 64 letters, digits, '-' or '_'")
    }
}

/// `vfN_wire`, `vfN_loops`, `vfN_rate_pps`, `vfN_name`: the VF and which.
fn vf_key(key: &str) -> Option<(u16, &'static str)> {
    let rest = key.strip_prefix("vf")?;
    for field in ["wire", "loops", "rate_pps", "name", "gen_truth", "gen"] {
        if let Some(n) = rest.strip_suffix(field).and_then(|r| r.strip_suffix('_')) {
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                return n.parse().ok().map(|vf| (vf, field));
            }
        }
    }
    None
}

/// Why a devargs string is refused (the message is what the PMD logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevargsError {
    /// A pair without `=`.
    #[error("devarg '{0}' is not key=value")]
    NotAPair(String),
    /// A key the device does not know.
    #[error(
        "unknown devarg '{0}' (known: wire, loops, rate_pps, representor, capture_dir \
         (or vf_capture_dir), vfN_name, vfN_wire, vfN_loops, vfN_rate_pps, switch_cpu, \
         {limits}, {faults}, {gen})",
        limits = crate::limits::KEYS.join(", "),
        faults = crate::faults::KEYS.join(", "),
        gen = crate::generator::args::KEYS.join(", ")
    )]
    UnknownKey(String),
    /// A key given twice.
    #[error("devarg '{0}' given twice")]
    Duplicate(String),
    /// A value that does not parse or is out of range.
    #[error("devarg {key}={value}: {why}")]
    BadValue {
        key: String,
        value: String,
        why: &'static str,
    },
    /// Brackets that do not pair up.
    #[error("unbalanced brackets in devargs")]
    Brackets,
    /// A VF source for a VF without a representor, or its pace or loops
    /// without its wire.
    #[error("devarg '{0}': {1}")]
    VfSource(String, &'static str),
    /// A generated wire's setting without `gen=`, or `gen=` with `wire=`.
    #[error("devarg '{0}': {1}")]
    Generated(String, &'static str),
    /// A VF named (`vfN_name`) that has no representor.
    #[error("devarg 'vf{0}_name': a VF named needs a representor (representor=vf[...])")]
    NameWithoutRepresentor(u16),
    /// A VF's name whose capture files would be another port's.
    #[error(
        "devarg vf{vf}_name={name}: {file} would also be {other}'s capture file \
         (each port's capture files need names of their own)"
    )]
    NameClash {
        vf: u16,
        name: String,
        /// The port whose file it would be: `VF N` or `the uplink`.
        other: String,
        file: String,
    },
}

impl Devargs {
    /// Parses the devargs string of one device (what follows the device name
    /// and its comma; empty for none).
    pub fn parse(args: &str) -> Result<Devargs, DevargsError> {
        let mut out = Devargs::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut gen_seen: Option<Vec<String>> = None;
        for pair in split_pairs(args)? {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| DevargsError::NotAPair(pair.to_owned()))?;
            let key = key.trim();
            let value = value.trim();
            // One setting under two names: either, once.
            let setting = match key {
                "vf_capture_dir" => "capture_dir",
                k => k,
            };
            if seen.contains(&setting) {
                return Err(DevargsError::Duplicate(match setting {
                    "capture_dir" => "capture_dir (or vf_capture_dir)".to_owned(),
                    _ => key.to_owned(),
                }));
            }
            seen.push(setting);
            let bad = |why| DevargsError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
                why,
            };
            if let Some((vf, field)) = vf_key(key) {
                if vf > MAX_VFS {
                    return Err(bad("VFs are 0..=31"));
                }
                if field == "name" {
                    // `vf1_name` and `vf01_name` are one VF's.
                    if out.vf_names.iter().any(|(v, _)| *v == vf) {
                        return Err(DevargsError::Duplicate(key.to_owned()));
                    }
                    check_name(value).map_err(bad)?;
                    out.vf_names.push((vf, value.to_owned()));
                    continue;
                }
                let i = match out.vf_wires.iter().position(|w| w.vf == vf) {
                    Some(i) => i,
                    None => {
                        out.vf_wires.push(VfWire {
                            vf,
                            path: PathBuf::new(),
                            gen: None,
                            gen_truth: None,
                            loops: None,
                            rate_pps: None,
                        });
                        out.vf_wires.len() - 1
                    }
                };
                let w = &mut out.vf_wires[i];
                match field {
                    "wire" if value.is_empty() => return Err(bad("a path to a pcap file")),
                    "wire" => w.path = PathBuf::from(value),
                    "gen" => {
                        let mut g = crate::generator::GenArgs::default();
                        g.set("gen", value).map_err(bad)?;
                        w.gen = Some(g.scenario);
                    }
                    "gen_truth" if value.is_empty() => return Err(bad("a file path")),
                    "gen_truth" => w.gen_truth = Some(PathBuf::from(value)),
                    "loops" => w.loops = Some(value.parse().map_err(|_| bad("a whole number"))?),
                    _ => w.rate_pps = Some(value.parse().map_err(|_| bad("a whole number"))?),
                }
                continue;
            }
            match key {
                "wire" => {
                    if value.is_empty() {
                        return Err(bad("a path to a pcap file"));
                    }
                    out.wire = Some(PathBuf::from(value));
                }
                "loops" => out.loops = value.parse().map_err(|_| bad("a whole number"))?,
                "rate_pps" => out.rate_pps = value.parse().map_err(|_| bad("a whole number"))?,
                "representor" => out.representors = parse_representors(value).map_err(bad)?,
                "switch_cpu" => {
                    let cpu: usize = value.parse().map_err(|_| bad("a CPU number"))?;
                    if cpu >= MAX_CPUS {
                        return Err(bad("a CPU number below 1024"));
                    }
                    out.switch_cpu = Some(cpu);
                }
                "capture_dir" | "vf_capture_dir" => {
                    if value.is_empty() {
                        return Err(bad("a directory"));
                    }
                    out.vf_capture_dir = Some(PathBuf::from(value));
                }
                k if crate::limits::KEYS.contains(&k) => out.limits.set(k, value).map_err(bad)?,
                k if crate::faults::KEYS.contains(&k) => out.faults.set(k, value).map_err(bad)?,
                k if crate::generator::args::KEYS.contains(&k) => {
                    gen_seen.get_or_insert_with(Vec::new).push(k.to_owned());
                    out.gen
                        .get_or_insert_with(Default::default)
                        .set(k, value)
                        .map_err(bad)?
                }
                k => return Err(DevargsError::UnknownKey(k.to_owned())),
            }
        }
        if let Some(keys) = gen_seen {
            let vf_gen = out.vf_wires.iter().any(|w| w.gen.is_some());
            let pf_gen = keys.iter().any(|k| k == "gen");
            out.vf_gen = out.gen.clone().unwrap_or_default();
            if !pf_gen {
                // Only the VFs generate: the settings are theirs.
                out.gen = None;
                if let Some(k) = keys
                    .iter()
                    .find(|k| *k == "gen_truth" || *k == "gen_series")
                {
                    return Err(DevargsError::Generated(
                        k.clone(),
                        "the uplink's truth or series needs gen= (a VF's truth is vfN_gen_truth)",
                    ));
                }
            }
            if !vf_gen && !pf_gen {
                return Err(DevargsError::Generated(
                    keys[0].clone(),
                    "a setting of the generated wire needs gen=steady|churn|shift|flash|mice",
                ));
            }
            if out.wire.is_some() && keys.iter().any(|k| k == "gen") {
                return Err(DevargsError::Generated(
                    "gen".to_owned(),
                    "the uplink's wire is a capture (wire=) or generated (gen=), not both",
                ));
            }
        }
        out.vf_wires.sort_by_key(|w| w.vf);
        for w in &out.vf_wires {
            match (w.path.as_os_str().is_empty(), w.gen.is_some()) {
                (true, false) if w.gen_truth.is_some() => {
                    return Err(DevargsError::VfSource(
                        format!("vf{}_gen_truth", w.vf),
                        "the truth of a generated wire needs vfN_gen",
                    ))
                }
                (true, false) => {
                    return Err(DevargsError::VfSource(
                        format!("vf{}_...", w.vf),
                        "its loops or pace without vfN_wire or vfN_gen",
                    ))
                }
                (false, true) => {
                    return Err(DevargsError::VfSource(
                        format!("vf{}_gen", w.vf),
                        "a VF sends a capture (vfN_wire) or a generated wire (vfN_gen), not both",
                    ))
                }
                _ => {}
            }
            if !out.representors.contains(&w.vf) {
                return Err(DevargsError::VfSource(
                    format!("vf{}_wire", w.vf),
                    "a VF that sends needs a representor (representor=vf[...])",
                ));
            }
        }
        out.vf_names.sort_unstable();
        out.check_names()?;
        out.faults.check().map_err(|why| DevargsError::BadValue {
            key: "fault_stall_every_ms".to_owned(),
            value: out.faults.stall_every_ms.to_string(),
            why,
        })?;
        Ok(out)
    }
}

impl Devargs {
    /// Each VF named has a representor, and no two ports' capture files
    /// share a name: a named VF's `NAME.pcap` and `NAME-offloaded.pcap`
    /// against the uplink's and every other represented VF's (named or
    /// `vfN`). Only clashes are refused, so any of flowlift's port names
    /// that makes distinct files passes (`vm-offloaded` with no VF `vm`).
    fn check_names(&self) -> Result<(), DevargsError> {
        use crate::capture::Captures;
        for (vf, name) in &self.vf_names {
            if !self.representors.contains(vf) {
                return Err(DevargsError::NameWithoutRepresentor(*vf));
            }
            let others = std::iter::once(("the uplink".to_owned(), Captures::UPLINK.to_owned()))
                .chain(
                    self.representors
                        .iter()
                        .filter(|v| *v != vf)
                        .map(|&v| (format!("VF {v}"), self.vf_name(v))),
                );
            for (other, stem) in others {
                let theirs = Captures::names(&stem);
                if let Some(file) = Captures::names(name)
                    .into_iter()
                    .find(|f| theirs.contains(f))
                {
                    return Err(DevargsError::NameClash {
                        vf: *vf,
                        name: name.clone(),
                        other,
                        file,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Splits at the commas outside brackets; skips empty pieces.
fn split_pairs(args: &str) -> Result<Vec<&str>, DevargsError> {
    let mut pairs = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in args.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1).ok_or(DevargsError::Brackets)?,
            ',' if depth == 0 => {
                pairs.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(DevargsError::Brackets);
    }
    pairs.push(&args[start..]);
    Ok(pairs.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

/// `vfN` or `vf[LIST]`, LIST being `N` or `N-M` items separated by commas, as
/// mlx5 spells VF representors of its one PF. Returns the VFs ascending,
/// without repeats.
fn parse_representors(value: &str) -> Result<Vec<u16>, &'static str> {
    const FORM: &str = "vfN or vf[N,N-M,...] with VFs 0..=31";
    let rest = value.strip_prefix("vf").ok_or(FORM)?;
    let list = match rest.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or(FORM)?,
        None => rest,
    };
    let vf = |s: &str| -> Result<u16, &'static str> {
        let n: u16 = s.trim().parse().map_err(|_| FORM)?;
        if n > MAX_VFS {
            return Err(FORM);
        }
        Ok(n)
    };
    let mut vfs = Vec::new();
    for item in list.split(',') {
        match item.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (vf(lo)?, vf(hi)?);
                if hi < lo {
                    return Err("a VF range runs from low to high");
                }
                vfs.extend(lo..=hi);
            }
            None => vfs.push(vf(item)?),
        }
    }
    vfs.sort_unstable();
    vfs.dedup();
    Ok(vfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_example() {
        let d = Devargs::parse("wire=/x/a.pcap,loops=1,representor=vf[0-3]").unwrap();
        assert_eq!(d.wire, Some(PathBuf::from("/x/a.pcap")));
        assert_eq!(d.loops, 1);
        assert_eq!(d.rate_pps, 0);
        assert_eq!(d.representors, vec![0, 1, 2, 3]);
    }

    #[test]
    fn defaults_and_empty() {
        assert_eq!(Devargs::parse("").unwrap(), Devargs::default());
        assert_eq!(Devargs::default().loops, 0, "forever by default");
    }

    #[test]
    fn representor_lists() {
        let r = |s: &str| Devargs::parse(&format!("representor={s}")).map(|d| d.representors);
        assert_eq!(r("vf2").unwrap(), vec![2]);
        assert_eq!(r("vf[0,2-3]").unwrap(), vec![0, 2, 3]);
        assert_eq!(r("vf[3,1,1-2]").unwrap(), vec![1, 2, 3]);
        assert_eq!(r("vf[31]").unwrap(), vec![31]);
        for bad in ["vf[32]", "pf0vf0", "vf[3-1]", "vf[]", "vf", "sf0", "vf[1"] {
            assert!(r(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn switch_cpu() {
        assert_eq!(Devargs::parse("").unwrap().switch_cpu, None);
        assert_eq!(Devargs::parse("switch_cpu=1").unwrap().switch_cpu, Some(1));
        for bad in ["switch_cpu=-1", "switch_cpu=1024", "switch_cpu=x"] {
            assert!(
                matches!(Devargs::parse(bad), Err(DevargsError::BadValue { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn capture_dir_and_its_first_name() {
        for key in ["capture_dir", "vf_capture_dir"] {
            let d = Devargs::parse(&format!("representor=vf0,{key}=/x/out")).unwrap();
            assert_eq!(d.vf_capture_dir, Some(PathBuf::from("/x/out")), "{key}");
        }
        // One setting: both names at once is given twice.
        let e = Devargs::parse("capture_dir=/a,vf_capture_dir=/b").unwrap_err();
        assert_eq!(
            e,
            DevargsError::Duplicate("capture_dir (or vf_capture_dir)".into())
        );
        assert_eq!(
            e.to_string(),
            "devarg 'capture_dir (or vf_capture_dir)' given twice"
        );
        assert!(matches!(
            Devargs::parse("capture_dir="),
            Err(DevargsError::BadValue { .. })
        ));
    }

    #[test]
    fn vf_names_name_the_capture_files() {
        let d = Devargs::parse(
            "representor=vf[0-3],vf2_name=vm-3_b,vf0_name=vm1,vf3_name=vf1x,capture_dir=/o",
        )
        .unwrap();
        assert_eq!(
            d.vf_names,
            vec![
                (0, "vm1".to_owned()),
                (2, "vm-3_b".to_owned()),
                (3, "vf1x".to_owned())
            ],
            "ascending by VF"
        );
        let names: Vec<String> = (0..4).map(|vf| d.vf_name(vf)).collect();
        assert_eq!(names, ["vm1", "vf1", "vm-3_b", "vf1x"], "VF 1 by default");
        // Without a capture directory a name is harmless; the longest one.
        let long = "a".repeat(MAX_NAME_LEN);
        let d = Devargs::parse(&format!("representor=vf5,vf5_name={long}")).unwrap();
        assert_eq!(d.vf_name(5), long);
        // `x-offloaded` is a name of its own while no VF is called `x`.
        Devargs::parse("representor=vf[0-1],vf0_name=x-offloaded,vf1_name=y").unwrap();
    }

    #[test]
    fn bad_vf_names_are_refused_with_the_reason() {
        use DevargsError::*;
        let err = |args: &str| Devargs::parse(args).unwrap_err();
        let too_long = format!("representor=vf0,vf0_name={}", "a".repeat(MAX_NAME_LEN + 1));
        for args in [
            "representor=vf0,vf0_name=",
            "representor=vf0,vf0_name=vm.1",
            "representor=vf0,vf0_name=a/b",
            "representor=vf0,vf0_name=vm 1",
            "representor=vf0,vf0_name=../x",
            "representor=vf0,vf0_name=vmé",
            too_long.as_str(),
        ] {
            let e = err(args);
            assert!(matches!(e, BadValue { .. }), "{args}: {e:?}");
            assert!(
                e.to_string()
                    .ends_with(": a file-name stem: 1 to 64 letters, digits, '-' or '_'"),
                "{e}"
            );
        }
        assert_eq!(
            err("representor=vf0,vf0_name=vm.1").to_string(),
            "devarg vf0_name=vm.1: a file-name stem: 1 to 64 letters, digits, '-' or '_'"
        );
        assert!(matches!(
            err("representor=vf0,vf32_name=a"),
            BadValue {
                why: "VFs are 0..=31",
                ..
            }
        ));
        let e = err("representor=vf0,vf1_name=vm2");
        assert_eq!(e, NameWithoutRepresentor(1));
        assert_eq!(
            e.to_string(),
            "devarg 'vf1_name': a VF named needs a representor (representor=vf[...])"
        );
        assert_eq!(
            err("representor=vf0,vf0_name=a,vf0_name=b"),
            Duplicate("vf0_name".into())
        );
        assert_eq!(
            err("representor=vf1,vf1_name=a,vf01_name=b"),
            Duplicate("vf01_name".into()),
            "one VF under two spellings"
        );
        assert_eq!(err("vf0_nam=a"), UnknownKey("vf0_nam".into()));
        assert!(err("x=1").to_string().contains("vfN_name"));
        assert!(err("x=1")
            .to_string()
            .contains("capture_dir (or vf_capture_dir)"));
    }

    #[test]
    fn vf_names_whose_files_clash_are_refused() {
        use DevargsError::*;
        let err = |args: &str| Devargs::parse(args).unwrap_err();
        let clash = |vf, name: &str, other: &str, file: &str| NameClash {
            vf,
            name: name.into(),
            other: other.into(),
            file: file.into(),
        };
        // Two VFs, one name.
        let e = err("representor=vf[0-2],vf0_name=vm,vf2_name=vm");
        assert_eq!(e, clash(0, "vm", "VF 2", "vm.pcap"));
        assert_eq!(
            e.to_string(),
            "devarg vf0_name=vm: vm.pcap would also be VF 2's capture file \
             (each port's capture files need names of their own)"
        );
        // Another VF's default name.
        assert_eq!(
            err("representor=vf[0-1],vf0_name=vf1"),
            clash(0, "vf1", "VF 1", "vf1.pcap")
        );
        // ... unless that VF has no representor, or a name of its own.
        Devargs::parse("representor=vf0,vf0_name=vf1").unwrap();
        Devargs::parse("representor=vf[0-1],vf0_name=vf1,vf1_name=vf0").unwrap();
        // The uplink's files.
        assert_eq!(
            err("representor=vf3,vf3_name=uplink"),
            clash(3, "uplink", "the uplink", "uplink.pcap")
        );
        assert_eq!(
            err("representor=vf3,vf3_name=uplink-offloaded"),
            clash(3, "uplink-offloaded", "the uplink", "uplink-offloaded.pcap")
        );
        // One VF's host file, another's offloaded file.
        assert_eq!(
            err("representor=vf[0-1],vf0_name=vm-offloaded,vf1_name=vm"),
            clash(0, "vm-offloaded", "VF 1", "vm-offloaded.pcap")
        );
        assert_eq!(
            err("representor=vf[0-1],vf0_name=vf1-offloaded"),
            clash(0, "vf1-offloaded", "VF 1", "vf1-offloaded.pcap")
        );
    }

    #[test]
    fn vf_generated_wires() {
        use crate::generator::Scenario;
        // The VFs generate, the uplink replays a capture: the gen_* settings
        // are the VFs'.
        let d = Devargs::parse(
            "wire=/w.pcap,representor=vf[0-1],vf1_gen=churn,vf1_gen_truth=/t1,gen_seconds=2,gen_seed=4",
        )
        .unwrap();
        assert!(d.gen.is_none(), "the uplink does not generate");
        assert_eq!(d.vf_gen.duration_ms, Some(2000));
        assert_eq!(d.vf_gen.seed, 4);
        let w = &d.vf_wires[0];
        assert_eq!((w.vf, w.gen), (1, Some(Scenario::Churn)));
        assert_eq!(w.gen_truth.as_deref(), Some(std::path::Path::new("/t1")));
        // Both generate: the settings are shared.
        let d = Devargs::parse("representor=vf0,gen=steady,vf0_gen=mice,gen_flows=9").unwrap();
        assert_eq!(d.gen.as_ref().map(|g| g.flows), Some(Some(9)));
        assert_eq!(d.vf_gen.flows, Some(9));
        use DevargsError::*;
        for bad in [
            "representor=vf0,vf0_gen=storm",
            "representor=vf0,vf0_gen=steady,vf0_wire=/a.pcap",
            "representor=vf0,vf0_gen_truth=/t",
            "representor=vf1,vf0_gen=steady",
            "representor=vf0,vf0_gen=steady,gen_truth=/t",
            "representor=vf0,gen_seconds=3",
        ] {
            assert!(
                matches!(
                    Devargs::parse(bad),
                    Err(VfSource(..) | Generated(..) | BadValue { .. })
                ),
                "{bad}: {:?}",
                Devargs::parse(bad)
            );
        }
    }

    #[test]
    fn vf_sources() {
        let d = Devargs::parse(
            "loops=3,rate_pps=100,representor=vf[0-2],vf2_wire=/b.pcap,vf0_wire=/a.pcap,vf0_loops=1,vf2_rate_pps=0",
        )
        .unwrap();
        assert_eq!(d.vf_wires.len(), 2);
        let (a, b) = (&d.vf_wires[0], &d.vf_wires[1]);
        assert_eq!(
            (a.vf, a.path.as_path()),
            (0, std::path::Path::new("/a.pcap"))
        );
        assert_eq!((d.vf_loops(a), d.vf_rate_pps(a)), (1, 100));
        assert_eq!((b.vf, d.vf_loops(b), d.vf_rate_pps(b)), (2, 3, 0));
        use DevargsError::*;
        assert!(matches!(
            Devargs::parse("representor=vf0,vf1_wire=/a.pcap"),
            Err(VfSource(..))
        ));
        assert!(matches!(
            Devargs::parse("representor=vf0,vf0_loops=2"),
            Err(VfSource(..))
        ));
        assert!(matches!(
            Devargs::parse("representor=vf0,vf0_wire="),
            Err(BadValue { .. })
        ));
        assert!(matches!(
            Devargs::parse("representor=vf0,vf0_wire=/a,vf0_wire=/b"),
            Err(Duplicate(_))
        ));
        assert!(matches!(
            Devargs::parse("representor=vf0,vf0_wire=/a,vf0_loops=x"),
            Err(BadValue { .. })
        ));
        assert_eq!(
            Devargs::parse("vf0_wyre=/a"),
            Err(UnknownKey("vf0_wyre".into()))
        );
        assert_eq!(
            Devargs::parse("vf_wire=/a"),
            Err(UnknownKey("vf_wire".into()))
        );
        assert!(matches!(
            Devargs::parse("vf32_wire=/a"),
            Err(BadValue { .. })
        ));
    }

    #[test]
    fn limits_and_faults() {
        let d = Devargs::parse(
            "rules=100,counters=50,meters=4,inserts_per_sec=1000,counter_refresh_ms=0,\
             fault_busy_every=3,fault_stall_ms=20,fault_stall_every_ms=500",
        )
        .unwrap();
        assert_eq!(
            (d.limits.rules, d.limits.counters, d.limits.meters),
            (100, 50, 4)
        );
        assert_eq!(
            (d.limits.inserts_per_sec, d.limits.counter_refresh_ms),
            (1000, 0)
        );
        assert_eq!(
            (
                d.faults.busy_every,
                d.faults.stall_ms,
                d.faults.stall_every_ms
            ),
            (3, 20, 500)
        );
        assert_eq!(
            Devargs::parse("").unwrap().limits,
            crate::limits::Limits::default()
        );
        assert!(matches!(
            Devargs::parse("rules=x"),
            Err(DevargsError::BadValue { .. })
        ));
        let e = Devargs::parse("fault_stall_ms=10,fault_stall_every_ms=5").unwrap_err();
        assert!(e.to_string().contains("must exceed"), "{e}");
        let e = Devargs::parse("rulez=1").unwrap_err().to_string();
        assert!(
            e.contains("inserts_per_sec") && e.contains("fault_stall_ms"),
            "{e}"
        );
    }

    #[test]
    fn commas_inside_brackets_do_not_split() {
        let d = Devargs::parse("representor=vf[0,2],loops=3").unwrap();
        assert_eq!(d.representors, vec![0, 2]);
        assert_eq!(d.loops, 3);
    }

    #[test]
    fn refusals() {
        use DevargsError::*;
        assert_eq!(Devargs::parse("wire"), Err(NotAPair("wire".into())));
        assert_eq!(Devargs::parse("wyre=x"), Err(UnknownKey("wyre".into())));
        assert_eq!(
            Devargs::parse("loops=1,loops=2"),
            Err(Duplicate("loops".into()))
        );
        assert!(matches!(Devargs::parse("loops=-1"), Err(BadValue { .. })));
        assert!(matches!(Devargs::parse("wire="), Err(BadValue { .. })));
        assert!(matches!(
            Devargs::parse("vf_capture_dir="),
            Err(BadValue { .. })
        ));
        assert_eq!(Devargs::parse("representor=vf[0"), Err(Brackets));
        assert_eq!(Devargs::parse("representor=vf0]"), Err(Brackets));
    }
}
