//! The operator's surfaces of a running appliance: the testpmd-style shell
//! and its control socket, /metrics and its HTTP server, the status line and
//! final report, and the one counters read-model they all read.
#![deny(unsafe_code)]

pub mod counters;
pub mod metrics;
pub mod metrics_server;
pub mod poll_server;
pub mod report;
pub mod shell;
