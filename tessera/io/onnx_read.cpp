// Reading ONNX files: the bytes, external weight files beside the model, the IR version and
// opset, ONNX's checker (or, for files newer than it knows, tessera's structural check), and
// each node's op. Shared by load_onnx and the inference session (onnx_internal.h).
#include <onnx/checker.h>
#include <onnx/defs/schema.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_set>

#include "tessera/io/onnx_internal.h"

namespace tessera::io {

namespace internal {
int64_t default_opset(const onnx::ModelProto& model) {
  for (auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return kOnnxOpset;
}

}  // namespace internal

namespace {
constexpr int64_t kMaxIrVersion = kOnnxMaxIrVersion, kMaxOpset = kOnnxMaxImportOpset;

// Weights stored beside the model (PyTorch 2.x's exporter writes `model.onnx.data`) are read into
// the initializers. Locations must stay inside the model's folder.
// dir: the model's folder; empty for a model given as bytes, which cannot name external data.
void inline_external_data(onnx::ModelProto& model, const std::string& path, const std::string& folder) {
  std::filesystem::path dir(folder);
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    TS_CHECK_T(::tessera::IOError, !folder.empty(), "load_onnx: ", path, ": initializer '", t.name(),
               "' keeps its data in an external file; load the model from its file path instead of bytes");
    std::string location;
    int64_t offset = 0, length = -1;
    for (auto& kv : t.external_data()) {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    }
    std::filesystem::path rel(location);
    bool inside = !location.empty() && rel.is_relative();
    for (auto& part : rel) inside = inside && part != "..";
    TS_CHECK_T(::tessera::IOError, inside, "load_onnx: ", path, ": initializer '", t.name(),
               "' names external data at '", location, "', outside the model's folder");
    std::string file = (dir / rel).string();
    std::ifstream f(file, std::ios::binary);
    TS_CHECK_T(::tessera::IOError, f.good(), "load_onnx: ", path, ": initializer '", t.name(),
               "': cannot open its external data file ", file);
    f.seekg(0, std::ios::end);
    int64_t size = int64_t(f.tellg());
    if (length < 0) length = size - offset;
    TS_CHECK_T(::tessera::IOError, offset >= 0 && length >= 0 && offset + length <= size, "load_onnx: ", path,
               ": initializer '", t.name(), "' wants bytes [", offset, ", ", offset + length, ") of ", file,
               ", which has ", size);
    std::string bytes(size_t(length), '\0');
    f.seekg(offset);
    f.read(bytes.data(), length);
    t.set_raw_data(std::move(bytes));
    t.clear_external_data();
    t.set_data_location(onnx::TensorProto::DEFAULT);
  }
}

}  // namespace

namespace internal {
int64_t checker_opset() {
  return onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(onnx::ONNX_DOMAIN).second;
}

// What ONNX's checker would refuse that tessera relies on: every value a node reads is a graph
// input, an initializer or an earlier node's output; names are not defined twice.
void check_structure(const onnx::ModelProto& model, const std::string& what) {
  const auto& g = model.graph();
  std::unordered_set<std::string> known;
  for (auto& i : g.input()) known.insert(i.name());
  for (auto& i : g.initializer()) known.insert(i.name());
  for (auto& n : g.node()) {
    std::string label = n.name().empty() ? (n.output_size() ? n.output(0) : n.op_type()) : n.name();
    for (auto& in : n.input())
      TS_CHECK_T(::tessera::IOError, in.empty() || known.count(in), what, ": node '", label, "' (",
                 n.op_type(), ") reads '", in, "', which no earlier node, input or initializer makes");
    for (auto& out : n.output())
      TS_CHECK_T(::tessera::IOError, out.empty() || known.insert(out).second, what, ": node '", label,
                 "' (", n.op_type(), ") defines '", out, "' a second time");
  }
  for (auto& o : g.output())
    TS_CHECK_T(::tessera::IOError, known.count(o.name()), what, ": graph output '", o.name(),
               "' is never computed");
}
static onnx::ModelProto read_model_checked(const std::string& bytes, const std::string& path,
                                           const std::string& folder);

onnx::ModelProto read_model(const std::string& path) {
  return as_onnx_error([&] {
    std::ifstream f(path, std::ios::binary);
    TS_CHECK_T(::tessera::IOError, f.good(), "load_onnx: cannot open ", path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string folder = std::filesystem::path(path).parent_path().string();
    return read_model_checked(ss.str(), path, folder.empty() ? "." : folder);
  });
}

onnx::ModelProto read_model_bytes(const std::string& bytes, const std::string& name) {
  return as_onnx_error([&] { return read_model_checked(bytes, name, ""); });
}

static onnx::ModelProto read_model_checked(const std::string& bytes, const std::string& path,
                                           const std::string& folder) {
  onnx::ModelProto model;
  TS_CHECK_T(::tessera::IOError, !bytes.empty() && model.ParseFromString(bytes), "load_onnx: ", path, " is not an ONNX model (",
              bytes.size(), " bytes that do not parse as an ONNX ModelProto)");
  TS_CHECK_T(::tessera::IOError, model.has_graph(), "load_onnx: ", path, " has no graph");
  TS_CHECK_T(::tessera::IOError, model.ir_version() >= 3 && model.ir_version() <= kMaxIrVersion, "load_onnx: ", path,
             " has IR version ", model.ir_version(), "; tessera reads IR versions 3 to ", kMaxIrVersion);
  int64_t opset = default_opset(model);
  TS_CHECK_VALUE(opset >= kOnnxMinImportOpset && opset <= kMaxOpset, "load_onnx: ", path, " uses opset ", opset,
                 " of the default domain; tessera reads opsets ", kOnnxMinImportOpset, " to ", kMaxOpset);
  inline_external_data(model, path, folder);
  // The ONNX library here (Debian's) knows IR versions and opsets up to its own release.
  if (model.ir_version() <= onnx::IR_VERSION && opset <= checker_opset()) {
    try {
      onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      throw IOError(::tessera::detail::str("load_onnx: ", path, " fails ONNX's checker: ", e.what()));
    }
  } else {  // newer than that: its checker refuses them, so check the structure ourselves
    check_structure(model, "load_onnx: " + path);
  }
  // ONNX Runtime's operators have one version; a file importing another is not one tessera knows.
  int64_t microsoft = 0;
  for (auto& o : model.opset_import())
    if (o.domain() == kMicrosoftDomain) microsoft = o.version();
  TS_CHECK_VALUE(microsoft <= 1, "load_onnx: ", path, " imports version ", microsoft, " of the operator domain ",
                 kMicrosoftDomain, "; tessera runs its version 1");
  // Every node, in body graphs too, is checked here, not at the first run.
  std::function<void(const onnx::GraphProto&)> check_nodes = [&](const onnx::GraphProto& g) {
    for (auto& n : g.node()) {
      TS_CHECK_VALUE(n.output_size() >= 1, "load_onnx: ", path, ": node '", n.name(), "' (", n.op_type(),
                     ") has no outputs");
      TS_CHECK_VALUE(in_default_domain(n) || n.domain() == kMicrosoftDomain, "load_onnx: ", path, ": node '",
                     n.name(), "' (", n.op_type(), ") uses the operator domain '", n.domain(),
                     "', which tessera does not run (it runs the default domain and ", kMicrosoftDomain, ")");
      TS_CHECK_VALUE(runs(n), "load_onnx: ", path, ": node '", n.name().empty() ? n.output(0) : n.name(), "' (",
                     n.op_type(), "): op ", op_key(n),
                     in_default_domain(n) ? " (opset " + std::to_string(opset) + ")" : std::string(" (version 1)"),
                     " is not supported by tessera's importer");
      check_attributes(n, opset, "load_onnx: " + path);
      for (auto& a : n.attribute()) {
        if (a.has_g()) check_nodes(a.g());
        for (auto& sub : a.graphs()) check_nodes(sub);
      }
    }
  };
  check_nodes(model.graph());
  return model;
}
}  // namespace internal

}  // namespace tessera::io
