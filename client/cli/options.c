/* options.c — turning the `xai` command line's strings into request parts:
 * typed `key=value` options (for --param and --space), comma-separated rows,
 * and input files.
 *
 * Value syntax, chosen so shell quoting stays light: `true`, `false`, `null`,
 * integers, finite numbers, bracketed lists `[1,2,3]` or `[[0,0],[1,1]]` (so a
 * background matrix fits in one option), and anything else is a string;
 * double quotes around a string are removed, so `--param target='"3"'` sends
 * the string "3".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* A scalar from s[0..len): bool, nil, int, float, or string. */
static xai_value *scalar(const char *s, size_t len) {
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    char buf[64];
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') return xai_value_strn(s + 1, len - 2);
    if (len == 0 || len >= sizeof buf) return xai_value_strn(s, len);
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strcmp(buf, "true") == 0) return xai_value_bool(true);
    if (strcmp(buf, "false") == 0) return xai_value_bool(false);
    if (strcmp(buf, "null") == 0) return xai_value_nil();
    char *end;
    errno = 0;
    long long i = strtoll(buf, &end, 10);
    if (*end == '\0' && errno == 0) return xai_value_int(i);
    double d = strtod(buf, &end);
    if (*end == '\0' && isfinite(d)) return xai_value_float(d);
    return xai_value_strn(s, len);
}

/* Parses one value at *p (a list or a scalar ending at ',' or ']' or the
 * end); advances *p past it. depth bounds nesting. */
static xai_value *parse_at(const char **p, int depth, char *msg, size_t msg_len) {
    const char *s = *p;
    while (*s == ' ') s++;
    if (*s != '[') {
        size_t n = strcspn(s, ",]");
        *p = s + n;
        return scalar(s, n);
    }
    if (depth > 8) {
        snprintf(msg, msg_len, "lists nested too deeply");
        return NULL;
    }
    xai_value *arr = xai_value_array();
    s++;
    while (*s == ' ') s++;
    if (*s == ']') {
        *p = s + 1;
        return arr;
    }
    for (;;) {
        xai_value *item = parse_at(&s, depth + 1, msg, msg_len);
        if (item == NULL || xai_value_push(arr, item) != XAI_OK) break;
        while (*s == ' ') s++;
        if (*s == ',') { s++; continue; }
        if (*s == ']') { *p = s + 1; return arr; }
        snprintf(msg, msg_len, "a list is missing its closing ]");
        break;
    }
    xai_value_free(arr);
    return NULL;
}

xai_value *cli_parse_value(const char *s, char *msg, size_t msg_len) {
    const char *p = s;
    snprintf(msg, msg_len, "out of memory");
    xai_value *v = parse_at(&p, 0, msg, msg_len);
    if (v && *p != '\0') {
        snprintf(msg, msg_len, "unexpected \"%s\" after the value", p);
        xai_value_free(v);
        return NULL;
    }
    return v;
}

bool cli_add_option(xai_value **m, const char *kv, char *msg, size_t msg_len) {
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv) {
        snprintf(msg, msg_len, "expected key=value, got \"%s\"", kv);
        return false;
    }
    char key[128];
    size_t klen = (size_t)(eq - kv);
    if (klen >= sizeof key) {
        snprintf(msg, msg_len, "option name too long");
        return false;
    }
    memcpy(key, kv, klen);
    key[klen] = '\0';
    xai_value *v = cli_parse_value(eq + 1, msg, msg_len);
    if (v == NULL) return false;
    if (*m == NULL) *m = xai_value_map();
    if (xai_value_set(*m, key, v) != XAI_OK) {
        snprintf(msg, msg_len, "out of memory");
        return false;
    }
    return true;
}

/* A value with a comma outside brackets is a list of its entries: "ham,spam"
 * is ["ham", "spam"], "0,2" is [0, 2]; "all", a single class and "[...]"
 * parse as any other value. */
bool cli_add_target(xai_value **m, const char *s, char *msg, size_t msg_len) {
    char kv[512];
    bool list = s[0] != '[' && strchr(s, ',') != NULL;
    if ((size_t)snprintf(kv, sizeof kv, list ? "target=[%s]" : "target=%s", s) >= sizeof kv) {
        snprintf(msg, msg_len, "--target value too long");
        return false;
    }
    if (s[0] == '\0') {
        snprintf(msg, msg_len, "--target needs a class index, a class name, a list or all");
        return false;
    }
    return cli_add_option(m, kv, msg, msg_len);
}

bool cli_parse_row(const char *s, double **row, size_t *n, char *msg, size_t msg_len) {
    size_t cap = 1;
    for (const char *q = s; *q; q++) cap += *q == ',';
    double *x = malloc(cap * sizeof *x);
    size_t k = 0;
    const char *p = s;
    while (x) {
        char *end;
        errno = 0;
        double d = strtod(p, &end);
        while (*end == ' ') end++;
        if (end == p || errno || !isfinite(d) || (*end != ',' && *end != '\0')) {
            snprintf(msg, msg_len, "--row: \"%.*s\" is not a number", (int)strcspn(p, ","), p);
            break;
        }
        x[k++] = d;
        if (*end == '\0') {
            *row = x;
            *n = k;
            return true;
        }
        p = end + 1;
    }
    free(x);
    return false;
}

char *cli_read_file(const char *path, size_t *len, char *msg, size_t msg_len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        snprintf(msg, msg_len, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *nb = realloc(buf, cap *= 2);
        if (nb == NULL) free(buf);
        buf = nb;
    }
    bool bad = buf == NULL || ferror(f);
    if (f != stdin) fclose(f);
    if (bad) {
        snprintf(msg, msg_len, "cannot read %s", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
