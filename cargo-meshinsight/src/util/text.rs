//! Text from an input file inside an error line.

use std::borrow::Cow;

/// `s` with its control characters escaped (`\n`, `\u{7}`), so that a key or value quoted from
/// a hostile file keeps an error on one line.
pub(crate) fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(escape_controls("a/b ü"), Cow::Borrowed("a/b ü")));
        assert_eq!(escape_controls("a\nb\u{7}\t"), "a\\nb\\u{7}\\t");
    }
}
