//! Raw, generated bindings to the system DPDK (22.11 LTS). Everything here is
//! `unsafe` and C-shaped; the safe face of DPDK is the `rte` crate.
//!
//! DPDK's `static inline` functions (`rte_eth_rx_burst`, `rte_pktmbuf_free`,
//! `rte_rdtsc`, ...) are reachable through the C wrappers bindgen generates; they
//! keep their C names.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(clippy::all, unsafe_op_in_unsafe_fn, missing_debug_implementations)]
#![allow(clippy::undocumented_unsafe_blocks)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
