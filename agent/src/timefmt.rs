//! RFC 3339 UTC timestamps.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats seconds and nanoseconds since the epoch as RFC 3339 UTC (e.g. `2026-12-04T15:30:00Z`).
pub fn rfc3339(secs: i64, nanos: u32) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let t = t.replace_nanosecond(nanos).ok()?;
    t.format(&Rfc3339).ok()
}

/// The current time as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// The current time as a compact collection-id prefix, e.g. `20261204T153000Z`.
pub fn now_compact() -> String {
    let t = OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times format as RFC 3339 with fractional seconds, and the compact form has 16 characters.
    #[test]
    fn formats() {
        assert_eq!(rfc3339(0, 0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(1_796_398_200, 500_000_000).as_deref(),
            Some("2026-12-04T15:30:00.5Z")
        );
        assert_eq!(now_compact().len(), 16);
    }
}
