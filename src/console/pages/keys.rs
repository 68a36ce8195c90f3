//! `GET /console/keys?team=&status=` (keys by team), `GET /console/keys/{id}` (a key,
//! its leaks and history), `POST /console/keys/{id}/restore|delete` (admins, with a
//! reason: the same store calls as `revokd keys restore|delete`, so the team is
//! notified exactly as from the CLI).

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, Redirect};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{field, form, query, see_other};
use crate::access::Permission;
use crate::console::error::ConsoleError;
use crate::console::{ConsoleState, Operator, page};
use crate::store::{AuditQuery, KeyFilter, KeyRecord, KeyStatus, LeakFilter};

#[derive(Debug, Default, Deserialize)]
pub struct KeyQuery {
    team: Option<String>,
    status: Option<String>,
}

pub async fn list(
    State(console): State<ConsoleState>,
    operator: Operator,
    q: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadLeaks)?;
    let q = query(q)?;
    let status = field(&q.status).map(|s| s.parse::<KeyStatus>()).transpose().map_err(ConsoleError::BadRequest)?;
    let store = console.store();
    let keys = store.keys(&KeyFilter { team: field(&q.team), status }).await?;
    let teams = store.teams().await?;
    let teams: Vec<Value> = teams.iter().map(|t| json!({ "name": t.name, "active_keys": t.active_keys })).collect();
    let rows: Vec<Value> = keys.iter().map(view).collect();
    page(
        &operator,
        "keys",
        "keys.html",
        context! {
            keys => Serde(rows), teams => Serde(teams),
            f => context! { team => field(&q.team), status => field(&q.status) },
        },
    )
}

pub async fn show(
    State(console): State<ConsoleState>,
    operator: Operator,
    Path(id): Path<i64>,
    q: Result<Query<super::DoneQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadLeaks)?;
    let done = match query(q)?.done.as_deref() {
        Some("restored") => Some("Key restored. The team's admins will be emailed."),
        Some("deleted") => Some("Key deleted. The team's admins will be emailed."),
        _ => None,
    };
    let store = console.store();
    let key = store.key(id).await?;
    let leaks = store.leaks(&LeakFilter { key_id: Some(id), ..LeakFilter::default() }, 100).await?;
    let history = store.audit_events(&AuditQuery { key_id: Some(id), ..AuditQuery::default() }).await?;
    let leaks: Vec<Value> = leaks.iter().map(super::leaks::view).collect();
    let history: Vec<Value> = history.iter().map(super::audit::view).collect();
    page(
        &operator,
        "keys",
        "key.html",
        context! {
            key => Serde(view(&key)),
            leaks => Serde(leaks), events => Serde(history), done => done,
            can_restore => key.status == KeyStatus::Disabled,
            can_delete => key.status != KeyStatus::Deleted,
        },
    )
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/keys/{id}/restore` (admin): `disabled → active`.
pub async fn restore(
    State(console): State<ConsoleState>,
    operator: Operator,
    Path(id): Path<i64>,
    body: Result<Form<ReasonForm>, FormRejection>,
) -> Result<Redirect, ConsoleError> {
    let reason = checked_reason(&operator, body)?;
    console.store().restore_key(id, &reason, &operator.actor()).await?;
    Ok(see_other(&format!("/console/keys/{id}?done=restored")))
}

/// `POST /console/keys/{id}/delete` (admin): final.
pub async fn delete(
    State(console): State<ConsoleState>,
    operator: Operator,
    Path(id): Path<i64>,
    body: Result<Form<ReasonForm>, FormRejection>,
) -> Result<Redirect, ConsoleError> {
    let reason = checked_reason(&operator, body)?;
    console.store().delete_key(id, &reason, &operator.actor()).await?;
    Ok(see_other(&format!("/console/keys/{id}?done=deleted")))
}

/// Role, then CSRF, then a non-empty reason.
fn checked_reason(operator: &Operator, body: Result<Form<ReasonForm>, FormRejection>) -> Result<String, ConsoleError> {
    operator.require(Permission::ManageKeys)?;
    let body = form(body)?;
    operator.check_csrf(&body.csrf)?;
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(ConsoleError::BadRequest("a reason is required".into()));
    }
    Ok(reason.to_owned())
}

fn view(key: &KeyRecord) -> Value {
    json!({
        "id": key.id, "team": key.team, "key_type": key.key_type, "redacted": key.redacted,
        "status": key.status.as_str(), "created_at": key.created_at,
        "disabled_at": key.disabled_at, "disabled_reason": key.disabled_reason,
    })
}
