#pragma once
// Internal to io/onnx_*.cpp: conversions between tessera tensors and ONNX's protobuf messages.
#include <onnx/onnx_pb.h>

#include <string>

#include "tessera/core/tensor.h"

namespace tessera::io::onnx_proto {

// ONNX TensorProto.DataType of a dtype, and back (throws naming `where` for types tessera lacks).
int32_t elem_type(DType t);
DType dtype_of(int32_t elem_type, const std::string& where);
// A contiguous CPU copy of t's values as a TensorProto named name (raw little-endian data).
onnx::TensorProto to_proto(const Tensor& t, const std::string& name);
// The tensor a TensorProto holds (raw_data or the typed repeated fields); sizes are checked.
Tensor from_proto(const onnx::TensorProto& p, const std::string& where);

}  // namespace tessera::io::onnx_proto
