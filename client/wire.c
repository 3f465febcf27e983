/* wire.c — the message layer under libxaiclient: one msgpack map per ZeroMQ
 * frame (docs/PROTOCOL.md, section 1), and readers for the few message parts
 * both the client and the model server look at.
 *
 * Invariants: every decoded message is a map (anything else is bad_request);
 * a frame's size is checked against the caller's limit before the codec sees
 * it; nothing here keeps a pointer into a ZeroMQ frame after returning.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <zmq.h>
#include "core/core.h"
#include "client_impl.h"

xai_status xc_send_value(void *sock, const xai_value *v, int flags, xai_error *err) {
    char *buf = NULL;
    size_t len = 0;
    xai_status st = xai_value_pack(v, &buf, &len, err);
    if (st != XAI_OK) return st;
    int rc = zmq_send(sock, buf, len, flags);
    int e = errno;
    xai_free(buf);
    if (rc < 0)
        return xd_err(err, XAI_ERR_IO, "send failed: %s",
                      e == EAGAIN ? "peer not reachable (send timed out)" : zmq_strerror(e));
    return XAI_OK;
}

xai_status xc_decode(const void *data, size_t len, size_t max_bytes, xai_value **out,
                     xai_error *err) {
    *out = NULL;
    if (max_bytes && len > max_bytes)
        return xd_err(err, XAI_ERR_LIMIT, "message of %zu bytes exceeds the limit of %zu",
                      len, max_bytes);
    xai_unpack_limits lim = {0, 0, max_bytes};
    xai_value *v = NULL;
    xai_status st = xai_value_unpack(data, len, &lim, &v, err);
    if (st != XAI_OK) return st;
    if (xai_value_type(v) != XAI_V_MAP) {
        xai_value_free(v);
        return xd_err(err, XAI_ERR_BAD_REQUEST, "message is not a msgpack map");
    }
    *out = v;
    return XAI_OK;
}

xai_value *xc_message(const char *key, const char *val) {
    xai_value *m = xai_value_map();
    if (m == NULL) return NULL;
    if (xai_value_set_int(m, "v", XAI_PROTOCOL_VERSION) != XAI_OK ||
        (key && xai_value_set_str(m, key, val) != XAI_OK)) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

const char *xc_get_str(const xai_value *m, const char *key) {
    return xai_value_get_str(xai_value_get(m, key), NULL);
}

bool xc_get_int(const xai_value *m, const char *key, int64_t *out) {
    const xai_value *v = xai_value_get(m, key);
    if (xai_value_type(v) != XAI_V_INT) return false;
    *out = xai_value_get_int(v);
    return true;
}

xai_status xc_err_from_value(const xai_value *e, xai_error *err) {
    const char *code = xc_get_str(e, "code");
    const char *msg = xc_get_str(e, "message");
    xai_status st = xai_status_from_errcode(code);
    if (st == XAI_OK) st = XAI_ERR_INTERNAL;   /* an error that says "ok" */
    if (msg == NULL || msg[0] == '\0') msg = code ? code : "error without a code";
    return xd_err(err, st, "%s", msg);
}

long xc_ms_left(double deadline) {
    if (deadline < 0) return -1;
    double left = (deadline - xd_now()) * 1e3;
    return left > 0 ? (long)ceil(left) : 0;
}
