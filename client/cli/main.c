/* main.c — the `xai` command line: explain an input through xaid, list its
 * models and methods, show its counters, ping it.
 *
 *   xai [--endpoint EP] explain --model M [--method K] (--text S | --text-file F
 *       | --row X1,X2,... | --tensor-file F | --image F.pgm [--image-max V])
 *       [--heatmap OUT.ppm|OUT.pgm|OUT.svg [--heatmap-scale N]] [--html OUT.html]
 *       [--json] [--seed N]
 *       [--target T|T1,T2,...|all] [--param k=v]... [--space k=v]... [--timeout-ms N]
 *       [--deadline-ms N] [--top N] [--no-color]
 *   xai [--endpoint EP] audit ... (client/audit/run.c; docs/AUDIT.md)
 *   xai methods [NAME]          (from the library: no daemon needed)
 *   xai [--endpoint EP] models | stats [--prometheus] | ping
 *   xai COMMAND --help          (every command)
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
#include "../audit/audit.h"
#include "xai/methods.h"

#define DEFAULT_ENDPOINT "ipc:///tmp/xaid.sock"

typedef struct explain_args {
    const char *model, *method, *text, *text_file, *row, *tensor_file, *image, *heatmap, *html;
    bool json, no_color;
    xai_value *params, *space;
    long timeout_ms, deadline_ms, top, heatmap_scale;
    double image_max;
} explain_args;

/* Each command's help: `xai CMD --help` prints it, `xai --help` the list. */
typedef struct command {
    const char *name, *summary, *help;
} command;

static const command commands[] = {
    {"explain", "explain one input with a method",
     "usage: xai [--endpoint EP] explain --model M [--method occlusion] INPUT [options]\n"
     "\n"
     "INPUT is one of:\n"
     "  --text S             a text (text models)\n"
     "  --text-file F        a text read from F (- = stdin)\n"
     "  --row X1,X2,...      a row of numbers (tabular models, networks)\n"
     "  --tensor-file F      numbers separated by blanks or commas; equal lines give h x w\n"
     "  --image F.pgm        a PGM image (networks); --image-max V scales its pixels to [0, V] (1)\n"
     "  (none)               --method activation_max on a native network needs no input\n"
     "options:\n"
     "  --method K           a method (xai methods lists them; default occlusion)\n"
     "  --seed N             seed (default 0): same seed, input and model, same result\n"
     "  --target T           an output index or a class name, a list T1,T2,... or all\n"
     "                       (default: the predicted class); several give a column each\n"
     "  --param key=value    a method parameter (xai methods K lists them); repeatable\n"
     "  --space key=value    an input option (pattern, mask_token, delete, bag_of_words;\n"
     "                       background, feature_names; shape, patch, baseline); repeatable\n"
     "  --json               print the result as JSON\n"
     "  --top N              rows of the ranked table (10)\n"
     "  --heatmap OUT        write a PPM (over the input), PGM or SVG (with a colour bar)\n"
     "                       heatmap; --heatmap-scale N pixels a cell\n"
     "  --html OUT.html      a self-contained page of the explanation (docs/AUDIT.md)\n"
     "  --timeout-ms N       give up (and cancel the job) after N ms (0: wait forever)\n"
     "  --deadline-ms N      the job's deadline in the daemon\n"
     "  --no-color           no ANSI colours (also when NO_COLOR is set)\n"
     "Values of --param/--space: true, false, null, numbers, [lists], else strings.\n"
     "Anchors print as a rule: IF \"not\" AND \"bad\" THEN neg  precision 0.97 [0.93, 1.00]  coverage 0.21\n"},
    {"audit", "explain a whole input file, with a summary and a report (docs/AUDIT.md)",
     "usage: xai audit --help\n"},
    {"methods", "list the methods, their parameters, defaults and ranges",
     "usage: xai methods [NAME]\n"
     "\n"
     "Prints every method (or NAME only) with each parameter's type, default, allowed\n"
     "range and meaning, from the method registry of this build (no daemon needed).\n"
     "docs/METHODS.md has the math.\n"},
    {"models", "list the daemon's models and networks",
     "usage: xai [--endpoint EP] models\n"
     "\n"
     "One line per model: name, kind, readiness, features, classes, endpoint (or file).\n"},
    {"stats", "the daemon's counters (JSON, or Prometheus text)",
     "usage: xai [--endpoint EP] stats [--prometheus]\n"
     "\n"
     "Jobs, cache and per-model counters as JSON; with --prometheus in the Prometheus\n"
     "text exposition format (per model, and per replica where there are replicas),\n"
     "for node_exporter's textfile collector:\n"
     "  xai stats --prometheus > /var/lib/prometheus/node-exporter/xaid.prom.$$ &&\n"
     "  mv /var/lib/prometheus/node-exporter/xaid.prom.$$ /var/lib/prometheus/node-exporter/xaid.prom\n"},
    {"cache", "drop cached model outputs: cache clear [MODEL]",
     "usage: xai [--endpoint EP] cache clear [MODEL]\n"
     "\n"
     "Drops the daemon's cached model outputs, of MODEL or of every model, and prints\n"
     "how many entries went. The cache is keyed by each model's identity, so this is\n"
     "never needed for correctness (docs/SECURITY.md).\n"},
    {"ping", "round trip to the daemon",
     "usage: xai [--endpoint EP] ping\n"
     "\n"
     "Prints the round-trip time; exits 1 when the daemon does not answer.\n"},
};

static const command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void usage(FILE *f) {
    fputs("usage: xai [--endpoint EP] <command> [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\n`xai COMMAND --help` shows a command's options.\n"
          "The endpoint defaults to $XAID_ENDPOINT, else " DEFAULT_ENDPOINT ".\n"
          "Errors print `xai: CODE: message` (exit 1); usage errors exit 2.\n",
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
    else if (strcmp(opt, "--html") == 0) a->html = v;
    else if (strcmp(opt, "--image-max") == 0) {
        char *end;
        a->image_max = strtod(v, &end);
        if (end != v && *end == '\0' && a->image_max > 0) return true;
        snprintf(msg, len, "--image-max needs a positive number, got \"%s\"", v);
        return false;
    }
    else if (strcmp(opt, "--seed") == 0) {
        char kv[128];
        if ((size_t)snprintf(kv, sizeof kv, "seed=%s", v) < sizeof kv)
            return cli_add_option(&a->params, kv, msg, len);
        snprintf(msg, len, "--seed value too long");
        return false;
    } else if (strcmp(opt, "--target") == 0) return cli_add_target(&a->params, v, msg, len);
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
    bool none_ok = a->method && strcmp(a->method, "activation_max") == 0;
    if (a->model == NULL) snprintf(msg, len, "explain needs --model");
    else if (inputs != 1 && !(none_ok && inputs == 0))
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
    if (a->row == NULL) return true; /* no input (activation_max) */
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

static bool ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* The result as JSON (client/audit's views read it), the input row added. */
static json_t *result_json(const xai_result *r, const xai_job_request *rq) {
    char *js = xai_result_to_json(r, false);
    json_t *j = js ? json_loads(js, 0, NULL) : NULL;
    xai_free(js);
    if (j && rq->row) {
        json_t *in = json_array();
        for (size_t i = 0; i < rq->n_cols; i++) json_array_append_new(in, json_real(rq->row[i]));
        json_object_set_new(j, "input_row", in);
    }
    return j;
}

/* --heatmap (PPM/PGM: the bare map; SVG: over the input, with a colour
 * bar) and --html (the audit report's view of one explanation). */
static bool write_views(const explain_args *a, const xai_job_request *rq, const xai_result *r,
                        char *msg, size_t len) {
    bool svg = a->heatmap && ends_with(a->heatmap, ".svg");
    const double *input = rq->row && rq->n_cols == r->d ? rq->row : NULL;
    if (a->heatmap && !svg &&
        !cli_write_heatmap(a->heatmap, r, input, (size_t)a->heatmap_scale, msg, len))
        return false;
    if (!svg && !a->html) return true;
    json_t *j = result_json(r, rq);
    bool ok = j != NULL;
    if (!ok) snprintf(msg, len, "out of memory");
    if (ok && svg) ok = xa_heatmap_write_svg(a->heatmap, j, msg, len);
    if (ok && a->html) ok = xa_report_write_one(a->html, j, msg, len);
    json_decref(j);
    return ok;
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
    char msg[512] = "";
    bool ok = write_views(a, rq, r, msg, sizeof msg);
    xai_result_free(r);
    if (!ok) return fail(XAI_ERR_IO, msg);
    if (a->heatmap && !a->json)
        printf("heatmap written to %s%s%s%s\n", a->heatmap, msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
    if (a->html && !a->json) printf("report written to %s\n", a->html);
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

static int cmd_simple(xai_client *c, const char *cmd, const char *endpoint, bool prometheus) {
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
    } else if (prometheus) {
        cli_render_prometheus(stdout, xai_value_get(v, "stats"));
    } else {
        char *js = xai_value_to_json(xai_value_get(v, "stats"), true);
        printf("%s\n", js ? js : "null");
        xai_free(js);
    }
    xai_value_free(v);
    return CLI_OK;
}

/* true when argv[0..argc) asks for help. */
static bool wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    return false;
}

static int unknown_command(const char *cmd) {
    const char *names[sizeof commands / sizeof commands[0]];
    size_t n = sizeof commands / sizeof commands[0];
    for (size_t i = 0; i < n; i++) names[i] = commands[i].name;
    const char *near = xai_suggest(cmd, names, n);
    char msg[160];
    snprintf(msg, sizeof msg, "%s%s%s%s", cmd, near ? " (did you mean \"" : "", near ? near : "",
             near ? "\"?)" : "");
    return usage_error("unknown command", msg);
}

static int cmd_methods(int argc, char **argv) {
    if (argc > 1) return usage_error("methods takes at most one NAME", argv[1]);
    char msg[1024];
    if (cli_render_methods(stdout, argc ? argv[0] : NULL, msg, sizeof msg)) return CLI_OK;
    return fail(XAI_ERR_UNKNOWN_METHOD, msg);
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
    if (strcmp(cmd, "audit") == 0) return xa_cmd_audit(endpoint, argc - i, argv + i);
    const command *known = find_command(cmd);
    if (known == NULL) return unknown_command(cmd);
    if (wants_help(argc - i, argv + i)) {
        fputs(known->help, stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "methods") == 0) return cmd_methods(argc - i, argv + i);
    bool prometheus = strcmp(cmd, "stats") == 0 && i < argc && strcmp(argv[i], "--prometheus") == 0;
    if (prometheus) i++;
    if (strcmp(cmd, "explain") != 0 && strcmp(cmd, "cache") != 0 && i < argc) return usage_error("unexpected argument", argv[i]);
    xai_client *c = NULL;
    xai_error e;
    if (xai_client_connect(endpoint, &c, &e) != XAI_OK) return fail(e.code, e.message);
    int rc = strcmp(cmd, "explain") == 0 ? cmd_explain(c, argc - i, argv + i)
             : strcmp(cmd, "cache") == 0 ? cmd_cache(c, argc - i, argv + i)
                                         : cmd_simple(c, cmd, endpoint, prometheus);
    xai_client_close(c);
    return rc;
}
