#include "probe_flags.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "lvlm_probe/models.h"
#include "lvlm_probe/text.h"

namespace lvlm::cli {

void add_probe_flags(CLI::App& sub, ProbeFlags& f) {
  ProbeRequest& r = f.request;
  sub.add_option("--template", r.template_name,
                 "prompt template (default: the model family's); LLaVA: llava_v1 (its default), vicuna_v1, llava-hf, raw");
  sub.add_flag("--pad-square", r.pad_square, "pad the image to a square with the mean colour first (original LLaVA)");
  sub.add_option("--max-new-tokens", r.max_new_tokens, "greedy decoding stops after this many tokens or at EOS")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  sub.add_flag("!--no-eos-stop", r.stop_at_eos, "keep decoding past EOS up to --max-new-tokens");
  sub.add_option("--lens", f.lens, "norm: final norm at every layer; raw: none; hf: as the paper's scripts")
      ->capture_default_str()->check(CLI::IsMember({"norm", "raw", "hf"}));
  sub.add_option("--js", f.js, "jsd: Jensen-Shannon divergence; dola: the paper's heatmap formula")
      ->capture_default_str()->check(CLI::IsMember({"jsd", "dola"}));
  sub.add_option("--top-k", r.top_k, "top tokens kept per layer")->capture_default_str()->check(CLI::Range(1, 100));
  sub.add_option("--stages", f.stages, "auto: find the critical layer from the data; fixed: take it from "
                                       "--critical-layer or the model's file in configs/")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fixed"}));
  sub.add_option("--critical-layer", f.critical_layer, "critical layer for --stages fixed");
  add_input_option(&sub, "--stage-config", f.stage_config, "per-model stage file for --stages fixed (default: match in configs/)");
  sub.add_option("--final-norm-step", f.final_norm_step,
                 "--lens hf: exclude layer L (where only that lens applies the final norm) from the mutation search, "
                 "or include it")
      ->capture_default_str()->check(CLI::IsMember({"exclude", "include"}));
  sub.add_option("--skip-layers", f.skip_layers, "also run with these layers as identity, e.g. 19-30,32");
  sub.add_option("--skip", f.skip, "stabilization: also run with the layers (c, m) skipped")
      ->check(CLI::IsMember({"stabilization"}));
  sub.add_option("--positions", f.positions, "last: measure the predicting position of each generated token; "
                                             "image: also the lens at every image position of the prefill "
                                             "(report section image_positions); all: both, every prompt position "
                                             "(prompt_positions) and --attention")
      ->capture_default_str()->check(CLI::IsMember({"last", "image", "all"}));
  sub.add_flag("--attention", r.attention, "per generated token, layer and head: the attention mass on BOS, the "
                                           "image, the prompt text and the generated tokens (token key attention)");
  sub.add_option("--dtype", f.session.device.dtype, "compute dtype: auto (bf16 on CUDA, f32 on CPU), f32, bf16, f16 (f16 on the CPU needs libtorch 2)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "f32", "bf16", "f16"}));
  sub.add_option("--reduced-math", f.session.device.reduced_math,
                 "bf16 on the CPU: exact (libtorch's kernels, as transformers) or fast (float32 "
                 "products rounded once; ~30x faster on libtorch 1.13 without AVX-512, where exact is a scalar loop); "
                 "fast with f32 is refused")
      ->capture_default_str()->check(CLI::IsMember({"exact", "fast"}));
  sub.add_option("--device", f.session.device.device, "auto, cpu, cuda, cuda:N; cpu-generic: the CPU through ATen's generic kernels, as CUDA runs")->capture_default_str();
  sub.add_option("--threads", f.session.device.threads, "CPU threads (0 = every core of the affinity mask)")
      ->capture_default_str()->check(CLI::Range(0, 1024));
}

void finish_probe_flags(ProbeFlags& f) {
  ProbeRequest& r = f.request;
  r.lens = parse_lens_mode(f.lens);
  r.divergence = parse_divergence(f.js);
  if (!f.input_ids.empty()) r.input_ids = parse_input_ids(f.input_ids);
  if (!f.skip_layers.empty()) r.skip_layers = parse_int_list(f.skip_layers, "--skip-layers");
  r.skip_stabilization = f.skip == "stabilization";
  if (r.skip_stabilization && !r.skip_layers.empty())
    throw UsageError("--skip-layers and --skip stabilization do not go together: give one");
  r.prompt_positions = f.positions == "all";
  r.image_positions = f.positions == "image" || f.positions == "all";
  r.attention = r.attention || f.positions == "all";
  r.stages = stage_options_from_flags(f.stages, f.critical_layer, f.stage_config);
  r.stages.search_final_norm_step = f.final_norm_step == "include";
  r.stage_configs_dir = shipped_path("configs");
  if (const std::string w = slow_products_warning(f.session.device); !w.empty()) spdlog::warn("{}", w);
}

void print_summary(const ProbeResult& r, const std::string& report_path) {
  if (!stdout_is_output()) std::cout << r.text << std::endl;
  spdlog::info("{} tokens ({}); {}", r.token_ids.size(), r.stop_reason, stage_summary(r.stages));
  if (r.skip && !r.skip->note.empty()) spdlog::warn("--skip {}: {}", r.skip->mode, r.skip->note);
  if (r.skip && !r.skip->layers.empty())
    spdlog::info("skipping layers {}: {} (matching prefix {} of {})", int_list_text(r.skip->layers),
                 r.skip->identical ? "identical output" : "output differs", r.skip->matching_prefix,
                 r.token_ids.size());
  log_written("report", report_path);
}

}  // namespace lvlm::cli
