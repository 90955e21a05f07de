/*
 * Traffic routers: how a canary gets its share of requests. One interface,
 * one file each under src/traffic/:
 *
 * - replicas (default, no mesh): the stable Service selects stable and canary
 *   pods alike, so the share is the canary's share of ready pods. The stable
 *   Deployment keeps its replicas R; a weight w needs
 *   c = max(1, floor(R * w / (100 - w))) canary pods, so the share c / (c + R)
 *   is never 0 at a weight above 0 and never above w, except when one pod is
 *   already more than w (then it is that one pod, and status says so).
 * - gatewayAPI: an HTTPRoute's backendRefs carry the weights, between the
 *   stable Service and `<service>-canary`, a Service sluice creates with the
 *   stable Service's ports and a selector pinned to the canary pods.
 * - nginx: a `<ingress>-canary` Ingress, a copy of the stable Ingress routed to
 *   `<service>-canary`, annotated nginx.ingress.kubernetes.io/canary: "true"
 *   and canary-weight: w.
 * For gatewayAPI and nginx the stable Service's selector is pinned to the
 * stable pods (pod-template-hash), so canary pods never get stable traffic;
 * the canary is sized c = max(1, ceil(R * w / 100)).
 *
 * Every write is checked: an error writing a weight is returned, never
 * ignored. The weight actually routed is always read back from the cluster
 * (traffic_read_weight), never remembered.
 */
#ifndef SLUICE_TRAFFIC_H
#define SLUICE_TRAFFIC_H

#include <stddef.h>

#include "sluice/kube.h"

enum traffic_kind { TRAFFIC_REPLICAS = 0, TRAFFIC_GATEWAY_API, TRAFFIC_NGINX };

/* Field manager of the router's writes (not "sluice": Git's applies stay apart). */
#define TRAFFIC_FIELD_MANAGER "sluice-rollout"
/* Label on canary pods (and the canary Deployment's selector). */
#define TRAFFIC_CANARY_LABEL "sluice.dev/canary"

struct traffic_target {
	enum traffic_kind kind;
	const char *namespace;
	const char *service;     /* the stable Service */
	const char *route;       /* the HTTPRoute (gatewayAPI) or Ingress (nginx) */
	const char *canary;      /* the canary Deployment, "<target>-canary" */
	const char *stable_hash; /* pod-template-hash of the stable pods ("" unknown) */
	const char *canary_hash; /* pod-template-hash of the canary pods ("" unknown) */
	int replicas;            /* R: the stable Deployment's desired replicas */
};

/* Canary pods weight w (0..100) needs: 0 at w = 0; at 100, R. */
int traffic_canary_replicas(const struct traffic_target *t, int weight);

/*
 * Make ready to route: for gatewayAPI and nginx, create or update
 * `<service>-canary` and pin the stable Service's selector to stable_hash
 * (pin the canary Service to canary_hash). Idempotent. Returns 0 or an error
 * whose message names the object (e.g. the HTTPRoute has no backendRef for
 * the service).
 */
int traffic_prepare(struct kube_client *c, const struct traffic_target *t);

/*
 * Route `weight` percent to the canary. replicas: scale the canary
 * Deployment to traffic_canary_replicas(); gatewayAPI: the backendRefs'
 * weights (100 - w, w); nginx: the canary Ingress's canary-weight. Weight 0
 * leaves the canary objects in place (traffic_cleanup removes them).
 */
int traffic_set_weight(struct kube_client *c, const struct traffic_target *t, int weight);

/*
 * The weight routed now, read from the cluster: replicas: the canary's share
 * of ready pods (rounded down to a whole percent); gatewayAPI: the canary
 * backendRef's share of the rule's weights; nginx: canary-weight (0 when the
 * canary Ingress is absent).
 */
int traffic_read_weight(struct kube_client *c, const struct traffic_target *t, int *weight);

/*
 * After a rollout ends (promoted, rolled back or aborted): weight 0, the
 * canary Service / Ingress / backendRef removed, and the stable Service's
 * selector pinned to stable_hash (gatewayAPI, nginx). Idempotent.
 */
int traffic_cleanup(struct kube_client *c, const struct traffic_target *t);

/* "replicas", "gatewayAPI", "nginx" */
const char *traffic_kind_name(enum traffic_kind k);

#endif
