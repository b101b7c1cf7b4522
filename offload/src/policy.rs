//! What the operator decides about offload, as the offload side takes it:
//! a header policy's choice for the flows it matches, and a VF's rate limit.
//! The config file and the shell produce these; the engine reads them, and
//! never the config itself.

use flowlift_dataplane::meter::MeterUnit;
use flowlift_dataplane::policy::Rule;
use serde::Deserialize;

/// Whether flows a header policy matches may be offloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OffloadChoice {
    /// Offload at the first tick, whatever the rate (while rules are free).
    Always,
    /// Never offload.
    Never,
    /// Let the rate policy decide.
    #[default]
    Auto,
}

impl OffloadChoice {
    /// The choice as the config writes it.
    pub fn name(self) -> &'static str {
        match self {
            OffloadChoice::Always => "always",
            OffloadChoice::Never => "never",
            OffloadChoice::Auto => "auto",
        }
    }
}

/// A header policy: flows whose key matches `matches` get `choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffloadPolicy {
    /// The match (its `action` is unused).
    pub matches: Rule,
    pub choice: OffloadChoice,
}

/// A VF's rate limit, enforced on both paths: by the workers' meter (see
/// `dataplane::meter`) and, on a NIC driven through rte_flow, by an rte_mtr
/// meter of the NIC's (see `offload::meters`), each with the whole limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub unit: MeterUnit,
    /// Packets or bytes per second.
    pub rate: u64,
    /// Packets or bytes a quiet VF may receive at once.
    pub burst: u64,
}
