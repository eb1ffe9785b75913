// Flags shared by every command that probes (run, demo, batch, bench), declared once.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "lvlm_probe/probe.h"

namespace lvlm::cli {

struct ProbeFlags {
  SessionOptions session;
  ProbeRequest request;
  std::string input_ids, lens = "norm", js = "jsd", stages = "auto", skip_layers, skip, stage_config;
  std::string positions = "last", final_norm_step = "exclude";
  int critical_layer = 0;
};

// Model-independent flags (lens, stages, decoding, device). Not --model/--image/--prompt.
void add_probe_flags(CLI::App& sub, ProbeFlags& f);
// Turns the strings into the request's enums and lists; UsageError on bad values.
void finish_probe_flags(ProbeFlags& f);
// Prints the answer on stdout (unless it carries JSON) and a one-line stage summary on stderr.
void print_summary(const ProbeResult& result, const std::string& report_path);

}  // namespace lvlm::cli
