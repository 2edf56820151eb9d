//! `<clock>`: the RTC's base (`utc`, `localtime`, a time zone through `TZ`,
//! `variable` with an adjustment, `absolute`) and the timers libvirt 11.3
//! turns into `-rtc` and `-global` arguments. `variable` and `absolute` are
//! computed from the host's clock at planning ([`crate::HostFacts::now_unix`]).

use domain_xml::model::ClockOffset;

use super::state::Planner;

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a Unix time, as QEMU's `-rtc base=` takes it.
pub(super) fn rtc_datetime(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

impl Planner<'_> {
    /// The `-rtc base=` value; `None` after a problem.
    pub(super) fn rtc_base(&mut self) -> Option<String> {
        let clock = &self.dom.clock;
        let attr = |k: &str| clock.attrs.get(k);
        let extra: Vec<&str> = clock
            .attrs
            .attrs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| {
                let allowed: &[&str] = match clock.offset {
                    ClockOffset::Utc | ClockOffset::Localtime => &["adjustment"],
                    ClockOffset::Timezone => &["timezone"],
                    ClockOffset::Variable => &["adjustment", "basis"],
                    ClockOffset::Absolute => &["start"],
                };
                !allowed.contains(k)
            })
            .collect();
        if !extra.is_empty() {
            self.problem(
                "clock",
                format!(
                    "<clock offset='{}'> does not take {}",
                    clock.offset,
                    extra.join(", ")
                ),
            );
            return None;
        }
        // utc/localtime only take adjustment='reset' (libvirt's default).
        if matches!(clock.offset, ClockOffset::Utc | ClockOffset::Localtime)
            && attr("adjustment").is_some_and(|a| a != "reset")
        {
            self.problem("clock", "adjustment on utc/localtime must be 'reset'");
            return None;
        }
        match clock.offset {
            ClockOffset::Utc => Some("utc".into()),
            ClockOffset::Localtime => Some("localtime".into()),
            ClockOffset::Timezone => {
                if attr("timezone").is_none() {
                    self.problem("clock", "<clock offset='timezone'> needs a timezone");
                    return None;
                }
                Some("localtime".into())
            }
            ClockOffset::Variable | ClockOffset::Absolute => {
                let Some(now) = self.rt.host.now_unix() else {
                    self.problem("clock", "the host's clock cannot be read");
                    return None;
                };
                let t = if clock.offset == ClockOffset::Absolute {
                    match attr("start").and_then(|s| s.parse::<i64>().ok()) {
                        Some(s) => s,
                        None => {
                            self.problem("clock", "<clock offset='absolute'> needs start=");
                            return None;
                        }
                    }
                } else {
                    if attr("basis").is_some_and(|b| b != "utc") {
                        self.problem(
                            "clock",
                            "<clock offset='variable' basis='localtime'> is not supported yet",
                        );
                        return None;
                    }
                    let adj = match attr("adjustment").map(str::parse::<i64>) {
                        None => 0,
                        Some(Ok(a)) => a,
                        Some(Err(_)) => {
                            self.problem("clock", "adjustment must be a number of seconds");
                            return None;
                        }
                    };
                    now + adj
                };
                Some(rtc_datetime(t))
            }
        }
    }

    /// `TZ` for `<clock offset='timezone'>`.
    pub(super) fn clock_env(&self) -> Option<(String, String)> {
        (self.dom.clock.offset == ClockOffset::Timezone)
            .then(|| self.dom.clock.attrs.get("timezone"))
            .flatten()
            .map(|tz| ("TZ".to_owned(), tz.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::rtc_datetime;

    #[test]
    fn rtc_dates() {
        // libvirt's test clock (1234567890) plus clock-variable's adjustment.
        assert_eq!(rtc_datetime(1_234_567_890 + 123_456), "2009-02-15T09:49:06");
        assert_eq!(rtc_datetime(253_402_300_799), "9999-12-31T23:59:59");
        assert_eq!(rtc_datetime(0), "1970-01-01T00:00:00");
        assert_eq!(rtc_datetime(951_825_600), "2000-02-29T12:00:00");
    }
}
