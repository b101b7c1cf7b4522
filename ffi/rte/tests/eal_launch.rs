//! EAL in its own process: closures launched on worker lcores run there and their
//! results come back through `join`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rte::{Eal, LcoreId};

#[test]
fn closures_run_on_worker_lcores() {
    let eal = Eal::init([
        "--lcores",
        "0@0,1@0,2@0",
        "--no-huge",
        "-m",
        "128",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=rte-test-launch",
    ])
    .expect("EAL init");
    assert_eq!(eal.main_lcore(), LcoreId(0));
    assert_eq!(eal.worker_lcores(), vec![LcoreId(1), LcoreId(2)]);
    let seen = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = eal
        .worker_lcores()
        .into_iter()
        .map(|lc| {
            let seen = Arc::clone(&seen);
            eal.launch(lc, move || {
                seen.fetch_add(1 << Eal::current_lcore().0, Ordering::SeqCst);
                Eal::current_lcore().0 as i32 * 10
            })
            .expect("launch")
        })
        .collect();
    let results: Vec<i32> = handles.into_iter().map(|h| h.join()).collect();
    assert_eq!(results, vec![10, 20]);
    assert_eq!(seen.load(Ordering::SeqCst), 0b110);
    assert!(
        eal.launch(LcoreId(5), || 0).is_err(),
        "lcore 5 is not enabled"
    );
    // A panicking closure reports -1 instead of unwinding into C (the hook keeps
    // the expected panic out of the test log).
    std::panic::set_hook(Box::new(|_| {}));
    let h = eal
        .launch(LcoreId(1), || panic!("expected panic"))
        .expect("launch");
    assert_eq!(h.join(), -1);
    let _ = std::panic::take_hook();
}
