//! The rte_flow backend's per-VF rate limits: one rte_mtr meter per
//! rate-limited VF, made at start on the PF (the transfer proxy, where the
//! rules are made, as mlx5 wants them), shared by every rule to that VF
//! (`HwRule::meter` names it: the VF's port index). Each meter is an srTCM
//! (RFC 2697) with the limit as its committed rate and burst and no excess
//! bucket, so it is a token bucket: green passes, red is dropped (a policy
//! of green and yellow pass, red drop; with no excess bucket nothing is
//! yellow). In packets for `rate_limit_pps` (the PMD must offer packet
//! mode), in bytes for `rate_limit_bps`.
//!
//! Whether the NIC meters at all is probed: its rte_mtr capabilities, then a
//! throw-away meter named by the METER action of a sample rule that
//! `rte_flow_validate` must accept. A VF whose meter cannot be made is said
//! once (the start line) and its flows stay on the workers (the backend
//! refuses to install a rule naming a meter it does not have).
//!
//! Each meter's drops are read from its statistics (policy drops, or red
//! packets where a PMD counts only colours): they are the packets the
//! rules' COUNT (placed before the METER) counted and the VF did not get.
//! The statistics come through the device's counter cache, like the rules'
//! counters: a read is final a refresh period after the last rule naming a
//! meter went.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlift_dataplane::meter::MeterUnit;
use rte::mtr::{self, Algorithm, Meter, Policy, PolicySpec, Profile, ProfileSpec, Unit};
use rte::Port;

use super::policy::RateLimit;
use super::{HwCounters, OffloadError};

/// A VF's rate limit, to police on the NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfLimit {
    /// The meter's id: the VF's port index, as `HwRule::meter` names it.
    pub meter: u32,
    /// The VF's name, for what flowlift says.
    pub name: String,
    pub limit: RateLimit,
}

/// Ids of the probe's throw-away profile, policy and meter: above every
/// VF's id (its port index; DPDK here has at most 32 ports), and small, as
/// PMDs keep ids in tables of bounded size (mlx5 refuses large policy ids).
const PROBE_ID: u32 = 1000;

/// The one policy every VF meter applies.
const POLICY_ID: u32 = 1;

/// A VF's profile id is its meter's id, or this plus it: a new limit's
/// profile is made under the id its meter does not use, then the meter is
/// moved to it and the old one deleted (below the probe's id, for the same
/// reason).
const OTHER_PROFILE: u32 = 500;

/// The statistics to ask a meter for, given what the PMD can keep: its
/// policy's drops, or else its red packets (the policy drops red, and only
/// red); `None` if it keeps neither (flowlift could not account for them).
fn drop_mask(available: u64) -> Option<u64> {
    use rte::mtr::stats::*;
    if available & PKTS_DROPPED != 0 {
        Some(available & (PKTS_DROPPED | BYTES_DROPPED))
    } else if available & PKTS_RED != 0 {
        Some(available & (PKTS_RED | BYTES_RED))
    } else {
        None
    }
}

/// What a read says was dropped, by the mask the PMD filled.
fn dropped(s: &mtr::MeterStats) -> Option<HwCounters> {
    use rte::mtr::stats::*;
    let (packets, bytes) = if s.mask & PKTS_DROPPED != 0 {
        (s.packets_dropped, s.bytes_dropped)
    } else if s.mask & PKTS_RED != 0 {
        (s.packets[2], s.bytes[2])
    } else {
        return None;
    };
    Some(HwCounters { packets, bytes })
}

/// The profile that polices `l`: a token bucket of `burst` filled at `rate`.
pub fn profile_for(l: &RateLimit) -> ProfileSpec {
    ProfileSpec {
        algorithm: Algorithm::SrTcm {
            cir: l.rate,
            cbs: l.burst,
            ebs: 0,
        },
        unit: match l.unit {
            MeterUnit::Packets => Unit::Packets,
            MeterUnit::Bytes => Unit::Bytes,
        },
    }
}

fn unit_words(u: MeterUnit) -> (&'static str, &'static str) {
    match u {
        MeterUnit::Packets => ("pps", "packets"),
        MeterUnit::Bytes => ("bytes/s", "bytes"),
    }
}

/// The VFs' meters on one port.
#[derive(Debug)]
pub struct VfMeters {
    port: Port,
    limits: Vec<VfLimit>,
    /// Declared before what they use is let go: a meter holds its profile
    /// and policy (see `rte::mtr`).
    meters: BTreeMap<u32, Meter>,
    /// Why a limited VF has no meter.
    missing: BTreeMap<u32, String>,
    /// The capabilities the probe read, if it could.
    caps: Option<mtr::Capabilities>,
    /// When a read of the drops is final: a refresh period after the last
    /// metered rule went.
    settled_at: Option<Instant>,
}

impl VfMeters {
    /// Meters for `limits`, to make on `port` at [`VfMeters::probe`].
    pub fn new(port: Port, limits: Vec<VfLimit>) -> VfMeters {
        VfMeters {
            port,
            limits,
            meters: BTreeMap::new(),
            missing: BTreeMap::new(),
            caps: None,
            settled_at: None,
        }
    }

    /// Whether the NIC meters flows: its rte_mtr capabilities allow an
    /// srTCM meter and drop statistics, and `validate` (a sample rule with
    /// a METER action naming the given meter) passes with a throw-away
    /// meter. Then makes the VFs' meters; a VF whose meter cannot be made
    /// is recorded with the reason.
    pub fn probe(&mut self, validate: impl Fn(u32) -> Result<(), String>) -> bool {
        let verdict = self.probe_meter(validate);
        let ok = verdict.is_ok();
        match verdict {
            Ok(()) => self.make(),
            Err(why) => {
                for l in &self.limits {
                    self.missing.insert(l.meter, why.clone());
                }
            }
        }
        ok
    }

    fn probe_meter(&mut self, validate: impl Fn(u32) -> Result<(), String>) -> Result<(), String> {
        let caps = mtr::capabilities(&self.port)
            .map_err(|e| format!("the NIC has no rte_mtr meters ({e})"))?;
        self.caps = Some(caps);
        let unit = if caps.srtcm.supports(Unit::Packets) {
            Unit::Packets
        } else if caps.srtcm.supports(Unit::Bytes) {
            Unit::Bytes
        } else {
            return Err("the NIC has no srTCM (RFC 2697) meters".into());
        };
        let mask = drop_mask(caps.stats_mask).ok_or(
            "the NIC's meters count neither drops nor red packets, so their drops could not be accounted for",
        )?;
        let spec = ProfileSpec {
            algorithm: Algorithm::SrTcm {
                cir: 1000,
                cbs: if unit == Unit::Packets { 10 } else { 15_000 },
                ebs: 0,
            },
            unit,
        };
        let made = Profile::add(&self.port, PROBE_ID, &spec)
            .and_then(|profile| {
                let policy = Policy::add(&self.port, PROBE_ID, &PolicySpec::police())?;
                Meter::create(PROBE_ID, Arc::new(profile), Arc::new(policy), mask, true)
            })
            .map_err(|e| format!("the NIC refused a meter: {e}"))?;
        let valid = validate(made.id()).map_err(|e| format!("the NIC refused a METER action: {e}"));
        // The meter goes first, then its profile and policy (it holds them).
        drop(made);
        valid
    }

    /// Makes each VF's profile and meter, sharing one policy.
    fn make(&mut self) {
        let Some(caps) = self.caps else { return };
        let Some(mask) = drop_mask(caps.stats_mask) else {
            return;
        };
        if self.limits.is_empty() {
            return;
        }
        let policy = match Policy::add(&self.port, POLICY_ID, &PolicySpec::police()) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                for l in &self.limits {
                    self.missing
                        .insert(l.meter, format!("the NIC refused the meter policy: {e}"));
                }
                return;
            }
        };
        for l in &self.limits {
            let spec = profile_for(&l.limit);
            if !caps.supports(&spec.algorithm, spec.unit) {
                self.missing.insert(
                    l.meter,
                    format!(
                        "the NIC's srTCM meters do not count in {}",
                        unit_words(l.limit.unit).1
                    ),
                );
                continue;
            }
            let made = Profile::add(&self.port, l.meter, &spec)
                .map_err(|e| format!("the NIC refused the meter profile: {e}"))
                .and_then(|profile| {
                    Meter::create(l.meter, Arc::new(profile), Arc::clone(&policy), mask, true)
                        .map_err(|e| format!("the NIC refused the meter: {e}"))
                });
            match made {
                Ok(m) => {
                    self.meters.insert(l.meter, m);
                }
                Err(why) => {
                    self.missing.insert(l.meter, why);
                }
            }
        }
    }

    /// Polices `meter`'s VF at `limit` from now on (a reload; the unit
    /// stays): a new profile, which the meter moves to. A VF without a NIC
    /// meter only notes the limit (its flows stay on the workers).
    pub fn set_limit(&mut self, meter: u32, limit: RateLimit) -> Result<(), OffloadError> {
        let Some(at) = self.limits.iter().position(|l| l.meter == meter) else {
            return Err(OffloadError::Other(format!(
                "meter {meter}: that port had no rate limit at start"
            )));
        };
        if let Some(m) = self.meters.get_mut(&meter) {
            let spec = profile_for(&limit);
            let id = if m.profile().id() == meter {
                OTHER_PROFILE + meter
            } else {
                meter
            };
            let profile = Profile::add(&self.port, id, &spec).map_err(|e| mtr_error(&e))?;
            m.update_profile(Arc::new(profile))
                .map_err(|e| mtr_error(&e))?;
        }
        self.limits[at].limit = limit;
        Ok(())
    }

    /// Whether rules may name `meter`.
    pub fn ready(&self, meter: u32) -> bool {
        self.meters.contains_key(&meter)
    }

    /// A rule naming a meter went: its last packets show in the meter's
    /// statistics a refresh period from now.
    pub fn rule_gone(&mut self, refresh: Duration) {
        if !refresh.is_zero() {
            self.settled_at = Some(Instant::now() + refresh + Duration::from_millis(1));
        }
    }

    /// How long until a read of the drops is final (`None`: now).
    pub fn due_in(&self) -> Option<Duration> {
        let left = self.settled_at?.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Each meter's drops since it was made.
    pub fn drops(&self) -> Vec<(u32, Result<HwCounters, OffloadError>)> {
        self.meters
            .iter()
            .map(|(id, m)| {
                let read = m.stats(false).map_err(|e| mtr_error(&e)).and_then(|s| {
                    dropped(&s).ok_or_else(|| {
                        OffloadError::Other(
                            "the meter's statistics hold neither drops nor red packets".into(),
                        )
                    })
                });
                (*id, read)
            })
            .collect()
    }

    /// What was made of the limits, to say once.
    pub fn line(&self) -> Option<String> {
        if self.limits.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .limits
            .iter()
            .map(|l| {
                let (rate, unit) = unit_words(l.limit.unit);
                match self.missing.get(&l.meter) {
                    Some(why) => format!(
                        "{}: no NIC meter ({why}): its flows stay on the workers",
                        l.name
                    ),
                    None => format!(
                        "{} {} {rate} burst {} {unit} (srTCM meter {} on the PF)",
                        l.name, l.limit.rate, l.limit.burst, l.meter
                    ),
                }
            })
            .collect();
        Some(format!("rate limits on the NIC: {}", parts.join("; ")))
    }
}

/// An rte_mtr refusal in the offload engine's terms.
fn mtr_error(e: &mtr::MtrError) -> OffloadError {
    use rte::flow::FlowErrorClass as C;
    let text = e.to_string();
    match e.class() {
        C::NoSpace => OffloadError::NoSpace(text),
        C::Busy => OffloadError::Busy(text),
        C::Unsupported => OffloadError::Unsupported(text),
        C::DeviceGone => OffloadError::DeviceGone(text),
        C::Other => OffloadError::Other(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rte::mtr::stats::*;

    #[test]
    fn drops_are_read_where_the_pmd_counts_them() {
        assert_eq!(drop_mask(0xff), Some(PKTS_DROPPED | BYTES_DROPPED));
        assert_eq!(
            drop_mask(PKTS_RED | BYTES_RED | PKTS_GREEN),
            Some(PKTS_RED | BYTES_RED)
        );
        assert_eq!(drop_mask(PKTS_GREEN | BYTES_GREEN), None);
        let s = mtr::MeterStats {
            packets: [10, 0, 7],
            bytes: [600, 0, 420],
            packets_dropped: 7,
            bytes_dropped: 420,
            mask: PKTS_RED | BYTES_RED,
        };
        assert_eq!(
            dropped(&s),
            Some(HwCounters {
                packets: 7,
                bytes: 420
            })
        );
        assert_eq!(dropped(&mtr::MeterStats { mask: 0, ..s }), None);
    }

    #[test]
    fn a_limit_becomes_a_token_bucket_in_its_unit() {
        let p = profile_for(&RateLimit {
            unit: MeterUnit::Packets,
            rate: 2000,
            burst: 20,
        });
        assert_eq!(
            p,
            ProfileSpec {
                algorithm: Algorithm::SrTcm {
                    cir: 2000,
                    cbs: 20,
                    ebs: 0
                },
                unit: Unit::Packets
            }
        );
        let p = profile_for(&RateLimit {
            unit: MeterUnit::Bytes,
            rate: 125_000,
            burst: 1514,
        });
        assert_eq!(p.unit, Unit::Bytes);
    }
}
