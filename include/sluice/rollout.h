/*
 * Canary rollouts: the Rollout and CanaryPolicy resources (sluice.dev/
 * v1alpha1, deploy/crds/) read into plain structs, and the engine that moves
 * a governed Deployment's new pod template through stepped weights.
 *
 * A Rollout names a Deployment in its namespace (spec.targetRef.name), the
 * stable Service (spec.service), its steps (spec.steps inline, or
 * spec.policyRef.name, a CanaryPolicy in the same namespace; neither: the
 * default policy, 10% for 5m, 25% for 5m, 50% for 5m, then 100%), how traffic
 * is routed (spec.trafficRouting: replicas {} | gatewayAPI {httpRoute} |
 * nginx {ingress}), progressDeadlineSeconds (600), scaleDownDelaySeconds
 * (30) and rollbackPolicy (revertInCluster | revertCommit).
 */
#ifndef SLUICE_ROLLOUT_H
#define SLUICE_ROLLOUT_H

#include <jansson.h>

#include "sluice/diag.h"
#include "sluice/traffic.h"

#define ROLLOUT_API       "sluice.dev/v1alpha1"
#define ROLLOUT_MAX_STEPS 64

enum rollout_step_kind { STEP_SET_WEIGHT = 0, STEP_PAUSE, STEP_ANALYSIS };

struct rollout_step {
	enum rollout_step_kind kind;
	int weight;       /* STEP_SET_WEIGHT: 1..100 */
	long duration_ms; /* STEP_PAUSE: > 0 timed; -1 until a person promotes */
};

enum rollback_policy { ROLLBACK_IN_CLUSTER = 0, ROLLBACK_REVERT_COMMIT };

struct rollout_spec {
	char *namespace, *name;
	char *target;  /* the Deployment */
	char *service; /* the stable Service */
	enum traffic_kind routing;
	char *route;  /* HTTPRoute or Ingress name, or NULL for replicas */
	char *policy; /* CanaryPolicy name, or NULL (inline steps or the default) */
	struct rollout_step steps[ROLLOUT_MAX_STEPS];
	size_t nsteps;
	long progress_deadline_s;
	long scale_down_delay_s;
	enum rollback_policy rollback;
};

/*
 * A duration as the resources write it: "300ms", "30s", "5m", "1h", "1h30m"
 * (Go's time.ParseDuration units ms, s, m, h; no sign, no fractions over 2^31
 * ms). Returns milliseconds, or -1 when malformed.
 */
long rollout_parse_duration(const char *s);

/*
 * Read a Rollout object (and, when it names one, its CanaryPolicy object
 * `policy`, which may be NULL otherwise) into *out, applying the defaults.
 * Every problem goes to errs as "Rollout ns/name: spec.steps[2].pause.duration:
 * ..." and the result is SLUICE_EINVALID; a step of kind analysis is accepted
 * (STEP_ANALYSIS) for the analysis engine. Free with rollout_spec_dispose().
 */
int rollout_spec_read(struct rollout_spec *out, const json_t *rollout, const json_t *policy,
                      struct diag *errs);
void rollout_spec_dispose(struct rollout_spec *s);

/* The default steps: setWeight 10, pause 5m, setWeight 25, pause 5m, setWeight 50, pause 5m. */
size_t rollout_default_steps(struct rollout_step *steps, size_t max);

/* ---- the engine -------------------------------------------------------- */

/*
 * Manual control, through the API so that RBAC governs it: the annotation
 * sluice.dev/action on the Rollout, "VERB STAMP" where VERB is promote,
 * promote-full, abort, retry, pause or resume and STAMP makes each request
 * new (the CLI writes the time). Each is acted on once (status.lastAction).
 */
#define ROLLOUT_ANNOTATION_ACTION "sluice.dev/action"

/*
 * What the engine asks of the controller around it (any member may be NULL).
 * revert: with rollbackPolicy revertCommit, after an automatic rollback,
 * revert `commit` in the Git source the Rollout came from and push it;
 * returns 0 with the revert commit in `out` (41 bytes), or an error with a
 * one-line reason in `err`.
 */
struct rollout_hooks {
	int (*revert)(void *ud, const json_t *rollout, const char *commit, const char *reason,
	              char *out, char *err, size_t errn);
	void *ud;
	const char *prometheus_url; /* for analysis naming no address (sluiced --prometheus-url) */
};

/*
 * One reconcile of one Rollout (as the API returns it): read the governed
 * Deployment's stable and desired templates (sync.h), decide, act, and write
 * the status when it changed. Everything the engine knows is in that status,
 * so a controller killed at any point resumes where it was: same step, same
 * remaining pause, weight never moved backwards, at most one harmless write
 * repeated. *requeue_ms: when to look again (a pause's remainder, a wait for
 * pods), or -1 when only a change needs another look. Returns 0 or an error
 * (also in status.message).
 */
int rollout_reconcile(struct kube_client *c, const json_t *rollout, long *requeue_ms,
                      const struct rollout_hooks *hooks);

/*
 * Export a Rollout's status (`now`; `old`: the status before this reconcile,
 * or NULL) as controller metrics: phase, step, weights, and each rollout that
 * ended since `old` (by result, lead time, time to recovery). See
 * docs/metrics.md.
 */
void rollout_metrics(const char *ns, const char *name, const json_t *old, const json_t *now);

#endif
