//! `GET /console/teams`, `GET /console/teams/{name}` (members and roles),
//! `POST /console/teams/{name}/members` (admins add a member or change a role) and
//! `POST /console/teams/{name}/members/remove`: the store calls behind `revokd teams
//! add-member|remove-member`, audited the same way (actor `console:NAME`).

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, Redirect};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{form, query, see_other};
use crate::access::Permission;
use crate::console::error::ConsoleError;
use crate::console::{ConsoleState, Operator, page};
use crate::store::{KeyFilter, Role};

pub async fn list(State(console): State<ConsoleState>, operator: Operator) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadLeaks)?;
    let teams: Vec<Value> = console
        .store()
        .teams()
        .await?
        .iter()
        .map(|t| {
            json!({ "name": t.name, "admins": t.admins, "members": t.members,
                    "active_keys": t.active_keys, "created_at": t.created_at })
        })
        .collect();
    page(&operator, "teams", "teams.html", context! { teams => Serde(teams) })
}

pub async fn show(
    State(console): State<ConsoleState>,
    operator: Operator,
    Path(name): Path<String>,
    q: Result<Query<super::DoneQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadLeaks)?;
    let done = match query(q)?.done.as_deref() {
        Some("added") => Some("Member saved."),
        Some("removed") => Some("Member removed."),
        _ => None,
    };
    let store = console.store();
    let members = store.team_members(&name).await?;
    let keys = store.keys(&KeyFilter { team: Some(name.clone()), status: None }).await?;
    let members: Vec<Value> = members.iter().map(|m| json!({ "email": m.email, "role": m.role.as_str() })).collect();
    let count = |status: &str| keys.iter().filter(|k| k.status.as_str() == status).count();
    page(
        &operator,
        "teams",
        "team.html",
        context! {
            team => name.as_str(), members => Serde(members), done => done,
            active_keys => count("active"), disabled_keys => count("disabled"), deleted_keys => count("deleted"),
        },
    )
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: Option<String>,
}

/// Role, then CSRF; returns the form.
fn checked(operator: &Operator, body: Result<Form<MemberForm>, FormRejection>) -> Result<MemberForm, ConsoleError> {
    operator.require(Permission::ManageTeams)?;
    let body = form(body)?;
    operator.check_csrf(&body.csrf)?;
    Ok(body)
}

pub async fn add_member(
    State(console): State<ConsoleState>,
    operator: Operator,
    Path(name): Path<String>,
    body: Result<Form<MemberForm>, FormRejection>,
) -> Result<Redirect, ConsoleError> {
    let body = checked(&operator, body)?;
    let role = match body.role.as_deref() {
        Some("admin") => Role::Admin,
        Some("member") | None => Role::Member,
        Some(_) => return Err(ConsoleError::BadRequest("role must be admin or member".into())),
    };
    console.store().add_member(&name, &body.email, role, &operator.actor()).await?;
    Ok(see_other(&format!("/console/teams/{name}?done=added")))
}

pub async fn remove_member(
    State(console): State<ConsoleState>,
    operator: Operator,
    Path(name): Path<String>,
    body: Result<Form<MemberForm>, FormRejection>,
) -> Result<Redirect, ConsoleError> {
    let body = checked(&operator, body)?;
    console.store().remove_member(&name, &body.email, &operator.actor()).await?;
    Ok(see_other(&format!("/console/teams/{name}?done=removed")))
}
