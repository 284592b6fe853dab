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

# --- CUDA: with the toolkit, the library gets the CUDA runtime (devices, the caching allocator of
# device and pinned memory), linked statically so that it loads on machines without a driver.
# The device kernels are not written yet, so tensors stay on the CPU.
set(TESSERA_HAVE_CUDA_TOOLKIT OFF)
set(TESSERA_WITH_CUDA OFF)
set(TESSERA_CUDA_NOTE "")
if(NOT TESSERA_CUDA STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND AND TARGET CUDA::cudart_static)
    set(TESSERA_HAVE_CUDA_TOOLKIT ON)
    set(TESSERA_WITH_CUDA ON)
    find_library(TESSERA_CUDNN_LIB cudnn HINTS ${CUDAToolkit_LIBRARY_DIR})
    find_library(TESSERA_NCCL_LIB nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
    set(TESSERA_CUDA_NOTE "runtime (devices, caching allocator) built; device kernels not written yet: tensors stay on the CPU")
  elseif(TESSERA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_CUDA=ON: the CUDA toolkit (with the static runtime) was not found; set "
                        "CUDAToolkit_ROOT, or configure with TESSERA_CUDA=AUTO or OFF.")
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
set(TESSERA_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter -Wno-restrict)
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
