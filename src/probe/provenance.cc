#include "provenance.h"

#include <ATen/Context.h>
#include <ATen/Version.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

// The value of `key=` in libtorch's build description (at::show_config()), "" when absent.
std::string build_setting(const std::string& config, const std::string& key) {
  const size_t at = config.find(key + "=");
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size() + 1, end = config.find_first_of(",\n", begin);
  return config.substr(begin, end - begin);
}

// The first line of the build description naming oneDNN (MKL-DNN), trimmed.
std::string onednn_line(const std::string& config) {
  std::istringstream lines(config);
  std::string line;
  while (std::getline(lines, line))
    if (line.find("MKL-DNN") != std::string::npos || line.find("oneDNN") != std::string::npos) {
      line.erase(0, line.find_first_not_of(" -"));
      return line;
    }
  return "";
}

// /proc/cpuinfo's model name and the instruction-set flags that change reduced-precision results.
void read_cpu(std::string* kind, std::string* isa) {
  static const char* kIsa[] = {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
                               "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"};
  std::ifstream in("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(in, line)) {
    const std::string key = line.substr(0, line.find(':'));
    const std::string value = line.find(": ") == std::string::npos ? "" : line.substr(line.find(": ") + 2);
    if (kind->empty() && key.rfind("model name", 0) == 0) *kind = value;
    if (flags.empty() && key.rfind("flags", 0) == 0) flags = " " + value + " ";
  }
  for (const char* f : kIsa)
    if (flags.find(std::string(" ") + f + " ") != std::string::npos) *isa += (isa->empty() ? "" : " ") + std::string(f);
}

// SHA-256 over every *.safetensors file's name and header (length prefix and JSON), in name
// order: it changes with any tensor's name, dtype, shape or offset, without reading the weights.
std::string weight_headers_sha256(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  std::string headers;
  for (const std::string& name : files) {
    std::ifstream in(join_path(dir, name), std::ios::binary);
    unsigned char prefix[8] = {};
    if (!in.read(reinterpret_cast<char*>(prefix), 8)) continue;
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];
    if (n > (100u << 20)) continue;  // not a header a loader accepts
    std::string header(n, '\0');
    in.read(header.data(), static_cast<std::streamsize>(n));
    headers += name + '\0' + std::string(reinterpret_cast<char*>(prefix), 8) + header;
  }
  return files.empty() ? "" : sha256_hex(headers);
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

Provenance collect_provenance(const std::string& model_dir, const ModelInfo& model) {
  Provenance p;
  p.created = utc_now();
  p.libtorch = TORCH_VERSION;
  const std::string config = at::show_config();
  p.blas = build_setting(config, "BLAS_INFO");
  p.onednn = at::hasMKLDNN() ? onednn_line(config) : "";
  if (p.onednn.empty() && at::hasMKLDNN()) p.onednn = "yes";
  read_cpu(&p.cpu, &p.cpu_isa);
  p.device = model.device;
  const std::string config_json = join_path(model_dir, "config.json");
  p.config_sha256 = file_exists(config_json) ? sha256_hex(read_file(config_json)) : "";
  p.weights_header_sha256 = weight_headers_sha256(model_dir);
  return p;
}

}  // namespace lvlm
