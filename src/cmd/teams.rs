//! `revokd teams …`.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::{actor, block_on, open_store};
use crate::cli::{ListFormat, RoleArg, TeamsCommand};
use revokd::config::Config;
use revokd::store::{Role, format_ms};

pub fn teams(config_path: Option<&Path>, command: TeamsCommand) -> Result<u8> {
    let config = Config::load(config_path)?;
    block_on(async {
        let store = open_store(&config).await?;
        let mut out = io::stdout().lock();
        match command {
            TeamsCommand::Add { name, admins, members } => {
                let team = store.create_team(&name, &admins, &members, &actor()).await?;
                writeln!(
                    out,
                    "created team {} (id {}) with {} admin(s) and {} member(s)",
                    team.name, team.id, team.admins, team.members
                )?;
            }
            TeamsCommand::List { format } => {
                let teams = store.teams().await?;
                match format {
                    ListFormat::Json => {
                        let list: Vec<_> = teams
                            .iter()
                            .map(|t| {
                                json!({
                                    "id": t.id, "name": t.name, "created_at": format_ms(t.created_at),
                                    "admins": t.admins, "members": t.members, "active_keys": t.active_keys,
                                })
                            })
                            .collect();
                        serde_json::to_writer_pretty(&mut out, &list)?;
                        writeln!(out)?;
                    }
                    ListFormat::Human => {
                        writeln!(
                            out,
                            "{:<24} {:>6} {:>7} {:>11}  CREATED",
                            "TEAM", "ADMINS", "MEMBERS", "ACTIVE KEYS"
                        )?;
                        for t in &teams {
                            writeln!(
                                out,
                                "{:<24} {:>6} {:>7} {:>11}  {}",
                                t.name,
                                t.admins,
                                t.members,
                                t.active_keys,
                                format_ms(t.created_at)
                            )?;
                        }
                    }
                }
            }
            TeamsCommand::Members { name, format } => {
                let members = store.team_members(&name).await?;
                match format {
                    ListFormat::Json => {
                        let list: Vec<_> =
                            members.iter().map(|m| json!({ "email": m.email, "role": m.role.as_str() })).collect();
                        serde_json::to_writer_pretty(&mut out, &list)?;
                        writeln!(out)?;
                    }
                    ListFormat::Human => {
                        for m in &members {
                            writeln!(out, "{:<7} {}", m.role, m.email)?;
                        }
                    }
                }
            }
            TeamsCommand::AddMember { name, email, role } => {
                let role = match role {
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Member => Role::Member,
                };
                store.add_member(&name, &email, role, &actor()).await?;
                writeln!(out, "{email} is now {role} of team {name}")?;
            }
            TeamsCommand::RemoveMember { name, email } => {
                store.remove_member(&name, &email, &actor()).await?;
                writeln!(out, "removed {email} from team {name}")?;
            }
        }
        out.flush()?;
        store.close().await;
        Ok(0)
    })
}
