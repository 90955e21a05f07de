/*
 * The Kubernetes client without a cluster: kubeconfig parsing, Status
 * mapping, and retries, backoff and rate limiting against a local HTTP server
 * that fails on purpose (tests/sandbox/flaky.py).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/kube/internal.h"
#include "sluice/error.h"
#include "sluice/kube.h"
#include "support.h"

static pid_t server_pid;
static char server_url[64];
static char *tmp;

static int group_setup(void **state)
{
	char portfile[4200], *port = NULL;
	(void)state;
	tmp = test_tmpdir();
	snprintf(portfile, sizeof(portfile), "%s/port", tmp);
	server_pid = fork();
	if (server_pid == 0) {
		execlp("python3", "python3", "tests/sandbox/flaky.py", portfile, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !(port = test_read_file(portfile, NULL)); i++)
		usleep(50000);
	if (!port)
		return -1;
	snprintf(server_url, sizeof(server_url), "http://127.0.0.1:%s", port);
	free(port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kill(server_pid, SIGTERM);
	waitpid(server_pid, NULL, 0);
	test_rm_rf(tmp);
	free(tmp);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct kube_client *client(double qps, int burst, int retries, long budget_ms)
{
	struct kube_config cfg;
	struct kube_client_opts o;
	struct kube_client *c = NULL;

	memset(&cfg, 0, sizeof(cfg));
	memset(&o, 0, sizeof(o));
	cfg.server = server_url;
	o.qps = qps;
	o.burst = burst;
	o.max_retries = retries;
	o.retry_budget_ms = budget_ms;
	if (kube_client_new(&c, &cfg, &o) < 0)
		fail_msg("%s", sluice_error_last());
	return c;
}

static void retries_5xx_and_429_then_succeeds(void **state)
{
	struct kube_result r;
	struct kube_client *c = client(100, 100, 5, 30000);
	(void)state;

	assert_int_equal(kube_request(c, &r, "GET", "/fail/a/3/503", NULL, NULL, 0), 0);
	assert_non_null(strstr(r.body, "\"attempts\": 4"));
	kube_result_dispose(&r);
	assert_int_equal(kube_request(c, &r, "GET", "/fail/b/2/429", NULL, NULL, 0), 0);
	kube_result_dispose(&r);
	assert_int_equal(kube_request(c, &r, "PATCH", "/fail/c/1/500", "application/json", "{}", 2),
	                 0);
	kube_result_dispose(&r);
	/* a POST is not repeated after a 500: it may have been done */
	assert_int_equal(kube_request(c, &r, "POST", "/fail/d/1/500", "application/json", "{}", 2),
	                 SLUICE_EUNAVAILABLE);
	kube_result_dispose(&r);
	assert_int_equal(kube_client_requests(c), 4 + 3 + 2 + 1);
	kube_client_free(c);
}

static void retries_are_bounded(void **state)
{
	struct kube_result r;
	struct kube_client *c = client(100, 100, 3, 30000);
	(void)state;

	assert_int_equal(kube_request(c, &r, "GET", "/fail/e/100/502", NULL, NULL, 0),
	                 SLUICE_EUNAVAILABLE);
	assert_int_equal(kube_client_requests(c), 4); /* the first and 3 retries */
	kube_result_dispose(&r);
	kube_client_free(c);

	/* Retry-After: 1 is honoured, and the time budget stops the retries */
	c = client(100, 100, 10, 2500);
	double t0 = now();
	assert_int_equal(kube_request(c, &r, "GET", "/after/f/1", NULL, NULL, 0),
	                 SLUICE_EUNAVAILABLE);
	double took = now() - t0;
	assert_non_null(strstr(r.message, "slow down"));
	kube_result_dispose(&r);
	unsigned long n = kube_client_requests(c);
	if (n < 2 || n > 3 || took < 1.0 || took > 3.5)
		fail_msg(
		    "%lu requests in %.2f s; want 2 or 3 spaced by Retry-After within the budget",
		    n, took);
	kube_client_free(c);
}

static void connection_refused_is_retried_then_reported(void **state)
{
	struct kube_config cfg;
	struct kube_client_opts o;
	struct kube_client *c = NULL;
	struct kube_result r;
	(void)state;

	memset(&cfg, 0, sizeof(cfg));
	memset(&o, 0, sizeof(o));
	char refused[] = "http://127.0.0.1:1";
	cfg.server = refused;
	o.max_retries = 2;
	assert_int_equal(kube_client_new(&c, &cfg, &o), 0);
	assert_int_equal(kube_request(c, &r, "GET", "/api", NULL, NULL, 0), SLUICE_EUNAVAILABLE);
	assert_non_null(strstr(r.message, "cannot reach the API server"));
	assert_int_equal(kube_client_requests(c), 3);
	kube_result_dispose(&r);
	kube_client_free(c);
}

struct counter {
	int done;
};

static void count_done(struct call *call, struct kube_result *r, void *ud)
{
	(void)call;
	(void)r;
	((struct counter *)ud)->done++;
}

static void qps_limit_spaces_requests(void **state)
{
	struct kube_client *c = client(20, 5, 0, 10000);
	struct counter k = {0};
	(void)state;

	double t0 = now();
	for (int i = 0; i < 25; i++) {
		struct call *call = call_new(c, "GET", "/fail/q/0/200", NULL, NULL, 0);
		call->done = count_done;
		call->ud = &k;
		call_submit(call);
	}
	while (k.done < 25)
		kube_client_run(c, 1000);
	double took = now() - t0;
	/* a burst of 5, then 20 more at 20 per second: about one second */
	if (took < 0.85 || took > 3.0)
		fail_msg("25 requests at qps 20 burst 5 took %.2f s", took);
	kube_client_free(c);
}

static void ignore_event(void *ud, enum kube_event type, json_t *obj)
{
	(void)type;
	if (!obj)
		(*(int *)ud)++;
}

static void silent_watch_is_restarted(void **state)
{
	struct kube_client *c = client(100, 100, 0, 10000);
	struct kube_watch *w = NULL;
	struct kube_watch_opts o = {NULL, NULL, 1000};
	struct kube_ref ref = {"v1", "ConfigMap", "silent", NULL};
	struct kube_result r;
	int synced = 0;
	(void)state;

	assert_int_equal(kube_watch_start(&w, c, &ref, &o, ignore_event, &synced), 0);
	double t0 = now();
	while (now() - t0 < 4.5)
		kube_client_run(c, 100);
	assert_int_equal(synced, 1);
	assert_int_equal(kube_watch_lists(w), 1);
	/* silent for a second each time: restarted, from the listed resourceVersion */
	if (kube_watch_reconnects(w) < 2 || kube_watch_reconnects(w) > 5)
		fail_msg("%u reconnects in 4.5 s with a 1 s silence limit",
		         kube_watch_reconnects(w));
	kube_watch_stop(w);
	assert_int_equal(kube_request(c, &r, "GET", "/count/watch", NULL, NULL, 0), 0);
	assert_null(strstr(r.body, "\"count\": 0"));
	kube_result_dispose(&r);
	kube_client_free(c);
}

static void status_mapping(void **state)
{
	char msg[512];
	(void)state;
	const char *forbidden =
	    "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"secrets is forbidden: User "
	    "\\\"x\\\" cannot list resource \\\"secrets\\\" in API group \\\"\\\" in the namespace "
	    "\\\"default\\\"\",\"reason\":\"Forbidden\",\"code\":403}";
	assert_int_equal(
	    kube_status_error(403, forbidden, strlen(forbidden), "GET", "/u", msg, sizeof(msg)),
	    SLUICE_EFORBIDDEN);
	assert_non_null(strstr(msg, "cannot list resource \"secrets\""));
	const char *invalid =
	    "{\"kind\":\"Status\",\"message\":\"Deployment.apps \\\"w\\\" is invalid\",\"reason\":"
	    "\"Invalid\",\"details\":{\"causes\":[{\"field\":\"spec.replicas\",\"message\":\"must "
	    "be "
	    "greater than or equal to 0\"},{\"field\":\"metadata.name\",\"message\":\"bad "
	    "name\"}]},"
	    "\"code\":422}";
	assert_int_equal(
	    kube_status_error(422, invalid, strlen(invalid), "PATCH", "/u", msg, sizeof(msg)),
	    SLUICE_EINVALID);
	assert_string_equal(msg, "Deployment.apps \"w\" is invalid; spec.replicas: must be greater "
	                         "than or equal to 0; metadata.name: bad name");
	const char *expired = "{\"kind\":\"Status\",\"reason\":\"Expired\"}";
	const char *exists = "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\"}";
	assert_int_equal(
	    kube_status_error(410, expired, strlen(expired), "GET", "/u", msg, sizeof(msg)),
	    SLUICE_EGONE);
	assert_int_equal(
	    kube_status_error(409, exists, strlen(exists), "POST", "/u", msg, sizeof(msg)),
	    SLUICE_EEXISTS);
	assert_int_equal(
	    kube_status_error(502, "<html>bad\ngateway</html>", 24, "GET", "/u", msg, sizeof(msg)),
	    SLUICE_EUNAVAILABLE);
	assert_string_equal(msg, "GET /u: HTTP 502: <html>bad gateway</html>");
}

struct seen_items {
	int n;
	char names[8][64], rvs[8][64];
};

static int note_item(void *ud, const char *name, const char *ns, const char *rv)
{
	struct seen_items *s = ud;
	(void)ns;
	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		snprintf(s->rvs[s->n], sizeof(s->rvs[0]), "%s", rv);
	}
	s->n++;
	return 0;
}

/* The metadata walk a resync uses instead of parsing whole lists. */
static void list_metadata_is_walked_not_built(void **state)
{
	struct seen_items s;
	char cont[64];
	(void)state;

	static const char list[] =
	    "{\"kind\":\"PartialObjectMetadataList\",\"metadata\":{\"resourceVersion\":\"77\","
	    "\"continue\":\"abc\"},\"items\":[{\"metadata\":{\"managedFields\":[{\"fieldsV1\":"
	    "{\"f:metadata\":{\"f:name\":{}}},\"manager\":\"x\\\"y\"}],\"name\":\"web\","
	    "\"namespace\":\"shop\",\"resourceVersion\":\"12\",\"labels\":{\"a\":\"b\"}},"
	    "\"kind\":\"PartialObjectMetadata\"},{\"metadata\":{\"name\":\"api\","
	    "\"resourceVersion\":\"13\",\"generation\":-1.5e3,\"x\":[true,false,null,\"\\u00e9\"]}}"
	    ","
	    "{\"metadata\":{\"name\":\"we\\u0062\",\"resourceVersion\":\"14\"}},"
	    "{\"metadata\":{\"resourceVersion\":\"15\"}}]}";
	memset(&s, 0, sizeof(s));
	assert_int_equal(kube_scan_list(list, strlen(list), note_item, &s, cont, sizeof(cont)), 0);
	/* an escaped name (no object has one) and a nameless item are not reported */
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "web");
	assert_string_equal(s.rvs[0], "12");
	assert_string_equal(s.names[1], "api");
	assert_string_equal(s.rvs[1], "13");
	assert_string_equal(cont, "abc");

	/* what is not JSON is refused, whatever part of it was read */
	const char *bad[] = {"",
	                     "{",
	                     "{\"items\":[{\"metadata\":{\"name\":\"a\"}}]",
	                     "{\"items\":[{\"metadata\":{\"name\":\"a\",}}]}",
	                     "{\"items\":[01x]}",
	                     "{\"a\":tru}",
	                     "{\"a\":\"\\x\"}",
	                     "{\"a\":\"\\u12\"}",
	                     "{\"a\":1} {}",
	                     "{\"a\":\"\n\"}",
	                     "[1,]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(
		    kube_scan_list(bad[i], strlen(bad[i]), note_item, &s, cont, sizeof(cont)),
		    SLUICE_ERROR);
	}
	/* nesting is bounded: deep input is refused, not recursed into */
	char deep[4000];
	memset(deep, '[', sizeof(deep));
	memcpy(deep, "{\"a\":", 5);
	assert_int_equal(kube_scan_list(deep, sizeof(deep), note_item, &s, cont, sizeof(cont)),
	                 SLUICE_ERROR);
	/* a continue token longer than the caller's buffer is an error, not cut */
	static const char longcont[] =
	    "{\"metadata\":{\"continue\":\"0123456789012345678901234567890123456789012345678901234"
	    "567890123456789\"},\"items\":[]}";
	assert_int_equal(
	    kube_scan_list(longcont, strlen(longcont), note_item, &s, cont, sizeof(cont)),
	    SLUICE_ELIMIT);
}

static void kubeconfig_files(void **state)
{
	char p[4300];
	struct kube_config *c = NULL;
	(void)state;

	snprintf(p, sizeof(p), "%s/kc", tmp);
	test_write_file(p, "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
	                   "clusters:\n- name: one\n  cluster:\n    server: https://10.1.1.1:6443\n"
	                   "    certificate-authority: certs/ca.pem\n"
	                   "- name: two\n  cluster:\n    server: https://two:443/\n"
	                   "    certificate-authority-data: aGVsbG8gY2E=\n"
	                   "users:\n- name: u\n  user:\n    token: s3cr3t-t0ken\n"
	                   "- name: v\n  user:\n    client-certificate-data: Y2VydA==\n"
	                   "    client-key-data: a2V5\n"
	                   "contexts:\n- name: a\n  context: {cluster: one, user: u}\n"
	                   "- name: b\n  context: {cluster: two, user: v, namespace: prod}\n");
	assert_int_equal(kube_config_load(&c, p, NULL), 0);
	assert_string_equal(c->server, "https://two:443/");
	assert_string_equal(c->namespace, "prod");
	assert_string_equal(c->ca_data, "hello ca");
	assert_string_equal(c->cert_data, "cert");
	assert_string_equal(c->key_data, "key");
	kube_config_free(c);
	assert_int_equal(kube_config_load(&c, p, "a"), 0);
	assert_string_equal(c->namespace, "default");
	assert_string_equal(c->token, "s3cr3t-t0ken");
	char want[4400];
	snprintf(want, sizeof(want), "%s/certs/ca.pem", tmp);
	assert_string_equal(c->ca_file, want);
	kube_config_free(c);
	/* a colon-separated list: a missing member is skipped */
	char list[9000];
	snprintf(list, sizeof(list), "%s/missing:%s", tmp, p);
	assert_int_equal(kube_config_load(&c, list, "a"), 0);
	kube_config_free(c);
	snprintf(p, sizeof(p), "%s/bad", tmp);
	test_write_file(p, "clusters: [\n");
	assert_int_equal(kube_config_load(&c, p, NULL), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "/bad:2:1:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(retries_5xx_and_429_then_succeeds),
	    cmocka_unit_test(retries_are_bounded),
	    cmocka_unit_test(connection_refused_is_retried_then_reported),
	    cmocka_unit_test(qps_limit_spaces_requests),
	    cmocka_unit_test(silent_watch_is_restarted),
	    cmocka_unit_test(status_mapping),
	    cmocka_unit_test(kubeconfig_files),
	    cmocka_unit_test(list_metadata_is_walked_not_built),
	};
	return cmocka_run_group_tests_name("kube_offline", tests, group_setup, group_teardown);
}
