//! The appliance's TOML configuration: EAL arguments, worker lcores, burst and
//! ring sizes, the forwarding choices, and the ports (one uplink, VFs with MACs).
//!
//! Every setting has a default (see `flowlift.example.toml` at the repository
//! root); unknown keys are refused, and every error is one line naming the
//! problem, because operators read it in a terminal or a journal.

use std::collections::HashSet;
use std::path::Path;

use flowlift_dataplane::l2::MissAction;
use flowlift_dataplane::mac::MacAddr;
use flowlift_dataplane::policy::{Rule, RuleAction};
use flowlift_dataplane::PortIdx;
use serde::Deserialize;

/// A configuration problem, as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, or a value of the wrong type.
    #[error("config {origin}: line {line}, column {column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The values parse but do not make a working appliance.
    #[error("config {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// A port's part in the appliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The NIC's physical side: traffic to and from the wire.
    Uplink,
    /// A virtual function handed to a VM (its representor, on a real NIC).
    Vf,
}

/// What to do with frames no VF owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Miss {
    #[default]
    Drop,
    Flood,
}

impl From<Miss> for MissAction {
    fn from(m: Miss) -> MissAction {
        match m {
            Miss::Drop => MissAction::Drop,
            Miss::Flood => MissAction::Flood,
        }
    }
}

/// `[eal]`
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EalSection {
    /// Extra EAL arguments. flowlift adds the lcore list, `-m`, the port devices
    /// and a private `--file-prefix` unless these already say otherwise.
    pub args: Vec<String>,
    /// EAL memory in MB (`-m`); 0 sizes it from the mbuf pool.
    pub memory_mb: u32,
}

/// `[dataplane]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataplaneSection {
    /// The lcore that runs the control loop and status line.
    pub main_lcore: u32,
    /// One poll-mode worker per lcore listed.
    pub worker_lcores: Vec<u32>,
    /// Packets per rx_burst (1..=64).
    pub burst: usize,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// Mbufs in the pool; 0 sizes it from queues, bursts and any replayed capture.
    pub mbufs: u32,
    /// Unicast frames to a MAC no VF owns: `drop` or `flood`.
    pub unknown_unicast: Miss,
    /// Broadcast and multicast frames from the uplink: `drop` or `flood`.
    pub broadcast: Miss,
    /// IPv4 flows each worker's table holds (preallocated at start-up).
    pub flow_table_size: u32,
    /// IPv6 flows each worker's table holds.
    pub flow_table_size_v6: u32,
    /// Seconds without a packet after which a flow is evicted and logged; 0 = never.
    pub idle_timeout_s: f64,
    /// Flow events (new/ended) a worker may queue for the control core.
    pub event_queue: u32,
    /// Microseconds a partly filled TX batch may wait for more packets while
    /// traffic flows (l3fwd's drain interval); 0 sends after every RX pass.
    pub tx_drain_us: f64,
}

impl Default for DataplaneSection {
    fn default() -> Self {
        DataplaneSection {
            main_lcore: 0,
            worker_lcores: vec![1],
            burst: 32,
            rx_desc: 1024,
            tx_desc: 1024,
            mbufs: 0,
            unknown_unicast: Miss::Drop,
            broadcast: Miss::Drop,
            flow_table_size: 1 << 20,
            flow_table_size_v6: 1 << 18,
            idle_timeout_s: 10.0,
            event_queue: 1 << 16,
            tx_drain_us: 100.0,
        }
    }
}

/// `[control]`: how operators reach the appliance.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ControlSection {
    /// The control socket `flowlift shell` talks to (mode 0600).
    pub socket: String,
    /// Where `/metrics` is served (Prometheus text format); "" turns it off.
    pub metrics: String,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            socket: "/run/flowlift.sock".into(),
            metrics: "127.0.0.1:9464".into(),
        }
    }
}

/// Which NIC carries offloaded flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// The NIC model on an lcore of its own (DPDK virtual devices, CI).
    #[default]
    Emulated,
    /// A NIC with rte_flow rules (mlx5, ice, ...).
    RteFlow,
    /// No offload: workers carry everything.
    None,
}

impl BackendKind {
    /// The name used in the config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Emulated => "emulated",
            BackendKind::RteFlow => "rte_flow",
            BackendKind::None => "none",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "emulated" => Ok(BackendKind::Emulated),
            "rte_flow" => Ok(BackendKind::RteFlow),
            "none" => Ok(BackendKind::None),
            other => Err(format!(
                "unknown offload backend {other:?}: use emulated, rte_flow or none"
            )),
        }
    }
}

/// `[offload]`: which flows go to the NIC, and when.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OffloadSection {
    /// `emulated`, `rte_flow` or `none`.
    pub backend: BackendKind,
    /// The lcore the emulated NIC runs on (emulated backend only).
    pub lcore: u32,
    /// Rules the NIC may hold (the emulated NIC's table size; on rte_flow NICs
    /// the budget flowlift keeps to).
    pub max_rules: u32,
    /// Rule insertions per second the emulated NIC accepts (a real NIC's limit);
    /// flowlift also paces its own installs and removals to this rate.
    pub inserts_per_sec: u32,
    /// Milliseconds between control ticks (counters read, rates, decisions).
    pub tick_ms: u32,
    /// A flow whose rate stays at or above this many packets per second for
    /// `hold` ticks is promoted.
    pub promote_pps: f64,
    /// An offloaded flow whose rate stays at or below this for `hold` ticks is
    /// demoted.
    pub demote_pps: f64,
    /// Ticks a rate must hold before a promotion or demotion.
    pub hold: u32,
    /// Weight of the newest tick in a flow's rate (EWMA), in (0, 1].
    pub ewma_alpha: f64,
    /// With the rule table full, a candidate replaces the coldest offloaded flow
    /// only if its rate is at least this many times that flow's.
    pub evict_margin: f64,
    /// Milliseconds a flow waits after a failed install before it is tried
    /// again; doubled at each further failure, up to 64 times this.
    pub backoff_ms: u32,
    /// `[offload.faults]`: refusals the emulated NIC makes on purpose, to
    /// exercise every error path (testing only).
    pub faults: FaultPlan,
    /// `[[offload.policy]]` as written; validation moves them to
    /// [`Config::offload_policies`].
    #[serde(rename = "policy")]
    policies: Vec<RawOffloadPolicy>,
}

/// Every `n`-th request of a kind fails (0: never).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FaultPlan {
    /// Installs refused as if the rule table were full.
    pub no_space_every: u32,
    /// Installs refused as if the insertion queue were busy.
    pub busy_every: u32,
    /// Counter queries that fail.
    pub query_every: u32,
}

impl Default for OffloadSection {
    fn default() -> Self {
        OffloadSection {
            backend: BackendKind::Emulated,
            lcore: 2,
            max_rules: 1024,
            inserts_per_sec: 20_000,
            tick_ms: 100,
            promote_pps: 1000.0,
            demote_pps: 100.0,
            hold: 3,
            ewma_alpha: 0.5,
            evict_margin: 1.5,
            backoff_ms: 500,
            faults: FaultPlan::default(),
            policies: Vec::new(),
        }
    }
}

/// Whether flows a header policy matches may be offloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OffloadChoice {
    /// Offload at the first tick, whatever the rate (while rules are free).
    Always,
    /// Never offload.
    Never,
    /// Let the rate policy decide.
    #[default]
    Auto,
}

impl OffloadChoice {
    /// The choice as the config writes it.
    pub fn name(self) -> &'static str {
        match self {
            OffloadChoice::Always => "always",
            OffloadChoice::Never => "never",
            OffloadChoice::Auto => "auto",
        }
    }
}

/// `[[offload.policy]]` as written: a match on the flow key and a choice.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
struct RawOffloadPolicy {
    #[serde(default)]
    priority: i32,
    in_port: Option<String>,
    vlan: Option<u16>,
    src: Option<String>,
    dst: Option<String>,
    proto: Option<ProtoSpec>,
    sport: Option<PortSpecValue>,
    dport: Option<PortSpecValue>,
    offload: OffloadChoice,
}

/// A header policy: flows whose key matches `matches` get `choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffloadPolicy {
    /// The match (its `action` is unused).
    pub matches: Rule,
    pub choice: OffloadChoice,
}

/// `[[rule]]`: a forwarding rule for a flow's first packet.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    priority: i32,
    in_port: Option<String>,
    src_mac: Option<String>,
    dst_mac: Option<String>,
    vlan: Option<u16>,
    src: Option<String>,
    dst: Option<String>,
    proto: Option<ProtoSpec>,
    sport: Option<PortSpecValue>,
    dport: Option<PortSpecValue>,
    action: String,
}

/// A protocol by name (`tcp`, `udp`, `sctp`, `icmp`, `icmp6`) or number.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
enum ProtoSpec {
    Number(u8),
    Name(String),
}

/// A port (`5001`) or range (`"1000-2000"`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
enum PortSpecValue {
    Number(u16),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: String,
    role: Role,
    #[serde(default)]
    mac: Option<String>,
    device: String,
    #[serde(default)]
    rate_limit_pps: Option<u64>,
    #[serde(default)]
    rate_limit_bps: Option<u64>,
    #[serde(default)]
    rate_burst: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    eal: EalSection,
    #[serde(default)]
    dataplane: DataplaneSection,
    #[serde(default, rename = "port")]
    ports: Vec<RawPort>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
    #[serde(default)]
    offload: OffloadSection,
    #[serde(default)]
    control: ControlSection,
}

/// A VF's rate limit, enforced on both paths (see `dataplane::meter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub unit: flowlift_dataplane::meter::MeterUnit,
    /// Packets or bytes per second.
    pub rate: u64,
    /// Packets or bytes a quiet VF may receive at once.
    pub burst: u64,
}

/// One port, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The operator's name (`uplink`, `vf1`, ...), used in output and file names.
    pub name: String,
    pub role: Role,
    /// Required for VFs: the MAC whose frames the VF receives.
    pub mac: Option<MacAddr>,
    /// The DPDK device: a vdev (`net_pcap0,rx_pcap=in.pcap`, `net_null1,no-rx=1`)
    /// or a PCI address with optional devargs (`0000:03:00.0`).
    pub device: String,
    /// The VF's rate limit, if any.
    pub rate_limit: Option<RateLimit>,
}

impl PortSpec {
    /// The ethdev name DPDK gives this device (the part before the first comma).
    pub fn dpdk_name(&self) -> &str {
        self.device.split(',').next().unwrap_or("")
    }

    /// Whether the device is a virtual device (`--vdev`) rather than a PCI one (`-a`).
    pub fn is_vdev(&self) -> bool {
        self.dpdk_name().starts_with("net_")
    }

    /// Whether the device is a VF representor (`0000:03:00.0_representor_vf0`),
    /// which the PF's `representor=` devarg creates: it takes no EAL argument.
    pub fn is_representor(&self) -> bool {
        self.dpdk_name().contains("_representor_")
    }
}

/// The whole configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub eal: EalSection,
    pub dataplane: DataplaneSection,
    /// The uplink first, then the VFs in file order.
    pub ports: Vec<PortSpec>,
    /// Forwarding rules, in file order (the policy sorts them by priority).
    pub rules: Vec<Rule>,
    pub offload: OffloadSection,
    /// Header policies, highest priority first (equal priorities in file order).
    pub offload_policies: Vec<OffloadPolicy>,
    pub control: ControlSection,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError::Syntax {
                origin: origin.to_owned(),
                line,
                column,
                message: e.message().replace('\n', " ").trim().to_owned(),
            }
        })?;
        validate(raw, origin)
    }

    /// The uplink port.
    pub fn uplink(&self) -> &PortSpec {
        &self.ports[0]
    }

    /// The VF ports.
    pub fn vfs(&self) -> &[PortSpec] {
        &self.ports[1..]
    }

    /// The built-in demo: an uplink replaying `capture` from memory and four VFs
    /// `vf1`..`vf4` (MACs 02:00:00:00:00:01..04) that discard what they get, or
    /// write it to `<dir>/<name>.pcap` when `capture_dir` is given.
    pub fn demo(capture: &Path, capture_dir: Option<&Path>) -> Config {
        let mut ports = vec![PortSpec {
            name: "uplink".into(),
            role: Role::Uplink,
            mac: Some(MacAddr([2, 0, 0, 0, 0, 0xfe])),
            device: format!("net_pcap0,rx_pcap={},infinite_rx=1", capture.display()),
            rate_limit: None,
        }];
        for i in 1..=4u8 {
            ports.push(PortSpec {
                name: format!("vf{i}"),
                role: Role::Vf,
                mac: Some(MacAddr([2, 0, 0, 0, 0, i])),
                device: format!("net_null{i},no-rx=1"),
                rate_limit: None,
            });
        }
        let mut cfg = Config {
            eal: EalSection {
                args: vec![
                    "--no-huge".into(),
                    "--no-pci".into(),
                    "--no-shconf".into(),
                    "--no-telemetry".into(),
                ],
                memory_mb: 0,
            },
            dataplane: DataplaneSection::default(),
            ports,
            rules: Vec::new(),
            offload: OffloadSection::default(),
            offload_policies: Vec::new(),
            control: ControlSection::default(),
        };
        if let Some(dir) = capture_dir {
            cfg.capture_vfs_to(dir);
        }
        cfg
    }

    /// Replaces every VF's device with a `net_pcap` writing `<dir>/<name>.pcap`;
    /// with the emulated NIC, what its rules deliver (its own TX queue) goes to
    /// `<dir>/<name>-offloaded.pcap`.
    pub fn capture_vfs_to(&mut self, dir: &Path) {
        let emulated = self.offload.backend == BackendKind::Emulated;
        for (i, p) in self.ports.iter_mut().enumerate().skip(1) {
            let mut device = format!(
                "net_pcap_cap{i},tx_pcap={}",
                dir.join(format!("{}.pcap", p.name)).display()
            );
            if emulated {
                device += &format!(
                    ",tx_pcap={}",
                    dir.join(format!("{}-offloaded.pcap", p.name)).display()
                );
            }
            p.device = device;
        }
    }

    /// Replaces the uplink's device with a `net_pcap` replaying `pcap`; from memory
    /// in a loop (`infinite_rx=1`) unless it is played exactly once.
    pub fn replay_on_uplink(&mut self, pcap: &Path, loops: u64) {
        let infinite = if loops == 1 { "" } else { ",infinite_rx=1" };
        self.ports[0].device = format!("net_pcap_replay,rx_pcap={}{infinite}", pcap.display());
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

fn validate(raw: RawConfig, origin: &str) -> Result<Config, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        origin: origin.to_owned(),
        message,
    };
    let dp = &raw.dataplane;
    if dp.worker_lcores.is_empty() {
        return Err(invalid(
            "dataplane.worker_lcores is empty: give at least one worker lcore".into(),
        ));
    }
    if dp.worker_lcores.contains(&dp.main_lcore) {
        return Err(invalid(format!(
            "dataplane.worker_lcores includes the main lcore {}: workers need lcores of their own",
            dp.main_lcore
        )));
    }
    let mut seen_lcores = HashSet::new();
    for lc in &dp.worker_lcores {
        if !seen_lcores.insert(lc) {
            return Err(invalid(format!(
                "dataplane.worker_lcores lists lcore {lc} twice"
            )));
        }
        if *lc >= 128 {
            return Err(invalid(format!(
                "dataplane.worker_lcores: lcore {lc} is beyond DPDK's 128"
            )));
        }
    }
    if !(1..=rte::MAX_BURST).contains(&dp.burst) {
        return Err(invalid(format!(
            "dataplane.burst = {}: must be 1..={}",
            dp.burst,
            rte::MAX_BURST
        )));
    }
    if dp.rx_desc == 0 || dp.tx_desc == 0 {
        return Err(invalid(
            "dataplane.rx_desc and tx_desc must be above 0".into(),
        ));
    }

    let mut uplinks = Vec::new();
    let mut vfs = Vec::new();
    let mut names = HashSet::new();
    let mut macs = HashSet::new();
    let mut devices = HashSet::new();
    for p in raw.ports {
        if p.name.is_empty()
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(format!(
                "port name {:?}: use letters, digits, '-' or '_'",
                p.name
            )));
        }
        if !names.insert(p.name.clone()) {
            return Err(invalid(format!("port {:?} is defined twice", p.name)));
        }
        if p.device.trim().is_empty() {
            return Err(invalid(format!("port {}: device is empty", p.name)));
        }
        let mac = match &p.mac {
            Some(text) => {
                let mac: MacAddr = text
                    .parse()
                    .map_err(|e| invalid(format!("port {}: {e}", p.name)))?;
                if mac.is_group() {
                    return Err(invalid(format!(
                        "port {}: MAC {mac} is a multicast address",
                        p.name
                    )));
                }
                if !macs.insert(mac) {
                    return Err(invalid(format!(
                        "port {}: MAC {mac} is used by another port",
                        p.name
                    )));
                }
                Some(mac)
            }
            None if p.role == Role::Vf => {
                return Err(invalid(format!("port {}: a vf needs a mac", p.name)));
            }
            None => None,
        };
        let rate_limit = rate_limit(&p).map_err(|m| invalid(format!("port {}: {m}", p.name)))?;
        let spec = PortSpec {
            name: p.name,
            role: p.role,
            mac,
            device: p.device,
            rate_limit,
        };
        if !devices.insert(spec.dpdk_name().to_owned()) {
            return Err(invalid(format!(
                "port {}: device {} is used by another port",
                spec.name,
                spec.dpdk_name()
            )));
        }
        match spec.role {
            Role::Uplink => uplinks.push(spec),
            Role::Vf => vfs.push(spec),
        }
    }
    match uplinks.len() {
        0 => {
            return Err(invalid(
                "no port has role = \"uplink\": exactly one is needed".into(),
            ))
        }
        1 => {}
        n => {
            return Err(invalid(format!(
                "{n} ports have role = \"uplink\": exactly one is allowed"
            )))
        }
    }
    if vfs.is_empty() {
        return Err(invalid(
            "no port has role = \"vf\": at least one is needed".into(),
        ));
    }
    let mut ports = uplinks;
    ports.extend(vfs);
    if ports.len() > 32 {
        return Err(invalid(format!(
            "{} ports: DPDK here supports at most 32",
            ports.len()
        )));
    }
    let rules = raw
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            lower_rule(r, &ports)
                .map_err(|m| invalid(format!("rule {} (priority {}): {m}", i + 1, r.priority)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut offload = raw.offload;
    check_offload(&offload, &raw.dataplane).map_err(|m| invalid(format!("offload.{m}")))?;
    let mut offload_policies = std::mem::take(&mut offload.policies)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            lower_offload_policy(p, &ports).map_err(|m| {
                invalid(format!(
                    "offload policy {} (priority {}): {m}",
                    i + 1,
                    p.priority
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    offload_policies.sort_by_key(|p| std::cmp::Reverse(p.matches.priority));
    Ok(Config {
        eal: raw.eal,
        dataplane: raw.dataplane,
        ports,
        rules,
        offload,
        offload_policies,
        control: raw.control,
    })
}

fn rate_limit(p: &RawPort) -> Result<Option<RateLimit>, String> {
    use flowlift_dataplane::meter::MeterUnit;
    let (unit, rate) = match (p.rate_limit_pps, p.rate_limit_bps) {
        (None, None) => {
            if p.rate_burst.is_some() {
                return Err("rate_burst without rate_limit_pps or rate_limit_bps".into());
            }
            return Ok(None);
        }
        (Some(_), Some(_)) => {
            return Err("give rate_limit_pps or rate_limit_bps, not both".into());
        }
        (Some(r), None) => (MeterUnit::Packets, r),
        (None, Some(r)) => (MeterUnit::Bytes, r / 8),
    };
    if p.role != Role::Vf {
        return Err("only a vf can have a rate limit".into());
    }
    if rate == 0 {
        return Err("a rate limit must be above 0".into());
    }
    // Default burst: 10 ms at the rate, at least one full-size frame.
    let min = if unit == MeterUnit::Packets { 1 } else { 1518 };
    let burst = p.rate_burst.unwrap_or((rate / 100).max(min));
    if burst == 0 {
        return Err("rate_burst must be above 0".into());
    }
    Ok(Some(RateLimit { unit, rate, burst }))
}

/// Checks `[offload]` against `[dataplane]`; the message names the key.
pub fn check_offload(o: &OffloadSection, dp: &DataplaneSection) -> Result<(), String> {
    if o.backend == BackendKind::Emulated {
        if o.lcore == dp.main_lcore || dp.worker_lcores.contains(&o.lcore) {
            return Err(format!(
                "lcore = {}: the emulated NIC needs an lcore of its own (not the main or a worker lcore)",
                o.lcore
            ));
        }
        if o.lcore >= 128 {
            return Err(format!("lcore = {} is beyond DPDK's 128", o.lcore));
        }
    }
    if o.tick_ms == 0 || o.tick_ms > 60_000 {
        return Err(format!("tick_ms = {}: must be 1..=60000", o.tick_ms));
    }
    if !(o.promote_pps.is_finite() && o.promote_pps >= 0.0) {
        return Err(format!(
            "promote_pps = {}: must be 0 or more",
            o.promote_pps
        ));
    }
    if !(o.demote_pps.is_finite() && o.demote_pps >= 0.0) {
        return Err(format!("demote_pps = {}: must be 0 or more", o.demote_pps));
    }
    if o.demote_pps > o.promote_pps {
        return Err(format!(
            "demote_pps = {} is above promote_pps = {}: flows would flap",
            o.demote_pps, o.promote_pps
        ));
    }
    if o.hold == 0 {
        return Err("hold must be at least 1 tick".into());
    }
    if !(o.ewma_alpha > 0.0 && o.ewma_alpha <= 1.0) {
        return Err(format!("ewma_alpha = {}: must be in (0, 1]", o.ewma_alpha));
    }
    if !(o.evict_margin.is_finite() && o.evict_margin >= 1.0) {
        return Err(format!(
            "evict_margin = {}: must be 1 or more",
            o.evict_margin
        ));
    }
    if o.faults != FaultPlan::default() && o.backend != BackendKind::Emulated {
        return Err("faults: only the emulated NIC can be told to fail".into());
    }
    if o.max_rules > 1 << 24 {
        return Err(format!("max_rules = {}: at most 16777216", o.max_rules));
    }
    Ok(())
}

/// A header policy from the shell's `policy add FIELD VALUE ...` pairs, checked
/// as the config file's `[[offload.policy]]` is (same fields, same errors).
pub fn offload_policy_from_pairs(
    pairs: &[(String, String)],
    ports: &[PortSpec],
) -> Result<OffloadPolicy, String> {
    // Written as the TOML table the config would hold: numbers bare, the
    // rest quoted, so the one set of rules and messages serves both.
    let mut text = String::new();
    for (k, v) in pairs {
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad field name {k:?}"));
        }
        if v.parse::<i64>().is_ok() {
            text += &format!("{k} = {v}\n");
        } else {
            text += &format!("{k} = {}\n", toml::Value::String(v.clone()));
        }
    }
    let raw: RawOffloadPolicy =
        toml::from_str(&text).map_err(|e| e.message().replace('\n', " ").trim().to_owned())?;
    lower_offload_policy(&raw, ports)
}

/// A match as one line: `proto 17 dport 5001-5001 src 10.0.0.0/8`.
pub fn describe_match(r: &Rule, ports: &[PortSpec]) -> String {
    let mut parts = Vec::new();
    if let Some(p) = r.in_port {
        let name = ports.get(p.index()).map_or("?", |s| s.name.as_str());
        parts.push(format!("in_port {name}"));
    }
    if let Some(v) = r.vlan {
        parts.push(format!("vlan {v}"));
    }
    if let Some(p) = &r.src {
        parts.push(format!("src {p}"));
    }
    if let Some(p) = &r.dst {
        parts.push(format!("dst {p}"));
    }
    if let Some(p) = r.proto {
        parts.push(format!("proto {p}"));
    }
    if let Some(p) = &r.sport {
        parts.push(format!("sport {}-{}", p.lo, p.hi));
    }
    if let Some(p) = &r.dport {
        parts.push(format!("dport {}-{}", p.lo, p.hi));
    }
    if parts.is_empty() {
        "any flow".into()
    } else {
        parts.join(" ")
    }
}

fn lower_offload_policy(p: &RawOffloadPolicy, ports: &[PortSpec]) -> Result<OffloadPolicy, String> {
    let raw = RawRule {
        priority: p.priority,
        in_port: p.in_port.clone(),
        vlan: p.vlan,
        src: p.src.clone(),
        dst: p.dst.clone(),
        proto: p.proto.clone(),
        sport: p.sport.clone(),
        dport: p.dport.clone(),
        action: "drop".into(),
        ..RawRule::default()
    };
    let mut matches = lower_rule(&raw, ports)?;
    matches.action = None;
    Ok(OffloadPolicy {
        matches,
        choice: p.offload,
    })
}

fn port_index(ports: &[PortSpec], name: &str) -> Result<PortIdx, String> {
    ports
        .iter()
        .position(|p| p.name == name)
        .map(|i| PortIdx(i as u16))
        .ok_or_else(|| format!("no port named {name:?}"))
}

fn lower_rule(r: &RawRule, ports: &[PortSpec]) -> Result<Rule, String> {
    let mac = |m: &Option<String>| {
        m.as_deref()
            .map(|t| t.parse::<MacAddr>().map_err(|e| e.to_string()))
            .transpose()
    };
    let range = |v: &Option<PortSpecValue>| {
        v.as_ref()
            .map(|v| match v {
                PortSpecValue::Number(n) => {
                    Ok(flowlift_dataplane::policy::PortRange { lo: *n, hi: *n })
                }
                PortSpecValue::Text(t) => t.parse(),
            })
            .transpose()
    };
    let proto = match &r.proto {
        None => None,
        Some(ProtoSpec::Number(n)) => Some(*n),
        Some(ProtoSpec::Name(n)) => Some(match n.as_str() {
            "tcp" => 6,
            "udp" => 17,
            "sctp" => 132,
            "icmp" => 1,
            "icmp6" | "icmpv6" => 58,
            other => {
                return Err(format!(
                    "unknown proto {other:?}: use tcp, udp, sctp, icmp, icmp6 or a number"
                ))
            }
        }),
    };
    if r.vlan.is_some_and(|v| v > 4095) {
        return Err(format!("vlan {} is above 4095", r.vlan.unwrap_or(0)));
    }
    let action = match r.action.as_str() {
        "drop" => RuleAction::Drop,
        other => match other.strip_prefix("output:") {
            Some(name) => RuleAction::Output(port_index(ports, name)?),
            None => return Err(format!("action {other:?}: use \"drop\" or \"output:PORT\"")),
        },
    };
    Ok(Rule {
        priority: r.priority,
        in_port: r
            .in_port
            .as_deref()
            .map(|n| port_index(ports, n))
            .transpose()?,
        src_mac: mac(&r.src_mac)?,
        dst_mac: mac(&r.dst_mac)?,
        vlan: r.vlan,
        src: r.src.as_deref().map(str::parse).transpose()?,
        dst: r.dst.as_deref().map(str::parse).transpose()?,
        proto,
        sport: range(&r.sport)?,
        dport: range(&r.dport)?,
        action: Some(action),
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
