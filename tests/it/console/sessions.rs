//! Sign-in, the session cookie, sign-out, the sign-in rate limit and audit.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use revokd::store::{AuditQuery, ChainStatus};

use super::{ADMIN, AUDITOR, Console, csrf_of};
use crate::serve::Backend;

async fn sign_in_sets_a_strict_session_and_audits(backend: Backend) {
    let c = Console::start(backend).await;
    let mut client = c.anonymous();
    // No session: every page sends the browser to the sign-in form.
    for path in ["/console/", "/console/leaks", "/console/audit", "/console/keys/1"] {
        let response = client.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[LOCATION], "/console/sign-in");
    }
    let form = client.get("/console/sign-in").await;
    assert_eq!(form.status(), StatusCode::OK);
    let set = form.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("revokd_signin=") && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    let html = form.text().await.unwrap();
    assert!(html.contains(r#"<label for="token">API token</label>"#), "{html}");

    // Unknown token: 401, the form again, audited without the token.
    let bad = "wrong-0123456789abcdef";
    let response = client.post("/console/sign-in", &[("csrf", &csrf_of(&html)), ("token", bad)]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("not one of api.tokens_file"));
    let failed =
        c.h.store
            .audit_events(&AuditQuery { event: Some("console.sign_in_failed".into()), ..AuditQuery::default() })
            .await
            .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].description.contains("127.0.0.1") && !failed[0].description.contains(bad));
    assert!(!failed[0].details.contains(bad));

    // Without the form's CSRF token (or with another one): 403, no session.
    let mut other = c.anonymous();
    let response = other.post("/console/sign-in", &[("csrf", "x"), ("token", ADMIN)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(other.cookie("revokd_session").is_none());

    // A good token: 303 to the overview with an HttpOnly, SameSite=Strict cookie.
    let response = client.sign_in(ADMIN).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<String> =
        response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session = cookies.iter().find(|c| c.starts_with("revokd_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP: no Secure attribute");
    assert!(!session.contains(ADMIN), "the cookie never holds the token");
    let html = client.page("/console/").await;
    assert!(html.contains("Signed in as <strong>boss</strong>"), "{html}");
    let signed_in =
        c.h.store.audit_events(&AuditQuery { actor: Some("console:boss".into()), ..AuditQuery::default() }).await;
    assert_eq!(signed_in.unwrap()[0].event, "console.sign_in");

    // Behind a TLS proxy the cookies get Secure.
    let proxied = reqwest::Client::new()
        .get(format!("{}/console/sign-in", c.h.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(proxied.headers()[SET_COOKIE].to_str().unwrap().ends_with("; Secure"));

    // A forged or altered cookie is no session.
    let good = client.cookie("revokd_session").unwrap().to_owned();
    let mut forged = c.anonymous();
    let last = if good.ends_with('A') { 'B' } else { 'A' };
    let flipped = format!("{}{last}", &good[..good.len() - 1]);
    for value in [flipped.as_str(), "v1.Ym9zc3wxfDJ8Mw.AAAA", "garbage"] {
        forged.set_cookie("revokd_session", value);
        assert_eq!(forged.get("/console/").await.status(), StatusCode::SEE_OTHER, "{value}");
    }

    // Sign-out needs the CSRF token, then ends the session even for a copy of the cookie.
    assert_eq!(client.post("/console/sign-out", &[("csrf", "nope")]).await.status(), StatusCode::FORBIDDEN);
    let response = client.post_with_csrf("/console/sign-out", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/sign-in?signed_out=1");
    assert!(client.cookie("revokd_session").is_none(), "the cookie is deleted");
    forged.set_cookie("revokd_session", &good);
    assert_eq!(forged.get("/console/").await.status(), StatusCode::SEE_OTHER, "a signed-out session is dead");
    assert!(client.page("/console/sign-in?signed_out=1").await.contains("You are signed out."));
    assert!(matches!(c.h.store.verify_audit().await.unwrap(), ChainStatus::Intact { .. }));
    c.h.finish().await;
}
crate::both_backends!(sign_in_sets_a_strict_session_and_audits);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_rate_limited_per_client() {
    let c = Console::start_with(Backend::Sqlite, 3).await;
    let mut client = c.anonymous();
    for _ in 0..3 {
        assert_eq!(client.sign_in("wrong-0123456789abcdef").await.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = client.sign_in(AUDITOR).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "even a good token waits");
    assert!(limited.text().await.unwrap().contains("too many sign-in attempts"));
    let failed =
        c.h.store
            .audit_events(&AuditQuery { event: Some("console.sign_in_failed".into()), ..AuditQuery::default() })
            .await
            .unwrap();
    assert_eq!(failed.len(), 3, "refused attempts beyond the limit are not audited");
    c.h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_off_without_a_token_file() {
    let h = crate::serve::Harness::start(Backend::Sqlite).await;
    let response = h.get("/console/").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("set api.tokens_file"));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stylesheet_is_served_and_unknown_pages_are_404() {
    let c = Console::start(Backend::Sqlite).await;
    let mut client = c.anonymous();
    let css = client.get("/console/assets/console.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains("@media (max-width: 640px)"));
    let mut admin = c.signed_in(ADMIN).await;
    assert_eq!(admin.get("/console/nowhere").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get("/console/keys/999").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get("/console/keys/abc").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(admin.get("/console/scans/none").await.status(), StatusCode::NOT_FOUND);
    c.h.finish().await;
}
