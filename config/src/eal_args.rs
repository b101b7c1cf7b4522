//! The EAL command line and the mbuf pool's shape, derived from the config and
//! the captures replayed from memory: what an operator would otherwise have to
//! compute by hand (lcore-to-CPU map, `-m`, mbufs large enough for the
//! capture, one device argument per port, a private file prefix). And
//! [`check`]: what EAL and the start-up would refuse on this machine (lcores,
//! memory, hugepages, PCI devices), found before EAL starts, so that
//! `--check-config` refuses it too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::{Config, MAX_LCORE};
use flowlift_traffic::capture::CaptureScan;

/// Mbufs every lcore may hold in its mempool cache.
pub const MEMPOOL_CACHE: u32 = 256;

/// Bytes one default mbuf takes in memory on hugepages: 2176 bytes of buffer, its
/// 128-byte header, and the mempool's per-object overhead, rounded up.
const BYTES_PER_MBUF: u64 = 2560;

/// What an mbuf takes beyond its data room (header, mempool overhead,
/// rounding), from the default mbuf's figure above.
const MBUF_OVERHEAD: u64 = BYTES_PER_MBUF - rte::MBUF_DEFAULT_DATAROOM as u64;

/// The page `--no-huge` memory comes in. The mempool does not let an object
/// no larger than a page cross one, so each default mbuf takes a page of its
/// own (measured: 131,071 mbufs fail at -m 500 and fit at -m 600); a larger
/// object takes whole pages (DPDK's `rte_mempool_op_calc_mem_size_helper`
/// reserves `ALIGN_CEIL(object, page)` for each).
const NO_HUGE_PAGE: u64 = 4096;

/// Bytes one mbuf of `data_room` takes in EAL memory.
fn bytes_per_mbuf(data_room: u16, no_huge: bool) -> u64 {
    let object = u64::from(data_room) + MBUF_OVERHEAD;
    if no_huge {
        object.div_ceil(NO_HUGE_PAGE) * NO_HUGE_PAGE
    } else {
        object
    }
}

/// The mbuf pool: how many buffers, and how large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolShape {
    pub mbufs: u32,
    /// Each buffer's data room, headroom included (`rte_pktmbuf_pool_create`'s
    /// `data_room_size`).
    pub data_room: u16,
}

/// The pool for `cfg`, where `in_memory` are the captures that ports replay
/// from memory (`net_pcap` with `infinite_rx=1`): enough mbufs to hold them
/// beside the working set, each large enough to hold their largest frame; and
/// `model_wires` the captures the NIC model (`net_flowlift`) replays, which
/// hold no mbuf but whose every frame must fit one ([`model_data_room`]).
pub fn pool_shape(
    cfg: &Config,
    rx_queues_per_port: u32,
    in_memory: &[(PathBuf, CaptureScan)],
    model_wires: &[(PathBuf, CaptureScan)],
) -> anyhow::Result<PoolShape> {
    let packets = in_memory.iter().map(|(_, s)| s.packets).sum();
    Ok(PoolShape {
        mbufs: mbufs_needed(cfg, rx_queues_per_port, packets),
        data_room: data_room_for(in_memory)?.max(model_data_room(model_wires)?),
    })
}

/// The data room mbufs need so that the NIC model (`net_flowlift`) can hand
/// the host every frame of the captures it replays (its uplink's wire, its
/// VFs' wires).
///
/// The PMD reads each capture into its own memory at probe, so a capture
/// holds no mbuf, however long or looped: its switch takes an mbuf from the
/// RX queue's pool (the application's, given at `rx_queue_setup`) only when
/// that queue's ring has room for the frame, copies the frame into it, and
/// hands it over at `rte_eth_rx_burst`. So the model holds at most a ring's
/// worth of mbufs per RX queue, one per descriptor, as a NIC does, which
/// [`mbufs_floor`]'s descriptors already count (an unpaced wire waits for a
/// buffer rather than miss a frame; the switch thread has no lcore, so it
/// allocates past the per-lcore caches, which [`mbufs_floor`] also counts).
/// But it copies a frame into one mbuf only (no scatter is modelled): a
/// frame larger than the mbuf's room after its headroom is not delivered but
/// counted in the port's `ierrors`. So every mbuf is made large enough for
/// the largest frame.
pub fn model_data_room(wires: &[(PathBuf, CaptureScan)]) -> anyhow::Result<u16> {
    let default = rte::MBUF_DEFAULT_DATAROOM;
    let Some((path, scan)) = wires.iter().max_by_key(|(_, s)| s.largest_frame) else {
        return Ok(default);
    };
    match room_for(scan.largest_frame) {
        Some(room) => Ok(room.max(default)),
        None => bail!(
            "capture {} holds a frame of {} bytes: net_flowlift copies each frame into a single mbuf (no scatter), and an mbuf holds at most {} bytes: it would count the frame in ierrors and never deliver it; cut such frames with `editcap -s {}`",
            path.display(),
            scan.largest_frame,
            u32::from(u16::MAX) - u32::from(rte::MBUF_HEADROOM),
            u32::from(u16::MAX) - u32::from(rte::MBUF_HEADROOM),
        ),
    }
}

/// The data room (headroom included) that holds a frame of `largest` bytes
/// in one mbuf, a cache-line multiple where one fits; `None` when no mbuf
/// can (a data room is 16 bits).
fn room_for(largest: u32) -> Option<u16> {
    let need = largest.saturating_add(u32::from(rte::MBUF_HEADROOM));
    let room = u16::try_from(need).ok()?;
    Some(room.checked_next_multiple_of(64).unwrap_or(room))
}

/// Largest frame `net_pcap` reads whole: it keeps a frame's length in 16 bits
/// (DPDK 22.11 `eth_pcap_rx`: `mbuf->pkt_len = (uint16_t)header.caplen`), so a
/// longer one would arrive cut short under a wrong length.
pub const NET_PCAP_MAX_FRAME: u32 = u16::MAX as u32;

/// Refuses a capture `net_pcap` cannot replay whole, however it replays it:
/// one with a frame over [`NET_PCAP_MAX_FRAME`] bytes.
pub fn check_net_pcap_frames(path: &std::path::Path, scan: &CaptureScan) -> anyhow::Result<()> {
    if scan.largest_frame > NET_PCAP_MAX_FRAME {
        bail!(
            "capture {} holds a frame of {} bytes: net_pcap reads at most {NET_PCAP_MAX_FRAME} bytes of a frame (it keeps the length in 16 bits) and would deliver it cut short; cut such frames with `editcap -s {NET_PCAP_MAX_FRAME}`",
            path.display(),
            scan.largest_frame
        );
    }
    Ok(())
}

/// The data room mbufs need so that `net_pcap`'s `infinite_rx` can hold every
/// frame of the captures it replays from memory.
///
/// With `infinite_rx=1`, `net_pcap` reads the whole capture into mbufs at
/// `rx_queue_setup` and then replays it by copying one segment per frame
/// (DPDK 22.11 `drivers/net/pcap/pcap_ethdev.c`, `eth_pcap_rx_infinite`). A
/// frame larger than one mbuf's room comes out of the file read as a chain
/// (`eth_pcap_rx_jumbo`), which `eth_rx_queue_setup` refuses: "Multiseg mbufs
/// are not supported in infinite_rx mode.", `-EINVAL`, all the caller sees of
/// it being "Invalid argument". So for such a capture every mbuf is made large
/// enough for its largest frame. Frames read from the file as they are needed
/// (`--loops 1`) are chained over default mbufs instead, which the workers
/// parse and send whole, so a capture read that way never grows the pool.
///
/// One pool serves every port: in a replay every packet enters through the
/// replaying port, so a second, smaller pool would save only the other ports'
/// RX descriptors. The cost is the pool's memory, which `-m` accounts for: a
/// 9000-byte frame takes 12 KiB per mbuf with `--no-huge` instead of 4 KiB.
pub fn data_room_for(in_memory: &[(PathBuf, CaptureScan)]) -> anyhow::Result<u16> {
    let default = rte::MBUF_DEFAULT_DATAROOM;
    let headroom = u32::from(rte::MBUF_HEADROOM);
    let Some((path, scan)) = in_memory.iter().max_by_key(|(_, s)| s.largest_frame) else {
        return Ok(default);
    };
    let largest = scan.largest_frame;
    if largest.saturating_add(headroom) <= u32::from(default) {
        return Ok(default);
    }
    if let Some(room) = room_for(largest) {
        return Ok(room);
    }
    let way_out = if largest > NET_PCAP_MAX_FRAME {
        format!("net_pcap cannot replay frames over {NET_PCAP_MAX_FRAME} bytes at all (it keeps their length in 16 bits); cut them with `editcap -s {NET_PCAP_MAX_FRAME}`")
    } else {
        "replay it with --loops 1, which reads frames from the file and chains them over several mbufs".to_string()
    };
    bail!(
        "capture {} holds a frame of {largest} bytes: net_pcap's infinite_rx (how --loops other than 1 replays) keeps each frame in a single mbuf and refuses frames that need several (rx_queue_setup: Invalid argument), and an mbuf holds at most {} bytes; {way_out}",
        path.display(),
        u32::from(u16::MAX) - headroom,
    )
}

/// EAL memory beyond the pool: rings, queues, driver state, malloc heaps.
const BASE_MEMORY_MB: u64 = 128;

/// How many mbufs the pool needs: every RX and TX descriptor filled, every
/// worker's batches full, every lcore cache full, plus a capture replayed from
/// memory (`infinite_rx` holds the whole capture in mbufs), plus slack. Rounded
/// to 2^n - 1, the size DPDK's mempool ring uses best.
pub fn mbufs_needed(cfg: &Config, rx_queues_per_port: u32, capture_packets: u64) -> u32 {
    let dp = &cfg.dataplane;
    if dp.mbufs > 0 {
        return dp.mbufs;
    }
    let need = mbufs_floor(cfg, rx_queues_per_port, capture_packets) + 1024;
    let rounded = need.next_power_of_two() - 1;
    rounded.min(u64::from(u32::MAX)) as u32
}

/// The fewest mbufs the appliance runs with: every descriptor, batch and
/// cache full, and the capture held in memory. An explicit `mbufs` below it
/// leaves queues unfilled (a real NIC refuses to start) or the replay short.
pub fn mbufs_floor(cfg: &Config, rx_queues_per_port: u32, capture_packets: u64) -> u64 {
    let dp = &cfg.dataplane;
    let workers = dp.worker_lcores.len() as u64;
    let ports = cfg.ports.len() as u64;
    let descriptors = ports
        * (u64::from(rx_queues_per_port) * u64::from(dp.rx_desc) + workers * u64::from(dp.tx_desc));
    let batches = workers * (ports + 1) * rte::MAX_BURST as u64;
    let caches = (workers + 1) * u64::from(MEMPOOL_CACHE);
    descriptors + batches + caches + capture_packets
}

/// Whether the user's EAL arguments already contain one of `flags` (as `-x v`,
/// `-xv`, `--flag v` or `--flag=v`).
fn has_flag(args: &[String], flags: &[&str]) -> bool {
    args.iter()
        .any(|a| flags.iter().any(|f| flag_value(a, f).is_some()))
}

/// If `arg` is `flag` (`-l`, `--lcores`), the value attached to it (`""`
/// when the value is the next argument): `-l0-3`, `--lcores=0-3`.
fn flag_value<'a>(arg: &'a str, flag: &str) -> Option<&'a str> {
    let rest = arg.strip_prefix(flag)?;
    if rest.is_empty() {
        Some("")
    } else if let Some(v) = rest.strip_prefix('=') {
        Some(v)
    } else if !flag.starts_with("--") {
        // getopt's short options take their value attached: -l0-3, -m512.
        Some(rest)
    } else {
        None
    }
}

/// EAL memory flowlift asks for (`-m`) when the config leaves it to flowlift.
fn auto_memory_mb(pool: PoolShape, args: &[String]) -> u64 {
    let per_mbuf = bytes_per_mbuf(pool.data_room, has_flag(args, &["--no-huge"]));
    (u64::from(pool.mbufs) * per_mbuf).div_ceil(1 << 20) + BASE_MEMORY_MB
}

/// The full EAL argument list for this config and pool.
pub fn eal_args(cfg: &Config, pool: PoolShape, cpus: usize) -> Vec<String> {
    let mut args = cfg.eal.args.clone();
    let dp = &cfg.dataplane;
    if !has_flag(&args, &["-l", "--lcores", "-c"]) {
        // lcore N runs on CPU N when the machine has it; lcores beyond the
        // CPUs share the main lcore's CPU, which sleeps between control ticks.
        // Two poll-mode lcores on one CPU would time-slice in milliseconds and
        // forward at a few percent of their rate (measured: 0.29 Mpps for a
        // second poll-mode lcore on the worker's CPU, 8 Mpps beside the main
        // lcore); the
        // cost here is a control tick late by up to a time slice (fine for
        // functional runs, never for benchmark figures).
        let cpus = cpus.max(1) as u32;
        let cpu_of = |lc: u32| {
            if lc < cpus {
                lc
            } else {
                dp.main_lcore.min(cpus - 1)
            }
        };
        let map: Vec<String> = std::iter::once(dp.main_lcore)
            .chain(dp.worker_lcores.iter().copied())
            .map(|lc| format!("{lc}@{}", cpu_of(lc)))
            .collect();
        args.push(format!("--lcores={}", map.join(",")));
        if dp.main_lcore != 0 {
            args.push(format!("--main-lcore={}", dp.main_lcore));
        }
    }
    if !has_flag(&args, &["-m", "--socket-mem"]) {
        let mb = if cfg.eal.memory_mb > 0 {
            u64::from(cfg.eal.memory_mb)
        } else {
            auto_memory_mb(pool, &args)
        };
        args.push("-m".into());
        args.push(mb.to_string());
    }
    if !has_flag(&args, &["--file-prefix"]) {
        args.push(format!("--file-prefix=flowlift-{}", std::process::id()));
    }
    if !has_flag(&args, &["--log-level"]) {
        args.push("--log-level=lib.eal:warning".into());
    }
    for p in &cfg.ports {
        if p.is_representor() {
            // Its PF's `-a ...,representor=...` argument creates it.
            continue;
        }
        if p.is_vdev() {
            args.push(format!("--vdev={}", p.device));
        } else {
            args.push("-a".into());
            args.push(p.device.clone());
        }
    }
    args
}

/// What the user's own EAL arguments (`[eal] args`) say about lcores and
/// memory, read as EAL reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEal {
    /// The lcores `-l`, `--lcores` or `-c` enable; `None`: flowlift writes the
    /// list from the config.
    pub lcores: Option<BTreeSet<u32>>,
    /// The CPUs those lcores run on.
    pub cpus: Option<BTreeSet<u32>>,
    /// `--main-lcore`.
    pub main_lcore: Option<u32>,
    /// `-m`, or the sum of `--socket-mem`, in MB.
    pub memory_mb: Option<u64>,
    pub no_huge: bool,
    pub no_pci: bool,
}

impl UserEal {
    /// Reads `args`; a refusal names the option, as EAL would refuse it.
    pub fn read(args: &[String]) -> Result<UserEal, String> {
        let mut out = UserEal::default();
        let mut i = 0;
        // The value of a flag: attached, or the next argument.
        let value = |i: &mut usize, attached: &str, flag: &str| -> Result<String, String> {
            if !attached.is_empty() {
                return Ok(attached.to_owned());
            }
            *i += 1;
            args.get(*i)
                .cloned()
                .ok_or_else(|| format!("eal.args: {flag} needs a value"))
        };
        while i < args.len() {
            let a = args[i].as_str();
            if let Some(v) = flag_value(a, "-l").or(flag_value(a, "--lcores")) {
                let flag = if a.starts_with("--") {
                    "--lcores"
                } else {
                    "-l"
                };
                let v = value(&mut i, v, flag)?;
                let (lcores, cpus) = lcore_list(&v, flag == "--lcores").ok_or_else(|| {
                    format!("eal.args: {flag} {v:?}: not an lcore list such as 0-2 or 0,1,3")
                })?;
                out.lcores = Some(lcores);
                out.cpus = Some(cpus);
            } else if let Some(v) = flag_value(a, "-c") {
                let v = value(&mut i, v, "-c")?;
                let lcores = lcore_mask(&v)
                    .ok_or_else(|| format!("eal.args: -c {v:?}: not a hexadecimal lcore mask"))?;
                out.cpus = Some(lcores.clone());
                out.lcores = Some(lcores);
            } else if let Some(v) = flag_value(a, "--main-lcore") {
                let v = value(&mut i, v, "--main-lcore")?;
                out.main_lcore =
                    Some(v.parse().ok().filter(|l| *l < MAX_LCORE).ok_or_else(|| {
                        format!(
                            "eal.args: --main-lcore {v:?}: must be 0..={}",
                            MAX_LCORE - 1
                        )
                    })?);
            } else if let Some(v) = flag_value(a, "-m") {
                let v = value(&mut i, v, "-m")?;
                out.memory_mb = Some(
                    v.parse()
                        .ok()
                        .filter(|m| *m > 0)
                        .ok_or_else(|| format!("eal.args: -m {v:?}: not a number of MB"))?,
                );
            } else if let Some(v) = flag_value(a, "--socket-mem") {
                let v = value(&mut i, v, "--socket-mem")?;
                let per_socket: Option<Vec<u64>> = v.split(',').map(|m| m.parse().ok()).collect();
                out.memory_mb = Some(per_socket.map(|m| m.iter().sum()).ok_or_else(|| {
                    format!("eal.args: --socket-mem {v:?}: not MB per socket such as 1024,1024")
                })?);
            } else if a == "--no-huge" {
                out.no_huge = true;
            } else if a == "--no-pci" {
                out.no_pci = true;
            }
            i += 1;
        }
        Ok(out)
    }
}

/// A list of numbers and ranges below [`MAX_LCORE`] (`0-2,4`), in
/// parentheses or not.
fn id_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    for part in s.trim_start_matches('(').trim_end_matches(')').split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let n = part.trim().parse::<u32>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi >= MAX_LCORE {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

/// The lcores and the CPUs they run on: `-l 0-2,4` (each lcore on the CPU of
/// its number), or with `lcore_map` `--lcores 0@0,(1-2)@1,3@(0,1)` (groups in
/// parentheses; without `@`, again the CPU of its number).
fn lcore_list(s: &str, lcore_map: bool) -> Option<(BTreeSet<u32>, BTreeSet<u32>)> {
    let (mut lcores, mut cpus) = (BTreeSet::new(), BTreeSet::new());
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    items.push(&s[start..]);
    for item in items {
        let (ids, on) = match item.split_once('@') {
            Some((l, c)) if lcore_map => (id_list(l)?, id_list(c)?),
            Some(_) => return None,
            None => {
                let l = id_list(item)?;
                (l.clone(), l)
            }
        };
        lcores.extend(ids);
        cpus.extend(on);
    }
    (!lcores.is_empty()).then_some((lcores, cpus))
}

/// `-c 0x7`: the lcores whose bits are set.
fn lcore_mask(s: &str) -> Option<BTreeSet<u32>> {
    let hex = s.trim_start_matches("0x").trim_start_matches("0X");
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = BTreeSet::new();
    for (i, c) in hex.chars().rev().enumerate() {
        let nibble = c.to_digit(16)?;
        for bit in 0..4 {
            if nibble & (1 << bit) != 0 {
                let lcore = u32::try_from(i * 4 + bit).ok()?;
                if lcore >= MAX_LCORE {
                    return None;
                }
                out.insert(lcore);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What the machine offers, as the start-up will find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Memory the kernel could give a new process now (`MemAvailable`, or
    /// less if the process's cgroup is limited).
    pub available_bytes: u64,
    /// Free hugepages, all sizes, in bytes.
    pub free_hugepage_bytes: u64,
    /// PCI devices present (`/sys/bus/pci/devices`), as `0000:03:00.0`.
    pub pci_devices: BTreeSet<String>,
    /// The CPUs this process may run on (`Cpus_allowed_list`), where EAL can
    /// pin lcores.
    pub cpus: BTreeSet<u32>,
}

impl Host {
    /// This machine: `/proc/meminfo`, `/sys/kernel/mm/hugepages`,
    /// `/sys/bus/pci/devices`. What cannot be read counts as nothing.
    pub fn probe() -> Host {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let available_bytes = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        // A memory limit on the process's cgroup (v2: systemd's MemoryMax=)
        // caps what it may take whatever the machine has.
        let available_bytes = available_bytes.min(cgroup_room().unwrap_or(u64::MAX));
        let mut free_hugepage_bytes = 0;
        if let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/hugepages") {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let size_kb = name
                    .strip_prefix("hugepages-")
                    .and_then(|n| n.strip_suffix("kB"))
                    .and_then(|n| n.parse::<u64>().ok());
                let free = std::fs::read_to_string(e.path().join("free_hugepages"))
                    .ok()
                    .and_then(|f| f.trim().parse::<u64>().ok());
                if let (Some(kb), Some(n)) = (size_kb, free) {
                    free_hugepage_bytes += kb * 1024 * n;
                }
            }
        }
        let pci_devices = std::fs::read_dir("/sys/bus/pci/devices")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .and_then(|l| cpu_list(l.trim()))
            .unwrap_or_else(|| {
                let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                (0..n as u32).collect()
            });
        Host {
            available_bytes,
            free_hugepage_bytes,
            pci_devices,
            cpus,
        }
    }
}

/// Memory the process's cgroup (v2) still allows it: `memory.max` less
/// `memory.current`; `None` without a limit.
fn cgroup_room() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?;
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// A kernel CPU list (`0-3,8-11`), any size.
fn cpu_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        out.extend(lo..=hi.min(lo.saturating_add(4096)));
    }
    Some(out)
}

/// The most mbufs a DPDK mempool holds: its ring's size mask is 31 bits.
const MEMPOOL_MAX: u64 = (1 << 31) - 1;

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// What EAL and the start-up would refuse on `host` for `cfg` with `mbufs` in
/// the pool (`capture_packets` held in memory by a replay): the user's lcore
/// list against the config's lcores, the pool against its memory, that memory
/// against hugepages, PCI devices against `--no-pci` and the machine, and all
/// the appliance allocates at start against the memory available. Run before
/// EAL, by the start and by `--check-config` alike.
pub fn check(
    cfg: &Config,
    pool: PoolShape,
    capture_packets: u64,
    host: &Host,
) -> Result<(), String> {
    let mbufs = pool.mbufs;
    let dp = &cfg.dataplane;
    let user = UserEal::read(&cfg.eal.args)?;
    if let Some(cpu) = user.cpus.iter().flatten().find(|c| !host.cpus.contains(c)) {
        return Err(format!(
            "eal.args: an lcore would run on CPU {cpu}, which this process cannot use (CPUs {:?})",
            host.cpus
        ));
    }
    if let Some(lcores) = &user.lcores {
        // EAL's main lcore is the lowest it enables unless told otherwise.
        let main = user
            .main_lcore
            .or_else(|| lcores.first().copied())
            .unwrap_or(0);
        if !lcores.contains(&main) {
            return Err(format!(
                "eal.args: --main-lcore {main} is not in EAL's lcore list"
            ));
        }
        if main != dp.main_lcore {
            return Err(format!(
                "eal.args: EAL's main lcore would be {main}, dataplane.main_lcore is {}",
                dp.main_lcore
            ));
        }
        for &lc in &dp.worker_lcores {
            if !lcores.contains(&lc) {
                return Err(format!("worker lcore {lc} is not in EAL's lcore list"));
            }
        }
    } else if let Some(main) = user.main_lcore.filter(|m| *m != dp.main_lcore) {
        return Err(format!(
            "eal.args: --main-lcore {main}, dataplane.main_lcore is {}",
            dp.main_lcore
        ));
    }
    if user.memory_mb.is_some() && cfg.eal.memory_mb > 0 {
        return Err(format!(
            "eal.memory_mb = {} and -m/--socket-mem in eal.args: give the memory once",
            cfg.eal.memory_mb
        ));
    }
    let workers = dp.worker_lcores.len() as u32;
    let floor = mbufs_floor(cfg, workers, capture_packets);
    if dp.mbufs > 0 && u64::from(dp.mbufs) < floor {
        return Err(format!(
            "dataplane.mbufs = {}: the queues, bursts and caches{} need at least {floor} (0 sizes the pool itself)",
            dp.mbufs,
            if capture_packets > 0 {
                " and the capture held in memory"
            } else {
                ""
            }
        ));
    }
    if u64::from(mbufs) > MEMPOOL_MAX {
        return Err(format!(
            "the mbuf pool would need {mbufs} mbufs{}: a DPDK mempool holds at most {MEMPOOL_MAX}",
            if capture_packets > 0 {
                format!(" ({capture_packets} for the replayed capture)")
            } else {
                String::new()
            }
        ));
    }
    let args = &cfg.eal.args;
    let pool_mb =
        (u64::from(mbufs) * bytes_per_mbuf(pool.data_room, user.no_huge)).div_ceil(1 << 20);
    let (eal_mb, eal_from) = match (user.memory_mb, cfg.eal.memory_mb) {
        (Some(m), _) => (m, "-m/--socket-mem in eal.args".to_string()),
        (None, m) if m > 0 => (u64::from(m), format!("eal.memory_mb = {m}")),
        (None, _) => (auto_memory_mb(pool, args), "sized from the pool".into()),
    };
    // The pool, its ring (8 bytes an mbuf) and 2 MB EAL keeps for itself:
    // measured with --no-huge on virtual devices, pools of 128, 512 and 2048
    // MiB start from -m 131, 515 and 2054 and fail 1 MB below. A floor, not a
    // promise: a real NIC's descriptor rings want more.
    let ring_mb = ((u64::from(mbufs) + 1) * 8).div_ceil(1 << 20);
    let eal_floor = pool_mb + ring_mb + 2;
    if eal_mb < eal_floor {
        return Err(format!(
            "{eal_from}: {eal_mb} MB of EAL memory cannot hold the pool of {mbufs} mbufs ({pool_mb} MB{}); give at least {eal_floor}, or 0 to size it",
            if user.no_huge { ", one 4 KiB page each with --no-huge" } else { "" }
        ));
    }
    if !user.no_huge && eal_mb * (1 << 20) > host.free_hugepage_bytes {
        return Err(format!(
            "EAL memory {eal_mb} MB ({eal_from}) comes from hugepages, and this machine has {} MB free: reserve hugepages, or add --no-huge to eal.args",
            host.free_hugepage_bytes >> 20
        ));
    }
    for p in &cfg.ports {
        if p.is_vdev() {
            continue;
        }
        let name = p.dpdk_name();
        let pci = name.split("_representor_").next().unwrap_or(name);
        if user.no_pci {
            return Err(format!(
                "port {}: no DPDK port named {name:?} with --no-pci in eal.args (EAL skips PCI devices)",
                p.name
            ));
        }
        let addr = crate::parse_pci(pci).unwrap_or_default();
        if !host.pci_devices.contains(&addr) {
            return Err(format!(
                "port {}: no DPDK port named {name:?}: no PCI device {addr} on this machine",
                p.name
            ));
        }
    }
    // With --no-huge EAL's memory is the process's own.
    let eal_bytes = if user.no_huge { eal_mb << 20 } else { 0 };
    let total = |c: &Config| {
        c.memory_at_start()
            .iter()
            .fold(eal_bytes, |t, p| t.saturating_add(p.bytes))
    };
    let need = total(cfg);
    if need > host.available_bytes {
        let parts = cfg.memory_at_start();
        let top = &parts[0];
        if eal_bytes > top.bytes {
            return Err(format!(
                "EAL memory {eal_mb} MB ({eal_from}, --no-huge): the appliance would allocate {} at start, more than the {} this machine has available (MemAvailable)",
                gib(need),
                gib(host.available_bytes)
            ));
        }
        // The largest value of the biggest setting that fits, the others
        // as they are: what the operator can write instead.
        let fits = |v: u32| total(&cfg.with_memory_setting(top.key, v)) <= host.available_bytes;
        let (mut lo, mut hi) = (0u32, u32::try_from(top.value).unwrap_or(u32::MAX));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let advice = if lo >= 1 && fits(lo) {
            format!("at most {lo} fits")
        } else {
            "even 1 does not fit with the other settings".into()
        };
        return Err(format!(
            "{} = {}: the appliance would allocate {} at start, {} of it for {}, more than the {} this machine has available (MemAvailable): {advice}",
            top.key,
            top.value,
            gib(need),
            gib(top.bytes),
            top.what,
            gib(host.available_bytes)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shape(mbufs: u32) -> PoolShape {
        PoolShape {
            mbufs,
            data_room: rte::MBUF_DEFAULT_DATAROOM,
        }
    }

    #[test]
    fn demo_args_map_lcores_size_memory_and_add_devices() {
        let cfg = Config::demo(Path::new("/c.pcap"), None);
        let args = eal_args(&cfg, shape(65535), 2);
        assert!(
            args.contains(&"--lcores=0@0,1@1".to_string()),
            "main and worker lcores: {args:?}"
        );
        let m = args.iter().position(|a| a == "-m").unwrap();
        let mb: u64 = args[m + 1].parse().unwrap();
        assert!((300..=450).contains(&mb), "{mb}");
        assert!(args
            .iter()
            .any(|a| a.starts_with("--file-prefix=flowlift-")));
        assert!(args.contains(
            &"--vdev=net_flowlift0,wire=/c.pcap,loops=0,representor=vf[0-3]".to_string()
        ));
        assert!(
            !args.iter().any(|a| a.contains("_representor_")),
            "the representors come with their PF: {args:?}"
        );
        assert_eq!(
            eal_args(&cfg, shape(1023), 1)
                .iter()
                .filter(|a| a.starts_with("--lcores=0@0,1@0"))
                .count(),
            1
        );
    }

    #[test]
    fn user_flags_win() {
        let mut cfg = Config::demo(Path::new("/c.pcap"), None);
        cfg.eal.args = vec![
            "-l".into(),
            "0-1".into(),
            "-m".into(),
            "900".into(),
            "--file-prefix=x".into(),
        ];
        cfg.ports[0].device = "0000:03:00.0,representor=vf[0-1]".into();
        cfg.ports[1].device = "0000:03:00.0_representor_vf0".into();
        let args = eal_args(&cfg, shape(1023), 2);
        assert!(
            !args.iter().any(|a| a.contains("_representor_")),
            "representors come with their PF: {args:?}"
        );
        assert!(!args.iter().any(|a| a.starts_with("--lcores")));
        assert_eq!(args.iter().filter(|a| *a == "-m").count(), 1);
        assert_eq!(
            args.iter()
                .filter(|a| a.starts_with("--file-prefix"))
                .count(),
            1
        );
        let a = args.iter().position(|a| a == "-a").unwrap();
        assert_eq!(args[a + 1], "0000:03:00.0,representor=vf[0-1]");
    }

    #[test]
    fn the_pool_holds_a_replayed_capture_and_is_2n_minus_1() {
        let cfg = Config::demo(Path::new("/c.pcap"), None);
        let small = mbufs_needed(&cfg, 1, 0);
        let big = mbufs_needed(&cfg, 1, 1_000_000);
        assert!(big as u64 > 1_000_000);
        assert!((small as u64 + 1).is_power_of_two() && (big as u64 + 1).is_power_of_two());
    }

    fn in_memory(largest_frame: u32) -> Vec<(PathBuf, CaptureScan)> {
        vec![(
            PathBuf::from("/c.pcap"),
            CaptureScan {
                packets: 10,
                largest_frame,
            },
        )]
    }

    #[test]
    fn mbufs_grow_to_hold_the_largest_frame_replayed_from_memory() {
        let default = rte::MBUF_DEFAULT_DATAROOM;
        assert_eq!(data_room_for(&[]).unwrap(), default);
        assert_eq!(data_room_for(&in_memory(1514)).unwrap(), default);
        assert_eq!(data_room_for(&in_memory(2048)).unwrap(), default);
        // 9000 bytes behind the 128-byte headroom, to a cache line.
        assert_eq!(data_room_for(&in_memory(9000)).unwrap(), 9152);
        assert_eq!(data_room_for(&in_memory(65407)).unwrap(), u16::MAX);
        let two = [in_memory(1514), in_memory(9216)].concat();
        assert_eq!(data_room_for(&two).unwrap(), 9216 + 128);
        let cfg = Config::demo(Path::new("/c.pcap"), None);
        let pool = pool_shape(&cfg, 1, &in_memory(9000), &[]).unwrap();
        assert_eq!(pool.data_room, 9152);
        assert_eq!(pool.mbufs, mbufs_needed(&cfg, 1, 10));
    }

    #[test]
    fn the_model_s_wires_size_the_mbufs_but_hold_none() {
        let default = rte::MBUF_DEFAULT_DATAROOM;
        assert_eq!(model_data_room(&[]).unwrap(), default);
        assert_eq!(model_data_room(&in_memory(1514)).unwrap(), default);
        assert_eq!(model_data_room(&in_memory(9000)).unwrap(), 9152);
        assert_eq!(model_data_room(&in_memory(65407)).unwrap(), u16::MAX);
        let e = model_data_room(&in_memory(65408)).unwrap_err().to_string();
        assert!(e.contains("/c.pcap") && e.contains("net_flowlift"), "{e}");
        assert!(
            e.contains("at most 65407 bytes") && e.contains("editcap"),
            "{e}"
        );
        let cfg = Config::demo(Path::new("/c.pcap"), None);
        let pool = pool_shape(&cfg, 1, &[], &in_memory(9000)).unwrap();
        assert_eq!(pool.data_room, 9152);
        // A million-frame wire adds no mbuf: it stays in the PMD's memory.
        let mut huge = in_memory(60);
        huge[0].1.packets = 1_000_000;
        assert_eq!(
            pool_shape(&cfg, 1, &[], &huge).unwrap().mbufs,
            mbufs_needed(&cfg, 1, 0)
        );
        let both = pool_shape(&cfg, 1, &in_memory(9000), &in_memory(12000)).unwrap();
        assert_eq!(both.data_room, 12160);
    }

    #[test]
    fn frames_no_mbuf_holds_are_refused_naming_infinite_rx_and_the_way_out() {
        let e = data_room_for(&in_memory(65408)).unwrap_err().to_string();
        assert!(e.contains("/c.pcap"), "{e}");
        assert!(e.contains("net_pcap's infinite_rx"), "{e}");
        assert!(e.contains("at most 65407 bytes"), "{e}");
        assert!(e.contains("--loops 1"), "{e}");
        let e = data_room_for(&in_memory(70000)).unwrap_err().to_string();
        assert!(e.contains("infinite_rx"), "{e}");
        assert!(e.contains("editcap"), "{e}");
        assert!(!e.contains("--loops 1"), "{e}");
    }

    #[test]
    fn memory_accounts_for_large_mbufs() {
        assert_eq!(bytes_per_mbuf(rte::MBUF_DEFAULT_DATAROOM, false), 2560);
        assert_eq!(bytes_per_mbuf(rte::MBUF_DEFAULT_DATAROOM, true), 4096);
        // 9152 bytes of room and the overhead span three 4 KiB pages.
        assert_eq!(bytes_per_mbuf(9152, true), 3 * 4096);
        let cfg = Config::demo(Path::new("/c.pcap"), None);
        let mb = |pool| {
            let args = eal_args(&cfg, pool, 2);
            let m = args.iter().position(|a| a == "-m").unwrap();
            args[m + 1].parse::<u64>().unwrap()
        };
        let jumbo = PoolShape {
            mbufs: 16383,
            data_room: 9152,
        };
        assert_eq!(
            mb(jumbo),
            (16383 * 3 * 4096u64).div_ceil(1 << 20) + BASE_MEMORY_MB
        );
        assert!(mb(jumbo) > mb(shape(16383)));
    }
}
