//! The report's two charts, written as SVG by hand: the latency distribution
//! as a cumulative curve on a log-scale axis, and deliveries per second over
//! the run with the times clients were away and faults happened marked.

use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 360.0;
/// Room left of the plot (y labels and title).
const LEFT: f64 = 70.0;
/// Room right of the plot.
const RIGHT: f64 = 20.0;
/// Room above the plot (chart title, marker labels).
const TOP: f64 = 50.0;
/// Room below the plot (x labels and title).
const BOTTOM: f64 = 50.0;
/// Most bars in the deliveries chart.
const MAX_BARS: usize = 240;

/// A moment of the run marked on the deliveries chart (a fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// When, ms from the start of sending.
    pub at_ms: u64,
    /// What happened (`crash`, `heal`, ...).
    pub label: String,
}

/// A stretch of the run shaded on the deliveries chart (a client away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    /// Start, ms from the start of sending.
    pub from_ms: u64,
    /// End, ms.
    pub to_ms: u64,
    /// What it is (`client 2 away`).
    pub label: String,
}

/// The plot area: left, top, width, height.
fn plot() -> (f64, f64, f64, f64) {
    (LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM)
}

/// Replaces the characters XML gives a meaning.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The opening: canvas, chart title, axes and their titles.
fn frame(title: &str, x_title: &str, y_title: &str) -> String {
    let (x0, y0, pw, ph) = plot();
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{x0}\" y=\"20\" font-size=\"14\">{}</text>\n\
         <line x1=\"{x0}\" y1=\"{yb}\" x2=\"{xr}\" y2=\"{yb}\" stroke=\"black\"/>\n\
         <line x1=\"{x0}\" y1=\"{yb}\" x2=\"{x0}\" y2=\"{y0}\" stroke=\"black\"/>\n\
         <text class=\"axis-title\" x=\"{xm}\" y=\"{xt}\" text-anchor=\"middle\">{}</text>\n\
         <text class=\"axis-title\" x=\"16\" y=\"{ym}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {ym})\">{}</text>\n",
        esc(title),
        esc(x_title),
        esc(y_title),
        yb = y0 + ph,
        xr = x0 + pw,
        xm = x0 + pw / 2.0,
        xt = H - 10.0,
        ym = y0 + ph / 2.0,
    );
    s
}

/// A tick with its label on the x axis at `x`.
fn x_tick(s: &mut String, x: f64, label: &str) {
    let (_, y0, _, ph) = plot();
    let yb = y0 + ph;
    let _ = writeln!(
        s,
        "<line x1=\"{x:.1}\" y1=\"{yb}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"black\"/>\
         <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        yb + 4.0,
        yb + 18.0,
        esc(label)
    );
}

/// A tick with its label and a faint grid line on the y axis at `y`.
fn y_tick(s: &mut String, y: f64, label: &str) {
    let (x0, _, pw, _) = plot();
    let _ = writeln!(
        s,
        "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
         <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        x0 + pw,
        x0 - 6.0,
        y + 4.0,
        esc(label)
    );
}

/// A latency for an axis label: `50 ms`, `2 s`, `1 min`.
fn duration_label(ms: u64) -> String {
    match ms {
        m if m >= 60_000 && m % 60_000 == 0 => format!("{} min", m / 60_000),
        m if m >= 1_000 && m % 1_000 == 0 => format!("{} s", m / 1_000),
        m => format!("{m} ms"),
    }
}

/// The latency distribution (ms) as a cumulative curve: for each latency on
/// the (log-scale) x axis, the share of messages delivered within it. One
/// slow tail and a crowd of fast deliveries both stay readable.
pub fn latency(latencies: &[u64]) -> String {
    let mut v: Vec<u64> = latencies.iter().map(|&l| l.max(1)).collect();
    v.sort_unstable();
    let mut s = frame(
        &format!(
            "Delivery latency, cumulative ({} messages)",
            latencies.len()
        ),
        "latency from send to the recipient's app (log scale)",
        "share of messages delivered",
    );
    let (x0, y0, pw, ph) = plot();
    // Decades from the one holding the fastest to the one past the slowest.
    let lo_exp = v.first().map_or(0, |&l| l.ilog10());
    let hi_exp = v.last().map_or(1, |&l| l.ilog10() + 1).max(lo_exp + 1);
    let span = f64::from(hi_exp - lo_exp);
    let x_of = |ms: u64| x0 + pw * ((ms as f64).log10() - f64::from(lo_exp)) / span;
    for e in lo_exp..=hi_exp {
        let ms = 10u64.saturating_pow(e);
        x_tick(&mut s, x_of(ms), &duration_label(ms));
    }
    for q in [0.0, 0.25, 0.5, 0.75, 1.0] {
        y_tick(&mut s, y0 + ph * (1.0 - q), &format!("{:.0}%", q * 100.0));
    }
    if !v.is_empty() {
        let n = v.len() as f64;
        let mut points = format!("{x0:.1},{:.1}", y0 + ph);
        for (i, &l) in v.iter().enumerate() {
            let x = x_of(l);
            let before = y0 + ph * (1.0 - i as f64 / n);
            let after = y0 + ph * (1.0 - (i + 1) as f64 / n);
            let _ = write!(points, " {x:.1},{before:.1} {x:.1},{after:.1}");
        }
        let _ = writeln!(
            s,
            "<polyline class=\"cdf\" points=\"{points}\" fill=\"none\" stroke=\"#4a78b0\" stroke-width=\"2\"/>"
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Counts of `values` in `n` equal bins over `0..max`.
fn histogram(values: &[u64], n: usize, max: u64) -> Vec<u64> {
    let n = n.max(1);
    let mut bins = vec![0u64; n];
    let width = max.div_ceil(n as u64).max(1);
    for &v in values {
        let i = usize::try_from(v / width).unwrap_or(n - 1).min(n - 1);
        if let Some(b) = bins.get_mut(i) {
            *b += 1;
        }
    }
    bins
}

/// Deliveries per second over the run (times in ms from the start of
/// sending), `end_ms` long at least, with `away` shaded behind the bars and a
/// dashed line at each of `faults`.
pub fn deliveries(times_ms: &[u64], end_ms: u64, away: &[Band], faults: &[Marker]) -> String {
    let last = times_ms.iter().copied().max().unwrap_or(0).max(end_ms);
    // Bars of whole seconds, at most MAX_BARS of them.
    let per = (last / 1000 + 1).div_ceil(MAX_BARS as u64).max(1);
    let bars = (last / 1000 + 1).div_ceil(per);
    let secs = bars * per;
    let span_ms = secs * 1000;
    let bins = histogram(times_ms, usize::try_from(bars).unwrap_or(MAX_BARS), span_ms);
    let top = bins.iter().copied().max().unwrap_or(0).max(1);
    let y_title = if per == 1 {
        "messages delivered per second".to_string()
    } else {
        format!("messages delivered per {per} s")
    };
    let mut s = frame(
        "Deliveries over time",
        "time since sending started (s)",
        &y_title,
    );
    let (x0, y0, pw, ph) = plot();
    let x_of = |ms: u64| x0 + pw * ms.min(span_ms) as f64 / span_ms as f64;
    let bw = pw / bins.len().max(1) as f64;
    for (i, &c) in bins.iter().enumerate() {
        let h = ph * c as f64 / top as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a78b0\"><title>{c}</title></rect>",
            x0 + bw * i as f64,
            y0 + ph - h,
            (bw - 1.0).max(0.5)
        );
    }
    // Away windows over the bars, tinted, each labelled in a row of its own
    // on a white ground so bars do not hide it.
    for (i, b) in away.iter().enumerate() {
        let row = y0 + 4.0 + 14.0 * (i % 6) as f64;
        let (xa, xb) = (x_of(b.from_ms), x_of(b.to_ms));
        let label_w = 6.0 * b.label.chars().count() as f64 + 4.0;
        let _ = writeln!(
            s,
            "<rect class=\"away\" x=\"{xa:.1}\" y=\"{y0}\" width=\"{:.1}\" height=\"{ph}\" fill=\"#f0a000\" opacity=\"0.25\"><title>{}</title></rect>\
             <rect x=\"{xa:.1}\" y=\"{row:.1}\" width=\"{label_w:.1}\" height=\"13\" fill=\"white\" opacity=\"0.85\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#8a5a00\">{}</text>",
            (xb - xa).max(1.0),
            esc(&b.label),
            xa + 2.0,
            row + 10.0,
            esc(&b.label)
        );
    }
    for (i, f) in faults.iter().enumerate() {
        let x = x_of(f.at_ms);
        let _ = writeln!(
            s,
            "<line class=\"fault\" x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#c03030\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#c03030\" text-anchor=\"middle\">{}</text>",
            y0 + ph,
            // Alternate heights so neighbouring labels do not overlap.
            y0 - 6.0 - 12.0 * (i % 2) as f64,
            esc(&f.label)
        );
    }
    let step = [1u64, 2, 5, 10, 15, 30, 60, 120, 300]
        .into_iter()
        .find(|st| secs / st <= 12)
        .unwrap_or(600);
    for t in (0..=secs).step_by(usize::try_from(step).unwrap_or(1)) {
        x_tick(&mut s, x_of(t * 1000), &t.to_string());
    }
    y_tick(&mut s, y0, &top.to_string());
    y_tick(&mut s, y0 + ph, "0");
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_keeps_every_value() {
        let v = [0, 5, 10, 99, 1000];
        let bins = histogram(&v, 10, 1001);
        assert_eq!(bins.iter().sum::<u64>(), 5);
        assert_eq!(bins.last(), Some(&1));
    }

    #[test]
    fn latency_is_a_log_scale_cdf_with_axis_titles() {
        let s = latency(&[40, 90, 120, 3_000, 25_000]);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("latency from send to the recipient's app (log scale)"));
        assert!(s.contains("share of messages delivered"));
        assert_eq!(s.matches("class=\"axis-title\"").count(), 2);
        // Decade ticks from 10 ms to 100 s.
        for label in [">10 ms<", ">100 ms<", ">1 s<", ">10 s<", ">100 s<"] {
            assert!(s.contains(label), "{label} missing:\n{s}");
        }
        assert_eq!(s.matches("<polyline class=\"cdf\"").count(), 1);
        // No data: still a chart, no curve.
        let empty = latency(&[]);
        assert!(empty.contains("</svg>") && !empty.contains("polyline"));
    }

    #[test]
    fn deliveries_mark_away_clients_and_faults() {
        let away = [Band {
            from_ms: 5_000,
            to_ms: 20_000,
            label: "client 2 away".into(),
        }];
        let faults = [
            Marker {
                at_ms: 8_000,
                label: "crash".into(),
            },
            Marker {
                at_ms: 18_000,
                label: "restart".into(),
            },
        ];
        let s = deliveries(&[100, 1_500, 29_000], 50_000, &away, &faults);
        assert!(s.contains("time since sending started (s)"));
        assert!(s.contains("messages delivered per second"));
        assert_eq!(s.matches("class=\"fault\"").count(), 2);
        assert!(s.contains(">crash<") && s.contains(">restart<"));
        assert_eq!(s.matches("class=\"away\"").count(), 1);
        assert!(s.contains(">client 2 away<"));
        // One bar a second over the whole run (the drain included).
        assert_eq!(s.matches("fill=\"#4a78b0\"").count(), 51);
        assert!(deliveries(&[], 0, &[], &[]).contains("</svg>"));
        assert!(esc("a<b & \"c\"").contains("&lt;b &amp; &quot;c&quot;"));
    }
}
