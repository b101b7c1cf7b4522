//! Where the appliance's log goes, and how much of it: `tracing` events
//! with four targets, each a part an operator asks about:
//!
//! | target | what |
//! |---|---|
//! | `offload` | rte_flow installs refused and why, back-off, evictions, demotions by reason, counter queries that failed |
//! | `ports` | ports up at start, each port's link going up or down |
//! | `control` | start-up, the stop's stages, config reloads, socket and /metrics server trouble |
//! | `shell` | shell commands that change state, and who gave them |
//!
//! Under systemd (stderr is the journal's stream, as `JOURNAL_STREAM`
//! says) events go to the journal, with their fields as journal fields;
//! otherwise to stderr, as text or one JSON object per line
//! (`--log-format`). `--log-level` (or `[log] level`) sets the level for
//! every target; `RUST_LOG` adds to it ([`directives`]). Storms are cut
//! down where they start (`flowlift_offload::log_limit`); the workers never
//! log (`flowlift-dataplane` does not depend on `tracing`).
//!
//! The binary's own last word on a refused start (`flowlift: error: ...`)
//! is not an event: scripts match that line on stderr.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use flowlift_config::LogLevel;
use std::sync::OnceLock;

use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Layer, Registry};

/// The output layer under the filter.
type Output = Layered<Box<dyn Layer<Registry> + Send + Sync>, Registry>;

/// The installed filter, for a reload's `[log] level`.
struct Filter {
    handle: reload::Handle<EnvFilter, Output>,
    /// `--log-level`, which wins over the config.
    cli_level: Option<LogLevel>,
    /// Text on a terminal (see [`level_for`]).
    on_terminal: bool,
}

static FILTER: OnceLock<Filter> = OnceLock::new();

/// The level the config's `level` means: on a terminal, text at `info`
/// would repeat what stdout's lines already say (ports up, the stop's
/// stages), so the default `info` starts at `warn` there; any other level
/// the config names, and every other output, as named.
pub fn level_for(config_level: LogLevel, text_on_terminal: bool) -> LogLevel {
    if text_on_terminal && config_level == LogLevel::Info {
        LogLevel::Warn
    } else {
        config_level
    }
}

/// Where events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// The systemd journal, each field a journal field.
    Journald,
}

/// What `flowlift run` was told of its log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// `--log-format`; `None`: the journal under systemd, else text.
    pub format: Option<LogFormat>,
    /// `--log-level`; `None`: the config's `[log] level`.
    pub level: Option<LogLevel>,
}

/// Whether stderr is the journal's stream: systemd sets `JOURNAL_STREAM`
/// to `DEVICE:INODE` of the stream it connects stderr (or stdout) to; a
/// child whose stderr was redirected since inherits the variable but not
/// the stream, hence the comparison (systemd.exec(5)).
pub fn stderr_is_journal(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let (Some(var), Some((dev, ino))) = (journal_stream, stderr) else {
        return false;
    };
    let Some((d, i)) = var.split_once(':') else {
        return false;
    };
    d.parse::<u64>() == Ok(dev) && i.parse::<u64>() == Ok(ino)
}

/// The format to use: the one asked for, else the journal when stderr is
/// its stream, else text.
pub fn choose_format(asked: Option<LogFormat>, stderr_is_journal: bool) -> LogFormat {
    asked.unwrap_or(if stderr_is_journal {
        LogFormat::Journald
    } else {
        LogFormat::Text
    })
}

/// The filter's directives: `level` for every target, then `RUST_LOG`'s
/// (`offload=debug,shell=warn`), which win for what they name; a bare
/// level in `RUST_LOG` (`RUST_LOG=debug`, `RUST_LOG=warn,offload=trace`)
/// replaces `level`.
pub fn directives(level: LogLevel, rust_log: Option<&str>) -> String {
    let rust_log = rust_log.map(str::trim).filter(|s| !s.is_empty());
    let Some(env) = rust_log else {
        return level.name().to_string();
    };
    let bare = env.split(',').any(|d| {
        let d = d.trim();
        d.eq_ignore_ascii_case("off") || d.parse::<LogLevel>().is_ok()
    });
    if bare {
        env.to_string()
    } else {
        format!("{},{env}", level.name())
    }
}

/// The device and inode of stderr, if it is open.
fn stderr_id() -> Option<(u64, u64)> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Sets up the process's log: `opts` over the config's `level`, `RUST_LOG`
/// on top. A journal that cannot be reached leaves the log on stderr as
/// text, said once. Called once per process; a second call changes nothing.
pub fn init(opts: LogOptions, config_level: LogLevel) -> anyhow::Result<()> {
    let journal = stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref(), stderr_id());
    let format = choose_format(opts.format, journal);
    let on_terminal = format == LogFormat::Text && std::io::stderr().is_terminal();
    let level = opts
        .level
        .unwrap_or_else(|| level_for(config_level, on_terminal));
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(directives(level, rust_log.as_deref()))
        .map_err(|e| anyhow::anyhow!("RUST_LOG {:?}: {e}", rust_log.unwrap_or_default()))?;
    let mut fallback = None;
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Journald => match tracing_journald::layer() {
            // Fields unprefixed (REASON, FLOW, PORT, ...), for `journalctl
            // REASON=busy`; none of ours is one of the journal's own.
            Ok(l) => l
                .with_syslog_identifier("flowlift".into())
                .with_field_prefix(None)
                .boxed(),
            Err(e) => {
                fallback = Some(e);
                text_layer()
            }
        },
        LogFormat::Text => text_layer(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (filter, handle) = reload::Layer::new(filter);
    // Already set (a test running the appliance twice in one process):
    // the first stays.
    if tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(Filter {
            handle,
            cli_level: opts.level,
            on_terminal,
        });
        if let Some(e) = fallback {
            tracing::warn!(target: "control", error = %e,
                "the journal is out of reach ({e}): logging to stderr as text");
        }
    }
    Ok(())
}

/// A reload's `[log] level`, from now on (`RUST_LOG` still on top), unless
/// `--log-level` set the level: the command line wins, as at start.
pub fn set_config_level(level: LogLevel) {
    let Some(f) = FILTER.get().filter(|f| f.cli_level.is_none()) else {
        return;
    };
    let level = level_for(level, f.on_terminal);
    let rust_log = std::env::var("RUST_LOG").ok();
    // RUST_LOG was accepted at start, so the same directives are.
    if let Ok(filter) = EnvFilter::try_new(directives(level, rust_log.as_deref())) {
        let _ = f.handle.reload(filter);
    }
}

fn text_layer() -> Box<dyn Layer<Registry> + Send + Sync> {
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_a_terminal_the_default_info_starts_at_warn() {
        assert_eq!(level_for(LogLevel::Info, true), LogLevel::Warn);
        assert_eq!(level_for(LogLevel::Info, false), LogLevel::Info);
        assert_eq!(level_for(LogLevel::Debug, true), LogLevel::Debug);
        assert_eq!(level_for(LogLevel::Error, true), LogLevel::Error);
    }

    #[test]
    fn the_journal_only_when_stderr_is_its_stream() {
        let id = Some((64770, 123456));
        assert!(stderr_is_journal(Some("64770:123456"), id));
        // Inherited from a unit, stderr redirected since.
        assert!(!stderr_is_journal(Some("64770:999"), id));
        assert!(!stderr_is_journal(Some("1:123456"), id));
        assert!(!stderr_is_journal(None, id));
        assert!(!stderr_is_journal(Some("64770:123456"), None));
        assert!(!stderr_is_journal(Some("garbage"), id));
        assert!(!stderr_is_journal(Some(""), id));
    }

    #[test]
    fn the_format_asked_for_wins_else_the_journal_under_systemd_else_text() {
        assert_eq!(choose_format(None, false), LogFormat::Text);
        assert_eq!(choose_format(None, true), LogFormat::Journald);
        assert_eq!(choose_format(Some(LogFormat::Json), true), LogFormat::Json);
        assert_eq!(choose_format(Some(LogFormat::Text), true), LogFormat::Text);
        assert_eq!(
            choose_format(Some(LogFormat::Journald), false),
            LogFormat::Journald
        );
    }

    #[test]
    fn rust_log_adds_to_the_level_and_a_bare_level_in_it_replaces_it() {
        assert_eq!(directives(LogLevel::Info, None), "info");
        assert_eq!(directives(LogLevel::Warn, Some("  ")), "warn");
        assert_eq!(
            directives(LogLevel::Warn, Some("offload=debug")),
            "warn,offload=debug"
        );
        assert_eq!(directives(LogLevel::Warn, Some("debug")), "debug");
        assert_eq!(
            directives(LogLevel::Info, Some("error,shell=trace")),
            "error,shell=trace"
        );
        assert_eq!(directives(LogLevel::Info, Some("off")), "off");
        for d in [
            directives(LogLevel::Warn, Some("offload=debug")),
            directives(LogLevel::Trace, None),
        ] {
            EnvFilter::try_new(&d).unwrap_or_else(|e| panic!("{d}: {e}"));
        }
    }

    /// A writer into a shared buffer, to read what was logged.
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The messages logged by `f` through the filter of `level` and
    /// `rust_log`, as JSON lines.
    fn logged(level: LogLevel, rust_log: Option<&str>, f: impl FnOnce()) -> Vec<String> {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(move || out.clone()),
            )
            .with(EnvFilter::try_new(directives(level, rust_log)).unwrap());
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!(
                    "{} {}",
                    v["target"].as_str().unwrap(),
                    v["message"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn events() {
        tracing::debug!(target: "offload", "a");
        tracing::info!(target: "offload", "b");
        tracing::debug!(target: "shell", "c");
        tracing::warn!(target: "shell", "d");
    }

    #[test]
    fn a_target_named_in_rust_log_gets_its_level_and_the_rest_keep_theirs() {
        assert_eq!(
            logged(LogLevel::Info, None, events),
            ["offload b", "shell d"]
        );
        assert_eq!(
            logged(LogLevel::Warn, Some("offload=debug"), events),
            ["offload a", "offload b", "shell d"]
        );
        assert_eq!(
            logged(LogLevel::Error, Some("debug"), events),
            ["offload a", "offload b", "shell c", "shell d"]
        );
        assert!(logged(LogLevel::Trace, Some("off"), events).is_empty());
    }
}
