/*
 * The traffic interface: canary sizing, and dispatch to the router named by
 * the target's kind (replicas.c, gateway.c, nginx.c; service.c holds what
 * gatewayAPI and nginx share).
 */
#include <stddef.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/traffic.h"

#include "internal.h"

/*
 * One router: the four operations of the public interface, with the same
 * contracts, for one kind. Each router file defines its table and repeats
 * this declaration (src/traffic/ has no private header yet).
 */

const char *traffic_kind_name(enum traffic_kind k)
{
	switch (k) {
	case TRAFFIC_REPLICAS: return "replicas";
	case TRAFFIC_GATEWAY_API: return "gatewayAPI";
	case TRAFFIC_NGINX: return "nginx";
	}
	return "unknown";
}

int traffic_canary_replicas(const struct traffic_target *t, int weight)
{
	long long r = t->replicas > 0 ? t->replicas : 0, c;

	if (weight <= 0)
		return 0;
	if (weight >= 100)
		return (int)r;
	if (t->kind == TRAFFIC_REPLICAS)
		c = r * weight / (100 - weight); /* floor: the share c / (c + R) stays <= w */
	else
		c = (r * weight + 99) / 100; /* ceil: the canary can carry its share */
	return c < 1 ? 1 : (int)c;
}

/* The router for t, after checking that t names what that router needs. */
static int router_for(const struct traffic_router **out, const struct traffic_target *t)
{
	*out = NULL;
	if (!t)
		return sluice_error_set(SLUICE_EINVALID, "traffic: no target");
	switch (t->kind) {
	case TRAFFIC_REPLICAS:
		if (!t->canary || !*t->canary)
			return sluice_error_set(
			    SLUICE_EINVALID,
			    "traffic: replicas: the canary Deployment is not named");
		*out = &traffic_router_replicas;
		return 0;
	case TRAFFIC_GATEWAY_API:
	case TRAFFIC_NGINX:
		if (!t->service || !*t->service || !t->route || !*t->route)
			return sluice_error_set(SLUICE_EINVALID,
			                        "traffic: %s needs a Service and a %s",
			                        traffic_kind_name(t->kind),
			                        t->kind == TRAFFIC_NGINX ? "Ingress" : "HTTPRoute");
		*out = t->kind == TRAFFIC_NGINX ? &traffic_router_nginx : &traffic_router_gateway;
		return 0;
	}
	return sluice_error_set(SLUICE_EINVALID, "traffic: unknown router kind %d", (int)t->kind);
}

int traffic_prepare(struct kube_client *c, const struct traffic_target *t)
{
	const struct traffic_router *r;
	int rc = router_for(&r, t);

	return rc < 0 ? rc : r->prepare(c, t);
}

int traffic_set_weight(struct kube_client *c, const struct traffic_target *t, int weight)
{
	const struct traffic_router *r;
	int rc = router_for(&r, t);

	if (rc < 0)
		return rc;
	if (weight < 0 || weight > 100)
		return sluice_error_set(SLUICE_EINVALID, "traffic: weight %d is not within 0..100",
		                        weight);
	return r->set_weight(c, t, weight);
}

int traffic_read_weight(struct kube_client *c, const struct traffic_target *t, int *weight)
{
	const struct traffic_router *r;
	int rc;

	*weight = 0;
	if ((rc = router_for(&r, t)) < 0)
		return rc;
	return r->read_weight(c, t, weight);
}

int traffic_cleanup(struct kube_client *c, const struct traffic_target *t)
{
	const struct traffic_router *r;
	int rc = router_for(&r, t);

	return rc < 0 ? rc : r->cleanup(c, t);
}
