/* link.c — a model link: one thread, one DEALER socket, the calls of every
 * job on one model.
 *
 * Workers hand calls (packed `predict` messages with a request id) to the
 * link through a pending list under the link's mutex and wake the link
 * thread through an eventfd. The link thread sends them (an empty delimiter
 * frame, then the message, so a REP socket can serve), keeps them in flight
 * with a deadline, and matches answers by id; several calls from several
 * workers are in flight at once and a model may answer in any order. A call
 * whose deadline passes is sent again (same id) up to `retries` times, then
 * ends with XAI_ERR_MODEL_UNAVAILABLE, so a dead model fails its jobs within
 * timeout * (retries + 1) while other links go on.
 *
 * Readiness: the link asks `info` when it starts, whenever a call timed
 * out, and after every (re)connection, which a socket monitor reports
 * (ZeroMQ reconnects by itself, but a restarted model knows nothing of the
 * calls it lost, so the calls in flight are sent again at once, keeping
 * their deadlines). A disconnection makes the model not ready; it is ready
 * once an `info` answer with classes or n_outputs arrived (after a timeout
 * in the same connection, any answer will do), and new jobs
 * wait for that. ZMQ_IMMEDIATE keeps messages from piling up in the
 * pipe of a model that is not connected: such a send fails at once and the
 * call is retried at its deadline.
 *
 * Life: a link copies what it needs of its model's config and is
 * reference-counted, so a config reload that leaves a model's endpoint,
 * kind, timeout and retries alone keeps its link (and its readiness) while
 * jobs of the old config still run on it.
 *
 * Identity: each accepted `info` answer is digested (xd_key_hash over
 * kind, outputs, class and feature names and the model's `version`) into
 * info.identity, which seeds the job's cache keys; every disconnection
 * bumps `epoch`. A call answered in another epoch than its job started in
 * may come from another model, so the job checks (xd_srv_link_same_model)
 * that the reconnected model has the identity it started with, and fails
 * rather than mix two models' outputs or cache one's under the other.
 *
 * Answer size: no model message larger than the model's max_answer_bytes
 * is read at all (ZMQ_MAXMSGSIZE: ZeroMQ drops the connection, the calls
 * then time out). Below that, an answer larger than what its calls can
 * need — rows x k outputs at 9 bytes each in nested arrays, plus 64 KiB —
 * is not decoded: its id is peeked (xd_msgpack_peek_int) and that call
 * fails with bad_model_output. Decoding is limited to that many values too.
 *
 * Invariants: the socket is touched only by the link thread; calls are
 * touched only under `mu`; a call is in at most one of `pending` and
 * `inflight`, and the worker that owns it removes it if it gives up
 * (cancellation), so the link never touches a call its worker has left.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include "server.h"

struct xd_srv_call {
    uint64_t id;
    uint64_t epoch;             /* the link's epoch when the answer came */
    const char *req;
    size_t len, rows;
    double sent_at, deadline;
    int attempts;
    bool done;
    xai_status status;
    xai_error err;
    xai_value *reply;
    struct xd_srv_call *next;
};

struct xd_srv_link {
    const xd_srv_model_cfg *cfg;    /* &own */
    xd_srv_model_cfg own;       /* copies of name and endpoint; no background */
    atomic_int refs;
    void *zctx, *sock;
    void *mon;                  /* PAIR receiving the DEALER's connect/disconnect events */
    int wake_fd;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_uint_fast64_t next_id;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    xd_srv_call *pending, *inflight;
    bool ready;
    xd_srv_model_info info;
    uint64_t info_id;           /* id of the outstanding info request, 0 = none */
    uint64_t epoch;             /* disconnections seen */
    uint64_t info_epoch;        /* epoch of the last accepted info answer */
    double info_deadline;
    char refused[200];          /* why the last info answer was refused, or "" */
    xd_srv_link_stats stats;
};

void xd_srv_model_info_clear(xd_srv_model_info *mi) {
    for (size_t i = 0; mi->class_names && i < mi->n_outputs; i++) xd_free(mi->class_names[i]);
    for (size_t i = 0; mi->feature_names && i < mi->n_features; i++) xd_free(mi->feature_names[i]);
    xd_free(mi->class_names);
    xd_free(mi->feature_names);
    xd_free(mi->background);
    xd_free(mi->version);
    memset(mi, 0, sizeof *mi);
}

static char **copy_names(char *const *names, size_t n) {
    if (names == NULL) return NULL;
    char **c = xd_calloc(n ? n : 1, sizeof *c);
    for (size_t i = 0; i < n; i++) c[i] = xd_strdup(names[i]);
    return c;
}

uint64_t xd_srv_link_next_id(xd_srv_link *l) { return atomic_fetch_add(&l->next_id, 1); }

/* ---- sending ------------------------------------------------------------- */

/* Sends ["", msg]; false when the socket would block (no model connected)
 * or failed. */
static bool send_frames(xd_srv_link *l, const void *msg, size_t len) {
    if (zmq_send(l->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return false;
    return zmq_send(l->sock, msg, len, ZMQ_DONTWAIT) >= 0;
}

static void send_info(xd_srv_link *l, double now) {
    xai_value *m = xai_value_map();
    uint64_t id = xd_srv_link_next_id(l);
    char *buf = NULL;
    size_t len = 0;
    bool sent = false;
    if (m && xai_value_set_int(m, "v", XAI_PROTOCOL_VERSION) == XAI_OK &&
        xai_value_set_str(m, "op", "info") == XAI_OK &&
        xai_value_set_int(m, "id", (int64_t)id) == XAI_OK &&
        xai_value_pack(m, &buf, &len, NULL) == XAI_OK)
        sent = send_frames(l, buf, len);
    xai_value_free(m);
    xai_free(buf);
    l->info_id = id;
    /* Ask again after a call timeout's worth (between 100 ms and 2 s), or
     * after 100 ms when the model is not even connected. */
    double wait = sent ? fmin(fmax(l->cfg->timeout_ms, 100), 2000) / 1000.0 : 0.1;
    l->info_deadline = now + wait;
    l->stats.info_sent++;
}

static void send_call(xd_srv_link *l, xd_srv_call *c, double now) {
    c->attempts++;
    if (c->attempts == 1) c->sent_at = now;
    c->deadline = now + l->cfg->timeout_ms / 1000.0;
    if (!send_frames(l, c->req, c->len))
        xd_log(XD_LOG_DEBUG, "model send failed", "model=%s id=%llu errno=%d", l->cfg->name,
               (unsigned long long)c->id, zmq_errno());
}

/* Moves pending calls into flight. Under mu. */
static void send_pending(xd_srv_link *l, double now) {
    while (l->pending) {
        xd_srv_call *c = l->pending;
        l->pending = c->next;
        send_call(l, c, now);
        c->next = l->inflight;
        l->inflight = c;
        l->stats.calls++;
        l->stats.rows += c->rows;
    }
}

/* Unlinks c from list *head; true if it was there. */
static bool unlink_call(xd_srv_call **head, xd_srv_call *c) {
    for (xd_srv_call **p = head; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return true;
        }
    return false;
}

static void set_ready(xd_srv_link *l, bool ready, const char *why) {
    if (l->ready == ready) return;
    l->ready = ready;
    l->stats.ready_changes++;
    xd_log(ready ? XD_LOG_INFO : XD_LOG_WARN, ready ? "model ready" : "model not ready",
           "model=%s endpoint=%s reason=\"%s\"", l->cfg->name, l->cfg->endpoint, why);
}

/* Ends calls past their deadline after their last retry; resends others. */
static void check_timeouts(xd_srv_link *l, double now) {
    bool any = false;
    for (xd_srv_call **p = &l->inflight; *p;) {
        xd_srv_call *c = *p;
        if (c->deadline > now) {
            p = &c->next;
            continue;
        }
        any = true;
        l->stats.timeouts++;
        if (c->attempts <= l->cfg->retries) {
            l->stats.retries++;
            send_call(l, c, now);
            p = &c->next;
            continue;
        }
        *p = c->next;
        c->done = true;
        c->status = xd_err(&c->err, XAI_ERR_MODEL_UNAVAILABLE,
                           "model %s did not answer within %d ms (%d tries)", l->cfg->name,
                           l->cfg->timeout_ms, c->attempts);
        l->stats.unavailable++;
    }
    if (any) {
        set_ready(l, false, "a call timed out");
        pthread_cond_broadcast(&l->cv);
    }
    if (!l->ready && (l->info_id == 0 || now >= l->info_deadline)) send_info(l, now);
}

/* ---- receiving ----------------------------------------------------------- */

static char **read_names(const xai_value *a, size_t n) {
    if (xai_value_type(a) != XAI_V_ARRAY || xai_value_len(a) != n) return NULL;
    for (size_t i = 0; i < n; i++)
        if (xai_value_type(xai_value_at(a, i)) != XAI_V_STR) return NULL;
    char **names = xd_calloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; i < n; i++) names[i] = xd_strdup(xai_value_get_str(xai_value_at(a, i), NULL));
    return names;
}

/* A tabular model's background from its `info` answer: a matrix of finite
 * numbers with n_features columns (when stated), at most 2^20 numbers;
 * anything else is logged and ignored (jobs then need a CSV or
 * space.background). Under mu. */
static void take_background(xd_srv_link *l, const xai_value *bg) {
    if (bg == NULL || xai_value_type(bg) == XAI_V_NIL) return;
    double *x = NULL;
    size_t rows = 0, cols = 0;
    xai_error e = {0};
    const char *why = NULL;
    if (l->cfg->kind != XAI_INPUT_ROWS) why = "a background is for tabular models";
    else if (xai_value_to_matrix(bg, true, true, &x, &rows, &cols, &e) != XAI_OK) why = e.message;
    else if (rows == 0 || cols == 0 || rows * cols > ((size_t)1 << 20)) why = "empty or over 2^20 numbers";
    else if (l->info.n_features && cols != l->info.n_features) why = "its columns are not n_features";
    if (why) {
        xd_log(XD_LOG_WARN, "model background ignored", "model=%s rows=%zu cols=%zu reason=\"%s\"",
               l->cfg->name, rows, cols, why);
        xai_free(x);
        return;
    }
    l->info.background = xd_malloc(rows * cols * sizeof *x);
    memcpy(l->info.background, x, rows * cols * sizeof *x);
    xai_free(x);
    l->info.n_background = rows;
    if (l->info.n_features == 0) l->info.n_features = cols;
}

static uint64_t mix_str(uint64_t h, const char *s) {
    if (s == NULL) s = "\xff(none)";
    return xd_key_hash(s, strlen(s) + 1, h).lo;
}

static uint64_t mix_names(uint64_t h, char *const *names, size_t n) {
    h = xd_key_hash(&n, sizeof n, h).lo;
    for (size_t i = 0; names && i < n; i++) h = mix_str(h, names[i]);
    return h;
}

/* The identity of info mi: everything the daemon uses of it, and version. */
static uint64_t identity_of(const xd_srv_model_info *mi, const char *kind) {
    uint64_t h = mix_str(0x6964656e74, kind);
    h = mix_names(h, mi->class_names, mi->n_outputs);
    h = mix_names(h, mi->feature_names, mi->n_features);
    return mix_str(h, mi->version);
}

/* An `info` answer: ready when it names the outputs. Under mu. */
static void take_info(xd_srv_link *l, const xai_value *m) {
    const xai_value *classes = xai_value_get(m, "classes");
    const char *kind = xai_value_get_str(xai_value_get(m, "kind"), NULL);
    int64_t k = xai_value_get_int(xai_value_get(m, "n_outputs"));
    if (xai_value_type(classes) == XAI_V_ARRAY) k = (int64_t)xai_value_len(classes);
    const char *want = l->cfg->kind == XAI_INPUT_TEXT ? "text" : "tabular";
    if (kind && strcmp(kind, want) != 0)
        snprintf(l->refused, sizeof l->refused,
                 "its info answer was refused: the model says kind \"%.32s\", the config says %s",
                 kind, want);
    else if (k < 1 || k > 100000)
        snprintf(l->refused, sizeof l->refused,
                 "its info answer was refused: it names %lld outputs (classes or n_outputs in [1, 100000] needed)",
                 (long long)k);
    if (k < 1 || k > 100000 || (kind && strcmp(kind, want) != 0)) {
        xd_log(XD_LOG_WARN, "model info refused", "model=%s kind=%s n_outputs=%lld want_kind=%s",
               l->cfg->name, kind ? kind : "-", (long long)k, want);
        return;
    }
    l->refused[0] = '\0';
    uint64_t old = l->info.identity;
    bool had = l->info.n_outputs > 0;
    xd_srv_model_info_clear(&l->info);
    l->info.n_outputs = (size_t)k;
    l->info.class_names = read_names(classes, (size_t)k);
    int64_t nf = xai_value_get_int(xai_value_get(m, "n_features"));
    if (nf > 0 && nf <= 10000000) {
        l->info.n_features = (size_t)nf;
        l->info.feature_names = read_names(xai_value_get(m, "feature_names"), (size_t)nf);
    }
    take_background(l, xai_value_get(m, "background"));
    const char *version = xai_value_get_str(xai_value_get(m, "version"), NULL);
    if (version) l->info.version = xd_strdup(version);
    l->info.identity = identity_of(&l->info, want);
    l->info_epoch = l->epoch;
    if (had && old != l->info.identity) {
        l->stats.identity_changes++;
        xd_log(XD_LOG_WARN, "model identity changed", "model=%s version=%s", l->cfg->name,
               version ? version : "-");
    }
    l->info_id = 0;
    set_ready(l, true, "info answered");
    pthread_cond_broadcast(&l->cv);
}

/* Hands an answer to the call with its id. Under mu. Takes m. */
static void take_answer(xd_srv_link *l, xai_value *m, double now) {
    int64_t id = xai_value_get_int(xai_value_get(m, "id"));
    if (l->info_id != 0 && (uint64_t)id == l->info_id) {
        take_info(l, m);
        xai_value_free(m);
        return;
    }
    for (xd_srv_call **p = &l->inflight; *p; p = &(*p)->next) {
        xd_srv_call *c = *p;
        if ((int64_t)c->id != id) continue;
        *p = c->next;
        c->done = true;
        c->status = XAI_OK;
        c->reply = m;
        c->epoch = l->epoch;
        l->stats.seconds += now - c->sent_at;
        if (xai_value_get(m, "error")) l->stats.errors++;
        /* After a reconnection only `info` makes the model ready: until it
         * answers, the identity the jobs check is the old model's. */
        if (!l->ready && l->info_epoch == l->epoch) set_ready(l, true, "a call was answered");
        pthread_cond_broadcast(&l->cv);
        return;
    }
    xd_log(XD_LOG_DEBUG, "stale model answer dropped", "model=%s id=%lld", l->cfg->name,
           (long long)id);
    xai_value_free(m);
}

/* The most bytes and values an answer now may need: the largest call in
 * flight (rows x k numbers) or an info answer (names: 16 MiB). Under mu. */
static size_t answer_cap(const xd_srv_link *l, size_t *items) {
    size_t rows = 0, k = l->info.n_outputs ? l->info.n_outputs : 1;
    for (const xd_srv_call *c = l->inflight; c; c = c->next) rows = XD_MAX(rows, c->rows);
    size_t values = xd_mul(rows, k + 1);
    *items = XD_MAX(values + 4096, (size_t)1 << 20);
    return XD_MAX(xd_mul(values, 9) + ((size_t)64 << 10), (size_t)16 << 20);
}

/* Fails the call an oversize answer of `size` bytes is for, if its id can
 * be found. Under mu. */
static void refuse_oversize(xd_srv_link *l, const void *data, size_t size, size_t cap) {
    int64_t id = 0;
    bool found = xd_msgpack_peek_int(data, size, "id", &id);
    xd_log(XD_LOG_WARN, "oversize model answer dropped", "model=%s bytes=%zu cap=%zu id=%lld",
           l->cfg->name, size, cap, found ? (long long)id : -1LL);
    for (xd_srv_call **p = &l->inflight; found && *p; p = &(*p)->next) {
        xd_srv_call *c = *p;
        if ((int64_t)c->id != id) continue;
        *p = c->next;
        c->done = true;
        c->status = xd_err(&c->err, XAI_ERR_MODEL_OUTPUT,
                           "model %s answered %zu bytes for %zu rows (at most %zu expected)",
                           l->cfg->name, size, c->rows, cap);
        l->stats.errors++;
        pthread_cond_broadcast(&l->cv);
        return;
    }
}

/* Receives one message (all frames; the body is the last). */
static void recv_one(xd_srv_link *l) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    int more = 1;
    xai_value *m = NULL;
    xai_error e = {0};
    while (more) {
        if (zmq_msg_recv(&part, l->sock, ZMQ_DONTWAIT) < 0) break;
        more = zmq_msg_more(&part);
        if (more || zmq_msg_size(&part) == 0) continue;
        size_t items = 0, size = zmq_msg_size(&part);
        pthread_mutex_lock(&l->mu);
        size_t cap = answer_cap(l, &items);
        if (size > cap) refuse_oversize(l, zmq_msg_data(&part), size, cap);
        pthread_mutex_unlock(&l->mu);
        if (size > cap) continue;
        xai_unpack_limits lim = {64, items, size};
        if (xai_value_unpack(zmq_msg_data(&part), size, &lim, &m, &e) != XAI_OK ||
            xai_value_type(m) != XAI_V_MAP || xai_value_type(xai_value_get(m, "id")) != XAI_V_INT) {
            xd_log(XD_LOG_WARN, "bad model message dropped", "model=%s error=\"%s\"", l->cfg->name,
                   e.message[0] ? e.message : "not a map with an int id");
            xai_value_free(m);
            m = NULL;
        }
    }
    zmq_msg_close(&part);
    if (m == NULL) return;
    pthread_mutex_lock(&l->mu);
    take_answer(l, m, xd_now());
    pthread_mutex_unlock(&l->mu);
}

/* A socket-monitor event: a connection made (ask `info`, resend what was
 * in flight) or lost (not ready). Under mu. */
static void take_event(xd_srv_link *l, uint16_t event, double now) {
    if (event == ZMQ_EVENT_DISCONNECTED) {
        l->epoch++;
        set_ready(l, false, "disconnected");
        l->refused[0] = '\0';
        l->info_id = 0;
        l->info_deadline = now + 0.1;
        return;
    }
    xd_log(XD_LOG_DEBUG, "model connected", "model=%s endpoint=%s", l->cfg->name, l->cfg->endpoint);
    send_info(l, now);
    for (xd_srv_call *c = l->inflight; c; c = c->next) send_frames(l, c->req, c->len);
}

/* Reads one monitor event: [uint16 event, uint32 value][endpoint]. */
static void recv_event(xd_srv_link *l) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    uint16_t event = 0;
    bool first = true;
    int more = 1;
    while (more && zmq_msg_recv(&part, l->mon, ZMQ_DONTWAIT) >= 0) {
        more = zmq_msg_more(&part);
        if (first && zmq_msg_size(&part) >= 2) memcpy(&event, zmq_msg_data(&part), 2);
        first = false;
    }
    zmq_msg_close(&part);
    if (event == 0) return;
    pthread_mutex_lock(&l->mu);
    take_event(l, event, xd_now());
    pthread_mutex_unlock(&l->mu);
}

/* Milliseconds until the nearest deadline, at most 500. Under mu. */
static long next_timeout_ms(xd_srv_link *l, double now) {
    double t = now + 0.5;
    for (xd_srv_call *c = l->inflight; c; c = c->next) t = fmin(t, c->deadline);
    if (!l->ready) t = fmin(t, l->info_deadline);
    long ms = (long)ceil((t - now) * 1000.0);
    return ms < 0 ? 0 : ms;
}

static void *link_main(void *arg) {
    xd_srv_link *l = arg;
    zmq_pollitem_t items[3] = {{l->sock, 0, ZMQ_POLLIN, 0}, {NULL, l->wake_fd, ZMQ_POLLIN, 0},
                               {l->mon, 0, ZMQ_POLLIN, 0}};
    pthread_mutex_lock(&l->mu);
    send_info(l, xd_now());
    pthread_mutex_unlock(&l->mu);
    while (!atomic_load(&l->stop)) {
        pthread_mutex_lock(&l->mu);
        long ms = next_timeout_ms(l, xd_now());
        pthread_mutex_unlock(&l->mu);
        if (zmq_poll(items, 3, ms) < 0 && zmq_errno() != EINTR) break;
        if (items[1].revents & ZMQ_POLLIN) xd_srv_wake_drain(l->wake_fd);
        if (items[2].revents & ZMQ_POLLIN) recv_event(l);
        int events = 0;
        size_t sz = sizeof events;
        while (zmq_getsockopt(l->sock, ZMQ_EVENTS, &events, &sz) == 0 && (events & ZMQ_POLLIN))
            recv_one(l);
        pthread_mutex_lock(&l->mu);
        double now = xd_now();
        send_pending(l, now);
        check_timeouts(l, now);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

/* ---- the worker side ----------------------------------------------------- */

xai_status xd_srv_link_call(xd_srv_link *l, uint64_t id, char *req, size_t len, size_t rows,
                            atomic_bool *stop, xai_value **reply, uint64_t *epoch,
                            xai_error *err) {
    *reply = NULL;
    *epoch = 0;
    xd_srv_call c = {.id = id, .req = req, .len = len, .rows = rows};
    pthread_mutex_lock(&l->mu);
    c.next = l->pending;
    l->pending = &c;
    pthread_mutex_unlock(&l->mu);
    xd_srv_wake(l->wake_fd);
    pthread_mutex_lock(&l->mu);
    while (!c.done) {
        if ((stop && atomic_load(stop)) || atomic_load(&l->stop)) {
            if (!unlink_call(&l->pending, &c)) unlink_call(&l->inflight, &c);
            c.done = true;
            c.status = xd_err(&c.err, XAI_ERR_CANCELLED, "cancelled while waiting for model %s",
                              l->cfg->name);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    pthread_mutex_unlock(&l->mu);
    xd_free(req);
    if (c.status != XAI_OK) {
        if (err) *err = c.err;
        return c.status;
    }
    *reply = c.reply;
    *epoch = c.epoch;
    return XAI_OK;
}

bool xd_srv_link_ready(xd_srv_link *l) {
    pthread_mutex_lock(&l->mu);
    bool r = l->ready;
    pthread_mutex_unlock(&l->mu);
    return r;
}

xai_status xd_srv_link_info(xd_srv_link *l, xd_srv_model_info *out, xai_error *err) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&l->mu);
    xai_status st = XAI_OK;
    if (!l->ready) {
        st = xd_err(err, XAI_ERR_MODEL_UNAVAILABLE, "model %s is not ready", l->cfg->name);
    } else {
        *out = l->info;
        out->class_names = copy_names(l->info.class_names, l->info.n_outputs);
        out->feature_names = copy_names(l->info.feature_names, l->info.n_features);
        if (l->info.background) {
            size_t n = l->info.n_background * l->info.n_features * sizeof *out->background;
            out->background = xd_malloc(n);
            memcpy(out->background, l->info.background, n);
        }
        out->version = l->info.version ? xd_strdup(l->info.version) : NULL;
        out->epoch = l->epoch;
    }
    pthread_mutex_unlock(&l->mu);
    return st;
}

xai_status xd_srv_link_wait_ready(xd_srv_link *l, double until, atomic_bool *stop,
                                  xai_error *err) {
    pthread_mutex_lock(&l->mu);
    while (!l->ready && xd_now() < until && !(stop && atomic_load(stop))) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    bool ready = l->ready;
    char why[sizeof l->refused];
    snprintf(why, sizeof why, "%s", l->refused[0] ? l->refused : "no answer to info");
    pthread_mutex_unlock(&l->mu);
    if (ready) return XAI_OK;
    if (stop && atomic_load(stop)) return xd_err(err, XAI_ERR_CANCELLED, "cancelled");
    return xd_err(err, XAI_ERR_MODEL_UNAVAILABLE, "model %s at %s is not ready: %s", l->cfg->name,
                  l->cfg->endpoint, why);
}

xai_status xd_srv_link_same_model(xd_srv_link *l, xd_srv_model_info *info, double until,
                                  atomic_bool *stop, xai_error *err) {
    xai_status st = xd_srv_link_wait_ready(l, until, stop, err);
    if (st != XAI_OK) return st;
    pthread_mutex_lock(&l->mu);
    bool same = l->ready && l->info.identity == info->identity;
    if (same) info->epoch = l->epoch;
    pthread_mutex_unlock(&l->mu);
    if (same) return XAI_OK;
    return xd_err(err, XAI_ERR_MODEL_UNAVAILABLE,
                  "model %s changed (another info answer or version) while the job ran",
                  l->cfg->name);
}

void xd_srv_link_count_cache(xd_srv_link *l, uint64_t hits, uint64_t misses) {
    pthread_mutex_lock(&l->mu);
    l->stats.cache_hits += hits;
    l->stats.cache_misses += misses;
    pthread_mutex_unlock(&l->mu);
}

void xd_srv_link_get_stats(xd_srv_link *l, xd_srv_link_stats *out) {
    pthread_mutex_lock(&l->mu);
    *out = l->stats;
    pthread_mutex_unlock(&l->mu);
}

/* ---- life cycle ---------------------------------------------------------- */

static xai_status open_socket(xd_srv_link *l, xai_error *err) {
    int zero = 0, one = 1, ivl = 100, ivl_max = 1000;
    l->zctx = zmq_ctx_new();
    l->sock = l->zctx ? zmq_socket(l->zctx, ZMQ_DEALER) : NULL;
    if (l->sock == NULL) return xd_err(err, XAI_ERR_IO, "model %s: zmq: %s", l->cfg->name,
                                       zmq_strerror(zmq_errno()));
    zmq_setsockopt(l->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(l->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    int64_t maxmsg = (int64_t)l->cfg->max_answer_bytes;
    zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://xaid-link-%p", (void *)l);
    if (zmq_socket_monitor(l->sock, mon_ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        (l->mon = zmq_socket(l->zctx, ZMQ_PAIR)) == NULL || zmq_connect(l->mon, mon_ep) != 0)
        return xd_err(err, XAI_ERR_IO, "model %s: socket monitor: %s", l->cfg->name,
                      zmq_strerror(zmq_errno()));
    zmq_setsockopt(l->mon, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(l->sock, l->cfg->endpoint) != 0)
        return xd_err(err, XAI_ERR_IO, "model %s: cannot connect to %s: %s", l->cfg->name,
                      l->cfg->endpoint, zmq_strerror(zmq_errno()));
    return XAI_OK;
}

xai_status xd_srv_link_start(const xd_srv_model_cfg *cfg, xd_srv_link **out, xai_error *err) {
    xd_srv_link *l = xd_calloc(1, sizeof *l);
    *out = NULL;
    l->own = *cfg;
    l->own.name = xd_strdup(cfg->name);
    l->own.endpoint = xd_strdup(cfg->endpoint);
    l->own.background_path = NULL;
    l->own.background = NULL;
    l->own.bg_names = NULL;
    l->own.n_background = l->own.bg_cols = 0;
    l->cfg = &l->own;
    atomic_init(&l->refs, 1);
    atomic_init(&l->stop, false);
    atomic_init(&l->next_id, 1);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->wake_fd = xd_srv_wake_new();
    xai_status st = l->wake_fd < 0 ? xd_err(err, XAI_ERR_IO, "eventfd failed") : open_socket(l, err);
    if (st == XAI_OK && pthread_create(&l->thread, NULL, link_main, l) != 0)
        st = xd_err(err, XAI_ERR_IO, "model %s: cannot start its thread", cfg->name);
    l->started = st == XAI_OK;
    if (st != XAI_OK) {
        xd_srv_link_stop(l);
        return st;
    }
    *out = l;
    return XAI_OK;
}

void xd_srv_link_stop(xd_srv_link *l) {
    if (l == NULL) return;
    atomic_store(&l->stop, true);
    if (l->started) {
        xd_srv_wake(l->wake_fd);
        pthread_join(l->thread, NULL);
    }
    if (l->sock) {
        zmq_socket_monitor(l->sock, NULL, 0);
        zmq_close(l->sock);
    }
    if (l->mon) zmq_close(l->mon);
    if (l->zctx) zmq_ctx_term(l->zctx);
    if (l->wake_fd >= 0) close(l->wake_fd);
    xd_srv_model_info_clear(&l->info);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    xd_free(l->own.name);
    xd_free(l->own.endpoint);
    xd_free(l);
}

xd_srv_link *xd_srv_link_retain(xd_srv_link *l) {
    if (l) atomic_fetch_add(&l->refs, 1);
    return l;
}

void xd_srv_link_release(xd_srv_link *l) {
    if (l && atomic_fetch_sub(&l->refs, 1) == 1) xd_srv_link_stop(l);
}

bool xd_srv_link_same(const xd_srv_link *l, const xd_srv_model_cfg *cfg) {
    return strcmp(l->own.endpoint, cfg->endpoint) == 0 && l->own.kind == cfg->kind &&
           l->own.timeout_ms == cfg->timeout_ms && l->own.retries == cfg->retries;
}
