/* test_metrics: core/metrics.h as a specification. Other modules add counters over time; these
 * tests make sure every counter has its row (name and help) and renders as valid Prometheus
 * text: "# HELP", "# TYPE ... counter" and one sample, each name unique and ending in _total. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"

/* Splits the rendering into lines (without the final empty one). */
static gchar **render_lines(void) {
  GString *out = g_string_new(NULL);
  metrics_render(out);
  g_assert_true(out->len > 0 && out->str[out->len - 1] == '\n');
  g_string_truncate(out, out->len - 1);
  gchar **lines = g_strsplit(out->str, "\n", -1);
  g_string_free(out, TRUE);
  return lines;
}

static gboolean valid_name(const char *name) {
  if (!g_ascii_isalpha(name[0]) && name[0] != '_') return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '_') return FALSE;
  return TRUE;
}

static void test_every_counter_has_help_type_and_one_sample(void) {
  gchar **lines = render_lines();
  g_assert_cmpuint(g_strv_length(lines), ==, 3u * METRIC_COUNT_);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; lines[i]; i += 3) {
    char name[128];
    g_assert_true(g_str_has_prefix(lines[i], "# HELP tabphone_"));
    g_assert_cmpint(sscanf(lines[i], "# HELP %127s", name), ==, 1);
    g_assert_true(valid_name(name));
    g_assert_true(g_str_has_suffix(name, "_total"));
    g_assert_false(strstr(lines[i], "(null)"));
    g_assert_cmpuint(strlen(lines[i]), >, strlen("# HELP ") + strlen(name) + 2); /* has help text */
    gchar *type = g_strdup_printf("# TYPE %s counter", name);
    g_assert_cmpstr(lines[i + 1], ==, type);
    g_free(type);
    gchar *prefix = g_strdup_printf("%s ", name);
    g_assert_true(g_str_has_prefix(lines[i + 2], prefix));
    g_free(prefix);
    g_assert_false(g_hash_table_contains(seen, lines[i + 2]));
    g_hash_table_add(seen, lines[i + 2]);
  }
  g_hash_table_destroy(seen);
  g_strfreev(lines);
}

static void test_count_adds_and_renders_the_value(void) {
  uint64_t before = metrics_value(METRIC_LOGINS_FAILED);
  metrics_inc(METRIC_LOGINS_FAILED);
  metrics_count(METRIC_LOGINS_FAILED, 41);
  g_assert_cmpuint(metrics_value(METRIC_LOGINS_FAILED), ==, before + 42);
  GString *out = g_string_new(NULL);
  metrics_render(out);
  gchar *sample = g_strdup_printf("\ntabphone_logins_failed_total %" G_GUINT64_FORMAT "\n",
                                  (guint64)(before + 42));
  g_assert_nonnull(strstr(out->str, sample));
  g_free(sample);
  g_string_free(out, TRUE);
}

static void test_ids_out_of_range_are_ignored(void) {
  metrics_count(METRIC_COUNT_, 5);
  metrics_count((metric_id)-1, 5);
  g_assert_cmpuint(metrics_value(METRIC_COUNT_), ==, 0);
}

static gpointer count_many(gpointer data) {
  (void)data;
  for (int i = 0; i < 100000; i++) metrics_inc(METRIC_RTP_FOREIGN_DROPPED);
  return NULL;
}

static void test_counting_from_many_threads_loses_nothing(void) {
  uint64_t before = metrics_value(METRIC_RTP_FOREIGN_DROPPED);
  GThread *threads[4];
  for (int i = 0; i < 4; i++) threads[i] = g_thread_new("count", count_many, NULL);
  for (int i = 0; i < 4; i++) g_thread_join(threads[i]);
  g_assert_cmpuint(metrics_value(METRIC_RTP_FOREIGN_DROPPED), ==, before + 400000);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/metrics/every_counter_has_help_type_and_one_sample",
                  test_every_counter_has_help_type_and_one_sample);
  g_test_add_func("/metrics/count_adds_and_renders_the_value", test_count_adds_and_renders_the_value);
  g_test_add_func("/metrics/ids_out_of_range_are_ignored", test_ids_out_of_range_are_ignored);
  g_test_add_func("/metrics/counting_from_many_threads_loses_nothing",
                  test_counting_from_many_threads_loses_nothing);
  return g_test_run();
}
