//! The clock every component takes instead of reading the system time, so that tests move
//! time forward instead of sleeping. Calendar questions (which month, 48 hours) are answered
//! in UTC+08:00, see [`china_offset`].

use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime, UtcOffset};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// The real clock (UTC).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; shared between clones.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

/// UTC+08:00, the offset in which calendar questions are answered.
pub fn china_offset() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).expect("UTC+8 is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-01-31 16:30 UTC));
        let shared = clock.clone();
        assert_eq!(clock.now(), datetime!(2026-01-31 16:30 UTC));
        shared.advance(Duration::hours(48));
        assert_eq!(clock.now(), datetime!(2026-02-02 16:30 UTC));
        // 16:30 UTC on 31 January is already 1 February in UTC+8.
        let local = datetime!(2026-01-31 16:30 UTC).to_offset(china_offset());
        assert_eq!(local.month(), time::Month::February);
    }
}
