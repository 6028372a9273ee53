//! Event time: parsing and formatting timestamps and durations, all in UTC milliseconds.
//!
//! Detectors never read a wall clock; everything here converts what logs and config files say.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::event::Millis;

pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// Parse an RFC 3339 timestamp (`2026-03-02T04:05:00Z`, fractional seconds and offsets allowed)
/// to UTC milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// An epoch number in whatever unit the vendor chose, judged by its size: seconds (< 1e11),
/// milliseconds (< 1e14), microseconds (< 1e17) or nanoseconds. Negative and non-finite values
/// are rejected.
pub fn from_epoch(v: f64) -> Option<Millis> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ms = if v < 1e11 {
        v * 1e3
    } else if v < 1e14 {
        v
    } else if v < 1e17 {
        v / 1e3
    } else {
        v / 1e6
    };
    (ms < 9.2e18).then_some(ms as Millis)
}

/// A timestamp logged as text: RFC 3339, or an epoch number written as a string.
pub fn parse_time_text(s: &str) -> Option<Millis> {
    parse_rfc3339(s.trim()).or_else(|| s.trim().parse::<f64>().ok().and_then(from_epoch))
}

/// Parse a `--since` / `--until` value: an RFC 3339 timestamp or a plain date (midnight UTC).
pub fn parse_instant(s: &str) -> Result<Millis, String> {
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis());
    }
    Err(format!(
        "invalid time {s:?}: expected RFC 3339 (2026-03-02T04:05:00Z) or a date (2026-03-02)"
    ))
}

/// Parse a duration such as `10m`, `1h`, `90d`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Millis, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (examples: 30s, 10m, 1h, 90d)"))?;
    Millis::try_from(d.as_millis()).map_err(|_| format!("duration {s:?} is too long"))
}

/// Format milliseconds as RFC 3339 UTC with millisecond precision.
pub fn format_rfc3339(ms: Millis) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// The UTC day number (days since the epoch) of an instant.
pub fn day_of(ms: Millis) -> i64 {
    ms.div_euclid(DAY)
}

/// Wall-clock time now (the live daemon's idle handling and lag metrics; never detectors).
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

#[cfg(test)]
mod tests {
    #[test]
    fn epochs_in_any_unit() {
        let ms = 1_772_424_306_000;
        assert_eq!(super::from_epoch(1_772_424_306.0), Some(ms));
        assert_eq!(super::from_epoch(1_772_424_306_000.0), Some(ms));
        assert_eq!(super::from_epoch(1_772_424_306_000_000.0), Some(ms));
        assert_eq!(super::from_epoch(1_772_424_306_000_000_000.0), Some(ms));
        assert_eq!(super::from_epoch(-1.0), None);
        assert_eq!(super::from_epoch(f64::NAN), None);
        assert_eq!(super::parse_time_text("1772424306000"), Some(ms));
        assert_eq!(
            super::parse_time_text("2026-03-02T04:05:06.1234567Z"),
            Some(ms + 123)
        );
        assert_eq!(super::parse_time_text("yesterday"), None);
    }

    use super::*;

    #[test]
    fn parses_cloudtrail_and_fractional_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.250Z"), Some(1250));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn instants_accept_dates() {
        assert_eq!(parse_instant("1970-01-02"), Ok(DAY));
        assert!(parse_instant("02/03/2026")
            .unwrap_err()
            .contains("RFC 3339"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(10 * MINUTE));
        assert_eq!(parse_duration("90d"), Ok(90 * DAY));
        assert_eq!(parse_duration("1h 30m"), Ok(90 * MINUTE));
        assert!(parse_duration("ten minutes").is_err());
    }

    #[test]
    fn formats_with_millis() {
        assert_eq!(format_rfc3339(1250), "1970-01-01T00:00:01.250Z");
        assert_eq!(day_of(-1), -1);
    }
}
