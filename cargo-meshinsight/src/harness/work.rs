//! Calibrated user-space busy work: the built-in sidecar's `--extra-work-us` knob, which
//! injects a known regression (CPU work, not sleeping) per message.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// A loop whose iteration count was calibrated to take a given time on this machine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BusyWork {
    iterations: u64,
}

fn spin(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    for i in 0..iterations {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    x
}

impl BusyWork {
    /// Calibrates a loop that takes about `micros` µs (nothing when 0).
    pub(crate) fn calibrate(micros: u64) -> Self {
        if micros == 0 {
            return BusyWork { iterations: 0 };
        }
        let probe = 200_000;
        // Spin for a while first: a CPU that was idle runs the first loops at a lower clock,
        // and a loop calibrated then runs short later (seen: 383 µs where 1000 were asked).
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_millis(30) {
            black_box(spin(probe / 10));
        }
        // The fastest of a few tries: the least disturbed measurement.
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                black_box(spin(probe));
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_millis(1))
            .max(Duration::from_nanos(1));
        let per_us = probe as f64 / (best.as_nanos() as f64 / 1000.0);
        BusyWork {
            iterations: (per_us * micros as f64).round().max(1.0) as u64,
        }
    }

    /// Does the work once.
    pub(crate) fn run(&self) {
        if self.iterations > 0 {
            black_box(spin(self.iterations));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_work_takes_about_the_asked_time() {
        let work = BusyWork::calibrate(500);
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                work.run();
                t.elapsed()
            })
            .min()
            .unwrap();
        let us = best.as_secs_f64() * 1e6;
        assert!(
            (250.0..2000.0).contains(&us),
            "500 µs of work took {us:.0} µs"
        );
    }
}
