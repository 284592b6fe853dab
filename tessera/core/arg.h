#pragma once
// LibTorch's option-builder members: TESSERA_ARG(double, momentum) gives a setter
// `momentum(v)` that returns the builder (so calls chain) and a getter `momentum()`, over the
// member c_.momentum of the aggregate the builder wraps.
#include <utility>

#define TESSERA_ARG(T, name)        \
  auto& name(T v) {                 \
    c_.name = std::move(v);         \
    return *this;                   \
  }                                 \
  const T& name() const { return c_.name; }
