//! The storage-side view of a run, measured: how far each main table's high-water mark (its
//! largest id) moved, and how fast. The report shows it ([`crate::report::storage`]).

use std::time::Duration;

use super::queries::Table;
use crate::report::storage::{StorageView, TableGrowth};

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
    }
}
