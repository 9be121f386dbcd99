/* The read floor: the least any program can spend summing a set of files from the page
 * cache on this machine. Each of THREADS threads takes every THREADS-th file, reads it in
 * 2 MB pieces (pread into one reused buffer, or through mmap) and sums the doubles; no
 * HDF5, no chunk index, no result. gridlens' weather mean is compared against this in the
 * README.
 *
 *   cc -O3 -march=native -ffast-math -pthread benches/read_floor.c -o target/read_floor
 *   target/read_floor pread 2 'target/bench-data/weather-g8/*.hdf5'
 *   target/read_floor mmap 2 'target/bench-data/weather-g8/*.hdf5'
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PIECE (2 << 20)
#define MAX_THREADS 64

static glob_t files;
static int use_mmap;
static long threads;
static double sums[MAX_THREADS];

static double sum_doubles(const double *d, size_t n) {
    double s = 0;
    for (size_t k = 0; k < n; k++) s += d[k];
    return s;
}

static void *work(void *arg) {
    long t = (long)arg;
    double s = 0;
    double *buf = aligned_alloc(64, PIECE);
    for (size_t i = t; i < files.gl_pathc; i += threads) {
        int fd = open(files.gl_pathv[i], O_RDONLY);
        if (fd < 0) { perror(files.gl_pathv[i]); exit(1); }
        struct stat st;
        fstat(fd, &st);
        size_t n = st.st_size;
        if (use_mmap) {
            const char *p = mmap(0, n, PROT_READ, MAP_SHARED, fd, 0);
            for (size_t off = 0; off + PIECE <= n; off += PIECE) s += sum_doubles((const double *)(p + off), PIECE / 8);
            munmap((void *)p, n);
        } else {
            for (size_t off = 0; off + PIECE <= n; off += PIECE) {
                if (pread(fd, buf, PIECE, off) != PIECE) { perror("pread"); exit(1); }
                s += sum_doubles(buf, PIECE / 8);
            }
        }
        close(fd);
    }
    free(buf);
    sums[t] = s;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "pread") && strcmp(argv[1], "mmap"))) {
        fprintf(stderr, "usage: %s pread|mmap THREADS 'GLOB'\n", argv[0]);
        return 2;
    }
    use_mmap = !strcmp(argv[1], "mmap");
    threads = atol(argv[2]);
    if (threads < 1 || threads > MAX_THREADS || glob(argv[3], 0, 0, &files) != 0) {
        fprintf(stderr, "bad thread count or no files match %s\n", argv[3]);
        return 2;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t th[MAX_THREADS];
    for (long t = 0; t < threads; t++) pthread_create(&th[t], 0, work, (void *)t);
    double total = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join(th[t], 0);
        total += sums[t];
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* the sum is printed so the compiler cannot drop the reads; its value means nothing */
    printf("%s, %ld threads, %zu files: %.3f s (checksum %g)\n", argv[1], threads, files.gl_pathc,
           (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, total);
    return 0;
}
