//! Builds the raw DPDK bindings: finds the system DPDK with pkg-config, runs bindgen
//! over `wrapper.h` with an allow-list, and compiles the C wrappers bindgen writes
//! for DPDK's `static inline` functions (rx/tx burst, mbuf helpers, rdtsc, ...)
//! with DPDK's own cflags, so no `-march` is chosen here.

use std::env;
use std::path::PathBuf;

/// Function families the safe `rte` crate and the benchmarks use.
const FUNCTIONS: &[&str] = &[
    "rte_eal_.*",
    "rte_lcore_.*",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_socket_id",
    "rte_strerror",
    "rte_exit",
    "rte_version",
    "rte_rdtsc",
    "rte_rdtsc_precise",
    "rte_get_tsc_hz",
    "rte_get_tsc_cycles",
    "rte_delay_us_block",
    "rte_prefetch0",
    "rte_prefetch1",
    "rte_prefetch2",
    "rte_eth_.*",
    "rte_pktmbuf_.*",
    "rte_mbuf_refcnt_.*",
    "rte_mempool_create",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_mempool_lookup",
    "rte_ring_create",
    "rte_ring_free",
    "rte_ring_count",
    "rte_ring_free_count",
    "rte_ring_enqueue_burst",
    "rte_ring_dequeue_burst",
    "rte_ring_mp_enqueue_burst",
    "rte_ring_mc_dequeue_burst",
    "rte_ring_sp_enqueue_burst",
    "rte_ring_sc_dequeue_burst",
    "rte_flow_.*",
    "rte_mtr_.*",
    "rte_hash_.*",
    "rte_jhash",
    "rte_malloc_get_socket_stats",
    "flowlift_rte_errno",
];

/// Types and constants used directly (the functions above pull in the rest).
const TYPES: &[&str] = &[
    "rte_flow_.*",
    "rte_mtr_.*",
    "rte_eth_.*",
    "rte_hash_.*",
    "rte_mbuf",
];
const VARS: &[&str] = &["RTE_.*", "PKT_.*", "rte_eth_fp_ops"];

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-changed=build.rs");

    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(true)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(err) => {
            panic!(
                "\n\nflowlift needs the system DPDK 22.11 (libdpdk-dev), found by pkg-config: {err}\n\
                 run scripts/setup to install it\n\n"
            );
        }
    };
    // rte_eth_from_rings lives in the ring PMD, which libdpdk.pc does not list.
    println!("cargo:rustc-link-lib=rte_net_ring");

    let cflags = pkg_config_cflags();
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let wrappers_c = out.join("static_fns");

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-DALLOW_EXPERIMENTAL_API")
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers_c)
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        // Packed/aligned unions in rte_mbuf and friends cannot derive Debug.
        .no_debug("rte_mbuf|rte_.*_hdr|rte_ether_addr")
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
    let bindings = builder.generate().expect(
        "bindgen could not parse the DPDK headers (is libclang-dev installed? run scripts/setup)",
    );
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    // The wrappers bindgen wrote, plus our one hand-written accessor, compiled
    // with exactly the flags DPDK's pkg-config file gives.
    let mut cc = cc::Build::new();
    cc.file(wrappers_c.with_extension("c"))
        .file("shim.c")
        .include(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .define("ALLOW_EXPERIMENTAL_API", None)
        .flag("-include")
        .flag("wrapper.h")
        .opt_level(3)
        .warnings(false);
    for inc in &dpdk.include_paths {
        cc.include(inc);
    }
    for flag in cflags.iter().filter(|f| !f.starts_with("-I")) {
        cc.flag(flag);
    }
    cc.compile("dpdk_static_fns");
}

/// DPDK's cflags as pkg-config prints them (`-include rte_config.h`, `-march=...`).
fn pkg_config_cflags() -> Vec<String> {
    let output = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("run pkg-config (run scripts/setup)");
    assert!(
        output.status.success(),
        "pkg-config --cflags libdpdk failed: run scripts/setup"
    );
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}
