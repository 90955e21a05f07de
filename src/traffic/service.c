/*
 * What the gatewayAPI and nginx routers share: the `<service>-canary`
 * Service, the stable Service's pin, and writes under our own field manager.
 *
 * The pin is a server-side apply, with manager TRAFFIC_FIELD_MANAGER, of
 * {spec: {selector: {pod-template-hash: H}}} alone. A Service's selector is a
 * granular map to server-side apply (checked against v1.20 by
 * tests/unit/test_traffic.c), so Git's manager keeps owning its own keys, and
 * Git's next apply of the Service neither removes the pin nor conflicts with it.
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

#define NAME_MAX_LEN 253 /* a DNS subdomain, the longest object name */

const char *traffic_namespace(struct kube_client *c, const struct traffic_target *t)
{
	return t->namespace && *t->namespace ? t->namespace : kube_client_namespace(c);
}

int traffic_canary_name(char *out, size_t n, const char *name)
{
	int len = snprintf(out, n, "%s-canary", name);
	if (len < 0 || (size_t)len >= n || len > NAME_MAX_LEN)
		return sluice_error_set(SLUICE_EINVALID,
		                        "traffic: \"%s-canary\" is longer than %d characters", name,
		                        NAME_MAX_LEN);
	return 0;
}

/* Name the object in front of the last message, and return `rc`. */
int traffic_fail(int rc, const char *kind, const char *ns, const char *name)
{
	char why[SLUICE_ERROR_MSG_MAX];

	snprintf(why, sizeof(why), "%s", sluice_error_last());
	if (rc == SLUICE_ENOTFOUND)
		return sluice_error_set(rc, "traffic: %s %s/%s not found", kind, ns, name);
	return sluice_error_set(rc, "traffic: %s %s/%s: %s", kind, ns, name, why);
}

/* A name goes into a URL unescaped only when it is a DNS name. */
static int dns_name(const char *s)
{
	if (!s || !*s || strlen(s) > NAME_MAX_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.'))
			return 0;
	return 1;
}

/*
 * A JSON merge patch written as TRAFFIC_FIELD_MANAGER. kube_patch() takes no
 * field manager, and the server would then name the writer after the user
 * agent ("sluice/..."), i.e. Git's manager; hence kube_request().
 */
int traffic_update(struct kube_client *c, const char *api, const char *kind, const char *ns,
                   const char *name, const json_t *patch)
{
	const struct kube_resource *r;
	struct kube_result res;
	char path[1024], *body = NULL;
	int rc, len;

	if ((rc = kube_resolve(c, &r, api, kind)) < 0)
		return rc;
	if (!dns_name(ns) || !dns_name(name))
		return sluice_error_set(SLUICE_EINVALID, "traffic: %s \"%s/%s\": not a valid name",
		                        kind, ns, name);
	if (*r->group)
		len =
		    snprintf(path, sizeof(path), "/apis/%s/%s/namespaces/%s/%s/%s?fieldManager=%s",
		             r->group, r->version, ns, r->resource, name, TRAFFIC_FIELD_MANAGER);
	else
		len = snprintf(path, sizeof(path), "/api/%s/namespaces/%s/%s/%s?fieldManager=%s",
		               r->version, ns, r->resource, name, TRAFFIC_FIELD_MANAGER);
	if (len < 0 || (size_t)len >= sizeof(path))
		return sluice_error_set(SLUICE_ELIMIT, "traffic: the path of %s %s/%s is too long",
		                        kind, ns, name);
	if ((rc = jsonfmt_dump(&body, patch, JSONFMT_COMPACT)) < 0)
		return rc;
	rc = kube_request(c, &res, "PATCH", path, "application/merge-patch+json", body,
	                  strlen(body));
	kube_result_dispose(&res);
	free(body);
	return rc;
}

/* Delete; an object already gone is fine (cleanup is idempotent). */
int traffic_delete(struct kube_client *c, const char *api, const char *kind, const char *ns,
                   const char *name)
{
	struct kube_ref ref = {api, kind, ns, name};
	int rc = kube_delete(c, &ref, "Background", 0);

	if (rc == SLUICE_ENOTFOUND)
		return 0;
	return rc < 0 ? traffic_fail(rc, kind, ns, name) : 0;
}

/* Pin the stable Service to the stable pods: a no-op when the hash is unknown. */
static int pin_stable(struct kube_client *c, const struct traffic_target *t, const char *ns)
{
	json_t *obj;
	int rc;

	if (!t->stable_hash || !*t->stable_hash)
		return 0;
	obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}}}", "apiVersion", "v1", "kind",
	                "Service", "metadata", "name", t->service, "namespace", ns, "spec",
	                "selector", "pod-template-hash", t->stable_hash);
	if (!obj)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	rc = kube_apply(c, NULL, obj, TRAFFIC_FIELD_MANAGER, KUBE_FORCE);
	json_decref(obj);
	return rc < 0 ? traffic_fail(rc, "Service", ns, t->service) : 0;
}

/*
 * The stable Service's ports without what belongs to one Service (nodePort);
 * protocol always, since v1.20's apply needs it as part of the list key.
 */
static json_t *copy_ports(const json_t *ports)
{
	static const char *const keep[] = {"name", "port", "targetPort", "protocol", "appProtocol"};
	json_t *out = json_array(), *p;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(ports, i, p)
	{
		json_t *q = json_object();
		if (!q || json_array_append_new(out, q) < 0) {
			json_decref(out);
			return NULL;
		}
		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
			json_t *v = json_object_get(p, keep[k]);
			if (v)
				json_object_set(q, keep[k], v);
		}
		if (!json_object_get(q, "protocol"))
			json_object_set_new(q, "protocol", json_string("TCP"));
	}
	return out;
}

/*
 * `<service>-canary`: the stable Service's ports, type ClusterIP, and its
 * selector with pod-template-hash set to the canary's; when the canary's hash
 * is not known yet, the canary label selects the canary pods instead.
 */
static int apply_canary_service(struct kube_client *c, const struct traffic_target *t,
                                const char *ns, const json_t *stable)
{
	const json_t *spec = json_object_get(stable, "spec");
	const json_t *sel = json_object_get(spec, "selector");
	json_t *obj = NULL, *selector = NULL, *ports = NULL;
	char name[NAME_MAX_LEN + 16];
	int rc;

	if ((rc = traffic_canary_name(name, sizeof(name), t->service)) < 0)
		return rc;
	if (!json_is_object(sel) || json_object_size(sel) == 0)
		return sluice_error_set(SLUICE_EINVALID,
		                        "traffic: Service %s/%s has no selector, so no canary "
		                        "Service can be made from it",
		                        ns, t->service);
	selector = json_deep_copy(sel);
	ports = copy_ports(json_object_get(spec, "ports"));
	if (!selector || !ports) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	if (t->canary_hash && *t->canary_hash) {
		json_object_set_new(selector, "pod-template-hash", json_string(t->canary_hash));
	} else {
		json_object_del(selector, "pod-template-hash");
		json_object_set_new(selector, TRAFFIC_CANARY_LABEL, json_string("true"));
	}
	obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:O, s:O}}", "apiVersion", "v1",
	                "kind", "Service", "metadata", "name", name, "namespace", ns, "labels",
	                "sluice.dev/canary-of", t->service, "spec", "type", "ClusterIP", "selector",
	                selector, "ports", ports);
	if (!obj) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = kube_apply(c, NULL, obj, TRAFFIC_FIELD_MANAGER, KUBE_FORCE)) < 0)
		rc = traffic_fail(rc, "Service", ns, name);
out:
	json_decref(obj);
	json_decref(selector);
	json_decref(ports);
	return rc;
}

int traffic_services_prepare(struct kube_client *c, const struct traffic_target *t)
{
	const char *ns = traffic_namespace(c, t);
	struct kube_ref ref = {"v1", "Service", ns, t->service};
	json_t *stable = NULL;
	int rc;

	if (!t->stable_hash || !*t->stable_hash)
		return sluice_error_set(
		    SLUICE_EINVALID,
		    "traffic: Service %s/%s cannot be pinned to the stable pods: "
		    "their pod-template-hash is not known",
		    ns, t->service);
	if ((rc = kube_get(c, &stable, &ref)) < 0)
		return traffic_fail(rc, "Service", ns, t->service);
	rc = apply_canary_service(c, t, ns, stable);
	json_decref(stable);
	if (rc < 0)
		return rc;
	return pin_stable(c, t, ns);
}

int traffic_services_cleanup(struct kube_client *c, const struct traffic_target *t)
{
	const char *ns = traffic_namespace(c, t);
	char name[NAME_MAX_LEN + 16];
	int rc;

	if ((rc = traffic_canary_name(name, sizeof(name), t->service)) < 0)
		return rc;
	if ((rc = traffic_delete(c, "v1", "Service", ns, name)) < 0)
		return rc;
	return pin_stable(c, t, ns);
}
