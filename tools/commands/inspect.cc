// `lvlm-probe inspect`: what a checkpoint holds and what it needs, without loading it.
#include <iostream>

#include "commands.h"
#include "lvlm_probe/family.h"

namespace lvlm::cli {

void add_inspect(CLI::App& app, Action& action) {
  struct Flags {
    std::string model;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("inspect", "describe a checkpoint: geometry, dtypes, parameters, memory");
  sub->add_option("--model", f->model, "Hugging Face model directory")->required();
  sub->add_flag("--json", f->json, "print JSON instead of a table");
  sub->callback([&action, f] {
    action = [f] {
      const ModelDescription d = family_of_model(f->model).describe(f->model);
      std::cout << (f->json ? d.json.dump(2) + "\n" : d.text);
      return 0;
    };
  });
}

}  // namespace lvlm::cli
