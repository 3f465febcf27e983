/* report.c — report.html: an audit (or one explanation) as one
 * self-contained HTML file.
 *
 * Self-contained means: no URL at all — no script, style sheet, font or
 * image from elsewhere; the style is one inline <style>, the charts inline
 * SVG, and there is no JavaScript, so the page reads the same with it off.
 * Every string from the data (tokens, texts, ids, class names) is escaped.
 *
 * Views:
 *  - the settings and counts (model, method, params, seed, inputs, done,
 *    errors and their codes, wall time);
 *  - per class, and overall, a bar chart of the top tokens or features: bar
 *    = mean signed value, whisker = +- its standard error, the label says
 *    both (the ranking is by mean |value|, docs/AUDIT.md);
 *  - label agreement: accuracy, the confusion matrix, the top tokens of the
 *    misclassified documents;
 *  - highlighted documents: each token's background by its value (red
 *    pushes toward the explained class, blue away), the value +- standard
 *    error in its title (shown on hover); tabular rows as bar charts. A
 *    multi-target result (`--target all` or a list) is shown once per
 *    class: the predicted class's row first, marked, then the others in
 *    target order. Shown: the SP-LIME picks, the misclassified ones (up to 20), and the
 *    first documents when neither exists.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"

#define MAX_DOCS_SHOWN 20
#define BAR_W 300.0
#define ROW_H 18

static void esc_n(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n && s[i]; i++) {
        char c = s[i];
        if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '&') fputs("&amp;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c == '\'') fputs("&#39;", f);
        else fputc(c, f);
    }
}

static void esc(FILE *f, const char *s) { esc_n(f, s ? s : "", (size_t)-1); }

static void esc_json(FILE *f, const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    esc(f, s ? s : "");
    free(s);
}

static const char *STYLE =
    "body{font-family:sans-serif;margin:1.5em;max-width:70em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
    ".doc{border:1px solid #ddd;padding:.6em;margin:.6em 0;white-space:pre-wrap;line-height:1.6}"
    ".meta{color:#555;font-size:.9em}.tok{border-radius:2px}"
    "svg text{font-size:12px;font-family:sans-serif}";

/* Background of a value: red for positive, blue for negative, alpha by
 * |v| / scale. */
static void color(FILE *f, double v, double scale) {
    double a = scale > 0 ? fabs(v) / scale : 0;
    if (a > 1) a = 1;
    fprintf(f, "background:rgba(%s,%.3f)", v >= 0 ? "220,50,47" : "38,139,210", 0.85 * a);
}

static const char *str(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

/* One bar of a chart at height y: the entry's name, its mean as a signed
 * bar from the centre axis (scale = the chart's largest |mean| + se), the
 * standard error as a whisker, the numbers beside it, the details in its
 * title. */
static void bar_row(FILE *f, const json_t *e, double y, double scale, double label_w) {
    double m = num(e, "mean"), cx = label_w + BAR_W / 2;
    const json_t *sej = json_object_get(e, "se");
    double w = fabs(m) / scale * BAR_W / 2, x = m >= 0 ? cx : cx - w;
    fprintf(f, "<g><title>");
    esc(f, str(e, "name"));
    fprintf(f, ": mean %.4g", m);
    if (json_is_number(sej)) fprintf(f, " &#177; %.3g", json_number_value(sej));
    fprintf(f, ", mean |value| %.4g, %lld occurrences</title>\n", num(e, "mean_abs"),
            (long long)json_integer_value(json_object_get(e, "count")));
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">", label_w - 6, y + 11);
    esc(f, str(e, "name"));
    fprintf(f, "</text><rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>", x,
            y, w, ROW_H - 6, m >= 0 ? "#dc322f" : "#268bd2");
    if (json_is_number(sej)) {
        double s = json_number_value(sej) / scale * BAR_W / 2, ym = y + (ROW_H - 6) / 2.0;
        double tip = m >= 0 ? cx + w : cx - w;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>",
                tip - s, ym, tip + s, ym);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">%.4g", label_w + BAR_W + 8, y + 11, m);
    if (json_is_number(sej)) fprintf(f, " &#177; %.2g", json_number_value(sej));
    fprintf(f, "</text></g>\n");
}

/* Bar chart of entries (name, mean, se): signed bars around a centre axis. */
static void bar_chart(FILE *f, const json_t *entries, const char *what) {
    size_t n = json_array_size(entries), i;
    if (n == 0) {
        fprintf(f, "<p>No %s.</p>\n", what);
        return;
    }
    double scale = 0;
    json_t *e;
    json_array_foreach(entries, i, e) {
        double se = json_is_number(json_object_get(e, "se")) ? num(e, "se") : 0;
        double m = fabs(num(e, "mean")) + se;
        if (m > scale) scale = m;
    }
    if (scale <= 0) scale = 1;
    double label_w = 160, cx = label_w + BAR_W / 2, h = (double)n * ROW_H + 10;
    fprintf(f, "<svg width=\"%.0f\" height=\"%.0f\" role=\"img\">\n",
            label_w + BAR_W + 200, h);
    fprintf(f, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#888\"/>\n", cx, cx, h);
    json_array_foreach(entries, i, e) bar_row(f, e, (double)i * ROW_H + 4, scale, label_w);
    fprintf(f, "</svg>\n");
}

/* One explanation row of a result: row t of a multi-target result (its
 * class, f(x), base value, values, standard errors), or the only row of a
 * single-target one. */
typedef struct shown_row {
    const json_t *values, *stderrs, *fx, *base;
    const char *name;        /* the class name, "" when the model has none */
    int64_t target;
} shown_row;

static size_t result_n_rows(const json_t *res) {
    const json_t *targets = json_object_get(res, "targets");
    return json_is_array(targets) && json_array_size(targets) > 0 ? json_array_size(targets) : 1;
}

static shown_row row_at(const json_t *res, size_t t) {
    const json_t *targets = json_object_get(res, "targets");
    const json_t *v = json_object_get(res, "values"), *s = json_object_get(res, "stderrs");
    shown_row r = {v, json_is_array(s) ? s : NULL, json_object_get(res, "fx"),
                   json_object_get(res, "base_value"), str(res, "target_name"),
                   json_integer_value(json_object_get(res, "target"))};
    if (!json_is_array(targets)) return r;
    const char *nm = json_string_value(json_array_get(json_object_get(res, "target_names"), t));
    r.values = json_array_get(v, t);
    r.stderrs = json_is_array(s) ? json_array_get(s, t) : NULL;
    r.fx = json_array_get(r.fx, t);
    r.base = json_array_get(r.base, t);
    r.name = nm ? nm : "";
    r.target = json_integer_value(json_array_get(targets, t));
    return r;
}

/* The row of class `predicted` among a result's targets, else row 0. */
static size_t predicted_row(const json_t *res, int64_t predicted) {
    for (size_t t = 0; t < result_n_rows(res); t++)
        if (row_at(res, t).target == predicted) return t;
    return 0;
}

static void highlight_text(FILE *f, const json_t *res, const json_t *values, const json_t *stderrs) {
    const char *text = str(res, "text");
    size_t len = strlen(text), at = 0, i;
    double scale = 0;
    json_t *x, *tok;
    json_array_foreach(values, i, x) if (fabs(json_number_value(x)) > scale) scale = fabs(json_number_value(x));
    const json_t *features = json_object_get(res, "features");
    fputs("<div class=\"doc\">", f);
    json_array_foreach(json_object_get(res, "tokens"), i, tok) {
        size_t s = (size_t)json_integer_value(json_array_get(tok, 0));
        size_t e = (size_t)json_integer_value(json_array_get(tok, 1));
        json_int_t feat = json_integer_value(json_array_get(tok, 2));
        if (s < at || e > len || s > e) continue;
        esc_n(f, text + at, s - at);
        if (feat < 0 || (size_t)feat >= json_array_size(values)) {
            esc_n(f, text + s, e - s);
        } else {
            double v = json_number_value(json_array_get(values, (size_t)feat));
            fputs("<span class=\"tok\" style=\"", f);
            color(f, v, scale);
            fputs("\" title=\"", f);
            esc(f, json_string_value(json_array_get(features, (size_t)feat)));
            fprintf(f, ": %.4g", v);
            const json_t *se = stderrs ? json_array_get(stderrs, (size_t)feat) : NULL;
            if (json_is_number(se)) fprintf(f, " &#177; %.3g", json_number_value(se));
            fputs("\">", f);
            esc_n(f, text + s, e - s);
            fputs("</span>", f);
        }
        at = e;
    }
    esc_n(f, text + at, len - at);
    fputs("</div>\n", f);
}

/* A tabular (or tensor) explanation as bars, features in input order. */
static void feature_bars(FILE *f, const json_t *res, const json_t *values, const json_t *stderrs) {
    json_t *entries = json_array();
    const json_t *features = json_object_get(res, "features");
    size_t d = json_array_size(values);
    for (size_t i = 0; i < d && i < 64; i++) {
        const json_t *se = stderrs ? json_array_get(stderrs, i) : NULL;
        json_array_append_new(entries, json_pack("{s:s, s:O, s:O, s:O, s:i}", "name",
                                                 json_string_value(json_array_get(features, i)) ? json_string_value(json_array_get(features, i)) : "",
                                                 "mean", json_array_get(values, i), "mean_abs",
                                                 json_array_get(values, i), "se",
                                                 json_is_number(se) ? (json_t *)se : json_null(), "count", 1));
    }
    bar_chart(f, entries, "features");
    json_decref(entries);
}

/* ---- tensors: the map over the input --------------------------------------- */

/* h, w (and channels c) of a result with an image shape; false otherwise. */
static bool image_shape(const json_t *res, size_t *c, size_t *h, size_t *w) {
    const json_t *sh = json_object_get(res, "shape");
    size_t rank = json_array_size(sh);
    if (rank < 2 || rank > 3) return false;
    *c = rank == 3 ? (size_t)json_integer_value(json_array_get(sh, 0)) : 1;
    *h = (size_t)json_integer_value(json_array_get(sh, rank - 2));
    *w = (size_t)json_integer_value(json_array_get(sh, rank - 1));
    return *h > 0 && *w > 0 && *c > 0 &&
           *c * *h * *w == json_array_size(json_object_get(res, "values"));
}

static void rgb_of(double a, int rgb[3]) {
    a = a > 1 ? 1 : a < -1 ? -1 : a;
    int fade = (int)lround(255 * (1 - fabs(a)));
    rgb[0] = a >= 0 ? 255 : fade;
    rgb[1] = fade;
    rgb[2] = a <= 0 ? 255 : fade;
}

/* The relevance map (channels summed) drawn over the input (channels
 * averaged, grey from its min to its max) when `input_row` is there, with a
 * colour bar from -max|v| to +max|v| and its scale. */
/* The colour bar at x = bx, bh high: +m at the top, 0, -m at the bottom;
 * closes the <svg>. */
static void colour_bar(FILE *f, double bx, double bh, double m) {
    double step = bh / 21;
    for (int k = 0; k < 21; k++) {
        int rgb[3];
        rgb_of(1.0 - k / 10.0, rgb);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"16\" height=\"%.2f\" fill=\"rgb(%d,%d,%d)\"/>", bx,
                k * step, step + 0.5, rgb[0], rgb[1], rgb[2]);
    }
    fprintf(f, "\n<text x=\"%.1f\" y=\"12\">+%.3g</text><text x=\"%.1f\" y=\"%.1f\">0</text>"
               "<text x=\"%.1f\" y=\"%.1f\">-%.3g</text>\n</svg>\n",
            bx + 20, m, bx + 20, bh / 2 + 4, bx + 20, bh, m);
}

static bool heatmap_svg(FILE *f, const json_t *res, const char *svg_attrs) {
    size_t c, h, w;
    if (!image_shape(res, &c, &h, &w)) return false;
    const json_t *vals = json_object_get(res, "values"), *in = json_object_get(res, "input_row");
    size_t n = h * w;
    double *g = calloc(n, sizeof *g), *x = calloc(n, sizeof *x), m = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < c * n; i++) {
        g[i % n] += json_number_value(json_array_get(vals, i));
        if (json_array_size(in) == c * n) x[i % n] += json_number_value(json_array_get(in, i)) / (double)c;
    }
    for (size_t i = 0; i < n; i++) {
        m = fabs(g[i]) > m ? fabs(g[i]) : m;
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    double cell = 320.0 / (double)(h > w ? h : w);
    fprintf(f, "<svg%s width=\"%.0f\" height=\"%.0f\" role=\"img\">\n", svg_attrs,
            cell * (double)w + 120, cell * (double)h + 10);
    for (size_t y = 0; y < h; y++)
        for (size_t xx = 0; xx < w; xx++) {
            size_t i = y * w + xx;
            int grey = hi > lo ? (int)lround(255 * (x[i] - lo) / (hi - lo)) : 255, rgb[3];
            double a = m > 0 ? g[i] / m : 0;
            rgb_of(a, rgb);
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"rgb(%d,%d,%d)\"/>"
                       "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"rgb(%d,%d,%d)\" "
                       "fill-opacity=\"%.3f\"><title>(%zu, %zu): %.4g</title></rect>\n",
                    (double)xx * cell, (double)y * cell, cell, cell, grey, grey, grey, (double)xx * cell,
                    (double)y * cell, cell, cell, rgb[0], rgb[1], rgb[2], 0.75 * fabs(a > 1 ? 1 : a), y,
                    xx, g[i]);
        }
    colour_bar(f, cell * (double)w + 20, cell * (double)h, m);
    fprintf(f, "<p class=\"meta\">%zu x %zu map over the input; colour scale max|v| = %.4g "
               "(red supports the explained class, blue opposes it)</p>\n", h, w, m);
    free(g);
    free(x);
    return true;
}

bool xa_heatmap_write_svg(const char *path, const json_t *result, char *msg, size_t msg_len) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(msg, msg_len, "cannot write %.300s: %s", path, strerror(errno));
        return false;
    }
    fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n", f);
    /* a stand-alone SVG file needs its namespace: a name, never fetched */
    bool ok = heatmap_svg(f, result, " xmlns=\"http://www.w3.org/2000/svg\"") && !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok) snprintf(msg, msg_len, "cannot write %.300s (or the result has no image shape)", path);
    return ok;
}

/* One row: its class, f(x) and base value, then the highlighted text (or
 * the map, or bars); with `bars`, a text's features as bars as well. */
static void explanation_row(FILE *f, const json_t *res, const shown_row *r, bool predicted,
                            bool bars) {
    fputs("<p class=\"meta\">explained class: ", f);
    if (r->name[0]) esc(f, r->name);
    else fprintf(f, "%lld", (long long)r->target);
    if (predicted) fputs(" (predicted)", f);
    fprintf(f, "; f(x) = %.4g; base value = ", json_number_value(r->fx));
    if (json_is_number(r->base)) fprintf(f, "%.4g", json_number_value(r->base));
    else fputs("none", f);
    fputs("</p>\n", f);
    if (json_object_get(res, "tokens")) {
        highlight_text(f, res, r->values, r->stderrs);
        if (bars) feature_bars(f, res, r->values, r->stderrs);
    } else if (!heatmap_svg(f, res, "")) {
        feature_bars(f, res, r->values, r->stderrs);
    }
}

/* Every row of a result: a multi-target result shows one view per class,
 * the predicted class's first (marked), then the others in target order. */
static void explanation(FILE *f, const json_t *res, int64_t predicted, bool bars) {
    size_t k = result_n_rows(res), first = predicted_row(res, predicted);
    for (size_t j = 0; j < k; j++) {
        size_t t = j == 0 ? first : j - 1 < first ? j - 1 : j;
        shown_row r = row_at(res, t);
        explanation_row(f, res, &r, k > 1 && predicted >= 0 && r.target == predicted, bars);
    }
}

static void document(FILE *f, const json_t *line, const char *why) {
    fputs("<h3>", f);
    esc_json(f, json_object_get(line, "id"));
    fputs(" <span class=\"meta\">", f);
    esc(f, why);
    if (json_object_get(line, "label")) {
        fputs("; label ", f);
        esc(f, str(line, "label"));
    }
    if (json_object_get(line, "predicted_name")) {
        fputs("; predicted ", f);
        esc(f, str(line, "predicted_name"));
    }
    fputs("</span></h3>\n", f);
    explanation(f, json_object_get(line, "result"), xa_line_predicted(line), false);
}

/* The line whose id equals id, or NULL. */
static const json_t *find_line(const json_t *lines, const json_t *id) {
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) if (json_equal(json_object_get(l, "id"), id)) return l;
    return NULL;
}

static void settings(FILE *f, const json_t *meta, const json_t *s) {
    fputs("<table>\n", f);
    static const char *const keys[] = {"model", "method", "kind", "seed", "target", "params", "space",
                                       "input"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        fprintf(f, "<tr><th>%s</th><td>", keys[k]);
        const json_t *v = json_object_get(meta, keys[k]);
        if (json_is_string(v)) esc(f, json_string_value(v));
        else esc_json(f, v ? v : json_null());
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "<tr><th>inputs</th><td>%lld</td></tr><tr><th>done</th><td>%lld</td></tr>"
               "<tr><th>errors</th><td>%lld ",
            (long long)json_integer_value(json_object_get(s, "n_inputs")),
            (long long)json_integer_value(json_object_get(s, "n_done")),
            (long long)json_integer_value(json_object_get(s, "n_errors")));
    esc_json(f, json_object_get(s, "errors"));
    fputs("</td></tr>\n", f);
    const json_t *run = json_object_get(s, "run");
    if (json_is_object(run))
        fprintf(f, "<tr><th>time</th><td>%.1f s</td></tr>\n", num(run, "seconds"));
    fputs("</table>\n", f);
}

static void label_section(FILE *f, const json_t *lab) {
    if (!json_is_object(lab)) return;
    fprintf(f, "<h2>Labels</h2>\n<p>accuracy %.4f (%lld of %lld)</p>\n<table><tr><th>label \\ predicted</th>",
            num(lab, "accuracy"), (long long)json_integer_value(json_object_get(lab, "n_correct")),
            (long long)json_integer_value(json_object_get(lab, "n_labelled")));
    size_t i, j;
    json_t *c, *r, *x;
    json_array_foreach(json_object_get(lab, "classes"), i, c) {
        fputs("<th>", f);
        esc(f, json_string_value(c));
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    json_array_foreach(json_object_get(lab, "confusion"), i, r) {
        fputs("<tr><th>", f);
        esc(f, json_string_value(json_array_get(json_object_get(lab, "classes"), i)));
        fputs("</th>", f);
        json_array_foreach(r, j, x) fprintf(f, "<td>%lld</td>", (long long)json_integer_value(x));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<h3>Top tokens within misclassified documents</h3>\n", f);
    bar_chart(f, json_object_get(lab, "top_misclassified"), "misclassified documents");
}

static void documents(FILE *f, const json_t *s, const json_t *lines) {
    size_t i, shown = 0;
    json_t *p;
    fputs("<h2>Documents</h2>\n", f);
    json_array_foreach(json_object_get(s, "pick"), i, p) {
        const json_t *l = find_line(lines, json_object_get(p, "id"));
        if (l && shown++ < MAX_DOCS_SHOWN) document(f, l, "picked (SP-LIME)");
    }
    const json_t *missed = json_object_get(json_object_get(s, "labels"), "misclassified");
    json_array_foreach(missed, i, p) {
        const json_t *l = find_line(lines, p);
        if (l && i < MAX_DOCS_SHOWN) document(f, l, "misclassified");
    }
    if (shown == 0 && json_array_size(missed) == 0)
        json_array_foreach(lines, i, p) {
            if (shown >= 10) break;
            if (json_object_get(p, "result")) {
                document(f, p, "first documents");
                shown++;
            }
        }
}

static void errors_section(FILE *f, const json_t *lines) {
    size_t i, n = 0;
    json_t *l;
    json_array_foreach(lines, i, l) {
        const json_t *e = json_object_get(l, "error");
        if (!e) continue;
        if (n++ == 0) fputs("<h2>Errors</h2>\n<table><tr><th>id</th><th>code</th><th>message</th></tr>\n", f);
        if (n > 50) continue;
        fputs("<tr><td>", f);
        esc_json(f, json_object_get(l, "id"));
        fputs("</td><td>", f);
        esc(f, str(e, "code"));
        fputs("</td><td>", f);
        esc(f, str(e, "message"));
        fputs("</td></tr>\n", f);
    }
    if (n) fputs("</table>\n", f);
}

static FILE *open_page(const char *path, const char *title, char *msg, size_t msg_len) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(msg, msg_len, "cannot write %s: %s", path, strerror(errno));
        return NULL;
    }
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    esc(f, title);
    fprintf(f, "</title>\n<style>%s</style></head><body>\n", STYLE);
    return f;
}

static bool close_page(FILE *f, const char *path, char *msg, size_t msg_len) {
    fputs("</body></html>\n", f);
    bool ok = !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok) snprintf(msg, msg_len, "cannot write %s", path);
    return ok;
}

bool xa_report_write(const char *path, const json_t *meta, const json_t *s, const json_t *lines,
                     char *msg, size_t msg_len) {
    FILE *f = open_page(path, "xai audit report", msg, msg_len);
    if (f == NULL) return false;
    fputs("<h1>xai audit: ", f);
    esc(f, str(meta, "model"));
    fputs(" / ", f);
    esc(f, str(meta, "method"));
    fputs("</h1>\n", f);
    settings(f, meta, s);
    const char *what = strcmp(str(s, "kind"), "text") == 0 ? "tokens" : "features";
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(s, "classes"), i, c) {
        fprintf(f, "<h2>Class ");
        esc(f, str(c, "name"));
        fprintf(f, ": top %s (%lld explanation rows)</h2>\n", what,
                (long long)json_integer_value(json_object_get(c, "n_rows")));
        bar_chart(f, json_object_get(c, "top"), what);
    }
    fprintf(f, "<h2>Overall: top %s (each document's predicted class)</h2>\n", what);
    bar_chart(f, json_object_get(json_object_get(s, "overall"), "top"), what);
    label_section(f, json_object_get(s, "labels"));
    documents(f, s, lines);
    errors_section(f, lines);
    return close_page(f, path, msg, msg_len);
}

bool xa_report_write_one(const char *path, const json_t *result, char *msg, size_t msg_len) {
    FILE *f = open_page(path, "xai explanation", msg, msg_len);
    if (f == NULL) return false;
    fputs("<h1>xai explain: ", f);
    esc(f, str(result, "model"));
    fputs(" / ", f);
    esc(f, str(result, "method"));
    fputs("</h1>\n", f);
    explanation(f, result, -1, true);
    return close_page(f, path, msg, msg_len);
}
