//! EAL in its own process: `Eal::cleanup` refuses while a pool, a port (through
//! its queues), a launch handle or a running lcore is left, says which, and
//! cleans up once they are gone. Before, dropping the `Eal` cleaned up under
//! them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rte::{Eal, InUse, LcoreId, Mempool, Port, PortConfig};

#[test]
fn cleanup_waits_for_every_pool_port_and_lcore() {
    let eal = Eal::init([
        "--lcores",
        "0@0,1@0",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=rte-test-cleanup",
        "--vdev=net_null0",
    ])
    .expect("EAL init");
    let pool = Arc::new(
        Mempool::new(&eal, "cleanup_pool", 1023, 32, rte::MBUF_DEFAULT_DATAROOM).expect("pool"),
    );
    let port = Port::by_name(&eal, "net_null0").expect("net_null0");
    let (rx, tx) = port
        .configure(&PortConfig::default(), &pool)
        .expect("configure");
    port.start().expect("start");
    drop(port);

    // The queues keep the port open, and the port holds EAL; so does the pool.
    let refused = eal.cleanup().expect_err("a port and a pool are held");
    assert_eq!(
        refused.in_use,
        InUse {
            handles: 2,
            mbufs: 0,
            running_lcores: vec![],
        },
        "{refused}"
    );
    let eal = refused.eal;
    drop((rx, tx));
    let refused = eal.cleanup().expect_err("the pool is held");
    assert_eq!(refused.in_use.handles, 1, "{refused}");
    let eal = refused.eal;
    drop(pool);
    assert_eq!(eal.in_use(), InUse::default());

    // A closure running on a worker lcore: its handle holds EAL, and once the
    // handle is gone, the running lcore still does.
    let release = Arc::new(AtomicBool::new(false));
    let released = Arc::clone(&release);
    let handle = eal
        .launch(LcoreId(1), move || {
            while !released.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            7
        })
        .expect("launch");
    let refused = eal.cleanup().expect_err("a launch is held and running");
    assert_eq!(
        refused.in_use,
        InUse {
            handles: 1,
            mbufs: 0,
            running_lcores: vec![LcoreId(1)],
        },
        "{refused}"
    );
    let eal = refused.eal;
    // remote_launch returns once the lcore has said it runs, so it is running
    // until released.
    drop(handle);
    let refused = eal.cleanup().expect_err("lcore 1 is running");
    assert_eq!(refused.in_use.handles, 0, "{refused}");
    assert_eq!(refused.in_use.running_lcores, vec![LcoreId(1)], "{refused}");
    let eal = refused.eal;
    release.store(true, Ordering::Release);
    // The handle is gone; a new launch on the lcore would be refused until it
    // returns. Wait for that through a second launch that succeeds.
    let again = loop {
        match eal.launch(LcoreId(1), || 8) {
            Ok(h) => break h,
            Err(_) => std::hint::spin_loop(),
        }
    };
    assert_eq!(again.join(), 8);

    eal.cleanup().expect("nothing is left");
    assert!(matches!(
        Eal::init(["--no-huge"]),
        Err(rte::Error::EalAlreadyInitialised)
    ));
}
