//! TOML errors as one short line: `line L, column C (`excerpt`): message`.
//!
//! The `toml` crate's own rendering quotes the offending source line with a caret under
//! it. For a hostile file (one line of 200 KB of brackets, a value of megabytes) that
//! puts the whole line into the error, the terminal and the logs. Here the quote is cut
//! to [`EXCERPT`] characters around the error and the message to [`MAX_MESSAGE`].

/// Longest message kept (characters); serde's messages are far shorter unless they
/// quote a value.
pub const MAX_MESSAGE: usize = 200;

/// Characters of the offending line shown: enough for a key and its value.
const EXCERPT: usize = 80;

/// `err` (from parsing `text`) as `line L, column C (`excerpt`): message`, at most a
/// few hundred bytes whatever the input.
pub fn describe(err: &toml::de::Error, text: &str) -> String {
    let mut message: String = err.message().trim().chars().take(MAX_MESSAGE).collect();
    if err.message().trim().chars().count() > MAX_MESSAGE {
        message.push('…');
    }
    match err.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[line_start..].chars().count() + 1;
            let rest = &text[line_start..];
            let source_line = rest.split('\n').next().unwrap_or("").trim_end();
            format!("line {line}, column {column} (`{}`): {message}", excerpt(source_line, column))
        }
        None => message,
    }
}

/// At most [`EXCERPT`] characters of `line` around `column` (1-based), with `…` where
/// it was cut.
fn excerpt(line: &str, column: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= EXCERPT {
        return line.to_string();
    }
    let start = column.saturating_sub(EXCERPT / 2).min(chars.len() - EXCERPT);
    let end = start + EXCERPT;
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_position_and_never_quotes_a_long_line() {
        let text = format!("a = 1\nb = {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = toml::from_str::<toml::Table>(&text).unwrap_err();
        let shown = describe(&err, &text);
        assert!(shown.starts_with("line 2, column "), "{shown}");
        assert!(shown.len() < 400, "{shown}");
        let text = format!("x = \"{}\"\ny = 'unterminated", "v".repeat(10_000));
        let err = toml::from_str::<toml::Table>(&text).unwrap_err();
        assert!(describe(&err, &text).starts_with("line 2, column "), "{}", describe(&err, &text));
    }

    #[test]
    fn long_messages_are_cut() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Number {
            n: u32,
        }
        let text = format!("n = \"{}\"", "9".repeat(5_000));
        let err = toml::from_str::<Number>(&text).unwrap_err();
        let shown = describe(&err, &text);
        assert!(shown.starts_with("line 1, column 5 (`n = \"999"), "{shown}");
        assert!(shown.chars().count() < 320, "{shown}");
    }
}
