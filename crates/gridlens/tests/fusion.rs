//! A chain of elementwise operators runs as one fused pass: no array per operator.
//! A counting allocator measures the bytes the computation allocates.

use gridlens::expr::parse::evaluate;
use gridlens::source::MemorySource;
use gridlens::{Array, Block, Chunks, ExecOptions, compute};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_chain_of_operators_allocates_no_array_per_operator() {
    // 2M float64 (16 MB) in one block; the chain has 9 operators.
    let n = 2_000_000;
    let v: Vec<f64> = (0..n).map(|i| 1.0 + (i % 97) as f64).collect();
    let block = Block::from_vec(&[n], v);
    let x = Array::from_source(Arc::new(MemorySource::new("sr6", block, Some(Chunks::regular(&[n], &[n])))));
    let names = HashMap::from([("sr6".to_string(), x)]);
    let e = evaluate("nansum(4 * (sr6 * sr6 - sr6) + sqrt(sr6) / 2 - abs(sr6 - 3) * 0.5)", &names).unwrap();
    let before = ALLOCATED.load(Ordering::Relaxed);
    let r = compute(&e, &ExecOptions { threads: 1, memory_limit: 0, ..Default::default() }).unwrap();
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    assert!(r.data().get_f64(0).is_finite());
    // Reading the block copies it once (16 MB). One array per operator would add 9 x 16 MB;
    // the fused pass adds strips only.
    let input = n * 8;
    assert!(allocated < input + (4 << 20), "allocated {allocated} bytes for a {input}-byte input");
}
