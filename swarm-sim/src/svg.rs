//! Two small bar charts written as SVG by hand: the latency distribution and
//! deliveries over time.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 320.0;
const PAD: f64 = 48.0;
/// Most bars in a chart.
const MAX_BARS: usize = 60;

/// A bar chart of `bins` (their counts), labelled from `lo` to `hi` in `unit`.
fn bars(title: &str, unit: &str, bins: &[u64], lo: u64, hi: u64) -> String {
    let mut s = String::new();
    let top = bins.iter().copied().max().unwrap_or(0).max(1);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{PAD}\" y=\"20\" font-size=\"14\">{title}</text>\n"
    );
    let (x0, y0, pw, ph) = (PAD, H - PAD, W - 2.0 * PAD, H - 2.0 * PAD - 10.0);
    let bw = pw / bins.len().max(1) as f64;
    for (i, &c) in bins.iter().enumerate() {
        let h = ph * c as f64 / top as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a78b0\"><title>{c}</title></rect>",
            x0 + bw * i as f64,
            y0 - h,
            (bw - 1.0).max(0.5)
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{}\" y2=\"{y0}\" stroke=\"black\"/>\n\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{}\" stroke=\"black\"/>\n\
         <text x=\"{x0}\" y=\"{}\">{lo}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{hi} {unit}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{top}</text>\n</svg>\n",
        x0 + pw,
        y0 - ph,
        y0 + 16.0,
        x0 + pw,
        y0 + 16.0,
        x0 - 4.0,
        y0 - ph + 4.0,
    );
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

/// The latency distribution (ms).
pub fn latency(latencies: &[u64]) -> String {
    let max = latencies.iter().copied().max().unwrap_or(0).max(1);
    let bins = histogram(latencies, MAX_BARS.min(latencies.len().max(1)), max + 1);
    bars(
        &format!("Delivery latency ({} messages)", latencies.len()),
        "ms",
        &bins,
        0,
        max,
    )
}

/// Deliveries per second over the run (times in ms from the start).
pub fn deliveries(times_ms: &[u64]) -> String {
    let secs = times_ms.iter().copied().max().unwrap_or(0) / 1000 + 1;
    let n = usize::try_from(secs).unwrap_or(MAX_BARS).min(MAX_BARS * 4);
    let bins = histogram(times_ms, n, secs * 1000);
    bars("Deliveries over time", "s", &bins, 0, secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_keeps_every_value_and_charts_are_svg() {
        let v = [0, 5, 10, 99, 1000];
        let bins = histogram(&v, 10, 1001);
        assert_eq!(bins.iter().sum::<u64>(), 5);
        assert_eq!(bins.last(), Some(&1));
        let s = latency(&v);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<rect x=").count(), 5);
        assert!(deliveries(&[]).contains("</svg>"));
    }
}
