//! Durations as a person types them: `30s`, `5m`, `1h`, `1d`.

use std::time::Duration;

/// The longest disappearing timer accepted: four weeks, past which a message
/// might as well be kept.
pub const MAX_DURATION: Duration = Duration::from_secs(28 * 24 * 3600);

/// Parses `<number><unit>` with unit `s`, `m`, `h` or `d`. A bare number is
/// refused: "5" could mean seconds or minutes, and a wrong guess deletes
/// messages at the wrong time.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{t:?} has no unit: add s, m, h or d (like 30s, 5m, 1h, 1d)"))?;
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "{t:?} does not start with a number (like 30s, 5m, 1h, 1d)"
        ));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{num:?} is too large a number"))?;
    let secs_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown unit {other:?}: use s, m, h or d (like 30s, 5m, 1h, 1d)"
            ));
        }
    };
    let secs = n
        .checked_mul(secs_per)
        .ok_or_else(|| format!("{t:?} is too long"))?;
    let d = Duration::from_secs(secs);
    if d.is_zero() {
        return Err("a timer of zero would delete messages at once; use `off` instead".into());
    }
    if d > MAX_DURATION {
        return Err(format!("{t:?} is longer than the 28 days a timer may run"));
    }
    Ok(d)
}

/// The shortest text [`parse`] reads back as `d` (whole seconds).
pub fn format(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, per) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= per && s.is_multiple_of(per) {
            return format!("{}{unit}", s / per);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse(" 1h "), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("28d"), Ok(MAX_DURATION));
    }

    #[test]
    fn refusals_say_why() {
        assert!(parse("5").unwrap_err().contains("no unit"));
        assert!(parse("m").unwrap_err().contains("number"));
        assert!(parse("5w").unwrap_err().contains("unknown unit"));
        assert!(parse("0s").unwrap_err().contains("off"));
        assert!(parse("29d").unwrap_err().contains("28 days"));
        assert!(
            parse("99999999999999999999s")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse("999999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse("").is_err());
        assert!(parse("-5m").is_err());
    }

    #[test]
    fn format_round_trips() {
        for s in ["30s", "90s", "5m", "1h", "2d", "36h"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
