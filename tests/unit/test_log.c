/* Logging: JSON lines for the controller, text for the CLI, levels, redaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/log.h"
#include "support.h"

static char *capture_start(FILE **f)
{
	*f = tmpfile();
	assert_non_null(*f);
	return NULL;
}

static char *capture_end(FILE *f)
{
	long n = ftell(f);
	char *buf = calloc(1, (size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void json_lines(void **state)
{
	FILE *f;
	char *out;
	json_error_t err;
	(void)state;

	capture_start(&f);
	slog_setup(SLOG_JSON, SLOG_INFO, f);
	slog(SLOG_INFO, "synced \"web\"", "app", "web", "revision", "abc123", NULL);
	slog(SLOG_DEBUG, "not shown", NULL);
	slog(SLOG_WARN, "line\nbreak", NULL);
	out = capture_end(f);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	json_t *a = json_loads(out, 0, &err), *b = json_loads(nl + 1, 0, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(a, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(a, "msg")), "synced \"web\"");
	assert_string_equal(json_string_value(json_object_get(a, "app")), "web");
	assert_string_equal(json_string_value(json_object_get(a, "revision")), "abc123");
	assert_int_equal(strlen(json_string_value(json_object_get(a, "ts"))), 24);
	assert_string_equal(json_string_value(json_object_get(b, "msg")), "line\nbreak");
	assert_null(strstr(nl + 1, "not shown"));
	json_decref(a);
	json_decref(b);
	free(out);
}

static void text_and_levels(void **state)
{
	FILE *f;
	char *out;
	enum slog_level lv;
	(void)state;

	capture_start(&f);
	slog_setup(SLOG_TEXT, SLOG_WARN, f);
	slog(SLOG_INFO, "quiet", NULL);
	slog(SLOG_ERROR, "apply failed", "object", "apps/Deployment web", NULL);
	out = capture_end(f);
	assert_string_equal(out, "sluice: error: apply failed object=apps/Deployment web\n");
	free(out);
	assert_int_equal(slog_level_parse(&lv, "DEBUG"), 0);
	assert_int_equal(lv, SLOG_DEBUG);
	assert_int_equal(slog_level_parse(&lv, "loud"), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "unknown log level 'loud'"));
	setenv("SLUICE_LOG_LEVEL", "chatty", 1);
	assert_int_equal(slog_setup_from_env(), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "SLUICE_LOG_LEVEL"));
	setenv("SLUICE_LOG_LEVEL", "debug", 1);
	setenv("SLUICE_LOG_FORMAT", "json", 1);
	assert_int_equal(slog_setup_from_env(), 0);
	assert_true(slog_enabled(SLOG_DEBUG));
	unsetenv("SLUICE_LOG_LEVEL");
	unsetenv("SLUICE_LOG_FORMAT");
}

static void secrets_never_reach_a_line(void **state)
{
	FILE *f;
	char *out;
	const char *token = "ghp_s3cr3tT0k3nValue";
	(void)state;

	assert_int_equal(slog_add_secret(token), 0);
	capture_start(&f);
	slog_setup(SLOG_JSON, SLOG_DEBUG, f);
	slog(SLOG_ERROR, "clone https://x:ghp_s3cr3tT0k3nValue@git.example/repo failed", "auth",
	     token, NULL);
	slog_setup(SLOG_TEXT, SLOG_DEBUG, f);
	slog(SLOG_INFO, token, NULL);
	out = capture_end(f);
	assert_null(strstr(out, token));
	assert_non_null(strstr(out, "https://x:[REDACTED]@git.example/repo"));
	free(out);
	slog_clear_secrets();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(json_lines),
	    cmocka_unit_test(text_and_levels),
	    cmocka_unit_test(secrets_never_reach_a_line),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
