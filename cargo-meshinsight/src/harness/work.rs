//! Timed user-space busy work: the built-in sidecar's `--extra-work-us` knob, which injects a
//! known regression (CPU work, not sleeping) per message.
//!
//! The work spins on the monotonic clock until its time is up rather than running a calibrated
//! number of iterations: a calibration differs from process to process, and a gate that
//! differences the tcp and http sidecars would see `parsing` move with work that is the same
//! in both.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Busy work that takes a fixed time per call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BusyWork {
    duration: Duration,
}

impl BusyWork {
    /// Work that takes `micros` µs per call (nothing when 0).
    pub(crate) fn new(micros: u64) -> Self {
        BusyWork {
            duration: Duration::from_micros(micros),
        }
    }

    /// Does the work once: spins, on the CPU, until its time is up.
    pub(crate) fn run(&self) {
        if self.duration.is_zero() {
            return;
        }
        let start = Instant::now();
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        while start.elapsed() < self.duration {
            for i in 0..64u64 {
                x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
            }
        }
        black_box(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_takes_at_least_the_asked_time() {
        let work = BusyWork::new(500);
        for _ in 0..5 {
            let t = Instant::now();
            work.run();
            let us = t.elapsed().as_secs_f64() * 1e6;
            assert!(us >= 500.0, "500 µs of work took {us:.0} µs");
        }
    }

    #[test]
    fn no_work_is_free() {
        let t = Instant::now();
        BusyWork::new(0).run();
        assert!(t.elapsed() < Duration::from_millis(5));
    }
}
