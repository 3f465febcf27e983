/* client_impl.h — helpers shared by libxaiclient's files (client.c,
 * model_server.c, result_access.c): one msgpack message per ZeroMQ frame, the
 * protocol's small message shapes, and error records that are copied into a
 * handle's last-message buffer.
 *
 * Everything here speaks docs/PROTOCOL.md through include/xai/value.h; the
 * codec itself lives in libxai (daemon/core/codec.c). Names are prefixed xc_.
 */
#ifndef XC_CLIENT_IMPL_H
#define XC_CLIENT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include "xai/value.h"
#include "xai/eval.h"

/* Packs `v` and sends it as one frame on `sock` with zmq flags `flags`
 * (ZMQ_SNDMORE, ZMQ_DONTWAIT). XAI_ERR_IO when the send fails (EAGAIN after
 * the socket's send timeout included), XAI_ERR_NOMEM when packing does. */
xai_status xc_send_value(void *sock, const xai_value *v, int flags, xai_error *err);

/* Decodes one received frame of `len` bytes. Frames over `max_bytes`
 * (0 = no limit beyond the codec's) are XAI_ERR_LIMIT; a frame that is not a
 * msgpack map is XAI_ERR_BAD_REQUEST. */
xai_status xc_decode(const void *data, size_t len, size_t max_bytes, xai_value **out,
                     xai_error *err);

/* A new map {"v": 1, key: val} (key may be NULL for just {"v": 1});
 * NULL on out of memory. */
xai_value *xc_message(const char *key, const char *val);

/* The string at m[key], or NULL when absent or not a string. */
const char *xc_get_str(const xai_value *m, const char *key);
/* m[key] as an int into *out; false when absent or not an int. */
bool xc_get_int(const xai_value *m, const char *key, int64_t *out);

/* Fills err (when not NULL) from an `error` map or event: code mapped by
 * xai_status_from_errcode, and its message. Returns the code. */
xai_status xc_err_from_value(const xai_value *e, xai_error *err);

/* Milliseconds left until `deadline` (xd_now() seconds; < 0 = none): -1 for
 * no deadline, else >= 0. */
long xc_ms_left(double deadline);

#endif
