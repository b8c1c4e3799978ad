// Where the CPU time of one oneDNN blocked-layout convolution pass goes when the CPU backend runs
// it: the pass as oneDNN alone runs it (one thread, whole batch) against the backend's batch
// split (two primitives over half the batch each, their weight gradients summed in the blocked
// layout before the one reorder out), first one after the other on one core, then at the same
// time on both; and, for comparison, each core running the whole pass at once (what two
// independent one-thread passes cost when they share the caches and the memory bus).
// Every piece is the calling thread's own CPU time, summed over the threads: process CPU time
// is not updated for a thread still running on the other core, so it cannot time a concurrent
// pass.
// Build: cc -O2 conv_pieces.c -ldnnl -lpthread -o /tmp/conv_pieces
// Run: OMP_NUM_THREADS=1 /tmp/conv_pieces BATCH C K SIZE R STRIDE PASS   (PASS 0 fwd, 1 bwd-data,
// 2 bwd-filter; e.g. 8 128 128 28 3 1 2 is ResNet-50's 3x3 128->128 28² filter gradient).
#include "onednn_bench.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 10

static double thread_cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

typedef struct { int n, c, k, h, r, stride, dir; } shape_t;
// One primitive with its NCHW operands, their blocked copies and the reorders between them; the
// pieces' thread CPU seconds accumulate in act (activation reorders), wts (weight reorders), conv.
typedef struct {
    int dir; size_t wfloats;
    dnnl_stream_t st; dnnl_primitive_t conv, rs, rw, rd;
    dnnl_memory_t sp, wp, dp, sb, wb, db;
    double act, wts, conv_s;
} job_t;

static void run_reorder(dnnl_stream_t st, dnnl_primitive_t p, dnnl_memory_t a, dnnl_memory_t b) {
    if (!p) return;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    CHECK(dnnl_primitive_execute(p, st, 2, args));
    CHECK(dnnl_stream_wait(st));
}

static void build(job_t *j, shape_t sh, int n) {
    memset(j, 0, sizeof *j);
    j->dir = sh.dir;
    int pad = sh.r / 2, oh = (sh.h + 2 * pad - sh.r) / sh.stride + 1, dir = sh.dir;
    CHECK(dnnl_stream_create(&j->st, eng, dnnl_stream_default_flags));
    dnnl_dims_t sd = {n, sh.c, sh.h, sh.h}, wd = {sh.k, sh.c, sh.r, sh.r}, dd = {n, sh.k, oh, oh};
    dnnl_dims_t strides = {sh.stride, sh.stride}, dil = {0, 0}, p = {pad, pad};
    dnnl_memory_desc_t s_plain, w_plain, d_plain, s_any, w_any, d_any;
    CHECK(dnnl_memory_desc_init_by_tag(&s_plain, 4, sd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&w_plain, 4, wd, dnnl_f32, dnnl_oihw));
    CHECK(dnnl_memory_desc_init_by_tag(&d_plain, 4, dd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&s_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&d_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
    dnnl_primitive_desc_t fpd, pd = conv_pd(dir, &s_any, &w_any, &d_any, strides, dil, p, &fpd);
    const dnnl_memory_desc_t *s_md = dnnl_primitive_desc_query_md(pd, dir == 1 ? dnnl_query_diff_src_md : dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dir == 2 ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *d_md = dnnl_primitive_desc_query_md(pd, dir == 0 ? dnnl_query_dst_md : dnnl_query_diff_dst_md, 0);
    j->sp = mem(&s_plain); j->wp = mem(&w_plain); j->dp = mem(&d_plain);
    j->sb = mem(s_md); j->wb = mem(w_md); j->db = mem(d_md);
    j->wfloats = dnnl_memory_desc_get_size(w_md) / 4;
    j->rs = dir == 1 ? reorder(s_md, &s_plain) : reorder(&s_plain, s_md);
    j->rw = dir == 2 ? reorder(w_md, &w_plain) : reorder(&w_plain, w_md);
    j->rd = dir == 0 ? reorder(d_md, &d_plain) : reorder(&d_plain, d_md);
    CHECK(dnnl_primitive_create(&j->conv, pd));
}

// Inputs reordered in, the pass, the activation output reordered out. `weights` 0: the weights
// are not converted, as the backend's second batch slice reads the copy the first one made (data
// passes) and leaves its weight gradient blocked to be summed first (filter gradient).
static void run(job_t *j, int weights) {
    int dir = j->dir;
    double t0 = thread_cpu();
    if (dir == 0) run_reorder(j->st, j->rs, j->sp, j->sb);
    if (dir != 0) run_reorder(j->st, j->rd, j->dp, j->db);
    if (dir == 2) run_reorder(j->st, j->rs, j->sp, j->sb);
    double t1 = thread_cpu();
    if (dir != 2 && weights) run_reorder(j->st, j->rw, j->wp, j->wb);
    double t2 = thread_cpu();
    int sarg = dir == 1 ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC, warg = dir == 2 ? DNNL_ARG_DIFF_WEIGHTS : DNNL_ARG_WEIGHTS;
    int darg = dir == 0 ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST;
    dnnl_exec_arg_t args[3] = {{sarg, j->sb}, {warg, j->wb}, {darg, j->db}};
    CHECK(dnnl_primitive_execute(j->conv, j->st, 3, args));
    CHECK(dnnl_stream_wait(j->st));
    double t3 = thread_cpu();
    if (dir == 0) run_reorder(j->st, j->rd, j->db, j->dp);
    if (dir == 1) run_reorder(j->st, j->rs, j->sb, j->sp);
    double t4 = thread_cpu();
    if (dir == 2 && weights) run_reorder(j->st, j->rw, j->wb, j->wp);
    double t5 = thread_cpu();
    j->act += (t1 - t0) + (t4 - t3); j->wts += (t2 - t1) + (t5 - t4); j->conv_s += t3 - t2;
}

// The batch split's end of a filter gradient: the second slice's blocked gradient added to the
// first's, then one reorder to NCHW; timed into the first job's `wts`.
static void sum_and_reorder(job_t *a, job_t *b) {
    if (a->dir != 2) return;
    double t0 = thread_cpu();
    float *p, *q;
    CHECK(dnnl_memory_get_data_handle(a->wb, (void **)&p));
    CHECK(dnnl_memory_get_data_handle(b->wb, (void **)&q));
    for (size_t i = 0; i < a->wfloats; i++) p[i] += q[i];
    a->wts += thread_cpu() - t0;
    double t1 = thread_cpu();
    run_reorder(a->st, a->rw, a->wb, a->wp);
    a->wts += thread_cpu() - t1;
}

static void reset(job_t *j) { j->act = j->wts = j->conv_s = 0; }

typedef struct { job_t *job; pthread_barrier_t *bar; int weights; } worker_t;

static void *worker(void *v) {
    worker_t *w = v;
    for (int r = 0; r < REPS; r++) {
        pthread_barrier_wait(w->bar);
        run(w->job, w->weights);
        pthread_barrier_wait(w->bar);
    }
    return NULL;
}

// Mean ms per pass of the pieces of `a` and `b` together.
static void report(const char *what, job_t *a, job_t *b, double per) {
    double act = a->act + (b ? b->act : 0), wts = a->wts + (b ? b->wts : 0), conv = a->conv_s + (b ? b->conv_s : 0);
    printf("  %-44s %6.2f ms (activation reorders %.2f, weights %.2f, convolution %.2f)\n", what,
           (act + wts + conv) / per * 1e3, act / per * 1e3, wts / per * 1e3, conv / per * 1e3);
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: conv_pieces BATCH C K SIZE R STRIDE PASS\n"); return 2; }
    shape_t sh = {atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7])};
    const char *passes[] = {"fwd", "bwd-data", "bwd-filter"};
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    int half = sh.n / 2;
    job_t whole, other, h1, h2;
    build(&whole, sh, sh.n); build(&other, sh, sh.n); build(&h1, sh, half); build(&h2, sh, sh.n - half);
    // The data passes' slices share one blocked weight copy, converted by the first. (At once, the
    // second may read it while the first rewrites it; the values are the same every pass, so only
    // the timing is at stake, and the backend's own pass converts the weights before either runs.)
    int first = sh.dir != 2;
    if (first) { void *w; CHECK(dnnl_memory_get_data_handle(h1.wb, &w)); CHECK(dnnl_memory_set_data_handle(h2.wb, w)); }
    for (int i = 0; i < 2; i++) { run(&whole, 1); run(&other, 1); run(&h1, first); run(&h2, 0); sum_and_reorder(&h1, &h2); }
    printf("%dx%d/%d %d->%d %d² batch %d %s: thread CPU ms per pass, mean of %d\n", sh.r, sh.r, sh.stride, sh.c, sh.k,
           sh.h, sh.n, passes[sh.dir], REPS);

    reset(&whole);
    for (int r = 0; r < REPS; r++) run(&whole, 1);
    report("one thread, whole batch (oneDNN alone)", &whole, NULL, REPS);

    reset(&h1); reset(&h2);
    for (int r = 0; r < REPS; r++) { run(&h1, first); run(&h2, 0); sum_and_reorder(&h1, &h2); }
    report("one thread, two half batches in turn", &h1, &h2, REPS);

    pthread_barrier_t bar; pthread_barrier_init(&bar, NULL, 2);
    pthread_t th;
    reset(&h1); reset(&h2);
    worker_t w = {&h2, &bar, 0};
    pthread_create(&th, NULL, worker, &w);
    for (int r = 0; r < REPS; r++) {
        pthread_barrier_wait(&bar);
        run(&h1, first);
        pthread_barrier_wait(&bar);
        sum_and_reorder(&h1, &h2);
    }
    pthread_join(th, NULL);
    report("two threads, a half batch each at once", &h1, &h2, REPS);

    reset(&whole); reset(&other);
    worker_t w2 = {&other, &bar, 1};
    pthread_create(&th, NULL, worker, &w2);
    for (int r = 0; r < REPS; r++) {
        pthread_barrier_wait(&bar);
        run(&whole, 1);
        pthread_barrier_wait(&bar);
    }
    pthread_join(th, NULL);
    report("two threads, the whole batch each at once", &whole, &other, 2 * REPS);
    return 0;
}
