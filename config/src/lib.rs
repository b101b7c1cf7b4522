//! The appliance's TOML configuration: EAL arguments, worker lcores, burst and
//! ring sizes, the forwarding choices, and the ports (one uplink, VFs with MACs).
//!
//! Every setting has a default (see `flowlift.example.toml` at the repository
//! root); unknown keys are refused, and every error is one line naming the
//! problem, because operators read it in a terminal or a journal.
//!
//! Here: the sections' types, their bounds and defaults, and reading the
//! file. The checks and the lowering into [`Config`] are in `validate`;
//! the command line's overrides in [`OffloadOverrides`]; what EAL is started
//! with (lcores, memory, the mbuf pool) in [`eal_args`]; what flowlift reads
//! of a NIC model device line in [`model_nic`].
#![deny(unsafe_code)]

pub mod eal_args;
pub mod model_nic;
mod overrides;
pub use overrides::{CommandLine, OffloadOverrides};
pub mod reload;

use std::collections::HashSet;
use std::fmt::Display;
use std::path::Path;

use flowlift_dataplane::l2::{L2Table, MissAction};
use flowlift_dataplane::mac::MacAddr;
use flowlift_dataplane::policy::{Policy, Rule, RuleAction};
use flowlift_dataplane::PortIdx;
use serde::Deserialize;

use flowlift_offload::manager::OffloadParams;
pub use flowlift_offload::policy::{OffloadChoice, OffloadPolicy, RateLimit};

mod validate;
use validate::validate;
pub use validate::{
    check_metrics_addr, check_metrics_host, check_offload, check_output_file, check_socket_dir,
    check_socket_path, offload_policy_from_pairs, parse_pci,
};

// Bounds. Every value an operator gives has a range, and each range a reason;
// refusals quote both (`key = value: must be RANGE (why)`), and
// `flowlift.example.toml` says the same in words. Values that depend on the
// machine (memory, hugepages, devices) are checked again at start-up, before
// EAL, by `eal_args::check` and `Config::check_files`, which `--check-config`
// runs too.

/// Lcore ids are below DPDK's `RTE_MAX_LCORE`: 128 in the DPDK 22.11 build
/// flowlift links (Debian's).
pub const MAX_LCORE: u32 = 128;

/// DPDK's `RTE_MAX_ETHPORTS` in that build. Every ethdev counts: the ports of
/// the config.
pub const MAX_ETHPORTS: usize = 32;

/// The longest port name: it names files (`<name>-offloaded.pcap` under
/// `--capture-dir`), metric labels and status-line columns. 64 is DPDK's own
/// limit for an ethdev name (`RTE_ETH_NAME_MAX_LEN`).
pub const MAX_PORT_NAME: usize = 64;

/// The longest device name (the part before the first comma): DPDK's
/// `RTE_DEV_NAME_MAX_LEN` is 64 bytes with the terminating NUL.
pub const MAX_DEVICE_NAME: usize = 63;

/// The longest control socket path: `sun_path` holds 108 bytes with the NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// The longest path of a VF's `replay` capture: Linux's `PATH_MAX` (4096)
/// with the NUL.
pub const MAX_REPLAY_PATH: usize = 4095;

/// The smallest byte burst of a VF rate limit: one full-size Ethernet frame,
/// else such frames could never conform and the VF would drop them all.
pub const MIN_BYTE_BURST: u64 = 1518;

/// The largest burst, in seconds at the rate: a longer one lets a quiet VF
/// exceed its limit for more than a minute, which is no limit.
pub const MAX_BURST_SECONDS: u64 = 60;

/// The values one numeric setting takes, and why; refusals quote both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// As refusals name it: `dataplane.flow_table_size`; a port's keys
    /// without the section (the refusal starts with the port); an option as
    /// `--max-rules`.
    pub key: &'static str,
    /// The smallest value (excluded when `lo_open`), not counting `zero`.
    pub lo: f64,
    pub lo_open: bool,
    /// The largest value.
    pub hi: f64,
    /// Whether the setting is an integer (its type refuses fractions).
    pub integer: bool,
    /// What 0 means, where it is allowed although below `lo` or special.
    pub zero: Option<&'static str>,
    /// Why these bounds, in a few words.
    pub why: &'static str,
}

impl Bound {
    /// Whether `v` is allowed. NaN and infinities never are.
    pub fn allows(&self, v: f64) -> bool {
        if v == 0.0 && self.zero.is_some() {
            return true;
        }
        let above_lo = if self.lo_open {
            v > self.lo
        } else {
            v >= self.lo
        };
        v.is_finite() && above_lo && v <= self.hi
    }

    /// The allowed values in words: `1..=64`, `(0, 1]`, `0 (never) or
    /// 0.1..=604800`, `0..=1000, 0 = send after every RX pass`.
    pub fn range(&self) -> String {
        let base = if self.lo_open {
            format!("({}, {}]", self.lo, self.hi)
        } else {
            format!("{}..={}", self.lo, self.hi)
        };
        match self.zero {
            Some(z) if self.lo > 0.0 => format!("0 ({z}) or {base}"),
            Some(z) => format!("{base}, 0 = {z}"),
            None => base,
        }
    }

    /// The refusal of `shown` (the value as the operator wrote it) under `name`.
    pub fn refusal(&self, name: &str, shown: &dyn Display) -> String {
        let sep = if name.starts_with("--") { " " } else { " = " };
        format!(
            "{name}{sep}{shown}: must be {} ({})",
            self.range(),
            self.why
        )
    }

    /// Checks an integer setting.
    pub fn check_u64(&self, v: u64) -> Result<(), String> {
        self.check_u64_as(self.key, v)
    }

    /// Checks an integer setting that refusals call `name`.
    pub fn check_u64_as(&self, name: &str, v: u64) -> Result<(), String> {
        // u64 -> f64 rounds only above 2^53, far beyond every bound here.
        if self.allows(v as f64) {
            Ok(())
        } else {
            Err(self.refusal(name, &v))
        }
    }

    /// Checks a floating-point setting.
    pub fn check_f64(&self, v: f64) -> Result<(), String> {
        self.check_f64_as(self.key, v)
    }

    /// Checks a floating-point setting that refusals call `name`.
    pub fn check_f64_as(&self, name: &str, v: f64) -> Result<(), String> {
        if self.allows(v) {
            Ok(())
        } else {
            Err(self.refusal(name, &float_text(v)))
        }
    }
}

/// A float as flowlift writes it back: Rust's shortest form that reads back
/// to the same `f64`, with an exponent where the plain form would run to tens
/// of digits (`1e300`, not three hundred of them).
pub fn float_text(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

const fn int(key: &'static str, lo: f64, hi: f64, why: &'static str) -> Bound {
    Bound {
        key,
        lo,
        lo_open: false,
        hi,
        integer: true,
        zero: None,
        why,
    }
}

const fn float(key: &'static str, lo: f64, hi: f64, why: &'static str) -> Bound {
    Bound {
        key,
        lo,
        lo_open: false,
        hi,
        integer: false,
        zero: None,
        why,
    }
}

const fn or_zero(b: Bound, meaning: &'static str) -> Bound {
    Bound {
        zero: Some(meaning),
        ..b
    }
}

/// The fastest packet rate a port can carry: 1 Tbit/s of minimum-size frames
/// (84 bytes on the wire each) is 1.49 Gpps. Rates above it are typos.
const MAX_PPS: f64 = 1.5e9;

const LCORE_WHY: &str = "DPDK's RTE_MAX_LCORE is 128";
const PPS_WHY: &str = "no port carries more than 1.5 Gpps, 1 Tbit/s of minimum-size frames";

pub const EAL_MEMORY_MB: Bound = or_zero(
    int(
        "eal.memory_mb",
        1.0,
        16_777_216.0,
        "16 TiB is beyond any server; the start-up check also holds it to the mbuf pool and this machine's memory",
    ),
    "sized from the mbuf pool",
);
pub const MAIN_LCORE: Bound = int("dataplane.main_lcore", 0.0, 127.0, LCORE_WHY);
pub const WORKER_LCORE: Bound = int("dataplane.worker_lcores", 0.0, 127.0, LCORE_WHY);
pub const BURST: Bound = int(
    "dataplane.burst",
    1.0,
    rte::MAX_BURST as f64,
    "rx_burst arrays hold 64 packets",
);
pub const RX_DESC: Bound = int(
    "dataplane.rx_desc",
    1.0,
    65535.0,
    "a queue needs a descriptor; the driver rounds to its own limits",
);
pub const TX_DESC: Bound = int("dataplane.tx_desc", 1.0, 65535.0, RX_DESC.why);
pub const MBUFS: Bound = or_zero(
    int(
        "dataplane.mbufs",
        1.0,
        2_147_483_647.0,
        "a DPDK mempool holds at most 2^31-1 mbufs; the start-up check also wants what the queues need",
    ),
    "sized from queues, bursts and any replayed capture",
);
pub const FLOW_TABLE_SIZE: Bound = int(
    "dataplane.flow_table_size",
    1.0,
    flowlift_dataplane::table::MAX_CAPACITY as f64,
    "a flow table holds at most 2^31 flows; the start-up check also holds the tables to this machine's memory",
);
pub const FLOW_TABLE_SIZE_V6: Bound = Bound {
    key: "dataplane.flow_table_size_v6",
    ..FLOW_TABLE_SIZE
};
pub const IDLE_TIMEOUT_S: Bound = or_zero(
    float(
        "dataplane.idle_timeout_s",
        0.1,
        604_800.0,
        "expiry is checked every 100 ms; a week is longer than any conntrack timeout",
    ),
    "never",
);
pub const EVENT_QUEUE: Bound = int(
    "dataplane.event_queue",
    1.0,
    4_194_304.0,
    "0 would drop every flow event, and offload with them; 4M events hold 200 ms of new flows at 20M a second",
);
pub const TX_DRAIN_US: Bound = or_zero(
    float(
        "dataplane.tx_drain_us",
        0.0,
        1000.0,
        "l3fwd drains every 100 us; beyond 1 ms the wait costs more latency than batching saves",
    ),
    "send after every RX pass",
);
pub const MAX_RULES: Bound = int(
    "offload.max_rules",
    1.0,
    16_777_216.0,
    "0 would turn offload off unsaid (use backend = \"none\"); 2^24 is beyond any NIC's rule table",
);
pub const INSERTS_PER_SEC: Bound = int(
    "offload.inserts_per_sec",
    1.0,
    10_000_000.0,
    "flowlift paces rule changes to it; NICs insert at most a few million rules a second",
);
pub const TICK_MS: Bound = int(
    "offload.tick_ms",
    1.0,
    60_000.0,
    "below 1 ms the control loop spins; beyond a minute rates are stale",
);
pub const PROMOTE_PPS: Bound = or_zero(
    float("offload.promote_pps", 0.0, MAX_PPS, PPS_WHY),
    "never by rate, only `always` policies",
);
pub const DEMOTE_PPS: Bound = float("offload.demote_pps", 0.0, MAX_PPS, PPS_WHY);
pub const HOLD: Bound = int(
    "offload.hold",
    1.0,
    10_000.0,
    "ticks a rate must hold; 10000 ticks of 100 ms are 17 minutes",
);
pub const EWMA_ALPHA: Bound = Bound {
    lo_open: true,
    ..float(
        "offload.ewma_alpha",
        0.0,
        1.0,
        "the newest tick's weight in a flow's rate",
    )
};
pub const EVICT_MARGIN: Bound = float(
    "offload.evict_margin",
    1.0,
    1e6,
    "below 1 a colder flow would evict a hotter one; a million times hotter already means never",
);
pub const BACKOFF_MS: Bound = int(
    "offload.backoff_ms",
    1.0,
    600_000.0,
    "it doubles up to 64 times: 10 minutes already make retries 11 hours apart",
);
pub const RATE_LIMIT_PPS: Bound = int(
    "rate_limit_pps",
    1.0,
    MAX_PPS,
    "0 would drop everything; no port carries more than 1.5 Gpps",
);
pub const RATE_LIMIT_BPS: Bound = int(
    "rate_limit_bps",
    8.0,
    1e12,
    "below 8 bit/s no byte passes; no port carries more than 1 Tbit/s",
);
pub const VLAN: Bound = int("vlan", 0.0, 4095.0, "a VLAN id has 12 bits");
pub const DURATION: Bound = float(
    "--duration",
    0.0,
    1e9,
    "31 years; leave it out to run until stopped",
);
pub const STATUS_EVERY: Bound = float(
    "--status-every",
    0.1,
    86_400.0,
    "a status line's rates need a tenth of a second; a day at most",
);

/// Every numeric setting of the config file, for tools (the config fuzzer)
/// and for the refusals of values of the wrong type.
pub const BOUNDS: &[Bound] = &[
    EAL_MEMORY_MB,
    MAIN_LCORE,
    WORKER_LCORE,
    BURST,
    RX_DESC,
    TX_DESC,
    MBUFS,
    FLOW_TABLE_SIZE,
    FLOW_TABLE_SIZE_V6,
    IDLE_TIMEOUT_S,
    EVENT_QUEUE,
    TX_DRAIN_US,
    MAX_RULES,
    INSERTS_PER_SEC,
    TICK_MS,
    PROMOTE_PPS,
    DEMOTE_PPS,
    HOLD,
    EWMA_ALPHA,
    EVICT_MARGIN,
    BACKOFF_MS,
    RATE_LIMIT_PPS,
    RATE_LIMIT_BPS,
    VLAN,
];

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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EalSection {
    /// Extra EAL arguments. flowlift adds the lcore list, `-m`, the port devices
    /// and a private `--file-prefix` unless these already say otherwise.
    pub args: Vec<String>,
    /// EAL memory in MB (`-m`); 0 sizes it from the mbuf pool.
    pub memory_mb: u32,
    /// Lock memory in RAM (`mlockall`, as dpdk-testpmd does unless
    /// `--no-mlockall`): EAL's once it is up, the workers' tables once built;
    /// no page faults on the workers.
    pub mlockall: bool,
}

impl Default for EalSection {
    fn default() -> Self {
        EalSection {
            args: Vec::new(),
            memory_mb: 0,
            mlockall: true,
        }
    }
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
            socket: "/run/flowlift/flowlift.sock".into(),
            metrics: "127.0.0.1:9464".into(),
        }
    }
}

/// `[log]`: how much the appliance logs (where to: `--log-format`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// The least severe level logged, for every target (`flowlift run
    /// --log-level` overrides it; `RUST_LOG` adds to it).
    pub level: LogLevel,
}

/// A log level, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// Every level, most severe first, as the config and `--log-level`
    /// spell them.
    pub const NAMES: [&'static str; 5] = ["error", "warn", "info", "debug", "trace"];

    /// The level's name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        const ALL: [LogLevel; 5] = [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ];
        ALL.into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("{s:?}: expected one of {}", LogLevel::NAMES.join(", ")))
    }
}

/// Which NIC carries offloaded flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// A NIC with rte_flow rules: mlx5, ice, ..., and the NIC model
    /// `net_flowlift`, which is driven exactly as mlx5 is.
    #[default]
    RteFlow,
    /// No offload: workers carry everything.
    None,
}

impl BackendKind {
    /// The name used in the config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::RteFlow => "rte_flow",
            BackendKind::None => "none",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rte_flow" => Ok(BackendKind::RteFlow),
            "none" => Ok(BackendKind::None),
            "emulated" => Err(EMULATED_GONE.to_string()),
            other => Err(format!(
                "unknown offload backend {other:?}: use rte_flow or none"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for BackendKind {
    /// As the command line's `--offload` reads it (one message for both).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The answer to the backend that was: the NIC model is a DPDK device now.
pub const EMULATED_GONE: &str = "the emulated backend is gone: the NIC model is the net_flowlift PMD, driven through rte_flow like any NIC (device = \"net_flowlift0,wire=FILE,representor=vf[0-3]\", see docs/model-nic.md); use rte_flow or none";

/// `[offload]`: which flows go to the NIC, and when.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OffloadSection {
    /// `rte_flow` or `none`.
    pub backend: BackendKind,
    /// Rules flowlift keeps on the NIC at most (its budget of the NIC's
    /// table; the NIC's own refusals, ENOSPC, are handled too).
    pub max_rules: u32,
    /// Rule insertions per second flowlift makes at most (a NIC's insertion
    /// rate is finite; EBUSY/EAGAIN past it are handled too).
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
    /// `[[offload.policy]]` as written; validation moves them to
    /// [`Config::offload_policies`].
    #[serde(rename = "policy")]
    policies: Vec<RawOffloadPolicy>,
}

impl OffloadSection {
    /// The engine's thresholds from this section, with the idle timeout in
    /// TSC ticks.
    pub fn params(&self, idle_tsc: u64) -> OffloadParams {
        OffloadParams {
            max_rules: self.max_rules as usize,
            promote_pps: self.promote_pps,
            demote_pps: self.demote_pps,
            hold: self.hold,
            ewma_alpha: self.ewma_alpha,
            evict_margin: self.evict_margin,
            changes_per_sec: f64::from(self.inserts_per_sec.max(1)),
            backoff_ticks: u64::from(self.backoff_ms.div_ceil(self.tick_ms.max(1))).max(1),
            idle_tsc,
        }
    }
}

impl Default for OffloadSection {
    fn default() -> Self {
        OffloadSection {
            backend: BackendKind::RteFlow,
            max_rules: 1024,
            inserts_per_sec: 20_000,
            tick_ms: 100,
            promote_pps: 1000.0,
            demote_pps: 100.0,
            hold: 3,
            ewma_alpha: 0.5,
            evict_margin: 1.5,
            backoff_ms: 500,
            policies: Vec::new(),
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
    #[serde(default)]
    replay: Option<String>,
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
    #[serde(default)]
    log: LogSection,
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
    /// A VF's own traffic (`replay = FILE`): the capture its VM sends,
    /// played by the NIC model into its switch at the VF's port as the
    /// uplink's wire is played (as many times); see [`Config::lower_vf_replays`].
    pub replay: Option<std::path::PathBuf>,
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
    pub log: LogSection,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: one_line(&path.display().to_string()),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            let message = one_line(e.message().trim());
            ConfigError::Syntax {
                origin: one_line(origin),
                line,
                column,
                message: match e.span().and_then(|s| key_at(text, s.start)) {
                    Some(at) => at.explain(&message),
                    None => message,
                },
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

    /// What the workers decide new flows by: the rules, then the MAC table
    /// of the VFs with the miss actions.
    pub fn forwarding_policy(&self) -> Policy {
        let vfs: Vec<_> = self
            .ports
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, p)| (p.mac.expect("validated: VFs have MACs"), PortIdx(i as u16)))
            .collect();
        let l2 = L2Table::new(
            PortIdx(0),
            &vfs,
            self.dataplane.unknown_unicast.into(),
            self.dataplane.broadcast.into(),
        );
        Policy::new(self.rules.clone(), l2)
    }

    /// The built-in demo: the NIC model's PF `net_flowlift0` replaying
    /// `capture` from memory on its wire, and four VFs `vf1`..`vf4` (MACs
    /// 02:00:00:00:00:01..04) on its representors `vf0`..`vf3`, offloaded
    /// through rte_flow; what each VF receives is written to
    /// `<dir>/<name>.pcap` (and `-offloaded.pcap`) when `capture_dir` is given.
    pub fn demo(capture: &Path, capture_dir: Option<&Path>) -> Config {
        let pf = "net_flowlift0";
        let mut ports = vec![PortSpec {
            name: "uplink".into(),
            role: Role::Uplink,
            mac: Some(MacAddr([2, 0, 0, 0, 0, 0xfe])),
            device: format!(
                "{pf},wire={},loops=0,representor=vf[0-3]",
                capture.display()
            ),
            rate_limit: None,
            replay: None,
        }];
        for i in 1..=4u8 {
            ports.push(PortSpec {
                name: format!("vf{i}"),
                role: Role::Vf,
                mac: Some(MacAddr([2, 0, 0, 0, 0, i])),
                device: format!("{pf}_representor_vf{}", i - 1),
                rate_limit: None,
                replay: None,
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
                ..EalSection::default()
            },
            dataplane: DataplaneSection::default(),
            ports,
            rules: Vec::new(),
            offload: OffloadSection::default(),
            offload_policies: Vec::new(),
            control: ControlSection::default(),
            log: LogSection::default(),
        };
        if let Some(dir) = capture_dir {
            cfg.capture_vfs_to(dir);
        }
        cfg
    }

    /// `--capture-dir DIR`: what each VF receives goes to `DIR/<name>.pcap`.
    /// On the NIC model's PF the PMD writes the files (`capture_dir=`):
    /// `<name>.pcap` what the host sent on the VF's representor,
    /// `<name>-offloaded.pcap` what the NIC's rules delivered to it, and
    /// `uplink.pcap` / `uplink-offloaded.pcap` what left by the uplink (sent
    /// by the host, switched by the rules). Any other VF device is replaced
    /// with a `net_pcap` writing `<name>.pcap`.
    pub fn capture_vfs_to(&mut self, dir: &Path) {
        if crate::model_nic::is_pf(self.ports[0].dpdk_name()) {
            let mut device = crate::model_nic::with_devarg(
                &self.ports[0].device,
                "capture_dir",
                &dir.display().to_string(),
            );
            for p in &self.ports[1..] {
                if let Some((_, vf)) = crate::model_nic::representor(p.dpdk_name()) {
                    device =
                        crate::model_nic::with_devarg(&device, &format!("vf{vf}_name"), &p.name);
                }
            }
            self.ports[0].device = device;
            return;
        }
        for (i, p) in self.ports.iter_mut().enumerate().skip(1) {
            p.device = format!(
                "net_pcap_cap{i},tx_pcap={}",
                dir.join(format!("{}.pcap", p.name)).display()
            );
        }
    }

    /// Replaces the uplink's device with a `net_pcap` replaying `pcap`; from memory
    /// in a loop (`infinite_rx=1`) unless it is played exactly once. On the NIC
    /// model's PF, sets its wire instead (`wire=`, `loops=`; 0 is forever),
    /// keeping its representors and other devargs.
    pub fn replay_on_uplink(&mut self, pcap: &Path, loops: u64) {
        if crate::model_nic::is_pf(self.ports[0].dpdk_name()) {
            self.ports[0].device = crate::model_nic::with_wire(&self.ports[0].device, pcap, loops);
            // The VFs' replays play as many times as the uplink's.
            self.lower_vf_replays();
            return;
        }
        let infinite = if loops == 1 { "" } else { ",infinite_rx=1" };
        self.ports[0].device = format!("net_pcap_replay,rx_pcap={}{infinite}", pcap.display());
    }

    /// Puts each VF's `replay` on the uplink's device, the NIC model's PF:
    /// `vfN_wire=FILE` (VF N of its representor) and `vfN_loops=` the
    /// uplink's `loops`, so that the VM's traffic plays as many times as the
    /// wire's. Idempotent; run again after `--replay`/`--loops` change the
    /// uplink's. Ports `validate::check_replay` refuses are left alone.
    pub fn lower_vf_replays(&mut self) {
        let Some(up) = self.ports.first() else {
            return;
        };
        let Ok(d) = crate::model_nic::devargs(&up.device) else {
            return;
        };
        let mut device = up.device.clone();
        for p in &self.ports[1..] {
            let (Some(path), Some((pf, vf))) =
                (&p.replay, crate::model_nic::representor(p.dpdk_name()))
            else {
                continue;
            };
            if pf != up.dpdk_name() {
                continue;
            }
            device = crate::model_nic::with_devarg(
                &device,
                &format!("vf{vf}_wire"),
                &path.to_string_lossy(),
            );
            device = crate::model_nic::with_devarg(
                &device,
                &format!("vf{vf}_loops"),
                &d.loops.to_string(),
            );
        }
        self.ports[0].device = device;
    }

    /// The ports whose arriving traffic passes the uplink's NIC's rules, by
    /// [`PortIdx`]: the uplink, and each VF on one of its PF's representors
    /// (a switchdev NIC hands a VF's traffic to its switch, where a
    /// `transfer` rule on the PF matches it by the representor's port). A
    /// VF on any other device reaches the host by a path no rule sees.
    pub fn nic_in_ports(&self) -> Vec<bool> {
        let up = self.uplink();
        let pf = up.dpdk_name();
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                i == 0
                    || p.dpdk_name()
                        .split_once("_representor_")
                        .is_some_and(|(of, what)| of == pf && !what.is_empty())
            })
            .collect()
    }
}

/// Where in the file a TOML or type error points: the key, and the value as
/// written when the error is about the value.
#[derive(Debug, PartialEq)]
struct KeyAt {
    /// `dataplane.flow_table_size`, or `port #2: mac` in an array of tables.
    shown: String,
    /// The key without table numbers (`port.mac`), to look its range up.
    generic: String,
    value: Option<String>,
}

impl KeyAt {
    /// The error `message` (TOML's or serde's) with the key in front and,
    /// where the key's allowed values are known, those too.
    fn explain(&self, message: &str) -> String {
        match (&self.value, expected(&self.generic)) {
            (Some(value), Some(want)) => {
                // serde's words for a value of the wrong type or range (and
                // for untagged enums) say less than the allowed values do.
                if message.starts_with("data did not match any variant")
                    || message.starts_with("invalid type")
                    || message.starts_with("invalid value")
                {
                    format!("{} = {value}: must be {want}", self.shown)
                } else {
                    format!("{} = {value}: must be {want} ({message})", self.shown)
                }
            }
            _ => format!("{}: {message}", self.shown),
        }
    }
}

/// The key whose line holds `offset`: the table from the last header above
/// it, the key from the last `key =` at or above it (a value may span lines).
/// The same reading the config's own layout allows, not a TOML parser: it
/// only names what the parser refused.
fn key_at(text: &str, offset: usize) -> Option<KeyAt> {
    let offset = before(text, offset).len();
    let line_no = text[..offset].matches('\n').count();
    let lines: Vec<&str> = text.lines().collect();
    let mut table = String::new();
    let mut ordinal = 0usize;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut array = false;
    let mut key_line: Option<usize> = None;
    for (i, raw_line) in lines.iter().enumerate().take(line_no + 1) {
        let line = raw_line.trim();
        if let Some(h) = line.strip_prefix("[[") {
            table = h.split("]]").next().unwrap_or("").trim().to_owned();
            let n = counts.entry(table.clone()).or_default();
            *n += 1;
            ordinal = *n;
            array = true;
            key_line = None;
        } else if let Some(h) = line.strip_prefix('[') {
            table = h.split(']').next().unwrap_or("").trim().to_owned();
            array = false;
            key_line = None;
        } else if line.split_once('=').is_some_and(|(k, _)| {
            // A key as written (bare, dotted or quoted), not a string
            // holding '=' in a value that spans lines.
            !k.trim().is_empty()
                && k.trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
        }) {
            key_line = Some(i);
        }
    }
    let table_shown = if array {
        format!("{table} #{ordinal}")
    } else {
        table.clone()
    };
    let Some(k) = key_line else {
        // On a header line: the table itself.
        if table.is_empty() {
            return None;
        }
        return Some(KeyAt {
            shown: table_shown,
            generic: table,
            value: None,
        });
    };
    let line = lines[k];
    let eq = line.find('=')?;
    let key = line[..eq]
        .trim()
        .trim_matches('"')
        .trim_matches('\'')
        .to_owned();
    let line_start = text.lines().take(k).map(|l| l.len() + 1).sum::<usize>();
    let on_value = k < line_no || offset >= line_start + eq;
    let value = on_value.then(|| {
        let v = line[eq + 1..].trim();
        let v = v.split(" #").next().unwrap_or(v).trim();
        if v.chars().count() > 48 {
            format!(
                "{}... ({} characters)",
                v.chars().take(48).collect::<String>(),
                v.chars().count()
            )
        } else {
            v.to_owned()
        }
    });
    let (shown, generic) = match (table.is_empty(), array) {
        (true, _) => (key.clone(), key),
        (false, true) => (format!("{table_shown}: {key}"), format!("{table}.{key}")),
        (false, false) => (format!("{table}.{key}"), format!("{table}.{key}")),
    };
    Some(KeyAt {
        shown,
        generic,
        value,
    })
}

/// The values a key takes, in words, for the refusal of one of the wrong
/// type: the numeric ones from [`BOUNDS`], the rest spelled out.
fn expected(generic: &str) -> Option<String> {
    let last = generic.rsplit('.').next().unwrap_or(generic);
    let in_array = generic.starts_with("port.")
        || generic.starts_with("rule.")
        || generic.starts_with("offload.policy.");
    let bound_key = if in_array { last } else { generic };
    if bound_key == WORKER_LCORE.key {
        // The bound is each element's.
        return Some(format!(
            "an array of lcore ids, each {}",
            WORKER_LCORE.range()
        ));
    }
    if let Some(b) = BOUNDS.iter().find(|b| b.key == bound_key) {
        let kind = if b.integer { "an integer" } else { "a number" };
        return Some(format!("{kind} in {} ({})", b.range(), b.why));
    }
    let text = match (in_array, last) {
        (false, "args") => "an array of strings (EAL arguments)".into(),
        (false, "socket") => format!("a path of 1..={MAX_SOCKET_PATH} bytes"),
        (false, "metrics") => "\"\" (off) or HOST:PORT such as \"127.0.0.1:9464\"".into(),
        (false, "no_space_every" | "busy_every" | "query_every") => {
            "an integer in 0..=4294967295 (0: never)".into()
        }
        (true, "name") => format!("a string of 1..={MAX_PORT_NAME} letters, digits, '-' or '_'"),
        (true, "mac" | "src_mac" | "dst_mac") => {
            "a MAC address such as \"02:00:00:00:00:01\"".into()
        }
        (true, "device") => "a DPDK device string such as \"net_null1,no-rx=1\"".into(),
        (true, "replay") => format!("a path to a pcap file, 1..={MAX_REPLAY_PATH} bytes"),
        (true, "rate_burst") => "an integer: packets or bytes a quiet VF may take at once".into(),
        (true, "priority") => "an integer in -2147483648..=2147483647".into(),
        (true, "in_port") => "a port name".into(),
        (true, "src" | "dst") => "an IP prefix such as \"10.0.0.0/8\"".into(),
        (true, "proto") => "tcp, udp, sctp, icmp, icmp6 or a protocol number 0..=255".into(),
        (true, "sport" | "dport") => "a port 0..=65535 or a range such as \"1000-2000\"".into(),
        (true, "action") => "\"drop\" or \"output:PORT\"".into(),
        _ => return None,
    };
    Some(text)
}

/// The text before `offset`, cut at a character boundary: an error's offset
/// must never be what makes the refusal panic.
fn before(text: &str, offset: usize) -> &str {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = before(text, offset);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

impl Config {
    /// Checks the files the ports name: every `rx_pcap=` a readable file,
    /// every `tx_pcap=` in a directory that exists (the PMD creates it).
    pub fn check_files(&self) -> Result<(), String> {
        self.check_plugin_dirs()?;
        for p in &self.ports {
            if let Some(path) = &p.replay {
                check_replay_file(p, path)?;
            }
        }
        for p in &self.ports {
            if crate::model_nic::is_pf(p.dpdk_name()) {
                check_model_files(p)?;
                continue;
            }
            if !p.dpdk_name().starts_with("net_pcap") {
                continue;
            }
            for arg in p.device.split(',').skip(1) {
                let Some((key, value)) = arg.split_once('=') else {
                    continue;
                };
                let path = Path::new(value);
                match key {
                    "rx_pcap" => {
                        if let Err(e) = std::fs::File::open(path) {
                            return Err(format!("port {}: rx_pcap {}: {e}", p.name, quoted(value)));
                        }
                        if path.is_dir() {
                            return Err(format!(
                                "port {}: rx_pcap {} is a directory",
                                p.name,
                                quoted(value)
                            ));
                        }
                    }
                    "tx_pcap" => {
                        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                        if dir.is_some_and(|d| !d.is_dir()) || path.is_dir() {
                            return Err(format!(
                                "port {}: tx_pcap {}: no such directory to write it in",
                                p.name,
                                quoted(value)
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Refuses a `-d DIR` of `[eal] args` that holds the NIC model's PMD: EAL
    /// loads every shared object of a plugin directory (a file named in `-d`
    /// is refused by the config check itself).
    fn check_plugin_dirs(&self) -> Result<(), String> {
        for path in crate::model_nic::plugin_paths(&self.eal.args) {
            let Ok(entries) = std::fs::read_dir(path) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if crate::model_nic::is_plugin_file(&name) {
                    return Err(crate::model_nic::plugin_refusal(&format!(
                        "{} (which holds {name})",
                        quoted(path)
                    )));
                }
            }
        }
        Ok(())
    }

    /// What the appliance allocates at start-up outside EAL, by the setting
    /// that asks for it (largest first): each worker's flow tables, counters
    /// and event queue. What grows later
    /// with traffic (the control core's flow records) is not counted.
    pub fn memory_at_start(&self) -> Vec<MemoryUse> {
        use flowlift_dataplane::flow::{FlowId, KeyV4, KeyV6};
        use flowlift_dataplane::flowstate::{FlowCounter, FlowEvent};
        use flowlift_dataplane::policy::FlowAction;
        use flowlift_dataplane::table::CuckooTable;
        use std::mem::size_of;
        let dp = &self.dataplane;
        let workers = dp.worker_lcores.len() as u64;
        // Per flow slot, beside the table: its counters, its cached action,
        // and its place in the list of flows whose event waits for room.
        let per_slot =
            (size_of::<FlowCounter>() + size_of::<FlowAction>() + size_of::<FlowId>()) as u64;
        // Sizes past the table's limit are refused anyway; count them as too
        // large for any machine.
        let table = |bytes: Option<usize>, capacity: Option<usize>| match (bytes, capacity) {
            (Some(b), Some(c)) => b as u64 + c as u64 * per_slot,
            _ => u64::MAX / 4,
        };
        let v4 = dp.flow_table_size as usize;
        let v6 = dp.flow_table_size_v6 as usize;
        // crossbeam's bounded channel: one slot per message, a stamp beside it.
        let event_slot = (size_of::<FlowEvent>() + size_of::<usize>()) as u64;
        let mut out = vec![
            MemoryUse {
                key: FLOW_TABLE_SIZE.key,
                value: dp.flow_table_size.into(),
                what: format!("{workers} worker(s)' IPv4 tables and counters"),
                bytes: workers.saturating_mul(table(
                    CuckooTable::<KeyV4>::memory_for(v4),
                    CuckooTable::<KeyV4>::capacity_for(v4),
                )),
            },
            MemoryUse {
                key: FLOW_TABLE_SIZE_V6.key,
                value: dp.flow_table_size_v6.into(),
                what: format!("{workers} worker(s)' IPv6 tables and counters"),
                bytes: workers.saturating_mul(table(
                    CuckooTable::<KeyV6>::memory_for(v6),
                    CuckooTable::<KeyV6>::capacity_for(v6),
                )),
            },
            MemoryUse {
                key: EVENT_QUEUE.key,
                value: dp.event_queue.into(),
                what: format!("{workers} worker(s)' event queues"),
                bytes: workers * u64::from(dp.event_queue) * event_slot,
            },
        ];
        out.sort_by_key(|m| std::cmp::Reverse(m.bytes));
        out
    }

    /// The config with the memory setting `key` (one of those
    /// [`Config::memory_at_start`] names) set to `value`.
    pub fn with_memory_setting(&self, key: &str, value: u32) -> Config {
        let mut c = self.clone();
        match key {
            k if k == FLOW_TABLE_SIZE.key => c.dataplane.flow_table_size = value,
            k if k == FLOW_TABLE_SIZE_V6.key => c.dataplane.flow_table_size_v6 = value,
            k if k == EVENT_QUEUE.key => c.dataplane.event_queue = value,
            k if k == MAX_RULES.key => c.offload.max_rules = value,
            _ => {}
        }
        c
    }
}

/// Memory the appliance allocates at start-up for one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryUse {
    /// The setting that asks for it (`dataplane.flow_table_size`).
    pub key: &'static str,
    pub value: u64,
    /// What the bytes are for.
    pub what: String,
    pub bytes: u64,
}

/// A VF's `replay` capture: a readable pcap file (its header read; the
/// frames are counted when the run sizes its mbufs).
fn check_replay_file(p: &PortSpec, path: &Path) -> Result<(), String> {
    let shown = quoted(&path.to_string_lossy());
    let file =
        std::fs::File::open(path).map_err(|e| format!("port {}: replay {shown}: {e}", p.name))?;
    if path.is_dir() {
        return Err(format!("port {}: replay {shown} is a directory", p.name));
    }
    pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file))
        .map(drop)
        .map_err(|e| format!("port {}: replay {shown} is not a pcap capture: {e}", p.name))
}

/// The files a NIC model's PF names: its wires (read at probe) must be
/// readable files, its `capture_dir` an existing directory (the PMD
/// creates its files in it at probe). The PMD would refuse the same at probe,
/// with the reason only in EAL's log.
fn check_model_files(p: &PortSpec) -> Result<(), String> {
    // The device's devargs were checked with the port.
    let Ok(d) = crate::model_nic::devargs(&p.device) else {
        return Ok(());
    };
    for wire in crate::model_nic::wires(&d) {
        let shown = quoted(&wire.display().to_string());
        if let Err(e) = std::fs::File::open(&wire) {
            return Err(format!("port {}: wire capture {shown}: {e}", p.name));
        }
        if wire.is_dir() {
            return Err(format!(
                "port {}: wire capture {shown} is a directory",
                p.name
            ));
        }
    }
    if let Some(dir) = &d.vf_capture_dir {
        if !dir.is_dir() {
            return Err(format!(
                "port {}: capture_dir {}: no such directory",
                p.name,
                quoted(&dir.display().to_string())
            ));
        }
    }
    Ok(())
}

/// The number of TX queues a `net_pcap` device offers (one per `tx_pcap=`,
/// `tx_iface=` or `iface=`; without any, one dropping queue per RX queue), or
/// `None` for other drivers, whose queues only EAL can tell.
pub fn pcap_tx_queues(device: &str) -> Option<usize> {
    let name = device.split(',').next().unwrap_or("");
    if !name.starts_with("net_pcap") {
        return None;
    }
    let keys: Vec<&str> = device
        .split(',')
        .skip(1)
        .map(|a| a.split_once('=').map_or(a, |(k, _)| k))
        .collect();
    let count = |names: &[&str]| keys.iter().filter(|k| names.contains(k)).count();
    let tx = count(&["tx_pcap", "tx_iface", "iface"]);
    Some(if tx > 0 {
        tx
    } else {
        count(&["rx_pcap", "rx_iface", "rx_iface_in"])
    })
}

/// `s` on one line: a message must stay one line whatever the config holds.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` quoted, cut to 48 characters: a refusal names a value, it need not
/// repeat a long one.
fn quoted(s: &str) -> String {
    const SHOWN: usize = 48;
    if s.chars().count() <= SHOWN {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(SHOWN).collect();
        format!("{head:?}... ({} characters)", s.chars().count())
    }
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

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
