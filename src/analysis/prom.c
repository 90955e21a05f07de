/*
 * The Prometheus HTTP API client: one synchronous libcurl transfer per query,
 * the answer parsed with jansson into plain structs, and the reduction of an
 * instant answer to one classified value.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/prom.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

#define WHERE_MAX   (SERVER_MAX + 256) /* "prometheus URL: metric" prefix of messages */
#define SERVER_MAX  384                /* the URL as shown */
#define SNIPPET_MAX 120                /* longest piece of a foreign body quoted in a message */

struct prom_client {
	char *url; /* without trailing slashes */
	char *token;
	char *username, *password;
	char *ca_file;
	long timeout_ms;
	size_t max_body;
	char server[SERVER_MAX];
};

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The URL without userinfo, query or fragment, for messages. */
static void server_name(char *out, size_t n, const char *url)
{
	const char *p = strstr(url, "://"), *host = p ? p + 3 : url, *end, *at;
	size_t hl = strcspn(host, "/?#");

	at = memchr(host, '@', hl);
	snprintf(out, n, "%.*s", (int)(host - url), url);
	if (at)
		host = at + 1;
	end = host + strcspn(host, "?#");
	snprintf(out + strlen(out), n - strlen(out), "%.*s", (int)(end - host), host);
}

/* A password in the URL's userinfo (user:password@host) is a secret too. */
static int url_password_secret(const char *url)
{
	const char *host = strstr(url, "://") + 3, *at, *colon;
	size_t hl = strcspn(host, "/");
	char pw[256];

	at = memchr(host, '@', hl);
	colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
	if (!colon || (size_t)(at - colon - 1) >= sizeof(pw))
		return 0;
	snprintf(pw, sizeof(pw), "%.*s", (int)(at - colon - 1), colon + 1);
	return slog_add_secret(pw);
}

int prom_client_new(struct prom_client **out, const struct prom_config *cfg)
{
	static int curl_ready;
	struct prom_client *c;
	size_t n;

	*out = NULL;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return sluice_error_set(SLUICE_ERROR, "curl_global_init failed");
		curl_ready = 1;
	}
	if (!cfg || !cfg->url || !*cfg->url)
		return sluice_error_set(SLUICE_EINVALID, "prometheus: no URL configured");
	if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0)
		return sluice_error_set(SLUICE_EINVALID,
		                        "prometheus: the URL must start with http:// or https://");
	if (strpbrk(cfg->url, "?#"))
		return sluice_error_set(SLUICE_EINVALID,
		                        "prometheus: the URL must not have a query or a fragment");
	c = calloc(1, sizeof(*c));
	if (!c)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	c->url = strdup(cfg->url);
	c->token = xstrdup(cfg->bearer_token);
	c->username = xstrdup(cfg->username);
	c->password = xstrdup(cfg->password);
	c->ca_file = xstrdup(cfg->ca_file);
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : PROM_DEFAULT_TIMEOUT_MS;
	c->max_body = cfg->max_body > 0 ? cfg->max_body : PROM_DEFAULT_MAX_BODY;
	if (!c->url || (cfg->bearer_token && !c->token) || (cfg->username && !c->username) ||
	    (cfg->password && !c->password) || (cfg->ca_file && !c->ca_file)) {
		prom_client_free(c);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	n = strlen(c->url);
	while (n > 0 && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	server_name(c->server, sizeof(c->server), c->url);
	if (slog_add_secret(c->token) < 0 || slog_add_secret(c->password) < 0 ||
	    url_password_secret(c->url) < 0) {
		int rc = sluice_error_last_code();
		prom_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void prom_client_free(struct prom_client *c)
{
	if (!c)
		return;
	free(c->url);
	free(c->token);
	free(c->username);
	free(c->password);
	free(c->ca_file);
	free(c);
}

const char *prom_client_server(const struct prom_client *c)
{
	return c->server;
}

/* ---- metric name, for messages ------------------------------------------ */

static int ident_start(int ch)
{
	return isalpha(ch) || ch == '_' || ch == ':';
}

static int ident_char(int ch)
{
	return isalnum(ch) || ch == '_' || ch == ':';
}

/* Skip a quoted string or a comment starting at p; returns the end. */
static const char *skip_literal(const char *p)
{
	char q = *p;

	if (q == '#')
		return p + strcspn(p, "\n");
	for (p++; *p && *p != q; p++)
		if (*p == '\\' && q != '`' && p[1])
			p++;
	return *p ? p + 1 : p;
}

static int keyword(const char *s, size_t n)
{
	static const char *const kw[] = {"by",          "without", "on",  "ignoring", "group_left",
	                                 "group_right", "bool",    "and", "or",       "unless",
	                                 "offset",      "inf",     "nan", "atan2",    NULL};
	for (size_t i = 0; kw[i]; i++)
		if (strlen(kw[i]) == n && strncasecmp(kw[i], s, n) == 0)
			return strcmp(kw[i], "by") == 0 || strcmp(kw[i], "without") == 0 ||
			               strcmp(kw[i], "on") == 0 || strcmp(kw[i], "ignoring") == 0 ||
			               strncmp(kw[i], "group_", 6) == 0
			           ? 2 /* followed by a label list */
			           : 1;
	return 0;
}

/* "by (" or "without (" at q: what follows an aggregation's name. */
static int aggregation_modifier(const char *q)
{
	const char *e = q;

	while (ident_char((unsigned char)*e))
		e++;
	if (keyword(q, (size_t)(e - q)) != 2 || e - q > 7)
		return 0;
	return strncasecmp(q, "by", 2) == 0 || strncasecmp(q, "without", 7) == 0;
}

char *prom_query_metric(char *out, size_t n, const char *query)
{
	const char *p = query;
	int depth_brace = 0, depth_bracket = 0;

	if (n)
		out[0] = '\0';
	while (p && *p) {
		if (*p == '"' || *p == '\'' || *p == '`' || *p == '#') {
			p = skip_literal(p);
		} else if (*p == '{' || *p == '}' || *p == '[' || *p == ']') {
			depth_brace += *p == '{' ? 1 : *p == '}' ? -1 : 0;
			depth_bracket += *p == '[' ? 1 : *p == ']' ? -1 : 0;
			p++;
		} else if (depth_brace > 0 || depth_bracket > 0 ||
		           !ident_start((unsigned char)*p)) {
			if (isdigit((unsigned char)*p) || *p == '.')
				while (isalnum((unsigned char)*p) || *p == '.')
					p++; /* a number or a duration */
			else
				p++;
		} else {
			const char *s = p, *q;
			int kw;
			while (ident_char((unsigned char)*p))
				p++;
			for (q = p; *q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'; q++)
				;
			kw = keyword(s, (size_t)(p - s));
			if (kw == 2 && *q == '(') {
				p = q + strcspn(q, ")"); /* a label list */
				continue;
			}
			if (kw || *q == '(' || aggregation_modifier(q))
				continue; /* a keyword, a function, an aggregation */
			if (n)
				snprintf(out, n, "%.*s", (int)(p - s), s);
			return out;
		}
	}
	return out;
}

/* "prometheus URL: metric" or "prometheus URL: query "..."". */
static void describe(char *out, size_t n, const struct prom_client *c, const char *query)
{
	char metric[128];

	prom_query_metric(metric, sizeof(metric), query);
	if (metric[0])
		snprintf(out, n, "prometheus %s: %s", c->server, metric);
	else
		snprintf(out, n, "prometheus %s: query \"%.60s%s\"", c->server, query,
		         strlen(query) > 60 ? "..." : "");
}

/* ---- parsing ------------------------------------------------------------- */

void prom_result_free(struct prom_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nseries; i++) {
		json_decref(r->series[i].labels);
		free(r->series[i].samples);
	}
	free(r->series);
	json_decref(r->warnings);
	free(r);
}

/* A sample value: the API's string form, read exactly. */
static int parse_value(double *out, const char *s)
{
	const char *p = s;
	char *end;

	if (strcmp(s, "NaN") == 0) {
		*out = NAN;
		return 0;
	}
	if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
		*out = INFINITY;
		return 0;
	}
	if (strcmp(s, "-Inf") == 0) {
		*out = -INFINITY;
		return 0;
	}
	/* [+-]? digits [. digits] [e [+-] digits], or .digits: what strtod reads
	 * minus its extras (spaces, hex, "nan", "infinity") */
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
		return -1;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p);)
			p++;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	if (*end || (errno == ERANGE && isinf(*out)))
		return -1; /* out of range: Prometheus would have said "+Inf" */
	return 0;
}

/* [time, "value"] */
static int parse_sample(struct prom_sample *out, const json_t *pair, const char *where,
                        const char *what)
{
	const json_t *t = json_array_get(pair, 0), *v = json_array_get(pair, 1);

	if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_number(t) ||
	    !json_is_string(v))
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: malformed answer: %s is not [time, \"value\"]", where,
		                        what);
	out->t = json_number_value(t);
	if (!isfinite(out->t))
		return sluice_error_set(SLUICE_EINVALID, "%s: malformed answer: bad time in %s",
		                        where, what);
	if (parse_value(&out->v, json_string_value(v)) < 0)
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: malformed answer: %s value \"%.40s\" is not a number",
		                        where, what, json_string_value(v));
	return 0;
}

static int parse_series(struct prom_series *s, const json_t *item, int matrix, const char *where)
{
	const json_t *metric = json_object_get(item, "metric");
	const json_t *vals = json_object_get(item, matrix ? "values" : "value");
	const char *k;
	const json_t *v;

	if (!json_is_object(item))
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: malformed answer: a series is not "
		                        "an object",
		                        where);
	if (json_object_get(item, matrix ? "histograms" : "histogram"))
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: native histogram samples are not supported "
		                        "(use histogram_quantile or the classic _bucket series)",
		                        where);
	if (metric && !json_is_object(metric))
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: malformed answer: \"metric\" is not an object", where);
	json_object_foreach((json_t *)metric, k, v)
	{
		if (!json_is_string(v))
			return sluice_error_set(SLUICE_EINVALID,
			                        "%s: malformed answer: label %.64s is not a string",
			                        where, k);
	}
	s->labels = metric ? json_incref((json_t *)metric) : json_object();
	if (!s->labels)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if (!matrix) {
		s->samples = malloc(sizeof(*s->samples));
		if (!s->samples)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		s->nsamples = 1;
		return parse_sample(&s->samples[0], vals, where, "a vector sample");
	}
	if (!json_is_array(vals))
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: malformed answer: a matrix series has no \"values\"",
		                        where);
	if (json_array_size(vals) == 0)
		return 0;
	s->samples = calloc(json_array_size(vals), sizeof(*s->samples));
	if (!s->samples)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(vals); i++) {
		int rc =
		    parse_sample(&s->samples[i], json_array_get(vals, i), where, "a matrix sample");
		if (rc < 0)
			return rc;
		s->nsamples++;
	}
	return 0;
}

static int parse_data(struct prom_result *r, const json_t *data, const char *where)
{
	const char *type = json_string_value(json_object_get(data, "resultType"));
	const json_t *res = json_object_get(data, "result");
	int matrix;

	if (!json_is_object(data) || !type)
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: malformed answer: no \"data.resultType\"", where);
	if (strcmp(type, "scalar") == 0) {
		r->type = PROM_SCALAR;
		r->series = calloc(1, sizeof(*r->series));
		if (!r->series)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		r->nseries = 1;
		r->series[0].labels = json_object();
		r->series[0].samples = malloc(sizeof(*r->series[0].samples));
		if (!r->series[0].labels || !r->series[0].samples)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		r->series[0].nsamples = 1;
		return parse_sample(&r->series[0].samples[0], res, where, "the scalar");
	}
	if (strcmp(type, "string") == 0)
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: the query gives a string, not a number", where);
	if (strcmp(type, "vector") == 0)
		r->type = PROM_VECTOR;
	else if (strcmp(type, "matrix") == 0)
		r->type = PROM_MATRIX;
	else
		return sluice_error_set(SLUICE_EINVALID, "%s: unknown resultType \"%.32s\"", where,
		                        type);
	matrix = r->type == PROM_MATRIX;
	if (!json_is_array(res))
		return sluice_error_set(SLUICE_EINVALID,
		                        "%s: malformed answer: \"data.result\" is not an array",
		                        where);
	if (json_array_size(res) == 0)
		return 0;
	r->series = calloc(json_array_size(res), sizeof(*r->series));
	if (!r->series)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(res); i++) {
		/* counted first: prom_result_free() frees what a failed series holds */
		r->nseries++;
		int rc = parse_series(&r->series[i], json_array_get(res, i), matrix, where);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The code for an HTTP status that is not 2xx. */
static int status_code(long status)
{
	if (status == 401)
		return SLUICE_EAUTH;
	if (status == 403)
		return SLUICE_EFORBIDDEN;
	if (status == 404)
		return SLUICE_ENOTFOUND;
	if (status == 429 || status >= 500)
		return SLUICE_EUNAVAILABLE;
	return SLUICE_EINVALID; /* 400 bad_data, 422 execution, 3xx not followed */
}

/* A printable, one-line, bounded piece of a foreign body. */
static void snippet(char *out, size_t n, const char *body, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < n && o < SNIPPET_MAX; i++) {
		unsigned char ch = (unsigned char)body[i];
		out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
	}
	out[o] = '\0';
}

int prom_parse_response(struct prom_result **out, long status, const char *body, size_t len,
                        const char *where)
{
	struct prom_result *r = NULL;
	json_t *doc = NULL;
	json_error_t jerr;
	const char *st;
	int rc;

	*out = NULL;
	if (!where)
		where = "prometheus";
	doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	st = json_string_value(json_object_get(doc, "status"));
	if (st && strcmp(st, "error") == 0) {
		const char *et = json_string_value(json_object_get(doc, "errorType"));
		const char *msg = json_string_value(json_object_get(doc, "error"));
		rc = status >= 200 && status < 300 ? SLUICE_EINVALID : status_code(status);
		if (et && strcmp(et, "timeout") == 0)
			rc = SLUICE_ETIMEOUT;
		sluice_error_set(rc, "%s: query error (%s): %s", where, et ? et : "unknown",
		                 msg ? msg : "no message");
		goto out;
	}
	if (status < 200 || status >= 300) {
		char text[SNIPPET_MAX + 1];
		snippet(text, sizeof(text), body, len);
		rc = sluice_error_set(status_code(status), "%s: HTTP %ld%s%s%s", where, status,
		                      status >= 300 && status < 400
		                          ? " (redirects are not followed: check the URL)"
		                          : "",
		                      text[0] ? ": " : "", text);
		goto out;
	}
	if (!doc) {
		rc = sluice_error_set(SLUICE_EINVALID, "%s: malformed answer: %s (line %d)", where,
		                      jerr.text, jerr.line);
		goto out;
	}
	if (!st || strcmp(st, "success") != 0) {
		rc =
		    sluice_error_set(SLUICE_EINVALID, "%s: malformed answer: no \"status\"", where);
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	rc = parse_data(r, json_object_get(doc, "data"), where);
	if (rc < 0)
		goto out;
	if (json_is_array(json_object_get(doc, "warnings")) &&
	    json_array_size(json_object_get(doc, "warnings")) > 0)
		r->warnings = json_incref(json_object_get(doc, "warnings"));
	*out = r;
	r = NULL;
out:
	prom_result_free(r);
	json_decref(doc);
	return rc;
}

/* ---- transport ------------------------------------------------------------ */

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;

	if (buf_add(b, data, size * nmemb) < 0)
		return 0; /* over the cap: curl stops with CURLE_WRITE_ERROR */
	return size * nmemb;
}

static int curl_failure(const struct prom_client *c, CURLcode code, const char *errbuf,
                        const char *where)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(code);

	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return sluice_error_set(SLUICE_ETIMEOUT, "%s: no answer within %ld ms: %s", where,
		                        c->timeout_ms, why);
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		return sluice_error_set(SLUICE_ELIMIT, "%s: answer larger than %zu bytes", where,
		                        c->max_body);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ISSUER_ERROR:
		return sluice_error_set(SLUICE_ETLS, "%s: TLS: %s", where, why);
	case CURLE_OUT_OF_MEMORY: return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return sluice_error_set(SLUICE_EINVALID, "%s: bad URL: %s", where, why);
	default:
		return sluice_error_set(SLUICE_EUNAVAILABLE, "%s: cannot reach the server: %s",
		                        where, why);
	}
}

/* GET url+path and parse the answer. `params` is the URL's query string. */
static int get(struct prom_client *c, struct prom_result **out, const char *path,
               const char *params, const char *query)
{
	char where[WHERE_MAX], errbuf[CURL_ERROR_SIZE], *url = NULL, *auth = NULL;
	struct curl_slist *hdrs = NULL, *h;
	struct buf body;
	CURL *e = NULL;
	CURLcode cc;
	long status = 0;
	int rc;

	*out = NULL;
	describe(where, sizeof(where), c, query);
	buf_init(&body, c->max_body);
	errbuf[0] = '\0';
	e = curl_easy_init();
	if (!e || asprintf(&url, "%s%s?%s", c->url, path, params) < 0) {
		url = NULL;
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	h = curl_slist_append(hdrs, "Accept: application/json");
	if (h)
		hdrs = h;
	if (c->token) {
		if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0)
			auth = NULL;
		h = auth ? curl_slist_append(hdrs, auth) : NULL;
		if (!h) {
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto out;
		}
		hdrs = h;
	} else if (c->username || c->password) {
		curl_easy_setopt(e, CURLOPT_USERNAME, c->username ? c->username : "");
		curl_easy_setopt(e, CURLOPT_PASSWORD, c->password ? c->password : "");
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "sluice/" SLUICE_VERSION);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* the cap counts decoded bytes */
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	cc = curl_easy_perform(e);
	if (cc != CURLE_OK) {
		rc = curl_failure(c, cc, errbuf, where);
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	rc = prom_parse_response(out, status, body.ptr, body.len, where);
out:
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(e);
	free(url);
	buf_dispose(&body);
	return rc;
}

/* "query=<escaped>" followed by `rest`. */
static int params_of(char **out, const char *query, const char *rest)
{
	char *q = curl_easy_escape(NULL, query, 0);

	*out = NULL;
	if (!q || asprintf(out, "query=%s%s", q, rest) < 0) {
		*out = NULL;
		curl_free(q);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	curl_free(q);
	return 0;
}

/* The server's own evaluation deadline: ours, so it gives up when we do. */
static void timeout_param(char *out, size_t n, const struct prom_client *c)
{
	snprintf(out, n, "&timeout=%ldms", c->timeout_ms);
}

int prom_query(struct prom_client *c, struct prom_result **out, const char *query, double time)
{
	char rest[128], *params = NULL;
	int rc;

	*out = NULL;
	if (!query || !*query)
		return sluice_error_set(SLUICE_EINVALID, "prometheus %s: empty query", c->server);
	timeout_param(rest, sizeof(rest), c);
	if (time > 0 && isfinite(time))
		snprintf(rest + strlen(rest), sizeof(rest) - strlen(rest), "&time=%.3f", time);
	rc = params_of(&params, query, rest);
	if (rc == 0)
		rc = get(c, out, "/api/v1/query", params, query);
	free(params);
	if (rc == 0 && (*out)->type == PROM_MATRIX) {
		prom_result_free(*out);
		*out = NULL;
		rc = sluice_error_set(
		    SLUICE_EINVALID, "prometheus %s: an instant query gave a range (matrix) answer",
		    c->server);
	}
	return rc;
}

int prom_query_range(struct prom_client *c, struct prom_result **out, const char *query,
                     double start, double end, double step)
{
	char rest[192], *params = NULL;
	int rc;

	*out = NULL;
	if (!query || !*query)
		return sluice_error_set(SLUICE_EINVALID, "prometheus %s: empty query", c->server);
	if (!isfinite(start) || !isfinite(end) || !isfinite(step) || step <= 0 || end < start)
		return sluice_error_set(SLUICE_EINVALID,
		                        "prometheus %s: bad range: start %.3f, end %.3f, step %.3f "
		                        "(want start <= end and step > 0)",
		                        c->server, start, end, step);
	timeout_param(rest, sizeof(rest), c);
	snprintf(rest + strlen(rest), sizeof(rest) - strlen(rest), "&start=%.3f&end=%.3f&step=%.3f",
	         start, end, step);
	rc = params_of(&params, query, rest);
	if (rc == 0)
		rc = get(c, out, "/api/v1/query_range", params, query);
	free(params);
	return rc;
}

/* ---- one value -------------------------------------------------------------- */

const char *prom_class_name(enum prom_class cls)
{
	switch (cls) {
	case PROM_VALUE: return "value";
	case PROM_EMPTY: return "empty";
	case PROM_NAN: return "nan";
	case PROM_INF: return "inf";
	case PROM_MANY: return "many";
	}
	return "unknown";
}

int prom_reduce(enum prom_class *cls, double *value, const struct prom_result *r)
{
	double v;

	*cls = PROM_EMPTY;
	*value = NAN;
	if (r->type == PROM_MATRIX)
		return sluice_error_set(SLUICE_EINVALID,
		                        "prometheus: a range (matrix) answer has no single value");
	if (r->nseries == 0)
		return 0;
	if (r->nseries > 1) {
		*cls = PROM_MANY;
		return 0;
	}
	if (r->series[0].nsamples != 1)
		return sluice_error_set(SLUICE_EINVALID, "prometheus: a series without its sample");
	v = r->series[0].samples[0].v;
	*value = v;
	if (isnan(v))
		*cls = PROM_NAN;
	else if (isinf(v))
		*cls = PROM_INF;
	else
		*cls = PROM_VALUE;
	return 0;
}

int prom_query_value(struct prom_client *c, enum prom_class *cls, double *value, const char *query,
                     double time)
{
	struct prom_result *r = NULL;
	int rc;

	*cls = PROM_EMPTY;
	*value = NAN;
	rc = prom_query(c, &r, query, time);
	if (rc == 0)
		rc = prom_reduce(cls, value, r);
	prom_result_free(r);
	return rc;
}
