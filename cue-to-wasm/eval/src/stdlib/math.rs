//! `math` (exact rounding on decimals, `f64` for transcendental functions) and `math/bits`.

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::builtins::{ANY, Fail, Func, Res, f, int_arg, num_arg, v};
use crate::num::{Decimal, Num};
use crate::value::{Kinds, Value};

/// Non-function members of `math`.
pub(crate) const PRELUDE: &str = "\
E: 2.71828182845904523536028747135266249775724709369995957496696763
Pi: 3.14159265358979323846264338327950288419716939937510582097494459
Phi: 1.61803398874989484820458683436563811772030917980576286213544862
Sqrt2: 1.41421356237309504880168872420969807856967187537694807317667974
SqrtE: 1.64872127070012814684865078831848061095542544009898432034046069
SqrtPi: 1.77245385090551602729816748334114518279754945612238712821380779
SqrtPhi: 1.27201964951406896425242246173749149171560804184009624861664038
Ln2: 0.693147180559945309417232121458176568075500134360255254120680009
Log2E: 1.44269504088896340735992468100189213742664595415298593413544940
Ln10: 2.30258509299404568401799145468436420760110148862877297603332790
Log10E: 0.43429448190325182765112891891660508229439700580366656611445378
MaxInt8: 127
MinInt8: -128
MaxInt16: 32767
MinInt16: -32768
MaxInt32: 2147483647
MinInt32: -2147483648
MaxInt64: 9223372036854775807
MinInt64: -9223372036854775808
MaxUint8: 255
MaxUint16: 65535
MaxUint32: 4294967295
MaxUint64: 18446744073709551615
";

fn float(x: &Value, i: usize) -> Result<f64, Fail> {
    let n = num_arg(x, i)?;
    let text = n.to_decimal().to_string();
    let value: f64 = text.parse().unwrap_or(f64::NAN);
    if value.is_infinite() {
        let shown = crate::stdlib::encoding::upper_exponent(&n);
        return Err(Fail::Msg(format!(
            "cannot use {shown} (type float) as float64 in argument {i}: value was rounded up"
        )));
    }
    Ok(value)
}

/// Converts an `f64` result to a CUE float.
pub(crate) fn from_f64(x: f64) -> Res {
    if x.is_nan() {
        return Err("NaN".into());
    }
    if x.is_infinite() {
        return Err("value was rounded up".into());
    }
    let text = format!("{x:e}");
    match Num::parse(&text, false) {
        Some(n) => Ok(Value::Num(n)),
        None => Err(Fail::Msg(format!("invalid number {x}"))),
    }
}

fn f1(x: &[Value], op: fn(f64) -> f64) -> Res {
    from_f64(op(float(&x[0], 0)?))
}

fn f2(x: &[Value], op: fn(f64, f64) -> f64) -> Res {
    from_f64(op(float(&x[0], 0)?, float(&x[1], 1)?))
}

/// How a decimal is rounded to an integer.
#[derive(Clone, Copy)]
enum Rounding {
    Floor,
    Ceil,
    Trunc,
    HalfAway,
    HalfEven,
}

fn round(x: &Value, mode: Rounding) -> Res {
    let n = num_arg(x, 0)?;
    let d = n.to_decimal();
    Ok(Value::Num(Num::Int(round_decimal(&d, mode))))
}

fn round_decimal(d: &Decimal, mode: Rounding) -> BigInt {
    if d.exponent >= 0 {
        return &d.mantissa * num_traits::pow(BigInt::from(10), d.exponent as usize);
    }
    let divisor = num_traits::pow(BigInt::from(10), (-d.exponent) as usize);
    let (q, r) = d.mantissa.div_mod_floor(&divisor);
    if r.is_zero() {
        return q;
    }
    let twice: BigInt = &r * 2;
    match mode {
        Rounding::Floor => q,
        Rounding::Ceil => q + 1,
        Rounding::Trunc => {
            if d.mantissa.is_negative() {
                q + 1
            } else {
                q
            }
        }
        Rounding::HalfAway => match twice.cmp(&divisor) {
            std::cmp::Ordering::Less => q,
            std::cmp::Ordering::Greater => q + 1,
            std::cmp::Ordering::Equal => {
                if d.mantissa.is_negative() {
                    q
                } else {
                    q + 1
                }
            }
        },
        Rounding::HalfEven => match twice.cmp(&divisor) {
            std::cmp::Ordering::Less => q,
            std::cmp::Ordering::Greater => q + 1,
            std::cmp::Ordering::Equal => {
                if q.is_even() {
                    q
                } else {
                    q + 1
                }
            }
        },
    }
}

fn jacobi(a: &BigInt, n: &BigInt) -> Result<i64, Fail> {
    if n.is_even() || !n.is_positive() {
        return Err(Fail::Msg(format!("big: invalid 2nd argument to Int.Jacobi: need odd integer but got {n}")));
    }
    let mut a = a.mod_floor(n);
    let mut n = n.clone();
    let mut result = 1i64;
    while !a.is_zero() {
        while a.is_even() {
            a /= 2;
            let r = (&n % 8u32).to_u32().unwrap_or(0);
            if r == 3 || r == 5 {
                result = -result;
            }
        }
        std::mem::swap(&mut a, &mut n);
        if (&a % 4u32).to_u32() == Some(3) && (&n % 4u32).to_u32() == Some(3) {
            result = -result;
        }
        a = a.mod_floor(&n);
    }
    Ok(if n.is_one() { result } else { 0 })
}

fn multiple_of(a: &[Value]) -> Res {
    let x = num_arg(&a[0], 0)?.to_decimal();
    let y = num_arg(&a[1], 1)?.to_decimal();
    if y.mantissa.is_zero() {
        return Err("division by zero".into());
    }
    let exp = x.exponent.min(y.exponent);
    let scale = |d: &Decimal| &d.mantissa * num_traits::pow(BigInt::from(10), (d.exponent - exp) as usize);
    Ok(Value::Bool((scale(&x) % scale(&y)).is_zero()))
}

/// The `math` package.
pub(crate) static MATH: &[Func] = &[
    f("math.Floor", 1, |_, a, _| round(&a[0], Rounding::Floor)),
    f("math.Ceil", 1, |_, a, _| round(&a[0], Rounding::Ceil)),
    f("math.Trunc", 1, |_, a, _| round(&a[0], Rounding::Trunc)),
    f("math.Round", 1, |_, a, _| round(&a[0], Rounding::HalfAway)),
    f("math.RoundToEven", 1, |_, a, _| round(&a[0], Rounding::HalfEven)),
    v("math.MultipleOf", 2, Kinds::NUMBER, |_, a, _| multiple_of(a)),
    f("math.Abs", 1, |_, a, _| {
        let n = num_arg(&a[0], 0)?;
        Ok(Value::Num(if n.cmp_value(&Num::Int(0.into())).is_lt() { n.neg() } else { n }))
    }),
    f("math.Jacobi", 2, |_, a, _| crate::builtins::int(jacobi(&int_arg(&a[0], 0)?, &int_arg(&a[1], 1)?)?)),
    f("math.Pow10", 1, |_, a, _| {
        let n = crate::builtins::i64_arg(&a[0], 0)?;
        if n >= 0 {
            return Ok(Value::Num(Num::Float(Decimal::new(1.into(), n))));
        }
        Ok(Value::Num(Num::Float(Decimal::new(1.into(), n))))
    }),
    f("math.Pow", 2, |_, a, _| {
        let (x, y) = (num_arg(&a[0], 0)?, num_arg(&a[1], 1)?);
        if let (Num::Int(b), Some(e)) = (&x, y.as_int().and_then(ToPrimitive::to_u32))
            && e <= 10_000
        {
            return Ok(Value::Num(Num::Float(Decimal::new(num_traits::pow(b.clone(), e as usize), 0))));
        }
        f2(a, f64::powf)
    }),
    v("math.Signbit", 1, Kinds::NUMBER, |_, a, _| {
        let n = num_arg(&a[0], 0)?;
        Ok(Value::Bool(n.cmp_value(&Num::Int(0.into())).is_lt()))
    }),
    f("math.Sqrt", 1, |_, a, _| f1(a, f64::sqrt)),
    f("math.Cbrt", 1, |_, a, _| f1(a, f64::cbrt)),
    f("math.Exp", 1, |_, a, _| f1(a, f64::exp)),
    f("math.Exp2", 1, |_, a, _| f1(a, f64::exp2)),
    f("math.Expm1", 1, |_, a, _| f1(a, f64::exp_m1)),
    f("math.Log", 1, |_, a, _| f1(a, f64::ln)),
    f("math.Log10", 1, |_, a, _| f1(a, f64::log10)),
    f("math.Log2", 1, |_, a, _| f1(a, f64::log2)),
    f("math.Log1p", 1, |_, a, _| f1(a, f64::ln_1p)),
    f("math.Sin", 1, |_, a, _| f1(a, f64::sin)),
    f("math.Cos", 1, |_, a, _| f1(a, f64::cos)),
    f("math.Tan", 1, |_, a, _| f1(a, f64::tan)),
    f("math.Asin", 1, |_, a, _| f1(a, f64::asin)),
    f("math.Acos", 1, |_, a, _| f1(a, f64::acos)),
    f("math.Atan", 1, |_, a, _| f1(a, f64::atan)),
    f("math.Atan2", 2, |_, a, _| f2(a, f64::atan2)),
    f("math.Sinh", 1, |_, a, _| f1(a, f64::sinh)),
    f("math.Cosh", 1, |_, a, _| f1(a, f64::cosh)),
    f("math.Tanh", 1, |_, a, _| f1(a, f64::tanh)),
    f("math.Asinh", 1, |_, a, _| f1(a, f64::asinh)),
    f("math.Acosh", 1, |_, a, _| f1(a, f64::acosh)),
    f("math.Atanh", 1, |_, a, _| f1(a, f64::atanh)),
    f("math.Hypot", 2, |_, a, _| f2(a, f64::hypot)),
    f("math.Copysign", 2, |_, a, _| {
        let (x, y) = (num_arg(&a[0], 0)?, num_arg(&a[1], 1)?);
        let negative = y.cmp_value(&Num::Int(0.into())).is_lt();
        let abs = if x.cmp_value(&Num::Int(0.into())).is_lt() { x.neg() } else { x };
        Ok(Value::Num(if negative { abs.neg() } else { abs }))
    }),
    f("math.Dim", 2, |_, a, _| {
        let (x, y) = (num_arg(&a[0], 0)?, num_arg(&a[1], 1)?);
        let d = x.sub(&y);
        Ok(Value::Num(if d.cmp_value(&Num::Int(0.into())).is_gt() { d } else { Num::Int(0.into()) }))
    }),
    f("math.Mod", 2, |_, a, _| f2(a, |x, y| x % y)),
    f("math.Remainder", 2, |_, a, _| f2(a, |x, y| x - (x / y).round_ties_even() * y)),
    v("math.IsNaN", 1, ANY, |_, _, _| Ok(Value::Bool(false))),
];

fn bits_op(a: &[Value], op: fn(&BigInt, &BigInt) -> BigInt) -> Res {
    Ok(Value::Num(Num::Int(op(&int_arg(&a[0], 0)?, &int_arg(&a[1], 1)?))))
}

fn shift(a: &[Value], left: bool) -> Res {
    let x = int_arg(&a[0], 0)?;
    let n = crate::builtins::i64_arg(&a[1], 1)?;
    if !(0..=1_000_000).contains(&n) {
        return Err("shift count out of range".into());
    }
    Ok(Value::Num(Num::Int(if left { x << n as usize } else { x >> n as usize })))
}

/// The `math/bits` package.
pub(crate) static BITS: &[Func] = &[
    f("math/bits.And", 2, |_, a, _| bits_op(a, |x, y| x & y)),
    f("math/bits.Or", 2, |_, a, _| bits_op(a, |x, y| x | y)),
    f("math/bits.Xor", 2, |_, a, _| bits_op(a, |x, y| x ^ y)),
    f("math/bits.Clear", 2, |_, a, _| bits_op(a, |x, y| x & !y)),
    f("math/bits.Lsh", 2, |_, a, _| shift(a, true)),
    f("math/bits.Rsh", 2, |_, a, _| shift(a, false)),
    f("math/bits.At", 2, |_, a, _| {
        let x = int_arg(&a[0], 0)?;
        let i = crate::builtins::i64_arg(&a[1], 1)?;
        if !(0..=1_000_000).contains(&i) {
            return Err("bit index out of range".into());
        }
        crate::builtins::int(i64::from(((x >> i as usize) & BigInt::one()).is_one()))
    }),
    f("math/bits.Set", 3, |_, a, _| {
        let x = int_arg(&a[0], 0)?;
        let i = crate::builtins::i64_arg(&a[1], 1)?;
        let bit = crate::builtins::i64_arg(&a[2], 2)?;
        if !(0..=1_000_000).contains(&i) {
            return Err("bit index out of range".into());
        }
        let mask = BigInt::one() << i as usize;
        Ok(Value::Num(Num::Int(if bit == 0 { x & !mask } else { x | mask })))
    }),
    f("math/bits.OnesCount", 1, |_, a, _| {
        let x = int_arg(&a[0], 0)?;
        crate::builtins::int(x.magnitude().count_ones() as i64)
    }),
    f("math/bits.Len", 1, |_, a, _| crate::builtins::int(int_arg(&a[0], 0)?.bits() as i64)),
];
