//! flowlift's control side: the configuration, the traffic generator, and the
//! appliance process that sets up DPDK ports, launches the poll-mode workers,
//! prints the status line and the final counters.
#![deny(unsafe_code)]

pub mod app;
pub mod capture;
pub mod config;
pub mod counters;
pub mod demo_capture;
pub mod eal_args;
pub mod fleet;
pub mod flowlog;
pub mod lifecycle;
pub mod metrics;
pub mod metrics_server;
pub mod model_nic;
pub mod offload;
pub mod poll_server;
pub mod report;
pub mod shell;
pub mod signals;
pub mod tracker;
pub mod traffic;
