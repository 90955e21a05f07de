/*
 * The transfer engine: a queue of calls waiting for the rate limiter or a
 * retry time, and a curl multi handle running up to max_inflight of them.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/metrics.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif
#define TOKEN_RECHECK_S 5.0
#define BACKOFF_BASE_S  0.2
#define BACKOFF_MAX_S   5.0

double kube_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct kube_config *config_copy(const struct kube_config *s)
{
	struct kube_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->server = xstrdup(s->server);
	c->namespace = xstrdup(s->namespace ? s->namespace : "default");
	c->context = xstrdup(s->context);
	c->ca_file = xstrdup(s->ca_file);
	c->ca_data = xstrdup(s->ca_data);
	c->cert_file = xstrdup(s->cert_file);
	c->key_file = xstrdup(s->key_file);
	c->cert_data = xstrdup(s->cert_data);
	c->key_data = xstrdup(s->key_data);
	c->token = xstrdup(s->token);
	c->token_file = xstrdup(s->token_file);
	c->username = xstrdup(s->username);
	c->password = xstrdup(s->password);
	c->insecure = s->insecure;
	if (!c->server || !c->namespace) {
		kube_config_free(c);
		return NULL;
	}
	/* no trailing slash: paths start with one */
	size_t n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	return c;
}

int kube_client_new(struct kube_client **out, const struct kube_config *cfg,
                    const struct kube_client_opts *opts)
{
	static int curl_ready;
	struct kube_client *c;

	*out = NULL;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return sluice_error_set(SLUICE_ERROR, "curl_global_init failed");
		curl_ready = 1;
	}
	if (!cfg || !cfg->server)
		return sluice_error_set(SLUICE_EINVALID, "kube: no server configured");
	c = calloc(1, sizeof(*c));
	if (!c)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if (opts)
		c->o = *opts;
	if (c->o.qps <= 0)
		c->o.qps = 100;
	if (c->o.burst <= 0)
		c->o.burst = 200;
	if (c->o.max_inflight <= 0)
		c->o.max_inflight = 64;
	if (c->o.timeout_ms <= 0)
		c->o.timeout_ms = 30000;
	if (c->o.max_retries < 0)
		c->o.max_retries = 0;
	else if (!opts)
		c->o.max_retries = 5;
	if (c->o.retry_budget_ms <= 0)
		c->o.retry_budget_ms = 60000;
	if (c->o.max_body == 0)
		c->o.max_body = 64u << 20;
	if (!c->o.user_agent)
		c->o.user_agent = "sluice/" SLUICE_VERSION;
	c->bucket = c->o.burst;
	c->bucket_t = kube_now();
	c->cfg = config_copy(cfg);
	c->multi = curl_multi_init();
	if (!c->cfg || !c->multi) {
		kube_client_free(c);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	slog_add_secret(c->cfg->token);
	slog_add_secret(c->cfg->password);
	*out = c;
	return 0;
}

/* Take a running call out of the multi and the running list. */
static void stop_transfer(struct kube_client *c, struct call *call)
{
	struct call **pp;

	curl_multi_remove_handle(c->multi, call->easy);
	curl_easy_cleanup(call->easy);
	call->easy = NULL;
	c->active--;
	for (pp = &c->running_head; *pp; pp = &(*pp)->next_running) {
		if (*pp == call) {
			*pp = call->next_running;
			break;
		}
	}
	call->next_running = NULL;
}

static void call_free(struct call *call)
{
	if (!call)
		return;
	if (call->easy)
		stop_transfer(call->c, call);
	curl_slist_free_all(call->hdrs);
	buf_dispose(&call->resp);
	free(call->method);
	free(call->url);
	free(call->ctype);
	free(call->body);
	free(call);
}

void kube_client_free(struct kube_client *c)
{
	struct call *q;

	if (!c)
		return;
	while ((q = c->queue_head) != NULL) {
		c->queue_head = q->next;
		call_free(q);
	}
	while (c->running_head)
		call_free(c->running_head);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	kube_config_free(c->cfg);
	free(c->token);
	for (size_t i = 0; i < c->nres; i++) {
		free(c->res[i].group);
		free(c->res[i].version);
		free(c->res[i].kind);
		free(c->res[i].resource);
	}
	free(c->res);
	free(c);
}

const char *kube_client_namespace(const struct kube_client *c)
{
	return c->cfg->namespace;
}

unsigned long kube_client_requests(const struct kube_client *c)
{
	return c->requests;
}

/* The bearer token, re-read from its file when the file changes. */
static const char *current_token(struct kube_client *c)
{
	struct stat st;
	double now;

	if (!c->cfg->token_file)
		return c->cfg->token;
	now = kube_now();
	if (c->token && now - c->token_checked < TOKEN_RECHECK_S)
		return c->token;
	c->token_checked = now;
	if (stat(c->cfg->token_file, &st) < 0)
		return c->token; /* keep the last one while the file is replaced */
	if (c->token && (long long)st.st_mtime == c->token_mtime &&
	    (long long)st.st_size == c->token_size)
		return c->token;
	FILE *f = fopen(c->cfg->token_file, "rb");
	if (!f)
		return c->token;
	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		buf[--n] = '\0';
	if (n == 0)
		return c->token;
	slog_add_secret(buf);
	free(c->token);
	c->token = strdup(buf);
	c->token_mtime = (long long)st.st_mtime;
	c->token_size = (long long)st.st_size;
	return c->token;
}

char *kube_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

struct call *call_new(struct kube_client *c, const char *method, const char *path,
                      const char *ctype, const char *body, size_t blen)
{
	struct call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->c = c;
	buf_init(&call->resp, c->o.max_body);
	call->method = strdup(method);
	call->timeout_ms = c->o.timeout_ms;
	if (asprintf(&call->url, "%s%s", c->cfg->server, path) < 0)
		call->url = NULL;
	call->ctype = xstrdup(ctype);
	if (body) {
		call->body = malloc(blen + 1);
		if (call->body) {
			memcpy(call->body, body, blen);
			call->body[blen] = '\0';
		}
		call->blen = blen;
	}
	if (!call->method || !call->url || (ctype && !call->ctype) || (body && !call->body)) {
		call_free(call);
		return NULL;
	}
	return call;
}

static void enqueue(struct kube_client *c, struct call *call)
{
	call->next = NULL;
	if (c->queue_tail)
		c->queue_tail->next = call;
	else
		c->queue_head = call;
	c->queue_tail = call;
}

void call_submit(struct call *call)
{
	double now = kube_now();

	call->deadline = now + (double)call->c->o.retry_budget_ms / 1000.0;
	call->not_before = now;
	enqueue(call->c, call);
}

void call_submit_after(struct call *call, double delay_s)
{
	call_submit(call);
	call->not_before += delay_s;
	call->deadline += delay_s;
}

void call_cancel(struct call *call)
{
	struct kube_client *c = call->c;
	struct call **pp = &c->queue_head, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == call) {
			*pp = call->next;
			if (c->queue_tail == call)
				c->queue_tail = prev;
			break;
		}
	}
	call_free(call);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct call *call = ud;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
	if (call->on_data && status >= 200 && status < 300) {
		if (!call->on_data(call, data, n, call->ud)) {
			call->stopped = 1;
			return 0;
		}
		return n;
	}
	if (buf_add(&call->resp, data, n) < 0)
		return 0; /* over the cap: curl stops with CURLE_WRITE_ERROR */
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct call *call = ud;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
		call->retry_after = strtod(data + 12, NULL);
	return n;
}

static int start(struct kube_client *c, struct call *call)
{
	CURL *e = curl_easy_init();
	char hdr[8192];
	const char *token = current_token(c);

	if (!e)
		return -1;
	call->easy = e;
	call->errbuf[0] = '\0';
	call->retry_after = 0;
	buf_reset(&call->resp);
	curl_slist_free_all(call->hdrs);
	call->hdrs = NULL;
	if (call->accept) {
		snprintf(hdr, sizeof(hdr), "Accept: %s", call->accept);
		call->hdrs = curl_slist_append(call->hdrs, hdr);
	} else {
		call->hdrs = curl_slist_append(call->hdrs, "Accept: application/json");
	}
	if (call->ctype) {
		snprintf(hdr, sizeof(hdr), "Content-Type: %s", call->ctype);
		call->hdrs = curl_slist_append(call->hdrs, hdr);
	}
	if (token) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
		call->hdrs = curl_slist_append(call->hdrs, hdr);
	}
	curl_easy_setopt(e, CURLOPT_URL, call->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, call);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->o.user_agent);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (call->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, call->timeout_ms);
	if (call->silence_s > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, call->silence_s);
	}
	if (strcmp(call->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
		if (call->body) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->blen);
		}
	}
	if (c->cfg->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (c->cfg->ca_data) {
		struct curl_blob b = {c->cfg->ca_data, strlen(c->cfg->ca_data), CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else if (c->cfg->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg->ca_file);
	}
	if (c->cfg->cert_data) {
		struct curl_blob b = {c->cfg->cert_data, strlen(c->cfg->cert_data), CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cfg->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cfg->cert_file);
	}
	if (c->cfg->key_data) {
		struct curl_blob b = {c->cfg->key_data, strlen(c->cfg->key_data), CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->cfg->key_file) {
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->cfg->key_file);
	}
	if (c->cfg->username && c->cfg->password && !token) {
		curl_easy_setopt(e, CURLOPT_USERNAME, c->cfg->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, c->cfg->password);
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		call->easy = NULL;
		return -1;
	}
	c->active++;
	c->requests++;
	call->started = kube_now();
	call->next_running = c->running_head;
	c->running_head = call;
	return 0;
}

/* Move queued calls into the multi as the rate limit and in-flight cap allow.
 * Returns seconds until the next queued call could start (or -1: none). */
static double pump(struct kube_client *c)
{
	double now = kube_now(), wait = -1;
	struct call **pp = &c->queue_head, *prev = NULL;

	c->bucket += (now - c->bucket_t) * c->o.qps;
	if (c->bucket > c->o.burst)
		c->bucket = c->o.burst;
	c->bucket_t = now;
	while (*pp) {
		struct call *call = *pp;
		double w = 0;
		if (call->not_before > now)
			w = call->not_before - now;
		else if (c->active >= c->o.max_inflight)
			return 0.005; /* a slot frees when a transfer ends */
		else if (c->bucket < 1)
			w = (1 - c->bucket) / c->o.qps;
		if (w > 0) {
			if (wait < 0 || w < wait)
				wait = w;
			prev = call;
			pp = &call->next;
			continue;
		}
		*pp = call->next;
		if (c->queue_tail == call)
			c->queue_tail = prev;
		call->next = NULL;
		if (c->o.may_write && strcmp(call->method, "GET") != 0 &&
		    !c->o.may_write(c->o.may_write_ud, call->method, call->url)) {
			struct kube_result r = {0};
			r.rc = SLUICE_ECONFLICT;
			snprintf(r.message, sizeof(r.message),
			         "%s %s: not sent: this replica may not write now", call->method,
			         call->url);
			if (call->done)
				call->done(call, &r, call->ud);
			call_free(call);
			continue;
		}
		c->bucket -= 1;
		if (start(c, call) < 0) {
			struct kube_result r = {0};
			r.rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			snprintf(r.message, sizeof(r.message), "out of memory");
			if (call->done)
				call->done(call, &r, call->ud);
			call_free(call);
		}
	}
	return wait;
}

static int idempotent(const char *method)
{
	return strcmp(method, "POST") != 0;
}

static void describe_curl_error(struct call *call, CURLcode code, struct kube_result *r)
{
	const char *why = call->errbuf[0] ? call->errbuf : curl_easy_strerror(code);

	switch (code) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ISSUER_ERROR:
		r->rc = SLUICE_ETLS;
		snprintf(r->message, sizeof(r->message),
		         "%s %s: TLS: %s (check the cluster's certificate authority)", call->method,
		         call->url, why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		r->rc = SLUICE_ETIMEOUT;
		snprintf(r->message, sizeof(r->message), "%s %s: timed out: %s", call->method,
		         call->url, why);
		break;
	case CURLE_WRITE_ERROR:
		if (!call->stopped) {
			r->rc = SLUICE_ELIMIT;
			snprintf(r->message, sizeof(r->message),
			         "%s %s: response larger than %zu bytes", call->method, call->url,
			         call->c->o.max_body);
			break;
		}
		r->rc = 0;
		break;
	default:
		r->rc = SLUICE_EUNAVAILABLE;
		snprintf(r->message, sizeof(r->message), "%s %s: cannot reach the API server: %s",
		         call->method, call->url, why);
		break;
	}
}

static int should_retry(const struct call *call, CURLcode code, long status)
{
	if (call->no_retry || call->attempt >= call->c->o.max_retries)
		return 0;
	if (code == CURLE_OK) {
		if (status == 429)
			return 1;
		if (status == 503)
			return 1;
		if (status == 500 || status == 502 || status == 504)
			return idempotent(call->method);
		return 0;
	}
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST: return 1; /* nothing was sent */
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: return idempotent(call->method);
	default: return 0;
	}
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void declare_metrics(void)
{
	static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
	struct metrics *m = metrics_default();

	if (!m ||
	    metrics_family(m, METRICS_COUNTER, "sluice_kube_requests_total",
	                   "Requests to the Kubernetes API (each attempt), by verb and HTTP "
	                   "status code (\"error\": no response).",
	                   (const char *const[]){"verb", "code", NULL}) < 0 ||
	    metrics_histogram(m, "sluice_kube_request_duration_seconds",
	                      "Latency of Kubernetes API requests (watches not included).",
	                      (const char *const[]){"verb", NULL}, bounds,
	                      sizeof(bounds) / sizeof(bounds[0])) < 0)
		slog(SLOG_DEBUG, "kube: metrics not declared", "error", sluice_error_last(), NULL);
}

/* The Kubernetes verb of a request, as the API server's audit names it. */
static const char *verb_of(const struct call *call)
{
	const char *m = call->method;
	if (call->timeout_ms == 0)
		return "watch";
	if (strcmp(m, "GET") == 0)
		return "get";
	if (strcmp(m, "POST") == 0)
		return "create";
	if (strcmp(m, "PUT") == 0)
		return "update";
	if (strcmp(m, "PATCH") == 0)
		return "patch";
	if (strcmp(m, "DELETE") == 0)
		return "delete";
	return "other";
}

static void count_request(const struct call *call, long status, double now)
{
	struct metrics *m = metrics_default();
	const char *verb = verb_of(call);
	char code[24];

	if (!m)
		return;
	pthread_once(&metrics_once, declare_metrics);
	if (status > 0)
		snprintf(code, sizeof(code), "%ld", status);
	else
		snprintf(code, sizeof(code), "error");
	metrics_add(m, "sluice_kube_requests_total", (const char *const[]){verb, code, NULL}, 1);
	if (call->timeout_ms != 0 && call->started > 0)
		metrics_observe(m, "sluice_kube_request_duration_seconds",
		                (const char *const[]){verb, NULL}, now - call->started);
}

static void finish(struct kube_client *c, struct call *call, CURLcode code)
{
	struct kube_result r;
	long status = 0;
	double now = kube_now();

	memset(&r, 0, sizeof(r));
	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
	stop_transfer(c, call);
	count_request(call, status, now);

	if (should_retry(call, code, status)) {
		double delay = BACKOFF_BASE_S * pow(2, call->attempt);
		if (delay > BACKOFF_MAX_S)
			delay = BACKOFF_MAX_S;
		delay *= 0.5 + 0.5 * ((double)rand() / RAND_MAX); /* jitter */
		if (call->retry_after > delay)
			delay = call->retry_after;
		if (now + delay < call->deadline) {
			call->attempt++;
			call->not_before = now + delay;
			slog(SLOG_DEBUG, "kube: retrying request", "method", call->method, "url",
			     call->url, NULL);
			enqueue(c, call);
			return;
		}
	}
	r.status = status;
	if (code != CURLE_OK) {
		describe_curl_error(call, code, &r);
	} else if (status < 200 || status >= 300) {
		r.rc = kube_status_error(status, call->resp.ptr, call->resp.len, call->method,
		                         call->url, r.message, sizeof(r.message));
	}
	r.len = call->resp.len;
	r.body = buf_detach(&call->resp);
	if (call->done)
		call->done(call, &r, call->ud);
	kube_result_dispose(&r);
	call_free(call);
}

/* Finish the transfers curl reports done; returns how many. */
static int process_done(struct kube_client *c)
{
	CURLMsg *m;
	int left, n = 0;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct call *call = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&call);
		finish(c, call, m->data.result);
		n++;
	}
	return n;
}

static int queued(const struct kube_client *c)
{
	int n = 0;
	for (const struct call *q = c->queue_head; q; q = q->next)
		n++;
	return n;
}

int kube_client_run(struct kube_client *c, long timeout_ms)
{
	double end = kube_now() + (double)timeout_ms / 1000.0;
	int still = 0;

	if (c->running)
		return sluice_error_set(SLUICE_ERROR, "kube_client_run called from a callback");
	c->running = 1;
	for (;;) {
		double wait = pump(c), left;
		long wait_ms;
		CURLMcode mc = curl_multi_perform(c->multi, &still);

		if (mc != CURLM_OK) {
			c->running = 0;
			return sluice_error_set(SLUICE_ERROR, "curl: %s", curl_multi_strerror(mc));
		}
		/* return as soon as something finished: a caller waiting for one
		 * request must not sit out the timeout behind a long watch */
		if (process_done(c) > 0)
			break;
		if (c->active == 0 && !c->queue_head)
			break;
		left = end - kube_now();
		if (left <= 0)
			break;
		wait = pump(c);
		if (c->active == 0 && wait < 0)
			break;
		wait_ms = (long)(1000 * (wait >= 0 && wait < left ? wait : left)) + 1;
		if (c->active > 0) {
			long ct = -1;
			curl_multi_timeout(c->multi, &ct);
			if (ct >= 0 && ct < wait_ms)
				wait_ms = ct;
			curl_multi_poll(c->multi, NULL, 0, (int)(wait_ms > 1000 ? 1000 : wait_ms),
			                NULL);
		} else {
			struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	c->running = 0;
	return c->active + queued(c);
}

void kube_result_dispose(struct kube_result *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

json_t *kube_result_json(const struct kube_result *r)
{
	json_error_t err;

	if (!r->body || !r->len)
		return NULL;
	return json_loadb(r->body, r->len, JSON_ALLOW_NUL, &err);
}

struct sync_state {
	int done;
	struct kube_result *r;
};

static void sync_done(struct call *call, struct kube_result *r, void *ud)
{
	struct sync_state *s = ud;

	(void)call;
	*s->r = *r;
	r->body = NULL; /* moved */
	s->done = 1;
}

int kube_request(struct kube_client *c, struct kube_result *r, const char *method, const char *path,
                 const char *content_type, const char *body, size_t len)
{
	return kube_request_accept(c, r, method, path, content_type, body, len, NULL);
}

int kube_request_accept(struct kube_client *c, struct kube_result *r, const char *method,
                        const char *path, const char *content_type, const char *body, size_t len,
                        const char *accept)
{
	struct sync_state s = {0, r};
	struct call *call;

	memset(r, 0, sizeof(*r));
	if (c->running) {
		r->rc =
		    sluice_error_set(SLUICE_ERROR, "kube: a synchronous request from a callback");
		snprintf(r->message, sizeof(r->message), "%s", sluice_error_last());
		return r->rc;
	}
	call = call_new(c, method, path, content_type, body, len);
	if (!call) {
		r->rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		return r->rc;
	}
	call->accept = accept;
	call->done = sync_done;
	call->ud = &s;
	call_submit(call);
	while (!s.done) {
		int rc = kube_client_run(c, 1000);
		if (rc < 0) {
			r->rc = rc;
			return rc;
		}
	}
	if (r->rc < 0)
		sluice_error_set(r->rc, "%s", r->message);
	return r->rc;
}
