/* jobs.c — the job table, the queue and the worker pool.
 *
 * A job is created by the front thread when an `explain` is accepted, waits
 * in a FIFO queue bounded by max_queue (beyond it: busy), and is run by one
 * worker thread from start to end: check what needs no model (a text's
 * tokens, a row's width: limits first), wait for the model to be ready (at
 * most ready_wait_ms, so a model known to be down fails its jobs at once),
 * check a class-name target against the model's classes, build the space
 * (job_input.c), make an evaluator over the remote model with the
 * shared cache, run the method through xai_explain(), and post one `result`
 * or one `error` event to the client. Jobs on native networks (model index
 * >= n_models) go to net_job.c instead, with the same check callback. States go queued -> running ->
 * done | failed | cancelled (or queued -> cancelled).
 *
 * Stopping a job: a job has an atomic `stop` flag and the code that set it
 * (cancelled, deadline_exceeded, shutting_down; the first one wins). The
 * evaluator's check callback, called between model calls, returns that code,
 * and a model call in flight returns as soon as the flag is set, so a job
 * stops within one evaluator step. The front thread sets the flag for
 * cancel requests, deadlines (xd_srv_jobs_tick) and shutdown.
 *
 * A job holds a reference to the config generation it was accepted in
 * (reload.c) until it ends, and reads its model, network, link and limits
 * from there, never from the server's current config, so a SIGHUP reload
 * cannot change them under it.
 *
 * Finished jobs stay in the table for `status` until RETAIN newer ones have
 * finished. All table state is under `mu`; a running job's fields that the
 * worker writes without the lock (stats, progress) are read by `status`
 * under the lock only as plain numbers, written under it too.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "server.h"
#include "xai/methods.h"
#include "xai/result.h"

#define RETAIN 1024
#define PROGRESS_INTERVAL 0.1

typedef struct job {
    uint64_t id;
    int64_t req;
    xd_srv_peer peer;
    size_t model;               /* index in gen->cfg */
    xd_srv_gen *gen;            /* the config it was accepted in; released when it ends */
    char model_name[72];
    xai_value *request;         /* the explain message; freed when the job ends */
    char method[64];
    xd_job_state state;
    xai_status final_code;
    double progress, created, started, ended, deadline, last_progress;
    atomic_bool stop;
    atomic_int stop_code;
    struct job *next;           /* queue link */
} job;

struct xd_srv_jobs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job **all;
    size_t n, cap, finished;
    job *head, *tail;
    size_t queued, running;
    uint64_t next_id;
    pthread_t *threads;
    int n_threads;
    bool quit;
    uint64_t accepted, done, failed, cancelled, busy;
};

const char *xd_srv_job_state_name(xd_job_state s) {
    static const char *const names[] = {"queued", "running", "done", "failed", "cancelled"};
    return (unsigned)s < XD_ARRAY_LEN(names) ? names[s] : "unknown";
}

/* Asks a job to stop with `code` (the first request wins). */
static void job_abort(job *j, xai_status code) {
    int expected = XAI_OK;
    atomic_compare_exchange_strong(&j->stop_code, &expected, (int)code);
    atomic_store(&j->stop, true);
}

static const char *stop_message(xai_status code) {
    switch (code) {
    case XAI_ERR_DEADLINE: return "the job ran past its deadline";
    case XAI_ERR_SHUTDOWN: return "the daemon is shutting down";
    default: return "the job was cancelled";
    }
}

/* ---- events ------------------------------------------------------------- */

static xai_value *event(const char *name, const job *j) {
    xai_value *m = xai_value_map();
    if (m == NULL || xai_value_set_int(m, "v", XAI_PROTOCOL_VERSION) ||
        xai_value_set_str(m, "event", name) || xai_value_set_int(m, "job", (int64_t)j->id) ||
        xai_value_set_int(m, "req", j->req)) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

static void post_error(xd_srv *s, const job *j, xai_status code, const char *msg) {
    xd_srv_post(s, &j->peer, xd_srv_error_event(j->id, j->req, code, msg));
}

static void post_progress(xd_srv *s, const job *j, double fraction, const xai_eval_stats *st) {
    xai_value *m = event("progress", j);
    if (m == NULL) return;
    if (xai_value_set_float(m, "progress", fraction) ||
        xai_value_set(m, "stats", xd_eval_stats_value(st))) {
        xai_value_free(m);
        return;
    }
    xd_srv_post(s, &j->peer, m);
}

/* ---- running a job ------------------------------------------------------ */

typedef struct run_ctx {
    xd_srv *s;
    job *j;
} run_ctx;

/* Between evaluator calls: stop, deadline, progress at most every 100 ms. */
static xai_status check(void *ctx, const xai_eval_stats *st, double progress, xai_error *err) {
    run_ctx *rc = ctx;
    job *j = rc->j;
    double now = xd_now();
    if (!atomic_load(&j->stop) && now > j->deadline) job_abort(j, XAI_ERR_DEADLINE);
    if (atomic_load(&j->stop)) {
        xai_status code = (xai_status)atomic_load(&j->stop_code);
        return xd_err(err, code, "%s", stop_message(code));
    }
    if (now - j->last_progress >= PROGRESS_INTERVAL) {
        j->last_progress = now;
        pthread_mutex_lock(&rc->s->jobs->mu);
        j->progress = progress;
        pthread_mutex_unlock(&rc->s->jobs->mu);
        post_progress(rc->s, j, progress, st);
    }
    return XAI_OK;
}

/* A job on a native network (net_job.c): no model to wait for. */
static xai_status explain_net(xd_srv *s, job *j, const xd_srv_net_cfg *nc, xai_result **res,
                              xai_error *err) {
    const xai_value *rq = j->request, *params = xai_value_get(rq, "params");
    const xai_value *space = xai_value_get(rq, "space");
    run_ctx rc = {s, j};
    xd_srv_net_run run = {
        .method = j->method,
        .input = xai_value_get(rq, "input"),
        .params = xai_value_type(params) == XAI_V_MAP ? params : NULL,
        .space = xai_value_type(space) == XAI_V_MAP ? space : NULL,
        .cache = s->cache,
        .check = check,
        .check_ctx = &rc,
    };
    return xd_srv_net_explain(nc, &run, res, err);
}

/* The first class name in `target` (a name, or a list holding names) that
 * is not one of the model's classes, or NULL; "all" names every class. */
static const char *unknown_class(const xd_srv_model_info *info, const xai_value *target) {
    bool list = xai_value_type(target) == XAI_V_ARRAY;
    size_t n = list ? xai_value_len(target) : 1;
    for (size_t k = 0; k < n; k++) {
        const xai_value *e = list ? xai_value_at(target, k) : target;
        const char *t = xai_value_get_str(e, NULL);
        if (t == NULL || (!list && strcmp(t, "all") == 0)) continue;
        bool found = false;
        for (size_t i = 0; i < info->n_outputs && !found; i++)
            found = strcmp(info->class_names[i], t) == 0;
        if (!found) return t;
    }
    return NULL;
}

/* A target given as a class name (alone or in a list) must be one of the
 * model's classes: checked here, where the names are known, so the error
 * lists them. */
static xai_status check_target(const xd_srv_model_info *info, const xai_value *params,
                               xd_srv_choices *ch, xai_error *err) {
    if (info->class_names == NULL) return XAI_OK;
    const char *t = unknown_class(info, xai_value_get(params, "target"));
    if (t == NULL) return XAI_OK;
    /* Copies: the names and the request die before the error event is made. */
    for (size_t i = 0; i < info->n_outputs; i++) xd_srv_choices_copy(ch, info->class_names[i]);
    size_t n = ch->n;
    ch->word = xd_srv_choices_copy(ch, t);
    ch->n = n;      /* the word's copy is no choice */
    char what[160];
    snprintf(what, sizeof what, "target \"%.64s\" is not a class of the model", t);
    xd_srv_choices_message(err->message, sizeof err->message, what, ch);
    err->code = XAI_ERR_INVALID;
    return XAI_ERR_INVALID;
}

/* Check the limits, wait for the model (at most ready_wait_ms), build the
 * space and evaluator, run the method. */
static xai_status explain(xd_srv *s, job *j, xd_srv_choices *ch, xai_result **res,
                          xai_error *err) {
    const xd_srv_config *cfg = j->gen->cfg;
    const xd_srv_net_cfg *nc = xd_srv_cfg_net_at(cfg, j->model);
    if (nc) return explain_net(s, j, nc, res, err);
    const xd_srv_model_cfg *mc = &cfg->models[j->model];
    xd_srv_link *link = j->gen->links[j->model];
    xd_srv_remote remote = {.link = link, .stop = &j->stop};
    xd_srv_input in = {0};
    xai_eval *ev = NULL;
    xai_model model;
    const xai_value *rq = j->request, *params = xai_value_get(rq, "params");
    const xai_value *input = xai_value_get(rq, "input"), *space = xai_value_get(rq, "space");
    const char *method = xai_value_get_str(xai_value_get(rq, "method"), NULL);
    if (xai_value_type(params) == XAI_V_NIL) params = NULL;
    xai_status st = xd_srv_input_early(&in, cfg, mc, j->gen->tok, input, space, method, err);
    double ready_by = fmin(j->deadline, xd_now() + (double)cfg->ready_wait_ms / 1000.0);
    if (st == XAI_OK) st = xd_srv_link_wait_ready(link, ready_by, &j->stop, err);
    remote.ready_by = mc->timeout_ms * (mc->retries + 1) / 1000.0;
    if (st == XAI_OK) st = xd_srv_link_info(link, &remote.info, err);
    if (st == XAI_OK) st = check_target(&remote.info, params, ch, err);
    if (st == XAI_OK && in.space == NULL)
        st = xd_srv_input_build(&in, cfg, mc, &remote.info, j->gen->tok, input, space, method, err);
    if (st != XAI_OK) goto cleanup;
    xd_srv_remote_model(&remote, mc, xd_srv_model_cache_id(mc), &model);
    xai_eval_opts eo = {mc->max_rows, mc->max_bytes, s->cache, 0, false};
    if ((st = xai_eval_new(&model, in.space, &eo, &ev, err)) != XAI_OK) goto cleanup;
    run_ctx rc = {s, j};
    xai_eval_set_check(ev, check, &rc);
    st = xai_explain(ev, j->method, params, res, err);
    const xai_eval_stats *es = xai_eval_get_stats(ev);
    xd_srv_link_count_cache(link, es->cache_hits, es->rows_sent);
    if (st == XAI_OK && (*res)->model == NULL) (*res)->model = xd_strdup(mc->name);
cleanup:
    xai_eval_free(ev);
    xd_srv_input_free(&in);
    xd_srv_model_info_clear(&remote.info);
    return st;
}

/* Runs j; returns the final status and sets *final to the one final event
 * (posted by the caller once the job is marked ended, so a `status` asked
 * after the event never sees the job running). */
static xai_status run_job(xd_srv *s, job *j, xai_value **final) {
    xai_result *res = NULL;
    xai_error err = {0};
    xd_srv_choices ch = {0};
    xai_status st = atomic_load(&j->stop) ? (xai_status)atomic_load(&j->stop_code)
                                          : explain(s, j, &ch, &res, &err);
    if (atomic_load(&j->stop) && st != XAI_OK) { /* report why it was stopped */
        st = (xai_status)atomic_load(&j->stop_code);
        xd_err(&err, st, "%s", stop_message(st));
    }
    *final = NULL;
    if (st == XAI_OK) {
        xai_value *ev = event("result", j), *rv = xai_result_to_value(res);
        if (ev && rv && xai_value_set(ev, "result", rv) == XAI_OK) {
            *final = ev;
        } else {
            if (ev && rv == NULL) xai_value_free(ev);
            st = xd_err(&err, XAI_ERR_NOMEM, "no memory to encode the result");
        }
    }
    if (st != XAI_OK)
        *final = xd_srv_error_event_choices(j->id, j->req, st, err.message, ch.word ? &ch : NULL);
    xai_result_free(res);
    xd_log(st == XAI_OK ? XD_LOG_INFO : XD_LOG_WARN, "job ended",
           "job=%llu model=%s method=%s status=%s seconds=%.3f%s%s%s", (unsigned long long)j->id,
           j->model_name, j->method, xai_errcode(st), xd_now() - j->started,
           st ? " error=\"" : "", st ? err.message : "", st ? "\"" : "");
    return st;
}

/* ---- the table ---------------------------------------------------------- */

static job *find(xd_srv_jobs *t, uint64_t id) {
    for (size_t i = 0; i < t->n; i++)
        if (t->all[i]->id == id) return t->all[i];
    return NULL;
}

/* Locks the table and finds job `id`; unlocks and returns NULL if none. */
static job *find_locked(xd_srv_jobs *t, uint64_t id) {
    pthread_mutex_lock(&t->mu);
    job *j = find(t, id);
    if (j == NULL) pthread_mutex_unlock(&t->mu);
    return j;
}

/* Drops the oldest finished jobs beyond RETAIN. Under mu. */
static void evict(xd_srv_jobs *t) {
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        job *j = t->all[i];
        if (t->finished > RETAIN && j->state > XD_JOB_RUNNING) {
            t->finished--;
            xd_free(j);
            continue;
        }
        t->all[w++] = j;
    }
    t->n = w;
}

/* Marks a job ended. Under mu. */
static void finish(xd_srv_jobs *t, job *j, xai_status st) {
    j->final_code = st;
    j->state = st == XAI_OK ? XD_JOB_DONE
               : (st == XAI_ERR_CANCELLED || st == XAI_ERR_SHUTDOWN) ? XD_JOB_CANCELLED
                                                                     : XD_JOB_FAILED;
    j->ended = xd_now();
    if (j->state == XD_JOB_DONE) t->done++, j->progress = 1.0;
    else if (j->state == XD_JOB_CANCELLED) t->cancelled++;
    else t->failed++;
    xai_value_free(j->request);
    j->request = NULL;
    xd_srv_gen_release(j->gen);
    j->gen = NULL;
    t->finished++;
}

static void *worker_main(void *arg) {
    xd_srv *s = arg;
    xd_srv_jobs *t = s->jobs;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->quit && t->head == NULL) pthread_cond_wait(&t->cv, &t->mu);
        if (t->head == NULL) break;
        job *j = t->head;
        t->head = j->next;
        if (t->head == NULL) t->tail = NULL;
        t->queued--;
        t->running++;
        j->state = XD_JOB_RUNNING;
        j->started = xd_now();
        pthread_mutex_unlock(&t->mu);
        xai_value *final = NULL;
        xai_status st = run_job(s, j, &final);
        xd_srv_peer peer = j->peer;
        pthread_mutex_lock(&t->mu);
        t->running--;
        finish(t, j, st);
        pthread_mutex_unlock(&t->mu);
        xd_srv_post(s, &peer, final);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

xai_status xd_srv_jobs_start(xd_srv *s, xai_error *err) {
    xd_srv_jobs *t = xd_calloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->next_id = 1;
    s->jobs = t;
    t->threads = xd_calloc((size_t)s->cfg->workers, sizeof *t->threads);
    for (int i = 0; i < s->cfg->workers; i++) {
        if (pthread_create(&t->threads[i], NULL, worker_main, s) != 0)
            return xd_err(err, XAI_ERR_IO, "cannot start worker %d", i);
        t->n_threads++;
    }
    return XAI_OK;
}

xai_status xd_srv_jobs_submit(xd_srv *s, const xd_srv_peer *peer, int64_t req, size_t model,
                              xai_value *request, uint64_t *id, xai_error *err) {
    xd_srv_jobs *t = s->jobs;
    const char *method = xai_value_get_str(xai_value_get(request, "method"), NULL);
    int64_t dl = 0;
    xai_opt_int(request, "deadline_ms", s->cfg->job_deadline_ms, 1, INT32_MAX, &dl, NULL);
    pthread_mutex_lock(&t->mu);
    if (t->queued >= s->cfg->max_queue) {
        t->busy++;
        pthread_mutex_unlock(&t->mu);
        xai_value_free(request);
        return xd_err(err, XAI_ERR_BUSY, "the job queue is full (%zu jobs waiting)", s->cfg->max_queue);
    }
    if (t->finished > RETAIN) evict(t);
    job *j = xd_calloc(1, sizeof *j);
    j->id = *id = t->next_id++;
    j->req = req;
    j->peer = *peer;
    j->model = model;
    j->gen = xd_srv_gen_retain(s->gen);
    snprintf(j->model_name, sizeof j->model_name, "%s", xd_srv_model_name(s, model));
    j->request = request;
    snprintf(j->method, sizeof j->method, "%s", method ? method : "");
    j->created = j->last_progress = xd_now();
    j->deadline = j->created + (double)dl / 1000.0;
    atomic_init(&j->stop, false);
    atomic_init(&j->stop_code, XAI_OK);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->all = xd_realloc(t->all, t->cap * sizeof *t->all);
    }
    t->all[t->n++] = j;
    if (t->tail) t->tail->next = j;
    else t->head = j;
    t->tail = j;
    t->queued++;
    t->accepted++;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return XAI_OK;
}

/* Takes a queued job out of the queue and ends it with `code`. Under mu. */
static void drop_queued(xd_srv *s, job *j, xai_status code) {
    xd_srv_jobs *t = s->jobs;
    job **p = &t->head;
    while (*p && *p != j) p = &(*p)->next;
    if (*p == NULL) return;
    *p = j->next;
    if (t->tail == j) {
        t->tail = NULL;
        for (job *q = t->head; q; q = q->next) t->tail = q;
    }
    t->queued--;
    post_error(s, j, code, stop_message(code));
    finish(t, j, code);
}

xai_status xd_srv_jobs_cancel(xd_srv *s, uint64_t id, xd_job_state *was) {
    xd_srv_jobs *t = s->jobs;
    job *j = find_locked(t, id);
    if (j == NULL) return XAI_ERR_NOT_FOUND;
    *was = j->state;
    if (j->state == XD_JOB_QUEUED) drop_queued(s, j, XAI_ERR_CANCELLED);
    else if (j->state == XD_JOB_RUNNING) job_abort(j, XAI_ERR_CANCELLED);
    pthread_mutex_unlock(&t->mu);
    return XAI_OK;
}

void xd_srv_jobs_cancel_all(xd_srv *s, xai_status code) {
    xd_srv_jobs *t = s->jobs;
    pthread_mutex_lock(&t->mu);
    while (t->head) drop_queued(s, t->head, code);
    for (size_t i = 0; i < t->n; i++)
        if (t->all[i]->state == XD_JOB_RUNNING) job_abort(t->all[i], code);
    pthread_mutex_unlock(&t->mu);
}

void xd_srv_jobs_tick(xd_srv *s) {
    xd_srv_jobs *t = s->jobs;
    double now = xd_now();
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n; i++) {
        job *j = t->all[i];
        if (now <= j->deadline) continue;
        if (j->state == XD_JOB_RUNNING) job_abort(j, XAI_ERR_DEADLINE);
        else if (j->state == XD_JOB_QUEUED) drop_queued(s, j, XAI_ERR_DEADLINE);
    }
    pthread_mutex_unlock(&t->mu);
}

xai_status xd_srv_jobs_status(xd_srv *s, uint64_t id, xai_value *m) {
    xd_srv_jobs *t = s->jobs;
    job *j = find_locked(t, id);
    if (j == NULL) return XAI_ERR_NOT_FOUND;
    double end = j->state > XD_JOB_RUNNING ? j->ended : xd_now();
    xai_value_set_str(m, "state", xd_srv_job_state_name(j->state));
    xai_value_set_float(m, "progress", j->progress);
    xai_value_set_str(m, "model", j->model_name);
    xai_value_set_str(m, "method", j->method);
    xai_value_set_float(m, "seconds", end - j->created);
    if (j->state > XD_JOB_DONE) xai_value_set_str(m, "code", xai_errcode(j->final_code));
    pthread_mutex_unlock(&t->mu);
    return XAI_OK;
}

void xd_srv_jobs_stats(xd_srv *s, xai_value *m) {
    xd_srv_jobs *t = s->jobs;
    static const char *const keys[] = {"accepted", "done", "failed", "cancelled",
                                       "rejected_busy", "queued", "running", "workers",
                                       "max_queue"};
    pthread_mutex_lock(&t->mu);
    int64_t vals[] = {(int64_t)t->accepted, (int64_t)t->done, (int64_t)t->failed,
                      (int64_t)t->cancelled, (int64_t)t->busy, (int64_t)t->queued,
                      (int64_t)t->running, t->n_threads, (int64_t)s->cfg->max_queue};
    pthread_mutex_unlock(&t->mu);
    xd_srv_set_ints(m, keys, vals, XD_ARRAY_LEN(keys));
}

size_t xd_srv_jobs_active(xd_srv *s) {
    pthread_mutex_lock(&s->jobs->mu);
    size_t n = s->jobs->queued + s->jobs->running;
    pthread_mutex_unlock(&s->jobs->mu);
    return n;
}

void xd_srv_jobs_stop(xd_srv *s) {
    xd_srv_jobs *t = s->jobs;
    if (t == NULL) return;
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < t->n_threads; i++) pthread_join(t->threads[i], NULL);
    for (size_t i = 0; i < t->n; i++) {
        xai_value_free(t->all[i]->request);
        xd_srv_gen_release(t->all[i]->gen);
        xd_free(t->all[i]);
    }
    xd_free(t->all);
    xd_free(t->threads);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    xd_free(t);
    s->jobs = NULL;
}
