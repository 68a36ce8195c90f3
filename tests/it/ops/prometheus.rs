//! A strict reader of the Prometheus text exposition format (version 0.0.4), enough to
//! reject malformed output: every sample belongs to a declared family, names and labels
//! are well formed, values are numbers.

use std::collections::HashMap;

/// The samples of one scrape: (name, sorted labels) → value.
pub struct Exposition {
    samples: HashMap<(String, Labels), f64>,
}

impl Exposition {
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let at = |message: &str| format!("line {}: {message}: {line:?}", number + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        if !valid_name(name) {
                            return Err(at("bad metric name"));
                        }
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                            return Err(at("unknown type"));
                        }
                        types.insert(name.to_owned(), kind.to_owned());
                    }
                    (Some("HELP"), Some(name), _) if valid_name(name) => {}
                    (Some("HELP"), _, _) => return Err(at("bad HELP")),
                    _ => {}
                }
                continue;
            }
            let (name, labels, rest) = split_sample(line).ok_or_else(|| at("malformed sample"))?;
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|base| types.contains_key(*base)))
                .unwrap_or(name);
            if !types.contains_key(family) {
                return Err(at("sample without a # TYPE line"));
            }
            let value = rest.split_whitespace().next().ok_or_else(|| at("missing value"))?;
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().map_err(|_| at("value is not a number"))?,
            };
            let mut labels = labels;
            labels.sort();
            if samples.insert((name.to_owned(), labels), value).is_some() {
                return Err(at("duplicate sample"));
            }
        }
        Ok(Exposition { samples })
    }

    /// The value of the sample `name` whose labels are exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        labels.sort();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Label pairs of one sample, in the order written.
type Labels = Vec<(String, String)>;

/// `name{k="v",…} rest` or `name rest`.
fn split_sample(line: &str) -> Option<(&str, Labels, &str)> {
    let end = line.find(['{', ' '])?;
    let name = &line[..end];
    if !valid_name(name) {
        return None;
    }
    if !line[end..].starts_with('{') {
        return Some((name, Vec::new(), &line[end..]));
    }
    let mut labels = Vec::new();
    let mut rest = &line[end + 1..];
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((name, labels, after));
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim_start_matches(',');
        if !valid_name(key) {
            return None;
        }
        rest = rest[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let close = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return None,
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        rest = rest[close + 1..].strip_prefix(',').map_or(&rest[close + 1..], |r| r);
        if !rest.starts_with('}') && rest.as_bytes().first().is_none_or(|b| !b.is_ascii_alphabetic() && *b != b'_') {
            return None;
        }
    }
}

#[test]
fn the_reader_rejects_malformed_text() {
    let good = "# TYPE a_total counter\na_total{x=\"1\",y=\"a\\\"b\"} 3\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
    let parsed = Exposition::parse(good).unwrap();
    assert_eq!(parsed.value("a_total", &[("y", "a\"b"), ("x", "1")]), Some(3.0));
    assert_eq!(parsed.value("h_count", &[]), Some(1.0));
    for bad in ["a_total 1\n", "# TYPE a counter\na{x=1} 1\n", "# TYPE a counter\na one\n", "# TYPE 1a counter\n"] {
        assert!(Exposition::parse(bad).is_err(), "{bad:?}");
    }
}
