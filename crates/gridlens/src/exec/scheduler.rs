//! The scheduling policy, apart from the threads that follow it: which ready task runs next
//! and when new data may come in (the memory gate), and each task's urgency from the output
//! blocks it feeds. Pure functions of the queues and counters, so they are tested alone (as
//! zarrs keeps its concurrency policy in `concurrency.rs`).

use crate::plan::TaskId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A task's place in the queues: its caller priority (lower runs first: the output blocks on
/// screen), then the plan's static depth-first order.
pub(super) fn key(priority: u32, order: u32) -> u64 {
    ((priority as u64) << 32) | order as u64
}

/// Ready tasks in two queues, most urgent first: tasks without dependencies (reads,
/// generators: they bring new data in) and tasks that consume results already held.
#[derive(Default)]
pub(super) struct ReadyQueues {
    new: BinaryHeap<Reverse<(u64, u32)>>,
    deps: BinaryHeap<Reverse<(u64, u32)>>,
}

/// What the memory gate looks at when a task that brings new data in is next.
#[derive(Copy, Clone, Debug)]
pub(super) struct Memory {
    /// Bytes of results held now.
    pub held: usize,
    /// The job's budget.
    pub limit: usize,
    /// Tasks running now (whose results will free memory as their consumers run).
    pub running: usize,
}

impl ReadyQueues {
    pub fn push(&mut self, task: u32, key: u64, brings_new_data: bool) {
        let entry = Reverse((key, task));
        if brings_new_data { self.new.push(entry) } else { self.deps.push(entry) }
    }

    /// Empties both queues, returning their tasks (to push them again under new keys).
    pub fn drain(&mut self) -> Vec<u32> {
        self.new.drain().chain(self.deps.drain()).map(|Reverse((_, t))| t).collect()
    }

    /// The next task to run, if one may start now: the most urgent of both queues, except
    /// that a task bringing `out_bytes(task)` of new data waits while that would take the
    /// memory held past the limit and something else is running: a consumer runs instead if
    /// one is ready, else nothing starts until memory is freed. With nothing running, new
    /// data comes in whatever the budget, so that a job always makes progress.
    pub fn pick(&mut self, memory: Memory, out_bytes: impl Fn(u32) -> usize) -> Option<u32> {
        let best_new = self.new.peek().map(|r| r.0);
        let best_deps = self.deps.peek().map(|r| r.0);
        let take_new = match (best_new, best_deps) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a < b,
        };
        if take_new {
            let t = best_new.expect("checked").1;
            let over = memory.held + out_bytes(t) > memory.limit;
            if over && memory.running > 0 {
                return self.deps.pop().map(|r| r.0.1);
            }
            self.new.pop();
            return Some(t);
        }
        self.deps.pop().map(|r| r.0.1)
    }
}

/// Each task's priority: the most urgent (lowest) of the output blocks it feeds, from
/// `per_output` (output blocks not named get `u32::MAX - 1`, tasks feeding none `u32::MAX`).
/// Tasks are created after their dependencies, so one reverse sweep sees consumers first.
pub(super) fn task_priorities(outputs: &[TaskId], consumers: &[Vec<TaskId>], per_output: &[u32]) -> Vec<u32> {
    let n = consumers.len();
    let mut prio = vec![u32::MAX; n];
    for (k, &t) in outputs.iter().enumerate() {
        prio[t.index()] = per_output.get(k).copied().unwrap_or(u32::MAX - 1);
    }
    for i in (0..n).rev() {
        for c in &consumers[i] {
            prio[i] = prio[i].min(prio[c.index()]);
        }
    }
    prio
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Memory = Memory { held: 0, limit: 1000, running: 1 };

    #[test]
    fn the_most_urgent_task_runs_first_across_both_queues() {
        let mut q = ReadyQueues::default();
        q.push(0, key(5, 0), true);
        q.push(1, key(1, 9), false);
        q.push(2, key(1, 3), true);
        let order: Vec<u32> = std::iter::from_fn(|| q.pick(ROOMY, |_| 10)).collect();
        assert_eq!(order, [2, 1, 0]);
    }

    #[test]
    fn new_data_waits_for_memory_while_consumers_run_first() {
        let mut q = ReadyQueues::default();
        q.push(0, key(0, 0), true); // a read of 600 bytes, the most urgent
        q.push(1, key(0, 1), false); // a consumer of data held
        let full = Memory { held: 500, limit: 1000, running: 1 };
        assert_eq!(q.pick(full, |_| 600), Some(1), "the consumer runs while the read would overflow");
        assert_eq!(q.pick(full, |_| 600), None, "nothing starts until memory is freed");
        let freed = Memory { held: 300, ..full };
        assert_eq!(q.pick(freed, |_| 600), Some(0));
    }

    #[test]
    fn with_nothing_running_new_data_comes_in_whatever_the_budget() {
        let mut q = ReadyQueues::default();
        q.push(7, key(0, 0), true);
        assert_eq!(q.pick(Memory { held: 5000, limit: 1000, running: 0 }, |_| 600), Some(7));
        assert_eq!(q.pick(ROOMY, |_| 0), None);
    }

    #[test]
    fn a_task_is_as_urgent_as_the_most_urgent_output_it_feeds() {
        // 0 → 2 (output 0), 1 → 2 and 1 → 3 (output 1), 4 feeds nothing
        let consumers = vec![vec![TaskId(2)], vec![TaskId(2), TaskId(3)], vec![], vec![], vec![]];
        let outputs = [TaskId(2), TaskId(3)];
        assert_eq!(task_priorities(&outputs, &consumers, &[7, 3]), [7, 3, 7, 3, u32::MAX]);
        assert_eq!(task_priorities(&outputs, &consumers, &[7]), [7, 7, 7, u32::MAX - 1, u32::MAX]);
    }

    #[test]
    fn drained_tasks_can_be_queued_again_under_new_keys() {
        let mut q = ReadyQueues::default();
        q.push(0, key(1, 0), true);
        q.push(1, key(2, 0), false);
        let mut tasks = q.drain();
        tasks.sort_unstable();
        assert_eq!(tasks, [0, 1]);
        assert_eq!(q.pick(ROOMY, |_| 0), None);
        q.push(1, key(0, 0), false);
        q.push(0, key(3, 0), true);
        assert_eq!(q.pick(ROOMY, |_| 0), Some(1));
    }
}
