#pragma once
// The layers' options, two ways: aggregates for designated initializers (tessera's spelling,
// nn::Conv2d(3, 8, 3, {.stride = 2, .padding = 1})) and LibTorch's builders
// (nn::Conv2d(nn::Conv2dOptions(3, 8, 3).stride(2).padding(1))), which every layer also takes.
// Each builder's setters return the builder (so calls chain); each getter (no argument) reads.
#include <cstdint>
#include <optional>
#include <string>

#include "tessera/core/arg.h"
#include "tessera/core/shape.h"

namespace tessera::nn {

// A size given as one number or a pair: 3 or {3, 5}.
struct Pair {
  int64_t h, w;
  Pair(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose, like PyTorch's int-or-tuple
  Pair(int64_t a, int64_t b) : h(a), w(b) {}
};

struct ConvConfig {
  Pair stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  Pair output_padding = 0;  // ConvTranspose2d only
};

struct PoolConfig {
  std::optional<Pair> stride{};  // defaults to the kernel size
  Pair padding = 0, dilation = 1;
  bool ceil_mode = false, count_include_pad = true;
};

struct BatchNormConfig {
  double eps = 1e-5, momentum = 0.1;
  bool affine = true, track_running_stats = true;
};

struct RNNConfig {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;   // input and output [N, L, features] instead of [L, N, features]
  double dropout = 0;         // on the outputs of every layer but the last, when training
  bool bidirectional = false;
};


// --- LibTorch's builders ---------------------------------------------------------------------
namespace builder_args {
struct LinearArgs {
  int64_t in_features, out_features;
  bool bias = true;
};
struct ConvArgs : ConvConfig {
  int64_t in_channels, out_channels;
  Pair kernel_size = 1;
};
struct PoolArgs : PoolConfig {
  Pair kernel_size = 1;
};
struct BatchNormArgs : BatchNormConfig {
  int64_t num_features;
};
struct DropoutArgs {
  double p = 0.5;
  bool inplace = false;
};
struct EmbeddingArgs {
  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx{};
};
struct LayerNormArgs {
  Shape normalized_shape;
  double eps = 1e-5;
  bool elementwise_affine = true;
};
struct ActivationArgs {
  double negative_slope = 0.01;
  bool inplace = false;
};
struct MultiheadAttentionArgs {
  int64_t embed_dim, num_heads;
  double dropout = 0;
  bool bias = true, batch_first = false;
};
struct RNNArgs : RNNConfig {
  int64_t input_size, hidden_size;
  std::string nonlinearity = "tanh";
};
}  // namespace builder_args

#define TESSERA_NN_BUILDER(Builder, Args) \
 public:                                  \
  const Args& args() const { return c_; } \
                                          \
 private:                                 \
  Args c_;                                \
                                          \
 public:

class LinearOptions {
 public:
  LinearOptions(int64_t in_features, int64_t out_features) { c_.in_features = in_features, c_.out_features = out_features; }
  TESSERA_NN_BUILDER(LinearOptions, builder_args::LinearArgs)
  TESSERA_ARG(int64_t, in_features)
  TESSERA_ARG(int64_t, out_features)
  TESSERA_ARG(bool, bias)
};

// Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions: (in_channels, out_channels, kernel_size).
class ConvOptionsBuilder {
 public:
  ConvOptionsBuilder(int64_t in_channels, int64_t out_channels, Pair kernel_size) {
    c_.in_channels = in_channels, c_.out_channels = out_channels, c_.kernel_size = kernel_size;
  }
  TESSERA_NN_BUILDER(ConvOptionsBuilder, builder_args::ConvArgs)
  TESSERA_ARG(int64_t, in_channels)
  TESSERA_ARG(int64_t, out_channels)
  TESSERA_ARG(Pair, kernel_size)
  TESSERA_ARG(Pair, stride)
  TESSERA_ARG(Pair, padding)
  TESSERA_ARG(Pair, dilation)
  TESSERA_ARG(Pair, output_padding)
  TESSERA_ARG(int64_t, groups)
  TESSERA_ARG(bool, bias)
};
using Conv1dOptions = ConvOptionsBuilder;
using Conv2dOptions = ConvOptionsBuilder;
using ConvTranspose2dOptions = ConvOptionsBuilder;

// MaxPool2dOptions(kernel_size), AvgPool2dOptions(kernel_size): stride defaults to the kernel size.
class PoolOptionsBuilder {
 public:
  PoolOptionsBuilder(Pair kernel_size) { c_.kernel_size = kernel_size; }  // NOLINT: LibTorch's is implicit too
  TESSERA_NN_BUILDER(PoolOptionsBuilder, builder_args::PoolArgs)
  TESSERA_ARG(Pair, kernel_size)
  TESSERA_ARG(std::optional<Pair>, stride)
  TESSERA_ARG(Pair, padding)
  TESSERA_ARG(Pair, dilation)
  TESSERA_ARG(bool, ceil_mode)
  TESSERA_ARG(bool, count_include_pad)
};
using MaxPool2dOptions = PoolOptionsBuilder;
using AvgPool2dOptions = PoolOptionsBuilder;

class BatchNormOptions {
 public:
  BatchNormOptions(int64_t num_features) { c_.num_features = num_features; }  // NOLINT
  TESSERA_NN_BUILDER(BatchNormOptions, builder_args::BatchNormArgs)
  TESSERA_ARG(int64_t, num_features)
  TESSERA_ARG(double, eps)
  TESSERA_ARG(double, momentum)
  TESSERA_ARG(bool, affine)
  TESSERA_ARG(bool, track_running_stats)
};
using BatchNorm1dOptions = BatchNormOptions;
using BatchNorm2dOptions = BatchNormOptions;

class DropoutOptions {
 public:
  DropoutOptions(double p = 0.5) { c_.p = p; }  // NOLINT
  TESSERA_NN_BUILDER(DropoutOptions, builder_args::DropoutArgs)
  TESSERA_ARG(double, p)
  TESSERA_ARG(bool, inplace)
};
using Dropout1dOptions = DropoutOptions;
using Dropout2dOptions = DropoutOptions;
using Dropout3dOptions = DropoutOptions;

class EmbeddingOptions {
 public:
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim) {
    c_.num_embeddings = num_embeddings, c_.embedding_dim = embedding_dim;
  }
  TESSERA_NN_BUILDER(EmbeddingOptions, builder_args::EmbeddingArgs)
  TESSERA_ARG(int64_t, num_embeddings)
  TESSERA_ARG(int64_t, embedding_dim)
  TESSERA_ARG(std::optional<int64_t>, padding_idx)
};

class LayerNormOptions {
 public:
  explicit LayerNormOptions(Shape normalized_shape) { c_.normalized_shape = std::move(normalized_shape); }
  TESSERA_NN_BUILDER(LayerNormOptions, builder_args::LayerNormArgs)
  TESSERA_ARG(Shape, normalized_shape)
  TESSERA_ARG(double, eps)
  TESSERA_ARG(bool, elementwise_affine)
};

class LeakyReLUOptions {
 public:
  TESSERA_NN_BUILDER(LeakyReLUOptions, builder_args::ActivationArgs)
  TESSERA_ARG(double, negative_slope)
  TESSERA_ARG(bool, inplace)
};
class ReLUOptions {
 public:
  ReLUOptions(bool inplace = false) { c_.inplace = inplace; }  // NOLINT
  TESSERA_NN_BUILDER(ReLUOptions, builder_args::ActivationArgs)
  TESSERA_ARG(bool, inplace)
};

// MultiheadAttentionOptions(embed_dim, num_heads) (LibTorch's kdim, vdim, add_bias_kv and
// add_zero_attn are not supported: keys and values have embed_dim features).
class MultiheadAttentionOptions {
 public:
  MultiheadAttentionOptions(int64_t embed_dim, int64_t num_heads) { c_.embed_dim = embed_dim, c_.num_heads = num_heads; }
  TESSERA_NN_BUILDER(MultiheadAttentionOptions, builder_args::MultiheadAttentionArgs)
  TESSERA_ARG(int64_t, embed_dim)
  TESSERA_ARG(int64_t, num_heads)
  TESSERA_ARG(double, dropout)
  TESSERA_ARG(bool, bias)
  TESSERA_ARG(bool, batch_first)
};

// RNNOptions, LSTMOptions, GRUOptions: (input_size, hidden_size); nonlinearity is RNN's.
class RNNOptions {
 public:
  RNNOptions(int64_t input_size, int64_t hidden_size) { c_.input_size = input_size, c_.hidden_size = hidden_size; }
  TESSERA_NN_BUILDER(RNNOptions, builder_args::RNNArgs)
  TESSERA_ARG(int64_t, input_size)
  TESSERA_ARG(int64_t, hidden_size)
  TESSERA_ARG(int64_t, num_layers)
  TESSERA_ARG(bool, bias)
  TESSERA_ARG(bool, batch_first)
  TESSERA_ARG(double, dropout)
  TESSERA_ARG(bool, bidirectional)
  TESSERA_ARG(std::string, nonlinearity)
};
using LSTMOptions = RNNOptions;
using GRUOptions = RNNOptions;
#undef TESSERA_NN_BUILDER

}  // namespace tessera::nn
