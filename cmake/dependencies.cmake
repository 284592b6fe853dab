# Finds what tessera builds against. A feature asked for with ON that cannot be built stops the
# configure; AUTO builds it when its pieces are present and says what is missing otherwise.
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(dnnl CONFIG REQUIRED)  # oneDNN: CPU matmul, convolution, pooling
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)                     # gzip-compressed datasets
find_package(nlohmann_json 3 CONFIG REQUIRED)   # safetensors headers, checkpoint metadata
find_package(CLI11 CONFIG REQUIRED)             # the tessera command
find_package(Protobuf REQUIRED)                 # ONNX files (ONNX's own generated messages)
find_package(ONNX CONFIG REQUIRED)              # ONNX schema, checker

function(tessera_check_option name)
  if(NOT ${name} MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "${name} must be AUTO, ON or OFF (got '${${name}}')")
  endif()
endfunction()
tessera_check_option(TESSERA_CUDA)
tessera_check_option(TESSERA_PYTHON)
tessera_check_option(TESSERA_MPI)
tessera_check_option(TESSERA_GLOO)

# --- MPI: the process group for data-parallel training on CPUs (mpirun launches the processes).
set(TESSERA_WITH_MPI OFF)
if(NOT TESSERA_MPI STREQUAL "OFF")
  find_package(MPI QUIET COMPONENTS CXX)  # the C API, through the CXX component (no C compiler needed)
  if(MPI_CXX_FOUND)
    set(TESSERA_WITH_MPI ON)
  elseif(TESSERA_MPI STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_MPI=ON: no MPI found (apt-get install libopenmpi-dev), or configure with "
                        "TESSERA_MPI=AUTO or OFF.")
  endif()
endif()

# --- gloo: the process group over TCP (torchrun-style launches, Spark), Debian's libgloo-dev.
set(TESSERA_WITH_GLOO OFF)
if(NOT TESSERA_GLOO STREQUAL "OFF")
  find_package(Gloo CONFIG QUIET)
  if(TARGET gloo)
    set(TESSERA_WITH_GLOO ON)
  elseif(TESSERA_GLOO STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_GLOO=ON: no gloo found (apt-get install libgloo-dev), or configure with "
                        "TESSERA_GLOO=AUTO or OFF.")
  endif()
endif()

# --- CUDA: the CUDA backend (kernels over the shared op math, CUB, cuBLASLt, cuDNN) and the
# runtime part (devices, streams, the caching allocator). The runtime is linked statically, so
# the library loads and runs on machines without a driver or a GPU, where CUDA reports why it is
# unavailable. AUTO builds it whenever the toolkit with cuBLASLt and cuDNN is found, so CI (which
# has the toolkit and no GPU) compiles and links every CUDA file.
set(TESSERA_CUDA_ARCHITECTURES "90-real;90-virtual" CACHE STRING
    "CUDA architectures of the kernels (CMAKE_CUDA_ARCHITECTURES syntax): sm_90 code plus PTX by default")
set(TESSERA_WITH_CUDA OFF)
set(TESSERA_CUDA_NOTE "")
if(NOT TESSERA_CUDA STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  set(_tessera_cuda_missing "")
  if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cudart_static OR NOT CUDAToolkit_NVCC_EXECUTABLE)
    set(_tessera_cuda_missing "the CUDA toolkit (nvcc and the static runtime)")
  elseif(NOT TARGET CUDA::cublasLt)
    set(_tessera_cuda_missing "cuBLASLt")
  else()
    # cuDNN: with the toolkit, under CUDNN_ROOT, or in a pip wheel's nvidia/cudnn folder.
    find_path(TESSERA_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDNN_ROOT} ENV CUDNN_ROOT ${CUDAToolkit_INCLUDE_DIRS}
              PATH_SUFFIXES include)
    find_library(TESSERA_CUDNN_LIB NAMES cudnn libcudnn.so.9 HINTS ${CUDNN_ROOT} ENV CUDNN_ROOT
                 ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
    if(NOT TESSERA_CUDNN_INCLUDE_DIR OR NOT TESSERA_CUDNN_LIB)
      set(_tessera_cuda_missing "cuDNN 9 (set CUDNN_ROOT to its folder)")
    endif()
  endif()
  if(_tessera_cuda_missing STREQUAL "")
    if(NOT CMAKE_CUDA_COMPILER)
      set(CMAKE_CUDA_COMPILER ${CUDAToolkit_NVCC_EXECUTABLE})
    endif()
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES ${TESSERA_CUDA_ARCHITECTURES})
    endif()
    if(CCACHE_PROGRAM)
      set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
    endif()
    enable_language(CUDA)
    # CMake 3.25 knows nvcc's dialect flags only up to C++17; nvcc 12+ takes -std=c++20.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
      list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    endif()
    set(TESSERA_WITH_CUDA ON)
    set(TESSERA_CUDA_NOTE "CUDA ${CUDAToolkit_VERSION}, kernels for ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${TESSERA_CUDNN_LIB}")
  elseif(TESSERA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_CUDA=ON: ${_tessera_cuda_missing} was not found; set CUDAToolkit_ROOT "
                        "(and CUDNN_ROOT), or configure with TESSERA_CUDA=AUTO or OFF.")
  else()
    set(TESSERA_CUDA_NOTE "${_tessera_cuda_missing} not found: no CUDA backend")
  endif()
endif()

# --- Python bindings: the interpreter given by Python_EXECUTABLE (make test uses the project's
# virtual environment), its development headers, and nanobind installed in it.
set(TESSERA_HAVE_PYTHON OFF)
set(TESSERA_PYTHON_NOTE "")
if(TESSERA_PYTHON STREQUAL "OFF" OR TESSERA_SANITIZE)
  find_package(Python QUIET COMPONENTS Interpreter)
  set(TESSERA_PYTHON_NOTE "off")
else()
  find_package(Python QUIET COMPONENTS Interpreter Development.Module)
  if(Python_Development.Module_FOUND)
    execute_process(COMMAND ${Python_EXECUTABLE} -m nanobind --cmake_dir OUTPUT_VARIABLE TESSERA_NB_DIR
                    OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE TESSERA_NB_RC ERROR_QUIET)
    if(TESSERA_NB_RC EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH ${TESSERA_NB_DIR})
      find_package(nanobind CONFIG QUIET)
    endif()
  endif()
  if(nanobind_FOUND)
    set(TESSERA_HAVE_PYTHON ON)
  elseif(TESSERA_PYTHON STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_PYTHON=ON: the bindings need Python development headers and nanobind for "
                        "${Python_EXECUTABLE} (make venv installs them; or pip install -r python/requirements.txt)")
  else()
    set(TESSERA_PYTHON_NOTE "nanobind or Python headers not found for ${Python_EXECUTABLE}: no bindings")
  endif()
endif()


# Flags for our own code.
# -Wno-restrict: GCC 12 reports false positives inside std::string concatenation (GCC bug 105329).
set(TESSERA_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-restrict)
if(TESSERA_WERROR)
  list(APPEND TESSERA_WARNINGS -Werror)
endif()
set(TESSERA_ARCH_FLAGS "")
if(TESSERA_NATIVE)
  set(TESSERA_ARCH_FLAGS -march=native)
endif()
set(TESSERA_SAN_FLAGS "")
if(TESSERA_SANITIZE)
  set(TESSERA_SAN_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options(${TESSERA_SAN_FLAGS})
  add_link_options(-fsanitize=address,undefined)
endif()
