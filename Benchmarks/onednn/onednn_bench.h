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
