/* client.c — libxaiclient: talk to xaid over one DEALER socket
 * (include/xai/client.h, docs/PROTOCOL.md section 2).
 *
 * Every request carries a fresh `req` number; a call sends its request and
 * then reads events until the one answering its `req` arrives or its timeout
 * runs out. Events read along the way that belong to jobs (a `result` or an
 * `error` with a `job`) are queued in the client, so a later wait() for that
 * job finds them; `progress` events are only delivered to the wait() of their
 * own job and dropped otherwise (they are snapshots; the next one or the
 * result supersedes them). Answers to requests nobody waits for any more
 * (a reply that came after its timeout) are dropped.
 *
 * Errors: every public call fills the caller's xai_error and copies the
 * message into the client (xai_client_errmsg). Errors the daemon sends keep
 * their code (mapped by xai_status_from_errcode) and message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>
#include "core/core.h"
#include "xai/client.h"
#include "client_impl.h"
#include "methods/result_wire.h"

#define DEFAULT_TIMEOUT_MS 5000

struct xai_client {
    void *zctx, *sock;
    int timeout_ms;
    int64_t next_req;
    char errmsg[XAI_ERRMSG_MAX];
    xai_value *last_error;        /* the daemon's error event of the last failed call, or NULL */
    xai_value **queue;            /* final events of jobs nobody has waited on yet */
    size_t n_queue, cap_queue;
};

/* Keeps the daemon's error event `ev` (a copy) for xai_client_error_detail. */
static void keep_error(xai_client *c, const xai_value *ev) {
    xai_value_free(c->last_error);
    c->last_error = ev ? xai_value_clone(ev) : NULL;
}

/* Copies a failure into the client and the caller's record; returns st. */
static xai_status finish(xai_client *c, xai_status st, const xai_error *e, xai_error *err) {
    if (st == XAI_OK) return st;
    if (c) snprintf(c->errmsg, sizeof c->errmsg, "%s", e->message);
    if (err) *err = *e;
    return st;
}

xai_status xai_client_connect(const char *endpoint, xai_client **out, xai_error *err) {
    *out = NULL;
    if (endpoint == NULL || endpoint[0] == '\0')
        return xd_err(err, XAI_ERR_INVALID, "client: no endpoint");
    xai_client *c = xd_calloc(1, sizeof *c);
    c->timeout_ms = DEFAULT_TIMEOUT_MS;
    c->zctx = zmq_ctx_new();
    if (c->zctx) c->sock = zmq_socket(c->zctx, ZMQ_DEALER);
    if (c->sock == NULL) {
        xai_status st = xd_err(err, XAI_ERR_IO, "client: zmq socket: %s", zmq_strerror(errno));
        xai_client_close(c);
        return st;
    }
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(c->sock, endpoint) != 0) {
        xai_status st = xd_err(err, XAI_ERR_IO, "client: cannot connect to %s: %s", endpoint,
                               zmq_strerror(errno));
        xai_client_close(c);
        return st;
    }
    *out = c;
    return XAI_OK;
}

void xai_client_close(xai_client *c) {
    if (c == NULL) return;
    if (c->sock) zmq_close(c->sock);
    if (c->zctx) zmq_ctx_term(c->zctx);
    for (size_t i = 0; i < c->n_queue; i++) xai_value_free(c->queue[i]);
    xd_free(c->queue);
    xai_value_free(c->last_error);
    xd_free(c);
}

const char *xai_client_errmsg(const xai_client *c) { return c ? c->errmsg : ""; }

const xai_value *xai_client_error_detail(const xai_client *c) { return c ? c->last_error : NULL; }

void xai_client_set_timeout(xai_client *c, int timeout_ms) {
    if (c) c->timeout_ms = timeout_ms;
}

/* ---- events ------------------------------------------------------------- */

/* Reads one message before `deadline` (< 0: none). The daemon's ROUTER
 * sends one frame per event; should a peer add frames, the last one is the
 * body. Frames that do not decode are skipped. XAI_ERR_TIMEOUT if none. */
static xai_status recv_event(xai_client *c, double deadline, xai_value **ev, xai_error *e) {
    *ev = NULL;
    for (;;) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, xc_ms_left(deadline));
        if (rc < 0 && errno != EINTR)
            return xd_err(e, XAI_ERR_IO, "client: zmq_poll: %s", zmq_strerror(errno));
        if (rc > 0) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            while (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&m)) {
            }
            xai_error ignored;
            xai_status st = xc_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, ev, &ignored);
            zmq_msg_close(&m);
            if (st == XAI_OK) return XAI_OK;
        }
        if (deadline >= 0 && xd_now() >= deadline)
            return xd_err(e, XAI_ERR_TIMEOUT, "no answer from xaid in time");
    }
}

static bool event_is(const xai_value *ev, const char *name) {
    const char *s = xc_get_str(ev, "event");
    return s && strcmp(s, name) == 0;
}

/* Keeps a job's final event for a later wait(); drops everything else. */
static void stash(xai_client *c, xai_value *ev) {
    int64_t job;
    if (!xc_get_int(ev, "job", &job) || !(event_is(ev, "result") || event_is(ev, "error"))) {
        xai_value_free(ev);
        return;
    }
    if (c->n_queue == c->cap_queue) {
        c->cap_queue = c->cap_queue ? 2 * c->cap_queue : 8;
        c->queue = xd_realloc(c->queue, c->cap_queue * sizeof *c->queue);
    }
    c->queue[c->n_queue++] = ev;
}

/* Removes and returns the queued final event of `job`, or NULL. */
static xai_value *unstash(xai_client *c, uint64_t job) {
    for (size_t i = 0; i < c->n_queue; i++) {
        int64_t j;
        if (xc_get_int(c->queue[i], "job", &j) && (uint64_t)j == job) {
            xai_value *ev = c->queue[i];
            memmove(c->queue + i, c->queue + i + 1, (c->n_queue - i - 1) * sizeof *c->queue);
            c->n_queue--;
            return ev;
        }
    }
    return NULL;
}

/* True when `ev` answers request `req`: its `accepted`, its `reply`, or an
 * `error` about a request that never became a job. */
static bool answers(const xai_value *ev, int64_t req) {
    int64_t r, job;
    if (!xc_get_int(ev, "req", &r) || r != req) return false;
    if (event_is(ev, "accepted") || event_is(ev, "reply")) return true;
    return event_is(ev, "error") && !xc_get_int(ev, "job", &job);
}

/* Sends `msg` (owned; `req` is set here) and waits for its answer. A daemon
 * `error` answer becomes that error's status and message. */
static xai_status request(xai_client *c, xai_value *msg, xai_value **answer, xai_error *e) {
    *answer = NULL;
    int64_t req = ++c->next_req;
    xai_status st = xai_value_set_int(msg, "req", req);
    if (st != XAI_OK) {
        xai_value_free(msg);
        return xd_err(e, st, "client: out of memory");
    }
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &c->timeout_ms, sizeof c->timeout_ms);
    st = xc_send_value(c->sock, msg, 0, e);
    xai_value_free(msg);
    double deadline = c->timeout_ms < 0 ? -1.0 : xd_now() + c->timeout_ms / 1e3;
    while (st == XAI_OK) {
        xai_value *ev = NULL;
        st = recv_event(c, deadline, &ev, e);
        if (st != XAI_OK) break;
        if (!answers(ev, req)) {
            stash(c, ev);
            continue;
        }
        if (event_is(ev, "error")) {
            st = xc_err_from_value(ev, e);
            keep_error(c, ev);
            xai_value_free(ev);
            break;
        }
        *answer = ev;
        return XAI_OK;
    }
    if (st == XAI_ERR_TIMEOUT)
        xd_err(e, st, "no answer from xaid within %d ms (is it running?)", c->timeout_ms);
    return st;
}

/* A request for `op` with one optional integer field. */
static xai_value *op_message(const char *op, const char *key, int64_t val) {
    xai_value *m = xc_message("op", op);
    if (m && key && xai_value_set_int(m, key, val) != XAI_OK) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

/* Sends op message m (taken; NULL = out of memory) and returns its reply map. */
static xai_status send_op(xai_client *c, const char *op, xai_value *m, xai_value **out,
                          xai_error *err) {
    *out = NULL;
    xai_error e = {XAI_OK, ""};
    xai_status st;
    if (c == NULL) {
        xai_value_free(m);
        return xd_err(err, XAI_ERR_INVALID, "client: NULL handle");
    }
    if (m == NULL) st = xd_err(&e, XAI_ERR_NOMEM, "client: out of memory");
    else st = request(c, m, out, &e);
    if (st == XAI_OK && !event_is(*out, "reply")) {
        xai_value_free(*out);
        *out = NULL;
        st = xd_err(&e, XAI_ERR_BAD_REQUEST, "xaid answered %s with an unexpected event", op);
    }
    return finish(c, st, &e, err);
}

/* Sends a simple op and returns its reply map. */
static xai_status simple_op(xai_client *c, const char *op, const char *key, int64_t val,
                            xai_value **out, xai_error *err) {
    return send_op(c, op, c ? op_message(op, key, val) : NULL, out, err);
}

xai_status xai_client_cache_clear(xai_client *c, const char *model, uint64_t *removed,
                                  xai_error *err) {
    *removed = 0;
    xai_value *m = c ? op_message("cache_clear", NULL, 0) : NULL;
    if (m && model && xai_value_set_str(m, "model", model) != XAI_OK) {
        xai_value_free(m);
        m = NULL;
    }
    xai_value *r = NULL;
    xai_status st = send_op(c, "cache_clear", m, &r, err);
    if (st == XAI_OK) *removed = (uint64_t)xai_value_get_int(xai_value_get(r, "removed"));
    xai_value_free(r);
    return st;
}

xai_status xai_client_status(xai_client *c, uint64_t job, xai_value **out, xai_error *err) {
    return simple_op(c, "status", "job", (int64_t)job, out, err);
}

xai_status xai_client_models(xai_client *c, xai_value **out, xai_error *err) {
    return simple_op(c, "models", NULL, 0, out, err);
}

xai_status xai_client_stats(xai_client *c, xai_value **out, xai_error *err) {
    return simple_op(c, "stats", NULL, 0, out, err);
}

xai_status xai_client_cancel(xai_client *c, uint64_t job, xai_error *err) {
    xai_value *r = NULL;
    xai_status st = simple_op(c, "cancel", "job", (int64_t)job, &r, err);
    xai_value_free(r);
    return st;
}

xai_status xai_client_ping(xai_client *c, double *seconds, xai_error *err) {
    *seconds = 0;
    double t0 = xd_now();
    xai_value *r = NULL;
    xai_status st = simple_op(c, "ping", NULL, 0, &r, err);
    if (st == XAI_OK && !xai_value_get_bool(xai_value_get(r, "pong"))) {
        xai_error e;
        st = finish(c, xd_err(&e, XAI_ERR_BAD_REQUEST, "xaid answered ping without pong"), &e,
                    err);
    }
    if (st == XAI_OK) *seconds = xd_now() - t0;
    xai_value_free(r);
    return st;
}

/* ---- jobs --------------------------------------------------------------- */

static xai_status build_input(const xai_job_request *r, xai_value *msg, xai_error *e) {
    bool none_ok = strcmp(r->method, "activation_max") == 0; /* a network's; needs no input */
    if ((r->text != NULL && r->row != NULL) || (r->text == NULL && r->row == NULL && !none_ok))
        return xd_err(e, XAI_ERR_INVALID, "explain: give exactly one of text and row");
    if (r->text == NULL && r->row == NULL) {
        xai_value *in = xai_value_map();
        if (in == NULL || xai_value_set(msg, "input", in) != XAI_OK)
            return xd_err(e, XAI_ERR_NOMEM, "explain: out of memory for the input");
        return XAI_OK;
    }
    if (r->row && r->n_cols == 0)
        return xd_err(e, XAI_ERR_INVALID, "explain: a row needs at least one column");
    xai_value *in = xai_value_map();
    xai_value *x = r->text ? xai_value_strn(r->text, r->text_len ? r->text_len : strlen(r->text))
                           : xai_value_float_array(r->row, r->n_cols);
    xai_status st = XAI_ERR_NOMEM;
    if (in == NULL) xai_value_free(x);       /* set() frees what it is given */
    else if (xai_value_set(in, r->text ? "text" : "row", x) != XAI_OK) xai_value_free(in);
    else st = xai_value_set(msg, "input", in);
    return st == XAI_OK ? XAI_OK : xd_err(e, st, "explain: out of memory for the input");
}

/* Copies an optional options map into msg[key]. */
static xai_status set_options(xai_value *msg, const char *key, const xai_value *opts,
                              xai_error *e) {
    if (opts == NULL) return XAI_OK;
    if (xai_value_type(opts) != XAI_V_MAP)
        return xd_err(e, XAI_ERR_INVALID, "explain: `%s` must be a map", key);
    if (xai_value_set(msg, key, xai_value_clone(opts)) != XAI_OK)
        return xd_err(e, XAI_ERR_NOMEM, "explain: out of memory copying `%s`", key);
    return XAI_OK;
}

static xai_status explain_message(const xai_job_request *r, xai_value **out, xai_error *e) {
    *out = NULL;
    if (r == NULL || r->model == NULL || r->method == NULL)
        return xd_err(e, XAI_ERR_INVALID, "explain: model and method are required");
    xai_value *m = xc_message("op", "explain");
    if (m == NULL || xai_value_set_str(m, "model", r->model) != XAI_OK ||
        xai_value_set_str(m, "method", r->method) != XAI_OK) {
        xai_value_free(m);
        return xd_err(e, XAI_ERR_NOMEM, "explain: out of memory");
    }
    xai_status st = build_input(r, m, e);
    if (st == XAI_OK) st = set_options(m, "params", r->params, e);
    if (st == XAI_OK) st = set_options(m, "space", r->space, e);
    if (st == XAI_OK && r->deadline_ms > 0 &&
        xai_value_set_int(m, "deadline_ms", r->deadline_ms) != XAI_OK)
        st = xd_err(e, XAI_ERR_NOMEM, "explain: out of memory");
    if (st != XAI_OK) xai_value_free(m);
    else *out = m;
    return st;
}

xai_status xai_client_submit(xai_client *c, const xai_job_request *req, uint64_t *job,
                             xai_error *err) {
    *job = 0;
    if (c == NULL) return xd_err(err, XAI_ERR_INVALID, "client: NULL handle");
    xai_error e = {XAI_OK, ""};
    xai_value *m = NULL, *ans = NULL;
    int64_t id = 0;
    xai_status st = explain_message(req, &m, &e);
    if (st == XAI_OK) st = request(c, m, &ans, &e);
    if (st == XAI_OK && (!event_is(ans, "accepted") || !xc_get_int(ans, "job", &id) || id < 0))
        st = xd_err(&e, XAI_ERR_BAD_REQUEST, "xaid answered explain without a job id");
    if (st == XAI_OK) *job = (uint64_t)id;
    xai_value_free(ans);
    return finish(c, st, &e, err);
}

/* Turns a job's final event into its result or its error. */
static xai_status final_event(const xai_value *ev, xai_result **out, xai_error *e) {
    if (event_is(ev, "error")) return xc_err_from_value(ev, e);
    const xai_value *r = xai_value_get(ev, "result");
    if (r == NULL) return xd_err(e, XAI_ERR_BAD_REQUEST, "result event without `result`");
    return xai_result_from_value(r, out, e);
}

static void report_progress(const xai_value *ev, uint64_t job, xai_progress_fn fn, void *ctx) {
    if (fn == NULL) return;
    xai_eval_stats stats;
    if (xd_eval_stats_from_value(xai_value_get(ev, "stats"), &stats, NULL) != XAI_OK)
        memset(&stats, 0, sizeof stats);  /* counters are informative: a bad map reads as none */
    const xai_value *p = xai_value_get(ev, "progress");
    double f = xai_value_is_number(p) ? xai_value_get_number(p) : 0.0;
    fn(ctx, job, f < 0 ? 0 : f > 1 ? 1 : f, &stats);
}

xai_status xai_client_wait(xai_client *c, uint64_t job, int timeout_ms, xai_progress_fn progress,
                           void *ctx, xai_result **out, xai_error *err) {
    *out = NULL;
    if (c == NULL) return xd_err(err, XAI_ERR_INVALID, "client: NULL handle");
    xai_error e = {XAI_OK, ""};
    double deadline = timeout_ms < 0 ? -1.0 : xd_now() + timeout_ms / 1e3;
    xai_value *ev = unstash(c, job);
    xai_status st = XAI_OK;
    while (ev == NULL) {
        st = recv_event(c, deadline, &ev, &e);
        if (st != XAI_OK) break;
        int64_t j;
        if (!xc_get_int(ev, "job", &j) || (uint64_t)j != job) {
            stash(c, ev);
            ev = NULL;
        } else if (event_is(ev, "progress")) {
            report_progress(ev, job, progress, ctx);
            xai_value_free(ev);
            ev = NULL;
        } else if (!event_is(ev, "result") && !event_is(ev, "error")) {
            xai_value_free(ev);    /* e.g. a repeated `accepted`: not final */
            ev = NULL;
        }
    }
    if (st == XAI_ERR_TIMEOUT)
        xd_err(&e, st, "job %llu has not ended within %d ms (it goes on)",
               (unsigned long long)job, timeout_ms);
    if (ev) st = final_event(ev, out, &e);
    if (ev && event_is(ev, "error")) keep_error(c, ev);
    xai_value_free(ev);
    return finish(c, st, &e, err);
}

/* Takes the result map out of a `result` event (the event keeps nothing). */
static xai_value *take_result(xai_value *ev) {
    xai_value *r = xai_value_get(ev, "result");
    return r ? xai_value_clone(r) : NULL;
}

xai_status xai_client_wait_any(xai_client *c, int timeout_ms, uint64_t *job, xai_value **result,
                               xai_error *err) {
    *job = 0;
    *result = NULL;
    if (c == NULL) return xd_err(err, XAI_ERR_INVALID, "client: NULL handle");
    xai_error e = {XAI_OK, ""};
    double deadline = timeout_ms < 0 ? -1.0 : xd_now() + timeout_ms / 1e3;
    xai_value *ev = NULL;
    xai_status st = XAI_OK;
    if (c->n_queue > 0) {          /* the oldest final event read along the way */
        ev = c->queue[0];
        memmove(c->queue, c->queue + 1, (c->n_queue - 1) * sizeof *c->queue);
        c->n_queue--;
    }
    while (ev == NULL) {
        st = recv_event(c, deadline, &ev, &e);
        if (st != XAI_OK) break;
        int64_t j;
        if (!xc_get_int(ev, "job", &j) || !(event_is(ev, "result") || event_is(ev, "error"))) {
            xai_value_free(ev);    /* progress, late replies: nobody asked */
            ev = NULL;
        }
    }
    if (st == XAI_ERR_TIMEOUT) xd_err(&e, st, "no job ended within %d ms", timeout_ms);
    if (ev) {
        int64_t j = 0;
        xc_get_int(ev, "job", &j);
        *job = (uint64_t)j;
        if (event_is(ev, "error")) st = xc_err_from_value(ev, &e);
        else if ((*result = take_result(ev)) == NULL)
            st = xd_err(&e, XAI_ERR_BAD_REQUEST, "result event without `result`");
    }
    xai_value_free(ev);
    return finish(c, st, &e, err);
}

xai_status xai_client_explain(xai_client *c, const xai_job_request *req, int timeout_ms,
                              xai_result **out, xai_error *err) {
    *out = NULL;
    uint64_t job = 0;
    xai_status st = xai_client_submit(c, req, &job, err);
    if (st != XAI_OK) return st;
    st = xai_client_wait(c, job, timeout_ms, NULL, NULL, out, err);
    if (st == XAI_ERR_TIMEOUT) {
        /* Nobody can wait for this job again: do not leave it running. */
        char keep[XAI_ERRMSG_MAX];
        memcpy(keep, c->errmsg, sizeof keep);
        xai_error ignored;
        xai_client_cancel(c, job, &ignored);
        memcpy(c->errmsg, keep, sizeof keep);
    }
    return st;
}
