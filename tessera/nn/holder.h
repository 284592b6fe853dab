#pragma once
// LibTorch's module holders. A holder is a shared pointer to its module with the module's ways:
//
//   struct NetImpl : tessera::nn::Module {
//     NetImpl() { fc = register_module("fc", tessera::nn::Linear(4, 2)); }
//     tessera::Tensor forward(tessera::Tensor x) { return fc(x); }
//     tessera::nn::Linear fc{nullptr};            // empty until assigned
//   };
//   TESSERA_MODULE(Net);                           // Net holds a NetImpl
//   Net net;  net->parameters();  net->to(tessera::kFloat64);  net(x);
//
// Every tessera user module gets one with TESSERA_MODULE(Name) (a Name holding a NameImpl). The
// built-in layers are classes named XImpl (LinearImpl, Conv2dImpl, ...); nn::X names the class
// itself in a program that includes tessera/tessera.h, and a holder of it in a program that
// includes tessera/torch.h (LibTorch's spelling), one implementation under both names.
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "tessera/nn/module.h"

namespace tessera::detail {
[[noreturn]] void throw_empty_holder(const char* type_name);
// The class name of a mangled type name, without its namespaces ("NetImpl").
std::string class_name(const char* mangled);
template <class T> struct is_shared_ptr : std::false_type {};
template <class T> struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};
}  // namespace tessera::detail

namespace tessera::nn {

template <class Impl>
class ModuleHolder {
 public:
  using ContainedType = Impl;

  // The module built with its default arguments, as LibTorch's holders do.
  ModuleHolder() requires std::is_default_constructible_v<Impl> : impl_(std::make_shared<Impl>()) { adopt(); }
  // An empty holder (LibTorch's `nn::Linear fc{nullptr}`); using it before assigning is an error.
  ModuleHolder(std::nullptr_t) {}  // NOLINT: implicit, as LibTorch's
  // The module built from these arguments: nn::Linear(4, 2), nn::Conv2d(nn::Conv2dOptions(1, 8, 3)).
  template <class A, class... As>
    requires(!std::is_same_v<std::decay_t<A>, std::nullptr_t> && !::tessera::detail::is_shared_ptr<std::decay_t<A>>::value &&
             !std::is_base_of_v<ModuleHolder, std::decay_t<A>> && std::is_constructible_v<Impl, A, As...>)
  explicit ModuleHolder(A&& a, As&&... as) : impl_(std::make_shared<Impl>(std::forward<A>(a), std::forward<As>(as)...)) {
    adopt();
  }
  // A holder of a module that exists (shared, not copied).
  ModuleHolder(std::shared_ptr<Impl> module) : impl_(std::move(module)) { adopt(); }  // NOLINT

  Impl* operator->() const { return get(); }
  Impl& operator*() const { return *get(); }
  Impl* get() const {
    if (!impl_) ::tessera::detail::throw_empty_holder(typeid(Impl).name());
    return impl_.get();
  }
  const std::shared_ptr<Impl>& ptr() const {
    get();
    return impl_;
  }
  bool is_empty() const noexcept { return !impl_; }
  explicit operator bool() const noexcept { return !is_empty(); }
  // A shared_ptr to the module or any of its bases (what the trainer, DDP and save take).
  template <class B>
    requires std::is_base_of_v<B, Impl>
  operator std::shared_ptr<B>() const {  // NOLINT: implicit, so a holder goes where a pointer does
    return ptr();
  }

  // holder(args...) is module->forward(args...); one tensor also runs the module's forward hooks.
  template <class... A>
  decltype(auto) operator()(A&&... args) const {
    Impl& m = *get();
    if constexpr (sizeof...(A) == 1 && std::is_same_v<decltype(m.forward(std::forward<A>(args)...)), Tensor>)
      return m.Module::operator()(std::forward<A>(args)...);
    else
      return m.forward(std::forward<A>(args)...);
  }

 private:
  // A user module that gave itself no name prints as its class (NetImpl), as in LibTorch. A forward
  // that takes its Tensor by value (LibTorch's usual `Tensor forward(Tensor x)`) does
  // not override Module::forward(const Tensor&); the module learns to call it, so containers,
  // hooks and the trainer reach it too.
  void adopt() {
    if (impl_ && impl_->Module::type_ == "Module") impl_->Module::type_ = ::tessera::detail::class_name(typeid(Impl).name());
    if constexpr (requires { static_cast<Tensor (Impl::*)(Tensor)>(&Impl::forward); }) {
      if (impl_)
        impl_->Module::by_value_forward_ = [](Module& m, const Tensor& x) { return static_cast<Impl&>(m).forward(x); };
    }
  }
  std::shared_ptr<Impl> impl_;
};

template <class H>
concept module_holder = std::is_base_of_v<ModuleHolder<typename std::decay_t<H>::ContainedType>, std::decay_t<H>>;

}  // namespace tessera::nn

// A holder class Name for the module class NameImpl (LibTorch's TORCH_MODULE).
#define TESSERA_MODULE_IMPL(Name, ImplType)                                \
  class Name : public ::tessera::nn::ModuleHolder<ImplType> {             \
   public:                                                                 \
    using ::tessera::nn::ModuleHolder<ImplType>::ModuleHolder;             \
  }
#define TESSERA_MODULE(Name) TESSERA_MODULE_IMPL(Name, Name##Impl)

// The name of a built-in layer: the class (tessera/tessera.h) or a holder of it (tessera/torch.h).
#ifdef TESSERA_LIBTORCH_HOLDERS
#define TESSERA_NN_NAME(Name) TESSERA_MODULE(Name)
#else
#define TESSERA_NN_NAMES_ARE_CLASSES 1
#define TESSERA_NN_NAME(Name) using Name = Name##Impl
#endif
