/* space_impl.h — what a space is inside libxai: a vtable and the buffer of
 * rendered model inputs it appends to. Private to daemon/space, daemon/eval
 * and modules that add a space kind (daemon/nn adds the tensor space).
 *
 * Contract of render(): append exactly rows_per_mask inputs for one mask to
 * `out` (one text for text spaces, rows_per_mask rows of n_cols doubles for
 * ROWS spaces), in background order, and return XAI_OK; or return an error
 * and leave `out` as it was. The evaluator combines the outputs of the
 * rendered rows of one mask as sum_b row_weights[b] * f(row_b).
 */
#ifndef XD_SPACE_IMPL_H
#define XD_SPACE_IMPL_H

#include "xai/space.h"
#include "xai/eval.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growing batch of model inputs of one kind. Text inputs are stored back
 * to back in `bytes` with offsets; rows back to back in `rows`. */
typedef struct xd_inputs {
    xai_input_kind kind;
    size_t n;               /* inputs held */
    /* TEXT */
    char *bytes;
    size_t nbytes, bytes_cap;
    size_t *offs;           /* n + 1 offsets into bytes */
    size_t offs_cap;
    /* ROWS */
    size_t cols;
    double *rows;
    size_t rows_cap;        /* in rows */
} xd_inputs;

void xd_inputs_init(xd_inputs *in, xai_input_kind kind, size_t cols);
void xd_inputs_clear(xd_inputs *in);     /* n = 0, keeps memory */
void xd_inputs_release(xd_inputs *in);   /* frees memory */
/* Appends one text / reserves one row (NULL on out of memory). */
xai_status xd_inputs_push_text(xd_inputs *in, const char *s, size_t len);
double *xd_inputs_push_row(xd_inputs *in);
/* Appends one text written in place: begin reserves max_len bytes and
 * returns where to write them (NULL on out of memory), end commits the
 * first len <= max_len of them as the next input. */
char *xd_inputs_begin_text(xd_inputs *in, size_t max_len);
void xd_inputs_end_text(xd_inputs *in, size_t len);
/* Drops inputs past the first n (to undo a partial render). */
void xd_inputs_truncate(xd_inputs *in, size_t n);
/* Bytes of input i (its text, or its row's doubles). */
const void *xd_inputs_bytes(const xd_inputs *in, size_t i, size_t *len);

typedef struct xd_space_vtab {
    const char *kind_name;                       /* "text", "tabular", "tensor" */
    xai_status (*render)(const xai_space *s, const uint8_t *mask, xd_inputs *out,
                         xai_error *err);
    void (*destroy)(xai_space *s);               /* frees `impl` */
} xd_space_vtab;

struct xai_space {
    const xd_space_vtab *vt;
    xai_input_kind input_kind;
    size_t d;                   /* features */
    char **feature_names;       /* d names, owned */
    size_t rows_per_mask;       /* >= 1 */
    double *row_weights;        /* rows_per_mask weights summing to 1, owned */
    size_t n_cols;              /* ROWS spaces */
    void *impl;                 /* kind-specific state, freed by destroy */
};

/* Allocates a space with d features and rows_per_mask uniform weights; the
 * caller fills names (xd_strdup'd) and impl. NULL on out of memory. */
xai_space *xd_space_alloc(const xd_space_vtab *vt, xai_input_kind kind, size_t d,
                          size_t rows_per_mask, size_t n_cols);

#ifdef __cplusplus
}
#endif

#endif
