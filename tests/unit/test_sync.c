/*
 * One sync against a real control plane (the sandbox): ordered apply with
 * CRDs staged first, validation before any change, prune by inventory and
 * tracking label.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/log.h"
#include "sluice/sync.h"
#include "support.h"

static char dir[2048];
static struct kube_config *cfg;
static struct kube_client *kc;

static int group_setup(void **state)
{
	char kcpath[2200];
	(void)state;
	slog_setup_from_env(); /* SLUICE_LOG_LEVEL=debug tells why an object is written */
	if (test_sandbox_up(dir, sizeof(dir)) < 0)
		return -1;
	snprintf(kcpath, sizeof(kcpath), "%s/admin.kubeconfig", dir);
	if (kube_config_load(&cfg, kcpath, NULL) < 0 || kube_client_new(&kc, cfg, NULL) < 0) {
		fprintf(stderr, "test_sync: %s\n", sluice_error_last());
		return -1;
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

/* A set from files given as name, text, name, text, ..., NULL. */
static struct manifest_set *set_of(const char *name, ...)
{
	struct manifest_set *set = manifest_set_new();
	struct diag errs;
	va_list ap;

	diag_init(&errs);
	va_start(ap, name);
	for (const char *n = name; n; n = va_arg(ap, const char *)) {
		const char *text = va_arg(ap, const char *);
		if (manifest_load_buffer(set, text, strlen(text), n, &errs) < 0)
			fail_msg("fixture %s: %s", n, errs.count ? errs.msgs[0] : "?");
	}
	va_end(ap);
	diag_dispose(&errs);
	return set;
}

static json_t *get(const char *api, const char *kind, const char *ns, const char *name)
{
	struct kube_ref ref = {api, kind, ns, name};
	json_t *o = NULL;
	if (kube_get(kc, &o, &ref) < 0)
		return NULL;
	return o;
}

static const char *label_of(const json_t *o)
{
	return json_string_value(json_object_get(
	    json_object_get(json_object_get(o, "metadata"), "labels"), SYNC_LABEL_APP));
}

static const char ns_yaml[] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
static const char crd_yaml[] =
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
    "metadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n"
    "  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}\n"
    "  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n"
    "    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: "
    "true}\n";
static const char app_yaml[] =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {mode: blue}\n"
    "---\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\n"
    "  annotations: {sluice.dev/prune: disabled}\n"
    "---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n"
    "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
    "    spec: {containers: [{name: web, image: 'web:1'}]}\n"
    "---\n"
    "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec: {size: 2}\n"
    "---\n"
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData: {token: s3cret}\n";

static json_t *inventory; /* carried from one test to the next, as the controller would */

static void first_sync_applies_in_order(void **state)
{
	struct sync_result r;
	struct sync_opts o = {
	    .app = "shop-app", .namespace = "shop", .prune = 1, .crd_timeout_ms = 60000};
	(void)state;

	struct manifest_set *set = set_of("apps/namespace.yaml", ns_yaml, "apps/crd.yaml", crd_yaml,
	                                  "apps/app.yaml", app_yaml, NULL);
	sync_result_init(&r);
	int rc = sync_run(&r, kc, set, &o);
	if (rc < 0)
		fail_msg("sync: %s", r.errs.count ? r.errs.msgs[0] : sluice_error_last());
	assert_int_equal(r.applied, 7);
	assert_int_equal(json_array_size(r.inventory), 7);
	json_t *d = get("apps/v1", "Deployment", "shop", "web");
	assert_non_null(d);
	assert_string_equal(label_of(d), "shop-app");
	json_decref(d);
	json_t *g = get("example.com/v1", "Gadget", "shop", "g1");
	assert_non_null(g); /* the CRD was staged and Established first */
	json_decref(g);
	inventory = json_incref(r.inventory);
	sync_result_dispose(&r);
	manifest_set_free(set);
}

/* "name=applied-at/generation;..." of the app's objects in namespace shop */
/* The resourceVersions of the app's seven objects now, one per slot. */
#define APP_OBJECTS 7
static void object_rvs(char rvs[APP_OBJECTS][32])
{
	static const struct kube_ref refs[APP_OBJECTS] = {
	    {"v1", "Namespace", NULL, "shop"},
	    {"apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL, "gadgets.example.com"},
	    {"v1", "ConfigMap", "shop", "settings"},
	    {"v1", "ConfigMap", "shop", "keep-me"},
	    {"apps/v1", "Deployment", "shop", "web"},
	    {"example.com/v1", "Gadget", "shop", "g1"},
	    {"v1", "Secret", "shop", "creds"}};
	for (size_t i = 0; i < APP_OBJECTS; i++) {
		json_t *o = NULL;
		assert_int_equal(kube_get(kc, &o, &refs[i]), 0);
		snprintf(rvs[i], sizeof(rvs[i]), "%s",
		         json_string_value(
		             json_object_get(json_object_get(o, "metadata"), "resourceVersion")));
		json_decref(o);
	}
}

static void versions(char *out, size_t n)
{
	static const char *const kinds[][2] = {{"v1", "ConfigMap"},
	                                       {"v1", "Secret"},
	                                       {"apps/v1", "Deployment"},
	                                       {"example.com/v1", "Gadget"}};
	struct kube_list_opts lo = {SYNC_LABEL_APP "=shop-app", NULL, 0};
	size_t used = 0;

	out[0] = '\0';
	for (size_t k = 0; k < 4; k++) {
		struct kube_ref ref = {kinds[k][0], kinds[k][1], "shop", NULL};
		json_t *items = NULL, *v;
		size_t i;
		assert_int_equal(kube_list(kc, &items, NULL, &ref, &lo), 0);
		json_array_foreach(items, i, v)
		{
			/* what sluice's applies changed, not the controllers' status
			 * updates: its managedFields entry's time, and the generation */
			const json_t *m = json_object_get(v, "metadata"), *f;
			const char *when = "";
			size_t j;
			json_array_foreach(json_object_get(m, "managedFields"), j, f)
			{
				const char *who = json_string_value(json_object_get(f, "manager"));
				if (who && strcmp(who, "sluice") == 0)
					when = json_string_value(json_object_get(f, "time"));
			}
			used += (size_t)snprintf(
			    out + used, n - used, "%s=%s/%lld;",
			    json_string_value(json_object_get(m, "name")), when ? when : "",
			    (long long)json_integer_value(json_object_get(m, "generation")));
			assert_true(used < n);
		}
		json_decref(items);
	}
}

static void a_resync_writes_nothing_and_heals_drift(void **state)
{
	struct sync_result r;
	struct sync_opts o = {.app = "shop-app",
	                      .namespace = "shop",
	                      .prune = 1,
	                      .crd_timeout_ms = 60000,
	                      .prev_inventory = inventory};
	char before[8192], after[8192];
	(void)state;

	struct manifest_set *set = set_of("apps/namespace.yaml", ns_yaml, "apps/crd.yaml", crd_yaml,
	                                  "apps/app.yaml", app_yaml, NULL);
	versions(before, sizeof(before));
	unsigned long req0 = kube_client_requests(kc);
	sync_result_init(&r);
	assert_int_equal(sync_run(&r, kc, set, &o), 0);
	unsigned long reqs = kube_client_requests(kc) - req0;
	versions(after, sizeof(after));
	assert_int_equal(r.applied, 0);
	assert_int_equal(r.unchanged, 7);
	assert_string_equal(before, after); /* nothing written */
	/* one LIST per kind and namespace: 6 of them, not one request per object */
	assert_true(reqs <= 6);
	assert_int_equal(json_array_size(r.inventory), 7);
	assert_non_null(json_object_get(r.live, "apps|Deployment|shop|web"));
	sync_result_dispose(&r);

	/* a hand edit of a value Git sets is drift: healed, and only that object is written */
	struct kube_ref ref = {"v1", "ConfigMap", "shop", "settings"};
	assert_int_equal(
	    kube_patch(kc, NULL, &ref, KUBE_PATCH_MERGE, "{\"data\":{\"mode\":\"red\"}}", NULL, 0),
	    0);
	sync_result_init(&r);
	assert_int_equal(sync_run(&r, kc, set, &o), 0);
	assert_int_equal(r.applied, 1);
	assert_int_equal(r.unchanged, 6);
	json_t *cm = get("v1", "ConfigMap", "shop", "settings");
	assert_non_null(cm);
	assert_string_equal(json_string_value(json_object_get(json_object_get(cm, "data"), "mode")),
	                    "blue");
	json_decref(cm);
	sync_result_dispose(&r);
	manifest_set_free(set);

	/* a field that left Git leaves the cluster too (the hash tells) */
	static const char labelled[] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
	                               "  labels: {tier: gold}\ndata: {mode: blue}\n";
	static const char plain[] =
	    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata: {mode: blue}\n";
	const char *texts[2] = {labelled, plain};
	for (int k = 0; k < 2; k++) {
		set = set_of("apps/namespace.yaml", ns_yaml, "apps/crd.yaml", crd_yaml,
		             "apps/app.yaml", app_yaml, "apps/extra.yaml", texts[k], NULL);
		sync_result_init(&r);
		assert_int_equal(sync_run(&r, kc, set, &o), 0);
		assert_int_equal(r.applied, 1); /* extra, and nothing else */
		sync_result_dispose(&r);
		manifest_set_free(set);
	}
	cm = get("v1", "ConfigMap", "shop", "extra");
	assert_non_null(cm);
	assert_null(
	    json_object_get(json_object_get(json_object_get(cm, "metadata"), "labels"), "tier"));
	json_decref(cm);
}

/*
 * With a memo (as sluiced keeps one per app), a resync reads metadata only
 * and still heals drift: an object whose resourceVersion moved is read whole
 * and compared again; the rest is not re-read.
 */
static void a_memo_keeps_resyncs_cheap_and_still_heals(void **state)
{
	struct sync_result r;
	struct sync_memo *memo = sync_memo_new();
	struct sync_opts o = {.app = "shop-app",
	                      .namespace = "shop",
	                      .prune = 1,
	                      .crd_timeout_ms = 60000,
	                      .prev_inventory = inventory,
	                      .revision = "c1",
	                      .memo = memo,
	                      .memo_key = "c1|apps"};
	char before[8192], after[8192];
	(void)state;

	assert_non_null(memo);
	struct manifest_set *set = set_of("apps/namespace.yaml", ns_yaml, "apps/crd.yaml", crd_yaml,
	                                  "apps/app.yaml", app_yaml, NULL);
	char rv_prev[APP_OBJECTS][32] = {{0}};
	for (int round = 0; round < 3; round++) {
		versions(before, sizeof(before));
		/* a controller may still write an object's status (the Deployment's
		 * pods turning ready, the CRD's conditions) while the rounds run:
		 * each object whose resourceVersion moved between the start of the
		 * last round (which the memo saw) and the end of this one may be
		 * read again, one GET more; the others must not */
		char rv_start[APP_OBJECTS][32], rv_end[APP_OBJECTS][32];
		unsigned long moved = 0;
		object_rvs(rv_start);
		unsigned long req0 = kube_client_requests(kc);
		sync_result_init(&r);
		assert_int_equal(sync_run(&r, kc, set, &o), 0);
		unsigned long reqs = kube_client_requests(kc) - req0;
		object_rvs(rv_end);
		for (size_t i = 0; round > 0 && i < APP_OBJECTS; i++)
			moved += strcmp(rv_prev[i], rv_end[i]) != 0;
		int web_moved = strcmp(rv_prev[4], rv_end[4]) != 0; /* the Deployment */
		memcpy(rv_prev, rv_start, sizeof(rv_prev));
		versions(after, sizeof(after));
		assert_int_equal(r.applied, 0);
		assert_int_equal(r.unchanged, 7);
		assert_string_equal(before, after);
		/* the first round reads each object once; later ones only list metadata */
		if (round > 0 && reqs > 6 + moved)
			print_message("round %d: %lu requests, %lu objects moved since the last\n",
			              round, reqs, moved);
		if (round > 0)
			assert_true(reqs <= 6 + moved);
		/* health still sees whole live objects, status included */
		json_t *web = json_object_get(r.live, "apps|Deployment|shop|web");
		assert_non_null(json_object_get(web, "spec"));
		assert_string_equal(json_string_value(json_object_get(web, "kind")), "Deployment");
		/* from the second round on, it is the memo's copy (kept without
		 * managedFields), unless its status moved and it was read again */
		if (round > 0 && !web_moved)
			assert_null(
			    json_object_get(json_object_get(web, "metadata"), "managedFields"));
		sync_result_dispose(&r);
	}

	/* drift by another writer: healed through the memo, only that object written */
	struct kube_ref ref = {"v1", "ConfigMap", "shop", "settings"};
	assert_int_equal(kube_patch(kc, NULL, &ref, KUBE_PATCH_MERGE,
	                            "{\"data\":{\"mode\":\"green\"}}", NULL, 0),
	                 0);
	sync_result_init(&r);
	assert_int_equal(sync_run(&r, kc, set, &o), 0);
	assert_int_equal(r.applied, 1);
	assert_int_equal(r.unchanged, 6);
	sync_result_dispose(&r);
	json_t *cm = get("v1", "ConfigMap", "shop", "settings");
	assert_string_equal(json_string_value(json_object_get(json_object_get(cm, "data"), "mode")),
	                    "blue");
	json_decref(cm);

	/* a change that keeps the value (a label added by hand) moves the
	 * resourceVersion: read again, found in sync, nothing written */
	assert_int_equal(kube_patch(kc, NULL, &ref, KUBE_PATCH_MERGE,
	                            "{\"metadata\":{\"labels\":{\"team\":\"x\"}}}", NULL, 0),
	                 0);
	versions(before, sizeof(before));
	sync_result_init(&r);
	assert_int_equal(sync_run(&r, kc, set, &o), 0);
	assert_int_equal(r.applied, 0);
	assert_int_equal(r.unchanged, 7);
	sync_result_dispose(&r);
	versions(after, sizeof(after));
	assert_string_equal(before, after);
	manifest_set_free(set);
	sync_memo_free(memo);
}

static void a_bad_commit_changes_nothing(void **state)
{
	struct sync_result r;
	struct sync_opts o = {.app = "shop-app",
	                      .namespace = "shop",
	                      .prune = 1,
	                      .crd_timeout_ms = 60000,
	                      .prev_inventory = inventory};
	(void)state;

	/* a new ConfigMap, and a Deployment the API rejects */
	const char *bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: brand-new\n"
	                  "---\n"
	                  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
	                  "  replicas: -3\n  selector: {matchLabels: {app: web}}\n  template:\n"
	                  "    metadata: {labels: {app: web}}\n"
	                  "    spec: {containers: [{name: web, image: 'web:2'}]}\n";
	struct manifest_set *set = set_of("apps/namespace.yaml", ns_yaml, "apps/crd.yaml", crd_yaml,
	                                  "apps/app.yaml", bad, NULL);
	sync_result_init(&r);
	assert_int_equal(sync_run(&r, kc, set, &o), SLUICE_EINVALID);
	assert_true(r.errs.count >= 1);
	if (!strstr(r.errs.msgs[0], "apps/app.yaml:11: Deployment shop/web:") ||
	    !strstr(r.errs.msgs[0], "spec.replicas"))
		fail_msg("error: %s", r.errs.msgs[0]);
	/* nothing applied, nothing pruned */
	assert_null(get("v1", "ConfigMap", "shop", "brand-new"));
	json_t *d = get("apps/v1", "Deployment", "shop", "web");
	const char *img = json_string_value(json_object_get(
	    json_array_get(json_object_get(
	                       json_object_get(
	                           json_object_get(json_object_get(d, "spec"), "template"), "spec"),
	                       "containers"),
	                   0),
	    "image"));
	assert_string_equal(img, "web:1");
	json_decref(d);
	json_t *s = get("v1", "ConfigMap", "shop", "settings");
	assert_non_null(s);
	json_decref(s);
	/* the inventory still holds what was managed */
	assert_int_equal(json_array_size(r.inventory), json_array_size(inventory));
	sync_result_dispose(&r);
	manifest_set_free(set);

	/* an unknown kind is named with its place */
	struct manifest_set *unk =
	    set_of("apps/x.yaml",
	           "apiVersion: nothing.example/v1\nkind: Nope\nmetadata: {name: nope-1}\n", NULL);
	sync_result_init(&r);
	assert_int_equal(sync_run(&r, kc, unk, &o), SLUICE_EINVALID);
	assert_non_null(
	    strstr(r.errs.msgs[0], "apps/x.yaml:1: unknown kind Nope in nothing.example/v1"));
	sync_result_dispose(&r);
	manifest_set_free(unk);

	/* an empty render prunes nothing */
	struct manifest_set *empty = manifest_set_new();
	sync_result_init(&r);
	assert_int_equal(sync_run(&r, kc, empty, &o), SLUICE_EINVALID);
	assert_non_null(strstr(r.errs.msgs[0], "renders no objects"));
	s = get("v1", "ConfigMap", "shop", "settings");
	assert_non_null(s);
	json_decref(s);
	sync_result_dispose(&r);
	manifest_set_free(empty);
}

static void what_left_git_is_pruned(void **state)
{
	struct sync_result r;
	(void)state;

	/* someone made a ConfigMap by hand with a name this app once managed */
	json_t *hand = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind",
	                         "ConfigMap", "metadata", "name", "handmade", "namespace", "shop");
	assert_int_equal(kube_apply(kc, NULL, hand, "kubectl", 0), 0);
	json_decref(hand);
	json_array_append_new(inventory, json_string("|ConfigMap|shop|handmade"));

	struct sync_opts o = {.app = "shop-app",
	                      .namespace = "shop",
	                      .prune = 1,
	                      .crd_timeout_ms = 60000,
	                      .prev_inventory = inventory};
	const char *next = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-v2\n";
	struct manifest_set *set = set_of("apps/namespace.yaml", ns_yaml, "apps/crd.yaml", crd_yaml,
	                                  "apps/app.yaml", next, NULL);
	sync_result_init(&r);
	int rc = sync_run(&r, kc, set, &o);
	if (rc < 0)
		fail_msg("sync: %s", r.errs.count ? r.errs.msgs[0] : sluice_error_last());
	/* settings, web, g1 and creds left Git: pruned; keep-me is annotated; handmade is not ours
	 */
	assert_int_equal(r.pruned, 4);
	assert_null(get("v1", "ConfigMap", "shop", "settings"));
	assert_null(get("example.com/v1", "Gadget", "shop", "g1"));
	json_t *k = get("v1", "ConfigMap", "shop", "keep-me");
	assert_non_null(k);
	json_decref(k);
	json_t *h = get("v1", "ConfigMap", "shop", "handmade");
	assert_non_null(h);
	json_decref(h);
	json_t *n = get("v1", "ConfigMap", "shop", "settings-v2");
	assert_non_null(n);
	assert_string_equal(label_of(n), "shop-app");
	json_decref(n);
	sync_result_dispose(&r);
	manifest_set_free(set);
	json_decref(inventory);
}

/*
 * A key Git removed, which server-side apply keeps (kube-apiserver records
 * no owner for an empty object): a Widget's route moves from `plain: {}` to
 * `gateway: {...}` and back under a "one key at most" rule, as a Rollout's
 * router does (1.20 also keeps `gateway: {}` after removing its fields). The
 * sync removes the leftovers and applies again; a bad commit on top of it
 * still changes nothing.
 */
static const char wcrd_yaml[] =
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
    "metadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n"
    "  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n"
    "  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n"
    "    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n"
    "          spec:\n            type: object\n            properties:\n"
    "              size: {type: integer}\n"
    "              route:\n                type: object\n                minProperties: 1\n"
    "                maxProperties: 1\n"
    "                properties:\n                  plain: {type: object}\n"
    "                  gateway: {type: object, properties: {name: {type: string}}}\n";
static const char lab_yaml[] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lab\n";

static json_t *widget_route(char *rv, size_t n)
{
	json_t *w = get("example.com/v1", "Widget", "lab", "w1");
	json_t *route = NULL;
	if (w) {
		route = json_deep_copy(json_object_get(json_object_get(w, "spec"), "route"));
		snprintf(rv, n, "%s",
		         json_string_value(
		             json_object_get(json_object_get(w, "metadata"), "resourceVersion")));
	}
	json_decref(w);
	return route;
}

static int sync_widget(struct sync_result *r, const char *widget)
{
	struct sync_opts o = {.app = "lab-app", .namespace = "lab", .crd_timeout_ms = 60000};
	struct manifest_set *set = set_of("lab/namespace.yaml", lab_yaml, "lab/crd.yaml", wcrd_yaml,
	                                  "lab/widget.yaml", widget, NULL);
	sync_result_init(r);
	int rc = sync_run(r, kc, set, &o);
	manifest_set_free(set);
	return rc;
}

static void a_key_git_removed_goes_where_apply_would_keep_it(void **state)
{
	struct sync_result r;
	char rv[64], rv2[64];
	(void)state;

	const char *v1 = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n"
	                 "spec:\n  size: 1\n  route:\n    plain: {}\n";
	const char *v2 = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n"
	                 "spec:\n  size: 1\n  route:\n    gateway: {name: web}\n";
	const char *bad = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n"
	                  "  labels: {'tier': 'not a valid value!'}\n"
	                  "spec:\n  size: 3\n  route:\n    plain: {}\n";
	if (sync_widget(&r, v1) < 0)
		fail_msg("v1: %s", r.errs.count ? r.errs.msgs[0] : sluice_error_last());
	sync_result_dispose(&r);

	/* plain -> gateway: one key, Git's */
	if (sync_widget(&r, v2) < 0)
		fail_msg("v2: %s", r.errs.count ? r.errs.msgs[0] : sluice_error_last());
	assert_int_equal(r.applied, 1);
	sync_result_dispose(&r);
	json_t *route = widget_route(rv, sizeof(rv));
	assert_non_null(route);
	assert_int_equal(json_object_size(route), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(route, "gateway"), "name")), "web");
	json_decref(route);
	/* sluice's apply alone owns them: the patch's own entry is gone */
	json_t *w2 = get("example.com/v1", "Widget", "lab", "w1");
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(json_object_get(w2, "metadata"), "managedFields"), i, e)
	    assert_string_not_equal(json_string_value(json_object_get(e, "manager")),
	                            "sluice-leftovers");
	json_decref(w2);

	/* the fields are owned now: a resync writes nothing */
	assert_int_equal(sync_widget(&r, v2), 0);
	assert_int_equal(r.applied, 0);
	sync_result_dispose(&r);

	/* and back: gateway is owned, so a plain apply moves it */
	if (sync_widget(&r, v1) < 0)
		fail_msg("back to v1: %s", r.errs.count ? r.errs.msgs[0] : sluice_error_last());
	sync_result_dispose(&r);
	route = widget_route(rv, sizeof(rv));
	assert_int_equal(json_object_size(route), 1);
	assert_non_null(json_object_get(route, "plain"));
	json_decref(route);

	/* a bad commit that also changes the spec: refused, the Widget as it was */
	assert_int_equal(sync_widget(&r, bad), SLUICE_EINVALID);
	assert_true(r.errs.count >= 1);
	if (!strstr(r.errs.msgs[0], "lab/widget.yaml:5: Widget lab/w1:") ||
	    !strstr(r.errs.msgs[0], "metadata.labels"))
		fail_msg("error: %s", r.errs.msgs[0]);
	sync_result_dispose(&r);
	route = widget_route(rv2, sizeof(rv2));
	assert_string_equal(rv2, rv);
	json_decref(route);
	json_t *w = get("example.com/v1", "Widget", "lab", "w1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(w, "spec"), "size")),
	                 1);
	json_decref(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(first_sync_applies_in_order),
	    cmocka_unit_test(a_resync_writes_nothing_and_heals_drift),
	    cmocka_unit_test(a_memo_keeps_resyncs_cheap_and_still_heals),
	    cmocka_unit_test(a_bad_commit_changes_nothing),
	    cmocka_unit_test(what_left_git_is_pruned),
	    cmocka_unit_test(a_key_git_removed_goes_where_apply_would_keep_it),
	};
	return cmocka_run_group_tests_name("sync", tests, group_setup, group_teardown);
}
