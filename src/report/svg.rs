//! Line charts as inline SVG for the HTML report: drawn here, so the report needs no script,
//! no library and no network to be read.

use std::fmt::Write as _;

const WIDTH: f64 = 1200.0;
const PLOT_HEIGHT: f64 = 200.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
/// Baseline of the first legend row, under the title.
const TITLE: f64 = 44.0;
const LEGEND_ROW: f64 = 18.0;
const BOTTOM: f64 = 36.0;

/// Distinguishable colours, in the order series are given them.
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f",
];

/// One line: `(x, y)` points, `None` where there is no value (the line breaks there).
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, Option<f64>)>,
}

pub struct Chart {
    pub title: String,
    /// Unit of the y axis, shown after the title unless empty.
    pub unit: &'static str,
    pub series: Vec<Series>,
}

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A step of 1, 2 or 5 × 10^k giving at most `max_ticks` ticks up to `max`.
fn nice_step(max: f64, max_ticks: f64) -> f64 {
    let raw = (max / max_ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// A time step in seconds that reads well on a clock.
fn time_step(max_s: f64) -> f64 {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        14400.0, 21600.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| max_s / s <= 10.0)
        .unwrap_or(43200.0)
}

fn time_label(s: f64) -> String {
    let s = s.round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

fn value_label(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{v:.0}")
    } else {
        let decimals = (-step.log10()).ceil() as usize;
        format!("{v:.decimals$}")
    }
}

/// Legend entries left to right, wrapping into rows: `(x, row)` per series.
fn legend_layout(series: &[Series]) -> (Vec<(f64, usize)>, usize) {
    let mut out = Vec::with_capacity(series.len());
    let (mut x, mut row) = (LEFT, 0);
    for s in series {
        let width = 28.0 + 7.0 * s.name.chars().count() as f64;
        if x + width > WIDTH - RIGHT && x > LEFT {
            (x, row) = (LEFT, row + 1);
        }
        out.push((x, row));
        x += width;
    }
    (out, row + 1)
}

fn dash(series: &Series) -> &'static str {
    if series.dashed {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    }
}

/// The chart as an `<svg>` element over `0..=x_max` seconds.
pub fn line_chart(chart: &Chart, x_max: f64) -> String {
    let x_max = x_max.max(1.0);
    let y_top = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .fold(0.0f64, f64::max);
    let empty = chart
        .series
        .iter()
        .all(|s| s.points.iter().all(|p| p.1.is_none()));
    let y_step = nice_step(if y_top > 0.0 { y_top * 1.05 } else { 1.0 }, 5.0);
    let y_max = (y_top * 1.05 / y_step).ceil().max(1.0) * y_step;
    let (legend, rows) = legend_layout(&chart.series);
    let top = TITLE + LEGEND_ROW * rows as f64 + 10.0;
    let (plot_w, bottom) = (WIDTH - LEFT - RIGHT, top + PLOT_HEIGHT);
    let height = bottom + BOTTOM;
    let x = |v: f64| LEFT + v / x_max * plot_w;
    let y = |v: f64| bottom - v / y_max * PLOT_HEIGHT;

    let title = if chart.unit.is_empty() {
        chart.title.clone()
    } else {
        format!("{} ({})", chart.title, chart.unit)
    };
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\">\
         <text class=\"title\" x=\"{LEFT}\" y=\"22\">{}</text>",
        escape(&title),
        escape(&title)
    );
    for (s, (lx, row)) in chart.series.iter().zip(&legend) {
        let ly = TITLE + LEGEND_ROW * *row as f64;
        let _ = write!(
            svg,
            "<line x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{}\" \
             stroke-width=\"3\"{}/><text class=\"legend\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            lx + 18.0,
            s.color,
            dash(s),
            lx + 22.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    // Grid and y labels (only the zero line when there is nothing to scale to).
    let mut v = 0.0;
    while v <= y_max + y_step / 2.0 && !(empty && v > 0.0) {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/>\
             <text class=\"ylabel\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            y(v) + 4.0,
            value_label(v, y_step),
            py = y(v),
        );
        v += y_step;
    }
    // X ticks and labels.
    let step = time_step(x_max);
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        let _ = write!(
            svg,
            "<line class=\"tick\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{bottom:.1}\" y2=\"{:.1}\"/>\
             <text class=\"xlabel\" x=\"{px:.1}\" y=\"{:.1}\">{}</text>",
            bottom + 5.0,
            bottom + 20.0,
            time_label(t),
            px = x(t),
        );
        t += step;
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{top:.1}\" y2=\"{bottom:.1}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{bottom:.1}\" y2=\"{bottom:.1}\"/>",
        WIDTH - RIGHT,
    );
    if empty {
        let _ = write!(
            svg,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\">no data</text>",
            LEFT + plot_w / 2.0,
            top + PLOT_HEIGHT / 2.0
        );
    }
    // Lines, broken where a point has no value; a lone point is a dot.
    for s in &chart.series {
        for run in s.points.split(|p| p.1.is_none()).filter(|r| !r.is_empty()) {
            if let [(px, Some(py))] = run {
                let _ = write!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"/>",
                    x(*px),
                    y(*py),
                    s.color
                );
                continue;
            }
            let coords: Vec<String> = run
                .iter()
                .filter_map(|(px, py)| py.map(|py| format!("{:.1},{:.1}", x(*px), y(py))))
                .collect();
            let _ = write!(
                svg,
                "<polyline class=\"line\" stroke=\"{}\"{} points=\"{}\"/>",
                s.color,
                dash(s),
                coords.join(" ")
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(0.9, 5.0), 0.2);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(time_step(20.0), 2.0);
        assert_eq!(time_step(600.0), 60.0);
        assert_eq!(time_label(90.0), "1m30s");
        assert_eq!(time_label(7200.0), "2h");
        assert_eq!(value_label(0.4, 0.2), "0.4");
    }

    #[test]
    fn lines_break_at_gaps_and_text_is_escaped() {
        let chart = Chart {
            title: "a <b> & c".into(),
            unit: "ms",
            series: vec![Series {
                name: "s\"1".into(),
                color: PALETTE[0],
                dashed: true,
                points: vec![
                    (0.5, Some(1.0)),
                    (1.5, Some(2.0)),
                    (2.5, None),
                    (3.5, Some(3.0)),
                ],
            }],
        };
        let svg = line_chart(&chart, 4.0);
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("a &lt;b&gt; &amp; c (ms)"));
        assert!(svg.contains("s&quot;1"));
        assert!(svg.contains("stroke-dasharray"));
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn long_legends_wrap_into_rows() {
        let series: Vec<Series> = (0..16)
            .map(|i| Series {
                name: format!("challenge.tls-alpn-01 p99 {i}"),
                color: PALETTE[i % PALETTE.len()],
                dashed: false,
                points: vec![],
            })
            .collect();
        let (layout, rows) = legend_layout(&series);
        assert!(rows >= 3, "{rows} rows");
        assert!(layout.iter().all(|(x, _)| *x >= LEFT && *x < WIDTH - RIGHT));
        assert!(layout.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn empty_charts_say_so() {
        let chart = Chart {
            title: "t".into(),
            unit: "/s",
            series: vec![],
        };
        assert!(line_chart(&chart, 0.0).contains("no data"));
    }
}
