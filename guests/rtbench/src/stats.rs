//! Sample statistics (min / integer mean rounded down / max) and the fixed
//! 32-bucket latency histogram of the benchmark protocol.

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

impl core::fmt::Display for CommaList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", c)?;
        }
        Ok(())
    }
}
