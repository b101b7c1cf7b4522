//! The flowlift appliance binary.

#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use flowlift::app::{run, RunOptions};
use flowlift::cli::{Cli, Command};
use flowlift::logging::LogOptions;
use flowlift_config::OffloadOverrides;
use flowlift_config::{Bound, DURATION, STATUS_EVERY};
use flowlift_traffic::{generate, TrafficSpec};

/// Seconds from the command line, within the option's bounds.
fn seconds(v: f64, bound: &Bound) -> anyhow::Result<Duration> {
    bound.check_f64(v).map_err(|m| anyhow::anyhow!(m))?;
    Duration::try_from_secs_f64(v).map_err(|e| anyhow::anyhow!("{} {v}: {e}", bound.key))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line, as every other refusal: clap's first line says what
            // is wrong; the usage it adds is --help's.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            eprintln!(
                "flowlift: error: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run {
            config,
            duration,
            replay,
            loops,
            capture_dir,
            status_every,
            flow_log,
            offload,
            max_rules,
            promote_pps,
            demote_pps,
            tick_ms,
            interactive,
            socket,
            metrics,
            check_config,
            no_mlockall,
            log_format,
            log_level,
        } => (|| {
            let opts = RunOptions {
                config,
                duration: duration.map(|d| seconds(d, &DURATION)).transpose()?,
                replay,
                loops,
                capture_dir,
                status_every: seconds(status_every, &STATUS_EVERY)?,
                flow_log,
                offload: OffloadOverrides {
                    backend: offload
                        .as_deref()
                        .map(str::parse)
                        .transpose()
                        .map_err(|e: String| anyhow::anyhow!("--offload: {e}"))?,
                    max_rules,
                    promote_pps,
                    demote_pps,
                    tick_ms,
                },
                interactive,
                socket,
                metrics,
                check_config,
                no_mlockall,
                log: LogOptions {
                    format: log_format,
                    level: log_level,
                },
            };
            run(&opts, &mut std::io::stdout()).map(|_| ())
        })(),
        Command::Shell { socket, command } => match command {
            Some(line) => match flowlift_operator::shell::socket::send(&socket, &line) {
                Ok(reply) => {
                    flowlift_operator::shell::client::print_reply(&reply);
                    if reply.ok {
                        Ok(())
                    } else {
                        return ExitCode::FAILURE;
                    }
                }
                Err(e) => Err(e),
            },
            None => flowlift_operator::shell::client::interactive("flowlift> ", false, |line| {
                flowlift_operator::shell::socket::send(&socket, line).unwrap_or_else(|e| {
                    flowlift_operator::shell::socket::Reply::err(format!("{e:#}"))
                })
            }),
        },
        Command::GenTraffic {
            out,
            flows,
            packets,
            zipf,
            ipv6_share,
            tcp_share,
            frame_len,
            dst_macs,
            seed,
        } => {
            let spec = TrafficSpec {
                flows,
                packets,
                zipf_s: zipf,
                ipv6_share,
                tcp_share,
                frame_len,
                dst_macs,
                seed,
                ..TrafficSpec::default()
            };
            generate(&spec, &out).map(|s| {
                println!(
                    "wrote {}: {} packets, {} bytes, {} flows (heaviest {} packets)",
                    out.display(),
                    s.packets,
                    s.bytes,
                    s.flows,
                    s.top_flow_packets
                );
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowlift: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
