//! rte_mtr: the device's meters, as owning values. A [`Profile`] (srTCM, RFC
//! 2697, or trTCM, RFC 2698; in bytes or packets) and a [`Policy`] (what each
//! colour does: pass on to the rule's fate, or drop) are made on a port; a
//! [`Meter`] is made from one of each and holds them (`Arc`), so neither can
//! be deleted while a meter uses it: dropping the meter destroys it first,
//! then the last holder of a profile or policy deletes it. A flow rule's
//! METER action names a meter by id ([`Meter::id`]); the rules must be gone
//! before their meter is (a PMD refuses to destroy a meter in use, EBUSY).
//!
//! Refusals come back as [`MtrError`]: the `rte_mtr_error` type, the driver's
//! message and the errno, as testpmd prints them.

use std::fmt;
use std::sync::Arc;

use dpdk_sys as sys;

use crate::flow::raw::RawActions;
use crate::flow::{Action, Actions, FlowErrorClass};
use crate::{Errno, Port};

/// A refused rte_mtr call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtrError {
    /// `enum rte_mtr_error_type` value.
    pub error_type: u32,
    /// The driver's message, if it gave one.
    pub message: String,
    /// The errno the call returned (positive).
    pub errno: Errno,
}

impl MtrError {
    /// An error made on this side of the call (a misuse the types could not
    /// rule out), in rte_mtr's terms.
    fn local(error_type: u32, message: &str, errno: i32) -> MtrError {
        MtrError {
            error_type,
            message: message.into(),
            errno: Errno(errno),
        }
    }

    fn from_ret(raw: &sys::rte_mtr_error, ret: i32) -> MtrError {
        MtrError {
            error_type: raw.type_,
            message: crate::cstr_to_string(raw.message),
            errno: Errno::from_ret(ret),
        }
    }

    /// How the offload logic should treat it (the classes of rte_flow's
    /// refusals: no space, busy, unsupported, device gone).
    pub fn class(&self) -> FlowErrorClass {
        FlowErrorClass::from_errno(self.errno)
    }

    /// What testpmd calls this error type.
    pub fn type_name(&self) -> &'static str {
        match self.error_type {
            sys::RTE_MTR_ERROR_TYPE_NONE => "no error",
            sys::RTE_MTR_ERROR_TYPE_UNSPECIFIED => "cause unspecified",
            sys::RTE_MTR_ERROR_TYPE_METER_PROFILE_ID => "meter profile id",
            sys::RTE_MTR_ERROR_TYPE_METER_PROFILE => "meter profile",
            sys::RTE_MTR_ERROR_TYPE_METER_PROFILE_PACKET_MODE => "meter profile packet mode",
            sys::RTE_MTR_ERROR_TYPE_MTR_ID => "MTR object id",
            sys::RTE_MTR_ERROR_TYPE_MTR_PARAMS => "MTR object params",
            sys::RTE_MTR_ERROR_TYPE_POLICER_ACTION_GREEN => "policer action(green)",
            sys::RTE_MTR_ERROR_TYPE_POLICER_ACTION_YELLOW => "policer action(yellow)",
            sys::RTE_MTR_ERROR_TYPE_POLICER_ACTION_RED => "policer action(red)",
            sys::RTE_MTR_ERROR_TYPE_STATS_MASK => "stats mask",
            sys::RTE_MTR_ERROR_TYPE_STATS => "stats",
            sys::RTE_MTR_ERROR_TYPE_SHARED => "shared MTR object",
            sys::RTE_MTR_ERROR_TYPE_METER_POLICY_ID => "meter policy id",
            sys::RTE_MTR_ERROR_TYPE_METER_POLICY => "meter policy",
            _ => "unknown",
        }
    }
}

impl fmt::Display for MtrError {
    /// `<error type name>: <message>: <strerror>`, testpmd's words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = if self.message.is_empty() {
            "(no stated reason)"
        } else {
            &self.message
        };
        write!(f, "{}: {}: {}", self.type_name(), msg, self.errno)
    }
}

impl std::error::Error for MtrError {}

/// 0, or the error the call reported.
fn check(err: &sys::rte_mtr_error, ret: i32) -> Result<(), MtrError> {
    if ret == 0 {
        Ok(())
    } else {
        Err(MtrError::from_ret(err, ret))
    }
}

/// What a meter's rates and bursts count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes a second, bytes of burst.
    Bytes,
    /// Packets a second, packets of burst (`packet_mode`).
    Packets,
}

/// A metering algorithm and its parameters (rates per second, bursts, in
/// the profile's [`Unit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Single rate three colour marker (RFC 2697): the committed bucket
    /// `cbs` fills at `cir`, its overflow fills the excess bucket `ebs`.
    SrTcm { cir: u64, cbs: u64, ebs: u64 },
    /// Two rate three colour marker (RFC 2698): red over the peak rate
    /// (`pir`, `pbs`), yellow over the committed one (`cir`, `cbs`).
    TrTcm {
        cir: u64,
        pir: u64,
        cbs: u64,
        pbs: u64,
    },
}

/// A meter profile as `rte_mtr_meter_profile_add` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileSpec {
    pub algorithm: Algorithm,
    pub unit: Unit,
}

/// Whether a PMD meters an algorithm in bytes and in packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Modes {
    /// Meter objects of this algorithm at most, as the PMD says. Not taken
    /// for a refusal when 0: mlx5 says 0 for every algorithm on its ASO
    /// meters (ConnectX-6 Dx and later), which do them all; the byte and
    /// packet mode flags are what it means.
    pub n_max: u32,
    pub bytes: bool,
    pub packets: bool,
}

impl Modes {
    /// Whether profiles of this algorithm in `unit` are supported.
    pub fn supports(&self, unit: Unit) -> bool {
        match unit {
            Unit::Bytes => self.bytes,
            Unit::Packets => self.packets,
        }
    }
}

/// What a port's PMD says it can meter (`rte_mtr_capabilities_get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Meter objects at most.
    pub n_max: u32,
    /// Meters one flow may chain (a rule with one METER needs 1).
    pub chaining_max: u32,
    /// Flows one shared meter may serve.
    pub flows_per_meter_max: u32,
    pub srtcm: Modes,
    pub trtcm: Modes,
    /// The highest rate a meter may have (bytes a second).
    pub rate_max: u64,
    /// Meter policies at most.
    pub policies_max: u64,
    /// The statistics a meter can keep (`RTE_MTR_STATS_*` bits, [`stats`]).
    pub stats_mask: u64,
}

impl Capabilities {
    /// Whether profiles of `algorithm` in `unit` are supported.
    pub fn supports(&self, algorithm: &Algorithm, unit: Unit) -> bool {
        match algorithm {
            Algorithm::SrTcm { .. } => self.srtcm.supports(unit),
            Algorithm::TrTcm { .. } => self.trtcm.supports(unit),
        }
    }

    fn from_raw(c: &sys::rte_mtr_capabilities) -> Capabilities {
        Capabilities {
            n_max: c.n_max,
            chaining_max: c.chaining_n_mtrs_per_flow_max,
            flows_per_meter_max: c.shared_n_flows_per_mtr_max,
            srtcm: Modes {
                n_max: c.meter_srtcm_rfc2697_n_max,
                bytes: c.srtcm_rfc2697_byte_mode_supported != 0,
                packets: c.srtcm_rfc2697_packet_mode_supported != 0,
            },
            trtcm: Modes {
                n_max: c.meter_trtcm_rfc2698_n_max,
                bytes: c.trtcm_rfc2698_byte_mode_supported != 0,
                packets: c.trtcm_rfc2698_packet_mode_supported != 0,
            },
            rate_max: c.meter_rate_max,
            policies_max: c.meter_policy_n_max,
            stats_mask: c.stats_mask,
        }
    }
}

/// The statistics bits (`RTE_MTR_STATS_*`).
pub mod stats {
    use dpdk_sys as s;
    pub const PKTS_GREEN: u64 = s::RTE_MTR_STATS_N_PKTS_GREEN as u64;
    pub const PKTS_YELLOW: u64 = s::RTE_MTR_STATS_N_PKTS_YELLOW as u64;
    pub const PKTS_RED: u64 = s::RTE_MTR_STATS_N_PKTS_RED as u64;
    pub const PKTS_DROPPED: u64 = s::RTE_MTR_STATS_N_PKTS_DROPPED as u64;
    pub const BYTES_GREEN: u64 = s::RTE_MTR_STATS_N_BYTES_GREEN as u64;
    pub const BYTES_YELLOW: u64 = s::RTE_MTR_STATS_N_BYTES_YELLOW as u64;
    pub const BYTES_RED: u64 = s::RTE_MTR_STATS_N_BYTES_RED as u64;
    pub const BYTES_DROPPED: u64 = s::RTE_MTR_STATS_N_BYTES_DROPPED as u64;
}

/// Asks the port's PMD what it can meter.
pub fn capabilities(port: &Port) -> Result<Capabilities, MtrError> {
    let mut cap = sys::rte_mtr_capabilities::default();
    let mut err = sys::rte_mtr_error::default();
    // SAFETY: cap and err are valid out-pointers for the call.
    let ret = unsafe { sys::rte_mtr_capabilities_get(port.id().0, &mut cap, &mut err) };
    check(&err, ret)?;
    Ok(Capabilities::from_raw(&cap))
}

/// `spec` as rte_mtr's structure.
pub fn lower_profile(spec: &ProfileSpec) -> sys::rte_mtr_meter_profile {
    let mut p = sys::rte_mtr_meter_profile {
        packet_mode: i32::from(spec.unit == Unit::Packets),
        ..Default::default()
    };
    match spec.algorithm {
        Algorithm::SrTcm { cir, cbs, ebs } => {
            p.alg = sys::RTE_MTR_SRTCM_RFC2697;
            p.__bindgen_anon_1.srtcm_rfc2697 =
                sys::rte_mtr_meter_profile__bindgen_ty_1__bindgen_ty_1 { cir, cbs, ebs };
        }
        Algorithm::TrTcm { cir, pir, cbs, pbs } => {
            p.alg = sys::RTE_MTR_TRTCM_RFC2698;
            p.__bindgen_anon_1.trtcm_rfc2698 =
                sys::rte_mtr_meter_profile__bindgen_ty_1__bindgen_ty_2 { cir, pir, cbs, pbs };
        }
    }
    p
}

/// A meter profile on a port; deleted on drop (once no meter holds it).
#[derive(Debug)]
pub struct Profile {
    port: Port,
    id: u32,
    spec: ProfileSpec,
}

impl Profile {
    /// Adds profile `id` on `port`.
    pub fn add(port: &Port, id: u32, spec: &ProfileSpec) -> Result<Profile, MtrError> {
        let mut raw = lower_profile(spec);
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: raw and err are valid for the call; the PMD copies the
        // profile before returning.
        let ret = unsafe { sys::rte_mtr_meter_profile_add(port.id().0, id, &mut raw, &mut err) };
        check(&err, ret)?;
        Ok(Profile {
            port: port.clone(),
            id,
            spec: *spec,
        })
    }

    /// The profile's id on its port.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// What it meters.
    pub fn spec(&self) -> &ProfileSpec {
        &self.spec
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: err is a valid out-pointer; the call takes only ids. No
        // meter of ours holds the profile (meters hold an Arc of it); a
        // refusal leaves it to the port's close.
        let _ = unsafe { sys::rte_mtr_meter_profile_delete(self.port.id().0, self.id, &mut err) };
    }
}

/// What a policy does with packets of one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourAction {
    /// On to the rule's own actions (no action in the colour's list).
    Pass,
    /// Dropped (DROP).
    Drop,
}

/// A meter policy: an action per colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicySpec {
    pub green: ColourAction,
    pub yellow: ColourAction,
    pub red: ColourAction,
}

impl PolicySpec {
    /// A policer: green and yellow pass, red is dropped.
    pub fn police() -> PolicySpec {
        PolicySpec {
            green: ColourAction::Pass,
            yellow: ColourAction::Pass,
            red: ColourAction::Drop,
        }
    }
}

/// A policy's per-colour action lists, END-terminated, alive as long as the
/// value.
pub struct RawPolicy {
    lists: [RawActions; 3],
}

impl fmt::Debug for RawPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawPolicy").finish_non_exhaustive()
    }
}

impl RawPolicy {
    /// Lowers `spec`: an empty list (END alone) passes, `DROP` drops, as
    /// testpmd writes `g_actions end` and `r_actions drop / end`.
    pub fn new(spec: &PolicySpec) -> RawPolicy {
        let list = |a: ColourAction| {
            RawActions::new(&match a {
                ColourAction::Pass => Actions::new(),
                ColourAction::Drop => Actions::new().then(Action::Drop),
            })
        };
        RawPolicy {
            lists: [list(spec.green), list(spec.yellow), list(spec.red)],
        }
    }

    /// The colours' lists, in rte_mtr's colour order.
    pub fn lists(&self) -> [&[sys::rte_flow_action]; 3] {
        [
            self.lists[0].actions(),
            self.lists[1].actions(),
            self.lists[2].actions(),
        ]
    }

    fn params(&self) -> sys::rte_mtr_meter_policy_params {
        sys::rte_mtr_meter_policy_params {
            actions: [
                self.lists[0].actions().as_ptr(),
                self.lists[1].actions().as_ptr(),
                self.lists[2].actions().as_ptr(),
            ],
        }
    }
}

/// Asks the PMD whether it would take this policy.
pub fn validate_policy(port: &Port, spec: &PolicySpec) -> Result<(), MtrError> {
    let raw = RawPolicy::new(spec);
    let mut params = raw.params();
    let mut err = sys::rte_mtr_error::default();
    // SAFETY: params points into raw's END-terminated lists, alive for the
    // call; err is an out-pointer.
    let ret = unsafe { sys::rte_mtr_meter_policy_validate(port.id().0, &mut params, &mut err) };
    check(&err, ret)
}

/// A meter policy on a port; deleted on drop (once no meter holds it).
#[derive(Debug)]
pub struct Policy {
    port: Port,
    id: u32,
}

impl Policy {
    /// Adds policy `id` on `port`.
    pub fn add(port: &Port, id: u32, spec: &PolicySpec) -> Result<Policy, MtrError> {
        let raw = RawPolicy::new(spec);
        let mut params = raw.params();
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: as for validate_policy; the PMD copies the policy before
        // returning.
        let ret = unsafe { sys::rte_mtr_meter_policy_add(port.id().0, id, &mut params, &mut err) };
        check(&err, ret)?;
        Ok(Policy {
            port: port.clone(),
            id,
        })
    }

    /// The policy's id on its port.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: err is a valid out-pointer; the call takes only ids. No
        // meter of ours holds the policy (meters hold an Arc of it).
        let _ = unsafe { sys::rte_mtr_meter_policy_delete(self.port.id().0, self.id, &mut err) };
    }
}

/// A meter's statistics since its creation or the last clear, as its
/// `mask` says the PMD filled them (others are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeterStats {
    /// Packets and bytes of each colour (green, yellow, red).
    pub packets: [u64; 3],
    pub bytes: [u64; 3],
    /// Packets and bytes the policy dropped.
    pub packets_dropped: u64,
    pub bytes_dropped: u64,
    /// Which of the above the PMD filled ([`stats`] bits).
    pub mask: u64,
}

/// A meter object on a port, with the profile and policy it uses; destroyed
/// on drop, before they are let go.
#[derive(Debug)]
pub struct Meter {
    id: u32,
    live: bool,
    profile: Arc<Profile>,
    policy: Arc<Policy>,
}

impl Meter {
    /// Creates meter `id` on the profile's and policy's port, colour-blind,
    /// enabled, keeping the statistics of `stats_mask` ([`stats`] bits);
    /// `shared`: several flows' rules will name it.
    pub fn create(
        id: u32,
        profile: Arc<Profile>,
        policy: Arc<Policy>,
        stats_mask: u64,
        shared: bool,
    ) -> Result<Meter, MtrError> {
        if profile.port.id() != policy.port.id() {
            return Err(MtrError::local(
                sys::RTE_MTR_ERROR_TYPE_METER_POLICY_ID,
                "the meter's profile and policy are on different ports",
                crate::errno::EINVAL,
            ));
        }
        let mut params = sys::rte_mtr_params {
            meter_profile_id: profile.id,
            meter_policy_id: policy.id,
            meter_enable: 1,
            stats_mask,
            default_input_color: sys::RTE_COLOR_GREEN,
            ..Default::default()
        };
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: params (no colour tables: null) and err are valid for the
        // call; the PMD copies what it needs.
        let ret = unsafe {
            sys::rte_mtr_create(
                profile.port.id().0,
                id,
                &mut params,
                i32::from(shared),
                &mut err,
            )
        };
        check(&err, ret)?;
        Ok(Meter {
            id,
            live: true,
            profile,
            policy,
        })
    }

    /// The meter's id, for a rule's METER action.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The port the meter is on.
    pub fn port(&self) -> &Port {
        &self.profile.port
    }

    /// The profile it meters with.
    pub fn profile(&self) -> &Arc<Profile> {
        &self.profile
    }

    /// The policy it applies.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Gives the meter another profile (of the same port); the old one is
    /// let go (deleted if nothing else holds it).
    pub fn update_profile(&mut self, profile: Arc<Profile>) -> Result<(), MtrError> {
        if profile.port.id() != self.port().id() {
            return Err(MtrError::local(
                sys::RTE_MTR_ERROR_TYPE_METER_PROFILE_ID,
                "the profile is on another port",
                crate::errno::EINVAL,
            ));
        }
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: a live meter of this port; err is an out-pointer.
        let ret = unsafe {
            sys::rte_mtr_meter_profile_update(self.port().id().0, self.id, profile.id, &mut err)
        };
        check(&err, ret)?;
        self.profile = profile;
        Ok(())
    }

    /// Reads the statistics; `clear` starts them again from this read.
    pub fn stats(&self, clear: bool) -> Result<MeterStats, MtrError> {
        let mut s = sys::rte_mtr_stats::default();
        let mut mask = 0u64;
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: a live meter of this port; s, mask and err are valid
        // out-pointers.
        let ret = unsafe {
            sys::rte_mtr_stats_read(
                self.port().id().0,
                self.id,
                &mut s,
                &mut mask,
                i32::from(clear),
                &mut err,
            )
        };
        check(&err, ret)?;
        Ok(MeterStats {
            packets: s.n_pkts,
            bytes: s.n_bytes,
            packets_dropped: s.n_pkts_dropped,
            bytes_dropped: s.n_bytes_dropped,
            mask,
        })
    }

    fn destroy_inner(&mut self) -> Result<(), MtrError> {
        if !self.live {
            return Ok(());
        }
        let mut err = sys::rte_mtr_error::default();
        // SAFETY: a live meter of this port, destroyed once (`live` is
        // cleared only on success).
        let ret = unsafe { sys::rte_mtr_destroy(self.port().id().0, self.id, &mut err) };
        check(&err, ret)?;
        self.live = false;
        Ok(())
    }

    /// Destroys the meter (no rule may name it any more). On failure it is
    /// still there and returned.
    pub fn destroy(mut self) -> Result<(), (Meter, MtrError)> {
        match self.destroy_inner() {
            Ok(()) => Ok(()),
            Err(e) => Err((self, e)),
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        // Best effort; the profile and policy fields are let go after this,
        // so a meter is always gone before what it uses is deleted.
        let _ = self.destroy_inner();
    }
}

#[cfg(test)]
#[path = "mtr_tests.rs"]
mod tests;
