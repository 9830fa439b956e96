//! Text that people read: what a requester types (a reason, a ticket, a role name) and what a
//! target answers (an error, a ticket's status). Typed text that would read differently from
//! what it is — control characters, Unicode format characters such as a right-to-left
//! override or a zero-width space — is refused; text from elsewhere is shown with them
//! escaped. Typed text echoed in an error is cut to [`ECHO_LIMIT`] characters.

use std::borrow::Cow;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The most characters of a person's input an error message repeats.
pub const ECHO_LIMIT: usize = 64;

/// Would `c` make text read differently from what it is? Control characters, and the
/// Unicode format characters (general category Cf: the bidirectional embeddings, overrides
/// and isolates U+202A–U+202E and U+2066–U+2069, the zero-width characters and direction
/// marks U+200B–U+200F, the byte-order mark U+FEFF, ...), and the line and paragraph
/// separators U+2028 and U+2029.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || c.general_category() == GeneralCategory::Format
}

/// `U+202E`: how a message names a character.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Refuse typed text holding a character that would make it read differently from what it
/// is. `what` names the input (`the reason`, `the ticket`).
pub fn check_typed(what: &str, text: &str) -> Result<(), String> {
    match text.chars().find(|&c| is_hidden(c)) {
        None => Ok(()),
        Some(c) if c.is_control() => Err(format!(
            "{what} holds control characters (such as a newline); give one line"
        )),
        Some(c) => Err(format!(
            "{what} holds {}, a Unicode format character (such as a right-to-left override or a zero-width space) that makes text read differently from what it is; remove it",
            code_point(c)
        )),
    }
}

/// Refuse an identifier (a role name, a ticket) holding a Unicode format character, naming
/// it; what else an identifier may hold is the identifier's own check.
pub fn check_format(what: &str, text: &str) -> Result<(), String> {
    match text.chars().find(|&c| !c.is_control() && is_hidden(c)) {
        None => Ok(()),
        Some(_) => check_typed(what, text),
    }
}

/// `text` quoted for an error message, escaped, and cut to [`ECHO_LIMIT`] characters with
/// how long it was.
pub fn quoted(text: &str) -> String {
    let count = text.chars().count();
    if count <= ECHO_LIMIT {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(ECHO_LIMIT).collect();
    format!("{head:?}... ({count} characters)")
}

/// `text` with every control character (but newlines) and Unicode format character shown
/// as an escape (`\u{202e}`), for text that did not come from jit: a target's error, a
/// reason stored before such reasons were refused.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_hidden(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c != '\n' && is_hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_control_characters_are_hidden() {
        for c in [
            '\u{1b}', '\n', '\u{7f}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200b}',
            '\u{200f}', '\u{feff}', '\u{2028}', '\u{61c}', '\u{ad}',
        ] {
            assert!(is_hidden(c), "{}", code_point(c));
        }
        for c in ['a', 'é', 'ü', '中', ' ', '-'] {
            assert!(!is_hidden(c), "{c}");
        }
    }

    #[test]
    fn typed_text_names_the_code_point() {
        assert_eq!(check_typed("the reason", "ünïcode is fine"), Ok(()));
        assert_eq!(
            check_typed("the reason", "two\nlines").unwrap_err(),
            "the reason holds control characters (such as a newline); give one line"
        );
        assert!(
            check_typed("the ticket", "CHG-1\u{202e}")
                .unwrap_err()
                .starts_with("the ticket holds U+202E, a Unicode format character")
        );
        assert!(
            check_typed("the reason", "a\u{200b}b")
                .unwrap_err()
                .contains("U+200B")
        );
    }

    #[test]
    fn quoted_is_escaped_and_capped() {
        assert_eq!(quoted("db-admin"), "\"db-admin\"");
        assert_eq!(quoted("a\u{202e}b"), "\"a\\u{202e}b\"");
        let long = "x".repeat(10_000);
        assert_eq!(
            quoted(&long),
            format!("\"{}\"... (10000 characters)", "x".repeat(64))
        );
    }

    #[test]
    fn escaped_shows_what_is_there() {
        assert_eq!(escaped("plain\ntext"), "plain\ntext");
        assert_eq!(
            escaped("evil\u{202e}txt\u{1b}[2J"),
            "evil\\u{202e}txt\\u{1b}[2J"
        );
    }
}
