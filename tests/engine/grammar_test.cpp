// The grammar cannot loop, and parses every statement form into the right tree.
#include <gtest/gtest.h>

#include <tao/pegtl/contrib/analyze.hpp>

#include "grammar/grammar.h"
#include "grammar/parser.h"

namespace authpolicy::grammar {
namespace {

TEST(Grammar, AnalyzeFindsNoProblems) { EXPECT_EQ(p::analyze<policy>(1), 0u); }

TEST(Grammar, GuardBindsTighterThanAnd) {
  auto r = parse_policy_text("auth password && (pin || u2f) unless rhost in trusted", 0);
  ASSERT_TRUE(r.file) << r.error->message;
  const auto& e = *r.file->auths.at(0).expression;
  ASSERT_EQ(e.kind, ast::Expression::Kind::all_of);
  ASSERT_EQ(e.operands.size(), 2u);
  EXPECT_EQ(e.operands[0]->kind, ast::Expression::Kind::name);
  EXPECT_EQ(e.operands[1]->kind, ast::Expression::Kind::guarded);
  EXPECT_EQ(e.operands[1]->operands[0]->kind, ast::Expression::Kind::any_of);
}

TEST(Grammar, LocationsPointAtTokens) {
  auto r = parse_policy_text("# comment\r\nset trusted = { 10.0.0.0/8 }\r\n  auth password", 3);
  ASSERT_TRUE(r.file);
  EXPECT_EQ(r.file->sets.at(0).location.line, 2u);
  EXPECT_EQ(r.file->sets.at(0).location.column, 5u);
  EXPECT_EQ(r.file->sets.at(0).location.file, 3u);
  EXPECT_EQ(r.file->auths.at(0).expression->location.line, 3u);
  EXPECT_EQ(r.file->auths.at(0).expression->location.column, 8u);
}

TEST(Grammar, LiteralKinds) {
  auto r = parse_policy_text(
      "set s = { 10.0.0.0/8, fd00::/8, ::ffff:1.2.3.4, alice, \"x\\ty\", 42, mon..fri, 22:00..06:00 }\n"
      "auth password",
      0);
  ASSERT_TRUE(r.file) << r.error->message;
  const auto& e = r.file->sets.at(0).value.elements;
  ASSERT_EQ(e.size(), 8u);
  EXPECT_EQ(e[0].kind, ast::Literal::Kind::address);
  EXPECT_EQ(e[1].kind, ast::Literal::Kind::address);
  EXPECT_EQ(e[2].kind, ast::Literal::Kind::address);
  EXPECT_EQ(e[3].kind, ast::Literal::Kind::word);
  EXPECT_EQ(e[4].kind, ast::Literal::Kind::string);
  EXPECT_EQ(e[4].text, "x\ty");
  EXPECT_EQ(e[5].kind, ast::Literal::Kind::integer);
  EXPECT_EQ(e[6].kind, ast::Literal::Kind::word_range);
  EXPECT_EQ(e[7].kind, ast::Literal::Kind::clock_range);
}

TEST(Grammar, ErrorsSayWhatWasExpected) {
  auto r = parse_policy_text("factor u2f { timeout = }\nauth u2f", 0);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->location.line, 1u);
  EXPECT_EQ(r.error->location.column, 24u);
  EXPECT_NE(r.error->message.find("expected a value"), std::string::npos);
}

TEST(Grammar, KeywordsAreNotNames) {
  auto r = parse_policy_text("deny if user in\nauth password", 0);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("expected a set"), std::string::npos);
}

}  // namespace
}  // namespace authpolicy::grammar
