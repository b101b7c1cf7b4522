//! Builds the raw bindings of DPDK's driver SDK: finds the installed DPDK with
//! pkg-config and the driver headers that scripts/setup cached outside the tree,
//! runs bindgen over `wrapper.h` with an allow-list, and compiles the C wrappers
//! bindgen writes for the `static inline` functions used.
//!
//! The cached headers go on the include path *after* the installed ones, so
//! `rte_config.h` / `rte_build_config.h` (which fix the layout of
//! `struct rte_eth_dev`) are always the installed ones.

use std::env;
use std::path::PathBuf;

/// What a vdev PMD calls: port allocation and release, the vdev bus (and its
/// `parse`, to find a driver already registered under the PMD's name), switch
/// domains, memory, mbufs, logging, kvargs, the rte_flow/rte_mtr error setters.
const FUNCTIONS: &[&str] = &[
    "rte_eth_dev_allocate",
    "rte_eth_dev_allocated",
    "rte_eth_dev_probing_finish",
    "rte_eth_dev_release_port",
    "rte_eth_dev_close",
    "rte_eth_dev_stop",
    "rte_eal_process_type",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_vdev_allocate",
    "rte_eth_switch_domain_alloc",
    "rte_eth_switch_domain_free",
    "rte_eth_linkstatus_set",
    "rte_vdev_register",
    "rte_bus_find_by_name",
    "rte_vdev_unregister",
    "rte_vdev_device_name",
    "rte_vdev_device_args",
    "rte_zmalloc",
    "rte_zmalloc_socket",
    "rte_free",
    "rte_socket_id",
    "rte_lcore_id",
    "rte_pktmbuf_alloc",
    "rte_pktmbuf_alloc_bulk",
    "rte_pktmbuf_free",
    "rte_pktmbuf_free_bulk",
    "rte_pktmbuf_data_room_size",
    "rte_pktmbuf_headroom",
    "rte_pktmbuf_tailroom",
    "rte_pktmbuf_reset",
    "rte_log",
    "rte_get_tsc_hz",
    "rte_log_register_type_and_pick_level",
    "rte_kvargs_.*",
    "rte_flow_error_set",
    "rte_mtr_error_set",
    "flowlift_drv_rte_errno",
    "flowlift_drv_set_rte_errno",
];

/// Types used directly (the functions above pull in what they need).
const TYPES: &[&str] = &[
    "rte_bus",
    "rte_vdev_driver",
    "rte_vdev_device",
    "rte_eth_dev",
    "rte_eth_dev_data",
    "eth_dev_ops",
    "rte_eth_dev_info",
    "rte_eth_stats",
    "rte_eth_link",
    "rte_eth_xstat",
    "rte_eth_xstat_name",
    "rte_eth_switch_info",
    "rte_eth_representor_info",
    "rte_eth_rxconf",
    "rte_eth_txconf",
    "rte_flow_.*",
    "rte_flow_ops",
    "rte_mtr_.*",
    "rte_mbuf",
    "rte_mempool",
    "flowlift_drv_bits32",
    "flowlift_drv_bits64",
    "flowlift_drv_rss_bits",
    "rte_eth_representor_type",
];
const VARS: &[&str] = &[
    "RTE_ETH_.*",
    "RTE_LOG_.*",
    "RTE_LOGTYPE_.*",
    "RTE_MAX_ETHPORTS",
    "RTE_MAX_QUEUES_PER_PORT",
    "RTE_ETHER_.*",
    "RTE_PKTMBUF_HEADROOM",
    "RTE_MBUF_DEFAULT_.*",
    "RTE_ETH_DEV_.*",
    "RTE_FLOW_.*",
    "RTE_MTR_.*",
    "FLOWLIFT_.*",
];

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["FLOWLIFT_DPDK_DRIVER_HEADERS", "XDG_CACHE_HOME", "HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(true)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(err) => fail(&format!(
            "the system DPDK 22.11 (libdpdk-dev) is not found by pkg-config ({err}): run scripts/setup"
        )),
    };
    // The vdev bus is a driver library, which libdpdk.pc does not list.
    println!("cargo:rustc-link-lib=rte_bus_vdev");

    let headers = driver_headers(&dpdk.version);
    println!(
        "cargo:rerun-if-changed={}",
        headers.join("COMPLETE").display()
    );

    let cflags = pkg_config_cflags();
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let wrappers_c = out.join("static_fns");
    let after = format!("-I{}", headers.display());

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .clang_arg(&after)
        .clang_arg("-DALLOW_EXPERIMENTAL_API")
        .clang_arg("-DALLOW_INTERNAL_API")
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers_c)
        // Apart from dpdk-sys's wrappers, so both crates link into one binary.
        .wrap_static_fns_suffix("__flowlift_drv")
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .no_debug("rte_mbuf|rte_.*_hdr|rte_ether_addr|rte_eth_dev|rte_eth_dev_data")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    let bindings = builder.generate().unwrap_or_else(|err| {
        fail(&format!(
            "bindgen could not parse DPDK's driver headers ({err}): run scripts/setup"
        ))
    });
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    let mut cc = cc::Build::new();
    cc.file(wrappers_c.with_extension("c"))
        .file("shim.c")
        .include(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .define("ALLOW_EXPERIMENTAL_API", None)
        .define("ALLOW_INTERNAL_API", None)
        .flag("-include")
        .flag("wrapper.h")
        .opt_level(3)
        .warnings(false);
    for inc in &dpdk.include_paths {
        cc.include(inc);
    }
    cc.include(&headers);
    for flag in cflags.iter().filter(|f| !f.starts_with("-I")) {
        cc.flag(flag);
    }
    cc.compile("dpdk_driver_static_fns");
}

/// Where scripts/setup put the driver headers of DPDK `version`:
/// `$FLOWLIFT_DPDK_DRIVER_HEADERS`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/flowlift/dpdk-driver-headers-<version>`.
fn driver_headers(version: &str) -> PathBuf {
    let non_empty = |var: &str| env::var_os(var).filter(|v| !v.is_empty());
    let dir = match non_empty("FLOWLIFT_DPDK_DRIVER_HEADERS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = match (non_empty("XDG_CACHE_HOME"), non_empty("HOME")) {
                (Some(xdg), _) => PathBuf::from(xdg),
                (None, Some(home)) => PathBuf::from(home).join(".cache"),
                (None, None) => fail(
                    "neither XDG_CACHE_HOME nor HOME is set: set FLOWLIFT_DPDK_DRIVER_HEADERS \
                     to the directory scripts/setup printed",
                ),
            };
            cache
                .join("flowlift")
                .join(format!("dpdk-driver-headers-{version}"))
        }
    };
    if !dir.join("COMPLETE").is_file() {
        fail(&format!(
            "DPDK {version}'s driver headers are not in {}: run scripts/setup",
            dir.display()
        ));
    }
    dir
}

/// Stops the build with one line saying what to do.
fn fail(line: &str) -> ! {
    eprintln!("dpdk-driver-sys: {line}");
    std::process::exit(1);
}

/// DPDK's cflags as pkg-config prints them (`-include rte_config.h`, `-march=...`).
fn pkg_config_cflags() -> Vec<String> {
    let output = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|err| fail(&format!("cannot run pkg-config ({err}): run scripts/setup")));
    if !output.status.success() {
        fail("pkg-config --cflags libdpdk failed: run scripts/setup");
    }
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}
