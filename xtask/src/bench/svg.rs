//! `target/bench/<name>.svg`: the timer-latency histogram of one configuration, drawn
//! by hand from rtbench's `hist` line (one bar per bucket, x: bucket ns range, y: count).

use super::parse::{Hist, Metric};
use std::fmt::Write;

const W: u64 = 760;
const H: u64 = 380;
const LEFT: u64 = 64;
const RIGHT: u64 = 16;
const TOP: u64 = 40;
const BOTTOM: u64 = 84;

/// A round step for about five y-axis ticks up to `max`.
fn tick_step(max: u64) -> u64 {
    let raw = max.div_ceil(5).max(1);
    let mut p = 1;
    while p * 10 <= raw {
        p *= 10;
    }
    [1, 2, 5, 10]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10 * p)
}

/// The label of bucket `i`: `[lo, hi)` in ns, the last one `>= lo`.
pub fn bucket_label(h: &Hist, i: usize) -> String {
    let lo = i as u64 * h.bucket_ns;
    if i + 1 == h.counts.len() {
        format!("≥{lo}")
    } else {
        format!("{lo}-{}", lo + h.bucket_ns - 1)
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole SVG document.
pub fn histogram(name: &str, timer: &Metric, h: &Hist) -> String {
    let n = h.counts.len().max(1) as u64;
    let peak = h.counts.iter().copied().max().unwrap_or(0).max(1);
    let step = tick_step(peak);
    let ymax = peak.div_ceil(step) * step;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let slot = pw as f64 / n as f64;
    let y_of = |c: u64| TOP as f64 + ph as f64 * (1.0 - c as f64 / ymax as f64);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let title = format!(
        "{name}: timer latency, {} samples, min {} / avg {} / max {} ns",
        timer.samples, timer.min_ns, timer.avg_ns, timer.max_ns
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2,
        xml(&title)
    );
    // Y grid, ticks and labels.
    let mut v = 0;
    while v <= ymax {
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v}</text>"##,
            W - RIGHT,
            LEFT - 6,
            y + 4.0
        );
        v += step;
    }
    // Bars, their counts, and the bucket labels (rotated).
    for (i, &c) in h.counts.iter().enumerate() {
        let x = LEFT as f64 + slot * i as f64;
        let label = bucket_label(h, i);
        if c > 0 {
            let y = y_of(c);
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#4a7ebb"><title>{} ns: {c}</title></rect>"##,
                x + 1.0,
                slot - 2.0,
                (TOP + ph) as f64 - y,
                xml(&label)
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{c}</text>"#,
                x + slot / 2.0,
                y - 3.0
            );
        }
        let (lx, ly) = (x + slot / 2.0 + 3.0, (TOP + ph + 8) as f64);
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" font-size="9" transform="rotate(-60 {lx:.1} {ly:.1})">{}</text>"#,
            xml(&label)
        );
    }
    // Axes and their titles.
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="black"/><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
        TOP + ph,
        TOP + ph,
        W - RIGHT,
        TOP + ph
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">timer latency bucket, ns (bucket {} ns; last = overflow)</text>"#,
        LEFT + pw / 2,
        H - 8,
        h.bucket_ns
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">count</text>"#,
        TOP + ph / 2,
        TOP + ph / 2
    );
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(1), 1);
        assert_eq!(tick_step(100), 20);
        assert_eq!(tick_step(1000), 200);
        assert_eq!(tick_step(7), 2);
        assert_eq!(tick_step(999), 200);
    }

    #[test]
    fn draws_one_bar_per_nonzero_bucket_with_labels() {
        let mut counts = vec![0; 32];
        counts[0] = 90;
        counts[2] = 9;
        counts[31] = 1;
        let h = Hist {
            bucket_ns: 8,
            counts,
        };
        let t = Metric {
            samples: 100,
            min_ns: 4,
            avg_ns: 9,
            max_ns: 300,
            cnt: None,
        };
        let svg = histogram("rtvisor-<x>", &t, &h);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("fill=\"#4a7ebb\"").count(), 3);
        assert!(svg.contains("<title>0-7 ns: 90</title>"));
        assert!(svg.contains("<title>16-23 ns: 9</title>"));
        assert!(svg.contains("<title>≥248 ns: 1</title>"));
        assert!(svg.contains(">120-127</text>"));
        assert!(svg.contains("rtvisor-&lt;x&gt;: timer latency, 100 samples"));
        assert!(svg.contains(">count</text>"));
        assert_eq!(
            svg.matches("<rect").count(),
            svg.matches("</rect>").count() + 1
        );
    }
}
