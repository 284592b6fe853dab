#pragma once
// tessera: include this one header for the whole C++ API.
#include "tessera/autograd/autograd.h"
#include "tessera/autograd/gradcheck.h"
#include "tessera/backend/backend.h"
#include "tessera/core/tensor.h"
#include "tessera/ops/factory.h"
#include "tessera/ops/ops.h"
