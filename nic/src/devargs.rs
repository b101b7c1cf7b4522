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

/// Keys the issue names for later steps: known, so a typo is told apart from
/// a key that is not modelled yet, and refused until it is.
const NOT_YET: &[&str] = &["vf_capture_dir"];

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
    /// The switch's limits (`rules=`, `counters=`, `meters=`,
    /// `inserts_per_sec=`, `counter_refresh_ms=`; see [`crate::limits`]).
    pub limits: crate::limits::Limits,
    /// Injected faults (`fault_*=`; see [`crate::faults`]).
    pub faults: crate::faults::Faults,
}

/// Why a devargs string is refused (the message is what the PMD logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevargsError {
    /// A pair without `=`.
    #[error("devarg '{0}' is not key=value")]
    NotAPair(String),
    /// A key the device does not know.
    #[error(
        "unknown devarg '{0}' (known: wire, loops, rate_pps, representor, {limits}, {faults})",
        limits = crate::limits::KEYS.join(", "),
        faults = crate::faults::KEYS.join(", ")
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
    /// A key of a later step of the model.
    #[error("devarg '{0}' is not implemented yet")]
    NotYet(String),
    /// Brackets that do not pair up.
    #[error("unbalanced brackets in devargs")]
    Brackets,
}

impl Devargs {
    /// Parses the devargs string of one device (what follows the device name
    /// and its comma; empty for none).
    pub fn parse(args: &str) -> Result<Devargs, DevargsError> {
        let mut out = Devargs::default();
        let mut seen: Vec<&str> = Vec::new();
        for pair in split_pairs(args)? {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| DevargsError::NotAPair(pair.to_owned()))?;
            let key = key.trim();
            let value = value.trim();
            if seen.contains(&key) {
                return Err(DevargsError::Duplicate(key.to_owned()));
            }
            seen.push(key);
            let bad = |why| DevargsError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
                why,
            };
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
                k if crate::limits::KEYS.contains(&k) => out.limits.set(k, value).map_err(bad)?,
                k if crate::faults::KEYS.contains(&k) => out.faults.set(k, value).map_err(bad)?,
                k if NOT_YET.contains(&k) => return Err(DevargsError::NotYet(k.to_owned())),
                k => return Err(DevargsError::UnknownKey(k.to_owned())),
            }
        }
        out.faults.check().map_err(|why| DevargsError::BadValue {
            key: "fault_stall_every_ms".to_owned(),
            value: out.faults.stall_every_ms.to_string(),
            why,
        })?;
        Ok(out)
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
        assert_eq!(
            Devargs::parse("vf_capture_dir=/x"),
            Err(NotYet("vf_capture_dir".into()))
        );
        assert_eq!(Devargs::parse("representor=vf[0"), Err(Brackets));
        assert_eq!(Devargs::parse("representor=vf0]"), Err(Brackets));
    }
}
