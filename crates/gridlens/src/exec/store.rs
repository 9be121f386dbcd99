//! Where a job's result goes: into a new sink, committed once every block is written and
//! aborted otherwise (a failed or cancelled job leaves nothing at the target), or pasted into
//! one block in memory. The command line, the app and [`super::compute`] all go through here,
//! so the protocol has one home.

use super::{ExecError, ExecOptions, JobControl, execute};
use crate::block::Block;
use crate::chunks::Chunks;
use crate::plan::Plan;
use crate::sink::Sink;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Runs `plan` (built with its write tasks) into `sink` and commits it; after an error or a
/// cancel the sink is aborted, so the target is as it was. `on_block` sees every output block
/// as [`execute`] hands it out. Returns where the result was written.
///
/// # Errors
/// As [`execute`], or the sink's failure to commit.
pub fn store(
    plan: &Plan,
    sink: &dyn Sink,
    opts: &ExecOptions,
    control: &JobControl,
    on_block: &(dyn Fn(usize, &Arc<Block>) + Sync),
) -> Result<PathBuf, ExecError> {
    match execute(plan, Some(sink), opts, control, on_block) {
        Ok(()) => Ok(sink.commit()?),
        Err(e) => {
            sink.abort();
            Err(e)
        }
    }
}

/// The whole result in one block, filled in as output blocks finish (from any worker).
pub struct Whole {
    chunks: Chunks,
    block: Mutex<Block>,
}

impl Whole {
    /// An empty result of `plan`'s shape and dtype.
    pub fn new(plan: &Plan) -> Whole {
        Whole { chunks: plan.chunks.clone(), block: Mutex::new(Block::zeros(plan.dtype, &plan.chunks.shape())) }
    }

    /// Puts output block `k` in its place.
    pub fn paste(&self, k: usize, block: &Block) {
        let region = self.chunks.block_region(&self.chunks.block_index(k));
        self.block.lock().expect("whole result lock").paste(&region.start, block);
    }

    pub fn into_block(self) -> Block {
        self.block.into_inner().expect("whole result lock")
    }
}

/// Runs `plan` and returns its whole result as one block in memory.
///
/// # Errors
/// As [`execute`].
pub fn compute_into(plan: &Plan, opts: &ExecOptions, control: &JobControl) -> Result<Block, ExecError> {
    let whole = Whole::new(plan);
    execute(plan, None, opts, control, &|k, b| whole.paste(k, b))?;
    Ok(whole.into_block())
}
