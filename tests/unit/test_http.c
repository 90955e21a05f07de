/* The controller's HTTP endpoints: health, and signed push webhooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sluice/error.h"
#include "sluice/hmac.h"
#include "sluice/http.h"
#include "support.h"

static char got[8][256];
static size_t ngot;
static char got_ref[256];

static void on_push(void *ud, const char *const *urls, size_t n, const char *ref)
{
	(void)ud;
	ngot = n < 8 ? n : 8;
	for (size_t i = 0; i < ngot; i++)
		snprintf(got[i], sizeof(got[i]), "%s", urls[i]);
	snprintf(got_ref, sizeof(got_ref), "%s", ref ? ref : "");
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return s * n;
}

static long post(int port, const char *path, const char *header, const char *body, size_t len)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[128];
	long code = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	if (header)
		h = curl_slist_append(h, header);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return code;
}

static void signature_header(char *out, size_t n, const char *prefix, const char *secret,
                             const char *body)
{
	unsigned char mac[SHA256_LEN];
	size_t o = (size_t)snprintf(out, n, "%s", prefix);
	hmac_sha256(mac, secret, strlen(secret), body, strlen(body));
	for (int i = 0; i < SHA256_LEN && o + 3 < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%02x", mac[i]);
}

static const char github_push[] =
    "{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"https://git.example/org/"
    "shop.git\","
    "\"ssh_url\":\"git@git.example:org/shop.git\"}}";
static const char gitlab_push[] =
    "{\"ref\":\"refs/heads/main\",\"project\":{\"git_http_url\":\"https://gitlab.example/team/"
    "site.git\"}}";

static void webhooks(void **state)
{
	struct http_server *s = NULL;
	char hdr[256];
	(void)state;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(http_server_start(&s, "127.0.0.1:0", "s3cret", on_push, NULL), 0);
	int port = http_server_port(s);
	assert_true(port > 0);
	assert_int_equal(post(port, "/healthz", NULL, NULL, 0), 200);

	signature_header(hdr, sizeof(hdr), "X-Hub-Signature-256: sha256=", "s3cret", github_push);
	assert_int_equal(post(port, "/hooks/git", hdr, github_push, strlen(github_push)), 202);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[0], "https://git.example/org/shop.git");
	assert_string_equal(got_ref, "refs/heads/main");

	/* Gitea signs the same way without the prefix; GitLab sends the token */
	ngot = 0;
	signature_header(hdr, sizeof(hdr), "X-Gitea-Signature: ", "s3cret", github_push);
	assert_int_equal(post(port, "/hooks/git", hdr, github_push, strlen(github_push)), 202);
	assert_int_equal(ngot, 2);
	ngot = 0;
	assert_int_equal(
	    post(port, "/hooks/git", "X-Gitlab-Token: s3cret", gitlab_push, strlen(gitlab_push)),
	    202);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0], "https://gitlab.example/team/site.git");

	/* wrong signature, wrong token, no signature: refused, nothing triggered */
	ngot = 0;
	signature_header(hdr, sizeof(hdr), "X-Hub-Signature-256: sha256=", "guess", github_push);
	assert_int_equal(post(port, "/hooks/git", hdr, github_push, strlen(github_push)), 401);
	assert_int_equal(
	    post(port, "/hooks/git", "X-Gitlab-Token: s3cre", gitlab_push, strlen(gitlab_push)),
	    401);
	assert_int_equal(post(port, "/hooks/git", NULL, github_push, strlen(github_push)), 401);
	assert_int_equal(ngot, 0);

	/* too large: refused without being read whole */
	size_t big = HTTP_HOOK_MAX_BODY + 10;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	assert_int_equal(post(port, "/hooks/git", "X-Gitlab-Token: s3cret", huge, big), 413);
	free(huge);
	assert_int_equal(post(port, "/nothing", NULL, NULL, 0), 404);
	http_server_stop(s);

	/* without a secret every webhook is refused */
	assert_int_equal(http_server_start(&s, "127.0.0.1:0", NULL, on_push, NULL), 0);
	assert_int_equal(post(http_server_port(s), "/hooks/git", "X-Gitlab-Token: x", gitlab_push,
	                      strlen(gitlab_push)),
	                 403);
	http_server_stop(s);
	curl_global_cleanup();
}

static long get(const char *url)
{
	CURL *e = curl_easy_init();
	long code = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	return code;
}

/* ":PORT" answers on IPv4 and IPv6 (probes in IPv6-only clusters), "[::1]:PORT"
 * on IPv6; a bad address is one line naming it */
static void addresses(void **state)
{
	struct http_server *s = NULL;
	char url[96];
	(void)state;

	assert_int_equal(http_server_start(&s, ":0", NULL, NULL, NULL), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", http_server_port(s));
	assert_int_equal(get(url), 200);
	snprintf(url, sizeof(url), "http://[::1]:%d/healthz", http_server_port(s));
	assert_int_equal(get(url), 200);
	http_server_stop(s);

	assert_int_equal(http_server_start(&s, "[::1]:0", NULL, NULL, NULL), 0);
	snprintf(url, sizeof(url), "http://[::1]:%d/healthz", http_server_port(s));
	assert_int_equal(get(url), 200);
	http_server_stop(s);

	static const struct {
		const char *addr, *error;
	} bad[] = {
	    {"8080", "http: address \"8080\" is not HOST:PORT"},
	    {"::1:8080", "http: \"::1:8080\": write an IPv6 address in brackets, e.g. [::1]:8080"},
	    {":70000", "http: \":70000\": the port is not 0..65535"},
	    {"127.0.0.1:http", "http: \"127.0.0.1:http\": the port is not 0..65535"},
	    {"localhost:8080", "http: \"localhost\" is not an IP address"},
	    {"[::1:8080",
	     "http: \"[::1:8080\": write an IPv6 address in brackets, e.g. [::1]:8080"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(http_server_start(&s, bad[i].addr, NULL, NULL, NULL), -1);
		assert_null(s);
		assert_string_equal(sluice_error_last(), bad[i].error);
	}
}

static void repo_keys(void **state)
{
	char a[256], b[256], c[256];
	(void)state;
	http_repo_key(a, sizeof(a), "https://user:pw@Git.Example/org/shop.git");
	http_repo_key(b, sizeof(b), "git@git.example:org/shop.git");
	http_repo_key(c, sizeof(c), "ssh://git@git.example:2222/org/shop/");
	assert_string_equal(a, "git.example/org/shop");
	assert_string_equal(b, "git.example/org/shop");
	assert_string_equal(c, "git.example/org/shop");
	http_repo_key(a, sizeof(a), "/srv/git/shop.git");
	assert_string_equal(a, "/srv/git/shop");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(webhooks),
	    cmocka_unit_test(addresses),
	    cmocka_unit_test(repo_keys),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
