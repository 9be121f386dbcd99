//! Progressive results: a picture of a reduction before it ends.
//!
//! A time mean of 744 whole-field records has one output block, finished only when the last
//! record is folded. While it runs, the partial results of the groups already folded wait
//! in the scheduler for the combine above them. A snapshot merges copies of them (each group
//! merged once into a running total, so a snapshot costs one merge per newly finished group
//! and one finish) and finishes that into a block: the mean of the records done so far,
//! with how many of how many. Snapshots only read the values the job holds (the fold order
//! and the tree do not change, so the final result is the same bit for bit) and are taken
//! by a worker between tasks, never by the caller's thread.

use super::{Held, reduce};
use crate::block::Block;
use crate::plan::{Plan, ReduceSpec, TaskId, Work};
use std::sync::Arc;

/// A reduction's output block as it stands part-way.
#[derive(Debug)]
pub struct PartialBlock {
    /// The output block (C order), as [`super::execute`]'s `on_block` numbers them.
    pub index: usize,
    pub block: Block,
    /// Records (index positions along the reduced axes) folded in so far, and in all.
    pub done: usize,
    pub total: usize,
    /// The reduction (`mean`, `nanmean`, `max` …), for the caller's words.
    pub func: &'static str,
}

/// One task holding a partial result of a reduction tree: which of the tree's groups its
/// partial covers (a range, as groups are numbered depth first).
struct Member {
    task: TaskId,
    groups: std::ops::Range<usize>,
}

/// The reduction tree below one output block.
pub(super) struct Tree {
    output: usize,
    spec: Arc<ReduceSpec>,
    out_shape: Vec<usize>,
    members: Vec<Member>,
    /// Records each group (a first-level fold: one read task, or one chain of folds) covers.
    records: Vec<usize>,
    /// The running total of the groups included so far, and which they are.
    total: Option<reduce::Partial>,
    included: Vec<bool>,
    emitted: usize,
}

impl Tree {
    /// The output block this tree computes.
    pub(super) fn output(&self) -> usize {
        self.output
    }

    /// Records folded into the running total.
    fn done(&self) -> usize {
        self.included.iter().zip(&self.records).filter(|(i, _)| **i).map(|(_, r)| r).sum()
    }
}

/// The trees of the plan's outputs that are reductions of at least `min_groups` groups.
pub(super) fn trees(plan: &Plan, min_groups: usize) -> Vec<Tree> {
    let mut out = Vec::new();
    for (k, &t) in plan.outputs.iter().enumerate() {
        let task = &plan.tasks[t.index()];
        let (spec, out_shape) = match &task.work {
            Work::Combine { spec, finalize: true, out_shape } => (spec.clone(), out_shape.clone()),
            _ => continue,
        };
        let mut tree =
            Tree { output: k, spec, out_shape, members: Vec::new(), records: Vec::new(), total: None, included: Vec::new(), emitted: 0 };
        for d in &task.deps {
            collect(plan, *d, &mut tree);
        }
        if tree.records.len() >= min_groups {
            tree.included = vec![false; tree.records.len()];
            out.push(tree);
        }
    }
    out
}

/// Adds task `t` (a partial result) and everything below it to the tree; returns the range
/// of groups it covers.
fn collect(plan: &Plan, t: TaskId, tree: &mut Tree) -> std::ops::Range<usize> {
    let task = &plan.tasks[t.index()];
    let axes = &tree.spec.axes;
    let records = |shape: &[usize]| axes.iter().map(|&a| shape.get(a).copied().unwrap_or(1)).product::<usize>();
    let groups = match &task.work {
        Work::Combine { .. } => {
            let start = tree.records.len();
            for d in &task.deps {
                collect(plan, *d, tree);
            }
            start..tree.records.len()
        }
        Work::ReduceRead { regions, .. } => {
            tree.records.push(regions.iter().map(|r| records(&r.shape)).sum());
            tree.records.len() - 1..tree.records.len()
        }
        Work::Fold { .. } => {
            // the end of a chain of folds: one group, of every link's block
            let mut n = 0;
            let mut link = t;
            loop {
                let Work::Fold { kernel, prev, .. } = &plan.tasks[link.index()].work else { break };
                n += records(&kernel.shape);
                if !*prev {
                    break;
                }
                link = plan.tasks[link.index()].deps[0];
            }
            tree.records.push(n);
            tree.records.len() - 1..tree.records.len()
        }
        _ => 0..0,
    };
    if !groups.is_empty() {
        tree.members.push(Member { task: t, groups: groups.clone() });
    }
    groups
}

/// The partial results the job holds now for `tree`: each member's value, when held.
pub(super) fn held(tree: &Tree, values: &[Option<Arc<Held>>]) -> Vec<(std::ops::Range<usize>, Arc<Held>)> {
    tree.members.iter().filter_map(|m| values[m.task.index()].clone().map(|v| (m.groups.clone(), v))).collect()
}

/// Brings `tree`'s running total up to date with the partials held now and, when it covers
/// more records than at the last snapshot, finishes a copy of it into a block.
pub(super) fn refresh(tree: &mut Tree, held: Vec<(std::ops::Range<usize>, Arc<Held>)>) -> Option<PartialBlock> {
    let func = tree.spec.func;
    let fresh = |tree: &Tree, g: &std::ops::Range<usize>| g.clone().all(|i| !tree.included[i]);
    let known = |tree: &Tree, g: &std::ops::Range<usize>| g.clone().all(|i| tree.included[i]);
    // A combine that took some included groups and some new ones cannot be added without
    // counting the included twice: start the total again from what is held (held partials
    // never overlap: a combine's inputs are released once it has run).
    if held.iter().any(|(g, _)| !fresh(tree, g) && !known(tree, g)) {
        tree.total = None;
        tree.included.iter_mut().for_each(|i| *i = false);
    }
    for (g, v) in &held {
        if !fresh(tree, g) {
            continue;
        }
        let Held::Partial(p) = &**v else { continue };
        match tree.total.as_mut() {
            None => tree.total = Some(p.clone()),
            Some(t) => reduce::merge(func, t, p),
        }
        g.clone().for_each(|i| tree.included[i] = true);
    }
    let done = tree.done();
    if done <= tree.emitted {
        return None;
    }
    let block = reduce::finalize_part(&tree.spec, tree.total.as_ref()?, &tree.out_shape, done).ok()?;
    tree.emitted = done;
    Some(PartialBlock { index: tree.output, block, done, total: tree.records.iter().sum(), func: tree.spec.func.name() })
}
