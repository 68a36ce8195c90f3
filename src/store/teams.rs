//! Teams and their members. Admins are the owners emailed when a key leaks; every team
//! keeps at least one admin.

use std::fmt;
use std::str::FromStr;

use serde_json::json;

use super::audit::{self, EventKind, NewEvent};
use super::{Conn, Store, StoreError, execute, fetch, is_unique_violation, now_ms};

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Owner: receives leak notifications.
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Role, StoreError> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        }
    }
}

/// A team with its member counts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TeamSummary {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub admins: i64,
    pub members: i64,
    pub active_keys: i64,
}

/// One member of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub email: String,
    pub role: Role,
}

/// The [`TeamSummary`] query followed by `$tail` (a WHERE or ORDER BY clause).
macro_rules! team_summary {
    ($tail:literal) => {
        concat!(
            "SELECT t.id, t.name, t.created_at, ",
            "(SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id AND m.role = 'admin') AS admins, ",
            "(SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id AND m.role = 'member') AS members, ",
            "(SELECT COUNT(*) FROM api_keys k WHERE k.team_id = t.id AND k.status = 'active') AS active_keys ",
            "FROM teams t",
            $tail
        )
    };
}

/// Team names appear in CLI arguments, URLs and email subjects: keep them plain.
fn validate_team_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(StoreError::InvalidTeamName(name.to_string())) }
}

/// Trims and lowercases an address after a shape check.
fn normalize_email(email: &str) -> Result<String, StoreError> {
    let email = email.trim().to_lowercase();
    if crate::config::is_plausible_email(&email) { Ok(email) } else { Err(StoreError::InvalidEmail(email)) }
}

/// The id of team `name`, or [`StoreError::TeamNotFound`].
pub(crate) async fn team_id(c: &mut Conn<'_>, name: &str) -> Result<i64, StoreError> {
    let row: Option<(i64,)> = fetch!(c, fetch_optional, (i64,), "SELECT id FROM teams WHERE name = $1", name)?;
    row.map(|(id,)| id).ok_or_else(|| StoreError::TeamNotFound(name.to_string()))
}

/// Admin addresses of a team, sorted.
pub(crate) async fn admin_emails(c: &mut Conn<'_>, team_id: i64) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = fetch!(
        c,
        fetch_all,
        (String,),
        "SELECT email FROM team_members WHERE team_id = $1 AND role = 'admin' ORDER BY email",
        team_id
    )?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

async fn member_role(c: &mut Conn<'_>, team_id: i64, email: &str) -> Result<Option<Role>, StoreError> {
    let row: Option<(String,)> = fetch!(
        c,
        fetch_optional,
        (String,),
        "SELECT role FROM team_members WHERE team_id = $1 AND email = $2",
        team_id,
        email
    )?;
    row.map(|(r,)| r.parse()).transpose()
}

fn member_event(actor: &str, team_id: i64, team: &str, email: &str, role: Role) -> NewEvent {
    NewEvent {
        event: EventKind::MemberAdded,
        actor: actor.to_string(),
        team_id: Some(team_id),
        key_id: None,
        description: format!("{email} added to team {team} as {role}"),
        details: json!({ "email": email, "role": role.as_str() }),
    }
}

impl Store {
    /// Creates team `name` with its admins (at least one) and members, auditing
    /// `team.created` and one `member.added` per person. An address listed as both admin
    /// and member is an admin.
    pub async fn create_team(
        &self,
        name: &str,
        admins: &[String],
        members: &[String],
        actor: &str,
    ) -> Result<TeamSummary, StoreError> {
        validate_team_name(name)?;
        let mut people: Vec<(String, Role)> = Vec::new();
        for (emails, role) in [(admins, Role::Admin), (members, Role::Member)] {
            for email in emails {
                let email = normalize_email(email)?;
                if !people.iter().any(|(e, _)| *e == email) {
                    people.push((email, role));
                }
            }
        }
        if !people.iter().any(|(_, r)| *r == Role::Admin) {
            return Err(StoreError::NoAdmin);
        }
        let at = now_ms();
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let inserted: Result<(i64,), sqlx::Error> = fetch!(
            &mut c,
            fetch_one,
            (i64,),
            "INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id",
            name,
            at
        );
        let team_id = match inserted {
            Ok((id,)) => id,
            Err(e) if is_unique_violation(&e) => return Err(StoreError::TeamExists(name.into())),
            Err(e) => return Err(e.into()),
        };
        let mut events = vec![NewEvent {
            event: EventKind::TeamCreated,
            actor: actor.to_string(),
            team_id: Some(team_id),
            key_id: None,
            description: format!("team {name} created"),
            details: json!({
                "name": name,
                "admins": people.iter().filter(|p| p.1 == Role::Admin).map(|p| &p.0).collect::<Vec<_>>(),
                "members": people.iter().filter(|p| p.1 == Role::Member).map(|p| &p.0).collect::<Vec<_>>(),
            }),
        }];
        for (email, role) in &people {
            execute!(
                &mut c,
                "INSERT INTO team_members (team_id, email, role) VALUES ($1, $2, $3)",
                team_id,
                email,
                role.as_str()
            )?;
            events.push(member_event(actor, team_id, name, email, *role));
        }
        for e in &events {
            audit::append(&mut c, at, e).await?;
        }
        let summary = fetch!(&mut c, fetch_one, TeamSummary, team_summary!(" WHERE t.id = $1"), team_id)?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Every team with member and active-key counts, by name.
    pub async fn teams(&self) -> Result<Vec<TeamSummary>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        Ok(fetch!(&mut pooled.conn(), fetch_all, TeamSummary, team_summary!(" ORDER BY t.name"))?)
    }

    /// The id of team `name`.
    pub async fn team_id(&self, name: &str) -> Result<i64, StoreError> {
        let mut pooled = self.db.acquire().await?;
        team_id(&mut pooled.conn(), name).await
    }

    /// Members of team `name`: admins first, then by address.
    pub async fn team_members(&self, name: &str) -> Result<Vec<Member>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let id = team_id(&mut c, name).await?;
        let rows: Vec<(String, String)> = fetch!(
            &mut c,
            fetch_all,
            (String, String),
            "SELECT email, role FROM team_members WHERE team_id = $1 ORDER BY role, email",
            id
        )?;
        rows.into_iter().map(|(email, role)| Ok(Member { email, role: role.parse()? })).collect()
    }

    /// Adds `email` to team `name` with `role`, or changes the role of an existing
    /// member (refusing to demote the last admin). Audits `member.added`.
    pub async fn add_member(&self, name: &str, email: &str, role: Role, actor: &str) -> Result<(), StoreError> {
        let email = normalize_email(email)?;
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let id = team_id(&mut c, name).await?;
        let mut event = member_event(actor, id, name, &email, role);
        match member_role(&mut c, id, &email).await? {
            Some(current) if current == role => {
                return Err(StoreError::MemberExists { team: name.into(), email, role });
            }
            Some(current) => {
                if current == Role::Admin && admin_emails(&mut c, id).await?.len() == 1 {
                    return Err(StoreError::LastAdmin { team: name.into(), email });
                }
                execute!(
                    &mut c,
                    "UPDATE team_members SET role = $1 WHERE team_id = $2 AND email = $3",
                    role.as_str(),
                    id,
                    &email
                )?;
                event.description = format!("{email} of team {name} is now {role} (was {current})");
                event.details = json!({ "email": email, "role": role.as_str(), "previous_role": current.as_str() });
            }
            None => {
                execute!(
                    &mut c,
                    "INSERT INTO team_members (team_id, email, role) VALUES ($1, $2, $3)",
                    id,
                    &email,
                    role.as_str()
                )?;
            }
        }
        audit::append(&mut c, now_ms(), &event).await?;
        tx.commit().await
    }

    /// Removes `email` from team `name` (never the last admin). Audits `member.removed`.
    pub async fn remove_member(&self, name: &str, email: &str, actor: &str) -> Result<(), StoreError> {
        let email = normalize_email(email)?;
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let id = team_id(&mut c, name).await?;
        let role = member_role(&mut c, id, &email)
            .await?
            .ok_or_else(|| StoreError::MemberNotFound { team: name.into(), email: email.clone() })?;
        if role == Role::Admin && admin_emails(&mut c, id).await?.len() == 1 {
            return Err(StoreError::LastAdmin { team: name.into(), email });
        }
        execute!(&mut c, "DELETE FROM team_members WHERE team_id = $1 AND email = $2", id, &email)?;
        let event = NewEvent {
            event: EventKind::MemberRemoved,
            actor: actor.to_string(),
            team_id: Some(id),
            key_id: None,
            description: format!("{email} ({role}) removed from team {name}"),
            details: json!({ "email": email, "role": role.as_str() }),
        };
        audit::append(&mut c, now_ms(), &event).await?;
        tx.commit().await
    }
}
