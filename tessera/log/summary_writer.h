#pragma once
// TensorBoard event files, written the way TensorBoard reads them: TFRecord framing (length,
// masked CRC-32C of the length, the record, masked CRC-32C of the record) around `Event`
// protocol buffers. The API follows PyTorch's torch.utils.tensorboard.SummaryWriter:
//
//   log::SummaryWriter w("runs/exp1");
//   w.add_scalar("loss/train", 0.25, step);
//   w.add_histogram("fc1.weight", model.named_parameters()[0].second, epoch);
//   w.add_image("sample", image_chw, step);      // float in [0, 1] or uint8
//   w.add_text("notes", "lr 0.01, batch 64", 0);
//   w.add_graph(model, example_batch);
//
// Then `tensorboard --logdir runs`. Events are appended as the run goes (TensorBoard reads the
// file while it grows); every record is written whole, and pending records are flushed after
// max_queue events, after flush_secs, on flush(), close() and destruction.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/core/tensor.h"
#include "tessera/nn/module.h"

namespace tessera::log {

struct SummaryWriterOptions {
  std::string comment{};        // appended to the default log_dir name
  std::string filename_suffix{};  // appended to the event file's name
  int64_t max_queue = 10;       // flush after this many pending events
  double flush_secs = 120;      // ... or when this many seconds passed since the last flush
  // A restarted run: TensorBoard drops the events of earlier files in this folder at steps
  // >= purge_step (SessionLog START events, as PyTorch writes them).
  std::optional<int64_t> purge_step{};
};

// Histogram bucketing: kTensorflowBins (PyTorch's default 'tensorflow': exponentially spaced
// edges, a factor 1.1 apart from 1e-12 to 1e20 on both sides of 0, empty ends dropped), or a
// positive count of equal-width buckets between the minimum and the maximum.
inline constexpr int64_t kTensorflowBins = 0;

class SummaryWriter {
 public:
  // log_dir "" makes runs/<Mon>DD_HH-MM-SS_<host><comment>, as PyTorch does. The folder is
  // created; the event file is events.out.tfevents.<time>.<host>.<pid>.<n><suffix>.
  explicit SummaryWriter(const std::string& log_dir = "", SummaryWriterOptions o = {});
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  // walltime: seconds since the Unix epoch; now when not given.
  void add_scalar(const std::string& tag, double value, int64_t step = 0, std::optional<double> walltime = {});
  // One chart with several lines: each value goes to its own run log_dir/<main_tag>_<key>
  // under the tag main_tag, as PyTorch's add_scalars does.
  void add_scalars(const std::string& main_tag, const std::map<std::string, double>& values, int64_t step = 0,
                   std::optional<double> walltime = {});
  // values: any shape of a real dtype; every value must be finite.
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step = 0, int64_t bins = kTensorflowBins,
                     std::optional<double> walltime = {});
  // img: 2-D (HW) or 3-D (CHW, HWC) with 1, 3 or 4 channels; floats in [0, 1] (clamped) or uint8.
  void add_image(const std::string& tag, const Tensor& img, int64_t step = 0, const std::string& dataformats = "CHW",
                 std::optional<double> walltime = {});
  // A batch (NCHW or NHWC) tiled into one image, eight to a row.
  void add_images(const std::string& tag, const Tensor& imgs, int64_t step = 0,
                  const std::string& dataformats = "NCHW", std::optional<double> walltime = {});
  void add_text(const std::string& tag, const std::string& text, int64_t step = 0,
                std::optional<double> walltime = {});
  // The model's graph for TensorBoard's Graphs tab: runs model on input (in eval mode, then
  // restores the mode) and writes the ops autograd recorded, with the parameters under their
  // module's scope and the tensor shapes on the edges.
  void add_graph(nn::Module& model, const Tensor& input);
  // The same from outputs computed with autograd on: the ops they were made by, back to the
  // named parameters and inputs (inputs appear when they are leaves that require grad).
  void add_graph(const std::vector<Tensor>& outputs, const std::vector<std::pair<std::string, Tensor>>& parameters,
                 const std::vector<std::pair<std::string, Tensor>>& inputs);

  void flush();
  void close();  // flushes and closes; adding afterwards is an error
  const std::string& log_dir() const { return log_dir_; }
  const std::string& file_path() const { return path_; }

 private:
  // An Event with payload in field (5: a Summary, 4: a GraphDef); flushes per max_queue/flush_secs.
  void write_event(int64_t step, std::optional<double> walltime, const std::string& payload, int field = 5);
  void write_record(const std::string& event);
  void flush_locked();  // with mu_ held and the file open

  std::string log_dir_, path_;
  SummaryWriterOptions o_;
  std::FILE* f_ = nullptr;
  std::mutex mu_;
  int64_t pending_ = 0;
  double last_flush_ = 0;
  std::map<std::string, std::unique_ptr<SummaryWriter>> children_;  // add_scalars' runs
};

namespace detail {
// CRC-32C (Castagnoli), as TFRecord uses it, and its masked form.
uint32_t crc32c(std::string_view bytes);
uint32_t masked_crc32c(std::string_view bytes);
// An 8-bit PNG (colour type gray, RGB or RGBA by channels = 1, 3 or 4) of HWC pixels.
std::string encode_png(const uint8_t* hwc, int64_t height, int64_t width, int64_t channels);
}  // namespace detail

}  // namespace tessera::log
