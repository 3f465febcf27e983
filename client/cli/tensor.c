/* tensor.c — image-shaped inputs and outputs of the `xai` command line: a
 * tensor from a text file or a PGM image, an attribution map as an ASCII
 * heat grid, and as a PPM/PGM heatmap file.
 *
 * Inputs. A tensor file holds numbers separated by spaces, tabs or commas;
 * when its lines all hold the same count k > 1 of numbers and there are
 * several lines, the file is read as an image of (lines x k) and the CLI
 * sends that layout as space.shape. A PGM (P2 text or P5 binary, maxval up
 * to 65535) is read as a 1 x h x w image with pixel p scaled to
 * p / maxval * image_max (default 1: the digits networks take sklearn's
 * 0..16 pixels divided by 16, so a PGM of maxval 16 maps one to one).
 *
 * Outputs. A map of rank 3 (c, h, w) or 2 (h, w) is drawn as an h x w grid
 * (channels summed); each cell is the signed level round(9 v / max |v|),
 * shown as +N / -N, and "." below one level. The heatmap file is a P6 PPM
 * with a diverging colormap (white at 0, red for positive relevance, blue
 * for negative, full colour at max |v|) or, for a .pgm path, a P5 grey map
 * (128 at 0, 255 at +max, 0 at -max); each cell is a scale x scale square.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* ---- reading ------------------------------------------------------------ */

static bool push(cli_tensor *t, size_t *cap, double v) {
    if (t->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        double *nx = realloc(t->x, *cap * sizeof *nx);
        if (nx == NULL) return false;
        t->x = nx;
    }
    t->x[t->n++] = v;
    return true;
}

/* Appends the numbers of one line; their count, or -1 with msg set. */
static long parse_line(const char *line, cli_tensor *t, size_t *cap, const char *path, char *msg,
                       size_t msg_len) {
    long k = 0;
    for (const char *p = line;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r') p++;
        if (*p == '\0') return k;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v)) {
            snprintf(msg, msg_len, "%s: \"%.20s\" is not a number", path, p);
            return -1;
        }
        if (!push(t, cap, v)) {
            snprintf(msg, msg_len, "out of memory reading %s", path);
            return -1;
        }
        k++;
        p = end;
    }
}

bool cli_read_tensor_file(const char *path, cli_tensor *t, char *msg, size_t msg_len) {
    size_t len, cap = 0, lines = 0;
    long per_line = 0;
    bool regular = true;
    char *buf = cli_read_file(path, &len, msg, msg_len);
    memset(t, 0, sizeof *t);
    if (buf == NULL) return false;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        long k = parse_line(line, t, &cap, path, msg, msg_len);
        if (k < 0) goto fail;
        if (k == 0) continue;
        if (lines++ == 0) per_line = k;
        else if (k != per_line) regular = false;
    }
    if (t->n == 0) {
        snprintf(msg, msg_len, "%s holds no numbers", path);
        goto fail;
    }
    if (regular && lines > 1 && per_line > 1) t->h = lines, t->w = (size_t)per_line;
    free(buf);
    return true;
fail:
    free(buf);
    free(t->x);
    memset(t, 0, sizeof *t);
    return false;
}

/* The next header number of a PGM (skipping blanks and # comments). */
static bool pgm_number(const unsigned char *b, size_t len, size_t *at, long *out) {
    while (*at < len && (isspace(b[*at]) || b[*at] == '#')) {
        if (b[*at] == '#')
            while (*at < len && b[*at] != '\n') (*at)++;
        else
            (*at)++;
    }
    long v = 0;
    size_t start = *at;
    while (*at < len && isdigit(b[*at]) && v < 1000000) v = v * 10 + (b[(*at)++] - '0');
    *out = v;
    return *at > start && v < 1000000;
}

bool cli_read_pgm(const char *path, double image_max, cli_tensor *t, char *msg, size_t msg_len) {
    size_t len, at = 2;
    long w, h, maxval;
    memset(t, 0, sizeof *t);
    unsigned char *b = (unsigned char *)cli_read_file(path, &len, msg, msg_len);
    if (b == NULL) return false;
    bool binary = len > 2 && b[0] == 'P' && b[1] == '5';
    if (!(len > 2 && b[0] == 'P' && (b[1] == '2' || b[1] == '5')) || !pgm_number(b, len, &at, &w) ||
        !pgm_number(b, len, &at, &h) || !pgm_number(b, len, &at, &maxval) || w < 1 || h < 1 ||
        maxval < 1 || maxval > 65535) {
        snprintf(msg, msg_len, "%s is not a PGM image (P2 or P5 with width, height, maxval)", path);
        goto fail;
    }
    size_t n = (size_t)w * (size_t)h, width = maxval > 255 ? 2 : 1;
    at++; /* the one whitespace after maxval */
    /* Every pixel takes at least one byte, so n <= len bounds the buffer. */
    if (at > len || n > len || (binary && len - at < n * width)) {
        snprintf(msg, msg_len, "%s: truncated: %zu pixels expected", path, n);
        goto fail;
    }
    t->x = malloc(n * sizeof *t->x);
    if (t->x == NULL) goto fail;
    for (size_t i = 0; i < n; i++) {
        long p;
        if (binary) p = width == 2 ? b[at + 2 * i] << 8 | b[at + 2 * i + 1] : b[at + i];
        else if (!pgm_number(b, len, &at, &p) || p > maxval) {
            snprintf(msg, msg_len, "%s: pixel %zu is missing or above maxval", path, i);
            goto fail;
        }
        t->x[i] = (double)p / (double)maxval * image_max;
    }
    t->n = n, t->h = (size_t)h, t->w = (size_t)w;
    free(b);
    return true;
fail:
    free(b);
    free(t->x);
    memset(t, 0, sizeof *t);
    return false;
}

/* ---- the map ------------------------------------------------------------- */

/* The h x w grid of a result (channels summed) in a malloc'd array; NULL
 * when the result has no image shape. */
static double *grid_of(const xai_result *r, size_t *h, size_t *w) {
    size_t c = r->rank == 3 ? r->shape[0] : 1;
    if (r->rank < 2 || r->rank > 3) return NULL;
    *h = r->shape[r->rank - 2], *w = r->shape[r->rank - 1];
    if (*h == 0 || *w == 0 || c * *h * *w != r->d) return NULL;
    double *g = calloc(*h * *w, sizeof *g);
    for (size_t i = 0; g && i < r->d; i++)
        if (isfinite(r->values[i])) g[i % (*h * *w)] += r->values[i];
    return g;
}

static double grid_scale(const double *g, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(g[i]) > m ? fabs(g[i]) : m;
    return m;
}

void cli_render_grid(FILE *f, const xai_result *r, bool color) {
    size_t h, w;
    double *g = grid_of(r, &h, &w);
    if (g == NULL) return;
    double m = grid_scale(g, h * w);
    fprintf(f, "relevance map %zu x %zu (level = 9 v / max|v|, max|v| = %.4g; + supports the target)\n",
            h, w, m);
    for (size_t y = 0; y < h; y++) {
        for (size_t x = 0; x < w; x++) {
            double v = m > 0 ? 9 * g[y * w + x] / m : 0;
            int lv = (int)lround(v);
            if (color && lv != 0)
                fprintf(f, "\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", lv > 0 ? 255 : 255 + 20 * lv,
                        255 - 20 * abs(lv), lv < 0 ? 255 : 255 - 20 * lv);
            if (lv == 0) fputs("  .", f);
            else fprintf(f, " %+d", lv);
            if (color && lv != 0) fputs("\x1b[0m", f);
        }
        fputc('\n', f);
    }
    free(g);
}

/* One cell's colour: white at 0, red towards +1, blue towards -1. */
static void diverging(double a, unsigned char rgb[3]) {
    a = a > 1 ? 1 : a < -1 ? -1 : a;
    unsigned char fade = (unsigned char)lround(255 * (1 - fabs(a)));
    rgb[0] = a >= 0 ? 255 : fade;
    rgb[1] = fade;
    rgb[2] = a <= 0 ? 255 : fade;
}

/* The input's grey level per cell, 0..1 (channels averaged, min..max);
 * NULL without an input. */
static double *grey_of(const xai_result *r, const double *input, size_t h, size_t w) {
    if (input == NULL) return NULL;
    size_t n = h * w;
    double *g = calloc(n, sizeof *g), lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; g && i < r->d; i++) g[i % n] += input[i] / (double)(r->d / n);
    for (size_t i = 0; g && i < n; i++) {
        lo = g[i] < lo ? g[i] : lo;
        hi = g[i] > hi ? g[i] : hi;
    }
    for (size_t i = 0; g && i < n; i++) g[i] = hi > lo ? (g[i] - lo) / (hi - lo) : 1;
    return g;
}

bool cli_write_heatmap(const char *path, const xai_result *r, const double *input, size_t scale,
                       char *msg, size_t msg_len) {
    size_t h, w, n = strlen(path);
    double *g = grid_of(r, &h, &w);
    if (g == NULL) {
        snprintf(msg, msg_len, "--heatmap: the result has no image shape");
        return false;
    }
    bool gray = n > 4 && strcmp(path + n - 4, ".pgm") == 0;
    if (scale == 0) scale = h >= 128 || w >= 128 ? 1 : 128 / (h > w ? h : w);
    double m = grid_scale(g, h * w);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        snprintf(msg, msg_len, "cannot write %s: %s", path, strerror(errno));
        free(g);
        return false;
    }
    double *grey = gray ? NULL : grey_of(r, input, h, w);
    fprintf(f, "%s\n%zu %zu\n255\n", gray ? "P5" : "P6", w * scale, h * scale);
    for (size_t y = 0; y < h * scale; y++)
        for (size_t x = 0; x < w * scale; x++) {
            size_t cell = (y / scale) * w + x / scale;
            double a = m > 0 ? g[cell] / m : 0;
            unsigned char rgb[3];
            diverging(a, rgb);
            if (grey) {   /* over the input: its grey, toward the colour by |a| */
                double t = fabs(a) > 1 ? 1 : fabs(a), base = 255 * grey[cell];
                unsigned char full[3] = {a >= 0 ? 255 : 0, 0, a <= 0 ? 255 : 0};
                for (int k = 0; k < 3; k++) rgb[k] = (unsigned char)lround((1 - t) * base + t * full[k]);
            }
            if (gray) fputc((int)lround(127.5 + 127.5 * (a > 1 ? 1 : a < -1 ? -1 : a)), f);
            else fwrite(rgb, 1, 3, f);
        }
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok) snprintf(msg, msg_len, "cannot write %s", path);
    else snprintf(msg, msg_len, "%sfull red = +%.4g, full blue = -%.4g", grey ? "over the input; " : "",
                  m, m);
    free(g);
    free(grey);
    return ok;
}
