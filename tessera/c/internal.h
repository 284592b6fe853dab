#pragma once
// The C API's internals, shared by its source files (not installed): the handles' structs, the
// registry of live handles, and the helpers every entry point uses to check its arguments and turn
// C++ exceptions into a status and the calling thread's last error message.
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tessera/c/tessera_c.h"
#include "tessera/tessera.h"

struct ts_tensor_s {
  tessera::Tensor t;
};
struct ts_module_s {
  std::shared_ptr<tessera::nn::Module> m;
};
struct ts_optimizer_s {
  std::shared_ptr<tessera::optim::Optimizer> o;  // (shared with the trainers made over it)
};
struct ts_data_loader_s {
  std::unique_ptr<tessera::data::DataLoader> l;
};
// A training run over a model and an optimizer (both kept alive by it): fit continues from the
// epochs it has done.
struct ts_trainer_s {
  std::shared_ptr<tessera::nn::Module> model;
  std::shared_ptr<tessera::optim::Optimizer> optimizer;
  std::string loss;
  int64_t epochs_done = 0;
};

namespace tessera::c_api {

inline thread_local std::string last_error;

// The live handles of each kind: a handle is checked here before it is used, so a NULL, freed or
// foreign pointer (or a handle of another kind) is an error, not a crash.
inline std::mutex handles_mu;
template <class H>
std::unordered_set<const H*>& live_handles() {
  static auto* set = new std::unordered_set<const H*>();  // (never destroyed: used at exit)
  return *set;
}

ts_status fail(ts_status s, std::string message);

// An error raised inside an entry point, with its status.
struct CError {
  ts_status status;
  std::string message;
};
[[noreturn]] void raise(ts_status s, const std::string& message);

template <class F>
ts_status guarded(F&& body) {
  try {
    body();
    return TS_OK;
  } catch (const CError& e) {
    return fail(e.status, e.message);
  } catch (const ShapeError& e) {
    return fail(TS_SHAPE_ERROR, e.what());
  } catch (const DTypeError& e) {
    return fail(TS_DTYPE_ERROR, e.what());
  } catch (const DeviceError& e) {
    return fail(TS_DEVICE_ERROR, e.what());
  } catch (const IndexError& e) {
    return fail(TS_INDEX_ERROR, e.what());
  } catch (const ValueError& e) {
    return fail(TS_VALUE_ERROR, e.what());
  } catch (const IOError& e) {
    return fail(TS_IO_ERROR, e.what());
  } catch (const std::bad_alloc&) {
    return fail(TS_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(TS_ERROR, e.what());
  } catch (...) {
    return fail(TS_ERROR, "an unknown C++ exception");
  }
}

template <class P>
void need(const P* p, const char* fn, const char* what) {
  if (p == nullptr) raise(TS_NULL_ARGUMENT, std::string(fn) + ": " + what + " is NULL");
}

template <class H>
H* checked(H* h, const char* fn, const char* what, const char* kind) {
  need(h, fn, what);
  std::lock_guard<std::mutex> lock(handles_mu);
  if (!live_handles<H>().count(h))
    raise(TS_INVALID_HANDLE, std::string(fn) + ": " + what + " is not a live " + kind + " handle (freed, or not one)");
  return h;
}

// A new handle, registered as live, through out.
template <class H>
void give_handle(H* h, H** out) {
  std::lock_guard<std::mutex> lock(handles_mu);
  live_handles<H>().insert(h);
  *out = h;
}

// Frees a handle of kind H (NULL: nothing), refusing one that is not live.
template <class H>
ts_status free_handle(H* h, const char* fn, const char* kind) {
  if (h == nullptr) return TS_OK;
  return guarded([&] {
    {
      std::lock_guard<std::mutex> lock(handles_mu);
      if (live_handles<H>().erase(h) == 0)
        raise(TS_INVALID_HANDLE, std::string(fn) + ": not a live " + kind + " handle (freed already, or not one)");
    }
    delete h;
  });
}

const Tensor& tensor_of(ts_tensor h, const char* fn, const char* what = "the tensor");
// A tensor argument that may be NULL (an undefined tensor then).
Tensor optional_tensor(ts_tensor h, const char* fn, const char* what);
// The tensors of a C array of handles (count at least 1).
std::vector<Tensor> tensor_list(const ts_tensor* tensors, int count, const char* fn);
nn::Module& module_of(ts_module h, const char* fn);
optim::Optimizer& optimizer_of(ts_optimizer h, const char* fn);
data::DataLoader& loader_of(ts_data_loader h, const char* fn, const char* what = "the data loader");
std::string text_of(const char* s, const char* fn, const char* what);
DType dtype_of(ts_dtype d, const char* fn);
ts_dtype code_of(DType d);
// A shape argument (sizes not negative), and a list of sizes or dims (any values).
Shape shape_of(const int64_t* shape, int ndim, const char* fn);
Shape sizes_of(const int64_t* sizes, int n, const char* fn, const char* what);
// Writes text into buf (size bytes, NUL-terminated); an error when it does not fit, unless truncate.
void write_text(const std::string& text, char* buf, size_t size, const char* fn, bool truncate);

void give(Tensor t, ts_tensor* out);

// Runs body (which returns a tensor) with out checked and cleared first; the result's handle
// through out.
template <class F>
ts_status producing(ts_tensor* out, const char* fn, F&& body) {
  if (out == nullptr) return fail(TS_NULL_ARGUMENT, std::string(fn) + ": out is NULL");
  *out = nullptr;
  return guarded([&] { give(body(), out); });
}

// The same for the other kinds of handle: body returns what the handle's struct holds.
template <class H, class F>
ts_status making(H** out, const char* fn, F&& body) {
  if (out == nullptr) return fail(TS_NULL_ARGUMENT, std::string(fn) + ": out is NULL");
  *out = nullptr;
  return guarded([&] { give_handle(new H{body()}, out); });
}

}  // namespace tessera::c_api
