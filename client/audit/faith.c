/* faith.c — `xai audit --faithfulness`: how faithful each explanation is,
 * measured on the same model.
 *
 * After the explanations, every explained line of DIR/results.jsonl gets
 * one `faithfulness` job (daemon/methods/faithfulness.c) in deletion mode:
 * `attr` = the explained row (for a multi-target result the predicted
 * class's row), `target` = that row's target, the same input and space.
 * The job removes features in decreasing attribution order and reports the
 * AOPC of the deletion curve (docs/METHODS.md). Each answer is one line of
 * DIR/faithfulness.jsonl — {"id", "n", "target", "aopc", "deletion_area"}
 * or {"id", "n", "error"} — written and resumed exactly like results.jsonl
 * (results.c), so an interrupted pass picks up where it stopped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "../cli/cli.h"

typedef struct faith_ctx {
    const json_t *lines;      /* the results lines being scored */
    size_t *line_of;          /* request index -> line index */
    xa_results *res;
    bool write_failed;
    char msg[512];
} faith_ctx;

static int on_faith(void *ctx, size_t i, xai_status st, const xai_value *result, const xai_error *e) {
    faith_ctx *f = ctx;
    const json_t *line = json_array_get(f->lines, f->line_of[i]);
    json_t *l = json_pack("{s:O, s:O}", "id", json_object_get(line, "id"), "n", json_object_get(line, "n"));
    const xai_value *extra = xai_value_get(result, "extra");
    if (st == XAI_OK && xai_value_is_number(xai_value_get(extra, "aopc"))) {
        json_object_set_new(l, "target", json_integer(xai_value_get_int(xai_value_get(result, "target"))));
        json_object_set_new(l, "aopc", json_real(xai_value_get_number(xai_value_get(extra, "aopc"))));
        const xai_value *area = xai_value_get(extra, "deletion_area");
        if (xai_value_is_number(area)) json_object_set_new(l, "deletion_area", json_real(xai_value_get_number(area)));
    } else {
        json_object_set_new(l, "error", json_pack("{s:s, s:s}", "code", xai_errcode(st ? st : XAI_ERR_BAD_REQUEST),
                                                  "message", st && e ? e->message : "no aopc in the result"));
    }
    bool ok = xa_results_append(f->res, l, f->msg, sizeof f->msg);
    json_decref(l);
    f->write_failed |= !ok;
    return ok ? 0 : 1;
}

/* The request scoring one results line's explained row, or false when the
 * line has no result. params is set to a new map (the caller frees it). */
static bool faith_request(const char *model, const xai_value *space, const json_t *line,
                          xai_job_request *rq, xai_value **params, double **row) {
    const json_t *res = json_object_get(line, "result");
    if (!json_is_object(res)) return false;
    const json_t *values = json_object_get(res, "values"), *targets = json_object_get(res, "targets");
    json_int_t target = json_integer_value(json_object_get(res, "target"));
    if (json_is_array(targets)) {       /* multi-target: the predicted class's row */
        size_t t = 0;
        for (size_t k = 0; k < json_array_size(targets); k++)
            if (json_integer_value(json_array_get(targets, k)) == xa_line_predicted(line)) t = k;
        values = json_array_get(values, t);
        target = json_integer_value(json_array_get(targets, t));
    }
    size_t d = json_array_size(values);
    double *attr = malloc((d ? d : 1) * sizeof *attr);
    for (size_t i = 0; i < d; i++) attr[i] = json_number_value(json_array_get(values, i));
    xai_value *p = xai_value_map();
    xai_value_set(p, "attr", xai_value_float_array(attr, d));
    free(attr);
    xai_value_set_int(p, "target", target);
    xai_value_set_str(p, "mode", "deletion");
    *params = p;
    *rq = (xai_job_request){.model = model, .method = "faithfulness", .params = p, .space = space};
    const json_t *row_j = json_object_get(line, "row");
    if (json_is_array(row_j)) {
        size_t n = json_array_size(row_j);
        *row = malloc((n ? n : 1) * sizeof **row);
        for (size_t j = 0; j < n; j++) (*row)[j] = json_number_value(json_array_get(row_j, j));
        rq->row = *row;
        rq->n_cols = n;
    } else {
        const json_t *text = json_object_get(res, "text");
        rq->text = json_is_string(text) ? json_string_value(text) : "";
        rq->text_len = json_is_string(text) ? json_string_length(text) : 0;
    }
    return true;
}

/* A request for every explained line of f->lines not yet in
 * faithfulness.jsonl (with retry_errors: or whose line there is an error);
 * f->line_of maps them back. Returns how many. */
static size_t faith_requests(const char *model, const xai_value *space, faith_ctx *f,
                             bool retry_errors, xai_job_request *rq, xai_value **params,
                             double **rows) {
    size_t m = 0;
    for (size_t i = 0; i < json_array_size(f->lines); i++) {
        const json_t *line = json_array_get(f->lines, i);
        char key[1024];
        const json_t *id = json_object_get(line, "id");
        if (json_is_string(id)) snprintf(key, sizeof key, "%s", json_string_value(id));
        else snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
        if (xa_results_done(f->res, key, retry_errors)) continue;
        if (faith_request(model, space, line, &rq[m], &params[m], &rows[m])) f->line_of[m++] = i;
    }
    return m;
}

int xa_faithfulness(xai_client *c, const char *model, const char *dir, const xai_value *space,
                    const xa_many *mo) {
    char path[4096], msg[512] = "";
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    json_t *lines = xa_results_load(path, msg, sizeof msg);
    xa_results res = {.fd = -1};
    if (lines == NULL || !xa_results_open(dir, "faithfulness.jsonl", &res, msg, sizeof msg)) {
        fprintf(stderr, "xai audit: %s\n", msg);
        json_decref(lines);
        return CLI_FAIL;
    }
    size_t n = json_array_size(lines), m = 0;
    xai_job_request *rq = calloc(n ? n : 1, sizeof *rq);
    xai_value **params = calloc(n ? n : 1, sizeof *params);
    double **rows = calloc(n ? n : 1, sizeof *rows);
    faith_ctx f = {.lines = lines, .line_of = calloc(n ? n : 1, sizeof(size_t)), .res = &res};
    m = faith_requests(model, space, &f, mo->retry_errors, rq, params, rows);
    if (!mo->quiet && m) fprintf(stderr, "audit: faithfulness of %zu explanations\n", m);
    xai_error e = {XAI_OK, ""};
    bool stopped = false;
    xai_status st = xa_run_many(c, rq, m, mo, 0, m, on_faith, &f, &stopped, &e);
    for (size_t k = 0; k < m; k++) {
        xai_value_free(params[k]);
        free(rows[k]);
    }
    free(rq);
    free(params);
    free(rows);
    free(f.line_of);
    xa_results_close(&res);
    json_decref(lines);
    if (f.write_failed) return fprintf(stderr, "xai audit: %s\n", f.msg), CLI_FAIL;
    if (st == XAI_ERR_CANCELLED && stopped) {
        fprintf(stderr, "xai audit: interrupted; re-run the same command to resume\n");
        return 130;
    }
    if (st != XAI_OK) return fprintf(stderr, "xai audit: %s: %s\n", xai_errcode(st), e.message), CLI_FAIL;
    return CLI_OK;
}

