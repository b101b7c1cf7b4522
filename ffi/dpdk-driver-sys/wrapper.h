/* DPDK's driver SDK as a poll-mode driver for a virtual device sees it: the
 * ethdev driver interface (struct rte_eth_dev, eth_dev_ops), the vdev bus
 * driver interface, the rte_flow and rte_mtr driver ops, mbufs and kvargs.
 *
 * ethdev_driver.h, ethdev_vdev.h, bus_vdev_driver.h, bus_driver.h and
 * dev_driver.h are not installed by Debian's libdpdk-dev; scripts/setup takes
 * them from Debian's source package of the installed version into a cache that
 * build.rs puts on the include path after the installed headers. */
#ifndef FLOWLIFT_DPDK_DRIVER_WRAPPER_H
#define FLOWLIFT_DPDK_DRIVER_WRAPPER_H

#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_kvargs.h>
#include <rte_ethdev.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <bus_vdev_driver.h>
#include <rte_bus.h>
#include <bus_driver.h>
#include <rte_flow.h>
#include <rte_flow_driver.h>
#include <rte_mtr.h>
#include <rte_mtr_driver.h>

/* rte_errno is a thread-local behind a macro; these two reach it (shim.c). */
int flowlift_drv_rte_errno(void);
void flowlift_drv_set_rte_errno(int value);

/* Flags and capabilities that DPDK defines as function-like macros
 * (RTE_BIT32/RTE_BIT64), which bindgen cannot evaluate: as enumerators, so
 * their values still come from the installed headers, never from a copy. */
enum flowlift_drv_bits32 {
	FLOWLIFT_ETH_DEV_REPRESENTOR = RTE_ETH_DEV_REPRESENTOR,
	FLOWLIFT_ETH_DEV_AUTOFILL_QUEUE_XSTATS = RTE_ETH_DEV_AUTOFILL_QUEUE_XSTATS,
	FLOWLIFT_ETH_LINK_SPEED_100G = RTE_ETH_LINK_SPEED_100G,
};
enum flowlift_drv_bits64 {
	FLOWLIFT_ETH_DEV_CAPA_FLOW_RULE_KEEP = RTE_ETH_DEV_CAPA_FLOW_RULE_KEEP,
	FLOWLIFT_ETH_DEV_CAPA_FLOW_SHARED_OBJECT_KEEP = RTE_ETH_DEV_CAPA_FLOW_SHARED_OBJECT_KEEP,
};

/* RSS and its mbuf flag (RTE_BIT64 / RTE_BIT32 macros too). */
enum flowlift_drv_rss_bits {
	FLOWLIFT_ETH_RSS_IPV4 = RTE_ETH_RSS_IPV4,
	FLOWLIFT_ETH_RSS_FRAG_IPV4 = RTE_ETH_RSS_FRAG_IPV4,
	FLOWLIFT_ETH_RSS_NONFRAG_IPV4_TCP = RTE_ETH_RSS_NONFRAG_IPV4_TCP,
	FLOWLIFT_ETH_RSS_NONFRAG_IPV4_UDP = RTE_ETH_RSS_NONFRAG_IPV4_UDP,
	FLOWLIFT_ETH_RSS_NONFRAG_IPV4_OTHER = RTE_ETH_RSS_NONFRAG_IPV4_OTHER,
	FLOWLIFT_ETH_RSS_IPV6 = RTE_ETH_RSS_IPV6,
	FLOWLIFT_ETH_RSS_FRAG_IPV6 = RTE_ETH_RSS_FRAG_IPV6,
	FLOWLIFT_ETH_RSS_NONFRAG_IPV6_TCP = RTE_ETH_RSS_NONFRAG_IPV6_TCP,
	FLOWLIFT_ETH_RSS_NONFRAG_IPV6_UDP = RTE_ETH_RSS_NONFRAG_IPV6_UDP,
	FLOWLIFT_ETH_RSS_NONFRAG_IPV6_OTHER = RTE_ETH_RSS_NONFRAG_IPV6_OTHER,
	FLOWLIFT_ETH_RX_OFFLOAD_RSS_HASH = RTE_ETH_RX_OFFLOAD_RSS_HASH,
	FLOWLIFT_MBUF_F_RX_RSS_HASH = RTE_MBUF_F_RX_RSS_HASH,
	FLOWLIFT_ETH_MQ_RX_RSS_FLAG = RTE_ETH_MQ_RX_RSS_FLAG,
};

#endif /* FLOWLIFT_DPDK_DRIVER_WRAPPER_H */
