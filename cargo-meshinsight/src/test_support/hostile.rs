//! Strategies for the property tests of the parsers and loaders: hostile numbers, mutated
//! documents, and the check that a refusal is one clear line.
//!
//! Every property runs `PROPTEST_CASES` cases (proptest's default, 256, unless a test says
//! fewer); `PROPTEST_CASES=20000 cargo test --lib proptest_` runs them all longer
//! (docs/traces.md, "Hostile input").

use proptest::prelude::*;

/// Numbers a hostile or careless file holds: zeros of both signs, the extremes, values just
/// past the documented limits, NaN and the infinities, and ordinary ones.
pub(crate) fn hostile_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => -2000.0..2000.0f64,
        1 => prop::sample::select(vec![
            0.0,
            -0.0,
            -1.0,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e13,
            1e13 + 1.0,
            -1e13 - 1.0,
            1e6 + 1.0,
            1e3 + 0.5,
            9.223372036854776e18,
            1.8446744073709552e19,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]),
        1 => any::<f64>(),
    ]
    .boxed()
}

/// A number as TOML writes it (`nan`, `inf` and `-inf` included).
pub(crate) fn toml_number(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:?}")
    }
}

/// A number as JSON can write it: a non-finite one as a literal serde_json refuses (out of
/// range), as it would meet it in a file.
pub(crate) fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "1e999".into()
    } else {
        "-1e999".into()
    }
}

/// One edit of a document.
#[derive(Clone, Debug)]
pub(crate) enum Edit {
    /// Replace the `n`th number (modulo how many there are) with this one.
    Number(usize, f64),
    /// Delete the character at this fraction of the text.
    Delete(f64),
    /// Insert this text at this fraction of the text.
    Insert(f64, String),
}

/// Edits that keep most of a document's structure: numbers swapped for hostile ones, a
/// character dropped, a token that means something to the parsers put in.
pub(crate) fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let token = prop::sample::select(vec![
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "=",
        ".",
        "-",
        "e",
        "\n",
        "#",
        "0",
        "nan",
        "inf",
        "\"1\"",
        "null",
        "[[calls]]",
        "\u{0}",
        "é",
        "\t",
        " ",
        "1e999",
        "-0",
    ]);
    prop::collection::vec(
        prop_oneof![
            3 => (any::<usize>(), hostile_f64()).prop_map(|(n, v)| Edit::Number(n, v)),
            1 => (0.0..1.0f64).prop_map(Edit::Delete),
            1 => (0.0..1.0f64, token).prop_map(|(at, t)| Edit::Insert(at, t.to_string())),
        ],
        1..4,
    )
}

/// The byte ranges of the numbers in `text` (a digit or `-` then digits, `.`, `e`, `+`, `-`).
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts =
            b[i].is_ascii_digit() || (b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        let after_word = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if starts && !after_word {
            let s = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit() || matches!(b[i], b'.' | b'e' | b'E' | b'+' | b'-'))
            {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// `text` with `edits` applied; `number` writes a replacement number.
pub(crate) fn apply(text: &str, edits: &[Edit], number: fn(f64) -> String) -> String {
    let mut s = text.to_string();
    let at = |s: &str, f: f64| {
        let mut i = ((s.len() as f64) * f) as usize;
        while i < s.len() && !s.is_char_boundary(i) {
            i += 1;
        }
        i.min(s.len())
    };
    for e in edits {
        match e {
            Edit::Number(n, v) => {
                let spans = numbers(&s);
                if let Some(&(a, b)) = spans.get(n % spans.len().max(1)) {
                    s.replace_range(a..b, &number(*v));
                }
            }
            Edit::Delete(f) => {
                let i = at(&s, *f);
                if i < s.len() {
                    s.remove(i);
                }
            }
            Edit::Insert(f, t) => {
                let i = at(&s, *f);
                s.insert_str(i, t);
            }
        }
    }
    s
}

/// A refusal is one clear line: not empty, no newline, and no Rust debug output.
pub(crate) fn assert_one_line(e: &dyn std::error::Error) {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty(), "an empty error");
    assert!(!msg.contains('\n'), "more than one line: {msg}");
    assert!(!msg.contains("panicked"), "{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_and_replaced() {
        let t = "a = 12\nb_2 = -3.5e2\nc = \"x1\"";
        assert_eq!(numbers(t).len(), 2);
        assert_eq!(
            apply(t, &[Edit::Number(1, f64::NAN)], toml_number),
            "a = 12\nb_2 = nan\nc = \"x1\""
        );
    }
}
