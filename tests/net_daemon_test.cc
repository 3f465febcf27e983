// net_daemon_test.cc — native networks through xaid: a network named in the
// config (`net tiny = file.xnn`) is listed by `models`, explained by native
// methods and by sampling methods, and drawn by the CLI as a heatmap.
//
// The network is written by the test itself: a small CNN on 1 x 4 x 4 inputs
// (conv 3x3 with 2 channels and padding 1, ReLU, flatten, dense to 3 logits)
// with fixed weights from xai_nn_init_random(seed 7), saved with
// xai_nn_save. xaid ($XAI_BUILD/san/xaid) runs as a separate process on an
// ipc:// endpoint in a temporary directory; the expected values are computed
// in this process on the same network (loaded back from the same file):
//  * native methods through the daemon equal xai_nn_explain in-process
//    (the daemon runs the very same float32 code on the same input);
//  * occlusion of pixel i (baseline 0) equals f_t(x) - f_t(x with x_i = 0),
//    f_t the target logit from xai_nn_logits: a definition, not a copy of
//    the method's code (and likewise for 2 x 2 patches and a baseline);
//  * the CLI reads a tensor file and a PGM (checked against the logit of
//    the scaled pixels) and writes PPM/PGM heatmaps whose header, size and
//    strongest cell's colour are checked;
//  * a wrong input size is invalid_argument, a bad net file a config error
//    naming the line, and xaid exits 0 (no ASan report) at the end;
//  * a text network (`net words = ...`, a conv1d text CNN built here) takes
//    `text` input: native methods give the per-token values of
//    xai_nn_explain_text in-process, sampling occlusion through the daemon
//    equals native occlusion on token ids, and the CLI prints the tokens.
// The suite skips, saying why, when xaid is not built.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "e2e_util.h"
#include "xai/client.h"
#include "xai/nn.h"

using namespace e2e;

namespace {

const size_t kD = 16;   // 1 x 4 x 4

// The input: a smooth ramp with a bright spot, values in [0, 3].
std::vector<float> input_x() {
    std::vector<float> x(kD);
    for (size_t i = 0; i < kD; i++) x[i] = 0.1f * (float)i + (i == 5 ? 1.5f : 0.0f);
    return x;
}

std::vector<double> as_double(const std::vector<float> &x) { return {x.begin(), x.end()}; }

xai_nn *build_tiny() {
    xai_nn *net = nullptr;
    xai_error err;
    EXPECT_EQ(xai_nn_new(1, 4, 4, &net, &err), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 2, 3, 3, 1, 1, &err), XAI_OK) << err.message;
    EXPECT_EQ(xai_nn_add_relu(net, &err), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &err), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &err), XAI_OK) << err.message;
    xai_nn_init_random(net, 7);
    return net;
}

// A text CNN: vocabulary of 6 words (oov 0, lower case), embedding dim 3,
// conv1d 4 channels (kernel 2, padding 1), ReLU, mean over tokens, dense 2.
xai_nn *build_words() {
    static const char *const vocab[] = {"<unk>", "good", "bad", "movie", "not", "the"};
    xai_nn_text_opts o = {vocab, 6, 3, 0, true, nullptr, 32};
    xai_nn *net = nullptr;
    xai_error err;
    EXPECT_EQ(xai_nn_new_text(&o, &net, &err), XAI_OK) << err.message;
    EXPECT_EQ(xai_nn_add_conv1d(net, 4, 2, 1, 1, &err), XAI_OK) << err.message;
    EXPECT_EQ(xai_nn_add_relu(net, &err), XAI_OK);
    EXPECT_EQ(xai_nn_add_token_pool(net, XAI_NN_POOL_MEAN, &err), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 2, &err), XAI_OK) << err.message;
    xai_nn_init_random(net, 9);
    std::vector<float> emb(18);
    for (size_t i = 0; i < emb.size(); i++) emb[i] = (float)std::sin(1.7 * (double)i + 0.3);
    EXPECT_EQ(xai_nn_set_embedding(net, emb.data(), emb.size(), &err), XAI_OK);
    return net;
}

const char *const kWords = "The movie is not bad, GOOD movie";

// The target logit of x.
double logit(const xai_nn *net, const std::vector<float> &x, size_t t) {
    float out[3];
    xai_error err;
    EXPECT_EQ(xai_nn_logits(net, x.data(), 1, out, &err), XAI_OK);
    return out[t];
}

}  // namespace

class NetDaemon : public ::testing::Test {
  protected:
    static TempDir *dir_;
    static pid_t xaid_;
    static std::string skip_, ep_;
    static xai_nn *net_, *words_;

    static void SetUpTestSuite() {
        std::string xaid = build_dir() + "/san/xaid";
        if (access(xaid.c_str(), X_OK) != 0) {
            skip_ = "xaid is not built at " + xaid;
            return;
        }
        dir_ = new TempDir();
        ep_ = dir_->ep("xaid.sock");
        std::string path = dir_->path + "/tiny.xnn", conf = dir_->path + "/xaid.conf";
        xai_error err;
        xai_nn *built = build_tiny();
        if (xai_nn_save(built, path.c_str(), &err) != XAI_OK) skip_ = err.message;
        xai_nn_free(built);
        if (skip_.empty() && xai_nn_load(path.c_str(), &net_, &err) != XAI_OK) skip_ = err.message;
        std::string wpath = dir_->path + "/words.xnn";
        built = build_words();
        if (skip_.empty() && xai_nn_save(built, wpath.c_str(), &err) != XAI_OK) skip_ = err.message;
        xai_nn_free(built);
        if (skip_.empty() && xai_nn_load(wpath.c_str(), &words_, &err) != XAI_OK) skip_ = err.message;
        std::ofstream(conf) << "bind = " << ep_ << "\nworkers = 2\nnet tiny = " << path
                            << "\nnet words = " << wpath << "\n";
        xaid_ = spawn({xaid, "--config", conf}, {}, dir_->path + "/xaid.log");
        xai_client *c = nullptr;
        xai_client_connect(ep_.c_str(), &c, &err);
        xai_client_set_timeout(c, 500);
        double s;
        bool up = eventually(20, [&] { return xai_client_ping(c, &s, &err) == XAI_OK; });
        xai_client_close(c);
        if (!up && skip_.empty()) skip_ = "xaid does not answer ping; log in " + dir_->path;
    }

    // xaid must exit 0 on SIGTERM: under ASan a leak or an error would
    // make the status non-zero.
    static void TearDownTestSuite() {
        int status = stop_process(xaid_);
        if (skip_.empty()) {
            EXPECT_EQ(status, 0) << "xaid's log is " << dir_->path << "/xaid.log";
        }
        xai_nn_free(net_);
        xai_nn_free(words_);
        net_ = words_ = nullptr;
        delete dir_;
        dir_ = nullptr;
    }

    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        xai_error err;
        ASSERT_EQ(xai_client_connect(ep_.c_str(), &c_, &err), XAI_OK);
        xai_client_set_timeout(c_, 5000);
    }
    void TearDown() override { xai_client_close(c_); }

    // A request for x on `tiny` (x must outlive it).
    static xai_job_request tiny_request(const char *method, const std::vector<double> &x,
                                        const xai_value *params) {
        xai_job_request rq = {};
        rq.model = "tiny";
        rq.method = method;
        rq.row = x.data();
        rq.n_cols = x.size();
        rq.params = params;
        return rq;
    }

    // Explains x on `tiny` through the daemon.
    xai_status explain(const char *method, const std::vector<double> &x, const xai_value *params,
                       xai_result **out, xai_error *err) {
        xai_job_request rq = tiny_request(method, x, params);
        return xai_client_explain(c_, &rq, 20000, out, err);
    }

    // A native method through the daemon equals xai_nn_explain in-process
    // (of local_method / local_params when given: the alias's meaning).
    void expect_native_equal(const char *method, const xai_value *params,
                             const char *local_method = nullptr,
                             const xai_value *local_params = nullptr) {
        std::vector<float> x = input_x();
        xai_result *local = nullptr, *remote = nullptr;
        xai_error err;
        ASSERT_EQ(xai_nn_explain(net_, local_method ? local_method : method, x.data(),
                                 local_method ? local_params : params, &local, &err),
                  XAI_OK)
            << err.message;
        ASSERT_EQ(explain(method, as_double(x), params, &remote, &err), XAI_OK) << err.message;
        EXPECT_STREQ(remote->method, method);
        ASSERT_EQ(remote->d, kD);
        ASSERT_EQ(local->d, kD);
        EXPECT_EQ(remote->target, local->target);
        EXPECT_NEAR(remote->fx, local->fx, 1e-6);
        for (size_t i = 0; i < kD; i++) EXPECT_NEAR(remote->values[i], local->values[i], 1e-6) << i;
        ASSERT_EQ(remote->rank, 3u);
        EXPECT_EQ(remote->shape[0], 1u);
        EXPECT_EQ(remote->shape[1], 4u);
        EXPECT_EQ(remote->shape[2], 4u);
        EXPECT_STREQ(remote->model, "tiny");
        xai_result_free(local);
        xai_result_free(remote);
    }

    xai_client *c_ = nullptr;
};

TempDir *NetDaemon::dir_ = nullptr;
pid_t NetDaemon::xaid_ = -1;
std::string NetDaemon::skip_, NetDaemon::ep_;
xai_nn *NetDaemon::net_ = nullptr, *NetDaemon::words_ = nullptr;

TEST_F(NetDaemon, ModelsListsTheNetwork) {
    xai_value *r = nullptr;
    xai_error err;
    ASSERT_EQ(xai_client_models(c_, &r, &err), XAI_OK) << err.message;
    const xai_value *ms = xai_value_get(r, "models");
    ASSERT_EQ(xai_value_len(ms), 2u);
    const xai_value *w = xai_value_at(ms, 1);
    EXPECT_STREQ(xai_value_get_str(xai_value_get(w, "name"), nullptr), "words");
    EXPECT_STREQ(xai_value_get_str(xai_value_get(w, "kind"), nullptr), "text");
    EXPECT_EQ(xai_value_get_int(xai_value_get(w, "vocab_size")), 6);
    EXPECT_EQ(xai_value_get_int(xai_value_get(w, "n_outputs")), 2);
    const xai_value *m = xai_value_at(ms, 0);
    EXPECT_STREQ(xai_value_get_str(xai_value_get(m, "name"), nullptr), "tiny");
    EXPECT_STREQ(xai_value_get_str(xai_value_get(m, "kind"), nullptr), "tensor");
    EXPECT_TRUE(xai_value_get_bool(xai_value_get(m, "ready")));
    EXPECT_TRUE(xai_value_get_bool(xai_value_get(m, "native")));
    EXPECT_EQ(xai_value_get_int(xai_value_get(m, "n_outputs")), 3);
    const xai_value *shape = xai_value_get(m, "input_shape");
    ASSERT_EQ(xai_value_len(shape), 3u);
    EXPECT_EQ(xai_value_get_int(xai_value_at(shape, 0)), 1);
    EXPECT_EQ(xai_value_get_int(xai_value_at(shape, 1)), 4);
    EXPECT_EQ(xai_value_get_int(xai_value_at(shape, 2)), 4);
    xai_value_free(r);
}

TEST_F(NetDaemon, GradientTimesInputMatchesInProcess) { expect_native_equal("grad_x_input", nullptr); }

TEST_F(NetDaemon, LrpEpsilonMatchesInProcess) {
    xai_value *p = xai_value_map();
    xai_value_set_float(p, "epsilon", 0.01);
    expect_native_equal("lrp", p);
    xai_value_free(p);
}

// lrp_epsilon_plus is lrp with composite epsilon_plus (z+ on the conv
// layer, so it differs from plain epsilon here); lrp_epsilon is lrp with
// composite none; giving an alias a composite is invalid_argument.
TEST_F(NetDaemon, LrpAliasesAreLrpWithTheirComposite) {
    xai_value *plus = xai_value_map(), *none = xai_value_map(), *eps = xai_value_map();
    xai_value_set_str(plus, "composite", "epsilon_plus");
    xai_value_set_float(eps, "epsilon", 0.01);
    xai_value_set_str(none, "composite", "none");
    xai_value_set_float(none, "epsilon", 0.01);
    {   // the two composites really differ on this network
        std::vector<float> x = input_x();
        xai_result *a = nullptr, *b = nullptr;
        xai_error e;
        ASSERT_EQ(xai_nn_explain(net_, "lrp", x.data(), plus, &a, &e), XAI_OK) << e.message;
        ASSERT_EQ(xai_nn_explain(net_, "lrp", x.data(), none, &b, &e), XAI_OK) << e.message;
        double diff = 0;
        for (size_t i = 0; i < kD; i++) diff = std::max(diff, std::fabs(a->values[i] - b->values[i]));
        EXPECT_GT(diff, 1e-4);
        xai_result_free(a);
        xai_result_free(b);
    }
    expect_native_equal("lrp_epsilon_plus", nullptr, "lrp", plus);
    expect_native_equal("lrp_epsilon", eps, "lrp", none);
    xai_result *r = nullptr;
    xai_error err;
    EXPECT_EQ(explain("lrp_epsilon", as_double(input_x()), plus, &r, &err), XAI_ERR_INVALID);
    for (xai_value *v : {plus, none, eps}) xai_value_free(v);
}

// Occlusion with pixel features and baseline 0 on the logits: value_i =
// f_t(x) - f_t(x with x_i = 0) for the target t = argmax of the logits.
TEST_F(NetDaemon, OcclusionIsTheLogitDropOfEachPixel) {
    std::vector<float> x = input_x();
    float lg[3];
    xai_error err;
    ASSERT_EQ(xai_nn_logits(net_, x.data(), 1, lg, &err), XAI_OK);
    size_t t = (size_t)(std::max_element(lg, lg + 3) - lg);
    xai_result *r = nullptr;
    ASSERT_EQ(explain("occlusion", as_double(x), nullptr, &r, &err), XAI_OK) << err.message;
    ASSERT_EQ(r->d, kD);
    EXPECT_EQ(r->target, (int64_t)t);
    double fx = logit(net_, x, t);
    EXPECT_NEAR(r->fx, fx, 1e-5);
    bool some_nonzero = false;
    for (size_t i = 0; i < kD; i++) {
        std::vector<float> xi = x;
        xi[i] = 0;
        double want = fx - logit(net_, xi, t);
        some_nonzero |= std::fabs(want) > 1e-3;
        EXPECT_NEAR(r->values[i], want, 1e-5) << "pixel " << i;
    }
    EXPECT_TRUE(some_nonzero);
    ASSERT_EQ(r->rank, 3u);
    EXPECT_EQ(r->shape[1] * r->shape[2], kD);
    xai_result_free(r);
}

TEST_F(NetDaemon, WrongInputSizeIsInvalidArgument) {
    std::vector<double> x(15, 1.0);
    xai_result *r = nullptr;
    xai_error err;
    EXPECT_EQ(explain("grad_x_input", x, nullptr, &r, &err), XAI_ERR_INVALID);
    EXPECT_NE(std::string(err.message).find("16"), std::string::npos) << err.message;
    EXPECT_EQ(r, nullptr);
    x.resize(17, 0.0);
    EXPECT_EQ(explain("occlusion", x, nullptr, &r, &err), XAI_ERR_INVALID);
}

// An unknown parameter of a native method is refused before the job is
// accepted (no job id), naming the key; a sampling method's gets the
// registry's choices too.
TEST_F(NetDaemon, UnknownParametersAreRefusedBeforeAccepted) {
    std::vector<double> x = as_double(input_x());
    xai_value *p = xai_value_map();
    xai_value_set_float(p, "epsilonn", 0.01);
    for (const char *method : {"lrp", "lrp_epsilon", "grad_x_input", "smoothgrad", "gradcam"}) {
        xai_job_request rq = tiny_request(method, x, p);
        uint64_t job = 7;
        xai_error err;
        EXPECT_EQ(xai_client_submit(c_, &rq, &job, &err), XAI_ERR_INVALID) << method;
        EXPECT_EQ(job, 0u) << method;
        EXPECT_NE(std::string(err.message).find("epsilonn"), std::string::npos) << err.message;
    }
    xai_value_free(p);
    p = xai_value_map();
    xai_value_set_int(p, "windw", 2);
    xai_job_request rq = tiny_request("occlusion", x, p);
    uint64_t job = 7;
    xai_error err;
    EXPECT_EQ(xai_client_submit(c_, &rq, &job, &err), XAI_ERR_INVALID);
    EXPECT_NE(std::string(err.message).find("did you mean \"window\""), std::string::npos) << err.message;
    xai_value_free(p);
}

// The CLI reads a 4-line tensor file as 4 x 4, prints the heat grid, and
// writes a PPM of 4*5 x 4*5 pixels drawn over the input whose strongest cell
// is pure red (a positive maximum) or pure blue (a negative one), and a PGM
// of the same size.
TEST_F(NetDaemon, CliWritesHeatmaps) {
    std::vector<float> x = input_x();
    std::string tf = dir_->path + "/x.txt", ppm = dir_->path + "/h.ppm", pgm = dir_->path + "/h.pgm";
    {
        std::ofstream f(tf);
        for (size_t i = 0; i < kD; i++) f << x[i] << (i % 4 == 3 ? "\n" : " ");
    }
    std::string base = build_dir() + "/san/xai --endpoint " + ep_ +
                       " explain --model tiny --method grad_x_input --tensor-file " + tf +
                       " --heatmap-scale 5 --heatmap ";
    std::string out;
    ASSERT_EQ(run_cmd(base + ppm, &out), 0) << out;
    EXPECT_NE(out.find("relevance map 4 x 4"), std::string::npos) << out;
    const std::string ppm_out = out;
    ASSERT_EQ(run_cmd(base + pgm, &out), 0) << out;

    std::ifstream f(ppm, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::string header = "P6\n20 20\n255\n";
    ASSERT_EQ(data.size(), header.size() + 20 * 20 * 3);
    EXPECT_EQ(data.substr(0, header.size()), header);
    xai_result *local = nullptr;
    xai_error err;
    ASSERT_EQ(xai_nn_explain(net_, "grad_x_input", x.data(), nullptr, &local, &err), XAI_OK);
    size_t best = 0;
    for (size_t i = 0; i < kD; i++)
        if (std::fabs(local->values[i]) > std::fabs(local->values[best])) best = i;
    size_t px = header.size() + 3 * ((best / 4) * 5 * 20 + (best % 4) * 5);
    const unsigned char want_red[3] = {255, 0, 0}, want_blue[3] = {0, 0, 255};
    const unsigned char *want = local->values[best] > 0 ? want_red : want_blue;
    for (int k = 0; k < 3; k++) EXPECT_EQ((unsigned char)data[px + k], want[k]) << k;
    // every cell is drawn over the input: its grey (min..max of x) blended
    // toward pure red/blue by |v| / max|v| (within 1 of rounding)
    double m = std::fabs(local->values[best]);
    float lo = *std::min_element(x.begin(), x.end()), hi = *std::max_element(x.begin(), x.end());
    for (size_t i = 0; i < kD; i++) {
        double t = std::fabs(local->values[i]) / m, grey = 255.0 * (x[i] - lo) / (hi - lo);
        double full[3] = {local->values[i] >= 0 ? 255.0 : 0.0, 0.0, local->values[i] <= 0 ? 255.0 : 0.0};
        size_t at = header.size() + 3 * ((i / 4) * 5 * 20 + (i % 4) * 5);
        for (int k = 0; k < 3; k++)
            EXPECT_NEAR((unsigned char)data[at + k], (1 - t) * grey + t * full[k], 1.01) << i << "," << k;
    }
    EXPECT_NE(ppm_out.find("over the input"), std::string::npos) << ppm_out;
    xai_result_free(local);

    std::ifstream g(pgm, std::ios::binary);
    std::string gray((std::istreambuf_iterator<char>(g)), std::istreambuf_iterator<char>());
    EXPECT_EQ(gray.substr(0, 13), "P5\n20 20\n255\n");
    EXPECT_EQ(gray.size(), 13u + 20 * 20);
}

// Patches of 2 x 2 pixels: 4 features on a 2 x 2 grid; occluding patch
// (py, px) sets its 4 pixels to the baseline 0.5 (space.baseline), so each
// value is f_t(x) - f_t(x with that block at 0.5).
TEST_F(NetDaemon, OcclusionOfPatchesWithABaseline) {
    std::vector<float> x = input_x();
    std::vector<double> xd = as_double(x);
    float lg[3];
    xai_error err;
    ASSERT_EQ(xai_nn_logits(net_, x.data(), 1, lg, &err), XAI_OK);
    size_t t = (size_t)(std::max_element(lg, lg + 3) - lg);
    xai_value *space = xai_value_map();
    xai_value_set_int(space, "patch", 2);
    xai_value_set_float(space, "baseline", 0.5);
    xai_job_request rq = {};
    rq.model = "tiny";
    rq.method = "occlusion";
    rq.row = xd.data();
    rq.n_cols = xd.size();
    rq.space = space;
    xai_result *r = nullptr;
    ASSERT_EQ(xai_client_explain(c_, &rq, 20000, &r, &err), XAI_OK) << err.message;
    xai_value_free(space);
    ASSERT_EQ(r->d, 4u);
    ASSERT_EQ(r->rank, 3u);
    EXPECT_EQ(r->shape[1], 2u);
    EXPECT_EQ(r->shape[2], 2u);
    double fx = logit(net_, x, t);
    for (size_t p = 0; p < 4; p++) {
        std::vector<float> xp = x;
        for (size_t dy = 0; dy < 2; dy++)
            for (size_t dx = 0; dx < 2; dx++) xp[(2 * (p / 2) + dy) * 4 + 2 * (p % 2) + dx] = 0.5f;
        EXPECT_NEAR(r->values[p], fx - logit(net_, xp, t), 1e-5) << "patch " << p;
    }
    xai_result_free(r);
}

// A `net` line whose file does not load stops xaid with status 2 and a
// message naming the config file and line.
TEST(NetDaemonConfig, BadNetFileIsAConfigErrorNamingTheLine) {
    std::string xaid = build_dir() + "/san/xaid";
    if (access(xaid.c_str(), X_OK) != 0) GTEST_SKIP() << "xaid is not built at " << xaid;
    TempDir dir;
    std::string conf = dir.path + "/bad.conf", bad = dir.path + "/bad.xnn";
    std::ofstream(bad) << "not a network";
    std::ofstream(conf) << "bind = " << dir.ep("x.sock") << "\nnet broken = " << bad << "\n";
    std::string out;
    EXPECT_EQ(run_cmd(xaid + " --config " + conf + " 2>&1", &out), 2);
    EXPECT_NE(out.find(conf + ":2: net broken"), std::string::npos) << out;
}

// --image reads a binary PGM (P5) as 1 x h x w with pixels scaled to
// [0, --image-max]: pixels p = 5 i (+75 at i = 5) with maxval 255 and
// --image-max 5.1 become x_i = p / 50, and the CLI's JSON fx equals the
// target logit of that x computed in-process.
TEST_F(NetDaemon, CliReadsAPgmImage) {
    std::string pgm = dir_->path + "/in.pgm", json = dir_->path + "/r.json";
    std::vector<unsigned char> px(kD);
    std::vector<float> x(kD);
    for (size_t i = 0; i < kD; i++) {
        px[i] = (unsigned char)(5 * i + (i == 5 ? 75 : 0));
        x[i] = (float)(px[i] / 255.0 * 5.1);
    }
    {
        std::ofstream f(pgm, std::ios::binary);
        f << "P5\n# a comment\n4 4\n255\n";
        f.write((const char *)px.data(), (std::streamsize)px.size());
    }
    std::string out;
    ASSERT_EQ(run_cmd(build_dir() + "/san/xai --endpoint " + ep_ +
                          " explain --model tiny --method saliency --image " + pgm +
                          " --image-max 5.1 --json > " + json, &out), 0);
    const char *py = std::getenv("PYTHON");
    ASSERT_EQ(run_cmd(std::string(py && py[0] ? py : "python3") +
                          " -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                          "print(d[\"fx\"], d[\"target\"], *d[\"shape\"])' " + json, &out), 0);
    double fx = 0;
    int t = -1, c = 0, h = 0, w = 0;
    ASSERT_EQ(std::sscanf(out.c_str(), "%lf %d %d %d %d", &fx, &t, &c, &h, &w), 5) << out;
    ASSERT_GE(t, 0);
    EXPECT_NEAR(fx, logit(net_, x, (size_t)t), 1e-5);
    EXPECT_EQ(c * 100 + h * 10 + w, 144);
}

// Workers share one loaded network without a lock (nn.h: explanation
// functions only read it). Eight jobs submitted at once on two workers,
// alternating two inputs, each equal the in-process map of its input.
TEST_F(NetDaemon, ConcurrentJobsOnOneNetworkAgree) {
    std::vector<float> xs[2] = {input_x(), input_x()};
    for (float &v : xs[1]) v = 3.0f - v;
    std::vector<double> xd[2] = {as_double(xs[0]), as_double(xs[1])};
    xai_result *local[2] = {nullptr, nullptr};
    xai_error err;
    for (int k = 0; k < 2; k++)
        ASSERT_EQ(xai_nn_explain(net_, "grad_x_input", xs[k].data(), nullptr, &local[k], &err), XAI_OK);
    uint64_t jobs[8];
    for (int i = 0; i < 8; i++) {
        xai_job_request rq = {};
        rq.model = "tiny";
        rq.method = "grad_x_input";
        rq.row = xd[i % 2].data();
        rq.n_cols = kD;
        ASSERT_EQ(xai_client_submit(c_, &rq, &jobs[i], &err), XAI_OK) << err.message;
    }
    for (int i = 0; i < 8; i++) {
        xai_result *r = nullptr;
        ASSERT_EQ(xai_client_wait(c_, jobs[i], 20000, nullptr, nullptr, &r, &err), XAI_OK)
            << err.message;
        ASSERT_EQ(r->d, kD);
        for (size_t j = 0; j < kD; j++) EXPECT_NEAR(r->values[j], local[i % 2]->values[j], 1e-6);
        xai_result_free(r);
    }
    for (xai_result *r : local) xai_result_free(r);
}

namespace {
xai_status explain_words(xai_client *c, const char *method, const xai_value *params,
                         xai_result **out, xai_error *err) {
    xai_job_request rq = {};
    rq.model = "words";
    rq.method = method;
    rq.text = kWords;
    rq.params = params;
    return xai_client_explain(c, &rq, 20000, out, err);
}
}  // namespace

TEST_F(NetDaemon, TextNetworkNativeMethodsGiveTheInProcessValuePerToken) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "target", 1);
    for (const char *method : {"grad_x_input", "lrp_epsilon", "integrated_gradients"}) {
        xai_result *local = nullptr, *remote = nullptr;
        xai_error err;
        ASSERT_EQ(xai_nn_explain_text(words_, std::strncmp(method, "lrp", 3) ? method : "lrp", kWords,
                                      std::strlen(kWords), p, &local, &err),
                  XAI_OK)
            << err.message;
        ASSERT_EQ(explain_words(c_, method, p, &remote, &err), XAI_OK) << method << ": " << err.message;
        EXPECT_STREQ(remote->method, method);
        EXPECT_STREQ(remote->model, "words");
        ASSERT_EQ(remote->d, 7u);  // The movie is not bad GOOD movie
        ASSERT_EQ(remote->n_tokens, 7u);
        EXPECT_STREQ(remote->text, kWords);
        EXPECT_STREQ(remote->feature_names[5], "GOOD");
        EXPECT_EQ(remote->token_start[5], 22u);
        EXPECT_NEAR(remote->fx, local->fx, 1e-6);
        for (size_t t = 0; t < 7; t++) EXPECT_NEAR(remote->values[t], local->values[t], 1e-6) << t;
        xai_result_free(local);
        xai_result_free(remote);
    }
    xai_value_free(p);
}

TEST_F(NetDaemon, TextNetworkSamplingOcclusionEqualsNativeOcclusion) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "target", 0);
    xai_result *local = nullptr, *remote = nullptr;
    xai_error err;
    ASSERT_EQ(xai_nn_text_occlusion(words_, kWords, std::strlen(kWords), nullptr, 0, &local, &err), XAI_OK)
        << err.message;
    ASSERT_EQ(explain_words(c_, "occlusion", p, &remote, &err), XAI_OK) << err.message;
    ASSERT_EQ(remote->d, local->d);
    double mag = 0;
    for (size_t t = 0; t < local->d; t++) {
        EXPECT_NEAR(remote->values[t], local->values[t], 1e-6) << t;
        mag += std::fabs(local->values[t]);
    }
    EXPECT_GT(mag, 1e-4);
    EXPECT_GT(remote->stats.rows_sent, 0u);
    xai_result_free(local);
    xai_result_free(remote);
    // A tensor input for a text network is refused before it is queued.
    xai_job_request rq = {};
    double row[2] = {1, 2};
    rq.model = "words";
    rq.method = "saliency";
    rq.row = row;
    rq.n_cols = 2;
    EXPECT_EQ(xai_client_explain(c_, &rq, 5000, &remote, &err), XAI_ERR_BAD_REQUEST);
    EXPECT_NE(std::string(err.message).find("text network"), std::string::npos) << err.message;
    xai_value_free(p);
}

TEST_F(NetDaemon, CliExplainsATextNetworkWithLrp) {
    std::string cmd = build_dir() + "/san/xai --endpoint " + ep_ +
                      " explain --model words --method lrp --text '" + kWords + "'";
    std::string out;
    ASSERT_EQ(run_cmd(cmd, &out), 0) << out;
    EXPECT_NE(out.find("GOOD"), std::string::npos) << out;
    EXPECT_NE(out.find("lrp explanation of model words"), std::string::npos) << out;
}

TEST_F(NetDaemon, ActivationMaxNeedsNoInputAndMatchesInProcess) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "unit", 2);
    xai_value_set_int(p, "steps", 15);
    xai_value_set_int(p, "seed", 3);
    xai_value_set_float(p, "low", 0);
    xai_value_set_float(p, "high", 1);
    xai_result *local = nullptr, *remote = nullptr;
    xai_error err;
    ASSERT_EQ(xai_nn_explain(net_, "activation_max", nullptr, p, &local, &err), XAI_OK) << err.message;
    xai_job_request rq = {};
    rq.model = "tiny";
    rq.method = "activation_max";
    rq.params = p;
    ASSERT_EQ(xai_client_explain(c_, &rq, 20000, &remote, &err), XAI_OK) << err.message;
    ASSERT_EQ(remote->d, kD);
    // xaid may run other OpenBLAS kernels than this process (core/blas.c):
    // equal up to rounding, not to the bit.
    for (size_t i = 0; i < kD; i++) EXPECT_NEAR(remote->values[i], local->values[i], 1e-5) << i;
    EXPECT_EQ(remote->target, 2);
    const xai_value *acts = xai_value_get(remote->extra, "activations");
    ASSERT_EQ(xai_value_len(acts), 16u);
    EXPECT_GT(xai_value_get_number(xai_value_at(acts, 15)), xai_value_get_number(xai_value_at(acts, 0)));
    xai_result_free(local);
    xai_result_free(remote);
    // A text network: the optimised embeddings read back as top tokens.
    xai_value_set_int(p, "length", 4);
    xai_value_set_int(p, "unit", 1);  // words has 2 logits
    ASSERT_EQ(xai_nn_explain_text(words_, "activation_max", nullptr, 0, p, &local, &err), XAI_OK)
        << err.message;
    rq.model = "words";
    ASSERT_EQ(xai_client_explain(c_, &rq, 20000, &remote, &err), XAI_OK) << err.message;
    ASSERT_EQ(remote->d, 4u);
    ASSERT_EQ(remote->n_tokens, 4u);
    for (size_t t = 0; t < 4; t++) {
        EXPECT_STREQ(remote->feature_names[t], local->feature_names[t]);
        EXPECT_NEAR(remote->values[t], local->values[t], 1e-4 * (1 + std::fabs(local->values[t])));
    }
    const xai_value *top = xai_value_get(remote->extra, "top_tokens");
    ASSERT_EQ(xai_value_len(top), 4u);
    EXPECT_STREQ(xai_value_get_str(xai_value_get(xai_value_at(xai_value_at(top, 0), 0), "token"), nullptr),
                 remote->feature_names[0]);
    xai_result_free(local);
    xai_result_free(remote);
    xai_value_free(p);
    // The CLI writes the image found as a heatmap, with no input given.
    std::string ppm = dir_->path + "/am.ppm", out;
    std::string cmd = build_dir() + "/san/xai --endpoint " + ep_ +
                      " explain --model tiny --method activation_max --param steps=10 --param unit=1 --heatmap " + ppm;
    ASSERT_EQ(run_cmd(cmd, &out), 0) << out;
    std::ifstream f(ppm, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(data.substr(0, 2), "P6") << out;
}
