/* render.c — human output of the `xai` command line: an explanation as
 * highlighted text plus a ranked table (an anchor as its rule), the
 * `models` table, the `methods` listing, and the progress line.
 *
 * Colour: a token's background goes from none to full green (the token
 * supports the target class) or full red (it opposes it) in proportion to
 * |score| / max |score|, in 24-bit ANSI colour with black text; scores under
 * 5% of the largest stay uncoloured. Without colour each feature token is
 * followed by its score, `token[+0.123]`. Separators between tokens are
 * printed as they are, so the text reads as it was sent.
 *
 * A multi-target result (several rows, `--target all` or a list) is shown
 * as the text highlighted for its first target, then one table with a
 * score column (and a standard-error column) per target, ranked by the
 * largest |score| over the targets, and f(x) and the base value per target.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "xai/methods.h"
#include "xai/nn.h"
#include <string.h>
#include <unistd.h>
#include "cli.h"

static double max_abs(const xai_result *r) {
    double m = 0;
    for (size_t i = 0; i < r->d; i++)
        if (isfinite(r->values[i]) && fabs(r->values[i]) > m) m = fabs(r->values[i]);
    return m;
}

static void colored_token(FILE *f, const char *s, size_t len, double v, double scale) {
    double a = scale > 0 && isfinite(v) ? fabs(v) / scale : 0;
    if (a < 0.05) {
        fwrite(s, 1, len, f);
        return;
    }
    /* Blend from a pale base towards green (positive) or red (negative). */
    int r = v > 0 ? (int)(235 - 175 * a) : 255;
    int g = v > 0 ? 255 : (int)(235 - 175 * a);
    int b = (int)(235 - 175 * a);
    fprintf(f, "\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", r, g, b);
    fwrite(s, 1, len, f);
    fputs("\x1b[0m", f);
}

/* The text with each feature token marked by its score. */
static void render_text(FILE *f, const xai_result *r, bool color) {
    double scale = max_abs(r);
    size_t at = 0, n = strlen(r->text);
    for (size_t j = 0; j < r->n_tokens; j++) {
        size_t s = r->token_start[j], e = r->token_end[j];
        if (s < at || e < s || e > n) continue;     /* malformed span: skip */
        fwrite(r->text + at, 1, s - at, f);
        int64_t ft = r->token_feature[j];
        double v = ft >= 0 && (size_t)ft < r->d ? r->values[ft] : NAN;
        if (ft < 0 || (size_t)ft >= r->d) fwrite(r->text + s, 1, e - s, f);
        else if (color) colored_token(f, r->text + s, e - s, v, scale);
        else fprintf(f, "%.*s[%+.3f]", (int)(e - s), r->text + s, v);
        at = e;
    }
    fwrite(r->text + at, 1, n - at, f);
    fputc('\n', f);
    if (color) fputs("(green: supports the target, red: opposes it; stronger = larger |score|)\n", f);
}

static const double *sort_key;

static int by_abs_desc(const void *a, const void *b) {
    double x = sort_key[*(const size_t *)a], y = sort_key[*(const size_t *)b];
    if (!(x == x)) x = -1;     /* NaN last */
    if (!(y == y)) y = -1;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The column heading of target row t: its class name, else "target N". */
static void target_label(const xai_result *r, size_t t, char *buf, size_t len) {
    const char *name = xai_result_target_name_at(r, t);
    if (name) snprintf(buf, len, "%s", name);
    else snprintf(buf, len, "target %lld", (long long)xai_result_target_at(r, t));
}

/* The table's header: rank, feature, then per target a score column (and
 * a standard-error column). */
static void table_header(FILE *f, const xai_result *r, bool has_x) {
    size_t kt = xai_result_n_targets(r);
    fprintf(f, "\n%4s  %-24s", "rank", "feature");
    for (size_t t = 0; t < kt; t++) {
        char label[64] = "score";
        if (kt > 1) target_label(r, t, label, sizeof label);
        fprintf(f, " %12.12s%s", label, r->stderrs ? "   std.err" : "");
    }
    fprintf(f, "%s\n", has_x ? "        value" : "");
}

/* The top features by |score| (the largest over the targets). */
static void render_table(FILE *f, const xai_result *r, const cli_render_opts *o) {
    size_t d = r->d, kt = xai_result_n_targets(r);
    size_t *idx = malloc((d ? d : 1) * sizeof *idx);
    double *key = malloc((d ? d : 1) * sizeof *key);
    if (idx == NULL || key == NULL) {
        free(idx);
        free(key);
        return;
    }
    for (size_t i = 0; i < d; i++) {
        idx[i] = i;
        key[i] = fabs(r->values[i]);
        for (size_t t = 1; t < kt; t++)
            if (fabs(r->values[t * d + i]) > key[i]) key[i] = fabs(r->values[t * d + i]);
    }
    sort_key = key;
    qsort(idx, d, sizeof *idx, by_abs_desc);
    size_t top = o->top < d ? o->top : d;
    bool has_x = o->row && o->n_cols == d;
    table_header(f, r, has_x);
    for (size_t k = 0; k < top; k++) {
        size_t i = idx[k];
        fprintf(f, "%4zu  %-24.24s", k + 1, r->feature_names[i]);
        for (size_t t = 0; t < kt; t++) {
            fprintf(f, " %+12.6f", r->values[t * d + i]);
            if (r->stderrs) fprintf(f, " %9.4f", r->stderrs[t * d + i]);
        }
        if (has_x) fprintf(f, " %12.6g", o->row[i]);
        fputc('\n', f);
    }
    if (top < d) fprintf(f, "      ... %zu more (--top N shows more)\n", d - top);
    free(key);
    free(idx);
}

/* f(x), the base value and the class of each target row. */
static void render_targets(FILE *f, const xai_result *r) {
    size_t kt = xai_result_n_targets(r);
    fputc('\n', f);
    for (size_t t = 0; t < kt; t++) {
        const char *name = xai_result_target_name_at(r, t);
        double base = xai_result_base_value_at(r, t);
        fprintf(f, "f(x) = %.6f", xai_result_fx_at(r, t));
        if (isfinite(base)) fprintf(f, "   base value = %.6f", base);
        fprintf(f, "   target = %lld%s%s\n", (long long)xai_result_target_at(r, t),
                name ? " " : "", name ? name : "");
    }
}

/* An anchor as a rule: IF "not" AND "bad" THEN neg  precision 0.97 [0.93,
 * 1.00]  coverage 0.21. Text items are quoted words; tabular items are
 * predicates ("mean radius > 14.1") and print as they are. */
static bool render_rule(FILE *f, const xai_result *r) {
    const xai_value *x = r->extra, *names = xai_value_get(x, "names");
    const xai_value *prec = xai_value_get(x, "precision");
    if (xai_value_type(names) != XAI_V_ARRAY || !xai_value_is_number(prec)) return false;
    bool text = r->text != NULL;
    fputs("IF ", f);
    for (size_t i = 0; i < xai_value_len(names); i++) {
        const char *n = xai_value_get_str(xai_value_at(names, i), NULL);
        fprintf(f, "%s%s%s%s", i ? " AND " : "", text ? "\"" : "", n ? n : "?", text ? "\"" : "");
    }
    if (xai_value_len(names) == 0) fputs("(anything)", f);
    if (r->target_name) fprintf(f, " THEN %s", r->target_name);
    else fprintf(f, " THEN %lld", (long long)r->target);
    fprintf(f, "  precision %.2f", xai_value_get_number(prec));
    const xai_value *lo = xai_value_get(x, "precision_lower"), *hi = xai_value_get(x, "precision_upper");
    if (xai_value_is_number(lo) && xai_value_is_number(hi))
        fprintf(f, " [%.2f, %.2f]", xai_value_get_number(lo), xai_value_get_number(hi));
    const xai_value *cov = xai_value_get(x, "coverage");
    if (xai_value_is_number(cov)) fprintf(f, "  coverage %.2f", xai_value_get_number(cov));
    fputc('\n', f);
    const xai_value *ok = xai_value_get(x, "success");
    const char *why = xai_value_get_str(xai_value_get(x, "message"), NULL);
    if (xai_value_type(ok) == XAI_V_BOOL && !xai_value_get_bool(ok))
        fprintf(f, "(not an anchor: %s)\n", why ? why : "the precision threshold was not reached");
    return true;
}

void cli_render_result(FILE *f, const xai_result *r, const cli_render_opts *o) {
    size_t kt = xai_result_n_targets(r);
    fprintf(f, "%s explanation of model %s, target%s ", r->method, r->model ? r->model : "?",
            kt > 1 ? "s" : "");
    for (size_t t = 0; t < kt; t++) {
        const char *name = xai_result_target_name_at(r, t);
        fprintf(f, "%s%lld%s%s%s", t ? ", " : "", (long long)xai_result_target_at(r, t),
                name ? " (" : "", name ? name : "", name ? ")" : "");
    }
    fputs("\n\n", f);
    bool rule = r->method && strcmp(r->method, "anchors") == 0 && render_rule(f, r);
    if (!rule && r->text && r->n_tokens) {
        if (kt > 1) fprintf(f, "(highlighted for the first target)\n");
        render_text(f, r, o->color);
    }
    if (r->rank >= 2) cli_render_grid(f, r, o->color);
    if (!rule) render_table(f, r, o);
    render_targets(f, r);
    const xai_eval_stats *s = &r->stats;
    fprintf(f,
            "masks %llu (unique %llu), cache hits %llu, rows sent %llu, model calls %llu, "
            "model %.3f s, total %.3f s\n",
            (unsigned long long)s->masks_asked, (unsigned long long)s->masks_unique,
            (unsigned long long)s->cache_hits, (unsigned long long)s->rows_sent,
            (unsigned long long)s->model_calls, s->model_seconds, r->seconds);
}

/* "ham,spam" for the classes array, cut to fit buf. */
static const char *join_classes(const xai_value *cls, char *buf, size_t len) {
    size_t n = xai_value_len(cls), at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        const char *s = xai_value_get_str(xai_value_at(cls, i), NULL);
        int w = snprintf(buf + at, len - at, "%s%s", i ? "," : "", s ? s : "?");
        if (w < 0) break;
        at += (size_t)w;
    }
    return n ? buf : "-";
}

void cli_render_models(FILE *f, const xai_value *reply) {
    const xai_value *models = xai_value_get(reply, "models");
    size_t n = xai_value_len(models);
    fprintf(f, "%-16s %-8s %-6s %8s  %-20s %s\n", "name", "kind", "ready", "features",
            "classes", "endpoint or file");
    for (size_t i = 0; i < n; i++) {
        const xai_value *m = xai_value_at(models, i);
        const char *name = xai_value_get_str(xai_value_get(m, "name"), NULL);
        const char *kind = xai_value_get_str(xai_value_get(m, "kind"), NULL);
        const char *ep = xai_value_get_str(xai_value_get(m, "endpoint"), NULL);
        if (ep == NULL) ep = xai_value_get_str(xai_value_get(m, "path"), NULL); /* a network */
        const xai_value *nf = xai_value_get(m, "n_features");
        fprintf(f, "%-16s %-8s %-6s ", name ? name : "?", kind ? kind : "?",
                xai_value_get_bool(xai_value_get(m, "ready")) ? "yes" : "no");
        if (xai_value_is_number(nf)) fprintf(f, "%8lld  ", (long long)xai_value_get_number(nf));
        else fprintf(f, "%8s  ", "-");
        char cls[64];
        fprintf(f, "%-20.64s  %s\n", join_classes(xai_value_get(m, "classes"), cls, sizeof cls),
                ep ? ep : "");
    }
    if (n == 0) fprintf(f, "(no models configured)\n");
}

/* One method: its line, then a row per parameter; `native` for a network's
 * method (xai_nn_method_param), else the registry's (xai_method_param). */
static void render_method(FILE *f, const char *name, bool native) {
    fprintf(f, "%s%s — %s\n", name, native ? " (networks)" : "",
            native ? xai_nn_method_doc(name) : xai_method_doc(name));
    size_t n = native ? xai_nn_method_n_params(name) : xai_method_n_params(name);
    for (size_t i = 0; i < n; i++) {
        const xai_param_info *p = native ? xai_nn_method_param(name, i) : xai_method_param(name, i);
        fprintf(f, "  %-18s %-10s default %s; range %s\n  %-18s %-10s %s\n", p->name, p->type,
                p->def, p->range, "", "", p->doc);
    }
}

enum { XD_CLI_MAX_METHODS = 64 };

bool cli_render_methods(FILE *f, const char *only, char *msg, size_t msg_len) {
    const char *const *names = xai_method_names(), *const *nn = xai_nn_method_names();
    const char *all[XD_CLI_MAX_METHODS];
    size_t n = 0, n_model = 0;
    while (names[n_model] && n_model < XD_CLI_MAX_METHODS) all[n++] = names[n_model++];
    for (size_t i = 0; nn[i] && n < XD_CLI_MAX_METHODS; i++) all[n++] = nn[i];
    bool found = only == NULL;
    for (size_t i = 0; only && i < n; i++) found = found || strcmp(only, all[i]) == 0;
    if (!found) {
        const char *near = xai_suggest(only, all, n);
        int at = snprintf(msg, msg_len, "no method named \"%s\"", only);
        if (near && at >= 0 && (size_t)at < msg_len)
            at += snprintf(msg + at, msg_len - (size_t)at, "; did you mean \"%s\"?", near);
        for (size_t i = 0; i < n && at >= 0 && (size_t)at < msg_len; i++)
            at += snprintf(msg + at, msg_len - (size_t)at, "%s%s", i ? ", " : " (choices: ", all[i]);
        if (at >= 0 && (size_t)at < msg_len) snprintf(msg + at, msg_len - (size_t)at, ")");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, all[i]) != 0) continue;
        if (!only && i) fputc('\n', f);
        render_method(f, all[i], i >= n_model);
    }
    if (!only)
        fprintf(f, "\nlrp_epsilon, lrp_epsilon_plus, lrp_epsilon_plus_flat, lrp_epsilon_gamma_box "
                   "and\nlrp_epsilon_alpha2_beta1 are lrp with that composite "
                   "(docs/METHODS.md, \"native\").\n");
    return true;
}

void cli_progress(void *ctx, uint64_t job, double fraction, const xai_eval_stats *s) {
    (void)ctx;
    int filled = (int)(fraction * 30 + 0.5);
    fprintf(stderr, "\r\x1b[Kjob %llu [%.*s%*s] %3d%%  rows sent %llu, model calls %llu",
            (unsigned long long)job, filled, "##############################", 30 - filled, "",
            (int)(fraction * 100 + 0.5), (unsigned long long)s->rows_sent,
            (unsigned long long)s->model_calls);
    fflush(stderr);
}

void cli_progress_clear(void) {
    fputs("\r\x1b[K", stderr);
    fflush(stderr);
}
