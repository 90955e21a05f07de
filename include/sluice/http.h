/*
 * The controller's HTTP endpoints (libmicrohttpd, its own thread):
 *   GET  /healthz    200 "ok": the process serves (liveness)
 *   GET  /readyz     200 "ok: REASON", or 503 "not ready: REASON", as the
 *                    function given to http_server_set_ready() says; 200
 *                    "ok" when none is given
 *   GET  /metrics    the process's metrics registry (metrics_default(), see
 *                    metrics.h) in the Prometheus text format 0.0.4; other
 *                    modules declare their families there, the server only
 *                    renders them. 500 when the rendering exceeds
 *                    METRICS_MAX_OUTPUT.
 *   POST /hooks/git  a push event from GitHub, Gitea or GitLab. The signature
 *                    is required: X-Hub-Signature-256 (GitHub, "sha256=" HMAC),
 *                    X-Gitea-Signature (HMAC hex) or X-Gitlab-Token (the
 *                    secret itself). 401 when it does not match, 403 when no
 *                    secret is configured, 413 above 1 MiB, 202 when accepted.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>

#define HTTP_HOOK_MAX_BODY (1u << 20)

/*
 * Readiness, asked on the server's thread for each GET /readyz: 1 ready, 0
 * not; `why` (size n) gets one line that says why.
 */
typedef int (*http_ready_fn)(void *ud, char *why, size_t n);

/* Called on the server's thread with the repository URLs a push names. */
typedef void (*http_push_fn)(void *ud, const char *const *urls, size_t n, const char *ref);

struct http_server;

/*
 * Listen on `addr`: "127.0.0.1:8080", "[::1]:8080", or ":8080" (every
 * address, IPv6 and IPv4 alike where the kernel has IPv6); port 0 picks a
 * free one.
 * `secret` (copied) signs webhooks; NULL refuses them all.
 */
int http_server_start(struct http_server **out, const char *addr, const char *secret,
                      http_push_fn on_push, void *ud);
void http_server_stop(struct http_server *s);

/* Answer /readyz with `fn` from now on (NULL: always ready). Any thread. */
void http_server_set_ready(struct http_server *s, http_ready_fn fn, void *ud);
int http_server_port(const struct http_server *s);

/*
 * A repository URL in a form that compares equal across https, ssh and scp
 * styles: "host/path" without user, port, ".git" or trailing slash, lowercase
 * host.
 */
void http_repo_key(char *buf, size_t n, const char *url);

#endif
