// pam/lazy_libm.cpp: the math functions the module's sqlite references reach libm on first call.
#include <gtest/gtest.h>

extern "C" {
double acos(double);
double atan2(double, double);
double exp(double);
double fmod(double, double);
double log(double);
double pow(double, double);
double sin(double);
double sqrt(double);
double trunc(double);
}

namespace {

// Through a volatile, so the compiler cannot fold the calls into constants.
double value(double x) {
  volatile double v = x;
  return v;
}

TEST(LazyLibm, EachFunctionAnswersAsLibmDoes) {
  EXPECT_DOUBLE_EQ(sin(value(0.5)), 0.479425538604203);
  EXPECT_DOUBLE_EQ(acos(value(-1.0)), 3.141592653589793);
  EXPECT_DOUBLE_EQ(atan2(value(1.0), value(1.0)), 0.7853981633974483);
  EXPECT_DOUBLE_EQ(pow(value(2.0), value(10.0)), 1024.0);
  EXPECT_DOUBLE_EQ(fmod(value(7.5), value(2.0)), 1.5);
  EXPECT_DOUBLE_EQ(log(exp(value(3.0))), 3.0);
  EXPECT_DOUBLE_EQ(sqrt(value(2.0)), 1.4142135623730951);
  EXPECT_DOUBLE_EQ(trunc(value(-2.7)), -2.0);
  EXPECT_DOUBLE_EQ(sin(value(0.5)), 0.479425538604203);  // the bound function, second call
}

}  // namespace
