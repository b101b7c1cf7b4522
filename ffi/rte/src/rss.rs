//! How a port spreads what it receives over its RX queues, as the device
//! reports it once configured (not as it was asked): the queue count, whether
//! RSS is on (`rxmode.mq_mode`), and the hash functions (`rss_hf`) named as
//! testpmd's `show port N rss-hash` names them. An operator with several
//! workers needs this: without RSS every frame of the port goes to queue 0,
//! so to one worker.

use crate::error::{port_ret, Error};
use crate::port::Port;

/// RSS hash functions (`RTE_ETH_RSS_*` of DPDK 22.11's `rte_ethdev.h`: bit,
/// testpmd's name).
const NAMES: [(u32, &str); 22] = [
    (2, "ipv4"),
    (3, "ipv4-frag"),
    (4, "ipv4-tcp"),
    (5, "ipv4-udp"),
    (6, "ipv4-sctp"),
    (7, "ipv4-other"),
    (8, "ipv6"),
    (9, "ipv6-frag"),
    (10, "ipv6-tcp"),
    (11, "ipv6-udp"),
    (12, "ipv6-sctp"),
    (13, "ipv6-other"),
    (14, "l2-payload"),
    (15, "ipv6-ex"),
    (16, "ipv6-tcp-ex"),
    (17, "ipv6-udp-ex"),
    (58, "l2-dst-only"),
    (59, "l2-src-only"),
    (60, "l4-dst-only"),
    (61, "l4-src-only"),
    (62, "l3-dst-only"),
    (63, "l3-src-only"),
];

/// RSS on IPv4/IPv6 addresses and TCP/UDP/SCTP ports (`RTE_ETH_RSS_IP |
/// RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_SCTP`, bits 2..=13).
pub const IP_TCP_UDP: u64 = 0x3ffc;

/// A port's RX spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxSpread {
    /// RX queues configured.
    pub rx_queues: u16,
    /// The hash functions, when RSS is on (`None`: every frame to queue 0).
    pub rss: Option<u64>,
}

impl std::fmt::Display for RxSpread {
    /// `2 RX queues, RSS over ipv4 ipv4-frag ...`, `1 RX queue`, or `2 RX
    /// queues, no RSS (all to queue 0)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.rx_queues;
        write!(f, "{n} RX queue{}", if n == 1 { "" } else { "s" })?;
        match self.rss {
            Some(hf) => write!(f, ", RSS over {}", hash_function_names(hf).join(" ")),
            None if n > 1 => write!(f, ", no RSS (all to queue 0)"),
            None => Ok(()),
        }
    }
}

/// The names of the hash functions in `hf`; a bit without a name is `bitN`.
pub fn hash_function_names(hf: u64) -> Vec<String> {
    (0..64)
        .filter(|b| hf & (1u64 << b) != 0)
        .map(|b| {
            NAMES
                .iter()
                .find(|(bit, _)| *bit == b)
                .map_or_else(|| format!("bit{b}"), |(_, name)| (*name).to_owned())
        })
        .collect()
}

impl Port {
    /// How the configured port spreads its RX over its queues, read back
    /// from ethdev and the driver.
    pub fn rx_spread(&self) -> Result<RxSpread, Error> {
        let id = self.id();
        let mut conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: conf is a valid out-pointer for the call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_conf_get(id.0, &mut conf) };
        port_ret(id, "dev_conf_get", ret)?;
        let info = self.raw_info()?;
        // Every RSS mode (RSS, DCB_RSS, VMDQ_RSS, ...) has
        // `RTE_ETH_MQ_RX_RSS_FLAG` (bindgen does not expand it): bit 0, the
        // value of plain `RTE_ETH_MQ_RX_RSS`.
        let rss_on = conf.rxmode.mq_mode & dpdk_sys::RTE_ETH_MQ_RX_RSS != 0;
        let rss = if rss_on {
            // A null key asks for the hash types alone.
            let mut rss_conf = dpdk_sys::rte_eth_rss_conf::default();
            // SAFETY: rss_conf is a valid out-pointer; its key pointer is
            // null, so the driver writes no key.
            let ret = unsafe { dpdk_sys::rte_eth_dev_rss_hash_conf_get(id.0, &mut rss_conf) };
            port_ret(id, "rss_hash_conf_get", ret)?;
            Some(rss_conf.rss_hf)
        } else {
            None
        };
        Ok(RxSpread {
            rx_queues: info.nb_rx_queues,
            rss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hash_functions_as_testpmd_does() {
        assert_eq!(
            hash_function_names(IP_TCP_UDP).join(" "),
            "ipv4 ipv4-frag ipv4-tcp ipv4-udp ipv4-sctp ipv4-other ipv6 ipv6-frag ipv6-tcp ipv6-udp ipv6-sctp ipv6-other"
        );
        assert_eq!(
            hash_function_names(1 << 40 | 1 << 63),
            ["bit40", "l3-src-only"]
        );
    }

    #[test]
    fn says_how_the_queues_are_fed() {
        let spread = |rx_queues, rss| RxSpread { rx_queues, rss }.to_string();
        assert_eq!(spread(1, None), "1 RX queue");
        assert_eq!(spread(2, None), "2 RX queues, no RSS (all to queue 0)");
        assert_eq!(
            spread(2, Some(1 << 2 | 1 << 4)),
            "2 RX queues, RSS over ipv4 ipv4-tcp"
        );
    }
}
