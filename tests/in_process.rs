//! The whole tool in the test's own process, through `wile_e_coyote::run_with`, as the binary
//! runs once its command line is parsed: two short runs in a row against a real Pebble (no
//! state of the first leaks into the second), then `report merge` of their reports.

mod common;

use clap::Parser;
use common::Pebble;
use wile_e_coyote::cli::Cli;
use wile_e_coyote::{exit, run_with};

fn ok_chains(report: &serde_json::Value) -> u64 {
    report["chains"]
        .as_object()
        .expect("a chains table")
        .values()
        .map(|c| c["ok"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn runs_and_merges_in_process() {
    let pebble = Pebble::start();
    let config = pebble.config();
    let mut reports = Vec::new();
    for run in ["first", "second"] {
        let report = pebble.path(&format!("{run}.json"));
        let cli = Cli::parse_from([
            "wile-e-coyote".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--duration".as_ref(),
            "3s".as_ref(),
            "--report".as_ref(),
            report.as_os_str(),
            "hammer".as_ref(),
            "2".as_ref(),
        ]);
        assert_eq!(run_with(cli), exit::OK, "the {run} run");
        let json = common::report(&report);
        assert!(ok_chains(&json) >= 1, "the {run} run: {json}");
        reports.push((report, ok_chains(&json)));
    }
    let merged = pebble.path("merged.json");
    let cli = Cli::parse_from([
        "wile-e-coyote".as_ref(),
        "--report".as_ref(),
        merged.as_os_str(),
        "report".as_ref(),
        "merge".as_ref(),
        reports[0].0.as_os_str(),
        reports[1].0.as_os_str(),
    ]);
    assert_eq!(run_with(cli), exit::OK);
    assert_eq!(
        ok_chains(&common::report(&merged)),
        reports[0].1 + reports[1].1
    );
}
