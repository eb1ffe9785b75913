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
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)

message(STATUS "libtorch ${Torch_VERSION} from ${Torch_DIR}")

# Libraries the torch-free core links privately; one interface target so each module's
# CMakeLists need not repeat them.
add_library(lvlm_deps_core INTERFACE)
target_link_libraries(lvlm_deps_core INTERFACE spdlog::spdlog JPEG::JPEG PkgConfig::SENTENCEPIECE)
target_include_directories(lvlm_deps_core INTERFACE ${STB_INCLUDE_DIR})
