//! SARIF 2.1.0 output, shaped for GitHub code scanning: one `rule` per rule id, one
//! `result` per finding with a stable `partialFingerprints` entry, columns counted in
//! Unicode code points.

use std::collections::BTreeMap;

use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation, PropertyBag, Region,
    ReportingDescriptor, Result as SarifResult, ResultLevel, Run, SCHEMA_URL, Sarif, Tool, ToolComponent, Version,
};

use crate::patterns::RuleSet;
use crate::scan::finding::Finding;

/// The `partialFingerprints` key GitHub uses to follow a result across runs.
const FINGERPRINT_KEY: &str = "revokdFingerprint/v1";

/// The SARIF log for `findings`. Rules that found nothing are listed too, so that the
/// run documents what was checked.
pub fn log(findings: &[Finding], rules: &RuleSet, show_secrets: bool) -> Sarif {
    let descriptors: Vec<ReportingDescriptor> = rules
        .rules()
        .iter()
        .map(|rule| {
            let mut props = BTreeMap::new();
            props.insert("confidence".to_string(), serde_json::json!(rule.confidence));
            props.insert("revocable".to_string(), serde_json::json!(rule.revocable));
            ReportingDescriptor::builder()
                .id(rule.id.clone())
                .name(rule.name.clone())
                .short_description(MultiformatMessageString::builder().text(format!("{} found", rule.name)).build())
                .full_description(
                    MultiformatMessageString::builder()
                        .text(format!("A {} ({}) appears in the scanned content.", rule.name, rule.id))
                        .build(),
                )
                .help(help(&rule.name))
                .properties(
                    PropertyBag::builder()
                        .tags(vec!["security".to_string(), "secret".to_string()])
                        .additional_properties(props)
                        .build(),
                )
                .build()
        })
        .collect();
    let results: Vec<SarifResult> = findings
        .iter()
        .map(|f| {
            let index = rules.rules().iter().position(|r| r.id == f.rule).map(|i| i as i64);
            let shown = if show_secrets { f.secret.expose() } else { f.redacted.as_str() };
            let introduced = match &f.provenance {
                Some(p) => format!(" introduced in commit {} by {} on {}", p.commit, p.author, p.date),
                None => String::new(),
            };
            let region = Region::builder()
                .start_line(f.line as i64)
                .start_column(f.column as i64)
                .end_line(f.end_line as i64)
                .end_column(f.end_column as i64)
                .build();
            let location = Location::builder()
                .physical_location(
                    PhysicalLocation::builder()
                        .artifact_location(ArtifactLocation::builder().uri(uri(&f.path)).build())
                        .region(region)
                        .build(),
                )
                .build();
            let mut result = SarifResult::builder()
                .rule_id(f.rule.clone())
                .level(ResultLevel::Error)
                .message(
                    Message::builder()
                        .text(format!("{} {shown} (sha256 {}){introduced}", f.rule, f.secret_sha256))
                        .build(),
                )
                .locations(vec![location])
                .partial_fingerprints(BTreeMap::from([(FINGERPRINT_KEY.to_string(), f.fingerprint.clone())]))
                .build();
            result.rule_index = index;
            if let Some(p) = &f.provenance {
                let props = BTreeMap::from([
                    ("commit".to_string(), serde_json::json!(p.commit)),
                    ("author".to_string(), serde_json::json!(p.author)),
                    ("date".to_string(), serde_json::json!(p.date)),
                ]);
                result.properties = Some(PropertyBag::builder().additional_properties(props).build());
            }
            result
        })
        .collect();
    let driver = ToolComponent::builder()
        .name("revokd")
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .information_uri("https://github.com/revokd/revokd")
        .rules(descriptors)
        .build();
    let mut run = Run::builder().tool(Tool::builder().driver(driver).build()).results(results).build();
    run.column_kind = Some(serde_json::json!("unicodeCodePoints"));
    Sarif::builder().schema(SCHEMA_URL).version(serde_json::json!(Version::V2_1_0.to_string())).runs(vec![run]).build()
}

/// What to do about a finding, for code-scanning UIs.
fn help(name: &str) -> MultiformatMessageString {
    let text = format!(
        "A {name} in source control must be treated as compromised. Revoke or rotate it at its issuer, \
         replace it in every deployment, then remove it from the code. If it is a test value, mark the \
         line with `revokd:allow` or add the finding to a baseline (`revokd scan --write-baseline`)."
    );
    MultiformatMessageString::builder().markdown(text.clone()).text(text).build()
}

/// A relative URI for a path (`/` separators, percent-encoding of what a URI forbids).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(byte as char),
            b'\\' => out.push('/'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("src/a b/ü.py"), "src/a%20b/%C3%BC.py");
    }
}
