/* Unit tests for core/ini: the INI reader behind the config file. */
#include <glib.h>
#include <string.h>

#include "core/ini.h"

typedef struct seen {
  GString *log;
} seen;

static int on_section(void *data, const char *section, int line) {
  g_string_append_printf(((seen *)data)->log, "[%s]@%d ", section, line);
  return 0;
}

static int on_key(void *data, const char *section, const char *key, const char *value, int line) {
  g_string_append_printf(((seen *)data)->log, "%s.%s=%s@%d ", section, key, value, line);
  return 0;
}

static char *parse(const char *text, int *rc, const char **why) {
  seen s = {g_string_new("")};
  *rc = ini_parse(text, strlen(text), on_section, on_key, &s, why);
  return g_string_free(s.log, FALSE);
}

static void test_keys_carry_their_line_numbers(void) {
  int rc;
  const char *why;
  char *out = parse("# comment\n[server]\nlisten = 127.0.0.1:8443\n\n[account  alice]\nuri=sip:a@b\n",
                    &rc, &why);
  g_assert_cmpint(rc, ==, 0);
  g_assert_cmpstr(out, ==,
                  "[server]@2 server.listen=127.0.0.1:8443@3 [account alice]@5 "
                  "account alice.uri=sip:a@b@6 ");
  g_free(out);
}

static void test_inline_comments_and_quotes(void) {
  int rc;
  const char *why;
  char *out = parse("[s]\na = x ; comment\nb = \"semi;colon # kept\"\nc = p#ss\n", &rc, &why);
  g_assert_cmpint(rc, ==, 0);
  g_assert_cmpstr(out, ==, "[s]@1 s.a=x@2 s.b=semi;colon # kept@3 s.c=p#ss@4 ");
  g_free(out);
}

static void test_crlf_and_bom_are_accepted(void) {
  int rc;
  const char *why;
  char *out = parse("\xEF\xBB\xBF[s]\r\nk = v\r\n", &rc, &why);
  g_assert_cmpint(rc, ==, 0);
  g_assert_cmpstr(out, ==, "[s]@1 s.k=v@2 ");
  g_free(out);
}

static void test_syntax_errors_name_the_line(void) {
  static const struct { const char *text; int line; } cases[] = {
      {"[s]\nno equals sign\n", 2}, {"[unclosed\n", 1}, {"[s]\n= value\n", 2},
      {"[]\n", 1}, {"[s] trailing\n", 1}};
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    int rc;
    const char *why = NULL;
    char *out = parse(cases[i].text, &rc, &why);
    g_assert_cmpint(rc, ==, -cases[i].line);
    g_assert_nonnull(why);
    g_free(out);
  }
}

static void test_nul_byte_is_a_syntax_error(void) {
  const char text[] = "[s]\nk = a\0b\n";
  seen s = {g_string_new("")};
  const char *why;
  int rc = ini_parse(text, sizeof text - 1, on_section, on_key, &s, &why);
  g_assert_cmpint(rc, ==, -2);
  g_string_free(s.log, TRUE);
}

static void test_overlong_line_is_rejected_not_truncated(void) {
  GString *text = g_string_new("[s]\nk = ");
  for (int i = 0; i < 5000; i++) g_string_append_c(text, 'x');
  seen s = {g_string_new("")};
  const char *why;
  int rc = ini_parse(text->str, text->len, on_section, on_key, &s, &why);
  g_assert_cmpint(rc, ==, -2);
  g_assert_cmpstr(why, ==, "line too long");
  g_string_free(text, TRUE);
  g_string_free(s.log, TRUE);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ini/keys_carry_their_line_numbers", test_keys_carry_their_line_numbers);
  g_test_add_func("/ini/inline_comments_and_quotes", test_inline_comments_and_quotes);
  g_test_add_func("/ini/crlf_and_bom_are_accepted", test_crlf_and_bom_are_accepted);
  g_test_add_func("/ini/syntax_errors_name_the_line", test_syntax_errors_name_the_line);
  g_test_add_func("/ini/nul_byte_is_a_syntax_error", test_nul_byte_is_a_syntax_error);
  g_test_add_func("/ini/overlong_line_is_rejected_not_truncated",
                  test_overlong_line_is_rejected_not_truncated);
  return g_test_run();
}
