# Every dependency comes from a Debian package (scripts/setup.sh installs them). libtorch may
# also be the one inside PyPI's torch wheel: pass -DCMAKE_PREFIX_PATH=$(python -c 'import torch;
# print(torch.utils.cmake_prefix_path)').

find_package(Torch REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(JPEG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
# Byte-level BPE tokenizers (src/text/bpe_*): PCRE2 runs the pre-tokenizer's regex with Unicode
# classes, utf8proc gives NFC and Unicode categories.
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)

message(STATUS "libtorch ${Torch_VERSION} from ${Torch_DIR}")

# --- libtorch from PyPI's torch wheel (scripts/ci/build-pypi-torch.sh, docs/building-with-cuda.md).
# Each block below is a no-op with Debian's libtorch-dev (prefix /usr, no wheel next to it).
# (a) libtorch >= 2.14 refuses C++17 ("C++20 or later compatible compiler is required to use
#     ATen", pytorch/pytorch#178150). The code stays C++17 that also compiles as C++20; such a
#     libtorch raises the standard of lvlm_torch and what links it, while the torch-free targets
#     stay C++17 and so compile to the same objects in both builds (ccache shares them).
if(Torch_VERSION VERSION_GREATER_EQUAL 2.14 AND CMAKE_CXX_STANDARD LESS 20)
  set(LVLM_TORCH_CXX_STANDARD 20)
  message(STATUS "libtorch ${Torch_VERSION} needs C++20: compiling lvlm_torch and its users as C++20")
endif()
# (b) TorchConfig.cmake finds c10 with find_library(c10 PATHS <prefix>/lib), which searches the
#     system directories first: with libtorch-dev installed too, the wheel's libtorch would be
#     linked with Debian's libc10.so (same soname, other ABI). Use the c10 beside the libtorch.
set(_lvlm_c10 "${TORCH_INSTALL_PREFIX}/lib/libc10.so")
if(EXISTS "${_lvlm_c10}" AND c10_LIBRARY AND NOT c10_LIBRARY STREQUAL _lvlm_c10)
  message(STATUS "Linking ${_lvlm_c10}, not ${c10_LIBRARY}")
  list(REMOVE_ITEM TORCH_LIBRARIES "${c10_LIBRARY}")
  list(APPEND TORCH_LIBRARIES "${_lvlm_c10}")
endif()
# (c) The wheel's CUDA libraries live in site-packages/nvidia/*/lib and libtorch finds them at run
#     time through its own RPATH, but the linker checks libtorch_cuda.so's dependencies against
#     the system CUDA directory first (an older libnccl there: "undefined reference to
#     ncclSignal"). -rpath-link points the linker at the wheels; the build RPATH lists them
#     before /usr/local/cuda, so code that calls the CUDA runtime directly gets the same copy.
get_filename_component(_lvlm_site "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)
file(GLOB _lvlm_nv_dirs LIST_DIRECTORIES true "${_lvlm_site}/nvidia/*/lib")
if(_lvlm_nv_dirs AND EXISTS "${TORCH_INSTALL_PREFIX}/lib/libtorch_cuda.so")
  set(_lvlm_rt_dirs "${TORCH_INSTALL_PREFIX}/lib" ${_lvlm_nv_dirs})
  string(REPLACE ";" ":" _lvlm_rt_path "${_lvlm_rt_dirs}")
  add_link_options("LINKER:-rpath-link,${_lvlm_rt_path}")
  list(PREPEND CMAKE_BUILD_RPATH ${_lvlm_rt_dirs})
endif()

# (e) A CPU run does not load libtorch's CUDA half. The wheel's libtorch.so needs libtorch_cuda.so,
#     which brings cuBLAS, cuDNN and NCCL: 0.17 s more to start every process, for nothing on the
#     CPU. Link the CPU half only (libtorch_cpu, libc10); the model loads
#     libtorch_cuda.so when a GPU is asked for (src/models/cuda_runtime.h).
if(TARGET torch_cuda AND TARGET torch_cpu_library)
  add_library(lvlm_libtorch_cpu INTERFACE)
  target_link_libraries(lvlm_libtorch_cpu INTERFACE torch_cpu_library)
  target_include_directories(lvlm_libtorch_cpu SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  get_target_property(_lvlm_torch_options torch INTERFACE_COMPILE_OPTIONS)
  if(_lvlm_torch_options)
    target_compile_options(lvlm_libtorch_cpu INTERFACE ${_lvlm_torch_options})
  endif()
  set(TORCH_LIBRARIES lvlm_libtorch_cpu)
  set(LVLM_TORCH_HAS_CUDA_LIBRARY ON)
  message(STATUS "Linking libtorch's CPU half; libtorch_cuda.so is loaded when a GPU is asked for")
endif()

# Libraries the torch-free core links privately; one interface target so each module's
# CMakeLists need not repeat them.
add_library(lvlm_deps_core INTERFACE)
# libsentencepiece is not among them: only core_tests links it (tests/text compares our reader
# with it). Its bundled protobuf crashes a process that also loads libtorch's protobuf, and an
# ASan build keeps it loaded in lvlm-probe even where --as-needed would drop it.
target_link_libraries(lvlm_deps_core INTERFACE spdlog::spdlog JPEG::JPEG PkgConfig::PCRE2 PkgConfig::UTF8PROC)
target_include_directories(lvlm_deps_core INTERFACE ${STB_INCLUDE_DIR})

# (d) PyPI's libtorch ships its own fmt (12.x) in <prefix>/include, which comes before /usr/include
#     on the command line, while Debian's spdlog is built against Debian's fmt 9: a file that
#     includes both torch and spdlog would compile spdlog against the wrong fmt. Put the fmt that
#     spdlog uses first, through a symlink (/usr/include itself cannot be added ahead), for
#     lvlm_torch and what links it (CMakeLists.txt); the torch-free targets never see torch's fmt.
if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt" AND TARGET fmt::fmt)
  get_target_property(_lvlm_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  list(GET _lvlm_fmt_inc 0 _lvlm_fmt_inc)
  if(EXISTS "${_lvlm_fmt_inc}/fmt/core.h" AND NOT _lvlm_fmt_inc STREQUAL "${TORCH_INSTALL_PREFIX}/include")
    file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/fmt-first")
    file(CREATE_LINK "${_lvlm_fmt_inc}/fmt" "${CMAKE_BINARY_DIR}/fmt-first/fmt" SYMBOLIC)
    set(LVLM_FMT_FIRST_DIR "${CMAKE_BINARY_DIR}/fmt-first")
  endif()
endif()
