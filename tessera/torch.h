#pragma once
// LibTorch's spelling of tessera: a LibTorch program ports by replacing #include <torch/torch.h>
// with this header and torch:: with tessera::. Besides tessera/tessera.h's whole API it makes
// nn::Linear, nn::Conv2d, nn::Sequential, ... LibTorch's module holders (shared pointers to the
// modules nn::LinearImpl, ...; tessera/nn/holder.h) instead of the module classes themselves.
// Include it before any other tessera header, in every file of a program that uses it (a program
// that mixes the two spellings of nn::Linear across its files would see two different types).
#if defined(TESSERA_NN_NAMES_ARE_CLASSES)
#error "tessera/torch.h must come before every other tessera header (they were included first, with nn::Linear etc. as the module classes, not LibTorch's holders)"
#endif
#ifndef TESSERA_LIBTORCH_HOLDERS
#define TESSERA_LIBTORCH_HOLDERS 1
#endif
#include "tessera/tessera.h"
