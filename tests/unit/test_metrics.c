/*
 * The metrics registry (metrics.h): the text format's escaping and values,
 * the series cap, its thread safety, a rendering read back by Prometheus's
 * own parser (promtool check metrics, when installed), and GET /metrics on
 * the controller's HTTP server.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/http.h"
#include "sluice/metrics.h"
#include "support.h"

#define V(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *const two[] = {"namespace", "name", NULL};

static char *render(struct metrics *m)
{
	struct buf b;
	buf_init(&b, METRICS_MAX_OUTPUT);
	if (metrics_render(m, &b) < 0)
		fail_msg("metrics_render: %s", sluice_error_last());
	return buf_detach(&b);
}

#define OK(x)                                                        \
	do {                                                         \
		if ((x) < 0)                                         \
			fail_msg("%s: %s", #x, sluice_error_last()); \
	} while (0)

static void label_values_and_help_are_escaped(void **state)
{
	struct metrics *m = NULL;
	char *text;
	(void)state;

	OK(metrics_new(&m, 0));
	OK(metrics_family(m, METRICS_GAUGE, "sluice_test_value", "A value; a \\ and a\nnewline.",
	                  two));
	/* a user's object names it: backslash, double quote and newline must not end the value */
	OK(metrics_set(m, "sluice_test_value", V("shop", "we\\b\"} 1\nfake_metric{x=\"1"), 0.25));
	text = render(m);
	assert_string_equal(text, "# HELP sluice_test_value A value; a \\\\ and a\\nnewline.\n"
	                          "# TYPE sluice_test_value gauge\n"
	                          "sluice_test_value{namespace=\"shop\",name=\"we\\\\b\\\"} "
	                          "1\\nfake_metric{x=\\\"1\"} 0.25\n");
	free(text);
	metrics_free(m);
}

static void values_read_back_exactly(void **state)
{
	struct metrics *m = NULL;
	char *text;
	double v;
	(void)state;

	OK(metrics_new(&m, 0));
	OK(metrics_family(m, METRICS_GAUGE, "g", "g.", (const char *const[]){"k", NULL}));
	OK(metrics_family(m, METRICS_COUNTER, "c_total", "c.", NULL));
	OK(metrics_set(m, "g", V("a"), 0.1));
	OK(metrics_set(m, "g", V("b"), NAN));
	OK(metrics_set(m, "g", V("c"), INFINITY));
	OK(metrics_set(m, "g", V("d"), -INFINITY));
	OK(metrics_set(m, "g", V("e"), 1.0 / 3));
	OK(metrics_set(m, "g", V("f"), 1e-300));
	OK(metrics_add(m, "c_total", NULL, 2));
	OK(metrics_add(m, "c_total", NULL, 1));
	text = render(m);
	assert_non_null(strstr(text, "g{k=\"a\"} 0.1\n"));
	assert_non_null(strstr(text, "g{k=\"b\"} NaN\n"));
	assert_non_null(strstr(text, "g{k=\"c\"} +Inf\n"));
	assert_non_null(strstr(text, "g{k=\"d\"} -Inf\n"));
	assert_non_null(strstr(text, "g{k=\"f\"} 1e-300\n"));
	assert_non_null(strstr(text, "# TYPE c_total counter\nc_total 3\n"));
	const char *e = strstr(text, "g{k=\"e\"} ");
	assert_non_null(e);
	assert_true(strtod(e + strlen("g{k=\"e\"} "), NULL) == 1.0 / 3);
	OK(metrics_get(m, "c_total", NULL, &v));
	assert_true(v == 3);
	free(text);
	metrics_free(m);
}

static void misuse_is_refused(void **state)
{
	struct metrics *m = NULL;
	(void)state;

	OK(metrics_new(&m, 0));
	OK(metrics_family(m, METRICS_COUNTER, "x_total", "x.", two));
	/* the same declaration again is fine; another type or labels is not */
	OK(metrics_family(m, METRICS_COUNTER, "x_total", "x.", two));
	assert_int_equal(metrics_family(m, METRICS_GAUGE, "x_total", "x.", two), SLUICE_ECONFLICT);
	assert_int_equal(metrics_family(m, METRICS_COUNTER, "x_total", "x.", V("namespace")),
	                 SLUICE_ECONFLICT);
	assert_int_equal(metrics_family(m, METRICS_GAUGE, "1x", "", NULL), SLUICE_EINVALID);
	assert_int_equal(metrics_family(m, METRICS_GAUGE, "a-b", "", NULL), SLUICE_EINVALID);
	assert_int_equal(metrics_family(m, METRICS_GAUGE, "y", "", V("__name__")), SLUICE_EINVALID);
	assert_int_equal(metrics_family(m, METRICS_GAUGE, "y", "", V("a:b")), SLUICE_EINVALID);
	assert_int_equal(
	    metrics_family(m, METRICS_COUNTER, "sluice_metrics_series_dropped_total", "", NULL),
	    SLUICE_ECONFLICT);
	assert_int_equal(metrics_set(m, "x_total", V("a", "b"), 1), SLUICE_EINVALID);
	assert_int_equal(metrics_add(m, "x_total", V("a", "b"), -1), SLUICE_EINVALID);
	assert_int_equal(metrics_add(m, "x_total", V("a", "b"), NAN), SLUICE_EINVALID);
	assert_int_equal(metrics_add(m, "x_total", V("a"), 1), SLUICE_EINVALID);
	assert_int_equal(metrics_add(m, "x_total", V("a", "b", "c"), 1), SLUICE_EINVALID);
	assert_int_equal(metrics_add(m, "nope_total", NULL, 1), SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "nope_total"));
	/* nothing was made by the refused calls */
	char *text = render(m);
	assert_string_equal(text, "");
	free(text);
	metrics_free(m);
}

static void a_full_family_drops_its_least_recently_updated_series(void **state)
{
	struct metrics *m = NULL;
	char *text;
	double v;
	(void)state;

	OK(metrics_new(&m, 3));
	OK(metrics_family(m, METRICS_GAUGE, "g", "g.", V("name")));
	OK(metrics_set(m, "g", V("one"), 1));
	OK(metrics_set(m, "g", V("two"), 2));
	OK(metrics_set(m, "g", V("three"), 3));
	OK(metrics_set(m, "g", V("one"), 11)); /* one is fresh again: two is the oldest now */
	OK(metrics_set(m, "g", V("four"), 4));
	OK(metrics_set(m, "g", V("five"), 5)); /* then three */
	assert_int_equal(metrics_get(m, "g", V("two"), &v), SLUICE_ENOTFOUND);
	assert_int_equal(metrics_get(m, "g", V("three"), &v), SLUICE_ENOTFOUND);
	OK(metrics_get(m, "g", V("one"), &v));
	assert_true(v == 11);
	assert_int_equal(metrics_dropped(m, "g"), 2);
	text = render(m);
	assert_string_equal(text,
	                    "# HELP g g.\n# TYPE g gauge\ng{name=\"one\"} 11\ng{name=\"four\"} 4\n"
	                    "g{name=\"five\"} 5\n"
	                    "# HELP sluice_metrics_series_dropped_total Series dropped because "
	                    "their family reached its cap (the least recently updated go first).\n"
	                    "# TYPE sluice_metrics_series_dropped_total counter\n"
	                    "sluice_metrics_series_dropped_total{family=\"g\"} 2\n");
	free(text);
	/* the families themselves are bounded too */
	for (int i = 1; i < METRICS_MAX_FAMILIES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d", i);
		OK(metrics_family(m, METRICS_GAUGE, name, "", NULL));
	}
	assert_int_equal(metrics_family(m, METRICS_GAUGE, "one_too_many", "", NULL), SLUICE_ELIMIT);
	metrics_free(m);
}

static void label_values_are_bounded_and_utf8(void **state)
{
	struct metrics *m = NULL;
	char longv[METRICS_MAX_VALUE + 100], *text;
	double v;
	(void)state;

	OK(metrics_new(&m, 0));
	OK(metrics_family(m, METRICS_GAUGE, "g", "g.", V("v")));
	/* 2-byte characters, so the cut must not split one */
	for (size_t i = 0; i + 2 < sizeof(longv); i += 2)
		memcpy(longv + i, "\xc3\xa9", 2);
	longv[sizeof(longv) - 2] = '\0';
	OK(metrics_set(m, "g", V(longv), 1));
	OK(metrics_set(m, "g",
	               V("bad\xff\xfe"
	                 "byte"),
	               2));
	text = render(m);
	const char *p = strstr(text, "g{v=\""), *q = p ? strchr(p + 5, '"') : NULL;
	assert_non_null(q);
	assert_true(q - (p + 5) <= METRICS_MAX_VALUE);
	assert_true((q - (p + 5)) % 2 == 0);
	assert_non_null(strstr(text, "g{v=\"bad\xef\xbf\xbd\xef\xbf\xbd"
	                             "byte\"} 2\n"));
	/* the value is looked up the same way it was stored */
	OK(metrics_get(m, "g",
	               V("bad\xff\xfe"
	                 "byte"),
	               &v));
	assert_true(v == 2);
	free(text);
	metrics_free(m);
}

struct worker {
	struct metrics *m;
	int id;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char name[16];
	snprintf(name, sizeof(name), "w%d", w->id);
	for (int i = 0; i < 20000; i++) {
		metrics_add(w->m, "hits_total", V("all"), 1);
		metrics_set(w->m, "last", V(name), i);
		if (i % 1000 == 0) {
			struct buf b;
			buf_init(&b, METRICS_MAX_OUTPUT);
			metrics_render(w->m, &b);
			buf_dispose(&b);
		}
	}
	return NULL;
}

static void concurrent_updates_are_all_counted(void **state)
{
	struct metrics *m = NULL;
	pthread_t t[4];
	struct worker w[4];
	double v;
	(void)state;

	OK(metrics_new(&m, 0));
	OK(metrics_family(m, METRICS_COUNTER, "hits_total", "Hits.", V("k")));
	OK(metrics_family(m, METRICS_GAUGE, "last", "Last i.", V("worker")));
	for (int i = 0; i < 4; i++) {
		w[i].m = m;
		w[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	OK(metrics_get(m, "hits_total", V("all"), &v));
	assert_true(v == 80000);
	OK(metrics_get(m, "last", V("w3"), &v));
	assert_true(v == 19999);
	metrics_free(m);
}

/* Durations go into histograms: cumulative buckets, +Inf, sum and count. */
static void histograms_render_cumulative_buckets(void **state)
{
	static const double bounds[] = {0.1, 0.5, 2.5};
	struct metrics *m = NULL;
	double count = 0;
	char *text;
	(void)state;

	OK(metrics_new(&m, 0));
	OK(metrics_histogram(m, "sluice_test_seconds", "How long.", V("app"), bounds, 3));
	OK(metrics_observe(m, "sluice_test_seconds", V("shop"), 0.05));
	OK(metrics_observe(m, "sluice_test_seconds", V("shop"), 0.1)); /* le is inclusive */
	OK(metrics_observe(m, "sluice_test_seconds", V("shop"), 1));
	OK(metrics_observe(m, "sluice_test_seconds", V("shop"), 30));
	text = render(m);
	assert_string_equal(text, "# HELP sluice_test_seconds How long.\n"
	                          "# TYPE sluice_test_seconds histogram\n"
	                          "sluice_test_seconds_bucket{app=\"shop\",le=\"0.1\"} 2\n"
	                          "sluice_test_seconds_bucket{app=\"shop\",le=\"0.5\"} 2\n"
	                          "sluice_test_seconds_bucket{app=\"shop\",le=\"2.5\"} 3\n"
	                          "sluice_test_seconds_bucket{app=\"shop\",le=\"+Inf\"} 4\n"
	                          "sluice_test_seconds_sum{app=\"shop\"} 31.15\n"
	                          "sluice_test_seconds_count{app=\"shop\"} 4\n");
	free(text);
	OK(metrics_get(m, "sluice_test_seconds", V("shop"), &count));
	assert_true(count == 4);
	/* misuse: not ascending, "le" as a label, set or add on a histogram, observe elsewhere */
	static const double down[] = {1, 0.5};
	assert_int_equal(metrics_histogram(m, "sluice_bad_seconds", "x", NULL, down, 2),
	                 SLUICE_EINVALID);
	assert_int_equal(metrics_histogram(m, "sluice_bad2_seconds", "x", V("le"), bounds, 3),
	                 SLUICE_EINVALID);
	assert_int_equal(metrics_set(m, "sluice_test_seconds", V("shop"), 1), SLUICE_EINVALID);
	assert_int_equal(metrics_add(m, "sluice_test_seconds", V("shop"), 1), SLUICE_EINVALID);
	OK(metrics_family(m, METRICS_GAUGE, "sluice_test_gauge", "g", NULL));
	assert_int_equal(metrics_observe(m, "sluice_test_gauge", NULL, 1), SLUICE_EINVALID);
	assert_int_equal(metrics_observe(m, "sluice_test_seconds", V("shop"), NAN),
	                 SLUICE_EINVALID);
	metrics_free(m);
}

static void promtool_reads_the_rendering(void **state)
{
	struct metrics *m = NULL;
	char path[] = "/tmp/sluice-metrics-XXXXXX", cmd[256], *text;
	FILE *f;
	int fd;
	(void)state;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_metrics: promtool not installed; rendering not parsed\n");
		skip();
	}
	OK(metrics_new(&m, 2));
	OK(metrics_family(m, METRICS_GAUGE, "sluice_test_metric_value",
	                  "A value with \\ and\nnewline in its help.",
	                  V("namespace", "metric", "side")));
	OK(metrics_family(m, METRICS_COUNTER, "sluice_test_measurements_total",
	                  "Measurements, by verdict.", V("metric", "verdict")));
	OK(metrics_set(m, "sluice_test_metric_value", V("shop", "x\"} or vector(1) #", "canary"),
	               0.214));
	OK(metrics_set(m, "sluice_test_metric_value", V("shop", "back\\slash\nnew", "stable"),
	               NAN));
	OK(metrics_set(m, "sluice_test_metric_value", V("shop", "third", "canary"), INFINITY));
	OK(metrics_add(m, "sluice_test_measurements_total", V("error-rate", "Failed"), 3));
	static const double bounds[] = {0.005, 0.25, 10};
	OK(metrics_histogram(m, "sluice_test_duration_seconds", "Durations.", V("verb"), bounds,
	                     3));
	OK(metrics_observe(m, "sluice_test_duration_seconds", V("GET"), 0.3));
	text = render(m);
	assert_non_null(strstr(text, "sluice_metrics_series_dropped_total{family="));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics <%s >/dev/null 2>&1", path);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "promtool check metrics <%s >&2", path);
		(void)system(cmd);
		fail_msg("promtool refuses the rendering:\n%s", text);
	}
	unlink(path);
	free(text);
	metrics_free(m);
}

struct body {
	char text[65536];
	size_t len;
};

static size_t collect(char *p, size_t s, size_t n, void *ud)
{
	struct body *b = ud;
	size_t k = s * n;
	if (b->len + k >= sizeof(b->text))
		return 0;
	memcpy(b->text + b->len, p, k);
	b->len += k;
	b->text[b->len] = '\0';
	return k;
}

static long get(int port, const char *path, struct body *b, char *ctype, size_t n)
{
	CURL *e = curl_easy_init();
	char url[128];
	long code = 0;
	char *ct = NULL;

	b->len = 0;
	b->text[0] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	if (curl_easy_perform(e) == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
		snprintf(ctype, n, "%s", ct ? ct : "");
	}
	curl_easy_cleanup(e);
	return code;
}

static void the_http_server_serves_the_process_registry(void **state)
{
	struct http_server *s = NULL;
	struct metrics *m = metrics_default();
	static struct body b;
	char ctype[128];
	(void)state;

	assert_non_null(m);
	OK(metrics_family(m, METRICS_COUNTER, "sluice_test_requests_total", "Test requests.",
	                  V("path")));
	OK(metrics_add(m, "sluice_test_requests_total", V("/a\"b"), 2));
	OK(http_server_start(&s, "127.0.0.1:0", NULL, NULL, NULL));
	assert_int_equal(get(http_server_port(s), "/metrics", &b, ctype, sizeof(ctype)), 200);
	assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(b.text, "# TYPE sluice_test_requests_total counter\n"
	                               "sluice_test_requests_total{path=\"/a\\\"b\"} 2\n"));
	/* it is live: a later update is in the next scrape */
	OK(metrics_add(m, "sluice_test_requests_total", V("/a\"b"), 1));
	assert_int_equal(get(http_server_port(s), "/metrics", &b, ctype, sizeof(ctype)), 200);
	assert_non_null(strstr(b.text, "sluice_test_requests_total{path=\"/a\\\"b\"} 3\n"));
	assert_int_equal(get(http_server_port(s), "/healthz", &b, ctype, sizeof(ctype)), 200);
	assert_string_equal(b.text, "ok\n");
	http_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(label_values_and_help_are_escaped),
	    cmocka_unit_test(values_read_back_exactly),
	    cmocka_unit_test(misuse_is_refused),
	    cmocka_unit_test(a_full_family_drops_its_least_recently_updated_series),
	    cmocka_unit_test(label_values_are_bounded_and_utf8),
	    cmocka_unit_test(concurrent_updates_are_all_counted),
	    cmocka_unit_test(histograms_render_cumulative_buckets),
	    cmocka_unit_test(promtool_reads_the_rendering),
	    cmocka_unit_test(the_http_server_serves_the_process_registry),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
