//! Fused elementwise programs: what one task computes over one block.
//!
//! A chain of elementwise operations (with the indexing, transposes and
//! broadcasts between them) is lowered to a small register program. The
//! executor runs it over strips of a few hundred elements, so a chain of any
//! length makes one pass over memory and allocates no array per operator
//! (numexpr's idea). Programs are pure data: equal programs are shared between
//! tasks, and only the [`Leaf`] views differ.

use crate::dtype::{ComputeType, DType};
use crate::expr::{BinaryOp, UnaryOp};

/// A register: one strip of values of one [`ComputeType`].
pub type Reg = u16;

/// A constant in the type of the register it fills.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Const {
    Bool(bool),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
}

impl Eq for Const {}

impl std::hash::Hash for Const {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match *self {
            Const::Bool(b) => (0u8, b as u64).hash(state),
            Const::I64(v) => (1u8, v as u64).hash(state),
            Const::U64(v) => (2u8, v).hash(state),
            Const::F32(v) => (3u8, v.to_bits() as u64).hash(state),
            Const::F64(v) => (4u8, v.to_bits()).hash(state),
        }
    }
}

impl Const {
    /// `value` converted to compute type `t` (as NumPy converts a Python scalar to an array's type).
    pub fn of(value: crate::Scalar, t: ComputeType) -> Const {
        use crate::Scalar::*;
        match (t, value) {
            (ComputeType::Bool, v) => Const::Bool(v.as_f64() != 0.0),
            (ComputeType::I64, Int(i)) => Const::I64(i),
            (ComputeType::I64, Bool(b)) => Const::I64(b as i64),
            (ComputeType::I64, Float(f)) => Const::I64(f as i64),
            (ComputeType::U64, Int(i)) => Const::U64(i as u64),
            (ComputeType::U64, Bool(b)) => Const::U64(b as u64),
            (ComputeType::U64, Float(f)) => Const::U64(f as u64),
            (ComputeType::F32, v) => Const::F32(v.as_f64() as f32),
            (ComputeType::F64, v) => Const::F64(v.as_f64()),
        }
    }

    pub fn compute_type(self) -> ComputeType {
        match self {
            Const::Bool(_) => ComputeType::Bool,
            Const::I64(_) => ComputeType::I64,
            Const::U64(_) => ComputeType::U64,
            Const::F32(_) => ComputeType::F32,
            Const::F64(_) => ComputeType::F64,
        }
    }
}

/// One step of a [`Program`]. Every instruction writes a fresh register.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instr {
    /// Loads leaf `leaf` (converting its stored dtype to the register's compute type).
    Load {
        leaf: u16,
        dst: Reg,
    },
    /// A constant, filled once per task.
    Const {
        value: Const,
        dst: Reg,
    },
    /// Converts between compute types (`astype` semantics).
    Cast {
        src: Reg,
        dst: Reg,
    },
    /// Converts floats to integer dtype `dtype` (`astype`) with NumPy's results on x86-64: NaN
    /// and values out of range give what the processor's conversion gives (see
    /// `exec::kernel::float_to_int`), not a saturated value.
    Truncate {
        src: Reg,
        dst: Reg,
        dtype: DType,
    },
    /// Wraps integers to a narrower stored width (int8/int16/int32/uint8/uint16/uint32),
    /// so chained integer arithmetic overflows exactly as NumPy's does.
    Narrow {
        src: Reg,
        dst: Reg,
        dtype: DType,
    },
    Unary {
        op: UnaryOp,
        src: Reg,
        dst: Reg,
    },
    Binary {
        op: BinaryOp,
        a: Reg,
        b: Reg,
        dst: Reg,
    },
    /// `where(c, a, b)`; `c` is a bool register.
    Where {
        c: Reg,
        a: Reg,
        b: Reg,
        dst: Reg,
    },
    /// `clip(x, lo, hi)` = `minimum(maximum(x, lo), hi)`.
    Clip {
        x: Reg,
        lo: Reg,
        hi: Reg,
        dst: Reg,
    },
}

/// A fused elementwise computation: registers, instructions, and the register holding the result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    /// Compute type of every register.
    pub regs: Vec<ComputeType>,
    pub instrs: Vec<Instr>,
    pub result: Reg,
    /// Stored dtype of the result (the node's dtype).
    pub result_dtype: DType,
}

impl Program {
    /// The program that reads its one leaf's values as they are (a reduction straight over a
    /// source).
    pub fn load(dtype: DType) -> Program {
        Program { regs: vec![dtype.compute()], instrs: vec![Instr::Load { leaf: 0, dst: 0 }], result: 0, result_dtype: dtype }
    }
}

impl Default for Program {
    fn default() -> Program {
        Program { regs: vec![], instrs: vec![], result: 0, result_dtype: DType::F64 }
    }
}

impl Program {
    /// Number of leaf loads and operators, for `explain`.
    pub fn op_count(&self) -> usize {
        self.instrs.iter().filter(|i| !matches!(i, Instr::Load { .. } | Instr::Const { .. })).count()
    }

    /// Whether the program only copies its single leaf (indexing or a plain read).
    pub fn is_copy(&self) -> bool {
        self.instrs.len() == 1 && matches!(self.instrs[0], Instr::Load { .. })
    }
}

/// A strided view of a dependency's block as seen from a kernel's iteration space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Leaf {
    /// Which of the task's dependencies holds the block.
    pub dep: usize,
    /// Element offset of the iteration origin in the block.
    pub offset: isize,
    /// Element stride per iteration axis (0 where broadcast, negative where reversed).
    pub strides: Vec<isize>,
}

/// A program bound to one task's blocks: what to iterate and where each leaf reads.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub program: std::sync::Arc<Program>,
    pub leaves: Vec<Leaf>,
    /// Shape of the iteration space (the block being computed, or the input block being folded).
    pub shape: Vec<usize>,
}
