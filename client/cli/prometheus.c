/* prometheus.c — `xai stats --prometheus`: the daemon's counters in the
 * Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector or any scraper that reads a file.
 *
 * Names are xaid_<group>_<counter>, with `_total` on counters; one # HELP
 * and one # TYPE line per metric family, then its samples. Per-model
 * samples carry a `model` label; a model whose stats list `replicas`
 * (an array of maps with an `endpoint`) gets one sample per replica with a
 * `replica` label as well. Label values are escaped (\\, \", \n) as the
 * format requires. Only numbers and booleans (1/0) of the stats reply are
 * printed, so a field added to the reply later shows up without a change
 * here, as a gauge unless listed as a counter below.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

/* Fields that only grow (the rest are gauges). */
static const char *const counters[] = {
    "accepted", "done", "failed", "cancelled", "rejected_busy", "hits", "misses", "evictions",
    "calls", "rows", "timeouts", "retries", "errors", "unavailable", "info_sent",
    "model_seconds", "reloads", "reload_failures", NULL};

static bool is_counter(const char *key) {
    for (const char *const *c = counters; *c; c++)
        if (strcmp(*c, key) == 0) return true;
    return false;
}

static void escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
}

static bool numeric(const xai_value *v, double *x) {
    if (xai_value_type(v) == XAI_V_BOOL) {
        *x = xai_value_get_bool(v) ? 1 : 0;
        return true;
    }
    if (!xai_value_is_number(v)) return false;
    *x = xai_value_get_number(v);
    return isfinite(*x);
}

/* The metric name of group/key: xaid_<group>_<key>[_total]. */
static void metric_name(char *buf, size_t len, const char *group, const char *key) {
    snprintf(buf, len, "xaid_%s%s%s%s", group, group[0] ? "_" : "", key,
             is_counter(key) ? "_total" : "");
}

static void header(FILE *f, const char *name, const char *group, const char *key) {
    fprintf(f, "# HELP %s xaid stats %s%s%s\n", name, group, group[0] ? "." : "", key);
    fprintf(f, "# TYPE %s %s\n", name, is_counter(key) ? "counter" : "gauge");
}

/* A flat map of numbers: one unlabelled sample each. */
static void flat_group(FILE *f, const char *group, const xai_value *m) {
    char name[160];
    for (size_t i = 0; i < xai_value_len(m); i++) {
        double x;
        if (!numeric(xai_value_val_at(m, i), &x)) continue;
        metric_name(name, sizeof name, group, xai_value_key_at(m, i));
        header(f, name, group, xai_value_key_at(m, i));
        fprintf(f, "%s %.17g\n", name, x);
    }
}

/* The samples of one model (or replica) for field `key`. */
static void model_samples(FILE *f, const char *name, const char *model, const xai_value *m,
                          const char *key) {
    const xai_value *reps = xai_value_get(m, "replicas");
    double x;
    if (numeric(xai_value_get(m, key), &x)) {
        fprintf(f, "%s{model=\"", name);
        escaped(f, model);
        fprintf(f, "\"} %.17g\n", x);
    }
    for (size_t r = 0; xai_value_type(reps) == XAI_V_ARRAY && r < xai_value_len(reps); r++) {
        const xai_value *rep = xai_value_at(reps, r);
        const char *ep = xai_value_get_str(xai_value_get(rep, "endpoint"), NULL);
        if (!numeric(xai_value_get(rep, key), &x)) continue;
        fprintf(f, "%s{model=\"", name);
        escaped(f, model);
        fprintf(f, "\",replica=\"");
        escaped(f, ep ? ep : "?");
        fprintf(f, "\"} %.17g\n", x);
    }
}

/* Per-model families: the union of the fields of every model, in first-seen
 * order, each family printed once with a sample per model. */
static void model_group(FILE *f, const xai_value *models) {
    const char *keys[64];
    size_t nk = 0;
    for (size_t i = 0; i < xai_value_len(models); i++) {
        const xai_value *m = xai_value_val_at(models, i);
        for (size_t j = 0; j < xai_value_len(m) && nk < 64; j++) {
            const char *k = xai_value_key_at(m, j);
            double x;
            bool seen = false;
            for (size_t q = 0; q < nk && !seen; q++) seen = strcmp(keys[q], k) == 0;
            if (!seen && numeric(xai_value_val_at(m, j), &x)) keys[nk++] = k;
        }
    }
    char name[160];
    for (size_t q = 0; q < nk; q++) {
        metric_name(name, sizeof name, "model", keys[q]);
        header(f, name, "models.*", keys[q]);
        for (size_t i = 0; i < xai_value_len(models); i++)
            model_samples(f, name, xai_value_key_at(models, i), xai_value_val_at(models, i), keys[q]);
    }
}

void cli_render_prometheus(FILE *f, const xai_value *stats) {
    for (size_t i = 0; i < xai_value_len(stats); i++) {
        const char *k = xai_value_key_at(stats, i);
        const xai_value *v = xai_value_val_at(stats, i);
        if (strcmp(k, "models") == 0) model_group(f, v);
        else if (xai_value_type(v) == XAI_V_MAP) flat_group(f, k, v);
    }
    const xai_value *up = xai_value_get(stats, "uptime_seconds");
    double x;
    if (numeric(up, &x)) {
        header(f, "xaid_uptime_seconds", "", "uptime_seconds");
        fprintf(f, "xaid_uptime_seconds %.17g\n", x);
    }
}
