//! The server's clock for the deadlines it judges (a lease's end): wall time, which tests move
//! forward instead of sleeping until a deadline passes. What the server records (creation and
//! update times) reads the wall clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use vdc_types::UnixMs;

use super::{App, Part};

/// Wall time, plus however far it was moved forward.
#[derive(Debug, Default)]
pub struct Clock {
    ahead_ms: AtomicI64,
}

impl Part for Clock {
    fn new(_: &App) -> Self {
        Clock::default()
    }
}

impl Clock {
    /// Now, in unix milliseconds.
    pub fn now_ms(&self) -> UnixMs {
        vdc_db::now_ms() + self.ahead_ms.load(Ordering::Relaxed)
    }

    /// Moves the clock forward by `by` (tests; nothing in the server moves it).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

impl App {
    /// The clock deadlines are judged by.
    pub fn clock(&self) -> Arc<Clock> {
        self.part()
    }
}
