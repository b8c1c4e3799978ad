// Whether the CPU backend's activation reorders get cheaper when each worker pipelines its slice
// of the batch in chunks of a few images instead of in one go. "slice" is what the backend does:
// a worker reorders its whole slice into the blocked layout, runs one primitive over it and
// reorders the whole output back, so each tensor passes through L3 (or memory) three times.
// "chunks" reorders CHUNK images, runs a primitive built for CHUNK images on them and reorders
// their output back while it may still be in L2, then the next CHUNK. Forward and backward data
// only (a filter gradient over chunks would need its partial gradients summed).
// Both workers run at once on their half of the batch, each on its own thread; the two ways
// alternate A B B A round by round, and each round's chunks/slice ratio is taken within the
// round, so that the load of a shared machine cancels. Times are the threads' own CPU time
// summed (process CPU time lags a thread still running on the other core); wall time only
// means something on an idle machine. The weights are reordered once, outside the timing (the
// backend converts them once for all workers; they are the same in both ways). Before timing,
// the two ways' NCHW outputs are compared bit for bit.
// Build: cc -O2 conv_chunks.c -ldnnl -lpthread -o /tmp/conv_chunks
// Run: OMP_NUM_THREADS=1 /tmp/conv_chunks BATCH C K SIZE R STRIDE PASS CHUNK [ROUNDS]
// (PASS 0 fwd, 1 bwd-data; e.g. 8 64 64 56 3 1 0 1 is ResNet-50's 3x3 64->64 56² forward in
// one-image chunks).
#include "onednn_bench.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS 2
#define REPS 5
#define MAX_ROUNDS 64

static double seconds(clockid_t id) { struct timespec t; clock_gettime(id, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

typedef struct { int c, k, h, r, stride, dir; } shape_t;
static shape_t S;

// A primitive over n images with the descriptors of its activation input ("in": x forward, dy
// backward data) and output ("out": y, dx), NCHW and blocked, and the reorders between them.
typedef struct {
    dnnl_primitive_t conv, in_reorder, out_reorder;
    dnnl_memory_desc_t in_plain, in_blocked, out_plain, out_blocked, weights;
} prim_t;

static void build(prim_t *p, int n) {
    int pad = S.r / 2, oh = (S.h + 2 * pad - S.r) / S.stride + 1, dir = S.dir;
    dnnl_dims_t sd = {n, S.c, S.h, S.h}, wd = {S.k, S.c, S.r, S.r}, dd = {n, S.k, oh, oh};
    dnnl_dims_t strides = {S.stride, S.stride}, dil = {0, 0}, pads = {pad, pad};
    dnnl_memory_desc_t s_plain, d_plain, s_any, w_any, d_any;
    CHECK(dnnl_memory_desc_init_by_tag(&s_plain, 4, sd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&d_plain, 4, dd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&s_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&d_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
    dnnl_primitive_desc_t fpd, pd = conv_pd(dir, &s_any, &w_any, &d_any, strides, dil, pads, &fpd);
    const dnnl_memory_desc_t *s_md = dnnl_primitive_desc_query_md(pd, dir == 1 ? dnnl_query_diff_src_md : dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *d_md = dnnl_primitive_desc_query_md(pd, dir == 0 ? dnnl_query_dst_md : dnnl_query_diff_dst_md, 0);
    p->weights = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    p->in_plain = dir == 0 ? s_plain : d_plain;
    p->in_blocked = dir == 0 ? *s_md : *d_md;
    p->out_plain = dir == 0 ? d_plain : s_plain;
    p->out_blocked = dir == 0 ? *d_md : *s_md;
    p->in_reorder = reorder(&p->in_plain, &p->in_blocked);
    p->out_reorder = reorder(&p->out_blocked, &p->out_plain);
    CHECK(dnnl_primitive_create(&p->conv, pd));
    if (dir != 0) dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(pd);
}

// One worker: its slice's NCHW input and output, blocked buffers large enough for the slice
// (a chunk uses their start), and the CPU seconds its pieces took.
typedef struct {
    const prim_t *slice, *chunk;
    float *in, *out, *in_blocked, *out_blocked, *weights;
    size_t in_image, out_image;
    int images, k, chunked, reps;
    dnnl_stream_t stream;
    pthread_barrier_t *barrier;
    double reorders, conv;
} worker_t;

static dnnl_memory_t wrap(const dnnl_memory_desc_t *md, void *data) {
    dnnl_memory_t m; CHECK(dnnl_memory_create(&m, md, eng, data)); return m;
}

static void execute(dnnl_stream_t st, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *args) {
    CHECK(dnnl_primitive_execute(p, st, n, args));
    CHECK(dnnl_stream_wait(st));
}

// Reorder in, convolution, reorder out, of `p`'s images from image `first` of the slice.
static void pipeline(worker_t *w, const prim_t *p, int first) {
    dnnl_memory_t in = wrap(&p->in_plain, w->in + first * w->in_image), in_b = wrap(&p->in_blocked, w->in_blocked);
    dnnl_memory_t out = wrap(&p->out_plain, w->out + first * w->out_image), out_b = wrap(&p->out_blocked, w->out_blocked);
    dnnl_memory_t wts = wrap(&p->weights, w->weights);
    double t0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    execute(w->stream, p->in_reorder, 2, (dnnl_exec_arg_t[]){{DNNL_ARG_FROM, in}, {DNNL_ARG_TO, in_b}});
    double t1 = seconds(CLOCK_THREAD_CPUTIME_ID);
    int fwd = S.dir == 0;
    execute(w->stream, p->conv, 3, (dnnl_exec_arg_t[]){{fwd ? DNNL_ARG_SRC : DNNL_ARG_DIFF_DST, in_b},
        {DNNL_ARG_WEIGHTS, wts}, {fwd ? DNNL_ARG_DST : DNNL_ARG_DIFF_SRC, out_b}});
    double t2 = seconds(CLOCK_THREAD_CPUTIME_ID);
    execute(w->stream, p->out_reorder, 2, (dnnl_exec_arg_t[]){{DNNL_ARG_FROM, out_b}, {DNNL_ARG_TO, out}});
    double t3 = seconds(CLOCK_THREAD_CPUTIME_ID);
    w->reorders += (t1 - t0) + (t3 - t2);
    w->conv += t2 - t1;
    dnnl_memory_destroy(in); dnnl_memory_destroy(in_b); dnnl_memory_destroy(out); dnnl_memory_destroy(out_b);
    dnnl_memory_destroy(wts);
}

static void pass(worker_t *w) {
    if (!w->chunked) { pipeline(w, w->slice, 0); return; }
    for (int i = 0; i < w->images; i += w->k) pipeline(w, w->chunk, i);
}

static void *work(void *v) {
    worker_t *w = v;
    for (int r = 0; r < w->reps; r++) {
        pthread_barrier_wait(w->barrier);
        pass(w);
        pthread_barrier_wait(w->barrier);
    }
    return NULL;
}

// Runs `reps` passes of both workers at once; CPU ms per pass (all workers) and wall ms.
static void run(worker_t *ws, int chunked, int reps, double *reorders, double *conv, double *wall) {
    for (int t = 0; t < WORKERS; t++) { ws[t].chunked = chunked; ws[t].reps = reps; ws[t].reorders = ws[t].conv = 0; }
    pthread_t threads[WORKERS];
    double t0 = seconds(CLOCK_MONOTONIC);
    for (int t = 1; t < WORKERS; t++) pthread_create(&threads[t], NULL, work, &ws[t]);
    work(&ws[0]);
    for (int t = 1; t < WORKERS; t++) pthread_join(threads[t], NULL);
    *wall = (seconds(CLOCK_MONOTONIC) - t0) / reps * 1e3;
    *reorders = *conv = 0;
    for (int t = 0; t < WORKERS; t++) { *reorders += ws[t].reorders / reps * 1e3; *conv += ws[t].conv / reps * 1e3; }
}

static float *floats(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

static void print_median(const char *what, double *v, int n) {
    qsort(v, n, sizeof *v, by_value);
    printf(" %s %.3f (%.3f-%.3f)", what, v[n / 2], v[n / 4], v[3 * n / 4]);
}

int main(int argc, char **argv) {
    if (argc < 9) { fprintf(stderr, "usage: conv_chunks BATCH C K SIZE R STRIDE PASS CHUNK [ROUNDS]\n"); return 2; }
    int n = atoi(argv[1]);
    S = (shape_t){atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7])};
    int k = atoi(argv[8]), rounds = argc > 9 ? atoi(argv[9]) : 30, images = n / WORKERS;
    if (S.dir > 1 || k < 1 || images % k || rounds < 4 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "PASS 0 or 1, CHUNK dividing BATCH/%d, 4 to %d rounds\n", WORKERS, MAX_ROUNDS); return 2;
    }
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    prim_t slice, chunk;
    build(&slice, images); build(&chunk, k);
    // Both ways read one weight copy, so they must agree on its layout (the backend would
    // otherwise need a second copy).
    if (!dnnl_memory_desc_equal(&slice.weights, &chunk.weights)) { fprintf(stderr, "weight layouts differ\n"); return 1; }
    size_t in_image = dnnl_memory_desc_get_size(&chunk.in_plain) / 4 / k;
    size_t out_image = dnnl_memory_desc_get_size(&chunk.out_plain) / 4 / k;
    float *weights = floats(dnnl_memory_desc_get_size(&slice.weights));
    for (size_t i = 0; i < dnnl_memory_desc_get_size(&slice.weights) / 4; i++) weights[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
    worker_t ws[WORKERS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, WORKERS);
    for (int t = 0; t < WORKERS; t++) {
        worker_t *w = &ws[t];
        *w = (worker_t){.slice = &slice, .chunk = &chunk, .in_image = in_image, .out_image = out_image,
                        .images = images, .k = k, .weights = weights, .barrier = &barrier};
        w->in = floats(in_image * images * 4);
        w->out = floats(out_image * images * 4);
        w->in_blocked = floats(dnnl_memory_desc_get_size(&slice.in_blocked));
        w->out_blocked = floats(dnnl_memory_desc_get_size(&slice.out_blocked));
        for (size_t i = 0; i < in_image * images; i++) w->in[i] = (float)(((i + t) * 7919) % 13) / 13.0f - 0.5f;
        CHECK(dnnl_stream_create(&w->stream, eng, dnnl_stream_default_flags));
    }
    // Bit-identity of the two ways, and a warm-up.
    double r, c, wall;
    size_t out_bytes = out_image * images * 4;
    float *reference[WORKERS];
    run(ws, 0, 1, &r, &c, &wall);
    for (int t = 0; t < WORKERS; t++) { reference[t] = floats(out_bytes); memcpy(reference[t], ws[t].out, out_bytes); }
    run(ws, 1, 1, &r, &c, &wall);
    int identical = 1;
    for (int t = 0; t < WORKERS; t++) identical &= memcmp(reference[t], ws[t].out, out_bytes) == 0;

    const char *passes[] = {"fwd", "bwd-data"};
    printf("%dx%d/%d %d->%d %d² batch %d %s, %d workers at once, chunks of %d: outputs %s; CPU ms per pass "
           "(all workers), %d rounds of %d passes each way\n", S.r, S.r, S.stride, S.c, S.k, S.h, n, passes[S.dir],
           WORKERS, k, identical ? "bit-identical" : "DIFFER", rounds, REPS);
    double total[2][MAX_ROUNDS], reorders[2][MAX_ROUNDS], conv[2][MAX_ROUNDS], walls[2][MAX_ROUNDS];
    double ratio[3][MAX_ROUNDS];
    int wins = 0;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < 2; i++) {
            int chunked = (round & 1) ? 1 - i : i;   // A B, then B A
            run(ws, chunked, REPS, &reorders[chunked][round], &conv[chunked][round], &walls[chunked][round]);
            total[chunked][round] = reorders[chunked][round] + conv[chunked][round];
        }
        ratio[0][round] = total[1][round] / total[0][round];
        ratio[1][round] = reorders[1][round] / reorders[0][round];
        ratio[2][round] = conv[1][round] / conv[0][round];
        wins += ratio[0][round] < 1;
    }
    for (int chunked = 0; chunked < 2; chunked++) {
        printf("  %-7s median (quartiles):", chunked ? "chunks" : "slice");
        print_median("total", total[chunked], rounds);
        print_median("reorders", reorders[chunked], rounds);
        print_median("convolution", conv[chunked], rounds);
        print_median("wall", walls[chunked], rounds);
        printf("\n");
    }
    printf("  chunks / slice, paired within each round:");
    print_median("total", ratio[0], rounds);
    print_median("reorders", ratio[1], rounds);
    print_median("convolution", ratio[2], rounds);
    printf("; chunks faster in %d of %d rounds\n", wins, rounds);
    return 0;
}
