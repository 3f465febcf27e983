// e2e_util.h — helpers shared by the end-to-end tests that run xaid, model
// servers and the `xai` CLI as separate processes (client_e2e_test.cc,
// methods_e2e_test.cc).
//
// The idea: every process is started with fork + execve and an environment
// built before the fork (so the child runs only async-signal-safe code until
// exec), dies with the test process (PR_SET_PDEATHSIG) and is stopped with
// SIGTERM, then SIGKILL, and reaped. Endpoints are ipc:// sockets in a fresh
// temporary directory that is removed afterwards. Everything is inline in
// namespace e2e so each test file includes it without link clashes.
#ifndef XAI_TESTS_E2E_UTIL_H
#define XAI_TESTS_E2E_UTIL_H

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xai/client.h"
#include "xai/model_server.h"

extern "C" char **environ;

namespace e2e {

// fork + execve of argv with `extra_env` before the current environment;
// stdout/stderr of the child go to `log` (appended) when given.
inline pid_t spawn(const std::vector<std::string> &argv, const std::vector<std::string> &extra_env,
                   const std::string &log = "") {
    std::vector<std::string> envs(extra_env);
    for (char **e = environ; *e; e++) envs.emplace_back(*e);
    std::vector<char *> av, ev;
    for (auto &a : argv) av.push_back(const_cast<char *>(a.c_str()));
    for (auto &e : envs) ev.push_back(const_cast<char *>(e.c_str()));
    av.push_back(nullptr);
    ev.push_back(nullptr);
    int fd = log.empty() ? -1 : open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execve(av[0], av.data(), ev.data());
        _exit(127);
    }
    if (fd >= 0) close(fd);
    return pid;
}

// SIGTERM, then SIGKILL if it has not exited within ~3 s; reaps it. Returns
// its exit status (-1 if it did not exit by itself, or pid <= 0).
inline int stop_process(pid_t &pid) {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
    return -1;
}

// ---- model server children ----

inline xai_model_server *&served_server() {
    static xai_model_server *s = nullptr;
    return s;
}
inline void stop_served(int) { xai_model_server_stop(served_server()); }

// Serves opts until SIGTERM, then exits the (child) process.
[[noreturn]] inline void serve_and_exit(const xai_model_server_opts &o) {
    xai_error err;
    if (xai_model_server_new(&o, &served_server(), &err) != XAI_OK) {
        std::fprintf(stderr, "model server: %s\n", err.message);
        std::_Exit(4);
    }
    signal(SIGTERM, stop_served);
    xai_model_server_run(served_server(), &err);
    xai_model_server_free(served_server());
    std::exit(0);
}

// ---- the word model both e2e suites serve ----

inline double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

const double kBias = -0.5;

inline double word_weight(const std::string &w) {
    if (w == "free") return 2.0;
    if (w == "money") return 1.5;
    if (w == "win") return 1.0;
    if (w == "meeting") return -1.5;
    if (w == "report") return -1.0;
    return 0.0;
}

// Logit of a text: bias + weights of its lower-cased ASCII words.
inline double text_logit(const char *s, size_t n) {
    double z = kBias;
    std::string w;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && std::isalnum((unsigned char)s[i])) {
            w += (char)std::tolower((unsigned char)s[i]);
        } else if (!w.empty()) {
            z += word_weight(w);
            w.clear();
        }
    }
    return z;
}

// $XAI_BUILD (set by tests/run_all.sh), else "build".
inline std::string build_dir() {
    const char *b = std::getenv("XAI_BUILD");
    return b && b[0] ? b : "build";
}

// Runs a shell command, returns its exit status and stdout.
inline int run_cmd(const std::string &cmd, std::string *out) {
    FILE *p = popen(cmd.c_str(), "r");
    if (p == nullptr) return -1;
    char buf[4096];
    size_t n;
    out->clear();
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A fresh directory under /tmp, removed with its contents on destruction.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/xai-e2e-XXXXXX";
        char *p = mkdtemp(tmpl);
        path = p ? p : "/tmp";
    }
    ~TempDir() {
        std::string out;
        run_cmd("rm -rf '" + path + "'", &out);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::string ep(const std::string &name) const { return "ipc://" + path + "/" + name; }
};

// Waits until `pred` holds, polling every 50 ms for at most `seconds`.
template <class F>
bool eventually(double seconds, F pred) {
    for (int i = 0; i < (int)(seconds * 20); i++) {
        if (pred()) return true;
        usleep(50000);
    }
    return pred();
}

// True when xaid lists `name` as ready.
inline bool model_ready(xai_client *c, const char *name) {
    xai_value *r = nullptr;
    xai_error err;
    if (xai_client_models(c, &r, &err) != XAI_OK) return false;
    bool ready = false;
    const xai_value *ms = xai_value_get(r, "models");
    for (size_t i = 0; i < xai_value_len(ms); i++) {
        const xai_value *m = xai_value_at(ms, i);
        const char *n = xai_value_get_str(xai_value_get(m, "name"), nullptr);
        if (n && std::strcmp(n, name) == 0) ready = xai_value_get_bool(xai_value_get(m, "ready"));
    }
    xai_value_free(r);
    return ready;
}

}  // namespace e2e

#endif
