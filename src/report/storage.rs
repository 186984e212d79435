//! The storage side of a run in the report: how far each of Boulder's main tables' largest id
//! moved, and how fast — what the CA actually wrote, next to what its API answered.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableGrowth {
    /// Largest id at the start and at the end of the run.
    pub start: u64,
    pub end: u64,
    /// Rows inserted per second over the run (ids are auto-increment).
    pub rows_per_s: f64,
}

/// Table name → growth.
pub type StorageView = BTreeMap<String, TableGrowth>;

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

/// What runs side by side saw of the same database: each table from the lowest start to the
/// highest end, over `duration_s` (adding them would count the same rows once per run).
pub fn merge<'a>(
    views: impl Iterator<Item = &'a StorageView>,
    duration_s: f64,
) -> Option<StorageView> {
    let mut merged: Option<StorageView> = None;
    for view in views {
        let into = merged.get_or_insert_with(BTreeMap::new);
        for (table, g) in view {
            let m = into.entry(table.clone()).or_insert_with(|| g.clone());
            (m.start, m.end) = (m.start.min(g.start), m.end.max(g.end));
        }
    }
    let secs = duration_s.max(1e-9);
    for g in merged.iter_mut().flat_map(|m| m.values_mut()) {
        g.rows_per_s = g.end.saturating_sub(g.start) as f64 / secs;
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tables_seen_by_two_runs_are_not_counted_twice() {
        let view = |start, end| -> StorageView {
            [(
                "certificates".to_owned(),
                TableGrowth {
                    start,
                    end,
                    rows_per_s: 0.0,
                },
            )]
            .into()
        };
        let (a, b) = (view(100, 160), view(110, 200));
        let m = merge([&a, &b].into_iter(), 20.0).unwrap();
        assert_eq!(
            m["certificates"],
            TableGrowth {
                start: 100,
                end: 200,
                rows_per_s: 5.0
            }
        );
        assert!(to_text(&m).contains("certificates"));
        assert_eq!(merge(std::iter::empty(), 1.0), None);
    }
}
