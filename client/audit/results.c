/* results.c — DIR/results.jsonl, the audit's only state: one whole JSON
 * line per input id, appended as jobs end.
 *
 * Writing: the file is opened O_APPEND and each line (JSON + "\n") goes out
 * in one write(2), so a line is in the file whole or (if the process dies
 * inside the call) possibly torn at the very end, never interleaved. A
 * SIGKILL loses nothing written: the page cache outlives the process.
 * fdatasync runs at most once a second and at close, which bounds what a
 * power loss can take to about a second of lines (docs/AUDIT.md).
 *
 * Resuming: opening reads every complete line's id into `seen`; a last line
 * without its "\n" (torn) is cut off with ftruncate before anything is
 * appended, so the next line starts on a line of its own. `seen` maps an
 * id to true (a result) or its error code, so `--retry-errors` can redo
 * the ids whose line is an error (never bad_format: the input line itself
 * is malformed). Loading for aggregation sorts lines by input position and
 * keeps the first line of an id, except that a result replaces an earlier
 * error of its id (the retry's line), so the summary never depends on the
 * order jobs happened to end in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "audit.h"
#include "../cli/cli.h"

#define SYNC_SECONDS 1.0

/* A line's id as the key string reader.c makes of it. */
static bool line_key(const json_t *line, char *buf, size_t len) {
    const json_t *id = json_object_get(line, "id");
    if (json_is_string(id)) snprintf(buf, len, "%s", json_string_value(id));
    else if (json_is_integer(id)) snprintf(buf, len, "%lld", (long long)json_integer_value(id));
    else return false;
    return true;
}

/* Calls fn for each complete, parseable line of buf; returns the length of
 * the complete-lines prefix (what stays when a torn tail is cut). */
static size_t each_line(const char *buf, size_t len, void (*fn)(json_t *, void *), void *ctx) {
    size_t at = 0;
    while (at < len) {
        const char *nl = memchr(buf + at, '\n', len - at);
        if (nl == NULL) break;                  /* torn: no newline */
        size_t l = (size_t)(nl - (buf + at));
        json_t *o = l ? json_loadb(buf + at, l, 0, NULL) : NULL;
        if (json_is_object(o)) fn(o, ctx);
        json_decref(o);
        at += l + 1;
    }
    return at;
}

/* What `seen` holds for a line: its error code, or true for a result. */
static json_t *seen_value(const json_t *line) {
    const json_t *e = json_object_get(line, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    return e ? json_string(code ? code : "internal_error") : json_true();
}

static void note_seen(json_t *line, void *ctx) {
    char key[1024];
    if (line_key(line, key, sizeof key)) json_object_set_new(ctx, key, seen_value(line));
}

bool xa_results_done(const xa_results *r, const char *key, bool retry_errors) {
    const json_t *v = json_object_get(r->seen, key);
    if (v == NULL) return false;
    if (!retry_errors || !json_is_string(v)) return true;
    return strcmp(json_string_value(v), "bad_format") == 0;
}

bool xa_results_open(const char *dir, const char *file, xa_results *r, char *msg,
                     size_t msg_len) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    r->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (r->fd < 0) {
        snprintf(msg, msg_len, "cannot open %.300s: %s", path, strerror(errno));
        return false;
    }
    r->seen = json_object();
    size_t len = 0;
    char *buf = cli_read_file(path, &len, msg, msg_len);
    if (buf == NULL) return false;
    size_t keep = each_line(buf, len, note_seen, r->seen);
    free(buf);
    if (keep < len && ftruncate(r->fd, (off_t)keep) != 0) {
        snprintf(msg, msg_len, "cannot cut the torn last line of %.300s: %s", path, strerror(errno));
        return false;
    }
    r->last_sync = xa_now();
    return true;
}

bool xa_results_append(xa_results *r, const json_t *line, char *msg, size_t msg_len) {
    char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
    if (s == NULL) {
        snprintf(msg, msg_len, "out of memory");
        return false;
    }
    size_t n = strlen(s);
    s[n] = '\n';            /* json_dumps' NUL becomes the newline: one buffer, one write */
    ssize_t w;
    do w = write(r->fd, s, n + 1);
    while (w < 0 && errno == EINTR);
    free(s);
    if (w != (ssize_t)(n + 1)) {
        snprintf(msg, msg_len, "results.jsonl: write: %s", w < 0 ? strerror(errno) : "short");
        return false;
    }
    char key[1024];
    if (line_key(line, key, sizeof key)) json_object_set_new(r->seen, key, seen_value(line));
    r->unsynced++;
    double now = xa_now();
    if (now - r->last_sync >= SYNC_SECONDS) {
        fdatasync(r->fd);
        r->unsynced = 0;
        r->last_sync = now;
    }
    return true;
}

void xa_results_close(xa_results *r) {
    if (r->fd >= 0) {
        if (r->unsynced) fdatasync(r->fd);
        close(r->fd);
    }
    json_decref(r->seen);
    r->fd = -1;
    r->seen = NULL;
}

/* ---- loading ------------------------------------------------------------- */

typedef struct load_ctx {
    json_t *arr, *seen;     /* seen: key -> index of its line in arr */
} load_ctx;

static void keep_line(json_t *line, void *ctx) {
    load_ctx *l = ctx;
    char key[1024];
    if (!line_key(line, key, sizeof key)) return;
    const json_t *at = json_object_get(l->seen, key);
    if (at == NULL) {
        json_object_set_new(l->seen, key, json_integer((json_int_t)json_array_size(l->arr)));
        json_array_append(l->arr, line);
        return;
    }
    size_t i = (size_t)json_integer_value(at);
    if (json_object_get(json_array_get(l->arr, i), "error") && !json_object_get(line, "error"))
        json_array_set(l->arr, i, line);        /* a retried error's result */
}

static int cmp_lines(const void *a, const void *b) {
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t nx = json_integer_value(json_object_get(x, "n"));
    json_int_t ny = json_integer_value(json_object_get(y, "n"));
    if (nx != ny) return nx < ny ? -1 : 1;
    char kx[1024], ky[1024];
    line_key(x, kx, sizeof kx);
    line_key(y, ky, sizeof ky);
    return strcmp(kx, ky);
}

json_t *xa_results_load(const char *path, char *msg, size_t msg_len) {
    size_t len = 0;
    char *buf = cli_read_file(path, &len, msg, msg_len);
    if (buf == NULL) return NULL;
    load_ctx l = {json_array(), json_object()};
    each_line(buf, len, keep_line, &l);
    free(buf);
    json_decref(l.seen);
    xa_lines_sort(l.arr);
    return l.arr;
}

void xa_lines_sort(json_t *lines) {
    size_t n = json_array_size(lines);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(lines, i));
    qsort(v, n, sizeof *v, cmp_lines);
    json_array_clear(lines);
    for (size_t i = 0; i < n; i++) json_array_append_new(lines, v[i]);
    free(v);
}
