//! A plan cut into coarse pieces for a cluster scheduler (Dask distributed).
//!
//! Dask's scheduler costs up to about a millisecond a task, and moves every task's result
//! between workers; the engine's own tasks (one read, one decode, one fold step) are far too
//! small for that. A piece is the part of the plan that ends in one *root*: an output block,
//! a reduction group's partial result (a whole `split_every` group folded in one task), a node
//! of a reduction's combine tree, or any other reduction's finished block (which many pieces
//! may read). A piece runs every engine task between its root and the roots it depends on, on
//! one worker, in the plan's order; the values that cross between pieces are the roots'
//! values. Running every piece and passing the roots' values on gives the local run's answer
//! bit for bit: the same tasks run on the same inputs, and partials merge in the same order.

use super::{Plan, TaskId, Work};

/// One Dask task: the engine tasks that compute `root`, given the roots of `deps`.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub root: TaskId,
    /// Indices into [`Pieces::pieces`] of the pieces whose roots this one reads, in the order
    /// their values are given to it.
    pub deps: Vec<usize>,
    /// The engine tasks to run, in plan order (dependencies first), the root last.
    pub tasks: Vec<TaskId>,
    /// The output block the root produces, if it is one.
    pub output_block: Option<usize>,
}

/// Every piece of a plan, dependencies before their consumers.
#[derive(Clone, Debug, PartialEq)]
pub struct Pieces {
    pub pieces: Vec<Piece>,
}

impl Plan {
    /// Cuts the plan into pieces (see the module's docs). Write tasks are in no piece (they
    /// consume output blocks and are never roots): a cluster computes blocks, and the writing
    /// stays with the caller.
    pub fn pieces(&self) -> Pieces {
        let n = self.tasks.len();
        let mut root = vec![false; n];
        for &t in &self.outputs {
            root[t.index()] = true;
        }
        let mut consumers = vec![0u32; n];
        self.tasks.iter().flat_map(|t| &t.deps).for_each(|d| consumers[d.index()] += 1);
        for t in &self.tasks {
            match &t.work {
                // A combine's inputs are groups' (or lower combines') partials, each folded in a
                // task of its own. A combine of one group (a single-group reduction finishing)
                // stays with it: the partial would travel for nothing.
                Work::Combine { .. } | Work::TopkCombine { .. } => {
                    for d in &t.deps {
                        if t.deps.len() > 1 || consumers[d.index()] > 1 {
                            root[d.index()] = true;
                        }
                    }
                }
                _ => {}
            }
        }
        for (i, t) in self.tasks.iter().enumerate() {
            let finished = match &t.work {
                Work::Fold { finalize, .. } | Work::ReduceRead { finalize, .. } | Work::Combine { finalize, .. } => *finalize,
                Work::TopkCombine { .. } | Work::Quantile { .. } => true,
                _ => false,
            };
            // a finished reduction is read by every block that needs it: computed once
            if finished {
                root[i] = true;
            }
        }
        // Roots in plan order are in dependency order (a task is added after its inputs).
        let mut piece_of = vec![None; n];
        let mut pieces = Vec::new();
        let mut mark = vec![u32::MAX; n];
        for r in 0..n {
            if !root[r] {
                continue;
            }
            let index = pieces.len() as u32;
            let mut tasks = Vec::new();
            let mut deps = Vec::new();
            let mut stack = vec![r];
            mark[r] = index;
            while let Some(t) = stack.pop() {
                tasks.push(TaskId(t as u32));
                for d in &self.tasks[t].deps {
                    let d = d.index();
                    if mark[d] == index {
                        continue;
                    }
                    mark[d] = index;
                    if root[d] {
                        deps.push(piece_of[d].expect("a root's dependencies come before it") as usize);
                    } else {
                        stack.push(d);
                    }
                }
            }
            tasks.sort_unstable();
            deps.sort_unstable();
            piece_of[r] = Some(index);
            let output_block = self.tasks[r].output_block;
            pieces.push(Piece { root: TaskId(r as u32), deps, tasks, output_block });
        }
        Pieces { pieces }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Array;
    use crate::expr::parse::evaluate;
    use std::collections::HashMap;

    /// How many engine tasks run in more than one piece (a cheap read shared by two roots is
    /// read twice; nothing expensive should be: reductions are roots).
    fn repeated_tasks(pieces: &Pieces, plan: &Plan) -> usize {
        let mut seen = vec![0u32; plan.tasks.len()];
        for p in &pieces.pieces {
            for t in &p.tasks {
                seen[t.index()] += 1;
            }
        }
        seen.iter().filter(|&&n| n > 1).count()
    }

    fn plan(expr: &str) -> Plan {
        let a = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[40, 6, 10]), |i| (i[0] * 60 + i[1] * 10 + i[2]) as f64);
        let x = Array::from_source(crate::source::from_ndarray_f64("x", a, &[1, 3, 5]));
        let names = HashMap::from([("x".to_string(), x)]);
        Plan::build(&evaluate(expr, &names).unwrap(), false).unwrap()
    }

    #[test]
    fn a_mean_is_groups_and_a_combine_per_output_block() {
        let p = plan("x.mean(axis=0)");
        let pieces = p.pieces();
        let outputs: Vec<_> = pieces.pieces.iter().filter(|q| q.output_block.is_some()).collect();
        assert_eq!(outputs.len(), 4);
        // 40 records per output block, in groups of at most 32 (several, so both workers work)
        let groups = pieces.pieces.iter().filter(|q| q.deps.is_empty()).count();
        assert!(groups >= 8, "{groups} groups");
        assert_eq!(repeated_tasks(&pieces, &p), 0);
        // every task of the plan runs in some piece
        let mut covered = vec![false; p.tasks.len()];
        pieces.pieces.iter().flat_map(|q| &q.tasks).for_each(|t| covered[t.index()] = true);
        assert!(covered.iter().all(|&c| c));
    }

    #[test]
    fn an_anomaly_reads_the_finished_mean_once_per_output_block() {
        let p = plan("x[0] - x.mean(axis=0)");
        let pieces = p.pieces();
        for q in pieces.pieces.iter().filter(|q| q.output_block.is_some()) {
            assert_eq!(q.deps.len(), 1, "{q:?}");
            let mean = &pieces.pieces[q.deps[0]];
            assert!(mean.output_block.is_none());
        }
        // the mean is computed once, not once per output block
        assert_eq!(repeated_tasks(&pieces, &p), 0);
    }

    #[test]
    fn a_map_is_one_piece_per_output_block() {
        let p = plan("x[:, ::2, ::3] * 2");
        let pieces = p.pieces();
        assert_eq!(pieces.pieces.len(), p.outputs.len());
        assert!(pieces.pieces.iter().all(|q| q.deps.is_empty() && q.output_block.is_some()));
    }
}
