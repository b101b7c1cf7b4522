//! `clear port stats` on a real ethdev (`net_null`), in its own process with
//! real EAL: the shell's view starts again from zero, while the ethdev's own
//! counters, which /metrics and the final report read, are left whole.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use flowlift_config::Config;
use flowlift_offload::fleet::FlowKeeper;
use flowlift_offload::flowlog::TscClock;
use flowlift_operator::report::PortLabel;
use flowlift_operator::shell::exec::{Appliance, ShellState};
use flowlift_operator::shell::reload::ReloadSource;
use rte::{Eal, MbufBurst, Mempool, Port, PortConfig};

/// The `RX-nombuf:` figure of a `show port stats` block.
fn shown_nombuf(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("RX-nombuf:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RX-nombuf in {text}"))
}

#[test]
fn clear_port_stats_leaves_the_ethdev_counters_whole() {
    let eal = Eal::init([
        "-l",
        "0",
        "--no-huge",
        "-m",
        "128",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=test-shell-clear",
        "--vdev=net_null0",
    ])
    .expect("EAL init");
    let pool =
        Arc::new(Mempool::new(&eal, "p", 1023, 32, rte::MBUF_DEFAULT_DATAROOM).expect("pool"));
    let port = Port::by_name(&eal, "net_null0").expect("port");
    let (mut rx, _tx) = port
        .configure(&PortConfig::default(), &pool)
        .expect("configure");
    port.start().expect("start");
    // net_null makes up packets on RX, counted by the ethdev.
    let mut burst = MbufBurst::new();
    let got = rx[0].rx_burst(&mut burst, 8);
    burst.clear();
    assert!(got > 0, "net_null delivers");
    let before = port.stats().expect("stats");
    assert_eq!(before.rx_packets, got as u64);

    let mut config = Config::demo(std::path::Path::new("unused.pcap"), None);
    // The one port this test opens.
    config.ports.truncate(1);
    let labels = vec![PortLabel {
        name: "uplink".into(),
        port_id: port.id().0,
        driver: "net_null".into(),
    }];
    let ports = vec![port.clone()];
    let mut keeper = FlowKeeper::new(
        None,
        TscClock::new(0, 1000),
        1000,
        0.0,
        vec!["uplink".into()],
    );
    let mut tick = Duration::from_millis(100);
    let stop = AtomicBool::new(false);
    let mut state = ShellState::default();
    let mut shell = Appliance {
        labels: &labels,
        ports: &ports,
        config: &mut config,
        reload: &ReloadSource::default(),
        meters: &[],
        workers: &[],
        keeper: &mut keeper,
        tick: &mut tick,
        stop: &stop,
        tsc_hz: 1000,
        state: &mut state,
    };
    let reply = shell.execute("clear port stats all");
    assert!(reply.ok && reply.text.contains("cleared"), "{}", reply.text);
    assert_eq!(
        port.stats().expect("stats"),
        before,
        "the ethdev's counters are the appliance's: a clear does not reset them"
    );
    // The shell's view of them does start again.
    let shown = shell.execute("show port stats 0");
    assert!(shown.ok, "{}", shown.text);
    assert_eq!(shown_nombuf(&shown.text), 0);
}
