//! Newtypes for DPDK's numeric ids, so a port is never passed where a queue is meant.
//! `Debug` prints them the way operators read them: `port3`, `queue1`, `lcore2`.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $inner);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// An ethdev port id (`rte_eth_dev_*`'s `port_id`).
    PortId(u16),
    "port"
);
id_type!(
    /// An RX or TX queue index on one port.
    QueueId(u16),
    "queue"
);
id_type!(
    /// An EAL lcore id.
    LcoreId(u32),
    "lcore"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_reads_like_an_operator_would_say_it() {
        assert_eq!(format!("{:?}", PortId(3)), "port3");
        assert_eq!(format!("{:?}", QueueId(0)), "queue0");
        assert_eq!(format!("{:?}", LcoreId(2)), "lcore2");
        assert_eq!(PortId(7).to_string(), "7");
    }
}
