//! Sample statistics (min / integer mean rounded down / max), the fixed 32-bucket
//! latency histogram of the benchmark protocol, and how the timer figures are
//! written. Plain `core` code: xtask's tests compile this file on the host to check
//! that its bench parser reads what rtbench prints.

use core::fmt;

/// Running min/avg/max over `u64` samples (nanoseconds).
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    n: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Stats {
    /// No samples yet.
    pub const fn new() -> Self {
        Self {
            n: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    /// Adds one sample.
    pub fn add(&mut self, v: u64) {
        self.n += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Smallest sample (0 when empty).
    pub fn min(&self) -> u64 {
        if self.n == 0 {
            0
        } else {
            self.min
        }
    }

    /// Integer mean, rounded down (0 when empty).
    pub fn avg(&self) -> u64 {
        if self.n == 0 {
            0
        } else {
            u64::try_from(self.sum / u128::from(self.n)).unwrap_or(u64::MAX)
        }
    }

    /// Largest sample (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// A figure in ns, or `unavailable` when there is no honest value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figure(pub Option<u64>);

impl Figure {
    /// How shared memory carries an unavailable figure (rtbench `stats=`).
    pub const UNAVAILABLE: u64 = u64::MAX;

    /// The word published in shared memory.
    pub fn word(self) -> u64 {
        self.0.unwrap_or(Self::UNAVAILABLE)
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("unavailable"),
        }
    }
}

impl Stats {
    /// The smallest sample as a figure. When the samples are estimates (`exact`
    /// false: the PMCCNTR/CNTVCT calibration failed and the arm-time estimate is
    /// used), a negative estimate is clamped at 0, and a minimum of 0 measures
    /// nothing: it is unavailable. So is the minimum of no samples.
    pub fn min_figure(&self, exact: bool) -> Figure {
        Figure((self.n > 0 && (exact || self.min > 0)).then_some(self.min))
    }
}

/// The fields of a `result metric=timer` line after `metric=timer `: PMCCNTR
/// figures (`exact`: from the calibrated offset), then the generic-counter ones.
pub struct TimerFields<'a> {
    pub pmc: &'a Stats,
    pub cnt: &'a Stats,
    pub exact: bool,
}

impl fmt::Display for TimerFields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pmc, cnt) = (self.pmc, self.cnt);
        write!(
            f,
            "samples={} min_ns={} avg_ns={} max_ns={} cnt_min_ns={} cnt_avg_ns={} cnt_max_ns={}",
            pmc.count(),
            pmc.min_figure(self.exact),
            pmc.avg(),
            pmc.max(),
            cnt.min(),
            cnt.avg(),
            cnt.max()
        )
    }
}

/// Number of histogram buckets; the last one also takes everything above.
pub const BUCKETS: usize = 32;

/// Latency histogram: bucket i counts samples in [i * w, (i + 1) * w), the last
/// bucket everything from 31 * w up.
#[derive(Clone, Copy, Debug)]
pub struct Hist {
    bucket_ns: u64,
    counts: [u64; BUCKETS],
}

impl Hist {
    /// An empty histogram with buckets `bucket_ns` wide (at least 1).
    pub fn new(bucket_ns: u64) -> Self {
        Self {
            bucket_ns: bucket_ns.max(1),
            counts: [0; BUCKETS],
        }
    }

    /// Adds one sample.
    pub fn add(&mut self, v: u64) {
        let i = usize::try_from(v / self.bucket_ns)
            .unwrap_or(BUCKETS - 1)
            .min(BUCKETS - 1);
        self.counts[i] += 1;
    }

    /// Bucket width in ns.
    pub fn bucket_ns(&self) -> u64 {
        self.bucket_ns
    }

    /// The counts, bucket 0 first.
    pub fn counts(&self) -> &[u64; BUCKETS] {
        &self.counts
    }
}

/// Formats counts as `c0,c1,...` for the `hist` line.
pub struct CommaList<'a>(pub &'a [u64]);

impl fmt::Display for CommaList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", c)?;
        }
        Ok(())
    }
}
