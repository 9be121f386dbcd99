//! What each kind of task does when a worker runs it: read and decode a block, run a fused
//! kernel, fold a block or a whole reduction group into a partial, merge and finish partials,
//! select along lanes (topk, quantiles), write to the sink. The scheduler in the parent
//! module decides when; this file decides what.

use super::reduce::{self, Partial};
use super::{ExecError, Held, Scheduler, kernel, lanes};
use crate::block::{Block, Buffer, c_strides};
use crate::chunks::Region;
use crate::plan::{Task, Work};
use crate::source::Payload;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

impl Scheduler<'_> {
    pub(super) fn cancelled(&self) -> bool {
        self.control.cancel.is_cancelled()
    }

    /// Runs one task on its inputs.
    pub(super) fn run(&self, task: &Task, mut inputs: Vec<Option<Arc<Held>>>) -> Result<Option<Arc<Held>>, ExecError> {
        // a fold's previous partial, owned when this task is its only holder
        let prev_partial = match &task.work {
            Work::Fold { prev: true, .. } | Work::Combine { .. } => inputs[0].take(),
            _ => None,
        };
        let inputs = &inputs;
        let value_of = |i: usize| -> &Held { inputs[i].as_deref().expect("input present") };
        let block = |i: usize| -> &Block {
            match value_of(i) {
                Held::Block(b) => b,
                _ => unreachable!("dependency {i} of a {:?} task is not a block", task.stage),
            }
        };
        let is_cancelled = || self.cancelled();
        let value = match &task.work {
            Work::Read { source, region } => {
                match self.cached(source, region) {
                    // decoded by an earlier job: the decode task passes it on
                    Some(b) => Held::Block(b),
                    None => {
                        let f = source.fetch(region)?;
                        self.control.progress.bytes_read.fetch_add(f.bytes_read, Ordering::Relaxed);
                        match f.payload {
                            Payload::Block(b) => Held::Block(Arc::new(b)),
                            Payload::Encoded(e) => Held::Encoded(Mutex::new(Some(e))),
                        }
                    }
                }
            }
            Work::Decode { source, region } => match value_of(0) {
                Held::Encoded(e) => {
                    let payload = e.lock().expect("payload lock").take().expect("each payload is decoded once");
                    let block = Arc::new(source.decode(region, payload)?);
                    if let Some(c) = self.cache.as_ref().filter(|c| c.keep) {
                        c.cache.insert(source, region, block.clone());
                    }
                    Held::Block(block)
                }
                Held::Block(b) => Held::Block(b.clone()),
                Held::Partial(_) => unreachable!("decode input is a fetched payload"),
            },
            Work::Map { kernel } => {
                let leaves: Vec<&Buffer> = kernel.leaves.iter().map(|l| block(l.dep).data()).collect();
                let dtype = self.node_dtype(task);
                match kernel::run_to_buffer(kernel, &leaves, dtype, &is_cancelled).map_err(|e| self.compute_error(task, e))? {
                    Some(buf) => Held::Block(Arc::new(Block::new(kernel.shape.clone(), buf))),
                    None => return Err(ExecError::Cancelled),
                }
            }
            Work::Fold { kernel, spec, prev, finalize, out_shape, origin } => {
                let len: usize = out_shape.iter().product();
                let mut partial = match prev_partial {
                    Some(arc) => match Arc::try_unwrap(arc) {
                        Ok(Held::Partial(p)) => p,
                        Ok(_) => unreachable!("fold input 0 is a partial"),
                        Err(shared) => match &*shared {
                            Held::Partial(p) => p.clone(),
                            _ => unreachable!("fold input 0 is a partial"),
                        },
                    },
                    None if *prev => unreachable!("a fold with a previous partial has it as input 0"),
                    None => reduce::init(spec, len),
                };
                let leaves: Vec<&Buffer> = kernel.leaves.iter().map(|l| block(l.dep).data()).collect();
                let acc_strides = fold_strides(&kernel.shape, &spec.axes, out_shape, spec.keepdims);
                if reduce::uses_moments(spec.func) || spec.func.is_arg() {
                    // whole-block folds: two passes (moments), or each element's position (arg)
                    let buf = kernel::run_to_buffer(kernel, &leaves, spec.input_dtype, &is_cancelled)
                        .map_err(|e| self.compute_error(task, e))?
                        .ok_or(ExecError::Cancelled)?;
                    if spec.func.is_arg() {
                        reduce::fold_arg(spec.func, &mut partial, &buf, &kernel.shape, &acc_strides, origin, &spec.arg_strides);
                    } else {
                        reduce::fold_moments(&mut partial, &buf, &kernel.shape, &acc_strides, spec.func.skips_nan());
                    }
                } else {
                    let mut sink = reduce::Fold::new(spec.func, &mut partial);
                    let done =
                        kernel::run(kernel, &leaves, &acc_strides, &mut sink, &is_cancelled).map_err(|e| self.compute_error(task, e))?;
                    if !done {
                        return Err(ExecError::Cancelled);
                    }
                }
                if *finalize { Held::Block(Arc::new(self.finalize(task, spec, partial, out_shape)?)) } else { Held::Partial(partial) }
            }
            Work::ReduceRead { load, source, regions, spec, finalize, out_shape, .. } => {
                let partial = self.reduce_read(load, source, regions, spec, out_shape)?;
                if *finalize { Held::Block(Arc::new(self.finalize(task, spec, partial, out_shape)?)) } else { Held::Partial(partial) }
            }
            Work::Combine { spec, finalize, out_shape } => {
                // the first partial is updated in place when this task is its last holder
                let mut acc = match Arc::try_unwrap(prev_partial.expect("combine has inputs")) {
                    Ok(Held::Partial(p)) => p,
                    Err(shared) => match &*shared {
                        Held::Partial(p) => p.clone(),
                        _ => unreachable!("combine inputs are partials"),
                    },
                    Ok(_) => unreachable!("combine inputs are partials"),
                };
                for i in 1..inputs.len() {
                    match value_of(i) {
                        Held::Partial(p) => reduce::merge(spec.func, &mut acc, p),
                        _ => unreachable!("combine inputs are partials"),
                    }
                }
                if *finalize { Held::Block(Arc::new(self.finalize(task, spec, acc, out_shape)?)) } else { Held::Partial(acc) }
            }
            Work::TopkPart { kernel, k, axis } => {
                let leaves: Vec<&Buffer> = kernel.leaves.iter().map(|l| block(l.dep).data()).collect();
                let dtype = self.node_dtype(task);
                let buf = kernel::run_to_buffer(kernel, &leaves, dtype, &is_cancelled)
                    .map_err(|e| self.compute_error(task, e))?
                    .ok_or(ExecError::Cancelled)?;
                Held::Block(Arc::new(lanes::topk(&Block::new(kernel.shape.clone(), buf), *k, *axis)))
            }
            Work::TopkCombine { k, axis } => {
                let parts: Vec<&Block> = (0..inputs.len()).map(block).collect();
                Held::Block(Arc::new(lanes::topk_merge(&parts, *k, *axis)))
            }
            Work::Quantile { stat, axis } => {
                let parts: Vec<&Block> = (0..inputs.len()).map(block).collect();
                let lanes = if parts.len() == 1 { None } else { Some(lanes::concat_along(&parts, *axis)) };
                Held::Block(Arc::new(lanes::quantile_lanes(lanes.as_ref().unwrap_or(parts[0]), *stat, *axis)))
            }
            Work::Write { region } => {
                let sink = self.sink.expect("write tasks are planned only with a sink");
                sink.write(region, block(0))?;
                return Ok(None);
            }
        };
        Ok(Some(Arc::new(value)))
    }

    /// Reads a reduction group and folds it slab by slab, each slab while it is in the cache.
    /// Slabs run along the first kept axis longer than 1, so that the partial's rows for a slab
    /// stay in the cache while every region's slab is folded into them; when every such axis is
    /// reduced (a full reduction) the partial is small and regions go one after the other.
    ///
    /// Data that can be read in parts (uncompressed files, memory) is read a slab at a time.
    /// Compressed chunks must be decoded whole, so they are decoded a batch at a time and the
    /// batch is folded slab by slab: the partial (often larger than the data: a nanmean keeps
    /// 16 bytes per element of a float32 field) then passes through the cache once per batch
    /// instead of once per chunk. Either way each element meets the partial in region order,
    /// so the result is the same.
    fn reduce_read(
        &self,
        program: &Arc<crate::plan::kernel::Program>,
        source: &Arc<dyn crate::Source>,
        regions: &[Region],
        spec: &crate::plan::ReduceSpec,
        out_shape: &[usize],
    ) -> Result<Partial, ExecError> {
        const SLAB_BYTES: usize = 512 << 10;
        let len: usize = out_shape.iter().product();
        let mut partial = reduce::init(spec, len);
        let first = &regions[0];
        let nd = first.ndim();
        let item = source.dtype().size_bytes();
        let kept = (0..nd).find(|&d| !spec.axes.contains(&d) && first.shape[d] > 1);
        let axis = kept.or_else(|| (0..nd).find(|&d| first.shape[d] > 1)).unwrap_or(0);
        let row_bytes: usize = first.shape.iter().enumerate().filter(|&(d, _)| d != axis).map(|(_, &n)| n).product::<usize>() * item;
        let step = (SLAB_BYTES / row_bytes.max(1)).max(1);
        // folds rows s0..s1 along `axis` of `block`, which holds `region` whole (`whole`) or
        // only those rows
        let fold_rows = |partial: &mut Partial, block: &Block, region: &Region, s0: usize, s1: usize, whole: bool| {
            let mut sub = region.clone();
            sub.start[axis] += s0;
            sub.shape[axis] = s1 - s0;
            let strides = c_strides(block.shape());
            let kernel = crate::plan::kernel::Kernel {
                program: program.clone(),
                leaves: vec![crate::plan::kernel::Leaf {
                    dep: 0,
                    offset: if whole { (s0 * strides[axis]) as isize } else { 0 },
                    strides: strides.iter().map(|&x| x as isize).collect(),
                }],
                shape: sub.shape.clone(),
            };
            let acc_strides = fold_strides(&sub.shape, &spec.axes, out_shape, spec.keepdims);
            // where this slab's first element lands in the partial
            let offset = if spec.axes.contains(&axis) { 0 } else { s0 as isize * acc_strides[axis] };
            let mut sink = Offset { inner: reduce::Fold::new(spec.func, partial), offset };
            let done = kernel::run(&kernel, &[block.data()], &acc_strides, &mut sink, &|| self.cancelled())
                .map_err(|e| ExecError::Compute { region: sub.to_string(), message: e.to_string() })?;
            if done { Ok(()) } else { Err(ExecError::Cancelled) }
        };
        let slabs = move |extent: usize, step: usize| (0..extent.div_ceil(step)).map(move |i| (i * step, ((i + 1) * step).min(extent)));
        if !source.cheap_subregion() {
            // decoded blocks are in memory already: slabs sized so that the partial's part
            // stays in the L2 cache while each block of the batch folds into it
            const PARTIAL_SLAB_BYTES: usize = 256 << 10;
            let partial_row = (partial.size_bytes() / len.max(1)).max(1) * (row_bytes / item.max(1)).max(1);
            let step = (PARTIAL_SLAB_BYTES / partial_row).clamp(1, step);
            // a batch of decoded chunks held at once: up to 32 MB (with the stored bytes, it
            // stays inside one of the allocator's per-thread heaps of 64 MB, whose memory is
            // then reused batch after batch instead of mapped afresh)
            const BATCH_BYTES: usize = 32 << 20;
            let block_bytes = first.len() * item;
            let batch = (BATCH_BYTES / block_bytes.max(1)).clamp(1, regions.len());
            for group in regions.chunks(batch) {
                let mut blocks = Vec::with_capacity(group.len());
                for r in group {
                    if self.cancelled() {
                        return Err(ExecError::Cancelled);
                    }
                    if let Some(b) = self.cached(source, r) {
                        blocks.push(b);
                        continue;
                    }
                    let f = source.fetch(r)?;
                    self.control.progress.bytes_read.fetch_add(f.bytes_read, Ordering::Relaxed);
                    let block = Arc::new(match f.payload {
                        Payload::Block(b) => b,
                        Payload::Encoded(e) => {
                            let b = Arc::new(source.decode(r, e)?);
                            if let Some(c) = self.cache.as_ref().filter(|c| c.keep) {
                                c.cache.insert(source, r, b.clone());
                            }
                            blocks.push(b);
                            continue;
                        }
                    });
                    blocks.push(block);
                }
                if kept.is_some() {
                    for (s0, s1) in slabs(first.shape[axis], step) {
                        for (r, b) in group.iter().zip(&blocks) {
                            fold_rows(&mut partial, b, r, s0, s1, true)?;
                        }
                    }
                } else {
                    for (r, b) in group.iter().zip(&blocks) {
                        for (s0, s1) in slabs(r.shape[axis], step) {
                            fold_rows(&mut partial, b, r, s0, s1, true)?;
                        }
                    }
                }
            }
            return Ok(partial);
        }
        let read_rows = |region: &Region, s0: usize, s1: usize| -> Result<Block, ExecError> {
            let mut sub = region.clone();
            sub.start[axis] += s0;
            sub.shape[axis] = s1 - s0;
            let block = source.read(&sub)?;
            self.control.progress.bytes_read.fetch_add(block.size_bytes() as u64, Ordering::Relaxed);
            Ok(block)
        };
        if kept.is_some() {
            for (s0, s1) in slabs(first.shape[axis], step) {
                for r in regions {
                    fold_rows(&mut partial, &read_rows(r, s0, s1)?, r, s0, s1, false)?;
                }
            }
        } else {
            for r in regions {
                for (s0, s1) in slabs(r.shape[axis], step) {
                    fold_rows(&mut partial, &read_rows(r, s0, s1)?, r, s0, s1, false)?;
                }
            }
        }
        Ok(partial)
    }

    /// The decoded block of `region` from the shared cache, when an earlier job decoded it
    /// (only blocks that need a decode are looked up: the rest are read as stored).
    fn cached(&self, source: &Arc<dyn crate::Source>, region: &Region) -> Option<Arc<Block>> {
        let c = self.cache.as_ref()?;
        if !source.needs_decode(region) {
            return None;
        }
        c.cache.get(source, region)
    }

    /// The dtype a map or topk task produces: that of the kernel's program result, in storage form.
    fn node_dtype(&self, task: &Task) -> crate::DType {
        match &task.work {
            Work::Map { kernel } | Work::TopkPart { kernel, .. } => program_dtype(kernel),
            _ => self.plan.dtype,
        }
    }

    /// Finishes a reduction's partial result into its output block.
    fn finalize(
        &self,
        task: &Task,
        spec: &crate::plan::ReduceSpec,
        partial: Partial,
        out_shape: &[usize],
    ) -> Result<crate::Block, ExecError> {
        reduce::finalize(spec, partial, out_shape).map_err(|message| ExecError::Compute { region: self.task_region(task), message })
    }

    /// The output block a task produces, for messages ("(intermediate)" for inner tasks).
    fn task_region(&self, task: &Task) -> String {
        task.output_block
            .map(|k| self.plan.chunks.block_region(&self.plan.chunks.block_index(k)).to_string())
            .unwrap_or_else(|| "(intermediate)".into())
    }

    fn compute_error(&self, task: &Task, e: kernel::KernelError) -> ExecError {
        ExecError::Compute { region: self.task_region(task), message: e.to_string() }
    }
}

/// The storage dtype of a kernel's result: planned per node and recorded in its program.
fn program_dtype(kernel: &crate::plan::kernel::Kernel) -> crate::DType {
    kernel.program.result_dtype
}

pub(super) fn value_bytes(v: &Held) -> usize {
    match v {
        Held::Block(b) => b.size_bytes(),
        Held::Encoded(_) => 0,
        Held::Partial(p) => p.size_bytes(),
    }
}

/// Shifts every strip a sink receives by a fixed offset (a slab's place in the partial).
struct Offset<S> {
    inner: S,
    offset: isize,
}

impl<S: kernel::StripSink> kernel::StripSink for Offset<S> {
    fn strip(&mut self, values: kernel::StripRef<'_>, offset: isize, stride: isize) {
        self.inner.strip(values, offset + self.offset, stride);
    }
}

/// Element strides of a reduction's partial over a fold kernel's iteration space:
/// 0 along reduced axes, the output block's C strides elsewhere.
fn fold_strides(iter_shape: &[usize], axes: &[usize], out_shape: &[usize], keepdims: bool) -> Vec<isize> {
    let out_strides = c_strides(out_shape);
    let mut strides = Vec::with_capacity(iter_shape.len());
    let mut o = 0;
    for d in 0..iter_shape.len() {
        if axes.contains(&d) {
            strides.push(0);
            if keepdims {
                o += 1;
            }
        } else {
            strides.push(out_strides[o] as isize);
            o += 1;
        }
    }
    strides
}
