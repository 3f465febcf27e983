/* model_roundtrip.c — what a model call costs through xaid, next to the raw
 * ZeroMQ + msgpack round trip to the same C model server.
 *
 * Set-up (all started and stopped here, in a fresh /tmp directory):
 *   - a C model server (xai_model_server) in a child forked before this
 *     process creates any ZeroMQ context, serving a zero-cost tabular model
 *     (output = the first column) on ipc://DIR/model.sock;
 *   - xaid ($BUILD/rel/xaid, BUILD defaults to "build") with three models
 *     that all point at that one server and differ only in max_rows per
 *     call: b1 (1), b100 (100), b1000 (1000).
 *
 * Through xaid, batch size B: occlusion on a row of d = 9 features with R
 * distinct random background rows (sent in the request's space) asks for
 * d + 1 masks plus f(x), which render to about (d + 1) R + 1 distinct rows;
 * with max_rows B the evaluator cuts them into calls of B rows. R = 1, 10 and
 * 100 give about 11, 101 and 1001 rows per job. Each job explains a fresh
 * random x so nothing is answered from the cache. The result's own counters
 * give the numbers: model_seconds (the daemon's wall time inside its model
 * calls: render to msgpack, send, the model, receive, decode, validate),
 * model_calls and rows_sent. The average batch is rows_sent / model_calls.
 *
 * Raw, same B and d: a DEALER in this process sends the same request the
 * daemon sends (an empty delimiter frame, then {v, op: predict, id, rows:
 * B x d f64 matrix}), packing it from doubles each time, and decodes the
 * answer into a matrix: the floor any client of the model pays. It is
 * measured twice: alone at exactly B rows per call (raw_us_per_call/row),
 * and, after each xaid job, as the very calls that job made (one row for
 * f(x), then d R rows cut at B), so both sides see the same machine load
 * (raw_same_calls_us_per_row).
 *
 * Output: one JSON object per line, per B. xaid_us_per_call/row come from
 * model_seconds; job_us_per_row is the client's wall time per job over its
 * rows (everything: submit, method, result). xaid_over_raw_per_row compares
 * with the same calls made directly, xaid_over_raw_exact_per_row with raw
 * calls of exactly B rows. pattern_ok says the jobs made the calls expected.
 * Target (issue 2): per-row overhead at B = 1000 within 2x of raw.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include "xai/client.h"
#include "xai/model_server.h"

#define D 9

static pid_t model_pid = -1, xaid_pid = -1;
static char dir[64];
static xai_model_server *served;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* xorshift64*, uniform in [-1, 1). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2 - 1;
}

/* ---- the model server child ---------------------------------------------- */

static xai_status zero_cost(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)ctx, (void)err;
    for (size_t i = 0; i < b->n; i++) out[i] = b->rows[i * b->cols];
    return XAI_OK;
}

static void on_term(int sig) {
    (void)sig;
    xai_model_server_stop(served);
}

static void serve_child(const char *ep) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    xai_model_server_opts o = {.endpoint = ep, .kind = XAI_INPUT_ROWS, .n_outputs = 1,
                               .predict = zero_cost};
    xai_error err;
    if (xai_model_server_new(&o, &served, &err) != XAI_OK) {
        fprintf(stderr, "model server: %s\n", err.message);
        _exit(1);
    }
    signal(SIGTERM, on_term);
    xai_model_server_run(served, &err);
    xai_model_server_free(served);
    _exit(0);
}

/* ---- processes ------------------------------------------------------------ */

static void stop_children(void) {
    pid_t *pids[2] = {&xaid_pid, &model_pid};
    for (int i = 0; i < 2; i++) {
        if (*pids[i] <= 0) continue;
        kill(*pids[i], SIGTERM);
        int waited = 0;
        while (waitpid(*pids[i], NULL, WNOHANG) == 0 && waited++ < 300) usleep(10000);
        if (waited > 300) {
            kill(*pids[i], SIGKILL);
            waitpid(*pids[i], NULL, 0);
        }
        *pids[i] = -1;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (dir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static pid_t start_xaid(const char *xaid, const char *conf, const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(xaid, xaid, "--config", conf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int write_config(const char *path) {
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fprintf(f, "bind = ipc://%s/xaid.sock\nworkers = 1\nlog_level = warn\n", dir);
    const int batches[3] = {1, 100, 1000};
    for (int i = 0; i < 3; i++)
        fprintf(f, "model b%d = tabular@ipc://%s/model.sock\nmodel b%d.max_rows = %d\n",
                batches[i], dir, batches[i], batches[i]);
    return fclose(f);
}

/* Pings until xaid answers and model b1 is ready, for up to 20 s. */
static int wait_ready(xai_client *c) {
    xai_client_set_timeout(c, 300);
    for (int i = 0; i < 200; i++) {
        double s;
        xai_value *m = NULL;
        xai_error err;
        if (xai_client_ping(c, &s, &err) == XAI_OK && xai_client_models(c, &m, &err) == XAI_OK) {
            const xai_value *ms = xai_value_get(m, "models");
            size_t ready = 0;
            for (size_t j = 0; j < xai_value_len(ms); j++)
                ready += xai_value_get_bool(xai_value_get(xai_value_at(ms, j), "ready"));
            xai_value_free(m);
            if (ready == 3) {
                xai_client_set_timeout(c, 10000);
                return 0;
            }
        }
        usleep(100000);
    }
    return -1;
}

/* ---- raw round trip --------------------------------------------------------- */

/* One predict call of n x D rows straight to the model server, as xaid
 * makes it: pack from doubles, delimiter + body, receive, decode, check. */
static int raw_call(void *sock, const double *rows, size_t n, int64_t id) {
    xai_value *m = xai_value_map();
    xai_value_set_int(m, "v", 1);
    xai_value_set_str(m, "op", "predict");
    xai_value_set_int(m, "id", id);
    xai_value_set(m, "rows", xai_value_from_matrix(rows, n, D));
    char *buf = NULL;
    size_t len = 0;
    xai_error err;
    int ok = xai_value_pack(m, &buf, &len, &err) == XAI_OK &&
             zmq_send(sock, "", 0, ZMQ_SNDMORE) == 0 && zmq_send(sock, buf, len, 0) >= 0;
    xai_free(buf);
    xai_value_free(m);
    zmq_msg_t f;
    zmq_msg_init(&f);
    while (ok && zmq_msg_recv(&f, sock, 0) >= 0 && zmq_msg_more(&f)) {
    }
    xai_value *a = NULL;
    double *out = NULL;
    size_t r = 0, k = 0;
    ok = ok && xai_value_unpack(zmq_msg_data(&f), zmq_msg_size(&f), NULL, &a, &err) == XAI_OK &&
         xai_value_get_int(xai_value_get(a, "id")) == id &&
         xai_value_to_matrix(xai_value_get(a, "outputs"), true, true, &out, &r, &k, &err) ==
             XAI_OK && r == n && k == 1;
    zmq_msg_close(&f);
    xai_free(out);
    xai_value_free(a);
    return ok ? 0 : -1;
}

/* Seconds per round of calls of sizes sizes[0..n), over ~`rounds` rounds. */
static double raw_seconds(void *sock, const size_t *sizes, size_t n, int rounds) {
    size_t most = 1;
    for (size_t i = 0; i < n; i++) most = sizes[i] > most ? sizes[i] : most;
    double *rows = malloc(most * D * sizeof *rows);
    for (size_t i = 0; i < most * D; i++) rows[i] = urand();
    int64_t id = 0;
    for (int r = 0; rounds > 1 && r < rounds / 10 + 1; r++)     /* warm up */
        for (size_t i = 0; i < n; i++) raw_call(sock, rows, sizes[i], ++id);
    double t0 = now();
    int done = 0;
    for (; done < rounds; done++)
        for (size_t i = 0; i < n; i++)
            if (raw_call(sock, rows, sizes[i], ++id) != 0) goto out;
out:
    free(rows);
    return done ? (now() - t0) / done : -1;
}

/* ---- through xaid ------------------------------------------------------------ */

/* The calls an occlusion job on model b<batch> with R background rows makes:
 * f(x) alone (1 row), then the d R leave-one-out rows cut at `batch` rows. */
static size_t job_calls(int batch, size_t R, size_t *sizes) {
    size_t n = 0, left = D * R;
    sizes[n++] = 1;
    while (left) {
        size_t k = left < (size_t)batch ? left : (size_t)batch;
        sizes[n++] = k;
        left -= k;
    }
    return n;
}


typedef struct xaid_numbers {
    double model_seconds, wall, raw_same;   /* raw_same: the same calls, direct */
    uint64_t calls, rows, jobs;
} xaid_numbers;

/* Runs `jobs` occlusion jobs on model "b<batch>" with R background rows; after
 * each, the same calls straight to the model (so both see the same load on a
 * busy machine). */
static int run_jobs(xai_client *c, void *sock, int batch, size_t R, int jobs, xaid_numbers *n) {
    size_t sizes[1 + D * 128], nc = job_calls(batch, R, sizes);
    double *bg = malloc(R * D * sizeof *bg), x[D];
    for (size_t i = 0; i < R * D; i++) bg[i] = urand();
    xai_value *space = xai_value_map();
    xai_value_set(space, "background", xai_value_from_matrix(bg, R, D));
    char model[16];
    snprintf(model, sizeof model, "b%d", batch);
    xai_job_request rq = {.model = model, .method = "occlusion", .row = x, .n_cols = D,
                          .space = space};
    memset(n, 0, sizeof *n);
    int rc = 0;
    for (int j = 0; j < jobs && rc == 0; j++) {
        for (int i = 0; i < D; i++) x[i] = urand();
        xai_result *r = NULL;
        xai_error err;
        double t0 = now();
        if (xai_client_explain(c, &rq, 30000, &r, &err) != XAI_OK) {
            fprintf(stderr, "model_roundtrip: %s: %s\n", xai_errcode(err.code), err.message);
            rc = -1;
            break;
        }
        if (j > 0) {   /* the first job warms the link up */
            n->wall += now() - t0;
            n->model_seconds += r->stats.model_seconds;
            n->calls += r->stats.model_calls;
            n->rows += r->stats.rows_sent;
            n->jobs++;
            n->raw_same += raw_seconds(sock, sizes, nc, 1);
        }
        xai_result_free(r);
    }
    xai_value_free(space);
    free(bg);
    return rc;
}

static void report(int batch, size_t R, void *sock, const xaid_numbers *n) {
    size_t one = (size_t)batch;
    int rounds = batch == 1 ? 3000 : batch == 100 ? 1000 : 200;
    double raw = raw_seconds(sock, &one, 1, rounds);
    printf("{\"bench\":\"model_roundtrip\",\"batch\":%d,\"features\":%d,\"raw_us_per_call\":%.2f,"
           "\"raw_us_per_row\":%.3f", batch, D, raw * 1e6, raw * 1e6 / batch);
    if (n && n->calls && n->rows) {
        size_t sizes[1 + D * 128], nc = job_calls(batch, R, sizes), rows = 1 + D * R;
        double same = n->raw_same / n->rows;
        double per_row = n->model_seconds / n->rows;
        printf(",\"xaid_jobs\":%llu,\"xaid_avg_batch\":%.1f,\"xaid_us_per_call\":%.2f,"
               "\"xaid_us_per_row\":%.3f,\"job_us_per_row\":%.3f,"
               "\"raw_same_calls_us_per_row\":%.3f,\"xaid_over_raw_per_row\":%.2f,"
               "\"xaid_over_raw_exact_per_row\":%.2f,"
               "\"pattern_ok\":%s",
               (unsigned long long)n->jobs, (double)n->rows / n->calls,
               n->model_seconds * 1e6 / n->calls, per_row * 1e6, n->wall * 1e6 / n->rows,
               same * 1e6, per_row / same, per_row / (raw / batch),
               n->rows == n->jobs * rows && n->calls == n->jobs * nc ? "true" : "false");
    }
    printf("}\n");
    fflush(stdout);
}

/* Raw and (when xaid runs) through-xaid numbers for each batch size. */
static int measure(xai_client *c, void *sock) {
    const int batches[3] = {1, 100, 1000};
    const size_t bg_rows[3] = {1, 11, 111};   /* D R = 9, 99, 999 rows after f(x) */
    const int jobs[3] = {150, 100, 30};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        xaid_numbers n;
        if (c) rc = run_jobs(c, sock, batches[i], bg_rows[i], jobs[i], &n);
        report(batches[i], bg_rows[i], sock, c && rc == 0 ? &n : NULL);
    }
    return rc;
}

/* Connects to xaid and waits for it; NULL (after showing its log) if it
 * does not come up. */
static xai_client *connect_xaid(const char *log) {
    char ep[128], cmd[192];
    xai_client *c = NULL;
    xai_error err;
    snprintf(ep, sizeof ep, "ipc://%s/xaid.sock", dir);
    if (xai_client_connect(ep, &c, &err) == XAI_OK && wait_ready(c) == 0) return c;
    fprintf(stderr, "model_roundtrip: xaid did not come up; its log:\n");
    snprintf(cmd, sizeof cmd, "tail -20 '%s' >&2", log);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
    xai_client_close(c);
    return NULL;
}

int main(void) {
    const char *build = getenv("BUILD");
    char xaid[512], ep[128], conf[128], log[128];
    snprintf(xaid, sizeof xaid, "%s/rel/xaid", build && build[0] ? build : "build");
    snprintf(dir, sizeof dir, "/tmp/xai-bench-XXXXXX");
    if (mkdtemp(dir) == NULL) return perror("mkdtemp"), 1;
    snprintf(ep, sizeof ep, "ipc://%s/model.sock", dir);
    snprintf(conf, sizeof conf, "%s/xaid.conf", dir);
    snprintf(log, sizeof log, "%s/xaid.log", dir);
    model_pid = fork();                  /* before any ZeroMQ context here */
    if (model_pid == 0) serve_child(ep);
    bool have_xaid = access(xaid, X_OK) == 0 && write_config(conf) == 0;
    if (have_xaid) xaid_pid = start_xaid(xaid, conf, log);

    void *zctx = zmq_ctx_new(), *sock = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock, ep);
    xai_client *c = have_xaid ? connect_xaid(log) : NULL;
    if (c == NULL)
        printf("{\"bench\":\"model_roundtrip\",\"note\":\"xaid not available at %s: raw only\"}\n",
               xaid);
    int rc = model_pid > 0 ? measure(c, sock) : 1;
    xai_client_close(c);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    stop_children();
    return rc == 0 ? 0 : 1;
}
