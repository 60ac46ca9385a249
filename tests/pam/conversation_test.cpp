// The conversation adapter on a real PAM handle: styles, PAM_SILENT, missing and failing
// conversations.
#include "pam/conversation.h"

#include <gtest/gtest.h>

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

using pam_front::PamConversation;

TEST(PamConversation, AsksSecretsWithEchoOffAndVisibleWithEchoOn) {
  Script script({"123456"}, {"yes"});
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(session.start_code, PAM_SUCCESS);
  PamConversation conversation(session.handle, false);
  auto secret = conversation.ask_secret("One-time code: ");
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->view(), "123456");
  auto visible = conversation.ask_visible("Continue? ");
  ASSERT_TRUE(visible);
  EXPECT_EQ(*visible, "yes");
  conversation.info("Touch your security key");
  conversation.error("PIN locked");
  ASSERT_EQ(script.shown.size(), 4u);
  EXPECT_EQ(script.shown[0], (std::pair<std::string, std::string>{"off", "One-time code: "}));
  EXPECT_EQ(script.shown[1], (std::pair<std::string, std::string>{"on", "Continue? "}));
  EXPECT_EQ(script.shown[2],
            (std::pair<std::string, std::string>{"info", "Touch your security key"}));
  EXPECT_EQ(script.shown[3], (std::pair<std::string, std::string>{"error", "PIN locked"}));
  EXPECT_FALSE(conversation.failed());
}

TEST(PamConversation, SilentDropsInfoAndHoldsErrorsButStillAsks) {
  Script script({"s3cret"});
  Session session("ap_policy", "alice", &script);
  PamConversation conversation(session.handle, true);
  conversation.info("Touch your security key");
  conversation.error("PIN locked");
  EXPECT_TRUE(conversation.ask_secret("PIN: "));
  ASSERT_EQ(script.shown.size(), 1u);
  EXPECT_EQ(script.shown[0].first, "off");
  // The module decides whether what was held is shown: once, after the decision.
  conversation.show_held(true);
  ASSERT_EQ(script.shown.size(), 2u);
  EXPECT_EQ(script.shown[1], (std::pair<std::string, std::string>{"error", "PIN locked"}));
  conversation.show_held(true);
  EXPECT_EQ(script.shown.size(), 2u) << "held errors are shown once";
}

TEST(PamConversation, HeldErrorsCanBeForgotten) {
  Script script;
  Session session("ap_policy", "alice", &script);
  PamConversation conversation(session.handle, true);
  conversation.error("Too many one-time codes tried: wait 3 seconds.");
  conversation.show_held(false);
  conversation.show_held(true);
  EXPECT_TRUE(script.shown.empty());
}

TEST(PamConversation, RefusalLinesIgnorePamSilentButNotQuiet) {
  Script script;
  Session session("ap_policy", "alice", &script);
  PamConversation silent(session.handle, true);
  silent.refusal("Access refused: totp is unavailable for this account: not enrolled.");
  ASSERT_EQ(script.shown.size(), 1u);
  EXPECT_EQ(script.shown[0].first, "error");
  PamConversation quiet(session.handle, false, /*quiet=*/true);
  quiet.refusal("never shown");
  quiet.error("never shown either");
  quiet.show_held(true);
  EXPECT_EQ(script.shown.size(), 1u);
}

TEST(PamConversation, MissingConversationFunctionFailsEveryPrompt) {
  Session session("ap_policy", "alice", nullptr, /*no_conversation=*/true);
  ASSERT_EQ(session.start_code, PAM_SUCCESS);
  PamConversation conversation(session.handle, false);
  conversation.info("ignored");
  EXPECT_FALSE(conversation.ask_secret("PIN: "));
  EXPECT_FALSE(conversation.ask_visible("Name: "));
  EXPECT_TRUE(conversation.failed());
}

TEST(PamConversation, ConversationErrorIsAFailureNotAnEmptyAnswer) {
  Script script({"never"}, {}, PAM_CONV_ERR);
  Session session("ap_policy", "alice", &script);
  PamConversation conversation(session.handle, false);
  EXPECT_FALSE(conversation.ask_secret("PIN: "));
  EXPECT_TRUE(conversation.failed());
}

TEST(PamConversation, LongPromptsAreCutToPamMaxMessageSize) {
  Script script({}, {"x"});
  Session session("ap_policy", "alice", &script);
  PamConversation conversation(session.handle, false);
  EXPECT_TRUE(conversation.ask_visible(std::string(5000, 'p')));
  ASSERT_EQ(script.shown.size(), 1u);
  EXPECT_EQ(script.shown[0].second.size(), static_cast<std::size_t>(PAM_MAX_MSG_SIZE - 1));
}

}  // namespace
}  // namespace authpolicy::pam_test
