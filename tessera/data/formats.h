#pragma once
// Dataset file formats. Every reader validates what it reads before trusting it: a missing,
// truncated or inconsistent file raises IOError naming the file and what is wrong.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/data/dataset.h"

namespace tessera::data {

// An IDX file (MNIST's format), plain or gzip-compressed, as a tensor of its own type
// (uint8, int8, int32, float32, float64; int16 widens to int32).
Tensor read_idx(const std::string& path);

// MNIST or Fashion-MNIST from a directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte
// (optionally .gz): images float32 [N, 1, 28, 28] scaled to [0, 1], labels int64 [N].
std::shared_ptr<TensorDataset> load_mnist(const std::string& dir, bool train);

// CIFAR-10 (1 label byte per record) or CIFAR-100 (coarse and fine label bytes) binary batches:
// images uint8 [N, 3, 32, 32], labels int64 [N] (CIFAR-100: fine labels unless coarse).
std::shared_ptr<TensorDataset> read_cifar(const std::vector<std::string>& files, bool cifar100 = false,
                                          bool coarse = false);

struct CsvOptions {
  bool header = true;
  char delimiter = ',';
  std::optional<std::string> label_column{};  // by header name
  std::optional<int64_t> label_index{};       // or by position (negative counts from the end)
  bool integer_labels = true;                 // int64 class labels, else float32 targets
};
// Numeric CSV: every column but the label becomes a float32 feature.
std::shared_ptr<TensorDataset> read_csv(const std::string& path, const CsvOptions& o = {});

}  // namespace tessera::data
