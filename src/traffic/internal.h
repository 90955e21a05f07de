/* Shared within src/traffic/: the routers' table and the helpers in service.c. */
#ifndef SLUICE_TRAFFIC_INTERNAL_H
#define SLUICE_TRAFFIC_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "sluice/kube.h"
#include "sluice/traffic.h"

struct traffic_router {
	int (*prepare)(struct kube_client *c, const struct traffic_target *t);
	int (*set_weight)(struct kube_client *c, const struct traffic_target *t, int weight);
	int (*read_weight)(struct kube_client *c, const struct traffic_target *t, int *weight);
	int (*cleanup)(struct kube_client *c, const struct traffic_target *t);
};

extern const struct traffic_router traffic_router_replicas;
extern const struct traffic_router traffic_router_gateway;
extern const struct traffic_router traffic_router_nginx;

/* The target's namespace, or the client's. */
const char *traffic_namespace(struct kube_client *c, const struct traffic_target *t);
/* "<name>-canary" into out; SLUICE_EINVALID when it would be too long for a name. */
int traffic_canary_name(char *out, size_t n, const char *name);
/* rc, with a message naming Kind ns/name ("traffic: Ingress shop/web not found"). */
int traffic_fail(int rc, const char *kind, const char *ns, const char *name);
/* A JSON merge patch written as the router's field manager. */
int traffic_update(struct kube_client *c, const char *api, const char *kind, const char *ns,
                   const char *name, const json_t *patch);
/* Delete; already gone is fine. */
int traffic_delete(struct kube_client *c, const char *api, const char *kind, const char *ns,
                   const char *name);
/* The canary Service and the stable Service's pin (gatewayAPI, nginx). */
int traffic_services_prepare(struct kube_client *c, const struct traffic_target *t);
int traffic_services_cleanup(struct kube_client *c, const struct traffic_target *t);

#endif
