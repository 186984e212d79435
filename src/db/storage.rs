//! The storage-side view of a run: how far each main table's high-water mark (its largest id)
//! moved, and how fast — what the CA actually wrote, next to what its API answered.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::queries::Table;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableGrowth {
    /// Largest id at the start and at the end of the run.
    pub start: u64,
    pub end: u64,
    /// Rows inserted per second over the run (ids are auto-increment).
    pub rows_per_s: f64,
}

/// Table name → growth.
pub type StorageView = BTreeMap<String, TableGrowth>;

/// Growth between two snapshots of high-water marks taken `elapsed` apart.
pub fn growth(start: &[(Table, u64)], end: &[(Table, u64)], elapsed: Duration) -> StorageView {
    let secs = elapsed.as_secs_f64().max(1e-9);
    end.iter()
        .map(|(table, end)| {
            let start = start
                .iter()
                .find(|(t, _)| t == table)
                .map_or(*end, |(_, s)| *s);
            let growth = TableGrowth {
                start,
                end: *end,
                rows_per_s: end.saturating_sub(start) as f64 / secs,
            };
            (table.name().to_owned(), growth)
        })
        .collect()
}

pub fn to_text(view: &StorageView) -> String {
    let mut out = String::from("\nBoulder database (largest id at start → end):\n");
    for (table, g) in view {
        let _ = writeln!(
            out,
            "  {:<18} {:>12} → {:<12} {:>10.2} rows/s",
            table, g.start, g.end, g.rows_per_s
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_per_second() {
        let start = [(Table::Certificates, 100), (Table::Orders, 7)];
        let end = [(Table::Certificates, 160), (Table::Orders, 7)];
        let view = growth(&start, &end, Duration::from_secs(20));
        assert_eq!(view["certificates"].rows_per_s, 3.0);
        assert_eq!(view["orders"].rows_per_s, 0.0);
        assert_eq!(
            (view["certificates"].start, view["certificates"].end),
            (100, 160)
        );
        assert!(to_text(&view).contains("certificates"));
    }
}
