//! The expression language: the subset of NumPy/dask syntax scientists already type.
//!
//! `x.mean(axis=0)`, `x[0] - mean(x, axis=0)`, `random.normal(10, 0.1, size=(20000, 20000),
//! chunks=(1000, 1000))`, `r2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1); nansum(r2)`.
//! Text is tokenised, parsed with Python's operator precedence into a small syntax
//! tree, and evaluated into lazy [`Array`]s. Errors name the column where the
//! problem is, in NumPy's words. `np.`, `numpy.`, `da.` and `dask.array.` prefixes
//! are accepted and ignored, so pasted Python works.

mod eval;
mod lex;
mod syntax;

pub use eval::{Evaluator, evaluate};

/// A mistake in an expression: where (1-based columns, `column..end`) and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    pub column: usize,
    /// One past the last column of the offending text.
    pub end: usize,
    pub message: String,
}

type Span = (usize, usize);

fn err(span: Span, message: impl Into<String>) -> ParseError {
    ParseError { column: span.0 + 1, end: span.1 + 1, message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::eval::python_binary;
    use super::*;
    use crate::block::Scalar;
    use crate::expr::Array;
    use crate::source::from_ndarray_f64;
    use ndarray::{ArrayD, IxDyn};
    use std::collections::HashMap;

    fn names() -> HashMap<String, Array> {
        let x = from_ndarray_f64("x", ArrayD::zeros(IxDyn(&[31, 1440, 2880])), &[1, 500, 500]);
        let y = from_ndarray_f64("y", ArrayD::zeros(IxDyn(&[31, 720, 2880])), &[1, 500, 500]);
        HashMap::from([("x".to_string(), Array::from_source(x)), ("y".to_string(), Array::from_source(y))])
    }

    #[test]
    fn the_seed_expressions_parse_to_the_right_shapes() {
        let n = names();
        assert_eq!(evaluate("x.mean(axis=0)", &n).unwrap().shape(), vec![1440, 2880]);
        assert_eq!(evaluate("x[0] - x.mean(axis=0)", &n).unwrap().shape(), vec![1440, 2880]);
        assert_eq!(evaluate("x[:, ::2, ::2]", &n).unwrap().shape(), vec![31, 720, 1440]);
        assert_eq!(evaluate("np.nanmean(x, axis=(1, 2), keepdims=True)", &n).unwrap().shape(), vec![31, 1, 1]);
        let r = evaluate("random.normal(10, 0.1, size=(20000, 20000), chunks=(1000, 1000)).mean(axis=0)[::100]", &n).unwrap();
        assert_eq!(r.shape(), vec![200]);
        let lj = evaluate(
            "c = x[0, :70, :3]; r2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1); sr6 = (1 / r2) ** 3; nansum(4 * (sr6 * sr6 - sr6)) / 2",
            &n,
        )
        .unwrap();
        assert_eq!(lj.shape(), Vec::<usize>::new());
        assert_eq!(evaluate("stack([x[0], x[1]], axis=0)", &n).unwrap().shape(), vec![2, 1440, 2880]);
        assert_eq!(evaluate("-x[0] ** 2", &n).unwrap().shape(), vec![1440, 2880]);
    }

    #[test]
    fn errors_name_the_column_and_the_problem() {
        let n = names();
        let e = evaluate("x - y", &n).unwrap_err();
        assert_eq!(e.column, 1);
        assert_eq!(e.message, "shapes (31, 1440, 2880) and (31, 720, 2880) cannot be broadcast");
        let e = evaluate("x.mean(axis=5)", &n).unwrap_err();
        assert_eq!(e.message, "axis 5 is out of bounds for a 3-D array");
        let e = evaluate("x + z", &n).unwrap_err();
        assert_eq!((e.column, e.end), (5, 6));
        assert!(e.message.starts_with("unknown name 'z'"), "{}", e.message);
        let e = evaluate("x.mean(axis=0", &n).unwrap_err();
        assert!(e.message.contains("expected ')'"), "{}", e.message);
        let e = evaluate("x[0] +* 2", &n).unwrap_err();
        assert_eq!(e.column, 7);
        let e = evaluate("x = x + 1", &n).unwrap_err();
        assert!(e.message.contains("no expression"), "{}", e.message);
    }

    #[test]
    fn scalars_follow_python() {
        let n = names();
        let a = evaluate("x[0, 0, 0] * (7 // 2) + 2 ** 3 - 10 % 3", &n).unwrap();
        assert_eq!(a.shape(), Vec::<usize>::new());
        assert!(matches!(python_binary("//", Scalar::Int(-7), Scalar::Int(2), (0, 0)), Ok(Scalar::Int(-4))));
        assert!(matches!(python_binary("%", Scalar::Int(-7), Scalar::Int(2), (0, 0)), Ok(Scalar::Int(1))));
        assert!(matches!(python_binary("/", Scalar::Int(7), Scalar::Int(2), (0, 0)), Ok(Scalar::Float(v)) if v == 3.5));
    }
}
