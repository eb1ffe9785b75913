# Run at every build (cmake -P): writes OUTPUT, the definition of lvlm::build_commit(), with the short
# hash of SOURCE_DIR's HEAD. file(CONFIGURE) leaves the file untouched when the hash has not changed,
# so nothing recompiles then.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT commit)
  set(commit "unknown")
endif()
file(CONFIGURE OUTPUT "${OUTPUT}" CONTENT "// Generated at build time by cmake/build_commit.cmake.
#include \"lvlm_probe/version.h\"

const char* lvlm::build_commit() { return \"${commit}\"; }
")
