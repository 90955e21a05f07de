/*
 * The rollout engine: one reconcile reads a Rollout, its Deployment's stable
 * and desired templates (kept by the sync engine in annotations, sync.h),
 * the canary Deployment and the weight routed now, then moves at most as far
 * as it can without waiting, and writes what it did to the status.
 *
 * The status is the only memory: phase, currentStep, desired and actual
 * weight, stable and canary {hash, commit}, pauseStartTime, stepStartTime,
 * trafficStartTime (when the canary first got a weight), the promotion's
 * stage, failed {hash, commit, reason}, lastAction, history. Writes happen in
 * an order that makes a crash between any two harmless: the weight (or scale)
 * is written before the status that records it, so a restart repeats at most
 * that one write; a pause's start is recorded before anything waits on it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/analysis.h"
#include "sluice/clock.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/log.h"
#include "sluice/rollout.h"
#include "sluice/sync.h"
#include "sluice/traffic.h"

#define HISTORY_MAX 20
#define POLL_MS     1000

/* ---- time ---------------------------------------------------------------- */

static json_t *time_str(long long ms)
{
	char buf[CLOCK_TEXT_MAX];
	clock_format_ms(buf, ms);
	return json_string(buf);
}

static long long time_of(const json_t *v)
{
	return clock_parse(json_string_value(v));
}

/* ---- small JSON helpers --------------------------------------------------- */

static const json_t *at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	return b ? json_object_get(v, b) : v;
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
	return json_string_value(at(o, a, b));
}

static long long int_at(const json_t *o, const char *a, const char *b)
{
	return json_integer_value(at(o, a, b));
}

static const char *note(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(at(obj, "metadata", "annotations"), key));
}

/* ---- one reconcile ---------------------------------------------------------- */

struct ctx {
	struct kube_client *c;
	const struct rollout_hooks *hooks;
	const json_t *ro;
	struct rollout_spec spec;
	struct analysis_spec an;
	json_t *st; /* the status being built (starts as a copy of the old one) */
	json_t *stable_dep, *canary_dep;
	char canary_name[300];
	char stable_hash[64], canary_pod_hash[64];
	struct traffic_target t;
	long long now;
	long requeue;
};

static void want_requeue(struct ctx *x, long ms)
{
	if (ms < 0)
		return;
	if (x->requeue < 0 || ms < x->requeue)
		x->requeue = ms;
}

static void say(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ctx *x, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	const char *was = json_string_value(json_object_get(x->st, "message"));
	if (!was || strcmp(was, buf) != 0)
		json_object_set_new(x->st, "messageTime", time_str(x->now));
	json_object_set_new(x->st, "message", json_string(buf));
}

/* A decision: logged, and a Kubernetes Event on the Rollout (a Warning when it
 * undoes a release). */
static void event(struct ctx *x, const char *what, const char *detail)
{
	char msg[1100];
	int warning = strcmp(what, "RolledBack") == 0 || strcmp(what, "Aborted") == 0;

	slog(SLOG_INFO, what, "rollout", x->spec.name, "namespace", x->spec.namespace, "detail",
	     detail ? detail : "", NULL);
	snprintf(msg, sizeof(msg), "%s%s%s", what, detail && *detail ? ": " : "",
	         detail ? detail : "");
	if (x->ro && json_object_get(x->ro, "kind"))
		kube_record_event(x->c, x->ro, warning, what, msg);
}

static void history(struct ctx *x, const char *result, const char *reason)
{
	json_t *h = json_array(), *old = json_object_get(x->st, "history"), *v;
	size_t i;
	const json_t *canary = json_object_get(x->st, "canary");
	long long start = time_of(json_object_get(x->st, "startTime"));

	json_t *e = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "revision",
	                      str_at(canary, "hash", NULL) ?: "", "commit",
	                      str_at(canary, "commit", NULL) ?: "", "start",
	                      start > 0 ? time_str(start) : json_null(), "end", time_str(x->now),
	                      "result", result, "reason", reason ? reason : "");
	/* subject and commit time: what `sluice history` shows and lead time needs */
	if (json_object_get(canary, "subject"))
		json_object_set(e, "subject", json_object_get(canary, "subject"));
	if (json_object_get(canary, "commitTime"))
		json_object_set(e, "commitTime", json_object_get(canary, "commitTime"));
	json_array_append_new(h, e);
	json_array_foreach(old, i, v)
	{
		if (json_array_size(h) >= HISTORY_MAX)
			break;
		json_array_append(h, v);
	}
	json_object_set_new(x->st, "history", h);
}

/* The pod-template-hash of the newest ReplicaSet of Deployment `dep` (into out). */
static int pod_hash(struct ctx *x, const json_t *dep, char *out, size_t n)
{
	json_t *items = NULL, *rs;
	size_t i;
	const char *rev = note(dep, "deployment.kubernetes.io/revision");
	const char *uid = str_at(dep, "metadata", "uid");
	struct kube_ref ref = {"apps/v1", "ReplicaSet", x->spec.namespace, NULL};
	int rc;

	out[0] = '\0';
	if (!rev || !uid)
		return 0;
	if ((rc = kube_list(x->c, &items, NULL, &ref, NULL)) < 0)
		return rc;
	json_array_foreach(items, i, rs)
	{
		const json_t *owner = json_array_get(at(rs, "metadata", "ownerReferences"), 0);
		const char *r = note(rs, "deployment.kubernetes.io/revision");
		const char *h = json_string_value(
		    json_object_get(at(rs, "metadata", "labels"), "pod-template-hash"));
		if (h && r && strcmp(r, rev) == 0 &&
		    strcmp(str_at(owner, "uid", NULL) ?: "", uid) == 0)
			snprintf(out, n, "%s", h);
	}
	json_decref(items);
	return 0;
}

static int get_deployment(struct ctx *x, const char *name, json_t **out)
{
	struct kube_ref ref = {"apps/v1", "Deployment", x->spec.namespace, name};
	int rc = kube_get(x->c, out, &ref);
	if (rc == SLUICE_ENOTFOUND) {
		*out = NULL;
		return 0;
	}
	return rc;
}

/*
 * Ready pods of the Deployment's current template: none until the
 * controller has seen its latest spec, and pods of an older template (a
 * superseded canary's) are assumed to be among the ready ones, so they never
 * count.
 */
static int ready_of(const json_t *dep)
{
	const json_t *s;
	long long ready;

	if (!dep)
		return 0;
	s = json_object_get(dep, "status");
	if (int_at(s, "observedGeneration", NULL) < int_at(dep, "metadata", "generation"))
		return 0;
	ready = int_at(s, "readyReplicas", NULL) -
	        (int_at(s, "replicas", NULL) - int_at(s, "updatedReplicas", NULL));
	return ready > 0 ? (int)ready : 0;
}

/*
 * Create or update the canary Deployment to run `tpl` (the desired
 * template) with `replicas` pods: the stable's selector and labels plus
 * sluice.dev/canary: "true".
 */
static int apply_canary(struct ctx *x, const json_t *tpl, const char *hash, int replicas)
{
	json_t *t = json_deep_copy(tpl), *sel;
	json_t *labels = json_object_get(json_object_get(t, "metadata"), "labels");
	int rc;

	if (!t)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if (!json_is_object(json_object_get(t, "metadata")))
		json_object_set_new(t, "metadata", json_object());
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(json_object_get(t, "metadata"), "labels", labels);
	}
	json_object_set_new(labels, TRAFFIC_CANARY_LABEL, json_string("true"));
	sel = json_deep_copy(at(x->stable_dep, "spec", "selector"));
	if (!json_is_object(sel))
		sel = json_object();
	if (!json_is_object(json_object_get(sel, "matchLabels")))
		json_object_set_new(sel, "matchLabels", json_object());
	json_object_set_new(json_object_get(sel, "matchLabels"), TRAFFIC_CANARY_LABEL,
	                    json_string("true"));
	json_t *dep = json_pack(
	    "{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:{s:s, s:s}}, s:{s:i, s:o, s:o}}", "apiVersion",
	    "apps/v1", "kind", "Deployment", "metadata", "name", x->canary_name, "namespace",
	    x->spec.namespace, "labels", "sluice.dev/canary-of", x->spec.target, "annotations",
	    "sluice.dev/template-hash", hash, "sluice.dev/rollout", x->spec.name, "spec",
	    "replicas", replicas, "selector", sel, "template", t);
	if (!dep)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	rc = kube_apply(x->c, NULL, dep, TRAFFIC_FIELD_MANAGER, KUBE_FORCE);
	json_decref(dep);
	return rc;
}

static int scale_canary(struct ctx *x, int replicas)
{
	char patch[64];
	struct kube_ref ref = {"apps/v1", "Deployment", x->spec.namespace, x->canary_name};
	if (!x->canary_dep || int_at(x->canary_dep, "spec", "replicas") == replicas)
		return 0;
	snprintf(patch, sizeof(patch), "{\"spec\":{\"replicas\":%d}}", replicas);
	int rc = kube_patch(x->c, NULL, &ref, KUBE_PATCH_MERGE, patch, NULL, 0);
	return rc == SLUICE_ENOTFOUND ? 0 : rc;
}

/*
 * When scaleDownAt has come: the canary scaled to 0, and after a rollback
 * (cleanupPending) Git's route and Services put back. Before it: a requeue
 * for then. 0, or an error.
 */
static int canary_retire(struct ctx *x)
{
	long long due = time_of(json_object_get(x->st, "scaleDownAt"));
	int rc;

	if (due > 0 && x->now < due) {
		want_requeue(x, (long)(due - x->now));
		return 0;
	}
	if ((rc = scale_canary(x, 0)) < 0)
		return rc;
	if (json_is_true(json_object_get(x->st, "cleanupPending")) &&
	    (rc = traffic_cleanup(x->c, &x->t)) < 0)
		return rc;
	json_object_del(x->st, "scaleDownAt");
	json_object_del(x->st, "cleanupPending");
	return 0;
}

/*
 * End this rollout without promoting: weight 0 at once. With replicas the
 * canary's pods are its traffic, so they go at once too. A router that
 * shifts traffic (gatewayAPI, nginx) takes the weight in a little later, so
 * the canary's pods and Service stay for scaleDownDelaySeconds (Argo's
 * abortScaleDownDelaySeconds), and requests it routed meanwhile find pods,
 * not a 502; then canary_retire() scales it to 0 and puts Git's route back.
 */
static int roll_back(struct ctx *x, const char *phase, const char *reason)
{
	int rc;

	if (x->canary_dep && (rc = traffic_set_weight(x->c, &x->t, 0)) < 0)
		return rc;
	if (x->canary_dep && x->spec.routing != TRAFFIC_REPLICAS &&
	    x->spec.scale_down_delay_s > 0) {
		json_object_set_new(x->st, "scaleDownAt",
		                    time_str(x->now + x->spec.scale_down_delay_s * 1000));
		json_object_set_new(x->st, "cleanupPending", json_true());
		want_requeue(x, x->spec.scale_down_delay_s * 1000);
	} else if (x->canary_dep &&
	           ((rc = scale_canary(x, 0)) < 0 || (rc = traffic_cleanup(x->c, &x->t)) < 0)) {
		return rc;
	}
	const json_t *canary = json_object_get(x->st, "canary");
	json_object_set_new(x->st, "failed",
	                    json_pack("{s:s, s:s, s:s}", "hash", str_at(canary, "hash", NULL) ?: "",
	                              "commit", str_at(canary, "commit", NULL) ?: "", "reason",
	                              reason));
	history(x, phase, reason);
	json_object_set_new(x->st, "phase", json_string(phase));
	json_object_set_new(x->st, "desiredWeight", json_integer(0));
	json_object_set_new(x->st, "actualWeight", json_integer(0));
	json_object_del(x->st, "pauseStartTime");
	json_object_del(x->st, "promotion");
	json_object_del(x->st, "analysisHold");
	say(x, "%s: %s", phase, reason);
	event(x, phase, reason);
	if (strcmp(phase, "RolledBack") == 0 && x->spec.rollback == ROLLBACK_REVERT_COMMIT) {
		/* Git still says the failed commit; a revert makes Git say what runs */
		const char *bad = str_at(canary, "commit", NULL);
		char out[41] = "", err[512] = "";
		if (!x->hooks || !x->hooks->revert)
			snprintf(err, sizeof(err), "this controller cannot push to Git");
		else if (bad && *bad &&
		         x->hooks->revert(x->hooks->ud, x->ro, bad, reason, out, err,
		                          sizeof(err)) == 0) {
			json_object_set_new(
			    x->st, "revert",
			    json_pack("{s:s, s:s}", "reverted", bad, "commit", out));
			event(x, "reverted in Git", out);
			return 0;
		}
		json_object_set_new(
		    x->st, "revert",
		    json_pack("{s:s, s:s}", "reverted", bad ? bad : "", "error", err));
		slog(SLOG_ERROR, "rollout: the revert commit failed", "rollout", x->spec.name,
		     "error", err, NULL);
	}
	return 0;
}

/* Start (or restart, superseding) a rollout of the desired template. */
static int begin(struct ctx *x, const json_t *desired, const char *hash, const char *commit)
{
	const json_t *old = json_object_get(x->st, "canary");
	int rc;

	if (str_at(old, "hash", NULL) && *str_at(old, "hash", NULL) &&
	    strcmp(str_at(old, "hash", NULL), hash) != 0) {
		const char *phase = str_at(x->st, "phase", NULL) ?: "";
		if (strcmp(phase, "Progressing") == 0 || strcmp(phase, "Paused") == 0)
			history(x, "Superseded", "a newer commit changed the template");
	}
	/* an older canary stops getting traffic before it is replaced */
	if (x->canary_dep && (rc = traffic_set_weight(x->c, &x->t, 0)) < 0)
		return rc;
	if ((rc = apply_canary(x, desired, hash, 0)) < 0)
		return rc;
	json_t *side = json_pack("{s:s, s:s}", "hash", hash, "commit", commit);
	/* the commit's subject and time, as the sync handed them over */
	const char *subject = note(x->stable_dep, SYNC_ANNOTATION_DESIRED_SUBJECT);
	const char *when = note(x->stable_dep, SYNC_ANNOTATION_DESIRED_TIME);
	if (subject)
		json_object_set_new(side, "subject", json_string(subject));
	if (when && clock_parse(when) > 0)
		json_object_set_new(side, "commitTime", json_string(when));
	json_object_set_new(x->st, "canary", side);
	json_object_set_new(x->st, "phase", json_string("Progressing"));
	json_object_set_new(x->st, "currentStep", json_integer(0));
	json_object_set_new(x->st, "desiredWeight", json_integer(0));
	json_object_set_new(x->st, "startTime", time_str(x->now));
	json_object_set_new(x->st, "stepStartTime", time_str(x->now));
	json_object_del(x->st, "pauseStartTime");
	json_object_del(x->st, "trafficStartTime");
	json_object_del(x->st, "scaleDownAt"); /* the canary is the new one's now */
	json_object_del(x->st, "cleanupPending");
	json_object_del(x->st, "pausedAt");
	json_object_del(x->st, "promotion");
	json_object_del(x->st, "failed");
	json_object_del(x->st, "promoteFull");
	json_object_del(x->st, "analysisHold");
	say(x, "rollout of %.12s started", commit);
	event(x, "rollout started", commit);
	return 0;
}

static void next_step(struct ctx *x)
{
	json_object_set_new(x->st, "currentStep",
	                    json_integer(int_at(x->st, "currentStep", NULL) + 1));
	json_object_set_new(x->st, "stepStartTime", time_str(x->now));
	json_object_del(x->st, "pauseStartTime");
}

/* A person's request, acted on once. */
static int act(struct ctx *x)
{
	const char *a = note(x->ro, ROLLOUT_ANNOTATION_ACTION);
	const char *done = str_at(x->st, "lastAction", NULL);
	const char *phase = str_at(x->st, "phase", NULL) ?: "";
	char verb[32] = "";
	int running = strcmp(phase, "Progressing") == 0 || strcmp(phase, "Paused") == 0;
	int rc = 0;

	if (!a || (done && strcmp(a, done) == 0))
		return 0;
	sscanf(a, "%31s", verb);
	json_object_set_new(x->st, "lastAction", json_string(a));
	if (strcmp(verb, "promote") == 0 && running && json_object_get(x->st, "analysisHold")) {
		/* a person looked at an inconclusive analysis and lets it go on */
		json_t *state = json_object_get(x->st, "analysis");
		json_object_del(x->st, "analysisHold");
		json_object_set_new(state, "inconclusive", json_integer(0));
		json_object_set_new(state, "consecutiveErrors", json_integer(0));
		event(x, "analysis hold released by request", NULL);
	} else if (strcmp(verb, "promote") == 0 && running) {
		next_step(x);
		json_object_del(x->st, "paused");
		event(x, "promoted a step by request", NULL);
	} else if (strcmp(verb, "promote-full") == 0 && running) {
		json_object_set_new(x->st, "promoteFull", json_true());
		json_object_del(x->st, "paused");
		event(x, "full promotion requested", NULL);
	} else if (strcmp(verb, "abort") == 0 && running) {
		rc = roll_back(x, "Aborted", "aborted by request");
	} else if (strcmp(verb, "retry") == 0 && json_object_get(x->st, "failed")) {
		json_object_del(x->st, "failed");
		json_object_del(x->st, "canary"); /* the desired template starts again at step 1 */
		event(x, "retry requested", NULL);
	} else if (strcmp(verb, "pause") == 0 && running) {
		json_object_set_new(x->st, "paused", json_true());
		json_object_set_new(x->st, "pausedAt", time_str(x->now));
	} else if (strcmp(verb, "resume") == 0 && json_is_true(json_object_get(x->st, "paused"))) {
		/* a timed pause keeps its remaining time */
		long long since = time_of(json_object_get(x->st, "pausedAt"));
		long long start = time_of(json_object_get(x->st, "pauseStartTime"));
		if (since > 0 && start > 0)
			json_object_set_new(x->st, "pauseStartTime",
			                    time_str(start + (x->now - since)));
		json_object_del(x->st, "paused");
		json_object_del(x->st, "pausedAt");
	} else {
		slog(SLOG_WARN, "rollout: request ignored in this phase", "rollout", x->spec.name,
		     "request", verb, "phase", phase, NULL);
	}
	return rc;
}

/* Promotion: the desired template becomes the stable Deployment's. */
static int promote(struct ctx *x, const json_t *desired, const char *hash, const char *commit)
{
	const char *stage = str_at(x->st, "promotion", NULL) ?: "";
	int R = x->t.replicas, rc;

	char own[64];

	/* the rollout's own record: once the stable runs it, the sync no longer
	 * hands the commit over in the Deployment's annotations (a copy: the
	 * status entry goes away below) */
	if (str_at(x->st, "canary", "commit") && *str_at(x->st, "canary", "commit")) {
		snprintf(own, sizeof(own), "%s", str_at(x->st, "canary", "commit"));
		commit = own;
	}

	if (!*stage) {
		/* routers: all traffic to a full-size canary while stable is replaced */
		if (x->spec.routing != TRAFFIC_REPLICAS) {
			if ((rc = scale_canary(x, R)) < 0)
				return rc;
			if (ready_of(x->canary_dep) < R) {
				say(x, "promoting: waiting for %d canary pods (%d ready)", R,
				    ready_of(x->canary_dep));
				want_requeue(x, POLL_MS);
				return 0;
			}
			if ((rc = traffic_set_weight(x->c, &x->t, 100)) < 0)
				return rc;
		}
		json_object_set_new(x->st, "promotion", json_string("stable"));
		stage = "stable";
	}
	if (strcmp(stage, "stable") == 0) {
		char *tpl = NULL, *patch = NULL;
		json_t *ops;
		struct kube_ref ref = {"apps/v1", "Deployment", x->spec.namespace, x->spec.target};
		if ((rc = jsonfmt_dump(&tpl, desired, JSONFMT_COMPACT)) < 0)
			return rc;
		ops = json_pack("[{s:s, s:s, s:O}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]", "op",
		                "replace", "path", "/spec/template", "value", desired, "op", "add",
		                "path", "/metadata/annotations/sluice.dev~1stable-template",
		                "value", tpl, "op", "add", "path",
		                "/metadata/annotations/sluice.dev~1stable-commit", "value", commit);
		free(tpl);
		if (!ops || (rc = jsonfmt_dump(&patch, ops, JSONFMT_COMPACT)) < 0) {
			json_decref(ops);
			return ops ? rc : sluice_error_set(SLUICE_ENOMEM, "out of memory");
		}
		json_decref(ops);
		rc = kube_patch(x->c, NULL, &ref, KUBE_PATCH_JSON, patch, NULL, 0);
		free(patch);
		if (rc < 0)
			return rc;
		json_object_set_new(x->st, "promotion", json_string("await"));
		say(x, "promoting: the stable Deployment runs the new template");
		want_requeue(x, POLL_MS);
		return 0;
	}
	if (strcmp(stage, "await") == 0) {
		const json_t *s = json_object_get(x->stable_dep, "status");
		int gen_ok = int_at(x->stable_dep, "metadata", "generation") <=
		             int_at(s, "observedGeneration", NULL);
		int done = gen_ok && int_at(s, "updatedReplicas", NULL) == R &&
		           int_at(s, "availableReplicas", NULL) == R &&
		           int_at(s, "readyReplicas", NULL) == R &&
		           int_at(s, "replicas", NULL) == R;
		if (!done) {
			say(x, "promoting: %lld of %d stable pods updated and available",
			    int_at(s, "availableReplicas", NULL), R);
			want_requeue(x, POLL_MS);
			return 0;
		}
		/* stable serves again, pinned to its new pods; the canary goes later
		 * (with replicas, its pods run the same template and leave at scale-down) */
		x->t.stable_hash = x->stable_hash;
		if (x->spec.routing != TRAFFIC_REPLICAS &&
		    ((rc = traffic_prepare(x->c, &x->t)) < 0 ||
		     (rc = traffic_set_weight(x->c, &x->t, 0)) < 0 ||
		     (rc = traffic_cleanup(x->c, &x->t)) < 0))
			return rc;
		json_t *now_stable = json_pack("{s:s, s:s, s:s}", "hash", hash, "commit", commit,
		                               "podHash", x->stable_hash);
		const json_t *from = json_object_get(x->st, "canary");
		if (json_object_get(from, "subject"))
			json_object_set(now_stable, "subject", json_object_get(from, "subject"));
		if (json_object_get(from, "commitTime"))
			json_object_set(now_stable, "commitTime",
			                json_object_get(from, "commitTime"));
		json_object_set_new(x->st, "stable", now_stable);
		history(x, "Promoted", "all steps passed");
		json_object_del(x->st, "canary");
		json_object_del(x->st, "promotion");
		json_object_del(x->st, "promoteFull");
		json_object_set_new(x->st, "phase", json_string("Healthy"));
		json_object_set_new(x->st, "desiredWeight", json_integer(0));
		json_object_set_new(x->st, "scaleDownAt",
		                    time_str(x->now + x->spec.scale_down_delay_s * 1000));
		say(x, "promoted %.12s", commit);
		event(x, "promoted", commit);
		want_requeue(x, x->spec.scale_down_delay_s * 1000);
	}
	return 0;
}

/* The steps, from currentStep, as far as they go without waiting. */
/*
 * Background analysis: run the metrics when due (and at once at an analysis
 * step or before promotion when no run has happened since), then act on the
 * counts. Returns 1 when the rollout must not go on this time (rolled back,
 * or held for a person), 0 to go on, or an error.
 */
static int analysis_tick(struct ctx *x)
{
	json_t *a = json_object_get(x->st, "analysis");
	const char *canary = str_at(x->st, "canary", "hash");
	long long k = int_at(x->st, "currentStep", NULL);
	long long step_start = time_of(json_object_get(x->st, "stepStartTime"));
	long long traffic = time_of(json_object_get(x->st, "trafficStartTime"));
	char why[512], reason[700];
	enum analysis_verdict v;
	int rc;

	if (!x->an.enabled || json_object_get(x->st, "promotion"))
		return 0;
	if (!json_is_object(a) || strcmp(str_at(a, "canary", NULL) ?: "", canary ?: "") != 0) {
		a = json_pack("{s:s, s:i, s:i, s:i, s:i}", "canary", canary ?: "", "runs", 0,
		              "failed", 0, "inconclusive", 0, "consecutiveErrors", 0);
		json_object_set_new(x->st, "analysis", a);
	}
	long long last = int_at(a, "lastRunMs", NULL);
	long long runs = int_at(a, "runs", NULL);
	/*
	 * The first run comes one interval (plus initialDelay) after the canary
	 * first took traffic, so a rate over [{{interval}}] sees only the
	 * canary's own requests; before any weight there is nothing to measure
	 * (a run would only find no data). Flagger waits the same way.
	 */
	long long due = last > 0      ? last + x->an.interval_ms
	                : traffic > 0 ? traffic + x->an.interval_ms + x->an.initial_delay_ms
	                              : -1;
	int gate = (k < (long long)x->spec.nsteps && x->spec.steps[k].kind == STEP_ANALYSIS) ||
	           k >= (long long)x->spec.nsteps;
	if (gate && last < step_start)
		due = x->now; /* a gate wants a run of its own */
	if (json_object_get(x->st, "analysisHold"))
		due = -1; /* held: a person decides */
	if (due >= 0 && x->now >= due && (x->an.count == 0 || runs < x->an.count)) {
		const char *url = x->hooks ? x->hooks->prometheus_url : NULL;
		struct analysis_vars vars = {x->spec.namespace, x->spec.service,    x->canary_name,
		                             x->spec.target,    x->canary_pod_hash, x->stable_hash,
		                             x->spec.name};
		if ((rc = analysis_run(&v, why, sizeof(why), &x->an, url, &vars, a, x->now)) < 0)
			return rc;
		json_object_set_new(a, "lastMessage", json_string(why));
		if (v != ANALYSIS_PASSED)
			slog(SLOG_WARN, "rollout: analysis", "rollout", x->spec.name, "verdict",
			     analysis_verdict_name(v), "detail", why, NULL);
		due = x->now + x->an.interval_ms;
	}
	if (due >= 0)
		want_requeue(x, (long)(due - x->now > 0 ? due - x->now : 1000));
	runs = int_at(a, "runs", NULL);
	if (int_at(a, "failed", NULL) > x->an.failure_limit) {
		snprintf(reason, sizeof(reason), "analysis: %s (%lld of %lld runs failed)",
		         str_at(a, "lastMessage", NULL) ?: "", int_at(a, "failed", NULL), runs);
		if ((rc = roll_back(x, "RolledBack", reason)) < 0)
			return rc;
		return 1;
	}
	if (int_at(a, "consecutiveErrors", NULL) > x->an.consecutive_error_limit) {
		snprintf(
		    reason, sizeof(reason), "analysis: Prometheus failed %lld times in a row: %s",
		    int_at(a, "consecutiveErrors", NULL), str_at(a, "lastMessage", NULL) ?: "");
		if (x->an.on_error == ANALYSIS_ERROR_ROLLBACK) {
			if ((rc = roll_back(x, "RolledBack", reason)) < 0)
				return rc;
			return 1;
		}
		json_object_set_new(x->st, "analysisHold", json_string(reason));
	} else if (int_at(a, "inconclusive", NULL) > x->an.inconclusive_limit) {
		snprintf(reason, sizeof(reason), "analysis inconclusive: %s",
		         str_at(a, "lastMessage", NULL) ?: "");
		json_object_set_new(x->st, "analysisHold", json_string(reason));
	}
	if (json_object_get(x->st, "analysisHold")) {
		json_object_set_new(x->st, "phase", json_string("Paused"));
		say(x, "%s; promote to go on, or abort", str_at(x->st, "analysisHold", NULL));
		return 1;
	}
	return 0;
}

/*
 * Must a setWeight to `weight` wait? When it would send the canary more
 * traffic while the last analysis run errored (Prometheus unreachable,
 * failing) or found no data: no more traffic on no evidence, even before
 * consecutiveErrorLimit or inconclusiveLimit holds the rollout for a
 * person. The next run that passes (or fails) decides.
 */
static int weight_held(struct ctx *x, int weight)
{
	const char *v = str_at(json_object_get(x->st, "analysis"), "lastVerdict", NULL);
	long long now = int_at(x->st, "desiredWeight", NULL);
	/* from 0 the canary has no traffic to give evidence: the first weight goes */
	return x->an.enabled && v && now > 0 && weight > now &&
	       (strcmp(v, "Error") == 0 || strcmp(v, "Inconclusive") == 0);
}

/* May the rollout leave an analysis step or promote? Only after a passing run since. */
static int analysis_passed_since(struct ctx *x, long long since)
{
	const json_t *a = json_object_get(x->st, "analysis");
	return !x->an.enabled || (strcmp(str_at(a, "lastVerdict", NULL) ?: "", "Passed") == 0 &&
	                          int_at(a, "lastRunMs", NULL) >= since);
}

static int advance(struct ctx *x, const json_t *desired, const char *hash, const char *commit)
{
	int held;

	if (!json_is_true(json_object_get(x->st, "paused")) && (held = analysis_tick(x)) != 0)
		return held < 0 ? held : 0;
	for (int guard = 0; guard < ROLLOUT_MAX_STEPS + 2; guard++) {
		long long k = int_at(x->st, "currentStep", NULL);
		int rc;

		if (json_is_true(json_object_get(x->st, "paused"))) {
			json_object_set_new(x->st, "phase", json_string("Paused"));
			say(x, "paused by request at step %lld of %zu", k + 1, x->spec.nsteps);
			return 0;
		}
		if (k >= (long long)x->spec.nsteps ||
		    json_is_true(json_object_get(x->st, "promoteFull")) ||
		    json_object_get(x->st, "promotion")) {
			json_object_set_new(x->st, "phase", json_string("Progressing"));
			if (!json_object_get(x->st, "promotion") &&
			    !json_is_true(json_object_get(x->st, "promoteFull")) &&
			    !analysis_passed_since(
			        x, time_of(json_object_get(x->st, "stepStartTime")))) {
				say(x, "promotion waits for a passing analysis run");
				return analysis_tick(x) < 0 ? -1 : 0;
			}
			return promote(x, desired, hash, commit);
		}
		const struct rollout_step *s = &x->spec.steps[k];
		json_object_set_new(x->st, "phase", json_string("Progressing"));
		if (s->kind == STEP_SET_WEIGHT && weight_held(x, s->weight)) {
			const json_t *a = json_object_get(x->st, "analysis");
			say(x,
			    "step %lld of %zu: held at %lld%%: the last analysis run was %s (%s)",
			    k + 1, x->spec.nsteps, int_at(x->st, "desiredWeight", NULL),
			    str_at(a, "lastVerdict", NULL) ?: "",
			    str_at(a, "lastMessage", NULL) ?: "");
			return 0; /* analysis_tick() asked for a reconcile at the next run */
		}
		if (s->kind == STEP_SET_WEIGHT) {
			int need = traffic_canary_replicas(&x->t, s->weight);
			long long since = time_of(json_object_get(x->st, "stepStartTime"));
			if (x->spec.routing != TRAFFIC_REPLICAS && (rc = scale_canary(x, need)) < 0)
				return rc;
			if (x->spec.routing == TRAFFIC_REPLICAS &&
			    int_at(x->canary_dep, "spec", "replicas") < need &&
			    (rc = traffic_set_weight(x->c, &x->t, s->weight)) < 0)
				return rc;
			if (ready_of(x->canary_dep) < need) {
				if (since > 0 &&
				    x->now - since > x->spec.progress_deadline_s * 1000) {
					char why[200];
					snprintf(why, sizeof(why),
					         "progress deadline: %d of %d canary pods ready "
					         "after %ld s",
					         ready_of(x->canary_dep), need,
					         x->spec.progress_deadline_s);
					return roll_back(x, "RolledBack", why);
				}
				say(x, "step %lld of %zu: waiting for canary pods (%d of %d ready)",
				    k + 1, x->spec.nsteps, ready_of(x->canary_dep), need);
				want_requeue(x, POLL_MS);
				return 0;
			}
			if (x->spec.routing != TRAFFIC_REPLICAS) {
				x->t.canary_hash = x->canary_pod_hash;
				if ((rc = traffic_prepare(x->c, &x->t)) < 0 ||
				    (rc = traffic_set_weight(x->c, &x->t, s->weight)) < 0)
					return rc;
			}
			json_object_set_new(x->st, "desiredWeight", json_integer(s->weight));
			if (time_of(json_object_get(x->st, "trafficStartTime")) < 0)
				json_object_set_new(x->st, "trafficStartTime", time_str(x->now));
			event(x, "weight set", NULL);
			next_step(x);
			continue;
		}
		if (s->kind == STEP_PAUSE && s->duration_ms > 0) {
			long long start = time_of(json_object_get(x->st, "pauseStartTime"));
			if (start < 0) {
				json_object_set_new(x->st, "pauseStartTime", time_str(x->now));
				start = x->now;
			}
			long long left = start + s->duration_ms - x->now;
			if (left > 0) {
				/* the end, not a countdown: the status is written once per
				 * pause, and `sluice status` counts down from it */
				char until[CLOCK_TEXT_MAX];
				clock_format_ms(until, start + s->duration_ms);
				say(x, "step %lld of %zu: pause until %s", k + 1, x->spec.nsteps,
				    until);
				want_requeue(x, left < 30000 ? left : 30000);
				return 0;
			}
			next_step(x);
			continue;
		}
		if (s->kind == STEP_ANALYSIS && x->an.enabled) {
			if (analysis_passed_since(
			        x, time_of(json_object_get(x->st, "stepStartTime")))) {
				next_step(x);
				continue;
			}
			if ((rc = analysis_tick(x)) != 0)
				return rc < 0 ? rc : 0;
			if (analysis_passed_since(
			        x, time_of(json_object_get(x->st, "stepStartTime")))) {
				next_step(x);
				continue;
			}
			say(x, "step %lld of %zu: waiting for a passing analysis run", k + 1,
			    x->spec.nsteps);
			return 0;
		}
		/* pause {} waits for a person; analysis without settings does too */
		json_object_set_new(x->st, "phase", json_string("Paused"));
		say(x, "step %lld of %zu: %s", k + 1, x->spec.nsteps,
		    s->kind == STEP_PAUSE
		        ? "waiting for promote"
		        : "analysis steps need the analysis engine; promote to go on");
		return 0;
	}
	return 0;
}

static int reconcile(struct ctx *x)
{
	const char *desired_text, *desired_commit, *stable_text;
	json_t *desired = NULL, *stable = NULL;
	char dhash[2 * SYNC_HASH_BYTES + 1], shash[2 * SYNC_HASH_BYTES + 1];
	json_error_t jerr;
	int rc;

	if ((rc = get_deployment(x, x->spec.target, &x->stable_dep)) < 0)
		return rc;
	if (!x->stable_dep) {
		json_object_set_new(x->st, "phase", json_string("Degraded"));
		say(x, "Deployment %s/%s not found", x->spec.namespace, x->spec.target);
		want_requeue(x, 10000);
		return 0;
	}
	if ((rc = get_deployment(x, x->canary_name, &x->canary_dep)) < 0)
		return rc;
	x->t.replicas = (int)int_at(x->stable_dep, "spec", "replicas");
	if (!json_object_get(json_object_get(x->stable_dep, "spec"), "replicas"))
		x->t.replicas = 1;
	if ((rc = pod_hash(x, x->stable_dep, x->stable_hash, sizeof(x->stable_hash))) < 0 ||
	    (x->canary_dep &&
	     (rc = pod_hash(x, x->canary_dep, x->canary_pod_hash, sizeof(x->canary_pod_hash))) < 0))
		return rc;
	x->t.stable_hash = x->stable_hash;
	x->t.canary_hash = x->canary_pod_hash;

	stable_text = note(x->stable_dep, SYNC_ANNOTATION_STABLE);
	desired_text = note(x->stable_dep, SYNC_ANNOTATION_DESIRED);
	desired_commit = note(x->stable_dep, SYNC_ANNOTATION_DESIRED_COMMIT) ?: "";
	if (!stable_text) {
		json_object_set_new(x->st, "phase", json_string("Healthy"));
		say(x, "waiting for the first sync of Deployment %s", x->spec.target);
		return 0;
	}
	stable = json_loads(stable_text, 0, &jerr);
	desired = desired_text ? json_loads(desired_text, 0, &jerr) : json_incref(stable);
	if (!stable || !desired || sync_hash(shash, stable) < 0 || sync_hash(dhash, desired) < 0) {
		json_decref(stable);
		json_decref(desired);
		return sluice_error_set(SLUICE_EINVALID, "Deployment %s: unreadable %s annotations",
		                        x->spec.target, "sluice.dev/*-template");
	}
	if (!json_object_get(x->st, "stable"))
		json_object_set_new(
		    x->st, "stable",
		    json_pack("{s:s, s:s, s:s}", "hash", shash, "commit",
		              note(x->stable_dep, SYNC_ANNOTATION_STABLE_COMMIT) ?: "", "podHash",
		              x->stable_hash));
	if ((rc = act(x)) < 0)
		goto out;

	const char *running = str_at(x->st, "canary", "hash");
	const char *failed = str_at(x->st, "failed", "hash");
	if (strcmp(dhash, shash) == 0 && !json_object_get(x->st, "promotion")) {
		/* nothing new in Git (or Git went back to stable mid-rollout) */
		const char *phase = str_at(x->st, "phase", NULL) ?: "";
		if (running && *running &&
		    (strcmp(phase, "Progressing") == 0 || strcmp(phase, "Paused") == 0)) {
			if ((rc = roll_back(x, "Aborted", "Git returned to the stable template")) <
			    0)
				goto out;
		}
		json_object_del(x->st, "failed"); /* Git agrees with the cluster again */
		json_object_del(x->st, "canary");
		json_object_set_new(x->st, "phase", json_string("Healthy"));
		say(x, "stable runs %.12s", str_at(x->st, "stable", "commit") ?: "");
		if (json_object_get(x->st, "scaleDownAt") && (rc = canary_retire(x)) < 0)
			goto out;
		goto weights;
	}
	if (failed && strcmp(failed, dhash) == 0) {
		/* remembered: Git still names the template that failed; never re-applied
		 * (its pods go once the delay after the rollback has passed) */
		if ((rc = canary_retire(x)) < 0)
			goto out;
		goto weights;
	}
	if (!running || strcmp(running, dhash) != 0) {
		if ((rc = begin(x, desired, dhash, desired_commit)) < 0)
			goto out;
		json_decref(x->canary_dep);
		x->canary_dep = NULL;
		if ((rc = get_deployment(x, x->canary_name, &x->canary_dep)) < 0)
			goto out;
	}
	rc = advance(x, desired, dhash, desired_commit);
weights:
	if (rc == 0 && x->canary_dep) {
		int w = 0;
		if (traffic_read_weight(x->c, &x->t, &w) == 0) {
			json_object_set_new(x->st, "actualWeight", json_integer(w));
			/* the canary's pods are still going (replicas routing counts
			 * ready pods): look again until the status says they are gone */
			if (w > 0 &&
			    json_integer_value(json_object_get(x->st, "desiredWeight")) == 0)
				want_requeue(x, POLL_MS);
		}
	}
out:
	json_decref(stable);
	json_decref(desired);
	return rc;
}

/*
 * A merge patch removes what it sets to null, at every depth: in `patch` (a
 * copy of the new status), each key `old` has and the new status has not
 * becomes null, and objects on both sides are compared the same way (a
 * replaced analysis or canary must not keep the old one's fields).
 */
static void null_removed(json_t *patch, const json_t *old)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)old, k, v)
	{
		json_t *now = json_object_get(patch, k);
		if (!now)
			json_object_set_new(patch, k, json_null());
		else if (json_is_object(now) && json_is_object(v))
			null_removed(now, v);
	}
}

int rollout_reconcile(struct kube_client *c, const json_t *rollout, long *requeue_ms,
                      const struct rollout_hooks *hooks)
{
	struct ctx x;
	struct diag errs;
	const json_t *old = json_object_get(rollout, "status");
	json_t *policy = NULL;
	int rc;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.hooks = hooks;
	x.ro = rollout;
	x.now = clock_now_ms();
	x.requeue = -1;
	x.st = json_is_object(old) ? json_deep_copy(old) : json_object();
	diag_init(&errs);
	const char *ns = str_at(rollout, "metadata", "namespace");
	const char *pname = str_at(json_object_get(rollout, "spec"), "policyRef", "name");
	if (pname) {
		struct kube_ref pref = {ROLLOUT_API, "CanaryPolicy", ns, pname};
		rc = kube_get(c, &policy, &pref);
		if (rc < 0 && rc != SLUICE_ENOTFOUND)
			goto write;
	}
	if ((rc = rollout_spec_read(&x.spec, rollout, policy, &errs)) < 0) {
		json_object_set_new(x.st, "phase", json_string("Degraded"));
		say(&x, "%s", errs.count ? errs.msgs[0] : sluice_error_last());
		rc = 0;
		goto write;
	}
	{
		const json_t *an = json_object_get(json_object_get(rollout, "spec"), "analysis");
		char where[600];
		if (!an)
			an = json_object_get(json_object_get(policy, "spec"), "analysis");
		snprintf(where, sizeof(where), "%s %s/%s: spec",
		         json_object_get(json_object_get(rollout, "spec"), "analysis")
		             ? "Rollout"
		             : "CanaryPolicy",
		         ns ? ns : "",
		         json_object_get(json_object_get(rollout, "spec"), "analysis")
		             ? str_at(rollout, "metadata", "name") ?: ""
		         : pname ? pname
		                 : "");
		if (analysis_spec_read(&x.an, an, where, &errs) < 0) {
			json_object_set_new(x.st, "phase", json_string("Degraded"));
			say(&x, "%s", errs.count ? errs.msgs[0] : sluice_error_last());
			rc = 0;
			goto write;
		}
	}
	snprintf(x.canary_name, sizeof(x.canary_name), "%s-canary", x.spec.target);
	x.t.kind = x.spec.routing;
	x.t.namespace = x.spec.namespace;
	x.t.service = x.spec.service;
	x.t.route = x.spec.route;
	x.t.canary = x.canary_name;
	json_object_set_new(x.st, "stepCount", json_integer((json_int_t)x.spec.nsteps));
	rc = reconcile(&x);
	if (rc < 0) {
		say(&x, "%s", sluice_error_last());
		want_requeue(&x, 5000);
	}
write:
	json_object_set_new(x.st, "observedGeneration",
	                    json_integer(int_at(rollout, "metadata", "generation")));
	if (!old || !json_equal(x.st, (json_t *)old)) {
		char *patch = NULL;
		json_t *body = json_pack("{s:o}", "status", json_deep_copy(x.st));
		if (body)
			null_removed(json_object_get(body, "status"), old);
		struct kube_ref ref = {ROLLOUT_API, "Rollout", ns,
		                       str_at(rollout, "metadata", "name")};
		int wrc = body ? jsonfmt_dump(&patch, body, JSONFMT_COMPACT) : SLUICE_ENOMEM;
		json_decref(body);
		if (wrc == 0)
			wrc = kube_patch(c, NULL, &ref, KUBE_PATCH_MERGE, patch, "status", 0);
		free(patch);
		if (wrc < 0 && rc == 0)
			rc = wrc;
	}
	rollout_metrics(ns, str_at(rollout, "metadata", "name"), old, x.st);
	if (requeue_ms)
		*requeue_ms = x.requeue;
	json_decref(policy);
	json_decref(x.st);
	json_decref(x.stable_dep);
	json_decref(x.canary_dep);
	rollout_spec_dispose(&x.spec);
	analysis_spec_dispose(&x.an);
	diag_dispose(&errs);
	return rc;
}
