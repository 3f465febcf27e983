/* front.c — the client side of xaid: the ROUTER socket, request decoding and
 * validation, the ops, and the outbox through which workers answer.
 *
 * Everything here runs on the front thread, which alone owns the ROUTER
 * socket. A request is one frame after the client's identity (a DEALER
 * client) or after an empty delimiter (a REQ client); answers go back in the
 * same envelope. Every byte is untrusted: the size is checked against
 * max_message_bytes before decoding, decoding is the bounded codec, and every
 * field is type-checked; any failure is an `error` event with a stable code
 * and the daemon carries on. `explain` is validated here as far as can be
 * done cheaply (model or native network, method, input shape, limits) and
 * answered `accepted` before the job is queued, so `accepted` always
 * precedes the job's events.
 * Workers post events into the outbox (a locked list) and wake this thread
 * through an eventfd.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>
#include "server.h"
#include "xai/methods.h"

#define MAX_ITEMS ((size_t)1 << 22)

/* ---- wakeups ------------------------------------------------------------ */

int xd_srv_wake_new(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void xd_srv_wake(int fd) {
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n;
}

void xd_srv_wake_drain(int fd) {
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n;
}

/* ---- the outbox --------------------------------------------------------- */

typedef struct out_item {
    xd_srv_peer peer;
    char *buf;
    size_t len;
    struct out_item *next;
} out_item;

struct xd_srv_outbox {
    pthread_mutex_t mu;
    out_item *head, *tail;
};

xd_srv_outbox *xd_srv_outbox_new(void) {
    xd_srv_outbox *o = xd_calloc(1, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    return o;
}

void xd_srv_outbox_free(xd_srv_outbox *o) {
    if (o == NULL) return;
    for (out_item *it = o->head, *next; it; it = next) {
        next = it->next;
        xd_free(it->buf);
        xd_free(it);
    }
    pthread_mutex_destroy(&o->mu);
    xd_free(o);
}

void xd_srv_post(xd_srv *s, const xd_srv_peer *to, xai_value *msg) {
    out_item *it = xd_calloc(1, sizeof *it);
    xai_error e;
    if (msg == NULL || xai_value_pack(msg, &it->buf, &it->len, &e) != XAI_OK) {
        xd_log(XD_LOG_ERROR, "event dropped", "reason=\"%s\"", msg ? e.message : "out of memory");
        xai_value_free(msg);
        xd_free(it);
        return;
    }
    xai_value_free(msg);
    it->peer = *to;
    pthread_mutex_lock(&s->out->mu);
    if (s->out->tail) s->out->tail->next = it;
    else s->out->head = it;
    s->out->tail = it;
    pthread_mutex_unlock(&s->out->mu);
    xd_srv_wake(s->wake_fd);
}

static void send_raw(void *sock, const xd_srv_peer *to, const void *buf, size_t len) {
    if (zmq_send(sock, to->id, to->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return;
    if (to->delim && zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return;
    zmq_send(sock, buf, len, ZMQ_DONTWAIT);
}

static void flush_outbox(xd_srv *s, void *sock) {
    pthread_mutex_lock(&s->out->mu);
    out_item *it = s->out->head;
    s->out->head = s->out->tail = NULL;
    pthread_mutex_unlock(&s->out->mu);
    while (it) {
        out_item *next = it->next;
        send_raw(sock, &it->peer, it->buf, it->len);
        xd_free(it->buf);
        xd_free(it);
        it = next;
    }
}

/* ---- answers ------------------------------------------------------------ */

xai_value *xd_srv_error_event(uint64_t job, int64_t req, xai_status code, const char *message) {
    xai_value *m = xai_value_map();
    if (m == NULL || xai_value_set_int(m, "v", XAI_PROTOCOL_VERSION) ||
        xai_value_set_str(m, "event", "error") ||
        (job && xai_value_set_int(m, "job", (int64_t)job)) ||
        (req >= 0 && xai_value_set_int(m, "req", req)) ||
        xai_value_set_str(m, "code", xai_errcode(code)) ||
        xai_value_set_str(m, "message", message && message[0] ? message : xai_errstr(code))) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

typedef struct request {
    xd_srv *s;
    void *sock;
    xd_srv_peer peer;
    int64_t req;                /* -1 when the request had none */
    xai_value *msg;             /* the decoded message (NULL after explain took it) */
} request;

static void answer(request *r, xai_value *m) {
    char *buf = NULL;
    size_t len = 0;
    xai_error e;
    if (m && xai_value_pack(m, &buf, &len, &e) == XAI_OK) send_raw(r->sock, &r->peer, buf, len);
    else xd_log(XD_LOG_ERROR, "answer dropped", "reason=\"out of memory\"");
    xai_free(buf);
    xai_value_free(m);
}

/* Returns 0 so that handlers can `return answer_error(...)`. */
static int answer_error(request *r, xai_status code, const char *message) {
    xd_log(XD_LOG_DEBUG, "request refused", "code=%s message=\"%s\"", xai_errcode(code), message);
    answer(r, xd_srv_error_event(0, r->req, code, message));
    return 0;
}

/* An error about an unknown name, with its choices (choices.c). */
static int answer_choices(request *r, xai_status code, const char *message,
                          const xd_srv_choices *c) {
    xd_log(XD_LOG_DEBUG, "request refused", "code=%s message=\"%s\"", xai_errcode(code), message);
    answer(r, xd_srv_error_event_choices(0, r->req, code, message, c));
    return 0;
}

/* {"v": 1, "event": "reply", "req": req} */
static xai_value *reply_map(const request *r) {
    xai_value *m = xai_value_map();
    if (m == NULL || xai_value_set_int(m, "v", XAI_PROTOCOL_VERSION) ||
        xai_value_set_str(m, "event", "reply") ||
        (r->req >= 0 && xai_value_set_int(m, "req", r->req))) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

/* ---- ops ---------------------------------------------------------------- */

static bool known_method(const char *name) {
    for (const char *const *m = xai_method_names(); *m; m++)
        if (strcmp(*m, name) == 0) return true;
    return false;
}

/* The input checks of a model (job_input.c) or a network (net_job.c), and
 * the method's parameter names (the registry's methods, with their
 * choices; a native method's through xai_nn_check_params). */
static xai_status precheck(xd_srv *s, size_t mi, const xai_value *msg, const char *method,
                           xd_srv_choices *ch, xai_error *e) {
    const xai_value *input = xai_value_get(msg, "input"), *params = xai_value_get(msg, "params");
    const xai_value *space = xai_value_get(msg, "space");
    const xd_srv_net_cfg *net = xd_srv_net_at(s, mi);
    if (params && xai_value_type(params) != XAI_V_NIL && xai_value_type(params) != XAI_V_MAP)
        return xd_err(e, XAI_ERR_BAD_REQUEST, "explain: `params` must be a map");
    xai_status st = XAI_OK;
    if (net == NULL) st = xd_srv_input_precheck(s->cfg, &s->cfg->models[mi], s->gen->tok, input, params, space, ch, e);
    else if (space && xai_value_type(space) != XAI_V_NIL && xai_value_type(space) != XAI_V_MAP)
        st = xd_err(e, XAI_ERR_BAD_REQUEST, "explain: `space` must be a map");
    else if ((st = xd_srv_net_precheck(s->cfg, net, method, input, space, ch, e)) == XAI_OK)
        st = xd_srv_check_samples(s->cfg, params, e);
    if (st == XAI_OK && net && !known_method(method)) return xd_srv_net_check_params(method, params, e);
    if (st != XAI_OK || !known_method(method)) return st;
    const char *names[XD_SRV_MAX_CHOICES + 1];
    size_t n = 0;
    for (size_t i = 0; i < xai_method_n_params(method) && n < XD_SRV_MAX_CHOICES; i++)
        names[n++] = xai_method_param(method, i)->name;
    names[n] = NULL;
    char what[96];
    snprintf(what, sizeof what, "params of %s", method);
    return xd_srv_check_keys(params, names, what, ch, e);
}

/* Fills c with the names of every model and network. */
static void model_choices(xd_srv *s, const char *word, xd_srv_choices *c) {
    c->word = word;
    for (size_t i = 0; i < s->cfg->n_models; i++) xd_srv_choices_add(c, s->cfg->models[i].name);
    for (size_t i = 0; i < s->cfg->n_nets; i++) xd_srv_choices_add(c, s->cfg->nets[i].name);
}

/* Fills c with the methods that run on model index mi. */
static void method_choices(xd_srv *s, size_t mi, const char *word, xd_srv_choices *c) {
    c->word = word;
    for (const char *const *m = xai_method_names(); *m; m++) xd_srv_choices_add(c, *m);
    if (xd_srv_net_at(s, mi) == NULL) return;
    for (const char *const *m = xai_nn_method_names(); *m; m++) xd_srv_choices_add(c, *m);
}

static int op_explain(request *r) {
    xd_srv *s = r->s;
    const char *model = xai_value_get_str(xai_value_get(r->msg, "model"), NULL);
    const char *method = xai_value_get_str(xai_value_get(r->msg, "method"), NULL);
    const xai_value *dl = xai_value_get(r->msg, "deadline_ms");
    xai_error e = {0};
    if (atomic_load(&s->stopping))
        return answer_error(r, XAI_ERR_SHUTDOWN, "the daemon is shutting down; no new jobs");
    if (model == NULL || method == NULL)
        return answer_error(r, XAI_ERR_BAD_REQUEST, "explain needs `model` and `method` (strings)");
    ptrdiff_t mi = xd_srv_model_index(s, model);
    char what[160];
    xd_srv_choices ch = {0};
    if (mi < 0) {
        snprintf(what, sizeof what, "no model named \"%.64s\"", model);
        model_choices(s, model, &ch);
        xd_srv_choices_message(e.message, sizeof e.message, what, &ch);
        return answer_choices(r, XAI_ERR_UNKNOWN_MODEL, e.message, &ch);
    }
    const xd_srv_net_cfg *net = xd_srv_net_at(s, (size_t)mi);
    if (!known_method(method) && !(net && xd_srv_net_method(method))) {
        snprintf(what, sizeof what, "no method named \"%.64s\"%s", method,
                 xd_srv_net_method(method) ? " for remote models (it is for native networks)" : "");
        method_choices(s, (size_t)mi, method, &ch);
        xd_srv_choices_message(e.message, sizeof e.message, what, &ch);
        return answer_choices(r, XAI_ERR_UNKNOWN_METHOD, e.message, &ch);
    }
    if (dl && xai_value_type(dl) != XAI_V_NIL &&
        (xai_value_type(dl) != XAI_V_INT || xai_value_get_int(dl) < 1))
        return answer_error(r, XAI_ERR_BAD_REQUEST, "explain: `deadline_ms` must be an int >= 1");
    if (dl && xai_value_type(dl) == XAI_V_INT && xai_value_get_int(dl) > s->cfg->max_deadline_ms) {
        snprintf(e.message, sizeof e.message, "deadline_ms = %lld exceeds max_deadline_ms = %lld",
                 (long long)xai_value_get_int(dl), (long long)s->cfg->max_deadline_ms);
        return answer_error(r, XAI_ERR_LIMIT, e.message);
    }
    xai_status st = precheck(s, (size_t)mi, r->msg, method, &ch, &e);
    if (st != XAI_OK) return answer_choices(r, st, e.message, ch.word ? &ch : NULL);
    uint64_t job;
    xai_value *msg = r->msg;   /* the job owns it from here: a worker may free it at once */
    r->msg = NULL;
    model = xd_srv_model_name(s, (size_t)mi);
    char method_copy[64];
    snprintf(method_copy, sizeof method_copy, "%s", method);
    method = method_copy;
    if ((st = xd_srv_jobs_submit(s, &r->peer, r->req, (size_t)mi, msg, &job, &e)) != XAI_OK)
        return answer_error(r, st, e.message);
    xd_log(XD_LOG_INFO, "job accepted", "job=%llu model=%s method=%s req=%lld",
           (unsigned long long)job, model, method, (long long)r->req);
    xai_value *a = xai_value_map();
    if (a && !xai_value_set_int(a, "v", XAI_PROTOCOL_VERSION) &&
        !xai_value_set_str(a, "event", "accepted") && !xai_value_set_int(a, "req", r->req))
        xai_value_set_int(a, "job", (int64_t)job);
    answer(r, a);
    return 0;
}

/* The `job` field of cancel/status, or -1 after answering an error. */
static int64_t job_field(request *r) {
    const xai_value *j = xai_value_get(r->msg, "job");
    if (xai_value_type(j) != XAI_V_INT || xai_value_get_int(j) < 1) {
        answer_error(r, XAI_ERR_BAD_REQUEST, "`job` must be a job id (an int >= 1)");
        return -1;
    }
    return xai_value_get_int(j);
}

static int not_found(request *r, int64_t job) {
    char msg[64];
    snprintf(msg, sizeof msg, "no job %lld", (long long)job);
    return answer_error(r, XAI_ERR_NOT_FOUND, msg);
}

static int op_cancel(request *r) {
    int64_t job = job_field(r);
    if (job < 0) return 0;
    xd_job_state was;
    if (xd_srv_jobs_cancel(r->s, (uint64_t)job, &was) != XAI_OK) return not_found(r, job);
    xai_value *m = reply_map(r);
    if (m) {
        xai_value_set_bool(m, "ok", was <= XD_JOB_RUNNING);
        xai_value_set_str(m, "state", xd_srv_job_state_name(was));
    }
    answer(r, m);
    return 0;
}

static int op_status(request *r) {
    int64_t job = job_field(r);
    if (job < 0) return 0;
    xai_value *m = reply_map(r);
    if (m == NULL) return 0;
    xai_value_set_int(m, "job", job);
    if (xd_srv_jobs_status(r->s, (uint64_t)job, m) != XAI_OK) {
        xai_value_free(m);
        return not_found(r, job);
    }
    answer(r, m);
    return 0;
}

static xai_value *names_array(char *const *names, size_t n) {
    xai_value *a = xai_value_array();
    for (size_t i = 0; a && i < n; i++) xai_value_push(a, xai_value_str(names[i]));
    return a;
}

static xai_value *model_entry(xd_srv *s, size_t i) {
    const xd_srv_model_cfg *mc = &s->cfg->models[i];
    xai_value *e = xai_value_map();
    if (e == NULL) return NULL;
    xd_srv_model_info info;
    bool ready = xd_srv_link_info(s->links[i], &info, NULL) == XAI_OK;
    xai_value_set_str(e, "name", mc->name);
    xai_value_set_str(e, "kind", mc->kind == XAI_INPUT_TEXT ? "text" : "tabular");
    xai_value_set_str(e, "endpoint", mc->endpoint);
    xai_value_set_bool(e, "ready", ready);
    if (ready) {
        xai_value_set_int(e, "n_outputs", (int64_t)info.n_outputs);
        if (info.version) xai_value_set_str(e, "version", info.version);
        if (info.class_names)
            xai_value_set(e, "classes", names_array(info.class_names, info.n_outputs));
        if (info.n_features) xai_value_set_int(e, "n_features", (int64_t)info.n_features);
    }
    if (mc->kind == XAI_INPUT_ROWS)
        xai_value_set_int(e, "background_rows",
                          (int64_t)(mc->background ? mc->n_background : info.n_background));
    xd_srv_model_info_clear(&info);
    return e;
}

static int op_models(request *r) {
    xai_value *m = reply_map(r), *list = xai_value_array();
    for (size_t i = 0; list && i < r->s->cfg->n_models; i++) xai_value_push(list, model_entry(r->s, i));
    for (size_t i = 0; list && i < r->s->cfg->n_nets; i++)
        xai_value_push(list, xd_srv_net_entry(&r->s->cfg->nets[i]));
    if (m) xai_value_set(m, "models", list);
    else xai_value_free(list);
    answer(r, m);
    return 0;
}

void xd_srv_set_ints(xai_value *m, const char *const *keys, const int64_t *vals, size_t n) {
    for (size_t i = 0; i < n; i++) xai_value_set_int(m, keys[i], vals[i]);
}

static xai_value *link_stats(xd_srv *s, size_t i) {
    static const char *const keys[] = {"calls", "rows", "timeouts", "retries", "errors",
                                       "unavailable", "info_sent", "identity_changes",
                                       "cache_hits", "cache_misses", "cache_entries",
                                       "cache_bytes"};
    xd_srv_link_stats ls;
    xd_srv_link_get_stats(s->links[i], &ls);
    xai_cache_stats cs;
    xai_cache_get_model_stats(s->cache, xd_srv_model_cache_id(&s->cfg->models[i]), &cs);
    int64_t vals[] = {(int64_t)ls.calls, (int64_t)ls.rows, (int64_t)ls.timeouts,
                      (int64_t)ls.retries, (int64_t)ls.errors, (int64_t)ls.unavailable,
                      (int64_t)ls.info_sent, (int64_t)ls.identity_changes,
                      (int64_t)ls.cache_hits, (int64_t)ls.cache_misses, (int64_t)cs.entries,
                      (int64_t)cs.bytes};
    xai_value *m = xai_value_map();
    if (m == NULL) return NULL;
    xai_value_set_bool(m, "ready", xd_srv_link_ready(s->links[i]));
    xd_srv_set_ints(m, keys, vals, XD_ARRAY_LEN(keys));
    xai_value_set_float(m, "model_seconds", ls.seconds);
    return m;
}

static void cache_stats(xd_srv *s, xai_value *m) {
    static const char *const keys[] = {"entries", "bytes", "max_bytes", "hits", "misses",
                                       "evictions"};
    xai_cache_stats cs = {0};
    if (s->cache) xai_cache_get_stats(s->cache, &cs);
    int64_t vals[] = {(int64_t)cs.entries, (int64_t)cs.bytes, (int64_t)cs.max_bytes,
                      (int64_t)cs.hits, (int64_t)cs.misses, (int64_t)cs.evictions};
    xd_srv_set_ints(m, keys, vals, XD_ARRAY_LEN(keys));
}

static int op_stats(request *r) {
    xd_srv *s = r->s;
    xai_value *m = reply_map(r), *st = xai_value_map(), *jobs = xai_value_map();
    xai_value *cache = xai_value_map(), *models = xai_value_map();
    if (!m || !st || !jobs || !cache || !models) {
        xai_value_free(m), xai_value_free(st), xai_value_free(jobs);
        xai_value_free(cache), xai_value_free(models);
        return 0;
    }
    xd_srv_jobs_stats(s, jobs);
    cache_stats(s, cache);
    for (size_t i = 0; i < s->cfg->n_models; i++)
        xai_value_set(models, s->cfg->models[i].name, link_stats(s, i));
    xai_value_set(st, "jobs", jobs);
    xai_value_set(st, "cache", cache);
    xai_value_set(st, "models", models);
    xai_value *conf = xai_value_map();
    if (conf) {
        xai_value_set_int(conf, "reloads", (int64_t)s->reloads);
        xai_value_set_int(conf, "reload_failures", (int64_t)s->reload_failures);
        xai_value_set(st, "config", conf);
    }
    xai_value_set_float(st, "uptime_seconds", xd_now() - s->started);
    xai_value_set(m, "stats", st);
    answer(r, m);
    return 0;
}

/* One parameter of the registry as a map. */
static xai_value *param_entry(const xai_param_info *p) {
    xai_value *e = xai_value_map();
    if (e && (xai_value_set_str(e, "name", p->name) || xai_value_set_str(e, "type", p->type) ||
              xai_value_set_str(e, "default", p->def) || xai_value_set_str(e, "range", p->range) ||
              xai_value_set_str(e, "doc", p->doc))) {
        xai_value_free(e);
        return NULL;
    }
    return e;
}

/* {"name", "doc", "for": "model"|"net", "params": [...]} from the registry,
 * or for a native method (networks only) from daemon/nn/params.c. */
static xai_value *method_entry(const char *name, bool native) {
    xai_value *e = xai_value_map(), *ps = xai_value_array();
    if (e == NULL || ps == NULL) {
        xai_value_free(e);
        xai_value_free(ps);
        return NULL;
    }
    xai_value_set_str(e, "name", name);
    xai_value_set_str(e, "for", native ? "net" : "model");
    xai_value_set_str(e, "doc", native ? xai_nn_method_doc(name) : xai_method_doc(name));
    size_t n = native ? xai_nn_method_n_params(name) : xai_method_n_params(name);
    for (size_t i = 0; i < n; i++)
        xai_value_push(ps, param_entry(native ? xai_nn_method_param(name, i)
                                              : xai_method_param(name, i)));
    xai_value_set(e, "params", ps);
    return e;
}

static int op_methods(request *r) {
    xai_value *m = reply_map(r), *list = xai_value_array();
    for (const char *const *n = xai_method_names(); list && *n; n++)
        xai_value_push(list, method_entry(*n, false));
    for (const char *const *n = xai_nn_method_names(); list && *n; n++)
        xai_value_push(list, method_entry(*n, true));
    if (m) xai_value_set(m, "methods", list);
    else xai_value_free(list);
    answer(r, m);
    return 0;
}

static int op_ping(request *r) {
    xai_value *m = reply_map(r);
    if (m) {
        xai_value_set_bool(m, "pong", true);
        xai_value_set_str(m, "version", XAI_VERSION_STRING);
        xai_value_set_int(m, "protocol", XAI_PROTOCOL_VERSION);
    }
    answer(r, m);
    return 0;
}

/* {"op": "cache_clear", "model"?}: drops a model's cached outputs (every
 * model's without `model`); answers {"removed": N}. */
static int op_cache_clear(request *r) {
    xd_srv *s = r->s;
    const xai_value *mv = xai_value_get(r->msg, "model");
    const char *model = xai_value_get_str(mv, NULL);
    if (mv && xai_value_type(mv) != XAI_V_NIL && model == NULL)
        return answer_error(r, XAI_ERR_BAD_REQUEST, "cache_clear: `model` must be a string");
    size_t removed = 0;
    if (model) {
        ptrdiff_t mi = xd_srv_model_index(s, model);
        if (mi < 0 || xd_srv_net_at(s, (size_t)mi)) {
            char msg[160];
            snprintf(msg, sizeof msg, "no model server named \"%.64s\"%s", model,
                     mi >= 0 ? " (a network's entries are keyed by its weights)" : "");
            return answer_error(r, XAI_ERR_UNKNOWN_MODEL, msg);
        }
        uint64_t id = xd_srv_model_cache_id(&s->cfg->models[mi]);
        removed = xai_cache_clear(s->cache, &id);
    } else {
        removed = xai_cache_clear(s->cache, NULL);
    }
    xd_log(XD_LOG_INFO, "cache cleared", "model=%s removed=%zu", model ? model : "*", removed);
    xai_value *m = reply_map(r);
    if (m) xai_value_set_int(m, "removed", (int64_t)removed);
    answer(r, m);
    return 0;
}

static const struct { const char *name; int (*fn)(request *); } ops[] = {
    {"explain", op_explain}, {"cancel", op_cancel}, {"status", op_status},
    {"models", op_models},   {"stats", op_stats},   {"ping", op_ping},
    {"methods", op_methods},
    {"cache_clear", op_cache_clear},
};

/* Decodes and checks the envelope fields (v, req, op), then dispatches. */
static int handle(request *r, const void *data, size_t len) {
    const xd_srv_config *cfg = r->s->cfg;
    xai_error e = {0};
    if (len > cfg->max_message_bytes) {
        snprintf(e.message, sizeof e.message, "message of %zu bytes exceeds max_message_bytes = %zu",
                 len, cfg->max_message_bytes);
        return answer_error(r, XAI_ERR_LIMIT, e.message);
    }
    /* Every decoded value costs ~50 bytes however small its encoding, so
     * the item count is capped too: 4 Mi values, ~200 MiB at worst. */
    xai_unpack_limits lim = {64, XD_MIN(cfg->max_message_bytes, MAX_ITEMS), cfg->max_message_bytes};
    xai_status st = xai_value_unpack(data, len, &lim, &r->msg, &e);
    if (st != XAI_OK) return answer_error(r, st, e.message);
    if (xai_value_type(r->msg) != XAI_V_MAP)
        return answer_error(r, XAI_ERR_BAD_REQUEST, "a request must be a msgpack map");
    const xai_value *req = xai_value_get(r->msg, "req"), *v = xai_value_get(r->msg, "v");
    if (req && xai_value_type(req) != XAI_V_INT)
        return answer_error(r, XAI_ERR_BAD_REQUEST, "`req` must be an int");
    if (req) r->req = xai_value_get_int(req) < 0 ? -1 : xai_value_get_int(req);
    if (xai_value_type(v) != XAI_V_INT)
        return answer_error(r, XAI_ERR_BAD_REQUEST, "`v` (the protocol version, an int) is missing");
    if (xai_value_get_int(v) != XAI_PROTOCOL_VERSION)
        return answer_error(r, XAI_ERR_VERSION, "this daemon speaks protocol version 1");
    const char *op = xai_value_get_str(xai_value_get(r->msg, "op"), NULL);
    if (op == NULL) return answer_error(r, XAI_ERR_BAD_REQUEST, "`op` (a string) is missing");
    for (size_t i = 0; i < XD_ARRAY_LEN(ops); i++)
        if (strcmp(ops[i].name, op) == 0) return ops[i].fn(r);
    snprintf(e.message, sizeof e.message, "unknown op \"%.64s\"", op);
    return answer_error(r, XAI_ERR_UNKNOWN_OP, e.message);
}

/* Receives one client message: [identity, ("",) body]. */
static void recv_request(xd_srv *s, void *sock) {
    zmq_msg_t f[3];
    size_t n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (n < 3) f[n++] = part;        /* keep identity, delimiter, body */
        else zmq_msg_close(&part);        /* more frames than any client sends: dropped */
    }
    request r = {.s = s, .sock = sock, .req = -1};
    if (n >= 2 && zmq_msg_size(&f[0]) <= sizeof r.peer.id) {
        r.peer.id_len = zmq_msg_size(&f[0]);
        memcpy(r.peer.id, zmq_msg_data(&f[0]), r.peer.id_len);
        r.peer.delim = n == 3 && zmq_msg_size(&f[1]) == 0;
        zmq_msg_t *body = &f[n - 1];
        if (n == 3 && !r.peer.delim)
            answer_error(&r, XAI_ERR_BAD_REQUEST, "a request is one frame (after an empty delimiter for REQ)");
        else
            handle(&r, zmq_msg_data(body), zmq_msg_size(body));
        xai_value_free(r.msg);
    }
    for (size_t i = 0; i < n; i++) zmq_msg_close(&f[i]);
}

/* ---- the loop ------------------------------------------------------------ */

/* Serves until shutdown, then winds down: no new jobs, the running ones get
 * shutdown_grace_ms, then they are cancelled; returns once none is left. */
xai_status xd_srv_front_loop(xd_srv *s, void *sock) {
    zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {NULL, s->wake_fd, ZMQ_POLLIN, 0}};
    double stop_at = 0, cancelled_at = 0;
    for (;;) {
        if (zmq_poll(items, 2, 100) < 0 && zmq_errno() != EINTR)
            return XAI_ERR_IO;
        if (items[1].revents & ZMQ_POLLIN) xd_srv_wake_drain(s->wake_fd);
        for (int i = 0; i < 1000; i++) {
            int events = 0;
            size_t sz = sizeof events;
            if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN)) break;
            recv_request(s, sock);
        }
        xd_srv_jobs_tick(s);
        flush_outbox(s, sock);
        if (atomic_exchange(&s->reload, false) && !atomic_load(&s->stopping)) xd_srv_reload(s);
        if (!atomic_load(&s->stopping)) continue;
        double now = xd_now();
        if (stop_at == 0) {
            stop_at = now;
            xd_log(XD_LOG_INFO, "shutting down", "active_jobs=%zu grace_ms=%lld", xd_srv_jobs_active(s),
                   (long long)s->cfg->shutdown_grace_ms);
        }
        size_t active = xd_srv_jobs_active(s);
        if (active == 0) break;
        if (cancelled_at == 0 && now - stop_at >= s->cfg->shutdown_grace_ms / 1000.0) {
            xd_log(XD_LOG_WARN, "grace period over: cancelling jobs", "active_jobs=%zu", active);
            xd_srv_jobs_cancel_all(s, XAI_ERR_SHUTDOWN);
            cancelled_at = now;
        }
        if (cancelled_at != 0 && now - cancelled_at > 10.0) break; /* a worker stuck in a method */
    }
    flush_outbox(s, sock);
    return XAI_OK;
}
