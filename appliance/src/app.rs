//! `flowlift run`: the appliance process. Sets up EAL, the mbuf pool and the ports
//! from the config, launches one poll-mode worker per worker lcore, puts the
//! offload engine on the uplink's NIC through rte_flow (any NIC with flow
//! rules; here the NIC model `net_flowlift`, a PMD driven exactly as mlx5 is),
//! runs the control loop on the main lcore (flow events, the offload tick,
//! idle expiry, the status line), and on `--duration`, SIGINT, SIGTERM or the
//! end of a finite replay stops in stages so that no packet goes uncounted:
//! traffic in, then the workers, then every rule (its final counters folded
//! in); prints the final counters and closes the ports (which flushes capture
//! files).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use flowlift_dataplane::flowstate::FlowCounters;
use flowlift_dataplane::lcore::{LcoreSignal, LcoreState};
use flowlift_dataplane::meter::RateMeter;
use flowlift_dataplane::stats::WorkerStats;
use flowlift_dataplane::worker::{RxAssignment, WorkerSetup};
use flowlift_dataplane::PortIdx;
use flowlift_dataplane::Tsc;
use rte::{Eal, LcoreId, Mempool, Port, PortConfig, RxQueue, TxQueue};

use crate::logging::LogOptions;
use crate::notify::Notifier;
use crate::signals::StopRequest;
use crossbeam_channel::Receiver;
use flowlift_config::{BackendKind, CommandLine, Config, OffloadOverrides};
use flowlift_offload::fleet::{requested_state, set_state, DpdkWorker, FlowKeeper, WorkerHandle};
use flowlift_offload::flowlog::{FlowLog, TscClock};
use flowlift_offload::manager::{Offloader, PortPlan};
use flowlift_offload::meters::VfLimit;
use flowlift_offload::rte_flow::RteFlowBackend;
use flowlift_offload::static_rules::StaticTaken;
use flowlift_offload::OffloadBackend;
use flowlift_operator::counters::Snapshot;
use flowlift_operator::metrics::{ControlSnapshot, MetricsServer, Sources};
use flowlift_operator::report::{
    final_report, flow_report, offload_report, percent, stage_lines, status_line, worker_lines,
    FlowFigures, OffloadFigures, PortLabel,
};
use flowlift_operator::shell::exec::{Appliance, ShellState};
use flowlift_operator::shell::reload::ReloadSource;
use flowlift_operator::shell::socket::{request_channel, ControlSocket, Request};
use flowlift_traffic::demo_capture::{self, cached_capture};
use flowlift_traffic::TrafficSpec;

/// What `flowlift run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The config file; `None` runs the built-in demo.
    pub config: Option<PathBuf>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Replace the uplink with a `net_pcap` replaying this capture.
    pub replay: Option<PathBuf>,
    /// Times to replay it; 0 = forever, from memory.
    pub loops: u64,
    /// Write each VF's output to `<dir>/<port name>.pcap`.
    pub capture_dir: Option<PathBuf>,
    /// Seconds between status lines.
    pub status_every: Duration,
    /// Write one JSON line per flow when it ends to this file.
    pub flow_log: Option<PathBuf>,
    /// Command-line overrides of `[offload]`.
    pub offload: OffloadOverrides,
    /// `-i`: the shell on this terminal (no periodic status line).
    pub interactive: bool,
    /// The control socket, overriding `[control] socket`.
    pub socket: Option<PathBuf>,
    /// The /metrics address, overriding `[control] metrics` ("" turns it off).
    pub metrics: Option<String>,
    /// Check the config and options, print the EAL command line, stop there.
    pub check_config: bool,
    /// `--no-mlockall`: leave memory pageable whatever `[eal] mlockall` says.
    pub no_mlockall: bool,
    /// `--log-format`, `--log-level`.
    pub log: LogOptions,
}

/// Why the appliance stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Signal,
    Duration,
    ReplayDone,
    ReplayStalled,
    /// `quit` from a shell.
    Quit,
    /// `--check-config`: nothing was started.
    ConfigChecked,
}

/// How long a finite replay may go without receiving a packet before flowlift
/// gives up on it (a capture the PMD cannot read to the end).
const REPLAY_STALL: Duration = Duration::from_secs(5);

/// Commands (evictions) the control core may queue for one worker.
const COMMAND_QUEUE: usize = 4096;

/// How often the control core looks for idle flows.
const IDLE_SCAN: Duration = Duration::from_millis(100);

/// How often the main lcore checks for the end of the run.
const TICK: Duration = Duration::from_millis(20);

/// Packets in the built-in demo's capture, and its flows.
const DEMO_PACKETS: u64 = 65_536;
const DEMO_FLOWS: u32 = 10_000;

/// The ports, opened and started, with what the reports call them.
struct OpenPorts {
    ports: Vec<Port>,
    labels: Vec<PortLabel>,
}

/// Runs the appliance; returns why it stopped. Output goes to `out`.
pub fn run(opts: &RunOptions, out: &mut dyn Write) -> anyhow::Result<StopReason> {
    // net_flowlift is built in: this reference links the PMD's registration
    // into whatever runs the appliance (see `rte_net_flowlift::link` for why
    // an rlib's constructor needs one), so `--vdev net_flowlift0,...` works
    // without `-d`.
    rte_net_flowlift::link();
    let stop = Arc::new(StopRequest::default());
    crate::signals::watch(Arc::clone(&stop))?;

    let mut banner = None;
    let mut cfg = match &opts.config {
        Some(path) => Config::load(path)?,
        None => {
            let spec = TrafficSpec {
                flows: DEMO_FLOWS,
                packets: DEMO_PACKETS,
                ..TrafficSpec::default()
            };
            let capture = cached_capture(&spec, &demo_capture::cache_dir())?;
            if opts.replay.is_none() {
                banner = Some(format!(
                    "flowlift demo: uplink replays {DEMO_PACKETS} packets of {DEMO_FLOWS} flows (Zipf 1.1) from memory to vf1..vf4; Ctrl-C stops"
                ));
            }
            Config::demo(&capture, None)
        }
    };
    let (command_line, budget) = command_line(opts, &cfg)?;
    command_line.apply(&mut cfg)?;
    // As soon as the config's [log] level is known: nothing is logged
    // before (a refusal until here is the binary's one error line).
    crate::logging::init(opts.log, cfg.log.level)?;
    if let Some(b) = banner {
        writeln!(out, "{b}")?;
    }
    // net_pcap writes one file per TX queue; the NIC model's captures take
    // every queue's frames.
    if opts.capture_dir.is_some()
        && !flowlift_config::model_nic::is_pf(cfg.uplink().dpdk_name())
        && cfg.dataplane.worker_lcores.len() > 1
    {
        bail!(
            "--capture-dir writes one file per VF, which one TX queue feeds: use one worker lcore"
        );
    }

    // Captures held in memory set the pool's size and its mbufs' size
    // (net_pcap's infinite_rx needs each frame in one mbuf).
    let in_memory = cfg
        .ports
        .iter()
        .filter_map(|p| flowlift_traffic::capture::infinite_rx_capture(&p.device))
        .map(|f| flowlift_traffic::capture::scan(&f).map(|s| (f, s)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The NIC model's captures stay in its own memory: they only set how
    // large the mbufs must be (`eal_args::model_data_room`).
    let model_wires = model_wires(&cfg)?;
    let wire_end = wire_end(&cfg, &model_wires)?;
    let workers = cfg.dataplane.worker_lcores.len() as u16;
    let pool =
        flowlift_config::eal_args::pool_shape(&cfg, u32::from(workers), &in_memory, &model_wires)?;
    let mbufs = pool.mbufs;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let args = flowlift_config::eal_args::eal_args(&cfg, pool, cpus);
    let in_memory_packets = in_memory.iter().map(|(_, scan)| scan.packets).sum();
    preflight(&cfg, pool, in_memory_packets, opts)?;
    if opts.check_config {
        writeln!(
            out,
            "config {}: OK: {} ports ({}), {} worker(s) on lcores {:?}, offload {}{}, {} mbufs\nEAL arguments: {}",
            opts.config
                .as_deref()
                .map_or("(built-in demo)".to_string(), |p| p.display().to_string()),
            cfg.ports.len(),
            cfg.ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
            cfg.dataplane.worker_lcores.len(),
            cfg.dataplane.worker_lcores,
            cfg.offload.backend.name(),
            if cfg.offload.backend == BackendKind::RteFlow {
                format!(" (up to {} rules)", cfg.offload.max_rules)
            } else {
                String::new()
            },
            mbufs,
            args.join(" ")
        )?;
        for line in replay_lines(&cfg, &model_wires) {
            writeln!(out, "{line}")?;
        }
        return Ok(StopReason::ConfigChecked);
    }
    // The control socket first: a path it refuses (a file, a live socket)
    // is one line before anything of DPDK starts. Commands sent while the
    // ports come up wait for the control loop.
    let (requests_tx, requests) = request_channel();
    let socket_path = opts
        .socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(&cfg.control.socket));
    let socket = ControlSocket::serve(&socket_path, requests_tx.clone())?;
    let control = ControlIn {
        socket,
        socket_path,
        requests_tx,
        requests,
        reload: ReloadSource {
            path: opts.config.clone(),
            command_line,
            set_log_level: crate::logging::set_config_level,
        },
    };
    let eal =
        Eal::init(&args).map_err(|e| anyhow::anyhow!("{e} (EAL arguments: {})", args.join(" ")))?;
    // EAL's memory (the bulk) now, before the ports start; the workers'
    // tables once built (`launch`).
    if cfg.eal.mlockall {
        lock_memory(out)?;
    }
    let end = ReplayEnd { budget, wire_end };
    let result = run_with_eal(&eal, &cfg, pool, end, opts, &stop, control, out);
    // Everything made from EAL is gone by now; should something still be (a
    // worker that never returned), EAL is left for the exit to reclaim, and
    // the operator is told.
    if let Err(refused) = eal.cleanup() {
        writeln!(out, "{refused}; left to the process exit")?;
    }
    result
}

/// What the command line changes in the config (paths made absolute, a
/// replay's capture checked), with the uplink's packet budget of a finite
/// `--replay` on a net_pcap uplink. Kept for reloads, which apply it again.
fn command_line(opts: &RunOptions, cfg: &Config) -> anyhow::Result<(CommandLine, Option<u64>)> {
    let capture_dir = match &opts.capture_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create capture dir {}", dir.display()))?;
            Some(
                dir.canonicalize()
                    .with_context(|| format!("capture dir {}", dir.display()))?,
            )
        }
        None => None,
    };
    let mut budget = None;
    let mut replay = None;
    // On the NIC model's PF, --replay sets its wire, which ends by itself
    // (see `WireEnd`); on any other uplink it becomes a net_pcap whose RX
    // queue the workers read `budget` packets from.
    let model_uplink = flowlift_config::model_nic::is_pf(cfg.uplink().dpdk_name());
    if let Some(pcap) = &opts.replay {
        let pcap = pcap
            .canonicalize()
            .with_context(|| format!("cannot open capture {}", pcap.display()))?;
        let scan = flowlift_traffic::capture::scan(&pcap)?;
        if !model_uplink {
            flowlift_config::eal_args::check_net_pcap_frames(&pcap, &scan)?;
        }
        let packets = scan.packets;
        if packets == 0 {
            bail!("capture {} holds no packet", pcap.display());
        }
        if opts.loops > 0 {
            let total = packets.checked_mul(opts.loops).with_context(|| {
                format!(
                    "--loops {}: must be 0 (forever) or 1..={}: the {packets} packets of the capture times the loops are counted in 64 bits",
                    opts.loops,
                    u64::MAX / packets
                )
            })?;
            if !model_uplink {
                budget = Some(total);
            }
        }
        replay = Some((pcap, opts.loops));
    }
    let line = CommandLine {
        offload: opts.offload.clone(),
        no_mlockall: opts.no_mlockall,
        capture_dir,
        replay,
    };
    Ok((line, budget))
}

/// Locks what is mapped in RAM, as dpdk-testpmd does: EAL's `-m` is faulted
/// in now, in address order, rather than page by page under the workers
/// (with `--no-huge` it is ordinary memory; measured in perf/README's cycle
/// budget, "memory locked at start-up"). A refusal is said and the run goes
/// on pageable, as testpmd's does.
fn lock_memory(out: &mut dyn Write) -> anyhow::Result<()> {
    if let Err(e) = rte::lock_current_memory() {
        writeln!(
            out,
            "memory not locked (mlockall: {e}): the workers may take page faults; raise the memlock limit (LimitMEMLOCK=infinity, ulimit -l unlimited) or grant CAP_IPC_LOCK, or say [eal] mlockall = false (--no-mlockall)"
        )?;
    }
    Ok(())
}

/// How a finite replay ends.
#[derive(Debug, Clone, Default)]
struct ReplayEnd {
    /// A `net_pcap` uplink (`--replay`): its RX queue delivers this many
    /// packets, which the workers take and no more.
    budget: Option<u64>,
    /// The NIC model's PF whose wires (the uplink's, the VFs') are all finite.
    wire_end: Option<WireEnd>,
}

/// The end of the NIC model's finite wires (`loops=N`, N > 0): the
/// uplink's, if it has one, and each VF's (`vfN_wire`, a VF port's
/// `replay`), each carrying its capture's packets × its loops and stopping by
/// itself. The run is over once every frame is off every wire and every
/// frame the switch left to a host (the PF's xstat `switch_to_host_packets`,
/// a representor's `vf_tx_to_host_packets`) has been taken from that port's
/// RX rings (its `ipackets`) and counted by the workers. That holds whatever
/// took frames on the way: rules, a paced wire's misses, frames too large
/// for the mbufs. Unpaced (no `rate_pps`) a wire waits for its host, so the
/// uplink's RX is then exactly its `frames` (with `--offload none`).
#[derive(Debug, Clone)]
struct WireEnd {
    /// The uplink's wire first (when it has one), then the VFs' in port order.
    wires: Vec<FiniteWire>,
    /// How long the wires may stand still before the run gives up on them:
    /// the replay's limit plus any stall the device injects (`fault_stall_ms`).
    stall: Duration,
}

/// One finite wire of the NIC model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FiniteWire {
    /// The port its frames reach the host on when no rule takes them (as a
    /// [`PortIdx`] index): 0 the uplink, else the VF's representor.
    port: usize,
    /// Its capture's packets times its loops.
    frames: u64,
}

/// How far one wire is: frames off the wire, frames the switch left to the
/// host, frames the host took.
type WireProgress = (u64, u64, u64);

/// The captures the NIC model's PFs replay (wires of the uplink and of VFs),
/// scanned for their packets and largest frame. A VF port's `replay` that
/// cannot be read, or holds no packet, is refused naming the port.
fn model_wires(
    cfg: &Config,
) -> anyhow::Result<Vec<(PathBuf, flowlift_traffic::capture::CaptureScan)>> {
    let mut out = Vec::new();
    for p in cfg
        .ports
        .iter()
        .filter(|p| flowlift_config::model_nic::is_pf(p.dpdk_name()))
    {
        // A device that does not parse is refused by the preflight.
        let Ok(d) = flowlift_config::model_nic::devargs(&p.device) else {
            continue;
        };
        if let Some(wire) = &d.wire {
            let scan = flowlift_traffic::capture::scan(wire)
                .with_context(|| format!("port {}", p.name))?;
            out.push((wire.clone(), scan));
        }
        // A VM's generated wire (`vfN_gen`) has no capture to scan.
        for w in d.vf_wires.iter().filter(|w| w.gen.is_none()) {
            let rep = format!("{}_representor_vf{}", p.dpdk_name(), w.vf);
            let by = cfg
                .ports
                .iter()
                .find(|q| q.dpdk_name() == rep && q.replay.is_some());
            let scan = flowlift_traffic::capture::scan(&w.path).with_context(|| match by {
                Some(q) => format!("port {}: replay", q.name),
                None => format!("port {}: vf{}_wire", p.name, w.vf),
            })?;
            if let (Some(q), 0) = (by, scan.packets) {
                bail!(
                    "port {}: replay {}: holds no packet: the VM would send nothing",
                    q.name,
                    w.path.display()
                );
            }
            out.push((w.path.clone(), scan));
        }
    }
    Ok(out)
}

/// Where the uplink is the NIC model's PF whose wires are all finite (and
/// it has at least one), their end.
fn wire_end(
    cfg: &Config,
    scans: &[(PathBuf, flowlift_traffic::capture::CaptureScan)],
) -> anyhow::Result<Option<WireEnd>> {
    let up = cfg.uplink();
    if !flowlift_config::model_nic::is_pf(up.dpdk_name()) {
        return Ok(None);
    }
    let Ok(d) = flowlift_config::model_nic::devargs(&up.device) else {
        return Ok(None);
    };
    let frames = |path: &Path, loops: u64, what: &str| -> anyhow::Result<Option<u64>> {
        let Some((_, scan)) = scans.iter().find(|(p, _)| p == path) else {
            return Ok(None);
        };
        scan.packets.checked_mul(loops).map(Some).with_context(|| {
            format!(
                "{what}: loops={loops}: the {} packets of the wire times the loops are counted in 64 bits",
                scan.packets
            )
        })
    };
    let mut wires = Vec::new();
    if let Some(wire) = &d.wire {
        if d.loops == 0 {
            return Ok(None);
        }
        let Some(n) = frames(wire, d.loops, &format!("port {}", up.name))? else {
            return Ok(None);
        };
        wires.push(FiniteWire { port: 0, frames: n });
    } else if let Some(total) = flowlift_config::model_nic::generated_frames(&d) {
        // A generated wire (`gen=`) ends with its `gen_seconds` or
        // `gen_flows`, after the packets its plan counts.
        let Some(n) = total else {
            return Ok(None);
        };
        wires.push(FiniteWire { port: 0, frames: n });
    }
    for w in &d.vf_wires {
        let loops = d.vf_loops(w);
        let rep = format!("{}_representor_vf{}", up.dpdk_name(), w.vf);
        // Every VF wire is a port's representor (the config check).
        let Some((port, vf_port)) = cfg
            .ports
            .iter()
            .enumerate()
            .find(|(_, q)| q.dpdk_name() == rep)
        else {
            return Ok(None);
        };
        if w.gen.is_some() {
            // A VM's generated wire ends with its plan, as the uplink's.
            match flowlift_config::model_nic::generated_vf_frames(&d, w) {
                Some(Some(n)) => {
                    wires.push(FiniteWire { port, frames: n });
                    continue;
                }
                _ => return Ok(None),
            }
        }
        if loops == 0 {
            return Ok(None);
        }
        let what = match vf_port.replay {
            Some(_) => format!("port {}: replay", vf_port.name),
            None => format!("port {}: vf{}_wire", up.name, w.vf),
        };
        let Some(n) = frames(&w.path, loops, &what)? else {
            return Ok(None);
        };
        wires.push(FiniteWire { port, frames: n });
    }
    if wires.is_empty() {
        return Ok(None);
    }
    Ok(Some(WireEnd {
        wires,
        stall: REPLAY_STALL + Duration::from_millis(d.faults.stall_ms),
    }))
}

/// What `--check-config` says of each VF port's `replay`: the capture, its
/// packets, its passes, and the VF of the NIC model that sends it.
fn replay_lines(
    cfg: &Config,
    scans: &[(PathBuf, flowlift_traffic::capture::CaptureScan)],
) -> Vec<String> {
    let devargs = flowlift_config::model_nic::devargs(&cfg.uplink().device).ok();
    let loops = devargs.as_ref().map_or(0, |d| d.loops);
    // A generated wire: its scenario and how much it plans to send.
    let generated = devargs.as_ref().and_then(|d| {
        let planned = flowlift_config::model_nic::generated_frames(d)?;
        let g = d.gen.as_ref()?;
        Some(format!(
            "port {} generates its wire: gen={} (seed {}), {}{}",
            cfg.uplink().name,
            format!("{:?}", g.scenario).to_lowercase(),
            g.seed,
            planned.map_or("forever".to_string(), |n| format!("{n} packets planned")),
            g.truth.as_ref().map_or(String::new(), |t| format!(
                ", ground truth to {}",
                t.display()
            ))
        ))
    });
    generated
        .into_iter()
        .chain(cfg.vfs()
        .iter()
        .filter_map(|p| {
            let path = p.replay.as_ref()?;
            let (pf, vf) = flowlift_config::model_nic::representor(p.dpdk_name())?;
            let packets = scans
                .iter()
                .find(|(w, _)| w == path)
                .map_or_else(|| "?".to_string(), |(_, s)| s.packets.to_string());
            let passes = if loops == 0 {
                "forever".to_string()
            } else {
                format!("{loops} time(s)")
            };
            Some(format!(
                "port {} replays {} ({packets} packets, {passes}, as the uplink's wire): VF {vf} of {pf} sends it into the switch (vf{vf}_wire)",
                p.name,
                path.display()
            ))
        }))
        .chain(cfg.vfs().iter().filter_map(|p| {
            // A VM's generated wire (`vfN_gen`).
            let d = devargs.as_ref()?;
            let (pf, vf) = flowlift_config::model_nic::representor(p.dpdk_name())?;
            let w = d.vf_wires.iter().find(|w| w.vf == vf)?;
            let planned = flowlift_config::model_nic::generated_vf_frames(d, w)?;
            Some(format!(
                "port {} generates its VM's traffic: vf{vf}_gen={} on {pf}, {}",
                p.name,
                format!("{:?}", w.gen?).to_lowercase(),
                planned.map_or("forever".to_string(), |n| format!("{n} packets planned")),
            ))
        }))
        .collect()
}

/// How far each of the NIC model's finite wires is, from its port's
/// counters: the uplink's from the PF's (`wire_rx_packets`,
/// `switch_to_host_packets`, `ipackets`), a VF's from its representor's
/// (`vf_tx_packets`, `vf_tx_to_host_packets`, `ipackets`).
fn wire_progress(ports: &[Port], end: &WireEnd) -> Option<Vec<WireProgress>> {
    end.wires
        .iter()
        .map(|w| {
            let port = ports.get(w.port)?;
            let x = port.xstats().ok()?;
            let get = |name: &str| x.iter().find(|s| s.name == name).map(|s| s.value);
            let (wire, to_host) = if w.port == 0 {
                ("wire_rx_packets", "switch_to_host_packets")
            } else {
                ("vf_tx_packets", "vf_tx_to_host_packets")
            };
            Some((get(wire)?, get(to_host)?, port.stats().ok()?.rx_packets))
        })
        .collect()
}

/// Where the wires stood when the run gave up on them.
fn wires_stalled(cfg: &Config, end: &WireEnd, progress: Option<&[WireProgress]>) -> String {
    let parts: Vec<String> = end
        .wires
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let name = cfg.ports.get(w.port).map_or("?", |p| p.name.as_str());
            match progress.and_then(|p| p.get(i)) {
                Some((wire, _, taken)) => format!(
                    "{name}'s carried {wire} of {} frames and the host took {taken}",
                    w.frames
                ),
                None => format!("{name}'s carried ? of {} frames", w.frames),
            }
        })
        .collect();
    format!(
        "replay stalled: the wires of {}: {}, then nothing for {}s",
        cfg.uplink().dpdk_name(),
        parts.join("; "),
        end.stall.as_secs()
    )
}

/// Everything the start would refuse that can be known before EAL: the
/// config again (`--replay` and `--capture-dir` rewrote devices), the files
/// it names, the machine's lcores, memory and devices, the control socket,
/// /metrics and the flow log. `--check-config` runs it too, so it refuses
/// what the start would.
fn preflight(
    cfg: &Config,
    pool: flowlift_config::eal_args::PoolShape,
    in_memory: u64,
    opts: &RunOptions,
) -> anyhow::Result<()> {
    use flowlift_config;
    let refuse = |r: Result<(), String>| r.map_err(|m| anyhow::anyhow!(m));
    refuse(cfg.check())?;
    refuse(cfg.check_files())?;
    refuse(flowlift_config::eal_args::check(
        cfg,
        pool,
        in_memory,
        &flowlift_config::eal_args::Host::probe(),
    ))?;
    let (socket_key, socket) = match &opts.socket {
        Some(p) => ("--socket", p.clone()),
        None => ("control.socket", PathBuf::from(&cfg.control.socket)),
    };
    refuse(flowlift_config::check_socket_path(socket_key, &socket))?;
    refuse(flowlift_config::check_socket_dir(socket_key, &socket))?;
    flowlift_operator::shell::socket::check_path(&socket)?;
    let (metrics_key, metrics) = match &opts.metrics {
        Some(m) => ("--metrics", m.as_str()),
        None => ("control.metrics", cfg.control.metrics.as_str()),
    };
    refuse(flowlift_config::check_metrics_addr(metrics_key, metrics))?;
    refuse(flowlift_config::check_metrics_host(metrics_key, metrics))?;
    if let Some(log) = &opts.flow_log {
        refuse(flowlift_config::check_output_file("--flow-log", log))?;
    }
    Ok(())
}

/// The lcores and queues of a running appliance, and what the control loop
/// reads.
struct Running {
    fleet: Vec<WorkerHandle>,
    launched: Vec<rte::LaunchHandle>,
    /// The workers' meters of the rate-limited VFs, by port index (a reload
    /// changes their rates).
    meters: Vec<Option<Arc<RateMeter>>>,
}

/// The control socket, serving before EAL starts, and its channel.
struct ControlIn {
    socket: ControlSocket,
    socket_path: PathBuf,
    requests_tx: crossbeam_channel::Sender<Request>,
    requests: Receiver<Request>,
    /// What `reload` and SIGHUP read again.
    reload: ReloadSource,
}

#[allow(clippy::too_many_arguments)]
fn run_with_eal(
    eal: &Eal,
    cfg: &Config,
    pool: flowlift_config::eal_args::PoolShape,
    end: ReplayEnd,
    opts: &RunOptions,
    stop: &Arc<StopRequest>,
    control: ControlIn,
    out: &mut dyn Write,
) -> anyhow::Result<StopReason> {
    let budget = end.budget;
    let ControlIn {
        socket,
        socket_path,
        requests_tx,
        requests,
        reload,
    } = control;
    let dp = &cfg.dataplane;
    check_lcores(eal, cfg)?;
    let pool = Arc::new(Mempool::new(
        eal,
        "flowlift_mbufs",
        pool.mbufs,
        flowlift_config::eal_args::MEMPOOL_CACHE,
        pool.data_room,
    )?);
    let (open, queues) = open_ports(eal, cfg, &pool, dp.worker_lcores.len(), budget)?;
    let hz = rte::cycles::tsc_hz();
    let meters = vf_meters(cfg, hz);
    let mut running = launch(eal, cfg, &open, queues, &meters, out)?;

    let log = opts.flow_log.as_deref().map(FlowLog::create).transpose()?;
    let port_names: Vec<String> = cfg.ports.iter().map(|p| p.name.clone()).collect();
    let mut keeper = FlowKeeper::new(
        log,
        TscClock::new(rte::cycles::tsc(), hz),
        hz,
        dp.idle_timeout_s,
        port_names,
    );
    match start_offload(cfg, &open, hz) {
        Ok(Some((offloader, caps_line))) => {
            writeln!(out, "{caps_line}")?;
            tracing::info!(target: "offload", backend = offloader.backend_name(),
                max_rules = offloader.params().max_rules,
                capabilities = %offloader.capabilities(),
                "offload on: {}, up to {} rules", offloader.backend_name(),
                offloader.params().max_rules);
            keeper.offload = Some(offloader);
        }
        Ok(None) => {}
        Err(e) => {
            stop_all(&mut running, &mut keeper, out)?;
            return Err(e);
        }
    }

    writeln!(
        out,
        "control socket {} (flowlift shell --socket {})",
        socket_path.display(),
        socket_path.display()
    )?;
    let snapshot = Arc::new(Mutex::new(ControlSnapshot::default()));
    let _metrics = match serve_metrics(cfg, opts, &running, &snapshot, hz, out) {
        Ok(m) => m,
        Err(e) => {
            drop(socket);
            stop_all(&mut running, &mut keeper, out)?;
            return Err(e);
        }
    };
    if opts.interactive {
        start_terminal_shell(requests_tx.clone())?;
    }
    drop(requests_tx);
    tracing::info!(target: "control",
        config = %opts.config.as_deref().map_or("(built-in demo)".into(), |p| p.display().to_string()),
        ports = open.ports.len(), main_lcore = dp.main_lcore, worker_lcores = ?dp.worker_lcores,
        socket = %socket_path.display(),
        "flowlift started: {} ports, {} worker(s) on lcores {:?}, control socket {}",
        open.ports.len(), dp.worker_lcores.len(), dp.worker_lcores, socket_path.display());
    let mut notifier = Notifier::from_env();
    let reason = control_loop(
        &open,
        &running,
        &mut keeper,
        cfg,
        &end,
        opts,
        stop,
        (&requests, &reload),
        &snapshot,
        notifier.as_mut(),
        out,
    );
    if let Some(n) = &notifier {
        n.stopping();
    }
    match &reason {
        Ok(r) => tracing::info!(target: "control", reason = stop_words(*r),
            "stopping ({}): traffic, then the workers, then every rule", stop_words(*r)),
        Err(e) => tracing::error!(target: "control", error = %format!("{e:#}"),
            "the control loop failed, stopping: {e:#}"),
    }
    drop(socket);
    let (failed, logged_at_exit) = stop_all(&mut running, &mut keeper, out)?;
    let fleet = &running.fleet;
    let reason = reason?;
    let counts = Snapshot::of_fleet(fleet, &keeper, open.ports.len()).with_ethdev(&open.ports);
    write_final_report(
        reason,
        &open,
        &keeper,
        fleet,
        &counts,
        logged_at_exit,
        hz,
        out,
    )?;
    for h in fleet {
        // The workers' queues go now, before the ports are closed.
        drop(h.returned.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
    out.flush()?;
    drop(keeper);
    // Stop and close every port now (queues went with the workers):
    // net_pcap and the NIC model write out their capture files here.
    for p in &open.ports {
        let _ = p.stop();
    }
    let stalled = match &end.wire_end {
        Some(w) => wires_stalled(cfg, w, wire_progress(&open.ports, w).as_deref()),
        None => format!(
            "replay stalled: the uplink delivered {} of {} packets, then nothing for {}s",
            counts.totals()[0].rx_packets,
            budget.unwrap_or(0),
            REPLAY_STALL.as_secs()
        ),
    };
    drop(open);
    tracing::info!(target: "control", "stopped: ports closed");
    if !failed.is_empty() {
        bail!("lcores {failed:?} ended abnormally");
    }
    if reason == StopReason::ReplayStalled {
        bail!("{stalled}");
    }
    Ok(reason)
}

/// The main and worker lcores of the config, checked against EAL's.
fn check_lcores(eal: &Eal, cfg: &Config) -> anyhow::Result<()> {
    let dp = &cfg.dataplane;
    if eal.main_lcore() != LcoreId(dp.main_lcore) {
        bail!(
            "EAL's main lcore is {:?}, the config says lcore {}",
            eal.main_lcore(),
            dp.main_lcore
        );
    }
    for &lc in &dp.worker_lcores {
        if !eal.lcore_enabled(LcoreId(lc)) {
            bail!("worker lcore {lc} is not in EAL's lcore list");
        }
    }
    Ok(())
}

/// One line per open port: its device, driver, link and RX spread.
fn say_ports(open: &OpenPorts, out: &mut dyn Write) -> anyhow::Result<()> {
    for (label, port) in open.labels.iter().zip(&open.ports) {
        let link = port
            .link()
            .map(|l| if l.up { "up" } else { "down" })
            .unwrap_or("unknown");
        // With several workers, whether RSS feeds every queue (as the device
        // took the configuration) decides whether every worker gets traffic.
        let spread = port
            .rx_spread()
            .map_or_else(|e| format!("RX spread unknown: {e}"), |s| s.to_string());
        writeln!(
            out,
            "port {} {}: {} ({}), link {link}, {spread}",
            label.port_id,
            label.name,
            port.device_name(),
            label.driver
        )?;
        let link = crate::link_watch::describe(port.link().ok());
        tracing::info!(target: "ports", port = %label.name, port_id = label.port_id,
            device = %port.device_name(), driver = %label.driver, link = %link,
            "port {} started: {} ({}), link {link}", label.name, port.device_name(), label.driver);
    }
    Ok(())
}

/// Serves /metrics where the options or the config say (`None`: off).
fn serve_metrics(
    cfg: &Config,
    opts: &RunOptions,
    running: &Running,
    snapshot: &Arc<Mutex<ControlSnapshot>>,
    hz: u64,
    out: &mut dyn Write,
) -> anyhow::Result<Option<MetricsServer>> {
    let dp = &cfg.dataplane;
    let metrics_addr = opts
        .metrics
        .clone()
        .unwrap_or_else(|| cfg.control.metrics.clone());
    if metrics_addr.is_empty() {
        return Ok(None);
    }
    let sources = Arc::new(Sources {
        port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
        workers: running
            .fleet
            .iter()
            .map(|h| (h.lcore, Arc::clone(&h.stats)))
            .collect(),
        table_capacity: u64::from(dp.flow_table_size) + u64::from(dp.flow_table_size_v6),
        tsc_hz: hz,
        snapshot: Arc::clone(snapshot),
    });
    let m = MetricsServer::serve(&metrics_addr, sources)?;
    writeln!(out, "metrics on http://{}/metrics", m.addr)?;
    Ok(Some(m))
}

/// `-i`: the shell on this terminal, its lines sent as the socket's are.
fn start_terminal_shell(requests: crossbeam_channel::Sender<Request>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("flowlift-stdin".into())
        .spawn(move || {
            let r = flowlift_operator::shell::client::interactive("flowlift> ", true, |line| {
                flowlift_operator::shell::socket::ask(&requests, line.to_string())
            });
            if let Err(e) = r {
                tracing::error!(target: "shell", error = %e, "the terminal's shell ended: {e}");
            }
        })
        .context("start the shell")?;
    Ok(())
}

/// The final report: why the run stopped, the counters by port, the
/// workers, the flows, the offload engine and the static rules.
#[allow(clippy::too_many_arguments)]
fn write_final_report(
    reason: StopReason,
    open: &OpenPorts,
    keeper: &FlowKeeper,
    fleet: &[WorkerHandle],
    counts: &Snapshot,
    logged_at_exit: u64,
    hz: u64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let why = stop_words(reason);
    writeln!(out, "\nStopping ({why}). Final counters:")?;
    write!(out, "{}", final_report(&open.labels, counts))?;
    write!(out, "{}", worker_lines(&counts.workers, hz))?;
    if flowlift_dataplane::stages::ENABLED {
        write!(out, "{}", stage_lines(&counts.workers))?;
    }
    let stats: Vec<Arc<WorkerStats>> = fleet.iter().map(|h| Arc::clone(&h.stats)).collect();
    let parse = WorkerStats::parse_error_totals(stats.iter().map(|s| s.as_ref()));
    let sum = |f: fn(&WorkerStats) -> &std::sync::atomic::AtomicU64| -> u64 {
        stats.iter().map(|s| f(s).load(Ordering::Relaxed)).sum()
    };
    let flow_figures = FlowFigures {
        created: sum(|s| &s.flows_created),
        evicted: sum(|s| &s.flows_evicted),
        at_exit: logged_at_exit,
        table_full: sum(|s| &s.table_full),
        events_deferred: sum(|s| &s.events_deferred),
        events_dropped: sum(|s| &s.events_dropped),
    };
    write!(out, "{}", flow_report(&parse, &flow_figures))?;
    if let Some(off) = keeper.offload.as_ref() {
        let carried = counts.carried();
        write!(
            out,
            "{}",
            offload_report(&OffloadFigures {
                backend: off.backend_name(),
                max_rules: off.params().max_rules,
                stats: off.stats(),
                rules_left: off.rules_installed(),
                hw_packets: carried.nic.packets,
                sw_packets: carried.workers.packets,
                nic_cycles: flowlift_config::model_nic::switch_cycles(&open.ports[0]),
                worker_busy_cycles: counts.cycles().0,
                tsc_hz: hz,
            })
        )?;
    }
    let taken = static_taken(keeper, &open.labels);
    if !taken.is_empty() {
        let parts: Vec<String> = taken
            .iter()
            .map(|(name, t)| {
                format!(
                    "{name} {} {} packets ({} bytes)",
                    t.by.label(),
                    t.counters.packets,
                    t.counters.bytes
                )
            })
            .collect();
        writeln!(
            out,
            "  Static rules took past the workers: {} (the flow log's static_rule records)",
            parts.join(", ")
        )?;
    }
    Ok(())
}

/// Why the run stopped, in the words of the final report and the log.
fn stop_words(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Signal => "signal",
        StopReason::Duration => "--duration reached",
        StopReason::ReplayDone => "replay complete",
        StopReason::ReplayStalled => "replay stalled",
        StopReason::Quit => "quit",
        StopReason::ConfigChecked => "config checked",
    }
}

/// One shared meter per rate-limited VF, by [`PortIdx`].
fn vf_meters(cfg: &Config, hz: u64) -> Vec<Option<Arc<RateMeter>>> {
    cfg.ports
        .iter()
        .map(|p| {
            p.rate_limit.map(|l| {
                Arc::new(RateMeter::new(
                    l.unit,
                    l.rate,
                    l.burst,
                    hz,
                    rte::cycles::tsc(),
                ))
            })
        })
        .collect()
}

/// Builds the workers, starts the ports and launches the workers: the
/// ports start only once the workers' tables are built and locked in RAM
/// (tens of milliseconds for large tables), so that a wire already carrying
/// traffic does not overflow the RX rings before anyone polls them.
fn launch(
    eal: &Eal,
    cfg: &Config,
    open: &OpenPorts,
    queues: PortQueues,
    meters: &[Option<Arc<RateMeter>>],
    out: &mut dyn Write,
) -> anyhow::Result<Running> {
    let dp = &cfg.dataplane;
    let workers = dp.worker_lcores.len();
    let PortQueues {
        mut rx_by_worker,
        mut tx_by_worker,
    } = queues;

    let policy = cfg.forwarding_policy();
    let nports = cfg.ports.len();
    let (flows_v4, flows_v6) = (dp.flow_table_size as usize, dp.flow_table_size_v6 as usize);
    let slots = DpdkWorker::flow_slots_needed(flows_v4, flows_v6);
    let mut fleet: Vec<WorkerHandle> = Vec::with_capacity(workers);
    let mut built = Vec::with_capacity(workers);
    for (w, &lc) in dp.worker_lcores.iter().enumerate() {
        let (events_tx, events_rx) = crossbeam_channel::bounded(dp.event_queue as usize);
        let (commands_tx, commands_rx) = crossbeam_channel::bounded(COMMAND_QUEUE);
        let handle = WorkerHandle {
            lcore: lc,
            stats: Arc::new(WorkerStats::new(nports)),
            counters: Arc::new(FlowCounters::new(slots)),
            events: events_rx,
            commands: commands_tx,
            returned: Arc::new(Mutex::new(None)),
            signal: Arc::new(LcoreSignal::new()),
        };
        let worker = DpdkWorker::new(
            std::mem::take(&mut rx_by_worker[w]),
            std::mem::take(&mut tx_by_worker[w]),
            WorkerSetup {
                policy: policy.clone(),
                burst: dp.burst,
                flows_v4,
                flows_v6,
                stats: Arc::clone(&handle.stats),
                counters: Arc::clone(&handle.counters),
                events: events_tx,
                commands: commands_rx,
                clock: Tsc,
                tx_drain_ticks: (dp.tx_drain_us * rte::cycles::tsc_hz() as f64 / 1e6) as u64,
                meters: meters.to_vec(),
            },
        );
        built.push(worker);
        fleet.push(handle);
    }
    // Their tables are built now, on huge pages if the kernel gives them.
    if let Some(notice) = crate::huge_pages::off_notice() {
        writeln!(out, "{notice}")?;
    }
    // Their tables are mapped now: in RAM before the first packet.
    if cfg.eal.mlockall {
        lock_memory(out)?;
    }
    for (port, label) in open.ports.iter().zip(&open.labels) {
        port.start()
            .with_context(|| format!("port {}", label.name))?;
    }
    say_ports(open, out)?;
    let mut launched = Vec::with_capacity(workers);
    for (handle, mut worker) in fleet.iter().zip(built) {
        let (signal, returned) = (Arc::clone(&handle.signal), Arc::clone(&handle.returned));
        launched.push(eal.launch(LcoreId(handle.lcore), move || {
            worker.run(&signal);
            *returned.lock().unwrap_or_else(|e| e.into_inner()) = Some(worker);
            0
        })?);
    }
    Ok(Running {
        fleet,
        launched,
        meters: meters.to_vec(),
    })
}

/// Starts the offload engine on the configured backend; returns it with the
/// line telling what the probe found (`None`: offload is off).
fn start_offload(
    cfg: &Config,
    open: &OpenPorts,
    hz: u64,
) -> anyhow::Result<Option<(Offloader, String)>> {
    let o = &cfg.offload;
    let metered: Vec<bool> = cfg.ports.iter().map(|p| p.rate_limit.is_some()).collect();
    let refresh;
    let (backend, plan): (Box<dyn OffloadBackend>, PortPlan) = match o.backend {
        BackendKind::None => return Ok(None),
        BackendKind::RteFlow => {
            let sample_out = open.ports.get(1).map_or(0, |p| p.id().0);
            // Each rate-limited VF's meter, numbered by its port index (as
            // the rules name it; see `PortPlan::metered`).
            let limits = cfg
                .ports
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    p.rate_limit.map(|limit| VfLimit {
                        meter: i as u32,
                        name: p.name.clone(),
                        limit,
                    })
                })
                .collect();
            // The rules go on the uplink, the PF: on a switchdev NIC it is
            // the transfer proxy of every port of its switch, and its meters
            // are made there too.
            let backend = RteFlowBackend::new(open.ports[0].clone(), sample_out)
                .with_counter_refresh(counter_refresh(cfg))
                .with_rate_limits(limits);
            refresh = Some(backend.counter_refresh());
            let plan = PortPlan {
                hw_port: open.ports.iter().map(|p| p.id().0).collect(),
                // The uplink and the VFs on its representors: their flows
                // pass the switch.
                nic_in: cfg.nic_in_ports(),
                metered,
            };
            (Box::new(backend), plan)
        }
    };
    let name = backend.name();
    let idle_tsc = (cfg.dataplane.idle_timeout_s * hz as f64) as u64;
    let offloader = Offloader::start(
        backend,
        o.params(idle_tsc),
        cfg.offload_policies.clone(),
        plan,
        rte::cycles::tsc(),
        hz,
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "offload backend {name} on port {} ({}): {e}; use --offload none on this port",
            cfg.ports[0].name,
            open.labels[0].driver
        )
    })?;
    let mut line = format!(
        "offload {name}: {}; using up to {} rules, promote at {} pps, demote at {} pps, hold {} ticks of {} ms",
        offloader.capabilities(),
        offloader.params().max_rules,
        o.promote_pps,
        o.demote_pps,
        o.hold,
        o.tick_ms
    );
    if let Some(r) = refresh {
        line += &if r.is_zero() {
            "; counters read live".to_string()
        } else if offloader.capabilities().indirect_count {
            format!(
                "; counters read up to {} ms stale, a removed rule's final count read {} ms after its destroy",
                r.as_millis(),
                r.as_millis()
            )
        } else {
            format!(
                "; counters read up to {} ms stale, and a removed rule's last {} ms of hits are lost (no indirect COUNT)",
                r.as_millis(),
                r.as_millis()
            )
        };
    }
    if let Some(meters) = offloader.meters_line() {
        line += &format!("\n{meters}");
    }
    Ok(Some((offloader, line)))
}

/// How stale the NIC's counter reads may be: the NIC model's PF says it in
/// its devargs (`counter_refresh_ms`); for any other NIC, mlx5's period.
fn counter_refresh(cfg: &Config) -> Duration {
    let up = cfg.uplink();
    let ms = if flowlift_config::model_nic::is_pf(up.dpdk_name()) {
        flowlift_config::model_nic::devargs(&up.device)
            .map_or(flowlift_offload::rte_flow::MLX5_COUNTER_REFRESH_MS, |d| {
                d.limits.counter_refresh_ms
            })
    } else {
        flowlift_offload::rte_flow::MLX5_COUNTER_REFRESH_MS
    };
    Duration::from_millis(ms)
}

/// Stops everything in order: the workers (what they took is counted; what
/// waits in the RX rings was never the host's), then every rule (final
/// counters folded in, flows logged). Returns the lcores that ended
/// abnormally and the flows logged at exit.
///
/// The workers stop in two acknowledged steps: draining (no more RX; every
/// batch sent, every flow event queued and taken by the control core), then
/// stopped (the loop ended). Each step waits for every lcore's answer, not
/// for a time, so a stalled lcore cannot leave a packet uncounted.
fn stop_all(
    running: &mut Running,
    keeper: &mut FlowKeeper,
    out: &mut dyn Write,
) -> anyhow::Result<(Vec<LcoreId>, u64)> {
    let mut failed = Vec::new();
    for state in [LcoreState::Draining, LcoreState::Stopped] {
        set_state(&running.fleet, keeper, state, |lcores| {
            tracing::warn!(target: "control", lcores = ?lcores, state = state.name(),
                "waiting for lcore(s) {lcores:?} to acknowledge {}", state.name());
            let _ = writeln!(
                out,
                "waiting for lcore(s) {lcores:?} to acknowledge {}",
                state.name()
            );
        })?;
        tracing::info!(target: "control", state = state.name(),
            "stop: every worker acknowledged {}", state.name());
    }
    for h in running.launched.drain(..) {
        let lcore = h.lcore();
        if h.join() != 0 {
            tracing::error!(target: "control", lcore = lcore.0, "lcore {} ended abnormally", lcore.0);
            failed.push(lcore);
        }
    }
    // Rules come off while the ports still run.
    let logged = keeper.finish(&running.fleet);
    tracing::info!(target: "control", flows_logged = logged.as_ref().ok(),
        "stop: every rule removed, its final counters folded in");
    Ok((failed, logged?))
}

/// The queues `open_ports` hands out.
struct PortQueues {
    rx_by_worker: PerWorker<RxAssignment<RxQueue>>,
    tx_by_worker: PerWorker<TxQueue>,
}

type PerWorker<T> = Vec<Vec<T>>;

/// Opens and configures every port (`launch` starts them). Each worker gets one TX queue on
/// every port; RX queues (as many as the device offers, up to one per worker;
/// one on an uplink with a replay budget) are dealt out to workers in turn.
fn open_ports(
    eal: &Eal,
    cfg: &Config,
    pool: &Arc<Mempool>,
    workers: usize,
    budget: Option<u64>,
) -> anyhow::Result<(OpenPorts, PortQueues)> {
    let mut ports = Vec::new();
    let mut labels = Vec::new();
    let mut rx_by_worker: PerWorker<RxAssignment<RxQueue>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut tx_by_worker: PerWorker<TxQueue> = (0..workers).map(|_| Vec::new()).collect();
    for (idx, spec) in cfg.ports.iter().enumerate() {
        let port =
            Port::by_name(eal, spec.dpdk_name()).with_context(|| format!("port {}", spec.name))?;
        let info = port.info().with_context(|| format!("port {}", spec.name))?;
        if usize::from(info.max_tx_queues) < workers {
            bail!(
                "port {}: {} offers {} TX queues; {workers} workers need one each",
                spec.name,
                info.driver,
                info.max_tx_queues,
            );
        }
        // A replay budget counts what one queue delivers (the worker polling
        // it stops at the budget): split over queues by RSS it would need a
        // share per queue that nobody knows in advance, so a budgeted port
        // (net_pcap replaying `--replay`, which has one RX queue anyway) gets
        // one. The NIC model's finite wire has no budget: its end is read
        // from the device (`WireEnd`), whatever the queues.
        let budget = if idx == 0 { budget } else { None };
        let rx_queues = if budget.is_some() {
            1
        } else {
            (workers as u16).min(info.max_rx_queues).max(1)
        };
        let pc = PortConfig {
            rx_queues,
            tx_queues: workers as u16,
            rx_desc: cfg.dataplane.rx_desc,
            tx_desc: cfg.dataplane.tx_desc,
            ..PortConfig::default()
        };
        let (rxqs, txqs) = port
            .configure(&pc, pool)
            .with_context(|| format!("port {}", spec.name))?;
        for (q, queue) in rxqs.into_iter().enumerate() {
            rx_by_worker[q % workers].push(RxAssignment {
                port: PortIdx(idx as u16),
                queue,
                budget,
            });
        }
        for (w, queue) in txqs.into_iter().enumerate() {
            tx_by_worker[w].push(queue);
        }
        labels.push(PortLabel {
            name: spec.name.clone(),
            port_id: port.id().0,
            driver: info.driver,
        });
        ports.push(port);
    }
    Ok((
        OpenPorts { ports, labels },
        PortQueues {
            rx_by_worker,
            tx_by_worker,
        },
    ))
}

/// The main lcore's loop: flow events, the offload tick, idle expiry, the
/// status line every `status_every`, and the end of the run.
#[allow(clippy::too_many_arguments)]
fn control_loop(
    open: &OpenPorts,
    running: &Running,
    keeper: &mut FlowKeeper,
    cfg: &Config,
    end: &ReplayEnd,
    opts: &RunOptions,
    stop: &StopRequest,
    (requests, reload): (&Receiver<Request>, &ReloadSource),
    snapshot: &Mutex<ControlSnapshot>,
    mut notifier: Option<&mut Notifier>,
    out: &mut dyn Write,
) -> anyhow::Result<StopReason> {
    let fleet = &running.fleet;
    // The running config: as started, then as `set offload` and reloads
    // change it.
    let mut live = cfg.clone();
    let mut ready = false;
    let quit = AtomicBool::new(false);
    let mut shell = ShellState::default();
    let nports = open.ports.len();
    let counts = |keeper: &FlowKeeper| Snapshot::of_fleet(fleet, keeper, nports);
    let mut offload_tick = Duration::from_millis(u64::from(cfg.offload.tick_ms));
    let start = Instant::now();
    let mut last_status = start;
    let mut prev = counts(keeper);
    let mut prev_nic_cycles = flowlift_config::model_nic::switch_cycles(&open.ports[0]);
    let mut last_progress = (start, 0u64);
    let mut last_expire = start;
    // Ticks keep a fixed cadence: the next is due a tick after the last was
    // due, not after it ran (a late tick does not push the rest back).
    let mut next_offload = start + offload_tick;
    let mut links = crate::link_watch::LinkWatch::new(
        open.labels.iter().map(|l| l.name.clone()).collect(),
        open.ports.iter().map(|p| p.link().ok()).collect(),
        start,
    );
    loop {
        let wake = (Instant::now() + TICK.min(offload_tick)).min(next_offload);
        // Shell commands are carried out as they come, between the duties;
        // SIGHUP's reload is the shell's `reload`.
        let sighup = stop.take_reload();
        let line = if sighup {
            Some(None)
        } else {
            requests.recv_deadline(wake).ok().map(Some)
        };
        if let Some(req) = line {
            let tick_before = offload_tick;
            if sighup && ready {
                if let Some(n) = notifier.as_deref() {
                    n.reloading();
                }
            }
            let mut appliance = Appliance {
                labels: &open.labels,
                ports: &open.ports,
                config: &mut live,
                reload,
                meters: &running.meters,
                workers: fleet,
                keeper,
                tick: &mut offload_tick,
                stop: &quit,
                tsc_hz: rte::cycles::tsc_hz(),
                state: &mut shell,
            };
            match req {
                Some(req) => {
                    let reply = appliance.execute(&req.line);
                    if flowlift_operator::shell::command::changes_state(&req.line) {
                        let answer = reply
                            .text
                            .lines()
                            .find(|l| !l.trim().is_empty())
                            .unwrap_or("");
                        tracing::info!(target: "shell", origin = %req.origin, command = %req.line,
                            ok = reply.ok, answer,
                            "{} ran `{}`: {}", req.origin, req.line,
                            if reply.ok { "done" } else { "refused" });
                    }
                    // A client that left does not care for the answer.
                    let _ = req.reply.send(reply);
                }
                None => {
                    let reply = appliance.execute("reload");
                    writeln!(out, "SIGHUP: {}", reply.text.trim_end())?;
                    if ready {
                        if let Some(n) = notifier.as_deref() {
                            n.ready(reply.text.lines().next().unwrap_or("reloaded"));
                        }
                    }
                }
            }
            if offload_tick != tick_before {
                next_offload = Instant::now() + offload_tick;
            }
        }
        let now = Instant::now();
        if let Some(n) = notifier.as_deref_mut() {
            n.alive(now);
        }
        keeper.drain_events(fleet)?;
        links.poll(&open.ports, now);
        if now >= next_offload {
            keeper.offload_tick(fleet, rte::cycles::tsc());
            publish(snapshot, keeper, open);
            // Ports up, workers polling, a first tick run: systemd may
            // start what waits for the appliance.
            if !ready {
                ready = true;
                if let Some(n) = notifier.as_deref() {
                    n.ready(&format!(
                        "forwarding on {} ports with {} worker(s)",
                        open.ports.len(),
                        fleet.len()
                    ));
                }
            }
            next_offload += offload_tick;
            if next_offload < now {
                // Far behind (a starved CPU): start the cadence again from now.
                next_offload = now + offload_tick;
            }
        }
        // The idle scan reads every tracked flow's last-seen stamp: a few times a
        // second is plenty for timeouts measured in seconds.
        if now - last_expire >= IDLE_SCAN {
            keeper.expire_idle(fleet, rte::cycles::tsc());
            last_expire = now;
        }
        if stop.stopping() {
            return Ok(StopReason::Signal);
        }
        if quit.load(Ordering::SeqCst) {
            return Ok(StopReason::Quit);
        }
        if opts.duration.is_some_and(|d| now - start >= d) {
            return Ok(StopReason::Duration);
        }
        let current = counts(keeper);
        if let Some(reason) = replay_over(end, open, fleet, &current, now, &mut last_progress) {
            return Ok(reason);
        }
        if !opts.interactive && now - last_status >= opts.status_every {
            let secs = (now - last_status).as_secs_f64();
            let nc = flowlift_config::model_nic::switch_cycles(&open.ports[0]);
            let mut line = status_line(now - start, &open.labels, &prev, &current, secs);
            line += &status_tail(keeper, &prev, &current, prev_nic_cycles.zip(nc));
            prev_nic_cycles = nc;
            if let Some(n) = notifier.as_deref() {
                n.status(&line);
            }
            writeln!(out, "{line}")?;
            out.flush()?;
            prev = current;
            last_status = now;
        }
    }
}

/// Whether a finite replay is over: every frame of the NIC model's wires
/// off the wire and counted, or the `--replay` budget received; or stalled
/// (nothing moved for the stall time while traffic was let in). `progress`
/// is when the replay last moved, and how far it was then.
fn replay_over(
    end: &ReplayEnd,
    open: &OpenPorts,
    fleet: &[WorkerHandle],
    current: &Snapshot,
    now: Instant,
    last_progress: &mut (Instant, u64),
) -> Option<StopReason> {
    if let Some(w) = &end.wire_end {
        if let Some(p) = wire_progress(&open.ports, w) {
            // Every frame off every wire, none left in a ring, and every
            // one taken counted by whoever polls its port: one reading
            // decides. The model counts a frame off its wire only once
            // its fate is counted, and the wire's count is read first
            // (its `add_last`/`packets_first`). The workers' count is
            // `current`'s, read before the NIC's: older, so never ahead.
            let done = w.wires.iter().zip(&p).all(|(f, &(wire, to_host, taken))| {
                let counted = current
                    .ports
                    .get(f.port)
                    .map_or(0, |c| c.workers.rx_packets);
                wire >= f.frames && taken >= to_host && counted >= taken
            });
            if done {
                return Some(StopReason::ReplayDone);
            }
            let progress: u64 = p.iter().map(|(wire, _, taken)| wire + taken).sum();
            if progress != last_progress.1 || requested_state(fleet) != LcoreState::Running {
                *last_progress = (now, progress);
            } else if now - last_progress.0 >= w.stall {
                return Some(StopReason::ReplayStalled);
            }
        }
    }
    if let Some(expected) = end.budget {
        let got = current.ports[0].total().rx_packets;
        if got >= expected {
            return Some(StopReason::ReplayDone);
        }
        // Held by the shell's `stop`, the replay waits for `start`: the
        // stall clock runs only while traffic is let in.
        if got != last_progress.1 || requested_state(fleet) != LcoreState::Running {
            *last_progress = (now, got);
        } else if now - last_progress.0 >= REPLAY_STALL {
            return Some(StopReason::ReplayStalled);
        }
    }
    None
}

/// The status line's offload and NIC-model parts: the NIC's share of the
/// period's packets, rules and flows; the model switch's busy share
/// (`nic_cycles`: its busy and idle cycles at the period's start and end).
fn status_tail(
    keeper: &FlowKeeper,
    prev: &Snapshot,
    current: &Snapshot,
    nic_cycles: Option<((u64, u64), (u64, u64))>,
) -> String {
    let mut line = String::new();
    if let Some(off) = keeper.offload.as_ref() {
        let (split, prev_split) = (current.carried(), prev.carried());
        let hw = split.nic.packets - prev_split.nic.packets;
        let sw = split.workers.packets - prev_split.workers.packets;
        let share = percent(hw, hw + sw);
        let offloaded = keeper
            .tracker()
            .iter()
            .filter(|(_, f)| f.off.state.rule().is_some())
            .count();
        line += &format!(
            " | nic {share:.0}% rules {}/{} flows {} ({offloaded} offloaded)",
            off.rules_installed(),
            off.params().max_rules,
            keeper.tracked()
        );
    }
    if let Some((prev_c, now_c)) = nic_cycles {
        let (b, i) = (
            now_c.0.saturating_sub(prev_c.0),
            now_c.1.saturating_sub(prev_c.1),
        );
        line += &format!(" | nic model busy {:.0}%", percent(b, b + i));
    }
    line
}

/// Publishes the control core's figures for the metrics thread.
fn publish(snapshot: &Mutex<ControlSnapshot>, keeper: &FlowKeeper, open: &OpenPorts) {
    let ports = &open.ports;
    let mut by_state = [0u64; 4];
    for (_, f) in keeper.tracker().iter() {
        by_state[f.off.state.index()] += 1;
    }
    let ethdev = ports
        .iter()
        .map(|p| p.stats().unwrap_or_default())
        .collect();
    let next = ControlSnapshot {
        offload: keeper.offload.as_ref().map(|o| o.stats().clone()),
        rules_used: keeper
            .offload
            .as_ref()
            .map_or(0, |o| o.rules_installed() as u64),
        rules_max: keeper
            .offload
            .as_ref()
            .map_or(0, |o| o.params().max_rules as u64),
        rule_budget: keeper
            .offload
            .as_ref()
            .map_or(0, |o| o.rule_budget() as u64),
        change_rate: keeper.offload.as_ref().map_or(0.0, |o| o.change_rate()),
        counter_staleness_s: keeper
            .offload
            .as_ref()
            .map_or(0.0, |o| o.counter_refresh().as_secs_f64()),
        flows_by_state: by_state,
        hw_by_port: keeper.hw_by_port(),
        ethdev,
        static_taken: static_taken(keeper, &open.labels)
            .into_iter()
            .map(|(name, t)| (name, t.by.label(), t.counters.packets, t.counters.bytes))
            .collect(),
        nic_model_cycles: flowlift_config::model_nic::switch_cycles(&ports[0]),
    };
    *snapshot.lock().unwrap_or_else(|e| e.into_inner()) = next;
}

/// What static rules took past the workers, with the name of the port.
fn static_taken(keeper: &FlowKeeper, labels: &[PortLabel]) -> Vec<(String, StaticTaken)> {
    keeper.offload.as_ref().map_or_else(Vec::new, |o| {
        o.static_taken()
            .into_iter()
            .map(|t| {
                let name = labels
                    .iter()
                    .find(|l| l.port_id == t.port)
                    .map_or_else(|| format!("port{}", t.port), |l| l.name.clone());
                (name, t)
            })
            .collect()
    })
}

/// Where `--capture-dir` puts a port's output.
pub fn capture_path(dir: &Path, port_name: &str) -> PathBuf {
    dir.join(format!("{port_name}.pcap"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlift_traffic::capture::CaptureScan;

    /// The NIC model's PF with `devargs` as the uplink, and VF 0 and VF 1
    /// on its representors, VF 0 (`vm1`) replaying `/a.pcap`.
    fn model(devargs: &str) -> Config {
        let text = format!(
            r#"
[[port]]
name = "uplink"
role = "uplink"
device = "net_flowlift0,representor=vf[0-1]{devargs}"
[[port]]
name = "vm1"
role = "vf"
mac = "02:00:00:00:00:01"
device = "net_flowlift0_representor_vf0"
replay = "/a.pcap"
[[port]]
name = "vm2"
role = "vf"
mac = "02:00:00:00:00:02"
device = "net_flowlift0_representor_vf1"
"#
        );
        Config::parse(&text, "t.toml").unwrap()
    }

    fn scans(wire: u64, a: u64) -> Vec<(PathBuf, CaptureScan)> {
        let scan = |packets| CaptureScan {
            packets,
            largest_frame: 60,
        };
        vec![
            (PathBuf::from("/w.pcap"), scan(wire)),
            (PathBuf::from("/a.pcap"), scan(a)),
        ]
    }

    #[test]
    fn a_finite_run_ends_with_every_wire_the_vfs_too() {
        let end = wire_end(&model(",wire=/w.pcap,loops=3"), &scans(10, 4))
            .unwrap()
            .unwrap();
        assert_eq!(
            end.wires,
            [
                FiniteWire {
                    port: 0,
                    frames: 30
                },
                FiniteWire {
                    port: 1,
                    frames: 12
                }
            ]
        );
        assert_eq!(end.stall, REPLAY_STALL);
        // Only VMs send: the run ends with their wires.
        let end = wire_end(&model(",loops=2"), &scans(10, 4))
            .unwrap()
            .unwrap();
        assert_eq!(end.wires, [FiniteWire { port: 1, frames: 8 }]);
        // A wire played forever: no end of its own.
        assert!(wire_end(&model(",wire=/w.pcap,loops=0"), &scans(10, 4))
            .unwrap()
            .is_none());
        assert!(wire_end(&model(""), &scans(10, 4)).unwrap().is_none());
        // A generated wire ends with its plan (`gen_flows`, `gen_seconds`),
        // one without either never does.
        let end = wire_end(&model(",gen=mice,gen_flows=20,loops=1"), &scans(10, 4))
            .unwrap()
            .unwrap();
        assert_eq!((end.wires[0].port, end.wires.len()), (0, 2));
        assert!(end.wires[0].frames >= 20, "{:?}", end.wires);
        assert!(wire_end(&model(",gen=steady,loops=1"), &scans(10, 4))
            .unwrap()
            .is_none());
        // 64 bits of frames, named by the port whose replay it is.
        let e = wire_end(&model(",loops=4611686018427387904"), &scans(10, 4))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("port vm1: replay: loops="), "{e}");
        // What a stalled run says of each wire.
        let end = wire_end(&model(",wire=/w.pcap,loops=3"), &scans(10, 4))
            .unwrap()
            .unwrap();
        let cfg = model(",wire=/w.pcap,loops=3");
        assert_eq!(
            wires_stalled(&cfg, &end, Some(&[(30, 30, 30), (5, 5, 4)])),
            "replay stalled: the wires of net_flowlift0: uplink's carried 30 of 30 frames and the host took 30; vm1's carried 5 of 12 frames and the host took 4, then nothing for 5s"
        );
    }

    #[test]
    fn check_config_says_what_each_vm_replays() {
        let lines = replay_lines(&model(",wire=/w.pcap,loops=3"), &scans(10, 4));
        assert_eq!(
            lines,
            ["port vm1 replays /a.pcap (4 packets, 3 time(s), as the uplink's wire): VF 0 of net_flowlift0 sends it into the switch (vf0_wire)"]
        );
    }

    #[test]
    fn check_config_says_what_a_generated_wire_plans() {
        let gen = ",gen=churn,gen_flows=10,gen_seed=3,gen_truth=/t.jsonl";
        let lines = replay_lines(&model(gen), &scans(10, 4));
        assert!(
            lines[0].starts_with("port uplink generates its wire: gen=churn (seed 3), ")
                && lines[0].ends_with(" packets planned, ground truth to /t.jsonl"),
            "{lines:?}"
        );
        let forever = replay_lines(&model(",gen=steady"), &scans(10, 4));
        assert!(forever[0].ends_with("(seed 0), forever"), "{forever:?}");
    }
}
