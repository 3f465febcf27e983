/* model_server.h — serve a model written in C to xaid.
 *
 * The server binds a ROUTER socket at an endpoint and answers the model side
 * of the protocol (docs/PROTOCOL.md): `info` with the model's kind, classes
 * and feature names, and `predict` by calling the predict callback on each
 * batch. Requests are validated (types, shapes, sizes) before the callback
 * sees them; a failing callback becomes an `error` answer, never a crash.
 * Both REQ/DEALER-style envelopes (with an empty delimiter frame) and bare
 * DEALER frames are answered in the envelope they came in.
 *
 * One thread runs xai_model_server_run(); xai_model_server_stop() may be
 * called from any other thread or from a signal handler.
 */
#ifndef XAI_MODEL_SERVER_H
#define XAI_MODEL_SERVER_H

#include "xai.h"
#include "eval.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xai_model_server xai_model_server;

typedef struct xai_model_server_opts {
    const char *endpoint;             /* where to bind, e.g. "ipc:///tmp/spam.sock" */
    xai_input_kind kind;              /* XAI_INPUT_TEXT or XAI_INPUT_ROWS */
    size_t n_outputs;                 /* k */
    const char *const *class_names;   /* k names, or NULL */
    size_t n_features;                /* ROWS: columns per row (0: any) */
    const char *const *feature_names; /* n_features names, or NULL */
    xai_predict_fn predict;
    void *ctx;
    size_t max_message_bytes;         /* larger requests are refused; 0 = 256 MiB */
    /* ROWS: background rows sent in the `info` answer (n_background x
     * n_features, row-major, finite), so xaid needs no CSV for this model;
     * NULL for none. At most 10,000 rows and 2^20 numbers. */
    const double *background;
    size_t n_background;
    /* The model's identity, sent as `version` in the info answer: xaid
     * keys its cache by it, so a restarted server with other weights gets
     * none of the old outputs. `version` if given (at most 256 bytes);
     * else "xxh3-128:<hex>", the XXH3-128 digest of params[0 .. params_len)
     * (the model's weights, say); else no version is sent and the cache
     * tells models apart only by the rest of the info answer. */
    const char *version;
    const void *params;
    size_t params_len;
} xai_model_server_opts;

/* Copies opts (and the names) and binds. XAI_ERR_IO when the bind fails. */
xai_status xai_model_server_new(const xai_model_server_opts *opts, xai_model_server **out,
                                xai_error *err);
/* Serves until stopped. Returns XAI_OK after a stop. */
xai_status xai_model_server_run(xai_model_server *s, xai_error *err);
/* Asks run() to return. Async-signal-safe. */
void xai_model_server_stop(xai_model_server *s);
void xai_model_server_free(xai_model_server *s);

/* Counters since start. */
typedef struct xai_model_server_stats {
    uint64_t requests, rows, errors;
} xai_model_server_stats;
void xai_model_server_get_stats(const xai_model_server *s, xai_model_server_stats *out);

#ifdef __cplusplus
}
#endif
#endif
