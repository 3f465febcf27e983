/* config.c — xaid's configuration: defaults, the config file, flags, and the
 * background CSVs of tabular models (docs/CONFIG.md is the user's page).
 *
 * The file is lines of `key = value`; `#` starts a comment. Plain keys set
 * daemon settings; `model NAME = kind@endpoint` declares a model and
 * `model NAME.field = value` sets one of its fields; `net NAME = path` names
 * a native network, loaded (xai_nn_load) as the line is read. Flags go through the
 * same setter, so a flag and a file line mean the same thing. Every error
 * names the line (or flag) and the key. xd_srv_config_finish() checks what
 * only makes sense as a whole (a model has an endpoint, a tabular
 * background fits the limits) and loads the CSVs, so the daemon refuses to
 * start on a bad config instead of failing the first job.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"

void xd_srv_config_init(xd_srv_config *c) {
    memset(c, 0, sizeof *c);
    c->bind = xd_strdup("ipc:///tmp/xaid.sock");
    c->workers = 4;
    c->cache_bytes = (size_t)256 << 20;
    c->job_deadline_ms = 60000;
    c->max_message_bytes = (size_t)64 << 20;
    c->max_queue = 1000;
    c->max_tokens = 20000;
    c->max_features = 100000;
    c->max_samples = 1000000;
    c->max_background = 10000;
    c->max_mask_token_bytes = 64;
    c->max_job_bytes = (size_t)256 << 20;
    c->max_deadline_ms = 3600000;
    c->shutdown_grace_ms = 5000;
    c->ready_wait_ms = 1000;
    c->log_level = XD_LOG_INFO;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; names && i < n; i++) xd_free(names[i]);
    xd_free(names);
}

static void model_free(xd_srv_model_cfg *m) {
    xd_free(m->name);
    xd_free(m->endpoint);
    xd_free(m->background_path);
    xd_free(m->background);
    free_names(m->bg_names, m->bg_cols);
}

void xd_srv_config_free(xd_srv_config *c) {
    if (c == NULL) return;
    xd_free(c->bind);
    for (size_t i = 0; i < c->n_models; i++) model_free(&c->models[i]);
    xd_free(c->models);
    for (size_t i = 0; i < c->n_nets; i++) {
        xd_free(c->nets[i].name);
        xd_free(c->nets[i].path);
        xai_nn_free(c->nets[i].net);
    }
    xd_free(c->nets);
    memset(c, 0, sizeof *c);
}

/* ---- values ------------------------------------------------------------- */

static xai_status parse_int(const char *key, const char *v, int64_t lo, int64_t hi, int64_t *out,
                            xai_error *err) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < lo || x > hi)
        return xd_err(err, XAI_ERR_INVALID, "%s: \"%s\" is not an integer in [%lld, %lld]", key,
                      v, (long long)lo, (long long)hi);
    *out = x;
    return XAI_OK;
}

static xai_status set_size(const char *key, const char *v, int64_t lo, size_t *out,
                           xai_error *err) {
    int64_t x;
    xai_status st = parse_int(key, v, lo, INT64_MAX / 2, &x, err);
    if (st == XAI_OK) *out = (size_t)x;
    return st;
}

static xai_status set_log_level(const char *v, xd_log_level *out, xai_error *err) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < XD_ARRAY_LEN(names); i++)
        if (strcmp(v, names[i]) == 0) {
            *out = (xd_log_level)i;
            return XAI_OK;
        }
    return xd_err(err, XAI_ERR_INVALID, "log_level: \"%s\" is not debug|info|warn|error", v);
}

/* ---- models --------------------------------------------------------------- */

static xd_srv_model_cfg *find_model(xd_srv_config *c, const char *name, size_t len) {
    for (size_t i = 0; i < c->n_models; i++)
        if (strlen(c->models[i].name) == len && strncmp(c->models[i].name, name, len) == 0)
            return &c->models[i];
    return NULL;
}

static bool valid_name(const char *s, size_t len) {
    if (len == 0 || len > 64) return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-')) return false;
    return true;
}

/* The model `name`, created with defaults when new. */
static xd_srv_model_cfg *model_slot(xd_srv_config *c, const char *name, size_t len) {
    xd_srv_model_cfg *m = find_model(c, name, len);
    if (m) return m;
    c->models = xd_realloc(c->models, (c->n_models + 1) * sizeof *c->models);
    m = &c->models[c->n_models++];
    memset(m, 0, sizeof *m);
    m->name = xd_strndup(name, len);
    m->timeout_ms = 5000;
    m->retries = 2;
    m->max_rows = 1000;
    m->max_bytes = (size_t)16 << 20;
    m->max_answer_bytes = (size_t)256 << 20;
    return m;
}

/* "kind@endpoint" for model m. */
static xai_status set_model_target(xd_srv_model_cfg *m, const char *v, xai_error *err) {
    const char *at = strchr(v, '@');
    if (at == NULL || at[1] == '\0')
        return xd_err(err, XAI_ERR_INVALID, "model %s: \"%s\" is not kind@endpoint", m->name, v);
    size_t kl = (size_t)(at - v);
    if (kl == 4 && strncmp(v, "text", 4) == 0) m->kind = XAI_INPUT_TEXT;
    else if (kl == 7 && strncmp(v, "tabular", 7) == 0) m->kind = XAI_INPUT_ROWS;
    else
        return xd_err(err, XAI_ERR_INVALID, "model %s: kind \"%.*s\" is not text|tabular",
                      m->name, (int)kl, v);
    xd_free(m->endpoint);
    m->endpoint = xd_strdup(at + 1);
    return XAI_OK;
}

static xai_status set_model_field(xd_srv_model_cfg *m, const char *field, const char *v,
                                  xai_error *err) {
    int64_t x;
    xai_status st = XAI_OK;
    if (strcmp(field, "timeout_ms") == 0) {
        if ((st = parse_int("timeout_ms", v, 1, 3600000, &x, err)) == XAI_OK) m->timeout_ms = (int)x;
    } else if (strcmp(field, "retries") == 0) {
        if ((st = parse_int("retries", v, 0, 100, &x, err)) == XAI_OK) m->retries = (int)x;
    } else if (strcmp(field, "max_rows") == 0) {
        st = set_size("max_rows", v, 1, &m->max_rows, err);
    } else if (strcmp(field, "max_bytes") == 0) {
        st = set_size("max_bytes", v, 1024, &m->max_bytes, err);
    } else if (strcmp(field, "max_answer_bytes") == 0) {
        st = set_size("max_answer_bytes", v, 4096, &m->max_answer_bytes, err);
    } else if (strcmp(field, "background") == 0) {
        xd_free(m->background_path);
        m->background_path = xd_strdup(v);
    } else {
        return xd_err(err, XAI_ERR_INVALID, "model %s: unknown field \"%s\"", m->name, field);
    }
    if (st != XAI_OK) xd_err_prefix(err, "model: ");
    return st;
}

/* `model NAME` or `model NAME.field` = v. */
static xai_status set_model(xd_srv_config *c, const char *rest, const char *v, xai_error *err) {
    const char *dot = strchr(rest, '.');
    size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
    if (!valid_name(rest, len))
        return xd_err(err, XAI_ERR_INVALID, "model name \"%.*s\" must be 1-64 of [A-Za-z0-9_-]",
                      (int)len, rest);
    if (dot == NULL) return set_model_target(model_slot(c, rest, len), v, err);
    xd_srv_model_cfg *m = find_model(c, rest, len);
    if (m == NULL)
        return xd_err(err, XAI_ERR_INVALID, "model %.*s: field set before `model %.*s = kind@endpoint`",
                      (int)len, rest, (int)len, rest);
    return set_model_field(m, dot + 1, v, err);
}

/* `net NAME = path`: loads the network now, so a bad file is an error of
 * this line; a name given again replaces the earlier network. */
static xai_status set_net(xd_srv_config *c, const char *name, const char *v, xai_error *err) {
    if (!valid_name(name, strlen(name)))
        return xd_err(err, XAI_ERR_INVALID, "net name \"%s\" must be 1-64 of [A-Za-z0-9_-]", name);
    xai_nn *net = NULL;
    xai_status st = xai_nn_load(v, &net, err);
    if (st != XAI_OK) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "net %s: ", name);
        xd_err_prefix(err, prefix);
        return st;
    }
    size_t i = 0;
    while (i < c->n_nets && strcmp(c->nets[i].name, name) != 0) i++;
    if (i == c->n_nets) {
        c->nets = xd_realloc(c->nets, (c->n_nets + 1) * sizeof *c->nets);
        c->nets[c->n_nets++] = (xd_srv_net_cfg){xd_strdup(name), NULL, NULL};
    }
    xd_free(c->nets[i].path);
    xai_nn_free(c->nets[i].net);
    c->nets[i].path = xd_strdup(v);
    c->nets[i].net = net;
    return XAI_OK;
}

/* ---- settings ----------------------------------------------------------- */

xai_status xd_srv_config_set(xd_srv_config *c, const char *key, const char *v, xai_error *err) {
    int64_t x;
    xai_status st;
    if (strncmp(key, "model ", 6) == 0) return set_model(c, key + 6, v, err);
    if (strncmp(key, "net ", 4) == 0) return set_net(c, key + 4, v, err);
    if (strcmp(key, "bind") == 0) {
        xd_free(c->bind);
        c->bind = xd_strdup(v);
        return XAI_OK;
    }
    if (strcmp(key, "workers") == 0) {
        if ((st = parse_int(key, v, 1, 256, &x, err)) == XAI_OK) c->workers = (int)x;
        return st;
    }
    if (strcmp(key, "job_deadline_ms") == 0) return parse_int(key, v, 1, INT32_MAX, &c->job_deadline_ms, err);
    if (strcmp(key, "shutdown_grace_ms") == 0)
        return parse_int(key, v, 0, INT32_MAX, &c->shutdown_grace_ms, err);
    if (strcmp(key, "ready_wait_ms") == 0) return parse_int(key, v, 0, 3600000, &c->ready_wait_ms, err);
    if (strcmp(key, "cache_bytes") == 0) return set_size(key, v, 0, &c->cache_bytes, err);
    if (strcmp(key, "max_message_bytes") == 0) return set_size(key, v, 64, &c->max_message_bytes, err);
    if (strcmp(key, "max_queue") == 0) return set_size(key, v, 1, &c->max_queue, err);
    if (strcmp(key, "max_tokens") == 0) return set_size(key, v, 1, &c->max_tokens, err);
    if (strcmp(key, "max_features") == 0) return set_size(key, v, 1, &c->max_features, err);
    if (strcmp(key, "max_samples") == 0) return set_size(key, v, 1, &c->max_samples, err);
    if (strcmp(key, "max_background") == 0) return set_size(key, v, 1, &c->max_background, err);
    if (strcmp(key, "max_mask_token_bytes") == 0)
        return set_size(key, v, 0, &c->max_mask_token_bytes, err);
    if (strcmp(key, "max_job_bytes") == 0) return set_size(key, v, 1 << 20, &c->max_job_bytes, err);
    if (strcmp(key, "max_deadline_ms") == 0)
        return parse_int(key, v, 1, INT32_MAX, &c->max_deadline_ms, err);
    if (strcmp(key, "log_level") == 0) return set_log_level(v, &c->log_level, err);
    return xd_err(err, XAI_ERR_INVALID, "unknown setting \"%s\"", key);
}

xai_status xd_srv_config_model_flag(xd_srv_config *c, const char *spec, xai_error *err) {
    const char *eq = strchr(spec, '=');
    if (eq == NULL)
        return xd_err(err, XAI_ERR_INVALID, "--model \"%s\" is not name=kind@endpoint", spec);
    char key[96];
    snprintf(key, sizeof key, "model %.*s", (int)XD_MIN((size_t)(eq - spec), sizeof key - 8), spec);
    if ((size_t)(eq - spec) > 64)
        return xd_err(err, XAI_ERR_INVALID, "--model: name too long");
    return xd_srv_config_set(c, key, eq + 1, err);
}

/* Trims spaces at both ends in place; returns the start. */
static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* One line of the file: comment stripped, `key = value` set. */
static xai_status config_line(xd_srv_config *c, char *line, xai_error *err) {
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = trim(line);
    if (*s == '\0') return XAI_OK;
    char *eq = strchr(s, '=');
    if (eq == NULL) return xd_err(err, XAI_ERR_INVALID, "expected `key = value`");
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    /* Collapse the space after `model`/`net` to exactly one. */
    char norm[256];
    const char *k = key;
    for (const char *pre = "model", *p2 = "net"; pre; pre = p2, p2 = NULL) {
        size_t n = strlen(pre);
        if (strncmp(key, pre, n) == 0 && isspace((unsigned char)key[n])) {
            snprintf(norm, sizeof norm, "%s %s", pre, trim(key + n));
            k = norm;
        }
    }
    return xd_srv_config_set(c, k, value, err);
}

xai_status xd_srv_config_file(xd_srv_config *c, const char *path, xai_error *err) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return xd_err(err, XAI_ERR_IO, "config %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    xai_status st = XAI_OK;
    while (st == XAI_OK && getline(&line, &cap, f) >= 0) {
        lineno++;
        st = config_line(c, line, err);
        if (st != XAI_OK && err) {
            char prefix[300];
            snprintf(prefix, sizeof prefix, "%s:%zu: ", path, lineno);
            xd_err_prefix(err, prefix);
        }
    }
    free(line);
    fclose(f);
    return st;
}

/* ---- background CSV ----------------------------------------------------- */

/* Splits a CSV line at commas into numbers; false if a field is no number. */
static bool csv_numbers(char *line, double *out, size_t cap, size_t *n) {
    *n = 0;
    for (char *tok = line;; tok++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        char *end, *t = trim(tok);
        double x = strtod(t, &end);
        if (end == t || *end != '\0') return false;
        if (*n < cap) out[*n] = x;
        (*n)++;
        if (comma == NULL) return true;
        tok = comma;
    }
}

static size_t count_fields(const char *line) {
    size_t n = 1;
    for (; *line; line++) n += *line == ',';
    return n;
}

static char **csv_header(char *line, size_t cols) {
    char **names = xd_calloc(cols, sizeof *names);
    char *tok = line;
    for (size_t j = 0; j < cols; j++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        names[j] = xd_strdup(trim(tok));
        tok = comma ? comma + 1 : tok + strlen(tok);
    }
    return names;
}

typedef struct csv {
    const char *path;
    size_t max_rows, rows, cols, have;
    double *data;
    char **names;
} csv;

/* One non-empty line: the header (first line, not all numbers) or a row. */
static xai_status csv_line(csv *c, char *s, size_t lineno, xai_error *err) {
    size_t n;
    if (c->cols == 0) c->cols = count_fields(s);
    if (count_fields(s) != c->cols)
        return xd_err(err, XAI_ERR_FORMAT, "%s:%zu: %zu fields, expected %zu", c->path, lineno,
                      count_fields(s), c->cols);
    if (c->rows == c->max_rows)
        return xd_err(err, XAI_ERR_LIMIT, "%s: more than max_background = %zu rows", c->path,
                      c->max_rows);
    if (c->have < (c->rows + 1) * c->cols) {
        c->have = XD_MAX(2 * c->have, (c->rows + 1) * c->cols);
        c->data = xd_realloc(c->data, c->have * sizeof *c->data);
    }
    char *copy = xd_strdup(s);
    bool ok = csv_numbers(s, c->data + c->rows * c->cols, c->cols, &n);
    xai_status st = XAI_OK;
    if (!ok && c->rows == 0 && c->names == NULL && lineno == 1) c->names = csv_header(copy, c->cols);
    else if (!ok) st = xd_err(err, XAI_ERR_FORMAT, "%s:%zu: a field is not a number", c->path, lineno);
    else c->rows++;
    xd_free(copy);
    return st;
}

xai_status xd_srv_csv_load(const char *path, size_t max_rows, double **out, size_t *rows,
                           size_t *cols, char ***names, xai_error *err) {
    *out = NULL, *rows = *cols = 0, *names = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL) return xd_err(err, XAI_ERR_IO, "%s: %s", path, strerror(errno));
    csv c = {.path = path, .max_rows = max_rows};
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    xai_status st = XAI_OK;
    while (st == XAI_OK && getline(&line, &cap, f) >= 0) {
        char *s = trim(line);
        lineno++;
        if (*s != '\0') st = csv_line(&c, s, lineno, err);
    }
    free(line);
    fclose(f);
    if (st == XAI_OK && c.rows == 0) st = xd_err(err, XAI_ERR_FORMAT, "%s: no rows", path);
    if (st != XAI_OK) {
        xd_free(c.data);
        free_names(c.names, c.cols);
        return st;
    }
    *out = c.data, *rows = c.rows, *cols = c.cols, *names = c.names;
    return XAI_OK;
}

xai_status xd_srv_config_finish(xd_srv_config *c, xai_error *err) {
    if (c->job_deadline_ms > c->max_deadline_ms)
        return xd_err(err, XAI_ERR_INVALID, "job_deadline_ms = %lld exceeds max_deadline_ms = %lld",
                      (long long)c->job_deadline_ms, (long long)c->max_deadline_ms);
    for (size_t i = 0; i < c->n_nets; i++)
        for (size_t j = 0; j < c->n_models; j++)
            if (strcmp(c->nets[i].name, c->models[j].name) == 0)
                return xd_err(err, XAI_ERR_INVALID, "net %s: a model has the same name", c->nets[i].name);
    for (size_t i = 0; i < c->n_models; i++) {
        xd_srv_model_cfg *m = &c->models[i];
        if (m->endpoint == NULL)
            return xd_err(err, XAI_ERR_INVALID, "model %s has no kind@endpoint", m->name);
        if (m->background_path == NULL || m->background != NULL) continue;
        if (m->kind != XAI_INPUT_ROWS)
            return xd_err(err, XAI_ERR_INVALID, "model %s: background is for tabular models", m->name);
        xai_status st = xd_srv_csv_load(m->background_path, c->max_background, &m->background,
                                        &m->n_background, &m->bg_cols, &m->bg_names, err);
        if (st != XAI_OK) {
            char prefix[128];
            snprintf(prefix, sizeof prefix, "model %s background: ", m->name);
            xd_err_prefix(err, prefix);
            return st;
        }
    }
    return XAI_OK;
}
