//! Who may do what: the role each API token carries (`api.tokens_file`) and the
//! permissions the HTTP API and the console check before acting.
//!
//! One table ([`OperatorRole::allows`]) answers every check, so `/v1/*` and `/console/`
//! can never disagree about a role.

use std::fmt;
use std::str::FromStr;

/// The role of an API token. A token file line without a role (`name:token` or
/// `token`, the format before roles existed) is [`OperatorRole::Admin`], so that
/// existing token files keep the access they had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorRole {
    /// Everything: restore and delete keys, manage team members, run scans, read all.
    Admin,
    /// Read-only: leaks, keys, the audit log, scans.
    Auditor,
    /// Start and read scans only.
    Scanner,
}

/// One thing a caller may want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Overview, leaks, keys and their history.
    ReadLeaks,
    /// The audit log, its exports and the chain status.
    ReadAudit,
    /// Scan jobs and their findings.
    ReadScans,
    /// Start or cancel scans (`POST /v1/scan`, `POST /v1/scans`, the console form).
    RunScans,
    /// Restore or delete a key.
    ManageKeys,
    /// Add or remove team members.
    ManageTeams,
}

impl Permission {
    /// What the permission lets one do, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadLeaks => "read leaks and keys",
            Permission::ReadAudit => "read the audit log",
            Permission::ReadScans => "read scans",
            Permission::RunScans => "run scans",
            Permission::ManageKeys => "restore or delete keys",
            Permission::ManageTeams => "change team members",
        }
    }
}

impl OperatorRole {
    pub const ALL: [OperatorRole; 3] = [OperatorRole::Admin, OperatorRole::Auditor, OperatorRole::Scanner];

    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::Admin => "admin",
            OperatorRole::Auditor => "auditor",
            OperatorRole::Scanner => "scanner",
        }
    }

    /// True when this role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            OperatorRole::Admin => true,
            OperatorRole::Auditor => matches!(permission, ReadLeaks | ReadAudit | ReadScans),
            OperatorRole::Scanner => matches!(permission, ReadScans | RunScans),
        }
    }
}

impl fmt::Display for OperatorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for OperatorRole {
    type Err = String;

    fn from_str(s: &str) -> Result<OperatorRole, String> {
        OperatorRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (expected admin, auditor or scanner)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_readme_says() {
        use Permission::*;
        let all = [ReadLeaks, ReadAudit, ReadScans, RunScans, ManageKeys, ManageTeams];
        let granted = |role: OperatorRole| all.into_iter().filter(|p| role.allows(*p)).collect::<Vec<_>>();
        assert_eq!(granted(OperatorRole::Admin), all);
        assert_eq!(granted(OperatorRole::Auditor), [ReadLeaks, ReadAudit, ReadScans]);
        assert_eq!(granted(OperatorRole::Scanner), [ReadScans, RunScans]);
        assert_eq!("auditor".parse::<OperatorRole>(), Ok(OperatorRole::Auditor));
        assert!("root".parse::<OperatorRole>().is_err());
    }
}
