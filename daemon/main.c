/* main.c — the xaid program: flags, config, signals, run.
 *
 * The config file (--config) is read first, whatever the flag order, and
 * the other flags then override it: --bind, --model name=kind@endpoint
 * (repeatable; adds or replaces), --workers, --log-level. Native networks
 * (`net` lines) are loaded while the file is read. SIGHUP reads the file
 * and the flags again (reload.c: a bad config is logged and the running
 * one kept). SIGTERM and SIGINT start a graceful shutdown (new explains get shutting_down, running jobs
 * get shutdown_grace_ms, then are cancelled) and xaid exits 0. A bad config
 * or flag exits 2 with one clear line; a failure to start (bind, files)
 * exits 1.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "core/core.h"
#include "server/server.h"

static xd_srv *volatile running_server;

/* A SIGTERM that arrives while the server is being built (its socket may
 * be bound already) is kept and acted on once it runs. */
static volatile sig_atomic_t stop_pending;

static void on_signal(int sig) {
    (void)sig;
    xd_srv *s = running_server;
    if (s) xd_srv_shutdown(s);
    else stop_pending = 1;
}

static void on_hangup(int sig) {
    (void)sig;
    xd_srv *s = running_server;
    if (s) xd_srv_request_reload(s);   /* before that the config is being read anyway */
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: xaid [--config FILE] [--bind EP] [--model name=kind@endpoint]...\n"
            "            [--workers N] [--log-level debug|info|warn|error] [--check]\n"
            "            [--help] [--version]\n"
            "--check reads and checks the config (and loads its networks), prints it, exits.\n"
            "SIGHUP reads the config again; SIGTERM/SIGINT stop after running jobs.\n"
            "Explains predictions of models served over ZeroMQ. See docs/CONFIG.md and\n"
            "docs/PROTOCOL.md.\n");
}

/* The value of flag argv[*i] (either "--flag value" or "--flag=value"). */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) return "";
    return argv[++*i];
}

/* --help / --version anywhere: 1 (printed, exit 0), else 0. */
static int info_flags(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("xaid %s (protocol %d)\n", XAI_VERSION_STRING, XAI_PROTOCOL_VERSION);
            return 1;
        }
    }
    return 0;
}

/* --check: read and check the config, print it, exit. */
static bool check_only(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--check") == 0) return true;
    return false;
}

/* Applies the flags after the config file. */
static xai_status apply_flags(xd_srv_config *cfg, int argc, char **argv, xai_error *err) {
    const char *v;
    for (int i = 1; i < argc; i++) {
        xai_status st = XAI_OK;
        if ((v = flag_value(argc, argv, &i, "--config")) || strcmp(argv[i], "--check") == 0) {
            continue; /* read before / handled by main */
        } else if ((v = flag_value(argc, argv, &i, "--bind"))) {
            st = xd_srv_config_set(cfg, "bind", v, err);
        } else if ((v = flag_value(argc, argv, &i, "--model"))) {
            st = xd_srv_config_model_flag(cfg, v, err);
        } else if ((v = flag_value(argc, argv, &i, "--workers"))) {
            st = xd_srv_config_set(cfg, "workers", v, err);
        } else if ((v = flag_value(argc, argv, &i, "--log-level"))) {
            st = xd_srv_config_set(cfg, "log_level", v, err);
        } else {
            return xd_err(err, XAI_ERR_INVALID, "unknown argument \"%s\" (xaid --help)", argv[i]);
        }
        if (st != XAI_OK) return st;
    }
    return XAI_OK;
}

/* The files, then the flags, then the whole-config checks: the same at
 * start and on SIGHUP. */
static xai_status load_config(xd_srv_config *cfg, int argc, char **argv, xai_error *err) {
    for (int i = 1; i < argc; i++) {
        const char *v = flag_value(argc, argv, &i, "--config");
        if (v && xd_srv_config_file(cfg, v, err) != XAI_OK) return err->code;
    }
    xai_status st = apply_flags(cfg, argc, argv, err);
    return st == XAI_OK ? xd_srv_config_finish(cfg, err) : st;
}

typedef struct args {
    int argc;
    char **argv;
} args;

/* The loader SIGHUP uses (reload.c): a fresh config from the same
 * command line. */
static xai_status reload_config(void *ctx, xd_srv_config **out, xai_error *err) {
    const args *a = ctx;
    xd_srv_config *c = xd_calloc(1, sizeof *c);
    xd_srv_config_init(c);
    xai_status st = load_config(c, a->argc, a->argv, err);
    if (st != XAI_OK) {
        xd_srv_config_free(c);
        xd_free(c);
        c = NULL;
    }
    *out = c;
    return st;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hangup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void log_config(const xd_srv_config *cfg) {
    for (size_t i = 0; i < cfg->n_models; i++)
        xd_log(XD_LOG_INFO, "model configured", "name=%s kind=%s endpoint=%s timeout_ms=%d retries=%d",
               cfg->models[i].name, cfg->models[i].kind == XAI_INPUT_TEXT ? "text" : "tabular",
               cfg->models[i].endpoint, cfg->models[i].timeout_ms, cfg->models[i].retries);
    for (size_t i = 0; i < cfg->n_nets; i++) {
        size_t sh[3];
        xai_nn_layer_shape(cfg->nets[i].net, (size_t)-1, sh);
        xd_log(XD_LOG_INFO, "net loaded", "name=%s path=%s input=%zux%zux%zu layers=%zu logits=%zu",
               cfg->nets[i].name, cfg->nets[i].path, sh[0], sh[1], sh[2],
               xai_nn_n_layers(cfg->nets[i].net), xai_nn_n_logits(cfg->nets[i].net));
    }
}

int main(int argc, char **argv) {
    xd_blas_pick_core(argv);    /* OpenBLAS's fast kernels on CPUs it does not know */
    xd_alloc_keep_freed();      /* jobs reuse the memory of the jobs before */
    if (info_flags(argc, argv)) return 0;
    install_signals();          /* SIGHUP before the server exists: ignored, not fatal */
    args a = {argc, argv};
    xai_error err = {0};
    xd_srv_config *cfg = NULL;
    if (reload_config(&a, &cfg, &err) != XAI_OK) {
        fprintf(stderr, "xaid: %s\n", err.message);
        if (strstr(err.message, "unknown argument")) usage(stderr);
        return 2;
    }
    xd_log_set_level(cfg->log_level);
    if (check_only(argc, argv)) {   /* --check: the config loaded (networks too); no start */
        printf("xaid: config ok: bind %s, %d workers, %zu models, %zu networks\n", cfg->bind,
               cfg->workers, cfg->n_models, cfg->n_nets);
        for (size_t i = 0; i < cfg->n_models; i++)
            printf("  model %s = %s@%s\n", cfg->models[i].name,
                   cfg->models[i].kind == XAI_INPUT_TEXT ? "text" : "tabular", cfg->models[i].endpoint);
        for (size_t i = 0; i < cfg->n_nets; i++)
            printf("  net %s = %s\n", cfg->nets[i].name, cfg->nets[i].path);
        xd_srv_config_free(cfg);
        xd_free(cfg);
        return 0;
    }
    log_config(cfg);
    xd_srv *s = NULL;
    int code = 0;
    if (xd_srv_new(cfg, &s, &err) != XAI_OK) {    /* takes cfg */
        xd_log(XD_LOG_ERROR, "cannot start", "error=\"%s\"", err.message);
        return 1;
    }
    xd_srv_set_loader(s, reload_config, &a);
    running_server = s;
    if (stop_pending) xd_srv_shutdown(s);
    if (xd_srv_run(s, &err) != XAI_OK) {
        xd_log(XD_LOG_ERROR, "stopped on an error", "error=\"%s\"", err.message);
        code = 1;
    }
    running_server = NULL;
    xd_srv_free(s);
    xd_log(XD_LOG_INFO, "xaid stopped", "code=%d", code);
    return code;
}
