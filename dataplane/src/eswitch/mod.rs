//! The emulated NIC's embedded switch: the model of hardware that the `emulated`
//! offload backend drives on machines without an rte_flow NIC.
//!
//! Like a NIC, it holds a bounded exact-match rule table (flow key -> VF port)
//! and, looked up before it, a small priority-ordered table of wildcard rules
//! that operators create (forward or drop, on masked fields and port ranges),
//! counts hits on counters that outlive their rules (an indirect COUNT),
//! accepts per-flow rules no faster than a configured insertion rate, and
//! refuses with the same kinds of errors (no space, busy), which tests can also
//! inject.
//!
//! Thread-safety: [`Eswitch`] belongs to the lcore that runs the switch (the
//! only writer of its table and counters). The control core changes rules only
//! by [`EswitchCommand`]s on a bounded channel, answered on another, as firmware
//! answers `rte_flow_create`; it reads counters directly from the shared
//! [`CounterBank`] (single writer, relaxed atomics, like the workers' counters).

mod bank;
mod engine;
mod path;
mod wildcard;

pub use bank::{CounterBank, CounterSlot};
pub use engine::{
    Eswitch, EswitchCommand, EswitchConfig, EswitchError, EswitchReply, Faults, Hit, RuleTable,
};
pub use path::{EswitchStats, SwitchPath, SwitchPorts};
pub use wildcard::{
    IpFamily, IpMatch, Masked, PortMatch, WildAction, WildMatch, WildRule, WildcardTable,
};
