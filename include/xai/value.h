/* value.h — a small tree of typed values, and its msgpack and JSON codecs.
 *
 * An xai_value is what crosses every boundary of xaid that is not a hot loop:
 * method parameters, results' method-specific parts, protocol messages, the
 * config. It has exactly the types msgpack has (nil, bool, int, float, str,
 * bin, array, map with string keys), so a message decodes into a value and a
 * value encodes into a message without loss.
 *
 * Ownership: a value owns its children, strings and bytes. A value returned by
 * a constructor or a decoder is freed with xai_value_free(), which frees the
 * whole tree. Pointers returned by getters point into the tree and live as
 * long as it does. Setters copy what they are given.
 *
 * Untrusted input: xai_value_unpack() checks every declared length and count
 * against the bytes that remain before allocating anything, and bounds the
 * nesting depth, so a hostile message cannot make it allocate more than a
 * small multiple of its own size.
 */
#ifndef XAI_VALUE_H
#define XAI_VALUE_H

#include <stdbool.h>
#include "xai.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xai_vtype {
    XAI_V_NIL = 0,
    XAI_V_BOOL,
    XAI_V_INT,      /* int64 */
    XAI_V_FLOAT,    /* double */
    XAI_V_STR,      /* UTF-8 bytes with a length (NUL-terminated as well) */
    XAI_V_BIN,      /* raw bytes */
    XAI_V_ARRAY,
    XAI_V_MAP       /* string keys, insertion order kept, keys unique */
} xai_vtype;

typedef struct xai_value xai_value;

/* Constructors. Each returns a new value, or NULL when memory runs out. */
xai_value *xai_value_nil(void);
xai_value *xai_value_bool(bool b);
xai_value *xai_value_int(int64_t i);
xai_value *xai_value_float(double d);
xai_value *xai_value_str(const char *s);                 /* copies s */
xai_value *xai_value_strn(const char *s, size_t len);    /* copies len bytes */
xai_value *xai_value_bin(const void *p, size_t len);     /* copies len bytes */
xai_value *xai_value_array(void);
xai_value *xai_value_map(void);
/* A deep copy, or NULL on out of memory. */
xai_value *xai_value_clone(const xai_value *v);
void xai_value_free(xai_value *v);

/* Inspection. Getters on the wrong type return 0 / NULL / false. */
xai_vtype xai_value_type(const xai_value *v);
bool xai_value_get_bool(const xai_value *v);
int64_t xai_value_get_int(const xai_value *v);
/* A number of either type as a double (ints are converted). */
double xai_value_get_number(const xai_value *v);
bool xai_value_is_number(const xai_value *v);
const char *xai_value_get_str(const xai_value *v, size_t *len); /* STR only */
const void *xai_value_get_bin(const xai_value *v, size_t *len); /* BIN only */

/* Arrays and maps: number of items / entries. */
size_t xai_value_len(const xai_value *v);
xai_value *xai_value_at(const xai_value *array, size_t i);
/* Map lookup by key; NULL when absent or when m is not a map. */
xai_value *xai_value_get(const xai_value *m, const char *key);
/* The i-th map entry (insertion order). */
const char *xai_value_key_at(const xai_value *m, size_t i);
xai_value *xai_value_val_at(const xai_value *m, size_t i);

/* Building. Append and set take ownership of `item` (also on failure, when
 * they free it). They return XAI_OK or XAI_ERR_NOMEM / XAI_ERR_INVALID. */
xai_status xai_value_push(xai_value *array, xai_value *item);
xai_status xai_value_set(xai_value *map, const char *key, xai_value *item);
/* Shorthands for map entries. */
xai_status xai_value_set_int(xai_value *map, const char *key, int64_t i);
xai_status xai_value_set_float(xai_value *map, const char *key, double d);
xai_status xai_value_set_bool(xai_value *map, const char *key, bool b);
xai_status xai_value_set_str(xai_value *map, const char *key, const char *s);
/* An array of doubles as a FLOAT array (for small vectors). */
xai_value *xai_value_float_array(const double *x, size_t n);

/* Map getters with defaults, for options. Each returns XAI_OK and the default
 * when the key is absent or nil, XAI_ERR_INVALID (with a message naming the
 * key) when the key holds the wrong type or a value out of [lo, hi]. */
xai_status xai_opt_int(const xai_value *m, const char *key, int64_t def,
                       int64_t lo, int64_t hi, int64_t *out, xai_error *err);
xai_status xai_opt_float(const xai_value *m, const char *key, double def,
                         double lo, double hi, double *out, xai_error *err);
xai_status xai_opt_bool(const xai_value *m, const char *key, bool def,
                        bool *out, xai_error *err);
/* *out points into the tree (or is `def`). */
xai_status xai_opt_str(const xai_value *m, const char *key, const char *def,
                       const char **out, xai_error *err);
/* Checks that every key of map `m` is in the NULL-terminated list `allowed`;
 * otherwise XAI_ERR_INVALID naming the first unknown key and `what`.
 * A NULL m passes. */
xai_status xai_opt_check_keys(const xai_value *m, const char *const *allowed,
                              const char *what, xai_error *err);

/* Matrices. On the wire a matrix is either {"shape": [n, k], "dtype":
 * "f64"|"f32", "data": bin, little-endian, row-major} or a nested array of n
 * arrays of k numbers. A flat array of numbers is one row (1 x k) when
 * `flat_is_row` is set, else one column (n x 1). xai_value_to_matrix accepts
 * every form, checks the shape against the data length, and rejects NaN and
 * infinities when `finite` is set (XAI_ERR_BAD_REQUEST). *out is malloc'd
 * (free with xai_free). */
xai_status xai_value_to_matrix(const xai_value *v, bool flat_is_row, bool finite,
                               double **out, size_t *rows, size_t *cols,
                               xai_error *err);
/* Encodes a matrix in the {shape, dtype "f64", data} form. NULL on OOM. */
xai_value *xai_value_from_matrix(const double *x, size_t rows, size_t cols);

/* Codec limits for decoding untrusted bytes. Zero fields take defaults
 * (max_depth 64, max_items 1<<24, max_bytes 1<<30). */
typedef struct xai_unpack_limits {
    size_t max_depth;   /* nesting of arrays and maps */
    size_t max_items;   /* total number of values in the tree */
    size_t max_bytes;   /* input size */
} xai_unpack_limits;

/* Decodes exactly one msgpack object spanning all of buf[0..len).
 * XAI_ERR_BAD_REQUEST with a message for truncated input, trailing bytes,
 * non-string map keys, duplicate keys, extension types, a count that cannot
 * fit in the bytes left, or nesting past the limit. */
xai_status xai_value_unpack(const void *buf, size_t len,
                            const xai_unpack_limits *limits,
                            xai_value **out, xai_error *err);
/* Encodes to msgpack. *buf is malloc'd (free with xai_free). */
xai_status xai_value_pack(const xai_value *v, char **buf, size_t *len,
                          xai_error *err);
/* Encodes to JSON (UTF-8, no trailing newline). Non-finite floats become
 * null; BIN becomes a base64 string. `pretty` indents by two spaces.
 * The string is malloc'd (free with xai_free); NULL on OOM. */
char *xai_value_to_json(const xai_value *v, bool pretty);

#ifdef __cplusplus
}
#endif
#endif
