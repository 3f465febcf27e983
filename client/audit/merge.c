/* merge.c — turning results into an audit's outputs, for one run and for
 * shards: summary.json and report.html are recomputed from results.jsonl
 * (xa_finish), and `xai audit merge --out DIR SHARD_DIR...` joins shard
 * directories into one DIR whose files equal a single run's.
 *
 * Merging takes every shard's audit.json (they must agree on model, method,
 * options, seed, target and input; they differ only in `shard`), the union
 * of their results.jsonl lines (sorted by input position, the first line of
 * an id kept), writes them as DIR/results.jsonl, and aggregates exactly as
 * a single run does; n_inputs is the sum of the shards' (the slices are
 * disjoint and cover the input). faithfulness.jsonl, when the shards have
 * one, is joined the same way. The summary's "run" block holds the times
 * of the shards (wall seconds summed) — the one part that differs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "audit.h"
#include "../cli/cli.h"

bool xa_write_json(const char *dir, const char *name, const json_t *v, char *msg, size_t msg_len) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (json_dump_file(v, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(17) | JSON_SORT_KEYS) != 0 ||
        rename(tmp, path) != 0) {
        snprintf(msg, msg_len, "cannot write %.300s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

json_t *xa_meta_load(const char *dir, char *msg, size_t msg_len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.json", dir);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!json_is_object(m)) {
        snprintf(msg, msg_len, "%s: %s", path, m ? "not a JSON object" : je.text);
        json_decref(m);
        return NULL;
    }
    return m;
}

static xa_agg_opts agg_of(const json_t *meta, const xa_agg_opts *o) {
    if (o) return *o;
    const json_t *a = json_object_get(meta, "aggregate");
    return (xa_agg_opts){
        .top = (size_t)json_integer_value(json_object_get(a, "top")),
        .min_count = (size_t)json_integer_value(json_object_get(a, "min_count")),
        .casefold = json_is_true(json_object_get(a, "casefold")),
        .pick = (size_t)json_integer_value(json_object_get(a, "pick")),
    };
}

bool xa_finish(const char *dir, const json_t *meta, const xa_agg_opts *o, const json_t *run,
               json_t **summary, char *msg, size_t msg_len) {
    *summary = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    json_t *lines = xa_results_load(path, msg, msg_len);
    if (lines == NULL) return false;
    xa_agg_opts ao = agg_of(meta, o);
    json_t *s = xa_aggregate(lines, (size_t)json_integer_value(json_object_get(meta, "n_inputs")), &ao);
    snprintf(path, sizeof path, "%s/faithfulness.jsonl", dir);
    if (access(path, F_OK) == 0) {
        json_t *fl = xa_results_load(path, msg, msg_len);
        if (fl == NULL) {
            json_decref(lines);
            json_decref(s);
            return false;
        }
        json_object_set_new(s, "faithfulness", xa_faithfulness_summary(fl));
        json_decref(fl);
    }
    json_t *settings = json_deep_copy(meta);
    json_object_del(settings, "shard");
    json_object_del(settings, "shard_by");
    json_object_del(settings, "n_inputs");
    json_object_set_new(s, "audit", settings);
    if (run) json_object_set(s, "run", (json_t *)run);
    snprintf(path, sizeof path, "%s/report.html", dir);
    bool ok = xa_write_json(dir, "summary.json", s, msg, msg_len) &&
              xa_report_write(path, meta, s, lines, msg, msg_len);
    json_decref(lines);
    if (ok) *summary = s;
    else json_decref(s);
    return ok;
}

/* Settings every shard must share. */
static bool shards_agree(const json_t *a, const json_t *b, const char *dir, char *msg, size_t len) {
    static const char *const keys[] = {"model", "method", "params", "space", "seed", "target",
                                       "shard_by", "input", "aggregate"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        if (!json_equal(json_object_get(a, keys[k]), json_object_get(b, keys[k])) &&
            !(json_is_null(json_object_get(a, keys[k])) && json_is_null(json_object_get(b, keys[k])))) {
            snprintf(msg, len, "%s: its `%s` differs from the first shard's", dir, keys[k]);
            return false;
        }
    return true;
}

/* Appends DIR/name's lines to all (an absent faithfulness.jsonl adds none). */
static bool add_lines(const char *dir, const char *name, json_t *all, char *msg, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (strcmp(name, "results.jsonl") != 0 && access(path, F_OK) != 0) return true;
    json_t *l = xa_results_load(path, msg, len);
    if (l == NULL) return false;
    json_array_extend(all, l);
    json_decref(l);
    return true;
}

/* Writes the lines to DIR/name afresh (sorted, first of an id). */
static bool write_lines(const char *dir, const char *name, const json_t *all, char *msg,
                        size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (remove(path) != 0 && errno != ENOENT) {
        snprintf(msg, len, "cannot replace %.300s: %s", path, strerror(errno));
        return false;
    }
    xa_results r;
    if (!xa_results_open(dir, name, &r, msg, len)) return false;
    bool ok = true;
    size_t i;
    json_t *line;
    json_array_foreach(all, i, line) if (ok) ok = xa_results_append(&r, line, msg, len);
    xa_results_close(&r);
    return ok;
}

/* The shards' settings (checked to agree; *meta a new reference to the
 * first's), their results and faithfulness lines, their wall seconds and
 * inputs summed. false with msg. */
static bool gather(char **dirs, int n, json_t **meta, json_t *all, json_t *faith, double *seconds,
                   json_int_t *n_inputs, char *msg, size_t len) {
    for (int k = 0; k < n; k++) {
        json_t *m = xa_meta_load(dirs[k], msg, len);
        if (m == NULL || (*meta && !shards_agree(*meta, m, dirs[k], msg, len))) {
            json_decref(m);
            return false;
        }
        *n_inputs += json_integer_value(json_object_get(m, "n_inputs"));
        if (*meta == NULL) *meta = json_incref(m);
        json_decref(m);
        if (!add_lines(dirs[k], "results.jsonl", all, msg, len) ||
            !add_lines(dirs[k], "faithfulness.jsonl", faith, msg, len))
            return false;
        char path[4096];
        snprintf(path, sizeof path, "%s/summary.json", dirs[k]);
        json_t *s = json_load_file(path, 0, NULL);
        *seconds += json_number_value(json_object_get(json_object_get(s, "run"), "seconds"));
        json_decref(s);
    }
    return true;
}

static int merge(const char *out, char **dirs, int n) {
    char msg[1024] = "";
    json_t *meta = NULL, *all = json_array(), *faith = json_array(), *summary = NULL;
    double seconds = 0;
    json_int_t n_inputs = 0;
    int rc = CLI_FAIL;
    if (!gather(dirs, n, &meta, all, faith, &seconds, &n_inputs, msg, sizeof msg)) goto cleanup;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, sizeof msg, "cannot create %s: %s", out, strerror(errno));
        goto cleanup;
    }
    json_t *merged = json_deep_copy(meta);
    json_object_set_new(merged, "shard", json_null());
    json_object_set_new(merged, "n_inputs", json_integer(n_inputs));
    json_decref(meta);
    meta = merged;
    xa_lines_sort(all);
    xa_lines_sort(faith);
    if (!xa_write_json(out, "audit.json", meta, msg, sizeof msg) ||
        !write_lines(out, "results.jsonl", all, msg, sizeof msg) ||
        (json_array_size(faith) && !write_lines(out, "faithfulness.jsonl", faith, msg, sizeof msg)))
        goto cleanup;
    json_t *run = json_pack("{s:f, s:i}", "seconds", seconds, "shards", n);
    bool ok = xa_finish(out, meta, NULL, run, &summary, msg, sizeof msg);
    json_decref(run);
    if (!ok) goto cleanup;
    printf("merged %d shards: %lld of %lld done, %lld errors; report: %s/report.html\n", n,
           (long long)json_integer_value(json_object_get(summary, "n_done")),
           (long long)n_inputs, (long long)json_integer_value(json_object_get(summary, "n_errors")),
           out);
    rc = CLI_OK;
cleanup:
    if (rc != CLI_OK) fprintf(stderr, "xai audit merge: %s\n", msg);
    json_decref(summary);
    json_decref(meta);
    json_decref(all);
    json_decref(faith);
    return rc;
}

int xa_cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    int i = 0;
    if (argc >= 2 && strcmp(argv[0], "--out") == 0) {
        out = argv[1];
        i = 2;
    }
    if (out == NULL || i >= argc) {
        fprintf(stderr, "usage: xai audit merge --out DIR SHARD_DIR...\n");
        return CLI_USAGE;
    }
    return merge(out, argv + i, argc - i);
}
