/* window.c — running a batch of jobs from the `xai audit` command line:
 * xai_client_explain_many (libxaiclient keeps the window full, backs off on
 * busy, retries model_unavailable) with Ctrl-C turned into a cancel of the
 * jobs in flight, and the progress display.
 *
 * Progress: on a terminal, one bar redrawn in place (done/total, rate,
 * ETA, errors); otherwise a plain line every PLAIN_EVERY seconds; nothing
 * with quiet. "done" counts the inputs finished by earlier runs too (a
 * resumed audit starts where it stopped); the rate counts this run's only.
 *
 * Ctrl-C: SIGINT is caught only while the jobs run; the handler sets a flag
 * that explain_many polls between waits (stop), so the jobs in flight are
 * cancelled in the daemon and the caller sees XAI_ERR_CANCELLED.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "audit.h"

#define PLAIN_EVERY 5.0

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
    (void)sig;
    interrupted = 1;
}

double xa_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

typedef struct progress {
    bool tty, quiet;
    size_t before, total;
    double t0, last;
} progress;

static void show(progress *p, size_t done, size_t errors, bool last) {
    if (p->quiet) return;
    double now = xa_now(), el = now - p->t0;
    if (!p->tty && !last && now - p->last < PLAIN_EVERY) return;
    p->last = now;
    size_t all = p->before + done;
    double rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 && p->total > all ? (double)(p->total - all) / rate : 0;
    if (p->tty) {
        char bar[31];
        size_t fill = p->total ? 30 * all / p->total : 30;
        for (size_t k = 0; k < 30; k++) bar[k] = k < fill ? '#' : '-';
        bar[30] = '\0';
        fprintf(stderr, "\r\033[K[%s] %zu/%zu  %.1f doc/s  ETA %.0fs  errors %zu%s", bar, all,
                p->total, rate, eta, errors, last ? "\n" : "");
    } else if (last) {
        fprintf(stderr, "audit: all %zu/%zu done, %.1f doc/s, %zu errors\n", all, p->total, rate,
                errors);
    } else {
        fprintf(stderr, "audit: %zu/%zu done, %.1f doc/s, ETA %.0fs, %zu errors\n", all, p->total,
                rate, eta, errors);
    }
}

/* explain_many hands one ctx to both callbacks: this one, which forwards. */
typedef struct relay {
    xai_many_done_fn done;
    void *ctx;
    progress pr;
    size_t errors;
} relay;

static int relay_done(void *ctx, size_t i, xai_status st, const xai_value *result,
                      const xai_error *e) {
    relay *r = ctx;
    return r->done(r->ctx, i, st, result, e);
}

static void relay_progress(void *ctx, size_t done, size_t total, size_t errors) {
    (void)total;
    relay *r = ctx;
    r->errors = errors;
    show(&r->pr, done, errors, false);
}

xai_status xa_run_many(xai_client *c, const xai_job_request *reqs, size_t n, const xa_many *m,
                       size_t before, size_t total, xai_many_done_fn done, void *ctx,
                       bool *was_interrupted, xai_error *err) {
    double t0 = xa_now();
    relay r = {done, ctx, {isatty(STDERR_FILENO), m->quiet, before, total, t0, t0}, 0};
    xai_many_opts o = {.window = m->window, .max_retries = m->retries,
                       .job_timeout_ms = m->job_timeout_ms, .stop = &interrupted};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    interrupted = 0;
    sigaction(SIGINT, &sa, &old);
    xai_status st = xai_client_explain_many(c, reqs, n, &o, relay_done, relay_progress, &r, err);
    sigaction(SIGINT, &old, NULL);
    if (n > 0 && st == XAI_OK) show(&r.pr, n, r.errors, true);
    else if (n > 0 && r.pr.tty && !m->quiet) fputc('\n', stderr);
    *was_interrupted = interrupted != 0;
    return st;
}
