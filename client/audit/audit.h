/* audit.h — the parts of `xai audit` shared by its files (docs/AUDIT.md):
 *
 *   reader.c     input file -> documents (JSON Lines, CSV/TSV, text lines)
 *   results.c    DIR/results.jsonl: whole-line appends, resume, loading
 *   aggregate.c  results -> per-class token/feature statistics, labels, pick
 *   report.c     summary + results -> self-contained report.html
 *   window.c     a batch of jobs from the CLI: xai_client_explain_many,
 *                progress, Ctrl-C
 *   faith.c      --faithfulness: a deletion score per explained document
 *   merge.c      summary + report from results; `audit merge` of shards
 *   run.c        the `audit` command: options, settings, the run
 *
 * Data flows one way: reader -> jobs -> results.jsonl -> aggregate ->
 * summary.json -> report.html. results.jsonl is the only state; everything
 * after it is recomputed from it, sorted by input position, so a resumed,
 * a sharded-and-merged and an uninterrupted run give the same summary.
 *
 * JSON is libjansson's json_t throughout (reference counted; the functions
 * here say when they take or return a reference). Names are prefixed xa_.
 */
#ifndef XA_AUDIT_H
#define XA_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "xai/client.h"

/* ---- reader.c ------------------------------------------------------------ */

typedef enum xa_format { XA_FMT_AUTO, XA_FMT_JSONL, XA_FMT_CSV, XA_FMT_TSV, XA_FMT_TEXT } xa_format;

typedef struct xa_reader_opts {
    xa_format format;
    const char *id_col, *text_col, *label_col;  /* CSV/TSV column names (NULL: defaults
                                                   "id", "text", "label" when present) */
    const char *feature_cols;                   /* CSV/TSV: comma-separated names; NULL: every
                                                   column but id/label (tabular models) */
    bool tabular;                               /* the model takes rows, not texts */
} xa_reader_opts;

/* One input document. Exactly one of text, row, error is the payload. */
typedef struct xa_doc {
    json_t *id;             /* the id as given (string or integer), or the line number */
    char *key;              /* the id as a string: what resume and shards compare */
    size_t n;               /* position in the input, 1-based (line or record number) */
    char *text;
    size_t text_len;
    double *row;
    size_t n_cols;
    char *label;            /* NULL when the input has none */
    char *error;            /* malformed input: the reason (recorded as bad_format) */
} xa_doc;

typedef struct xa_docs {
    xa_doc *v;
    size_t n;
    char **columns;         /* tabular CSV: the feature column names, else NULL */
    size_t n_columns;
} xa_docs;

/* Reads every document of `path`. false with msg on a file that cannot be
 * read at all (missing, no header); a bad line or record is that document's
 * error instead. A repeated id is an error of the later document. */
bool xa_read_input(const char *path, const xa_reader_opts *o, xa_docs *out, char *msg,
                   size_t msg_len);
void xa_docs_free(xa_docs *d);
/* FNV-1a 64 of a string: shard slices and per-document seeds. */
uint64_t xa_hash(const char *s);

/* ---- results.c ----------------------------------------------------------- */

typedef struct xa_results {
    int fd;                 /* O_APPEND, or -1 */
    json_t *seen;           /* object: key -> true (a result) or its error code,
                               every id already in the file */
    size_t unsynced;        /* lines since the last fdatasync */
    double last_sync;
} xa_results;

/* Opens (creating) DIR/file (results.jsonl, faithfulness.jsonl) for
 * appending: reads the ids already there, drops a torn last line
 * (truncates it). false with msg on failure. */
bool xa_results_open(const char *dir, const char *file, xa_results *r, char *msg,
                     size_t msg_len);
/* Appends one whole line: `line` (a JSON object, borrowed) + "\n" with one
 * write(2); fdatasync at most once a second (and at close). */
bool xa_results_append(xa_results *r, const json_t *line, char *msg, size_t msg_len);
/* Whether id `key` needs no new job: it has a line, and (with retry_errors)
 * that line is a result or a bad_format error. */
bool xa_results_done(const xa_results *r, const char *key, bool retry_errors);
void xa_results_close(xa_results *r);
/* Every line of a results file as a JSON array, sorted by "n" then id, the
 * torn last line (if any) skipped; a later line for an id already seen is
 * dropped, except that a result replaces an earlier error (a retry). New reference; NULL with msg when the file cannot be read. */
json_t *xa_results_load(const char *path, char *msg, size_t msg_len);
/* Sorts an array of lines in place by "n", then id. */
void xa_lines_sort(json_t *lines);

/* ---- aggregate.c --------------------------------------------------------- */

typedef struct xa_agg_opts {
    size_t top;             /* tokens/features listed per class (default 20) */
    size_t min_count;       /* occurrences a token needs to be ranked (default 1) */
    bool casefold;          /* aggregate tokens case-folded (ASCII) */
    size_t pick;            /* SP-LIME budget B (0: none) */
    size_t bins;            /* tabular value-vs-attribution bins (default 5) */
} xa_agg_opts;

/* The summary of sorted results lines (xa_results_load): counts, per-class
 * and overall statistics, labels, picked documents. n_inputs is the size of
 * the input (the results may be fewer). New reference, or NULL on out of
 * memory. Result lines may hold single-target or multi-target results. */
json_t *xa_aggregate(const json_t *lines, size_t n_inputs, const xa_agg_opts *o);

/* The deletion-AOPC statistics of faithfulness.jsonl's sorted lines: n,
 * mean, sd, se, min, max, n_errors (docs/AUDIT.md). New reference. */
json_t *xa_faithfulness_summary(const json_t *lines);

/* The class a results line's document was predicted as, or -1 when its
 * line does not say (an explicit single --target). */
int64_t xa_line_predicted(const json_t *line);

/* ---- report.c ------------------------------------------------------------ */

/* Writes the self-contained HTML report of `summary` and the sorted
 * `lines` (a few highlighted documents: picked, misclassified, first ones)
 * to `path`. `meta` is the audit's audit.json (model, method, params).
 * false with msg on an I/O error. */
bool xa_report_write(const char *path, const json_t *meta, const json_t *summary,
                     const json_t *lines, char *msg, size_t msg_len);
/* The same view for one explanation (a result wire map as JSON; an
 * "input_row" array, when added, is drawn under a tensor's map). */
bool xa_report_write_one(const char *path, const json_t *result, char *msg, size_t msg_len);
/* A tensor result's map over its input, with a colour bar and scale, as a
 * stand-alone SVG file; false when the result has no image shape. */
bool xa_heatmap_write_svg(const char *path, const json_t *result, char *msg, size_t msg_len);

/* ---- window.c ------------------------------------------------------------ */

/* How the CLI runs a batch of jobs (0 fields: libxaiclient's defaults). */
typedef struct xa_many {
    size_t window;
    int retries;
    int job_timeout_ms;
    bool quiet;
    bool retry_errors;      /* --retry-errors: redo ids whose line is an error */
} xa_many;

/* Monotonic seconds. */
double xa_now(void);
/* xai_client_explain_many of reqs[0..n) with the progress display (before
 * of total inputs already done) and Ctrl-C cancelling the jobs in flight:
 * then XAI_ERR_CANCELLED and *was_interrupted. */
xai_status xa_run_many(xai_client *c, const xai_job_request *reqs, size_t n, const xa_many *m,
                       size_t before, size_t total, xai_many_done_fn done, void *ctx,
                       bool *was_interrupted, xai_error *err);

/* ---- faith.c ------------------------------------------------------------- */

/* --faithfulness: a `faithfulness` job (deletion) for every explained line
 * of DIR/results.jsonl not yet in DIR/faithfulness.jsonl, on `model` with
 * `space` (borrowed); appends one line per id. Returns the CLI exit code
 * (130 after Ctrl-C). */
int xa_faithfulness(xai_client *c, const char *model, const char *dir, const xai_value *space,
                    const xa_many *m);

/* ---- merge.c ------------------------------------------------------------- */

/* Recomputes DIR/summary.json and DIR/report.html from DIR/results.jsonl
 * and DIR/audit.json (the audit's settings, borrowed); `run` (borrowed, may
 * be NULL) is stored as the summary's "run" block (times, which differ
 * between runs; everything else is a function of the results). */
bool xa_finish(const char *dir, const json_t *meta, const xa_agg_opts *o, const json_t *run,
               json_t **summary, char *msg, size_t msg_len);
/* Reads DIR/audit.json (new reference), NULL with msg when absent or bad. */
json_t *xa_meta_load(const char *dir, char *msg, size_t msg_len);
/* Writes `v` as DIR/name through a temporary file and rename(2). */
bool xa_write_json(const char *dir, const char *name, const json_t *v, char *msg, size_t msg_len);
/* `xai audit merge --out DIR SHARD_DIR...`; argv after "merge". */
int xa_cmd_merge(int argc, char **argv);

/* ---- run.c --------------------------------------------------------------- */

/* `xai audit ...` and `xai audit merge ...`; argv after "audit". Returns the
 * CLI exit code. */
int xa_cmd_audit(const char *endpoint, int argc, char **argv);

#endif
