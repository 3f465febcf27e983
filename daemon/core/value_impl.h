/* value_impl.h — the layout of xai_value, private to value.c and codec.c. */
#ifndef XD_VALUE_IMPL_H
#define XD_VALUE_IMPL_H

#include "xai/value.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xaid's wire matrices are little-endian; this build assumes a little-endian host"
#endif

struct xai_value {
    xai_vtype type;
    union {
        bool b;
        int64_t i;
        double f;
        struct { char *ptr; size_t len; } s;              /* STR, BIN (NUL after len) */
        struct { xai_value **items; size_t n, cap; } a;   /* ARRAY */
        struct { char **keys; xai_value **vals; size_t n, cap; } m; /* MAP */
    } u;
};

#endif
