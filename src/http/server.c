#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/hmac.h"
#include "sluice/http.h"
#include "sluice/log.h"
#include "sluice/metrics.h"

struct http_server {
	struct MHD_Daemon *d;
	char *secret;
	http_push_fn on_push;
	void *ud;
	int port;
	pthread_mutex_t ready_lock; /* guards ready_fn and ready_ud */
	http_ready_fn ready_fn;
	void *ready_ud;
};

struct req {
	struct buf body;
	int too_big;
};

void http_repo_key(char *buf, size_t n, const char *url)
{
	const char *p = url, *scheme = strstr(url, "://"), *host, *path;
	size_t o = 0;

	if (scheme) {
		p = scheme + 3;
		const char *at = strchr(p, '@'), *slash = strchr(p, '/');
		if (at && (!slash || at < slash))
			p = at + 1;
		host = p;
		path = strchr(p, '/');
	} else {
		/* scp-like [user@]host:path, or a local path */
		const char *at = strchr(p, '@'), *colon = strchr(p, ':');
		if (at && colon && at < colon)
			p = at + 1;
		host = p;
		path = colon ? colon : NULL;
		if (!colon) {
			snprintf(buf, n, "%s", url);
			goto trim;
		}
	}
	for (const char *c = host; *c && c != path && *c != ':' && o + 1 < n; c++)
		buf[o++] = (char)tolower((unsigned char)*c);
	if (o + 1 < n)
		buf[o++] = '/';
	if (path)
		snprintf(buf + o, n - o, "%s", path + 1);
	else
		buf[o] = '\0';
trim:;
	size_t len = strlen(buf);
	while (len > 0 && buf[len - 1] == '/')
		buf[--len] = '\0';
	if (len > 4 && strcmp(buf + len - 4, ".git") == 0)
		buf[len - 4] = '\0';
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, const char *text)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* GET /readyz: what the readiness function says, 503 when not ready. */
static enum MHD_Result handle_ready(struct http_server *s, struct MHD_Connection *conn)
{
	char why[512] = "", text[600];
	int ok = 1;

	pthread_mutex_lock(&s->ready_lock);
	if (s->ready_fn)
		ok = s->ready_fn(s->ready_ud, why, sizeof(why));
	pthread_mutex_unlock(&s->ready_lock);
	snprintf(text, sizeof(text), "%s%s%s\n", ok ? "ok" : "not ready", why[0] ? ": " : "", why);
	return reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, text);
}

/* GET /metrics: the process's registry in the text format 0.0.4. */
static enum MHD_Result handle_metrics(struct MHD_Connection *conn)
{
	struct metrics *m = metrics_default();
	struct MHD_Response *r;
	struct buf b;
	enum MHD_Result ret;
	size_t len;
	char *text;

	buf_init(&b, METRICS_MAX_OUTPUT);
	if (!m || metrics_render(m, &b) < 0 || !(text = buf_detach(&b))) {
		buf_dispose(&b);
		slog(SLOG_ERROR, "http: /metrics", "error",
		     m ? sluice_error_last() : "out of memory", NULL);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
	}
	len = strlen(text);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int signature_ok(struct http_server *s, struct MHD_Connection *conn, const struct buf *b)
{
	unsigned char mac[SHA256_LEN], want[SHA256_LEN];
	const char *gh = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Hub-Signature-256");
	const char *gitea = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Gitea-Signature");
	const char *gitlab = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Gitlab-Token");

	hmac_sha256(mac, s->secret, strlen(s->secret), b->ptr ? b->ptr : "", b->len);
	if (gh && strncmp(gh, "sha256=", 7) == 0 &&
	    hmac_from_hex(want, gh + 7, strlen(gh + 7)) == 0)
		return hmac_equal(mac, want, SHA256_LEN);
	if (gitea && hmac_from_hex(want, gitea, strlen(gitea)) == 0)
		return hmac_equal(mac, want, SHA256_LEN);
	if (gitlab) {
		size_t a = strlen(gitlab), k = strlen(s->secret);
		unsigned char x[SHA256_LEN], y[SHA256_LEN];
		/* compare digests, so the time does not depend on the length either */
		sha256(x, gitlab, a);
		sha256(y, s->secret, k);
		return hmac_equal(x, y, SHA256_LEN);
	}
	return 0;
}

static void collect(json_t *urls, const json_t *o, const char *const *keys)
{
	for (; *keys; keys++) {
		const char *u = json_string_value(json_object_get(o, *keys));
		if (u && *u)
			json_array_append_new(urls, json_string(u));
	}
}

static enum MHD_Result handle_push(struct http_server *s, struct MHD_Connection *conn,
                                   struct req *rq)
{
	static const char *const gh[] = {"clone_url", "ssh_url", "html_url",
	                                 "git_url",   "url",     NULL};
	static const char *const gl[] = {"git_http_url", "git_ssh_url", "http_url",
	                                 "ssh_url",      "web_url",     NULL};
	json_error_t err;
	json_t *ev, *urls;
	const char **list;
	size_t n;

	if (!s->secret)
		return reply(conn, MHD_HTTP_FORBIDDEN, "webhook secret not configured\n");
	if (rq->too_big)
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large\n");
	if (!signature_ok(s, conn, &rq->body)) {
		slog(SLOG_WARN, "webhook: signature does not match; ignored", NULL);
		return reply(conn, MHD_HTTP_UNAUTHORIZED, "signature does not match\n");
	}
	ev = json_loadb(rq->body.ptr ? rq->body.ptr : "", rq->body.len, 0, &err);
	if (!json_is_object(ev)) {
		json_decref(ev);
		return reply(conn, MHD_HTTP_BAD_REQUEST, "payload is not a JSON object\n");
	}
	urls = json_array();
	collect(urls, json_object_get(ev, "repository"), gh);
	collect(urls, json_object_get(ev, "project"), gl);
	n = json_array_size(urls);
	list = calloc(n ? n : 1, sizeof(*list));
	for (size_t i = 0; list && i < n; i++)
		list[i] = json_string_value(json_array_get(urls, i));
	if (list && n && s->on_push)
		s->on_push(s->ud, list, n, json_string_value(json_object_get(ev, "ref")));
	free(list);
	json_decref(urls);
	json_decref(ev);
	return reply(conn, MHD_HTTP_ACCEPTED, n ? "accepted\n" : "no repository in the payload\n");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
	struct http_server *s = cls;
	struct req *rq = *con_cls;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		buf_init(&rq->body, HTTP_HOOK_MAX_BODY);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*size) {
		if (!rq->too_big && buf_add(&rq->body, data, *size) < 0)
			rq->too_big = 1;
		*size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0)
		return reply(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/readyz") == 0 && strcmp(method, "GET") == 0)
		return handle_ready(s, conn);
	if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0)
		return handle_metrics(conn);
	if (strcmp(url, "/hooks/git") == 0 && strcmp(method, "POST") == 0)
		return handle_push(s, conn, rq);
	return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (rq) {
		buf_dispose(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/*
 * "HOST:PORT" to a socket address: an IPv4 address, an IPv6 one in brackets
 * ("[::1]:8080"), or no host (":8080"), which listens on every address of
 * both families where the kernel has IPv6 (*dual = 1), else on IPv4's.
 */
static int listen_addr(struct sockaddr_storage *ss, int *dual, const char *addr)
{
	const char *colon = strrchr(addr, ':');
	char host[64] = "";
	char *end;

	memset(ss, 0, sizeof(*ss));
	*dual = 0;
	if (!colon)
		return sluice_error_set(SLUICE_EINVALID, "http: address \"%s\" is not HOST:PORT",
		                        addr);
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return sluice_error_set(SLUICE_EINVALID, "http: \"%s\": the port is not 0..65535",
		                        addr);
	size_t hl = (size_t)(colon - addr);
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	} else if (memchr(addr, ':', hl)) {
		return sluice_error_set(SLUICE_EINVALID,
		                        "http: \"%s\": write an IPv6 address in brackets, "
		                        "e.g. [::1]:8080",
		                        addr);
	}
	if (hl >= sizeof(host))
		return sluice_error_set(SLUICE_EINVALID, "http: \"%s\" is not an IP address", addr);
	memcpy(host, addr, hl);
	host[hl] = 0;

	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (!*host) {
		int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0) {
			close(probe);
			v6->sin6_family = AF_INET6;
			v6->sin6_addr = in6addr_any;
			v6->sin6_port = htons((unsigned short)port);
			*dual = 1;
			return 0;
		}
		v4->sin_family = AF_INET;
		v4->sin_addr.s_addr = htonl(INADDR_ANY);
	} else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((unsigned short)port);
		return 0;
	} else {
		return sluice_error_set(SLUICE_EINVALID, "http: \"%s\" is not an IP address", host);
	}
	v4->sin_port = htons((unsigned short)port);
	return 0;
}

int http_server_start(struct http_server **out, const char *addr, const char *secret,
                      http_push_fn on_push, void *ud)
{
	struct http_server *s;
	struct sockaddr_storage sa;
	int dual;

	*out = NULL;
	if (listen_addr(&sa, &dual, addr) < 0)
		return -1;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (dual)
		flags |= MHD_USE_DUAL_STACK;
	else if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s = calloc(1, sizeof(*s));
	if (!s)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	s->secret = secret && *secret ? strdup(secret) : NULL;
	slog_add_secret(s->secret);
	s->on_push = on_push;
	s->ud = ud;
	pthread_mutex_init(&s->ready_lock, NULL);
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR,
	                        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed,
	                        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (!s->d) {
		pthread_mutex_destroy(&s->ready_lock);
		free(s->secret);
		free(s);
		return sluice_error_set(SLUICE_EIO, "http: cannot listen on %s", addr);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	*out = s;
	return 0;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->ready_lock);
	free(s->secret);
	free(s);
}

void http_server_set_ready(struct http_server *s, http_ready_fn fn, void *ud)
{
	pthread_mutex_lock(&s->ready_lock);
	s->ready_fn = fn;
	s->ready_ud = ud;
	pthread_mutex_unlock(&s->ready_lock);
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}
