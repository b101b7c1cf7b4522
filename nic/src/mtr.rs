//! The switch's meters as rte_mtr gives them: profiles (srTCM, RFC 2697;
//! trTCM, RFC 2698 and RFC 4115; in bytes or packets), policies (what each
//! colour does: pass on to the rule's fate, or drop), meter objects (a
//! profile, a policy and token buckets) with their statistics, and the
//! refusals mlx5 gives (its error types, errnos and messages where its
//! source has them).
//!
//! A rule's METER action names a meter object: the switch colours each
//! packet the rule takes ([`crate::meter`]) and the meter's policy passes it
//! to the rule's fate or drops it. Metering is colour-blind (an input colour
//! table or a previous meter's colour is refused): rte_mtr's default when no
//! DSCP or VLAN table is given.
//!
//! Where the model goes beyond mlx5 (documented in docs/model-nic.md): a
//! policy may pass red packets (mlx5 refuses: red only drops), and the
//! statistics count packets and bytes of each colour as well as drops (mlx5
//! counts drops only).
//!
//! Thread-safety: [`Meters`] lives in the switch's state, under its lock
//! (see [`crate::rules`]).

use std::collections::BTreeMap;

use crate::flow::{Action, Errno};
use crate::meter::{Algorithm, Color, Profile, TokenBuckets, Unit};

/// What an rte_mtr refusal points at (rte_mtr's error types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtrAt {
    Unspecified,
    MeterProfileId,
    MeterProfile,
    MtrId,
    MtrParams,
    StatsMask,
    Stats,
    MeterPolicyId,
    MeterPolicy,
}

/// An rte_mtr refusal: errno, where, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MtrError {
    pub errno: Errno,
    pub at: MtrAt,
    pub message: &'static str,
}

fn refuse<T>(errno: Errno, at: MtrAt, message: &'static str) -> Result<T, MtrError> {
    Err(MtrError { errno, at, message })
}

/// rte_mtr's statistics bits (`RTE_MTR_STATS_*`), in its order.
pub mod stats_bits {
    pub const PKTS_GREEN: u64 = 1 << 0;
    pub const PKTS_YELLOW: u64 = 1 << 1;
    pub const PKTS_RED: u64 = 1 << 2;
    pub const PKTS_DROPPED: u64 = 1 << 3;
    pub const BYTES_GREEN: u64 = 1 << 4;
    pub const BYTES_YELLOW: u64 = 1 << 5;
    pub const BYTES_RED: u64 = 1 << 6;
    pub const BYTES_DROPPED: u64 = 1 << 7;
    /// Every statistic the model keeps.
    pub const ALL: u64 = 0xff;
}

/// Rate and burst limits of mlx5's meters (`MLX5_SRTCM_XIR_MAX`, bytes a
/// second, and `MLX5_SRTCM_XBS_MAX`, bytes); packet-mode values are scaled
/// by 128 before the check, as mlx5 maps packets to bytes.
const XIR_MAX: u64 = 8 * (1 << 30) * 0xff;
const XBS_MAX: u64 = 0xff * (1 << 31);
const PPS_SHIFT: u32 = 7;

/// The most tokens a second a meter is told it may run at (rte_mtr's
/// `meter_rate_max`, as mlx5 reports it).
pub const RATE_MAX: u64 = 1 << 40;

/// What a policy does with packets of one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyAction {
    /// On to the rule's own actions (mlx5's "default policy" for a colour
    /// with no action).
    #[default]
    Pass,
    Drop,
}

/// A meter policy: an action per colour, in rte_mtr's colour order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy(pub [PolicyAction; 3]);

impl Policy {
    /// The action for `c`.
    pub fn action(&self, c: Color) -> PolicyAction {
        self.0[c.index()]
    }

    /// A policy from rte_mtr's per-colour action lists (`None`: no list).
    /// A colour passes with no action (or only VOID / PASSTHRU) and drops
    /// with DROP alone; anything else is refused as mlx5 refuses what it
    /// cannot do in a policy.
    pub fn from_actions(colors: [Option<&[Action]>; 3]) -> Result<Policy, MtrError> {
        let mut policy = Policy::default();
        for (c, list) in colors.iter().enumerate() {
            let list = list.unwrap_or(&[]);
            let mut drop = false;
            let mut other = false;
            for a in list {
                match a {
                    Action::Void | Action::Passthru => {}
                    Action::Drop => drop = true,
                    _ => other = true,
                }
            }
            if drop && other {
                return refuse(
                    Errno::NotSupported,
                    MtrAt::MeterPolicy,
                    "DROP cannot be combined with other actions in a policy",
                );
            }
            if other {
                return refuse(
                    Errno::NotSupported,
                    MtrAt::MeterPolicy,
                    "the model's meter policies only pass (no action) or drop",
                );
            }
            policy.0[c] = if drop {
                PolicyAction::Drop
            } else {
                PolicyAction::Pass
            };
        }
        Ok(policy)
    }
}

/// A meter object's parameters, as `rte_mtr_create` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterParams {
    pub profile_id: u32,
    pub policy_id: u32,
    pub enabled: bool,
    pub stats_mask: u64,
    /// Whether any colour-aware input was asked for (a previous meter's
    /// colour, or a DSCP or VLAN table with a colour other than green).
    pub colour_aware: bool,
}

/// A meter's statistics since its creation or the last clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeterStats {
    /// Packets and bytes of each colour, in rte_mtr's colour order.
    pub packets: [u64; 3],
    pub bytes: [u64; 3],
    /// Packets and bytes the policy dropped.
    pub packets_dropped: u64,
    pub bytes_dropped: u64,
}

impl MeterStats {
    fn minus(&self, base: &MeterStats) -> MeterStats {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        MeterStats {
            packets: std::array::from_fn(|i| d(self.packets[i], base.packets[i])),
            bytes: std::array::from_fn(|i| d(self.bytes[i], base.bytes[i])),
            packets_dropped: d(self.packets_dropped, base.packets_dropped),
            bytes_dropped: d(self.bytes_dropped, base.bytes_dropped),
        }
    }
}

/// One meter object.
#[derive(Debug, Clone)]
struct Meter {
    params: MeterParams,
    policy: Policy,
    buckets: TokenBuckets,
    /// Totals since creation (never reset: a clear moves `base`).
    live: MeterStats,
    base: MeterStats,
    /// What a read shows: `live` as of the last refresh (see
    /// [`crate::rules`]'s counter cache), and the refresh's period number.
    cached: MeterStats,
    cached_period: Option<u64>,
    /// Rules whose METER action names it.
    rules: u32,
}

/// What the meter decided for one packet, applied by [`Meters::mark`] once
/// the packet is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marking {
    id: u32,
    pub color: Color,
    pub action: PolicyAction,
    next: Option<TokenBuckets>,
}

/// The capabilities the model reports (`rte_mtr_capabilities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Meter objects at most (the `meters=` devarg).
    pub n_max: u32,
    pub rate_max: u64,
    pub stats_mask: u64,
}

/// Every profile, policy and meter object of the switch.
#[derive(Debug, Default)]
pub struct Meters {
    profiles: BTreeMap<u32, (Profile, u32)>,
    policies: BTreeMap<u32, (Policy, u32)>,
    meters: BTreeMap<u32, Meter>,
    capacity: usize,
}

impl Meters {
    /// No meters yet; room for `capacity` meter objects.
    pub fn new(capacity: usize) -> Meters {
        Meters {
            capacity,
            ..Meters::default()
        }
    }

    /// What rte_mtr's `capabilities_get` answers.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            n_max: u32::try_from(self.capacity).unwrap_or(u32::MAX),
            rate_max: RATE_MAX,
            stats_mask: stats_bits::ALL,
        }
    }

    /// Adds profile `id`; refuses as mlx5 does (an id taken, values out of
    /// its range).
    pub fn add_profile(&mut self, id: u32, profile: Profile) -> Result<(), MtrError> {
        if id == u32::MAX {
            return refuse(
                Errno::Invalid,
                MtrAt::MeterProfileId,
                "invalid meter profile id",
            );
        }
        if self.profiles.contains_key(&id) {
            return refuse(
                Errno::Exists,
                MtrAt::MeterProfileId,
                "the meter profile id is taken",
            );
        }
        check_profile(&profile)?;
        self.profiles.insert(id, (profile, 0));
        Ok(())
    }

    /// Deletes profile `id`, if no meter uses it.
    pub fn delete_profile(&mut self, id: u32) -> Result<(), MtrError> {
        match self.profiles.get(&id) {
            None => refuse(
                Errno::NotFound,
                MtrAt::MeterProfileId,
                "no such meter profile",
            ),
            Some((_, users)) if *users > 0 => refuse(
                Errno::Busy,
                MtrAt::MeterProfileId,
                "the meter profile is used by a meter",
            ),
            Some(_) => {
                self.profiles.remove(&id);
                Ok(())
            }
        }
    }

    /// Adds policy `id`.
    pub fn add_policy(&mut self, id: u32, policy: Policy) -> Result<(), MtrError> {
        if self.policies.contains_key(&id) {
            return refuse(
                Errno::Exists,
                MtrAt::MeterPolicyId,
                "the meter policy id is taken",
            );
        }
        self.policies.insert(id, (policy, 0));
        Ok(())
    }

    /// Deletes policy `id`, if no meter uses it (an unknown id is ENOTSUP,
    /// as mlx5 answers).
    pub fn delete_policy(&mut self, id: u32) -> Result<(), MtrError> {
        match self.policies.get(&id) {
            None => refuse(
                Errno::NotSupported,
                MtrAt::MeterPolicyId,
                "no such meter policy",
            ),
            Some((_, users)) if *users > 0 => refuse(
                Errno::Busy,
                MtrAt::MeterPolicyId,
                "the meter policy is used by a meter",
            ),
            Some(_) => {
                self.policies.remove(&id);
                Ok(())
            }
        }
    }

    /// Creates meter object `id` at `now_ns` (its buckets full).
    pub fn create(&mut self, id: u32, params: MeterParams, now_ns: u64) -> Result<(), MtrError> {
        if params.colour_aware {
            return refuse(
                Errno::NotSupported,
                MtrAt::MtrParams,
                "colour-aware metering is not modelled (colour-blind only)",
            );
        }
        if self.meters.contains_key(&id) {
            return refuse(Errno::Exists, MtrAt::MtrId, "the meter id is taken");
        }
        let Some(&(profile, _)) = self.profiles.get(&params.profile_id) else {
            return refuse(
                Errno::NotFound,
                MtrAt::MeterProfileId,
                "invalid meter profile id",
            );
        };
        let Some(&(policy, _)) = self.policies.get(&params.policy_id) else {
            return refuse(
                Errno::NotFound,
                MtrAt::MeterPolicyId,
                "no such meter policy",
            );
        };
        if self.meters.len() >= self.capacity {
            return refuse(
                Errno::NoMemory,
                MtrAt::Unspecified,
                "no room for another meter (meters=)",
            );
        }
        self.uses(params.profile_id, params.policy_id, true);
        self.meters.insert(
            id,
            Meter {
                params: MeterParams {
                    stats_mask: params.stats_mask & stats_bits::ALL,
                    ..params
                },
                policy,
                buckets: TokenBuckets::new(profile, now_ns),
                live: MeterStats::default(),
                base: MeterStats::default(),
                cached: MeterStats::default(),
                cached_period: None,
                rules: 0,
            },
        );
        Ok(())
    }

    /// Destroys meter object `id`, if no rule uses it.
    pub fn destroy(&mut self, id: u32) -> Result<(), MtrError> {
        let m = self.meter(id)?;
        if m.rules > 0 {
            return refuse(
                Errno::Busy,
                MtrAt::Unspecified,
                "the meter is used by a rule",
            );
        }
        let (profile, policy) = (m.params.profile_id, m.params.policy_id);
        self.meters.remove(&id);
        self.uses(profile, policy, false);
        Ok(())
    }

    /// Enables or disables meter `id` (a disabled meter passes every packet
    /// as green and takes no token).
    pub fn set_enabled(&mut self, id: u32, enabled: bool) -> Result<(), MtrError> {
        self.meter_mut(id)?.params.enabled = enabled;
        Ok(())
    }

    /// Gives meter `id` profile `profile_id`; its buckets start full.
    pub fn update_profile(
        &mut self,
        id: u32,
        profile_id: u32,
        now_ns: u64,
    ) -> Result<(), MtrError> {
        let old = self.meter(id)?.params.profile_id;
        let Some(&(profile, _)) = self.profiles.get(&profile_id) else {
            return refuse(
                Errno::NotFound,
                MtrAt::MeterProfileId,
                "invalid meter profile id",
            );
        };
        let m = self.meter_mut(id)?;
        m.params.profile_id = profile_id;
        m.buckets = TokenBuckets::new(profile, now_ns);
        if let Some((_, n)) = self.profiles.get_mut(&old) {
            *n -= 1;
        }
        if let Some((_, n)) = self.profiles.get_mut(&profile_id) {
            *n += 1;
        }
        Ok(())
    }

    /// Sets which statistics meter `id` keeps.
    pub fn set_stats_mask(&mut self, id: u32, mask: u64) -> Result<(), MtrError> {
        self.meter_mut(id)?.params.stats_mask = mask & stats_bits::ALL;
        Ok(())
    }

    /// Meter `id`'s statistics (those its mask enables, others 0) as of
    /// refresh period `period` (`None`: live) and its mask; `clear` starts
    /// them again from what was read.
    pub fn read_stats(
        &mut self,
        id: u32,
        period: Option<u64>,
        clear: bool,
    ) -> Result<(MeterStats, u64), MtrError> {
        let m = self.meter_mut(id)?;
        let now = match period {
            None => m.live,
            Some(p) => {
                if m.cached_period != Some(p) {
                    m.cached = m.live;
                    m.cached_period = Some(p);
                }
                m.cached
            }
        };
        let since = now.minus(&m.base);
        if clear {
            m.base = now;
        }
        let mask = m.params.stats_mask;
        let on = |bit: u64, v: u64| if mask & bit != 0 { v } else { 0 };
        use stats_bits::*;
        let shown = MeterStats {
            packets: [
                on(PKTS_GREEN, since.packets[0]),
                on(PKTS_YELLOW, since.packets[1]),
                on(PKTS_RED, since.packets[2]),
            ],
            bytes: [
                on(BYTES_GREEN, since.bytes[0]),
                on(BYTES_YELLOW, since.bytes[1]),
                on(BYTES_RED, since.bytes[2]),
            ],
            packets_dropped: on(PKTS_DROPPED, since.packets_dropped),
            bytes_dropped: on(BYTES_DROPPED, since.bytes_dropped),
        };
        Ok((shown, mask))
    }

    /// Whether meter `id` exists (a METER action may name it).
    pub fn exists(&self, id: u32) -> bool {
        self.meters.contains_key(&id)
    }

    /// A rule's METER action starts or stops naming meter `id`.
    pub fn attach(&mut self, id: u32, attach: bool) {
        if let Some(m) = self.meters.get_mut(&id) {
            if attach {
                m.rules += 1;
            } else {
                m.rules = m.rules.saturating_sub(1);
            }
        }
    }

    /// What meter `id` decides for a packet of `len` bytes at `now_ns`,
    /// without changing it (`None`: no such meter, which a rule never
    /// names).
    #[inline]
    pub fn peek(&self, id: u32, now_ns: u64, len: u64) -> Option<Marking> {
        let m = self.meters.get(&id)?;
        if !m.params.enabled {
            return Some(Marking {
                id,
                color: Color::Green,
                action: m.policy.action(Color::Green),
                next: None,
            });
        }
        let (color, next) = m.buckets.peek(now_ns, len, Color::Green);
        Some(Marking {
            id,
            color,
            action: m.policy.action(color),
            next: Some(next),
        })
    }

    /// Applies a decision `peek` made (the packet was taken): the tokens and
    /// the statistics.
    #[inline]
    pub fn mark(&mut self, marking: &Marking, len: u64) {
        let Some(m) = self.meters.get_mut(&marking.id) else {
            return;
        };
        if let Some(next) = marking.next {
            m.buckets = next;
        }
        let c = marking.color.index();
        m.live.packets[c] += 1;
        m.live.bytes[c] += len;
        if marking.action == PolicyAction::Drop {
            m.live.packets_dropped += 1;
            m.live.bytes_dropped += len;
        }
    }

    fn meter(&self, id: u32) -> Result<&Meter, MtrError> {
        self.meters.get(&id).ok_or(MtrError {
            errno: Errno::NotFound,
            at: MtrAt::MtrId,
            message: "no such meter",
        })
    }

    fn meter_mut(&mut self, id: u32) -> Result<&mut Meter, MtrError> {
        self.meters.get_mut(&id).ok_or(MtrError {
            errno: Errno::NotFound,
            at: MtrAt::MtrId,
            message: "no such meter",
        })
    }

    fn uses(&mut self, profile: u32, policy: u32, more: bool) {
        let step = |n: &mut u32| {
            *n = if more { *n + 1 } else { n.saturating_sub(1) };
        };
        if let Some((_, n)) = self.profiles.get_mut(&profile) {
            step(n);
        }
        if let Some((_, n)) = self.policies.get_mut(&policy) {
            step(n);
        }
    }
}

/// mlx5's checks of a profile's values.
fn check_profile(p: &Profile) -> Result<(), MtrError> {
    let shift = match p.unit {
        Unit::Bytes => 0,
        Unit::Packets => PPS_SHIFT,
    };
    let s = |v: u64| v.checked_shl(shift).filter(|x| x >> shift == v);
    let ok = match p.algorithm {
        Algorithm::SrTcm { cir, cbs, ebs } => match (s(cir), s(cbs), s(ebs)) {
            (Some(cir), Some(cbs), Some(ebs)) => {
                cir > 0 && cir <= XIR_MAX && cbs > 0 && cbs <= XBS_MAX && ebs <= XBS_MAX
            }
            _ => false,
        },
        Algorithm::TrTcm2698 { cir, pir, cbs, pbs } => match (s(cir), s(pir), s(cbs), s(pbs)) {
            (Some(cir), Some(pir), Some(cbs), Some(pbs)) => {
                cir > 0
                    && cir <= XIR_MAX
                    && cbs > 0
                    && cbs <= XBS_MAX
                    && pir >= cir
                    && pir <= XIR_MAX * 2
                    && pbs >= cbs
                    && pbs <= XBS_MAX * 2
            }
            _ => false,
        },
        Algorithm::TrTcm4115 { cir, eir, cbs, ebs } => match (s(cir), s(eir), s(cbs), s(ebs)) {
            (Some(cir), Some(eir), Some(cbs), Some(ebs)) => {
                cir > 0
                    && cir <= XIR_MAX
                    && cbs > 0
                    && cbs <= XBS_MAX
                    && eir <= XIR_MAX
                    && ebs <= XBS_MAX
            }
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        refuse(
            Errno::NotSupported,
            MtrAt::MtrParams,
            "meter profile values out of the device's range",
        )
    }
}

#[cfg(test)]
#[path = "mtr_tests.rs"]
mod tests;
