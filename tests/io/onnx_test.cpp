// ONNX export and import: models and ops round-trip through files that ONNX's checker accepts;
// errors name the op or file. (onnxruntime and PyTorch's exports are checked in
// python/tests/test_onnx.py.)
#include <onnx/onnx_pb.h>
#include <gtest/gtest.h>

#include <fstream>

#include "../temp_dir.h"
#include "tessera/io/inference.h"
#include "tessera/io/onnx.h"
#include "tessera/io/onnx_internal.h"
#include "tessera/ops/trace.h"
#include "tessera/tessera.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

namespace {
std::string path_for(const std::string& name) { return (tessera::testing::fresh_dir("onnx_" + name) / "m.onnx").string(); }

onnx::ModelProto read(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromIstream(&f));
  return m;
}

Tensor eval_forward(nn::Module& m, const Tensor& x) {
  autograd::NoGradGuard ng;
  bool was = m.is_training();
  m.eval();
  Tensor y = m(x);
  m.train(was);
  return y;
}

// Gives batch-norm layers running statistics other than the initial 0 and 1.
void randomize_buffers(nn::Module& m) {
  autograd::NoGradGuard ng;
  for (auto& [name, b] : m.named_buffers()) {
    Tensor t = b;
    if (name.find("running_mean") != std::string::npos) t.copy_(randn(t.shape()) * 0.1);
    if (name.find("running_var") != std::string::npos) t.copy_(rand(t.shape()) + 0.5);
  }
}

template <class Fn>
std::string error_of(Fn f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-5) {
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.dtype(), b.dtype());
  Tensor d = ops::abs(a.to(DType::Float64) - b.to(DType::Float64));
  EXPECT_TRUE(ops::allclose(a.to(DType::Float64), b.to(DType::Float64), tol, tol))
      << "max |diff| " << ops::amax(d).item<double>();
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

TEST(Onnx, Lenet5RoundTripsWithStateDictNames) {
  manual_seed(1);
  auto net = zoo::lenet5(1, 10);
  Tensor x = randn({3, 1, 28, 28});
  Tensor want = eval_forward(*net, x);
  std::string p = path_for("lenet");
  net->train();
  io::export_onnx(*net, {x}, p);
  EXPECT_TRUE(net->is_training());  // the mode is restored

  onnx::ModelProto m = read(p);
  EXPECT_EQ(m.opset_import(0).version(), io::kOnnxOpset);
  EXPECT_EQ(m.producer_name(), "tessera");
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(m.graph().output(0).name(), "output");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 3);
  std::vector<std::string> inits;
  for (auto& i : m.graph().initializer()) inits.push_back(i.name());
  for (auto& [name, t] : net->named_parameters()) EXPECT_TRUE(contains(inits, name)) << name;

  auto back = io::load_onnx(p);
  std::vector<std::string> ops = back->op_types();
  for (const char* op : {"Conv", "Relu", "MaxPool", "Reshape", "Gemm"}) EXPECT_TRUE(contains(ops, op)) << op;
  expect_close(back->forward(x), want);
  // The imported model is a module with the same state_dict keys and trainable parameters.
  auto mine = net->state_dict(), theirs = back->state_dict();
  ASSERT_EQ(mine.size(), theirs.size());
  for (auto& [name, t] : mine) {
    auto it = std::find_if(theirs.begin(), theirs.end(), [&](auto& kv) { return kv.first == name; });
    ASSERT_NE(it, theirs.end()) << name;
    EXPECT_TRUE(ops::equal(it->second, t)) << name;
  }
  for (auto& [name, t] : back->named_parameters()) EXPECT_TRUE(t.requires_grad()) << name;
}

TEST(Onnx, ImportedModelTrainsAndLoadsCheckpoints) {
  manual_seed(2);
  auto net = zoo::mlp(12, {8}, 3);
  std::string p = path_for("train");
  io::export_onnx(*net, {randn({4, 12})}, p, {.dynamic_batch = true});
  auto back = io::load_onnx(p);
  // A tessera state_dict loads into the imported model by name.
  auto other = zoo::mlp(12, {8}, 3);
  EXPECT_TRUE(back->load_state_dict(other->state_dict()).ok());
  Tensor x = randn({5, 12});
  expect_close(back->forward(x), eval_forward(*other, x));
  // And it learns: one SGD step lowers the loss.
  Tensor y = from_vector(std::vector<int64_t>{0, 1, 2, 1, 0});
  optim::SGD sgd(back->parameters(), {.lr = 0.5});
  double before = nn::functional::cross_entropy(back->forward(x), y).item<float>();
  for (int i = 0; i < 5; ++i) {
    sgd.zero_grad();
    Tensor loss = nn::functional::cross_entropy(back->forward(x), y);
    loss.backward();
    sgd.step();
  }
  EXPECT_LT(nn::functional::cross_entropy(back->forward(x), y).item<float>(), before);
}

TEST(Onnx, Resnet18WithBatchNormAndDynamicBatch) {
  manual_seed(3);
  auto net = zoo::resnet18(10);
  randomize_buffers(*net);
  std::string p = path_for("resnet");
  io::export_onnx(*net, {randn({2, 3, 32, 32})}, p, {.input_names = {"images"}, .output_names = {"logits"},
                                                     .dynamic_batch = true});
  onnx::ModelProto m = read(p);
  EXPECT_EQ(m.graph().input(0).name(), "images");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  auto back = io::load_onnx(p);
  EXPECT_EQ(back->input_names(), std::vector<std::string>{"images"});
  EXPECT_EQ(back->input_shapes()[0], (Shape{-1, 3, 32, 32}));
  std::vector<std::string> ops = back->op_types();
  for (const char* op : {"Conv", "BatchNormalization", "Add", "ReduceMean", "Gemm"}) EXPECT_TRUE(contains(ops, op)) << op;
  Tensor x = randn({5, 3, 32, 32});  // another batch size than the traced one
  expect_close(back->forward(x), eval_forward(*net, x), 1e-4);
}

// One function using most traced ops; exported through the function form and run back.
TEST(Onnx, OpsRoundTrip) {
  manual_seed(4);
  Tensor w = randn({6, 4}), emb = randn({10, 3}), ln_w = rand({4}) + 0.5, ln_b = randn({4}), gn_w = randn({4}),
         gn_b = randn({4}), conv_w = randn({4, 2, 3, 3}), convt_w = randn({2, 3, 2, 2});
  nn::StateDict params{{"w", w}, {"emb", emb}, {"ln.weight", ln_w}, {"ln.bias", ln_b}, {"gn.weight", gn_w},
                       {"gn.bias", gn_b}, {"conv.weight", conv_w}, {"convt.weight", convt_w}};
  auto fn = [&](const std::vector<Tensor>& in) {
    const Tensor &x = in[0], &idx = in[1], &img = in[2];
    Tensor h = ops::matmul(x, w.t());                                     // [5, 6]
    h = ops::gelu(h) + ops::gelu(h, "tanh") * 0.5 - ops::silu(h) / 3.0;  // scalars as constants
    h = ops::softmax(h, 1) + ops::log_softmax(h, 0).exp() + ops::sigmoid(h) * ops::tanh(h);
    h = ops::clamp(h, -0.5, 2.0) + ops::where(h > 0.2, h, ops::square(h));
    Tensor parts = ops::cat({h.narrow(1, 0, 4), h.slice(1, 2, 6)}, 0);  // [10, 4]
    Tensor n = ops::layer_norm(parts, {4}, ln_w, ln_b) + ops::pad(parts, {1, 1}, "reflect").slice(1, 1, 5);
    Tensor e = ops::embedding(idx, emb).sum({1}) + ops::mean(n, {1}, true).select(1, 0).narrow(0, 0, 2).unsqueeze(1);
    Tensor g = ops::group_norm(ops::conv2d(img, conv_w, {}, {.padding = {1, 1}}), 2, gn_w, gn_b);
    Tensor t = ops::conv_transpose2d(ops::avg_pool2d(ops::relu(g), {.kernel_size = {2, 2}}).narrow(1, 0, 2), convt_w,
                                     {}, {.stride = {2, 2}});
    Tensor r = ops::amax(n, {0}) + ops::sqrt(ops::abs(n)).sum() + ops::rsqrt(ops::abs(n) + 1.0).amin({0});
    return std::vector<Tensor>{n, e, t, r.permute({0}), ops::argmax(n, 1), ops::expm1(n).reshape({5, 8}).transpose(0, 1),
                               ops::logical_not(ops::relu(n)), ops::where(ops::logical_not(n > 0.5), n, 1.0)};
  };
  std::vector<Tensor> in = {randn({5, 4}), from_vector(std::vector<int64_t>{1, 4, 9, 0, 2, 2, 7, 3}, Shape{2, 4}),
                            randn({2, 2, 6, 6})};
  std::vector<Tensor> want;
  {
    autograd::NoGradGuard ng;
    want = fn(in);
  }
  std::string p = path_for("ops");
  io::export_onnx(fn, in, params, p);
  auto back = io::load_onnx(p);
  std::vector<Tensor> got = back->run(in);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    expect_close(got[i], want[i], 1e-4);
  }
  std::vector<std::string> ops = back->op_types();
  for (const char* op : {"MatMul", "Erf", "Softmax", "LogSoftmax", "Clip", "Where", "Concat", "Slice",
                         "LayerNormalization", "Pad", "Gather", "ReduceMean", "Conv", "ConvTranspose",
                         "AveragePool", "ReduceMax", "ReduceSum", "ArgMax", "Transpose"})
    EXPECT_TRUE(contains(ops, op)) << op;
}

// Every op name a traced op records has an exporter entry (the families' tables), and the
// exporter has no entry for a name nothing records.
TEST(Onnx, EveryTracedOpHasAnExporterEntry) {
  std::vector<std::string> exported = io::onnx_exported_op_names();
  std::vector<std::string> traced = ops::trace::traced_op_names();
  for (const auto& op : traced) EXPECT_TRUE(contains(exported, op)) << "traced op '" << op << "' has no ONNX export";
  for (const auto& op : exported) EXPECT_TRUE(contains(traced, op)) << "export entry '" << op << "' is traced by no op";
}

// atan2 (ONNX has no such operator) exports as Atan with Where in every quadrant and on the axes.
TEST(Onnx, Atan2ExportsInEveryQuadrant) {
  std::vector<float> ys, xs;
  for (float y : {-2.0f, -0.5f, 0.0f, 0.5f, 2.0f})
    for (float x : {-3.0f, -0.25f, 0.0f, 0.25f, 3.0f}) ys.push_back(y), xs.push_back(x);
  Tensor y = from_vector(ys), x = from_vector(xs);
  std::string p = path_for("atan2");
  auto fn = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{ops::atan2(in[0], in[1])}; };
  io::export_onnx(fn, {y, x}, {}, p);
  auto back = io::load_onnx(p);
  EXPECT_TRUE(contains(back->op_types(), "Atan"));
  expect_close(back->run({y, x})[0], ops::atan2(y, x), 1e-6);
}

TEST(Onnx, ExportErrorsNameTheOp) {
  Tensor x = randn({2, 3});
  std::string p = path_for("errors");
  // An op with no traced form (flip) makes a tensor the exporter has not seen.
  std::string e = error_of([&] {
    io::export_onnx([](const std::vector<Tensor>& in) { return std::vector<Tensor>{ops::relu(ops::flip(in[0], {1}))}; },
                    {x}, {}, p);
  });
  EXPECT_NE(e.find("export_onnx: relu"), std::string::npos) << e;
  EXPECT_NE(e.find("not an input, a parameter or buffer"), std::string::npos) << e;
  // Training-mode batch norm has no ONNX form.
  Tensor rm = zeros({3}), rv = ones({3});
  e = error_of([&] {
    io::export_onnx([&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ops::batch_norm(in[0], rm, rv, {}, {}, true)};
    }, {x}, {{"rm", rm}, {"rv", rv}}, p);
  });
  EXPECT_NE(e.find("batch_norm"), std::string::npos) << e;
  // A value changed in place by an untraced op (fill_) cannot be exported faithfully.
  e = error_of([&] {
    io::export_onnx([](const std::vector<Tensor>& in) {
      Tensor h = ops::relu(in[0]);
      h.fill_(1.0);
      return std::vector<Tensor>{h + 1.0};
    }, {x}, {}, p);
  });
  EXPECT_NE(e.find("modified in place"), std::string::npos) << e;
  // dynamic_batch needs a batch of at least 2.
  e = error_of([&] { io::export_onnx(*zoo::mlp(3, {2}, 2), {randn({1, 3})}, p, {.dynamic_batch = true}); });
  EXPECT_NE(e.find("at least 2"), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(p));  // nothing was written
}

TEST(Onnx, InPlaceOpsInForwardAreTraced) {
  Tensor x = randn({2, 3});
  std::string p = path_for("inplace");
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor h = in[0] * 2.0;
    h.add_(in[0]);
    ops::unary_(UnaryOp::Relu, h);
    return std::vector<Tensor>{h};
  };
  io::export_onnx(fn, {x}, {}, p);
  expect_close(io::load_onnx(p)->run({x})[0], fn({x})[0]);
}

TEST(Onnx, LoadErrorsNameTheFile) {
  auto dir = tessera::testing::fresh_dir("onnx_load_errors");
  std::string missing = (dir / "missing.onnx").string();
  EXPECT_NE(error_of([&] { io::load_onnx(missing); }).find("cannot open " + missing), std::string::npos);
  std::string junk = (dir / "junk.onnx").string();
  std::ofstream(junk, std::ios::binary) << "\xff\xff\xff not a protobuf";
  EXPECT_NE(error_of([&] { io::load_onnx(junk); }).find("is not an ONNX model"), std::string::npos);

  // A truncated file (half of a real export).
  std::string good = (dir / "good.onnx").string();
  io::export_onnx(*zoo::mlp(4, {3}, 2), {randn({2, 4})}, good);
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::string cut = (dir / "cut.onnx").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string e = error_of([&] { io::load_onnx(cut); });
  EXPECT_NE(e.find(cut), std::string::npos) << e;

  // Inputs of the wrong shape or dtype.
  auto m = io::load_onnx(good);
  e = error_of([&] { m->forward(randn({2, 5})); });
  EXPECT_NE(e.find("must have shape [2, 4]"), std::string::npos) << e;
  e = error_of([&] { m->forward(randn({2, 4}, {DType::Float64})); });
  EXPECT_NE(e.find("must be float32"), std::string::npos) << e;

  // An op tessera does not run, in a file ONNX's checker accepts.
  onnx::ModelProto model;
  {
    std::ifstream f(good, std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&f));
  }
  model.mutable_graph()->mutable_node(0)->set_op_type("BitShift");  // (on unsigned types tessera lacks)
  model.mutable_graph()->mutable_node(0)->clear_input();
  model.mutable_graph()->mutable_node(0)->add_input("input");
  model.mutable_graph()->mutable_node(0)->add_input("input");
  model.mutable_graph()->mutable_node(0)->clear_attribute();
  auto* direction = model.mutable_graph()->mutable_node(0)->add_attribute();
  direction->set_name("direction");
  direction->set_type(onnx::AttributeProto::STRING);
  direction->set_s("LEFT");
  std::string odd = (dir / "odd.onnx").string();
  std::ofstream(odd, std::ios::binary) << model.SerializeAsString();
  e = error_of([&] { io::load_onnx(odd); });  // refused at load, naming the node, op and opset
  EXPECT_NE(e.find("(BitShift): op BitShift (opset 17) is not supported"), std::string::npos) << e;
  EXPECT_THROW(io::InferenceSession{odd}, ValueError);
}

// Recurrent layers export as ONNX's LSTM, GRU and RNN operators (one per layer and direction) and
// run back at another batch size.
TEST(Onnx, RecurrentLayersRoundTrip) {
  manual_seed(5);
  nn::RNNConfig o{.num_layers = 2, .bias = true, .batch_first = true, .dropout = 0, .bidirectional = true};
  std::vector<std::pair<std::string, std::shared_ptr<nn::RNNBase>>> layers = {
      {"LSTM", std::make_shared<nn::LSTM>(3, 5, o)},
      {"GRU", std::make_shared<nn::GRU>(3, 5, o)},
      {"RNN", std::make_shared<nn::RNN>(3, 5, nn::RNNConfig{.num_layers = 1}, "relu")}};
  for (auto& [type, layer] : layers) {
    SCOPED_TRACE(type);
    bool batch_first = layer->options.batch_first;
    auto fn = [&, layer = layer](const std::vector<Tensor>& in) {
      auto [out, h, c] = layer->forward_with_state(in[0]);
      std::vector<Tensor> r{out, h};
      if (c.defined()) r.push_back(c);
      return r;
    };
    Tensor x = batch_first ? randn({2, 4, 3}) : randn({4, 2, 3});
    std::string p = path_for("rnn_" + type);
    nn::StateDict params = layer->named_parameters();
    if (batch_first) {
      io::export_onnx(fn, {x}, params, p, {.dynamic_batch = true});
    } else {
      io::export_onnx(fn, {x}, params, p);
    }
    auto back = io::load_onnx(p);
    EXPECT_TRUE(contains(back->op_types(), type));
    Tensor x2 = batch_first ? randn({3, 4, 3}) : x;  // another batch size where the batch is dim 0
    std::vector<Tensor> want;
    {
      autograd::NoGradGuard ng;
      want = fn({x2});
    }
    std::vector<Tensor> got = back->run({x2});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i], 1e-5);
  }
}

TEST(Onnx, EveryReadingProblemIsAnOnnxError) {
  auto dir = tessera::testing::fresh_dir("onnx_errors");
  std::string junk = (dir / "junk.onnx").string(), missing = (dir / "missing.onnx").string();
  std::ofstream(junk) << "not a protobuf at all";
  for (const std::string& p : {junk, missing}) {
    try {
      io::load_onnx(p);
      FAIL() << "expected an error for " << p;
    } catch (const io::OnnxError& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
  static_assert(std::is_base_of_v<ValueError, io::OnnxError>);
  std::filesystem::remove_all(dir);
}

// Every op the importer runs has its attributes checked at load (tessera/io/onnx_attributes.cpp).
TEST(Onnx, EveryOperatorHasAttributeRules) {
  EXPECT_GE(io::internal::operator_names().size(), 150u);
  EXPECT_EQ(io::internal::ops_without_attribute_rules(), std::vector<std::string>{});
}
