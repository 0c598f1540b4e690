//! `idle-schedule`: the windows of the week in which the elastic pool's idle floor is not
//! `virtual-machines`, e.g. `TZ=Europe/Paris; mon-fri 07:00-19:00=6; sat,sun 00:00-24:00=0`.
//! Entries are separated by `;`; the first may name the time zone (`TZ=<IANA name>`, read from
//! the machine's tz database; UTC without one); each other is `<days> <HH:MM>-<HH:MM>=<floor>`,
//! the days a comma-separated list of `mon`…`sun` and ranges such as `mon-fri` (or `fri-mon`,
//! across the week's end), the end after the start and at most `24:00`. Windows may not
//! overlap: which floor applies is never a matter of order. Pure but for the tz lookup.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// One window: the days it covers (Monday first) and its minutes of the day, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub days: [bool; 7],
    pub start: u16,
    pub end: u16,
    pub floor: u32,
}

/// The parsed option; empty: the floor is always `virtual-machines`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleSchedule {
    zone: TimeZone,
    zone_name: String,
    pub windows: Vec<Window>,
}

impl Default for IdleSchedule {
    fn default() -> Self {
        IdleSchedule {
            zone: TimeZone::UTC,
            zone_name: "UTC".into(),
            windows: Vec::new(),
        }
    }
}

impl IdleSchedule {
    /// Reads the option; the error says what is wrong and what is allowed.
    pub fn parse(text: &str) -> Result<IdleSchedule, String> {
        let mut schedule = IdleSchedule::default();
        let entries: Vec<&str> = text.split(';').map(str::trim).collect();
        for (i, entry) in entries.iter().enumerate() {
            if entry.is_empty() {
                if i + 1 == entries.len() {
                    continue; // a trailing `;`
                }
                return Err("has an empty entry (a stray `;`?)".into());
            }
            if let Some(name) = entry.strip_prefix("TZ=").or_else(|| entry.strip_prefix("tz=")) {
                if i != 0 {
                    return Err(format!("`{entry}`: the time zone comes first"));
                }
                schedule.zone = TimeZone::get(name.trim()).map_err(|_| {
                    format!("`{entry}`: no time zone of that name (an IANA name such as `Europe/Paris`, or `UTC`)")
                })?;
                schedule.zone_name = name.trim().to_string();
                continue;
            }
            schedule.windows.push(window(entry)?);
        }
        overlaps(&schedule.windows)?;
        Ok(schedule)
    }

    /// The floor at `now`: the covering window's, else `default`.
    pub fn floor_at(&self, now: Timestamp, default: u32) -> u32 {
        let local = now.to_zoned(self.zone.clone());
        let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        self.windows
            .iter()
            .find(|w| w.days[day] && w.start <= minute && minute < w.end)
            .map_or(default, |w| w.floor)
    }

    /// The largest floor of any window (the config checks it against the ceiling).
    pub fn highest(&self) -> Option<u32> {
        self.windows.iter().map(|w| w.floor).max()
    }

    /// The schedule written back as the option takes it (the watcher reads it so): its zone,
    /// then each window with its days listed one by one.
    pub fn canonical(&self) -> String {
        let mut entries = vec![format!("TZ={}", self.zone_name)];
        for w in &self.windows {
            let days: Vec<&str> = DAYS
                .iter()
                .zip(w.days)
                .filter(|(_, on)| *on)
                .map(|((name, _), _)| *name)
                .collect();
            let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            entries.push(format!(
                "{} {}-{}={}",
                days.join(","),
                hhmm(w.start),
                hhmm(w.end),
                w.floor
            ));
        }
        entries.join("; ")
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }
}

const SHAPE: &str = "each window is `<days> <HH:MM>-<HH:MM>=<floor>`, e.g. `mon-fri 07:00-19:00=6`";

fn window(entry: &str) -> Result<Window, String> {
    let bad = |why: &str| format!("`{entry}`: {why}; {SHAPE}");
    // The hours are the last word: the days before them may hold spaces (`sat, sun`).
    let (days, rest) = entry.rsplit_once(char::is_whitespace).ok_or_else(|| bad("no hours"))?;
    let (hours, floor) = rest.trim().split_once('=').ok_or_else(|| bad("no `=<floor>`"))?;
    let (start, end) = hours
        .trim()
        .split_once('-')
        .ok_or_else(|| bad("the hours are not `HH:MM-HH:MM`"))?;
    let start = minutes(start.trim()).ok_or_else(|| bad("the start is not a time of day"))?;
    let end = minutes(end.trim()).ok_or_else(|| bad("the end is not a time of day (up to 24:00)"))?;
    if end <= start {
        return Err(bad(
            "the end must come after the start (a window does not cross midnight: use two)",
        ));
    }
    let floor = floor
        .trim()
        .parse::<u32>()
        .map_err(|_| bad("the floor is not a whole number"))?;
    Ok(Window {
        days: day_set(days).map_err(|why| bad(&why))?,
        start,
        end,
        floor,
    })
}

/// `HH:MM` as minutes of the day, `24:00` included.
fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

fn day_index(name: &str) -> Result<usize, String> {
    DAYS.iter()
        .position(|(short, _)| name.eq_ignore_ascii_case(short))
        .ok_or_else(|| format!("`{name}` is not a day (mon, tue, wed, thu, fri, sat, sun)"))
}

fn day_set(text: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for part in text.split(',').map(str::trim) {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day_index(from.trim())?, day_index(to.trim())?);
                let mut day = from;
                loop {
                    days[day] = true;
                    if day == to {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
            None => days[day_index(part)?] = true,
        }
    }
    Ok(days)
}

fn overlaps(windows: &[Window]) -> Result<(), String> {
    for (i, a) in windows.iter().enumerate() {
        for b in &windows[i + 1..] {
            let shared = (0..7).find(|&d| a.days[d] && b.days[d]);
            if let Some(day) = shared.filter(|_| a.start < b.end && b.start < a.end) {
                return Err(format!(
                    "two windows overlap on {} ({} and {}): which floor applies would depend on their order",
                    DAYS[day].0,
                    span(a),
                    span(b)
                ));
            }
        }
    }
    Ok(())
}

fn span(w: &Window) -> String {
    let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    format!("{}-{}", hm(w.start), hm(w.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn a_window_covering_now_gives_its_floor_and_none_gives_the_default() {
        let s = IdleSchedule::parse("mon-fri 07:00-19:00=6; sat,sun 00:00-24:00=0").unwrap();
        // 2026-12-07 is a Monday.
        assert_eq!(s.floor_at(at("2026-12-07T06:59:00Z"), 2), 2);
        assert_eq!(s.floor_at(at("2026-12-07T07:00:00Z"), 2), 6);
        assert_eq!(s.floor_at(at("2026-12-07T18:59:59Z"), 2), 6);
        assert_eq!(
            s.floor_at(at("2026-12-07T19:00:00Z"), 2),
            2,
            "the end is not in the window"
        );
        assert_eq!(s.floor_at(at("2026-12-12T12:00:00Z"), 2), 0, "Saturday");
        assert_eq!(s.floor_at(at("2026-12-13T23:59:00Z"), 2), 0, "Sunday to 24:00");
    }

    #[test]
    fn the_time_zone_is_the_stated_one_with_its_daylight_saving() {
        let s = IdleSchedule::parse("TZ=Europe/Paris; mon-fri 07:00-19:00=6").unwrap();
        assert_eq!(s.zone_name(), "Europe/Paris");
        // Winter: Paris is UTC+1, so 07:00 there is 06:00 UTC.
        assert_eq!(s.floor_at(at("2026-12-07T06:00:00Z"), 1), 6);
        assert_eq!(s.floor_at(at("2026-12-07T05:59:00Z"), 1), 1);
        // Summer: UTC+2.
        assert_eq!(s.floor_at(at("2026-06-08T05:00:00Z"), 1), 6);
    }

    #[test]
    fn a_schedule_written_back_reads_the_same() {
        for text in [
            "",
            "mon-fri 07:00-19:00=6; sat,sun 00:00-24:00=0",
            "TZ=Europe/Paris; fri-mon 22:30-23:45=3",
        ] {
            let schedule = IdleSchedule::parse(text).expect("valid");
            assert_eq!(
                IdleSchedule::parse(&schedule.canonical()).expect("valid"),
                schedule,
                "{text}"
            );
        }
    }

    #[test]
    fn ranges_wrap_across_the_week_s_end() {
        let s = IdleSchedule::parse("fri-mon 00:00-24:00=3").unwrap();
        assert_eq!(s.windows[0].days, [true, false, false, false, true, true, true]);
    }

    #[test]
    fn bad_schedules_say_what_is_wrong_and_what_is_allowed() {
        for (text, says) in [
            ("mon-fri 07:00-19:00", "no `=<floor>`"),
            ("mon-fri 7:00-19:00=2", "the start is not a time of day"),
            ("mon-fri 07:00-24:01=2", "the end is not a time of day"),
            ("mon-fri 19:00-07:00=2", "a window does not cross midnight"),
            ("mun 07:00-19:00=2", "`mun` is not a day"),
            ("mon 07:00-19:00=-1", "the floor is not a whole number"),
            (
                "mon 07:00-12:00=1; mon-tue 11:00-13:00=2",
                "two windows overlap on mon (07:00-12:00 and 11:00-13:00)",
            ),
            ("mon 07:00-12:00=1; TZ=UTC", "the time zone comes first"),
            ("TZ=Mars/Olympus; mon 07:00-12:00=1", "no time zone of that name"),
            ("mon 07:00-12:00=1;; tue 07:00-12:00=1", "an empty entry"),
        ] {
            let error = IdleSchedule::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
        assert!(IdleSchedule::parse("").unwrap().windows.is_empty());
        assert!(IdleSchedule::parse("mon 07:00-12:00=1;").is_ok(), "a trailing `;`");
        let spaced = IdleSchedule::parse("sat, sun 00:00-24:00=0").expect("spaces after commas");
        assert_eq!(spaced.windows[0].days, [false, false, false, false, false, true, true]);
        assert!(
            IdleSchedule::parse("mon 07:00-12:00=1; mon 12:00-13:00=2").is_ok(),
            "touching is not overlapping"
        );
    }
}
