//! Kubernetes resource quantities (`100m`, `0.5`, `20Gi`, `20G`, `1e3`), read
//! as apimachinery's `resource.ParseQuantity` reads them.
//!
//! The grammar (from `k8s.io/apimachinery/pkg/api/resource/quantity.go`):
//!
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <signedNumber>    ::= <number> | "+" <number> | "-" <number>
//! <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//! <decimalExponent> ::= "e" <signedInteger> | "E" <signedInteger>
//! ```
//!
//! A quantity is kept exact (`mantissa × 10^exponent`), because whether a GPU
//! count is a whole number, or whether a request equals its limit, must not
//! depend on floating-point rounding. Prices are computed from [`Quantity::to_f64`].

use std::fmt;

use serde_json::Value;

/// A non-negative resource quantity, exactly `mantissa × 10^exponent`.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    mantissa: u128,
    exponent: i32,
}

/// Kubernetes reads quantities into an int64 of the base unit at most when a
/// workload is scheduled; anything larger cannot be a real request.
const MAX_VALUE: f64 = i64::MAX as f64;

/// Exponents beyond this are far past [`MAX_VALUE`] or below a nano-unit;
/// bounding them keeps `10^exponent` finite.
const MAX_EXPONENT: i32 = 60;

/// Why a quantity is not one Kubernetes accepts (or one we can price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantityError {
    /// The text is empty.
    Empty,
    /// No digits where the number should be.
    NoDigits,
    /// The suffix is none of Kubernetes' suffixes.
    Suffix(String),
    /// The quantity is below zero, which resource requirements forbid.
    Negative,
    /// More digits than can be represented, or a value beyond 2^63-1.
    TooLarge,
    /// A JSON value that is neither a string nor a number.
    NotAQuantity,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantityError::Empty => f.write_str("it is empty"),
            QuantityError::NoDigits => f.write_str("it does not start with a number"),
            QuantityError::Suffix(s) => write!(
                f,
                "`{s}` is not a Kubernetes suffix (use m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or e<n>)"
            ),
            QuantityError::Negative => f.write_str("it is negative"),
            QuantityError::TooLarge => f.write_str("it is too large (more than 2^63-1)"),
            QuantityError::NotAQuantity => f.write_str("it is neither a string nor a number"),
        }
    }
}

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity {
        mantissa: 0,
        exponent: 0,
    };

    /// Parse quantity text. Surrounding whitespace is ignored, as the
    /// Kubernetes JSON decoder trims it.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let (negative, rest) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mut mantissa, mut exponent, suffix) = number(rest)?;
        match suffix {
            "" => {}
            "n" => exponent -= 9,
            "u" => exponent -= 6,
            "m" => exponent -= 3,
            "k" => exponent += 3,
            "M" => exponent += 6,
            "G" => exponent += 9,
            "T" => exponent += 12,
            "P" => exponent += 15,
            "E" => exponent += 18,
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let power = match &suffix[..1] {
                    "K" => 1,
                    "M" => 2,
                    "G" => 3,
                    "T" => 4,
                    "P" => 5,
                    _ => 6,
                };
                mantissa = mantissa
                    .checked_mul(1u128 << (10 * power))
                    .ok_or(QuantityError::TooLarge)?;
            }
            _ => exponent += decimal_exponent(suffix)?,
        }
        if negative && mantissa != 0 {
            return Err(QuantityError::Negative);
        }
        let quantity = Quantity { mantissa, exponent }.normalized();
        if quantity.exponent > MAX_EXPONENT || quantity.to_f64() > MAX_VALUE {
            return Err(QuantityError::TooLarge);
        }
        Ok(quantity)
    }

    /// Read a quantity from JSON: a string (`"100m"`) or a number (`0.1`,
    /// `2`), as Kubernetes' `Quantity.UnmarshalJSON` accepts both.
    pub fn from_json(value: &Value) -> Result<Quantity, QuantityError> {
        match value {
            Value::String(s) => Quantity::parse(s),
            // serde_json prints floats in their shortest round-trip form
            // (`0.1`, `1000.0`, `1e21`), all of which the grammar accepts.
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => Err(QuantityError::NotAQuantity),
        }
    }

    /// The value in the base unit (cores, bytes, devices).
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent)
    }

    /// Whether the quantity is a whole number of the base unit, as extended
    /// resources such as `nvidia.com/gpu` must be.
    pub fn is_integer(self) -> bool {
        self.exponent >= 0 || self.mantissa == 0
    }

    /// Strip trailing zeros so that equal values have equal representations.
    fn normalized(mut self) -> Quantity {
        if self.mantissa == 0 {
            return Quantity::ZERO;
        }
        while self.mantissa.is_multiple_of(10) {
            self.mantissa /= 10;
            self.exponent += 1;
        }
        self
    }
}

impl PartialEq for Quantity {
    /// Equal values compare equal whatever their spelling (`1`, `1000m`, `1e0`).
    fn eq(&self, other: &Quantity) -> bool {
        let (a, b) = (self.normalized(), other.normalized());
        a.mantissa == b.mantissa && a.exponent == b.exponent
    }
}

impl fmt::Display for Quantity {
    /// Plain decimal notation, for messages (`0.5`, `1536`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.normalized();
        if q.exponent >= 0 {
            write!(f, "{}", q.mantissa)?;
            (0..q.exponent).try_for_each(|_| f.write_str("0"))
        } else {
            let digits = q.mantissa.to_string();
            let point = digits.len() as i64 + i64::from(q.exponent);
            if point > 0 {
                let (int, frac) = digits.split_at(point as usize);
                write!(f, "{int}.{frac}")
            } else {
                f.write_str("0.")?;
                (0..-point).try_for_each(|_| f.write_str("0"))?;
                f.write_str(&digits)
            }
        }
    }
}

/// Read `<number>` from the start of `text`: the digits as an integer, the
/// power of ten the fraction digits imply, and the rest (the suffix).
fn number(text: &str) -> Result<(u128, i32, &str), QuantityError> {
    let mut mantissa: u128 = 0;
    let mut exponent: i32 = 0;
    let mut digits = 0usize;
    let mut seen_point = false;
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        match c {
            '0'..='9' => {
                digits += 1;
                mantissa = mantissa
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(u128::from(c as u8 - b'0')))
                    .ok_or(QuantityError::TooLarge)?;
                if seen_point {
                    exponent -= 1;
                }
            }
            '.' if !seen_point => seen_point = true,
            _ => {
                end = i;
                break;
            }
        }
    }
    if digits == 0 {
        return Err(QuantityError::NoDigits);
    }
    Ok((mantissa, exponent, &text[end..]))
}

/// The `e<n>` / `E<n>` suffix: `n` is a signed integer.
fn decimal_exponent(suffix: &str) -> Result<i32, QuantityError> {
    let unknown = || QuantityError::Suffix(suffix.to_owned());
    let digits = suffix
        .strip_prefix(['e', 'E'])
        .filter(|d| !d.is_empty())
        .ok_or_else(unknown)?;
    let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unknown());
    }
    // Anything beyond a few digits is out of range either way.
    let n: i32 = digits.parse().map_err(|_| QuantityError::TooLarge)?;
    if n.abs() > 2 * MAX_EXPONENT {
        return Err(QuantityError::TooLarge);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` parses to `value` (base units), integer or not.
    fn check(text: &str, value: f64, integer: bool) {
        let q = Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let got = q.to_f64();
        assert!(
            (got - value).abs() <= value.abs() * 1e-12,
            "{text:?}: got {got}, want {value}"
        );
        assert_eq!(q.is_integer(), integer, "{text:?}: is_integer");
    }

    fn check_err(text: &str, want: QuantityError) {
        assert_eq!(
            Quantity::parse(text).map(|q| q.to_f64()),
            Err(want),
            "{text:?}"
        );
    }

    const GI: f64 = 1024.0 * 1024.0 * 1024.0;

    #[test]
    fn decimal_si() {
        check("100m", 0.1, false);
        check("1000m", 1.0, true);
        check("0.5", 0.5, false);
        check("2", 2.0, true);
        check("1", 1.0, true);
        check("20G", 20e9, true);
        check("6G", 6e9, true);
        check("1k", 1e3, true);
        check("1M", 1e6, true);
        check("1T", 1e12, true);
        check("1P", 1e15, true);
        check("1E", 1e18, true);
        check("250u", 250e-6, false);
        check("5n", 5e-9, false);
        check("1.5k", 1500.0, true);
    }

    #[test]
    fn binary_si() {
        check("20Gi", 20.0 * GI, true);
        check("24Gi", 24.0 * GI, true);
        check("1Ki", 1024.0, true);
        check("128Mi", 128.0 * 1024.0 * 1024.0, true);
        check("1Ti", 1024.0 * GI, true);
        check("1Pi", 1024.0 * 1024.0 * GI, true);
        check("1Ei", 1024.0 * 1024.0 * 1024.0 * GI, true);
        check("0.5Gi", 0.5 * GI, true);
        check("1.5Ki", 1536.0, true);
    }

    #[test]
    fn exponents_and_signs() {
        check("1e3", 1e3, true);
        check("1E3", 1e3, true);
        check("1e+3", 1e3, true);
        check("15e-1", 1.5, false);
        check("1.5e2", 150.0, true);
        check("+2", 2.0, true);
        check("-0", 0.0, true);
        check(" 4 ", 4.0, true);
        check(".5", 0.5, false);
        check("5.", 5.0, true);
        check("0", 0.0, true);
        check("007", 7.0, true);
    }

    #[test]
    fn errors() {
        check_err("", QuantityError::Empty);
        check_err("  ", QuantityError::Empty);
        check_err("Gi", QuantityError::NoDigits);
        check_err(".", QuantityError::NoDigits);
        check_err("-", QuantityError::NoDigits);
        check_err("1>", QuantityError::Suffix(">".into()));
        check_err("2GB", QuantityError::Suffix("GB".into()));
        check_err("1K", QuantityError::Suffix("K".into()));
        check_err("1gi", QuantityError::Suffix("gi".into()));
        check_err("1 Gi", QuantityError::Suffix(" Gi".into()));
        check_err("1e", QuantityError::Suffix("e".into()));
        check_err("1e1.5", QuantityError::Suffix("e1.5".into()));
        check_err("1.2.3", QuantityError::Suffix(".3".into()));
        check_err("-1", QuantityError::Negative);
        check_err("-100m", QuantityError::Negative);
        check_err("1e400", QuantityError::TooLarge);
        check_err("10E", QuantityError::TooLarge);
        check_err(
            "9999999999999999999999999999999999999999",
            QuantityError::TooLarge,
        );
    }

    #[test]
    fn json_strings_and_numbers() {
        let q = |v: Value| Quantity::from_json(&v).map(Quantity::to_f64);
        assert_eq!(q(serde_json::json!("1")), Ok(1.0));
        assert_eq!(q(serde_json::json!(1)), Ok(1.0));
        assert_eq!(q(serde_json::json!(0.1)), Ok(0.1));
        assert_eq!(q(serde_json::json!(1e3)), Ok(1000.0));
        assert_eq!(q(serde_json::json!(-1)), Err(QuantityError::Negative));
        assert_eq!(q(serde_json::json!(true)), Err(QuantityError::NotAQuantity));
        assert_eq!(q(Value::Null), Err(QuantityError::NotAQuantity));
    }

    #[test]
    fn equality_ignores_spelling() {
        let p = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(p("1"), p("1000m"));
        assert_eq!(p("1"), p("1e0"));
        assert_eq!(p("2"), p("2.000"));
        assert_eq!(p("1Ki"), p("1024"));
        assert_eq!(p("0"), p("0m"));
        assert_ne!(p("1"), p("2"));
        assert_ne!(p("1"), p("1001m"));
    }

    #[test]
    fn display() {
        let d = |s: &str| Quantity::parse(s).unwrap().to_string();
        assert_eq!(d("0.5"), "0.5");
        assert_eq!(d("500m"), "0.5");
        assert_eq!(d("5m"), "0.005");
        assert_eq!(d("1.5Ki"), "1536");
        assert_eq!(d("1e3"), "1000");
        assert_eq!(d("12.50"), "12.5");
        assert_eq!(d("0"), "0");
    }
}
