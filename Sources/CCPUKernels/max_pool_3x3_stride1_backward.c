#include "max_pool_3x3_stride1_backward.h"
#include "isa_variants.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The backward pass of 3×3/1 max pooling (GoogLeNet's inception pool branches) as a gather:
// each block of 16 input pixels of a row sums, in registers, the gradients of the up to 9
// windows that hold it and picked it, and is stored once, with no zeroing pass and no scalar
// read-modify-write per output (the scatter in pooling.c, about 2 cycles an output).
//
// The sums are the scatter's. The scatter adds an output row's gradients in three passes,
// ow ≡ 0, 1, 2 (mod 3), output rows in order, so a pixel receives its shares ordered by
// (oh, ow mod 3), at most one per pair (windows of one pass do not overlap). Pixel column c (in
// padded coordinates) lies in the windows ow = c − k, k = 0, 1, 2, whose residues are all three;
// for pass r the window is ow = c − ((c − r) mod 3), a lane pattern of period 3. So each output
// row's 18 gradients and winners from c0 − 2 (c0: the block's first column) are loaded as two
// vectors and permuted into "pass r's window" vectors (one two-source permute each; the
// permutes depend only on c0 mod 3, and a column block walks down the whole plane), and each
// input row adds, for its three output rows and the three passes in order, the gradient where
// the winner is this pixel: a compare and a masked add. An output row's permuted vectors serve
// the three input rows that use it: about 33 vector instructions per 16 pixels.
//
// AVX-512 only: the 16-lane two-source permutes and masked adds are one instruction each there;
// with AVX2 the same gather written with blends took 2.8× the scatter's time on one core (the
// state does not fit in 16 registers), NOTES-memory-bound.md.
//
// Winners are assumed inside their window (the forward's are, or −1 where ReLU masked the
// window); an index elsewhere in the plane, which the scatter would add at that pixel, is
// ignored here.

#define LANES 16

#if defined(__x86_64__)

/// 3×3/1 pools with padding at most 1 per side whose outputs are the padded image less 2.
static int applies(const cnn_pool_geometry *g) {
    return g->windowH == 3 && g->windowW == 3 && g->strideH == 1 &&
           g->strideW == 1 && g->top <= 1 && g->left <= 1 && g->bottom <= 1 && g->right <= 1 &&
           g->outH == g->inH + g->top + g->bottom - 2 && g->outW == g->inW + g->left + g->right - 2;
}

#define INLINE_AVX512 INLINE TARGET_AVX512

/// One output row's gradients and winners arranged by pass: lane l of share[r] and winner[r] is
/// the window of pass r holding the lane's pixel (winner −1 where that window is outside the row).
typedef struct {
    __m512 share[3];
    __m512i winner[3];
} pass_windows;

/// The permutes and window masks of one column block (lane 0 at padded column c0).
typedef struct {
    __m512i permute[3];
    __mmask16 valid[3];
} block_layout;

INLINE_AVX512 block_layout make_block_layout(long c0, long outW) {
    block_layout b;
    for (int r = 0; r < 3; r++) {
        int32_t permute[LANES];
        __mmask16 valid = 0;
        for (int l = 0; l < LANES; l++) {
            // Pass r's window for column c is ow = c − k; its gradient is float o = ow − (c0 − 2)
            // of the 18 from c0 − 2: lanes 0–15 of the first vector, then 14–15 of the second.
            long c = c0 + l, k = ((c - r) % 3 + 3) % 3, ow = c - k, o = l + 2 - k;
            permute[l] = (int32_t)(o < LANES ? o : LANES + o - 2);
            if (ow >= 0 && ow < outW) valid |= (__mmask16)(1u << l);
        }
        b.permute[r] = _mm512_loadu_si512(permute);
        b.valid[r] = valid;
    }
    return b;
}

INLINE_AVX512 pass_windows no_windows(void) {
    pass_windows w;
    for (int r = 0; r < 3; r++) {
        w.share[r] = _mm512_setzero_ps();
        w.winner[r] = _mm512_set1_epi32(-1);
    }
    return w;
}

/// Lanes of [p, p + 16) inside [begin, end).
INLINE_AVX512 __mmask16 lanes_within(const float *p, const float *begin, const float *end) {
    long lo = begin > p ? begin - p : 0, hi = end - p < LANES ? end - p : LANES;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/// Output row `oh` (0 ≤ oh < outH) of the plane at `dy` / `winners`, for the block at c0. Only
/// the call's first and last rows can reach outside its gradients: masked loads there.
INLINE_AVX512 pass_windows load_windows(const block_layout *b, const float *dy, const int32_t *winners, long oh,
                                        long outW, long c0, const float *dyBegin, const float *dyEnd) {
    const long at = oh * outW + c0 - 2;
    const float *d = dy + at;
    const int32_t *w = winners + at;
    __m512 d0, d1;
    __m512i w0, w1;
    if (d >= dyBegin && d + LANES + 2 <= dyEnd) {
        d0 = _mm512_loadu_ps(d), d1 = _mm512_loadu_ps(d + 2);
        w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 2);
    } else {
        __mmask16 k0 = lanes_within(d, dyBegin, dyEnd), k1 = lanes_within(d + 2, dyBegin, dyEnd);
        d0 = _mm512_maskz_loadu_ps(k0, d), d1 = _mm512_maskz_loadu_ps(k1, d + 2);
        w0 = _mm512_mask_loadu_epi32(_mm512_set1_epi32(-1), k0, w);
        w1 = _mm512_mask_loadu_epi32(_mm512_set1_epi32(-1), k1, w + 2);
    }
    pass_windows p;
    for (int r = 0; r < 3; r++) {
        p.share[r] = _mm512_permutex2var_ps(d0, b->permute[r], d1);
        p.winner[r] = _mm512_mask_mov_epi32(_mm512_set1_epi32(-1), b->valid[r],
                                            _mm512_permutex2var_epi32(w0, b->permute[r], w1));
    }
    return p;
}

/// Adds to `sum`, pass by pass, the shares of one output row's windows whose winner is the pixel.
/// The share is the add's first operand, as in the scatter's AVX builds (`plane[i] += share`
/// compiled to share + plane[i]): when both are NaN, x86 keeps the first operand's payload. The
/// compiler treats the add as commutative and swaps the operands of the intrinsic, hence asm.
INLINE_AVX512 __m512 add_shares(__m512 sum, const pass_windows *p, __m512i position) {
    for (int r = 0; r < 3; r++) {
        __mmask16 match = _mm512_cmpeq_epi32_mask(p->winner[r], position);
        __asm__("vaddps %[sum], %[share], %[sum] %{%[match]%}"
                : [sum] "+v"(sum)
                : [share] "v"(p->share[r]), [match] "Yk"(match));
    }
    return sum;
}

/// Rows of 16 pixels or more in blocks of 16, the last one shifted back to end at the row's end;
/// narrower rows in one block whose extra lanes fall on the rows stored after them.
static inline long column_blocks(long inW) { return inW >= LANES ? (inW + LANES - 1) / LANES : 1; }
static inline long block_start(long j, long blocks, long inW) {
    return inW >= LANES && j == blocks - 1 ? inW - LANES : j * LANES;
}

/// The layouts of the first column blocks, made once a call (rows of up to 128 pixels: every
/// 3×3/1 pool of the zoo); wider rows make the others again in every plane.
#define MADE_LAYOUTS 8

/// Input row ih of a column block: loads output row ih + top into `below` (`above` and `middle`
/// hold the two before it) and stores the pixels' sums.
INLINE_AVX512 void pixel_row(const cnn_pool_geometry *g, const block_layout *layout, const float *gradient,
                             const int32_t *winners, float *plane, long ih, long b, __m512i position,
                             const pass_windows *above, const pass_windows *middle, pass_windows *below,
                             const float *dy, const float *dyEnd, float *dxEnd) {
    const long oh = ih + g->top, c0 = b + g->left;
    *below = oh < g->outH ? load_windows(layout, gradient, winners, oh, g->outW, c0, dy, dyEnd) : no_windows();
    __m512 sum = _mm512_setzero_ps();
    sum = add_shares(sum, above, position);
    sum = add_shares(sum, middle, position);
    sum = add_shares(sum, below, position);
    float *out = plane + ih * g->inW + b;
    if (out + LANES <= dxEnd) _mm512_storeu_ps(out, sum);
    else _mm512_mask_storeu_ps(out, (__mmask16)((1u << (dxEnd - out)) - 1), sum);
}

/// The column blocks of one plane, each walked down the plane.
INLINE_AVX512 void pool_plane(const cnn_pool_geometry *g, const block_layout *layouts, const float *gradient,
                              const int32_t *winners, float *plane, const float *dy, const float *dyEnd, float *dxEnd) {
    const long inH = g->inH, inW = g->inW, outW = g->outW;
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i rowStep = _mm512_set1_epi32((int)inW);
    const long blocks = column_blocks(inW);
    for (long j = 0; j < blocks; j++) {
        const long b = block_start(j, blocks, inW), c0 = b + g->left;
        const block_layout layout = j < MADE_LAYOUTS ? layouts[j] : make_block_layout(c0, outW);
        // Output rows ih + top − 2, ih + top − 1, ih + top for input row ih.
        pass_windows above = no_windows(), middle = no_windows(), below;
        if (g->top == 1) middle = load_windows(&layout, gradient, winners, 0, outW, c0, dy, dyEnd);
        __m512i position = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)b));
        // Three rows a turn, the three rows' windows changing roles instead of places (0.59–0.65
        // of the scatter's time at 28² against 0.68–0.73 a row at a time, one core).
        long ih = 0;
        for (; ih + 3 <= inH; ih += 3) {
            pixel_row(g, &layout, gradient, winners, plane, ih, b, position, &above, &middle, &below, dy, dyEnd, dxEnd);
            position = _mm512_add_epi32(position, rowStep);
            pixel_row(g, &layout, gradient, winners, plane, ih + 1, b, position, &middle, &below, &above, dy, dyEnd,
                      dxEnd);
            position = _mm512_add_epi32(position, rowStep);
            pixel_row(g, &layout, gradient, winners, plane, ih + 2, b, position, &below, &above, &middle, dy, dyEnd,
                      dxEnd);
            position = _mm512_add_epi32(position, rowStep);
        }
        for (; ih < inH; ih++) {
            pixel_row(g, &layout, gradient, winners, plane, ih, b, position, &above, &middle, &below, dy, dyEnd, dxEnd);
            position = _mm512_add_epi32(position, rowStep);
            above = middle;
            middle = below;
        }
    }
}

TARGET_AVX512 static void max_pool_backward_3x3s1_avx512(const cnn_pool_geometry *g, const float *dy,
                                                         const int32_t *indices, float *dx, long planes) {
    const long inH = g->inH, inW = g->inW, outH = g->outH, outW = g->outW;
    const long inPlane = inH * inW, outPlane = outH * outW;
    const float *dyEnd = dy + planes * outPlane;
    float *dxEnd = dx + planes * inPlane;
    const long blocks = column_blocks(inW);
    block_layout layouts[MADE_LAYOUTS];
    for (long j = 0; j < blocks && j < MADE_LAYOUTS; j++)
        layouts[j] = make_block_layout(block_start(j, blocks, inW) + g->left, outW);
    for (long p = 0; p < planes; p++) {
        const float *gradient = dy + p * outPlane;
        const int32_t *winners = indices + p * outPlane;
        float *plane = dx + p * inPlane;
        pool_plane(g, layouts, gradient, winners, plane, dy, dyEnd, dxEnd);
    }
}

int cnn_max_pool_backward_3x3s1(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                                long planes) {
    if (cnn_cpu_isa_active() != CNN_ISA_AVX512 || !applies(g)) return 0;
    max_pool_backward_3x3s1_avx512(g, dy, indices, dx, planes);
    return 1;
}

#else

int cnn_max_pool_backward_3x3s1(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                                long planes) {
    (void)g, (void)dy, (void)indices, (void)dx, (void)planes;
    return 0;
}

#endif
