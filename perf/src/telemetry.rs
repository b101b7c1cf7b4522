//! A client of one DPDK process's telemetry socket (`dpdk_telemetry.v2` in
//! its EAL runtime directory, named by its `--file-prefix`), for peers that
//! print no rates. It goes through Debian's `dpdk-telemetry.py` (a
//! SOCK_SEQPACKET socket, which std cannot open), kept running for the whole
//! run: one command a line in, one JSON answer a line out, so a per-second
//! sample costs no process start. The script is killed when the client drops.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Debian's telemetry client (package `dpdk`).
pub const SCRIPT: &str = "/usr/bin/dpdk-telemetry.py";
const SOCKET: &str = "dpdk_telemetry.v2";

/// EAL's runtime directory for `prefix`, as `eal_create_runtime_dir` makes
/// it: /var/run/dpdk for root, else $XDG_RUNTIME_DIR/dpdk (or /tmp/dpdk).
pub fn runtime_dir(prefix: &str) -> PathBuf {
    let base = if is_root() {
        PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
    };
    base.join("dpdk").join(prefix)
}

/// Whether this process runs as root (its real uid, from /proc).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// An open telemetry connection.
#[derive(Debug)]
pub struct Telemetry {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    prefix: String,
}

impl Telemetry {
    /// Connects to the process with `--file-prefix` `prefix` once its socket
    /// exists, waiting up to `timeout` for it (EAL makes it early in
    /// `rte_eal_init`). `alive` is asked while waiting, to fail at once
    /// when the process died before making its socket.
    pub fn connect(
        prefix: &str,
        timeout: Duration,
        mut alive: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Telemetry> {
        let socket = runtime_dir(prefix).join(SOCKET);
        let deadline = Instant::now() + timeout;
        while !socket.exists() {
            alive()?;
            if Instant::now() > deadline {
                bail!("{} did not appear within {timeout:?}", socket.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !Path::new(SCRIPT).exists() {
            bail!("{SCRIPT} is missing (Debian's dpdk package)");
        }
        // -u: answers must not wait in Python's pipe buffer.
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(SCRIPT)
            .args(["-f", prefix])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start dpdk-telemetry.py")?;
        let stdout = child.stdout.take().context("telemetry stdout")?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Telemetry {
            child,
            stdin,
            lines,
            prefix: prefix.to_owned(),
        })
    }

    /// Sends `command` (`/ethdev/stats,1`) and returns the value of its
    /// answer (`{"/ethdev/stats": VALUE}`).
    pub fn query(&mut self, command: &str, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let stdin = self.stdin.as_mut().context("telemetry stdin")?;
        writeln!(stdin, "{command}")
            .with_context(|| format!("telemetry of {} is gone", self.prefix))?;
        let line = match self.lines.recv_timeout(timeout) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                "no telemetry answer from {} to {command} within {timeout:?}",
                self.prefix
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("telemetry of {} closed (the process ended?)", self.prefix)
            }
        };
        // Anything else it prints (a connection error) is not an answer.
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&line) else {
            bail!("telemetry of {}: {line}", self.prefix);
        };
        let key = command.split(',').next().unwrap_or(command);
        match v.get_mut(key) {
            Some(answer) => Ok(answer.take()),
            None => bail!(
                "telemetry of {} answered {command} with {line}",
                self.prefix
            ),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // EOF on stdin ends the script; kill it in case it is stuck.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_runtime_dir_is_var_run_dpdk() {
        if is_root() {
            assert_eq!(runtime_dir("x"), PathBuf::from("/var/run/dpdk/x"));
        } else {
            assert!(runtime_dir("x").ends_with("dpdk/x"));
        }
    }
}
