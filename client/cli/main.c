/* main.c — the `xai` command line: explain an input through xaid, list its
 * models, show its counters, ping it.
 *
 *   xai [--endpoint EP] explain --model M [--method K] (--text S | --text-file F
 *       | --row X1,X2,... | --tensor-file F | --image F.pgm [--image-max V])
 *       [--heatmap OUT.ppm|OUT.pgm [--heatmap-scale N]] [--json] [--seed N]
 *       [--target T|T1,T2,...|all] [--param k=v]... [--space k=v]... [--timeout-ms N]
 *       [--deadline-ms N] [--top N] [--no-color]
 *   xai [--endpoint EP] models | stats | ping
 *
 * The endpoint defaults to $XAID_ENDPOINT, else ipc:///tmp/xaid.sock.
 * Errors print `xai: <code>: <message>` on stderr (the code is the stable
 * protocol string) and exit 1; usage errors exit 2. Ctrl-C while waiting,
 * or --timeout-ms running out, cancels the job in the daemon first.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define DEFAULT_ENDPOINT "ipc:///tmp/xaid.sock"

typedef struct explain_args {
    const char *model, *method, *text, *text_file, *row, *tensor_file, *image, *heatmap;
    bool json, no_color;
    xai_value *params, *space;
    long timeout_ms, deadline_ms, top, heatmap_scale;
    double image_max;
} explain_args;

static void usage(FILE *f) {
    fputs("usage: xai [--endpoint EP] <command> [options]\n"
          "\n"
          "commands:\n"
          "  explain --model M [--method occlusion] (--text S | --text-file F | --row X1,X2,...\n"
          "          | --tensor-file F | --image F.pgm [--image-max 1])\n"
          "          [--heatmap OUT.ppm|OUT.pgm] [--heatmap-scale N]\n"
          "          [--json] [--seed N] [--target T|T1,T2,...|all] [--param key=value]... [--space key=value]...\n"
          "          [--timeout-ms N] [--deadline-ms N] [--top N] [--no-color]\n"
          "  models   list the daemon's models\n"
          "  stats    the daemon's counters (JSON)\n"
          "  ping     round trip to the daemon\n"
          "  cache clear [MODEL]  drop cached model outputs (of MODEL, or all)\n"
          "\n"
          "The endpoint defaults to $XAID_ENDPOINT, else " DEFAULT_ENDPOINT ".\n"
          "Values of --param/--space: true, false, null, numbers, [lists], else strings.\n",
          f);
}

static int usage_error(const char *what, const char *detail) {
    fprintf(stderr, "xai: %s%s%s\n(xai --help shows the usage)\n", what, detail ? ": " : "",
            detail ? detail : "");
    return CLI_USAGE;
}

static int fail(xai_status st, const char *message) {
    fprintf(stderr, "xai: %s: %s\n", xai_errcode(st), message);
    return CLI_FAIL;
}

static bool parse_long(const char *s, long lo, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo) return false;
    *out = v;
    return true;
}

/* Sets params[key] to the parsed value of s. */
/* --seed and --target; a --target with commas is a list (`ham,spam` sends
 * ["ham", "spam"], `0,2` sends [0, 2]); `all` goes as the string. */
static bool set_param(explain_args *a, const char *key, const char *s, char *msg, size_t len) {
    char kv[512];
    bool list = strcmp(key, "target") == 0 && s[0] != '[' && strchr(s, ',') != NULL;
    if ((size_t)snprintf(kv, sizeof kv, list ? "%s=[%s]" : "%s=%s", key, s) >= sizeof kv) {
        snprintf(msg, len, "--%s value too long", key);
        return false;
    }
    return cli_add_option(&a->params, kv, msg, len);
}

/* Parses one option of `explain` at argv[*i]; returns false with msg set. */
static bool explain_option(explain_args *a, int argc, char **argv, int *i, char *msg,
                           size_t len) {
    const char *opt = argv[*i];
    if (strcmp(opt, "--json") == 0) return a->json = true;
    if (strcmp(opt, "--no-color") == 0) return a->no_color = true;
    if (*i + 1 >= argc) {
        snprintf(msg, len, "%s needs a value", opt);
        return false;
    }
    const char *v = argv[++*i];
    if (strcmp(opt, "--model") == 0) a->model = v;
    else if (strcmp(opt, "--method") == 0) a->method = v;
    else if (strcmp(opt, "--text") == 0) a->text = v;
    else if (strcmp(opt, "--text-file") == 0) a->text_file = v;
    else if (strcmp(opt, "--row") == 0) a->row = v;
    else if (strcmp(opt, "--tensor-file") == 0) a->tensor_file = v;
    else if (strcmp(opt, "--image") == 0) a->image = v;
    else if (strcmp(opt, "--heatmap") == 0) a->heatmap = v;
    else if (strcmp(opt, "--image-max") == 0) {
        char *end;
        a->image_max = strtod(v, &end);
        if (end != v && *end == '\0' && a->image_max > 0) return true;
        snprintf(msg, len, "--image-max needs a positive number, got \"%s\"", v);
        return false;
    }
    else if (strcmp(opt, "--seed") == 0 || strcmp(opt, "--target") == 0)
        return set_param(a, opt + 2, v, msg, len);
    else if (strcmp(opt, "--param") == 0) return cli_add_option(&a->params, v, msg, len);
    else if (strcmp(opt, "--space") == 0) return cli_add_option(&a->space, v, msg, len);
    else if (strcmp(opt, "--timeout-ms") == 0 || strcmp(opt, "--deadline-ms") == 0 ||
             strcmp(opt, "--top") == 0 || strcmp(opt, "--heatmap-scale") == 0) {
        long *dst = opt[2] == 't' && opt[3] == 'i' ? &a->timeout_ms
                    : opt[2] == 'd' ? &a->deadline_ms : opt[2] == 'h' ? &a->heatmap_scale : &a->top;
        if (parse_long(v, 0, dst)) return true;
        snprintf(msg, len, "%s needs a non-negative integer, got \"%s\"", opt, v);
        return false;
    } else {
        snprintf(msg, len, "unknown option %s", opt);
        return false;
    }
    return true;
}

static bool check_explain(const explain_args *a, char *msg, size_t len) {
    int inputs = (a->text != NULL) + (a->text_file != NULL) + (a->row != NULL) +
                 (a->tensor_file != NULL) + (a->image != NULL);
    if (a->model == NULL) snprintf(msg, len, "explain needs --model");
    else if (inputs != 1)
        snprintf(msg, len, "explain needs exactly one of --text, --text-file, --row, --tensor-file, --image");
    else return true;
    return false;
}

/* A tensor from --tensor-file or --image goes as the row; its h x w
 * layout becomes space.shape unless --space shape=... was given. */
static bool load_tensor(explain_args *a, xai_job_request *rq, double **row, char *msg,
                        size_t len) {
    cli_tensor t;
    bool ok = a->image ? cli_read_pgm(a->image, a->image_max, &t, msg, len)
                       : cli_read_tensor_file(a->tensor_file, &t, msg, len);
    if (!ok) return false;
    *row = t.x;
    rq->row = t.x;
    rq->n_cols = t.n;
    if (t.h == 0 || xai_value_get(a->space, "shape") != NULL) return true;
    char kv[96];
    snprintf(kv, sizeof kv, "shape=[1,%zu,%zu]", t.h, t.w);
    if (!cli_add_option(&a->space, kv, msg, len)) return false;
    rq->space = a->space;
    return true;
}

/* Fills the request's input from --text / --text-file / --row / a tensor. */
static bool load_input(explain_args *a, xai_job_request *rq, char **text_buf,
                       double **row, char *msg, size_t len) {
    if (a->tensor_file || a->image) return load_tensor(a, rq, row, msg, len);
    if (a->text) {
        rq->text = a->text;
        return true;
    }
    if (a->text_file) {
        *text_buf = cli_read_file(a->text_file, &rq->text_len, msg, len);
        rq->text = *text_buf;
        if (rq->text && rq->text_len == 0) rq->text = "";
        return rq->text != NULL;
    }
    if (!cli_parse_row(a->row, row, &rq->n_cols, msg, len)) return false;
    rq->row = *row;
    return true;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
    (void)sig;
    interrupted = 1;
}

/* Waits for the job in slices of 200 ms, so Ctrl-C and --timeout-ms can
 * cancel it in the daemon instead of leaving it to run. */
static xai_status wait_job(xai_client *c, uint64_t job, long timeout_ms, xai_result **r,
                           xai_error *e) {
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, &old);
    bool tty = isatty(STDERR_FILENO);
    long waited = 0;
    xai_status st;
    for (;;) {
        int slice = timeout_ms > 0 && timeout_ms - waited < 200 ? (int)(timeout_ms - waited) : 200;
        st = xai_client_wait(c, job, slice, tty ? cli_progress : NULL, NULL, r, e);
        waited += slice;
        if (st != XAI_ERR_TIMEOUT) break;
        if (!interrupted && (timeout_ms <= 0 || waited < timeout_ms)) continue;
        xai_error ignored;
        xai_client_cancel(c, job, &ignored);
        if (interrupted) snprintf(e->message, sizeof e->message, "interrupted; job %llu cancelled",
                                  (unsigned long long)job);
        else snprintf(e->message, sizeof e->message, "no result within %ld ms; job %llu cancelled",
                      timeout_ms, (unsigned long long)job);
        st = interrupted ? XAI_ERR_CANCELLED : XAI_ERR_TIMEOUT;
        break;
    }
    if (tty) cli_progress_clear();
    sigaction(SIGINT, &old, NULL);
    return st;
}

/* Submits, waits (with a progress line on a terminal), prints. */
static int run_explain(xai_client *c, const explain_args *a, const xai_job_request *rq) {
    xai_error e;
    uint64_t job = 0;
    xai_result *r = NULL;
    if (xai_client_submit(c, rq, &job, &e) != XAI_OK) return fail(e.code, e.message);
    xai_status st = wait_job(c, job, a->timeout_ms, &r, &e);
    if (st != XAI_OK) return fail(st, e.message);
    if (a->json) {
        char *js = xai_result_to_json(r, false);
        if (js) printf("%s\n", js);
        xai_free(js);
    } else {
        const char *nc = getenv("NO_COLOR");
        cli_render_opts o = {
            .color = !a->no_color && isatty(STDOUT_FILENO) && !(nc && nc[0]),
            .top = a->top > 0 ? (size_t)a->top : 10,
            .row = rq->row,
            .n_cols = rq->n_cols,
        };
        cli_render_result(stdout, r, &o);
    }
    char msg[512];
    bool ok = a->heatmap == NULL ||
              cli_write_heatmap(a->heatmap, r, (size_t)a->heatmap_scale, msg, sizeof msg);
    xai_result_free(r);
    if (!ok) return fail(XAI_ERR_IO, msg);
    if (a->heatmap && !a->json) printf("heatmap written to %s\n", a->heatmap);
    return CLI_OK;
}

static int cmd_explain(xai_client *c, int argc, char **argv) {
    explain_args a = {.method = "occlusion", .image_max = 1};
    char msg[512] = "";
    char *text_buf = NULL;
    double *row = NULL;
    int rc = CLI_USAGE;
    for (int i = 0; i < argc; i++)
        if (!explain_option(&a, argc, argv, &i, msg, sizeof msg)) goto cleanup;
    if (!check_explain(&a, msg, sizeof msg)) goto cleanup;
    xai_job_request rq = {.model = a.model, .method = a.method, .params = a.params,
                          .space = a.space, .deadline_ms = a.deadline_ms};
    if (!load_input(&a, &rq, &text_buf, &row, msg, sizeof msg)) goto cleanup;
    rc = run_explain(c, &a, &rq);
cleanup:
    if (rc == CLI_USAGE) rc = usage_error("explain", msg);
    free(row);
    free(text_buf);
    xai_value_free(a.params);
    xai_value_free(a.space);
    return rc;
}

static int cmd_simple(xai_client *c, const char *cmd, const char *endpoint) {
    xai_error e;
    xai_value *v = NULL;
    if (strcmp(cmd, "ping") == 0) {
        double s;
        if (xai_client_ping(c, &s, &e) != XAI_OK) return fail(e.code, e.message);
        printf("pong from %s in %.3f ms\n", endpoint, s * 1e3);
        return CLI_OK;
    }
    bool models = strcmp(cmd, "models") == 0;
    xai_status st = models ? xai_client_models(c, &v, &e) : xai_client_stats(c, &v, &e);
    if (st != XAI_OK) return fail(e.code, e.message);
    if (models) {
        cli_render_models(stdout, v);
    } else {
        char *js = xai_value_to_json(xai_value_get(v, "stats"), true);
        printf("%s\n", js ? js : "null");
        xai_free(js);
    }
    xai_value_free(v);
    return CLI_OK;
}

/* xai cache clear [MODEL] */
static int cmd_cache(xai_client *c, int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "clear") != 0 || argc > 2)
        return usage_error("cache needs: clear [MODEL]", argc ? argv[0] : NULL);
    xai_error e;
    uint64_t removed = 0;
    if (xai_client_cache_clear(c, argc == 2 ? argv[1] : NULL, &removed, &e) != XAI_OK)
        return fail(e.code, e.message);
    printf("removed %llu cache entries%s%s\n", (unsigned long long)removed,
           argc == 2 ? " of " : "", argc == 2 ? argv[1] : "");
    return CLI_OK;
}

int main(int argc, char **argv) {
    const char *endpoint = getenv("XAID_ENDPOINT");
    if (endpoint == NULL || endpoint[0] == '\0') endpoint = DEFAULT_ENDPOINT;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("xai %s\n", xai_version());
            return CLI_OK;
        }
        if (strcmp(argv[i], "--endpoint") != 0 || i + 1 >= argc)
            return usage_error("unknown or incomplete option", argv[i]);
        endpoint = argv[++i];
    }
    if (i >= argc) return usage_error("no command", NULL);
    const char *cmd = argv[i++];
    bool known = strcmp(cmd, "explain") == 0 || strcmp(cmd, "models") == 0 ||
                 strcmp(cmd, "stats") == 0 || strcmp(cmd, "ping") == 0 ||
                 strcmp(cmd, "cache") == 0;
    if (!known) return usage_error("unknown command", cmd);
    bool takes_args = strcmp(cmd, "explain") == 0 || strcmp(cmd, "cache") == 0;
    if (!takes_args && i < argc) return usage_error("unexpected argument", argv[i]);
    xai_client *c = NULL;
    xai_error e;
    if (xai_client_connect(endpoint, &c, &e) != XAI_OK) return fail(e.code, e.message);
    int rc = strcmp(cmd, "explain") == 0 ? cmd_explain(c, argc - i, argv + i)
             : strcmp(cmd, "cache") == 0 ? cmd_cache(c, argc - i, argv + i)
                                         : cmd_simple(c, cmd, endpoint);
    xai_client_close(c);
    return rc;
}
