/* client.h — libxaiclient: submit explanation jobs to xaid and collect them.
 *
 * A client holds one DEALER socket connected to the daemon's front endpoint.
 * Jobs are asynchronous: xai_client_submit() returns once the daemon has
 * accepted the job (with its id); xai_client_wait() then collects progress
 * events and the one final result or error. Several jobs may be in flight on
 * one client; events for jobs nobody is waiting on yet are queued inside the
 * client. A client is used by one thread at a time.
 *
 * Ownership: results are freed with xai_result_free(), values with
 * xai_value_free(). The client copies the request; nothing of it is kept.
 */
#ifndef XAI_CLIENT_H
#define XAI_CLIENT_H

#include <signal.h>
#include "xai.h"
#include "value.h"
#include "eval.h"
#include "result.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xai_client xai_client;

/* Connects to the daemon at `endpoint` ("ipc:///tmp/xaid.sock",
 * "tcp://127.0.0.1:5555"). ZeroMQ connects lazily: a daemon that is not up
 * yet shows as XAI_ERR_TIMEOUT on the first call, not here. */
xai_status xai_client_connect(const char *endpoint, xai_client **out, xai_error *err);
void xai_client_close(xai_client *c);
/* The message of the last failed call on this client ("" if none). */
const char *xai_client_errmsg(const xai_client *c);
/* The daemon's `error` event behind the last failure that came from the
 * daemon (a map: code, message, and for an unknown model, method,
 * parameter, space key or class `choices`, the valid names, and
 * `suggestion`, the closest; docs/PROTOCOL.md), or NULL if none has. Owned
 * by the client; valid until the next failure or xai_client_close. */
const xai_value *xai_client_error_detail(const xai_client *c);
/* Timeout for replies to submit/cancel/status/models/stats/ping, in ms
 * (default 5000). */
void xai_client_set_timeout(xai_client *c, int timeout_ms);

/* One explanation request. Exactly one of text or row is set. */
typedef struct xai_job_request {
    const char *model;          /* model name in the daemon's config */
    const char *method;         /* "occlusion", "lime", ... */
    const char *text;           /* text input (UTF-8) ... */
    size_t text_len;            /*   ... of this many bytes (0: strlen) */
    const double *row;          /* tabular input ... */
    size_t n_cols;              /*   ... of this many columns (text and row
                                   both NULL: no input, for method
                                   "activation_max" on a native network only) */
    const xai_value *params;    /* method options incl. seed, target (map or NULL) */
    const xai_value *space;     /* input options: pattern, mask_token, delete,
                                   bag_of_words (map or NULL); docs/PROTOCOL.md */
    int64_t deadline_ms;        /* 0: the daemon's default */
} xai_job_request;

/* Sends the job and waits for `accepted`. *job is the daemon's job id. */
xai_status xai_client_submit(xai_client *c, const xai_job_request *req, uint64_t *job,
                             xai_error *err);

/* Progress callback: fraction in [0, 1] and the evaluator counters so far. */
typedef void (*xai_progress_fn)(void *ctx, uint64_t job, double fraction,
                                const xai_eval_stats *stats);

/* Waits up to timeout_ms (< 0: forever) for the job to end. On XAI_OK *out
 * is its result; if the job failed, returns the job's status code with the
 * daemon's message; XAI_ERR_TIMEOUT if it has not ended yet (the job goes
 * on; wait again). */
xai_status xai_client_wait(xai_client *c, uint64_t job, int timeout_ms,
                           xai_progress_fn progress, void *ctx, xai_result **out,
                           xai_error *err);

/* submit + wait. */
xai_status xai_client_explain(xai_client *c, const xai_job_request *req, int timeout_ms,
                              xai_result **out, xai_error *err);

/* Waits up to timeout_ms (< 0: forever) for any job of this client to end.
 * *job is the job that ended. On XAI_OK *result is its result in the wire
 * form (a map, docs/PROTOCOL.md "result"; free with xai_value_free), so
 * single- and multi-target results pass through unchanged; if the job
 * failed, returns the job's status code with the daemon's message (and *job
 * is still set); XAI_ERR_TIMEOUT with *job = 0 when none ended in time. */
xai_status xai_client_wait_any(xai_client *c, int timeout_ms, uint64_t *job, xai_value **result,
                               xai_error *err);

/* ---- many jobs: a window kept full (client/many.c) ----------------------- */

/* Options of xai_client_explain_many; zero fields take the defaults. */
typedef struct xai_many_opts {
    size_t window;          /* jobs in flight; 0: sized from the daemon's `stats`
                               (workers + min(workers, max_queue)) */
    int max_retries;        /* model_unavailable retries per input (default 4; < 0: none) */
    int backoff_ms;         /* first back-off, doubled per retry up to 5 s (default 100) */
    int job_timeout_ms;     /* a job not ended this long after submit is cancelled and
                               reported as timeout (0: no limit) */
    const volatile sig_atomic_t *stop; /* when *stop becomes non-zero: cancel the jobs in flight
                               and return XAI_ERR_CANCELLED (NULL: never) */
} xai_many_opts;

/* Called once per input, in completion order: index i into the request
 * array; st XAI_OK with `result` (the wire map, owned by the caller of the
 * callback only for the call's duration) or the input's error. A non-zero
 * return stops the run like *stop does. */
typedef int (*xai_many_done_fn)(void *ctx, size_t i, xai_status st, const xai_value *result,
                                const xai_error *err);
/* Called after each completion: inputs done (ok or error), inputs in
 * total, errors so far. May be NULL. */
typedef void (*xai_many_progress_fn)(void *ctx, size_t done, size_t total, size_t errors);

/* Explains reqs[0..n) with a window of jobs in flight: `busy` backs off and
 * submits again (never an error), `model_unavailable` (at submit or as the
 * job's error) is retried with back-off max_retries times and then reported
 * as that input's error; any other failure of one input is that input's
 * error and the run goes on. Returns XAI_OK when every input was reported,
 * XAI_ERR_CANCELLED when stopped (jobs in flight cancelled in the daemon,
 * inputs not reported are not done), or a client failure (socket) that
 * stops the run. */
xai_status xai_client_explain_many(xai_client *c, const xai_job_request *reqs, size_t n,
                                   const xai_many_opts *opts, xai_many_done_fn done,
                                   xai_many_progress_fn progress, void *ctx, xai_error *err);

xai_status xai_client_cancel(xai_client *c, uint64_t job, xai_error *err);
/* The daemon's reply map for status / models / stats (docs/PROTOCOL.md). */
xai_status xai_client_status(xai_client *c, uint64_t job, xai_value **out, xai_error *err);
xai_status xai_client_models(xai_client *c, xai_value **out, xai_error *err);
xai_status xai_client_stats(xai_client *c, xai_value **out, xai_error *err);
/* Drops the daemon's cached outputs of `model` (a model server's name), or
 * of every model when model is NULL; *removed is how many entries went.
 * XAI_ERR_UNKNOWN_MODEL for a name the daemon does not serve. */
xai_status xai_client_cache_clear(xai_client *c, const char *model, uint64_t *removed,
                                  xai_error *err);
/* Round trip to the daemon; *seconds is the time it took. */
xai_status xai_client_ping(xai_client *c, double *seconds, xai_error *err);

/* Result accessors (the struct is also readable directly, see result.h).
 * A multi-target result (a `target` list or "all") has n_targets rows; the
 * accessors without a target index read row 0, so code written for one
 * target keeps working. Out-of-range indices give NaN, NULL or -1. */
size_t xai_result_n_features(const xai_result *r);
const char *xai_result_feature_name(const xai_result *r, size_t i);
double xai_result_value(const xai_result *r, size_t i);
/* NaN when the method reports no standard errors. */
double xai_result_stderr(const xai_result *r, size_t i);
double xai_result_base_value(const xai_result *r);
double xai_result_fx(const xai_result *r);
const xai_eval_stats *xai_result_stats(const xai_result *r);

/* Rows of the result: the number of explained targets (1 for a
 * single-target result, 0 for NULL). */
size_t xai_result_n_targets(const xai_result *r);
/* The output column of row t (the result's target for a single-target
 * result's row 0), or -1. */
int64_t xai_result_target_at(const xai_result *r, size_t t);
/* Its class name, or NULL when the model names none. */
const char *xai_result_target_name_at(const xai_result *r, size_t t);
/* The score of feature i for row t. */
double xai_result_value_at(const xai_result *r, size_t t, size_t i);
/* Its standard error; NaN when the method reports none. */
double xai_result_stderr_at(const xai_result *r, size_t t, size_t i);
/* f_t(x) and the base value of row t. */
double xai_result_fx_at(const xai_result *r, size_t t);
double xai_result_base_value_at(const xai_result *r, size_t t);

#ifdef __cplusplus
}
#endif
#endif
