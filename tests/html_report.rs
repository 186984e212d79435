//! The HTML report is one self-contained page: it references nothing outside itself and renders
//! in headless Chromium (Debian's `chromium`) with its charts and tables.

mod common;

use std::time::Duration;

use common::{chromium, show, wec, Pebble};

/// Every value of `attribute="…"` in `html`.
fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    html.split(&format!("{attribute}=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

#[test]
fn the_html_report_is_self_contained_and_renders_in_chromium() {
    let pebble = Pebble::start();
    let html_path = pebble.path("report.html");
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(pebble.config())
            .args(["--duration", "3s", "--html-report"])
            .arg(&html_path)
            .args(["seq", "1s", "1", "3"])
            .env("WEC_THRESHOLDS__CHAINS__ISSUE__P99", "60s"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let html = std::fs::read_to_string(&html_path).unwrap();

    // Nothing to fetch: no external references of any kind, and a policy forbidding fetches.
    for attribute in ["src", "href"] {
        let values = attribute_values(&html, attribute);
        assert!(values.is_empty(), "{attribute} attributes: {values:?}");
    }
    for needle in ["<script", "<link", "url(", "@import", "<img", "<iframe"] {
        assert!(!html.contains(needle), "the report contains {needle}");
    }
    assert!(html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));

    // Chromium parses it into five SVG charts with lines, and the tables.
    let dom = chromium(&html_path, &["--dump-dom".into()]);
    assert!(dom.status.success(), "{}", show(&dom));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 5, "{dom}");
    assert!(dom.matches("<polyline").count() >= 5, "{dom}");
    for id in ["thresholds", "charts", "chains", "requests"] {
        assert!(
            dom.contains(&format!("<h2 id=\"{id}\">")),
            "no {id} section"
        );
    }
    assert!(dom.contains("thresholds.chains.issue.p99"));

    // And paints it: a screenshot of a blank page would be a few kB.
    let png = pebble.path("report.png");
    let shot = chromium(
        &html_path,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,2000".into(),
        ],
    );
    assert!(shot.status.success(), "{}", show(&shot));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(bytes.len() > 50_000, "screenshot of {} bytes", bytes.len());
}

#[test]
fn the_attribute_check_finds_references() {
    let html = "<img src=\"https://cdn.example/x.png\"><a href=\"#top\">";
    assert_eq!(
        attribute_values(html, "src"),
        vec!["https://cdn.example/x.png"]
    );
    assert_eq!(attribute_values(html, "href"), vec!["#top"]);
}
