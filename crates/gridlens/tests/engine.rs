//! The chunked engine against plain eager computations on `ndarray`, for random shapes,
//! chunkings that do not divide evenly, slices with steps, broadcasting and reductions.

use gridlens::expr::{Array, BinaryOp, IndexItem, ReduceFunc, UnaryOp};
use gridlens::source::MemorySource;
use gridlens::{Block, Chunks, DType, ExecOptions, compute};
use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use std::sync::Arc;

fn source(a: &ArrayD<f64>, chunks: Chunks) -> Array {
    Array::from_source(Arc::new(MemorySource::new("test", Block::from_ndarray(a.clone()), Some(chunks))))
}

fn run(a: &Array) -> ArrayD<f64> {
    compute(a, &ExecOptions { threads: 2, memory_limit: 0, ..Default::default() }).expect("compute").to_f64_ndarray()
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>, rel: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= rel * (x.abs().max(y.abs()).max(1e-300));
        prop_assert!(ok, "{} != {} (got {:?}, want {:?})", x, y, a, b);
    }
    Ok(())
}

/// A shape of 1–3 axes and, per axis, block lengths that need not divide it.
fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<usize>>)> {
    prop::collection::vec(1usize..9, 1..4).prop_flat_map(|shape| {
        let chunks: Vec<_> = shape
            .iter()
            .map(|&n| {
                prop::collection::vec(1usize..5, n..=n).prop_map(move |cuts| {
                    // random block lengths adding up to n
                    let mut out = Vec::new();
                    let mut left = n;
                    for c in cuts {
                        if left == 0 {
                            break;
                        }
                        let b = c.min(left);
                        out.push(b);
                        left -= b;
                    }
                    out
                })
            })
            .collect();
        (Just(shape), chunks)
    })
}

fn values(shape: &[usize], seed: u64, nan_every: usize) -> ArrayD<f64> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut k = 0usize;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        k += 1;
        if nan_every > 0 && k.is_multiple_of(nan_every) {
            return f64::NAN;
        }
        ((state >> 33) as f64 / (1u64 << 31) as f64) * 20.0 - 10.0
    })
}

/// Python's `range(start, stop, step)` after `slice.indices(n)`, written out independently.
fn py_indices(n: usize, start: Option<i64>, stop: Option<i64>, step: i64) -> Vec<usize> {
    let n = n as i64;
    let (start, stop) = if step > 0 {
        let s = start.map_or(0, |s| if s < 0 { (s + n).max(0) } else { s.min(n) });
        let e = stop.map_or(n, |e| if e < 0 { (e + n).max(0) } else { e.min(n) });
        (s, e)
    } else {
        let s = start.map_or(n - 1, |s| if s < 0 { (s + n).max(-1) } else { s.min(n - 1) });
        let e = stop.map_or(-1, |e| if e < 0 { (e + n).max(-1) } else { e.min(n - 1) });
        (s, e)
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn elementwise_with_broadcasting_and_mixed_chunks(
        (shape, chunks) in shape_and_chunks(),
        other in prop::collection::vec(1usize..5, 1..4),
        drop_axes in 0usize..3,
        bcast_mask in 0u8..8,
        op in 0usize..7,
        seed in 0u64..1000,
    ) {
        let a = values(&shape, seed, 0);
        // b: trailing axes of a's shape, some set to 1 (broadcast), with its own chunks
        let keep = shape.len().saturating_sub(drop_axes).max(1);
        let bshape: Vec<usize> = shape[shape.len() - keep..].iter().enumerate()
            .map(|(i, &n)| if bcast_mask & (1 << i) != 0 { 1 } else { n }).collect();
        let bchunks: Vec<usize> = bshape.iter().enumerate().map(|(i, &n)| other[i % other.len()].min(n)).collect();
        let b = values(&bshape, seed + 1, 0);
        let x = source(&a, Chunks::new(chunks.clone()));
        let y = source(&b, Chunks::regular(&bshape, &bchunks));
        let (expr, want): (Array, ArrayD<f64>) = match op {
            0 => (Array::binary(&x, BinaryOp::Add, &y).unwrap(), &a + &b),
            1 => (Array::binary(&x, BinaryOp::Sub, &y).unwrap(), &a - &b),
            2 => (Array::binary(&x, BinaryOp::Mul, &y).unwrap(), &a * &b),
            3 => (Array::binary(&x, BinaryOp::Div, &y).unwrap(), &a / &b),
            4 => {
                let e = Array::binary(&x, BinaryOp::Maximum, &y).unwrap();
                let bb = b.broadcast(a.shape()).unwrap();
                (e, ndarray::Zip::from(&a).and(&bb).map_collect(|p, q| p.max(*q)))
            }
            5 => {
                // where(x > y, x * 2 - 1, y ** 2): a fused chain with a condition
                let c = Array::binary(&x, BinaryOp::Gt, &y).unwrap();
                let t = Array::binary(Array::binary(&x, BinaryOp::Mul, 2.0).unwrap(), BinaryOp::Sub, 1.0).unwrap();
                let f = Array::binary(&y, BinaryOp::Pow, 2.0).unwrap();
                let bb = b.broadcast(a.shape()).unwrap();
                (Array::where_(c, t, f).unwrap(), ndarray::Zip::from(&a).and(&bb).map_collect(|p, q| if p > q { p * 2.0 - 1.0 } else { q * q }))
            }
            _ => {
                let e = Array::binary(&x, BinaryOp::Sub, &y).unwrap().unary(UnaryOp::Abs).unwrap().unary(UnaryOp::Sqrt).unwrap();
                (e, (&a - &b).mapv(|v| v.abs().sqrt()))
            }
        };
        close(&run(&expr), &want, 1e-15)?;
    }

    #[test]
    fn basic_indexing_matches_python_semantics(
        (shape, chunks) in shape_and_chunks(),
        specs in prop::collection::vec((prop::option::of(-10i64..10), prop::option::of(-10i64..10), prop_oneof![Just(1i64), Just(2), Just(3), Just(-1), Just(-2), Just(-3)], 0u8..6), 3),
        seed in 0u64..1000,
    ) {
        let a = values(&shape, seed, 0);
        let x = source(&a, Chunks::new(chunks));
        let mut items = Vec::new();
        let mut picks: Vec<Option<Vec<usize>>> = Vec::new(); // None: integer (axis dropped)
        let mut newaxes = Vec::new();
        for (d, &n) in shape.iter().enumerate() {
            let (start, stop, step, kind) = specs[d];
            if kind == 0 {
                let i = start.unwrap_or(0).rem_euclid(n as i64);
                let i = if stop.unwrap_or(0) % 2 == 0 { i } else { i - n as i64 }; // negative too
                items.push(IndexItem::Int(i));
                picks.push(Some(vec![i.rem_euclid(n as i64) as usize]));
                picks.last_mut().unwrap().as_mut().unwrap().push(usize::MAX); // marker: dropped
            } else {
                if kind == 1 {
                    items.push(IndexItem::NewAxis);
                    newaxes.push(items.len() - 1);
                }
                items.push(IndexItem::Slice { start, stop, step: Some(step) });
                picks.push(Some(py_indices(n, start, stop, step)));
            }
        }
        let got = run(&x.index(&items).unwrap());
        // reference: gather by explicit index lists
        let mut out_shape = Vec::new();
        for (d, p) in picks.iter().enumerate() {
            let p = p.as_ref().unwrap();
            let dropped = p.last() == Some(&usize::MAX);
            if matches!(specs[d].3, 1) { out_shape.push(1); }
            if !dropped { out_shape.push(p.len()); }
        }
        let lists: Vec<Vec<usize>> = picks.iter().map(|p| {
            let p = p.as_ref().unwrap();
            if p.last() == Some(&usize::MAX) { vec![p[0]] } else { p.clone() }
        }).collect();
        let total: usize = lists.iter().map(Vec::len).product();
        let mut flat = Vec::with_capacity(total);
        let mut idx = vec![0usize; lists.len()];
        if total > 0 {
            loop {
                let src: Vec<usize> = idx.iter().enumerate().map(|(d, &i)| lists[d][i]).collect();
                flat.push(a[IxDyn(&src)]);
                let mut d = lists.len();
                let mut done = true;
                while d > 0 {
                    d -= 1;
                    idx[d] += 1;
                    if idx[d] < lists[d].len() { done = false; break; }
                    idx[d] = 0;
                }
                if done { break; }
            }
        }
        let want = ArrayD::from_shape_vec(IxDyn(&out_shape), flat).unwrap();
        close(&got, &want, 0.0)?;
    }

    #[test]
    fn reductions_over_axes_with_nans(
        (shape, chunks) in shape_and_chunks(),
        axis_mask in 0u8..8,
        keepdims in any::<bool>(),
        func in 0usize..12,
        split_every in 2usize..5,
        seed in 0u64..1000,
    ) {
        let funcs = [ReduceFunc::Sum, ReduceFunc::Mean, ReduceFunc::Var, ReduceFunc::Std, ReduceFunc::Min, ReduceFunc::Max,
            ReduceFunc::NanSum, ReduceFunc::NanMean, ReduceFunc::NanVar, ReduceFunc::NanStd, ReduceFunc::NanMax, ReduceFunc::Count];
        let f = funcs[func];
        let a = values(&shape, seed, 7);
        let axes: Vec<usize> = (0..shape.len()).filter(|d| axis_mask & (1 << d) != 0).collect();
        let axes = if axes.is_empty() { (0..shape.len()).collect() } else { axes };
        let x = source(&a, Chunks::new(chunks));
        let ax: Vec<i64> = axes.iter().map(|&d| d as i64 - if seed % 2 == 0 { shape.len() as i64 } else { 0 }).collect();
        let ddof = if matches!(f, ReduceFunc::Var | ReduceFunc::NanVar) { 1.0 } else { 0.0 };
        let got = run(&x.reduce(f, Some(&ax), keepdims, ddof, Some(split_every)).unwrap());
        // reference: move reduced axes last, flatten them, reduce each lane directly
        let mut perm: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
        perm.extend(&axes);
        let t = a.clone().permuted_axes(IxDyn(&perm));
        let keep_shape: Vec<usize> = perm[..shape.len() - axes.len()].iter().map(|&d| shape[d]).collect();
        let lane: usize = axes.iter().map(|&d| shape[d]).product();
        let flat = t.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&[keep_shape.iter().product::<usize>(), lane])).unwrap();
        let reduce_lane = |v: Vec<f64>| -> f64 {
            let nn: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
            let var = |v: &[f64], ddof: f64| { let m = v.iter().sum::<f64>() / v.len() as f64; v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - ddof).max(0.0) };
            match f {
                ReduceFunc::Sum => v.iter().sum(),
                ReduceFunc::Mean => v.iter().sum::<f64>() / v.len() as f64,
                ReduceFunc::Var => var(&v, ddof),
                ReduceFunc::Std => var(&v, ddof).sqrt(),
                ReduceFunc::Min => if v.iter().any(|x| x.is_nan()) { f64::NAN } else { v.iter().copied().fold(f64::INFINITY, f64::min) },
                ReduceFunc::Max => if v.iter().any(|x| x.is_nan()) { f64::NAN } else { v.iter().copied().fold(f64::NEG_INFINITY, f64::max) },
                ReduceFunc::NanSum => nn.iter().sum(),
                ReduceFunc::NanMean => if nn.is_empty() { f64::NAN } else { nn.iter().sum::<f64>() / nn.len() as f64 },
                ReduceFunc::NanVar => if nn.is_empty() { f64::NAN } else { var(&nn, ddof) },
                ReduceFunc::NanStd => if nn.is_empty() { f64::NAN } else { var(&nn, ddof).sqrt() },
                ReduceFunc::NanMax => if nn.is_empty() { f64::NAN } else { nn.iter().copied().fold(f64::NEG_INFINITY, f64::max) },
                _ => nn.len() as f64,
            }
        };
        let vals: Vec<f64> = flat.axis_iter(Axis(0)).map(|l| reduce_lane(l.iter().copied().collect())).collect();
        let mut want_shape = keep_shape.clone();
        if keepdims {
            want_shape = shape.iter().enumerate().map(|(d, &n)| if axes.contains(&d) { 1 } else { n }).collect();
        }
        let want = ArrayD::from_shape_vec(IxDyn(&want_shape), vals).unwrap();
        close(&got, &want, 1e-11)?;
    }

    #[test]
    fn transpose_stack_concatenate(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        axis in 0usize..4,
    ) {
        let a = values(&shape, seed, 0);
        let b = values(&shape, seed + 7, 0);
        let x = source(&a, Chunks::new(chunks.clone()));
        let y = source(&b, Chunks::regular(&shape, &vec![2; shape.len()]));
        let t = run(&x.transpose(None).unwrap());
        close(&t, &a.t().to_owned(), 0.0)?;
        let sa = axis % (shape.len() + 1);
        let s = run(&Array::stack(&[x.clone(), y.clone()], sa as i64).unwrap());
        let want = ndarray::stack(Axis(sa), &[a.view(), b.view()]).unwrap();
        close(&s, &want, 0.0)?;
        let ca = axis % shape.len();
        let c = run(&Array::concatenate(&[x, y], ca as i64).unwrap());
        let want = ndarray::concatenate(Axis(ca), &[a.view(), b.view()]).unwrap();
        close(&c, &want, 0.0)?;
    }
}

#[test]
fn topk_equals_a_sort() {
    let a = values(&[7, 23], 3, 0);
    let x = source(&a, Chunks::regular(&[7, 23], &[3, 5]));
    let got = run(&x.topk(4, -1).unwrap());
    let small = run(&x.topk(-3, 1).unwrap());
    for r in 0..7 {
        let mut row: Vec<f64> = a.index_axis(Axis(0), r).iter().copied().collect();
        row.sort_by(|p, q| q.partial_cmp(p).unwrap());
        assert_eq!(got.index_axis(Axis(0), r).iter().copied().collect::<Vec<_>>(), row[..4].to_vec());
        row.reverse();
        assert_eq!(small.index_axis(Axis(0), r).iter().copied().collect::<Vec<_>>(), row[..3].to_vec());
    }
}

#[test]
fn lennard_jones_matches_a_double_loop() {
    let n = 57;
    let c = values(&[n, 3], 11, 0);
    let x = source(&c, Chunks::regular(&[n, 3], &[10, 3]));
    let names = std::collections::HashMap::from([("c".to_string(), x)]);
    let e = gridlens::expr::parse::evaluate(
        "r2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1); sr6 = (1 / r2) ** 3; nansum(4 * (sr6 * sr6 - sr6)) / 2",
        &names,
    )
    .unwrap();
    let got = run(&e)[IxDyn(&[])];
    let mut want = 0.0;
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let r2: f64 = (0..3).map(|k| (c[[i, k]] - c[[j, k]]).powi(2)).sum();
            let sr6 = (1.0 / r2).powi(3);
            want += 4.0 * (sr6 * sr6 - sr6);
        }
    }
    want /= 2.0;
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
}

#[test]
fn float32_sums_keep_float64_digits() {
    // 1e6 float32 values; the float64 sum of their exact values is the truth.
    let v: Vec<f32> = (0..1_000_000).map(|i| 1.0 + (i % 1000) as f32 * 1e-3).collect();
    let want: f64 = v.iter().map(|&x| x as f64).sum();
    let b = Block::from_vec(&[v.len()], v);
    let x = Array::from_source(Arc::new(MemorySource::new("v", b, Some(Chunks::regular(&[1_000_000], &[65_536])))));
    let s = compute(&x.sum(None).unwrap(), &ExecOptions::default()).unwrap();
    assert_eq!(s.dtype(), DType::F64);
    let got = s.data().get_f64(0);
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    let m = compute(&x.mean(None).unwrap(), &ExecOptions::default()).unwrap().data().get_f64(0);
    assert!((m - want / 1e6).abs() < 1e-12);
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let names = std::collections::HashMap::new();
    let e =
        gridlens::expr::parse::evaluate("random.normal(10, 0.1, size=(2000, 1500), chunks=(300, 250), seed=7).mean(axis=0)[::7]", &names)
            .unwrap();
    let one = compute(&e, &ExecOptions { threads: 1, memory_limit: 0, ..Default::default() }).unwrap();
    let four = compute(&e, &ExecOptions { threads: 4, memory_limit: 0, ..Default::default() }).unwrap();
    assert_eq!(one, four, "bit-identical with 1 and 4 threads");
    let v = one.to_f64_ndarray();
    assert!(v.iter().all(|m| (m - 10.0).abs() < 0.02), "column means near 10");
}

#[test]
fn integer_arithmetic_wraps_like_numpy() {
    // numpy: np.array([30000, -30000, 7, -7], np.int16) * 2 -> [-5536, 5536, 14, -14]
    //        ... // 2 -> [15000, -15000, 3, -4];  % 3 -> [0, 0, 1, 2]
    let b = Block::from_vec(&[4], vec![30000i16, -30000, 7, -7]);
    let x = Array::from_source(Arc::new(MemorySource::new("i", b, None)));
    let mul = compute(&Array::binary(&x, BinaryOp::Mul, 2i64).unwrap(), &ExecOptions::default()).unwrap();
    assert_eq!(mul, Block::from_vec(&[4], vec![-5536i16, 5536, 14, -14]));
    let fd = compute(&Array::binary(&x, BinaryOp::FloorDiv, 2i64).unwrap(), &ExecOptions::default()).unwrap();
    assert_eq!(fd, Block::from_vec(&[4], vec![15000i16, -15000, 3, -4]));
    let md = compute(&Array::binary(&x, BinaryOp::Mod, 3i64).unwrap(), &ExecOptions::default()).unwrap();
    assert_eq!(md, Block::from_vec(&[4], vec![0i16, 0, 1, 2]));
    let mean = compute(&x.mean(None).unwrap(), &ExecOptions::default()).unwrap();
    assert_eq!(mean.dtype(), DType::F64);
    assert_eq!(mean.data().get_f64(0), 0.0);
}

#[test]
fn reductions_read_in_slabs_equal_eager_results() {
    // Blocks of 2.2 MB are folded in several cache-sized slabs each; odd extents on purpose.
    let shape = [3, 701, 399];
    let a = values(&shape, 5, 11);
    let x = source(&a, Chunks::regular(&shape, &[1, 701, 399]));
    let eager_nanmean0 = {
        let mut out = ArrayD::<f64>::zeros(IxDyn(&[701, 399]));
        for r in 0..701 {
            for c in 0..399 {
                let v: Vec<f64> = (0..3).map(|d| a[[d, r, c]]).filter(|v| !v.is_nan()).collect();
                out[[r, c]] = if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
            }
        }
        out
    };
    let got = run(&x.reduce(ReduceFunc::NanMean, Some(&[0]), false, 0.0, None).unwrap());
    close(&got, &eager_nanmean0, 1e-12).unwrap();
    let max_rows = run(&x.reduce(ReduceFunc::NanMax, Some(&[0, 2]), true, 0.0, None).unwrap());
    for r in [0, 350, 700] {
        let want = (0..3)
            .flat_map(|d| (0..399).map(move |c| (d, c)))
            .map(|(d, c)| a[[d, r, c]])
            .filter(|v| !v.is_nan())
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(max_rows[[0, r, 0]], want, "row {r}");
    }
    let total = run(&x.reduce(ReduceFunc::NanSum, None, false, 0.0, None).unwrap())[IxDyn(&[])];
    let want: f64 = a.iter().filter(|v| !v.is_nan()).sum();
    assert!((total - want).abs() < 1e-9 * want.abs().max(1.0), "{total} vs {want}");
}

#[test]
fn a_reduction_of_few_blocks_is_split_so_every_core_has_work() {
    // 25 blocks under split_every = 32 used to be one group: one task, one thread.
    let data = ArrayD::from_shape_fn(IxDyn(&[25_000]), |i| (i[0] as f64 * 0.37).sin());
    let a = source(&data, Chunks::regular(&[25_000], &[1000]));
    let total = a.reduce(ReduceFunc::Sum, None, false, 0.0, None).unwrap();
    let plan = gridlens::Plan::build(&total, false).unwrap();
    let reads = plan.stage_counts()[0];
    assert!(reads >= 8, "{reads} read tasks for 25 blocks");
    let expected: f64 = data.iter().sum();
    let got = run(&total).into_iter().next().unwrap();
    assert!((got - expected).abs() <= 1e-9 * data.len() as f64, "{got} vs {expected}");
}

#[test]
fn small_integer_powers_equal_numpys() {
    // `** 2` and `** 3` of floats are planned as products: the numbers must not change.
    let data = ArrayD::from_shape_fn(IxDyn(&[7, 5]), |i| (i[0] as f64 - 3.3) * 1.7e3 + i[1] as f64 * 0.013 - 1e-3);
    let x = source(&data, Chunks::regular(&[7, 5], &[3, 2]));
    for (p, f) in [
        (2.0, &(|v: f64| v * v) as &dyn Fn(f64) -> f64),
        (3.0, &|v: f64| v * v * v),
        (2.5, &|v: f64| v.powf(2.5)),
        (-1.0, &|v: f64| v.powf(-1.0)),
    ] {
        let got = run(&Array::binary(&x, BinaryOp::Pow, p).unwrap());
        let same = got.iter().zip(data.mapv(f).iter()).all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
        assert!(same, "x ** {p}: {got} vs {}", data.mapv(f));
    }
    // integers keep NumPy's wrapping integer power
    let ints = Arc::new(MemorySource::new("ints", Block::from_vec(&[4], vec![3i64, -7, 1 << 22, i64::MAX]), None));
    let xi = Array::from_source(ints);
    let cube = compute(&Array::binary(&xi, BinaryOp::Pow, 3i64).unwrap(), &ExecOptions::default()).unwrap();
    let expected = Block::from_vec(&[4], vec![27i64, -343, (1i64 << 22).wrapping_pow(3), i64::MAX.wrapping_pow(3)]);
    assert_eq!(cube.data(), expected.data());
}

proptest! {
    #[test]
    fn argmax_and_argmin_give_numpys_indices(
        (shape, chunks) in shape_and_chunks(),
        axis in prop::option::of(0usize..3),
        keepdims in any::<bool>(),
        func in 0usize..4,
        nan_every in prop::sample::select(vec![0usize, 4, 9]),
        split_every in 2usize..5,
        seed in 0u64..1000,
    ) {
        let f = [ReduceFunc::ArgMax, ReduceFunc::ArgMin, ReduceFunc::NanArgMax, ReduceFunc::NanArgMin][func];
        // few distinct values, so ties are common: the first occurrence must win
        let a = values(&shape, seed, nan_every).mapv(|v| (v / 4.0).round());
        let axis = axis.map(|d| d % shape.len());
        let x = source(&a, Chunks::new(chunks));
        let ax = axis.map(|d| vec![d as i64]);
        let lazy = x.reduce(f, ax.as_deref(), keepdims, 0.0, Some(split_every)).unwrap();
        // reference: NumPy's rule written out on each lane (the reduced axis moved last)
        let (keep, lanes): (Vec<usize>, ArrayD<f64>) = match axis {
            None => (vec![], a.clone().into_shape_with_order(IxDyn(&[1, a.len()])).unwrap()),
            Some(d) => {
                let mut perm: Vec<usize> = (0..shape.len()).filter(|&k| k != d).collect();
                perm.push(d);
                let keep: Vec<usize> = perm[..shape.len() - 1].iter().map(|&k| shape[k]).collect();
                let t = a.clone().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned();
                (keep.clone(), t.into_shape_with_order(IxDyn(&[keep.iter().product::<usize>(), shape[d]])).unwrap())
            }
        };
        let skip_nan = matches!(f, ReduceFunc::NanArgMax | ReduceFunc::NanArgMin);
        let max = matches!(f, ReduceFunc::ArgMax | ReduceFunc::NanArgMax);
        let pick = |lane: Vec<f64>| -> Option<usize> {
            if !skip_nan && let Some(i) = lane.iter().position(|v| v.is_nan()) {
                return Some(i);
            }
            let mut best: Option<usize> = None;
            for (i, &v) in lane.iter().enumerate() {
                if v.is_nan() { continue; }
                if best.is_none_or(|b| if max { v > lane[b] } else { v < lane[b] }) { best = Some(i); }
            }
            best
        };
        let picks: Vec<Option<usize>> = lanes.axis_iter(Axis(0)).map(|l| pick(l.iter().copied().collect())).collect();
        let result = compute(&lazy, &ExecOptions { threads: 2, memory_limit: 0, ..Default::default() });
        if picks.iter().any(Option::is_none) {
            // nanargmax of an all-NaN slice: an error, as NumPy raises
            let e = result.expect_err("all-NaN slice");
            prop_assert!(e.to_string().contains("all-NaN slice"), "{e}");
            return Ok(());
        }
        let got = result.unwrap();
        prop_assert_eq!(got.dtype(), DType::I64);
        let mut want_shape = keep.clone();
        if keepdims {
            want_shape = match axis { None => vec![1; shape.len()], Some(d) => shape.iter().enumerate().map(|(k, &n)| if k == d { 1 } else { n }).collect() };
        }
        prop_assert_eq!(got.shape(), &want_shape[..]);
        let want: Vec<f64> = picks.into_iter().map(|p| p.unwrap() as f64).collect();
        prop_assert_eq!(got.to_f64_ndarray().into_iter().collect::<Vec<_>>(), want);
    }
}

/// `np.arange(120).reshape(2, 3, 4, 5)[INDEX]`: shape and values as NumPy 2.4 printed them,
/// including where NumPy moves the list's axis to the front (a slice or None between the
/// list and an integer).
const NUMPY_LIST_INDEXING: &[(&str, &[usize], &[i64])] = &[
    (
        "[0, :, [3, 1]]",
        &[2, 3, 5],
        &[15, 16, 17, 18, 19, 35, 36, 37, 38, 39, 55, 56, 57, 58, 59, 5, 6, 7, 8, 9, 25, 26, 27, 28, 29, 45, 46, 47, 48, 49],
    ),
    ("[:, 0, [3, 1]]", &[2, 2, 5], &[15, 16, 17, 18, 19, 5, 6, 7, 8, 9, 75, 76, 77, 78, 79, 65, 66, 67, 68, 69]),
    (
        "[..., [4, 0, 4]]",
        &[2, 3, 4, 3],
        &[
            4, 0, 4, 9, 5, 9, 14, 10, 14, 19, 15, 19, 24, 20, 24, 29, 25, 29, 34, 30, 34, 39, 35, 39, 44, 40, 44, 49, 45, 49, 54, 50, 54,
            59, 55, 59, 64, 60, 64, 69, 65, 69, 74, 70, 74, 79, 75, 79, 84, 80, 84, 89, 85, 89, 94, 90, 94, 99, 95, 99, 104, 100, 104, 109,
            105, 109, 114, 110, 114, 119, 115, 119,
        ],
    ),
    ("[1, [2, 0], ::2]", &[2, 2, 5], &[100, 101, 102, 103, 104, 110, 111, 112, 113, 114, 60, 61, 62, 63, 64, 70, 71, 72, 73, 74]),
    (
        "[:, None, [True, False, True]]",
        &[2, 1, 2, 4, 5],
        &[
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53,
            54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 100, 101, 102, 103,
            104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119,
        ],
    ),
    (
        "[0, None, [1, 2]]",
        &[2, 1, 4, 5],
        &[
            20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
            52, 53, 54, 55, 56, 57, 58, 59,
        ],
    ),
    (
        "[[-1, 0]]",
        &[2, 3, 4, 5],
        &[
            60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91,
            92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118,
            119, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
            33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
        ],
    ),
    (
        "[:, [0, 1, 2], 1:3]",
        &[2, 3, 2, 5],
        &[
            5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 65, 66, 67,
            68, 69, 70, 71, 72, 73, 74, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114,
        ],
    ),
    ("[[], 0]", &[0, 4, 5], &[]),
    ("[1, :, [2, 2, 3], 4]", &[3, 3], &[74, 94, 114, 74, 94, 114, 79, 99, 119]),
    (
        "[::-1, [2, 1, 0], -1]",
        &[2, 3, 5],
        &[115, 116, 117, 118, 119, 95, 96, 97, 98, 99, 75, 76, 77, 78, 79, 55, 56, 57, 58, 59, 35, 36, 37, 38, 39, 15, 16, 17, 18, 19],
    ),
    ("[:, 0, :, ..., [0, 1]]", &[2, 2, 4], &[0, 5, 10, 15, 60, 65, 70, 75, 1, 6, 11, 16, 61, 66, 71, 76]),
    ("[0, ..., [4, 2]]", &[2, 3, 4], &[4, 9, 14, 19, 24, 29, 34, 39, 44, 49, 54, 59, 2, 7, 12, 17, 22, 27, 32, 37, 42, 47, 52, 57]),
    (
        "[1, [2, 0], ...]",
        &[2, 4, 5],
        &[
            100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 60, 61, 62, 63, 64, 65, 66,
            67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
        ],
    ),
    ("[:, :, 1, ..., [3, 0]]", &[2, 2, 3], &[8, 28, 48, 68, 88, 108, 5, 25, 45, 65, 85, 105]),
    ("[:, :, 1, [3, 0], ...]", &[2, 3, 2], &[8, 5, 28, 25, 48, 45, 68, 65, 88, 85, 108, 105]),
    ("[0, 1:, 0, [4, 2, 0, 1]]", &[4, 2], &[24, 44, 22, 42, 20, 40, 21, 41]),
];

#[test]
fn a_list_index_equals_numpys_advanced_indexing() {
    let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 5]), |i| (((i[0] * 3 + i[1]) * 4 + i[2]) * 5 + i[3]) as f64);
    // blocks that do not divide the axes, so runs of positions cross block edges
    let x = source(&a, Chunks::new(vec![vec![1, 1], vec![2, 1], vec![3, 1], vec![2, 2, 1]]));
    let names = std::collections::HashMap::from([("a".to_string(), x)]);
    for &(index, shape, values) in NUMPY_LIST_INDEXING {
        let e = gridlens::expr::parse::evaluate(&format!("a{index}"), &names).unwrap_or_else(|e| panic!("a{index}: {e}"));
        let got = run(&e);
        assert_eq!(got.shape(), shape, "a{index}");
        let want: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        assert_eq!(got.iter().copied().collect::<Vec<_>>(), want, "a{index}");
    }
}

#[test]
fn bad_index_lists_are_refused_with_numpys_reasons() {
    let a = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64);
    let names = std::collections::HashMap::from([("a".to_string(), source(&a, Chunks::new(vec![vec![2, 1], vec![4]])))]);
    let err = |text: &str| gridlens::expr::parse::evaluate(text, &names).map(|_| ()).unwrap_err().to_string();
    assert!(err("a[[0, 3]]").contains("index 3 is out of bounds for axis 0 with size 3"), "{}", err("a[[0, 3]]"));
    assert!(err("a[:, [True, False]]").contains("size of axis is 4 but size of corresponding boolean axis is 2"));
    assert!(err("a[[0, 1], [1, 2]]").contains("only one index list"));
    assert!(err("a[[0, True]]").contains("integers or booleans, not both"));
    assert!(err("a[[0.5]]").contains("an index list holds integers or booleans"));
    assert!(err("a[a > 3]").contains("computed array"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn one_index_list_equals_a_gather(
        (shape, chunks) in shape_and_chunks(),
        axis_pick in 0usize..3,
        picks in prop::collection::vec(-9i64..9, 0..9),
        mask_bits in any::<u16>(),
        use_mask in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let a = values(&shape, seed, 0);
        let x = source(&a, Chunks::new(chunks));
        let axis = axis_pick % shape.len();
        let n = shape[axis] as i64;
        let (item, positions): (IndexItem, Vec<usize>) = if use_mask {
            let mask: Vec<bool> = (0..n).map(|i| mask_bits >> i & 1 == 1).collect();
            let pos = (0..n as usize).filter(|&i| mask[i]).collect();
            (IndexItem::Mask(mask), pos)
        } else {
            // in range, negatives too, duplicates and runs as they come
            let list: Vec<i64> = picks.iter().map(|&p| if p >= 0 { p % n } else { -1 - (-1 - p) % n }).collect();
            let pos = list.iter().map(|&i| i.rem_euclid(n) as usize).collect();
            (IndexItem::Positions(list), pos)
        };
        let mut items = vec![IndexItem::Slice { start: None, stop: None, step: None }; axis];
        items.push(item);
        let got = run(&x.index(&items).unwrap());
        let want = a.select(Axis(axis), &positions);
        close(&got, &want, 0.0)?;
    }
}
// float32 values written with the digits Python printed for them (as doubles)
#[allow(clippy::excessive_precision)]
const QUANTILE_F32: [f32; 30] = [
    -8.01931381225586,
    -13.243590354919434,
    -2.4836161136627197,
    4.2044525146484375,
    11.360465049743652,
    1.0970640182495117,
    -5.526473045349121,
    -7.847803592681885,
    7.487457752227783,
    16.347829818725586,
    2.7276878356933594,
    -12.33328628540039,
    -9.58265209197998,
    f32::NAN,
    2.0288243293762207,
    -17.321348190307617,
    -0.8369619250297546,
    -11.632259368896484,
    -6.292881011962891,
    -4.880058288574219,
    -7.133133888244629,
    5.533784866333008,
    -0.6308597326278687,
    -5.894312381744385,
    4.096378326416016,
    8.298553466796875,
    -16.430233001708984,
    -2.5673012733459473,
    -9.807473182678223,
    -1.731552243232727,
];
const QUANTILE_I16: [i16; 12] = [55, 41, 54, -100, -93, 0, -33, -13, 86, -60, 5, -36];
const QUANTILE_F64: [f64; 21] = [
    -1.091328901695709,
    -1.3552087462047395,
    0.22478573245989314,
    -1.109349937891366,
    1.1702961011782933,
    0.7165876558738361,
    -1.9978166924497212,
    0.272128869412488,
    -1.1017166275810448,
    0.033057220158269195,
    0.04363199256942161,
    -1.9884297882311208,
    -0.23342252376577002,
    -0.255790031399391,
    0.9620005318430944,
    -1.1814468079562157,
    0.7380418978456841,
    -1.0989727630364063,
    -0.33129089269991674,
    -0.8404731684222111,
    1.448731288921672,
];
const QUANTILE_NAN_F64: [f64; 24] = [
    -1.2894187467538587,
    0.0206903940375912,
    f64::NAN,
    f64::NAN,
    f64::NAN,
    -0.3961903304730927,
    f64::NAN,
    -1.3552087462047395,
    0.22478573245989314,
    -1.109349937891366,
    f64::NAN,
    0.7165876558738361,
    -1.9978166924497212,
    0.272128869412488,
    f64::NAN,
    0.033057220158269195,
    f64::NAN,
    -1.9884297882311208,
    f64::NAN,
    -0.255790031399391,
    0.9620005318430944,
    -1.1814468079562157,
    f64::NAN,
    -1.0989727630364063,
];
/// (expression, dtype, values) as NumPy 2.4 gives them (its nan* functions skip NaN; a lane
/// of NaN only gives NaN)
const NUMPY_QUANTILES: &[(&str, &str, &[f64])] = &[
    ("median(f, axis=0)", "float32", &[-3.0180349349975586, -8.929880142211914, -5.207552433013916, f64::NAN, 3.062601327896118]),
    ("quantile(f, 0.3, axis=0)", "float32", &[-7.576223850250244, -12.78843879699707, -8.715228080749512, f64::NAN, 0.1486361026763916]),
    (
        "percentile(f, 95, axis=1)",
        "float32",
        &[9.929262161254883, 14.57575511932373, f64::NAN, -1.6455812454223633, 5.246303558349609, 6.292531967163086],
    ),
    ("median(i, axis=0)", "float64", &[-46.5, -4.0, 27.0]),
    ("quantile(i, 0.7, axis=1)", "float64", &[54.4, -55.80000000000001, 26.599999999999994, -19.600000000000005]),
    ("median(d, axis=0)", "float64", &[-1.091328901695709, 0.04363199256942161, 0.22478573245989314]),
    ("quantile(d, 0.61, axis=0)", "float64", &[-0.589703815758486, 0.19443993128584544, 0.5493750019130956]),
    (
        "quantile(d, 1, axis=1)",
        "float64",
        &[
            0.22478573245989314,
            1.1702961011782933,
            0.272128869412488,
            0.04363199256942161,
            0.9620005318430944,
            0.7380418978456841,
            1.448731288921672,
        ],
    ),
    ("quantile(d, 0, axis=0)", "float64", &[-1.9978166924497212, -1.3552087462047395, -1.9884297882311208]),
    (
        "nanmedian(f, axis=0)",
        "float32",
        &[-3.0180349349975586, -8.929880142211914, -5.207552433013916, -5.894312381744385, 3.062601327896118],
    ),
    (
        "nanquantile(f, 0.3, axis=0)",
        "float32",
        &[-7.576223850250244, -12.78843879699707, -8.715228080749512, -6.213167190551758, 0.1486361026763916],
    ),
    ("nanmedian(g, axis=0)", "float64", &[-0.5323165071469828, -0.7527701341822294, f64::NAN, -0.255790031399391]),
    ("nanquantile(g, 0.77, axis=0)", "float64", &[0.4533223202686856, -0.04184171463901136, f64::NAN, 0.08773965501551459]),
    (
        "nanpercentile(g, 12.5, axis=1)",
        "float64",
        &[-1.1256551041549274, -1.2353314442382837, -0.7758160203035512, -1.4900982142977237, -1.7718498186271545, -1.1608282967262633],
    ),
    ("median(g, axis=1)", "float64", &[f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN]),
    (
        "nanmedian(g, axis=1)",
        "float64",
        &[-0.6343641763581338, -0.8756995383389161, 0.22478573245989314, 0.033057220158269195, -1.1221099098152558, -1.0989727630364063],
    ),
];

#[test]
fn quantiles_and_medians_equal_numpys() {
    let mem =
        |name: &str, b: Block, chunks: Vec<Vec<usize>>| Array::from_source(Arc::new(MemorySource::new(name, b, Some(Chunks::new(chunks)))));
    // blocks that do not divide the axes, so the sort merges pieces
    let f =
        mem("f", Block::from_ndarray(ArrayD::from_shape_vec(IxDyn(&[6, 5]), QUANTILE_F32.to_vec()).unwrap()), vec![vec![4, 2], vec![2, 3]]);
    let i =
        mem("i", Block::from_ndarray(ArrayD::from_shape_vec(IxDyn(&[4, 3]), QUANTILE_I16.to_vec()).unwrap()), vec![vec![1, 3], vec![2, 1]]);
    let d =
        mem("d", Block::from_ndarray(ArrayD::from_shape_vec(IxDyn(&[7, 3]), QUANTILE_F64.to_vec()).unwrap()), vec![vec![3, 3, 1], vec![3]]);
    let g = mem(
        "g",
        Block::from_ndarray(ArrayD::from_shape_vec(IxDyn(&[6, 4]), QUANTILE_NAN_F64.to_vec()).unwrap()),
        vec![vec![2, 3, 1], vec![3, 1]],
    );
    let names = std::collections::HashMap::from([("f".to_string(), f), ("i".to_string(), i), ("d".to_string(), d), ("g".to_string(), g)]);
    // a pair whose median (a + b) / 2 differs from both interpolations a + (b - a) / 2 and
    // b - (b - a) / 2: NumPy takes the mean
    let pair = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![-0.1321048632913019, 0.1257302210933933]).unwrap();
    let m = run(&source(&pair, Chunks::new(vec![vec![1, 1], vec![1]])).median(0, false).unwrap());
    assert_eq!(m[[0]].to_bits(), (-0.003187321098954296f64).to_bits(), "np.median gives -0.003187321098954296");
    for &(text, dtype, want) in NUMPY_QUANTILES {
        let e = gridlens::expr::parse::evaluate(text, &names).unwrap_or_else(|e| panic!("{text}: {e}"));
        let got = compute(&e, &ExecOptions::default()).unwrap();
        assert_eq!(got.dtype().name(), dtype, "{text}");
        let got = got.to_f64_ndarray();
        assert_eq!(got.len(), want.len(), "{text}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{text}: {g} != NumPy's {w}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn quantiles_follow_numpys_rule_lane_by_lane(
        (shape, chunks) in shape_and_chunks(),
        axis_pick in 0usize..3,
        q in 0.0f64..=1.0,
        seed in 0u64..1000,
        nan_every in prop_oneof![Just(0usize), Just(7), Just(2)],
        skip_nan in any::<bool>(),
    ) {
        let a = values(&shape, seed, nan_every);
        let x = source(&a, Chunks::new(chunks));
        let axis = axis_pick % shape.len();
        let got = run(&x.quantile(q, axis as i64, skip_nan).unwrap());
        // NumPy's linear method on each sorted lane (its non-NaN values for nanquantile):
        // ranks (n - 1) q, then _lerp; NaN for a lane with NaN, or with nothing to rank
        let want = a.map_axis(Axis(axis), |lane| {
            if !skip_nan && lane.iter().any(|v| v.is_nan()) {
                return f64::NAN;
            }
            let mut v: Vec<f64> = lane.iter().copied().filter(|x| !x.is_nan()).collect();
            if v.is_empty() {
                return f64::NAN;
            }
            v.sort_by(f64::total_cmp);
            let vi = (v.len() - 1) as f64 * q;
            let lo = (vi.floor() as usize).min(v.len() - 1);
            let (a, b, t) = (v[lo], v[(lo + 1).min(v.len() - 1)], vi - lo as f64);
            if t >= 0.5 { b - (b - a) * (1.0 - t) } else { a + (b - a) * t }
        });
        close(&got, &want, 0.0)?;
    }
}
