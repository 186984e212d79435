//! The HTML report (`--html-report FILE`): one self-contained page with charts over time
//! (attackers, throughput, latency) and the summary tables. Everything is inline (CSS and SVG,
//! no script); a Content-Security-Policy forbids any fetch, so opening it never touches the
//! network.

use std::fmt::Write as _;
use std::path::Path;

use super::series::{PointLatency, PointReport};
use super::summary::{bytes, Percentiles, Summary};
use super::svg::{escape, line_chart, Chart, Series, PALETTE};
use super::thresholds::{show, Verdict};
use super::{write_atomically, Report};

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;
 margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c5cad6}
main{padding:16px 32px 40px;max-width:1400px}
h2{font-size:17px;margin:28px 0 10px}
code{font-family:'DejaVu Sans Mono',monospace;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:8px}
.card{background:#fff;border-radius:8px;padding:10px 16px;min-width:130px;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .v{font-size:22px;font-weight:600}.card .k{color:#5b6375;font-size:12px}
.pass{color:#1a7f37}.fail{color:#c62828}
figure{background:#fff;border-radius:8px;margin:0 0 14px;padding:6px 8px;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
svg.chart{width:100%;height:auto;display:block}
svg .title{font-size:15px;font-weight:600;fill:#1d2330}
svg .legend{font-size:12px;fill:#1d2330}
svg .grid{stroke:#e3e6ec;stroke-width:1}svg .axis{stroke:#8a91a1;stroke-width:1}
svg .tick{stroke:#8a91a1}
svg .xlabel{font-size:11px;fill:#5b6375;text-anchor:middle}
svg .ylabel{font-size:11px;fill:#5b6375;text-anchor:end}
svg .empty{font-size:14px;fill:#8a91a1;text-anchor:middle}
svg .line{fill:none;stroke-width:2;stroke-linejoin:round}
table{border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;
 box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:8px}
th,td{padding:5px 12px;text-align:right;border-bottom:1px solid #eceef2;white-space:nowrap}
th{background:#eef0f4;font-weight:600}
td.l,th.l{text-align:left}td.msg{white-space:normal;max-width:640px;text-align:left;
 font-family:'DejaVu Sans Mono',monospace;font-size:12px;color:#5b6375}
";

/// Writes the report as HTML to `path` (through `FILE.tmp`).
pub fn write(report: &Report, path: &Path) -> std::io::Result<()> {
    write_atomically(path, render(report).as_bytes())
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let s = &r.summary;
    let mut page = String::with_capacity(64 * 1024);
    let title = format!("wile-e-coyote: {} against {}", r.schedule, r.target);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\
         <header><h1>{}</h1><p>started {} · {:.1} s · {} {}</p></header><main>",
        escape(&title),
        escape(&title),
        utc(r.started_at_unix_s),
        s.duration_s,
        r.tool,
        r.version
    );
    cards(&mut page, s, &r.thresholds);
    thresholds(&mut page, &r.thresholds);
    page.push_str("<h2 id=\"charts\">Over time</h2>");
    for chart in charts(s) {
        let _ = write!(
            page,
            "<figure>{}</figure>",
            line_chart(&chart, s.duration_s)
        );
    }
    tables(&mut page, s);
    page.push_str("</main></body></html>\n");
    page
}

fn cards(page: &mut String, s: &Summary, verdicts: &[Verdict]) {
    let failed_thresholds = verdicts.iter().filter(|v| !v.pass).count();
    let secs = s.duration_s.max(1e-9);
    let mut cards = vec![
        ("chains ok", s.chains_ok().to_string(), ""),
        (
            "chains failed",
            s.chains_failed().to_string(),
            if s.chains_failed() > 0 { "fail" } else { "" },
        ),
        (
            "chains ok/s",
            format!("{:.2}", s.chains_ok() as f64 / secs),
            "",
        ),
        ("requests/s", format!("{:.1}", s.requests_per_s()), ""),
        ("peak attackers", s.peak_attackers.to_string(), ""),
        ("badNonce retries", s.bad_nonce_retries.to_string(), ""),
        ("traffic in", bytes(s.traffic.bytes_in), ""),
        ("traffic out", bytes(s.traffic.bytes_out), ""),
    ];
    if !verdicts.is_empty() {
        let (text, class) = if failed_thresholds == 0 {
            ("all passed".to_owned(), "pass")
        } else {
            (format!("{failed_thresholds} failed"), "fail")
        };
        cards.push(("thresholds", text, class));
    }
    page.push_str("<section class=\"cards\">");
    for (key, value, class) in cards {
        let _ = write!(
            page,
            "<div class=\"card\"><div class=\"v {class}\">{}</div><div class=\"k\">{key}</div></div>",
            escape(&value)
        );
    }
    page.push_str("</section>");
}

/// A point's x: the middle of its interval.
fn mid(p: &PointReport) -> f64 {
    p.t_s + p.width_s / 2.0
}

fn rate_series(
    name: &str,
    color: &'static str,
    points: &[PointReport],
    f: fn(&PointReport) -> f64,
) -> Series {
    Series {
        name: name.into(),
        color,
        dashed: false,
        points: points.iter().map(|p| (mid(p), Some(f(p)))).collect(),
    }
}

/// Attackers as steps: the count holds over each interval.
fn attackers_series(points: &[PointReport]) -> Series {
    Series {
        name: "attackers (most live per interval)".into(),
        color: PALETTE[0],
        dashed: false,
        points: points
            .iter()
            .flat_map(|p| {
                let v = Some(p.attackers as f64);
                [(p.t_s, v), (p.t_s + p.width_s, v)]
            })
            .collect(),
    }
}

/// p50 (solid) and p99 (dashed) lines for each name `latency` finds in the points.
fn latency_series<'a>(
    names: impl Iterator<Item = &'a String>,
    points: &[PointReport],
    latency: for<'p> fn(&'p PointReport, &str) -> Option<&'p PointLatency>,
    p50: bool,
) -> Vec<Series> {
    let mut out = Vec::new();
    for (i, name) in names.enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = |label: &str, dashed: bool, pick: fn(&PointLatency) -> f64| Series {
            name: format!("{name} {label}"),
            color,
            dashed,
            points: points
                .iter()
                .map(|p| (mid(p), latency(p, name).map(pick)))
                .collect(),
        };
        if p50 {
            out.push(line("p50", false, |l| l.p50_ms));
            out.push(line("p99", true, |l| l.p99_ms));
        } else {
            out.push(line("p99", false, |l| l.p99_ms));
        }
    }
    out
}

fn charts(s: &Summary) -> Vec<Chart> {
    let points = &s.timeseries.points;
    vec![
        Chart {
            title: "Attackers".into(),
            unit: "",
            series: vec![attackers_series(points)],
        },
        Chart {
            title: "Chains per second".into(),
            unit: "",
            series: vec![
                rate_series("ok", PALETTE[1], points, |p| p.chains_ok_per_s),
                rate_series("failed", PALETTE[2], points, |p| p.chains_failed_per_s),
            ],
        },
        Chart {
            title: "Requests per second".into(),
            unit: "",
            series: vec![rate_series("all endpoints", PALETTE[0], points, |p| {
                p.requests_per_s
            })],
        },
        Chart {
            title: "Chain latency, successful chains, p50 and p99".into(),
            unit: "ms",
            series: latency_series(s.chains.keys(), points, |p, n| p.chains.get(n), true),
        },
        Chart {
            title: "Request latency p99 per endpoint, successful requests".into(),
            unit: "ms",
            series: latency_series(s.requests.keys(), points, |p, n| p.requests.get(n), false),
        },
    ]
}

fn latency_cells(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => [p.min, p.p50, p.p90, p.p99, p.p999, p.max]
            .iter()
            .map(|v| format!("<td>{v:.1}</td>"))
            .collect(),
        None => "<td>-</td>".repeat(6),
    }
}

const LATENCY_HEADS: &str =
    "<th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th>";

fn thresholds(page: &mut String, verdicts: &[Verdict]) {
    if !verdicts.is_empty() {
        page.push_str(
            "<h2 id=\"thresholds\">Thresholds</h2><table><tr><th class=\"l\">verdict</th><th class=\"l\">key</th>\
             <th>measured</th><th>limit</th></tr>",
        );
        for v in verdicts {
            let (class, mark) = if v.pass {
                ("pass", "PASS")
            } else {
                ("fail", "FAIL")
            };
            let measured = v
                .measured
                .map_or("not measured".to_owned(), |m| show(v.unit, m));
            let _ = write!(
                page,
                "<tr><td class=\"l {class}\"><b>{mark}</b></td><td class=\"l\"><code>{}</code></td>\
                 <td>{}</td><td>{}</td></tr>",
                escape(&v.key),
                measured,
                show(v.unit, v.limit)
            );
        }
        page.push_str("</table>");
    }
}

fn tables(page: &mut String, s: &Summary) {
    let _ = write!(
        page,
        "<h2 id=\"chains\">Chains</h2><table><tr><th class=\"l\">chain</th><th>ok</th><th>failed</th>\
         <th>rate-limited</th><th>interrupted</th><th>ok/s</th>{LATENCY_HEADS}</tr>"
    );
    for (name, c) in &s.chains {
        let _ = write!(
            page,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td>{}</tr>",
            escape(name),
            c.ok,
            c.failed,
            c.rate_limited,
            c.interrupted,
            c.rate_per_s,
            latency_cells(&c.latency_ms)
        );
    }
    page.push_str("</table><p>Latencies in ms of successful chains.</p>");
    let _ = write!(
        page,
        "<h2 id=\"requests\">Requests</h2><table><tr><th class=\"l\">endpoint</th><th>ok</th><th>failed</th>\
         <th>rate-limited</th><th>badNonce</th><th>req/s</th>{LATENCY_HEADS}<th>in</th><th>out</th></tr>"
    );
    for (name, r) in &s.requests {
        let _ = write!(
            page,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td>{}\
             <td>{}</td><td>{}</td></tr>",
            escape(name),
            r.ok,
            r.failed,
            r.rate_limited,
            r.bad_nonce_retried,
            r.rate_per_s,
            latency_cells(&r.latency_ms),
            bytes(r.bytes_in),
            bytes(r.bytes_out)
        );
    }
    page.push_str("</table><p>Latencies in ms of successful requests.</p>");
    if !s.profiles.is_empty() {
        let _ = write!(
            page,
            "<h2 id=\"profiles\">Certificate profiles</h2><table><tr><th class=\"l\">profile</th>\
             <th>ok</th><th>failed</th><th>rate-limited</th>{LATENCY_HEADS}</tr>"
        );
        for (name, p) in &s.profiles {
            let _ = write!(
                page,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
                escape(name),
                p.ok,
                p.failed,
                p.rate_limited,
                latency_cells(&p.latency_ms)
            );
        }
        page.push_str("</table><p>Chains that ordered with each profile; latencies in ms.</p>");
    }
    if !s.convergence.is_empty() {
        let _ = write!(
            page,
            "<h2 id=\"convergence\">Convergence</h2><table><tr><th class=\"l\">chain</th>\
             <th class=\"l\">read back</th><th>agreed</th><th>timed out</th>{LATENCY_HEADS}</tr>"
        );
        for c in &s.convergence {
            let _ = write!(
                page,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>{}</tr>",
                escape(&c.chain),
                escape(&c.what),
                c.agreed,
                c.timed_out,
                latency_cells(&c.latency_ms)
            );
        }
        page.push_str(
            "</table><p>Time in ms from a change the CA accepted until reading it back agreed \
             (a CA caching accounts answers from the old state meanwhile).</p>",
        );
    }
    if !s.failures.is_empty() {
        page.push_str(
            "<h2 id=\"failures\">Failures by reason</h2><table><tr><th>count</th><th class=\"l\">chain</th>\
             <th class=\"l\">reason</th><th class=\"l\">example</th></tr>",
        );
        for f in &s.failures {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td>\
                 <td class=\"msg\">{}</td></tr>",
                f.count,
                escape(&f.chain),
                escape(&f.reason),
                escape(&f.example)
            );
        }
        page.push_str("</table>");
    }
    if !s.expected_outcomes.is_empty() {
        page.push_str(
            "<h2 id=\"expected\">Expected outcomes</h2><p>Refusals the chains asked for (a second \
             revocation, a deactivated account…), counted as ok.</p><table><tr><th>count</th>\
             <th class=\"l\">chain</th><th class=\"l\">outcome</th></tr>",
        );
        for e in &s.expected_outcomes {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td></tr>",
                e.count,
                escape(&e.chain),
                escape(&e.outcome)
            );
        }
        page.push_str("</table>");
    }
}

/// `YYYY-MM-DD hh:mm:ss UTC` from Unix seconds (days to civil date, proleptic Gregorian).
fn utc(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_609_030), "2026-11-25 12:17:10 UTC");
    }
}
