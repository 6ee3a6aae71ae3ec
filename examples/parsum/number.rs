//! Parsing the CLI's numbers: `1000000000`, `1_000_000_000`, `1e9`, `2.5e9`, `1000e-3`, `2^32`,
//! `2^64`.
//! Every form is checked against a maximum before any work is done, so no input is slow to reject.

/// The largest value any flag takes: 2^64 (an exclusive end that includes `u64::MAX`).
pub const MAX: u128 = 1 << 64;

fn bad(text: &str) -> String {
    format!(
        "'{text}' is not a number (use forms like 1000000000, 1_000_000_000, 1e9, 2.5e9 or 2^32)"
    )
}

fn too_big(text: &str, max: u128) -> String {
    if max == MAX {
        format!("'{text}' is larger than 2^64")
    } else {
        format!("'{text}' is larger than {max}")
    }
}

/// Digits only (after the `_` between digits are dropped), without leading zeros; `None` if
/// anything else.
fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| {
        let t = s.trim_start_matches('0');
        if t.is_empty() { "0" } else { t }
    })
}

/// Parses a whole number from 0 to `max` (at most 2^64) in one of the accepted forms.
pub fn parse_max(text: &str, max: u128) -> Result<u128, String> {
    if let Some(rest) = text.trim().strip_prefix('-') {
        // Flags take values that start with `-`, so that `-1` gets this message, not clap's
        // "unexpected argument": a flag given where a value belongs lands here too.
        return Err(
            if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                format!("'{text}' has a minus sign: write numbers without one")
            } else {
                format!("'{text}' is not a number: was a value left out?")
            },
        );
    }
    // `_` groups digits: `1_000`, never `_1`, `1_`, `1__0`, `1_e9` or `2^_3`.
    let b = text.trim().as_bytes();
    let digit = |i: Option<usize>| i.and_then(|i| b.get(i)).is_some_and(u8::is_ascii_digit);
    if (0..b.len()).any(|i| b[i] == b'_' && !(digit(i.checked_sub(1)) && digit(Some(i + 1)))) {
        return Err(bad(text));
    }
    let s: String = text.trim().chars().filter(|&c| c != '_').collect();
    let value = if let Some((base, exp)) = s.split_once('^') {
        let base = digits(base).ok_or_else(|| bad(text))?;
        let exp = digits(exp).ok_or_else(|| bad(text))?;
        if exp == "0" {
            // Any base to the 0 is 1 (0^0 too), however long the base.
            1
        } else {
            match base.parse::<u128>().map_err(|_| too_big(text, max))? {
                // 0^n is 0; 1^n is 1, whatever n.
                base @ (0 | 1) => base,
                base => {
                    // An exponent of more than 128 overflows any base ≥ 2.
                    let exp: u32 = exp
                        .parse()
                        .ok()
                        .filter(|&e| e <= 128)
                        .ok_or_else(|| too_big(text, max))?;
                    base.checked_pow(exp).ok_or_else(|| too_big(text, max))?
                }
            }
        }
    } else if let Some((mantissa, exp)) = s
        .split_once(['e', 'E'])
        // A decimal point without an exponent is a mantissa too: `2.0` is 2, `1.5` not whole.
        .or_else(|| s.contains('.').then_some((s.as_str(), "0")))
    {
        let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(bad(text));
        }
        // A negative exponent is fine where the value is whole: `1000e-3` is 1, `25e-1` is not.
        // `1e+9` as printf and Python write it.
        let (negative, exp) = match exp.strip_prefix('-') {
            Some(e) => (true, e),
            None => (false, exp.strip_prefix('+').unwrap_or(exp)),
        };
        let exp = digits(exp).ok_or_else(|| bad(text))?;
        let whole_ok = whole.is_empty() || digits(whole).is_some();
        let frac_ok = frac.is_empty() || frac.bytes().all(|b| b.is_ascii_digit());
        if !whole_ok || !frac_ok {
            return Err(bad(text));
        }
        let frac = frac.trim_end_matches('0');
        let all = format!("{whole}{frac}");
        let significant = all.trim_start_matches('0');
        if significant.is_empty() {
            0
        } else {
            // value = significant digits × 10^(±exp − fraction digits): a negative power must
            // only drop trailing zeros. A 2^64 bound has 20 digits, so anything longer is too
            // big before it is computed.
            // At most u64::MAX, so the shifts below stay far inside i128.
            let exp = exp.parse::<u64>().map_or(i128::from(u64::MAX), i128::from);
            let shift = if negative { -exp } else { exp } - frac.len() as i128;
            let kept = significant.len() as i128 + shift.min(0);
            let dropped = &significant[kept.max(0) as usize..];
            if kept <= 0 || dropped.bytes().any(|b| b != b'0') {
                return Err(format!("'{text}' is not a whole number"));
            }
            let significant = &significant[..kept as usize];
            if kept + shift.max(0) > 40 {
                return Err(too_big(text, max));
            }
            let mut v: u128 = significant.parse().map_err(|_| too_big(text, max))?;
            for _ in 0..shift.max(0) {
                v = v.checked_mul(10).ok_or_else(|| too_big(text, max))?;
            }
            v
        }
    } else {
        let d = digits(&s).ok_or_else(|| bad(text))?;
        if d.len() > 40 {
            return Err(too_big(text, max));
        }
        d.parse::<u128>().map_err(|_| too_big(text, max))?
    };
    if value > max {
        return Err(too_big(text, max));
    }
    Ok(value)
}

/// A number from 0 to 2^64.
pub fn parse(text: &str) -> Result<u128, String> {
    parse_max(text, MAX)
}

/// A count from 1 to `max`.
pub fn count(text: &str, what: &str, max: u128) -> Result<u128, String> {
    match parse_max(text, max)? {
        0 => Err(format!("{what} must be at least 1")),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for (text, value) in [
            ("0", 0),
            ("1000", 1000),
            ("1_000_000", 1_000_000),
            ("2_5e1_0", 250_000_000_000),
            ("1e9", 1_000_000_000),
            ("2.5e3", 2500),
            ("2.50e3", 2500),
            ("2.0", 2),
            ("7.", 7),
            (".5e1", 5),
            ("2^32", 1 << 32),
            ("2^64", 1 << 64),
            ("0e4294967295", 0),
            // A negative exponent is taken where the value is whole.
            ("20E-1", 2),
            ("1000e-3", 1),
            ("1e+9", 1_000_000_000),
            ("2.5E+3", 2_500),
            ("1_000.0e-1", 100),
            ("0e-5", 0),
            ("0.0e-99999999999999999999999", 0),
            ("1e-0", 1),
            ("0^0", 1),
            ("1000000000000000000000000000000000000000^0", 1),
            ("0^7", 0),
            ("1^99999999999999", 1),
            ("000000000000000000000000000000000000000000001", 1),
            ("18446744073709551616", 1 << 64),
        ] {
            assert_eq!(parse(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn refusals_name_the_problem() {
        for text in [
            "1e99999999999",
            "1e99999999999999999999",
            "1e18446744073709551615",
            "1.5e99999999999999999999999",
            "2^128",
            "2^65",
            "340282366920938463463374607431768211456",
            "1e30",
            "18446744073709551617",
            "9^99999999999",
            // Exponents near i128::MAX must not overflow the arithmetic on them.
            "1e170141183460469231731687303715884105727",
            "1e340282366920938463463374607431768211455",
        ] {
            assert!(
                parse(text).unwrap_err().contains("larger than 2^64"),
                "{text}"
            );
        }
        for text in [
            "", "abc", "12abc", "1e", "e5", "2^", "^2", "0x10", "1e--3", "_1", "1_", "_", "1__0",
            "1_e9", "1e_9", "2^_3", "2_^3", "1._5e1", ".", "1.2.3", "+5", "1e+", "1e++3", "1e+-3",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("is not a number"), "{text}: {err}");
        }
        // A fraction is named as such, with or without an exponent.
        for text in ["1.5", "2.55e1", "2.5e0", "0.1", ".5"] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("is not a whole number"), "{text}: {err}");
        }
        for text in ["-1", "-5", " -0", "-1e9", "-2^32", "-1_000", "-.5", "-1e-3"] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("has a minus sign"), "{text}: {err}");
        }
        // A negative exponent that leaves a fraction.
        for text in [
            "1e-3",
            "25e-1",
            "1e-99999999999999999999999",
            "1.5e-0",
            "1.11e-170141183460469231731687303715884105727",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("is not a whole number"), "{text}: {err}");
        }
        for text in ["-", "--json", "-v", " -x1"] {
            let err = parse(text).unwrap_err();
            assert!(
                err.contains("is not a number: was a value left out?"),
                "{text}: {err}"
            );
        }
        assert!(
            count("0", "--repeat", 10)
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            count("1e3", "--threads", 100)
                .unwrap_err()
                .contains("larger than 100")
        );
        assert_eq!(count("1e2", "--threads", 100), Ok(100));
    }
}
