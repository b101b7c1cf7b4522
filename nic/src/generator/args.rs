//! The generated wire's devargs (`gen=PRESET`, `gen_*=...`) and what they
//! resolve to: a scenario preset, overridden key by key.
//!
//! Shares are held in millionths, durations in milliseconds, so the
//! devargs stay `Eq` (they are compared whole by flowlift's config check).

use std::path::PathBuf;

use super::law::SizeLaw;

/// The scenarios of issue 15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scenario {
    /// Heavy-tailed flows born at a steady rate.
    #[default]
    Steady,
    /// About 10^5 flows born (and as many dead) a minute.
    Churn,
    /// Every [`SHIFT_PERIOD_MS`] the top 1% is replaced by new flows at once.
    Shift,
    /// Ten times the arrivals for [`FLASH_LEN_MS`], from [`FLASH_AT_MS`].
    Flash,
    /// A million short flows.
    Mice,
}

/// How often the hot set is replaced (`gen=shift`).
pub const SHIFT_PERIOD_MS: u64 = 10_000;
/// When the flash crowd comes (`gen=flash`), and for how long.
pub const FLASH_AT_MS: u64 = 5_000;
pub const FLASH_LEN_MS: u64 = 2_000;
/// How many times the arrival rate a flash crowd is.
pub const FLASH_FACTOR: f64 = 10.0;

/// The total packet rate that sets the flows' mean size when the wire is
/// not paced (`rate_pps=0`): the order of a NIC port's small-packet rate.
pub const NOMINAL_PPS: u64 = 1_000_000;

/// What the devargs say; `None` is the preset's value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenArgs {
    pub scenario: Scenario,
    /// `gen_flows_per_s`: flows born a second (Poisson).
    pub flows_per_s: Option<u64>,
    /// `gen_top_share`: the top 1% of flows' share of packets, in millionths.
    pub top_share_ppm: Option<u32>,
    /// `gen_flow_pps`: the packet rate of a flow of the smallest size.
    pub flow_pps: Option<u64>,
    /// `gen_ipv6`, `gen_tcp`, `gen_vlan`: shares of flows, in millionths.
    pub ipv6_ppm: Option<u32>,
    pub tcp_ppm: Option<u32>,
    pub vlan_ppm: Option<u32>,
    /// `gen_seconds`: no flow born, and no packet sent, after this long (of
    /// the generator's time), in milliseconds.
    pub duration_ms: Option<u64>,
    /// `gen_flows`: flows born in all.
    pub flows: Option<u64>,
    /// `gen_warm`: the wire starts this long (ms) into the generator's
    /// time, in the steady state its flows have reached by then.
    pub warm_ms: Option<u64>,
    /// `gen_seed`.
    pub seed: u64,
    /// `gen_truth`: where the ground truth goes.
    pub truth: Option<PathBuf>,
    /// `gen_series`: where the time series goes.
    pub series: Option<PathBuf>,
    /// `gen_vfs`: destination MACs `02:00:00:00:00:01..N`.
    pub vfs: Option<u16>,
}

/// The devarg keys of the generated wire.
pub const KEYS: [&str; 14] = [
    "gen",
    "gen_flows_per_s",
    "gen_top_share",
    "gen_flow_pps",
    "gen_ipv6",
    "gen_tcp",
    "gen_vlan",
    "gen_seconds",
    "gen_flows",
    "gen_warm",
    "gen_seed",
    "gen_truth",
    "gen_series",
    "gen_vfs",
];

impl GenArgs {
    /// Sets `key` (one of [`KEYS`]) to `value`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), &'static str> {
        let whole = |v: &str| v.parse::<u64>().map_err(|_| "a whole number");
        let positive = |v: &str| match whole(v)? {
            0 => Err("a whole number above 0"),
            n => Ok(n),
        };
        let share = |v: &str| -> Result<u32, &'static str> {
            let f: f64 = v.parse().map_err(|_| "a share from 0 to 1")?;
            if !(0.0..=1.0).contains(&f) {
                return Err("a share from 0 to 1");
            }
            Ok((f * 1e6).round() as u32)
        };
        match key {
            "gen" => {
                self.scenario = match value {
                    "steady" => Scenario::Steady,
                    "churn" => Scenario::Churn,
                    "shift" => Scenario::Shift,
                    "flash" => Scenario::Flash,
                    "mice" => Scenario::Mice,
                    _ => return Err("steady, churn, shift, flash or mice"),
                }
            }
            "gen_flows_per_s" => self.flows_per_s = Some(positive(value)?),
            "gen_top_share" => {
                let s = share(value)?;
                // A bounded law reaches from just above 1% (no tail) to
                // about 99%.
                if !(20_000..=990_000).contains(&s) {
                    return Err("a share from 0.02 to 0.99");
                }
                self.top_share_ppm = Some(s);
            }
            "gen_flow_pps" => self.flow_pps = Some(positive(value)?),
            "gen_ipv6" => self.ipv6_ppm = Some(share(value)?),
            "gen_tcp" => self.tcp_ppm = Some(share(value)?),
            "gen_vlan" => self.vlan_ppm = Some(share(value)?),
            "gen_seconds" => {
                let f: f64 = value.parse().map_err(|_| "seconds, above 0")?;
                if !(f > 0.0 && f <= 1e9) {
                    return Err("seconds, above 0");
                }
                self.duration_ms = Some(((f * 1000.0).round() as u64).max(1));
            }
            "gen_flows" => self.flows = Some(positive(value)?),
            "gen_warm" => {
                let f: f64 = value.parse().map_err(|_| "seconds, 0 or more")?;
                if !(0.0..=86_400.0).contains(&f) {
                    return Err("seconds, 0 to 86400");
                }
                self.warm_ms = Some((f * 1000.0).round() as u64);
            }
            "gen_seed" => self.seed = whole(value)?,
            "gen_truth" if value.is_empty() => return Err("a file path"),
            "gen_truth" => self.truth = Some(PathBuf::from(value)),
            "gen_series" if value.is_empty() => return Err("a file path"),
            "gen_series" => self.series = Some(PathBuf::from(value)),
            "gen_vfs" => {
                let n = positive(value)?;
                if n > 255 {
                    return Err("1 to 255 VFs");
                }
                self.vfs = Some(n as u16);
            }
            _ => return Err("not a devarg of the generated wire"),
        }
        Ok(())
    }
}

/// The generator's settings, resolved: the preset, its overrides, and the
/// size law they call for.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub scenario: Scenario,
    /// Flows born a second, outside a flash crowd.
    pub flows_per_s: f64,
    pub top_share: f64,
    pub law: SizeLaw,
    pub flow_pps: f64,
    pub ipv6: f64,
    pub tcp: f64,
    pub vlan: f64,
    /// The wire starts here on the generator's time (ns): packets due
    /// before are not sent, flows born before are under way.
    pub warm_ns: u64,
    /// The generator's time ends here (ns): no flow born, no packet sent.
    pub end_ns: Option<u64>,
    pub max_flows: Option<u64>,
    pub seed: u64,
    /// Destination MACs are `02:00:00:00:00:01..=vfs`.
    pub vfs: u16,
    /// The VF that sends (a VM's egress, `vfN_gen`): its MAC's last byte;
    /// `None`, the uplink's wire.
    pub sender: Option<u8>,
    /// Whether the ground truth is kept (it is written: `gen_truth`).
    pub keep_truth: bool,
    /// Whether the time series is kept (`gen_series`).
    pub keep_series: bool,
}

impl Params {
    /// The settings of the generated wire VF `position` (in representor
    /// order, its MAC `02:00:00:00:00:<position + 1>`) sends: `scenario`,
    /// the device's `gen_*` settings, paced at `rate_pps`, its truth kept
    /// if `truth`. Its seed is its own, so its flows are not the uplink's.
    pub fn resolve_vf(
        args: &GenArgs,
        scenario: Scenario,
        rate_pps: u64,
        representors: usize,
        position: usize,
        truth: bool,
    ) -> Params {
        let args = GenArgs {
            scenario,
            ..args.clone()
        };
        let from = u8::try_from(position + 1).unwrap_or(u8::MAX);
        Params {
            seed: args.seed ^ (u64::from(from) << 56),
            keep_truth: truth,
            keep_series: false,
            sender: Some(from),
            ..Params::resolve(&args, rate_pps, representors)
        }
    }

    /// The settings `args` give on a wire paced at `rate_pps` (0: unpaced,
    /// then [`NOMINAL_PPS`] sets the sizes) of a device with `representors`
    /// VFs.
    pub fn resolve(args: &GenArgs, rate_pps: u64, representors: usize) -> Params {
        // Presets: (flows a second, top share, smallest flow's pps, flows).
        let (flows_per_s, top_share, flow_pps, flows) = match args.scenario {
            Scenario::Steady | Scenario::Shift | Scenario::Flash => (1_000, 0.9, 10, None),
            // 10^5 a minute; faster small flows, so that they die young.
            Scenario::Churn => (1_667, 0.9, 50, None),
            // A million short flows: a light tail, fast.
            Scenario::Mice => (20_000, 0.3, 100, Some(1_000_000)),
        };
        let flows_per_s = args.flows_per_s.unwrap_or(flows_per_s) as f64;
        let warm_ns = args.warm_ms.unwrap_or(0).saturating_mul(1_000_000);
        let top_share = args.top_share_ppm.map_or(top_share, |s| f64::from(s) / 1e6);
        let rate = if rate_pps > 0 { rate_pps } else { NOMINAL_PPS } as f64;
        let ppm = |v: Option<u32>, default: f64| v.map_or(default, |s| f64::from(s) / 1e6);
        Params {
            scenario: args.scenario,
            flows_per_s,
            top_share,
            // Sizes whose mean keeps the total at the wire's rate once the
            // flows alive reach their steady state.
            law: SizeLaw::for_share(top_share, rate / flows_per_s),
            flow_pps: args.flow_pps.unwrap_or(flow_pps) as f64,
            ipv6: ppm(args.ipv6_ppm, 0.2),
            tcp: ppm(args.tcp_ppm, 0.6),
            vlan: ppm(args.vlan_ppm, 0.1),
            warm_ns,
            end_ns: args
                .duration_ms
                .map(|ms| warm_ns.saturating_add(ms.saturating_mul(1_000_000))),
            max_flows: args.flows.or(flows),
            seed: args.seed,
            vfs: args
                .vfs
                .unwrap_or_else(|| u16::try_from(representors.clamp(1, 255)).unwrap_or(1)),
            keep_truth: args.truth.is_some(),
            keep_series: args.series.is_some(),
            sender: None,
        }
    }
}
