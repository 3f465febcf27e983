/* alloc.c — the one place libxai allocates memory.
 *
 * The plain variants abort with a log line on out of memory: they serve small
 * bookkeeping allocations whose failure leaves nothing sensible to do. The
 * try variants return NULL and are used for every buffer whose size a client,
 * a model or a file controls, so such a request fails with XAI_ERR_NOMEM and
 * the daemon goes on serving. All memory is released with free().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include "core.h"

static void oom(size_t n) {
    fprintf(stderr, "level=error msg=\"out of memory\" bytes=%zu\n", n);
    abort();
}

void *xd_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) oom(n);
    return p;
}

void *xd_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) oom(xd_mul(n, size));
    return p;
}

void *xd_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) oom(n);
    return q;
}

char *xd_strdup(const char *s) { return xd_strndup(s, strlen(s)); }

char *xd_strndup(const char *s, size_t n) {
    char *p = xd_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *xd_try_malloc(size_t n) { return n == SIZE_MAX ? NULL : malloc(n ? n : 1); }

void *xd_try_calloc(size_t n, size_t size) {
    if (xd_mul(n, size) == SIZE_MAX) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *xd_try_realloc(void *p, size_t n) { return n == SIZE_MAX ? NULL : realloc(p, n ? n : 1); }

size_t xd_mul(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return SIZE_MAX;
    return n * size;
}

void xd_free(void *p) { free(p); }

void xai_free(void *p) { free(p); }

void xd_alloc_keep_freed(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}
