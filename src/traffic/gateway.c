/*
 * The gatewayAPI router: the weights of an HTTPRoute's backendRefs, between
 * the stable Service and `<service>-canary`.
 *
 * The HTTPRoute is read in the version discovery lists first for
 * gateway.networking.k8s.io. Its rules and their backendRefs are atomic lists
 * to server-side apply, so an apply of ours would take the whole list from
 * Git's manager; instead the rules are read, edited and written back whole
 * with a JSON merge patch guarded by metadata.resourceVersion, retried when
 * someone else wrote in between.
 *
 * Git's own weight for the stable backendRef is kept in the annotation
 * sluice.dev/stable-weights (a JSON array, one entry per rule naming the
 * Service, null where Git set none) when the canary backendRef is first
 * added, and put back by cleanup: a weight Git set comes back as it was, and
 * one Git did not set is removed again (Gateway API's default, 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/kube.h"
#include "sluice/traffic.h"

#include "internal.h"

#define ROUTE_GROUP        "gateway.networking.k8s.io"
#define ANNOTATION_WEIGHTS "sluice.dev/stable-weights"
#define UPDATE_ATTEMPTS    5

/* What an edit works with: names resolved once. */
struct route_ctx {
	const struct traffic_target *t;
	const char *ns;
	char api[300];
	char canary[270];
	int weight;
};

static int route_get(struct kube_client *c, json_t **out, struct route_ctx *x)
{
	const struct kube_resource *r;
	int rc;

	*out = NULL;
	if ((rc = kube_resolve_gk(c, &r, ROUTE_GROUP, "HTTPRoute")) < 0)
		return sluice_error_set(
		    rc,
		    "traffic: HTTPRoute %s/%s: the server has no HTTPRoute kind "
		    "(is the Gateway API installed?)",
		    x->ns, x->t->route);
	snprintf(x->api, sizeof(x->api), "%s/%s", r->group, r->version);
	struct kube_ref ref = {x->api, "HTTPRoute", x->ns, x->t->route};
	if ((rc = kube_get(c, out, &ref)) < 0)
		return traffic_fail(rc, "HTTPRoute", x->ns, x->t->route);
	return 0;
}

static int ctx_init(struct route_ctx *x, struct kube_client *c, const struct traffic_target *t,
                    int weight)
{
	memset(x, 0, sizeof(*x));
	x->t = t;
	x->ns = traffic_namespace(c, t);
	x->weight = weight;
	return traffic_canary_name(x->canary, sizeof(x->canary), t->service);
}

/* A backendRef to Service `name` in the route's namespace (kind and group default to it). */
static int refers_to(const json_t *ref, const char *name, const char *ns)
{
	const char *n = json_string_value(json_object_get(ref, "name"));
	const char *k = json_string_value(json_object_get(ref, "kind"));
	const char *g = json_string_value(json_object_get(ref, "group"));
	const char *rns = json_string_value(json_object_get(ref, "namespace"));

	return n && strcmp(n, name) == 0 && (!k || strcmp(k, "Service") == 0) && (!g || !*g) &&
	       (!rns || strcmp(rns, ns) == 0);
}

static json_t *find_ref(const json_t *refs, const char *name, const char *ns)
{
	size_t i;
	json_t *ref;

	json_array_foreach(refs, i, ref)
	{
		if (refers_to(ref, name, ns))
			return ref;
	}
	return NULL;
}

static json_int_t weight_of(const json_t *ref)
{
	const json_t *w = json_object_get(ref, "weight");
	return w ? json_integer_value(w) : 1; /* Gateway API's default */
}

static int no_backend(const struct route_ctx *x)
{
	return sluice_error_set(SLUICE_EINVALID,
	                        "traffic: HTTPRoute %s/%s has no backendRef for Service %s", x->ns,
	                        x->t->route, x->t->service);
}

/*
 * An edit of a copy of the route's rules, and of the annotations to patch:
 * returns 1 when there is something to write, 0 when not, or an error.
 */
typedef int (*route_edit_fn)(const struct route_ctx *x, const json_t *route, json_t *rules,
                             json_t *annotations);

static const char *annotation(const json_t *route, const char *key)
{
	return json_string_value(json_object_get(
	    json_object_get(json_object_get(route, "metadata"), "annotations"), key));
}

static int edit_weights(const struct route_ctx *x, const json_t *route, json_t *rules,
                        json_t *annotations)
{
	json_t *rule, *gits = json_array();
	size_t i, matched = 0;
	int had_canary = 0, rc = 0;
	char *text = NULL;

	if (!gits)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	json_array_foreach(rules, i, rule)
	{
		json_t *refs = json_object_get(rule, "backendRefs");
		json_t *stable = find_ref(refs, x->t->service, x->ns), *canary, *w;
		if (!stable)
			continue;
		matched++;
		w = json_object_get(stable, "weight");
		json_array_append_new(gits, w ? json_incref(w) : json_null());
		if ((canary = find_ref(refs, x->canary, x->ns)) != NULL) {
			had_canary = 1;
			json_t *port = json_object_get(stable, "port");
			if (port)
				json_object_set(canary, "port", port);
		} else {
			/* a copy keeps the stable's port, filters and namespace */
			if (!(canary = json_deep_copy(stable)) ||
			    json_array_append_new(refs, canary) < 0) {
				rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
				goto out;
			}
			json_object_set_new(canary, "name", json_string(x->canary));
		}
		json_object_set_new(stable, "weight", json_integer(100 - x->weight));
		json_object_set_new(canary, "weight", json_integer(x->weight));
	}
	if (matched == 0) {
		rc = no_backend(x);
		goto out;
	}
	/*
	 * Without a canary backendRef the rules are Git's as it wrote them (first
	 * time, or Git applied the route again since): note its weights afresh.
	 */
	if (!had_canary) {
		const char *noted = annotation(route, ANNOTATION_WEIGHTS);
		if ((rc = jsonfmt_dump(&text, gits, JSONFMT_COMPACT)) < 0)
			goto out;
		if (!noted || strcmp(noted, text) != 0)
			json_object_set_new(annotations, ANNOTATION_WEIGHTS, json_string(text));
	}
	rc = json_object_size(annotations) > 0 ||
	     !json_equal(rules, json_object_get(json_object_get(route, "spec"), "rules"));
out:
	free(text);
	json_decref(gits);
	return rc;
}

/* Git's stable weights, when the annotation fits the rules naming the Service. */
static json_t *git_weights(const struct route_ctx *x, const json_t *route, const json_t *rules)
{
	const char *text = annotation(route, ANNOTATION_WEIGHTS);
	json_t *v, *rule;
	size_t i, matched = 0;

	if (!text || !(v = json_loads(text, 0, NULL)))
		return NULL;
	json_array_foreach(rules, i, rule)
	{
		if (find_ref(json_object_get(rule, "backendRefs"), x->t->service, x->ns))
			matched++;
	}
	if (!json_is_array(v) || json_array_size(v) != matched) {
		json_decref(v); /* Git changed the rules since: its weights are unknown */
		return NULL;
	}
	return v;
}

static int edit_cleanup(const struct route_ctx *x, const json_t *route, json_t *rules,
                        json_t *annotations)
{
	json_t *gits = git_weights(x, route, rules), *rule;
	size_t i, at = 0;
	int noted = annotation(route, ANNOTATION_WEIGHTS) != NULL, changed = 0;

	json_array_foreach(rules, i, rule)
	{
		json_t *refs = json_object_get(rule, "backendRefs");
		json_t *stable = find_ref(refs, x->t->service, x->ns), *git;
		int removed = 0;
		if (!stable)
			continue;
		git = json_array_get(gits, at++);
		for (size_t j = json_array_size(refs); j-- > 0;) {
			if (refers_to(json_array_get(refs, j), x->canary, x->ns)) {
				json_array_remove(refs, j);
				removed = changed = 1;
			}
		}
		if (!removed)
			continue; /* nothing of ours in this rule: its weight is Git's */
		if (json_is_integer(git))
			json_object_set(stable, "weight", git);
		else
			json_object_del(stable, "weight");
	}
	if (noted)
		json_object_set_new(annotations, ANNOTATION_WEIGHTS, json_null());
	json_decref(gits);
	return changed || noted;
}

/* Read, edit, write back under the read's resourceVersion; again on a conflict. */
static int route_update(struct kube_client *c, struct route_ctx *x, route_edit_fn edit)
{
	int rc = 0;

	for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
		json_t *route = NULL, *rules = NULL, *annotations = NULL, *patch = NULL;
		const json_t *meta;

		if ((rc = route_get(c, &route, x)) < 0)
			return rc;
		meta = json_object_get(route, "metadata");
		rules = json_deep_copy(json_object_get(json_object_get(route, "spec"), "rules"));
		annotations = json_object();
		if (!rules)
			rules = json_array();
		if (!rules || !annotations) {
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto next;
		}
		if ((rc = edit(x, route, rules, annotations)) <= 0)
			goto next;
		patch = json_pack("{s:{s:O}, s:{s:O}}", "metadata", "resourceVersion",
		                  json_object_get(meta, "resourceVersion"), "spec", "rules", rules);
		if (!patch) {
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto next;
		}
		if (json_object_size(annotations) > 0)
			json_object_set(json_object_get(patch, "metadata"), "annotations",
			                annotations);
		rc = traffic_update(c, x->api, "HTTPRoute", x->ns, x->t->route, patch);
		if (rc < 0 && rc != SLUICE_ECONFLICT)
			rc = traffic_fail(rc, "HTTPRoute", x->ns, x->t->route);
	next:
		json_decref(patch);
		json_decref(annotations);
		json_decref(rules);
		json_decref(route);
		if (rc != SLUICE_ECONFLICT)
			return rc < 0 ? rc : 0;
	}
	return sluice_error_set(SLUICE_ECONFLICT,
	                        "traffic: HTTPRoute %s/%s changed under each of %d updates", x->ns,
	                        x->t->route, UPDATE_ATTEMPTS);
}

/* The route names the Service; then the canary Service and the pin. */
static int gateway_prepare(struct kube_client *c, const struct traffic_target *t)
{
	struct route_ctx x;
	json_t *route = NULL, *rule;
	size_t i;
	int rc, found = 0;

	if ((rc = ctx_init(&x, c, t, 0)) < 0 || (rc = route_get(c, &route, &x)) < 0)
		return rc;
	json_array_foreach(json_object_get(json_object_get(route, "spec"), "rules"), i, rule)
	{
		if (find_ref(json_object_get(rule, "backendRefs"), t->service, x.ns))
			found = 1;
	}
	json_decref(route);
	if (!found)
		return no_backend(&x);
	return traffic_services_prepare(c, t);
}

static int gateway_set_weight(struct kube_client *c, const struct traffic_target *t, int weight)
{
	struct route_ctx x;
	int rc = ctx_init(&x, c, t, weight);

	return rc < 0 ? rc : route_update(c, &x, edit_weights);
}

/* The smallest canary share over the rules naming the Service: every rule must carry it. */
static int gateway_read_weight(struct kube_client *c, const struct traffic_target *t, int *weight)
{
	struct route_ctx x;
	json_t *route = NULL, *rule, *ref;
	size_t i, j;
	int rc, least = -1;

	*weight = 0;
	if ((rc = ctx_init(&x, c, t, 0)) < 0 || (rc = route_get(c, &route, &x)) < 0)
		return rc;
	json_array_foreach(json_object_get(json_object_get(route, "spec"), "rules"), i, rule)
	{
		const json_t *refs = json_object_get(rule, "backendRefs");
		json_int_t sum = 0, mine = 0;
		int share;
		if (!find_ref(refs, t->service, x.ns))
			continue;
		json_array_foreach(refs, j, ref)
		{
			json_int_t w = weight_of(ref);
			if (w < 0 || w > 1000000)
				w = 0; /* outside Gateway API's range: not routed */
			sum += w;
			if (refers_to(ref, x.canary, x.ns))
				mine += w;
		}
		share = sum > 0 ? (int)(mine * 100 / sum) : 0;
		if (least < 0 || share < least)
			least = share;
	}
	json_decref(route);
	if (least < 0)
		return no_backend(&x);
	*weight = least;
	return 0;
}

static int gateway_cleanup(struct kube_client *c, const struct traffic_target *t)
{
	struct route_ctx x;
	int rc;

	if ((rc = ctx_init(&x, c, t, 0)) < 0)
		return rc;
	rc = route_update(c, &x, edit_cleanup);
	if (rc < 0 && rc != SLUICE_ENOTFOUND) /* a route gone routes nothing to the canary */
		return rc;
	return traffic_services_cleanup(c, t);
}

const struct traffic_router traffic_router_gateway = {gateway_prepare, gateway_set_weight,
                                                      gateway_read_weight, gateway_cleanup};
