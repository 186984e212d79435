//! The JSON report matches the schema documented in docs/reports.md, key for key and type for type.

mod common;

use std::time::Duration;

use common::{show, Pebble};
use serde_json::Value;

/// The example following `<!-- report-schema -->` in docs/reports.md.
fn documented_schema() -> Value {
    let readme = std::fs::read_to_string(common::repo().join("docs/reports.md")).unwrap();
    let after = readme
        .split("<!-- report-schema -->")
        .nth(1)
        .expect("docs/reports.md has a report schema marker");
    let json = after
        .split("```json")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a json block follows the marker");
    serde_json::from_str(json).expect("the documented schema is valid JSON")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `actual` has the shape of `documented`. Objects whose keys are names (chains,
/// endpoints, also inside time-series points) are compared entry by entry against the
/// documented example; `null` stands for an absent latency object.
fn same_shape(path: &str, documented: &Value, actual: &Value, problems: &mut Vec<String>) {
    match (documented, actual) {
        (Value::Object(d), Value::Object(a)) => {
            let keyed_by_name = matches!(
                path,
                "chains"
                    | "requests"
                    | "profiles"
                    | "waits"
                    | "consistency.kinds"
                    | "consistency.mismatches"
            ) || path.ends_with("].chains")
                || path.ends_with("].requests");
            if keyed_by_name {
                for (name, value) in a {
                    let example = d.values().next().expect("an example entry");
                    same_shape(&format!("{path}.{name}"), example, value, problems);
                }
                return;
            }
            for key in d.keys().filter(|k| !a.contains_key(*k)) {
                problems.push(format!("{path}.{key}: documented but missing"));
            }
            for key in a.keys().filter(|k| !d.contains_key(*k)) {
                problems.push(format!("{path}.{key}: present but undocumented"));
            }
            for (key, dv) in d {
                if let Some(av) = a.get(key) {
                    let p = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    same_shape(&p, dv, av, problems);
                }
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            if let Some(example) = d.first() {
                for (i, item) in a.iter().enumerate() {
                    same_shape(&format!("{path}[{i}]"), example, item, problems);
                }
            }
        }
        // A latency object is null when nothing was measured.
        (Value::Null, Value::Object(_)) | (Value::Object(_), Value::Null) => {}
        (d, a) if kind(d) != kind(a) => {
            problems.push(format!("{path}: documented {} but is {}", kind(d), kind(a)));
        }
        _ => {}
    }
}

#[test]
fn report_matches_the_documented_schema() {
    let schema = documented_schema();
    let pebble = Pebble::start();
    let report_path = pebble.path("report.json");
    let out = pebble.run(
        pebble
            .attack("2s")
            .args(["hammer", "2"])
            // Revocations meet an expected outcome, so `expected_outcomes` has entries to check.
            .env("WEC_CHAINS__WEIGHTS__ISSUE", "1")
            .env("WEC_CHAINS__WEIGHTS__REVOKE", "1")
            // Limits every run passes, so the thresholds array has entries to check.
            .env("WEC_THRESHOLDS__FAILURE_RATE", "100%")
            .env("WEC_THRESHOLDS__CHAINS__ISSUE__P99", "60s"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let actual = pebble.report();
    assert_eq!(actual["thresholds"].as_array().map(Vec::len), Some(2));
    let points = actual["timeseries"]["points"].as_array().unwrap();
    assert!(points.len() >= 2, "{points:?}");
    assert!(points.iter().any(|p| p["chains"].get("issue").is_some()));
    assert!(!actual["expected_outcomes"].as_array().unwrap().is_empty());
    let mut problems = Vec::new();
    same_shape("", &schema, &actual, &mut problems);
    assert!(
        problems.is_empty(),
        "report differs from docs/reports.md:\n{}",
        problems.join("\n")
    );
    assert_eq!(actual["schema_version"], schema["schema_version"]);
    assert!(!report_path.with_extension("json.tmp").exists());
}

#[test]
fn the_shape_check_notices_differences() {
    let schema = documented_schema();
    let mut broken = schema.clone();
    broken.as_object_mut().unwrap().remove("traffic");
    broken["extra"] = Value::from(1);
    broken["chains"]["issue"]["ok"] = Value::from("many");
    broken["timeseries"]["points"][0]["requests"]["newOrder"]["p99_ms"] = Value::from("slow");
    let mut problems = Vec::new();
    same_shape("", &schema, &broken, &mut problems);
    assert_eq!(problems.len(), 4, "{problems:?}");
}
