// Every device-to-host read in the library goes through lvlm_probe/device_path.h's counting
// wrappers (to_host, host_int), so that the counts the generic-path tests assert are all there
// is. This reads the sources and fails on a raw .item(), .cpu(), .to(kCPU) or another call that
// makes the host wait for the device (equal, nonzero, allclose), naming file and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace lvlm {
namespace {

const std::regex& raw_sync() {
  static const std::regex r(
      R"(\.item\s*[<(]|\.cpu\s*\(|\.to\s*\(\s*((at|torch|c10)::)?(kCPU|Device\s*\(\s*((at|torch|c10)::)?(kCPU|DeviceType::CPU)|"cpu")|)"
      R"(_local_scalar_dense|\bat::equal\s*\(|\.equal\s*\(|\.nonzero\s*\(|\.is_nonzero\s*\(|allclose\s*\()");
  return r;
}

// "path:line: text" of every raw sync outside the wrapper's own file; comments are skipped.
std::vector<std::string> raw_syncs_in(const std::filesystem::path& root) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
    if (entry.path().filename() == "device_path.cc") continue;
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      const std::string code = line.substr(0, line.find("//"));
      if (std::regex_search(code, raw_sync())) found.push_back(entry.path().string() + ":" + std::to_string(number) + ": " + line);
    }
  }
  return found;
}

TEST(HostSyncLint, ThePatternCatchesEveryKindOfRawSync) {
  for (const char* line : {"x.item<int64_t>()", "x.item()", "t.cpu()", "t.to(at::kCPU)", "t.to(kCPU, at::kFloat)",
                           "t.to(torch::Device(torch::kCPU))", "t.to(\"cpu\")", "at::equal(a, b)", "a.equal(b)",
                           "m.nonzero()", "at::allclose(a, b)"})
    EXPECT_TRUE(std::regex_search(std::string(line), raw_sync())) << line;
  for (const char* line : {"j.items()", "to_host(t, SyncSite::lens)", "t.to(at::kFloat)", "t.to(device_, dtype_)",
                           "at::Device(at::kCPU)", "x.device().is_cpu()"})
    EXPECT_FALSE(std::regex_search(std::string(line), raw_sync())) << line;
}

TEST(HostSyncLint, TheLibraryReadsDeviceResultsOnlyThroughTheCountingWrappers) {
  std::vector<std::string> found;
  for (const char* dir : {"/src", "/include"})
    for (const auto& f : raw_syncs_in(std::string(LVLM_SOURCE_DIR) + dir)) found.push_back(f);
  std::string all;
  for (const auto& f : found) all += "\n  " + f;
  EXPECT_TRUE(found.empty()) << "use to_host() or host_int() (lvlm_probe/device_path.h) instead of:" << all;
}

}  // namespace
}  // namespace lvlm
