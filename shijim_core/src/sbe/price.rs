//! Exact fixed-point prices: an `i64` mantissa with the schema's constant exponent -6
//! (`Price` composite in `schema/shijim.xml`). No binary floats touch the wire.

use std::fmt;

/// The constant exponent of every price on the wire: value = mantissa * 10^PRICE_EXPONENT.
pub const PRICE_EXPONENT: i8 = -6;

/// 10^-PRICE_EXPONENT: mantissa units per 1.0.
pub const PRICE_SCALE: i64 = 1_000_000;

const FRACTION_DIGITS: usize = 6;

/// A price as its exact fixed-point mantissa (units of 10^-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(pub i64);

/// Why a decimal text does not fit the `Price` type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceError {
    /// Not a decimal number (the offending text, shortened).
    NotADecimal(String),
    /// More than 6 significant fractional digits: would be rounded.
    TooManyDecimals(String),
    /// The mantissa does not fit an int64.
    OutOfRange(String),
}

impl fmt::Display for PriceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceError::NotADecimal(s) => write!(f, "price {s:?} is not a decimal number"),
            PriceError::TooManyDecimals(s) => write!(
                f,
                "price {s:?} has more than {FRACTION_DIGITS} decimals (fixed-point exponent {PRICE_EXPONENT})"
            ),
            PriceError::OutOfRange(s) => {
                write!(f, "price {s:?} is out of range for an int64 mantissa at exponent {PRICE_EXPONENT}")
            }
        }
    }
}

impl std::error::Error for PriceError {}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

impl Price {
    pub const ZERO: Price = Price(0);

    pub const fn from_mantissa(mantissa: i64) -> Price {
        Price(mantissa)
    }

    pub const fn mantissa(self) -> i64 {
        self.0
    }

    /// Nearest binary float (correctly rounded); for display and numpy only, never the wire.
    pub fn to_f64(self) -> f64 {
        // Below 2^53 the mantissa converts exactly, so the one division rounds once. Above it
        // the conversion would round first, then the division again: parse the decimal text.
        const EXACT: i64 = 1 << 53;
        if (-EXACT..=EXACT).contains(&self.0) {
            self.0 as f64 / PRICE_SCALE as f64
        } else {
            self.to_decimal_string()
                .parse()
                .unwrap_or(self.0 as f64 / PRICE_SCALE as f64)
        }
    }

    /// Parses a decimal text exactly: `[+-]digits[.digits][(e|E)[+-]digits]`.
    /// Fractional digits beyond the sixth must be zeros, otherwise the value would be rounded.
    pub fn parse_decimal(text: &str) -> Result<Price, PriceError> {
        let bad = || PriceError::NotADecimal(shorten(text));
        let s = text.trim();
        let (negative, s) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (number, exp) = match s.find(['e', 'E']) {
            Some(i) => {
                let e = &s[i + 1..];
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty()
                    || digits.len() > 6
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(bad());
                }
                (&s[..i], e.parse::<i64>().map_err(|_| bad())?)
            }
            None => (s, 0),
        };
        let (int_part, frac_part) = match number.find('.') {
            Some(i) => (&number[..i], &number[i + 1..]),
            None => (number, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        // All digits as one integer D with value = D * 10^(exp - frac_len); rescale to 10^-6.
        let digits = int_part.bytes().chain(frac_part.bytes());
        let shift = exp - frac_part.len() as i64 + FRACTION_DIGITS as i64;
        let total_digits = int_part.len() + frac_part.len();
        let mut mantissa: i128 = 0;
        let mut dropped_nonzero = false;
        // Digits that end up below 10^-6 must be zero; the rest accumulate.
        let keep = if shift >= 0 {
            total_digits
        } else {
            total_digits.saturating_sub(shift.unsigned_abs() as usize)
        };
        for (i, d) in digits.enumerate() {
            let v = i128::from(d - b'0');
            if i < keep {
                mantissa = mantissa * 10 + v;
                if mantissa > i128::from(i64::MAX) + 1 {
                    return Err(PriceError::OutOfRange(shorten(text)));
                }
            } else if v != 0 {
                dropped_nonzero = true;
            }
        }
        if dropped_nonzero {
            return Err(PriceError::TooManyDecimals(shorten(text)));
        }
        if shift > 0 {
            for _ in 0..shift {
                if mantissa == 0 {
                    break;
                }
                mantissa *= 10;
                if mantissa > i128::from(i64::MAX) + 1 {
                    return Err(PriceError::OutOfRange(shorten(text)));
                }
            }
        }
        let signed = if negative { -mantissa } else { mantissa };
        i64::try_from(signed)
            .map(Price)
            .map_err(|_| PriceError::OutOfRange(shorten(text)))
    }

    /// The canonical decimal text: no exponent, no trailing fractional zeros, no "." for whole
    /// numbers, "-" only for negative values. `parse_decimal(p.to_decimal_string()) == p`.
    pub fn to_decimal_string(self) -> String {
        let m = self.0;
        let abs = m.unsigned_abs();
        let scale = PRICE_SCALE as u64;
        let int_part = abs / scale;
        let frac = abs % scale;
        let sign = if m < 0 { "-" } else { "" };
        if frac == 0 {
            return format!("{sign}{int_part}");
        }
        let mut frac_text = format!("{frac:06}");
        while frac_text.ends_with('0') {
            frac_text.pop();
        }
        format!("{sign}{int_part}.{frac_text}")
    }
}

/// Why a binary float is not a wire price (`Price::from_f64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F64PriceFault {
    NotFinite,
    OutOfRange,
    TooManyDecimals,
}

impl F64PriceFault {
    /// What is wrong with price `v`, in words.
    pub fn describe(self, v: f64) -> String {
        match self {
            F64PriceFault::NotFinite => format!("{v} is not a finite price"),
            F64PriceFault::OutOfRange => format!("{v} is out of range for the fixed-point price"),
            F64PriceFault::TooManyDecimals => format!("{v} has more than 6 decimals"),
        }
    }
}

impl Price {
    /// Exact fixed-point from a float: refuses NaN/inf, out-of-range and anything with more than
    /// 6 decimals (that would be silently rounded on the wire). The hot path of the ring writer
    /// and of admission: no formatting, no libm call.
    #[inline(always)]
    pub fn from_f64(v: f64) -> Result<Price, F64PriceFault> {
        let scaled = v * PRICE_SCALE as f64;
        // i64::MAX as f64 rounds up to 2^63; staying strictly below keeps the cast exact.
        if scaled.is_nan() || scaled.abs() >= 9.2e18 {
            return Err(if v.is_finite() {
                F64PriceFault::OutOfRange
            } else {
                F64PriceFault::NotFinite
            });
        }
        // Round half away from zero with a truncating cast (one instruction; f64::round is a
        // call).
        let mantissa = (scaled + 0.5f64.copysign(scaled)) as i64;
        // Tolerance: the binary error of v*1e6 (a few ulps), never a whole 1e-6 step.
        let tol = (scaled.abs() * (4.0 * f64::EPSILON)).max(1e-3);
        if (scaled - mantissa as f64).abs() > tol {
            return Err(F64PriceFault::TooManyDecimals);
        }
        Ok(Price(mantissa))
    }

    /// This price as Arrow's `decimal128(18, 6)` holds it (the recorder's ClickHouse
    /// `Decimal(18, 6)` columns): two little-endian `i64` words, the mantissa and its sign
    /// extension.
    #[inline(always)]
    pub const fn decimal128_words(self) -> [i64; 2] {
        [self.0, self.0 >> 63]
    }
}

/// Prices as `decimal128(18, 6)` words ([`Price::decimal128_words`]), each converted by
/// [`Price::from_f64`] (the ring's own conversion, so a column says exactly what the ring
/// carried). One pass, no temporaries: numpy needed four (scale, round, cast, interleave).
/// Err: the first value that is no price, by index, and why.
pub fn decimal128_words(
    values: impl ExactSizeIterator<Item = f64>,
) -> Result<Vec<i64>, (usize, f64, F64PriceFault)> {
    let mut out = Vec::with_capacity(2 * values.len());
    for (i, v) in values.enumerate() {
        let price = Price::from_f64(v).map_err(|fault| (i, v, fault))?;
        out.extend_from_slice(&price.decimal128_words());
    }
    Ok(out)
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(
            Price::parse_decimal("17500").unwrap(),
            Price(17_500_000_000)
        );
        assert_eq!(Price::parse_decimal("592.5").unwrap(), Price(592_500_000));
        assert_eq!(Price::parse_decimal("-0.000001").unwrap(), Price(-1));
        assert_eq!(
            Price::parse_decimal("0.1234560000").unwrap(),
            Price(123_456)
        );
        assert_eq!(Price::parse_decimal("1E+2").unwrap(), Price(100_000_000));
        assert_eq!(
            Price::parse_decimal("1.5e-6").unwrap_err(),
            PriceError::TooManyDecimals("1.5e-6".into())
        );
        assert_eq!(
            Price::parse_decimal("25E-7").unwrap_err(),
            PriceError::TooManyDecimals("25E-7".into())
        );
        assert_eq!(Price::parse_decimal("20E-7").unwrap(), Price(2));
        assert_eq!(Price::parse_decimal(".5").unwrap(), Price(500_000));
        assert_eq!(Price::parse_decimal("5.").unwrap(), Price(5_000_000));
        assert_eq!(
            Price::parse_decimal("0E+9000000").unwrap_err(),
            PriceError::NotADecimal("0E+9000000".into())
        );
        assert_eq!(Price::parse_decimal("0E+90000").unwrap(), Price(0));
    }

    #[test]
    fn extremes_round_trip_and_overflow_is_refused() {
        for m in [i64::MIN, i64::MAX, 0, 1, -1, 999_999, 1_000_000] {
            let p = Price(m);
            assert_eq!(
                Price::parse_decimal(&p.to_decimal_string()).unwrap(),
                p,
                "{p}"
            );
        }
        assert_eq!(Price(i64::MIN).to_decimal_string(), "-9223372036854.775808");
        assert_eq!(Price(i64::MAX).to_decimal_string(), "9223372036854.775807");
        assert!(matches!(
            Price::parse_decimal("9223372036854.775808"),
            Err(PriceError::OutOfRange(_))
        ));
        assert!(matches!(
            Price::parse_decimal("-9223372036854.775809"),
            Err(PriceError::OutOfRange(_))
        ));
        assert!(matches!(
            Price::parse_decimal("1e30"),
            Err(PriceError::OutOfRange(_))
        ));
        assert!(matches!(
            Price::parse_decimal("99999999999999999999999999999999"),
            Err(PriceError::OutOfRange(_))
        ));
    }

    #[test]
    fn refuses_non_decimals() {
        for s in [
            "", "-", ".", "abc", "1.2.3", "1e", "NaN", "inf", "1,5", "0x10", "--1", "1e+",
        ] {
            assert!(
                matches!(Price::parse_decimal(s), Err(PriceError::NotADecimal(_))),
                "{s:?}"
            );
        }
    }

    #[test]
    fn decimal128_words_are_the_mantissa_and_its_sign_extension() {
        let words = decimal128_words([23001.5, -0.000001, 0.0, 99_999.999999].into_iter()).unwrap();
        assert_eq!(
            words,
            vec![23_001_500_000, 0, -1, -1, 0, 0, 99_999_999_999, 0]
        );
        // The same mantissas as the ring's conversion, binary noise included.
        let noisy = 0.1 + 0.2; // 0.30000000000000004
        let w = decimal128_words([noisy].into_iter()).unwrap();
        assert_eq!(w[0], Price::from_f64(noisy).unwrap().mantissa());
        assert_eq!(w[0], 300_000);
        assert!(decimal128_words(std::iter::empty()).unwrap().is_empty());
    }

    #[test]
    fn decimal128_words_name_the_first_value_that_is_no_price() {
        let err = decimal128_words([1.0, 2.5, f64::NAN, 1e300].into_iter()).unwrap_err();
        assert_eq!((err.0, err.2), (2, F64PriceFault::NotFinite));
        let err = decimal128_words([1.0, 1e300].into_iter()).unwrap_err();
        assert_eq!((err.0, err.1, err.2), (1, 1e300, F64PriceFault::OutOfRange));
        let err = decimal128_words([1.0000001].into_iter()).unwrap_err();
        assert_eq!((err.0, err.2), (0, F64PriceFault::TooManyDecimals));
    }

    #[test]
    fn to_f64_is_correctly_rounded_even_beyond_2_pow_53() {
        // float(Decimal(text)) semantics: the nearest f64 of the exact decimal, for small and
        // huge mantissas alike (a two-step conversion would round twice above 2^53).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = (x >> 1) as i64 * if x & 1 == 0 { 1 } else { -1 };
            let p = Price(m);
            let want: f64 = p.to_decimal_string().parse().unwrap_or(f64::NAN);
            assert_eq!(p.to_f64(), want, "mantissa {m}");
        }
        assert_eq!(Price(17_525_500_000).to_f64(), 17525.5);
    }
}
