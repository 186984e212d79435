//! The JSON report (`--report FILE`): the summary plus what was run against what, and how the
//! run fared against its thresholds. The schema is documented in the README; `tests/report.rs`
//! holds it to that.

use std::path::Path;

use serde::Serialize;

use super::summary::Summary;
use super::thresholds::Verdict;

/// Bumped when a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub schema_version: u32,
    pub tool: &'static str,
    pub version: &'static str,
    pub target: &'a str,
    pub schedule: &'a str,
    /// Seconds since the Unix epoch when the run started.
    pub started_at_unix_s: u64,
    #[serde(flatten)]
    pub summary: &'a Summary,
    /// Every configured threshold, passed or not.
    pub thresholds: &'a [Verdict],
}

impl Report<'_> {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(path, &json)
    }
}

/// Writes `FILE.tmp`, then renames it: a reader never sees half a report.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
