//! The appliance: EAL arguments, setting up ports and workers, the control
//! loop, the staged shutdown, and the `flowlift` binary.
#![deny(unsafe_code)]

pub mod app;
pub mod cli;
mod huge_pages;
pub mod link_watch;
pub mod logging;
pub mod notify;
pub mod signals;
