/*
 * The Prometheus HTTP API client (instant and range queries) and PromQL
 * query templates.
 *
 * The client is synchronous: each query is one libcurl easy handle, bounded
 * by timeout_ms and max_body, with no retry (the analysis runner decides what
 * an error means and when to ask again). A query's
 * answer is parsed into plain structs; prom_reduce() turns an instant answer
 * into ONE value with an explicit class, so "no data", NaN, Inf and "several
 * series" are never confused with a number and never silently picked from.
 *
 * Errors follow sluice's convention (0 or a negative SLUICE_E* code, with a
 * one-line message naming the server and the query's metric, e.g.
 * "prometheus http://127.0.0.1:9090: http_requests_total: query error
 * (bad_data): invalid parameter "query": 1:5: parse error: ..."):
 *   SLUICE_EUNAVAILABLE  connection refused, DNS, reset; HTTP 5xx and 429
 *   SLUICE_ETIMEOUT      no full answer within timeout_ms, or Prometheus's
 *                        own errorType "timeout"
 *   SLUICE_EINVALID      HTTP 4xx with Prometheus's error (a bad query: the
 *                        message is Prometheus's), a malformed or unexpected
 *                        body, a string result, an unsupported sample type
 *   SLUICE_EAUTH         HTTP 401; SLUICE_EFORBIDDEN 403; SLUICE_ENOTFOUND 404
 *                        (usually a wrong URL path prefix)
 *   SLUICE_ELIMIT        a response body over max_body
 *   SLUICE_ETLS          TLS handshake or certificate verification failed
 * Redirects are not followed (credentials would go with them).
 *
 * The bearer token and password are registered with slog_add_secret() and
 * never appear in a message; userinfo in the URL is dropped from messages.
 */
#ifndef SLUICE_PROM_H
#define SLUICE_PROM_H

#include <stddef.h>

#include <jansson.h>

#define PROM_DEFAULT_TIMEOUT_MS 10000L
#define PROM_DEFAULT_MAX_BODY   ((size_t)8 << 20) /* 8 MiB */

/* ---- client ------------------------------------------------------------ */

struct prom_config {
	const char *url;                 /* "http://127.0.0.1:9090" (a path prefix is kept) */
	const char *bearer_token;        /* Authorization: Bearer, or NULL */
	const char *username, *password; /* basic auth, when no token */
	const char *ca_file;             /* PEM bundle for https, or NULL: system CAs */
	long timeout_ms;                 /* whole request, connect included (0: 10000) */
	size_t max_body;                 /* largest response body (0: 8 MiB) */
};

struct prom_client;

/* A client for `cfg` (copied; secrets registered for redaction). */
int prom_client_new(struct prom_client **out, const struct prom_config *cfg);
void prom_client_free(struct prom_client *c);

/* The server as shown in messages: the URL without userinfo or query. */
const char *prom_client_server(const struct prom_client *c);

/* ---- results ----------------------------------------------------------- */

enum prom_result_type { PROM_VECTOR, PROM_SCALAR, PROM_MATRIX };

struct prom_sample {
	double t; /* Unix seconds */
	double v; /* may be NaN or +-Inf */
};

struct prom_series {
	json_t *labels; /* object, label name -> string value ({} for a scalar) */
	struct prom_sample *samples;
	size_t nsamples; /* 1 in a vector or scalar; 0..n in a matrix */
};

struct prom_result {
	enum prom_result_type type;
	struct prom_series *series; /* a scalar is one series without labels */
	size_t nseries;
	json_t *warnings; /* array of strings from Prometheus, or NULL */
};

void prom_result_free(struct prom_result *r);

/*
 * Parse an API answer: `status` is the HTTP status it came with (200 for a
 * bare body), `where` prefixes messages ("prometheus URL: metric"; NULL:
 * "prometheus"). Returns 0 and a new result, or an error mapped as above.
 * Sample values are the API's strings: "NaN", "+Inf", "-Inf" (and "Inf"), or a
 * decimal number read exactly by strtod; anything else (spaces, hex, "nan",
 * out of range) is rejected. Native histogram samples are rejected.
 */
int prom_parse_response(struct prom_result **out, long status, const char *body, size_t len,
                        const char *where);

/* ---- queries ----------------------------------------------------------- */

/*
 * Instant query (GET /api/v1/query) at `time` (Unix seconds; <= 0: the
 * server's now). The result is a vector or a scalar; a matrix answer (the
 * query is a range selector such as `x[5m]`) is SLUICE_EINVALID.
 */
int prom_query(struct prom_client *c, struct prom_result **out, const char *query, double time);

/*
 * Range query (GET /api/v1/query_range) from `start` to `end` (Unix seconds,
 * start <= end) every `step` seconds (> 0); the result is a matrix.
 * SLUICE_EINVALID for bad bounds, before anything is sent.
 */
int prom_query_range(struct prom_client *c, struct prom_result **out, const char *query,
                     double start, double end, double step);

/* ---- one value ----------------------------------------------------------- */

enum prom_class {
	PROM_VALUE, /* one finite number */
	PROM_EMPTY, /* no series: no data (e.g. the version has no traffic) */
	PROM_NAN,   /* one series whose value is NaN (e.g. 0/0) */
	PROM_INF,   /* one series whose value is +Inf or -Inf (the sign is kept) */
	PROM_MANY,  /* several series where one was expected: none is picked */
};

/* "value", "empty", "nan", "inf", "many". */
const char *prom_class_name(enum prom_class cls);

/*
 * Reduce an instant result (vector or scalar) to one value. *value is the
 * number for PROM_VALUE, NaN for PROM_NAN, +-INFINITY for PROM_INF and NaN for
 * PROM_EMPTY and PROM_MANY. A matrix is SLUICE_EINVALID (ask an instant query).
 */
int prom_reduce(enum prom_class *cls, double *value, const struct prom_result *r);

/* prom_query() then prom_reduce(); a PROM_MANY message is not an error. */
int prom_query_value(struct prom_client *c, enum prom_class *cls, double *value, const char *query,
                     double time);

/*
 * The first metric name a query selects (e.g. "http_requests_total" in
 * "sum(rate(http_requests_total{code=~"5.."}[1m]))"), copied into out (size
 * n), for messages; "" when there is none (e.g. "vector(1)"). Returns out.
 */
char *prom_query_metric(char *out, size_t n, const char *query);

/* ---- templates (src/analysis/promql.c) --------------------------------- */

#define PROMQL_VALUE_MAX  1024  /* longest variable value, in bytes */
#define PROMQL_OUTPUT_MAX 65536 /* longest rendered query, in bytes */

/*
 * Render a query template: every {{name}} (spaces allowed inside the braces;
 * name is [A-Za-z_][A-Za-z0-9_]*) is replaced by the value of `name` in `vars`
 * (a JSON object whose values are strings or integers). The output is a new
 * string (free()).
 *
 * Where a placeholder stands decides how its value goes in, so that no value
 * can change the query's structure:
 *  - inside a "double-" or 'single-quoted' string literal of the template, the
 *    value is escaped for that literal (backslash, the quote, newline, tab and
 *    every other control byte as \n, \t, \xHH ...): `version="{{version}}"`
 *    with the value `x"} or vector(1) #` still matches one label value;
 *  - anywhere else (e.g. a range `[{{interval}}]` or an offset), the value
 *    must be a duration, ^([0-9]+(ms|s|m|h|d|w|y))+$ such as "30s" or "1h30m",
 *    and is inserted as is; any other value is refused;
 *  - inside a `backtick` raw string nothing can be escaped: refused.
 * So templates put label values in quotes: `namespace="{{namespace}}"`.
 * A literal "{{" cannot be written in a template.
 *
 * Errors: SLUICE_EINVALID naming the variable (unknown variables are all
 * listed), a bad placeholder, a value that is not a string or an integer or
 * not a duration outside quotes; SLUICE_ELIMIT for a value over
 * PROMQL_VALUE_MAX or an output over PROMQL_OUTPUT_MAX.
 */
int promql_render(char **out, const char *tmpl, const json_t *vars);

/*
 * Escape `len` bytes of `s` for a PromQL string literal quoted with `quote`
 * ('"' or '\'') into out (size n, always NUL-terminated when n > 0). Returns
 * the length the escaped text needs (as snprintf does), not counting the NUL.
 */
size_t promql_escape(char *out, size_t n, const char *s, size_t len, char quote);

#endif
