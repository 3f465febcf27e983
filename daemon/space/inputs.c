/* inputs.c — xd_inputs, the growing batch of rendered model inputs.
 *
 * Spaces append to it and the evaluator reads from it. Texts are stored back
 * to back in one byte buffer with n + 1 offsets (offs[0] = 0, text i is
 * bytes[offs[i] .. offs[i+1])); rows back to back in one double buffer.
 * Buffers only grow (doubling) and xd_inputs_clear keeps them, so an
 * evaluator that reuses one xd_inputs allocates nothing in steady state.
 * Growth uses the try-allocators: the sizes come from requests.
 */
#include <string.h>
#include "../core/core.h"
#include "space_impl.h"

void xd_inputs_init(xd_inputs *in, xai_input_kind kind, size_t cols) {
    memset(in, 0, sizeof *in);
    in->kind = kind;
    in->cols = cols;
}

void xd_inputs_clear(xd_inputs *in) {
    in->n = 0;
    in->nbytes = 0;
}

void xd_inputs_release(xd_inputs *in) {
    xd_free(in->bytes);
    xd_free(in->offs);
    xd_free(in->rows);
    xai_input_kind kind = in->kind;
    size_t cols = in->cols;
    xd_inputs_init(in, kind, cols);
}

void xd_inputs_truncate(xd_inputs *in, size_t n) {
    if (n >= in->n) return;
    in->n = n;
    if (in->kind == XAI_INPUT_TEXT) in->nbytes = in->offs ? in->offs[n] : 0;
}

/* Grows *buf (of *cap elements of `size` bytes) to hold at least `need`. */
static bool grow(void **buf, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) c = c > SIZE_MAX / 2 ? need : c * 2;
    void *p = xd_try_realloc(*buf, xd_mul(c, size));
    if (p == NULL) return false;
    *buf = p;
    *cap = c;
    return true;
}

char *xd_inputs_begin_text(xd_inputs *in, size_t max_len) {
    if (!grow((void **)&in->offs, &in->offs_cap, in->n + 2, sizeof *in->offs)) return NULL;
    if (in->n == 0) in->offs[0] = 0;
    if (max_len > SIZE_MAX - in->nbytes - 1) return NULL;
    if (!grow((void **)&in->bytes, &in->bytes_cap, in->nbytes + max_len + 1, 1)) return NULL;
    return in->bytes + in->nbytes;
}

void xd_inputs_end_text(xd_inputs *in, size_t len) {
    in->nbytes += len;
    in->n++;
    in->offs[in->n] = in->nbytes;
}

xai_status xd_inputs_push_text(xd_inputs *in, const char *s, size_t len) {
    char *p = xd_inputs_begin_text(in, len);
    if (p == NULL) return XAI_ERR_NOMEM;
    if (len) memcpy(p, s, len);
    xd_inputs_end_text(in, len);
    return XAI_OK;
}

double *xd_inputs_push_row(xd_inputs *in) {
    if (!grow((void **)&in->rows, &in->rows_cap, in->n + 1, xd_mul(in->cols ? in->cols : 1, sizeof(double))))
        return NULL;
    return in->rows + in->n++ * in->cols;
}

const void *xd_inputs_bytes(const xd_inputs *in, size_t i, size_t *len) {
    if (in->kind == XAI_INPUT_TEXT) {
        *len = in->offs[i + 1] - in->offs[i];
        return in->bytes + in->offs[i];
    }
    *len = in->cols * sizeof(double);
    return in->rows + i * in->cols;
}
