//! IMAP dates: `date-time` (`"dd-Mon-yyyy hh:mm:ss +zzzz"`, INTERNALDATE and
//! APPEND) and SEARCH `date` (`d-Mon-yyyy`, optionally quoted), RFC 9051 §9.

use std::fmt;

use crate::cursor::{Cursor, PResult};
use crate::error::ParseError;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date (SEARCH BEFORE/ON/SINCE, SENTBEFORE...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// A date, time of day and zone offset (`date-time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in minutes, -5999..=5999 (`+hhmm`).
    pub offset_minutes: i16,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(i64::from(year)) => 29,
        2 => 28,
        _ => 0,
    }
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Date {
    /// A valid Gregorian date, years 1..=9999.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=9999).contains(&year) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        )
    }

    /// Parse `date-text` (`d-Mon-yyyy` or `dd-Mon-yyyy`).
    pub fn parse(s: &str) -> Option<Date> {
        let mut c = Cursor::new(
            s.as_bytes(),
            crate::cursor::Options {
                utf8: false,
                max_depth: 1,
            },
        );
        let d = date_text(&mut c).ok()?;
        c.at_end().then_some(d)
    }
}

impl fmt::Display for Date {
    /// `d-Mon-yyyy` (RFC 9051 `date-text`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS
            .get(usize::from(self.month.saturating_sub(1)))
            .unwrap_or(&"Jan");
        write!(f, "{}-{}-{:04}", self.day, m, self.year)
    }
}

impl DateTime {
    /// Seconds since the Unix epoch (UTC).
    pub fn unix_timestamp(&self) -> i64 {
        self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_minutes) * 60
    }

    /// The local time at `offset_minutes` for a Unix timestamp; `None` if
    /// outside years 1..=9999 or the offset is out of range.
    pub fn from_unix(ts: i64, offset_minutes: i16) -> Option<DateTime> {
        if offset_minutes.unsigned_abs() > 5999 {
            return None;
        }
        let local = ts.checked_add(i64::from(offset_minutes) * 60)?;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let date = Date::new(
            u16::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )?;
        Some(DateTime {
            date,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            offset_minutes,
        })
    }

    /// Parse the text between the quotes of a `date-time`.
    pub fn parse(s: &str) -> Option<DateTime> {
        let quoted = format!("\"{s}\"");
        let mut c = Cursor::new(
            quoted.as_bytes(),
            crate::cursor::Options {
                utf8: false,
                max_depth: 1,
            },
        );
        let d = date_time(&mut c).ok()?;
        c.at_end().then_some(d)
    }
}

impl fmt::Display for DateTime {
    /// `dd-Mon-yyyy hh:mm:ss +zzzz`, day space-padded (RFC 9051
    /// `date-day-fixed`), without the quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS
            .get(usize::from(self.date.month.saturating_sub(1)))
            .unwrap_or(&"Jan");
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let off = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{:>2}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            m,
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            off / 60,
            off % 60
        )
    }
}

fn digits(c: &mut Cursor<'_>, min: usize, max: usize) -> PResult<u32> {
    let start = c.pos();
    let mut n = 0u32;
    let mut count = 0;
    while count < max {
        match c.peek() {
            Some(b) if b.is_ascii_digit() => {
                n = n * 10 + u32::from(b - b'0');
                c.eat(b);
                count += 1;
            }
            _ => break,
        }
    }
    if count < min {
        return Err(ParseError::syntax("digits", start));
    }
    Ok(n)
}

fn month(c: &mut Cursor<'_>) -> PResult<u8> {
    let r = c.rest();
    for (i, m) in MONTHS.iter().enumerate() {
        if r.len() >= 3 && r[..3].eq_ignore_ascii_case(m.as_bytes()) {
            c.eat(r[0]);
            c.eat(r[1]);
            c.eat(r[2]);
            return Ok(i as u8 + 1);
        }
    }
    Err(c.err("month name"))
}

fn date_text(c: &mut Cursor<'_>) -> PResult<Date> {
    let start = c.pos();
    let day = digits(c, 1, 2)?;
    c.expect(b'-', "-")?;
    let mon = month(c)?;
    c.expect(b'-', "-")?;
    let year = digits(c, 4, 4)?;
    Date::new(year as u16, mon, day as u8).ok_or(ParseError::syntax("valid date", start))
}

/// date = date-text / DQUOTE date-text DQUOTE
pub(crate) fn search_date(c: &mut Cursor<'_>) -> PResult<Date> {
    if c.eat(b'"') {
        let d = date_text(c)?;
        c.expect(b'"', "closing quote")?;
        Ok(d)
    } else {
        date_text(c)
    }
}

/// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time
/// SP zone DQUOTE
pub(crate) fn date_time(c: &mut Cursor<'_>) -> PResult<DateTime> {
    let start = c.pos();
    c.expect(b'"', "date-time")?;
    // date-day-fixed = (SP DIGIT) / 2DIGIT
    c.eat(b' ');
    let day = digits(c, 1, 2)?;
    c.expect(b'-', "-")?;
    let mon = month(c)?;
    c.expect(b'-', "-")?;
    let year = digits(c, 4, 4)?;
    c.sp()?;
    let hour = digits(c, 2, 2)?;
    c.expect(b':', ":")?;
    let minute = digits(c, 2, 2)?;
    c.expect(b':', ":")?;
    let second = digits(c, 2, 2)?;
    c.sp()?;
    let neg = if c.eat(b'-') {
        true
    } else {
        c.expect(b'+', "zone")?;
        false
    };
    let zh = digits(c, 2, 2)?;
    let zm = digits(c, 2, 2)?;
    c.expect(b'"', "closing quote")?;
    let date =
        Date::new(year as u16, mon, day as u8).ok_or(ParseError::syntax("valid date", start))?;
    if hour > 23 || minute > 59 || second > 60 || zm > 59 {
        return Err(ParseError::syntax("valid time", start));
    }
    let off = (zh * 60 + zm) as i16;
    Ok(DateTime {
        date,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        offset_minutes: if neg { -off } else { off },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_round_trip() {
        let d = DateTime::parse("17-Jul-1996 02:44:25 -0700").unwrap();
        assert_eq!(d.to_string(), "17-Jul-1996 02:44:25 -0700");
        assert_eq!(d.unix_timestamp(), 837_596_665);
        let d = DateTime::parse(" 1-Feb-2024 00:00:00 +0000").unwrap();
        assert_eq!(d.to_string(), " 1-Feb-2024 00:00:00 +0000");
        assert_eq!(DateTime::from_unix(d.unix_timestamp(), 0), Some(d));
        let d = DateTime::parse("1-Feb-2024 23:59:60 +1400").unwrap();
        assert_eq!(d.second, 60);
    }

    #[test]
    fn bad_dates() {
        assert!(DateTime::parse("30-Feb-2024 00:00:00 +0000").is_none());
        assert!(DateTime::parse("29-Feb-2023 00:00:00 +0000").is_none());
        assert!(DateTime::parse("01-Foo-2024 00:00:00 +0000").is_none());
        assert!(DateTime::parse("01-Jan-2024 24:00:00 +0000").is_none());
        assert!(DateTime::parse("01-Jan-2024 00:00:00 0000").is_none());
        assert!(Date::parse("1-Jan-24").is_none());
        assert!(Date::parse("123-Jan-2024").is_none());
    }

    #[test]
    fn search_dates() {
        assert_eq!(Date::parse("1-Feb-1994"), Date::new(1994, 2, 1));
        assert_eq!(Date::parse("29-feb-2000"), Date::new(2000, 2, 29));
        assert_eq!(Date::new(2000, 2, 29).unwrap().to_string(), "29-Feb-2000");
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
    }

    #[test]
    fn from_unix_offsets() {
        let d = DateTime::from_unix(0, -60).unwrap();
        assert_eq!(d.to_string(), "31-Dec-1969 23:00:00 -0100");
        assert_eq!(d.unix_timestamp(), 0);
    }
}
