//! The reports of a run: the summary text, the JSON report (`--report FILE`), the HTML page
//! (`--html-report FILE`), the verdicts of `[thresholds]`, and `report merge`, which adds up
//! the JSON reports of runs that ran side by side. It knows nothing of the Metrics actor:
//! [`crate::metrics`] hands it a [`Summary`], or a report file does. The schema is documented
//! in docs/reports.md; `tests/report.rs` holds it to that.

pub mod histogram;
pub mod html;
pub mod merge;
pub mod series;
pub mod storage;
pub mod summary;
pub mod svg;
pub mod thresholds;

use std::path::Path;

use serde::{Deserialize, Serialize};

use summary::Summary;
use thresholds::Verdict;

/// Bumped when a field changes meaning or disappears. 2: histograms (`latency_hdr`…) and the
/// time series' `buckets`, which `report merge` needs.
pub const SCHEMA_VERSION: u32 = 2;

/// The `tool` of every report this tool writes.
pub const TOOL: &str = "wile-e-coyote";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub target: String,
    pub schedule: String,
    /// Seconds since the Unix epoch when the run started.
    pub started_at_unix_s: u64,
    #[serde(flatten)]
    pub summary: Summary,
    /// Every configured threshold, passed or not.
    pub thresholds: Vec<Verdict>,
    /// Which shard ran, from when, and what it skipped (absent for an unsharded run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::sharding::ShardReport>,
}

impl Report {
    /// The report of a run of this version of the tool.
    pub fn new(
        target: String,
        schedule: String,
        started_at_unix_s: u64,
        summary: Summary,
        thresholds: Vec<Verdict>,
    ) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            tool: TOOL.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            target,
            schedule,
            started_at_unix_s,
            summary,
            thresholds,
            shard: None,
        }
    }

    /// What a run prints at its end: what ran against what, the summary, the verdicts.
    pub fn to_text(&self) -> String {
        let shard = match &self.shard {
            Some(shard) => format!("\n{}", shard.to_text()),
            None => String::new(),
        };
        format!(
            "\n{} {} against {}{shard}\n{}{}",
            self.tool,
            self.schedule,
            self.target,
            self.summary.to_text(),
            thresholds::to_text(&self.thresholds)
        )
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(path, &json)
    }
}

#[cfg(test)]
mod tests;

/// Writes `FILE.tmp`, then renames it: a reader never sees half a report.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
