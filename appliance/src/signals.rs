//! SIGINT and SIGTERM for the appliance: the first asks for the staged stop;
//! the second is told the stop is under way and how long it may still take
//! (the stop's waits are bounded: a NIC's last counts one counter refresh
//! after the rules go, refused removals a few seconds), because what was
//! counted must not be lost to an impatient Ctrl-C; a third ends the process
//! at once, for the operator whose stop is truly stuck (it is the only way to
//! lose the counters, and it says so).
//!
//! SIGHUP asks for a reload of the config file, which the control loop
//! carries out as the shell's `reload`.
//!
//! Signals are taken by a thread of their own (signal-hook's iterator), not
//! in a handler, so counting them needs no async-signal-safe tricks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// What the signals asked for so far; read by the control loop.
#[derive(Debug, Default)]
pub struct StopRequest {
    stop: AtomicBool,
    reload: AtomicBool,
}

impl StopRequest {
    /// Whether a stop was asked for.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The first signal's effect (also used by tests).
    pub fn ask_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a reload was asked for since the last call (several SIGHUPs
    /// before the control loop looks make one reload).
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::SeqCst)
    }
}

/// Starts the thread that turns SIGINT/SIGTERM/SIGHUP into `request`.
pub fn watch(request: Arc<StopRequest>) -> anyhow::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).context("install signal handlers")?;
    std::thread::Builder::new()
        .name("flowlift-signals".into())
        .spawn(move || {
            let mut seen = 0u32;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    request.reload.store(true, Ordering::SeqCst);
                    continue;
                }
                seen += 1;
                match seen {
                    1 => {
                        tracing::info!(target: "control", signal = sig,
                            "signal {sig}: stopping in stages");
                        request.ask_stop();
                    }
                    2 => {
                        request.ask_stop();
                        tracing::warn!(target: "control", signal = sig,
                            "stopping (second signal): the rules come off and their last counts are read (a few seconds at most), then the final counters and the flow log are written; a third signal ends the process without them"
                        );
                    }
                    _ => {
                        tracing::error!(target: "control", signal = sig,
                            "third signal: ending now, final counters lost");
                        // The default action of the signal: the process ends
                        // as a shell expects after a signal (status 128+N).
                        let _ = signal_hook::low_level::emulate_default_handler(sig);
                        std::process::exit(128 + sig);
                    }
                }
            }
        })
        .context("start the signal thread")?;
    Ok(())
}
