// libFuzzer harness: io::load_onnx_bytes on arbitrary bytes must either return a model or throw
// tessera::Error, never crash, hang or read out of bounds (run under ASan and UBSan); a model that
// loads then runs once on tiny inputs of its declared dtypes (symbolic dims 1, each dim at most 8),
// which must again either work or throw tessera::Error. Running out of memory (run.sh caps each
// allocation, so that files asking for huge tensors are refused rather than computed for seconds)
// is a refusal too. See tests/fuzz/README.md.
#include <algorithm>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "tessera/io/onnx.h"
#include "tessera/tessera.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<tessera::io::OnnxModel> model;
  try {
    model = tessera::io::load_onnx_bytes(std::string(reinterpret_cast<const char*>(data), size), "<fuzz>");
  } catch (const tessera::Error&) {
    return 0;
  } catch (const std::bad_alloc&) {
    return 0;
  }
  try {
    std::vector<tessera::io::OnnxModel::Value> inputs;
    for (const tessera::Shape& declared : model->input_shapes()) {
      tessera::Shape s;
      for (int64_t d : declared) s.push_back(d < 0 ? 1 : std::min<int64_t>(d, 8));
      inputs.emplace_back(tessera::ones(s));  // float32; other dtypes are refused with an error
    }
    (void)model->run_values(inputs);
  } catch (const tessera::Error&) {
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
