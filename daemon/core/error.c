/* error.c — status codes: their static text, their protocol strings, and the
 * helpers that fill an xai_error.
 *
 * The two tables are indexed by code and must stay in the order of the enum
 * in include/xai/xai.h; a test checks every code round-trips through its
 * protocol string.
 */
#include <stdio.h>
#include <string.h>
#include "core.h"

static const char *const errstr_table[XAI_STATUS_COUNT_] = {
    "ok",
    "out of memory",
    "invalid argument",
    "malformed request",
    "limit exceeded",
    "invalid UTF-8",
    "pattern does not compile",
    "pattern hit its match, depth or heap limit",
    "the model returned an error",
    "the model returned invalid output",
    "the model is unavailable",
    "deadline exceeded",
    "cancelled",
    "unknown model",
    "unknown method",
    "unknown operation",
    "not found",
    "busy: the queue is full",
    "input/output error",
    "corrupt or truncated data",
    "numerical failure",
    "unsupported",
    "shutting down",
    "unsupported protocol version",
    "timed out",
    "internal error",
};

static const char *const errcode_table[XAI_STATUS_COUNT_] = {
    "ok",
    "out_of_memory",
    "invalid_argument",
    "bad_request",
    "limit_exceeded",
    "invalid_utf8",
    "bad_pattern",
    "pattern_limit",
    "model_error",
    "bad_model_output",
    "model_unavailable",
    "deadline_exceeded",
    "cancelled",
    "unknown_model",
    "unknown_method",
    "unknown_op",
    "not_found",
    "busy",
    "io_error",
    "bad_format",
    "numeric_error",
    "unsupported",
    "shutting_down",
    "unsupported_version",
    "timeout",
    "internal_error",
};

const char *xai_version(void) { return XAI_VERSION_STRING; }

const char *xai_errstr(xai_status code) {
    if ((unsigned)code >= XAI_STATUS_COUNT_) return "unknown status code";
    return errstr_table[code];
}

const char *xai_errcode(xai_status code) {
    if ((unsigned)code >= XAI_STATUS_COUNT_) return "internal_error";
    return errcode_table[code];
}

xai_status xai_status_from_errcode(const char *s) {
    if (s == NULL) return XAI_ERR_INTERNAL;
    for (int i = 0; i < XAI_STATUS_COUNT_; i++)
        if (strcmp(s, errcode_table[i]) == 0) return (xai_status)i;
    return XAI_ERR_INTERNAL;
}

xai_status xd_err(xai_error *err, xai_status code, const char *fmt, ...) {
    if (err == NULL) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n <= 0) snprintf(err->message, sizeof err->message, "%s", xai_errstr(code));
    return code;
}

void xd_err_prefix(xai_error *err, const char *prefix) {
    if (err == NULL || prefix == NULL) return;
    char tmp[XAI_ERRMSG_MAX];
    snprintf(tmp, sizeof tmp, "%s%s", prefix, err->message);
    memcpy(err->message, tmp, sizeof tmp);
}
