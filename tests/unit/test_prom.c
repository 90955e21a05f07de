/*
 * The Prometheus client and query templates: the response parser from JSON
 * text; a real Prometheus (tests/sandbox/prometheus) scraping the fake
 * application tests/sandbox/exporter.py every second; and fake servers on
 * loopback (in this process) for what a healthy Prometheus never does: hang,
 * fail with 5xx, answer too much, or ask for credentials.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/prom.h"
#include "support.h"

#define RATIO_Q                                                              \
	"sum(rate(http_requests_total{version=\"v2\",code=\"500\"}[5s])) / " \
	"sum(rate(http_requests_total{version=\"v2\"}[5s]))"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Assert rc == want, printing the library's message when it is not. */
#define assert_rc(rc, want)                                                     \
	do {                                                                    \
		int rc_ = (rc);                                                 \
		if (rc_ != (want))                                              \
			fail_msg("rc %s, want %s: %s", sluice_error_name(rc_),  \
			         sluice_error_name(want), sluice_error_last()); \
	} while (0)

#define assert_msg_has(s)                                                                  \
	do {                                                                               \
		if (!strstr(sluice_error_last(), (s)))                                     \
			fail_msg("message \"%s\" lacks \"%s\"", sluice_error_last(), (s)); \
	} while (0)

/* ---- the parser, from JSON text ---------------------------------------- */

static int parse(struct prom_result **r, long status, const char *body)
{
	return prom_parse_response(r, status, body, strlen(body), "prometheus test: m");
}

/* Reduce a 200 body; returns the class, *v the value. */
static enum prom_class reduce_body(const char *body, double *v)
{
	struct prom_result *r = NULL;
	enum prom_class cls;

	assert_rc(parse(&r, 200, body), 0);
	assert_rc(prom_reduce(&cls, v, r), 0);
	prom_result_free(r);
	return cls;
}

static void vec_body(char *out, size_t n, const char *value)
{
	snprintf(out, n,
	         "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
	         "[{\"metric\":{\"version\":\"v2\"},\"value\":[1700000000.5,\"%s\"]}]}}",
	         value);
}

static void test_parse_vector(void **state)
{
	struct prom_result *r = NULL;
	(void)state;
	assert_rc(parse(&r, 200,
	                "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
	                "[{\"metric\":{\"__name__\":\"up\",\"job\":\"x\"},\"value\":[1700000000."
	                "25,\"0.125\"]}]}}"),
	          0);
	assert_int_equal(r->type, PROM_VECTOR);
	assert_int_equal(r->nseries, 1);
	assert_int_equal(r->series[0].nsamples, 1);
	assert_string_equal(json_string_value(json_object_get(r->series[0].labels, "job")), "x");
	assert_true(r->series[0].samples[0].t == 1700000000.25);
	assert_true(r->series[0].samples[0].v == 0.125);
	assert_null(r->warnings);
	prom_result_free(r);
}

static void test_parse_values(void **state)
{
	static const struct {
		const char *text;
		double want; /* NaN: NaN */
	} good[] = {
	    {"0", 0},
	    {"1", 1},
	    {"-0.5", -0.5},
	    {"+2", 2},
	    {".5", 0.5},
	    {"1e3", 1000},
	    {"2.5E-3", 0.0025},
	    {"1e-400", 0},
	    {"NaN", NAN},
	    {"+Inf", INFINITY},
	    {"Inf", INFINITY},
	    {"-Inf", -INFINITY},
	    {"0.19999999999999998", 0.19999999999999998},
	};
	static const char *const bad[] = {"",         " 1",    "1 ",   "0x10", "nan", "inf",
	                                  "+inf",     "1e999", "1abc", "1e",   "+",   ".",
	                                  "Infinity", "--1",   "1..2", "1e+",  "NAN"};
	char body[512];
	double v;
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		vec_body(body, sizeof(body), good[i].text);
		enum prom_class cls = reduce_body(body, &v);
		if (isnan(good[i].want)) {
			assert_int_equal(cls, PROM_NAN);
			assert_true(isnan(v));
		} else if (isinf(good[i].want)) {
			assert_int_equal(cls, PROM_INF);
			assert_true(v == good[i].want);
		} else {
			assert_int_equal(cls, PROM_VALUE);
			if (v != good[i].want)
				fail_msg("\"%s\" read as %.17g", good[i].text, v);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct prom_result *r = NULL;
		vec_body(body, sizeof(body), bad[i]);
		if (parse(&r, 200, body) != SLUICE_EINVALID)
			fail_msg("\"%s\" accepted as a sample value", bad[i]);
		assert_null(r);
		assert_msg_has("is not a number");
	}
}

static void test_parse_classes(void **state)
{
	double v;
	(void)state;
	/* no series: no data */
	assert_int_equal(reduce_body("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	                             "\"result\":[]}}",
	                             &v),
	                 PROM_EMPTY);
	assert_true(isnan(v));
	/* two series where one was expected: none picked */
	assert_int_equal(
	    reduce_body("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
	                "{\"metric\":{\"code\":\"200\"},\"value\":[1,\"1\"]},"
	                "{\"metric\":{\"code\":\"500\"},\"value\":[1,\"2\"]}]}}",
	                &v),
	    PROM_MANY);
	assert_true(isnan(v));
	/* scalars, with the sign of infinity kept */
	assert_int_equal(reduce_body("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
	                             "\"result\":[1700000000,\"42\"]}}",
	                             &v),
	                 PROM_VALUE);
	assert_true(v == 42);
	assert_int_equal(reduce_body("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
	                             "\"result\":[1700000000,\"-Inf\"]}}",
	                             &v),
	                 PROM_INF);
	assert_true(isinf(v) && v < 0);
	assert_int_equal(reduce_body("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
	                             "\"result\":[1700000000,\"NaN\"]}}",
	                             &v),
	                 PROM_NAN);
	assert_string_equal(prom_class_name(PROM_MANY), "many");
	assert_string_equal(prom_class_name(PROM_EMPTY), "empty");
}

static void test_parse_matrix(void **state)
{
	struct prom_result *r = NULL;
	enum prom_class cls;
	double v;
	(void)state;
	assert_rc(
	    parse(&r, 200,
	          "{\"status\":\"success\",\"warnings\":[\"careful\"],\"data\":{"
	          "\"resultType\":\"matrix\",\"result\":["
	          "{\"metric\":{\"v\":\"a\"},\"values\":[[10,\"1\"],[11,\"NaN\"],[12,\"+Inf\"]]},"
	          "{\"metric\":{\"v\":\"b\"},\"values\":[]}]}}"),
	    0);
	assert_int_equal(r->type, PROM_MATRIX);
	assert_int_equal(r->nseries, 2);
	assert_int_equal(r->series[0].nsamples, 3);
	assert_true(r->series[0].samples[2].t == 12 && isinf(r->series[0].samples[2].v));
	assert_true(isnan(r->series[0].samples[1].v));
	assert_int_equal(r->series[1].nsamples, 0);
	assert_string_equal(json_string_value(json_array_get(r->warnings, 0)), "careful");
	assert_rc(prom_reduce(&cls, &v, r), SLUICE_EINVALID);
	prom_result_free(r);
}

static void test_parse_errors(void **state)
{
	static const struct {
		long status;
		const char *body;
		int rc;
		const char *has;
	} cases[] = {
	    {400,
	     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
	     "\\\"query\\\": 1:5: parse error: unexpected end of input\"}",
	     SLUICE_EINVALID,
	     "prometheus test: m: query error (bad_data): invalid parameter \"query\": 1:5: parse "
	     "error"},
	    {422, "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"many-to-many\"}",
	     SLUICE_EINVALID, "(execution): many-to-many"},
	    {503,
	     "{\"status\":\"error\",\"errorType\":\"unavailable\",\"error\":\"shutting down\"}",
	     SLUICE_EUNAVAILABLE, "shutting down"},
	    {503, "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out\"}",
	     SLUICE_ETIMEOUT, "query timed out"},
	    {502, "<html>\n<h1>Bad Gateway</h1></html>", SLUICE_EUNAVAILABLE,
	     "HTTP 502: <html> <h1>Bad Gateway"},
	    {500, "", SLUICE_EUNAVAILABLE, "HTTP 500"},
	    {429, "slow down", SLUICE_EUNAVAILABLE, "HTTP 429"},
	    {401, "Unauthorized", SLUICE_EAUTH, "HTTP 401"},
	    {403, "", SLUICE_EFORBIDDEN, "HTTP 403"},
	    {404, "404 page not found", SLUICE_ENOTFOUND, "HTTP 404"},
	    {302, "", SLUICE_EINVALID, "redirects are not followed"},
	    {200, "not json", SLUICE_EINVALID, "malformed answer"},
	    {200, "", SLUICE_EINVALID, "malformed answer"},
	    {200, "{\"status\":\"success\"}", SLUICE_EINVALID, "resultType"},
	    {200, "{\"data\":{\"resultType\":\"vector\",\"result\":[]}}", SLUICE_EINVALID,
	     "no \"status\""},
	    {200, "{\"status\":\"error\",\"error\":\"odd\"}", SLUICE_EINVALID, "odd"},
	    {200,
	     "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"x\"]}}",
	     SLUICE_EINVALID, "a string"},
	    {200, "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[]}}",
	     SLUICE_EINVALID, "unknown resultType"},
	    {200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":{}}}",
	     SLUICE_EINVALID, "not an array"},
	    {200,
	     "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
	     "},"
	     "\"value\":[\"1\",\"1\"]}]}}",
	     SLUICE_EINVALID, "not [time, \"value\"]"},
	    {200,
	     "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
	     "},"
	     "\"value\":[1,1]}]}}",
	     SLUICE_EINVALID, "not [time, \"value\"]"},
	    {200,
	     "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
	     "},"
	     "\"value\":[1,\"1\",3]}]}}",
	     SLUICE_EINVALID, "not [time, \"value\"]"},
	    {200,
	     "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
	     "\"a\":1},\"value\":[1,\"1\"]}]}}",
	     SLUICE_EINVALID, "label a is not a string"},
	    {200,
	     "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
	     "},"
	     "\"histogram\":[1,{\"count\":\"1\"}]}]}}",
	     SLUICE_EINVALID, "native histogram"},
	    {200,
	     "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{"
	     "},"
	     "\"values\":[[1,\"1\"],[2]]}]}}",
	     SLUICE_EINVALID, "a matrix sample"},
	    {200, "{\"status\":\"success\",\"status\":\"success\"}", SLUICE_EINVALID,
	     "malformed answer"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prom_result *r = NULL;
		int rc = parse(&r, cases[i].status, cases[i].body);
		if (rc != cases[i].rc || !strstr(sluice_error_last(), cases[i].has))
			fail_msg("case %zu (HTTP %ld): %s \"%s\", want %s with \"%s\"", i,
			         cases[i].status, sluice_error_name(rc), sluice_error_last(),
			         sluice_error_name(cases[i].rc), cases[i].has);
		assert_null(r);
	}
}

static void test_query_metric(void **state)
{
	static const char *const cases[][2] = {
	    {"up", "up"},
	    {RATIO_Q, "http_requests_total"},
	    {"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket["
	     "1m])))",
	     "http_request_duration_seconds_bucket"},
	    {"sum without (instance) (rate(x:y_total{a=\"b c\"}[5m] offset 1h))", "x:y_total"},
	    {"vector(1)", ""},
	    {"1 / 0", ""},
	    {"{__name__=\"up\"}", ""},
	    {"# a comment with words\nfoo_bar", "foo_bar"},
	    {"SUM BY (le) (bucket)", "bucket"},
	    {"", ""},
	};
	char out[64];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(prom_query_metric(out, sizeof(out), cases[i][0]), cases[i][1]);
	assert_string_equal(prom_query_metric(out, 4, "abcdefgh"), "abc");
}

static void test_client_config(void **state)
{
	struct prom_client *c = NULL;
	struct prom_config cfg = {0};
	char line[256];
	(void)state;
	assert_rc(prom_client_new(&c, &cfg), SLUICE_EINVALID);
	cfg.url = "ftp://example.com";
	assert_rc(prom_client_new(&c, &cfg), SLUICE_EINVALID);
	cfg.url = "http://prom.example.com/?x=1";
	assert_rc(prom_client_new(&c, &cfg), SLUICE_EINVALID);
	cfg.url = "https://user:pw-in-url@prom.example.com:9090/prefix//";
	cfg.bearer_token = "tok-9f8e7d";
	cfg.password = "pw-5a4b3c";
	assert_rc(prom_client_new(&c, &cfg), 0);
	assert_string_equal(prom_client_server(c), "https://prom.example.com:9090/prefix");
	slog_redact(line, sizeof(line), "token tok-9f8e7d password pw-5a4b3c url pw-in-url");
	assert_null(strstr(line, "tok-9f8e7d"));
	assert_null(strstr(line, "pw-5a4b3c"));
	assert_null(strstr(line, "pw-in-url"));
	prom_client_free(c);
	prom_client_free(NULL);
	cfg.url = "http://127.0.0.1:1/";
	assert_rc(prom_client_new(&c, &cfg), 0);
	struct prom_result *r = NULL;
	assert_rc(prom_query_range(c, &r, "up", 10, 5, 1), SLUICE_EINVALID);
	assert_rc(prom_query_range(c, &r, "up", 1, 5, 0), SLUICE_EINVALID);
	assert_rc(prom_query_range(c, &r, "up", NAN, 5, 1), SLUICE_EINVALID);
	assert_rc(prom_query(c, &r, "", 0), SLUICE_EINVALID);
	assert_null(r);
	prom_client_free(c);
}

/* ---- templates ----------------------------------------------------------- */

static char *render_ok(const char *tmpl, const json_t *vars)
{
	char *out = NULL;
	assert_rc(promql_render(&out, tmpl, vars), 0);
	assert_non_null(out);
	return out;
}

static void test_render_escape(void **state)
{
	json_t *vars = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "v", "x\"} or vector(1) #", "ns",
	                         "a\\b\nc\td\x01\x7f", "sq", "it's", "n", (json_int_t)42,
	                         "interval", "1h30m", "u", "caf\xc3\xa9");
	char *out;
	(void)state;
	out = render_ok("http_requests_total{version=\"{{v}}\"}", vars);
	assert_string_equal(out, "http_requests_total{version=\"x\\\"} or vector(1) #\"}");
	free(out);
	out = render_ok("m{ns=\"{{ ns }}\"}", vars);
	assert_string_equal(out, "m{ns=\"a\\\\b\\nc\\td\\x01\\x7f\"}");
	free(out);
	out = render_ok("m{a='{{sq}}', b=\"{{sq}}\"}", vars);
	assert_string_equal(out, "m{a='it\\'s', b=\"it's\"}");
	free(out);
	out = render_ok("m{n=\"{{n}}\", u=\"{{u}}\"}[{{interval}}] offset {{interval}}", vars);
	assert_string_equal(out, "m{n=\"42\", u=\"caf\xc3\xa9\"}[1h30m] offset 1h30m");
	free(out);
	/* an escaped quote in the template does not end the literal */
	out = render_ok("m{a=\"say \\\"{{v}}\\\"\"}", vars);
	assert_string_equal(out, "m{a=\"say \\\"x\\\"} or vector(1) #\\\"\"}");
	free(out);
	/* a comment's # inside a literal is not a comment */
	out = render_ok("m{a=\"#\"}[{{interval}}]", vars);
	assert_string_equal(out, "m{a=\"#\"}[1h30m]");
	free(out);
	out = render_ok("no placeholders { } {x}", vars);
	assert_string_equal(out, "no placeholders { } {x}");
	free(out);
	json_decref(vars);
}

static void test_render_escape_bytes(void **state)
{
	char out[64];
	(void)state;
	/* broken UTF-8 and NUL go in as \xHH; a too small buffer still ends in NUL */
	assert_int_equal(promql_escape(out, sizeof(out),
	                               "a\xff\xc3"
	                               "b\0c",
	                               6, '"'),
	                 15);
	assert_string_equal(out, "a\\xff\\xc3b\\x00c");
	assert_int_equal(promql_escape(out, 4, "a\"b", 3, '"'), 4);
	assert_string_equal(out, "a\\\"");
	assert_int_equal(promql_escape(NULL, 0, "\"", 1, '"'), 2);
	assert_int_equal(promql_escape(out, sizeof(out), "\"'", 2, '\''), 3);
	assert_string_equal(out, "\"\\'");
}

static void test_render_refused(void **state)
{
	json_t *vars = json_pack("{s:s, s:s, s:s, s:b, s:n, s:s}", "v", "x", "inj",
	                         "5m] or vector(1) #", "num", "5", "flag", 1, "nul", "empty", "");
	static const struct {
		const char *tmpl;
		int rc;
		const char *has;
	} cases[] = {
	    {"m{a=\"{{nope}}\", b=\"{{v}}\", c=\"{{other}}\"}", SLUICE_EINVALID,
	     "unknown template variable \"nope\"; unknown template variable \"other\""},
	    {"m[{{inj}}]", SLUICE_EINVALID, "\"inj\" is outside quotes"},
	    {"m[{{num}}]", SLUICE_EINVALID, "\"num\" is outside quotes"},
	    {"m[{{empty}}]", SLUICE_EINVALID, "\"empty\" is outside quotes"},
	    {"m{a=`{{v}}`}", SLUICE_EINVALID, "raw string"},
	    {"m{a=\"{{flag}}\"}", SLUICE_EINVALID, "\"flag\": a string or an integer"},
	    {"m{a=\"{{nul}}\"}", SLUICE_EINVALID, "\"nul\": a string or an integer"},
	    {"m{a=\"{{ 1x }}\"}", SLUICE_EINVALID, "bad placeholder at offset 5"},
	    {"m{a=\"{{v\"}", SLUICE_EINVALID, "bad placeholder"},
	    {"m{a=\"{{}}\"}", SLUICE_EINVALID, "bad placeholder"},
	    {"m{a=\"\\{{v}}\"}", SLUICE_EINVALID, "right after a backslash"},
	    {"m # {{v}}", SLUICE_EINVALID, "outside quotes"},
	};
	char *out = NULL;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = promql_render(&out, cases[i].tmpl, vars);
		if (rc != cases[i].rc || !strstr(sluice_error_last(), cases[i].has))
			fail_msg("template %s: %s \"%s\", want %s with \"%s\"", cases[i].tmpl,
			         sluice_error_name(rc), sluice_error_last(),
			         sluice_error_name(cases[i].rc), cases[i].has);
		assert_null(out);
	}
	/* durations outside quotes */
	static const char *const durations[] = {"5m", "30s", "100ms", "1h30m", "2d", "1w", "1y"};
	static const char *const not_durations[] = {"m",   "5",   "5M",   "5mm",
	                                            "5m ", "-5m", "5.5m", "5m)"};
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		json_object_set_new(vars, "d", json_string(durations[i]));
		free(render_ok("rate(m[{{d}}])", vars));
	}
	for (size_t i = 0; i < sizeof(not_durations) / sizeof(not_durations[0]); i++) {
		json_object_set_new(vars, "d", json_string(not_durations[i]));
		assert_rc(promql_render(&out, "rate(m[{{d}}])", vars), SLUICE_EINVALID);
	}
	json_decref(vars);
}

static void test_render_bounds(void **state)
{
	char big[PROMQL_VALUE_MAX + 2], tmpl[2048];
	json_t *vars = json_object();
	char *out = NULL;
	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(vars, "big", json_string(big)); /* 1025 bytes */
	assert_rc(promql_render(&out, "m{a=\"{{big}}\"}", vars), SLUICE_ELIMIT);
	assert_msg_has("longer than 1024 bytes");
	big[PROMQL_VALUE_MAX] = '\0';
	json_object_set_new(vars, "big", json_string(big)); /* 1024 bytes: fine */
	out = render_ok("m{a=\"{{big}}\"}", vars);
	assert_int_equal(strlen(out), PROMQL_VALUE_MAX + 7);
	free(out);
	/* 70 x 1024 bytes > 64 KiB */
	tmpl[0] = '\0';
	strcat(tmpl, "m{a=\"");
	for (int i = 0; i < 70; i++)
		strcat(tmpl, "{{big}}");
	strcat(tmpl, "\"}");
	assert_rc(promql_render(&out, tmpl, vars), SLUICE_ELIMIT);
	assert_msg_has("longer than 65536 bytes");
	assert_null(out);
	/* escaping can double a value: 1024 quotes become 2048 bytes, counted */
	memset(big, '"', PROMQL_VALUE_MAX);
	json_object_set_new(vars, "big", json_string(big));
	out = render_ok("m{a=\"{{big}}\"}", vars);
	assert_int_equal(strlen(out), 2 * PROMQL_VALUE_MAX + 7);
	free(out);
	/* no vars at all: every placeholder is unknown */
	assert_rc(promql_render(&out, "m{a=\"{{x}}\"}", NULL), SLUICE_EINVALID);
	assert_msg_has("unknown template variable \"x\"");
	json_decref(vars);
}

/* ---- fake servers on loopback, in this process --------------------------- */

#define FAKE_SILENT    0x1 /* accept nothing: the kernel completes the handshake */
#define FAKE_NO_LENGTH 0x2 /* no Content-Length: the body ends when the connection does */

struct fake {
	int fd;
	int port;
	int flags;
	pthread_t thread;
	char head[2048]; /* status line, headers and body */
	size_t filler;   /* then this many bytes of '[' */
	char request[8192];
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	char chunk[4096];
	size_t got = 0;
	int c = accept(f->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (got + 1 < sizeof(f->request) && !strstr(f->request, "\r\n\r\n")) {
		ssize_t n = recv(c, f->request + got, sizeof(f->request) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		f->request[got] = '\0';
	}
	if (send(c, f->head, strlen(f->head), MSG_NOSIGNAL) > 0) {
		memset(chunk, '[', sizeof(chunk));
		for (size_t sent = 0; sent < f->filler;) {
			size_t n =
			    f->filler - sent < sizeof(chunk) ? f->filler - sent : sizeof(chunk);
			ssize_t w = send(c, chunk, n, MSG_NOSIGNAL);
			if (w <= 0)
				break; /* the client gave up, as it should */
			sent += (size_t)w;
		}
	}
	close(c);
	return NULL;
}

/* A server answering one request with `status` ("200 OK"), `body` and `filler` bytes. */
static void fake_start(struct fake *f, const char *status, const char *body, size_t filler,
                       int flags)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	char len[64] = "";

	memset(f->request, 0, sizeof(f->request));
	if (!(flags & FAKE_NO_LENGTH))
		snprintf(len, sizeof(len), "Content-Length: %zu\r\n", strlen(body) + filler);
	snprintf(f->head, sizeof(f->head),
	         "HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n%s\r\n%s",
	         status, len, body);
	f->filler = filler;
	f->flags = flags;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	if (!(flags & FAKE_SILENT))
		assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	if (!(f->flags & FAKE_SILENT))
		pthread_join(f->thread, NULL);
	close(f->fd);
}

static struct prom_client *fake_client(const struct fake *f, long timeout_ms, size_t max_body,
                                       const char *token, const char *user, const char *pass)
{
	char url[128];
	struct prom_config cfg = {.timeout_ms = timeout_ms,
	                          .max_body = max_body,
	                          .bearer_token = token,
	                          .username = user,
	                          .password = pass};
	struct prom_client *c = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f->port);
	cfg.url = url;
	assert_rc(prom_client_new(&c, &cfg), 0);
	return c;
}

static void test_fake_slow(void **state)
{
	struct fake f;
	struct prom_client *c;
	enum prom_class cls;
	double v, t0, ms;
	(void)state;
	fake_start(&f, "200 OK", "", 0, FAKE_SILENT);
	c = fake_client(&f, 400, 0, NULL, NULL, NULL);
	t0 = mono_ms();
	assert_rc(prom_query_value(c, &cls, &v, "up", 0), SLUICE_ETIMEOUT);
	ms = mono_ms() - t0;
	if (ms < 380 || ms > 400 + 1000)
		fail_msg("timed out after %.0f ms, want about 400", ms);
	assert_msg_has("no answer within 400 ms");
	assert_msg_has("prometheus http://127.0.0.1:");
	assert_msg_has(": up: ");
	prom_client_free(c);
	fake_stop(&f);
}

static void test_fake_5xx(void **state)
{
	struct fake f;
	struct prom_client *c;
	struct prom_result *r = NULL;
	(void)state;
	fake_start(&f, "503 Service Unavailable", "<h1>upstream is down</h1>\r\n", 0, 0);
	c = fake_client(&f, 2000, 0, NULL, NULL, NULL);
	assert_rc(prom_query(c, &r, "rate(errors_total[1m])", 0), SLUICE_EUNAVAILABLE);
	assert_msg_has("errors_total: HTTP 503: <h1>upstream is down</h1>");
	assert_null(r);
	prom_client_free(c);
	fake_stop(&f);
	fake_start(&f, "500 Internal Server Error",
	           "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":\"disk full\"}", 0,
	           0);
	c = fake_client(&f, 2000, 0, NULL, NULL, NULL);
	assert_rc(prom_query(c, &r, "up", 0), SLUICE_EUNAVAILABLE);
	assert_msg_has("query error (internal): disk full");
	prom_client_free(c);
	fake_stop(&f);
}

static void test_fake_oversized(void **state)
{
	struct fake f;
	struct prom_client *c;
	struct prom_result *r = NULL;
	(void)state;
	/* announced by Content-Length */
	fake_start(&f, "200 OK", "", 100000, 0);
	c = fake_client(&f, 5000, 4096, NULL, NULL, NULL);
	assert_rc(prom_query(c, &r, "up", 0), SLUICE_ELIMIT);
	assert_msg_has("answer larger than 4096 bytes");
	prom_client_free(c);
	fake_stop(&f);
	/* not announced: counted as it comes */
	fake_start(&f, "200 OK", "", 1 << 20, FAKE_NO_LENGTH);
	c = fake_client(&f, 5000, 4096, NULL, NULL, NULL);
	assert_rc(prom_query(c, &r, "up", 0), SLUICE_ELIMIT);
	assert_null(r);
	prom_client_free(c);
	fake_stop(&f);
	/* at the limit exactly: read, then rejected as JSON */
	fake_start(&f, "200 OK", "", 4096, 0);
	c = fake_client(&f, 5000, 4096, NULL, NULL, NULL);
	assert_rc(prom_query(c, &r, "up", 0), SLUICE_EINVALID);
	assert_msg_has("malformed answer");
	prom_client_free(c);
	fake_stop(&f);
}

static void test_fake_request(void **state)
{
	static const char ok[] =
	    "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}";
	struct fake f;
	struct prom_client *c;
	struct prom_result *r = NULL;
	(void)state;
	/* the instant query's parameters and the bearer token */
	fake_start(&f, "200 OK", ok, 0, 0);
	c = fake_client(&f, 1500, 0, "s3cr3t-token-value", NULL, NULL);
	assert_rc(prom_query(c, &r, "up{a=\"b c\"}", 1700000000.5), 0);
	assert_int_equal(r->type, PROM_VECTOR);
	assert_int_equal(r->nseries, 0);
	prom_result_free(r);
	assert_non_null(strstr(f.request, "GET /api/v1/query?query=up%7Ba%3D%22b%20c%22%7D&"
	                                  "timeout=1500ms&time=1700000000.500 HTTP/1.1\r\n"));
	assert_non_null(strstr(f.request, "\r\nAuthorization: Bearer s3cr3t-token-value\r\n"));
	prom_client_free(c);
	fake_stop(&f);
	/* the range query's, and basic auth */
	fake_start(&f, "200 OK", ok, 0, 0);
	c = fake_client(&f, 1500, 0, NULL, "alice", "pa55-word-value");
	assert_rc(prom_query_range(c, &r, "up", 100, 160, 15), 0);
	prom_result_free(r);
	assert_non_null(strstr(f.request, "GET /api/v1/query_range?query=up&timeout=1500ms&"
	                                  "start=100.000&end=160.000&step=15.000 HTTP/1.1\r\n"));
	/* alice:pa55-word-value */
	assert_non_null(
	    strstr(f.request, "\r\nAuthorization: Basic YWxpY2U6cGE1NS13b3JkLXZhbHVl\r\n"));
	prom_client_free(c);
	fake_stop(&f);
	/* refused credentials: the message never holds the token */
	fake_start(&f, "401 Unauthorized", "", 0, 0);
	c = fake_client(&f, 1500, 0, "s3cr3t-token-value", NULL, NULL);
	assert_rc(prom_query(c, &r, "up", 0), SLUICE_EAUTH);
	assert_null(strstr(sluice_error_last(), "s3cr3t"));
	prom_client_free(c);
	fake_stop(&f);
	/* a 200 that is not JSON */
	fake_start(&f, "200 OK", "not json!", 0, 0);
	c = fake_client(&f, 1500, 0, NULL, NULL, NULL);
	assert_rc(prom_query(c, &r, "up", 0), SLUICE_EINVALID);
	assert_msg_has("malformed answer");
	prom_client_free(c);
	fake_stop(&f);
	/* a redirect is not followed */
	fake_start(&f, "302 Found\r\nLocation: http://example.com/", "", 0, 0);
	c = fake_client(&f, 1500, 0, "s3cr3t-token-value", NULL, NULL);
	assert_rc(prom_query(c, &r, "up", 0), SLUICE_EINVALID);
	assert_msg_has("HTTP 302 (redirects are not followed");
	prom_client_free(c);
	fake_stop(&f);
}

/* ---- a real Prometheus --------------------------------------------------- */

static char *dir;
static char prom_url[128];
static struct prom_client *pc;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int live_setup(void **state)
{
	char path[2200], *port = NULL;
	struct prom_config cfg = {0};
	enum prom_class cls = PROM_EMPTY;
	double v;
	FILE *p;
	(void)state;
	dir = test_tmpdir();
	if (!dir)
		return -1;
	if (sh("python3 tests/sandbox/exporter.py --port-file '%s/exporter.port' "
	       ">'%s/exporter.log' 2>&1 & echo $! >'%s/exporter.pid'",
	       dir, dir, dir) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/exporter.port", dir);
	for (int i = 0; i < 100 && !(port = test_read_file(path, NULL)); i++)
		usleep(50000);
	if (!port) {
		fprintf(stderr, "test_prom: the exporter did not start\n");
		return -1;
	}
	port[strcspn(port, "\n")] = '\0';
	/* v2 takes traffic with 20% errors; idle is exported with no traffic */
	if (sh("curl -sf -o /dev/null -X POST http://127.0.0.1:%s/control -d "
	       "'{\"version\":\"v2\",\"rps\":50,\"error_rate\":0.2,\"latency_ms\":300}' && "
	       "curl -sf -o /dev/null -X POST http://127.0.0.1:%s/control -d "
	       "'{\"version\":\"idle\",\"rps\":0}'",
	       port, port) != 0) {
		free(port);
		return -1;
	}
	snprintf(path, sizeof(path), "tests/sandbox/prometheus up '%s/prom' 127.0.0.1:%s", dir,
	         port);
	free(port);
	p = popen(path, "r");
	if (!p || !fgets(prom_url, sizeof(prom_url), p) || pclose(p) != 0) {
		fprintf(stderr, "test_prom: prometheus did not come up in %s/prom\n", dir);
		return -1;
	}
	prom_url[strcspn(prom_url, "\n")] = '\0';
	cfg.url = prom_url;
	cfg.timeout_ms = 5000;
	if (prom_client_new(&pc, &cfg) < 0)
		return -1;
	/* a few scrapes, until the rate has two samples */
	for (int i = 0; i < 300 && cls != PROM_VALUE; i++) {
		if (prom_query_value(pc, &cls, &v, RATIO_Q, 0) < 0)
			fprintf(stderr, "test_prom: %s\n", sluice_error_last());
		if (cls != PROM_VALUE)
			usleep(100000);
	}
	if (cls != PROM_VALUE) {
		fprintf(stderr, "test_prom: no rate after 30 s\n");
		return -1;
	}
	sleep(3); /* and enough scrapes for a few seconds of history */
	return 0;
}

static int live_teardown(void **state)
{
	(void)state;
	prom_client_free(pc);
	if (!dir)
		return 0;
	sh("tests/sandbox/prometheus down '%s/prom' >/dev/null 2>&1; "
	   "kill $(cat '%s/exporter.pid') 2>/dev/null",
	   dir, dir);
	test_rm_rf(dir);
	free(dir);
	return 0;
}

static enum prom_class live_value(const char *q, double *v)
{
	enum prom_class cls;
	assert_rc(prom_query_value(pc, &cls, v, q, 0), 0);
	return cls;
}

static void test_live_ratio(void **state)
{
	double v;
	(void)state;
	assert_int_equal(live_value(RATIO_Q, &v), PROM_VALUE);
	if (fabs(v - 0.2) > 1e-9)
		fail_msg("error ratio %.17g, want 0.2", v);
	/* the median of a log-normal around 300 ms, from the histogram */
	assert_int_equal(live_value("histogram_quantile(0.5, sum by (le) (rate("
	                            "http_request_duration_seconds_bucket{version=\"v2\"}[5s])))",
	                            &v),
	                 PROM_VALUE);
	if (v < 0.25 || v > 0.5)
		fail_msg("median latency %.3f s, want in the 0.25..0.5 bucket", v);
	/* at an explicit time, a second ago */
	enum prom_class cls;
	assert_rc(prom_query_value(pc, &cls, &v, RATIO_Q, now_s() - 1), 0);
	assert_int_equal(cls, PROM_VALUE);
	assert_true(fabs(v - 0.2) < 1e-9);
	/* and before the exporter existed: no data */
	assert_rc(prom_query_value(pc, &cls, &v, RATIO_Q, now_s() - 3600), 0);
	assert_int_equal(cls, PROM_EMPTY);
}

static void test_live_classes(void **state)
{
	double v;
	(void)state;
	/* a version with no traffic at all: no series */
	assert_int_equal(
	    live_value("sum(rate(http_requests_total{version=\"v9\",code=\"500\"}[5s]))"
	               " / sum(rate(http_requests_total{version=\"v9\"}[5s]))",
	               &v),
	    PROM_EMPTY);
	/* exported, but no requests: 0/0 */
	assert_int_equal(live_value("sum(rate(http_requests_total{version=\"idle\",code=\"500\"}"
	                            "[5s])) / sum(rate(http_requests_total{version=\"idle\"}[5s]))",
	                            &v),
	                 PROM_NAN);
	/* errors over no requests: x/0 */
	assert_int_equal(
	    live_value("sum(rate(http_requests_total{version=\"v2\",code=\"500\"}[5s]))"
	               " / sum(rate(http_requests_total{version=\"idle\"}[5s]))",
	               &v),
	    PROM_INF);
	assert_true(v > 0);
	assert_int_equal(live_value("-1/0", &v), PROM_INF);
	assert_true(v < 0);
	assert_int_equal(live_value("scalar(vector(0.5))", &v), PROM_VALUE);
	assert_true(v == 0.5);
	/* one series per code: never picked from */
	assert_int_equal(live_value("rate(http_requests_total{version=\"v2\"}[5s])", &v),
	                 PROM_MANY);
}

static void test_live_bad_query(void **state)
{
	enum prom_class cls;
	double v;
	char want[256];
	(void)state;
	assert_rc(
	    prom_query_value(pc, &cls, &v, "sum(rate(http_requests_total{version=\"v2\"[5s]))", 0),
	    SLUICE_EINVALID);
	snprintf(want, sizeof(want),
	         "prometheus %s: http_requests_total: query error (bad_data): ", prom_url);
	assert_msg_has(want);
	assert_msg_has("parse error");
	/* an instant query of a range selector answers a matrix */
	struct prom_result *r = NULL;
	assert_rc(prom_query(pc, &r, "http_requests_total[5s]", 0), SLUICE_EINVALID);
	assert_msg_has("matrix");
	assert_null(r);
}

static void test_live_range(void **state)
{
	struct prom_result *r = NULL;
	double end = floor(now_s());
	(void)state;
	assert_rc(prom_query_range(pc, &r,
	                           "sum by (code) (rate(http_requests_total{version=\"v2\"}"
	                           "[5s]))",
	                           end - 2, end, 1),
	          0);
	assert_int_equal(r->type, PROM_MATRIX);
	assert_int_equal(r->nseries, 2);
	for (size_t i = 0; i < r->nseries; i++) {
		const char *code = json_string_value(json_object_get(r->series[i].labels, "code"));
		assert_non_null(code);
		assert_true(strcmp(code, "200") == 0 || strcmp(code, "500") == 0);
		assert_true(r->series[i].nsamples >= 2 && r->series[i].nsamples <= 3);
		for (size_t k = 0; k < r->series[i].nsamples; k++) {
			assert_true(r->series[i].samples[k].v > 0);
			if (k > 0)
				assert_true(r->series[i].samples[k].t ==
				            r->series[i].samples[k - 1].t + 1);
		}
		assert_true(r->series[i].samples[r->series[i].nsamples - 1].t == end);
	}
	prom_result_free(r);
}

static void test_live_injection(void **state)
{
	static const char tmpl[] = "http_requests_total{version=\"{{version}}\"}";
	static const char evil[] = "x\"} or vector(1) #";
	json_t *vars = json_pack("{s:s, s:s}", "version", evil, "interval", "5s");
	char naive[256], *q = NULL;
	double v;
	(void)state;
	/* what plain substitution would send: the value ends the literal */
	snprintf(naive, sizeof(naive), "http_requests_total{version=\"%s\"}", evil);
	assert_int_equal(live_value(naive, &v), PROM_VALUE);
	assert_true(v == 1);
	/* rendered, it stays one label value that matches nothing */
	assert_rc(promql_render(&q, tmpl, vars), 0);
	assert_int_equal(live_value(q, &v), PROM_EMPTY);
	free(q);
	assert_rc(promql_render(&q,
	                        "sum(rate(http_requests_total{version=\"{{version}}\","
	                        "code=\"500\"}[{{interval}}])) / sum(rate(http_requests_total{"
	                        "version=\"{{version}}\"}[{{interval}}]))",
	                        vars),
	          0);
	assert_int_equal(live_value(q, &v), PROM_EMPTY);
	free(q);
	/* and the real version through the same template gives the real ratio */
	json_object_set_new(vars, "version", json_string("v2"));
	assert_rc(promql_render(&q,
	                        "sum(rate(http_requests_total{version=\"{{version}}\","
	                        "code=\"500\"}[{{interval}}])) / sum(rate(http_requests_total{"
	                        "version=\"{{version}}\"}[{{interval}}]))",
	                        vars),
	          0);
	assert_int_equal(live_value(q, &v), PROM_VALUE);
	assert_true(fabs(v - 0.2) < 1e-9);
	free(q);
	/* control bytes and quotes round-trip into a label matcher Prometheus accepts */
	json_object_set_new(vars, "version", json_string("a\\b\n\"c'\x01"));
	assert_rc(promql_render(&q, tmpl, vars), 0);
	assert_int_equal(live_value(q, &v), PROM_EMPTY);
	free(q);
	json_decref(vars);
}

/* Last: it stops the server. */
static void test_live_stopped(void **state)
{
	enum prom_class cls;
	double v, t0, ms;
	(void)state;
	assert_int_equal(sh("tests/sandbox/prometheus down '%s/prom' >/dev/null", dir), 0);
	t0 = mono_ms();
	assert_rc(prom_query_value(pc, &cls, &v, RATIO_Q, 0), SLUICE_EUNAVAILABLE);
	ms = mono_ms() - t0;
	if (ms > 1000)
		fail_msg("connection refused took %.0f ms", ms);
	assert_msg_has("cannot reach the server");
	assert_msg_has(prom_url);
	assert_int_equal(cls, PROM_EMPTY);
	assert_true(isnan(v));
}

int main(void)
{
	const struct CMUnitTest offline[] = {
	    cmocka_unit_test(test_parse_vector),
	    cmocka_unit_test(test_parse_values),
	    cmocka_unit_test(test_parse_classes),
	    cmocka_unit_test(test_parse_matrix),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_query_metric),
	    cmocka_unit_test(test_client_config),
	    cmocka_unit_test(test_render_escape),
	    cmocka_unit_test(test_render_escape_bytes),
	    cmocka_unit_test(test_render_refused),
	    cmocka_unit_test(test_render_bounds),
	    cmocka_unit_test(test_fake_slow),
	    cmocka_unit_test(test_fake_5xx),
	    cmocka_unit_test(test_fake_oversized),
	    cmocka_unit_test(test_fake_request),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_live_ratio),     cmocka_unit_test(test_live_classes),
	    cmocka_unit_test(test_live_bad_query), cmocka_unit_test(test_live_range),
	    cmocka_unit_test(test_live_injection), cmocka_unit_test(test_live_stopped),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	failed = cmocka_run_group_tests_name("prom_offline", offline, NULL, NULL);
	failed += cmocka_run_group_tests_name("prom_live", live, live_setup, live_teardown);
	return failed;
}
