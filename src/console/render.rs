//! The console's HTML: minijinja templates embedded in the binary (`templates/`),
//! parsed once, escaping every value (`.html` names turn on auto-escaping).
//!
//! Filters for times (stored as UTC milliseconds): `utc` (`2026-11-29 10:04:05 UTC`),
//! `iso` (RFC 3339, for `<time datetime>`), `ago` (`5 min ago`, relative to now).

use std::sync::OnceLock;

use minijinja::Environment;

use crate::store::{format_ms, now_ms};

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("error.html", include_str!("templates/error.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("leaks.html", include_str!("templates/leaks.html")),
    ("keys.html", include_str!("templates/keys.html")),
    ("key.html", include_str!("templates/key.html")),
    ("scans.html", include_str!("templates/scans.html")),
    ("scan.html", include_str!("templates/scan.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("audit_rows.html", include_str!("templates/audit_rows.html")),
    ("teams.html", include_str!("templates/teams.html")),
    ("team.html", include_str!("templates/team.html")),
];

/// The parsed templates (once per process).
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary; `templates_parse` tests every one.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        env.add_filter("utc", utc);
        env.add_filter("iso", |ms: i64| format_ms(ms));
        env.add_filter("ago", |ms: i64| ago(ms, now_ms()));
        env
    })
}

/// Renders template `name` with `ctx`.
pub fn render(name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    environment().get_template(name)?.render(ctx)
}

/// `2026-11-29 10:04:05 UTC`.
fn utc(ms: i64) -> String {
    let iso = format_ms(ms);
    match (iso.get(..10), iso.get(11..19)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => iso,
    }
}

/// A coarse relative time: `just now`, `5 min ago`, `3 h ago`, `2 days ago`, `in 4 min`.
pub fn ago(ms: i64, now: i64) -> String {
    let delta = now - ms;
    let (secs, future) = (delta.unsigned_abs() / 1000, delta < 0);
    let text = match secs {
        0..=44 => return "just now".into(),
        45..=5_399 => format!("{} min", secs.div_ceil(60).max(1)),
        5_400..=129_599 => format!("{} h", (secs + 1800) / 3600),
        _ => format!("{} days", (secs + 43_200) / 86_400),
    };
    if future { format!("in {text}") } else { format!("{text} ago") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn relative_times() {
        let now = 1_000_000_000;
        assert_eq!(ago(now - 10_000, now), "just now");
        assert_eq!(ago(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(ago(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(ago(now - 2 * 86_400_000, now), "2 days ago");
        assert_eq!(ago(now + 4 * 60_000, now), "in 4 min");
        assert_eq!(utc(1_764_388_800_123), "2025-11-29 04:00:00 UTC");
    }

    #[test]
    fn values_are_escaped() {
        let html =
            render("error.html", minijinja::context! { status => 400, title => "t", message => "<script>" }).unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
    }
}
