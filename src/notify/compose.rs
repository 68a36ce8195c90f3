//! What an email says and to whom: the recipients of a team's notices and the
//! templates (minijinja, plain text plus HTML, embedded in the binary) that render them.
//! Pure: no I/O.

use minijinja::value::Serde;
use minijinja::{Environment, context};
use serde::Serialize;

use crate::store::{ComposedMail, Notice, NoticeBatch, NoticeKind, format_ms};

/// Who receives a batch, and why them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// The team's admins (the owners): the normal case.
    Admins(Vec<String>),
    /// The team has no admin: every member.
    Members(Vec<String>),
    /// Nobody in the team: `notify.fallback` (audited `notify.fallback`).
    Fallback(String),
    /// Nobody in the team and no fallback configured (audited `notify.dead`).
    Nobody,
}

impl Recipients {
    /// Admins, else members, else `fallback`.
    pub fn of(batch: &NoticeBatch, fallback: Option<&str>) -> Recipients {
        if !batch.admins.is_empty() {
            Recipients::Admins(batch.admins.clone())
        } else if !batch.members.is_empty() {
            Recipients::Members(batch.members.clone())
        } else if let Some(fallback) = fallback {
            Recipients::Fallback(fallback.to_owned())
        } else {
            Recipients::Nobody
        }
    }

    pub fn addresses(&self) -> Vec<String> {
        match self {
            Recipients::Admins(a) | Recipients::Members(a) => a.clone(),
            Recipients::Fallback(a) => vec![a.clone()],
            Recipients::Nobody => Vec::new(),
        }
    }
}

/// The compiled templates. Built once per worker; rendering costs microseconds.
pub struct Templates {
    env: Environment<'static>,
}

/// Why a template did not render (a bug in a shipped template: tests render them all).
#[derive(Debug, thiserror::Error)]
#[error("email template {name}: {source}")]
pub struct TemplateError {
    name: &'static str,
    #[source]
    source: minijinja::Error,
}

const TEMPLATES: [(&str, &str); 6] = [
    ("leak_subject.txt", include_str!("templates/leak_subject.txt")),
    ("leak.txt", include_str!("templates/leak.txt")),
    ("leak.html", include_str!("templates/leak.html")),
    ("key_change_subject.txt", include_str!("templates/key_change_subject.txt")),
    ("key_change.txt", include_str!("templates/key_change.txt")),
    ("key_change.html", include_str!("templates/key_change.html")),
];

/// One key of a leak email (what the templates see).
#[derive(Debug, Serialize)]
struct LeakedKeyView {
    id: i64,
    redacted: String,
    key_type: String,
    found_in: &'static str,
    url: String,
    /// Whether `url` is an http(s) link (the HTML part links it).
    link: bool,
    source: String,
    reporter: String,
    disabled_at: String,
}

/// The key of a restore/delete email.
#[derive(Debug, Serialize)]
struct ChangedKeyView {
    id: i64,
    redacted: String,
    key_type: String,
    actor: String,
    reason: String,
    at: String,
}

impl Templates {
    /// Parses the embedded templates; `.html` templates escape every value.
    pub fn new() -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|source| TemplateError { name: "(syntax)", source })?;
        env.set_syntax(syntax);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|source| TemplateError { name, source })?;
        }
        Ok(Templates { env })
    }

    /// Subject, plain text and HTML of the email for `batch`.
    pub fn render(&self, batch: &NoticeBatch) -> Result<ComposedMail, TemplateError> {
        match batch.kind {
            NoticeKind::Leak => {
                let keys: Vec<LeakedKeyView> = batch.notices.iter().map(leaked_key).collect();
                let ctx = context! { team => batch.team.as_str(), keys => Serde(keys) };
                self.render_all("leak", ctx)
            }
            NoticeKind::KeyRestored | NoticeKind::KeyDeleted => {
                let change = if batch.kind == NoticeKind::KeyRestored { "restored" } else { "deleted" };
                let ctx = context! { team => batch.team.as_str(), change => change, key => Serde(changed_key(&batch.notices[0])) };
                self.render_all("key_change", ctx)
            }
        }
    }

    fn render_all(&self, stem: &'static str, ctx: minijinja::Value) -> Result<ComposedMail, TemplateError> {
        let render = |name: &'static str| {
            self.env.get_template(name).and_then(|t| t.render(&ctx)).map_err(|source| TemplateError { name, source })
        };
        let (subject, text, html) = match stem {
            "leak" => (render("leak_subject.txt")?, render("leak.txt")?, render("leak.html")?),
            _ => (render("key_change_subject.txt")?, render("key_change.txt")?, render("key_change.html")?),
        };
        // A subject is one line whatever the data holds (no header injection).
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(ComposedMail { subject, text: text + "\n", html: html + "\n" })
    }
}

fn text(details: &serde_json::Value, field: &str) -> String {
    details.get(field).and_then(|v| v.as_str()).unwrap_or("").to_owned()
}

fn time(details: &serde_json::Value, field: &str) -> String {
    details.get(field).and_then(|v| v.as_i64()).map(email_time).unwrap_or_else(|| "(unknown)".into())
}

/// `2026-11-29 04:06:00 UTC`.
pub fn email_time(ms: i64) -> String {
    let text = format_ms(ms);
    match (text.get(..10), text.get(11..19)) {
        (Some(day), Some(clock)) if text.ends_with('Z') => format!("{day} {clock} UTC"),
        _ => text,
    }
}

fn leaked_key(notice: &Notice) -> LeakedKeyView {
    let details = notice.details_json();
    let source = text(&details, "source");
    let url = text(&details, "url");
    LeakedKeyView {
        id: notice.key_id.unwrap_or_default(),
        redacted: text(&details, "redacted"),
        key_type: text(&details, "key_type"),
        found_in: found_in(&source),
        link: url.starts_with("https://") || url.starts_with("http://"),
        url: if url.is_empty() { "(no URL given)".into() } else { url },
        source: describe_source(&source),
        reporter: text(&details, "reporter"),
        disabled_at: time(&details, "disabled_at"),
    }
}

fn changed_key(notice: &Notice) -> ChangedKeyView {
    let details = notice.details_json();
    ChangedKeyView {
        id: notice.key_id.unwrap_or_default(),
        redacted: text(&details, "redacted"),
        key_type: text(&details, "key_type"),
        actor: text(&details, "actor"),
        reason: text(&details, "reason"),
        at: time(&details, "at"),
    }
}

/// The subject's "found …" phrase for a leak's source (`door` or `door:location`).
fn found_in(source: &str) -> &'static str {
    match source.split(':').next().unwrap_or("") {
        "github_partner" | "github_webhook" => "found in a public GitHub repository",
        "scan" => "found by a revokd scan",
        "api" => "found by a revokd API scan",
        _ => "reported as leaked",
    }
}

/// A leak's source in words: `github_partner:content` → `GitHub secret scanning (content)`.
fn describe_source(source: &str) -> String {
    let (door, location) = source.split_once(':').unwrap_or((source, ""));
    let door = match door {
        "github_partner" => "GitHub secret scanning partner alert",
        "github_webhook" => "GitHub secret scanning alert (repository webhook)",
        "scan" => "revokd scan",
        "api" => "revokd API scan",
        other => other,
    };
    if location.is_empty() { door.to_owned() } else { format!("{door} ({location})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(id: i64, kind: NoticeKind, details: serde_json::Value) -> Notice {
        Notice {
            id,
            kind,
            team_id: 1,
            team: "acme".into(),
            key_id: Some(id),
            details: details.to_string(),
            dedupe_key: format!("n{id}"),
            created_at: 0,
            batched_at: None,
        }
    }

    fn batch(kind: NoticeKind, notices: Vec<Notice>) -> NoticeBatch {
        NoticeBatch { team_id: 1, team: "acme".into(), kind, notices, admins: vec!["a@x.io".into()], members: vec![] }
    }

    fn leak(id: i64, url: &str) -> Notice {
        notice(
            id,
            NoticeKind::Leak,
            serde_json::json!({"redacted": "xai-AbC…9x", "key_type": "xai_api_key", "url": url,
                "source": "github_partner:content", "reporter": "github", "disabled_at": 1_764_388_800_123_i64}),
        )
    }

    #[test]
    fn one_leak_has_the_issue_subject_and_every_fact() {
        let t = Templates::new().unwrap();
        let mail = t.render(&batch(NoticeKind::Leak, vec![leak(7, "https://github.com/o/r/blob/main/.env")])).unwrap();
        assert_eq!(mail.subject, "[revokd] API key xai-AbC…9x disabled: found in a public GitHub repository");
        // minijinja escapes '/' in HTML as &#x2f; (valid HTML; browsers show '/').
        let html = mail.html.replace("&#x2f;", "/");
        for part in [&mail.text, &html] {
            for fact in [
                "acme",
                "xai-AbC…9x",
                "xai_api_key",
                "https://github.com/o/r/blob/main/.env",
                "2025-11-29 04:00:00 UTC",
                "revokd keys issue --team acme",
                "revokd keys restore 7",
                "revokd audit",
            ] {
                assert!(part.contains(fact), "{fact:?} missing from:\n{part}");
            }
        }
        assert!(html.contains("<a href=\"https://github.com/o/r/blob/main/.env\">"), "{html}");
    }

    #[test]
    fn several_leaks_are_one_email_listing_them_all() {
        let t = Templates::new().unwrap();
        let notices = (1..=3).map(|i| leak(i, &format!("https://github.com/o/r/{i}"))).collect();
        let mail = t.render(&batch(NoticeKind::Leak, notices)).unwrap();
        assert_eq!(mail.subject, "[revokd] 3 API keys of team acme disabled: found in public");
        for i in 1..=3 {
            assert!(mail.text.contains(&format!("Key {i}: xai-AbC…9x")), "{}", mail.text);
            assert!(mail.html.replace("&#x2f;", "/").contains(&format!("https://github.com/o/r/{i}")));
        }
    }

    #[test]
    fn html_escapes_and_subject_stays_one_line() {
        let t = Templates::new().unwrap();
        let mail =
            t.render(&batch(NoticeKind::Leak, vec![leak(1, "https://x.io/<script>\r\nBcc: evil@x.io")])).unwrap();
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(!mail.subject.contains('\n'));
        let change = notice(
            2,
            NoticeKind::KeyRestored,
            serde_json::json!({"redacted": "xai-Q…z", "key_type": "xai_api_key", "actor": "cli:alice",
                "reason": "false alarm\nSubject: x", "at": 0}),
        );
        let mail = t.render(&batch(NoticeKind::KeyRestored, vec![change])).unwrap();
        assert_eq!(mail.subject, "[revokd] API key xai-Q…z of team acme restored");
        assert!(mail.text.contains("restored") && mail.text.contains("cli:alice"), "{}", mail.text);
    }

    #[test]
    fn recipients_fall_back_from_admins_to_members_to_the_fallback() {
        let mut b = batch(NoticeKind::Leak, vec![leak(1, "")]);
        assert_eq!(Recipients::of(&b, Some("sec@x.io")), Recipients::Admins(vec!["a@x.io".into()]));
        b.admins.clear();
        b.members = vec!["m@x.io".into()];
        assert_eq!(Recipients::of(&b, Some("sec@x.io")), Recipients::Members(vec!["m@x.io".into()]));
        b.members.clear();
        assert_eq!(Recipients::of(&b, Some("sec@x.io")), Recipients::Fallback("sec@x.io".into()));
        assert_eq!(Recipients::of(&b, None), Recipients::Nobody);
    }
}
