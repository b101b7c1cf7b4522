//! The command line's overrides of `[offload]` (`flowlift run --offload ...`),
//! checked as the config file's own values are.

use crate::{BackendKind, Config};

/// `--offload`, `--max-rules`, `--promote-pps`, `--demote-pps`, `--tick-ms`.
#[derive(Debug, Clone, Default)]
pub struct OffloadOverrides {
    pub backend: Option<BackendKind>,
    pub max_rules: Option<u32>,
    pub promote_pps: Option<f64>,
    pub demote_pps: Option<f64>,
    pub tick_ms: Option<u32>,
}

impl OffloadOverrides {
    /// Applies the overrides to `cfg` and checks the result as the config
    /// file's own values are checked: each option against its key's bounds
    /// (the refusal names the option), then the whole config.
    pub fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        use crate::{DEMOTE_PPS, MAX_RULES, PROMOTE_PPS, TICK_MS};
        let named = |r: Result<(), String>| r.map_err(|m| anyhow::anyhow!(m));
        let o = &mut cfg.offload;
        if let Some(b) = self.backend {
            o.backend = b;
        }
        if let Some(n) = self.max_rules {
            named(MAX_RULES.check_u64_as("--max-rules", n.into()))?;
            o.max_rules = n;
        }
        if let Some(p) = self.promote_pps {
            named(PROMOTE_PPS.check_f64_as("--promote-pps", p))?;
            o.promote_pps = p;
        }
        if let Some(p) = self.demote_pps {
            named(DEMOTE_PPS.check_f64_as("--demote-pps", p))?;
            o.demote_pps = p;
        }
        if let Some(t) = self.tick_ms {
            named(TICK_MS.check_u64_as("--tick-ms", t.into()))?;
            o.tick_ms = t;
        }
        cfg.check()
            .map_err(|m| anyhow::anyhow!("{m} (after the command-line options)"))
    }
}

/// Everything the command line changes in the config file's settings, kept
/// so that a reload applies it again and compares like with like.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub offload: OffloadOverrides,
    /// `--no-mlockall`.
    pub no_mlockall: bool,
    /// `--capture-dir`, made absolute.
    pub capture_dir: Option<std::path::PathBuf>,
    /// `--replay` (made absolute) and `--loops`.
    pub replay: Option<(std::path::PathBuf, u64)>,
}

impl CommandLine {
    /// Applies the command line to `cfg` (a config file's, or the demo's),
    /// checked as [`OffloadOverrides::apply`] checks.
    pub fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        self.offload.apply(cfg)?;
        if self.no_mlockall {
            cfg.eal.mlockall = false;
        }
        if let Some(dir) = &self.capture_dir {
            cfg.capture_vfs_to(dir);
        }
        if let Some((pcap, loops)) = &self.replay {
            cfg.replay_on_uplink(pcap, *loops);
        }
        Ok(())
    }
}
