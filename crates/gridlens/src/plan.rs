//! Lowering an expression to a task graph (dask's graph construction, `blockwise`,
//! reductions and `order.py`).
//!
//! A [`Plan`] is pure data: tasks in an arena addressed by [`TaskId`], each with
//! its dependencies, its [`Stage`] and the [`Work`] it does, plus a static
//! priority that keeps few intermediates alive at once. Building a plan reads no
//! data and starts no thread, so it is deterministic and testable on its own.
//!
//! Nodes of the expression are either *boundaries*, whose blocks are materialised
//! by tasks (sources, reductions, topk), or *fusable* (elementwise functions,
//! indexing, transposes, stacking, concatenation), which are compiled into the
//! [`kernel::Program`] of the task that consumes them. Each block of a fusable node
//! depends on exactly one block of each input, because chunks are propagated the
//! way dask does it (unified by refinement, sliced without rechunking).

pub mod kernel;
pub mod pieces;
pub mod reduce;

use crate::block::c_strides;
use crate::chunks::{Chunks, Region, format_bytes};
use crate::dtype::{ComputeType, DType};
use crate::expr::{Array, BinaryOp, MapFunc, Op, Operand, ReduceFunc, Reduction, UnaryOp, operand_type};
use crate::source::{Source, fmt_shape};
use kernel::{Const, Instr, Kernel, Leaf, Program, Reg};
pub use reduce::ReduceSpec;
use reduce::{partial_class, partial_width, uses_moments};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

/// Index of a task in a [`Plan`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

impl TaskId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The kinds of work a job is made of, as the progress panel shows them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Bytes in from storage (or generated).
    Read,
    /// Decompression, checksums, byte order.
    Decode,
    /// Fused elementwise kernels and the first step of reductions.
    Compute,
    /// Reduction trees and topk merges.
    Combine,
    /// Blocks out to a sink.
    Write,
}

impl Stage {
    /// How many stages there are: the length of per-stage tables.
    pub const COUNT: usize = 5;
    pub const ALL: [Stage; Stage::COUNT] = [Stage::Read, Stage::Decode, Stage::Compute, Stage::Combine, Stage::Write];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Decode => "decode",
            Stage::Compute => "compute",
            Stage::Combine => "combine",
            Stage::Write => "write",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a task does.
#[derive(Clone, Debug)]
pub enum Work {
    /// Reads `region` of `source` (one natural block).
    Read { source: Arc<dyn Source>, region: Region },
    /// Decodes the payload its one dependency fetched.
    Decode { source: Arc<dyn Source>, region: Region },
    /// Runs a fused kernel into a new block.
    Map { kernel: Kernel },
    /// Runs a fused kernel over one input block of a reduction and folds it into the partial
    /// result of dependency 0 (when `prev`); `finalize` turns the partial into the output block.
    Fold { kernel: Kernel, spec: Arc<ReduceSpec>, prev: bool, finalize: bool, out_shape: Vec<usize>, origin: Vec<usize> },
    /// Reads `regions` of `source` (one reduction group) in cache-sized slabs and folds each
    /// slab into the partial result at once, through `load` (the kernel that reads a value);
    /// `bytes` is what it reads.
    ReduceRead {
        load: Arc<Program>,
        source: Arc<dyn Source>,
        regions: Vec<Region>,
        spec: Arc<ReduceSpec>,
        finalize: bool,
        out_shape: Vec<usize>,
        bytes: usize,
    },
    /// Merges the partial results of all dependencies, in order.
    Combine { spec: Arc<ReduceSpec>, finalize: bool, out_shape: Vec<usize> },
    /// The `k` extreme values of one input block along `axis`, sorted.
    TopkPart { kernel: Kernel, k: i64, axis: usize },
    /// Merges sorted topk pieces of all dependencies.
    TopkCombine { k: i64, axis: usize },
    /// The median or a quantile of each lane along `axis` of the dependencies' blocks, joined
    /// along that axis in order; the axis is dropped.
    Quantile { stat: crate::expr::Quantile, axis: usize },
    /// Writes the output block of dependency 0 at `region` of the sink.
    Write { region: Region },
}

/// One unit of work in a [`Plan`].
#[derive(Clone, Debug)]
pub struct Task {
    pub stage: Stage,
    pub deps: Vec<TaskId>,
    pub work: Work,
    /// Estimated bytes of the task's result while it is held.
    pub out_bytes: usize,
    /// The output block this task produces, if it produces one.
    pub output_block: Option<usize>,
}

/// A failure to build a plan (an internal inconsistency, never bad user input).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("internal planning error: {0}")]
pub struct PlanError(pub String);

/// A task graph that computes every block of an array.
#[derive(Clone, Debug)]
pub struct Plan {
    pub tasks: Vec<Task>,
    /// The task producing each output block, in C order of `chunks`.
    pub outputs: Vec<TaskId>,
    /// The result's blocks and dtype.
    pub chunks: Chunks,
    pub dtype: DType,
    /// Static priority of every task (lower runs first): a depth-first order from the
    /// outputs, so that each output block's inputs are read, folded and released together.
    pub order: Vec<u32>,
    /// Whether the plan ends in write tasks.
    pub writes: bool,
}

/// Where each axis of a node is, seen from a kernel's iteration space.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Coord {
    /// The same element for the whole iteration.
    Fixed(i64),
    /// `offset + step * i` where `i` runs over iteration axis `axis`.
    Iter { axis: usize, offset: i64, step: i64 },
}

impl Coord {
    fn at_origin(self) -> i64 {
        match self {
            Coord::Fixed(c) => c,
            Coord::Iter { offset, .. } => offset,
        }
    }

    /// Smallest and largest coordinate taken over the iteration space `iter`.
    fn range(self, iter: &[usize]) -> (i64, i64) {
        match self {
            Coord::Fixed(c) => (c, c),
            Coord::Iter { axis, offset, step } => {
                let n = iter[axis] as i64;
                let last = offset + step * (n - 1).max(0);
                (offset.min(last), offset.max(last))
            }
        }
    }

    fn shifted(self, by: i64) -> Coord {
        match self {
            Coord::Fixed(c) => Coord::Fixed(c + by),
            Coord::Iter { axis, offset, step } => Coord::Iter { axis, offset: offset + by, step },
        }
    }
}

/// Collects one kernel: its program, leaves and dependencies.
#[derive(Default)]
struct KernelBuilder {
    program: Program,
    deps: Vec<TaskId>,
    leaves: Vec<Leaf>,
    cse: HashMap<(u64, Vec<Coord>), Reg>,
    leaf_cse: HashMap<Leaf, Reg>,
    consts: HashMap<Const, Reg>,
}

impl KernelBuilder {
    fn reg(&mut self, t: ComputeType) -> Reg {
        self.program.regs.push(t);
        (self.program.regs.len() - 1) as Reg
    }

    fn ty(&self, r: Reg) -> ComputeType {
        self.program.regs[r as usize]
    }

    fn push(&mut self, i: Instr) {
        self.program.instrs.push(i);
    }

    fn constant(&mut self, value: Const) -> Reg {
        if let Some(&r) = self.consts.get(&value) {
            return r;
        }
        let dst = self.reg(value.compute_type());
        self.push(Instr::Const { value, dst });
        self.consts.insert(value, dst);
        dst
    }

    /// The value of `r` when it holds a float constant (of a float register).
    fn float_constant(&self, r: Reg) -> Option<f64> {
        self.consts.iter().find(|&(_, &reg)| reg == r).and_then(|(value, _)| match *value {
            Const::F64(v) => Some(v),
            Const::F32(v) => Some(f64::from(v)),
            _ => None,
        })
    }

    fn cast(&mut self, src: Reg, to: ComputeType) -> Reg {
        if self.ty(src) == to {
            return src;
        }
        let dst = self.reg(to);
        self.push(Instr::Cast { src, dst });
        dst
    }

    /// Wraps to a narrow integer width where `dtype` needs it.
    fn narrow(&mut self, src: Reg, dtype: DType) -> Reg {
        if !dtype.is_integer() || dtype.size_bytes() == 8 {
            return src;
        }
        let dst = self.reg(self.ty(src));
        self.push(Instr::Narrow { src, dst, dtype });
        dst
    }

    fn dep(&mut self, t: TaskId) -> usize {
        if let Some(i) = self.deps.iter().position(|&d| d == t) {
            return i;
        }
        self.deps.push(t);
        self.deps.len() - 1
    }
}

/// Identifies the partial results of one reduction group: input, axes, keepdims, output block,
/// partial kind and fan-in.
type PartialKey = (u64, Vec<usize>, bool, Vec<usize>, ReduceFunc, usize);

struct Planner {
    tasks: Vec<Task>,
    shared_partials: HashMap<PartialKey, TaskId>,
    memo: HashMap<(u64, usize), TaskId>,
    programs: HashMap<Program, Arc<Program>>,
    specs: HashMap<u64, Arc<ReduceSpec>>,
    /// Where each input of a concatenation starts along its axis, by node id: a list index
    /// `x[[...]]` joins thousands of pieces, and every block looks its piece up.
    concat_starts: HashMap<u64, Arc<Vec<i64>>>,
}

impl Planner {
    fn add(&mut self, task: Task) -> TaskId {
        self.tasks.push(task);
        TaskId((self.tasks.len() - 1) as u32)
    }

    /// The task producing block `index` of a boundary node (or of any node, as a map task).
    fn block_task(&mut self, node: &Array, index: &[usize]) -> Result<TaskId, PlanError> {
        let key = (node.id(), node.chunks().block_linear(index));
        if let Some(&t) = self.memo.get(&key) {
            return Ok(t);
        }
        let region = node.chunks().block_region(index);
        let bytes = region.len() * node.dtype().size_bytes();
        let t = match node.op() {
            Op::Source(src) => {
                let fetch = self.add(Task {
                    stage: Stage::Read,
                    deps: vec![],
                    work: Work::Read { source: src.clone(), region: region.clone() },
                    out_bytes: bytes,
                    output_block: None,
                });
                if src.needs_decode(&region) {
                    self.add(Task {
                        stage: Stage::Decode,
                        deps: vec![fetch],
                        work: Work::Decode { source: src.clone(), region },
                        out_bytes: bytes,
                        output_block: None,
                    })
                } else {
                    fetch
                }
            }
            Op::Reduce { input, reduction } => self.reduce_block(node, input, reduction, index)?,
            Op::Topk { input, k, axis } => self.topk_block(input, *k, *axis, index)?,
            Op::Quantile { input, stat, axis } => {
                // every input block along the axis (or the part of it this block's lanes
                // cover, when the other axes were split), then each lane's statistic at once
                let mut whole = input.chunks().axes().to_vec();
                whole.remove(*axis);
                let split = whole.as_slice() != node.chunks().axes();
                let lengths = input.chunks().axis(*axis).to_vec();
                let mut deps = Vec::with_capacity(lengths.len());
                for (kb, (start, len)) in input.chunks().offsets(*axis).iter().copied().zip(lengths).enumerate() {
                    if split {
                        let mut r = region.clone();
                        r.start.insert(*axis, start);
                        r.shape.insert(*axis, len);
                        let (kernel, kdeps) = self.kernel(input, &r)?;
                        let bytes = r.len() * input.dtype().size_bytes();
                        deps.push(self.add(Task {
                            stage: Stage::Compute,
                            deps: kdeps,
                            work: Work::Map { kernel },
                            out_bytes: bytes,
                            output_block: None,
                        }));
                    } else {
                        let mut in_index = index.to_vec();
                        in_index.insert(*axis, kb);
                        deps.push(self.block_task(input, &in_index)?);
                    }
                }
                self.add(Task {
                    stage: Stage::Combine,
                    deps,
                    work: Work::Quantile { stat: *stat, axis: *axis },
                    out_bytes: bytes,
                    output_block: None,
                })
            }
            _ => {
                let (kernel, deps) = self.kernel(node, &region)?;
                self.add(Task { stage: Stage::Compute, deps, work: Work::Map { kernel }, out_bytes: bytes, output_block: None })
            }
        };
        self.memo.insert(key, t);
        Ok(t)
    }

    /// Compiles the fused computation of `node` over `region` into a kernel.
    fn kernel(&mut self, node: &Array, region: &Region) -> Result<(Kernel, Vec<TaskId>), PlanError> {
        let mut b = KernelBuilder::default();
        let map: Vec<Coord> = region.start.iter().enumerate().map(|(axis, &s)| Coord::Iter { axis, offset: s as i64, step: 1 }).collect();
        let r =
            if is_boundary(node) { self.leaf(&mut b, node, &map, &region.shape)? } else { self.lower(&mut b, node, &map, &region.shape)? };
        let r = b.cast(r, node.dtype().compute());
        b.program.result = r;
        b.program.result_dtype = node.dtype();
        let program = match self.programs.get(&b.program) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(b.program.clone());
                self.programs.insert(b.program, p.clone());
                p
            }
        };
        Ok((Kernel { program, leaves: b.leaves, shape: region.shape.clone() }, b.deps))
    }

    /// A load of the block of boundary `node` that the iteration touches.
    fn leaf(&mut self, b: &mut KernelBuilder, node: &Array, map: &[Coord], iter: &[usize]) -> Result<Reg, PlanError> {
        let mut region = Region { start: vec![], shape: vec![] };
        for c in map {
            let (lo, hi) = c.range(iter);
            region.start.push(lo.max(0) as usize);
            region.shape.push((hi - lo + 1).max(0) as usize);
        }
        if iter.contains(&0) {
            region.shape.iter_mut().for_each(|s| *s = 0);
        }
        let index = node
            .chunks()
            .block_containing(&region)
            .ok_or_else(|| PlanError(format!("region {region} of {:?} spans several blocks", node)))?;
        let task = self.block_task(node, &index)?;
        let block = node.chunks().block_region(&index);
        let bstrides = c_strides(&block.shape);
        let mut offset = 0isize;
        let mut strides = vec![0isize; iter.len()];
        for (j, c) in map.iter().enumerate() {
            offset += (c.at_origin() - block.start[j] as i64) as isize * bstrides[j] as isize;
            if let Coord::Iter { axis, step, .. } = *c {
                strides[axis] += step as isize * bstrides[j] as isize;
            }
        }
        let dep = b.dep(task);
        let leaf = Leaf { dep, offset, strides };
        if let Some(&r) = b.leaf_cse.get(&leaf) {
            return Ok(r);
        }
        let idx = b.leaves.len() as u16;
        b.leaves.push(leaf.clone());
        let dst = b.reg(node.dtype().compute());
        b.push(Instr::Load { leaf: idx, dst });
        b.leaf_cse.insert(leaf, dst);
        Ok(dst)
    }

    /// Lowers a node into instructions, given where its axes are in the iteration space.
    fn lower(&mut self, b: &mut KernelBuilder, node: &Array, map: &[Coord], iter: &[usize]) -> Result<Reg, PlanError> {
        let key = (node.id(), map.to_vec());
        if let Some(&r) = b.cse.get(&key) {
            return Ok(r);
        }
        let out = node.dtype().compute();
        let r = match node.op() {
            Op::Reduce { input, reduction } if fuses_as_expression(node) => {
                self.unrolled_reduction(b, node, input, reduction, map, iter)?
            }
            Op::Source(_) | Op::Reduce { .. } | Op::Topk { .. } | Op::Quantile { .. } => self.leaf(b, node, map, iter)?,
            Op::Map { func, args } => {
                let t = operand_type(*func, args).compute();
                let shape = node.shape();
                let mut regs = Vec::with_capacity(args.len());
                for (k, a) in args.iter().enumerate() {
                    let want = match func {
                        MapFunc::Where if k == 0 => ComputeType::Bool,
                        MapFunc::Cast(_) => match a {
                            Operand::Array(x) => x.dtype().compute(),
                            Operand::Scalar(_) => t,
                        },
                        MapFunc::Binary(op) if t == ComputeType::Bool && bool_needs_int(*op) => ComputeType::I64,
                        MapFunc::Unary(UnaryOp::Square) if t == ComputeType::Bool => ComputeType::I64,
                        _ => t,
                    };
                    let r = match a {
                        Operand::Scalar(s) => b.constant(Const::of(*s, want)),
                        Operand::Array(x) => {
                            let amap = broadcast_map(map, &shape, &x.shape());
                            let r = self.lower(b, x, &amap, iter)?;
                            b.cast(r, want)
                        }
                    };
                    regs.push(r);
                }
                let r = match *func {
                    MapFunc::Unary(op) => {
                        let dt = match op {
                            UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::IsInf => ComputeType::Bool,
                            _ => b.ty(regs[0]),
                        };
                        let dst = b.reg(dt);
                        b.push(Instr::Unary { op, src: regs[0], dst });
                        dst
                    }
                    MapFunc::Binary(op) => match (op, b.float_constant(regs[1])) {
                        // `x ** 2` and `x ** 3` as products (`(x * x) * x`): the same numbers as
                        // the power, but a loop that vectorises instead of one that tests the
                        // exponent per element.
                        (BinaryOp::Pow, Some(n @ (2.0 | 3.0))) => {
                            let mut product = regs[0];
                            for _ in 1..n as usize {
                                let dst = b.reg(b.ty(regs[0]));
                                b.push(Instr::Binary { op: BinaryOp::Mul, a: product, b: regs[0], dst });
                                product = dst;
                            }
                            product
                        }
                        _ => {
                            let dt = if op.is_comparison() { ComputeType::Bool } else { b.ty(regs[0]) };
                            let dst = b.reg(dt);
                            b.push(Instr::Binary { op, a: regs[0], b: regs[1], dst });
                            dst
                        }
                    },
                    MapFunc::Where => {
                        let dst = b.reg(t);
                        b.push(Instr::Where { c: regs[0], a: regs[1], b: regs[2], dst });
                        dst
                    }
                    MapFunc::Clip => {
                        let dst = b.reg(t);
                        b.push(Instr::Clip { x: regs[0], lo: regs[1], hi: regs[2], dst });
                        dst
                    }
                    MapFunc::Cast(d) if d.is_integer() && matches!(b.ty(regs[0]), ComputeType::F32 | ComputeType::F64) => {
                        let dst = b.reg(out);
                        b.push(Instr::Truncate { src: regs[0], dst, dtype: d });
                        dst
                    }
                    MapFunc::Cast(_) => regs[0],
                };
                let r = b.cast(r, out);
                b.narrow(r, node.dtype())
            }
            Op::Index { input, items } => {
                let mut imap = Vec::with_capacity(input.ndim());
                let mut o = 0;
                for it in items {
                    match *it {
                        crate::expr::AxisIndex::Take(i) => imap.push(Coord::Fixed(i as i64)),
                        crate::expr::AxisIndex::Slice(s) => {
                            imap.push(match map[o] {
                                Coord::Fixed(c) => Coord::Fixed(s.start as i64 + s.step as i64 * c),
                                Coord::Iter { axis, offset, step } => {
                                    Coord::Iter { axis, offset: s.start as i64 + s.step as i64 * offset, step: s.step as i64 * step }
                                }
                            });
                            o += 1;
                        }
                        crate::expr::AxisIndex::NewAxis => o += 1,
                    }
                }
                self.lower(b, input, &imap, iter)?
            }
            Op::Transpose { input, perm } => {
                let mut imap = vec![Coord::Fixed(0); perm.len()];
                for (j, &p) in perm.iter().enumerate() {
                    imap[p] = map[j];
                }
                self.lower(b, input, &imap, iter)?
            }
            Op::Stack { inputs, axis } => {
                let (lo, hi) = map[*axis].range(iter);
                if lo != hi {
                    return Err(PlanError(format!("a block of a stack spans inputs {lo}..={hi}")));
                }
                let mut imap = map.to_vec();
                imap.remove(*axis);
                let r = self.lower(b, &inputs[lo as usize], &imap, iter)?;
                b.cast(r, out)
            }
            Op::Concat { inputs, axis } => {
                let (lo, hi) = map[*axis].range(iter);
                let starts = self
                    .concat_starts
                    .entry(node.id())
                    .or_insert_with(|| {
                        let mut s = Vec::with_capacity(inputs.len() + 1);
                        s.push(0i64);
                        for x in inputs {
                            s.push(s[s.len() - 1] + x.shape()[*axis] as i64);
                        }
                        Arc::new(s)
                    })
                    .clone();
                // the input whose range holds `lo`: the last one starting at or before it
                let k = starts[..inputs.len()].partition_point(|&s| s <= lo).saturating_sub(1);
                let (start, n) = (starts[k], starts[k + 1] - starts[k]);
                if lo < start || hi >= start + n.max(1) {
                    return Err(PlanError(format!("a block of a concatenation spans inputs at {lo}..={hi}")));
                }
                let x = &inputs[k];
                let mut imap = map.to_vec();
                imap[*axis] = imap[*axis].shifted(-start);
                let r = self.lower(b, x, &imap, iter)?;
                b.cast(r, out)
            }
        };
        b.cse.insert(key, r);
        Ok(r)
    }

    /// Writes a small reduction out as an expression: its input at every reduced position,
    /// combined with `+`, `*`, `minimum` or `maximum` (NaN propagates as in NumPy).
    fn unrolled_reduction(
        &mut self,
        b: &mut KernelBuilder,
        node: &Array,
        input: &Array,
        red: &Reduction,
        map: &[Coord],
        iter: &[usize],
    ) -> Result<Reg, PlanError> {
        let shape = input.shape();
        let t = node.dtype().compute();
        // coordinates of the input's kept axes come from the node's axes
        let mut kept = Vec::with_capacity(shape.len());
        let mut o = 0;
        for d in 0..shape.len() {
            if red.axes.contains(&d) {
                kept.push(None);
                if red.keepdims {
                    o += 1;
                }
            } else {
                kept.push(Some(map[o]));
                o += 1;
            }
        }
        let total: usize = red.axes.iter().map(|&a| shape[a]).product();
        let mut acc: Option<Reg> = None;
        for k in 0..total {
            // the k-th combination of reduced positions, in C order
            let mut rem = k;
            let mut imap = kept.clone();
            for &a in red.axes.iter().rev() {
                imap[a] = Some(Coord::Fixed((rem % shape[a]) as i64));
                rem /= shape[a];
            }
            let imap: Vec<Coord> = imap.into_iter().map(|c| c.expect("every axis placed")).collect();
            let term = self.lower(b, input, &imap, iter)?;
            let term = b.cast(term, t);
            acc = Some(match acc {
                None => term,
                Some(a) => {
                    let op = match red.func {
                        ReduceFunc::Sum | ReduceFunc::Mean => BinaryOp::Add,
                        ReduceFunc::Prod => BinaryOp::Mul,
                        ReduceFunc::Min => BinaryOp::Minimum,
                        _ => BinaryOp::Maximum,
                    };
                    let dst = b.reg(t);
                    b.push(Instr::Binary { op, a, b: term, dst });
                    dst
                }
            });
        }
        let mut r = acc.ok_or_else(|| PlanError("an unrolled reduction needs elements".into()))?;
        if red.func == ReduceFunc::Mean {
            let n = b.constant(Const::of(crate::Scalar::Float(total as f64), t));
            let dst = b.reg(t);
            b.push(Instr::Binary { op: BinaryOp::Div, a: r, b: n, dst });
            r = dst;
        }
        Ok(r)
    }

    fn reduce_spec(&mut self, node: &Array, input: &Array, red: &Reduction) -> Arc<ReduceSpec> {
        self.specs
            .entry(node.id())
            .or_insert_with(|| {
                let shape = input.shape();
                Arc::new(ReduceSpec {
                    func: red.func,
                    ddof: red.ddof,
                    input_dtype: input.dtype(),
                    output_dtype: node.dtype(),
                    axes: red.axes.clone(),
                    keepdims: red.keepdims,
                    count: red.axes.iter().map(|&a| shape[a]).product(),
                    arg_strides: {
                        let mut strides = vec![0; shape.len()];
                        let mut step = 1;
                        for &a in red.axes.iter().rev() {
                            strides[a] = step;
                            step *= shape[a];
                        }
                        strides
                    },
                })
            })
            .clone()
    }

    /// The input blocks feeding output block `out_index` of a reduction, in C order of the
    /// reduced axes.
    fn reduced_blocks(input: &Array, axes: &[usize], keepdims: bool, out_index: &[usize]) -> Vec<Vec<usize>> {
        let nb = input.chunks().blocks_per_axis();
        let mut template = vec![0usize; input.ndim()];
        let mut o = 0;
        for d in 0..input.ndim() {
            if axes.contains(&d) {
                if keepdims {
                    o += 1;
                }
            } else {
                template[d] = out_index[o];
                o += 1;
            }
        }
        let mut out = vec![template];
        for &a in axes {
            let mut next = Vec::with_capacity(out.len() * nb[a]);
            for idx in &out {
                for k in 0..nb[a] {
                    let mut i = idx.clone();
                    i[a] = k;
                    next.push(i);
                }
            }
            out = next;
        }
        out
    }

    fn reduce_block(&mut self, node: &Array, input: &Array, red: &Reduction, out_index: &[usize]) -> Result<TaskId, PlanError> {
        let spec = self.reduce_spec(node, input, red);
        let out_shape = node.chunks().block_shape(out_index);
        let out_len: usize = out_shape.iter().product();
        let partial_bytes = out_len * partial_width(red.func);
        let blocks = Self::reduced_blocks(input, &red.axes, red.keepdims, out_index);
        // Enough groups over the whole reduction that every core has work: a sum of 25 blocks
        // was one group (one task, one thread) under split_every = 32. The count depends on
        // the plan alone, never on the thread count, so results stay the same on any machine.
        let out_blocks: usize = node.chunks().blocks_per_axis().iter().product();
        let per_group = blocks.len().div_ceil(MIN_GROUPS.div_ceil(out_blocks.max(1))).clamp(1, red.split_every);
        let groups = balanced_groups(blocks.len(), per_group);
        let mut level = Vec::with_capacity(groups.len());
        let mut it = blocks.iter();
        // A reduction of a source folds each group in one task: data that can be read in
        // parts (uncompressed files, memory) in cache-sized slabs, no block ever materialised;
        // compressed chunks decoded a batch at a time and the batch folded slab by slab. The
        // data passes through the cache once and no block waits between tasks.
        let direct = match input.op() {
            // (a 0-d source has no axis to read in slabs: it folds as a block)
            Op::Source(src) if !uses_moments(red.func) && !red.func.is_arg() && input.ndim() > 0 => Some(src.clone()),
            _ => None,
        };
        if let Some(source) = &direct {
            // Reductions with the same partial result over the same data (a sum and a mean of
            // one array) share their reads: the partial tasks are planned once, and each
            // reduction finishes them its own way.
            let key =
                (input.id(), red.axes.clone(), red.keepdims, out_index.to_vec(), partial_class(red.func, input.dtype()), red.split_every);
            let root = match self.shared_partials.get(&key) {
                Some(&t) => t,
                None => {
                    for size in &groups {
                        let regions: Vec<Region> = it.by_ref().take(*size).map(|idx| input.chunks().block_region(idx)).collect();
                        let bytes: usize = regions.iter().map(|r| r.len() * input.dtype().size_bytes()).sum();
                        let stage = if source.needs_decode(&regions[0]) { Stage::Decode } else { Stage::Read };
                        level.push(self.add(Task {
                            stage,
                            deps: vec![],
                            work: Work::ReduceRead {
                                load: Arc::new(Program::load(source.dtype())),
                                source: source.clone(),
                                regions,
                                spec: spec.clone(),
                                finalize: false,
                                out_shape: out_shape.clone(),
                                bytes,
                            },
                            out_bytes: partial_bytes,
                            output_block: None,
                        }));
                    }
                    let root = self.combine_tree(level, &spec, &out_shape, red.split_every, partial_bytes);
                    self.shared_partials.insert(key, root);
                    root
                }
            };
            return Ok(self.add(Task {
                stage: Stage::Combine,
                deps: vec![root],
                work: Work::Combine { spec, finalize: true, out_shape },
                out_bytes: out_len * node.dtype().size_bytes(),
                output_block: None,
            }));
        }
        for size in groups {
            let mut prev: Option<TaskId> = None;
            for idx in it.by_ref().take(size) {
                let region = input.chunks().block_region(idx);
                let (kernel, kdeps) = self.kernel(input, &region)?;
                let mut deps = Vec::with_capacity(kdeps.len() + 1);
                if let Some(p) = prev {
                    deps.push(p);
                }
                let shift = deps.len();
                deps.extend(kdeps);
                let mut kernel = kernel;
                kernel.leaves.iter_mut().for_each(|l| l.dep += shift);
                prev = Some(self.add(Task {
                    stage: Stage::Compute,
                    deps,
                    work: Work::Fold {
                        kernel,
                        spec: spec.clone(),
                        prev: shift == 1,
                        finalize: false,
                        out_shape: out_shape.clone(),
                        origin: region.start.clone(),
                    },
                    out_bytes: partial_bytes,
                    output_block: None,
                }));
            }
            level.push(prev.ok_or_else(|| PlanError("empty reduction group".into()))?);
        }
        let last = self.combine_tree(level, &spec, &out_shape, red.split_every, partial_bytes);
        let task = &mut self.tasks[last.index()];
        match &mut task.work {
            Work::Fold { finalize, .. } | Work::Combine { finalize, .. } | Work::ReduceRead { finalize, .. } => *finalize = true,
            _ => return Err(PlanError("reduction tree ends in a non-reduction task".into())),
        }
        task.out_bytes = out_len * node.dtype().size_bytes();
        Ok(last)
    }

    /// Merges partial results in a tree of fan-in `split_every`; returns the root task.
    fn combine_tree(
        &mut self,
        mut level: Vec<TaskId>,
        spec: &Arc<ReduceSpec>,
        out_shape: &[usize],
        split_every: usize,
        partial_bytes: usize,
    ) -> TaskId {
        while level.len() > 1 {
            let mut next = Vec::new();
            for group in level.chunks(split_every) {
                next.push(self.add(Task {
                    stage: Stage::Combine,
                    deps: group.to_vec(),
                    work: Work::Combine { spec: spec.clone(), finalize: false, out_shape: out_shape.to_vec() },
                    out_bytes: partial_bytes,
                    output_block: None,
                }));
            }
            level = next;
        }
        level[0]
    }

    fn topk_block(&mut self, input: &Array, k: i64, axis: usize, out_index: &[usize]) -> Result<TaskId, PlanError> {
        let nb = input.chunks().blocks_per_axis()[axis];
        let mut pieces = Vec::with_capacity(nb);
        for kb in 0..nb {
            let mut idx = out_index.to_vec();
            idx[axis] = kb;
            let region = input.chunks().block_region(&idx);
            let (kernel, deps) = self.kernel(input, &region)?;
            let mut shape = region.shape.clone();
            shape[axis] = shape[axis].min(k.unsigned_abs() as usize);
            pieces.push(self.add(Task {
                stage: Stage::Compute,
                deps,
                work: Work::TopkPart { kernel, k, axis },
                out_bytes: shape.iter().product::<usize>() * input.dtype().size_bytes(),
                output_block: None,
            }));
        }
        while pieces.len() > 1 {
            let mut next = Vec::new();
            for group in pieces.chunks(crate::expr::SPLIT_EVERY) {
                let bytes = group.iter().map(|t| self.tasks[t.index()].out_bytes).max().unwrap_or(0);
                next.push(self.add(Task {
                    stage: Stage::Combine,
                    deps: group.to_vec(),
                    work: Work::TopkCombine { k, axis },
                    out_bytes: bytes,
                    output_block: None,
                }));
            }
            pieces = next;
        }
        Ok(pieces[0])
    }
}

/// Bool operands of these operators are computed as integers (NumPy gives int8).
fn bool_needs_int(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Sub | BinaryOp::FloorDiv | BinaryOp::Mod | BinaryOp::Pow | BinaryOp::Div | BinaryOp::Arctan2)
}

/// Fewest first-level groups a reduction is split into, over all its output blocks, when it
/// has that many input blocks: enough to keep 16 cores busy.
const MIN_GROUPS: usize = 16;

/// Splits `n` items into `ceil(n / max)` groups of nearly equal size. The split depends only
/// on `n` and `max`, never on the thread count, so results are reproducible.
fn balanced_groups(n: usize, max: usize) -> Vec<usize> {
    let g = n.div_ceil(max).max(1);
    let (base, rem) = (n / g, n % g);
    (0..g).map(|i| base + usize::from(i < rem)).collect()
}

/// The coordinates of a broadcast argument of shape `arg` inside a node of shape `shape`.
fn broadcast_map(map: &[Coord], shape: &[usize], arg: &[usize]) -> Vec<Coord> {
    let off = shape.len() - arg.len();
    (0..arg.len()).map(|k| if arg[k] == 1 && shape[off + k] != 1 { Coord::Fixed(0) } else { map[off + k] }).collect()
}

fn is_boundary(node: &Array) -> bool {
    match node.op() {
        Op::Source(_) | Op::Topk { .. } | Op::Quantile { .. } => true,
        Op::Reduce { .. } => !fuses_as_expression(node),
        _ => false,
    }
}

/// Elements a reduction may span and still be written out as an expression inside a kernel.
const UNROLL_LIMIT: usize = 16;

/// A reduction over a few elements that each lie in one block (the `.sum(-1)` over x, y, z of
/// a distance) is computed inside the consuming kernel, term by term, instead of being a
/// boundary whose blocks are materialised.
fn fuses_as_expression(node: &Array) -> bool {
    let Op::Reduce { input, reduction } = node.op() else { return false };
    let shape = input.shape();
    let extent: usize = reduction.axes.iter().map(|&a| shape[a]).product();
    let one_block = reduction.axes.iter().all(|&a| input.chunks().axis(a).len() == 1);
    one_block
        && extent > 0
        && extent <= UNROLL_LIMIT
        && matches!(reduction.func, ReduceFunc::Sum | ReduceFunc::Prod | ReduceFunc::Mean | ReduceFunc::Min | ReduceFunc::Max)
}

impl Plan {
    /// Lowers `array` to tasks computing every one of its blocks; with `write`, a write task
    /// follows each output block.
    ///
    /// # Errors
    /// Only on internal inconsistencies; every user mistake is caught when the expression is built.
    pub fn build(array: &Array, write: bool) -> Result<Plan, PlanError> {
        let mut p = Planner {
            tasks: Vec::new(),
            shared_partials: HashMap::new(),
            memo: HashMap::new(),
            programs: HashMap::new(),
            specs: HashMap::new(),
            concat_starts: HashMap::new(),
        };
        let chunks = array.chunks().clone();
        let mut outputs = Vec::with_capacity(chunks.num_blocks());
        for k in 0..chunks.num_blocks() {
            let idx = chunks.block_index(k);
            let t = if is_boundary(array) {
                p.block_task(array, &idx)?
            } else {
                // Output blocks of fused nodes are always computed by their own map task.
                let region = chunks.block_region(&idx);
                let (kernel, deps) = p.kernel(array, &region)?;
                p.add(Task {
                    stage: Stage::Compute,
                    deps,
                    work: Work::Map { kernel },
                    out_bytes: region.len() * array.dtype().size_bytes(),
                    output_block: None,
                })
            };
            outputs.push(t);
        }
        // A task may produce several output blocks only if the same boundary block is output
        // twice, which cannot happen: output blocks are distinct blocks of one node.
        for (k, &t) in outputs.iter().enumerate() {
            p.tasks[t.index()].output_block = Some(k);
        }
        let mut roots = outputs.clone();
        if write {
            for (k, &t) in outputs.iter().enumerate() {
                let region = chunks.block_region(&chunks.block_index(k));
                roots[k] =
                    p.add(Task { stage: Stage::Write, deps: vec![t], work: Work::Write { region }, out_bytes: 0, output_block: None });
            }
        }
        let order = depth_first_order(&p.tasks, &roots);
        Ok(Plan { tasks: p.tasks, outputs, chunks, dtype: array.dtype(), order, writes: write })
    }

    /// Number of tasks of each stage.
    pub fn stage_counts(&self) -> [usize; 5] {
        let mut c = [0; 5];
        for t in &self.tasks {
            c[t.stage.index()] += 1;
        }
        c
    }

    /// Bytes the read tasks bring in (decoded size; compressed storage reads fewer).
    pub fn read_bytes(&self) -> usize {
        self.tasks
            .iter()
            .map(|t| match &t.work {
                Work::ReduceRead { bytes, .. } => *bytes,
                Work::Read { .. } => t.out_bytes,
                _ => 0,
            })
            .sum()
    }

    /// Bytes of the result.
    pub fn output_bytes(&self) -> usize {
        self.chunks.len() * self.dtype.size_bytes()
    }

    /// Distinct fused programs: what they do, their operator count, and how many tasks run each.
    pub fn programs(&self) -> Vec<(String, usize, usize)> {
        let mut out: Vec<(Arc<Program>, String, usize)> = Vec::new();
        for t in &self.tasks {
            let (k, what) = match &t.work {
                Work::Map { kernel } => {
                    (kernel, if kernel.program.is_copy() { "copy/slice".to_string() } else { "elementwise".to_string() })
                }
                Work::Fold { kernel, spec, .. } => (kernel, format!("{} of each block", spec.func.name())),
                Work::TopkPart { kernel, k, .. } => (kernel, format!("topk({k}) of each block")),
                Work::ReduceRead { spec, .. } => {
                    let what = if t.stage == Stage::Decode {
                        format!("{} while decoding (batches)", spec.func.name())
                    } else {
                        format!("{} while reading (slabs)", spec.func.name())
                    };
                    match out.iter_mut().find(|(_, w, _)| *w == what) {
                        Some((_, _, n)) => *n += 1,
                        None => out.push((Arc::new(Program::default()), what, 1)),
                    }
                    continue;
                }
                _ => continue,
            };
            // kernels built per output block (one program each) count as one line when they
            // are of one kind and size
            match out.iter_mut().find(|(p, w, _)| *w == what && p.op_count() == k.program.op_count()) {
                Some((_, _, n)) => *n += 1,
                None => out.push((k.program.clone(), what, 1)),
            }
        }
        out.into_iter().map(|(p, w, n)| (w, p.op_count(), n)).collect()
    }
}

/// The static priority of every task (dask's `order` in spirit): a single worker's schedule
/// that runs any task whose inputs are ready before it reads anything new, and otherwise reads
/// in depth-first order from the outputs. Inputs shared by several consumers (two reductions
/// of one array) are thereby consumed by all of them right after they are read, and freed.
fn depth_first_order(tasks: &[Task], roots: &[TaskId]) -> Vec<u32> {
    let n = tasks.len();
    // depth-first post-order rank from the roots, in root order
    let mut rank = vec![u32::MAX; n];
    let mut next = 0u32;
    let mut stack: Vec<(TaskId, usize)> = Vec::new();
    for &r in roots {
        if rank[r.index()] != u32::MAX {
            continue;
        }
        stack.push((r, 0));
        while let Some((t, i)) = stack.pop() {
            let deps = &tasks[t.index()].deps;
            if i < deps.len() {
                stack.push((t, i + 1));
                let d = deps[i];
                if rank[d.index()] == u32::MAX {
                    stack.push((d, 0));
                }
            } else if rank[t.index()] == u32::MAX {
                rank[t.index()] = next;
                next += 1;
            }
        }
    }
    for r in rank.iter_mut().filter(|r| **r == u32::MAX) {
        *r = next;
        next += 1;
    }
    // simulate one worker: ready consumers first, then new reads, each by rank
    let mut consumers: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut waiting: Vec<u32> = vec![0; n];
    for (i, t) in tasks.iter().enumerate() {
        waiting[i] = t.deps.len() as u32;
        for d in &t.deps {
            consumers[d.index()].push(i as u32);
        }
    }
    let mut ready = std::collections::BinaryHeap::new();
    for i in 0..n {
        if waiting[i] == 0 {
            ready.push(std::cmp::Reverse((true, rank[i], i as u32)));
        }
    }
    let mut order = vec![0u32; n];
    let mut k = 0u32;
    while let Some(std::cmp::Reverse((_, _, t))) = ready.pop() {
        order[t as usize] = k;
        k += 1;
        for &c in &consumers[t as usize] {
            waiting[c as usize] -= 1;
            if waiting[c as usize] == 0 {
                ready.push(std::cmp::Reverse((false, rank[c as usize], c)));
            }
        }
    }
    order
}

/// What `explain` reports: dask's array table, the stages, and the fused programs.
#[derive(Clone, Debug)]
pub struct Explain {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub chunk_shape: Vec<usize>,
    pub bytes: usize,
    pub chunk_bytes: usize,
    pub chunks: usize,
    pub tasks: usize,
    /// Tasks per stage, in [`Stage::ALL`] order.
    pub stages: [usize; 5],
    /// Bytes the job reads (decoded).
    pub read_bytes: usize,
    /// Fused programs: what each does, its operator count, and how many tasks run it.
    pub programs: Vec<(String, usize, usize)>,
    /// The Dask tasks a cluster would run ([`Plan::pieces`]).
    pub cluster_tasks: usize,
}

impl Explain {
    pub fn of(plan: &Plan) -> Explain {
        let chunk_shape = plan.chunks.max_block_shape();
        Explain {
            shape: plan.chunks.shape(),
            dtype: plan.dtype,
            chunk_bytes: chunk_shape.iter().product::<usize>() * plan.dtype.size_bytes(),
            chunk_shape,
            bytes: plan.output_bytes(),
            chunks: plan.chunks.num_blocks(),
            tasks: plan.tasks.len(),
            stages: plan.stage_counts(),
            read_bytes: plan.read_bytes(),
            programs: plan.programs(),
            cluster_tasks: plan.pieces().pieces.len(),
        }
    }
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        writeln!(s, "{:<8} {:>22} {:>18}", "", "Array", "Chunk")?;
        writeln!(s, "{:<8} {:>22} {:>18}", "Bytes", format_bytes(self.bytes), format_bytes(self.chunk_bytes))?;
        writeln!(s, "{:<8} {:>22} {:>18}", "Shape", fmt_shape(&self.shape), fmt_shape(&self.chunk_shape))?;
        writeln!(s, "{:<8} {:>22}", "Dtype", self.dtype.name())?;
        writeln!(s, "{:<8} {:>22}", "Count", format!("{} chunks, {} tasks", self.chunks, self.tasks))?;
        writeln!(s)?;
        writeln!(s, "Stages")?;
        for st in Stage::ALL {
            let n = self.stages[st.index()];
            if n > 0 {
                // reads happen in read tasks, or in the decode tasks that read, decode and fold
                // compressed chunks when no task only reads
                let reads = st == Stage::Read || (st == Stage::Decode && self.stages[Stage::Read.index()] == 0);
                let note = if reads { format!("   {} to read", format_bytes(self.read_bytes)) } else { String::new() };
                writeln!(s, "  {:<8} {:>8} tasks{note}", st.name(), n)?;
            }
        }
        if !self.programs.is_empty() {
            writeln!(s)?;
            writeln!(s, "Fused kernels (one pass per block, no array per operator)")?;
            for (what, ops, n) in &self.programs {
                writeln!(s, "  {what:<28} {ops:>3} fused operators, {n:>7} tasks")?;
            }
        }
        writeln!(s)?;
        writeln!(s, "On a Dask cluster: {} tasks (output blocks, reduction groups, combines)", self.cluster_tasks)?;
        f.write_str(&s)
    }
}
