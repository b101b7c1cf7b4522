//! Raw, generated bindings to DPDK 22.11's driver SDK: what a poll-mode driver
//! for a virtual device needs (`struct rte_eth_dev`, `eth_dev_ops`, the vdev bus
//! driver interface, `rte_flow_ops`, `rte_mtr_ops`, mbufs, kvargs). Everything
//! here is `unsafe` and C-shaped; the NIC model's PMD glue
//! (`rte-net-flowlift`) is its only user.
//!
//! The driver headers come from Debian's source package of the installed DPDK
//! (scripts/setup caches them); the configuration headers, and so the layout of
//! every structure, are the installed ones. DPDK's `static inline` functions
//! are reached through C wrappers that keep their C names here (the wrapper
//! symbols carry a suffix of their own, so this crate and `dpdk-sys` link into
//! one binary).
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(clippy::all, unsafe_op_in_unsafe_fn, missing_debug_implementations)]
#![allow(clippy::undocumented_unsafe_blocks)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
