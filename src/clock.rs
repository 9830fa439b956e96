//! The one source of "now". Debug builds (the ones the test suite runs) may shift it with
//! `JIT_TEST_CLOCK_OFFSET` (seconds) to prove expiry without waiting; release builds cannot.
//! Tests of the engine itself use a clock that stands still ([`Clock::fixed`]) or one they
//! move by hand ([`Clock::settable`]).

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
#[cfg(test)]
use std::sync::atomic::{AtomicI64, Ordering};
#[cfg(test)]
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Copy, Debug)]
enum Source {
    /// The system's time, shifted by `offset`.
    System { offset: TimeDelta },
    /// Always this time.
    #[cfg(test)]
    Fixed(DateTime<Utc>),
    /// Whatever time the hand shows.
    #[cfg(test)]
    Hand(&'static Hand),
}

impl Default for Clock {
    fn default() -> Clock {
        Clock {
            source: Source::System {
                offset: TimeDelta::zero(),
            },
        }
    }
}

impl Clock {
    pub fn system() -> Clock {
        #[cfg(debug_assertions)]
        if let Some(secs) = std::env::var("JIT_TEST_CLOCK_OFFSET")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            return Clock {
                source: Source::System {
                    offset: TimeDelta::seconds(secs),
                },
            };
        }
        Clock::default()
    }

    /// A clock that always says `at` (to the whole second).
    #[cfg(test)]
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock {
            source: Source::Fixed(at.trunc_subsecs(0)),
        }
    }

    /// A clock that says `at` until its hand is moved; every copy of the clock follows the
    /// hand. The hand lives as long as the process (it is meant for tests: a few bytes each).
    #[cfg(test)]
    pub fn settable(at: DateTime<Utc>) -> (Clock, &'static Hand) {
        let hand: &'static Hand = Box::leak(Box::new(Hand(AtomicI64::new(0))));
        hand.set(at);
        (
            Clock {
                source: Source::Hand(hand),
            },
            hand,
        )
    }

    /// Now, to the whole second (every stored time is whole seconds).
    pub fn now(&self) -> DateTime<Utc> {
        match self.source {
            Source::System { offset } => (Utc::now() + offset).trunc_subsecs(0),
            #[cfg(test)]
            Source::Fixed(at) => at,
            #[cfg(test)]
            Source::Hand(hand) => hand.now(),
        }
    }
}

/// The hand of a [`Clock::settable`] clock: the time it shows, in whole seconds.
#[cfg(test)]
#[derive(Debug)]
pub struct Hand(AtomicI64);

#[cfg(test)]
impl Hand {
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.store(at.timestamp(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.0.load(Ordering::SeqCst), 0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_fixed_clock_stands_still_at_whole_seconds() {
        let clock = Clock::fixed(at("2026-12-01T10:00:00.750Z"));
        assert_eq!(clock.now(), at("2026-12-01T10:00:00Z"));
        assert_eq!(clock.now(), clock.now());
    }

    #[test]
    fn every_copy_of_a_settable_clock_follows_its_hand() {
        let (clock, hand) = Clock::settable(at("2026-12-01T10:00:00Z"));
        let copy = clock;
        hand.advance(Duration::from_secs(90));
        assert_eq!(copy.now(), at("2026-12-01T10:01:30Z"));
        hand.set(at("2026-12-02T00:00:00Z"));
        assert_eq!(clock.now(), at("2026-12-02T00:00:00Z"));
    }

    #[test]
    fn the_system_clock_is_now() {
        let before = Utc::now().trunc_subsecs(0);
        let now = Clock::default().now();
        assert!(now >= before && now <= Utc::now());
    }
}
