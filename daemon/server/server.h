/* server.h — the private interfaces between the parts of xaid: config,
 * front (client ROUTER), jobs and workers, model links, per-job inputs.
 *
 * Threads and sockets. ZeroMQ sockets are not thread-safe, so each socket
 * lives in exactly one thread:
 *   - the front thread (main) owns the client ROUTER socket;
 *   - each model link has a thread that owns its DEALER socket;
 *   - workers own no socket.
 * Threads hand each other work through mutex-protected queues, and wake a
 * thread blocked in zmq_poll() through an eventfd it polls beside its socket
 * (xd_srv_wake). Workers post outgoing client events to the front's outbox;
 * they submit model calls to a link's queue and wait on the link's condition
 * variable.
 */
#ifndef XD_SERVER_H
#define XD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "xai/eval.h"
#include "xai/nn.h"
#include "xai/result.h"
#include "xai/text.h"
#include "xai/value.h"
#include "methods/result_wire.h"

/* ---- config (config.c) -------------------------------------------------- */

typedef struct xd_srv_model_cfg {
    char *name;
    char *endpoint;
    xai_input_kind kind;
    int timeout_ms;             /* per model call; default 5000 */
    int retries;                /* resends of a call that timed out; default 2 */
    size_t max_rows;            /* rows per call; default 1000 */
    size_t max_bytes;           /* request bytes per call; default 16 MiB */
    size_t max_answer_bytes;    /* ZMQ_MAXMSGSIZE of the link: no model message
                                   larger is read; default 256 MiB */
    char *background_path;      /* tabular: CSV of background rows, or NULL */
    /* Loaded at start from background_path (xd_srv_config_load_data). */
    double *background;         /* n_background x bg_cols */
    size_t n_background, bg_cols;
    char **bg_names;            /* bg_cols names from a CSV header, or NULL */
} xd_srv_model_cfg;

typedef struct xd_srv_net_cfg {
    char *name;
    char *path;
    xai_nn *net;                /* loaded by the `net` line; read-only after */
} xd_srv_net_cfg;

typedef struct xd_srv_config {
    char *bind;
    int workers;
    size_t cache_bytes;
    int64_t job_deadline_ms;
    size_t max_message_bytes;
    size_t max_queue;
    size_t max_tokens, max_features, max_samples, max_background;
    size_t max_mask_token_bytes;    /* space.mask_token length; default 64 */
    size_t max_job_bytes;           /* a job's memory budget; default 256 MiB */
    int64_t max_deadline_ms;        /* upper bound of deadline_ms; default 1 h */
    int64_t shutdown_grace_ms;
    int64_t ready_wait_ms;      /* how long a job waits for a model that is not ready */
    xd_log_level log_level;
    xd_srv_model_cfg *models;
    size_t n_models;
    xd_srv_net_cfg *nets;
    size_t n_nets;
} xd_srv_config;

/* Defaults for every field, no models. */
void xd_srv_config_init(xd_srv_config *c);
void xd_srv_config_free(xd_srv_config *c);
/* Reads `path` in the format of docs/CONFIG.md; errors name the line. */
xai_status xd_srv_config_file(xd_srv_config *c, const char *path, xai_error *err);
/* One `key = value` setting as in the file (also for flags). */
xai_status xd_srv_config_set(xd_srv_config *c, const char *key, const char *value,
                             xai_error *err);
/* Adds or replaces a model from "name=kind@endpoint" (the --model flag). */
xai_status xd_srv_config_model_flag(xd_srv_config *c, const char *spec, xai_error *err);
/* Checks the whole config and loads background CSVs. */
xai_status xd_srv_config_finish(xd_srv_config *c, xai_error *err);
/* Parses a CSV of numbers with an optional header line (exposed for tests
 * and for job_input's error messages). */
xai_status xd_srv_csv_load(const char *path, size_t max_rows, double **out, size_t *rows,
                           size_t *cols, char ***names, xai_error *err);

/* ---- wakeups and the outbox (front.c) ---------------------------------- */

/* An eventfd; xd_srv_wake may be called from any thread or signal handler. */
int xd_srv_wake_new(void);
void xd_srv_wake(int fd);
void xd_srv_wake_drain(int fd);

/* ---- unknown names (choices.c) ----------------------------------------- */

/* An error about an unknown name: the name and the valid choices, which
 * the error event carries as `choices` and `suggestion` (choices.c). The
 * pointers must outlive the event's construction. */
#define XD_SRV_MAX_CHOICES 256
typedef struct xd_srv_choices {
    const char *word;
    const char *list[XD_SRV_MAX_CHOICES];
    size_t n;
    char copies[4096];          /* names added by xd_srv_choices_copy */
    size_t used;
} xd_srv_choices;
void xd_srv_choices_add(xd_srv_choices *c, const char *name);
/* Adds a copy of name (for names that do not outlive the event's making);
 * returns the copy, or NULL when the buffer is full. */
const char *xd_srv_choices_copy(xd_srv_choices *c, const char *name);
/* The closest choice to c->word, or NULL. */
const char *xd_srv_choices_suggest(const xd_srv_choices *c);
/* "<what>; did you mean "x"? (choices: a, b, c)" into buf. */
void xd_srv_choices_message(char *buf, size_t len, const char *what, const xd_srv_choices *c);
/* xd_srv_error_event plus `choices` and `suggestion` (c may be NULL). */
xai_value *xd_srv_error_event_choices(uint64_t job, int64_t req, xai_status code,
                                      const char *message, const xd_srv_choices *c);

/* Checks that map m (or NULL) has only keys in the NULL-terminated
 * `allowed`: else XAI_ERR_INVALID naming the key, the closest and the
 * choices, and *ch (when not NULL) filled for the error event. */
xai_status xd_srv_check_keys(const xai_value *m, const char *const *allowed, const char *what,
                             xd_srv_choices *ch, xai_error *err);

/* ---- model links (link.c) ---------------------------------------------- */

typedef struct xd_srv_link xd_srv_link;

/* What `info` told us; copied out to jobs (xd_srv_link_info). */
typedef struct xd_srv_model_info {
    size_t n_outputs;
    char **class_names;         /* n_outputs names, or NULL */
    size_t n_features;          /* 0 = not stated */
    char **feature_names;       /* n_features names, or NULL */
    double *background;         /* tabular: n_background x n_features rows from info, or NULL */
    size_t n_background;
    char *version;              /* the `version` the model sent, or NULL */
    uint64_t identity;          /* keyed digest of the whole answer: kind,
                                   outputs, names, version (seeds cache keys) */
    uint64_t epoch;             /* the link's connection count when copied */
} xd_srv_model_info;
void xd_srv_model_info_clear(xd_srv_model_info *mi);

typedef struct xd_srv_link_stats {
    uint64_t calls, rows, timeouts, retries, errors, unavailable, info_sent, ready_changes;
    uint64_t identity_changes;  /* info answers with another identity than the last */
    uint64_t cache_hits, cache_misses; /* of the jobs on this model (xd_srv_link_count_cache) */
    double seconds;
} xd_srv_link_stats;

/* Starts the link thread: connects a DEALER to cfg->endpoint, asks `info`.
 * The link keeps its own copy of what it needs of cfg (name, endpoint,
 * kind, timeout_ms, retries), so it may outlive the config (a reload keeps
 * the link of an unchanged model). It starts with one reference. */
xai_status xd_srv_link_start(const xd_srv_model_cfg *cfg, xd_srv_link **out, xai_error *err);
/* Stops and frees the link at once (whatever the references). */
void xd_srv_link_stop(xd_srv_link *l);
/* References: the last release stops and frees the link. */
xd_srv_link *xd_srv_link_retain(xd_srv_link *l);
void xd_srv_link_release(xd_srv_link *l);
/* Whether cfg would give the same link (endpoint, kind, timeout, retries). */
bool xd_srv_link_same(const xd_srv_link *l, const xd_srv_model_cfg *cfg);
bool xd_srv_link_ready(xd_srv_link *l);
/* Copies the current info; XAI_ERR_MODEL_UNAVAILABLE if not ready. */
xai_status xd_srv_link_info(xd_srv_link *l, xd_srv_model_info *out, xai_error *err);
/* Waits until the model is ready, `stop` is set, or `until` (xd_now time). */
xai_status xd_srv_link_wait_ready(xd_srv_link *l, double until, atomic_bool *stop,
                                  xai_error *err);
void xd_srv_link_get_stats(xd_srv_link *l, xd_srv_link_stats *out);
/* The next request id (unique per link). */
uint64_t xd_srv_link_next_id(xd_srv_link *l);
/* Adds a finished job's cache lookups to the link's counters. */
void xd_srv_link_count_cache(xd_srv_link *l, uint64_t hits, uint64_t misses);
/* Whether the model is still what `info` (copied by xd_srv_link_info)
 * described: waits (until `until`) for a reconnected model's info answer;
 * XAI_ERR_MODEL_UNAVAILABLE when it changed identity or never answered.
 * Updates info->epoch when the model came back unchanged. */
xai_status xd_srv_link_same_model(xd_srv_link *l, xd_srv_model_info *info, double until,
                                  atomic_bool *stop, xai_error *err);

/* One call: the worker fills `req` (packed msgpack with `id`), the link
 * fills `reply` (decoded answer) or `status`/`err`. */
typedef struct xd_srv_call xd_srv_call;
/* Sends req (taking ownership of the bytes) and waits for the answer, the
 * timeout and retries, or `stop` (cancellation: returns XAI_ERR_CANCELLED).
 * On XAI_OK *reply is the decoded answer map (free with xai_value_free)
 * and *epoch the link's connection count when it came. */
xai_status xd_srv_link_call(xd_srv_link *l, uint64_t id, char *req, size_t len, size_t rows,
                            atomic_bool *stop, xai_value **reply, uint64_t *epoch,
                            xai_error *err);

/* ---- remote model (remote_model.c) ------------------------------------- */

typedef struct xd_srv_remote {
    xd_srv_link *link;
    const char *name;           /* the model's name, for messages */
    xd_srv_model_info info;     /* as the job started; info.epoch follows the link */
    atomic_bool *stop;          /* the job's cancellation flag */
    double ready_by;            /* how long a reconnected model may take to answer info */
} xd_srv_remote;

/* The cache_id of a model server's entries (from its name; its identity
 * seeds the keys). */
uint64_t xd_srv_model_cache_id(const xd_srv_model_cfg *cfg);
/* Fills *m so that predict goes through the link. r must outlive m. */
void xd_srv_remote_model(xd_srv_remote *r, const xd_srv_model_cfg *cfg, uint64_t cache_id,
                         xai_model *m);

/* ---- job inputs (job_input.c) ------------------------------------------ */

typedef struct xd_srv_input {
    xai_tokenizer *own_tok;     /* a per-job tokenizer (custom pattern), or NULL */
    xai_tokens *toks;
    xai_space *space;
} xd_srv_input;

/* Builds the space of a job from its `input` and `space` maps; `method`
 * chooses defaults (text LIME uses bag-of-words features unless told). */
xai_status xd_srv_input_build(xd_srv_input *in, const xd_srv_config *cfg,
                              const xd_srv_model_cfg *mc, const xd_srv_model_info *info,
                              const xai_tokenizer *shared_tok, const xai_value *input,
                              const xai_value *space, const char *method, xai_error *err);
/* Before waiting for the model: what can be checked without it. A text
 * input is built whole (in->space set; build need not run again), a
 * tabular row has its width checked against max_features. */
xai_status xd_srv_input_early(xd_srv_input *in, const xd_srv_config *cfg,
                              const xd_srv_model_cfg *mc, const xai_tokenizer *shared_tok,
                              const xai_value *input, const xai_value *space, const char *method,
                              xai_error *err);
void xd_srv_input_free(xd_srv_input *in);
/* Numeric params whose name contains "samples", and max_evals, are at most
 * max_samples. */
xai_status xd_srv_check_samples(const xd_srv_config *cfg, const xai_value *params,
                                xai_error *err);
/* Checks `explain` fields a job needs before it is accepted: the input has
 * the model's kind, params and space are maps, sample counts within limits. */
xai_status xd_srv_input_precheck(const xd_srv_config *cfg, const xd_srv_model_cfg *mc,
                                 const xai_tokenizer *shared_tok,
                                 const xai_value *input, const xai_value *params,
                                 const xai_value *space, xd_srv_choices *ch, xai_error *err);

/* ---- native networks (net_job.c) --------------------------------------- */

/* Whether `name` is a native method (xai_nn_method_names(), or an lrp_*
 * shorthand for lrp with a composite: lrp_epsilon, lrp_epsilon_plus, ...). */
bool xd_srv_net_method(const char *name);
/* The parameter names of a native method (an lrp_* shorthand is lrp), as
 * xai_nn_check_params; for the front, before a job is accepted. */
xai_status xd_srv_net_check_params(const char *method, const xai_value *params, xai_error *err);
/* Front-thread checks of an explain on a network: `input` holds "tensor"
 * (or "row") with exactly c*h*w numbers (else invalid_argument), or "text"
 * for a text network, known `space` keys, the size within max_features;
 * activation_max needs no input. */
xai_status xd_srv_net_precheck(const xd_srv_config *cfg, const xd_srv_net_cfg *nc,
                               const char *method, const xai_value *input,
                               const xai_value *space, xd_srv_choices *ch, xai_error *err);
/* The `models` reply entry of a network. */
xai_value *xd_srv_net_entry(const xd_srv_net_cfg *nc);

/* What a worker hands xd_srv_net_explain. */
typedef struct xd_srv_net_run {
    const char *method;
    const xai_value *input, *params, *space;   /* params/space may be NULL */
    xai_cache *cache;                          /* shared cache or NULL */
    xai_eval_check_fn check;                   /* the job's stop/deadline check */
    void *check_ctx;
} xd_srv_net_run;
/* Runs a native or sampling method on the network (in the worker). */
xai_status xd_srv_net_explain(const xd_srv_net_cfg *nc, const xd_srv_net_run *run,
                              xai_result **out, xai_error *err);

/* ---- jobs and workers (jobs.c) ----------------------------------------- */

typedef enum { XD_JOB_QUEUED, XD_JOB_RUNNING, XD_JOB_DONE, XD_JOB_FAILED,
               XD_JOB_CANCELLED } xd_job_state;
const char *xd_srv_job_state_name(xd_job_state s);

typedef struct xd_srv xd_srv;

/* Who asked: the ROUTER identity and whether the client used a delimiter. */
typedef struct xd_srv_peer {
    uint8_t id[256];
    size_t id_len;
    bool delim;
} xd_srv_peer;

/* Queues an outgoing message to a peer (from any thread). Takes `msg`. */
void xd_srv_post(xd_srv *s, const xd_srv_peer *to, xai_value *msg);
/* Builds {"v":1, "event":"error", ...} (job 0 / req -1 are left out). */
xai_value *xd_srv_error_event(uint64_t job, int64_t req, xai_status code, const char *message);

/* Starts the worker pool. */
xai_status xd_srv_jobs_start(xd_srv *s, xai_error *err);
/* Creates and queues a job; takes `request` (the decoded explain message).
 * XAI_ERR_BUSY when the queue is full. */
xai_status xd_srv_jobs_submit(xd_srv *s, const xd_srv_peer *peer, int64_t req, size_t model,
                              xai_value *request, uint64_t *job, xai_error *err);
/* Cancels a job: XAI_ERR_NOT_FOUND, or XAI_OK with *was (its state). */
xai_status xd_srv_jobs_cancel(xd_srv *s, uint64_t job, xd_job_state *was);
/* The status reply fields of a job into map `m`. */
xai_status xd_srv_jobs_status(xd_srv *s, uint64_t job, xai_value *m);
/* Job counters into map `m`. */
void xd_srv_jobs_stats(xd_srv *s, xai_value *m);
/* Ends jobs past their deadline (called by the front every loop). */
void xd_srv_jobs_tick(xd_srv *s);
/* Number of queued + running jobs. */
size_t xd_srv_jobs_active(xd_srv *s);
/* Cancels every job (for shutdown) with code `code`. */
void xd_srv_jobs_cancel_all(xd_srv *s, xai_status code);
/* Stops and joins the workers (after the jobs have ended). */
void xd_srv_jobs_stop(xd_srv *s);

/* Sets m[keys[i]] = vals[i] for i < n (for counters in replies). */
void xd_srv_set_ints(xai_value *m, const char *const *keys, const int64_t *vals, size_t n);

/* ---- config generations (server.c) ------------------------------------- */

/* A config and one link per model. The server's current generation is
 * s->gen (s->cfg and s->links are its fields, for the front thread, which
 * alone swaps them on SIGHUP); each job holds the generation it was
 * accepted in until it ends, so a reload never changes what a running job
 * sees, and a link (or network) lives while any generation uses it. */
typedef struct xd_srv_gen {
    xd_srv_config *cfg;         /* owned */
    xd_srv_link **links;        /* one reference each */
    xai_tokenizer *tok;         /* the default tokenizer under cfg->max_tokens */
    atomic_int refs;
} xd_srv_gen;
/* A generation of cfg (taken; freed here on failure): a link per model,
 * reusing the link of `old` (may be NULL) for a model whose name, endpoint,
 * kind, timeout and retries are the same. */
xai_status xd_srv_gen_new(xd_srv_config *cfg, const xd_srv_gen *old, xd_srv_gen **out,
                          xai_error *err);
xd_srv_gen *xd_srv_gen_retain(xd_srv_gen *g);
void xd_srv_gen_release(xd_srv_gen *g);
/* The network behind index i of cfg, or NULL; the name at index i. */
const xd_srv_net_cfg *xd_srv_cfg_net_at(const xd_srv_config *c, size_t i);
const char *xd_srv_cfg_model_name(const xd_srv_config *c, size_t i);

/* Reads the config again (main.c: the file and the flags), into a new
 * config that the caller then owns; an error leaves *out NULL. */
typedef xai_status (*xd_srv_loader)(void *ctx, xd_srv_config **out, xai_error *err);

/* ---- the server (front.c) ---------------------------------------------- */

typedef struct xd_srv_jobs xd_srv_jobs;
typedef struct xd_srv_outbox xd_srv_outbox;

struct xd_srv {
    xd_srv_gen *gen;            /* the current generation (front thread) */
    xd_srv_config *cfg;         /* gen->cfg */
    void *zctx, *sock;          /* the front's context and ROUTER socket */
    xd_srv_link **links;        /* gen->links: one per cfg->models[i] */
    xai_cache *cache;
    xd_srv_jobs *jobs;
    xd_srv_outbox *out;
    int wake_fd;                /* wakes the front thread */
    atomic_bool stopping;       /* SIGTERM/SIGINT seen: accept no new jobs */
    double started;
    char *ipc_file;             /* the front's ipc:// socket file, removed at exit */
    atomic_bool reload;         /* SIGHUP seen: read the config again */
    xd_srv_loader loader;
    void *loader_ctx;
    uint64_t reloads, reload_failures;
};

/* The outbox (front.c). */
xd_srv_outbox *xd_srv_outbox_new(void);
void xd_srv_outbox_free(xd_srv_outbox *o);

/* Creates everything (links, cache, tokenizer, workers) and binds. Takes
 * cfg (a heap config; freed with the server, or here on failure). */
xai_status xd_srv_new(xd_srv_config *cfg, xd_srv **out, xai_error *err);
/* How SIGHUP reads the config again (without one, SIGHUP is logged and
 * ignored). */
void xd_srv_set_loader(xd_srv *s, xd_srv_loader fn, void *ctx);
/* Async-signal-safe: asks the front thread to reload. */
void xd_srv_request_reload(xd_srv *s);
/* On the front thread: loads a new config and swaps generations; on any
 * error logs why and keeps the running config. */
void xd_srv_reload(xd_srv *s);
/* Serves until xd_srv_shutdown(); then drains and returns. */
xai_status xd_srv_run(xd_srv *s, xai_error *err);
/* Async-signal-safe: asks run() to stop accepting and wind down. */
void xd_srv_shutdown(xd_srv *s);
void xd_srv_free(xd_srv *s);
/* The front loop on the bound ROUTER socket (front.c), used by xd_srv_run. */
xai_status xd_srv_front_loop(xd_srv *s, void *sock);
/* Index of the model called `name`, or -1. Indices n_models and up name
 * the networks: n_models + i is cfg->nets[i]. */
ptrdiff_t xd_srv_model_index(const xd_srv *s, const char *name);
/* The network behind index i, or NULL for a remote model. */
const xd_srv_net_cfg *xd_srv_net_at(const xd_srv *s, size_t i);
/* The name of the model or network at index i. */
const char *xd_srv_model_name(const xd_srv *s, size_t i);

#endif
