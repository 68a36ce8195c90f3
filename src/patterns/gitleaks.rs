//! `revokd patterns import-gitleaks`: converts a gitleaks configuration into our rules.
//!
//! What converts: `id` (to snake_case), `description` (→ `name`), `regex`, `secretGroup`
//! (that group becomes the `secret` group), `entropy` (→ `min_entropy`), `keywords`, and
//! allowlist `stopwords` (the rule's own, and those of global allowlists that target it).
//! A rule without keywords gets the literal prefixes its regex must
//! start with, when there are such literals of at least 3 bytes. What does not convert,
//! and is reported per rule: path-only rules, rules with neither keywords nor a literal
//! prefix (our engine never runs a regex over a whole input), regexes our regex engine
//! rejects, and allowlist regexes, paths and commits (dropped, with a note).

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use serde::{Deserialize, Serialize};

use super::{MIN_LITERAL_LEN, RuleDef, RuleSet};

/// A gitleaks configuration (only the fields we read).
#[derive(Debug, Deserialize)]
struct GitleaksConfig {
    #[serde(default)]
    rules: Vec<GitleaksRule>,
    /// Global allowlists (gitleaks before 8.21: one table; later: several, each for every
    /// rule or for its `targetRules`).
    #[serde(default)]
    allowlist: Option<GitleaksAllowlist>,
    #[serde(default)]
    allowlists: Vec<GitleaksAllowlist>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GitleaksRule {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    /// gitleaks 8.x before 8.21: one allowlist table.
    #[serde(default)]
    allowlist: Option<GitleaksAllowlist>,
    /// gitleaks 8.21 and later: several.
    #[serde(default)]
    allowlists: Vec<GitleaksAllowlist>,
}

#[derive(Debug, Default, Deserialize)]
struct GitleaksAllowlist {
    /// Only in global allowlists: the rule ids it applies to (empty: every rule).
    #[serde(default, rename = "targetRules")]
    target_rules: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    commits: Vec<String>,
}

/// The result of an import: rules that converted (with notes on what was dropped), and
/// rules that did not (with why).
#[derive(Debug, Default)]
pub struct Import {
    pub rules: Vec<RuleDef>,
    pub notes: Vec<String>,
    pub skipped: Vec<(String, String)>,
}

#[derive(Serialize)]
struct RuleFileOut<'a> {
    rules: &'a [RuleDef],
}

impl Import {
    /// The converted rules as one pattern file.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&RuleFileOut { rules: &self.rules })
    }
}

/// Why a gitleaks file could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("not a gitleaks configuration: {0}")]
pub struct ImportError(String);

/// Converts the gitleaks configuration `text`. Every converted rule has been compiled by
/// our loader, so the output loads as it is.
pub fn import(text: &str) -> Result<Import, ImportError> {
    let config: GitleaksConfig =
        toml::from_str(text).map_err(|e| ImportError(crate::toml_error::describe(&e, text)))?;
    let mut out = Import::default();
    let global: Vec<GitleaksAllowlist> = config.allowlist.into_iter().chain(config.allowlists).collect();
    let dropped: usize = global.iter().map(|l| l.regexes.len() + l.paths.len() + l.commits.len()).sum();
    if dropped > 0 {
        out.notes.push(format!(
            "global allowlist: {dropped} regex/path/commit entries dropped (use --baseline instead); its stopwords apply to every rule they target"
        ));
    }
    for mut rule in config.rules {
        // A global allowlist's stopwords become the targeted rules' own.
        for list in global.iter().filter(|l| l.target_rules.is_empty() || l.target_rules.contains(&rule.id)) {
            rule.allowlists
                .push(GitleaksAllowlist { stopwords: list.stopwords.clone(), ..GitleaksAllowlist::default() });
        }
        let id = rule.id.clone();
        match convert(rule, &mut out.notes) {
            // gitleaks ids that differ only in punctuation or case become one of ours.
            Ok(def) if out.rules.iter().any(|r| r.id == def.id) => {
                out.skipped.push((id, format!("duplicate rule id {} after conversion to snake_case", def.id)));
            }
            Ok(def) => match RuleSet::from_sources(vec![("import".into(), single_rule_toml(&def))]) {
                Ok(_) => out.rules.push(def),
                Err(e) => out.skipped.push((id, e.to_string())),
            },
            Err(reason) => out.skipped.push((id, reason)),
        }
    }
    Ok(out)
}

fn single_rule_toml(def: &RuleDef) -> String {
    toml::to_string(&RuleFileOut { rules: std::slice::from_ref(def) }).unwrap_or_default()
}

fn convert(rule: GitleaksRule, notes: &mut Vec<String>) -> Result<RuleDef, String> {
    let id = snake_case(&rule.id);
    let Some(regex) = rule.regex else {
        return Err(if rule.path.is_some() {
            "path-only rule: revokd rules match content".to_string()
        } else {
            "no regex".to_string()
        });
    };
    let regex = match rule.secret_group {
        Some(0) | None => name_first_group(&regex).unwrap_or(regex),
        Some(n) => {
            name_group(&regex, n).ok_or_else(|| format!("secretGroup {n} is not a capture group of the regex"))?
        }
    };
    let mut stopwords = Vec::new();
    for list in rule.allowlist.into_iter().chain(rule.allowlists) {
        stopwords.extend(list.stopwords);
        let dropped = list.regexes.len() + list.paths.len() + list.commits.len();
        if dropped > 0 {
            notes.push(format!("{id}: {dropped} allowlist regex/path/commit entries dropped (use --baseline instead)"));
        }
    }
    let keywords: Vec<String> = rule.keywords.into_iter().filter(|k| k.len() >= MIN_LITERAL_LEN).collect();
    let prefixes = if keywords.is_empty() { literal_prefixes(&regex)? } else { Vec::new() };
    Ok(RuleDef {
        name: rule.description.unwrap_or_else(|| rule.id.clone()),
        id,
        prefixes,
        keywords,
        regex,
        checksum: None,
        min_entropy: rule.entropy,
        max_len: None,
        confidence: None,
        stopwords,
        examples: Vec::new(),
        negative_examples: Vec::new(),
        revocable: false,
    })
}

/// `aws-access-token` → `aws_access_token`.
fn snake_case(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// The literals every match must start with, if all are at least 3 bytes long.
fn literal_prefixes(regex: &str) -> Result<Vec<String>, String> {
    let hir = super::parse_regex(regex).map_err(|e| format!("regex does not parse: {e}"))?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let literals = seq.literals().ok_or("no keywords, and matches do not start with a fixed literal")?;
    let mut prefixes = Vec::new();
    for literal in literals {
        let text = String::from_utf8(literal.as_bytes().to_vec()).map_err(|_| "literal prefix is not UTF-8")?;
        if text.len() < MIN_LITERAL_LEN {
            return Err(format!("no keywords, and the literal prefix {text:?} is too short to search for"));
        }
        prefixes.push(text);
    }
    prefixes.sort();
    prefixes.dedup();
    if prefixes.is_empty() {
        return Err("no keywords and no literal prefix".into());
    }
    Ok(prefixes)
}

/// Names the first capture group `secret`, if the regex has one.
fn name_first_group(regex: &str) -> Option<String> {
    name_group(regex, 1)
}

/// Names capture group `n` (1-based, counted by opening parenthesis) `secret`.
fn name_group(regex: &str, n: usize) -> Option<String> {
    let bytes = regex.as_bytes();
    let mut count = 0;
    let mut in_class = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'(' if !in_class => {
                let rest = &regex[i + 1..];
                let named = rest.starts_with("?P<")
                    || (rest.starts_with("?<") && !rest.starts_with("?<=") && !rest.starts_with("?<!"));
                if !rest.starts_with('?') || named {
                    count += 1;
                    if count == n {
                        let body = if named { &rest[rest.find('>')? + 1..] } else { rest };
                        return Some(format!("{}(?P<secret>{body}", &regex[..i]));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_requested_group() {
        assert_eq!(name_group(r"(?i)(a)(b)", 2).as_deref(), Some(r"(?i)(a)(?P<secret>b)"));
        assert_eq!(name_group(r"[(](x)", 1).as_deref(), Some(r"[(](?P<secret>x)"));
        assert_eq!(name_group(r"\((x)", 1).as_deref(), Some(r"\((?P<secret>x)"));
        assert_eq!(name_group(r"(?:a)(?P<k>b)", 1).as_deref(), Some(r"(?:a)(?P<secret>b)"));
        assert_eq!(name_group(r"abc", 1), None);
    }

    #[test]
    fn global_allowlist_stopwords_reach_their_target_rules() {
        let config = r#"
[allowlist]
stopwords = ["example"]
paths = ['''vendor/''']

[[allowlists]]
targetRules = ["second-rule"]
stopwords = ["dummy"]
regexes = ['''x{4}''']

[[rules]]
id = "first-rule"
regex = '''fk_[a-z0-9]{16}'''

[[rules]]
id = "second-rule"
regex = '''sk2_[a-z0-9]{16}'''
"#;
        let out = import(config).unwrap();
        let stopwords: Vec<(&str, &[String])> =
            out.rules.iter().map(|r| (r.id.as_str(), r.stopwords.as_slice())).collect();
        assert_eq!(
            stopwords,
            [
                ("first_rule", &["example".to_owned()][..]),
                ("second_rule", &["example".to_owned(), "dummy".to_owned()][..])
            ]
        );
        assert!(out.notes.iter().any(|n| n.starts_with("global allowlist: 2 ")), "{:?}", out.notes);
    }

    #[test]
    fn snake_cases_ids() {
        assert_eq!(snake_case("AWS-access.token"), "aws_access_token");
    }
}
