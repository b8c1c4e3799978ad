// What the oneDNN benchmark programs here share: the error check, the one CPU engine, operand
// memory filled with a fixed pattern, and reorder primitives. Each program is one file that
// includes this header (no library of its own).
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { \
    fprintf(stderr, "%s failed: %d\n", #x, s_); exit(1); } } while (0)

static dnnl_engine_t eng;

// Memory of descriptor md on eng, filled with a fixed pattern in [-0.5, 0.5).
static dnnl_memory_t mem(const dnnl_memory_desc_t *md) {
    dnnl_memory_t m; CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    float *p; CHECK(dnnl_memory_get_data_handle(m, (void **)&p));
    size_t n = dnnl_memory_desc_get_size(md) / 4;
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
    return m;
}

// A reorder from `from` to `to` (NULL when they are equal).
static dnnl_primitive_t reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    if (dnnl_memory_desc_equal(from, to)) return NULL;
    dnnl_primitive_desc_t pd; dnnl_primitive_t p;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL));
    CHECK(dnnl_primitive_create(&p, pd));
    dnnl_primitive_desc_destroy(pd);
    return p;
}

// The convolution primitive descriptor of pass dir (0 forward, 1 backward data, 2 backward
// weights) over the given operand descriptors; backward passes take the forward's as a hint,
// returned in *fwd (the same as the result for dir 0) for the caller to destroy after it.
static dnnl_primitive_desc_t conv_pd(int dir, const dnnl_memory_desc_t *s, const dnnl_memory_desc_t *w,
                                     const dnnl_memory_desc_t *d, const dnnl_dims_t strides,
                                     const dnnl_dims_t dil, const dnnl_dims_t pad, dnnl_primitive_desc_t *fwd) {
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fpd, pd;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
        s, w, NULL, d, strides, dil, pad, pad));
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    *fwd = fpd;
    if (dir == 0) return fpd;
    if (dir == 1)
        CHECK(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, s, w, d,
            strides, dil, pad, pad));
    else
        CHECK(dnnl_dilated_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, s, w, NULL,
            d, strides, dil, pad, pad));
    CHECK(dnnl_primitive_desc_create(&pd, &bd, NULL, eng, fpd));
    return pd;
}
