//! Indexing as NumPy does it: integers, slices, `None`, `...` and integer lists (one list,
//! or lists that broadcast, placed where NumPy places them), on the lazy graph.

use super::{Array, AxisIndex, ExprError, IndexItem, Op, invalid};
use crate::chunks::{Chunks, normalize_slice, slice_1d};

impl Array {
    /// Indexing `x[...]` with integers, slices, `None`, `...` and one list of integers or
    /// booleans. Basic indexing keeps output blocks aligned with input blocks (dask's
    /// `slice_1d`): nothing is rechunked.
    ///
    /// # Errors
    /// Too many indices, an integer out of bounds, a zero step, more than one `...`, more
    /// than one list, or a boolean list whose length is not the axis'.
    pub fn index(&self, items: &[IndexItem]) -> Result<Array, ExprError> {
        let nd = self.ndim();
        let ellipses = items.iter().filter(|i| matches!(i, IndexItem::Ellipsis)).count();
        if ellipses > 1 {
            return Err(invalid("an index can only have a single ellipsis ('...')"));
        }
        let consuming = items.iter().filter(|i| i.consumes_axis()).count();
        if consuming > nd {
            return Err(ExprError::TooManyIndices { ndim: nd, given: consuming });
        }
        // expand the ellipsis (or append it) into full slices
        let full = IndexItem::Slice { start: None, stop: None, step: None };
        let mut expanded = Vec::with_capacity(items.len() + nd);
        let mut seen_ellipsis = false;
        for it in items {
            if matches!(it, IndexItem::Ellipsis) {
                seen_ellipsis = true;
                expanded.extend(std::iter::repeat_n(full.clone(), nd - consuming));
            } else {
                expanded.push(it.clone());
            }
        }
        if !seen_ellipsis {
            expanded.extend(std::iter::repeat_n(full, nd - consuming));
        }
        match expanded.iter().filter(|i| i.is_list()).count() {
            0 => {}
            1 => {
                // NumPy: the list's axis stays in place when the list and the integers are
                // written next to each other, and goes first when a slice, None or `...`
                // (even one that stands for no axes) separates them
                let advanced: Vec<usize> =
                    (0..items.len()).filter(|&k| matches!(items[k], IndexItem::Int(_)) || items[k].is_list()).collect();
                let adjacent = advanced.windows(2).all(|w| w[1] == w[0] + 1);
                return self.index_list(expanded, adjacent);
            }
            _ => {
                return Err(invalid(
                    "only one index list per indexing is supported (NumPy would broadcast several together); \
                     index one axis at a time, as x[[0, 2]][:, [1, 3]]",
                ));
            }
        }
        let shape = self.shape();
        let mut norm = Vec::with_capacity(expanded.len());
        let mut out_axes = Vec::new();
        let mut d = 0;
        for it in expanded {
            match it {
                IndexItem::NewAxis => {
                    norm.push(AxisIndex::NewAxis);
                    out_axes.push(vec![1]);
                }
                IndexItem::Int(i) => {
                    let n = shape[d] as i64;
                    if i < -n || i >= n {
                        return Err(ExprError::IndexOutOfBounds { index: i, axis: d, size: shape[d] });
                    }
                    norm.push(AxisIndex::Take(if i < 0 { (i + n) as usize } else { i as usize }));
                    d += 1;
                }
                IndexItem::Slice { start, stop, step } => {
                    if step == Some(0) {
                        return Err(invalid("slice step cannot be zero"));
                    }
                    let s = normalize_slice(start, stop, step, shape[d]);
                    out_axes.push(slice_1d(self.chunks().axis(d), s).iter().map(|p| p.len).collect());
                    norm.push(AxisIndex::Slice(s));
                    d += 1;
                }
                IndexItem::Ellipsis => unreachable!("expanded above"),
                IndexItem::Positions(_) | IndexItem::Mask(_) => unreachable!("lists go to index_list"),
            }
        }
        let identity = norm.iter().enumerate().all(|(k, a)| match a {
            AxisIndex::Slice(s) => s.start == 0 && s.step == 1 && s.len == shape[k],
            _ => false,
        }) && norm.len() == nd;
        if identity {
            return Ok(self.clone());
        }
        Ok(Array::new(Op::Index { input: self.clone(), items: norm }, Chunks::new(out_axes), self.dtype()))
    }

    /// Indexing with one list (NumPy's advanced indexing with a single index array), given
    /// the items with `...` expanded. The basic part is applied first; the listed elements
    /// are then joined along the list's axis, each run of equally spaced positions as one
    /// slice (so `[0, 1, 2, 3]` reads like `0:4`), and blocks stay those of the input.
    pub(super) fn index_list(&self, mut items: Vec<IndexItem>, adjacent: bool) -> Result<Array, ExprError> {
        let at = items.iter().position(IndexItem::is_list).expect("one list");
        let axis = items[..at].iter().filter(|i| i.consumes_axis()).count();
        let n = self.shape()[axis];
        let positions: Vec<usize> = match &items[at] {
            IndexItem::Positions(list) => list
                .iter()
                .map(|&i| {
                    if i < -(n as i64) || i >= n as i64 {
                        return Err(ExprError::IndexOutOfBounds { index: i, axis, size: n });
                    }
                    Ok(if i < 0 { (i + n as i64) as usize } else { i as usize })
                })
                .collect::<Result<_, _>>()?,
            IndexItem::Mask(mask) => {
                if mask.len() != n {
                    return Err(invalid(format!(
                        "boolean index did not match indexed array along axis {axis}; size of axis is {n} but size of \
                         corresponding boolean axis is {}",
                        mask.len()
                    )));
                }
                mask.iter().enumerate().filter(|&(_, &b)| b).map(|(i, _)| i).collect()
            }
            _ => unreachable!("a list"),
        };
        // where the list's axis lands: before the first integer or the list, or first
        let first = (0..items.len()).find(|&k| matches!(items[k], IndexItem::Int(_)) || k == at).expect("the list");
        let target = if adjacent { items[..first].iter().filter(|i| i.makes_axis()).count() } else { 0 };
        let q = items[..at].iter().filter(|i| i.makes_axis()).count();
        let full = IndexItem::Slice { start: None, stop: None, step: None };
        items[at] = full.clone();
        let basic = self.index(&items)?;
        let piece = |slice: IndexItem| -> Result<Array, ExprError> {
            let mut sel = vec![full.clone(); basic.ndim()];
            sel[q] = slice;
            basic.index(&sel)
        };
        let mut pieces = Vec::new();
        let mut k = 0;
        while k < positions.len() {
            let start = positions[k] as i64;
            let step = positions.get(k + 1).map(|&p| p as i64 - start).filter(|&s| s != 0);
            let mut end = k + 1;
            if let Some(step) = step {
                while end < positions.len() && positions[end] as i64 - positions[end - 1] as i64 == step {
                    end += 1;
                }
            }
            let step = step.unwrap_or(1);
            // one past the run's last element; below zero a reversed run ends at the axis' start
            let stop = positions[end - 1] as i64 + step;
            pieces.push(piece(IndexItem::Slice { start: Some(start), stop: (stop >= 0).then_some(stop), step: Some(step) })?);
            k = end;
        }
        let joined = match pieces.len() {
            0 => piece(IndexItem::Slice { start: Some(0), stop: Some(0), step: None })?,
            1 => pieces.pop().expect("one piece"),
            _ => Array::concatenate(&pieces, q as i64)?,
        };
        if target == q {
            return Ok(joined);
        }
        let mut perm: Vec<i64> = (0..joined.ndim() as i64).filter(|&a| a != q as i64).collect();
        perm.insert(target, q as i64);
        joined.transpose(Some(&perm))
    }
}
