//! RSS through ethdev: what `rte_eth_dev_configure` asks (`mq_mode`,
//! `rss_conf`), `rss_hash_update` / `rss_hash_conf_get` (key and hash types)
//! and `reta_update` / `reta_query` (the redirection table), from DPDK's
//! structures to `flowlift_nic::rss` and back. The hashing itself is the
//! model's.

use std::ffi::c_int;

use dpdk_driver_sys as sys;
use flowlift_nic::rss::{HashTypes, KEY_LEN, RETA_SIZE};

use crate::port::{port, Port};

/// DPDK's `rss_hf` bits and the model's hash types, one to one.
const TYPES: [(u64, HashTypes); 10] = [
    (sys::FLOWLIFT_ETH_RSS_IPV4 as u64, HashTypes::IPV4),
    (sys::FLOWLIFT_ETH_RSS_FRAG_IPV4 as u64, HashTypes::FRAG_IPV4),
    (
        sys::FLOWLIFT_ETH_RSS_NONFRAG_IPV4_TCP as u64,
        HashTypes::IPV4_TCP,
    ),
    (
        sys::FLOWLIFT_ETH_RSS_NONFRAG_IPV4_UDP as u64,
        HashTypes::IPV4_UDP,
    ),
    (
        sys::FLOWLIFT_ETH_RSS_NONFRAG_IPV4_OTHER as u64,
        HashTypes::IPV4_OTHER,
    ),
    (sys::FLOWLIFT_ETH_RSS_IPV6 as u64, HashTypes::IPV6),
    (sys::FLOWLIFT_ETH_RSS_FRAG_IPV6 as u64, HashTypes::FRAG_IPV6),
    (
        sys::FLOWLIFT_ETH_RSS_NONFRAG_IPV6_TCP as u64,
        HashTypes::IPV6_TCP,
    ),
    (
        sys::FLOWLIFT_ETH_RSS_NONFRAG_IPV6_UDP as u64,
        HashTypes::IPV6_UDP,
    ),
    (
        sys::FLOWLIFT_ETH_RSS_NONFRAG_IPV6_OTHER as u64,
        HashTypes::IPV6_OTHER,
    ),
];

/// The `rss_hf` bits the port offers (`flow_type_rss_offloads`); ethdev
/// refuses any other.
pub(crate) fn offered() -> u64 {
    TYPES.iter().fold(0, |all, (bit, _)| all | bit)
}

fn types_of(rss_hf: u64) -> HashTypes {
    TYPES
        .iter()
        .filter(|(bit, _)| rss_hf & bit != 0)
        .fold(HashTypes::NONE, |all, (_, t)| all | *t)
}

fn rss_hf_of(types: HashTypes) -> u64 {
    TYPES
        .iter()
        .filter(|(_, t)| types.contains(*t))
        .fold(0, |all, (bit, _)| all | bit)
}

/// The application's key: `None` for none, `Err` for a wrong length (mlx5
/// takes exactly its key length).
///
/// # Safety
/// `conf.rss_key` is null or points to `conf.rss_key_len` readable bytes.
unsafe fn key_of(conf: &sys::rte_eth_rss_conf) -> Result<Option<[u8; KEY_LEN]>, c_int> {
    if conf.rss_key.is_null() {
        return Ok(None);
    }
    if usize::from(conf.rss_key_len) != KEY_LEN {
        return Err(-libc::EINVAL);
    }
    let mut key = [0u8; KEY_LEN];
    // SAFETY: as stated, and the length is KEY_LEN (checked).
    key.copy_from_slice(unsafe { std::slice::from_raw_parts(conf.rss_key, KEY_LEN) });
    Ok(Some(key))
}

/// `dev_configure`'s part: RSS on when the multi-queue mode has RSS (then the
/// hash is delivered in every mbuf, `RTE_ETH_RX_OFFLOAD_RSS_HASH`, as mlx5
/// turns it on), over `nb_rx_queues` queues, with the given key or the
/// default one.
pub(crate) fn configure(port: &Port, data: &mut sys::rte_eth_dev_data) -> c_int {
    let conf = &mut data.dev_conf;
    let on = conf.rxmode.mq_mode & sys::FLOWLIFT_ETH_MQ_RX_RSS_FLAG != 0;
    if on {
        conf.rxmode.offloads |= sys::FLOWLIFT_ETH_RX_OFFLOAD_RSS_HASH as u64;
    }
    let rss = conf.rx_adv_conf.rss_conf;
    // SAFETY: ethdev copied the application's `rte_eth_conf`, whose key
    // pointer (if any) is the application's and valid during configure.
    let key = match unsafe { key_of(&rss) } {
        Ok(key) => key,
        Err(e) => return e,
    };
    let queues = data.nb_rx_queues;
    port.dev
        .nic
        .update_rss(port.rx_index(), |r| {
            r.configure(queues, on, types_of(rss.rss_hf), key)
        })
        .map_or(-libc::ENODEV, |()| 0)
}

/// `eth_dev_ops.rss_hash_update`: a new key (if given) and hash types.
pub(crate) unsafe extern "C" fn rss_hash_update(
    dev: *mut sys::rte_eth_dev,
    conf: *mut sys::rte_eth_rss_conf,
) -> c_int {
    // SAFETY: ethdev calls the ops only on ports of this driver, not closed,
    // with the application's configuration.
    let (port, conf) = unsafe { (port(dev), &*conf) };
    // SAFETY: the application's key, valid for the call.
    let key = match unsafe { key_of(conf) } {
        Ok(key) => key,
        Err(e) => return e,
    };
    let types = types_of(conf.rss_hf);
    port.dev
        .nic
        .update_rss(port.rx_index(), |r| {
            r.types = types;
            if let Some(key) = key {
                r.key = key;
            }
        })
        .map_or(-libc::ENODEV, |()| 0)
}

/// `eth_dev_ops.rss_hash_conf_get`: the key (into the application's buffer
/// if it is large enough) and the hash types.
pub(crate) unsafe extern "C" fn rss_hash_conf_get(
    dev: *mut sys::rte_eth_dev,
    conf: *mut sys::rte_eth_rss_conf,
) -> c_int {
    // SAFETY: as in `rss_hash_update`; the configuration is the caller's to
    // fill.
    let (port, conf) = unsafe { (port(dev), &mut *conf) };
    let Some(rss) = port.dev.nic.rss(port.rx_index()) else {
        return -libc::ENODEV;
    };
    if !conf.rss_key.is_null() && usize::from(conf.rss_key_len) >= KEY_LEN {
        // SAFETY: the caller's buffer holds `rss_key_len` >= KEY_LEN bytes.
        unsafe { std::ptr::copy_nonoverlapping(rss.key.as_ptr(), conf.rss_key, KEY_LEN) };
    }
    conf.rss_key_len = KEY_LEN as u8;
    conf.rss_hf = rss_hf_of(rss.types);
    0
}

/// The `(entry, queue)` pairs the masks of `reta_size` entries select.
///
/// # Safety
/// `conf` points to `reta_size.div_ceil(64)` groups.
unsafe fn selected<'a>(
    conf: *mut sys::rte_eth_rss_reta_entry64,
    reta_size: u16,
) -> impl Iterator<Item = (usize, &'a mut u16)> {
    let group = sys::RTE_ETH_RETA_GROUP_SIZE as usize;
    let groups = usize::from(reta_size).div_ceil(group);
    // SAFETY: as stated.
    let groups = unsafe { std::slice::from_raw_parts_mut(conf, groups) };
    groups.iter_mut().enumerate().flat_map(move |(g, conf)| {
        let mask = conf.mask;
        conf.reta
            .iter_mut()
            .enumerate()
            .filter(move |(i, _)| mask >> i & 1 == 1)
            .map(move |(i, q)| (g * group + i, q))
            .filter(move |(e, _)| *e < usize::from(reta_size))
    })
}

/// `eth_dev_ops.reta_update`: sets the entries the masks select; refused
/// whole (EINVAL) if the table is larger than [`RETA_SIZE`] or an entry
/// names a queue the port does not have.
pub(crate) unsafe extern "C" fn reta_update(
    dev: *mut sys::rte_eth_dev,
    conf: *mut sys::rte_eth_rss_reta_entry64,
    reta_size: u16,
) -> c_int {
    if conf.is_null() || usize::from(reta_size) > RETA_SIZE {
        return -libc::EINVAL;
    }
    // SAFETY: a port of this driver; ethdev passes the application's groups
    // for `reta_size` entries.
    let (port, entries) = unsafe { (port(dev), selected(conf, reta_size)) };
    let entries: Vec<(usize, u16)> = entries.map(|(e, q)| (e, *q)).collect();
    match port
        .dev
        .nic
        .update_rss(port.rx_index(), |r| r.set_reta(entries))
    {
        Some(Ok(())) => 0,
        Some(Err(_)) => -libc::EINVAL,
        None => -libc::ENODEV,
    }
}

/// `eth_dev_ops.reta_query`: fills the entries the masks select.
pub(crate) unsafe extern "C" fn reta_query(
    dev: *mut sys::rte_eth_dev,
    conf: *mut sys::rte_eth_rss_reta_entry64,
    reta_size: u16,
) -> c_int {
    if conf.is_null() || usize::from(reta_size) > RETA_SIZE {
        return -libc::EINVAL;
    }
    // SAFETY: a port of this driver.
    let port = unsafe { port(dev) };
    let Some(rss) = port.dev.nic.rss(port.rx_index()) else {
        return -libc::ENODEV;
    };
    // SAFETY: ethdev passes the application's groups for `reta_size`
    // entries.
    for (entry, queue) in unsafe { selected(conf, reta_size) } {
        *queue = rss.reta()[entry];
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_hf_and_hash_types_map_one_to_one() {
        assert_eq!(types_of(offered()), HashTypes::ALL);
        assert_eq!(rss_hf_of(HashTypes::ALL), offered());
        for (bit, t) in TYPES {
            assert_eq!(bit.count_ones(), 1);
            assert_eq!(types_of(bit), t);
            assert_eq!(rss_hf_of(t), bit);
        }
        assert_eq!(types_of(1 << 63), HashTypes::NONE, "not offered: ignored");
    }
}
