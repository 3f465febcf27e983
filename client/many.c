/* many.c — libxaiclient's batch explainer: many requests through a window
 * of jobs kept in flight (xai_client_explain_many, include/xai/client.h).
 *
 * The window is the number of jobs submitted and not yet ended. It is sized
 * from the daemon's `stats` (workers + min(workers, max_queue)), so every
 * worker has a job and one more waits behind each, without going past the
 * daemon's queue. Inputs are submitted in index order; an input that has to
 * wait (the daemon said `busy`, or its model was unavailable) goes to a
 * retry list with a time before which it is not submitted again:
 *   busy               back-off doubling from backoff_ms to 1 s, no limit —
 *                      a full queue is the daemon pacing us, never a failure;
 *   model_unavailable  back-off doubling from backoff_ms to 5 s, at most
 *                      max_retries times, then that input's error.
 * Every other failure of one input is reported for that input and the run
 * goes on. Only the client's own transport failing stops the run.
 *
 * Each input is reported exactly once, in completion order; the caller
 * orders them if it wants (the audit writes results.jsonl in completion
 * order and sorts when it aggregates).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "xai/client.h"

#define DEFAULT_RETRIES 4
#define DEFAULT_BACKOFF_MS 100
#define MAX_BUSY_BACKOFF 1.0
#define MAX_RETRY_BACKOFF 5.0
#define POLL_MS 200

typedef struct flight {
    uint64_t job;
    size_t i;
    double submitted;
} flight;

typedef struct retry {
    size_t i;
    double not_before;
} retry;

typedef struct run {
    xai_client *c;
    const xai_job_request *reqs;
    size_t n, window, cursor, done, errors;
    xai_many_opts o;
    flight *fly;
    size_t n_fly;
    retry *wait;
    size_t n_wait;
    int *tries;                 /* model_unavailable retries used, per input */
    double busy_backoff;        /* current back-off after `busy` (0: none) */
    xai_many_done_fn done_fn;
    xai_many_progress_fn progress_fn;
    void *ctx;
    bool stop_asked;
} run;

/* workers + min(workers, max_queue) from `stats`; 4 when the daemon does
 * not say. */
static size_t window_from_stats(xai_client *c) {
    xai_value *r = NULL;
    xai_error e;
    size_t w = 4;
    if (xai_client_stats(c, &r, &e) == XAI_OK) {
        const xai_value *jobs = xai_value_get(xai_value_get(r, "stats"), "jobs");
        int64_t workers = xai_value_get_int(xai_value_get(jobs, "workers"));
        const xai_value *mq = xai_value_get(jobs, "max_queue");
        int64_t queue = mq ? xai_value_get_int(mq) : workers;
        if (workers > 0) w = (size_t)(workers + (queue < workers ? queue : workers));
    }
    xai_value_free(r);
    return w ? w : 1;
}

static void report(run *r, size_t i, xai_status st, const xai_value *res, const xai_error *e) {
    r->done++;
    if (st != XAI_OK) r->errors++;
    if (r->done_fn && r->done_fn(r->ctx, i, st, res, e) != 0) r->stop_asked = true;
    if (r->progress_fn) r->progress_fn(r->ctx, r->done, r->n, r->errors);
}

static void push_wait(run *r, size_t i, double not_before) {
    r->wait[r->n_wait++] = (retry){i, not_before};
}

/* Retries model_unavailable if tries remain; else reports the error. */
static void unavailable(run *r, size_t i, xai_status st, const xai_error *e) {
    if (r->o.max_retries >= 0 && r->tries[i] < r->o.max_retries) {
        double b = r->o.backoff_ms / 1e3 * (double)(1u << (r->tries[i] < 16 ? r->tries[i] : 16));
        r->tries[i]++;
        push_wait(r, i, xd_now() + (b < MAX_RETRY_BACKOFF ? b : MAX_RETRY_BACKOFF));
        return;
    }
    report(r, i, st, NULL, e);
}

/* The next input that may be submitted now: a due retry first, else the
 * next fresh one. false when none. */
static bool next_input(run *r, double now, size_t *i) {
    for (size_t k = 0; k < r->n_wait; k++)
        if (r->wait[k].not_before <= now) {
            *i = r->wait[k].i;
            r->wait[k] = r->wait[--r->n_wait];
            return true;
        }
    if (r->cursor >= r->n) return false;
    *i = r->cursor++;
    return true;
}

/* Submits until the window is full or nothing may go now. A transport
 * failure is returned; everything else is handled per input. */
static xai_status fill(run *r) {
    double now = xd_now();
    size_t i;
    while (r->n_fly < r->window && !r->stop_asked && next_input(r, now, &i)) {
        uint64_t job = 0;
        xai_error e;
        xai_status st = xai_client_submit(r->c, &r->reqs[i], &job, &e);
        if (st == XAI_OK) {
            r->fly[r->n_fly++] = (flight){job, i, now};
            r->busy_backoff = 0;
        } else if (st == XAI_ERR_BUSY || st == XAI_ERR_SHUTDOWN) {
            double b = r->busy_backoff ? 2 * r->busy_backoff : r->o.backoff_ms / 1e3;
            r->busy_backoff = b < MAX_BUSY_BACKOFF ? b : MAX_BUSY_BACKOFF;
            push_wait(r, i, now + r->busy_backoff);
            break;
        } else if (st == XAI_ERR_MODEL_UNAVAILABLE) {
            unavailable(r, i, st, &e);
        } else if (st == XAI_ERR_IO || st == XAI_ERR_TIMEOUT) {
            push_wait(r, i, now);   /* not submitted: stays to do */
            return st;
        } else {
            report(r, i, st, NULL, &e);
        }
    }
    return XAI_OK;
}

static bool take_flight(run *r, uint64_t job, flight *out) {
    for (size_t k = 0; k < r->n_fly; k++)
        if (r->fly[k].job == job) {
            *out = r->fly[k];
            r->fly[k] = r->fly[--r->n_fly];
            return true;
        }
    return false;
}

/* Cancels jobs past the per-job timeout and reports them. */
static void expire(run *r) {
    if (r->o.job_timeout_ms <= 0) return;
    double now = xd_now();
    for (size_t k = 0; k < r->n_fly;) {
        flight f = r->fly[k];
        if (now - f.submitted < r->o.job_timeout_ms / 1e3) {
            k++;
            continue;
        }
        r->fly[k] = r->fly[--r->n_fly];
        xai_error e;
        xai_client_cancel(r->c, f.job, &e);
        snprintf(e.message, sizeof e.message, "no result within %d ms; job cancelled",
                 r->o.job_timeout_ms);
        e.code = XAI_ERR_TIMEOUT;
        report(r, f.i, XAI_ERR_TIMEOUT, NULL, &e);
    }
}

/* Waits a slice for one job to end and handles it. */
static xai_status collect(run *r) {
    if (r->n_fly == 0) {          /* only retries waiting: sleep until one is due */
        usleep(20000);
        return XAI_OK;
    }
    uint64_t job = 0;
    xai_value *res = NULL;
    xai_error e;
    xai_status st = xai_client_wait_any(r->c, POLL_MS, &job, &res, &e);
    flight f;
    if (job == 0) {
        expire(r);
        return st == XAI_ERR_TIMEOUT ? XAI_OK : st;
    }
    if (take_flight(r, job, &f)) {
        if (st == XAI_ERR_MODEL_UNAVAILABLE) unavailable(r, f.i, st, &e);
        else report(r, f.i, st, res, &e);
    }
    xai_value_free(res);
    return XAI_OK;
}

static void cancel_all(run *r) {
    for (size_t k = 0; k < r->n_fly; k++) {
        xai_error e;
        xai_client_cancel(r->c, r->fly[k].job, &e);
    }
    r->n_fly = 0;
}

xai_status xai_client_explain_many(xai_client *c, const xai_job_request *reqs, size_t n,
                                   const xai_many_opts *opts, xai_many_done_fn done,
                                   xai_many_progress_fn progress, void *ctx, xai_error *err) {
    if (c == NULL || (reqs == NULL && n > 0))
        return xd_err(err, XAI_ERR_INVALID, "explain_many: NULL client or requests");
    run r = {.c = c, .reqs = reqs, .n = n, .done_fn = done, .progress_fn = progress, .ctx = ctx};
    if (opts) r.o = *opts;
    if (r.o.max_retries == 0) r.o.max_retries = DEFAULT_RETRIES;
    if (r.o.backoff_ms <= 0) r.o.backoff_ms = DEFAULT_BACKOFF_MS;
    r.window = r.o.window ? r.o.window : window_from_stats(c);
    r.fly = xd_calloc(r.window, sizeof *r.fly);
    r.wait = xd_calloc(n ? n : 1, sizeof *r.wait);
    r.tries = xd_calloc(n ? n : 1, sizeof *r.tries);
    xai_status st = XAI_OK;
    while (r.done < n && st == XAI_OK) {
        if (r.stop_asked || (r.o.stop && *r.o.stop)) {
            cancel_all(&r);
            st = xd_err(err, XAI_ERR_CANCELLED, "explain_many: stopped with %zu of %zu done",
                        r.done, n);
            break;
        }
        st = fill(&r);
        if (st == XAI_OK) st = collect(&r);
        if (st != XAI_OK) {
            xai_error e;
            xd_err(&e, st, "explain_many: %s", xai_client_errmsg(c));
            cancel_all(&r);
            if (err) *err = e;
        }
    }
    xd_free(r.fly);
    xd_free(r.wait);
    xd_free(r.tries);
    return st;
}
