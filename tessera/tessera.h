#pragma once
// tessera: include this one header for the whole C++ API.
#include "tessera/backend/backend.h"
#include "tessera/core/tensor.h"
#include "tessera/ops/factory.h"
#include "tessera/ops/ops.h"
