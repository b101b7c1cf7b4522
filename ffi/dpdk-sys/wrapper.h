/* The DPDK headers flowlift binds: EAL and lcores, ethdev (with xstats), mbufs,
 * mempools, rings and ring-backed ports, rte_flow, rte_mtr, rte_hash, cycles,
 * malloc heap statistics. */
#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_version.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_flow.h>
#include <rte_mtr.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

/* rte_errno is a per-lcore thread-local variable behind a macro: Rust cannot name
 * it, so this one accessor is written by hand (see shim.c). */
int flowlift_rte_errno(void);
