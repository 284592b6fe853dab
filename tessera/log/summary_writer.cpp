#include "tessera/log/summary_writer.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <vector>

#include "tessera/autograd/accumulate.h"
#include "tessera/autograd/autograd.h"

namespace tessera::log {

namespace detail {
namespace {
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
    t[i] = c;
  }
  return t;
}
constexpr auto kCrc32cTable = make_crc32c_table();

void put_be32(std::string& s, uint32_t v) {
  for (int sh = 24; sh >= 0; sh -= 8) s.push_back(char((v >> sh) & 0xff));
}
}  // namespace

uint32_t crc32c(std::string_view bytes) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) c = kCrc32cTable[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t masked_crc32c(std::string_view bytes) {
  uint32_t c = crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string encode_png(const uint8_t* hwc, int64_t height, int64_t width, int64_t channels) {
  TS_CHECK_VALUE(height > 0 && width > 0 && height < (1 << 30) && width < (1 << 30),
                 "encode_png: bad image size ", height, "x", width);
  uint8_t color_type = channels == 1 ? 0 : channels == 3 ? 2 : channels == 4 ? 6 : 255;
  TS_CHECK_VALUE(color_type != 255, "encode_png: images have 1, 3 or 4 channels, not ", channels);
  // Scanlines, each led by filter type 0 (none), deflated into one zlib stream.
  size_t row = size_t(width * channels);
  std::string raw(size_t(height) * (row + 1), '\0');
  for (int64_t y = 0; y < height; ++y) std::memcpy(&raw[size_t(y) * (row + 1) + 1], hwc + size_t(y) * row, row);
  uLongf zlen = compressBound(uLong(raw.size()));
  std::string z(zlen, '\0');
  int rc = compress2(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(raw.data()),
                     uLong(raw.size()), 6);
  TS_CHECK(rc == Z_OK, "encode_png: zlib compress2 failed (", rc, ")");
  z.resize(zlen);

  std::string png("\x89PNG\r\n\x1a\n", 8);
  auto chunk = [&png](const char* type, const std::string& data) {
    put_be32(png, uint32_t(data.size()));
    size_t start = png.size();
    png.append(type, 4);
    png += data;
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + start), uInt(png.size() - start));
    put_be32(png, uint32_t(crc));
  };
  std::string ihdr;
  put_be32(ihdr, uint32_t(width));
  put_be32(ihdr, uint32_t(height));
  ihdr += std::string{char(8), char(color_type), char(0), char(0), char(0)};  // depth, type, deflate, filter, no interlace
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", "");
  return png;
}
}  // namespace detail

namespace {
// The protocol-buffer wire format, enough to write the Event messages TensorBoard reads
// (field numbers from tensorboard/compat/proto: event.proto, summary.proto, tensor.proto).
class Proto {
 public:
  Proto& varint(int field, uint64_t v) {
    key(field, 0);
    raw_varint(v);
    return *this;
  }
  Proto& f64(int field, double v) {
    key(field, 1);
    raw(&v, 8);
    return *this;
  }
  Proto& f32(int field, float v) {
    key(field, 5);
    raw(&v, 4);
    return *this;
  }
  Proto& bytes(int field, std::string_view b) {
    key(field, 2);
    raw_varint(b.size());
    s_.append(b);
    return *this;
  }
  Proto& message(int field, const Proto& m) { return bytes(field, m.s_); }
  Proto& packed_f64(int field, const std::vector<double>& v) {
    key(field, 2);
    raw_varint(v.size() * 8);
    for (double d : v) raw(&d, 8);
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  void key(int field, int wire) { raw_varint(uint64_t(field) << 3 | uint64_t(wire)); }
  void raw_varint(uint64_t v) {
    while (v >= 0x80) {
      s_.push_back(char(v | 0x80));
      v >>= 7;
    }
    s_.push_back(char(v));
  }
  void raw(const void* p, size_t n) {  // fixed-width fields are little-endian, as the host is
    static_assert(std::endian::native == std::endian::little);
    s_.append(static_cast<const char*>(p), n);
  }
  std::string s_;
};

// Summary field numbers.
enum : int { kSummaryValue = 1 };
enum : int { kValueTag = 1, kValueSimple = 2, kValueImage = 4, kValueHisto = 5, kValueTensor = 8, kValueMetadata = 9 };

std::string summary_of(const Proto& value) { return Proto().message(kSummaryValue, value).str(); }

double now_secs() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::atomic<int64_t> g_file_counter{0};

const std::vector<double>& tensorflow_edges() {
  static const std::vector<double> edges = [] {
    std::vector<double> pos;
    for (double v = 1e-12; v < 1e20; v *= 1.1) pos.push_back(v);
    std::vector<double> e;
    for (auto it = pos.rbegin(); it != pos.rend(); ++it) e.push_back(-*it);
    e.push_back(0);
    e.insert(e.end(), pos.begin(), pos.end());
    return e;
  }();
  return edges;
}

// HWC uint8 pixels of an image tensor laid out as dataformats ("CHW", "HWC" or "HW").
std::vector<uint8_t> hwc_pixels(const std::string& what, const Tensor& img, const std::string& fmt, int64_t& h,
                                int64_t& w, int64_t& c) {
  TS_CHECK_VALUE(fmt == "CHW" || fmt == "HWC" || fmt == "HW", what, ": dataformats must be CHW, HWC or HW, not '",
                 fmt, "'");
  TS_CHECK_SHAPE(img.dim() == int64_t(fmt.size()), what, ": dataformats ", fmt, " needs a ", fmt.size(),
                 "-D tensor, got shape ", img.sizes());
  TS_CHECK_DTYPE(img.dtype() != DType::Bool && img.dtype() != DType::Int8 && img.dtype() != DType::Int32 &&
                     img.dtype() != DType::Int64,
                 what, ": images are floating point in [0, 1] or uint8, not ", img.dtype());
  autograd::NoGradGuard ng;
  Tensor t = img.detach().cpu();
  if (fmt == "HW") t = t.unsqueeze(2);
  if (fmt == "CHW") t = t.permute({1, 2, 0});
  h = t.size(0), w = t.size(1), c = t.size(2);
  TS_CHECK_SHAPE(c == 1 || c == 3 || c == 4, what, ": images have 1, 3 or 4 channels; shape ", img.sizes(), " as ",
                 fmt, " has ", c);
  TS_CHECK_SHAPE(h > 0 && w > 0, what, ": empty image of shape ", img.sizes());
  if (t.dtype() == DType::UInt8) return t.tolist<uint8_t>();
  std::vector<double> v = t.to_vector();
  std::vector<uint8_t> px(v.size());
  for (size_t i = 0; i < px.size(); ++i) {
    double x = std::isnan(v[i]) ? 0.0 : std::clamp(v[i], 0.0, 1.0);
    px[i] = uint8_t(std::lround(x * 255.0));
  }
  return px;
}

Proto image_value(const std::string& tag, const std::vector<uint8_t>& px, int64_t h, int64_t w, int64_t c) {
  Proto image;
  image.varint(1, uint64_t(h)).varint(2, uint64_t(w)).varint(3, uint64_t(c));
  image.bytes(4, detail::encode_png(px.data(), h, w, c));
  Proto value;
  value.bytes(kValueTag, tag).message(kValueImage, image);
  return value;
}
}  // namespace

SummaryWriter::SummaryWriter(const std::string& log_dir, SummaryWriterOptions o) : log_dir_(log_dir), o_(std::move(o)) {
  TS_CHECK_VALUE(o_.max_queue >= 1 && o_.flush_secs >= 0, "SummaryWriter: max_queue must be positive and flush_secs "
                 "non-negative (got ", o_.max_queue, ", ", o_.flush_secs, ")");
  if (log_dir_.empty()) {
    std::time_t t = std::time(nullptr);
    char stamp[64];
    std::strftime(stamp, sizeof stamp, "%b%d_%H-%M-%S", std::localtime(&t));
    log_dir_ = std::string("runs/") + stamp + "_" + hostname() + o_.comment;
  }
  std::error_code ec;
  std::filesystem::create_directories(log_dir_, ec);
  TS_CHECK_T(IOError, !ec && std::filesystem::is_directory(log_dir_), "SummaryWriter: cannot create the log folder '",
             log_dir_, "' (", ec ? ec.message() : "not a folder", ")");
  double t = now_secs();
  path_ = (std::filesystem::path(log_dir_) /
           tessera::detail::str("events.out.tfevents.", int64_t(t), ".", hostname(), ".", ::getpid(), ".", g_file_counter++,
                       o_.filename_suffix))
              .string();
  f_ = std::fopen(path_.c_str(), "wb");
  TS_CHECK_T(IOError, f_ != nullptr, "SummaryWriter: cannot create '", path_, "' (", std::strerror(errno), ")");
  last_flush_ = t;
  write_record(Proto().f64(1, t).bytes(3, "brain.Event:2").str());
  if (o_.purge_step) {
    // SessionLog START at purge_step. TensorBoard's server takes the first START it meets in a
    // run for the session's beginning and purges on the later ones (the older loader purges on
    // each), so the restart is marked twice: the run's beginning, then the restart.
    Proto session_log;
    session_log.varint(1, 1 /* START */);
    std::string start = Proto().f64(1, t).varint(2, uint64_t(*o_.purge_step)).message(7, session_log).str();
    write_record(start);
    write_record(start);
  }
  flush();
}

SummaryWriter::~SummaryWriter() {
  try {
    close();
  } catch (...) {  // a destructor must not throw; close() reported nothing we could act on here
  }
}

void SummaryWriter::write_record(const std::string& event) {
  TS_CHECK(f_ != nullptr, "SummaryWriter: '", path_, "' is closed");
  std::string rec;
  uint64_t n = event.size();
  rec.append(reinterpret_cast<const char*>(&n), 8);
  uint32_t lc = detail::masked_crc32c(rec), dc = detail::masked_crc32c(event);
  rec.append(reinterpret_cast<const char*>(&lc), 4);
  rec += event;
  rec.append(reinterpret_cast<const char*>(&dc), 4);
  TS_CHECK_T(IOError, std::fwrite(rec.data(), 1, rec.size(), f_) == rec.size(), "SummaryWriter: writing '", path_,
             "' failed (", std::strerror(errno), ")");
}

void SummaryWriter::write_event(int64_t step, std::optional<double> walltime, const std::string& payload, int field) {
  std::lock_guard<std::mutex> lock(mu_);
  Proto ev;
  ev.f64(1, walltime ? *walltime : now_secs()).varint(2, uint64_t(step)).bytes(field, payload);
  write_record(ev.str());
  if (++pending_ >= o_.max_queue || now_secs() - last_flush_ >= o_.flush_secs) flush_locked();
}

void SummaryWriter::flush_locked() {
  TS_CHECK_T(IOError, std::fflush(f_) == 0, "SummaryWriter: writing '", path_, "' failed (", std::strerror(errno), ")");
  pending_ = 0;
  last_flush_ = now_secs();
}

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step, std::optional<double> walltime) {
  Proto v;
  v.bytes(kValueTag, tag).f32(kValueSimple, float(value));
  write_event(step, walltime, summary_of(v));
}

void SummaryWriter::add_scalars(const std::string& main_tag, const std::map<std::string, double>& values, int64_t step,
                                std::optional<double> walltime) {
  double t = walltime ? *walltime : now_secs();
  for (auto& [key, value] : values) {
    std::string run = main_tag + "_" + key;
    std::replace(run.begin(), run.end(), '/', '_');
    SummaryWriter* child;
    {
      std::lock_guard<std::mutex> lock(mu_);
      TS_CHECK(f_ != nullptr, "SummaryWriter: '", path_, "' is closed");
      auto& slot = children_[run];
      if (!slot) {
        SummaryWriterOptions child_options = o_;
        child_options.purge_step.reset();
        slot = std::make_unique<SummaryWriter>((std::filesystem::path(log_dir_) / run).string(), child_options);
      }
      child = slot.get();
    }
    child->add_scalar(main_tag, value, step, t);
  }
}

void SummaryWriter::add_histogram(const std::string& tag, const Tensor& values, int64_t step, int64_t bins,
                                  std::optional<double> walltime) {
  TS_CHECK_DTYPE(values.dtype() != DType::Bool, "add_histogram '", tag, "': values must be numbers, not ",
                 values.dtype());
  TS_CHECK_VALUE(bins >= 0, "add_histogram '", tag, "': bins must be positive (or kTensorflowBins), got ", bins);
  std::vector<double> v = values.detach().to_vector();
  TS_CHECK_VALUE(!v.empty(), "add_histogram '", tag, "': the values are empty (shape ", values.sizes(), ")");
  double lo = v[0], hi = v[0], sum = 0, sum_sq = 0;
  int64_t bad = 0;
  for (double x : v) {
    if (!std::isfinite(x)) {
      ++bad;
      continue;
    }
    lo = std::min(lo, x), hi = std::max(hi, x), sum += x, sum_sq += x * x;
  }
  TS_CHECK_VALUE(bad == 0, "add_histogram '", tag, "': ", bad, " of ", v.size(),
                 " values are NaN or infinite; a histogram needs finite values");
  std::vector<double> limits, counts;
  if (bins == kTensorflowBins) {
    const std::vector<double>& e = tensorflow_edges();
    std::vector<double> c(e.size() - 1, 0.0);
    for (double x : v) {
      auto i = std::upper_bound(e.begin(), e.end(), x) - e.begin() - 1;
      c[size_t(std::clamp<ptrdiff_t>(i, 0, ptrdiff_t(c.size()) - 1))] += 1;
    }
    size_t first = 0, last = c.size() - 1;
    while (c[first] == 0) ++first;
    while (c[last] == 0) --last;
    for (size_t i = first; i <= last; ++i) {
      limits.push_back(e[i + 1]);
      counts.push_back(c[i]);
    }
  } else {
    double a = lo, b = hi;
    if (a == b) a -= 0.5, b += 0.5;  // numpy's choice for a single value
    counts.assign(size_t(bins), 0.0);
    for (double x : v) {
      auto i = int64_t(std::floor((x - a) / (b - a) * double(bins)));
      counts[size_t(std::clamp<int64_t>(i, 0, bins - 1))] += 1;
    }
    for (int64_t i = 1; i <= bins; ++i) limits.push_back(a + (b - a) * double(i) / double(bins));
  }
  Proto h;
  h.f64(1, lo).f64(2, hi).f64(3, double(v.size())).f64(4, sum).f64(5, sum_sq);
  h.packed_f64(6, limits).packed_f64(7, counts);
  Proto value;
  value.bytes(kValueTag, tag).message(kValueHisto, h);
  write_event(step, walltime, summary_of(value));
}

void SummaryWriter::add_image(const std::string& tag, const Tensor& img, int64_t step, const std::string& dataformats,
                              std::optional<double> walltime) {
  int64_t h, w, c;
  std::vector<uint8_t> px = hwc_pixels("add_image '" + tag + "'", img, dataformats, h, w, c);
  write_event(step, walltime, summary_of(image_value(tag, px, h, w, c)));
}

void SummaryWriter::add_images(const std::string& tag, const Tensor& imgs, int64_t step,
                               const std::string& dataformats, std::optional<double> walltime) {
  std::string what = "add_images '" + tag + "'";
  TS_CHECK_VALUE(dataformats == "NCHW" || dataformats == "NHWC", what, ": dataformats must be NCHW or NHWC, not '",
                 dataformats, "'");
  TS_CHECK_SHAPE(imgs.dim() == 4 && imgs.size(0) > 0, what, ": needs a non-empty 4-D batch, got shape ", imgs.sizes());
  int64_t n = imgs.size(0), cols = std::min<int64_t>(n, 8), rows = (n + cols - 1) / cols;
  int64_t h = 0, w = 0, c = 0;
  std::vector<uint8_t> canvas;
  for (int64_t i = 0; i < n; ++i) {
    int64_t hi, wi, ci;
    std::vector<uint8_t> px = hwc_pixels(what, imgs.select(0, i), dataformats.substr(1), hi, wi, ci);
    if (i == 0) {
      h = hi, w = wi, c = ci;
      canvas.assign(size_t(rows * h * cols * w * c), 0);
    }
    int64_t r = i / cols, col = i % cols;
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(&canvas[size_t(((r * h + y) * cols * w + col * w) * c)], &px[size_t(y * w * c)], size_t(w * c));
  }
  write_event(step, walltime, summary_of(image_value(tag, canvas, rows * h, cols * w, c)));
}

void SummaryWriter::add_text(const std::string& tag, const std::string& text, int64_t step,
                             std::optional<double> walltime) {
  // The text plugin's form: a string tensor of shape [1] with plugin_data {plugin_name: "text"}.
  Proto plugin;
  plugin.bytes(1, "text");
  Proto meta;
  meta.message(1, plugin);
  Proto dim;
  dim.varint(1, 1);
  Proto shape;
  shape.message(2, dim);
  Proto tensor;
  tensor.varint(1, 7 /* DT_STRING */).message(2, shape).bytes(8, text);
  Proto value;
  value.bytes(kValueTag, tag).message(kValueMetadata, meta).message(kValueTensor, tensor);
  write_event(step, walltime, summary_of(value));
}

namespace {
Proto shape_proto(const Shape& shape) {
  Proto p;
  for (int64_t d : shape) p.message(2, Proto().varint(1, uint64_t(d)));
  return p;
}

// GraphDef (graph.proto) of the autograd graph behind output: one NodeDef per recorded op,
// parameter and input, named by module scope so TensorBoard groups them.
std::string graph_def(const std::vector<Tensor>& outputs, const std::vector<std::pair<std::string, Tensor>>& parameters,
                      const std::vector<std::pair<std::string, Tensor>>& inputs) {
  using autograd::Node;
  TS_CHECK_VALUE(!outputs.empty(), "add_graph: no outputs given");
  std::vector<autograd::Edge> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    roots.push_back(autograd::gradient_edge(outputs[i]));
    TS_CHECK_VALUE(roots.back().fn != nullptr, "add_graph: output ", i, " (shape ", outputs[i].sizes(),
                   ") was not computed from anything that requires grad (run the model with autograd on, on "
                   "inputs or parameters that require grad)");
  }
  std::unordered_map<const TensorImpl*, std::string> param_names, input_names;
  for (auto& [nm, t] : parameters) {
    std::string scoped = nm;
    std::replace(scoped.begin(), scoped.end(), '.', '/');
    param_names.emplace(&t.impl(), scoped);
  }
  for (auto& [nm, t] : inputs) input_names.emplace(&t.impl(), nm);

  // The nodes, inputs before their consumers (an iterative depth-first post-order).
  std::vector<Node*> order;
  std::set<Node*> seen;
  for (const autograd::Edge& root : roots) {
    if (!seen.insert(root.fn.get()).second) continue;
    std::vector<std::pair<Node*, size_t>> stack{{root.fn.get(), 0}};
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->next.size()) {
        Node* c = n->next[i++].fn.get();
        if (c && seen.insert(c).second) stack.emplace_back(c, 0);
        continue;
      }
      order.push_back(n);
      stack.pop_back();
    }
  }

  // Names: leaves by parameter or input name; an op takes the scope of the parameters it reads
  // (directly, or through ops that read only parameters, as Linear's transposed weight).
  struct Info {
    std::string name, op, scope;
    bool param_only = false;
    std::map<uint32_t, Shape> out_shapes;  // output index -> shape, as the consumers saw it
  };
  std::unordered_map<Node*, Info> info;
  std::map<std::string, int> counts;
  int leaves = 0;
  for (Node* n : order) {
    Info& in = info[n];
    if (auto* acc = dynamic_cast<autograd::AccumulateGrad*>(n)) {
      const TensorImpl* leaf = &acc->leaf().impl();
      if (auto it = input_names.find(leaf); it != input_names.end()) {
        in.name = it->second, in.op = "Input";
      } else if (auto p = param_names.find(leaf); p != param_names.end()) {
        in.name = p->second, in.op = "Parameter", in.param_only = true;
        auto slash = in.name.rfind('/');
        if (slash != std::string::npos) in.scope = in.name.substr(0, slash);
      } else {
        in.name = "leaf_" + std::to_string(leaves++), in.op = "Leaf";
      }
      in.out_shapes[0] = acc->leaf().sizes();
      continue;
    }
    std::set<std::string> scopes;
    in.param_only = !n->next.empty();
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* c = n->next[i].fn.get();
      if (!c) continue;
      Info& ci = info[c];
      if (ci.param_only && !ci.scope.empty()) scopes.insert(ci.scope);
      in.param_only = in.param_only && ci.param_only;
      if (i < n->input_meta.size()) ci.out_shapes[n->next[i].input_nr] = n->input_meta[i].shape;
    }
    in.op = n->name();
    in.scope = scopes.size() == 1 ? *scopes.begin() : "";
    std::string base = (in.scope.empty() ? "" : in.scope + "/") + in.op;
    int k = counts[base]++;
    in.name = k ? base + "_" + std::to_string(k) : base;
  }
  for (size_t i = 0; i < roots.size(); ++i) info[roots[i].fn.get()].out_shapes[roots[i].input_nr] = outputs[i].sizes();

  auto input_ref = [&](const autograd::Edge& e) {
    const std::string& nm = info[e.fn.get()].name;
    return e.input_nr ? nm + ":" + std::to_string(e.input_nr) : nm;
  };
  Proto graph;
  for (Node* n : order) {
    const Info& in = info[n];
    Proto node;
    node.bytes(1, in.name).bytes(2, in.op);
    for (auto& e : n->next)
      if (e.fn) node.bytes(3, input_ref(e));
    // attr {"_output_shapes": list {shape ...}}: TensorBoard labels the edges with them.
    Proto shapes;
    uint32_t nout = in.out_shapes.empty() ? 0 : in.out_shapes.rbegin()->first + 1;
    for (uint32_t k = 0; k < nout; ++k) {
      auto it = in.out_shapes.find(k);
      shapes.message(7, it != in.out_shapes.end() ? shape_proto(it->second) : Proto().varint(3, 1));
    }
    node.message(5, Proto().bytes(1, "_output_shapes").message(2, Proto().message(1, shapes)));
    graph.message(1, node);
  }
  for (size_t i = 0; i < roots.size(); ++i) {
    Proto out;
    out.bytes(1, roots.size() == 1 ? std::string("output") : "output_" + std::to_string(i));
    out.bytes(2, "Output").bytes(3, input_ref(roots[i]));
    graph.message(1, out);
  }
  graph.message(4, Proto().varint(1, 22));  // versions { producer }
  return graph.str();
}
}  // namespace

void SummaryWriter::add_graph(const std::vector<Tensor>& outputs,
                              const std::vector<std::pair<std::string, Tensor>>& parameters,
                              const std::vector<std::pair<std::string, Tensor>>& inputs) {
  write_event(0, {}, graph_def(outputs, parameters, inputs), 4 /* Event.graph_def */);
  flush();
}

void SummaryWriter::add_graph(nn::Module& model, const Tensor& input) {
  Tensor output, x;
  {
    nn::EvalModeGuard eval(model);
    autograd::EnableGradGuard grad;
    x = input.detach().requires_grad_(true);
    output = model(x);
  }
  add_graph({output}, model.named_parameters(), {{"input", x}});
}

void SummaryWriter::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, child] : children_) child->flush();
  if (f_) flush_locked();
}

void SummaryWriter::close() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, child] : children_) child->close();
  if (!f_) return;
  bool ok = std::fflush(f_) == 0;
  int err = errno;
  ok = std::fclose(f_) == 0 && ok;
  f_ = nullptr;
  TS_CHECK_T(IOError, ok, "SummaryWriter: closing '", path_, "' failed (", std::strerror(err), ")");
}

}  // namespace tessera::log
