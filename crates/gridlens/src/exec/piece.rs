//! Running one piece of a plan (see [`crate::plan::pieces`]) where a cluster put it, and the
//! values that travel between pieces as bytes.
//!
//! A piece runs its engine tasks one after another on the calling thread (a Dask worker gives
//! each task one thread), with the values of the pieces it depends on given; each value is
//! freed as soon as the piece's last task that reads it has run.

use super::reduce::{Acc, Partial};
use super::{ExecError, Held, JobControl, ReadyQueues, Scheduler, State, panic_message};
use crate::block::{Block, Buffer};
use crate::dtype::DType;
use crate::plan::pieces::Pieces;
use crate::plan::{Plan, TaskId};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};

/// What a piece's root computes: a finished block, or a reduction's partial result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Block(Arc<Block>),
    Partial(Partial),
}

/// Runs piece `index` of `pieces` (cut from `plan`), with `given[i]` the value of the root of
/// its `i`-th dependency, and returns its root's value.
///
/// # Errors
/// A task's failure (naming file, dataset and block) or [`ExecError::Cancelled`]; a panic is
/// reported as [`ExecError::Panic`].
pub fn run_piece(plan: &Plan, pieces: &Pieces, index: usize, given: Vec<Value>, control: &JobControl) -> Result<Value, ExecError> {
    let piece = pieces.pieces.get(index).ok_or_else(|| bad(format!("no piece {index} in a plan of {}", pieces.pieces.len())))?;
    if given.len() != piece.deps.len() {
        return Err(bad(format!("piece {index} reads {} values; {} were given", piece.deps.len(), given.len())));
    }
    let noop = |_: usize, _: &Arc<Block>| {};
    let sched = Scheduler {
        plan,
        consumers: Vec::new(),
        state: Mutex::new(State {
            ready: ReadyQueues::default(),
            waiting: Vec::new(),
            consumers_left: Vec::new(),
            values: Vec::new(),
            held: Vec::new(),
            held_bytes: 0,
            running: 0,
            done: 0,
            priority: Vec::new(),
            error: None,
        }),
        wake: Condvar::new(),
        control,
        sink: None,
        on_block: &noop,
        memory_limit: usize::MAX,
        cache: None,
        partials: None,
        output_done: Vec::<AtomicBool>::new(),
    };
    let mut values: HashMap<TaskId, Arc<Held>> = HashMap::new();
    for (&dep, value) in piece.deps.iter().zip(given) {
        values.insert(pieces.pieces[dep].root, Arc::new(value.into_held()));
    }
    // how many reads of each value are still to come in this piece
    let mut left: HashMap<TaskId, u32> = HashMap::new();
    for t in &piece.tasks {
        for d in &plan.tasks[t.index()].deps {
            *left.entry(*d).or_default() += 1;
        }
    }
    for &t in &piece.tasks {
        if control.cancel.is_cancelled() {
            return Err(ExecError::Cancelled);
        }
        let task = &plan.tasks[t.index()];
        let inputs = task
            .deps
            .iter()
            .map(|d| {
                let n = left.get_mut(d).expect("counted above");
                *n -= 1;
                // the last reader takes the value, so a fold updates its partial in place
                if *n == 0 { values.remove(d) } else { values.get(d).cloned() }
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(format!("piece {index} runs task {} before its inputs", t.0)))?;
        let result = catch_unwind(AssertUnwindSafe(|| sched.run(task, inputs.into_iter().map(Some).collect())))
            .map_err(|panic| ExecError::Panic { stage: task.stage.name(), message: panic_message(&panic) })??;
        if let Some(v) = result {
            values.insert(t, v);
        }
    }
    let root = values.remove(&piece.root).ok_or_else(|| bad(format!("piece {index} has no value")))?;
    match Arc::try_unwrap(root) {
        Ok(Held::Block(b)) => Ok(Value::Block(b)),
        Ok(Held::Partial(p)) => Ok(Value::Partial(p)),
        Err(shared) => match &*shared {
            Held::Block(b) => Ok(Value::Block(b.clone())),
            Held::Partial(p) => Ok(Value::Partial(p.clone())),
            Held::Encoded(_) => Err(bad(format!("piece {index} ends in an undecoded read"))),
        },
        Ok(Held::Encoded(_)) => Err(bad(format!("piece {index} ends in an undecoded read"))),
    }
}

fn bad(message: String) -> ExecError {
    ExecError::Plan(crate::plan::PlanError(message))
}

impl Value {
    fn into_held(self) -> Held {
        match self {
            Value::Block(b) => Held::Block(b),
            Value::Partial(p) => Held::Partial(p),
        }
    }

    /// The value as bytes for another process of the same build: a tag, the shape or the
    /// partial's form, and the numbers in native byte order (a cluster's workers share one
    /// architecture; the bytes are not meant to be kept).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.size_bytes());
        out.extend_from_slice(MAGIC);
        match self {
            Value::Block(b) => {
                out.push(0);
                put_name(&mut out, b.dtype().name());
                put_u64(&mut out, b.ndim() as u64);
                b.shape().iter().for_each(|&n| put_u64(&mut out, n as u64));
                out.extend_from_slice(b.data().as_bytes());
            }
            Value::Partial(p) => match p {
                Partial::Values(acc) => {
                    out.push(1);
                    put_acc(&mut out, acc);
                }
                Partial::Counted { sum, count } => {
                    out.push(2);
                    put_values(&mut out, sum);
                    put_values(&mut out, count);
                }
                Partial::Moments { n, mean, m2 } => {
                    out.push(3);
                    for v in [n, mean, m2] {
                        put_values(&mut out, v);
                    }
                }
                Partial::Arg { values, index } => {
                    out.push(4);
                    put_acc(&mut out, values);
                    put_values(&mut out, index);
                }
            },
        }
        out
    }

    /// Reads what [`Value::to_bytes`] wrote.
    ///
    /// # Errors
    /// Bytes that are not such a value (a message saying what is wrong with them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Value, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err("not a gridlens value (no GLV1 header)".into());
        }
        let value = match r.u8()? {
            0 => {
                let dtype = r.dtype()?;
                let ndim = r.u64()? as usize;
                let shape = (0..ndim).map(|_| r.u64().map(|n| n as usize)).collect::<Result<Vec<_>, _>>()?;
                let len: usize = shape.iter().product();
                let data = native(dtype, r.take(len * dtype.size_bytes())?);
                Value::Block(Arc::new(Block::new(shape, data)))
            }
            1 => Value::Partial(Partial::Values(r.acc()?)),
            2 => Value::Partial(Partial::Counted { sum: r.f64s()?, count: r.u64s()? }),
            3 => Value::Partial(Partial::Moments { n: r.f64s()?, mean: r.f64s()?, m2: r.f64s()? }),
            4 => {
                let values = r.acc()?;
                let index = match r.buffer()? {
                    Buffer::I64(v) => v,
                    _ => return Err("an arg partial's indices are not int64".into()),
                };
                Value::Partial(Partial::Arg { values, index })
            }
            t => return Err(format!("unknown value kind {t}")),
        };
        if r.at != bytes.len() {
            return Err(format!("{} bytes after the value", bytes.len() - r.at));
        }
        Ok(value)
    }

    fn size_bytes(&self) -> usize {
        match self {
            Value::Block(b) => b.size_bytes(),
            Value::Partial(p) => p.size_bytes(),
        }
    }
}

const MAGIC: &[u8] = b"GLV1";

/// Elements of `dtype` from their bytes in this machine's byte order (as `to_bytes` wrote
/// them); the caller took a whole number of elements.
pub fn native(dtype: DType, bytes: &[u8]) -> Buffer {
    crate::io::elements::decode(dtype, bytes, cfg!(target_endian = "big"))
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_ne_bytes());
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

/// A typed vector: its dtype's name, its length and its elements' bytes.
fn put_values<T: Pod>(out: &mut Vec<u8>, v: &[T]) {
    put_name(out, T::DTYPE.name());
    put_u64(out, v.len() as u64);
    // SAFETY: `Pod` types are plain numbers (bool is one byte holding 0 or 1) without padding,
    // so their bytes may be viewed as u8; this writes them without a copy of the vector.
    out.extend_from_slice(unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) });
}

/// The element types of partial results.
trait Pod: Copy {
    const DTYPE: DType;
}

impl Pod for f64 {
    const DTYPE: DType = DType::F64;
}

impl Pod for i64 {
    const DTYPE: DType = DType::I64;
}

impl Pod for u64 {
    const DTYPE: DType = DType::U64;
}

impl Pod for bool {
    const DTYPE: DType = DType::Bool;
}

fn put_acc(out: &mut Vec<u8>, acc: &Acc) {
    match acc {
        Acc::F64(v) => put_values(out, v),
        Acc::I64(v) => put_values(out, v),
        Acc::U64(v) => put_values(out, v),
        Acc::Bool(v) => put_values(out, v),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("the value's bytes end early")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_ne_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn dtype(&mut self) -> Result<DType, String> {
        let n = self.u8()? as usize;
        let name = std::str::from_utf8(self.take(n)?).map_err(|_| "a dtype name is not text")?;
        DType::parse(name).ok_or_else(|| format!("unknown dtype {name:?}"))
    }

    fn buffer(&mut self) -> Result<Buffer, String> {
        let dtype = self.dtype()?;
        let len = self.u64()? as usize;
        let bytes = self.take(len.checked_mul(dtype.size_bytes()).ok_or("a buffer too long")?)?;
        Ok(native(dtype, bytes))
    }

    fn acc(&mut self) -> Result<Acc, String> {
        Ok(match self.buffer()? {
            Buffer::F64(v) => Acc::F64(v),
            Buffer::I64(v) => Acc::I64(v),
            Buffer::U64(v) => Acc::U64(v),
            Buffer::Bool(v) => Acc::Bool(v),
            b => return Err(format!("an accumulator of {}", b.dtype().name())),
        })
    }

    fn f64s(&mut self) -> Result<Vec<f64>, String> {
        match self.buffer()? {
            Buffer::F64(v) => Ok(v),
            b => Err(format!("float64 values expected, {} found", b.dtype().name())),
        }
    }

    fn u64s(&mut self) -> Result<Vec<u64>, String> {
        match self.buffer()? {
            Buffer::U64(v) => Ok(v),
            b => Err(format!("uint64 counts expected, {} found", b.dtype().name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Array;
    use crate::expr::parse::evaluate;
    use crate::plan::Plan;
    use std::collections::HashMap;

    /// Every piece run in its own call, its inputs passed through bytes, as a cluster does.
    fn through_pieces(array: &Array) -> Block {
        let plan = Plan::build(array, false).unwrap();
        let pieces = plan.pieces();
        let control = JobControl::new();
        let mut bytes: Vec<Vec<u8>> = Vec::new();
        let mut out = Block::zeros(plan.dtype, &plan.chunks.shape());
        for (i, p) in pieces.pieces.iter().enumerate() {
            let given = p.deps.iter().map(|&d| Value::from_bytes(&bytes[d]).unwrap()).collect();
            let v = run_piece(&plan, &pieces, i, given, &control).unwrap();
            if let (Some(k), Value::Block(b)) = (p.output_block, &v) {
                out.paste(&plan.chunks.block_region(&plan.chunks.block_index(k)).start, b);
            }
            bytes.push(v.to_bytes());
        }
        out
    }

    #[test]
    fn pieces_give_the_local_answer_bit_for_bit() {
        // odd shapes and chunks, NaNs, and an integer input
        let a = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[37, 7, 11]), |i| {
            let v = ((i[0] * 131 + i[1] * 17 + i[2] * 7) % 97) as f64 * 0.37 - 11.0;
            if (i[0] + i[1] * 3 + i[2]) % 29 == 0 { f64::NAN } else { v }
        });
        let x = Array::from_source(crate::source::from_ndarray_f64("x", a, &[3, 4, 5]));
        let ints = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[37, 7, 11]), |i| (i[0] * 7 + i[1] * 3 + i[2]) as f64);
        let n = Array::from_source(crate::source::from_ndarray_f64("n", ints, &[5, 7, 4])).astype(crate::DType::I32).unwrap();
        let names = HashMap::from([("x".to_string(), x), ("n".to_string(), n)]);
        for expr in [
            "x.mean(axis=0)",
            "nanmean(x, axis=0)",
            "x[0] - nanmean(x, axis=0)",
            "x - nanmean(x, axis=0)",
            "(x * 2 + 1).sum(axis=0)",
            "nanstd(x, axis=0)",
            "x.var(axis=(0, 2), ddof=1)",
            "nanmax(x, axis=1)",
            "argmax(n, axis=0)",
            "n.sum()",
            "n.sum(axis=0, split_every=2)",
            "topk(n, 3, axis=0)",
            "median(x, axis=0)",
            "x[:, ::2, ::3]",
            "x[::5].T",
        ] {
            let e = evaluate(expr, &names).unwrap_or_else(|err| panic!("{expr}: {err}"));
            let local = crate::compute(&e, &Default::default()).unwrap();
            let pieced = through_pieces(&e);
            assert_eq!(local.dtype(), pieced.dtype(), "{expr}");
            assert_eq!(local.shape(), pieced.shape(), "{expr}");
            assert_eq!(local.data().as_bytes(), pieced.data().as_bytes(), "{expr}: the pieces' answer differs");
        }
    }

    #[test]
    fn values_round_trip_through_bytes() {
        let values = [
            Value::Block(Arc::new(Block::from_vec(&[2, 3], vec![1.5f32, -2.0, f32::NAN, 0.0, 7.0, 8.0]))),
            Value::Block(Arc::new(Block::from_vec(&[0], Vec::<i16>::new()))),
            Value::Partial(Partial::Values(Acc::Bool(vec![true, false]))),
            Value::Partial(Partial::Counted { sum: vec![1.0, 2.0], count: vec![3, 4] }),
            Value::Partial(Partial::Moments { n: vec![1.0], mean: vec![2.0], m2: vec![3.0] }),
            Value::Partial(Partial::Arg { values: Acc::I64(vec![5, -6]), index: vec![0, -1] }),
        ];
        for v in values {
            let back = Value::from_bytes(&v.to_bytes()).unwrap();
            assert_eq!(back.to_bytes(), v.to_bytes());
        }
        let good = values_bytes();
        assert!(Value::from_bytes(&good[..good.len() - 1]).unwrap_err().contains("end early"));
        assert!(Value::from_bytes(b"nope").unwrap_err().contains("GLV1"));
    }

    fn values_bytes() -> Vec<u8> {
        Value::Partial(Partial::Counted { sum: vec![1.0], count: vec![1] }).to_bytes()
    }
}
