/*
 * The replicas router (no mesh): the stable Service selects stable and
 * canary pods alike, so the canary's share of traffic is its share of ready
 * pods, and a weight is a number of canary pods.
 *
 * The stable Deployment is named after the canary one without its "-canary"
 * suffix: struct traffic_target names only the canary Deployment, and the
 * rollout names it "<target>-canary".
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/traffic.h"

#include "internal.h"

#define SUFFIX "-canary"

static int stable_name(char *out, size_t n, const struct traffic_target *t)
{
	size_t len = strlen(t->canary), sl = strlen(SUFFIX);

	if (len <= sl || strcmp(t->canary + len - sl, SUFFIX) != 0)
		return sluice_error_set(SLUICE_EINVALID,
		                        "traffic: replicas: canary Deployment \"%s\" is not named "
		                        "\"<stable>" SUFFIX "\"",
		                        t->canary);
	if (len - sl >= n)
		return sluice_error_set(SLUICE_EINVALID, "traffic: replicas: \"%s\" is too long",
		                        t->canary);
	memcpy(out, t->canary, len - sl);
	out[len - sl] = '\0';
	return 0;
}

static int get_deployment(struct kube_client *c, json_t **out, const char *ns, const char *name)
{
	struct kube_ref ref = {"apps/v1", "Deployment", ns, name};
	int rc = kube_get(c, out, &ref);

	return rc < 0 ? traffic_fail(rc, "Deployment", ns, name) : 0;
}

static int ready_of(const json_t *d)
{
	json_int_t n =
	    json_integer_value(json_object_get(json_object_get(d, "status"), "readyReplicas"));
	return n > 0 && n < 1000000 ? (int)n : 0;
}

/* Both Deployments exist: the weights will have something to act on. */
static int replicas_prepare(struct kube_client *c, const struct traffic_target *t)
{
	const char *ns = traffic_namespace(c, t);
	char stable[256];
	json_t *d = NULL;
	int rc;

	if ((rc = stable_name(stable, sizeof(stable), t)) < 0)
		return rc;
	if ((rc = get_deployment(c, &d, ns, t->canary)) < 0)
		return rc;
	json_decref(d);
	if ((rc = get_deployment(c, &d, ns, stable)) < 0)
		return rc;
	json_decref(d);
	return 0;
}

static int scale_canary(struct kube_client *c, const struct traffic_target *t, int n)
{
	const char *ns = traffic_namespace(c, t);
	json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", n);
	int rc;

	if (!patch)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	rc = traffic_update(c, "apps/v1", "Deployment", ns, t->canary, patch);
	json_decref(patch);
	return rc < 0 ? traffic_fail(rc, "Deployment", ns, t->canary) : 0;
}

static int replicas_set_weight(struct kube_client *c, const struct traffic_target *t, int weight)
{
	return scale_canary(c, t, traffic_canary_replicas(t, weight));
}

static int replicas_read_weight(struct kube_client *c, const struct traffic_target *t, int *weight)
{
	const char *ns = traffic_namespace(c, t);
	char stable[256];
	json_t *cd = NULL, *sd = NULL;
	int rc;

	*weight = 0;
	if ((rc = stable_name(stable, sizeof(stable), t)) < 0)
		return rc;
	if ((rc = get_deployment(c, &cd, ns, t->canary)) < 0)
		return rc;
	if ((rc = get_deployment(c, &sd, ns, stable)) == 0) {
		long cr = ready_of(cd), sr = ready_of(sd);
		*weight = cr + sr > 0 ? (int)(cr * 100 / (cr + sr)) : 0;
	}
	json_decref(cd);
	json_decref(sd);
	return rc;
}

/* Weight 0: the canary Deployment itself is Git's (or the rollout's), not ours to delete. */
static int replicas_cleanup(struct kube_client *c, const struct traffic_target *t)
{
	int rc = scale_canary(c, t, 0);

	return rc == SLUICE_ENOTFOUND ? 0 : rc;
}

const struct traffic_router traffic_router_replicas = {replicas_prepare, replicas_set_weight,
                                                       replicas_read_weight, replicas_cleanup};
