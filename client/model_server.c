/* model_server.c — serve a C predict callback to xaid (include/xai/model_server.h).
 *
 * One ROUTER socket answers the model side of docs/PROTOCOL.md, section 3:
 * `info` and `predict`. A request arrives as [envelope..., body]: the frames
 * before the last are routing (an identity, and for REQ/REP-style peers an
 * empty delimiter); the answer goes back with the very same envelope frames,
 * so REQ, DEALER-with-delimiter and bare DEALER peers are all answered in the
 * form they spoke.
 *
 * Invariants: the predict callback only ever sees a batch that has been
 * checked — protocol version, op, id, the right input kind, n >= 1 texts that
 * are all strings or an n x d matrix of finite numbers with d = n_features
 * (when set) — and its output is checked to be finite before it is sent. Any
 * other request gets an `error` answer carrying its id (when it had one); the
 * server never stops for bad input.
 *
 * Stopping: stop() sets a flag and writes one byte to a pipe that run()
 * polls next to the socket; both are async-signal-safe, so stop() may be
 * called from a signal handler or another thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <xxhash.h>
#include <zmq.h>
#include "core/core.h"
#include "xai/model_server.h"
#include "client_impl.h"

#define MAX_ENVELOPE 16          /* routing frames kept per request */
#define DEFAULT_MAX_BYTES ((size_t)256 << 20)

struct xai_model_server {
    void *zctx, *sock;
    int pipe_fd[2];                      /* stop(): write end [1], polled [0] */
    atomic_int stopping;                 /* lock-free, so safe in a signal handler */
    xai_input_kind kind;
    size_t n_outputs, n_features;
    char **class_names, **feature_names; /* copies, or NULL */
    double *background;                  /* n_background x n_features copy, or NULL */
    size_t n_background;
    xai_predict_fn predict;
    void *ctx;
    size_t max_bytes;
    char *version;                       /* sent in info, or NULL */
    _Atomic uint64_t requests, rows, errors;
};

/* One received request: its routing frames and its decoded body. */
typedef struct request {
    zmq_msg_t env[MAX_ENVELOPE];
    size_t n_env;
    bool has_id;
    int64_t id;
} request;

static char **copy_names(const char *const *names, size_t n) {
    if (names == NULL || n == 0) return NULL;
    char **out = xd_calloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++) out[i] = xd_strdup(names[i] ? names[i] : "");
    return out;
}

static void free_names(char **names, size_t n) {
    if (names == NULL) return;
    for (size_t i = 0; i < n; i++) xd_free(names[i]);
    xd_free(names);
}

static xai_status check_opts(const xai_model_server_opts *o, xai_error *err) {
    if (o == NULL || o->endpoint == NULL || o->predict == NULL)
        return xd_err(err, XAI_ERR_INVALID, "model server: endpoint and predict are required");
    if (o->kind != XAI_INPUT_TEXT && o->kind != XAI_INPUT_ROWS)
        return xd_err(err, XAI_ERR_INVALID, "model server: kind must be text or rows");
    if (o->n_outputs == 0 || o->n_outputs > 1000000)
        return xd_err(err, XAI_ERR_INVALID, "model server: n_outputs must be in [1, 1e6]");
    if (o->feature_names && o->n_features == 0)
        return xd_err(err, XAI_ERR_INVALID, "model server: feature_names without n_features");
    if (o->background && (o->kind != XAI_INPUT_ROWS || o->n_features == 0 || o->n_background == 0 ||
                          o->n_background > 10000 || o->n_background * o->n_features > (1u << 20)))
        return xd_err(err, XAI_ERR_INVALID,
                      "model server: a background needs a tabular model, n_features, and 1..10000 "
                      "rows of at most 2^20 numbers in all");
    for (size_t i = 0; o->background && i < o->n_background * o->n_features; i++)
        if (!isfinite(o->background[i]))
            return xd_err(err, XAI_ERR_INVALID, "model server: background[%zu] is not finite", i);
    if (o->version && (o->version[0] == 0 || strlen(o->version) > 256))
        return xd_err(err, XAI_ERR_INVALID, "model server: version must have 1 to 256 bytes");
    if (o->params_len && o->params == NULL)
        return xd_err(err, XAI_ERR_INVALID, "model server: params_len without params");
    return XAI_OK;
}

/* opts->version, or the digest of opts->params, or NULL. */
static char *version_of(const xai_model_server_opts *o) {
    if (o->version) return xd_strdup(o->version);
    if (o->params == NULL) return NULL;
    XXH128_hash_t h = XXH3_128bits(o->params, o->params_len);
    char buf[64];
    snprintf(buf, sizeof buf, "xxh3-128:%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    return xd_strdup(buf);
}

static xai_status open_socket(xai_model_server *s, const char *endpoint, xai_error *err) {
    s->zctx = zmq_ctx_new();
    if (s->zctx == NULL) return xd_err(err, XAI_ERR_IO, "zmq_ctx_new: %s", zmq_strerror(errno));
    s->sock = zmq_socket(s->zctx, ZMQ_ROUTER);
    if (s->sock == NULL) return xd_err(err, XAI_ERR_IO, "zmq_socket: %s", zmq_strerror(errno));
    int linger = 0;
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s->sock, endpoint) != 0)
        return xd_err(err, XAI_ERR_IO, "cannot bind %s: %s", endpoint, zmq_strerror(errno));
    if (pipe(s->pipe_fd) != 0) {
        s->pipe_fd[0] = s->pipe_fd[1] = -1;
        return xd_err(err, XAI_ERR_IO, "pipe: %s", strerror(errno));
    }
    fcntl(s->pipe_fd[1], F_SETFL, O_NONBLOCK);
    fcntl(s->pipe_fd[0], F_SETFL, O_NONBLOCK);
    return XAI_OK;
}

xai_status xai_model_server_new(const xai_model_server_opts *opts, xai_model_server **out,
                                xai_error *err) {
    *out = NULL;
    xai_status st = check_opts(opts, err);
    if (st != XAI_OK) return st;
    xai_model_server *s = xd_calloc(1, sizeof *s);
    s->pipe_fd[0] = s->pipe_fd[1] = -1;
    s->kind = opts->kind;
    s->n_outputs = opts->n_outputs;
    s->n_features = opts->n_features;
    s->class_names = copy_names(opts->class_names, opts->n_outputs);
    s->feature_names = copy_names(opts->feature_names, opts->n_features);
    if (opts->background) {
        size_t n = opts->n_background * opts->n_features;
        s->background = xd_malloc(n * sizeof *s->background);
        memcpy(s->background, opts->background, n * sizeof *s->background);
        s->n_background = opts->n_background;
    }
    s->predict = opts->predict;
    s->ctx = opts->ctx;
    s->max_bytes = opts->max_message_bytes ? opts->max_message_bytes : DEFAULT_MAX_BYTES;
    s->version = version_of(opts);
    st = open_socket(s, opts->endpoint, err);
    if (st != XAI_OK) {
        xai_model_server_free(s);
        return st;
    }
    *out = s;
    return XAI_OK;
}

void xai_model_server_stop(xai_model_server *s) {
    if (s == NULL) return;
    atomic_store(&s->stopping, 1);
    if (s->pipe_fd[1] >= 0) {
        char b = 1;
        ssize_t rc = write(s->pipe_fd[1], &b, 1);   /* a full pipe already wakes run() */
        (void)rc;
    }
}

void xai_model_server_free(xai_model_server *s) {
    if (s == NULL) return;
    if (s->sock) zmq_close(s->sock);
    if (s->zctx) zmq_ctx_term(s->zctx);
    for (int i = 0; i < 2; i++)
        if (s->pipe_fd[i] >= 0) close(s->pipe_fd[i]);
    free_names(s->class_names, s->n_outputs);
    free_names(s->feature_names, s->n_features);
    xd_free(s->background);
    xd_free(s->version);
    xd_free(s);
}

void xai_model_server_get_stats(const xai_model_server *s, xai_model_server_stats *out) {
    memset(out, 0, sizeof *out);
    if (s == NULL) return;
    out->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
    out->rows = atomic_load_explicit(&s->rows, memory_order_relaxed);
    out->errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
}

/* ---- answers ------------------------------------------------------------ */

/* Sends the request's envelope frames, then `answer`. A peer that went away
 * makes the send fail; that is not the server's problem, so it is ignored. */
static void send_answer(xai_model_server *s, request *rq, const xai_value *answer) {
    for (size_t i = 0; i < rq->n_env; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, &rq->env[i]);
        if (zmq_msg_send(&copy, s->sock, ZMQ_SNDMORE) < 0) {
            zmq_msg_close(&copy);
            return;
        }
    }
    xai_error e;
    if (xc_send_value(s->sock, answer, 0, &e) != XAI_OK)
        xd_log(XD_LOG_WARN, "model server: answer not sent", "error=\"%s\"", e.message);
}

/* A new answer map {"v": 1, "id": id} (no id when the request had none). */
static xai_value *answer_map(const request *rq) {
    xai_value *a = xc_message(NULL, NULL);
    if (a && rq->has_id && xai_value_set_int(a, "id", rq->id) != XAI_OK) {
        xai_value_free(a);
        return NULL;
    }
    return a;
}

/* Answers with {"v", "id", "error": {"code", "message"}}. */
static void send_error(xai_model_server *s, request *rq, const xai_error *e) {
    atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    xai_value *a = answer_map(rq), *em = xai_value_map();
    if (a && em && xai_value_set_str(em, "code", xai_errcode(e->code)) == XAI_OK &&
        xai_value_set_str(em, "message", e->message) == XAI_OK) {
        xai_value_set(a, "error", em);
        em = NULL;
        send_answer(s, rq, a);
    }
    xai_value_free(em);
    xai_value_free(a);
}

static xai_status set_names(xai_value *a, const char *key, char **names, size_t n) {
    xai_value *arr = xai_value_array();
    if (arr == NULL) return XAI_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (xai_value_push(arr, xai_value_str(names[i])) != XAI_OK) {
            xai_value_free(arr);
            return XAI_ERR_NOMEM;
        }
    return xai_value_set(a, key, arr);
}

static xai_status answer_info(xai_model_server *s, request *rq, xai_error *err) {
    xai_value *a = answer_map(rq);
    xai_status st = a ? XAI_OK : XAI_ERR_NOMEM;
    if (st == XAI_OK)
        st = xai_value_set_str(a, "kind", s->kind == XAI_INPUT_TEXT ? "text" : "tabular");
    if (st == XAI_OK) st = xai_value_set_int(a, "n_outputs", (int64_t)s->n_outputs);
    if (st == XAI_OK && s->class_names)
        st = set_names(a, "classes", s->class_names, s->n_outputs);
    if (st == XAI_OK && s->n_features)
        st = xai_value_set_int(a, "n_features", (int64_t)s->n_features);
    if (st == XAI_OK && s->feature_names)
        st = set_names(a, "feature_names", s->feature_names, s->n_features);
    if (st == XAI_OK && s->background) {
        xai_value *bg = xai_value_from_matrix(s->background, s->n_background, s->n_features);
        st = bg ? xai_value_set(a, "background", bg) : XAI_ERR_NOMEM;
    }
    if (st == XAI_OK && s->version) st = xai_value_set_str(a, "version", s->version);
    if (st == XAI_OK) send_answer(s, rq, a);
    xai_value_free(a);
    return st == XAI_OK ? XAI_OK : xd_err(err, st, "out of memory building the info answer");
}

/* ---- predict ------------------------------------------------------------ */

/* The texts of a text predict request, pointing into the message tree. */
static xai_status read_texts(const xai_value *body, const char ***texts, size_t **lens,
                             size_t *n, xai_error *err) {
    const xai_value *arr = xai_value_get(body, "texts");
    if (xai_value_type(arr) != XAI_V_ARRAY)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "predict: `texts` must be an array of strings");
    *n = xai_value_len(arr);
    *texts = xd_try_malloc(xd_mul(*n ? *n : 1, sizeof **texts));
    *lens = xd_try_malloc(xd_mul(*n ? *n : 1, sizeof **lens));
    if (*texts == NULL || *lens == NULL)
        return xd_err(err, XAI_ERR_NOMEM, "predict: no memory for %zu texts", *n);
    for (size_t i = 0; i < *n; i++) {
        (*texts)[i] = xai_value_get_str(xai_value_at(arr, i), &(*lens)[i]);
        if ((*texts)[i] == NULL)
            return xd_err(err, XAI_ERR_BAD_REQUEST, "predict: texts[%zu] is not a string", i);
    }
    return XAI_OK;
}

static xai_status read_rows(const xai_model_server *s, const xai_value *body, double **rows,
                            size_t *n, size_t *cols, xai_error *err) {
    const xai_value *m = xai_value_get(body, "rows");
    if (m == NULL)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "predict: a tabular model needs `rows`");
    xai_status st = xai_value_to_matrix(m, true, true, rows, n, cols, err);
    if (st != XAI_OK) return st;
    if (s->n_features && *n && *cols != s->n_features)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "predict: rows have %zu columns, the model takes %zu",
                      *cols, s->n_features);
    return XAI_OK;
}

/* Calls the callback on a validated batch and checks what it wrote. */
static xai_status run_predict(xai_model_server *s, const xai_batch *b, double *out,
                              xai_error *err) {
    size_t total = b->n * s->n_outputs;
    for (size_t i = 0; i < total; i++) out[i] = NAN;
    xai_error e = {XAI_OK, ""};
    xai_status st = s->predict(s->ctx, b, out, &e);
    if (st != XAI_OK) {
        if (e.message[0] == '\0') snprintf(e.message, sizeof e.message, "%s", xai_errstr(st));
        return xd_err(err, st, "%s", e.message);
    }
    for (size_t i = 0; i < total; i++)
        if (!isfinite(out[i]))
            return xd_err(err, XAI_ERR_MODEL_OUTPUT,
                          "predict callback left output %zu of row %zu unset or not finite",
                          i % s->n_outputs, i / s->n_outputs);
    return XAI_OK;
}

static xai_status answer_predict(xai_model_server *s, request *rq, const xai_value *body,
                                 xai_error *err) {
    const char **texts = NULL;
    size_t *lens = NULL;
    double *rows = NULL, *out = NULL;
    xai_value *a = NULL;
    xai_batch b = {.kind = s->kind};
    xai_status st = s->kind == XAI_INPUT_TEXT
                        ? read_texts(body, &texts, &lens, &b.n, err)
                        : read_rows(s, body, &rows, &b.n, &b.cols, err);
    if (st != XAI_OK) goto cleanup;
    b.texts = texts;
    b.text_lens = lens;
    b.rows = rows;
    out = xd_try_malloc(xd_mul(xd_mul(b.n ? b.n : 1, s->n_outputs), sizeof *out));
    if (out == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "predict: no memory for %zu outputs", b.n);
        goto cleanup;
    }
    if (b.n) st = run_predict(s, &b, out, err);
    if (st != XAI_OK) goto cleanup;
    a = answer_map(rq);
    if (a == NULL || xai_value_set(a, "outputs", xai_value_from_matrix(out, b.n, s->n_outputs))) {
        st = xd_err(err, XAI_ERR_NOMEM, "predict: no memory for the answer");
        goto cleanup;
    }
    atomic_fetch_add_explicit(&s->rows, b.n, memory_order_relaxed);
    send_answer(s, rq, a);
cleanup:
    xai_value_free(a);
    xd_free(out);
    xai_free(rows);
    xd_free(lens);
    xd_free(texts);
    return st;
}

/* ---- the loop ----------------------------------------------------------- */

/* Checks v, op and id, then dispatches. Errors come back through err. */
static xai_status handle_body(xai_model_server *s, request *rq, const xai_value *body,
                              xai_error *err) {
    rq->has_id = xc_get_int(body, "id", &rq->id);
    int64_t v = 0;
    if (!xc_get_int(body, "v", &v))
        return xd_err(err, XAI_ERR_BAD_REQUEST, "missing or non-integer `v`");
    if (v != XAI_PROTOCOL_VERSION)
        return xd_err(err, XAI_ERR_VERSION, "protocol version %lld is not spoken (1 is)",
                      (long long)v);
    if (!rq->has_id) return xd_err(err, XAI_ERR_BAD_REQUEST, "missing or non-integer `id`");
    const char *op = xc_get_str(body, "op");
    if (op == NULL) return xd_err(err, XAI_ERR_BAD_REQUEST, "missing or non-string `op`");
    if (strcmp(op, "info") == 0) return answer_info(s, rq, err);
    if (strcmp(op, "predict") == 0) return answer_predict(s, rq, body, err);
    return xd_err(err, XAI_ERR_UNKNOWN_OP, "unknown op \"%s\" (a model answers info, predict)", op);
}

/* Receives every frame of one message: all but the last into the envelope,
 * the last into *body. Returns 1 for a request, 0 for a message that was
 * consumed but cannot be answered (no routing frame), -1 when none waits. */
static int recv_request(xai_model_server *s, request *rq, zmq_msg_t *body) {
    rq->n_env = 0;
    rq->has_id = false;
    for (;;) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            return rq->n_env ? 0 : -1;
        }
        if (!zmq_msg_more(&f)) {
            *body = f;
            if (rq->n_env) return 1;      /* a ROUTER always prefixes an identity */
            zmq_msg_close(body);
            return 0;
        }
        if (rq->n_env < MAX_ENVELOPE) rq->env[rq->n_env++] = f;
        else zmq_msg_close(&f);      /* absurd routing depth: answered short */
    }
}

/* Answers one waiting request; false when none was waiting. */
static bool serve_one(xai_model_server *s) {
    request rq;
    zmq_msg_t body;
    int got = recv_request(s, &rq, &body);
    if (got <= 0) {
        for (size_t i = 0; i < rq.n_env; i++) zmq_msg_close(&rq.env[i]);
        return got == 0;
    }
    atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
    xai_error e = {XAI_OK, ""};
    xai_value *v = NULL;
    xai_status st = xc_decode(zmq_msg_data(&body), zmq_msg_size(&body), s->max_bytes, &v, &e);
    zmq_msg_close(&body);
    if (st == XAI_OK) st = handle_body(s, &rq, v, &e);
    if (st != XAI_OK) send_error(s, &rq, &e);
    xai_value_free(v);
    for (size_t i = 0; i < rq.n_env; i++) zmq_msg_close(&rq.env[i]);
    return true;
}

xai_status xai_model_server_run(xai_model_server *s, xai_error *err) {
    if (s == NULL) return xd_err(err, XAI_ERR_INVALID, "model server: NULL handle");
    zmq_pollitem_t items[2] = {
        {s->sock, 0, ZMQ_POLLIN, 0},
        {NULL, s->pipe_fd[0], ZMQ_POLLIN, 0},
    };
    char drain[64];
    while (!atomic_exchange(&s->stopping, 0)) {   /* each stop() ends one run() */
        int rc = zmq_poll(items, 2, 1000);
        if (rc < 0) {
            if (errno == EINTR) continue;
            return xd_err(err, XAI_ERR_IO, "zmq_poll: %s", zmq_strerror(errno));
        }
        if (items[1].revents & ZMQ_POLLIN)
            while (read(s->pipe_fd[0], drain, sizeof drain) > 0) {
            }
        for (int n = 0; n < 64 && (items[0].revents & ZMQ_POLLIN) && serve_one(s); n++) {
        }
    }
    return XAI_OK;
}
