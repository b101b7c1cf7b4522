//! EAL in its own process: an mbuf that outlives every handle of its pool (the
//! pool's own, a port's, a queue's) is still freed into a live pool, because the
//! pool lives until EAL's clean-up and the clean-up refuses while the mbuf is
//! out. Before, dropping the last `Mempool` freed the pool under the mbuf.

use std::sync::Arc;

use rte::{errno, Eal, Errno, Error, InUse, MbufBurst, Mempool, Port, PortConfig};

#[test]
fn an_mbuf_outlives_its_pool_handles_and_holds_off_cleanup() {
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
        "--file-prefix=rte-test-mbuf-pool",
        "--vdev=net_null0",
    ])
    .expect("EAL init");

    // One mbuf from the pool's own handle, which is then dropped.
    let pool = Mempool::new(&eal, "outlived", 1023, 32, rte::MBUF_DEFAULT_DATAROOM).expect("pool");
    let mut m = pool.alloc().expect("mbuf");
    assert!(m.append(b"still here"));
    drop(pool);
    assert_eq!(m.data(), b"still here", "the buffer is still the pool's");
    assert_eq!(
        eal.in_use(),
        InUse {
            handles: 0,
            mbufs: 1,
            running_lcores: vec![],
        }
    );
    let refused = eal.cleanup().expect_err("an mbuf is out");
    assert_eq!(refused.in_use.mbufs, 1, "{refused}");
    let eal = refused.eal;
    drop(m);
    assert_eq!(eal.in_use(), InUse::default(), "the mbuf went back");
    // The pool was not freed with its handle: its name is still taken.
    match Mempool::new(&eal, "outlived", 1023, 32, rte::MBUF_DEFAULT_DATAROOM) {
        Err(Error::Mempool { errno: e, .. }) => assert_eq!(e, Errno(errno::EEXIST)),
        other => panic!("a second pool named outlived: {other:?}"),
    }

    // A burst received on a port, kept after the queues, the port and the pool
    // handle are all gone.
    let pool = Arc::new(
        Mempool::new(&eal, "rx_pool", 1023, 32, rte::MBUF_DEFAULT_DATAROOM).expect("pool"),
    );
    let port = Port::by_name(&eal, "net_null0").expect("net_null0");
    let (mut rx, tx) = port
        .configure(&PortConfig::default(), &pool)
        .expect("configure");
    port.start().expect("start");
    let mut burst = MbufBurst::new();
    assert_eq!(rx[0].rx_burst(&mut burst, 32), 32, "net_null fills a burst");
    drop((rx, tx, port, pool));
    assert_eq!(
        eal.in_use(),
        InUse {
            handles: 0,
            mbufs: 32,
            running_lcores: vec![],
        }
    );
    assert!(burst.as_slice().iter().all(|m| m.refcnt() == 1));
    let eal = eal.cleanup().expect_err("32 mbufs are out").eal;
    burst.clear();
    eal.cleanup()
        .expect("every mbuf is back and no handle is left");
}
