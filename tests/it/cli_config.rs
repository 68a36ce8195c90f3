//! `revokd check-config` and configuration errors.

use crate::testdb::{Backend, Revokd};

#[test]
fn check_config_prints_the_effective_config_redacted() {
    let r = Revokd::new(Backend::Sqlite);
    let config = r.dir().join("custom.toml");
    std::fs::write(
        &config,
        "[database]\nurl = \"postgres://revokd:hunter2@db.internal/revokd\"\n[retention]\ndays = 7\n[smtp]\nurl = \"smtps://mailer:pw@mail.example.com\"\n",
    )
    .unwrap();
    let mut cmd = r.command(&["check-config"]);
    cmd.arg("--config").arg(&config).env("REVOKD_SERVER_MAX_BODY_BYTES", "4096");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("postgres://revokd:***@db.internal/revokd"), "{stdout}");
    assert!(stdout.contains("smtps://mailer:***@mail.example.com"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains("days = 7"), "{stdout}");
    assert!(stdout.contains("max_body_bytes = 4096"), "{stdout}");
    assert!(stdout.contains("listen = \"127.0.0.1:8080\""), "{stdout}");
}

#[test]
fn config_errors_name_the_key() {
    let r = Revokd::new(Backend::Sqlite);
    let config = r.dir().join("bad.toml");
    std::fs::write(&config, "[server]\nlisten_addr = \"x\"\n").unwrap();
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(r.command(&["check-config"]).arg("--config").arg(&config));
    assert_eq!(code, Some(2));
    assert!(err.contains("listen_addr"), "{err}");

    let (code, err) = run(r.command(&["teams", "list"]).env("REVOKD_RETENTION_DAYS", "many"));
    assert_eq!(code, Some(2));
    assert!(err.contains("REVOKD_RETENTION_DAYS"), "{err}");
    let (code, err) = run(r.command(&["teams", "list"]).env("REVOKD_DATABASE_URI", "x"));
    assert_eq!(code, Some(2));
    assert!(err.contains("REVOKD_DATABASE_URI"), "{err}");
    let (code, err) = run(r.command(&["teams", "list"]).env("REVOKD_DATABASE_URL", "mysql://x"));
    assert_eq!(code, Some(2));
    assert!(err.contains("database.url"), "{err}");
    let (code, err) = run(r.command(&["check-config"]).arg("--config").arg(r.dir().join("missing.toml")));
    assert_eq!(code, Some(2));
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn env_overrides_the_database() {
    let r = Revokd::new(Backend::Sqlite);
    let other = r.dir().join("other.db");
    let mut cmd = r.command(&["teams", "add", "payments", "--admin", "a@example.com"]);
    cmd.env("REVOKD_DATABASE_URL", format!("sqlite://{}", other.display()));
    assert!(cmd.output().unwrap().status.success());
    assert!(other.exists(), "REVOKD_DATABASE_URL wins over the file");
    assert_eq!(r.run(&["teams", "list", "--format", "json"]).ok().trim(), "[]");
}
