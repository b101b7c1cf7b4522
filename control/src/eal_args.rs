//! The EAL command line and the mbuf pool's shape, derived from the config and
//! the captures replayed from memory: what an operator would otherwise have to
//! compute by hand (lcore-to-CPU map, `-m`, mbufs large enough for the
//! capture, one device argument per port, a private file prefix).

use std::path::PathBuf;

use anyhow::bail;

use crate::capture::CaptureScan;
use crate::config::{BackendKind, Config};

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
/// beside the working set, each large enough to hold their largest frame.
pub fn pool_shape(
    cfg: &Config,
    rx_queues_per_port: u32,
    in_memory: &[(PathBuf, CaptureScan)],
) -> anyhow::Result<PoolShape> {
    let packets = in_memory.iter().map(|(_, s)| s.packets).sum();
    Ok(PoolShape {
        mbufs: mbufs_needed(cfg, rx_queues_per_port, packets),
        data_room: data_room_for(in_memory)?,
    })
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
    let need = largest.saturating_add(headroom);
    if need <= u32::from(default) {
        return Ok(default);
    }
    if let Ok(room) = u16::try_from(need) {
        // A cache-line multiple, as DPDK's own sizes are, where one fits.
        return Ok(room.checked_next_multiple_of(64).unwrap_or(room));
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
    let workers = dp.worker_lcores.len() as u64;
    let ports = cfg.ports.len() as u64;
    let descriptors = ports
        * (u64::from(rx_queues_per_port) * u64::from(dp.rx_desc) + workers * u64::from(dp.tx_desc));
    let batches = workers * (ports + 1) * rte::MAX_BURST as u64;
    let caches = (workers + 1) * u64::from(MEMPOOL_CACHE);
    // The emulated NIC: a TX queue on every port, its batches and cache, and
    // the workers' miss rings.
    let nic = if cfg.offload.backend == BackendKind::Emulated {
        ports * (u64::from(dp.tx_desc) + rte::MAX_BURST as u64)
            + workers * (u64::from(crate::emulated_nic::MISS_RING) + rte::MAX_BURST as u64)
            + u64::from(MEMPOOL_CACHE)
    } else {
        0
    };
    let need = descriptors + batches + caches + nic + capture_packets + 1024;
    let rounded = need.next_power_of_two() - 1;
    rounded.min(u64::from(u32::MAX)) as u32
}

/// Whether the user's EAL arguments already contain one of `flags` (as `-x v`,
/// `--flag v` or `--flag=v`).
fn has_flag(args: &[String], flags: &[&str]) -> bool {
    args.iter().any(|a| {
        flags
            .iter()
            .any(|f| a == f || a.starts_with(&format!("{f}=")))
    })
}

/// The full EAL argument list for this config and pool.
pub fn eal_args(cfg: &Config, pool: PoolShape, cpus: usize) -> Vec<String> {
    let mut args = cfg.eal.args.clone();
    let dp = &cfg.dataplane;
    if !has_flag(&args, &["-l", "--lcores", "-c"]) {
        // lcore N runs on CPU N when the machine has it; lcores beyond the
        // CPUs share the main lcore's CPU, which sleeps between control ticks.
        // Two poll-mode lcores on one CPU would time-slice in milliseconds and
        // forward at a few percent of their rate (measured: 0.29 Mpps for the
        // emulated NIC on the worker's CPU, 8 Mpps beside the main lcore); the
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
        let nic = (cfg.offload.backend == BackendKind::Emulated).then_some(cfg.offload.lcore);
        let map: Vec<String> = std::iter::once(dp.main_lcore)
            .chain(dp.worker_lcores.iter().copied())
            .chain(nic)
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
            let per_mbuf = bytes_per_mbuf(pool.data_room, has_flag(&args, &["--no-huge"]));
            (u64::from(pool.mbufs) * per_mbuf).div_ceil(1 << 20) + BASE_MEMORY_MB
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
            args.contains(&"--lcores=0@0,1@1,2@0".to_string()),
            "main, worker and emulated NIC lcores: {args:?}"
        );
        let m = args.iter().position(|a| a == "-m").unwrap();
        let mb: u64 = args[m + 1].parse().unwrap();
        assert!((300..=450).contains(&mb), "{mb}");
        assert!(args
            .iter()
            .any(|a| a.starts_with("--file-prefix=flowlift-")));
        assert!(args.contains(&"--vdev=net_null4,no-rx=1".to_string()));
        assert_eq!(
            eal_args(&cfg, shape(1023), 1)
                .iter()
                .filter(|a| a.starts_with("--lcores=0@0,1@0,2@0"))
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
        let pool = pool_shape(&cfg, 1, &in_memory(9000)).unwrap();
        assert_eq!(pool.data_room, 9152);
        assert_eq!(pool.mbufs, mbufs_needed(&cfg, 1, 10));
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
