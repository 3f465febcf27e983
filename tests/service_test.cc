// service_test.cc — xaid as a service: its ipc:// socket file (removed at
// a clean exit; a stale one from a crash does not block a start; a live
// daemon on it does), and `make install` / `make uninstall` into a DESTDIR
// (only the public headers, the unit, the man pages, the default config;
// uninstall removes exactly what install put there).
//
// The daemon under test is $XAI_BUILD/san/xaid, started as a process.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string build_dir() {
    const char *b = getenv("XAI_BUILD");
    return b && b[0] ? b : "build";
}

std::string root_dir() {
    const char *r = getenv("XAI_ROOT");
    return r && r[0] ? r : ".";
}

bool exists(const std::string &p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

int run(const std::string &cmd, std::string *out) {
    FILE *p = popen(cmd.c_str(), "r");
    if (p == nullptr) return -1;
    char buf[4096];
    size_t n;
    out->clear();
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct Proc {
    pid_t pid = -1;
    std::string log;
    void start(const std::vector<std::string> &args, const std::string &logfile) {
        log = logfile;
        pid = fork();
        if (pid == 0) {
            if (!freopen(logfile.c_str(), "w", stderr)) _exit(126);
            std::vector<char *> av;
            for (auto &a : args) av.push_back(const_cast<char *>(a.c_str()));
            av.push_back(nullptr);
            execv(av[0], av.data());
            _exit(127);
        }
    }
    // Waits up to `seconds` for an exit; the exit code, or -1 if still running.
    int wait_exit(double seconds) {
        int st = 0;
        for (int i = 0; i < seconds * 100; i++) {
            if (waitpid(pid, &st, WNOHANG) == pid) {
                pid = -1;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            usleep(10000);
        }
        return -1;
    }
    int stop(int sig = SIGTERM) {
        if (pid <= 0) return -1;
        kill(pid, sig);
        int code = wait_exit(10);
        if (code < 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            pid = -1;
        }
        return code;
    }
    std::string text() const {
        std::ifstream f(log);
        return std::string(std::istreambuf_iterator<char>(f), {});
    }
    ~Proc() { stop(SIGKILL); }
};

struct Dir {
    std::string path;
    Dir() {
        char t[] = "/tmp/xaid-svc-XXXXXX";
        path = mkdtemp(t);
    }
    ~Dir() {
        std::string out;
        run("rm -rf '" + path + "'", &out);
    }
};

bool wait_for_file(const std::string &p, double seconds) {
    for (int i = 0; i < seconds * 100; i++) {
        if (exists(p)) return true;
        usleep(10000);
    }
    return false;
}

}  // namespace

TEST(Service, IpcSocketFileIsRemovedAtExitStaleIgnoredLiveRefused) {
    Dir d;
    std::string xaid = build_dir() + "/san/xaid", sock = d.path + "/front.sock";
    std::string ep = "ipc://" + sock;
    Proc a;
    a.start({xaid, "--bind", ep}, d.path + "/a.log");
    ASSERT_TRUE(wait_for_file(sock, 10)) << a.text();
    // A second daemon on the same endpoint: refused (exit 1), the first unharmed.
    Proc b;
    b.start({xaid, "--bind", ep}, d.path + "/b.log");
    EXPECT_EQ(b.wait_exit(10), 1) << b.text();
    EXPECT_NE(b.text().find("another process"), std::string::npos) << b.text();
    EXPECT_TRUE(exists(sock));
    // A clean exit removes the file.
    EXPECT_EQ(a.stop(SIGTERM), 0) << a.text();
    EXPECT_FALSE(exists(sock));
    // A crash leaves it; the next start removes it and serves.
    Proc c;
    c.start({xaid, "--bind", ep}, d.path + "/c.log");
    ASSERT_TRUE(wait_for_file(sock, 10)) << c.text();
    usleep(200000);
    c.stop(SIGKILL);
    ASSERT_TRUE(exists(sock));
    Proc e;
    e.start({xaid, "--bind", ep}, d.path + "/e.log");
    for (int i = 0; i < 500 && e.text().find("xaid serving") == std::string::npos; i++) usleep(10000);
    EXPECT_NE(e.text().find("stale socket file removed"), std::string::npos) << e.text();
    EXPECT_NE(e.text().find("xaid serving"), std::string::npos) << e.text();
    EXPECT_EQ(e.stop(SIGTERM), 0) << e.text();
    EXPECT_FALSE(exists(sock));
}

// `make install` into a DESTDIR: exactly the expected files; the installed
// headers are closed under their includes and compile a program that links
// the installed libxaiclient.so (through the rpath) and runs; the unit runs
// the installed xaid on the installed config; `make uninstall` removes
// every file again, but keeps a config the admin changed.
TEST(Service, MakeInstallAndUninstallIntoADestdir) {
    Dir d;
    std::string out, root = root_dir();
    std::string make = "make -s -C '" + root + "' BUILD='" + build_dir() + "' DESTDIR='" + d.path +
                       "' PREFIX=/usr/local SYSCONFDIR=/etc ";
    ASSERT_EQ(run(make + "install 2>&1", &out), 0) << out;
    ASSERT_EQ(run("cd '" + d.path + "' && find . \\( -type f -o -type l \\) | sort", &out), 0);
    std::set<std::string> got;
    std::istringstream ls(out);
    for (std::string l; std::getline(ls, l);) got.insert(l);
    std::set<std::string> want = {
        "./etc/xaid/xaid.conf", "./usr/local/bin/xai", "./usr/local/bin/xaid",
        "./usr/local/lib/libxai.a", "./usr/local/lib/libxaiclient.a",
        "./usr/local/lib/libxaiclient.so", "./usr/local/lib/libxaiclient.so.0",
        "./usr/local/lib/pkgconfig/xai.pc", "./usr/local/lib/systemd/system/xaid.service",
        "./usr/local/share/man/man1/xai.1", "./usr/local/share/man/man5/xaid.conf.5",
        "./usr/local/share/man/man8/xaid.8"};
    for (const char *h : {"xai.h", "value.h", "text.h", "space.h", "eval.h", "result.h", "methods.h",
                          "nn.h", "client.h", "model_server.h"})
        want.insert(std::string("./usr/local/include/xai/") + h);
    EXPECT_EQ(got, want);
    // Every quoted include of an installed header is installed too.
    std::string inc = d.path + "/usr/local/include/xai/";
    for (const std::string &f : got) {
        if (f.find("/include/xai/") == std::string::npos) continue;
        std::ifstream h(d.path + "/" + f);
        for (std::string l; std::getline(h, l);) {
            if (l.rfind("#include \"", 0) != 0) continue;
            std::string name = l.substr(10, l.find('"', 10) - 10);
            EXPECT_TRUE(exists(inc + name)) << f << " includes " << name << ", not installed";
        }
    }
    // A program against the installed tree, the shared library found by rpath.
    std::ofstream(d.path + "/p.c") << "#include <stdio.h>\n#include \"xai/client.h\"\n"
                                      "#include \"xai/methods.h\"\n"
                                      "int main(void) { printf(\"%s %zu\\n\", xai_version(), "
                                      "xai_method_n_params(\"lime\")); return 0; }\n";
    std::string lib = d.path + "/usr/local/lib";
    ASSERT_EQ(run("cc -std=c11 -Wall -Werror -I'" + d.path + "/usr/local/include' -o '" + d.path +
                  "/p' '" + d.path + "/p.c' -L'" + lib + "' -Wl,-rpath,'" + lib + "' -lxaiclient 2>&1",
                  &out), 0) << out;
    ASSERT_EQ(run("env -u LD_LIBRARY_PATH '" + d.path + "/p'", &out), 0) << out;
    EXPECT_EQ(out.rfind("0.", 0), 0u) << out;
    std::ifstream pc(lib + "/pkgconfig/xai.pc");
    std::string pcs((std::istreambuf_iterator<char>(pc)), {});
    EXPECT_NE(pcs.find("-Wl,-rpath,${libdir}"), std::string::npos) << pcs;
    std::ifstream unit(lib + "/systemd/system/xaid.service");
    std::string units((std::istreambuf_iterator<char>(unit)), {});
    EXPECT_NE(units.find("ExecStart=/usr/local/bin/xaid --config /etc/xaid/xaid.conf"),
              std::string::npos) << units;
    EXPECT_NE(units.find("ExecReload=/bin/kill -HUP $MAINPID"), std::string::npos);
    // The installed default config is one xaid accepts.
    Proc x;
    x.start({d.path + "/usr/local/bin/xaid", "--config", d.path + "/etc/xaid/xaid.conf", "--bind",
             "ipc://" + d.path + "/x.sock"}, d.path + "/x.log");
    ASSERT_TRUE(wait_for_file(d.path + "/x.sock", 10)) << x.text();
    EXPECT_EQ(x.stop(SIGTERM), 0) << x.text();

    ASSERT_EQ(run(make + "uninstall 2>&1", &out), 0) << out;
    ASSERT_EQ(run("cd '" + d.path + "' && find . \\( -type f -o -type l \\) -path './usr/*' -o "
                  "\\( -type f -path './etc/*' \\)", &out), 0);
    EXPECT_EQ(out, "");
    // A config the admin changed survives an uninstall.
    ASSERT_EQ(run(make + "install 2>&1", &out), 0) << out;
    std::ofstream(d.path + "/etc/xaid/xaid.conf", std::ios::app) << "workers = 2\n";
    ASSERT_EQ(run(make + "uninstall 2>&1", &out), 0) << out;
    EXPECT_TRUE(exists(d.path + "/etc/xaid/xaid.conf"));
    EXPECT_FALSE(exists(d.path + "/usr/local/bin/xaid"));
}
