//! Parsing the CLI's numbers: `1000000000`, `1_000_000_000`, `1e9`, `2^32`, `2^64`.

/// Parses a non-negative integer up to 2^64 in one of the accepted forms.
pub fn parse(text: &str) -> Result<u128, String> {
    let s: String = text.trim().chars().filter(|&c| c != '_').collect();
    let bad = || {
        format!("'{text}' is not a number (use forms like 1000000000, 1_000_000_000, 1e9 or 2^32)")
    };
    let value = if let Some((base, exp)) = s.split_once('^') {
        let base: u128 = base.parse().map_err(|_| bad())?;
        let exp: u32 = exp.parse().map_err(|_| bad())?;
        base.checked_pow(exp)
    } else if let Some((mantissa, exp)) = s.split_once(['e', 'E']) {
        let exp: u32 = exp.parse().map_err(|_| bad())?;
        let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let digits = format!("{whole}{frac}");
        let mut value: u128 = digits.parse().map_err(|_| bad())?;
        let shift = exp
            .checked_sub(frac.len() as u32)
            .ok_or_else(|| format!("'{text}' is not a whole number"))?;
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or_else(|| too_big(text))?;
        }
        Some(value)
    } else {
        Some(s.parse::<u128>().map_err(|_| bad())?)
    };
    match value {
        Some(v) if v <= 1u128 << 64 => Ok(v),
        _ => Err(too_big(text)),
    }
}

fn too_big(text: &str) -> String {
    format!("'{text}' is larger than 2^64")
}
