//! rte_flow: typed patterns and actions, lowered to DPDK's item/action arrays, and
//! the rules, indirect counters and errors built from them.
//!
//! [`Pattern`] and [`Actions`] are plain Rust values (testable without EAL or a
//! NIC); [`raw::RawPattern`]/[`raw::RawActions`] own the C structures DPDK reads,
//! with stable addresses for as long as a call needs them.

mod error;
mod items;
pub mod raw;
mod rule;

pub use error::{error_type, FlowError, FlowErrorClass};
pub use items::{
    Action, Actions, Attr, EthItem, FullMask, Ipv4Item, Ipv6Item, Item, L4Item, Masked, Pattern,
    PrefixMask, VlanItem,
};
pub use rule::{flush, validate, CounterRef, Counts, IndirectCounter, Rule};
