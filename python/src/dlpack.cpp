// DLPack interchange (https://dmlc.github.io/dlpack/latest/): Tensor.__dlpack__ /
// __dlpack_device__ and tessera.from_dlpack, so tensors move to and from PyTorch, NumPy and any
// DLPack library without copies. The structs below are the DLPack 0.x ABI (the legacy
// "dltensor" capsule every consumer accepts).
#include <nanobind/nanobind.h>

#include "tessera/tessera.h"

namespace nb = nanobind;
using namespace tessera;

namespace {
struct DLDevice {
  int32_t device_type;  // 1: CPU
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;  // 0 int, 1 uint, 2 float, 4 bfloat, 6 bool
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};

// What a capsule we export owns: the tensor (keeping its storage alive) and the shape arrays.
struct Exported {
  Tensor tensor;
  Shape shape, strides;
  DLManagedTensor managed;
};

DLDataType to_dl(DType t) {
  switch (t) {
    case DType::Bool:
      return {6, 8, 1};
    case DType::UInt8:
      return {1, 8, 1};
    case DType::Int8:
      return {0, 8, 1};
    case DType::Int32:
      return {0, 32, 1};
    case DType::Int64:
      return {0, 64, 1};
    case DType::Float16:
      return {2, 16, 1};
    case DType::BFloat16:
      return {4, 16, 1};
    case DType::Float32:
      return {2, 32, 1};
    case DType::Float64:
      return {2, 64, 1};
  }
  return {};
}
DType from_dl(DLDataType d) {
  TS_CHECK_DTYPE(d.lanes == 1, "from_dlpack: vector dtypes (lanes ", d.lanes, ") are not supported");
  if (d.code == 6 || (d.code == 1 && d.bits == 1)) return DType::Bool;
  if (d.code == 1 && d.bits == 8) return DType::UInt8;
  if (d.code == 0 && d.bits == 8) return DType::Int8;
  if (d.code == 0 && d.bits == 32) return DType::Int32;
  if (d.code == 0 && d.bits == 64) return DType::Int64;
  if (d.code == 2 && d.bits == 16) return DType::Float16;
  if (d.code == 4 && d.bits == 16) return DType::BFloat16;
  if (d.code == 2 && d.bits == 32) return DType::Float32;
  if (d.code == 2 && d.bits == 64) return DType::Float64;
  throw DTypeError(
      detail::str("from_dlpack: unsupported DLPack dtype (code ", int(d.code), ", ", int(d.bits), " bits)"));
}

void capsule_destructor(PyObject* cap) {
  // Only a capsule nobody consumed still owns its tensor (a consumer renames it "used_dltensor").
  if (PyCapsule_IsValid(cap, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}
}  // namespace

void bind_dlpack(nb::module_& m) {
  nb::object cls = m.attr("Tensor");
  nb::setattr(
      cls, "__dlpack__",
      nb::cpp_function(
          [](const Tensor& t, nb::kwargs) {
            TS_CHECK_DEVICE(t.device().is_cpu(), "__dlpack__: only CPU tensors can be exported for now");
            auto* e = new Exported{t.detach(), t.shape(), t.strides(), {}};
            // data points at the first element and byte_offset stays 0, as PyTorch exports: some
            // consumers (PyTorch 1.13 among them) ignore byte_offset.
            e->managed.dl_tensor = {t.data_ptr(),      {1, 0}, int32_t(t.dim()), to_dl(t.dtype()), e->shape.data(),
                                    e->strides.data(), 0};
            e->managed.manager_ctx = e;
            e->managed.deleter = [](DLManagedTensor* self) { delete static_cast<Exported*>(self->manager_ctx); };
            PyObject* cap = PyCapsule_New(&e->managed, "dltensor", capsule_destructor);
            if (!cap) {
              delete e;
              throw nb::python_error();
            }
            return nb::steal(cap);
          },
          nb::is_method(), nb::name("__dlpack__")));
  nb::setattr(cls, "__dlpack_device__",
              nb::cpp_function(
                  [](const Tensor& t) {
                    return nb::make_tuple(1, 0);  // (kDLCPU, 0)
                  },
                  nb::is_method(), nb::name("__dlpack_device__")));

  m.def(
      "from_dlpack",
      [](nb::handle obj) {
        nb::object cap = nb::hasattr(obj, "__dlpack__") ? obj.attr("__dlpack__")() : nb::borrow(obj);
        PyObject* c = cap.ptr();
        if (!PyCapsule_IsValid(c, "dltensor"))
          throw nb::type_error("from_dlpack: expected an object with __dlpack__ or an unused 'dltensor' capsule");
        auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
        const DLTensor& d = mt->dl_tensor;
        if (d.device.device_type != 1) throw nb::value_error("from_dlpack: only CPU tensors can be imported for now");
        DType dt = from_dl(d.dtype);
        Shape shape(d.shape, d.shape + d.ndim), strides;
        if (d.strides)
          strides.assign(d.strides, d.strides + d.ndim);
        else
          strides = contiguous_strides(shape);
        for (int64_t s : strides)
          if (s < 0) throw nb::value_error("from_dlpack: negative strides are not supported");
        void* data = static_cast<char*>(d.data) + d.byte_offset;
        Tensor t = from_blob(
            data, shape, dt,
            [mt](void*) {
              // The producer's deleter may touch Python objects (numpy's does); the storage can be freed
              // on any thread, so take the GIL.
              nb::gil_scoped_acquire gil;
              if (mt->deleter) mt->deleter(mt);
            },
            strides);
        PyCapsule_SetName(c, "used_dltensor");  // the tensor owns it now
        return t;
      },
      nb::arg("obj"), "A tensor sharing the memory of any DLPack producer (torch.Tensor, numpy arrays, ...).");
}
