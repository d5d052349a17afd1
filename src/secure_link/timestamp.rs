//! Number and time parsing exactly as the nginx modules do it: `ngx_atotm` (decimal digits
//! only, no sign, overflow is an error) and the HMAC module's timestamp formats (ISO 8601 with
//! `Z` or a `±HH:MM` offset, IMF-fixdate, Unix seconds). Pure.

/// `ngx_atotm`: `None` for empty input, any non-digit, or overflow.
pub fn atotm(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0i64, |acc, b| {
        let digit = b.is_ascii_digit().then(|| i64::from(b - b'0'))?;
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// The HMAC module's timestamp field, as Unix seconds; `None` when no format matches.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Some(t) = iso8601(text) {
        return Some(t);
    }
    if text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
        let t = httpdate::parse_http_date(text).ok()?;
        return t.duration_since(std::time::UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_secs()).ok());
    }
    atotm(text)
}

/// `YYYY-MM-DDThh:mm:ssZ` or `YYYY-MM-DDThh:mm:ss±HH:MM`.
fn iso8601(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num =
        |r: std::ops::Range<usize>| text.get(r).filter(|s| s.bytes().all(|c| c.is_ascii_digit()))?.parse::<i64>().ok();
    let local = civil_to_unix(num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?)?;
    match &b[19..] {
        b"Z" => Some(local),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(20..22)?, num(23..25)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = h * 3600 + m * 60;
            // East of UTC (+) is ahead of it: subtract to get UTC.
            Some(if *sign == b'+' { local - offset } else { local + offset })
        }
        _ => None,
    }
}

/// Gregorian calendar to Unix seconds, with nginx's range checks (year ≥ 1970).
fn civil_to_unix(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> Option<i64> {
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Gauss's formula with March as the first month (nginx's ngx_http_parse_time.c).
    let (mut y, mut m) = (year, month - 2);
    if m <= 0 {
        m += 12;
        y -= 1;
    }
    let days = y * 365 + y / 4 - y / 100 + y / 400 + 367 * m / 12 - 30 + day - 1 - 719_527 + 31 + 28;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atotm_like_nginx() {
        assert_eq!(atotm("1700000000"), Some(1_700_000_000));
        assert_eq!(atotm("0"), Some(0));
        assert_eq!(atotm("00012"), Some(12));
        assert_eq!(atotm(""), None);
        assert_eq!(atotm("-5"), None);
        assert_eq!(atotm("+5"), None);
        assert_eq!(atotm(" 5"), None);
        assert_eq!(atotm("5x"), None);
        assert_eq!(atotm("99999999999999999999"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(parse_timestamp("2024-01-01T02:00:00+02:00"), Some(1_704_067_200));
        assert_eq!(parse_timestamp("2023-12-31T22:30:00-01:30"), Some(1_704_067_200));
        assert_eq!(parse_timestamp("Mon, 01 Jan 2024 00:00:00 GMT"), Some(1_704_067_200));
        assert_eq!(parse_timestamp("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_timestamp("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2024-01-01 00:00:00Z"), None);
        assert_eq!(parse_timestamp("soon"), None);
    }
}
