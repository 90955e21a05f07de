/*
 * Traffic routers against a real control plane (the sandbox): the canary's
 * pod count, the replicas router scaling a canary Deployment, an HTTPRoute's
 * weights (with a minimal HTTPRoute CRD, tests/data/crds/httproute.yaml) and
 * an ingress-nginx canary Ingress. The sizing table needs no cluster.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/log.h"
#include "sluice/traffic.h"
#include "sluice/yaml.h"
#include "support.h"

#define NS       "default"
#define WAIT_MS  30000
#define ROUTE_AV "gateway.networking.k8s.io/v1beta1"

static char dir[2048];
static struct kube_config *cfg;
static struct kube_client *kc;

/* A call that must succeed; a failure prints the library's message. */
#define PASS(expr)                                                          \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_ < 0)                                                \
			fail_msg("%s: %s (%s)", #expr, sluice_error_last(), \
			         sluice_error_name(rc_));                   \
	} while (0)

/* Apply every document of a YAML text with `manager` (Git's is "sluice"). */
static void apply_yaml(const char *text, const char *manager)
{
	struct yaml_stream *s = NULL;

	PASS(yaml_stream_parse(&s, text, strlen(text), "fixture"));
	for (size_t i = 0; i < yaml_stream_count(s); i++)
		PASS(kube_apply(kc, NULL, yaml_stream_doc(s, i), manager, KUBE_FORCE));
	yaml_stream_free(s);
}

static json_t *get(const char *api, const char *kind, const char *name)
{
	struct kube_ref ref = {api, kind, NS, name};
	json_t *o = NULL;
	if (kube_get(kc, &o, &ref) < 0)
		return NULL;
	return o;
}

/* o[k1][k2]... (NULL-terminated keys), borrowed. */
static json_t *at(const json_t *o, ...)
{
	va_list ap;
	va_start(ap, o);
	for (const char *k = va_arg(ap, const char *); k && o; k = va_arg(ap, const char *))
		o = json_object_get(o, k);
	va_end(ap);
	return (json_t *)o;
}

static const char *str_at(const json_t *o, const char *a, const char *b, const char *c)
{
	return json_string_value(at(o, a, b, c, NULL));
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static int crd_established(const char *name)
{
	json_t *crd = get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name), *cond;
	size_t i;
	int ok = 0;

	json_array_foreach(at(crd, "status", "conditions", NULL), i, cond)
	{
		if (streq(str_at(cond, "type", NULL, NULL), "Established") &&
		    streq(str_at(cond, "status", NULL, NULL), "True"))
			ok = 1;
	}
	json_decref(crd);
	return ok;
}

static int group_setup(void **state)
{
	char kcpath[2200], crd_path[1024];
	const struct kube_resource *r = NULL;
	char *crd;
	(void)state;

	slog_setup_from_env();
	if (test_sandbox_up(dir, sizeof(dir)) < 0)
		return -1;
	snprintf(kcpath, sizeof(kcpath), "%s/admin.kubeconfig", dir);
	if (kube_config_load(&cfg, kcpath, NULL) < 0 || kube_client_new(&kc, cfg, NULL) < 0) {
		fprintf(stderr, "test_traffic: %s\n", sluice_error_last());
		return -1;
	}
	snprintf(crd_path, sizeof(crd_path), "%s/crds/httproute.yaml", test_data_dir());
	if (!(crd = test_read_file(crd_path, NULL))) {
		fprintf(stderr, "test_traffic: cannot read %s\n", crd_path);
		return -1;
	}
	apply_yaml(crd, "sluice");
	free(crd);
	for (int waited = 0; !crd_established("httproutes.gateway.networking.k8s.io") ||
	                     kube_resolve(kc, &r, ROUTE_AV, "HTTPRoute") < 0;
	     waited += 200) {
		if (waited > WAIT_MS) {
			fprintf(stderr, "test_traffic: the HTTPRoute CRD is not Established\n");
			return -1;
		}
		usleep(200000);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kube_client_free(kc);
	kube_config_free(cfg);
	return test_sandbox_down(dir);
}

/* ---- sizing ------------------------------------------------------------- */

static void a_weight_asks_for_this_many_canary_pods(void **state)
{
	struct traffic_target t = {TRAFFIC_REPLICAS, NS, "web", NULL, "web-canary", "", "", 9};
	(void)state;

	/* replicas: the canary's share of pods c / (c + R) never above w, never 0 */
	assert_int_equal(traffic_canary_replicas(&t, 10), 1); /* 1 / 10 */
	t.replicas = 2;
	assert_int_equal(traffic_canary_replicas(&t, 10), 1); /* at least one pod */
	t.replicas = 4;
	assert_int_equal(traffic_canary_replicas(&t, 50), 4); /* half and half */
	assert_int_equal(traffic_canary_replicas(&t, 20), 1); /* 1 / 5 */
	assert_int_equal(traffic_canary_replicas(&t, 0), 0);
	assert_int_equal(traffic_canary_replicas(&t, 100), 4);
	/* routers: the canary carries w of the traffic, so it needs w of R */
	t.kind = TRAFFIC_GATEWAY_API;
	t.replicas = 10;
	assert_int_equal(traffic_canary_replicas(&t, 25), 3);
	assert_int_equal(traffic_canary_replicas(&t, 1), 1);
	assert_int_equal(traffic_canary_replicas(&t, 0), 0);
	assert_int_equal(traffic_canary_replicas(&t, 100), 10);
	t.kind = TRAFFIC_NGINX;
	assert_int_equal(traffic_canary_replicas(&t, 25), 3);
	assert_string_equal(traffic_kind_name(TRAFFIC_REPLICAS), "replicas");
	assert_string_equal(traffic_kind_name(TRAFFIC_GATEWAY_API), "gatewayAPI");
	assert_string_equal(traffic_kind_name(TRAFFIC_NGINX), "nginx");
}

static void a_weight_outside_0_to_100_is_refused(void **state)
{
	struct traffic_target t = {TRAFFIC_REPLICAS, NS, "web", NULL, "web-canary", "", "", 4};
	(void)state;
	assert_int_equal(traffic_set_weight(NULL, &t, 101), SLUICE_EINVALID);
	assert_int_equal(traffic_set_weight(NULL, &t, -1), SLUICE_EINVALID);
	t.kind = TRAFFIC_NGINX; /* no Ingress named */
	assert_int_equal(traffic_prepare(NULL, &t), SLUICE_EINVALID);
}

/* ---- replicas ----------------------------------------------------------- */

static const char deployments_yaml[] =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 4\n"
    "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
    "    spec: {containers: [{name: web, image: 'web:1'}]}\n"
    "---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web-canary}\n"
    "spec:\n  replicas: 0\n"
    "  selector: {matchLabels: {app: web, sluice.dev/canary: 'true'}}\n  template:\n"
    "    metadata: {labels: {app: web, sluice.dev/canary: 'true'}}\n"
    "    spec: {containers: [{name: web, image: 'web:2'}]}\n";

static int ready(const char *name)
{
	json_t *d = get("apps/v1", "Deployment", name);
	int n = (int)json_integer_value(at(d, "status", "readyReplicas", NULL));
	json_decref(d);
	return n;
}

/* Wait until the router reads `want` back; returns the last weight read. */
static int await_weight(const struct traffic_target *t, int want)
{
	int w = -1;
	for (int waited = 0; waited <= WAIT_MS; waited += 100) {
		PASS(traffic_read_weight(kc, t, &w));
		if (w == want)
			break;
		usleep(100000);
	}
	return w;
}

/* Whether `manager` owns spec.<field> of o, from its managed fields. */
static int owned_by(const json_t *o, const char *field, const char *manager)
{
	json_t *mf;
	size_t i;
	json_array_foreach(at(o, "metadata", "managedFields", NULL), i, mf)
	{
		if (streq(str_at(mf, "manager", NULL, NULL), manager) &&
		    at(mf, "fieldsV1", "f:spec", field, NULL))
			return 1;
	}
	return 0;
}

static void replicas_router_scales_the_canary_to_its_share_of_ready_pods(void **state)
{
	struct traffic_target t = {TRAFFIC_REPLICAS, NS, "web", NULL, "web-canary", "", "", 4};
	(void)state;

	apply_yaml(deployments_yaml, "sluice");
	for (int waited = 0; ready("web") < 4; waited += 100) {
		if (waited > WAIT_MS)
			fail_msg("the stable Deployment web has %d of 4 pods ready", ready("web"));
		usleep(100000);
	}
	PASS(traffic_prepare(kc, &t));
	PASS(traffic_set_weight(kc, &t, 20));
	json_t *d = get("apps/v1", "Deployment", "web-canary");
	assert_int_equal(json_integer_value(at(d, "spec", "replicas", NULL)), 1);
	assert_true(owned_by(d, "f:replicas", TRAFFIC_FIELD_MANAGER));
	json_decref(d);
	/* 1 ready canary pod beside 4 stable ones: 20% */
	assert_int_equal(await_weight(&t, 20), 20);

	PASS(traffic_set_weight(kc, &t, 0));
	d = get("apps/v1", "Deployment", "web-canary");
	assert_int_equal(json_integer_value(at(d, "spec", "replicas", NULL)), 0);
	json_decref(d);
	assert_int_equal(await_weight(&t, 0), 0);
	PASS(traffic_cleanup(kc, &t));
}

static void replicas_router_names_a_missing_canary_deployment(void **state)
{
	struct traffic_target t = {TRAFFIC_REPLICAS, NS, "api", NULL, "api-canary", "", "", 2};
	(void)state;
	assert_int_equal(traffic_prepare(kc, &t), SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "Deployment default/api-canary"));
}

/* ---- gatewayAPI --------------------------------------------------------- */

/* The stable Service as Git applies it: selector {app: web} only. */
static const char service_yaml[] =
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
    "spec:\n  selector: {app: web}\n"
    "  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]\n";

static const char route_yaml[] =
    "apiVersion: " ROUTE_AV "\nkind: HTTPRoute\nmetadata: {name: web, namespace: default}\n"
    "spec:\n  parentRefs: [{name: shop-gateway}]\n  rules:\n"
    "  - matches: [{path: {type: PathPrefix, value: /}}]\n"
    "    backendRefs: [{name: web, port: 80}]\n";

static json_t *refs_of(const json_t *route, size_t rule)
{
	return json_object_get(json_array_get(at(route, "spec", "rules", NULL), rule),
	                       "backendRefs");
}

static json_t *ref_named(const json_t *refs, const char *name)
{
	json_t *r;
	size_t i;
	json_array_foreach(refs, i, r)
	{
		if (streq(str_at(r, "name", NULL, NULL), name))
			return r;
	}
	return NULL;
}

static void gateway_router_splits_an_httproute_between_stable_and_canary(void **state)
{
	struct traffic_target t = {TRAFFIC_GATEWAY_API, NS,     "web",    "web",
	                           "web-canary",        "s1a2", "c3d4e5", 4};
	int w = -1;
	(void)state;

	apply_yaml(service_yaml, "sluice");
	apply_yaml(route_yaml, "sluice");
	PASS(traffic_prepare(kc, &t));

	/* the canary Service: the stable's ports and selector, pinned to the canary pods */
	json_t *stable = get("v1", "Service", "web"), *canary = get("v1", "Service", "web-canary");
	assert_non_null(canary);
	assert_string_equal(str_at(canary, "spec", "selector", "app"), "web");
	assert_string_equal(str_at(canary, "spec", "selector", "pod-template-hash"), "c3d4e5");
	assert_string_equal(str_at(canary, "spec", "type", NULL), "ClusterIP");
	assert_string_equal(str_at(canary, "metadata", "labels", "sluice.dev/canary-of"), "web");
	json_t *port = json_array_get(at(canary, "spec", "ports", NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(port, "port")), 80);
	assert_int_equal(json_integer_value(json_object_get(port, "targetPort")), 8080);
	assert_string_not_equal(str_at(canary, "spec", "clusterIP", NULL),
	                        str_at(stable, "spec", "clusterIP", NULL));
	/* the stable Service keeps Git's selector and is pinned to the stable pods */
	assert_string_equal(str_at(stable, "spec", "selector", "app"), "web");
	assert_string_equal(str_at(stable, "spec", "selector", "pod-template-hash"), "s1a2");
	json_decref(stable);
	json_decref(canary);

	PASS(traffic_set_weight(kc, &t, 25));
	json_t *route = get(ROUTE_AV, "HTTPRoute", "web");
	json_t *refs = refs_of(route, 0);
	assert_int_equal(json_array_size(refs), 2);
	assert_int_equal(json_integer_value(json_object_get(ref_named(refs, "web"), "weight")), 75);
	json_t *cref = ref_named(refs, "web-canary");
	assert_non_null(cref);
	assert_int_equal(json_integer_value(json_object_get(cref, "weight")), 25);
	assert_int_equal(json_integer_value(json_object_get(cref, "port")), 80);
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 25);
	assert_true(owned_by(route, "f:rules", TRAFFIC_FIELD_MANAGER)); /* not Git's manager */

	/* the same weight again writes nothing */
	PASS(traffic_set_weight(kc, &t, 25));
	json_t *again = get(ROUTE_AV, "HTTPRoute", "web");
	assert_string_equal(str_at(again, "metadata", "resourceVersion", NULL),
	                    str_at(route, "metadata", "resourceVersion", NULL));
	json_decref(again);
	json_decref(route);

	/* Git applies the Service again, with its selector only: the pin stays */
	apply_yaml(service_yaml, "sluice");
	stable = get("v1", "Service", "web");
	assert_string_equal(str_at(stable, "spec", "selector", "app"), "web");
	assert_string_equal(str_at(stable, "spec", "selector", "pod-template-hash"), "s1a2");
	json_decref(stable);
	PASS(traffic_prepare(kc, &t)); /* idempotent, and the weight stays */
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 25);

	/* cleanup: Git's route again (it set no weight), no canary Service */
	PASS(traffic_cleanup(kc, &t));
	route = get(ROUTE_AV, "HTTPRoute", "web");
	refs = refs_of(route, 0);
	assert_int_equal(json_array_size(refs), 1);
	assert_null(json_object_get(ref_named(refs, "web"), "weight"));
	assert_null(at(route, "metadata", "annotations", "sluice.dev/stable-weights", NULL));
	json_decref(route);
	assert_null(get("v1", "Service", "web-canary"));
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 0);
	PASS(traffic_cleanup(kc, &t)); /* idempotent */
}

static void gateway_cleanup_gives_back_the_weight_git_set(void **state)
{
	static const char weighted_yaml[] =
	    "apiVersion: " ROUTE_AV "\nkind: HTTPRoute\n"
	    "metadata: {name: shop, namespace: default}\nspec:\n  rules:\n"
	    "  - backendRefs: [{name: web, port: 80, weight: 90}, {name: legacy, port: 80, "
	    "weight: 10}]\n";
	struct traffic_target t = {TRAFFIC_GATEWAY_API, NS,     "web",    "shop",
	                           "web-canary",        "s1a2", "c3d4e5", 4};
	int w = -1;
	(void)state;

	apply_yaml(service_yaml, "sluice");
	apply_yaml(weighted_yaml, "sluice");
	PASS(traffic_prepare(kc, &t));
	PASS(traffic_set_weight(kc, &t, 10));
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 9); /* 10 of 90 + 10 + 10 */
	/* Git applies its route again mid-rollout: the read tells, the next step heals */
	apply_yaml(weighted_yaml, "sluice");
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 0);
	PASS(traffic_set_weight(kc, &t, 50));
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 45); /* 50 of 50 + 10 + 50 */
	PASS(traffic_cleanup(kc, &t));
	json_t *route = get(ROUTE_AV, "HTTPRoute", "shop");
	json_t *refs = refs_of(route, 0);
	assert_int_equal(json_array_size(refs), 2);
	assert_int_equal(json_integer_value(json_object_get(ref_named(refs, "web"), "weight")), 90);
	assert_int_equal(json_integer_value(json_object_get(ref_named(refs, "legacy"), "weight")),
	                 10);
	json_decref(route);
}

static void gateway_router_names_a_route_without_the_service(void **state)
{
	static const char other_yaml[] =
	    "apiVersion: " ROUTE_AV "\nkind: HTTPRoute\n"
	    "metadata: {name: other, namespace: default}\nspec:\n  rules:\n"
	    "  - backendRefs: [{name: api, port: 8080}]\n";
	struct traffic_target t = {TRAFFIC_GATEWAY_API, NS,     "web",    "other",
	                           "web-canary",        "s1a2", "c3d4e5", 4};
	(void)state;

	struct kube_ref left = {"v1", "Service", NS, "web-canary"};
	kube_delete(kc, &left, NULL, 0); /* whatever an earlier test left */
	apply_yaml(other_yaml, "sluice");
	assert_int_equal(traffic_prepare(kc, &t), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "HTTPRoute default/other"));
	assert_non_null(strstr(sluice_error_last(), "Service web"));
	assert_int_equal(traffic_set_weight(kc, &t, 10), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "HTTPRoute default/other"));
	assert_null(get("v1", "Service", "web-canary")); /* nothing made on the way */
}

/* ---- nginx -------------------------------------------------------------- */

static const char ingress_yaml[] =
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
    "metadata:\n  name: web\n  namespace: default\n"
    "  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 8m}\n"
    "spec:\n  ingressClassName: nginx\n  rules:\n  - host: shop.example.com\n    http:\n"
    "      paths:\n"
    "      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: "
    "80}}}}\n"
    "      - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {number: "
    "80}}}}\n";

static void nginx_router_routes_a_weight_through_a_canary_ingress(void **state)
{
	struct traffic_target t = {TRAFFIC_NGINX, NS,     "web",    "web",
	                           "web-canary",  "s1a2", "c3d4e5", 4};
	int w = -1;
	size_t i;
	json_t *path;
	(void)state;

	apply_yaml(service_yaml, "sluice");
	apply_yaml(ingress_yaml, "sluice");
	PASS(traffic_prepare(kc, &t));
	json_t *ing = get("networking.k8s.io/v1", "Ingress", "web-canary");
	assert_non_null(ing);
	assert_string_equal(
	    str_at(ing, "metadata", "annotations", "nginx.ingress.kubernetes.io/canary"), "true");
	assert_string_equal(
	    str_at(ing, "metadata", "annotations", "nginx.ingress.kubernetes.io/canary-weight"),
	    "0");
	json_decref(ing);

	PASS(traffic_set_weight(kc, &t, 30));
	ing = get("networking.k8s.io/v1", "Ingress", "web-canary");
	assert_string_equal(
	    str_at(ing, "metadata", "annotations", "nginx.ingress.kubernetes.io/canary-weight"),
	    "30");
	assert_string_equal(
	    str_at(ing, "metadata", "annotations", "nginx.ingress.kubernetes.io/proxy-body-size"),
	    "8m");
	assert_string_equal(str_at(ing, "metadata", "labels", "sluice.dev/canary-of"), "web");
	assert_string_equal(str_at(ing, "spec", "ingressClassName", NULL), "nginx");
	json_t *paths =
	    at(json_array_get(at(ing, "spec", "rules", NULL), 0), "http", "paths", NULL);
	assert_int_equal(json_array_size(paths), 2);
	json_array_foreach(paths, i, path)
	{
		assert_string_equal(str_at(path, "backend", "service", "name"), "web-canary");
	}
	json_decref(ing);
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 30);
	/* the stable Ingress is Git's and stays as it was */
	json_t *st = get("networking.k8s.io/v1", "Ingress", "web");
	assert_null(at(st, "metadata", "annotations", "nginx.ingress.kubernetes.io/canary", NULL));
	json_decref(st);

	PASS(traffic_cleanup(kc, &t));
	assert_null(get("networking.k8s.io/v1", "Ingress", "web-canary"));
	assert_null(get("v1", "Service", "web-canary"));
	PASS(traffic_read_weight(kc, &t, &w));
	assert_int_equal(w, 0);
	json_t *svc = get("v1", "Service", "web");
	assert_string_equal(str_at(svc, "spec", "selector", "pod-template-hash"), "s1a2");
	json_decref(svc);
}

static void nginx_router_names_a_missing_ingress(void **state)
{
	struct traffic_target t = {TRAFFIC_NGINX, NS,     "web",    "nope",
	                           "web-canary",  "s1a2", "c3d4e5", 4};
	(void)state;
	assert_int_equal(traffic_prepare(kc, &t), SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "Ingress default/nope"));
	assert_int_equal(traffic_set_weight(kc, &t, 10), SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "Ingress default/nope"));
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(a_weight_asks_for_this_many_canary_pods),
	    cmocka_unit_test(a_weight_outside_0_to_100_is_refused),
	};
	const struct CMUnitTest cluster[] = {
	    cmocka_unit_test(replicas_router_scales_the_canary_to_its_share_of_ready_pods),
	    cmocka_unit_test(replicas_router_names_a_missing_canary_deployment),
	    cmocka_unit_test(gateway_router_splits_an_httproute_between_stable_and_canary),
	    cmocka_unit_test(gateway_cleanup_gives_back_the_weight_git_set),
	    cmocka_unit_test(gateway_router_names_a_route_without_the_service),
	    cmocka_unit_test(nginx_router_routes_a_weight_through_a_canary_ingress),
	    cmocka_unit_test(nginx_router_names_a_missing_ingress),
	};
	int failed = cmocka_run_group_tests_name("traffic sizing", pure, NULL, NULL);
	return failed +
	       cmocka_run_group_tests_name("traffic routers", cluster, group_setup, group_teardown);
}
