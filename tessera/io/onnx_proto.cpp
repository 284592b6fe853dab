#include "tessera/io/onnx_proto.h"

#include <cstring>

#include "tessera/core/error.h"
#include "tessera/ops/ops.h"

namespace tessera::io::onnx_proto {

int32_t elem_type(DType t) {
  switch (t) {
    case DType::Bool: return onnx::TensorProto::BOOL;
    case DType::UInt8: return onnx::TensorProto::UINT8;
    case DType::Int8: return onnx::TensorProto::INT8;
    case DType::Int32: return onnx::TensorProto::INT32;
    case DType::Int64: return onnx::TensorProto::INT64;
    case DType::Float16: return onnx::TensorProto::FLOAT16;
    case DType::BFloat16: return onnx::TensorProto::BFLOAT16;
    case DType::Float32: return onnx::TensorProto::FLOAT;
    case DType::Float64: return onnx::TensorProto::DOUBLE;
  }
  throw ValueError("onnx: unknown dtype");
}

DType dtype_of(int32_t e, const std::string& where) {
  switch (e) {
    case onnx::TensorProto::BOOL: return DType::Bool;
    case onnx::TensorProto::UINT8: return DType::UInt8;
    case onnx::TensorProto::INT8: return DType::Int8;
    case onnx::TensorProto::INT32: return DType::Int32;
    case onnx::TensorProto::INT64: return DType::Int64;
    case onnx::TensorProto::FLOAT16: return DType::Float16;
    case onnx::TensorProto::BFLOAT16: return DType::BFloat16;
    case onnx::TensorProto::FLOAT: return DType::Float32;
    case onnx::TensorProto::DOUBLE: return DType::Float64;
    default: break;
  }
  std::string name = onnx::TensorProto::DataType_IsValid(e)
                         ? onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(e))
                         : std::to_string(e);
  throw DTypeError(detail::str(where, ": ONNX element type ", name, " is not supported by tessera"));
}

onnx::TensorProto to_proto(const Tensor& t, const std::string& name) {
  onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(elem_type(t.dtype()));
  for (int64_t d : t.shape()) p.add_dims(d);
  Tensor c = t.to(Device::cpu()).contiguous();
  p.set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * c.element_size()));
  return p;
}

namespace {
// Copies n values of a typed repeated field into dst, converting to the tensor's C++ type.
template <class Field>
void copy_field(const Field& f, Tensor dst, int64_t n, const std::string& where) {
  TS_CHECK_VALUE(int64_t(f.size()) == n, where, ": holds ", f.size(), " values for ", n, " elements");
  Tensor src = from_vector(std::vector<typename Field::value_type>(f.begin(), f.end())).to(DType::Float64);
  dst.copy_(src.view(dst.shape()));
}
}  // namespace

Tensor from_proto(const onnx::TensorProto& p, const std::string& where) {
  std::string w = where + " (tensor '" + p.name() + "')";
  TS_CHECK_VALUE(p.data_location() != onnx::TensorProto::EXTERNAL, w,
                 ": weights in external data files are not supported");
  DType dt = dtype_of(p.data_type(), w);
  Shape s;
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    TS_CHECK_VALUE(d >= 0 && (d == 0 || n <= (int64_t(1) << 40) / d), w, ": bad dims");
    s.push_back(d);
    n *= d;
  }
  Tensor t = empty(s, {dt});
  size_t bytes = size_t(n) * t.element_size();
  if (p.has_raw_data()) {
    TS_CHECK_VALUE(p.raw_data().size() == bytes, w, ": raw_data has ", p.raw_data().size(), " bytes, the ",
                   dt, " shape ", s, " needs ", bytes);
    if (bytes) std::memcpy(t.data_ptr(), p.raw_data().data(), bytes);
    return t;
  }
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: copy_field(p.float_data(), t, n, w); break;
    case onnx::TensorProto::DOUBLE: copy_field(p.double_data(), t, n, w); break;
    case onnx::TensorProto::INT64: {
      TS_CHECK_VALUE(int64_t(p.int64_data_size()) == n, w, ": holds ", p.int64_data_size(), " values for ", n,
                     " elements");
      std::memcpy(t.data_ptr(), p.int64_data().data(), bytes);  // exact: no trip through double
      break;
    }
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16: {
      // int32_data holds the 16-bit patterns.
      TS_CHECK_VALUE(int64_t(p.int32_data_size()) == n, w, ": holds ", p.int32_data_size(), " values for ", n,
                     " elements");
      auto* d = static_cast<uint16_t*>(t.data_ptr());
      for (int64_t i = 0; i < n; ++i) d[i] = uint16_t(p.int32_data(int(i)));
      break;
    }
    default: copy_field(p.int32_data(), t, n, w); break;  // int32, int8, uint8, bool
  }
  return t;
}

}  // namespace tessera::io::onnx_proto
