//! The benchmark's output: one Markdown table row per step, ready for docs/performance.md.

use super::step::Step;

pub const HEADER: &str = "| CA | asked /s | ok /s | failed | tool CPU ms/chain | tool CPU µs/request \
| requests/chain (minimum; polls; newNonce) | TLS handshakes/chain | p50 ms | p99 ms | tool peak RSS MiB \
| CA CPU ms/chain | started/asked | dropped | lateness p99 ms |\n\
|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|";

pub fn row(s: &Step) -> String {
    let chains = s.chains().max(1) as f64;
    let handshakes = s
        .handshakes_per_chain
        .map_or_else(|| "n/a".to_string(), |h| format!("{h:.4}"));
    format!(
        "| {} | {} | {:.1} | {} | {:.3} | {:.1} | {:.2} ({:.2}; {:.2}; {:.2}) | {} | {:.1} | {:.1} | {:.1} \
         | {:.3} | {:.4} | {} | {:.2} |",
        s.ca,
        s.rate,
        s.ok_per_s,
        s.failures(),
        s.tool_cpu_per_chain * 1e3,
        s.tool_cpu_per_request() * 1e6,
        s.requests_per_chain(),
        s.requests.minimum as f64 / chains,
        s.requests.polls as f64 / chains,
        s.requests.nonces as f64 / chains,
        handshakes,
        s.p50_ms,
        s.p99_ms,
        s.peak_rss_kib as f64 / 1024.0,
        s.ca_cpu_per_chain * 1e3,
        s.starts as f64 / s.asked,
        s.dropped,
        s.lateness_p99_ms,
    )
}
