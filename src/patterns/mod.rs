//! Rule files (`patterns/*.toml`) → a validated, compiled [`RuleSet`].
//!
//! A rule names the literals the prefilter looks for (`prefixes`, matched where the
//! secret starts, case-sensitively; or `keywords`, matched case-insensitively somewhere
//! near the secret), a confirmation regex, and optional checksum and entropy checks.
//! Everything is validated when loaded: a broken rule is a [`PatternError`] naming the
//! file, the rule and the reason, never a panic. Examples are checked against the real
//! engine by [`crate::scan::Scanner::example_failures`].

pub mod checksum;
pub mod entropy;
pub mod gitleaks;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex_automata::meta;
use regex_syntax::hir::{Hir, HirKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use checksum::Checksum;

include!(concat!(env!("OUT_DIR"), "/shipped_patterns.rs"));

/// How the source of an embedded rule file is named.
const SHIPPED_PREFIX: &str = "<shipped>/";

/// Shortest literal the prefilter accepts: shorter ones occur everywhere and would make
/// the confirmation step dominate the scan (see research/corpus-literals.md).
pub const MIN_LITERAL_LEN: usize = 3;

/// Window searched for a secret whose regex has no upper length bound and whose rule
/// sets no `max_len`. Bounded so that memory and work per candidate stay bounded.
pub const DEFAULT_MAX_LEN: usize = 1024;

/// Hard cap on any rule's window; it also bounds the overlap kept between read chunks.
pub const MAX_WINDOW: usize = 32 * 1024;

/// How far (bytes, either side) from a keyword a keyword rule looks for its secret.
pub const KEYWORD_DISTANCE: usize = 256;

/// Compiled size limit of one rule's regex: a hostile pattern file cannot make us
/// allocate more than this per rule.
const REGEX_SIZE_LIMIT: usize = 4 * 1024 * 1024;

/// How sure a finding of a rule is, by the strength of the format's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Keyword and entropy only.
    Low,
    /// Keyword plus a distinctive structure.
    Medium,
    /// A unique prefix or a checksum.
    High,
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        })
    }
}

/// A rule as written in a pattern file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    pub regex: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_entropy: Option<f64>,
    /// Upper bound on the match length when the regex itself has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// A secret containing one of these (ASCII case-insensitively) is a documentation
    /// value or placeholder, not a finding (e.g. AWS's `…EXAMPLE` key ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopwords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub negative_examples: Vec<String>,
    #[serde(default)]
    pub revocable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rules: Vec<RuleDef>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub prefixes: Vec<String>,
    pub keywords: Vec<String>,
    /// The confirmation regex, parsed; compiled into `regex` (see [`Rule::regex`]).
    hir: Hir,
    regex: OnceLock<Option<meta::Regex>>,
    /// Index of the `secret` capture group, or `None` when the whole match is the secret.
    pub secret_group: Option<usize>,
    /// Longest match the regex can produce (bytes), capped by `max_len` and [`MAX_WINDOW`].
    pub window: usize,
    pub checksum: Option<Checksum>,
    pub min_entropy: Option<f64>,
    pub confidence: Confidence,
    /// Lowercased [`RuleDef::stopwords`].
    pub stopwords: Vec<Vec<u8>>,
    pub examples: Vec<String>,
    pub negative_examples: Vec<String>,
    pub revocable: bool,
    /// The file the rule came from (`<shipped>/name.toml` for embedded rules).
    pub source: String,
}

impl Rule {
    /// True for a rule compiled into the binary (its examples are checked by `cargo test`).
    pub fn is_shipped(&self) -> bool {
        self.source.starts_with(SHIPPED_PREFIX)
    }

    /// The compiled confirmation regex. A rule from a pattern file is compiled when it
    /// is loaded, so that a broken one is reported then; a shipped rule at its first use:
    /// most rules meet no candidate in a scan, and compiling all of them was most of a
    /// small scan's start-up. `None` only for a shipped rule that does not compile, which
    /// `cargo test` rules out (it runs every shipped rule's examples).
    pub fn regex(&self) -> Option<&meta::Regex> {
        self.regex.get_or_init(|| build_regex(&self.hir).ok()).as_ref()
    }

    /// True once [`Rule::regex`] was compiled (at load for rules from files).
    pub fn is_compiled(&self) -> bool {
        self.regex.get().is_some()
    }

    /// True when the prefilter's hits for this rule are where the secret starts.
    pub fn is_prefix_rule(&self) -> bool {
        !self.prefixes.is_empty()
    }

    /// Checksum, entropy and stopword checks on a confirmed secret.
    pub fn accepts(&self, secret: &[u8]) -> bool {
        if self.min_entropy.is_some_and(|floor| entropy::shannon(secret) < floor) {
            return false;
        }
        if self.stopwords.iter().any(|word| contains_ignore_ascii_case(secret, word)) {
            return false;
        }
        self.checksum.is_none_or(|c| c.is_valid(secret))
    }
}

/// Every compiled rule, in load order. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    version: String,
}

impl RuleSet {
    /// The shipped rules plus every `*.toml` file under each of `extra_dirs`.
    pub fn load(extra_dirs: &[PathBuf]) -> Result<RuleSet, PatternError> {
        let mut files: Vec<(String, String)> =
            SHIPPED.iter().map(|(name, text)| (format!("{SHIPPED_PREFIX}{name}"), text.to_string())).collect();
        for dir in extra_dirs {
            files.extend(read_dir_files(dir)?);
        }
        RuleSet::from_sources(files)
    }

    /// Only the rule files under `dir` (for `revokd patterns test DIR`).
    pub fn load_dir(dir: &Path) -> Result<RuleSet, PatternError> {
        RuleSet::from_sources(read_dir_files(dir)?)
    }

    /// Compiles rule files given as (name, TOML text).
    pub fn from_sources(files: Vec<(String, String)>) -> Result<RuleSet, PatternError> {
        let mut rules = Vec::new();
        let mut seen = HashSet::new();
        let mut hasher = Sha256::new();
        for (name, text) in &files {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
            let file: RuleFile = toml::from_str(text).map_err(|e| PatternError::Syntax {
                file: name.clone(),
                message: crate::toml_error::describe(&e, text),
            })?;
            for def in file.rules {
                if !seen.insert(def.id.clone()) {
                    return Err(PatternError::Rule {
                        file: name.clone(),
                        rule: def.id,
                        reason: "duplicate rule id".into(),
                    });
                }
                rules.push(compile(def, name)?);
            }
        }
        if rules.is_empty() {
            return Err(PatternError::Empty);
        }
        Ok(RuleSet { rules, version: hex::encode(&hasher.finalize()[..8]) })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, index: usize) -> &Rule {
        &self.rules[index]
    }

    pub fn find(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// A short hash of every rule file's name and contents: it changes whenever a rule does.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Only the rules with the given ids (`revokd scan --rule`). Every id must exist. The
    /// version changes with the selection, so that what a restricted scan remembers (e.g.
    /// git blobs found clean) is never taken for a scan with every rule.
    pub fn only(self, ids: &[String]) -> Result<RuleSet, PatternError> {
        if let Some(unknown) = ids.iter().find(|id| self.find(id).is_none()) {
            return Err(PatternError::UnknownRule(unknown.clone()));
        }
        let mut hasher = Sha256::new();
        hasher.update(self.version.as_bytes());
        let rules: Vec<Rule> = self.rules.into_iter().filter(|rule| ids.contains(&rule.id)).collect();
        for rule in &rules {
            hasher.update([0]);
            hasher.update(rule.id.as_bytes());
        }
        Ok(RuleSet { rules, version: hex::encode(&hasher.finalize()[..8]) })
    }
}

/// True when `haystack` contains `needle` (already lowercase), ignoring ASCII case.
fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

fn read_dir_files(dir: &Path) -> Result<Vec<(String, String)>, PatternError> {
    let io_err = |source| PatternError::Io { path: dir.to_path_buf(), source };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths.into_iter().map(read_rule_file).collect()
}

/// Reads one rule file. Anything but a regular file (after symlinks) is refused before
/// it is opened: opening a FIFO would block until a writer appears.
fn read_rule_file(path: PathBuf) -> Result<(String, String), PatternError> {
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Err(PatternError::NotAFile { path }),
        Err(source) => return Err(PatternError::Io { path, source }),
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((path.display().to_string(), text)),
        Err(source) => Err(PatternError::Io { path, source }),
    }
}

fn compile(def: RuleDef, file: &str) -> Result<Rule, PatternError> {
    let fail = |reason: String| PatternError::Rule { file: file.to_string(), rule: def.id.clone(), reason };
    if def.id.is_empty() || !def.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(fail("id must be snake_case: lowercase letters, digits and _".into()));
    }
    if def.prefixes.is_empty() && def.keywords.is_empty() {
        return Err(fail("needs at least one of `prefixes` or `keywords`".into()));
    }
    if !def.prefixes.is_empty() && !def.keywords.is_empty() {
        return Err(fail("use `prefixes` or `keywords`, not both".into()));
    }
    if let Some(short) = def.prefixes.iter().chain(&def.keywords).find(|l| l.len() < MIN_LITERAL_LEN) {
        return Err(fail(format!("literal {short:?} is shorter than {MIN_LITERAL_LEN} bytes")));
    }
    let checksum = match &def.checksum {
        None => None,
        Some(name) => Some(
            name.parse::<Checksum>()
                .map_err(|()| fail(format!("unknown checksum {name:?} (known: {})", Checksum::NAMES.join(", "))))?,
        ),
    };
    if let Some(e) = def.min_entropy.filter(|e| !(0.0..=8.0).contains(e)) {
        return Err(fail(format!("min_entropy {e} is outside 0..=8 bits per byte")));
    }
    let hir = parse_regex(&def.regex).map_err(|e| fail(format!("regex does not parse: {e}")))?;
    let max_len = hir.properties().maximum_len();
    let window =
        max_len.or(def.max_len).unwrap_or(DEFAULT_MAX_LEN).min(def.max_len.unwrap_or(MAX_WINDOW)).min(MAX_WINDOW);
    if hir.properties().minimum_len() == Some(0) {
        return Err(fail("regex can match the empty string".into()));
    }
    let regex = OnceLock::new();
    if !file.starts_with(SHIPPED_PREFIX) {
        let compiled = build_regex(&hir).map_err(|e| fail(format!("regex does not compile: {e}")))?;
        regex.get_or_init(|| Some(compiled));
    }
    let secret_group = secret_group(&hir);
    let confidence = def.confidence.unwrap_or(if checksum.is_some() || !def.prefixes.is_empty() {
        Confidence::High
    } else if def.min_entropy.is_some() {
        Confidence::Medium
    } else {
        Confidence::Low
    });
    Ok(Rule {
        secret_group,
        window,
        checksum,
        confidence,
        hir,
        regex,
        source: file.to_string(),
        id: def.id,
        name: def.name,
        prefixes: def.prefixes,
        keywords: def.keywords,
        min_entropy: def.min_entropy,
        stopwords: def.stopwords.iter().map(|w| w.to_ascii_lowercase().into_bytes()).collect(),
        examples: def.examples,
        negative_examples: def.negative_examples,
        revocable: def.revocable,
    })
}

/// Compiles a rule regex. Its one-pass DFA is not built: it was a fifth of the compile
/// time, and the confirmation windows are small enough for the other engines.
fn build_regex(hir: &Hir) -> Result<meta::Regex, Box<meta::BuildError>> {
    let config = meta::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)).utf8_empty(false).onepass(false);
    meta::Builder::new().configure(config).build_from_hir(hir).map_err(Box::new)
}

/// The index of the capture group named `secret` (as the compiled regex numbers its
/// groups: the whole match is 0), if there is one. Recursion depth is bounded by the
/// parser's nesting limit.
fn secret_group(hir: &Hir) -> Option<usize> {
    match hir.kind() {
        HirKind::Capture(capture) if capture.name.as_deref() == Some("secret") => Some(capture.index as usize),
        HirKind::Capture(capture) => secret_group(&capture.sub),
        HirKind::Repetition(repetition) => secret_group(&repetition.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => parts.iter().find_map(secret_group),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => None,
    }
}

/// Parses a rule regex over bytes: ASCII classes (`\w`, `\d` are ASCII), `.` any byte
/// but `\n`. Tokens are ASCII, and Unicode tables would only cost time.
pub(crate) fn parse_regex(pattern: &str) -> Result<Hir, Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(pattern).map_err(Box::new)
}

/// Why a pattern file or rule was rejected.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("cannot read pattern file or directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a regular file")]
    NotAFile { path: PathBuf },
    #[error("{file}: not a valid pattern file: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: rule {rule}: {reason}")]
    Rule { file: String, rule: String, reason: String },
    #[error("no rules loaded")]
    Empty,
    #[error("no rule with id {0:?} (see `revokd patterns list`)")]
    UnknownRule(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(rule: &str) -> Result<RuleSet, PatternError> {
        RuleSet::from_sources(vec![("t.toml".into(), format!("[[rules]]\n{rule}"))])
    }

    #[test]
    fn only_keeps_the_named_rules_and_changes_the_version() {
        let all = RuleSet::load(&[]).unwrap();
        let version = all.version().to_owned();
        let ids = vec!["github_token".to_owned(), "xai_api_key".to_owned()];
        let some = RuleSet::load(&[]).unwrap().only(&ids).unwrap();
        let mut kept: Vec<&str> = some.rules().iter().map(|r| r.id.as_str()).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["github_token", "xai_api_key"]);
        assert_ne!(some.version(), version);
        let err = all.only(&["no_such_rule".to_owned()]).unwrap_err();
        assert!(matches!(err, PatternError::UnknownRule(id) if id == "no_such_rule"));
    }

    #[test]
    fn shipped_rules_compile() {
        let set = RuleSet::load(&[]).unwrap();
        assert!(set.find("xai_api_key").is_some());
        assert_eq!(set.version().len(), 16);
    }

    #[test]
    fn bad_regex_names_file_and_rule() {
        let err = one("id = 'x_key'\nname = 'X'\nprefixes = ['xk-']\nregex = 'xk-[a-z'").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("t.toml: rule x_key: regex does not parse"), "{msg}");
    }

    #[test]
    fn unknown_checksum_short_literal_and_empty_match_are_rejected() {
        let err = one("id = 'a'\nname = 'A'\nprefixes = ['abc']\nregex = 'abc\\d+'\nchecksum = 'md5'").unwrap_err();
        assert!(err.to_string().contains("unknown checksum \"md5\""), "{err}");
        let err = one("id = 'a'\nname = 'A'\nprefixes = ['ab']\nregex = 'ab\\d+'").unwrap_err();
        assert!(err.to_string().contains("shorter than 3"), "{err}");
        let err = one("id = 'a'\nname = 'A'\nprefixes = ['abc']\nregex = '\\d*'").unwrap_err();
        assert!(err.to_string().contains("empty string"), "{err}");
    }

    #[test]
    fn unknown_field_and_bad_toml_are_syntax_errors() {
        let err = one("id = 'a'\nname = 'A'\nprefixes = ['abc']\nregex = 'abc'\ncolour = 'red'").unwrap_err();
        assert!(matches!(err, PatternError::Syntax { .. }), "{err}");
        let err = RuleSet::from_sources(vec![("t.toml".into(), "[[rules]\n".into())]).unwrap_err();
        assert!(matches!(err, PatternError::Syntax { .. }), "{err}");
    }

    #[test]
    fn window_comes_from_regex_bound_or_max_len() {
        let set = one("id = 'a'\nname = 'A'\nprefixes = ['abc']\nregex = 'abc[0-9]{10}'").unwrap();
        assert_eq!(set.get(0).window, 13);
        let set = one("id = 'a'\nname = 'A'\nprefixes = ['abc']\nregex = 'abc[0-9]+'\nmax_len = 100").unwrap();
        assert_eq!(set.get(0).window, 100);
    }

    #[test]
    fn secret_group_is_found() {
        let set = one("id = 'a'\nname = 'A'\nkeywords = ['token']\nregex = 'token=(?P<secret>[0-9]{8})'").unwrap();
        assert_eq!(set.get(0).secret_group, Some(1));
        assert_eq!(set.get(0).confidence, Confidence::Low);
        let nested = "regex = '(a|(b))(?:c(?P<pre>d)*(?P<secret>[0-9]{8}))'";
        let set = one(&format!("id = 'a'\nname = 'A'\nkeywords = ['token']\n{nested}")).unwrap();
        assert_eq!(set.get(0).secret_group, Some(4));
    }

    #[test]
    fn every_shipped_rule_compiles_and_its_secret_group_is_the_compiled_one() {
        let set = RuleSet::load(&[]).unwrap();
        for rule in set.rules() {
            let regex = rule.regex().unwrap_or_else(|| panic!("{}: regex does not compile", rule.id));
            let compiled = regex.group_info().to_index(regex_automata::PatternID::ZERO, "secret");
            assert_eq!(rule.secret_group, compiled, "{}", rule.id);
        }
    }

    #[test]
    fn a_user_rule_that_does_not_compile_is_refused_at_load() {
        let huge = "regex = 'abc(?:[a-zA-Z0-9]{1000}){1000}'";
        let err = one(&format!("id = 'a'\nname = 'A'\nprefixes = ['abc']\n{huge}")).unwrap_err();
        assert!(err.to_string().contains("regex does not compile"), "{err}");
    }
}
