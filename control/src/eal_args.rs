//! The EAL command line and the mbuf pool size, derived from the config: what an
//! operator would otherwise have to compute by hand (lcore-to-CPU map, `-m`, one
//! device argument per port, a private file prefix).

use crate::config::{BackendKind, Config};

/// Mbufs every lcore may hold in its mempool cache.
pub const MEMPOOL_CACHE: u32 = 256;

/// Bytes one default mbuf takes in memory on hugepages: 2176 bytes of buffer, its
/// 128-byte header, and the mempool's per-object overhead, rounded up.
const BYTES_PER_MBUF: u64 = 2560;

/// The same with `--no-huge`: memory comes in 4 KiB pages and the mempool does not
/// let an object cross a page, so each mbuf takes a page of its own (measured:
/// 131,071 mbufs fail at -m 500 and fit at -m 600).
const BYTES_PER_MBUF_NO_HUGE: u64 = 4096;

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

/// The full EAL argument list for this config and pool size.
pub fn eal_args(cfg: &Config, mbufs: u32, cpus: usize) -> Vec<String> {
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
            let per_mbuf = if has_flag(&args, &["--no-huge"]) {
                BYTES_PER_MBUF_NO_HUGE
            } else {
                BYTES_PER_MBUF
            };
            (u64::from(mbufs) * per_mbuf).div_ceil(1 << 20) + BASE_MEMORY_MB
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

    #[test]
    fn demo_args_map_lcores_size_memory_and_add_devices() {
        let cfg = Config::demo(Path::new("/c.pcap"), None);
        let args = eal_args(&cfg, 65535, 2);
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
            eal_args(&cfg, 1023, 1)
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
        let args = eal_args(&cfg, 1023, 2);
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
}
