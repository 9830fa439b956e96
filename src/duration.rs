//! Humane durations: `90s`, `15m`, `1h30m`, `2h`.

use std::time::Duration;

/// The longest duration jit accepts anywhere: one year and a day.
pub const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parse a positive, whole-second duration of at most [`LONGEST`].
pub fn parse(text: &str) -> Result<Duration, String> {
    const FORMS: &str = "use a positive duration such as 90s, 15m, 1h30m or 2h";
    let shown = crate::text::quoted(text);
    if text.chars().count() > crate::text::ECHO_LIMIT {
        return Err(format!("{shown} is not a duration; {FORMS}"));
    }
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("{shown} is negative; {FORMS}"));
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|err| format!("{shown} is not a duration ({err}); {FORMS}"))?;
    if duration.is_zero() {
        return Err(format!("{shown} is zero; {FORMS}"));
    }
    if duration.subsec_nanos() != 0 {
        return Err(format!("{shown} is not a whole number of seconds; {FORMS}"));
    }
    if duration > LONGEST {
        return Err(format!("{shown} is longer than 366 days"));
    }
    Ok(duration)
}

/// Format compactly: `1h30m`, `45s`, `2d3h`.
pub fn format(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_humane_forms() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn refuses_bad_forms() {
        for bad in [
            "0", "0s", "-5m", "abc", "99999h", "", "100ms", "1.5s", "５m",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_secs(45)), "45s");
        assert_eq!(format(Duration::from_secs(2 * 86_400 + 3_600)), "2d1h");
    }
}
