//! The decode floor: the least any program can spend inflating a dataset's deflated chunks
//! on this machine. The chunks (listed by `benches/chunk_list.py`, which asks h5py where they
//! lie) are first read into memory; then THREADS threads each take every THREADS-th chunk
//! and inflate it with libdeflate (the fastest inflater we know of; the same release
//! gridlens links) into one reused buffer. Only the inflating is timed: no unshuffle, no
//! checksum, no HDF5, no result. gridlens' reductions of deflated files are compared
//! against this in the README.
//!
//! ```sh
//! python3 benches/chunk_list.py 'target/bench-data/era5/*.nc' /t2m > target/era5.chunks
//! cargo bench --bench decode_floor -- 2 target/era5.chunks
//! ```
//!
//! Prints one JSON line: seconds, chunks, bytes stored and inflated, MB/s per thread.

use std::io::BufRead;
use std::os::unix::fs::FileExt;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [threads, list] = args.as_slice() else {
        eprintln!("usage: decode_floor THREADS CHUNK_LIST (lines of: FILE OFFSET SIZE)");
        std::process::exit(2);
    };
    let threads: usize = threads.parse().expect("THREADS is a number");
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let list = std::fs::File::open(list).unwrap_or_else(|e| panic!("{list}: {e}"));
    for line in std::io::BufReader::new(list).lines() {
        let line = line.expect("a line");
        let mut parts = line.rsplitn(3, ' ');
        let (size, offset, path) = (parts.next(), parts.next(), parts.next());
        let (Some(size), Some(offset), Some(path)) = (size, offset, path) else { continue };
        let (size, offset): (usize, u64) = (size.parse().expect("size"), offset.parse().expect("offset"));
        let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut buf = vec![0u8; size];
        f.read_exact_at(&mut buf, offset).unwrap_or_else(|e| panic!("{path} at {offset}: {e}"));
        chunks.push(buf);
    }
    let stored: usize = chunks.iter().map(Vec::len).sum();
    let t0 = Instant::now();
    let inflated: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let chunks = &chunks;
                s.spawn(move || {
                    let mut d = libdeflater::Decompressor::new();
                    let mut out = vec![0u8; 256 << 20];
                    let mut total = 0;
                    for c in chunks.iter().skip(t).step_by(threads) {
                        total += d.zlib_decompress(c, &mut out).expect("a zlib chunk");
                    }
                    total
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"seconds\": {secs:.4}, \"chunks\": {}, \"stored_bytes\": {stored}, \"inflated_bytes\": {inflated}, \"threads\": {threads}, \
         \"mb_per_s_per_thread\": {:.1}}}",
        chunks.len(),
        inflated as f64 / secs / threads as f64 / 1e6
    );
}
