#pragma once
// The library's version ("0.1.0"), as the build set it (CMake's project version).

namespace tessera {

const char* version();

}  // namespace tessera
