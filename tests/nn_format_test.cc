// nn_format_test.cc — the xnn file format: round trips (bytes and outputs),
// batch norm folded on load, and corrupt files: every truncation, random byte
// flips, wrong versions and sizes are XAI_ERR_FORMAT, never a crash.
#include <gtest/gtest.h>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <cstdio>
#include <cstring>
#include <string>
#include "nn_test_util.h"
#include "xai/value.h"

using namespace nnt;

namespace {

// Every layer kind that a file can hold.
xai_nn *every_layer_net() {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(2, 6, 6, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 3, 3, 2, 1, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_maxpool2d(net, 2, 0, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_sigmoid(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_avgpool2d(net, 2, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_tanh(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_global_avgpool(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 4, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_softmax(net, &e), XAI_OK);
    xai_nn_init_random(net, 3);
    return net;
}

xai_nn *tiny_net() {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(1, 3, 3, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 1, 2, 2, 1, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 2, &e), XAI_OK);
    xai_nn_init_random(net, 1);
    return net;
}

std::vector<float> outputs(const xai_nn *net, const std::vector<float> &x) {
    size_t n = x.size() / xai_nn_input_size(net);
    std::vector<float> y(n * xai_nn_output_size(net));
    xai_error e;
    EXPECT_EQ(xai_nn_forward(net, x.data(), n, y.data(), &e), XAI_OK) << e.message;
    return y;
}

xai_value *load_tree(const xai_nn *net) {
    char *buf;
    size_t len;
    xai_error e;
    EXPECT_EQ(xai_nn_save_mem(net, &buf, &len, &e), XAI_OK);
    xai_value *v = nullptr;
    EXPECT_EQ(xai_value_unpack(buf, len, nullptr, &v, &e), XAI_OK);
    xai_free(buf);
    return v;
}

xai_status load_tree_back(const xai_value *v, xai_nn **out, xai_error *e) {
    char *buf;
    size_t len;
    EXPECT_EQ(xai_value_pack(v, &buf, &len, e), XAI_OK);
    xai_status st = xai_nn_load_mem(buf, len, out, e);
    xai_free(buf);
    return st;
}

}  // namespace

TEST(NnFormat, RoundTripKeepsBytesAndOutputs) {
    xai_nn *net = every_layer_net(), *back = nullptr;
    char *a, *b;
    size_t la, lb;
    xai_error e;
    ASSERT_EQ(xai_nn_save_mem(net, &a, &la, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_load_mem(a, la, &back, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_save_mem(back, &b, &lb, &e), XAI_OK);
    ASSERT_EQ(la, lb);
    EXPECT_EQ(std::memcmp(a, b, la), 0);
    std::vector<float> x = random_input(3 * xai_nn_input_size(net), 5);
    std::vector<float> y1 = outputs(net, x), y2 = outputs(back, x);
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)), 0);
    EXPECT_EQ(xai_nn_n_layers(back), xai_nn_n_layers(net));
    xai_free(a);
    xai_free(b);
    xai_nn_free(back);

    std::string path = "/tmp/nn_format_test_" + std::to_string(getpid()) + ".xnn";
    ASSERT_EQ(xai_nn_save(net, path.c_str(), &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_load(path.c_str(), &back, &e), XAI_OK) << e.message;
    std::vector<float> y3 = outputs(back, x);
    EXPECT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float)), 0);
    std::remove(path.c_str());
    xai_nn_free(back);
    xai_nn_free(net);
    EXPECT_EQ(xai_nn_load("/nonexistent/x.xnn", &back, &e), XAI_ERR_IO);
    EXPECT_EQ(back, nullptr);
}

TEST(NnFormat, EveryTruncationIsAFormatError) {
    xai_nn *net = tiny_net();
    char *buf;
    size_t len;
    xai_error e;
    ASSERT_EQ(xai_nn_save_mem(net, &buf, &len, &e), XAI_OK);
    for (size_t cut = 0; cut < len; cut++) {
        xai_nn *back = reinterpret_cast<xai_nn *>(1);
        EXPECT_EQ(xai_nn_load_mem(buf, cut, &back, &e), XAI_ERR_FORMAT) << cut;
        EXPECT_EQ(back, nullptr);
        EXPECT_NE(e.message[0], '\0');
    }
    xai_free(buf);
    xai_nn_free(net);
}

TEST(NnFormat, RandomByteFlipsNeverCrash) {
    // A flip may hit a weight (the file still loads) or the structure (a
    // format error). Either way no crash, and what loads runs.
    xai_nn *net = tiny_net();
    char *buf;
    size_t len;
    xai_error e;
    ASSERT_EQ(xai_nn_save_mem(net, &buf, &len, &e), XAI_OK);
    xai_rng r;
    xai_rng_seed(&r, 99, 0);
    int loaded = 0, rejected = 0;
    std::vector<char> copy(buf, buf + len);
    for (int i = 0; i < 3000; i++) {
        std::vector<char> c = copy;
        int flips = 1 + (int)xai_rng_below(&r, 3);
        for (int f = 0; f < flips; f++) c[xai_rng_below(&r, len)] ^= (char)(1 + xai_rng_below(&r, 255));
        xai_nn *back = nullptr;
        xai_status st = xai_nn_load_mem(c.data(), len, &back, &e);
        ASSERT_TRUE(st == XAI_OK || st == XAI_ERR_FORMAT) << st;
        if (st == XAI_OK) {
            loaded++;
            std::vector<float> x(xai_nn_input_size(back), 0.5f), y(xai_nn_output_size(back));
            EXPECT_EQ(xai_nn_forward(back, x.data(), 1, y.data(), &e), XAI_OK);
        } else {
            rejected++;
        }
        xai_nn_free(back);
    }
    EXPECT_GT(loaded, 0);
    EXPECT_GT(rejected, 0);
    xai_free(buf);
    xai_nn_free(net);
}

TEST(NnFormat, RandomByteFlipsOfTextGraphAndAttentionFilesNeverCrash) {
    // The committed fixtures hold every newer part of the format: an
    // embedding with its vocabulary, conv1d, token_pool, "inputs", add,
    // layernorm and attention. Whatever a flip does, loading is OK or
    // XAI_ERR_FORMAT, and a network that loads runs (or refuses the input
    // with an error).
    const char *root = std::getenv("XAI_ROOT");
    std::string dir = std::string(root ? root : ".") + "/tests/data/";
    xai_rng r;
    xai_rng_seed(&r, 7, 0);
    for (const char *name : {"text_cnn.xnn", "resnet_block.xnn", "transformer.xnn"}) {
        std::ifstream f(dir + name, std::ios::binary);
        std::vector<char> copy((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        ASSERT_FALSE(copy.empty()) << name;
        int loaded = 0, rejected = 0;
        for (int i = 0; i < 1500; i++) {
            std::vector<char> c = copy;
            int flips = 1 + (int)xai_rng_below(&r, 3);
            for (int k = 0; k < flips; k++) c[xai_rng_below(&r, c.size())] ^= (char)(1 + xai_rng_below(&r, 255));
            xai_nn *back = nullptr;
            xai_error e;
            xai_status st = xai_nn_load_mem(c.data(), c.size(), &back, &e);
            ASSERT_TRUE(st == XAI_OK || st == XAI_ERR_FORMAT) << name << " " << st << " " << e.message;
            if (st != XAI_OK) {
                rejected++;
                continue;
            }
            loaded++;
            std::vector<float> y(xai_nn_output_size(back) * 2);
            if (xai_nn_is_text(back)) {
                const char *texts[] = {"the movie was good", "bad"};
                size_t lens[] = {18, 3};
                st = xai_nn_text_forward(back, texts, lens, 2, false, y.data(), &e);
            } else if (xai_nn_input_size(back) <= 4096) {
                std::vector<float> x(xai_nn_input_size(back), 0.5f);
                st = xai_nn_forward(back, x.data(), 1, y.data(), &e);
            }
            EXPECT_TRUE(st == XAI_OK || st == XAI_ERR_INVALID || st == XAI_ERR_LIMIT) << name << " " << st;
            xai_nn_free(back);
        }
        EXPECT_GT(loaded, 0) << name;
        EXPECT_GT(rejected, 0) << name;
    }
}

TEST(NnFormat, BadVersionSizesAndTypesAreRejectedWithReasons) {
    xai_nn *net = tiny_net(), *back = nullptr;
    xai_error e;
    xai_value *v = load_tree(net);
    ASSERT_EQ(xai_value_set_int(v, "version", 2), XAI_OK);
    EXPECT_EQ(load_tree_back(v, &back, &e), XAI_ERR_FORMAT);
    EXPECT_NE(std::string(e.message).find("version 2"), std::string::npos) << e.message;
    ASSERT_EQ(xai_value_set_int(v, "version", 1), XAI_OK);
    // Weight blob of the dense layer (index 3) one float short.
    xai_value *dense = xai_value_at(xai_value_get(v, "layers"), 3);
    float w[15] = {0};
    ASSERT_EQ(xai_value_set(dense, "weight", xai_value_bin(w, sizeof w)), XAI_OK);
    EXPECT_EQ(load_tree_back(v, &back, &e), XAI_ERR_FORMAT);
    EXPECT_NE(std::string(e.message).find("layer 3"), std::string::npos) << e.message;
    // An unknown layer type.
    ASSERT_EQ(xai_value_set_str(dense, "type", "lstm"), XAI_OK);
    EXPECT_EQ(load_tree_back(v, &back, &e), XAI_ERR_FORMAT);
    EXPECT_NE(std::string(e.message).find("lstm"), std::string::npos) << e.message;
    // A layer that does not fit (dense straight after conv, no flatten).
    xai_value_free(v);
    v = load_tree(net);
    xai_value *layers = xai_value_get(v, "layers");
    ASSERT_EQ(xai_value_set_str(xai_value_at(layers, 2), "type", "relu"), XAI_OK);
    EXPECT_EQ(load_tree_back(v, &back, &e), XAI_ERR_FORMAT);
    EXPECT_NE(std::string(e.message).find("layer 3 (dense)"), std::string::npos) << e.message;
    EXPECT_EQ(back, nullptr);
    xai_value_free(v);
    xai_nn_free(net);
}

TEST(NnFormat, BatchNormInAFileIsFolded) {
    // File: dense 2->2 (W = I, b = 0) then batchnorm gamma [2, 1], beta [1, 0],
    // mean [0, 3], var [3, 0], eps 1: y0 = 2 x0 / 2 + 1, y1 = (x1 - 3) / 1.
    xai_nn *net = nullptr, *back = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(2, 1, 1, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 2, &e), XAI_OK);
    const float I[4] = {1, 0, 0, 1};
    ASSERT_EQ(xai_nn_set_weights(net, 0, I, 4, nullptr, 0, &e), XAI_OK);
    xai_value *v = load_tree(net);
    xai_value *bn = xai_value_map();
    const float g[2] = {2, 1}, b[2] = {1, 0}, m[2] = {0, 3}, var[2] = {3, 0};
    xai_value_set_str(bn, "type", "batchnorm");
    xai_value_set(bn, "gamma", xai_value_bin(g, 8));
    xai_value_set(bn, "beta", xai_value_bin(b, 8));
    xai_value_set(bn, "mean", xai_value_bin(m, 8));
    xai_value_set(bn, "var", xai_value_bin(var, 8));
    xai_value_set_float(bn, "eps", 1.0);
    ASSERT_EQ(xai_value_push(xai_value_get(v, "layers"), bn), XAI_OK);
    ASSERT_EQ(load_tree_back(v, &back, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_n_layers(back), 1u);
    float x[2] = {4, 5}, y[2];
    ASSERT_EQ(xai_nn_forward(back, x, 1, y, &e), XAI_OK);
    EXPECT_FLOAT_EQ(y[0], 5);
    EXPECT_FLOAT_EQ(y[1], 2);
    xai_value_free(v);
    xai_nn_free(back);
    xai_nn_free(net);
}

TEST(NnFormat, CommittedDigitsNetworksLoad) {
    // examples/digits/{mlp,cnn}.xnn (trained by examples/digits/train.c, 98%
    // and 98.6% test accuracy there): they load, have the documented
    // architectures, and give probability vectors.
    const char *root = getenv("XAI_ROOT");
    std::string dir = std::string(root ? root : ".") + "/examples/digits/";
    struct {
        const char *file;
        size_t c, h, w, layers;
    } nets[] = {{"mlp.xnn", 64, 1, 1, 6}, {"cnn.xnn", 1, 8, 8, 9}};
    for (auto &n : nets) {
        xai_nn *net = nullptr;
        xai_error e;
        ASSERT_EQ(xai_nn_load((dir + n.file).c_str(), &net, &e), XAI_OK) << e.message;
        size_t s[3];
        xai_nn_layer_shape(net, (size_t)-1, s);
        EXPECT_EQ(s[0] * 100 + s[1] * 10 + s[2], n.c * 100 + n.h * 10 + n.w) << n.file;
        EXPECT_EQ(xai_nn_n_layers(net), n.layers) << n.file;
        EXPECT_EQ(xai_nn_output_size(net), 10u);
        EXPECT_EQ(xai_nn_layer_kind_of(net, n.layers - 1), XAI_NN_SOFTMAX);
        std::vector<float> x = random_input(2 * 64, 3, 0, 1), y(20);
        ASSERT_EQ(xai_nn_forward(net, x.data(), 2, y.data(), &e), XAI_OK);
        double sum = 0;
        for (int j = 0; j < 10; j++) sum += y[j];
        EXPECT_NEAR(sum, 1.0, 1e-5);
        xai_nn_free(net);
    }
}
