/* xai.h — the base of the xaid public API: version, status codes, errors.
 *
 * Every public header of xaid includes this one. Conventions that hold for
 * the whole API, stated once here:
 *
 *  - Handles are opaque (`typedef struct xai_x xai_x;`) and named
 *    `xai_noun_verb()`. Every destructor accepts NULL and does nothing.
 *  - Every fallible call returns an `xai_status`. Its last parameter is an
 *    `xai_error *` that may be NULL; when it is not NULL it is filled on
 *    failure with the code and a human message (and left untouched on
 *    success). Out-parameters come before it and are set even on failure
 *    (to NULL or 0).
 *  - Ownership: memory the library hands out (results, strings, values) is
 *    freed with the library's own function named next to the call that
 *    returned it (`xai_result_free`, `xai_value_free`, `xai_free`). The
 *    library never keeps a pointer into memory the caller owns beyond the call,
 *    unless the function says so.
 *  - No global mutable state: every function is thread-safe on distinct
 *    handles. A handle used from two threads at once needs the caller's lock
 *    unless its header says otherwise.
 *  - Status codes are stable numbers: a code is never renumbered or reused.
 *    Each has a stable protocol string (`xai_errcode`) used on the wire.
 */
#ifndef XAI_XAI_H
#define XAI_XAI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XAI_VERSION_MAJOR 0
#define XAI_VERSION_MINOR 1
#define XAI_VERSION_PATCH 0
#define XAI_VERSION_STRING "0.1.0"
/* The protocol version carried in field `v` of every message. */
#define XAI_PROTOCOL_VERSION 1

/* The library's version string, equal to XAI_VERSION_STRING of the headers
 * it was built with. */
const char *xai_version(void);

/* Status codes. Stable: never renumber, never reuse a retired number.
 * The comment gives the protocol string of each (see docs/PROTOCOL.md). */
typedef enum xai_status {
    XAI_OK = 0,                     /* "ok" */
    XAI_ERR_NOMEM = 1,              /* "out_of_memory" */
    XAI_ERR_INVALID = 2,            /* "invalid_argument": a bad value or option */
    XAI_ERR_BAD_REQUEST = 3,        /* "bad_request": malformed message (msgpack, types, missing fields) */
    XAI_ERR_LIMIT = 4,              /* "limit_exceeded": a configured limit was exceeded */
    XAI_ERR_UTF8 = 5,               /* "invalid_utf8" */
    XAI_ERR_PATTERN = 6,            /* "bad_pattern": a regex failed to compile */
    XAI_ERR_PATTERN_LIMIT = 7,      /* "pattern_limit": a regex hit its match, depth or heap limit */
    XAI_ERR_MODEL = 8,              /* "model_error": the model answered with an error */
    XAI_ERR_MODEL_OUTPUT = 9,       /* "bad_model_output": wrong shape, wrong count, NaN or infinity */
    XAI_ERR_MODEL_UNAVAILABLE = 10, /* "model_unavailable": the model did not answer in time or is down */
    XAI_ERR_DEADLINE = 11,          /* "deadline_exceeded": the job ran past its deadline */
    XAI_ERR_CANCELLED = 12,         /* "cancelled": the job was cancelled */
    XAI_ERR_UNKNOWN_MODEL = 13,     /* "unknown_model" */
    XAI_ERR_UNKNOWN_METHOD = 14,    /* "unknown_method" */
    XAI_ERR_UNKNOWN_OP = 15,        /* "unknown_op" */
    XAI_ERR_NOT_FOUND = 16,         /* "not_found": no such job (or other named thing) */
    XAI_ERR_BUSY = 17,              /* "busy": the job queue is full; try later */
    XAI_ERR_IO = 18,                /* "io_error": a file or socket operation failed */
    XAI_ERR_FORMAT = 19,            /* "bad_format": a corrupt or truncated file */
    XAI_ERR_NUMERIC = 20,           /* "numeric_error": a solver failed (singular system, ...) */
    XAI_ERR_UNSUPPORTED = 21,       /* "unsupported": valid request this build or model cannot do */
    XAI_ERR_SHUTDOWN = 22,          /* "shutting_down": the daemon is stopping */
    XAI_ERR_VERSION = 23,           /* "unsupported_version": protocol version not spoken */
    XAI_ERR_TIMEOUT = 24,           /* "timeout": a client-side wait ran out (the job goes on) */
    XAI_ERR_INTERNAL = 25,          /* "internal_error": a bug; please report */
    XAI_STATUS_COUNT_ = 26          /* not a code: one past the largest */
} xai_status;

/* Static English text for a code ("out of memory"). Never NULL. */
const char *xai_errstr(xai_status code);

/* The stable protocol string for a code ("out_of_memory"). Never NULL;
 * "internal_error" for numbers that are not codes. */
const char *xai_errcode(xai_status code);

/* The code whose protocol string is `s`, or XAI_ERR_INTERNAL if none. */
xai_status xai_status_from_errcode(const char *s);

/* A caller-owned error record: the last failure of one call. */
#define XAI_ERRMSG_MAX 256
typedef struct xai_error {
    xai_status code;
    char message[XAI_ERRMSG_MAX];   /* NUL-terminated, never empty on failure */
} xai_error;

/* Free memory the library returned as a plain buffer (strings from
 * xai_value_to_json, arrays from accessors that say "free with xai_free"). */
void xai_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
