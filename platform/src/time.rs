//! Public times. Ward shows when something happened to the minute and no closer, and its
//! read models store no more than that, so that neither a page, a cursor nor a leaked read
//! model can line a post up with, say, a hospital's door or shift logs.

use chrono::{DateTime, Utc};

/// `time` rounded down to the minute.
pub fn minute(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp() - time.timestamp().rem_euclid(60), 0).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rounded_down_to_the_minute() {
        let time = DateTime::parse_from_rfc3339("2026-11-27T21:56:41.123Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(minute(time).to_rfc3339(), "2026-11-27T21:56:00+00:00");
    }
}
