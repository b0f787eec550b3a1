//! JSON text for the values the admin listener serves (docs/dashboard.md, "How a snapshot
//! reaches the screen"): strict JSON (RFC 8259), so a non-finite float is `null`, never a `NaN`
//! token.
//!
//! Numbers and strings only; the traversal of Python values that calls these lives in the
//! bindings (`python/json.rs`).

use std::fmt::Write;

/// `x` as JSON: the shortest decimal that reads back as the same double (Ryū), a whole number
/// with `.0` so a reader still sees a float (`110.0`, as Python writes it); `null` for NaN and
/// the infinities.
pub fn write_f64(out: &mut String, x: f64) {
    if x.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(x));
    } else {
        out.push_str("null");
    }
}

/// `s` as a JSON string: quotes, backslash and the control characters escaped; everything else
/// (UTF-8 included) as it is.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut s = String::new();
        write_f64(&mut s, x);
        s
    }

    fn st(x: &str) -> String {
        let mut s = String::new();
        write_str(&mut s, x);
        s
    }

    #[test]
    fn floats_read_back_exactly_and_stay_floats() {
        assert_eq!(f(110.0), "110.0");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(1e16), "1e16");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(-0.0), "-0.0");
        for x in [
            0.1 + 0.2,
            600.3,
            1.0 / 3.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            5e-324,
            123456.789,
        ] {
            assert_eq!(f(x).parse::<f64>().unwrap(), x, "{x}");
        }
    }

    #[test]
    fn non_finite_floats_are_null() {
        assert_eq!(f(f64::NAN), "null");
        assert_eq!(f(f64::INFINITY), "null");
        assert_eq!(f(f64::NEG_INFINITY), "null");
    }

    #[test]
    fn strings_escape_what_json_requires_and_keep_the_rest() {
        assert_eq!(st("2330"), "\"2330\"");
        assert_eq!(st("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(st("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
        assert_eq!(st("\u{1}x\u{1f}"), "\"\\u0001x\\u001f\"");
        assert_eq!(st("台積電 é"), "\"台積電 é\"");
        assert_eq!(st(""), "\"\"");
    }
}
