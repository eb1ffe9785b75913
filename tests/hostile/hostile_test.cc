// Hostile inputs, table-driven (docs/hardening.md): every row builds a broken input at test time in a fresh
// temp dir, runs the real lvlm-probe binary, and checks the error contract of docs/hardening.md:
//   - the expected exit code (2 usage, 3 bad input, 4 runtime), never a crash or a signal;
//   - one error line on stderr, naming the file (or flag) and the problem;
//   - no output left behind: the output directory holds no report, page, nor temp file.
#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "fifo_util.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

// One row's scratch space: `dir` for broken inputs, `out_dir` (empty before the run) for outputs.
struct Scratch {
  test::TempDir dir;
  std::string out_dir = dir.file("out");
  std::string out = out_dir + "/r.json";
  std::vector<std::unique_ptr<test::Fifo>> fifos;  // destroyed (writers released) before `dir`
  Scratch() { fs::create_directory(out_dir); }

  // A writable copy of the tiny fixture model.
  std::string model() {
    const std::string to = dir.file("model");
    if (!fs::exists(to)) {
      fs::copy(test::tiny_model(), to, fs::copy_options::recursive);
      for (auto& e : fs::directory_iterator(to))
        fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    }
    return to;
  }
  std::string put(const std::string& name, const std::string& bytes) {
    std::ofstream(dir.file(name), std::ios::binary | std::ios::trunc) << bytes;
    return dir.file(name);
  }
};

std::string q(const std::string& s) { return "'" + s + "'"; }

// Replaces `path` by a FIFO that would feed its old bytes (or `{}`) to a reader that opened it.
std::string fifo_in_place_of(Scratch& s, const std::string& path) {
  const std::string bytes = fs::exists(path) ? read_file(path) : "{}";
  fs::remove(path);
  s.fifos.push_back(std::make_unique<test::Fifo>(path, bytes));
  return path;
}

// The tiny model with `name` in it replaced by a FIFO; returns the FIFO's path.
std::string model_fifo(Scratch& s, const std::string& name) { return fifo_in_place_of(s, s.model() + "/" + name); }

// A copy of the fixture whose float32 weights named `name` ("" = all of them) hold NaN: the first
// element of that tensor, or every element of every tensor.
std::string model_with_nan(Scratch& s, const std::string& name) {
  const std::string m = s.model(), file = m + "/model.safetensors";
  std::string bytes = read_file(file);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  const char nan[4] = {0x00, 0x00, char(0xc0), 0x7f};  // quiet NaN, little-endian float32
  bool found = false;
  for (const TensorEntry& e : parse_safetensors_header(std::string_view(bytes).substr(8, n), bytes.size() - 8 - n, file)) {
    if (!name.empty() && e.name != name) continue;
    if (e.dtype != DType::F32) throw std::runtime_error("fixture tensor " + e.name + " is not F32");
    const uint64_t end = name.empty() ? e.end : e.begin + 4;
    for (uint64_t at = e.begin; at < end; at += 4) bytes.replace(8 + n + at, 4, nan, 4);
    found = true;
  }
  if (!found) throw std::runtime_error("fixture lacks tensor " + name);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  return m;
}

std::string model_with_preprocessor(Scratch& s, const std::function<void(Json&)>& edit) {
  const std::string m = s.model();
  Json c = read_json_file(m + "/preprocessor_config.json");
  edit(c);
  std::ofstream(m + "/preprocessor_config.json", std::ios::trunc) << c.dump();
  return m;
}

// A binary PGM of width x height, all grey.
std::string pgm(int width, int height) {
  return "P5\n" + std::to_string(width) + " " + std::to_string(height) + "\n255\n" +
         std::string(static_cast<size_t>(width) * static_cast<size_t>(height), '\x80');
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file with the given header text and `data_bytes` zero bytes of data.
std::string safetensors(const std::string& header, size_t data_bytes) {
  return u64le(header.size()) + header + std::string(data_bytes, '\0');
}

// Replaces the fixture's model.safetensors with `bytes`; returns the model dir.
std::string model_with_weights(Scratch& s, const std::string& bytes) {
  const std::string m = s.model();
  std::ofstream(m + "/model.safetensors", std::ios::binary | std::ios::trunc) << bytes;
  return m;
}

// Same-length edit of the fixture's safetensors header text.
std::string model_with_header_edit(Scratch& s, const std::string& from, const std::string& to) {
  const std::string m = s.model(), file = m + "/model.safetensors";
  std::string bytes = read_file(file);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  std::string header = bytes.substr(8, n);
  const size_t at = header.find(from);
  if (at == std::string::npos) throw std::runtime_error("fixture header lacks " + from);
  header.replace(at, from.size(), to);
  header.resize(n, ' ');
  bytes.replace(8, n, header);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  return m;
}

std::string model_with_config(Scratch& s, const std::function<void(Json&)>& edit) {
  const std::string m = s.model();
  Json c = read_json_file(m + "/config.json");
  edit(c);
  std::ofstream(m + "/config.json", std::ios::trunc) << c.dump();
  return m;
}

std::string model_with_config_text(Scratch& s, const std::string& text) {
  const std::string m = s.model();
  std::ofstream(m + "/config.json", std::ios::trunc) << text;
  return m;
}

// A batch run directory `name` holding exactly this run.json and index.jsonl.
std::string run_dir_with(Scratch& s, const std::string& name, const std::string& run_json, const std::string& index) {
  const std::string d = s.dir.file(name);
  fs::create_directory(d);
  std::ofstream(d + "/run.json") << run_json;
  std::ofstream(d + "/index.jsonl") << index;
  return d;
}

std::string aggregate_command(Scratch& s, const std::string& run_dir) {
  return "aggregate " + q(run_dir) + " --out " + q(s.out_dir + "/s.json");
}

// PNG with a valid IHDR claiming width x height (CRCs correct, so only the size is wrong).
uint32_t crc32(const std::string& b) {
  uint32_t c = 0xffffffffu;
  for (unsigned char ch : b) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}
std::string be32(uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}
std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}
std::string png_claiming(uint32_t width, uint32_t height) {
  const std::string ihdr = be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  const std::string empty_zlib("\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", empty_zlib) +
         png_chunk("IEND", "");
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A valid report from the fixture, edited.
std::string report_with(Scratch& s, const std::function<void(Json&)>& edit) {
  Json r = read_json_file(test::data_path("reports/demo-report.json"));
  edit(r);
  return s.put("edited.json", r.dump());
}

const std::string kIds = " --input-ids 1,11,45,510,13,87 --max-new-tokens 2";

std::string run(const std::string& model, const std::string& image, const std::string& out,
                const std::string& extra = kIds) {
  return "run --model " + q(model) + " --image " + q(image) + extra + " --out " + q(out) + " --html " +
         q(out.substr(0, out.size() - 5) + ".html");
}
std::string run_model(Scratch& s, const std::string& model) { return run(model, test::tiny_model() + "/test.png", s.out); }
std::string run_image(Scratch& s, const std::string& image) { return run(test::tiny_model(), image, s.out); }
std::string check(const std::string& baseline, const std::string& candidate) {
  return "check --baseline " + q(baseline) + " --candidate " + q(candidate);
}
std::string render(const std::string& report, const std::string& out) { return "render " + q(report) + " --out " + q(out); }

struct Invocation {
  std::string args;
  std::string names;  // the file (or flag) the error line must name
};

struct Row {
  std::string name;
  std::function<Invocation(Scratch&)> make;
  int code;
  std::string fragment;  // the problem, as the error line states it
};

const std::string kDemo = test::data_path("reports/demo-report.json");

std::vector<Row> rows() {
  const std::string odd = test::data_path("images/odd/");
  return {
      // --- safetensors: the header and its byte ranges -------------------------------------
      {"safetensors shorter than its length prefix",
       [](Scratch& s) { auto m = model_with_weights(s, std::string("\x10\x00\x00", 3)); return Invocation{run_model(s, m), m + "/model.safetensors"}; },
       3, "too short for a safetensors file (3 bytes)"},
      {"header length past the end of the file",
       [](Scratch& s) { auto m = model_with_weights(s, u64le(4096) + "{}"); return Invocation{run_model(s, m), m + "/model.safetensors"}; },
       3, "runs past the end of the 10-byte file"},
      {"header length over the 100 MB cap",
       [](Scratch& s) { auto m = model_with_weights(s, u64le(1ull << 40) + "{}"); return Invocation{run_model(s, m), m + "/model.safetensors"}; },
       3, "exceeds 100 MB"},
      {"header is not JSON",
       [](Scratch& s) { auto m = model_with_weights(s, safetensors("\x01\x02garbage{", 0)); return Invocation{run_model(s, m), m + "/model.safetensors"}; },
       3, "safetensors header: invalid JSON"},
      {"header nested deeper than the cap",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors("{\"__metadata__\":" + nested(5000) + "}", 0));
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "JSON nested deeper than 8 levels"},
      {"data section truncated",
       [](Scratch& s) {
         auto m = s.model();
         fs::resize_file(m + "/model.safetensors", fs::file_size(m + "/model.safetensors") - 100);
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "(truncated file?)"},
      {"overlapping byte ranges",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12));
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "overlaps another tensor's bytes"},
      {"bytes belonging to no tensor",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16));
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "bytes 0..8 of the data section belong to no tensor"},
      {"shape product overflows 64 bits",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors(R"({"x":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8));
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "shape [4294967296,4294967296] overflows"},
      {"shape disagrees with its byte range",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})", 8));
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "8 bytes for dtype F32 and shape [4], expected 16"},
      {"negative dimension",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8));
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "shape: expected a non-negative integer"},
      {"unknown dtype",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors(R"({"x":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}})", 8));
         return Invocation{run_model(s, m), m + "/model.safetensors"};
       },
       3, "unknown dtype 'Q4_K'"},
      {"weight dtype the model cannot use",
       [](Scratch& s) {
         auto m = model_with_header_edit(s, R"("language_model.model.norm.weight":{"dtype":"F32")",
                                         R"("language_model.model.norm.weight":{"dtype":"I32")");
         return Invocation{run_model(s, m), m + ": 1 problem with the weights"};
       },
       3, "has dtype I32, expected F32, F16 or BF16"},
      {"weight shape against config.json",
       [](Scratch& s) {
         auto m = model_with_config(s, [](Json& c) { c["text_config"]["intermediate_size"] = 100; });
         return Invocation{run_model(s, m), m + ": 12 problems with the weights"};
       },
       3, "has shape [128, 64], expected [100, 64] from config.json"},
      {"shard index escaping the model directory",
       [](Scratch& s) {
         auto m = s.model();
         fs::remove(m + "/model.safetensors");
         std::ofstream(m + "/model.safetensors.index.json") << R"({"weight_map":{"a":"../../etc/passwd"}})";
         return Invocation{run_model(s, m), m + "/model.safetensors.index.json"};
       },
       3, "is not a file in the model directory"},
      {"no weights at all",
       [](Scratch& s) { auto m = s.model(); fs::remove(m + "/model.safetensors"); return Invocation{run_model(s, m), m}; },
       3, "no model.safetensors or model.safetensors.index.json"},
      {"weights that cannot fit in memory",
       [](Scratch& s) {
         // 512 GiB of bfloat16 in a sparse file (nothing written): their float32 copies, 1 TiB, fit
         // no test machine, and the run must stop before loading instead of being killed.
         std::string header = R"({"x":{"dtype":"BF16","shape":[274877906944],"data_offsets":[0,549755813888]}})";
         header.resize((header.size() + 7) / 8 * 8, ' ');  // aligned data, as writers pad it: mapped in bf16
         auto m = model_with_weights(s, safetensors(header, 0));
         fs::resize_file(m + "/model.safetensors", 8 + header.size() + (uint64_t{1} << 39));
         return Invocation{run_model(s, m), m + ": the weights (BF16 on disk) take 1024.00 GiB of memory as f32"};
       },
       4, "instead, --dtype bf16"},
      {"inspect on a lying header",
       [](Scratch& s) {
         auto m = model_with_weights(s, safetensors(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
         return Invocation{"inspect --model " + q(m), m + "/model.safetensors"};
       },
       3, "(truncated file?)"},
      // --- config.json -----------------------------------------------------------------------
      {"config.json missing",
       [](Scratch& s) { auto m = s.model(); fs::remove(m + "/config.json"); return Invocation{run_model(s, m), m + "/config.json"}; },
       3, "missing (not a Hugging Face model directory?)"},
      {"config.json is not JSON",
       [](Scratch& s) { auto m = model_with_config_text(s, "{\"text_config\": {"); return Invocation{run_model(s, m), m + "/config.json"}; },
       3, "invalid JSON"},
      {"config.json nested 100000 deep",
       [](Scratch& s) { auto m = model_with_config_text(s, nested(100000)); return Invocation{run_model(s, m), m + "/config.json"}; },
       3, "JSON nested deeper than 64 levels"},
      {"config.json is an array",
       [](Scratch& s) { auto m = model_with_config_text(s, "[1, 2, 3]"); return Invocation{run_model(s, m), m + "/config.json"}; },
       3, "config.json"},
      {"unknown architecture",
       [](Scratch& s) {
         auto m = model_with_config_text(s, R"({"architectures": ["GPT2LMHeadModel"]})");
         return Invocation{run_model(s, m), m + "/config.json"};
       },
       3, "architecture 'GPT2LMHeadModel' is not supported"},
      {"absurd hidden size",
       [](Scratch& s) {
         auto m = model_with_config(s, [](Json& c) { c["text_config"]["hidden_size"] = 1ull << 40; });
         return Invocation{run_model(s, m), m + "/config.json"};
       },
       3, "key 'hidden_size': 1099511627776 is out of range"},
      {"two billion layers (used to loop and grow without end)",
       [](Scratch& s) {
         auto m = model_with_config(s, [](Json& c) { c["text_config"]["num_hidden_layers"] = 2000000000; });
         return Invocation{run_model(s, m), m + "/config.json"};
       },
       3, "text_config.num_hidden_layers = 2000000000 is above the limit of 1024"},
      {"two billion hidden size (used to allocate without end)",
       [](Scratch& s) {
         auto m = model_with_config(s, [](Json& c) { c["text_config"]["hidden_size"] = 2000000000; });
         return Invocation{run_model(s, m), m + "/config.json"};
       },
       3, "text_config.hidden_size = 2000000000 is above the limit of 65536"},
      {"zero attention heads",
       [](Scratch& s) {
         auto m = model_with_config(s, [](Json& c) { c["text_config"]["num_attention_heads"] = 0; });
         return Invocation{run_model(s, m), m + "/config.json"};
       },
       3, "key 'num_attention_heads' must be positive, found 0"},
      // --- images ----------------------------------------------------------------------------
      {"not an image",
       [](Scratch& s) { auto f = s.put("notes.png", "this is not an image\n"); return Invocation{run_image(s, f), f}; },
       3, "cannot identify image file"},
      {"empty image file",
       [](Scratch& s) { auto f = s.put("empty.jpg", ""); return Invocation{run_image(s, f), f}; },
       3, "empty file, expected an image"},
      {"truncated PNG",
       [odd](Scratch& s) { return Invocation{run_image(s, odd + "png_truncated.png"), odd + "png_truncated.png"}; },
       3, "image file is truncated"},
      {"PNG bomb 100000x100000",
       [](Scratch& s) { auto f = s.put("bomb.png", png_claiming(100000, 100000)); return Invocation{run_image(s, f), f}; },
       3, "exceeds the limit of 178956970 pixels (decompression bomb?)"},
      {"JPEG bomb 65000x65000",
       [odd](Scratch& s) { return Invocation{run_image(s, odd + "jpeg_bomb.jpg"), odd + "jpeg_bomb.jpg"}; },
       3, "(decompression bomb?)"},
      {"GIF bomb 65001x65001",
       [odd](Scratch& s) { return Invocation{run_image(s, odd + "gif_bomb.gif"), odd + "gif_bomb.gif"}; },
       3, "(decompression bomb?)"},
      {"PNG of width 0",
       [](Scratch& s) { auto f = s.put("w0.png", png_claiming(0, 16)); return Invocation{run_image(s, f), f}; },
       3, "image has no pixels (0x16)"},
      {"PPM of 0x0",
       [](Scratch& s) { auto f = s.put("z.ppm", "P6\n0 0\n255\n"); return Invocation{run_image(s, f), f}; },
       3, "image has no pixels (0x0)"},
      {"image path is a directory",
       [](Scratch& s) { return Invocation{run_image(s, s.dir.path()), s.dir.path()}; },
       3, "is a directory, expected a file"},
      {"image missing",
       [](Scratch& s) { auto f = s.dir.file("absent.png"); return Invocation{run_image(s, f), f}; },
       3, "cannot open: No such file or directory"},
      {"unsupported format (WebP)",
       [](Scratch& s) { auto f = s.put("x.webp", std::string("RIFF\x10\0\0\0WEBPVP8L", 16)); return Invocation{run_image(s, f), f}; },
       3, "unsupported image format WEBP"},
      // --- inputs that are not regular files: refused without blocking -----------------------
      {"image is a FIFO",
       [](Scratch& s) { auto f = fifo_in_place_of(s, s.dir.file("img.png")); return Invocation{run_image(s, f), f}; },
       3, "not a regular file (fifo)"},
      {"image is /dev/zero",
       [](Scratch& s) { return Invocation{run_image(s, "/dev/zero"), "/dev/zero"}; },
       3, "not a regular file (character device)"},
      {"image is a sparse 1.5 GiB file (used to be read whole for its SHA-256)",
       [](Scratch& s) {
         auto f = s.put("huge.png", std::string("\x89PNG\r\n\x1a\n", 8));
         fs::resize_file(f, 1536ull << 20);
         return Invocation{run_image(s, f), f};
       },
       3, "file of 1610612736 bytes exceeds the limit of 1073741824 bytes"},
      {"config.json is a FIFO",
       [](Scratch& s) { auto f = model_fifo(s, "config.json"); return Invocation{run_model(s, s.model()), f}; },
       3, "not a regular file (fifo)"},
      {"generation_config.json is a FIFO",
       [](Scratch& s) { auto f = model_fifo(s, "generation_config.json"); return Invocation{run_model(s, s.model()), f}; },
       3, "not a regular file (fifo)"},
      {"preprocessor_config.json is a FIFO",
       [](Scratch& s) { auto f = model_fifo(s, "preprocessor_config.json"); return Invocation{run_model(s, s.model()), f}; },
       3, "not a regular file (fifo)"},
      {"tokenizer.model is a FIFO",
       [](Scratch& s) { auto f = model_fifo(s, "tokenizer.model"); return Invocation{run_model(s, s.model()), f}; },
       3, "not a regular file (fifo)"},
      {"safetensors shard is a FIFO",
       [](Scratch& s) { auto f = model_fifo(s, "model.safetensors"); return Invocation{run_model(s, s.model()), f}; },
       3, "not a regular file (fifo)"},
      {"shard index is a FIFO",
       [](Scratch& s) { auto f = model_fifo(s, "model.safetensors.index.json"); return Invocation{run_model(s, s.model()), f}; },
       3, "not a regular file (fifo)"},
      {"check: baseline is a FIFO",
       [](Scratch& s) { auto f = fifo_in_place_of(s, s.dir.file("base.json")); return Invocation{check(f, kDemo), f}; },
       3, "not a regular file (fifo)"},
      // --- preprocessing geometry: bounded before anything is allocated -----------------------
      {"shortest_edge 16384 (a 268 M-pixel resize of any image)",
       [](Scratch& s) {
         auto m = model_with_preprocessor(s, [](Json& c) { c["size"] = {{"shortest_edge", 16384}}; });
         return Invocation{run_model(s, m), m + "/preprocessor_config.json"};
       },
       3, "key 'size.shortest_edge': every image would become at least 16384x16384 (268435456 pixels), above the limit"},
      {"shortest_edge 100000",
       [](Scratch& s) {
         auto m = model_with_preprocessor(s, [](Json& c) { c["size"] = {{"shortest_edge", 100000}}; });
         return Invocation{run_model(s, m), m + "/preprocessor_config.json"};
       },
       3, "expected a positive integer up to 16384 (pixels), found 100000"},
      {"do_resize and do_center_crop both false",
       [](Scratch& s) {
         auto m = model_with_preprocessor(s, [](Json& c) { c["do_resize"] = false; c["do_center_crop"] = false; });
         return Invocation{run_model(s, m), m + "/preprocessor_config.json"};
       },
       3, "do_resize and do_center_crop are both false: images would reach the vision tower at their own size"},
      {"a 1x5600000 strip resized to a shortest edge of 32",
       [](Scratch& s) {
         auto f = s.put("strip.pgm", pgm(1, 5600000));
         return Invocation{"preprocess --model " + q(test::tiny_model()) + " --image " + q(f) + " --out " +
                               q(s.out_dir + "/p.safetensors"), f};
       },
       3, "would make a 32x179200000 image"},
      {"--pad-square of a 1x13400 strip",
       [](Scratch& s) {
         auto f = s.put("strip.pgm", pgm(1, 13400));
         return Invocation{"preprocess --pad-square --model " + q(test::tiny_model()) + " --image " + q(f) + " --out " +
                               q(s.out_dir + "/p.safetensors"), f};
       },
       3, "--pad-square would make a 13400x13400 image (179560000 pixels), above the limit of 178956970 pixels"},
      {"make-model --layers 0",
       [](Scratch& s) { return Invocation{"make-model --layers 0 --out " + q(s.out_dir + "/m"), "--layers"}; },
       2, "Value 0 not in range 1 to 1024"},
      {"make-model of 70 TB",
       [](Scratch& s) { return Invocation{"make-model --hidden 65536 --layers 1024 --out " + q(s.out_dir + "/m"), "make-model"}; },
       2, "above the limit of 16.00 GiB; pass --allow-large"},
      {"make-model --allow-large beyond the free disk space",
       [](Scratch& s) {
         return Invocation{"make-model --allow-large --hidden 65536 --layers 1024 --out " + q(s.out_dir + "/m"), s.out_dir + "/m"};
       },
       4, "free"},
      // --- non-finite numbers: refused where they first appear -------------------------------
      {"one NaN weight in block 1",
       [](Scratch& s) {
         auto m = model_with_nan(s, "language_model.model.layers.1.mlp.down_proj.weight");
         return Invocation{run_model(s, m), m + ": non-finite values"};
       },
       3, "first appear in the hidden state of layer 2 at step 0 (position 0), made by language_model.model.layers.1.*"},
      {"every weight NaN",
       [](Scratch& s) { auto m = model_with_nan(s, ""); return Invocation{run_model(s, m), m + ": non-finite values"}; },
       3, "hidden state of layer 0 at step 0 (position 0), made by language_model.model.embed_tokens.weight, "
          "multi_modal_projector.*, vision_tower.vision_model.*"},
      {"NaN in the final norm",
       [](Scratch& s) {
         auto m = model_with_nan(s, "language_model.model.norm.weight");
         return Invocation{run_model(s, m), m + ": the lens distribution of layer 0 at step 0"};
       },
       3, "is not finite although its hidden state is: made by language_model.model.norm.weight, "},
      {"NaN in the final norm, read by no lens (--lens raw)",
       [](Scratch& s) {
         auto m = model_with_nan(s, "language_model.model.norm.weight");
         return Invocation{run(m, test::tiny_model() + "/test.png", s.out, kIds + " --lens raw"), m + ": the output logits"};
       },
       3, "are not finite (NaN or Inf); from finite hidden states they are made by language_model.model.norm.weight, "},
      // --- prompt and generation bounds ------------------------------------------------------
      {"prompt longer than max_position_embeddings",
       [](Scratch& s) {
         std::string words;
         for (int i = 0; i < 400; ++i) words += "word ";
         return Invocation{run(test::tiny_model(), test::tiny_model() + "/test.png", s.out, " --prompt '" + words + "'"),
                           "max_position_embeddings"};
       },
       2, "new tokens exceeds the model's 256 positions"},
      {"prompt plus --max-new-tokens past the positions",
       [](Scratch& s) {
         return Invocation{run(test::tiny_model(), test::tiny_model() + "/test.png", s.out, " --prompt hi --max-new-tokens 250"),
                           "max_position_embeddings"};
       },
       2, "plus 250 new tokens exceeds the model's 256 positions"},
      {"--max-new-tokens 0",
       [](Scratch& s) { return Invocation{run(test::tiny_model(), test::tiny_model() + "/test.png", s.out, " --prompt hi --max-new-tokens 0"), "--max-new-tokens"}; },
       2, "Value 0 not in range 1 to 4096"},
      {"--max-new-tokens a million",
       [](Scratch& s) { return Invocation{run(test::tiny_model(), test::tiny_model() + "/test.png", s.out, " --prompt hi --max-new-tokens 1000000"), "--max-new-tokens"}; },
       2, "not in range 1 to 4096"},
      {"--max-new-tokens not a number",
       [](Scratch& s) { return Invocation{run(test::tiny_model(), test::tiny_model() + "/test.png", s.out, " --prompt hi --max-new-tokens -1e99"), "--max-new-tokens"}; },
       2, "not in range"},
      {"--input-ids out of the vocabulary",
       [](Scratch& s) { return Invocation{run(test::tiny_model(), test::tiny_model() + "/test.png", s.out, " --input-ids 1,510,99999 --max-new-tokens 1"), "token id 99999"}; },
       2, "is outside the vocabulary of 512"},
      // --- reports read back: check and render -----------------------------------------------
      {"check: baseline is malformed JSON",
       [](Scratch& s) { auto f = s.put("base.json", R"({"schema": "lvlm-probe/report/1", "tokens": [)"); return Invocation{check(f, kDemo), f}; },
       3, "invalid JSON"},
      {"check: candidate of a future schema",
       [](Scratch& s) { auto f = report_with(s, [](Json& r) { r["schema"] = "lvlm-probe/report/9"; }); return Invocation{check(kDemo, f), f}; },
       3, "report schema lvlm-probe/report/9 is not supported"},
      {"check: not a report at all",
       [](Scratch& s) { auto f = s.put("pkg.json", R"({"name": "left-pad", "version": "1.3.0"})"); return Invocation{check(f, kDemo), f}; },
       3, "not an lvlm-probe report: missing 'schema'"},
      {"check: tokens missing",
       [](Scratch& s) { auto f = report_with(s, [](Json& r) { r.erase("tokens"); }); return Invocation{check(kDemo, f), f}; },
       3, "missing 'tokens'"},
      {"check: layer arrays of the wrong length",
       [](Scratch& s) { auto f = report_with(s, [](Json& r) { r["tokens"][0]["entropy"] = Json::array({1.0}); }); return Invocation{check(kDemo, f), f}; },
       3, "tokens[0].entropy must have num_layers + 1"},
      {"check: num_layers is a string",
       [](Scratch& s) { auto f = report_with(s, [](Json& r) { r["model"]["num_layers"] = "32"; }); return Invocation{check(f, kDemo), f}; },
       3, "model.num_layers must be a positive integer"},
      {"check: nested 100000 deep",
       [](Scratch& s) { auto f = s.put("deep.json", nested(100000)); return Invocation{check(f, kDemo), f}; },
       3, "JSON nested deeper than 64 levels"},
      {"check: baseline is /dev/zero (endless)",
       [](Scratch&) { return Invocation{check("/dev/zero", kDemo), "/dev/zero"}; },
       3, "not a regular file (character device)"},
      {"check: baseline is a directory",
       [](Scratch& s) { return Invocation{check(s.dir.path(), kDemo), s.dir.path()}; },
       3, "is a directory, expected a file"},
      {"render: empty file",
       [](Scratch& s) { auto f = s.put("empty.json", ""); return Invocation{render(f, s.out_dir + "/p.html"), f}; },
       3, "invalid JSON"},
      {"render: wrong schema",
       [](Scratch& s) { auto f = s.put("x.json", R"({"schema": "lvlm-probe/report/0"})"); return Invocation{render(f, s.out_dir + "/p.html"), f}; },
       3, "lvlm-probe/report/0"},
      {"render: schema is a number (used to escape as a JSON type error, exit 4)",
       [](Scratch& s) { auto f = s.put("n.json", R"({"schema": 5})"); return Invocation{render(f, s.out_dir + "/p.html"), f}; },
       3, "schema is 5"},
      {"render: summary of a future schema",
       [](Scratch& s) { auto f = s.put("sum.json", R"({"schema": "lvlm-probe/summary/7"})"); return Invocation{render(f, s.out_dir + "/p.html"), f}; },
       3, "lvlm-probe/summary/7"},
      {"render: report with a non-number in a layer array",
       [](Scratch& s) {
         auto f = report_with(s, [](Json& r) { r["tokens"][1]["p_token"][2] = "high"; });
         return Invocation{render(f, s.out_dir + "/p.html"), f};
       },
       3, "tokens[1].p_token holds a non-number"},
      // --- aggregate (batch run directories) ----------------------------------------------------
      {"aggregate: run directory missing",
       [](Scratch& s) { auto d = s.dir.file("no-run"); return Invocation{aggregate_command(s, d), d}; },
       3, "not a directory (expected a batch run directory)"},
      {"aggregate: torn index line",
       [](Scratch& s) {
         auto d = run_dir_with(s, "run", R"({"schema": "lvlm-probe/run/1", "settings": {}})", "{\"id\": \n");
         return Invocation{aggregate_command(s, d), d + "/index.jsonl:1"};
       },
       3, "invalid JSON"},
      {"aggregate: run directory of another schema version",
       [](Scratch& s) {
         auto d = run_dir_with(s, "run2", R"({"schema": "lvlm-probe/run/9", "settings": {}})", "");
         return Invocation{aggregate_command(s, d), d + "/run.json"};
       },
       3, "schema lvlm-probe/run/9, expected lvlm-probe/run/1"},
      {"aggregate: index line's report climbs out of the run directory",
       [](Scratch& s) {
         auto d = run_dir_with(s, "run3", R"({"schema": "lvlm-probe/run/1", "settings": {}})",
                               R"({"id": "1", "status": "ok", "report": "../../x.json"})" "\n");
         return Invocation{aggregate_command(s, d), d + "/index.jsonl:1"};
       },
       3, "outside the run directory"},
      {"aggregate: index line's report is an absolute path",
       [](Scratch& s) {
         auto d = run_dir_with(s, "run4", R"({"schema": "lvlm-probe/run/1", "settings": {}})",
                               R"({"id": "1", "status": "ok", "report": "/etc/passwd"})" "\n");
         return Invocation{aggregate_command(s, d), d + "/index.jsonl:1"};
       },
       3, "outside the run directory"},
      {"aggregate: one run directory named twice",
       [](Scratch& s) {
         auto d = run_dir_with(s, "run5", R"({"schema": "lvlm-probe/run/1", "settings": {}})", "");
         return Invocation{aggregate_command(s, d) + " " + q(d + "/"), d};
       },
       2, "the same run directory"},
      // --- outputs ---------------------------------------------------------------------------
      {"run --out into a missing directory",
       [](Scratch& s) {
         return Invocation{"run --model " + q(test::tiny_model()) + " --image " + q(test::tiny_model() + "/test.png") + kIds +
                               " --out " + q(s.out_dir + "/missing/r.json"),
                           s.out_dir + "/missing/r.json"};
       },
       3, "cannot be written: directory"},  // refused before the model runs
      {"render --out into a missing directory",
       [](Scratch& s) { return Invocation{render(kDemo, s.out_dir + "/missing/p.html"), s.out_dir + "/missing/p.html"}; },
       3, "cannot be written: directory"},  // the same check as run's, before any work
      {"preprocess --out onto a directory",
       [](Scratch& s) {
         fs::create_directory(s.out_dir + "/taken.safetensors");
         return Invocation{"preprocess --model " + q(test::tiny_model()) + " --image " + q(test::tiny_model() + "/test.png") +
                               " --out " + q(s.out_dir + "/taken.safetensors"),
                           s.out_dir + "/taken.safetensors"};
       },
       2, "--out names a directory, not a regular file; refusing to replace it"},
      // --- outputs that are not regular files, or that are another output or an input ----------
      {"render --out ''",
       [](Scratch&) { return Invocation{render(kDemo, ""), "--out"}; },
       2, "--out: the path is empty"},
      {"render --out onto a FIFO",
       [](Scratch& s) {
         ::mkfifo((s.out_dir + "/fifo").c_str(), 0600);
         return Invocation{render(kDemo, s.out_dir + "/fifo"), s.out_dir + "/fifo"};
       },
       2, "--out names a FIFO, not a regular file; refusing to replace it (- writes to stdout)"},
      {"render --out onto a symbolic link",
       [](Scratch& s) {
         fs::create_symlink(s.put("victim.html", "keep"), s.out_dir + "/link.html");
         return Invocation{render(kDemo, s.out_dir + "/link.html"), s.out_dir + "/link.html"};
       },
       2, "--out names a symbolic link, not a regular file"},
      {"run --html onto a directory (refused before the report is written)",
       [](Scratch& s) {
         fs::create_directory(s.out_dir + "/page");
         return Invocation{"run --model " + q(test::tiny_model()) + " --image " + q(test::tiny_model() + "/test.png") + kIds +
                               " --out " + q(s.out) + " --html " + q(s.out_dir + "/page"),
                           s.out_dir + "/page"};
       },
       2, "--html names a directory"},
      {"run --out and --html the same file",
       [](Scratch& s) {
         return Invocation{"run --model " + q(test::tiny_model()) + " --image " + q(test::tiny_model() + "/test.png") + kIds +
                               " --out " + q(s.out) + " --html " + q(s.out_dir + "/./r.json"),
                           s.out_dir + "/./r.json"};
       },
       2, "--html is the same file as --out"},
      {"run --dump-features the same file as --out",
       [](Scratch& s) {
         return Invocation{"run --model " + q(test::tiny_model()) + " --image " + q(test::tiny_model() + "/test.png") + kIds +
                               " --out " + q(s.out) + " --dump-features " + q(s.out),
                           s.out};
       },
       2, "is the same file as"},
      {"run --out - --html -",
       [](Scratch&) {
         return Invocation{"run --model " + q(test::tiny_model()) + " --image " + q(test::tiny_model() + "/test.png") + kIds +
                               " --out - --html -",
                           "--html"};
       },
       2, "--out and --html both write to stdout"},
      {"run --out the image it reads",
       [](Scratch& s) {
         const std::string image = s.put("image.png", read_file(test::tiny_model() + "/test.png"));
         return Invocation{"run --model " + q(test::tiny_model()) + " --image " + q(image) + kIds + " --out " + q(image), image};
       },
       2, "--out is the same file as --image; an output may not replace an input"},
      {"render a report onto itself",
       [](Scratch& s) {
         const std::string report = s.out_dir + "/r.json";
         fs::copy_file(kDemo, report);
         return Invocation{render(report, report), report};
       },
       2, "--out is the same file as the input"},
      {"aggregate --out onto the index of the run it reads",
       [](Scratch& s) {
         auto d = run_dir_with(s, "run", R"({"schema": "lvlm-probe/run/1", "settings": {}})", "");
         return Invocation{"aggregate " + q(d) + " --out " + q(d + "/index.jsonl"), d + "/index.jsonl"};
       },
       2, "--out would replace a file of the run directory"},
  };
}

// Lines of stderr that report the failure: everything but warnings and CLI11's help hint.
std::vector<std::string> lines_besides_warnings(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.rfind("warning: ", 0) != 0 && line != "Run with --help for more information.")
      out.push_back(line);
  return out;
}

// Everything in `dir` (recursively) except what was there before.
std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// One gtest case per row (ctest runs them in parallel and names the row that fails).
class Hostile : public ::testing::TestWithParam<size_t> {};

TEST_P(Hostile, FailsAsListedAndLeavesNothingBehind) {
  const Row row = rows().at(GetParam());
  SCOPED_TRACE(row.name);
  Scratch s;
  const Invocation inv = row.make(s);
  const std::vector<std::string> before = listing(s.out_dir);
  const test::CliResult r = test::run_cli(inv.args);
  EXPECT_EQ(r.exit_code, row.code) << inv.args << "\nstderr: " << r.err;
  const auto lines = lines_besides_warnings(r.err);
  ASSERT_EQ(lines.size(), 1u) << "stderr: " << r.err;
  EXPECT_NE(lines[0].find(inv.names), std::string::npos) << "the error does not name " << inv.names << ": " << lines[0];
  EXPECT_NE(lines[0].find(row.fragment), std::string::npos) << "expected '" << row.fragment << "' in: " << lines[0];
  if (row.code == 3 || row.code == 4) EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << lines[0];
  EXPECT_TRUE(r.out.empty()) << "stdout: " << r.out;
  // No report, no page, no temp file: the output directory is as it was before the run.
  EXPECT_EQ(listing(s.out_dir), before);
}

std::string row_name(const ::testing::TestParamInfo<size_t>& info) {
  std::string name = std::to_string(info.param) + "_";
  const std::string title = rows().at(info.param).name;  // (not a range over a temporary's member)
  for (char c : title) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Table, Hostile, ::testing::Range<size_t>(0, rows().size()), row_name);

TEST(HostileTable, HasAtLeast25Rows) { EXPECT_GE(rows().size(), 25u); }

}  // namespace
}  // namespace lvlm
