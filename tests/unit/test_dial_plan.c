/* test_dial_plan: auth/dial_plan.h as a specification (toll-fraud rules). */
#include <glib.h>

#include "auth/dial_plan.h"

static void test_glob(void) {
  g_assert_true(dial_plan_glob("+1*", "+15551234"));
  g_assert_true(dial_plan_glob("*", ""));
  g_assert_true(dial_plan_glob("9?0*", "9001"));
  g_assert_false(dial_plan_glob("9?0*", "9110"));
  g_assert_true(dial_plan_glob("sip:*@example.com", "sip:bob@EXAMPLE.com"));
  g_assert_false(dial_plan_glob("sip:*@example.com", "sip:bob@example.com.evil"));
  g_assert_true(dial_plan_glob("*a*b*c", "xxaybzc"));
  g_assert_false(dial_plan_glob("00*", "+00"));
}

static void test_normalise(void) {
  char *uri, *number;
  g_assert_true(dial_plan_normalise("sip:+1%20(900)%20555-0100;user=phone@Pbx.Example.COM:5060;"
                                    "transport=udp?X=1",
                                    &uri, &number));
  g_assert_cmpstr(number, ==, "+19005550100");
  g_assert_cmpstr(uri, ==, "sip:+19005550100@pbx.example.com:5060");
  g_free(uri), g_free(number);
  g_assert_true(dial_plan_normalise("SIPS:alice.smith@example.com", &uri, &number));
  g_assert_cmpstr(number, ==, "alice.smith"); /* not a number: dots stay */
  g_assert_cmpstr(uri, ==, "sips:alice.smith@example.com");
  g_free(uri), g_free(number);
  g_assert_false(dial_plan_normalise("tel:+1555", &uri, &number));
}

static char *deny_premium[] = {"900*", "+1900*", "00*", NULL};

static void test_no_lists_allow_everything(void) {
  g_assert_true(dial_plan_allows(NULL, NULL, "sip:00491234@pbx", NULL));
  g_assert_true(dial_plan_allows(NULL, NULL, "not even a uri", NULL));
}

static void test_deny_matches_the_number(void) {
  const char *rule = NULL;
  g_assert_false(dial_plan_allows(NULL, deny_premium, "sip:9001234@pbx.example.com", &rule));
  g_assert_cmpstr(rule, ==, "900*");
  g_assert_false(dial_plan_allows(NULL, deny_premium, "sip:0044207@pbx.example.com", &rule));
  g_assert_cmpstr(rule, ==, "00*");
  g_assert_true(dial_plan_allows(NULL, deny_premium, "sip:2001@pbx.example.com", &rule));
  g_assert_null(rule);
}

static void test_spelling_does_not_get_around_a_rule(void) {
  g_assert_false(dial_plan_allows(NULL, deny_premium, "sip:%39%30%30123@pbx", NULL));
  g_assert_false(dial_plan_allows(NULL, deny_premium, "sip:+1-900-555-0100@pbx", NULL));
  g_assert_false(dial_plan_allows(NULL, deny_premium, "sip:900123;npdi@pbx", NULL));
}

static void test_allow_list_restricts(void) {
  char *allow[] = {"+1*", "sip:*@example.com", NULL};
  const char *rule = (const char *)1;
  g_assert_true(dial_plan_allows(allow, NULL, "sip:+15551234@pbx", NULL));
  g_assert_true(dial_plan_allows(allow, NULL, "sip:bob@Example.com;transport=tcp", NULL));
  g_assert_false(dial_plan_allows(allow, NULL, "sip:+445551234@pbx", &rule));
  g_assert_null(rule); /* no deny rule: simply not allowed */
  g_assert_false(dial_plan_allows(allow, NULL, "sip:bob@evil.example.org", NULL));
}

static void test_deny_wins_over_allow(void) {
  char *allow[] = {"+1*", NULL};
  char *deny[] = {"+1900*", NULL};
  g_assert_true(dial_plan_allows(allow, deny, "sip:+12125550100@pbx", NULL));
  g_assert_false(dial_plan_allows(allow, deny, "sip:+19005550100@pbx", NULL));
}

static void test_unparsable_target_is_refused_when_a_plan_exists(void) {
  g_assert_false(dial_plan_allows(NULL, deny_premium, "tel:+1555", NULL));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/dial_plan/glob", test_glob);
  g_test_add_func("/dial_plan/normalise", test_normalise);
  g_test_add_func("/dial_plan/no_lists_allow_everything", test_no_lists_allow_everything);
  g_test_add_func("/dial_plan/deny_matches_the_number", test_deny_matches_the_number);
  g_test_add_func("/dial_plan/spelling_does_not_get_around_a_rule",
                  test_spelling_does_not_get_around_a_rule);
  g_test_add_func("/dial_plan/allow_list_restricts", test_allow_list_restricts);
  g_test_add_func("/dial_plan/deny_wins_over_allow", test_deny_wins_over_allow);
  g_test_add_func("/dial_plan/unparsable_target_is_refused_when_a_plan_exists",
                  test_unparsable_target_is_refused_when_a_plan_exists);
  return g_test_run();
}
