//! What a written result says of where it came from: the attributes of its inputs that still
//! hold for it (units survive a mean, not a product) and a `history` line in the manner of
//! NCO and CDO (when, which program, what expression over which sources). The command line
//! and the app write both beside every result.

use crate::expr::{Array, Op, ReduceFunc};
use crate::source::AttrValue;
use std::sync::Arc;

/// Attributes of the inputs that still hold for the result: units and long_name survive
/// indexing, stacking, means, extremes, standard deviations and differences of one quantity.
pub fn carried_attrs(array: &Array) -> Vec<(String, AttrValue)> {
    fn keeps_units(a: &Array, sources: &mut Vec<Arc<dyn crate::source::Source>>) -> bool {
        match a.op() {
            Op::Source(s) => {
                sources.push(s.clone());
                true
            }
            Op::Index { input, .. } | Op::Transpose { input, .. } | Op::Topk { input, .. } | Op::Quantile { input, .. } => {
                keeps_units(input, sources)
            }
            Op::Stack { inputs, .. } | Op::Concat { inputs, .. } => inputs.iter().all(|i| keeps_units(i, sources)),
            Op::Reduce { input, reduction } => {
                use ReduceFunc::*;
                matches!(reduction.func, Mean | NanMean | Min | Max | NanMin | NanMax | Std | NanStd) && keeps_units(input, sources)
            }
            Op::Map { func, args } => {
                use crate::expr::{BinaryOp, MapFunc, UnaryOp};
                let ok = matches!(
                    func,
                    MapFunc::Binary(BinaryOp::Add | BinaryOp::Sub | BinaryOp::Maximum | BinaryOp::Minimum)
                        | MapFunc::Unary(UnaryOp::Neg | UnaryOp::Abs)
                        | MapFunc::Clip
                        | MapFunc::Cast(_)
                );
                ok && args.iter().all(|o| match o {
                    crate::expr::Operand::Array(x) => keeps_units(x, sources),
                    crate::expr::Operand::Scalar(_) => true,
                })
            }
        }
    }
    let mut sources = Vec::new();
    if !keeps_units(array, &mut sources) || sources.is_empty() {
        return vec![];
    }
    let metas: Vec<_> = sources.iter().map(|s| s.metadata()).collect();
    let mut out = Vec::new();
    for key in ["units", "long_name", "standard_name"] {
        let first = metas[0].text(key);
        if let Some(v) = first
            && metas.iter().all(|m| m.text(key) == Some(v))
        {
            out.push((key.to_string(), AttrValue::Text(v.to_string())));
        }
    }
    out
}

/// The provenance attribute: when, which gridlens, what expression over which sources.
pub fn history(expr: &str, bound: &[(String, String)]) -> String {
    let inputs: Vec<String> = bound.iter().map(|(n, s)| format!("{n}={s}")).collect();
    format!(
        "{} gridlens {}: {} with {}",
        utc_now(),
        env!("CARGO_PKG_VERSION"),
        expr,
        if inputs.is_empty() { "no inputs".into() } else { inputs.join(", ") }
    )
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = crate::io::cftime::date_from_unix_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}
