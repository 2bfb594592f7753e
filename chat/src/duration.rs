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

/// The longest wait a command takes (`inbox --wait`, `paths --wait`,
/// `send --timeout`): a day; past that a scheduler is the better tool.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Parses how long a command waits: bare seconds (`30`) or a number with a
/// unit as for [`parse`] (`30s`, `5m`, `1h`); `0` means not at all. Unlike a
/// disappearing timer, a wait guessed wrong costs nothing, so a bare number
/// is taken as seconds.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let d = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(
            t.parse()
                .map_err(|_| format!("{t:?} is too large a number"))?,
        )
    } else if t
        .strip_suffix(['s', 'm', 'h', 'd'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b == b'0'))
    {
        Duration::ZERO
    } else {
        parse(t).map_err(|e| e.replace("a timer of", "a wait of"))?
    };
    if d > MAX_WAIT {
        return Err(format!("{t:?} is longer than a day"));
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
    fn waits_take_bare_seconds_and_units() {
        assert_eq!(parse_wait("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_wait("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_wait(" 5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        assert_eq!(parse_wait("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_wait("1d"), Ok(MAX_WAIT));
        assert!(parse_wait("2d").unwrap_err().contains("day"));
        assert!(parse_wait("90000").unwrap_err().contains("day"));
        assert!(parse_wait("5w").unwrap_err().contains("unknown unit"));
        assert!(parse_wait("").is_err());
        assert!(parse_wait("-1").is_err());
        assert!(parse_wait("99999999999999999999").is_err());
    }

    #[test]
    fn format_round_trips() {
        for s in ["30s", "90s", "5m", "1h", "2d", "36h"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
