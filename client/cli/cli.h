/* cli.h — the parts of the `xai` command line shared by its files:
 * main.c (commands), options.c (parsing option values and inputs),
 * tensor.c (image inputs, heat grids and heatmap files), render.c
 * (human output) and prometheus.c (`stats --prometheus`).
 *
 * The CLI only uses the public API (include/xai/); its own allocations are
 * plain malloc/free through xai_free-compatible calls.
 */
#ifndef XAI_CLI_H
#define XAI_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include "xai/client.h"

/* Exit codes: 0 success, 1 an error from the daemon or the system,
 * 2 a usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* ---- options.c ---------------------------------------------------------- */

/* Parses the value of a `key=value` option: true/false, null, an integer,
 * a finite number, a bracketed list `[a,b,...]` (nested lists allowed), or
 * else a string ("..." quotes are removed). NULL with a message on error. */
xai_value *cli_parse_value(const char *s, char *msg, size_t msg_len);

/* Adds `key=value` to map m (creating it when *m is NULL). false with a
 * message when the option is malformed. */
bool cli_add_option(xai_value **m, const char *kv, char *msg, size_t msg_len);

/* Sets (*m)["target"] from a --target value, as `xai explain` and
 * `xai audit` both read it: a class index or name, "all", a bracketed list,
 * or entries separated by commas (`ham,spam` is ["ham", "spam"], `0,2` is
 * [0, 2]). false with a message when malformed. */
bool cli_add_target(xai_value **m, const char *s, char *msg, size_t msg_len);

/* Parses "1.2,3.4,..." into a malloc'd array. false with a message. */
bool cli_parse_row(const char *s, double **row, size_t *n, char *msg, size_t msg_len);

/* Reads a whole file ("-" = stdin) into a malloc'd NUL-terminated buffer. */
char *cli_read_file(const char *path, size_t *len, char *msg, size_t msg_len);

/* ---- tensor.c ----------------------------------------------------------- */

/* An input tensor read by the CLI: n numbers, laid out h x w when the
 * source said so (h = w = 0 otherwise). x is malloc'd. */
typedef struct cli_tensor {
    double *x;
    size_t n, h, w;
} cli_tensor;

/* Numbers separated by blanks or commas; equal-length lines give h x w. */
bool cli_read_tensor_file(const char *path, cli_tensor *t, char *msg, size_t msg_len);
/* A P2/P5 PGM as 1 x h x w, pixels scaled to [0, image_max]. */
bool cli_read_pgm(const char *path, double image_max, cli_tensor *t, char *msg, size_t msg_len);
/* The ASCII heat grid of a result with an image shape (nothing otherwise). */
void cli_render_grid(FILE *f, const xai_result *r, bool color);
/* Writes the map as a P6 PPM (diverging red/blue) or, for *.pgm, a P5 PGM;
 * each cell scale x scale pixels (0: about 128 pixels across). With the
 * input (r->d numbers, or NULL) the PPM is drawn over it: each cell is the
 * input's grey (channels averaged, min..max) blended toward red/blue by
 * |v| / max|v|, so the strongest cell is pure colour. On success msg holds
 * the colour scale ("full red = +max|v|, ..."). */
bool cli_write_heatmap(const char *path, const xai_result *r, const double *input, size_t scale,
                       char *msg, size_t msg_len);

/* ---- render.c ----------------------------------------------------------- */

typedef struct cli_render_opts {
    bool color;            /* ANSI colours (a terminal, and NO_COLOR unset) */
    size_t top;            /* rows of the ranked table */
    const double *row;     /* the explained row (tabular), or NULL */
    size_t n_cols;
} cli_render_opts;

/* Human explanation: highlighted text, ranked features, f(x), base value,
 * target, evaluator counters. */
void cli_render_result(FILE *f, const xai_result *r, const cli_render_opts *o);
/* The `models` reply as a table. */
void cli_render_models(FILE *f, const xai_value *reply);
/* Every method of the registry (or only `only`) with its parameters,
 * types, defaults, ranges and meaning, read from libxai. false with a
 * "did you mean" message when `only` is no method. */
bool cli_render_methods(FILE *f, const char *only, char *msg, size_t msg_len);
/* The `stats` map in the Prometheus text format (prometheus.c). */
void cli_render_prometheus(FILE *f, const xai_value *stats);
/* Progress line on a terminal (stderr); cli_progress_clear erases it. */
void cli_progress(void *ctx, uint64_t job, double fraction, const xai_eval_stats *s);
void cli_progress_clear(void);

#endif
