/*
 * The Kubernetes client against a real control plane: the sandbox
 * (tests/sandbox/sandbox) is brought up by this test and taken down at its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "support.h"

static char sandbox_dir[2048];
static char admin_kc[4200], controller_kc[4200], ca_file[4200], other_ca[4200], server[256];
static char admin_token[256], controller_token[256];
static struct kube_client *admin;
static struct kube_config *admin_cfg;

#define CHECK(expr)                                                         \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_ < 0)                                                \
			fail_msg("%s: %s (%s)", #expr, sluice_error_last(), \
			         sluice_error_name(rc_));                   \
	} while (0)

static void read_line(char *buf, size_t n, const char *path)
{
	char *s = test_read_file(path, NULL);
	assert_non_null(s);
	s[strcspn(s, "\r\n")] = '\0';
	snprintf(buf, n, "%s", s);
	free(s);
}

static int group_setup(void **state)
{
	char path[4200];
	(void)state;
	if (test_sandbox_up(sandbox_dir, sizeof(sandbox_dir)) < 0)
		return -1;
	snprintf(admin_kc, sizeof(admin_kc), "%s/admin.kubeconfig", sandbox_dir);
	snprintf(controller_kc, sizeof(controller_kc), "%s/controller.kubeconfig", sandbox_dir);
	snprintf(ca_file, sizeof(ca_file), "%s/pki/ca.crt", sandbox_dir);
	snprintf(other_ca, sizeof(other_ca), "%s/pki/other-ca.crt", sandbox_dir);
	snprintf(path, sizeof(path), "%s/admin.token", sandbox_dir);
	read_line(admin_token, sizeof(admin_token), path);
	snprintf(path, sizeof(path), "%s/controller.token", sandbox_dir);
	read_line(controller_token, sizeof(controller_token), path);
	snprintf(path, sizeof(path), "%s/apiserver.port", sandbox_dir);
	char port[32];
	read_line(port, sizeof(port), path);
	snprintf(server, sizeof(server), "https://127.0.0.1:%s", port);
	if (kube_config_load(&admin_cfg, admin_kc, NULL) < 0 ||
	    kube_client_new(&admin, admin_cfg, NULL) < 0) {
		fprintf(stderr, "test_kube: %s\n", sluice_error_last());
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kube_client_free(admin);
	kube_config_free(admin_cfg);
	return test_sandbox_down(sandbox_dir);
}

static json_t *load(const char *yaml_json)
{
	json_error_t err;
	json_t *v = json_loads(yaml_json, 0, &err);
	if (!v)
		fail_msg("bad test JSON: %s", err.text);
	return v;
}

static void ensure_namespace(const char *ns)
{
	char buf[512];
	snprintf(buf, sizeof(buf),
	         "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
	         ns);
	json_t *o = load(buf);
	CHECK(kube_apply(admin, NULL, o, "sluice-test", 0));
	json_decref(o);
}

static json_t *configmap(const char *ns, const char *name, const char *value)
{
	char buf[1024];
	snprintf(buf, sizeof(buf),
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
	         "\"namespace\":\"%s\"},\"data\":{\"k\":\"%s\"}}",
	         name, ns, value);
	return load(buf);
}

static void config_and_discovery(void **state)
{
	const struct kube_resource *r;
	struct kube_result res;
	(void)state;

	assert_string_equal(admin_cfg->server, server);
	assert_string_equal(admin_cfg->namespace, "default");
	CHECK(kube_request(admin, &res, "GET", "/version", NULL, NULL, 0));
	assert_non_null(strstr(res.body, "\"gitVersion\""));
	kube_result_dispose(&res);
	CHECK(kube_resolve(admin, &r, "apps/v1", "Deployment"));
	assert_string_equal(r->resource, "deployments");
	assert_true(r->namespaced);
	CHECK(kube_resolve(admin, &r, "v1", "Namespace"));
	assert_string_equal(r->resource, "namespaces");
	assert_false(r->namespaced);
	assert_int_equal(kube_resolve(admin, &r, "example.com/v1", "Nothing"), SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "no resource for kind Nothing"));

	struct kube_config *bad = NULL;
	assert_int_equal(kube_config_load(&bad, admin_kc, "nope"), SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "context \"nope\" not found"));
}

/* kube_list_each's callback: counts the items, stops at the stop-th */
struct counted {
	int items;
	int stop;
};

static int count_page_items(void *ud, json_t *item)
{
	struct counted *c = ud;
	assert_non_null(json_object_get(item, "metadata"));
	return ++c->items == c->stop;
}

static void crud_verbs(void **state)
{
	json_t *o = NULL, *got = NULL, *items = NULL;
	char *rv = NULL;
	(void)state;

	ensure_namespace("crud");
	json_t *cm = configmap("crud", "one", "v1");
	CHECK(kube_create(admin, &o, cm, 0));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "k")),
	                    "v1");
	json_decref(o);
	assert_int_equal(kube_create(admin, NULL, cm, 0), SLUICE_EEXISTS);
	assert_non_null(strstr(sluice_error_last(), "already exists"));

	struct kube_ref ref = {"v1", "ConfigMap", "crud", "one"};
	CHECK(kube_get(admin, &got, &ref));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(got, "metadata"), "name")), "one");
	json_decref(got);

	/* merge patch, JSON patch */
	CHECK(kube_patch(admin, &o, &ref, KUBE_PATCH_MERGE, "{\"data\":{\"m\":\"merged\"}}", NULL,
	                 0));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "m")),
	                    "merged");
	json_decref(o);
	CHECK(kube_patch(admin, &o, &ref, KUBE_PATCH_JSON,
	                 "[{\"op\":\"replace\",\"path\":\"/data/k\",\"value\":\"json\"}]", NULL,
	                 0));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "k")),
	                    "json");
	json_decref(o);

	/* a stale resourceVersion is a conflict */
	assert_int_equal(
	    kube_patch(admin, NULL, &ref, KUBE_PATCH_MERGE,
	               "{\"metadata\":{\"resourceVersion\":\"1\"},\"data\":{\"k\":\"x\"}}", NULL,
	               0),
	    SLUICE_ECONFLICT);

	/* dry-run writes nothing */
	json_t *dry = configmap("crud", "dry", "v");
	CHECK(kube_create(admin, NULL, dry, KUBE_DRY_RUN));
	CHECK(kube_apply(admin, NULL, dry, NULL, KUBE_DRY_RUN));
	struct kube_ref dref = {"v1", "ConfigMap", "crud", "dry"};
	assert_int_equal(kube_get(admin, &got, &dref), SLUICE_ENOTFOUND);
	json_decref(dry);

	/* list pages through continue */
	for (int i = 0; i < 7; i++) {
		char name[32];
		snprintf(name, sizeof(name), "page-%d", i);
		json_t *p = configmap("crud", name, "p");
		CHECK(kube_apply(admin, NULL, p, NULL, 0));
		json_decref(p);
	}
	struct kube_ref all = {"v1", "ConfigMap", "crud", NULL};
	struct kube_list_opts lo = {NULL, NULL, 2};
	unsigned long before = kube_client_requests(admin);
	CHECK(kube_list(admin, &items, &rv, &all, &lo));
	assert_true(kube_client_requests(admin) - before >= 4); /* 8+ objects, pages of 2 */
	assert_true(json_array_size(items) >= 8);
	assert_non_null(rv);
	json_decref(items);
	free(rv);
	/* the same walked item by item, a page at a time; a stop ends the walk */
	struct counted walk = {0, 0};
	before = kube_client_requests(admin);
	CHECK(kube_list_each(admin, &all, &lo, count_page_items, &walk));
	assert_true(walk.items >= 8);
	assert_true(kube_client_requests(admin) - before >= 4);
	walk = (struct counted){0, 3};
	before = kube_client_requests(admin);
	CHECK(kube_list_each(admin, &all, &lo, count_page_items, &walk));
	assert_int_equal(walk.items, 3);
	assert_int_equal(kube_client_requests(admin) - before, 2); /* no page after the stop */
	lo.label_selector = "nothing=here";
	CHECK(kube_list(admin, &items, NULL, &all, &lo));
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);

	CHECK(kube_delete(admin, &ref, "Background", 0));
	assert_int_equal(kube_get(admin, &got, &ref), SLUICE_ENOTFOUND);
	assert_int_equal(kube_delete(admin, &ref, NULL, 0), SLUICE_ENOTFOUND);
	json_decref(cm);
}

static void server_side_apply(void **state)
{
	json_t *o = NULL;
	(void)state;

	ensure_namespace("ssa");
	json_t *cm = configmap("ssa", "owned", "mine");
	CHECK(kube_apply(admin, &o, cm, NULL, 0));
	json_t *mf = json_object_get(json_object_get(o, "metadata"), "managedFields");
	assert_string_equal(json_string_value(json_object_get(json_array_get(mf, 0), "manager")),
	                    "sluice");
	json_decref(o);
	/* another manager taking the same field conflicts, unless forced */
	json_t *theirs = configmap("ssa", "owned", "theirs");
	assert_int_equal(kube_apply(admin, NULL, theirs, "someone-else", 0), SLUICE_ECONFLICT);
	assert_non_null(strstr(sluice_error_last(), "conflict"));
	CHECK(kube_apply(admin, &o, theirs, "someone-else", KUBE_FORCE));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "k")),
	                    "theirs");
	json_decref(o);
	json_decref(cm);
	json_decref(theirs);

	/* a resourceVersion in the applied object is a precondition (the sync
	 * pins a route it keeps at a rollout's rules this way): stale, refused */
	json_t *pinned = configmap("ssa", "owned", "pinned");
	CHECK(kube_apply(admin, &o, pinned, NULL, KUBE_FORCE));
	json_t *rv = json_object_get(json_object_get(o, "metadata"), "resourceVersion");
	json_object_set(json_object_get(pinned, "metadata"), "resourceVersion", rv);
	CHECK(kube_apply(admin, NULL, theirs = configmap("ssa", "owned", "moved"), NULL,
	                 KUBE_FORCE)); /* someone writes it meanwhile */
	assert_int_equal(kube_apply(admin, NULL, pinned, NULL, KUBE_FORCE), SLUICE_ECONFLICT);
	json_decref(o);
	struct kube_ref owned = {"v1", "ConfigMap", "ssa", "owned"};
	CHECK(kube_get(admin, &o, &owned)); /* at the version now: applied */
	json_object_set(json_object_get(pinned, "metadata"), "resourceVersion",
	                json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
	json_decref(o);
	CHECK(kube_apply(admin, &o, pinned, NULL, KUBE_FORCE));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "k")),
	                    "pinned");
	json_decref(o);
	json_decref(pinned);
	json_decref(theirs);

	/* an invalid object names the field */
	json_t *bad =
	    load("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
	         "\"bad\",\"namespace\":\"ssa\"},\"spec\":{\"replicas\":-1,\"selector\":{"
	         "\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":{"
	         "\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}");
	assert_int_equal(kube_apply(admin, NULL, bad, NULL, 0), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "spec.replicas"));
	json_decref(bad);
}

static int wait_available(const char *ns, const char *name, long want, int seconds)
{
	struct kube_ref ref = {"apps/v1", "Deployment", ns, name};
	for (int i = 0; i < seconds * 10; i++) {
		json_t *d = NULL;
		if (kube_get(admin, &d, &ref) == 0) {
			json_int_t av = json_integer_value(
			    json_object_get(json_object_get(d, "status"), "availableReplicas"));
			json_decref(d);
			if (av == want)
				return 0;
		}
		usleep(100000);
	}
	return -1;
}

static void deployments_become_available(void **state)
{
	(void)state;
	ensure_namespace("apps");
	json_t *d =
	    load("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
	         "\"web\",\"namespace\":\"apps\"},\"spec\":{\"replicas\":3,\"selector\":{"
	         "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{"
	         "\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":"
	         "\"web:1\"}]}}}}");
	CHECK(kube_apply(admin, NULL, d, NULL, 0));
	json_decref(d);
	if (wait_available("apps", "web", 3, 60) < 0)
		fail_msg("deployment apps/web did not become available with 3 replicas");
	/* status subresource patch */
	struct kube_ref ref = {"apps/v1", "Deployment", "apps", "web"};
	json_t *o = NULL;
	CHECK(kube_patch(admin, &o, &ref, KUBE_PATCH_MERGE,
	                 "{\"status\":{\"observedGeneration\":1}}", "status", 0));
	json_decref(o);
	/* foreground deletion removes the ReplicaSets too */
	CHECK(kube_delete(admin, &ref, "Foreground", 0));
	struct kube_ref rs = {"apps/v1", "ReplicaSet", "apps", NULL};
	json_t *items = NULL;
	int gone = 0;
	for (int i = 0; i < 300 && !gone; i++) {
		CHECK(kube_list(admin, &items, NULL, &rs, NULL));
		gone = json_array_size(items) == 0;
		json_decref(items);
		if (!gone)
			usleep(100000);
	}
	assert_true(gone);
}

struct seen {
	int added, modified, deleted, synced;
	char log[4096];
};

static void record(void *ud, enum kube_event type, json_t *obj)
{
	struct seen *s = ud;
	const char *name;
	size_t n = strlen(s->log);

	if (!obj) {
		s->synced++;
		snprintf(s->log + n, sizeof(s->log) - n, "SYNC ");
		return;
	}
	name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	if (type == KUBE_ADDED)
		s->added++;
	else if (type == KUBE_MODIFIED)
		s->modified++;
	else
		s->deleted++;
	snprintf(s->log + n, sizeof(s->log) - n, "%s:%s ",
	         type == KUBE_ADDED      ? "A"
	         : type == KUBE_MODIFIED ? "M"
	                                 : "D",
	         name);
}

static void run_until(int *flag, int want, int seconds)
{
	for (int i = 0; i < seconds * 20 && *flag < want; i++)
		kube_client_run(admin, 50);
}

static void watch_and_relist_after_410(void **state)
{
	struct kube_watch *w = NULL;
	struct seen s;
	struct kube_ref ref = {"v1", "ConfigMap", "watched", NULL};
	(void)state;

	memset(&s, 0, sizeof(s));
	ensure_namespace("watched");
	json_t *a = configmap("watched", "a", "1"), *b = configmap("watched", "b", "1");
	CHECK(kube_apply(admin, NULL, a, NULL, 0));
	CHECK(kube_apply(admin, NULL, b, NULL, 0));
	CHECK(kube_watch_start(&w, admin, &ref, NULL, record, &s));
	run_until(&s.synced, 1, 20);
	assert_int_equal(s.synced, 1);
	assert_true(s.added >= 2);

	/* live events */
	json_t *c = configmap("watched", "c", "1");
	CHECK(kube_apply(admin, NULL, c, NULL, 0));
	run_until(&s.added, 3, 20);
	assert_int_equal(s.added, 3);

	/* the watch misses changes while it is away, and etcd is compacted past
	 * its resourceVersion meanwhile (410 Gone): the relist must deliver
	 * exactly those changes */
	kube_watch_pause(w);
	json_t *a2 = configmap("watched", "a", "2");
	CHECK(kube_apply(admin, NULL, a2, NULL, 0));
	struct kube_ref bref = {"v1", "ConfigMap", "watched", "b"};
	CHECK(kube_delete(admin, &bref, NULL, 0));
	json_t *d = configmap("watched", "d", "1");
	CHECK(kube_apply(admin, NULL, d, NULL, 0));
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "tests/sandbox/sandbox compact '%s' >&2", sandbox_dir);
	assert_int_equal(system(cmd), 0);
	s.log[0] = '\0';
	CHECK(kube_watch_resume(w, NULL));
	run_until(&s.synced, 2, 30);
	assert_int_equal(kube_watch_lists(w), 2);
	if (!strstr(s.log, "M:a") || !strstr(s.log, "D:b") || !strstr(s.log, "A:d") ||
	    strstr(s.log, "c ") || !strstr(s.log, "SYNC"))
		fail_msg("relist delivered \"%s\", want M:a D:b A:d and a SYNC", s.log);
	assert_non_null(json_object_get(kube_watch_store(w), "watched/a"));
	assert_null(json_object_get(kube_watch_store(w), "watched/b"));

	/* and it keeps watching after the relist */
	int before = s.deleted;
	struct kube_ref cref = {"v1", "ConfigMap", "watched", "c"};
	CHECK(kube_delete(admin, &cref, NULL, 0));
	run_until(&s.deleted, before + 1, 20);
	assert_int_equal(s.deleted, before + 1);
	kube_watch_stop(w);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(a2);
	json_decref(d);
}

static void crd_created_then_used(void **state)
{
	const struct kube_resource *r;
	(void)state;
	json_t *crd = load(
	    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
	    "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
	    "\"names\":{\"kind\":\"Widget\",\"plural\":\"widgets\",\"singular\":\"widget\","
	    "\"listKind\":\"WidgetList\"},\"scope\":\"Namespaced\",\"versions\":[{\"name\":\"v1\","
	    "\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
	    "\"x-kubernetes-preserve-unknown-fields\":true}}}]}}");
	/* discovery is loaded before the CRD exists */
	CHECK(kube_resolve(admin, &r, "v1", "ConfigMap"));
	CHECK(kube_apply(admin, NULL, crd, NULL, 0));
	json_decref(crd);
	int found = 0;
	for (int i = 0; i < 100 && !found; i++) {
		found = kube_resolve(admin, &r, "example.com/v1", "Widget") == 0;
		if (!found)
			usleep(100000);
	}
	assert_true(found);
	assert_string_equal(r->resource, "widgets");
	ensure_namespace("crd");
	json_t *w = load("{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{"
	                 "\"name\":\"w1\",\"namespace\":\"crd\"},\"spec\":{\"size\":3}}");
	int applied = -1;
	for (int i = 0; i < 50 && applied < 0; i++) {
		applied = kube_apply(admin, NULL, w, NULL, 0);
		if (applied < 0)
			usleep(100000);
	}
	CHECK(applied);
	json_decref(w);
}

static void forbidden_for_the_controller(void **state)
{
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	json_t *items = NULL;
	(void)state;

	CHECK(kube_config_load(&cfg, controller_kc, NULL));
	CHECK(kube_client_new(&c, cfg, NULL));
	struct kube_ref ref = {"v1", "Secret", "default", NULL};
	int rc = kube_list(c, &items, NULL, &ref, NULL);
	if (rc != SLUICE_EFORBIDDEN)
		fail_msg("rc %d: %s", rc, sluice_error_last());
	assert_non_null(strstr(sluice_error_last(),
	                       "User \"system:serviceaccount:sluice-system:sluiced\" cannot list "
	                       "resource \"secrets\""));
	assert_null(strstr(sluice_error_last(), controller_token));
	kube_client_free(c);
	kube_config_free(cfg);
}

static void in_cluster_config_and_token_rotation(void **state)
{
	char *root = test_tmpdir(), p[4400], port[32];
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	json_t *items = NULL;
	(void)state;

	snprintf(p, sizeof(p), "%s/var/run/secrets/kubernetes.io/serviceaccount", root);
	char mk[16384];
	snprintf(mk, sizeof(mk), "mkdir -p '%s' && cp '%s' '%s/ca.crt'", p, ca_file, p);
	assert_int_equal(system(mk), 0);
	snprintf(mk, sizeof(mk), "%s/namespace", p);
	test_write_file(mk, "team-a\n");
	snprintf(mk, sizeof(mk), "%s/token", p);
	test_write_file(mk, controller_token);
	sscanf(strrchr(server, ':') + 1, "%31s", port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);
	CHECK(kube_config_in_cluster(&cfg, root));
	assert_string_equal(cfg->namespace, "team-a");
	CHECK(kube_client_new(&c, cfg, NULL));
	struct kube_ref ref = {"v1", "Secret", "default", NULL};
	assert_int_equal(kube_list(c, &items, NULL, &ref, NULL), SLUICE_EFORBIDDEN);
	/* the token rotates: the admin's is written in its place */
	sleep(1); /* a new mtime */
	char tmp[4700];
	snprintf(tmp, sizeof(tmp), "%s/token.new", p);
	test_write_file(tmp, admin_token);
	rename(tmp, mk);
	int ok = 0;
	for (int i = 0; i < 80 && !ok; i++) {
		ok = kube_list(c, &items, NULL, &ref, NULL) == 0;
		if (ok)
			json_decref(items);
		else
			usleep(100000);
	}
	assert_true(ok);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	kube_client_free(c);
	kube_config_free(cfg);
	test_rm_rf(root);
	free(root);
}

static void tls_verification_fails_with_a_wrong_ca(void **state)
{
	struct kube_config cfg;
	struct kube_client *c = NULL;
	struct kube_result r;
	(void)state;

	memset(&cfg, 0, sizeof(cfg));
	cfg.server = server;
	cfg.ca_file = other_ca;
	cfg.token = admin_token;
	CHECK(kube_client_new(&c, &cfg, NULL));
	assert_int_equal(kube_request(c, &r, "GET", "/version", NULL, NULL, 0), SLUICE_ETLS);
	assert_non_null(strstr(r.message, "TLS"));
	assert_int_equal(kube_client_requests(c), 1); /* a certificate problem is not retried */
	kube_result_dispose(&r);
	kube_client_free(c);
}

static void response_size_is_capped(void **state)
{
	struct kube_client *c = NULL;
	struct kube_client_opts o;
	json_t *items = NULL;
	(void)state;

	memset(&o, 0, sizeof(o));
	o.max_body = 512;
	CHECK(kube_client_new(&c, admin_cfg, &o));
	struct kube_ref ref = {"v1", "Namespace", NULL, NULL};
	assert_int_equal(kube_list(c, &items, NULL, &ref, NULL), SLUICE_ELIMIT);
	assert_non_null(strstr(sluice_error_last(), "larger than 512 bytes"));
	kube_client_free(c);
}

static int fence_open;
static int fence_asked;
static char fence_method[16];

static int fence(void *ud, const char *method, const char *url)
{
	(void)ud;
	(void)url;
	fence_asked++;
	snprintf(fence_method, sizeof(fence_method), "%s", method);
	return fence_open;
}

/* a fenced client (a replica that lost its Lease) sends no write: the
 * object stays as it was, reads still go, and the error names the request */
static void a_write_fence_keeps_writes_unsent(void **state)
{
	struct kube_client *c = NULL;
	struct kube_client_opts o;
	json_t *got = NULL;
	(void)state;

	ensure_namespace("fence");
	json_t *before = configmap("fence", "cm", "before");
	json_t *after = configmap("fence", "cm", "after");
	CHECK(kube_apply(admin, NULL, before, NULL, 0));
	memset(&o, 0, sizeof(o));
	o.may_write = fence;
	fence_open = 0;
	fence_asked = 0;
	CHECK(kube_client_new(&c, admin_cfg, &o));
	struct kube_ref ref = {"v1", "ConfigMap", "fence", "cm"};
	CHECK(kube_get(c, &got, &ref)); /* reads are not fenced (and discovery is done) */
	json_decref(got);
	unsigned long sent = kube_client_requests(c);
	assert_int_equal(kube_apply(c, NULL, after, NULL, 0), SLUICE_ECONFLICT);
	assert_non_null(strstr(sluice_error_last(), "PATCH https://"));
	assert_non_null(strstr(sluice_error_last(), ": not sent: this replica may not write now"));
	assert_int_equal(kube_client_requests(c), sent); /* nothing went out */
	assert_int_equal(fence_asked, 1);
	assert_string_equal(fence_method, "PATCH");
	CHECK(kube_get(c, &got, &ref));
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "data"), "k")),
	                    "before");
	json_decref(got);
	assert_int_equal(kube_delete(c, &ref, NULL, 0), SLUICE_ECONFLICT);
	assert_string_equal(fence_method, "DELETE");
	/* the fence open again: the same client writes */
	fence_open = 1;
	CHECK(kube_apply(c, &got, after, NULL, 0));
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "data"), "k")),
	                    "after");
	json_decref(got);
	json_decref(before);
	json_decref(after);
	kube_client_free(c);
}

static void many_applies_at_once(void **state)
{
	json_t *objs[200];
	int rcs[200];
	char *msgs[200];
	(void)state;

	ensure_namespace("many");
	for (int i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cm-%03d", i);
		objs[i] = configmap("many", name, i == 199 ? "last" : "x");
	}
	/* one of them is invalid: its error comes back, the others apply */
	json_object_set_new(json_object_get(objs[7], "metadata"), "name", json_string("Bad_Name"));
	int rc = kube_apply_many(admin, objs, 200, NULL, 0, rcs, msgs);
	assert_int_equal(rc, SLUICE_EINVALID);
	for (int i = 0; i < 200; i++) {
		if (i == 7) {
			assert_int_equal(rcs[i], SLUICE_EINVALID);
			assert_non_null(strstr(msgs[i], "Bad_Name"));
		} else {
			assert_int_equal(rcs[i], 0);
		}
		free(msgs[i]);
		json_decref(objs[i]);
	}
	struct kube_ref ref = {"v1", "ConfigMap", "many", "cm-199"};
	json_t *o = NULL;
	CHECK(kube_get(admin, &o, &ref));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(config_and_discovery),
	    cmocka_unit_test(crud_verbs),
	    cmocka_unit_test(server_side_apply),
	    cmocka_unit_test(deployments_become_available),
	    cmocka_unit_test(watch_and_relist_after_410),
	    cmocka_unit_test(crd_created_then_used),
	    cmocka_unit_test(forbidden_for_the_controller),
	    cmocka_unit_test(in_cluster_config_and_token_rotation),
	    cmocka_unit_test(tls_verification_fails_with_a_wrong_ca),
	    cmocka_unit_test(response_size_is_capped),
	    cmocka_unit_test(a_write_fence_keeps_writes_unsent),
	    cmocka_unit_test(many_applies_at_once),
	};
	return cmocka_run_group_tests_name("kube", tests, group_setup, group_teardown);
}
