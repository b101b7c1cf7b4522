//! EAL in its own process: however often a port is looked up, by name or id,
//! there is one owner, so dropping one handle leaves the device open for the
//! others. Before, each lookup made an owner that stopped and closed the device
//! when it went.

use std::sync::Arc;

use rte::{Eal, MbufBurst, Mempool, Port, PortConfig};

#[test]
fn a_port_has_one_owner_however_it_is_looked_up() {
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
        "--file-prefix=rte-test-port-registry",
        "--vdev=net_null0",
        "--vdev=net_null1",
    ])
    .expect("EAL init");
    let pool = Arc::new(
        Mempool::new(&eal, "registry_pool", 1023, 32, rte::MBUF_DEFAULT_DATAROOM).expect("pool"),
    );

    let first = Port::by_name(&eal, "net_null0").expect("net_null0");
    let second = Port::by_name(&eal, "net_null0").expect("net_null0 again");
    assert_eq!(first, second, "a second lookup shares the first owner");
    assert_eq!(Port::by_id(&eal, first.id()).expect("by id"), first);
    let other = Port::by_name(&eal, "net_null1").expect("net_null1");
    assert_ne!(other, first, "another device, another owner");
    drop(other);

    let (mut rx, tx) = first
        .configure(&PortConfig::default(), &pool)
        .expect("configure");
    first.start().expect("start");
    // With two owners, this stopped and closed the device under `second`.
    drop(first);
    assert!(second.link().expect("still open").up);
    let mut burst = MbufBurst::new();
    assert_eq!(rx[0].rx_burst(&mut burst, 32), 32, "still started");
    assert_eq!(second.stats().expect("stats").rx_packets, 32);
    burst.clear();

    // Once every handle and queue is gone the port is closed, and it is not
    // handed out again.
    let id = second.id();
    drop((rx, tx, second));
    assert!(Port::by_name(&eal, "net_null0").is_err());
    assert!(Port::by_id(&eal, id).is_err());

    drop(pool);
    eal.cleanup().expect("no port or pool is left");
}
