/*
 * The nginx router (ingress-nginx canaries): `<ingress>-canary`, a copy of
 * the stable Ingress whose backends for the Service point at
 * `<service>-canary`, annotated nginx.ingress.kubernetes.io/canary: "true"
 * and canary-weight: w. It is server-side applied whole with our field
 * manager, so every write also carries the stable Ingress's current rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/traffic.h"

#include "internal.h"

#define INGRESS_API      "networking.k8s.io/v1"
#define ANN_CANARY       "nginx.ingress.kubernetes.io/canary"
#define ANN_WEIGHT       "nginx.ingress.kubernetes.io/canary-weight"
#define ANN_TOTAL        "nginx.ingress.kubernetes.io/canary-weight-total"
#define ANN_LAST_APPLY   "kubectl.kubernetes.io/last-applied-configuration"
#define SLUICE_PREFIX    "sluice.dev/"
#define NAME_BUF         270
#define MAX_WEIGHT_TOTAL 1000000

static int get_ingress(struct kube_client *c, json_t **out, const char *ns, const char *name)
{
	struct kube_ref ref = {INGRESS_API, "Ingress", ns, name};
	int rc = kube_get(c, out, &ref);

	return rc < 0 ? traffic_fail(rc, "Ingress", ns, name) : 0;
}

/* Point `backend` at the canary Service if it names the stable one; 1 when it did. */
static int reroute_backend(json_t *backend, const char *service, const char *canary)
{
	json_t *svc = json_object_get(backend, "service");
	const char *name = json_string_value(json_object_get(svc, "name"));

	if (!name || strcmp(name, service) != 0)
		return 0;
	json_object_set_new(svc, "name", json_string(canary));
	return 1;
}

/* Every backend of the spec (default and per path); how many named the Service. */
static size_t reroute(json_t *spec, const char *service, const char *canary)
{
	size_t n = 0, i, j;
	json_t *rule, *path;

	n += (size_t)reroute_backend(json_object_get(spec, "defaultBackend"), service, canary);
	json_array_foreach(json_object_get(spec, "rules"), i, rule)
	{
		json_array_foreach(json_object_get(json_object_get(rule, "http"), "paths"), j, path)
		{
			n += (size_t)reroute_backend(json_object_get(path, "backend"), service,
			                             canary);
		}
	}
	return n;
}

/*
 * The stable Ingress's annotations but the canary ones (which would make it a
 * canary of something else), kubectl's last-applied copy and sluice's own
 * (tracking and prune marks belong to the Git object only).
 */
static json_t *copy_annotations(const json_t *stable)
{
	const json_t *from = json_object_get(json_object_get(stable, "metadata"), "annotations");
	json_t *out = json_object(), *v;
	const char *k;

	if (!out)
		return NULL;
	json_object_foreach((json_t *)from, k, v)
	{
		if (strncmp(k, ANN_CANARY, strlen(ANN_CANARY)) == 0 ||
		    strcmp(k, ANN_LAST_APPLY) == 0 ||
		    strncmp(k, SLUICE_PREFIX, strlen(SLUICE_PREFIX)) == 0)
			continue;
		json_object_set(out, k, v);
	}
	return out;
}

/* Apply `<ingress>-canary` from the stable Ingress, at `weight`. */
static int apply_canary(struct kube_client *c, const struct traffic_target *t, const char *ns,
                        const json_t *stable, int weight)
{
	char name[NAME_BUF], service[NAME_BUF], w[16];
	json_t *obj = NULL, *spec = NULL, *ann = NULL;
	int rc;

	if ((rc = traffic_canary_name(name, sizeof(name), t->route)) < 0 ||
	    (rc = traffic_canary_name(service, sizeof(service), t->service)) < 0)
		return rc;
	spec = json_deep_copy(json_object_get(stable, "spec"));
	ann = copy_annotations(stable);
	if (!spec || !ann) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	if (reroute(spec, t->service, service) == 0) {
		rc = sluice_error_set(SLUICE_EINVALID,
		                      "traffic: Ingress %s/%s has no backend for Service %s", ns,
		                      t->route, t->service);
		goto out;
	}
	snprintf(w, sizeof(w), "%d", weight);
	json_object_set_new(ann, ANN_CANARY, json_string("true"));
	json_object_set_new(ann, ANN_WEIGHT, json_string(w));
	obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:O}, s:O}", "apiVersion", INGRESS_API,
	                "kind", "Ingress", "metadata", "name", name, "namespace", ns, "labels",
	                "sluice.dev/canary-of", t->route, "annotations", ann, "spec", spec);
	if (!obj) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = kube_apply(c, NULL, obj, TRAFFIC_FIELD_MANAGER, KUBE_FORCE)) < 0)
		rc = traffic_fail(rc, "Ingress", ns, name);
out:
	json_decref(obj);
	json_decref(spec);
	json_decref(ann);
	return rc;
}

/* A decimal annotation within 0..max, or -1. */
static long annotation_number(const json_t *ann, const char *key, long max)
{
	const char *s = json_string_value(json_object_get(ann, key));
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > max)
		return -1;
	return v;
}

static int nginx_read_weight(struct kube_client *c, const struct traffic_target *t, int *weight)
{
	const char *ns = traffic_namespace(c, t);
	char name[NAME_BUF];
	struct kube_ref ref = {INGRESS_API, "Ingress", ns, name};
	json_t *ing = NULL;
	const json_t *ann;
	const char *on, *text;
	long total, w;
	int rc;

	*weight = 0;
	if ((rc = traffic_canary_name(name, sizeof(name), t->route)) < 0)
		return rc;
	if ((rc = kube_get(c, &ing, &ref)) == SLUICE_ENOTFOUND)
		return 0;
	if (rc < 0)
		return traffic_fail(rc, "Ingress", ns, name);
	ann = json_object_get(json_object_get(ing, "metadata"), "annotations");
	on = json_string_value(json_object_get(ann, ANN_CANARY));
	text = json_string_value(json_object_get(ann, ANN_WEIGHT));
	if (on && strcmp(on, "true") == 0 && text) { /* else nginx routes nothing by weight */
		total = json_object_get(ann, ANN_TOTAL)
		            ? annotation_number(ann, ANN_TOTAL, MAX_WEIGHT_TOTAL)
		            : 100;
		w = total > 0 ? annotation_number(ann, ANN_WEIGHT, total) : -1;
		if (w >= 0)
			*weight = (int)(w * 100 / total);
		else
			rc = sluice_error_set(
			    SLUICE_EINVALID,
			    "traffic: Ingress %s/%s: canary-weight \"%s\" is not a "
			    "whole number within canary-weight-total",
			    ns, name, text);
	}
	json_decref(ing);
	return rc;
}

static int nginx_set_weight(struct kube_client *c, const struct traffic_target *t, int weight)
{
	const char *ns = traffic_namespace(c, t);
	json_t *stable = NULL;
	int rc;

	if ((rc = get_ingress(c, &stable, ns, t->route)) < 0)
		return rc;
	rc = apply_canary(c, t, ns, stable, weight);
	json_decref(stable);
	return rc;
}

/* Idempotent: a canary Ingress already there keeps the weight it routes. */
static int nginx_prepare(struct kube_client *c, const struct traffic_target *t)
{
	const char *ns = traffic_namespace(c, t);
	json_t *stable = NULL;
	char service[NAME_BUF];
	int rc, weight = 0;

	if ((rc = get_ingress(c, &stable, ns, t->route)) < 0)
		return rc;
	json_t *probe = json_deep_copy(json_object_get(stable, "spec"));
	if ((rc = traffic_canary_name(service, sizeof(service), t->service)) == 0 &&
	    reroute(probe, t->service, service) == 0)
		rc = sluice_error_set(SLUICE_EINVALID,
		                      "traffic: Ingress %s/%s has no backend for Service %s", ns,
		                      t->route, t->service);
	json_decref(probe);
	if (rc == 0 && (rc = traffic_services_prepare(c, t)) == 0 &&
	    (rc = nginx_read_weight(c, t, &weight)) == 0)
		rc = apply_canary(c, t, ns, stable, weight);
	json_decref(stable);
	return rc;
}

static int nginx_cleanup(struct kube_client *c, const struct traffic_target *t)
{
	const char *ns = traffic_namespace(c, t);
	char name[NAME_BUF];
	int rc;

	if ((rc = traffic_canary_name(name, sizeof(name), t->route)) < 0 ||
	    (rc = traffic_delete(c, INGRESS_API, "Ingress", ns, name)) < 0)
		return rc;
	return traffic_services_cleanup(c, t);
}

const struct traffic_router traffic_router_nginx = {nginx_prepare, nginx_set_weight,
                                                    nginx_read_weight, nginx_cleanup};
