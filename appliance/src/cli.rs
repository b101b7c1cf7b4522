//! The command line of the `flowlift` binary, apart from it so that the man
//! page and the shell completions are generated from the same definitions.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use flowlift_config::LogLevel;
use flowlift_dataplane::mac::MacAddr;

use crate::logging::LogFormat;

/// A DPDK fast-path dataplane that offloads hot flows to the NIC.
// (`about` is this comment, not the crate's description: --help and the man
// page's NAME line say what the program is.)
#[derive(Debug, Parser)]
#[command(name = "flowlift", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What the binary is asked to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance (with no --config: the built-in demo on virtual devices).
    Run {
        /// TOML configuration (see flowlift.example.toml).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
        duration: Option<f64>,
        /// Replay this pcap on the uplink (a net_pcap device).
        #[arg(long, value_name = "PCAP")]
        replay: Option<PathBuf>,
        /// Times to replay it; 0 = forever, from memory. With N > 0 the appliance
        /// stops by itself once the capture is consumed.
        #[arg(
            long,
            value_name = "N",
            default_value_t = 1,
            requires = "replay",
            allow_negative_numbers = true
        )]
        loops: u64,
        /// Write each VF's output to DIR/<port name>.pcap.
        #[arg(long, value_name = "DIR")]
        capture_dir: Option<PathBuf>,
        /// Seconds between status lines.
        #[arg(
            long,
            value_name = "SECS",
            default_value_t = 1.0,
            allow_negative_numbers = true
        )]
        status_every: f64,
        /// Write one JSON object per line for each flow when it ends (idle expiry
        /// or exit).
        #[arg(long, value_name = "FILE")]
        flow_log: Option<PathBuf>,
        /// Offload backend, overriding [offload] backend: rte_flow (any NIC
        /// with flow rules, the NIC model net_flowlift included) or none.
        #[arg(long, value_name = "BACKEND")]
        offload: Option<String>,
        /// Rules the NIC may hold, overriding [offload] max_rules.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        max_rules: Option<u32>,
        /// Promote flows at or above this many packets per second.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        promote_pps: Option<f64>,
        /// Demote offloaded flows at or below this many packets per second.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        demote_pps: Option<f64>,
        /// Milliseconds between offload ticks.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        tick_ms: Option<u32>,
        /// The shell on this terminal (testpmd's -i); no periodic status line.
        #[arg(long, short = 'i')]
        interactive: bool,
        /// The control socket (default: [control] socket, /run/flowlift/flowlift.sock).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Serve /metrics here (default: [control] metrics, 127.0.0.1:9464; "" = off).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
        /// Check the config and the options, print the EAL command line, and
        /// exit without starting anything.
        #[arg(long)]
        check_config: bool,
        /// Leave memory pageable: no mlockall at start-up (testpmd's
        /// --no-mlockall; the config's [eal] mlockall).
        #[arg(long)]
        no_mlockall: bool,
        /// Where the log goes: the systemd journal (the default when stderr
        /// is the journal's stream), else text or JSON lines on stderr (the
        /// default: text).
        #[arg(long, value_name = "FORMAT", value_enum)]
        log_format: Option<LogFormat>,
        /// The least severe level logged, for every target (offload, ports,
        /// control, shell) [default: [log] level, else info; info means warn
        /// for text on a terminal, whose stdout says the same]. RUST_LOG, when
        /// set, adds its directives on top (RUST_LOG=offload=debug: that
        /// target at debug, the rest at this level); a bare level in it
        /// (RUST_LOG=debug) replaces this one.
        #[arg(long, value_name = "LEVEL", value_parser = log_level())]
        log_level: Option<LogLevel>,
    },
    /// Talk to a running appliance through its control socket.
    Shell {
        /// The control socket.
        #[arg(
            long,
            value_name = "PATH",
            default_value = "/run/flowlift/flowlift.sock"
        )]
        socket: PathBuf,
        /// Run one command, print its answer and exit (non-zero if refused).
        #[arg(short = 'c', value_name = "CMD")]
        command: Option<String>,
    },
    /// Write a pcap of N flows with Zipf-distributed packet counts.
    GenTraffic {
        /// Output file.
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Distinct flows.
        #[arg(long, default_value_t = 1000)]
        flows: u32,
        /// Packets in all (at least one per flow).
        #[arg(long, default_value_t = 10_000)]
        packets: u64,
        /// Zipf exponent (larger: heavier head).
        #[arg(long, default_value_t = 1.1)]
        zipf: f64,
        /// Share of IPv6 flows, 0..=1.
        #[arg(long, default_value_t = 0.2)]
        ipv6_share: f64,
        /// Share of TCP flows, 0..=1 (the rest UDP).
        #[arg(long, default_value_t = 0.5)]
        tcp_share: f64,
        /// Frame length in bytes without FCS (at least the headers).
        #[arg(long, default_value_t = 60)]
        frame_len: usize,
        /// Destination MACs (the VFs'), comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "02:00:00:00:00:01,02:00:00:00:00:02,02:00:00:00:00:03,02:00:00:00:00:04"
        )]
        dst_macs: Vec<MacAddr>,
        /// Seed; the same arguments and seed give the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// `--log-level`'s values, as the config spells them.
fn log_level() -> impl TypedValueParser<Value = LogLevel> {
    PossibleValuesParser::new(LogLevel::NAMES).map(|s| s.parse().unwrap_or_default())
}
