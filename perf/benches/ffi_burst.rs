//! What a burst costs through bindgen's C wrappers of DPDK's `static inline`
//! `rte_eth_rx_burst`/`rte_eth_tx_burst`, against the same work done in Rust over
//! `rte_eth_fp_ops` (no wrapper call): an empty poll (pure call cost) and a
//! 32-packet rx + tx on `net_null`. EAL runs in this bench's own process.
//!
//! `cargo bench -p flowlift-perf --bench ffi_burst`

use std::hint::black_box;
use std::sync::Arc;

use criterion::Criterion;
use rte::{Eal, MbufBurst, Mempool, Port, PortConfig};

fn main() {
    let eal = Eal::init([
        "-l",
        "0",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=bench-ffi-burst",
        "--vdev=net_null0",
        "--vdev=net_null1,no-rx=1",
    ])
    .expect("EAL init");
    let pool = Arc::new(
        Mempool::new(&eal, "bench_pool", 8191, 256, rte::MBUF_DEFAULT_DATAROOM).expect("pool"),
    );
    let src = Port::by_name(&eal, "net_null0").expect("net_null0");
    let sink = Port::by_name(&eal, "net_null1").expect("net_null1");
    let cfg = PortConfig::default();
    let (mut src_rx, _src_tx) = src.configure(&cfg, &pool).expect("configure");
    let (mut sink_rx, mut sink_tx) = sink.configure(&cfg, &pool).expect("configure");
    src.start().expect("start");
    sink.start().expect("start");
    let (src_q, sink_rq, sink_tq) = (&mut src_rx[0], &mut sink_rx[0], &mut sink_tx[0]);

    let mut c = Criterion::default().configure_from_args();
    let mut empty = MbufBurst::new();
    let mut g = c.benchmark_group("rx_burst_empty_queue");
    g.bench_function("c_wrapper", |b| {
        b.iter(|| black_box(sink_rq.rx_burst(&mut empty, 32)))
    });
    g.bench_function("rust_fp_ops", |b| {
        b.iter(|| black_box(sink_rq.rx_burst_direct(&mut empty, 32)))
    });
    g.finish();

    let mut burst = MbufBurst::new();
    let mut g = c.benchmark_group("rx32_tx32_net_null");
    g.bench_function("c_wrapper", |b| {
        b.iter(|| {
            src_q.rx_burst(&mut burst, 32);
            black_box(sink_tq.tx_burst(&mut burst));
        })
    });
    g.bench_function("rust_fp_ops", |b| {
        b.iter(|| {
            src_q.rx_burst_direct(&mut burst, 32);
            black_box(sink_tq.tx_burst_direct(&mut burst));
        })
    });
    g.finish();
    c.final_summary();
}
