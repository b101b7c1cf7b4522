//! The operator's shell, testpmd style: the same commands on stdin
//! (`flowlift run -i`) and on the control socket (`flowlift shell`).
//!
//! [`command`] parses a line (and completes one); the control core carries the
//! command out between ticks (`exec`), so a command sees a consistent state
//! and never touches a worker; [`socket`] serves the control socket, one
//! command per connection; [`client`] is `flowlift shell`. [`testpmd_flow`]
//! parses testpmd's `flow` commands into the offload side's static-rule model
//! and [`static_reply`] words what the offload side made of them. [`reload`]
//! reads the config file again and applies what may change live.

pub mod client;
pub mod command;
pub mod exec;
pub mod port_stats;
pub mod reload;
pub mod socket;
pub mod static_reply;
pub mod testpmd_flow;
