//! EAL in its own process (one test per file: EAL initialises once per process):
//! opens `net_null` ports, rx-bursts, tx-bursts, and reads stats.

use std::sync::Arc;

use rte::{Eal, MbufBurst, Mempool, Port, PortConfig};

#[test]
fn net_null_ports_burst_and_count() {
    let eal = Eal::init([
        "-l",
        "0",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=rte-test-null",
        "--vdev=net_null0",
        "--vdev=net_null1,no-rx=1",
    ])
    .expect("EAL init");
    assert!(matches!(
        Eal::init(["--no-huge"]),
        Err(rte::Error::EalAlreadyInitialised)
    ));
    assert_eq!(eal.port_count(), 2);

    let pool = Arc::new(
        Mempool::new(&eal, "test_pool", 4095, 64, rte::MBUF_DEFAULT_DATAROOM).expect("pool"),
    );
    let src = Port::by_name(&eal, "net_null0").expect("net_null0");
    let sink = Port::by_name(&eal, "net_null1").expect("net_null1");
    assert!(matches!(
        Port::by_name(&eal, "net_nope9"),
        Err(rte::Error::NoSuchPort(_))
    ));
    assert_eq!(src.info().expect("info").driver, "net_null");

    let cfg = PortConfig::default();
    let (mut src_rx, _src_tx) = src.configure(&cfg, &pool).expect("configure src");
    let (_sink_rx, mut sink_tx) = sink.configure(&cfg, &pool).expect("configure sink");
    src.start().expect("start src");
    sink.start().expect("start sink");
    assert!(src.link().expect("link").up);

    // A plain net_null generates packets on every rx_burst.
    let mut burst = MbufBurst::new();
    let mut received = 0;
    for _ in 0..10 {
        received += src_rx[0].rx_burst(&mut burst, 32);
        let sent = sink_tx[0].tx_burst(&mut burst);
        assert_eq!(sent + burst.len(), burst.len() + sent);
        burst.clear();
    }
    assert_eq!(received, 320);
    let s = src.stats().expect("stats");
    assert_eq!(s.rx_packets, 320);
    let t = sink.stats().expect("stats");
    assert_eq!(t.tx_packets, 320, "net_null takes every packet");
    let xstats = sink.xstats().expect("xstats");
    assert!(
        xstats
            .iter()
            .any(|x| x.name == "tx_good_packets" && x.value == 320),
        "{xstats:?}"
    );
    sink.reset_stats().expect("reset");
    assert_eq!(sink.stats().expect("stats").tx_packets, 0);

    // A burst never takes more than its room, and a full one takes nothing.
    let mut full = MbufBurst::new();
    while !full.is_full() {
        src_rx[0].rx_burst(&mut full, 64);
    }
    assert_eq!(src_rx[0].rx_burst(&mut full, 64), 0);
    drop(full);

    // Mbufs: write, read back, share.
    let mut m = pool.alloc().expect("mbuf");
    assert!(m.append(&[1, 2, 3, 4]));
    assert_eq!(m.data(), &[1, 2, 3, 4]);
    assert_eq!(m.pkt_len(), 4);
    let shared = m.share();
    assert_eq!(m.refcnt(), 2);
    assert!(m.data_mut().is_none(), "a shared buffer is read-only");
    drop(shared);
    m.data_mut().expect("sole owner")[0] = 9;
    assert_eq!(m.data()[0], 9);

    drop(m);

    // rte_flow on a device without flow support: every call is refused with a
    // typed, testpmd-style error, and nothing is left behind.
    use rte::flow::{
        Action, Actions, Attr, FlowErrorClass, IndirectCounter, Masked, Pattern, Rule,
    };
    let pattern = Pattern::new().ipv4(rte::flow::Ipv4Item {
        src: Some(Masked::exact(std::net::Ipv4Addr::new(10, 0, 0, 1))),
        ..Default::default()
    });
    let actions = Actions::new().then(Action::Count).then(Action::Queue(0));
    let err = rte::flow::validate(&src, &Attr::ingress(), &pattern, &actions).unwrap_err();
    assert_eq!(err.class(), FlowErrorClass::Unsupported, "{err}");
    assert!(err.to_string().starts_with("Caught error type "), "{err}");
    let err = Rule::create(&src, &Attr::ingress(), &pattern, &actions).unwrap_err();
    assert_eq!(err.class(), FlowErrorClass::Unsupported, "{err}");
    assert!(IndirectCounter::create(&src, &Attr::ingress()).is_err());
    assert!(rte::flow::flush(&src).is_err());

    // Launch on a worker lcore is refused for the main lcore.
    assert!(eal.launch(eal.main_lcore(), || 0).is_err());

    drop((src_rx, _src_tx, _sink_rx, sink_tx));
    drop((src, sink));
    let in_use = pool.in_use();
    assert_eq!(in_use, 0, "every mbuf went back to the pool");
    drop(pool);
    eal.cleanup().expect("nothing made from EAL is left");
}
