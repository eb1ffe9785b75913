// `lvlm-probe make-model`: a random-weight checkpoint of a family's shape for benchmarks and tests.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/make_model.h"
#include "lvlm_probe/model_config.h"

namespace lvlm::cli {

void add_make_model(CLI::App& app, Action& action) {
  auto o = std::make_shared<MakeModelOptions>();
  auto shard_mb = std::make_shared<uint64_t>(0);
  CLI::App* sub = app.add_subcommand("make-model", "write a random-weight checkpoint of a model family's shape (Hugging Face layout)");
  sub->add_option("--out", o->out_dir, "directory to write (created when missing)")->required();
  sub->add_option("--preset", o->preset, "LLaVA-1.5: tiny (the test fixture's shape), bench (the benchmark model of "
                                         "docs/performance.md), llava-1.5-7b-shape; Qwen: qwen2-vl-tiny, qwen2.5-vl-tiny (the "
                                         "fixtures' shapes), qwen2-vl-2b-shape, qwen2.5-vl-7b-shape (docs/models.md)")->capture_default_str()->check(CLI::IsMember(make_model_presets()));
  sub->add_option("--dtype", o->dtype, "stored dtype: f32, bf16, f16 (default: bf16 for the 7B shape, else f32)")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));
  sub->add_option("--seed", o->seed, "random seed; the same seed gives the same bytes")->capture_default_str();
  sub->add_option("--std", o->init_std, "standard deviation of the random matrices")->capture_default_str();
  add_input_option(sub, "--tokenizer", o->tokenizer, "tokenizer.model to copy (with the tokenizer JSON files beside it)");
  sub->add_option("--max-shard-mb", *shard_mb, "largest shard in MiB (default: half the model, at most 2048)");
  sub->add_flag("--tie-embeddings", o->tie_embeddings, "tie the LM head to the embeddings (LLaVA-1.5 does not)");
  sub->add_flag("--force", o->force, "overwrite a checkpoint already in --out");
  sub->add_flag("--allow-large", o->allow_large, "write a checkpoint above 16 GiB (refused otherwise, as a typo "
                                                 "in a size flag could fill the disk)");
  // Each size in 1..the limit config.json is held to, so that what is written can be read back.
  auto* geometry = sub->add_option_group("geometry", "override the preset (language model, then vision tower)");
  auto size = [geometry](const char* flag, int* field, const char* help, int max) {
    geometry->add_option(flag, *field, help)->check(CLI::Range(1, max));
  };
  size("--layers", &o->layers, "decoder layers", kMaxLayers);
  size("--hidden", &o->hidden, "hidden size", kMaxHidden);
  size("--intermediate", &o->intermediate, "MLP size", kMaxIntermediate);
  size("--heads", &o->heads, "attention heads", kMaxHeads);
  size("--kv-heads", &o->kv_heads, "key/value heads (grouped-query attention)", kMaxHeads);
  size("--vocab", &o->vocab, "vocabulary size", kMaxVocab);
  size("--max-positions", &o->max_positions, "max_position_embeddings", kMaxPositions);
  size("--vision-layers", &o->vision_layers, "vision tower layers", kMaxLayers);
  size("--vision-hidden", &o->vision_hidden, "vision tower hidden size", kMaxHidden);
  size("--vision-intermediate", &o->vision_intermediate, "vision tower MLP size", kMaxIntermediate);
  size("--vision-heads", &o->vision_heads, "vision tower attention heads", kMaxHeads);
  size("--image-size", &o->image_size, "input resolution in pixels", kMaxImageSize);
  size("--patch-size", &o->patch_size, "vision patch size in pixels", kMaxImageSize);
  sub->callback([&action, o, shard_mb] {
    action = [o, shard_mb] {
      o->max_shard_bytes = *shard_mb << 20;
      MadeModel m = make_model(*o);
      // Millions below a billion: the tiny presets would print "0.000 B".
      const bool billions = m.parameters >= 1e9;
      spdlog::info("{}: {:.3f} {} parameters, {:.2f} GiB {} in {} files; {}", o->out_dir,
                   m.parameters / (billions ? 1e9 : 1e6), billions ? "B" : "M", m.bytes / double(1ull << 30), m.dtype,
                   m.files.size(), m.summary);
      return 0;
    };
  });
}

}  // namespace lvlm::cli
