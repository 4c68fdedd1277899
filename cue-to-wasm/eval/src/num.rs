//! Arbitrary-precision numbers: integers and exact decimals, with CUE's arithmetic and formatting.

use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{Signed, ToPrimitive, Zero};

/// The number of significant digits kept by a division, like the official tool's decimal context.
const DIVISION_DIGITS: u32 = 34;

/// A CUE number: an integer or a decimal float.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Num {
    /// An integer of any size.
    Int(BigInt),
    /// The integer zero with a negative sign, as a product like `-5 * 0` gives (exported as `-0`).
    NegZeroInt,
    /// A decimal `mantissa × 10^exponent`.
    Float(Decimal),
}

/// An exact decimal `mantissa × 10^exponent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    /// The digits.
    pub mantissa: BigInt,
    /// The power of ten.
    pub exponent: i64,
    /// For a zero mantissa: the zero is negative (`-0.0`).
    pub negative_zero: bool,
}

/// The number of significant digits kept by additions and multiplications of floats.
const ARITH_DIGITS: u32 = 34;

fn pow10(n: u64) -> BigInt {
    num_traits::pow(BigInt::from(10), n as usize)
}

impl Decimal {
    /// Creates a decimal `mantissa × 10^exponent`.
    pub fn new(mantissa: BigInt, exponent: i64) -> Decimal {
        Decimal { mantissa, exponent, negative_zero: false }
    }

    /// Creates a decimal from an integer.
    pub fn from_int(i: &BigInt) -> Decimal {
        Decimal::new(i.clone(), 0)
    }

    /// Returns true if the value is negative (including a negative zero).
    fn sign_negative(&self) -> bool {
        self.mantissa.is_negative() || self.negative_zero
    }

    fn align(&self, other: &Decimal) -> (BigInt, BigInt, i64) {
        let exp = self.exponent.min(other.exponent);
        let a = &self.mantissa * pow10((self.exponent - exp) as u64);
        let b = &other.mantissa * pow10((other.exponent - exp) as u64);
        (a, b, exp)
    }

    /// Adds; a zero sum is negative only when both operands are negative zeros (or the sum of two
    /// negative values rounds to zero, which cannot happen for exact sums).
    fn add(&self, other: &Decimal) -> Decimal {
        let (a, b, exponent) = self.align(other);
        let mantissa = a + b;
        let negative_zero = mantissa.is_zero() && self.sign_negative() && other.sign_negative();
        Decimal { mantissa, exponent, negative_zero }.round_to(ARITH_DIGITS, false)
    }

    /// Multiplies; the sign of the product (also of a zero product) is the exclusive or of the signs.
    fn mul(&self, other: &Decimal) -> Decimal {
        let mantissa = &self.mantissa * &other.mantissa;
        let negative_zero = mantissa.is_zero() && (self.sign_negative() != other.sign_negative());
        Decimal { mantissa, exponent: self.exponent + other.exponent, negative_zero }.round_to(ARITH_DIGITS, false)
    }

    /// Flips the sign (also of a zero), as subtraction does to its right operand.
    fn flip(&self) -> Decimal {
        Decimal {
            mantissa: -&self.mantissa,
            exponent: self.exponent,
            negative_zero: self.mantissa.is_zero() && !self.negative_zero,
        }
    }

    /// Unary minus: like `0 - x`, so the negation of any zero is a positive zero.
    fn neg(&self) -> Decimal {
        Decimal { mantissa: -&self.mantissa, exponent: self.exponent, negative_zero: false }
    }

    /// Divides like the official tool: 34 significant digits; an exact (or rounded) quotient loses its
    /// trailing zeros, and an integral one below 34 integer digits keeps one zero (`10 / 5` is `2.0`,
    /// `100 / 1` is `1.0E+2`). A zero dividend gives a positive zero with at most one fractional digit.
    fn div(&self, other: &Decimal) -> Option<Decimal> {
        if other.mantissa.is_zero() {
            return None;
        }
        if self.mantissa.is_zero() {
            let exponent = (self.exponent - other.exponent).clamp(-1, 0);
            return Some(Decimal::new(BigInt::zero(), exponent));
        }
        let shift = u64::from(DIVISION_DIGITS) + digits(&other.mantissa) as u64;
        let num = &self.mantissa * pow10(shift);
        let (q, r) = num.div_rem(&other.mantissa);
        let exponent = self.exponent - other.exponent - shift as i64;
        let mut result = Decimal::new(q, exponent);
        result = result.round_to(DIVISION_DIGITS, !r.is_zero());
        Some(result.reduce_quotient())
    }

    /// Strips the trailing zeros of a quotient, keeping one on an integral value of fewer than 34
    /// integer digits.
    fn reduce_quotient(mut self) -> Decimal {
        let ten = BigInt::from(10);
        while (&self.mantissa % &ten).is_zero() {
            self.mantissa /= &ten;
            self.exponent += 1;
        }
        if self.exponent >= 0 && digits(&self.mantissa) as i64 + self.exponent < i64::from(DIVISION_DIGITS) {
            self.mantissa *= &ten;
            self.exponent -= 1;
        }
        self
    }

    /// Rounds to `digits` significant digits (half up on the dropped digits).
    fn round_to(self, keep: u32, _inexact: bool) -> Decimal {
        let have = digits(&self.mantissa);
        if have <= keep as usize {
            return self;
        }
        let drop = (have - keep as usize) as u64;
        let divisor = pow10(drop);
        let (mut q, r) = self.mantissa.div_rem(&divisor);
        if r.abs() * 2 >= divisor {
            q += if self.mantissa.is_negative() { -1 } else { 1 };
        }
        Decimal { mantissa: q, exponent: self.exponent + drop as i64, negative_zero: self.negative_zero }
    }

    fn cmp(&self, other: &Decimal) -> Ordering {
        let (a, b, _) = self.align(other);
        a.cmp(&b)
    }

    /// Returns the integer value if the decimal has no fractional part.
    pub fn to_integer(&self) -> Option<BigInt> {
        if self.exponent >= 0 {
            return Some(&self.mantissa * pow10(self.exponent as u64));
        }
        let divisor = pow10((-self.exponent) as u64);
        let (q, r) = self.mantissa.div_rem(&divisor);
        r.is_zero().then_some(q)
    }
}

fn digits(i: &BigInt) -> usize {
    if i.is_zero() { 1 } else { i.abs().to_string().len() }
}

impl fmt::Display for Decimal {
    /// Formats like the official tool (apd's `%G`-style text): plain notation for moderate exponents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let negative = self.sign_negative();
        let text = self.mantissa.abs().to_string();
        let sign = if negative { "-" } else { "" };
        let adjusted = self.exponent + text.len() as i64 - 1;
        if self.exponent <= 0 && adjusted >= -6 {
            let frac = (-self.exponent) as usize;
            if frac == 0 {
                return write!(f, "{sign}{text}");
            }
            let padded =
                if text.len() <= frac { format!("{}{}", "0".repeat(frac - text.len() + 1), text) } else { text };
            let (int, fraction) = padded.split_at(padded.len() - frac);
            return write!(f, "{sign}{int}.{fraction}");
        }
        let (head, tail) = text.split_at(1);
        let dot = if tail.is_empty() { String::new() } else { format!(".{tail}") };
        let esign = if adjusted >= 0 { "+" } else { "-" };
        write!(f, "{sign}{head}{dot}E{esign}{}", adjusted.abs())
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::NegZeroInt => f.write_str("-0"),
            Num::Float(d) => write!(f, "{d}"),
        }
    }
}

/// An arithmetic failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArithError {
    /// Division by zero.
    DivisionByZero,
}

impl Num {
    /// Parses a literal's source text (underscores, radix prefixes, exponents and SI multipliers).
    pub fn parse(text: &str, is_int: bool) -> Option<Num> {
        let clean: String = text.chars().filter(|c| *c != '_').collect();
        for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0b", 2), ("0B", 2)] {
            if let Some(rest) = clean.strip_prefix(prefix) {
                return BigInt::parse_bytes(rest.as_bytes(), radix).map(Num::Int);
            }
        }
        let (body, multiplier) = split_multiplier(&clean);
        let decimal = parse_decimal(body)?;
        if let Some(m) = multiplier {
            return decimal.mul(&Decimal::from_int(&m)).to_integer().map(Num::Int);
        }
        if is_int {
            return decimal.to_integer().map(Num::Int);
        }
        Some(Num::Float(decimal))
    }

    /// Returns the value as a decimal.
    pub fn to_decimal(&self) -> Decimal {
        match self {
            Num::Int(i) => Decimal::from_int(i),
            Num::NegZeroInt => Decimal { negative_zero: true, ..Decimal::new(BigInt::zero(), 0) },
            Num::Float(d) => d.clone(),
        }
    }

    /// Returns true for integers.
    pub fn is_int(&self) -> bool {
        matches!(self, Num::Int(_) | Num::NegZeroInt)
    }

    /// Makes an integer from a decimal result of integer arithmetic (keeping a negative zero).
    fn int_from(d: Decimal) -> Num {
        if d.mantissa.is_zero() && d.negative_zero {
            return Num::NegZeroInt;
        }
        Num::Int(d.to_integer().unwrap_or_default())
    }

    /// Adds two numbers.
    pub fn add(&self, other: &Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a + b),
            _ if self.is_int() && other.is_int() => Num::int_from(self.to_decimal().add(&other.to_decimal())),
            _ => Num::Float(self.to_decimal().add(&other.to_decimal())),
        }
    }

    /// Subtracts two numbers (`x + (-y)`, where the sign of a zero `y` flips too).
    pub fn sub(&self, other: &Num) -> Num {
        let flipped = other.to_decimal().flip();
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a - b),
            _ if self.is_int() && other.is_int() => Num::int_from(self.to_decimal().add(&flipped)),
            _ => Num::Float(self.to_decimal().add(&flipped)),
        }
    }

    /// Multiplies two numbers; a zero product takes the sign of the operands (`-5 * 0` is `-0`).
    pub fn mul(&self, other: &Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => {
                let product = a * b;
                if product.is_zero() && (a.is_negative() || b.is_negative()) && !(a.is_negative() && b.is_negative()) {
                    return Num::NegZeroInt;
                }
                Num::Int(product)
            }
            _ if self.is_int() && other.is_int() => Num::int_from(self.to_decimal().mul(&other.to_decimal())),
            _ => Num::Float(self.to_decimal().mul(&other.to_decimal())),
        }
    }

    /// Divides two numbers; the result is always a float.
    pub fn div(&self, other: &Num) -> Result<Num, ArithError> {
        self.to_decimal().div(&other.to_decimal()).map(Num::Float).ok_or(ArithError::DivisionByZero)
    }

    /// Negates a number (the negation of a zero is a positive zero).
    pub fn neg(&self) -> Num {
        match self {
            Num::Int(i) => Num::Int(-i),
            Num::NegZeroInt => Num::Int(BigInt::zero()),
            Num::Float(d) => Num::Float(d.neg()),
        }
    }

    /// Compares two numbers by value.
    pub fn cmp_value(&self, other: &Num) -> Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(b),
            _ => self.to_decimal().cmp(&other.to_decimal()),
        }
    }

    /// Returns the integer, if this is one.
    pub fn as_int(&self) -> Option<&BigInt> {
        match self {
            Num::Int(i) => Some(i),
            Num::NegZeroInt => Some(&BigInt::ZERO),
            Num::Float(_) => None,
        }
    }

    /// Returns the value as an `i64` if it is an integer in range.
    pub fn to_i64(&self) -> Option<i64> {
        self.as_int().and_then(ToPrimitive::to_i64)
    }
}

fn split_multiplier(text: &str) -> (&str, Option<BigInt>) {
    let units = [("Ki", 1u32, 1024u64), ("Mi", 2, 1024), ("Gi", 3, 1024), ("Ti", 4, 1024), ("Pi", 5, 1024)];
    for (suffix, power, base) in units {
        if let Some(body) = text.strip_suffix(suffix) {
            return (body, Some(num_traits::pow(BigInt::from(base), power as usize)));
        }
    }
    let units = [("K", 1u32), ("M", 2), ("G", 3), ("T", 4), ("P", 5)];
    for (suffix, power) in units {
        if let Some(body) = text.strip_suffix(suffix) {
            return (body, Some(num_traits::pow(BigInt::from(1000), power as usize)));
        }
    }
    (text, None)
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    let (mant, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = format!("{int}{frac}");
    let digits = if digits.is_empty() { "0".to_string() } else { digits };
    let mantissa = BigInt::parse_bytes(digits.as_bytes(), 10)?;
    Some(Decimal::new(mantissa, exp - frac.len() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str, is_int: bool) -> Num {
        Num::parse(text, is_int).expect("parses")
    }

    #[test]
    fn parses_and_formats() {
        assert_eq!(n("1_000", true).to_string(), "1000");
        assert_eq!(n("0xFF", true).to_string(), "255");
        assert_eq!(n("1.5Ki", true).to_string(), "1536");
        assert_eq!(n("1.0", false).to_string(), "1.0");
        assert_eq!(n("0.001", false).to_string(), "0.001");
        assert_eq!(n("1e3", false).to_string(), "1E+3");
    }

    #[test]
    fn divides_to_float() {
        assert_eq!(n("4", true).div(&n("2", true)).expect("divides").to_string(), "2.0");
        assert_eq!(n("1", true).div(&n("4", true)).expect("divides").to_string(), "0.25");
        assert!(n("1", true).div(&n("0", true)).is_err());
    }
}
