//! `flowlift run`: the appliance process. Sets up EAL, the mbuf pool and the ports
//! from the config, launches one poll-mode worker per worker lcore, prints the
//! status line every second from the main lcore, and on `--duration`, SIGINT,
//! SIGTERM or the end of a finite replay stops the workers, prints the final
//! counters and closes the ports (which flushes `net_pcap` output files).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use flowlift_dataplane::flowstate::FlowCounters;
use flowlift_dataplane::l2::L2Table;
use flowlift_dataplane::policy::Policy;
use flowlift_dataplane::stats::{PortTotals, WorkerStats};
use flowlift_dataplane::worker::{RxAssignment, WorkerSetup};
use flowlift_dataplane::PortIdx;
use rte::{Eal, LcoreId, Mempool, Port, PortConfig, RxQueue, TxQueue};

use crate::config::Config;
use crate::fleet::{DpdkWorker, FlowKeeper, WorkerHandle};
use crate::flowlog::{FlowLog, TscClock};
use crate::report::{
    final_report, flow_report, status_line, worker_lines, FlowFigures, PortLabel, WorkerFigures,
};
use crate::traffic::{generate, TrafficSpec};

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
}

/// Why the appliance stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Signal,
    Duration,
    ReplayDone,
    ReplayStalled,
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

/// Removes the demo's generated capture when the run ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The ports, opened and started, with what the reports call them.
struct OpenPorts {
    ports: Vec<Port>,
    labels: Vec<PortLabel>,
}

/// Runs the appliance; returns why it stopped. Output goes to `out`.
pub fn run(opts: &RunOptions, out: &mut dyn Write) -> anyhow::Result<StopReason> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping kills the process the default way.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .context("install signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("install signal handler")?;
    }

    let mut _demo_dir = None;
    let mut cfg = match &opts.config {
        Some(path) => Config::load(path)?,
        None => {
            let dir = std::env::temp_dir().join(format!("flowlift-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            let dir = TempDir(dir);
            let capture = dir.0.join("uplink.pcap");
            let spec = TrafficSpec {
                flows: DEMO_FLOWS,
                packets: DEMO_PACKETS,
                ..TrafficSpec::default()
            };
            generate(&spec, &capture)?;
            if opts.replay.is_none() {
                writeln!(
                    out,
                    "flowlift demo: uplink replays {DEMO_PACKETS} packets of {DEMO_FLOWS} flows (Zipf 1.1) from memory to vf1..vf4; Ctrl-C stops"
                )?;
            }
            let cfg = Config::demo(&capture, None);
            _demo_dir = Some(dir);
            cfg
        }
    };
    if let Some(dir) = &opts.capture_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create capture dir {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("capture dir {}", dir.display()))?;
        cfg.capture_vfs_to(&dir);
    }
    let mut budget = None;
    if let Some(pcap) = &opts.replay {
        let pcap = pcap
            .canonicalize()
            .with_context(|| format!("cannot open capture {}", pcap.display()))?;
        let packets = crate::capture::count_packets(&pcap)?;
        if packets == 0 {
            bail!("capture {} holds no packet", pcap.display());
        }
        if opts.loops > 0 {
            budget = Some(packets * opts.loops);
        }
        cfg.replay_on_uplink(&pcap, opts.loops);
    }
    if opts.capture_dir.is_some() && cfg.dataplane.worker_lcores.len() > 1 {
        bail!(
            "--capture-dir writes one file per VF, which one TX queue feeds: use one worker lcore"
        );
    }

    let in_memory: u64 = cfg
        .ports
        .iter()
        .filter_map(|p| crate::capture::infinite_rx_capture(&p.device))
        .map(|f| crate::capture::count_packets(&f))
        .sum::<anyhow::Result<u64>>()?;
    let workers = cfg.dataplane.worker_lcores.len() as u16;
    let mbufs = crate::eal_args::mbufs_needed(&cfg, u32::from(workers), in_memory);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let args = crate::eal_args::eal_args(&cfg, mbufs, cpus);
    let eal =
        Eal::init(&args).map_err(|e| anyhow::anyhow!("{e} (EAL arguments: {})", args.join(" ")))?;
    let result = run_with_eal(&eal, &cfg, mbufs, budget, opts, &stop, out);
    drop(eal);
    result
}

fn run_with_eal(
    eal: &Eal,
    cfg: &Config,
    mbufs: u32,
    budget: Option<u64>,
    opts: &RunOptions,
    stop: &Arc<AtomicBool>,
    out: &mut dyn Write,
) -> anyhow::Result<StopReason> {
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
    let pool = Arc::new(Mempool::new(
        "flowlift_mbufs",
        mbufs,
        crate::eal_args::MEMPOOL_CACHE,
        rte::MBUF_DEFAULT_DATAROOM,
    )?);
    let workers = dp.worker_lcores.len();
    let (open, mut rx_by_worker, mut tx_by_worker) = open_ports(cfg, &pool, workers, budget)?;
    for (label, port) in open.labels.iter().zip(&open.ports) {
        let link = port
            .link()
            .map(|l| if l.up { "up" } else { "down" })
            .unwrap_or("unknown");
        writeln!(
            out,
            "port {} {}: {} ({}), link {link}",
            label.port_id,
            label.name,
            port.device_name(),
            label.driver
        )?;
    }

    let vfs: Vec<_> = cfg
        .ports
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, p)| (p.mac.expect("validated: VFs have MACs"), PortIdx(i as u16)))
        .collect();
    let l2 = L2Table::new(
        PortIdx(0),
        &vfs,
        dp.unknown_unicast.into(),
        dp.broadcast.into(),
    );
    let policy = Policy::new(cfg.rules.clone(), l2);
    let nports = cfg.ports.len();
    let (flows_v4, flows_v6) = (dp.flow_table_size as usize, dp.flow_table_size_v6 as usize);
    let slots = DpdkWorker::flow_slots_needed(flows_v4, flows_v6);
    let mut fleet: Vec<WorkerHandle> = Vec::with_capacity(workers);
    let mut launched = Vec::with_capacity(workers);
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
        };
        let mut worker = DpdkWorker::new(
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
                clock: rte::cycles::tsc,
                tx_drain_ticks: (dp.tx_drain_us * rte::cycles::tsc_hz() as f64 / 1e6) as u64,
                meters: Vec::new(),
            },
        );
        let (stop, returned) = (Arc::clone(stop), Arc::clone(&handle.returned));
        launched.push(eal.launch(LcoreId(lc), move || {
            worker.run(&stop);
            *returned.lock().unwrap_or_else(|e| e.into_inner()) = Some(worker);
            0
        })?);
        fleet.push(handle);
    }
    let hz = rte::cycles::tsc_hz();
    let log = opts.flow_log.as_deref().map(FlowLog::create).transpose()?;
    let port_names: Vec<String> = cfg.ports.iter().map(|p| p.name.clone()).collect();
    let mut keeper = FlowKeeper::new(
        log,
        TscClock::new(rte::cycles::tsc(), hz),
        hz,
        dp.idle_timeout_s,
        port_names,
    );

    let reason = control_loop(&open, &fleet, &mut keeper, budget, opts, stop, out);
    stop.store(true, Ordering::SeqCst);
    let mut failed = Vec::new();
    for h in launched {
        let lcore = h.lcore();
        if h.join() != 0 {
            failed.push(lcore);
        }
    }
    let logged_at_exit = keeper.finish(&fleet)?;
    let stats: Vec<Arc<WorkerStats>> = fleet.iter().map(|h| Arc::clone(&h.stats)).collect();
    let reason = reason?;
    let totals = WorkerStats::port_totals(stats.iter().map(|s| s.as_ref()), nports);
    let hw: Vec<rte::PortStats> = open
        .ports
        .iter()
        .map(|p| p.stats().unwrap_or_default())
        .collect();
    let why = match reason {
        StopReason::Signal => "signal",
        StopReason::Duration => "--duration reached",
        StopReason::ReplayDone => "replay complete",
        StopReason::ReplayStalled => "replay stalled",
    };
    writeln!(out, "\nStopping ({why}). Final counters:")?;
    write!(out, "{}", final_report(&open.labels, &totals, &hw))?;
    let figures: Vec<WorkerFigures> = dp
        .worker_lcores
        .iter()
        .zip(&stats)
        .map(|(&lcore, s)| WorkerFigures {
            lcore,
            packets: s
                .ports
                .iter()
                .map(|p| p.rx_packets.load(Ordering::Relaxed))
                .sum(),
            busy_cycles: s.busy_cycles.load(Ordering::Relaxed),
            idle_cycles: s.idle_cycles.load(Ordering::Relaxed),
        })
        .collect();
    write!(out, "{}", worker_lines(&figures, rte::cycles::tsc_hz()))?;
    let parse = WorkerStats::parse_error_totals(stats.iter().map(|s| s.as_ref()));
    let sum = |f: fn(&WorkerStats) -> &std::sync::atomic::AtomicU64| -> u64 {
        stats.iter().map(|s| f(s).load(Ordering::Relaxed)).sum()
    };
    let flow_figures = FlowFigures {
        created: sum(|s| &s.flows_created),
        evicted: sum(|s| &s.flows_evicted),
        at_exit: logged_at_exit,
        table_full: sum(|s| &s.table_full),
        events_dropped: sum(|s| &s.events_dropped),
    };
    write!(out, "{}", flow_report(&parse, &flow_figures))?;
    for h in &fleet {
        // The workers' queues go now, before the ports are closed.
        drop(h.returned.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
    out.flush()?;
    // Stop and close every port now (queues went with the workers): net_pcap
    // writes out its capture files here.
    for p in &open.ports {
        let _ = p.stop();
    }
    drop(open);
    if !failed.is_empty() {
        bail!("workers on {failed:?} ended abnormally");
    }
    if reason == StopReason::ReplayStalled {
        let got = totals[0].rx_packets;
        bail!(
            "replay stalled: the uplink delivered {got} of {} packets, then nothing for {}s",
            budget.unwrap_or(0),
            REPLAY_STALL.as_secs()
        );
    }
    Ok(reason)
}

type PerWorker<T> = Vec<Vec<T>>;

/// Opens, configures and starts every port. Each worker gets one TX queue on
/// every port; RX queues (as many as the device offers, up to one per worker) are
/// dealt out to workers in turn.
fn open_ports(
    cfg: &Config,
    pool: &Arc<Mempool>,
    workers: usize,
    budget: Option<u64>,
) -> anyhow::Result<(
    OpenPorts,
    PerWorker<RxAssignment<RxQueue>>,
    PerWorker<TxQueue>,
)> {
    let mut ports = Vec::new();
    let mut labels = Vec::new();
    let mut rx_by_worker: PerWorker<RxAssignment<RxQueue>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut tx_by_worker: PerWorker<TxQueue> = (0..workers).map(|_| Vec::new()).collect();
    for (idx, spec) in cfg.ports.iter().enumerate() {
        let port =
            Port::by_name(spec.dpdk_name()).with_context(|| format!("port {}", spec.name))?;
        let info = port.info().with_context(|| format!("port {}", spec.name))?;
        if usize::from(info.max_tx_queues) < workers {
            bail!(
                "port {}: {} offers {} TX queues; {workers} workers need one each",
                spec.name,
                info.driver,
                info.max_tx_queues
            );
        }
        let rx_queues = (workers as u16).min(info.max_rx_queues).max(1);
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
                // Only the uplink replays a capture; it has one RX queue.
                budget: if idx == 0 { budget } else { None },
            });
        }
        for (w, queue) in txqs.into_iter().enumerate() {
            tx_by_worker[w].push(queue);
        }
        port.start()
            .with_context(|| format!("port {}", spec.name))?;
        labels.push(PortLabel {
            name: spec.name.clone(),
            port_id: port.id().0,
            driver: info.driver,
        });
        ports.push(port);
    }
    Ok((OpenPorts { ports, labels }, rx_by_worker, tx_by_worker))
}

fn cycles(stats: &[Arc<WorkerStats>]) -> (u64, u64) {
    stats.iter().fold((0, 0), |(b, i), s| {
        (
            b + s.busy_cycles.load(Ordering::Relaxed),
            i + s.idle_cycles.load(Ordering::Relaxed),
        )
    })
}

/// The main lcore's loop: status line every `status_every`, and the end of the run.
fn control_loop(
    open: &OpenPorts,
    fleet: &[WorkerHandle],
    keeper: &mut FlowKeeper,
    budget: Option<u64>,
    opts: &RunOptions,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> anyhow::Result<StopReason> {
    let nports = open.ports.len();
    let stats: Vec<Arc<WorkerStats>> = fleet.iter().map(|h| Arc::clone(&h.stats)).collect();
    let stats = stats.as_slice();
    let totals = || WorkerStats::port_totals(stats.iter().map(|s| s.as_ref()), nports);
    let start = Instant::now();
    let mut last_status = start;
    let mut prev: Vec<PortTotals> = totals();
    let mut prev_cycles = cycles(stats);
    let mut last_progress = (start, 0u64);
    let mut last_expire = start;
    loop {
        std::thread::sleep(TICK);
        let now = Instant::now();
        keeper.drain_events(fleet)?;
        // The idle scan reads every tracked flow's last-seen stamp: a few times a
        // second is plenty for timeouts measured in seconds.
        if now - last_expire >= IDLE_SCAN {
            keeper.expire_idle(fleet, rte::cycles::tsc());
            last_expire = now;
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(StopReason::Signal);
        }
        if opts.duration.is_some_and(|d| now - start >= d) {
            return Ok(StopReason::Duration);
        }
        let current = totals();
        if let Some(expected) = budget {
            let got = current[0].rx_packets;
            if got >= expected {
                return Ok(StopReason::ReplayDone);
            }
            if got != last_progress.1 {
                last_progress = (now, got);
            } else if now - last_progress.0 >= REPLAY_STALL {
                return Ok(StopReason::ReplayStalled);
            }
        }
        if now - last_status >= opts.status_every {
            let secs = (now - last_status).as_secs_f64();
            let c = cycles(stats);
            let (busy, idle) = (c.0 - prev_cycles.0, c.1 - prev_cycles.1);
            let busy_pct = if busy + idle == 0 {
                0.0
            } else {
                100.0 * busy as f64 / (busy + idle) as f64
            };
            writeln!(
                out,
                "{}",
                status_line(now - start, &open.labels, &prev, &current, secs, busy_pct)
            )?;
            out.flush()?;
            prev = current;
            prev_cycles = c;
            last_status = now;
        }
    }
}

/// Where `--capture-dir` puts a port's output.
pub fn capture_path(dir: &Path, port_name: &str) -> PathBuf {
    dir.join(format!("{port_name}.pcap"))
}
