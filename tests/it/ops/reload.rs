//! SIGHUP: a changed rule file takes effect without dropping a request; a broken one is
//! refused and the rules in effect stay.

use super::{PartialRequest, Served, Setup, write_rules};
use revokd::store::{AuditQuery, KeyStatus};

const RULE: &str = r#"[[rules]]
id = "opstest_key"
name = "Ops test key"
prefixes = ["opstest_"]
regex = '\bopstest_[0-9a-f]{40}\b'
revocable = true
examples = ["OPSTEST=opstest_8f14e45fceea167a5a36dedd4bea2543f2b1c3d4"]
negative_examples = ["opstest_0000"]
"#;

fn opstest_token(n: u8) -> String {
    format!("opstest_{}", revokd::secret::sha256_hex(&[n])[..40].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_new_rule_and_refuses_a_broken_file() {
    let mut served = Served::start(Setup::default()).await;
    let first = opstest_token(1);
    let first_id = served.add_key(&first, "opstest_key").await;

    // Before the reload the token is not a format we know: nothing is disabled.
    let (status, body) = served.post_alert(&[&first]).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["label"], "false_positive", "{body}");

    // A request in flight across the reload is answered normally.
    let second = opstest_token(2);
    let second_id = served.add_key(&second, "opstest_key").await;
    let (head, request_body) = served.partner_request(&[&second]);
    let mut in_flight = PartialRequest::send(served.addr, &head, &request_body, 10).await;

    write_rules(served.dir.path(), "opstest.toml", RULE);
    served.signal("HUP");
    served.wait_notice("RELOADING=1").await;
    let ready = served.wait_notice("READY=1").await;
    assert!(ready.contains("STATUS=reloaded"), "{ready}");

    let (status, body) = in_flight.finish().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["label"], "true_positive", "classified by the rules in effect when it was read: {body}");
    let (status, body) = served.post_alert(&[&first]).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["label"], "true_positive", "{body}");

    // A broken file: refused, the rule loaded before stays in effect.
    write_rules(served.dir.path(), "opstest.toml", "[[rules]\nid = \"broken\"\n");
    served.signal("HUP");
    served.wait_notice("RELOADING=1").await;
    let ready = served.wait_notice("READY=1").await;
    assert!(ready.contains("STATUS=reload refused"), "{ready}");
    let third = opstest_token(3);
    let third_id = served.add_key(&third, "opstest_key").await;
    let (_, body) = served.post_alert(&[&third]).await;
    assert_eq!(body[0]["label"], "true_positive", "the previous rules stay: {body}");
    assert!(served.stderr().contains("reload refused"), "the refusal is logged");

    served.signal("TERM");
    assert_eq!(served.wait_exit().code(), Some(0));
    let store = served.store().await;
    for id in [first_id, second_id, third_id] {
        assert_eq!(store.key(id).await.unwrap().status, KeyStatus::Disabled);
    }
    let reloads = store
        .audit_events(&AuditQuery { event: Some("config.reloaded".into()), ..AuditQuery::default() })
        .await
        .unwrap();
    assert_eq!(reloads.len(), 1, "one successful reload is audited: {reloads:?}");
    assert_eq!(reloads[0].actor, "system");
    store.close().await;
}

/// SIGHUP re-reads the scan API's token file: a revoked token gets 401 from then on, a
/// new one works; a broken file is refused and the tokens in effect stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_api_token_file() {
    const OLD: &str = "0123456789abcdef-old";
    const NEW: &str = "0123456789abcdef-new";
    let setup = Setup {
        extra_config: "[api]\ntokens_file = \"api.tokens\"\n".into(),
        files: vec![("api.tokens".into(), format!("secops:{OLD}\n"))],
        ..Setup::default()
    };
    let mut served = Served::start(setup).await;
    let client = reqwest::Client::new();
    let url = served.url("/v1/scan");
    let scan = |token: &'static str| client.post(&url).bearer_auth(token).body("nothing to see here").send();
    assert_eq!(scan(OLD).await.unwrap().status(), 200);
    assert_eq!(scan(NEW).await.unwrap().status(), 401);

    std::fs::write(served.dir.path().join("api.tokens"), format!("secops:{NEW}\n")).unwrap();
    served.signal("HUP");
    let ready = served.wait_notice("READY=1").await;
    assert!(ready.contains("STATUS=reloaded"), "{ready}");
    assert_eq!(scan(OLD).await.unwrap().status(), 401, "the removed token no longer works");
    assert_eq!(scan(NEW).await.unwrap().status(), 200);

    std::fs::write(served.dir.path().join("api.tokens"), "too-short\n").unwrap();
    served.signal("HUP");
    let ready = served.wait_notice("READY=1").await;
    assert!(ready.contains("STATUS=reload refused"), "{ready}");
    assert!(!served.stderr().contains("too-short"), "a token never appears in logs");
    assert_eq!(scan(NEW).await.unwrap().status(), 200, "the tokens in effect stay");

    served.signal("TERM");
    assert_eq!(served.wait_exit().code(), Some(0));
}
