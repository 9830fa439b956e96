//! The one source of "now". Debug builds (the ones the test suite runs) may shift it with
//! `JIT_TEST_CLOCK_OFFSET` (seconds) to prove expiry without waiting; release builds cannot.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    offset: TimeDelta,
}

impl Clock {
    pub fn system() -> Clock {
        #[cfg(debug_assertions)]
        if let Some(secs) = std::env::var("JIT_TEST_CLOCK_OFFSET")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            return Clock {
                offset: TimeDelta::seconds(secs),
            };
        }
        Clock::default()
    }

    /// Now, to the whole second (every stored time is whole seconds).
    pub fn now(&self) -> DateTime<Utc> {
        (Utc::now() + self.offset).trunc_subsecs(0)
    }
}
