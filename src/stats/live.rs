//! `stylize live --stats`: what was shown, how fast and how late.

use serde::Serialize;

use crate::sink::ShownFrame;

/// The figures of a live run.
#[derive(Serialize)]
pub struct LiveStats<'a> {
    pub command: &'static str,
    pub input: &'a str,
    pub model: String,
    pub processing_width: u32,
    pub processing_height: u32,
    pub device: String,
    pub threads: usize,
    pub first_iterations: u32,
    pub iterations_per_frame: u32,
    pub decoded_frames: u64,
    pub displayed_frames: u64,
    /// Over the displayed frames after the first (which is optimized longer, from its content).
    pub displayed_fps: f64,
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    pub seconds: f64,
    pub frames: &'a [ShownFrame],
}

/// The displayed rate and the median and 95th-percentile latency of `shown`, the first frame left
/// out.
pub fn steady_figures(shown: &[ShownFrame]) -> (f64, f64, f64) {
    let steady = shown.get(1..).unwrap_or_default();
    let mut latencies: Vec<f64> = steady.iter().map(|f| f.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let fps = match (steady.first(), steady.last()) {
        (Some(a), Some(b)) if b.shown_at > a.shown_at => {
            (steady.len() - 1) as f64 / (b.shown_at - a.shown_at)
        }
        _ => 0.0,
    };
    (
        fps,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
    )
}

/// The `q` quantile of sorted values (nearest rank); 0 when there are none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 10.0);
        assert_eq!(percentile(&v, 0.95), 19.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
