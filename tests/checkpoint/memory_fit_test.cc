#include <gtest/gtest.h>

#include "lvlm_probe/checkpoint.h"
#include "../test_util.h"

namespace lvlm {
namespace {

std::string runtime_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RuntimeFailure& e) {
    return e.what();
  }
  return "(no error)";
}

// The tiny fixture stores its 227,392 parameters in F32.
class WeightsFit : public ::testing::Test {
 protected:
  WeightStore store = WeightStore::open(test::tiny_model());
  const uint64_t n = store.parameter_count();
  const DtypeChoice f32{DType::F32, "--dtype f32"}, bf16{DType::BF16, "--dtype bf16"};
  std::string check(const DtypeChoice& compute, uint64_t room, const std::vector<DtypeChoice>& others) {
    return check_weights_fit(store, compute, MemoryRoom{room, "a test"}, others);
  }
};

TEST_F(WeightsFit, StoredDtypeIsMappedAnyOtherIsCopied) {
  ASSERT_EQ(n, 227392u);
  EXPECT_EQ(store.footprint(DType::F32).mapped, 4 * n);
  EXPECT_EQ(store.footprint(DType::F32).copied, 0u);
  EXPECT_EQ(store.footprint(DType::BF16).copied, 2 * n);
  EXPECT_EQ(store.footprint(DType::BF16).mapped, 0u);
  EXPECT_EQ(store.dtype_names(), "F32");
}

TEST_F(WeightsFit, RoomForEverythingSaysNothing) {
  EXPECT_EQ(check(bf16, 2 * n, {f32}), "");
  EXPECT_EQ(check(f32, 4 * n, {bf16}), "");
}

// Mapped pages can be dropped and read again: slow, never killed, so a warning and no refusal.
TEST_F(WeightsFit, MappedWeightsBeyondTheRoomAreAWarning) {
  EXPECT_EQ(check(f32, n, {bf16}), "the weights take 0.87 MiB mapped from the files as --dtype f32, more than the "
                                   "0.22 MiB of memory free (a test): their pages will be read from disk again and "
                                   "again, which makes a run many times slower");
  EXPECT_NE(check(f32, 0, {}), "");
}

TEST_F(WeightsFit, CopiesBeyondTheRoomAreRefusedWithTheChoicesThatFit) {
  EXPECT_EQ(runtime_error_of([&] { check(bf16, 2 * n - 1, {bf16, f32}); }),
            test::tiny_model() + ": the weights (F32 on disk) take 0.43 MiB of memory as --dtype bf16, and there is "
                                 "0.43 MiB of memory free (a test); instead, --dtype f32 takes 0.87 MiB mapped from the "
                                 "files (more than is free: pages read from disk again and again, slow)");
  EXPECT_EQ(runtime_error_of([&] { check(bf16, 2 * n - 1, {DtypeChoice{DType::F16, "--dtype f16"}}); }),
            test::tiny_model() + ": the weights (F32 on disk) take 0.43 MiB of memory as --dtype bf16, and there is "
                                 "0.43 MiB of memory free (a test); no compute dtype fits: use a machine or job with "
                                 "more memory");
}

}  // namespace
}  // namespace lvlm
