//! The console's pages, one file each. Every handler: operator (session) → role →
//! CSRF for forms → one store or API call → a page or a redirect.

pub mod audit;
pub mod keys;
pub mod leaks;
pub mod overview;
pub mod scans;
pub mod sign_in;
pub mod teams;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query};
use axum::response::Redirect;
use serde::de::DeserializeOwned;

use super::error::ConsoleError;
use crate::store::parse_time;

/// The query string, or 400 when it does not parse.
/// `?done=…` on a page an action redirected back to: which confirmation to show.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ConsoleError> {
    query.map(|Query(q)| q).map_err(|e| ConsoleError::BadRequest(e.body_text()))
}

/// The form body, or 400 when it does not parse (a missing field, a bad number).
fn form<T: DeserializeOwned>(form: Result<Form<T>, FormRejection>) -> Result<T, ConsoleError> {
    form.map(|Form(f)| f).map_err(|e| ConsoleError::BadRequest(e.body_text()))
}

/// A form or query field: trimmed, `None` when empty.
fn field(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A numeric field, or 400 naming it.
fn number(value: &Option<String>, name: &str) -> Result<Option<i64>, ConsoleError> {
    field(value)
        .map(|v| v.parse::<i64>().map_err(|_| ConsoleError::BadRequest(format!("{name} must be a whole number"))))
        .transpose()
}

/// A time field as typed: RFC 3339 (`2026-11-29T10:00:00Z`), an HTML `datetime-local`
/// value read as UTC (`2026-11-29T10:00`), or an age such as `24h`. Returns the text
/// [`parse_time`] accepts, or 400 naming the field.
fn time_text(value: &Option<String>, name: &str, now: i64) -> Result<Option<String>, ConsoleError> {
    let Some(text) = field(value) else { return Ok(None) };
    let normalized = match text.len() {
        16 if text.as_bytes()[10] == b'T' => format!("{text}:00Z"),
        19 if text.as_bytes()[10] == b'T' => format!("{text}Z"),
        _ => text,
    };
    parse_time(&normalized, now).map_err(|message| ConsoleError::BadRequest(format!("{name}: {message}")))?;
    Ok(Some(normalized))
}

/// [`time_text`] resolved to UTC milliseconds.
fn time_ms(value: &Option<String>, name: &str, now: i64) -> Result<Option<i64>, ConsoleError> {
    Ok(time_text(value, name, now)?.and_then(|t| parse_time(&t, now).ok()))
}

/// 303 to `to` (after a form: reloading the page does not resubmit it).
fn see_other(to: &str) -> Redirect {
    Redirect::to(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_fields() {
        let now = 1_764_388_800_000;
        assert_eq!(
            time_text(&Some(" 2025-11-29T04:00 ".into()), "since", now).unwrap().unwrap(),
            "2025-11-29T04:00:00Z"
        );
        assert_eq!(time_ms(&Some("2025-11-29T04:00:00Z".into()), "since", now).unwrap(), Some(now));
        assert_eq!(time_ms(&Some("1h".into()), "since", now).unwrap(), Some(now - 3_600_000));
        assert_eq!(time_ms(&Some("".into()), "since", now).unwrap(), None);
        let err = time_ms(&Some("yesterday".into()), "until", now).unwrap_err().to_string();
        assert!(err.starts_with("until:"), "{err}");
        assert!(number(&Some("x".into()), "key").is_err());
        assert_eq!(number(&Some(" 7 ".into()), "key").unwrap(), Some(7));
    }
}
