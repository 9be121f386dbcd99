//! The cases where a silently wrong number used to come out: NumPy 2's rules for Python
//! scalars (NEP 50), dtypes of functions of integers and bools, float division of scalars,
//! float → integer casts, nanvar's degrees of freedom. Every expected value here was printed
//! by NumPy 2.4.6 (the comment above each says what was run).

use gridlens::expr::parse::evaluate;
use gridlens::source::MemorySource;
use gridlens::{Array, Block, Buffer, Chunks, DType, ExecOptions, compute};
use std::collections::HashMap;
use std::sync::Arc;

/// Named arrays, each in blocks of two so that every case crosses a block edge.
fn names() -> HashMap<String, Array> {
    let arrays: Vec<(&str, Block)> = vec![
        ("u", Block::from_vec(&[5], vec![0u8, 1, 2, 3, 4])),
        ("w", Block::from_vec(&[3], vec![0u64, 7, u64::MAX])),
        ("s", Block::from_vec(&[3], vec![-3i16, 0, 5])),
        ("i8", Block::from_vec(&[3], vec![0i8, 1, 2])),
        ("b", Block::from_vec(&[2], vec![true, false])),
        ("c", Block::from_vec(&[2], vec![true, true])),
        ("f32", Block::from_vec(&[2], vec![2.0f32, 3.0])),
        ("f", Block::from_vec(&[11], vec![f64::NAN, 1e20, -1e20, 2.7, -2.7, 300.0, -300.5, 4e9, -1.0, 2f64.powi(63), 2f64.powi(64)])),
        ("g", Block::from_vec(&[3], vec![1.0f64, f64::NAN, 2.0])),
    ];
    arrays
        .into_iter()
        .map(|(n, b)| {
            let chunks = Chunks::new(vec![{
                let len = b.shape()[0];
                let mut c = vec![2; len / 2];
                if len % 2 == 1 {
                    c.push(1);
                }
                c
            }]);
            (n.to_string(), Array::from_source(Arc::new(MemorySource::new(n, b, Some(chunks)))))
        })
        .collect()
}

fn eval(text: &str) -> Block {
    let a = evaluate(text, &names()).unwrap_or_else(|e| panic!("{text}: {e}"));
    compute(&a, &ExecOptions { threads: 2, ..Default::default() }).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn dtype(text: &str) -> DType {
    evaluate(text, &names()).unwrap_or_else(|e| panic!("{text}: {e}")).dtype()
}

fn error(text: &str) -> String {
    match evaluate(text, &names()) {
        Ok(a) => panic!("{text} gave {:?}, expected an error", a.dtype()),
        Err(e) => e.to_string(),
    }
}

fn f64s(b: &Block) -> Vec<f64> {
    (0..b.len()).map(|i| b.data().get_f64(i)).collect()
}

fn same_f64(got: &[f64], want: &[f64]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits())
}

#[test]
fn python_ints_outside_an_integer_type_compare_exactly() {
    // u <= -2, u >= -2, 300 > u, u == 300, u != -1: NumPy 2.4 compares the values exactly
    assert_eq!(eval("u <= -2").data(), &Buffer::Bool(vec![false; 5]));
    assert_eq!(eval("u >= -2").data(), &Buffer::Bool(vec![true; 5]));
    assert_eq!(eval("300 > u").data(), &Buffer::Bool(vec![true; 5]));
    assert_eq!(eval("u == 300").data(), &Buffer::Bool(vec![false; 5]));
    assert_eq!(eval("u != -1").data(), &Buffer::Bool(vec![true; 5]));
    // uint64 against a negative int, including its largest value
    assert_eq!(eval("w < -1").data(), &Buffer::Bool(vec![false; 3]));
    assert_eq!(eval("w > -1").data(), &Buffer::Bool(vec![true; 3]));
    // an int the type holds compares as before
    assert_eq!(eval("u < 3").data(), &Buffer::Bool(vec![true, true, true, false, false]));
}

#[test]
fn arithmetic_with_a_python_int_outside_the_type_is_numpys_overflow_error() {
    // u + 300, u * -1, np.int16(5) + 40000, u // 300, np.maximum(u, 300):
    // OverflowError: Python integer 300 out of bounds for uint8
    assert!(error("u + 300").contains("Python integer 300 out of bounds for uint8"), "{}", error("u + 300"));
    assert!(error("u * -1").contains("Python integer -1 out of bounds for uint8"));
    assert!(error("s + 40000").contains("Python integer 40000 out of bounds for int16"));
    assert!(error("u // 300").contains("out of bounds"));
    assert!(error("maximum(u, 300)").contains("out of bounds"));
    // in range: NumPy's wrapping arithmetic, in the array's type
    assert_eq!(eval("u + 255").data(), &Buffer::U8(vec![255, 0, 1, 2, 3]));
}

#[test]
fn clip_bounds_outside_an_integer_type_clip_within_it() {
    // np.clip(u, -5, 300) -> [0 1 2 3 4] uint8; np.clip(int8, -300, 1000) unchanged
    let r = eval("clip(u, -5, 300)");
    assert_eq!(r.data(), &Buffer::U8(vec![0, 1, 2, 3, 4]));
    assert_eq!(eval("clip(i8, -300, 1000)").data(), &Buffer::I8(vec![0, 1, 2]));
    assert_eq!(eval("clip(u, -5, 3)").data(), &Buffer::U8(vec![0, 1, 2, 3, 3]));
}

#[test]
fn nanvar_without_degrees_of_freedom_is_nan() {
    // np.nanvar([1, nan, 2], ddof=2) -> nan; np.nanstd([1, nan, 2], ddof=3) -> nan;
    // np.var([1., nan, 2.]) with ddof=1 -> nan (a NaN in it); nanvar ddof=1 -> 0.5
    assert!(eval("nanvar(g, ddof=2)").data().get_f64(0).is_nan());
    assert!(eval("nanstd(g, ddof=3)").data().get_f64(0).is_nan());
    assert_eq!(eval("nanvar(g, ddof=1)").data().get_f64(0), 0.5);
    // np.var([1., 2.], ddof=2) -> inf (NumPy divides by max(n - ddof, 0))
    assert_eq!(eval("var(g[::2], ddof=2)").data().get_f64(0), f64::INFINITY);
}

#[test]
fn scalar_expressions_follow_python_and_numpy() {
    // np.minimum(np.nan, 3.0) -> nan; 1.5 // 1e-3 -> 1499.0; 1.5 % 1e-3 -> 0.0009999999999999688
    assert!(eval("minimum(nan, 3.0)").data().get_f64(0).is_nan());
    assert!(eval("maximum(3.0, nan)").data().get_f64(0).is_nan());
    assert_eq!(eval("maximum(2, 3)").data(), &Buffer::I64(vec![3]));
    assert_eq!(eval("1.5 // 1e-3").data(), &Buffer::F64(vec![1499.0]));
    assert_eq!(eval("1.5 % 1e-3").data(), &Buffer::F64(vec![0.0009999999999999688]));
    assert_eq!(eval("-7 // 2").data(), &Buffer::I64(vec![-4]));
    // Python's 10 ** 20 has no int64: said, not wrapped
    assert!(error("10 ** 20").contains("too large for an int64"), "{}", error("10 ** 20"));
    assert!(error("2 ** 62 * 4").contains("too large"));
    // float arrays divide as NumPy does too: np.array([1.5, nan, 1.5]) // 1e-3 -> [1499. nan 1499.]
    assert!(same_f64(&f64s(&eval("(g * 0 + 1.5) // 1e-3")), &[1499.0, f64::NAN, 1499.0]));
    assert!(same_f64(&f64s(&eval("(g * 0 + 1.5) % 1e-3")), &[0.0009999999999999688, f64::NAN, 0.0009999999999999688]));
}

#[test]
fn floor_and_ceil_keep_integers_and_bools() {
    // np.floor(int16) -> int16; np.ceil(uint8) -> uint8; np.floor(bool) -> bool;
    // -np.floor(u8) -> [0 255 254 253 252] uint8
    assert_eq!(eval("floor(s)").data(), &Buffer::I16(vec![-3, 0, 5]));
    assert_eq!(eval("ceil(u)").data(), &Buffer::U8(vec![0, 1, 2, 3, 4]));
    assert_eq!(eval("floor(b)").data(), &Buffer::Bool(vec![true, false]));
    assert_eq!(eval("-floor(u)").data(), &Buffer::U8(vec![0, 255, 254, 253, 252]));
    assert_eq!(dtype("floor(f32)"), DType::F32);
}

#[test]
fn dtypes_of_where_square_power_and_arctan2() {
    // np.where(c, 2, 1).dtype -> int64; (c, True, False) -> bool; (c, 2.0, 1) -> float64
    assert_eq!(eval("where(b, 2, 1)").data(), &Buffer::I64(vec![2, 1]));
    assert_eq!(dtype("where(b, True, False)"), DType::Bool);
    assert_eq!(dtype("where(b, 2.0, 1)"), DType::F64);
    // np.square([True, False]) -> [1 0] int8; (bool array ** 2).dtype -> int8
    assert_eq!(eval("square(b)").data(), &Buffer::I8(vec![1, 0]));
    assert_eq!(dtype("b ** 2"), DType::I8);
    // np.arctan2(u8, u8) -> float16 (gridlens: float32, which holds every float16 exactly);
    // u8 / u8 -> float64
    assert_eq!(dtype("arctan2(u, u)"), DType::F32);
    assert_eq!(dtype("arctan2(s, s)"), DType::F32);
    assert_eq!(dtype("u / u"), DType::F64);
}

#[test]
fn functions_of_python_scalars_are_numpy_scalars() {
    // (np.ones(2, np.float32) * np.sqrt(2)).dtype -> float64; * 2.0 stays float32
    assert_eq!(dtype("f32 * sqrt(2)"), DType::F64);
    assert_eq!(dtype("f32 * 2.0"), DType::F32);
    assert_eq!(dtype("f32 * (2.0 + 1)"), DType::F32);
    assert_eq!(dtype("f32 * maximum(2.0, 1.0)"), DType::F64);
    // they still serve where a number is asked for
    assert_eq!(eval("random.normal(0, sqrt(4), size=(3,), seed=1)").shape(), &[3]);
}

#[test]
fn float_to_integer_casts_give_numpys_values() {
    // f = [nan, 1e20, -1e20, 2.7, -2.7, 300, -300.5, 4e9, -1, 2**63, 2**64]; f.astype(T).tolist()
    let cases: [(&str, Vec<i128>); 8] = [
        ("int8", vec![0, 0, 0, 2, -2, 44, -44, 0, -1, 0, 0]),
        ("int16", vec![0, 0, 0, 2, -2, 300, -300, 0, -1, 0, 0]),
        ("int32", vec![-2147483648, -2147483648, -2147483648, 2, -2, 300, -300, -2147483648, -1, -2147483648, -2147483648]),
        (
            "int64",
            vec![
                -9223372036854775808,
                -9223372036854775808,
                -9223372036854775808,
                2,
                -2,
                300,
                -300,
                4000000000,
                -1,
                -9223372036854775808,
                -9223372036854775808,
            ],
        ),
        ("uint8", vec![0, 0, 0, 2, 254, 44, 212, 0, 255, 0, 0]),
        ("uint16", vec![0, 0, 0, 2, 65534, 300, 65236, 0, 65535, 0, 0]),
        ("uint32", vec![2147483648, 0, 2147483648, 2, 4294967294, 300, 4294966996, 4000000000, 4294967295, 0, 0]),
        (
            "uint64",
            vec![
                9223372036854775808,
                0,
                9223372036854775808,
                2,
                18446744073709551614,
                300,
                18446744073709551316,
                4000000000,
                18446744073709551615,
                9223372036854775808,
                0,
            ],
        ),
    ];
    for (t, want) in cases {
        for src in ["f", "f.astype(float32)"] {
            let text = format!("{src}.astype({t})");
            let r = eval(&text);
            assert_eq!(r.dtype(), DType::parse(t).unwrap(), "{text}");
            let got: Vec<i128> = gridlens::with_buffer!(r.data(), v => v.iter().map(|x| *x as i128).collect());
            // float32 rounds 2.7 and -300.5 differently only past the integer part
            assert_eq!(got, want, "{text}");
        }
    }
    // NumPy's names for dtypes are known: np.float32, float, np.int16
    assert_eq!(dtype("u.astype(np.float32)"), DType::F32);
    assert_eq!(dtype("u.astype(float)"), DType::F64);
    assert_eq!(dtype("f.astype(np.int16)"), DType::I16);
}

#[test]
fn xor_and_the_empty_index() {
    // np.array([-3, 0, 5], np.int16) ^ 3 -> [-2 3 6]; [True, False] ^ [True, True] -> [False, True]
    assert_eq!(eval("s ^ 3").data(), &Buffer::I16(vec![-2, 3, 6]));
    assert_eq!(eval("b ^ c").data(), &Buffer::Bool(vec![false, true]));
    assert!(error("f ^ 1").contains("needs bool or integer"));
    // x[()] is x
    assert_eq!(eval("u[()]").data(), &Buffer::U8(vec![0, 1, 2, 3, 4]));
}

#[test]
fn reductions_of_a_zero_d_array() {
    // np.count_nonzero(10) -> 1; np.nansum(10) -> 10; np.any(0) -> False; np.all(3) -> True;
    // np.nanmean(2.5) -> 2.5; np.nanmin(7) -> 7; np.nanmax(7) -> 7; np.sum(4) -> 4
    assert_eq!(eval("count(10)").data().get_f64(0), 1.0);
    assert_eq!(eval("nansum(10)").data().get_f64(0), 10.0);
    assert_eq!(eval("any(0)").data(), &Buffer::Bool(vec![false]));
    assert_eq!(eval("all(3)").data(), &Buffer::Bool(vec![true]));
    assert_eq!(eval("nanmean(2.5)").data().get_f64(0), 2.5);
    assert_eq!(eval("nanmin(7)").data().get_f64(0), 7.0);
    assert_eq!(eval("nanmax(7)").data().get_f64(0), 7.0);
    assert_eq!(eval("sum(4)").data().get_f64(0), 4.0);
    assert_eq!(eval("u[2].sum()").data().get_f64(0), 2.0);
}
