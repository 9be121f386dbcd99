//! CF time coordinates (`days since 2000-01-01`, with a `calendar`) turned into dates, as
//! xarray and Panoply show them, so a time axis reads "2014-01-31" rather than "5143.0".
//!
//! The calendars of the CF conventions: `standard`/`gregorian` (for dates from the Gregorian
//! reform of 1582-10-15 on; earlier dates would need the mixed Julian calendar, and then no
//! labels are given rather than wrong ones), `proleptic_gregorian`, `julian`,
//! `noleap`/`365_day`, `all_leap`/`366_day` and `360_day`. Units are microseconds through
//! days, and as cftime allows them, `months` in the 360_day calendar (30 days) and
//! `common_years` in the noleap calendar (365 days); elsewhere months and years have no fixed
//! length and are not decoded, as cftime and xarray refuse them.

/// A day count in one calendar: days since year 0, month 1, day 1 of that calendar.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Calendar {
    Gregorian { reform_checked: bool },
    Julian,
    NoLeap,
    AllLeap,
    Day360,
}

const SECONDS_PER_DAY: i64 = 86_400;
/// 1582-10-15 in the proleptic Gregorian day count: the first day of the Gregorian calendar.
const REFORM_DAY: i64 = 578_101;

impl Calendar {
    fn parse(name: &str) -> Option<Calendar> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "" | "standard" | "gregorian" => Calendar::Gregorian { reform_checked: true },
            "proleptic_gregorian" => Calendar::Gregorian { reform_checked: false },
            "julian" => Calendar::Julian,
            "noleap" | "365_day" => Calendar::NoLeap,
            "all_leap" | "366_day" => Calendar::AllLeap,
            "360_day" => Calendar::Day360,
            _ => return None,
        })
    }

    fn is_leap(self, y: i64) -> bool {
        match self {
            Calendar::Gregorian { .. } => y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0),
            Calendar::Julian => y.rem_euclid(4) == 0,
            Calendar::NoLeap | Calendar::Day360 => false,
            Calendar::AllLeap => true,
        }
    }

    fn month_lengths(self, y: i64) -> [i64; 12] {
        if self == Calendar::Day360 {
            return [30; 12];
        }
        let feb = if self.is_leap(y) { 29 } else { 28 };
        [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    }

    /// Days in the whole years before `y` (from year 0).
    fn days_before_year(self, y: i64) -> i64 {
        match self {
            // leap years in [0, y), counted from year 0 (a leap year) for negative years too
            Calendar::Gregorian { .. } => {
                let p = y - 1;
                365 * y + p.div_euclid(4) - p.div_euclid(100) + p.div_euclid(400) + 1
            }
            Calendar::Julian => 365 * y + (y - 1).div_euclid(4) + 1,
            Calendar::NoLeap => 365 * y,
            Calendar::AllLeap => 366 * y,
            Calendar::Day360 => 360 * y,
        }
    }

    fn year_length(self, y: i64) -> i64 {
        self.days_before_year(y + 1) - self.days_before_year(y)
    }

    fn days_from_date(self, y: i64, m: u32, d: u32) -> Option<i64> {
        let lengths = self.month_lengths(y);
        if !(1..=12).contains(&m) || d < 1 || i64::from(d) > lengths[m as usize - 1] {
            return None;
        }
        Some(self.days_before_year(y) + lengths[..m as usize - 1].iter().sum::<i64>() + i64::from(d) - 1)
    }

    fn date_from_days(self, days: i64) -> (i64, u32, u32) {
        // an estimate of the year, then corrected: at most a step or two either way
        let mean_year = match self {
            Calendar::Gregorian { .. } => 365.2425,
            Calendar::Julian => 365.25,
            Calendar::NoLeap => 365.0,
            Calendar::AllLeap => 366.0,
            Calendar::Day360 => 360.0,
        };
        let mut y = (days as f64 / mean_year).floor() as i64;
        while self.days_before_year(y) > days {
            y -= 1;
        }
        while self.days_before_year(y) + self.year_length(y) <= days {
            y += 1;
        }
        let mut left = days - self.days_before_year(y);
        let mut m = 0;
        for (i, len) in self.month_lengths(y).into_iter().enumerate() {
            m = i;
            if left < len {
                break;
            }
            left -= len;
        }
        (y, m as u32 + 1, left as u32 + 1)
    }
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (the Unix epoch): for labels
/// and timestamps that are not a file's time coordinate.
pub fn date_from_unix_days(days: i64) -> (i64, u32, u32) {
    let c = Calendar::Gregorian { reform_checked: false };
    c.date_from_days(c.days_before_year(1970) + days)
}

/// Seconds per unit of a CF time unit name.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "days" | "day" | "d" => 86_400.0,
        "hours" | "hour" | "hrs" | "hr" | "h" => 3_600.0,
        "minutes" | "minute" | "mins" | "min" => 60.0,
        "seconds" | "second" | "secs" | "sec" | "s" => 1.0,
        "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" => 1e-3,
        "microseconds" | "microsecond" | "usecs" | "usec" | "us" => 1e-6,
        _ => return None,
    })
}

/// The reference instant of `UNIT since REFERENCE`: a date, an optional time of day and an
/// optional UTC offset, as seconds from year 0 of `calendar`.
fn parse_reference(text: &str, calendar: Calendar) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = match text.find(['T', ' ']) {
        Some(i) => (&text[..i], text[i + 1..].trim()),
        None => (text, ""),
    };
    let mut parts = date.splitn(3, '-');
    let first = parts.next()?;
    // a leading minus sign belongs to the year
    let (sign, first) = if first.is_empty() { (-1, parts.next()?) } else { (1, first) };
    let y: i64 = sign * first.parse::<i64>().ok()?;
    let m: u32 = parts.next().map_or(Some(1), |s| s.parse().ok())?;
    let d: u32 = parts.next().map_or(Some(1), |s| s.parse().ok())?;
    let days = calendar.days_from_date(y, m, d)?;
    // time of day, then an offset: "06:30", "00:00:00 +06:00", "00:00:00Z", "00:00:00.0 UTC"
    let rest = rest.trim_end_matches(|c: char| c == 'Z' || c.is_whitespace());
    let rest = rest.strip_suffix("UTC").unwrap_or(rest).trim();
    let (clock, offset) = match rest.rfind(['+', '-']) {
        Some(i) if i > 0 || rest.starts_with(['+', '-']) => (rest[..i].trim(), Some(&rest[i..])),
        _ => (rest, None),
    };
    let mut seconds = 0.0;
    if !clock.is_empty() {
        let mut hms = clock.trim_end_matches('Z').split(':');
        let h: f64 = hms.next()?.parse().ok()?;
        let mi: f64 = hms.next().map_or(Some(0.0), |s| s.parse().ok())?;
        let s: f64 = hms.next().map_or(Some(0.0), |s| s.parse().ok())?;
        if !(0.0..24.0).contains(&h) || !(0.0..60.0).contains(&mi) || !(0.0..61.0).contains(&s) {
            return None;
        }
        seconds = h * 3_600.0 + mi * 60.0 + s;
    }
    if let Some(off) = offset {
        let (sign, body) = (if off.starts_with('-') { -1.0 } else { 1.0 }, &off[1..]);
        let (oh, om) = match body.split_once(':') {
            Some((h, m)) => (h.parse::<f64>().ok()?, m.parse::<f64>().ok()?),
            None if body.len() == 4 => (body[..2].parse::<f64>().ok()?, body[2..].parse::<f64>().ok()?),
            None => (body.parse::<f64>().ok()?, 0.0),
        };
        // local time = UTC + offset, so UTC = local − offset
        seconds -= sign * (oh * 3_600.0 + om * 60.0);
    }
    Some(days * SECONDS_PER_DAY + seconds.round() as i64)
}

/// Seconds per unit of a unit that has a fixed length only in one calendar (cftime's rule).
fn calendar_unit_seconds(unit: &str, calendar: Calendar) -> Option<f64> {
    match (unit.to_ascii_lowercase().as_str(), calendar) {
        ("months" | "month", Calendar::Day360) => Some(30.0 * 86_400.0),
        ("common_years" | "common_year", Calendar::NoLeap) => Some(365.0 * 86_400.0),
        _ => None,
    }
}

/// The instants of a time coordinate, in seconds from year 0 of its calendar (`None` for a
/// missing value); `None` when the units are not a CF time or a date would be outside what
/// the calendar can tell.
fn decode(values: &[f64], units: &str, calendar: Option<&str>) -> Option<(Calendar, Vec<Option<i64>>)> {
    let calendar = Calendar::parse(calendar.unwrap_or("standard"))?;
    let (unit, reference) = units.trim().split_once(" since ")?;
    let per_unit = unit_seconds(unit.trim()).or_else(|| calendar_unit_seconds(unit.trim(), calendar))?;
    let origin = parse_reference(reference, calendar)?;
    let instants: Vec<Option<i64>> = values
        .iter()
        .map(|&v| {
            let s = v * per_unit;
            // beyond ±10^14 s (3 million years) a date means nothing
            (s.is_finite() && s.abs() < 1e14).then(|| origin + s.round() as i64)
        })
        .collect();
    if let Calendar::Gregorian { reform_checked: true } = calendar {
        // before the reform the standard calendar is Julian: no dates rather than wrong ones
        let first = REFORM_DAY * SECONDS_PER_DAY;
        if origin < first || instants.iter().flatten().any(|&t| t < first) {
            return None;
        }
    }
    Some((calendar, instants))
}

/// The instants of time coordinates that may use different units (one file's "days since
/// 2000-01-01", another's "hours since 2000-02-01"), comparable across them: seconds from
/// year 0 of their shared calendar, `None` for a missing value. `None` when a coordinate is
/// not a CF time or the calendars differ.
pub fn shared_instants(coords: &[(&[f64], Option<&str>, Option<&str>)]) -> Option<Vec<Vec<Option<i64>>>> {
    let mut shared = None;
    coords
        .iter()
        .map(|&(values, units, calendar)| {
            let (cal, instants) = decode(values, units?, calendar)?;
            (*shared.get_or_insert(cal) == cal).then_some(instants)
        })
        .collect()
}

/// Dates for the values of a time coordinate with CF `units` and `calendar`, one label per
/// value ("–" for a missing value); `None` when the units are not a CF time or a date would be
/// outside what the calendar can tell.
pub fn time_labels(values: &[f64], units: &str, calendar: Option<&str>) -> Option<Vec<String>> {
    let (calendar, instants) = decode(values, units, calendar)?;
    let seconds_of_day: Vec<i64> = instants.iter().flatten().map(|t| t.rem_euclid(SECONDS_PER_DAY)).collect();
    let with_time = seconds_of_day.iter().any(|&s| s != 0);
    let with_seconds = seconds_of_day.iter().any(|&s| s % 60 != 0);
    Some(
        instants
            .into_iter()
            .map(|t| match t {
                None => "–".to_string(),
                Some(t) => {
                    let (y, m, d) = calendar.date_from_days(t.div_euclid(SECONDS_PER_DAY));
                    let s = t.rem_euclid(SECONDS_PER_DAY);
                    let date = if y < 0 { format!("-{:04}-{m:02}-{d:02}", -y) } else { format!("{y:04}-{m:02}-{d:02}") };
                    match (with_time, with_seconds) {
                        (false, _) => date,
                        (true, false) => format!("{date} {:02}:{:02}", s / 3600, s % 3600 / 60),
                        (true, true) => format!("{date} {:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
                    }
                }
            })
            .collect(),
    )
}

/// The date labels of a coordinate: its dates when `units` are a CF time, else none.
pub fn coordinate_labels(values: &[f64], units: Option<&str>, calendar: Option<&str>) -> Vec<String> {
    units.and_then(|u| time_labels(values, u, calendar)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected labels are cftime 1.6's `num2date(values, units, calendar)` (netCDF4-python's
    /// decoder), printed with `%Y-%m-%d %H:%M:%S`.
    fn check(units: &str, calendar: &str, values: &[f64], cftime: &[&str]) {
        let got = time_labels(values, units, Some(calendar)).unwrap_or_else(|| panic!("{units} ({calendar}) not decoded"));
        for (g, want) in got.iter().zip(cftime) {
            // the labels drop a time of day that is midnight throughout, and seconds that are zero
            assert!(want.starts_with(g.as_str()), "{units} ({calendar}): {g} vs cftime's {want}");
            let rest = &want[g.len()..];
            assert!(rest.chars().all(|c| c == '0' || c == ':' || c == ' '), "{units} ({calendar}): {g} vs cftime's {want}");
        }
        assert_eq!(got.len(), values.len());
    }

    #[test]
    fn dates_equal_cftimes() {
        check(
            "days since 2000-01-01",
            "standard",
            &[0.0, 1.0, 31.0, 59.0, 60.0, 365.0, 366.0, -1.0, 0.5, 1.25],
            &[
                "2000-01-01 00:00:00",
                "2000-01-02 00:00:00",
                "2000-02-01 00:00:00",
                "2000-02-29 00:00:00",
                "2000-03-01 00:00:00",
                "2000-12-31 00:00:00",
                "2001-01-01 00:00:00",
                "1999-12-31 00:00:00",
                "2000-01-01 12:00:00",
                "2000-01-02 06:00:00",
            ],
        );
        check(
            "hours since 1900-01-01 00:00:00",
            "gregorian",
            &[0.0, 24.0, 1051896.0, 1051897.5, 876576.0],
            &["1900-01-01 00:00:00", "1900-01-02 00:00:00", "2020-01-01 00:00:00", "2020-01-01 01:30:00", "2000-01-01 00:00:00"],
        );
        check(
            "seconds since 1970-01-01T00:00:00Z",
            "proleptic_gregorian",
            &[0.0, 86399.0, 951782400.0, 4102444800.0],
            &["1970-01-01 00:00:00", "1970-01-01 23:59:59", "2000-02-29 00:00:00", "2100-01-01 00:00:00"],
        );
        check(
            "days since 1850-01-01",
            "noleap",
            &[0.0, 59.0, 365.0, 58399.0, 36500.0],
            &["1850-01-01 00:00:00", "1850-03-01 00:00:00", "1851-01-01 00:00:00", "2009-12-31 00:00:00", "1950-01-01 00:00:00"],
        );
        check(
            "days since 0001-01-01",
            "360_day",
            &[0.0, 29.0, 30.0, 359.0, 360.0, 725000.0],
            &[
                "0001-01-01 00:00:00",
                "0001-01-30 00:00:00",
                "0001-02-01 00:00:00",
                "0001-12-30 00:00:00",
                "0002-01-01 00:00:00",
                "2014-11-21 00:00:00",
            ],
        );
        check(
            "days since 2000-1-1",
            "all_leap",
            &[0.0, 59.0, 365.0, 366.0],
            &["2000-01-01 00:00:00", "2000-02-29 00:00:00", "2000-12-31 00:00:00", "2001-01-01 00:00:00"],
        );
        check(
            "minutes since 2014-01-01 06:30",
            "standard",
            &[0.0, 30.0, 1440.0, -390.0],
            &["2014-01-01 06:30:00", "2014-01-01 07:00:00", "2014-01-02 06:30:00", "2014-01-01 00:00:00"],
        );
        check(
            "days since 1600-02-28",
            "julian",
            &[0.0, 1.0, 2.0, 365.0, 146100.0],
            &["1600-02-28 00:00:00", "1600-02-29 00:00:00", "1600-03-01 00:00:00", "1601-02-27 00:00:00", "2000-02-28 00:00:00"],
        );
        check("hours since 2000-01-01 00:00:00 +06:00", "standard", &[0.0, 6.0], &["1999-12-31 18:00:00", "2000-01-01 00:00:00"]);
        // units of a fixed length in one calendar only
        let months = ["2000-01-01 00:00:00", "2000-02-01 00:00:00", "2000-03-16 00:00:00", "1999-12-01 00:00:00"];
        check("months since 2000-01-01", "360_day", &[0.0, 1.0, 2.5, -1.0], &months);
        let years = ["2000-01-01 00:00:00", "2001-01-01 00:00:00", "2002-07-02 12:00:00", "1999-01-01 00:00:00"];
        check("common_years since 2000-01-01", "noleap", &[0.0, 1.0, 2.5, -1.0], &years);
        check("common_year since 2000-01-01", "365_day", &[0.0, 1.0, 2.5, -1.0], &years);
    }

    #[test]
    fn instants_compare_across_units_of_one_calendar() {
        let a = [0.0, 1.0];
        let b = [0.0, 12.0];
        let got =
            shared_instants(&[(&a, Some("days since 2000-01-01"), None), (&b, Some("hours since 2000-01-03"), Some("standard"))]).unwrap();
        let day = SECONDS_PER_DAY;
        let d0 = got[0][0].unwrap();
        assert_eq!(got[0][1].unwrap() - d0, day);
        assert_eq!((got[1][0].unwrap() - d0, got[1][1].unwrap() - d0), (2 * day, 2 * day + day / 2));
        // different calendars, or something that is not a time, cannot be compared
        assert!(
            shared_instants(&[(&a, Some("days since 2000-01-01"), None), (&a, Some("days since 2000-01-01"), Some("noleap"))]).is_none()
        );
        assert!(shared_instants(&[(&a, Some("days since 2000-01-01"), None), (&a, None, None)]).is_none());
    }

    #[test]
    fn labels_keep_only_the_resolution_they_need() {
        assert_eq!(time_labels(&[0.0, 1.0], "days since 2014-01-01", None).unwrap(), ["2014-01-01", "2014-01-02"]);
        assert_eq!(time_labels(&[0.0, 1.5], "hours since 2014-01-01", None).unwrap(), ["2014-01-01 00:00", "2014-01-01 01:30"]);
        assert_eq!(time_labels(&[1.0], "seconds since 2014-01-01", None).unwrap(), ["2014-01-01 00:00:01"]);
        assert_eq!(time_labels(&[0.0, f64::NAN], "days since 2014-01-01", None).unwrap(), ["2014-01-01", "–"]);
    }

    #[test]
    fn what_cannot_be_told_gets_no_labels() {
        // not a time, an unfixed unit length, an unknown calendar, a malformed reference
        assert!(time_labels(&[0.0], "degrees_north", None).is_none());
        assert!(time_labels(&[0.0], "months since 2000-01-01", None).is_none());
        assert!(time_labels(&[0.0], "months since 2000-01-01", Some("noleap")).is_none());
        assert!(time_labels(&[0.0], "years since 2000-01-01", Some("360_day")).is_none());
        assert!(time_labels(&[0.0], "common_years since 2000-01-01", Some("360_day")).is_none());
        assert!(time_labels(&[0.0], "days since 2000-01-01", Some("lunar")).is_none());
        assert!(time_labels(&[0.0], "days since 2000-13-01", None).is_none());
        assert!(time_labels(&[0.0], "days since 2001-02-29", None).is_none());
        // the standard calendar is Julian before 1582-10-15: no guess
        assert!(time_labels(&[0.0], "days since 1500-01-01", Some("standard")).is_none());
        assert!(time_labels(&[-1.0], "days since 1582-10-15", Some("gregorian")).is_none());
        assert_eq!(time_labels(&[-1.0], "days since 1582-10-15", Some("proleptic_gregorian")).unwrap(), ["1582-10-14"]);
    }

    #[test]
    fn day_counts_round_trip_in_every_calendar() {
        for cal in [Calendar::Gregorian { reform_checked: false }, Calendar::Julian, Calendar::NoLeap, Calendar::AllLeap, Calendar::Day360]
        {
            for days in (-800_000..800_000).step_by(997) {
                let (y, m, d) = cal.date_from_days(days);
                assert_eq!(cal.days_from_date(y, m, d), Some(days), "{cal:?} day {days} -> {y}-{m}-{d}");
            }
        }
        // 1582-10-15 is day 578100 of the proleptic Gregorian count
        assert_eq!(Calendar::Gregorian { reform_checked: false }.days_from_date(1582, 10, 15), Some(REFORM_DAY));
    }
}
