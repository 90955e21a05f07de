/* Health rules per kind; anything without rules is Healthy once it exists. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/health.h"

const char *health_name(enum health h)
{
	static const char *const names[] = {"Healthy", "Suspended", "Progressing", "Missing",
	                                    "Degraded"};
	return names[h];
}

static json_int_t num(const json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

/* The condition of `type` in status.conditions, or NULL. */
static const json_t *condition(const json_t *o, const char *type)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(json_object_get(o, "status"), "conditions"), i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));
		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

static int cond_is(const json_t *o, const char *type, const char *status)
{
	const json_t *c = condition(o, type);
	const char *s = json_string_value(json_object_get(c, "status"));
	return s && strcmp(s, status) == 0;
}

static enum health said(char *msg, size_t n, enum health h, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum health said(char *msg, size_t n, enum health h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, n, fmt, ap);
	va_end(ap);
	return h;
}

/* A sluice Rollout: a rolled-back or aborted commit makes the app Degraded, naming it. */
static enum health rollout(const json_t *o, char *msg, size_t n)
{
	const json_t *st = json_object_get(o, "status");
	const char *phase = json_string_value(json_object_get(st, "phase"));
	const char *text = json_string_value(json_object_get(st, "message"));
	const json_t *failed = json_object_get(st, "failed");

	if (!phase)
		return said(msg, n, HEALTH_PROGRESSING, "not reconciled yet");
	if (strcmp(phase, "Healthy") == 0)
		return HEALTH_HEALTHY;
	if (strcmp(phase, "RolledBack") == 0 || strcmp(phase, "Aborted") == 0)
		return said(msg, n, HEALTH_DEGRADED, "%s: %.12s %s", phase,
		            json_string_value(json_object_get(failed, "commit")) ?: "",
		            json_string_value(json_object_get(failed, "reason")) ?: "");
	if (strcmp(phase, "Paused") == 0)
		return said(msg, n, HEALTH_SUSPENDED, "%s", text ? text : "paused");
	if (strcmp(phase, "Degraded") == 0)
		return said(msg, n, HEALTH_DEGRADED, "%s", text ? text : "degraded");
	return said(msg, n, HEALTH_PROGRESSING, "%s", text ? text : phase);
}

static enum health deployment(const json_t *o, char *msg, size_t n)
{
	json_int_t want = json_object_get(json_object_get(o, "spec"), "replicas")
	                      ? num(o, "spec", "replicas")
	                      : 1;
	const json_t *prog = condition(o, "Progressing");
	const char *reason = json_string_value(json_object_get(prog, "reason"));

	if (json_is_true(json_object_get(json_object_get(o, "spec"), "paused")))
		return said(msg, n, HEALTH_SUSPENDED, "paused");
	if (num(o, "metadata", "generation") > num(o, "status", "observedGeneration"))
		return said(msg, n, HEALTH_PROGRESSING, "waiting for the controller");
	if (reason && strcmp(reason, "ProgressDeadlineExceeded") == 0)
		return said(msg, n, HEALTH_DEGRADED,
		            "progress deadline exceeded: %lld of %lld available",
		            num(o, "status", "availableReplicas"), want);
	if (num(o, "status", "updatedReplicas") < want)
		return said(msg, n, HEALTH_PROGRESSING, "%lld of %lld replicas updated",
		            num(o, "status", "updatedReplicas"), want);
	if (num(o, "status", "replicas") > num(o, "status", "updatedReplicas"))
		return said(msg, n, HEALTH_PROGRESSING, "%lld old replicas pending termination",
		            (long long)(num(o, "status", "replicas") -
		                        num(o, "status", "updatedReplicas")));
	if (num(o, "status", "availableReplicas") < want)
		return said(msg, n, HEALTH_PROGRESSING, "%lld of %lld replicas available",
		            num(o, "status", "availableReplicas"), want);
	return HEALTH_HEALTHY;
}

static enum health statefulset(const json_t *o, char *msg, size_t n)
{
	json_int_t want = json_object_get(json_object_get(o, "spec"), "replicas")
	                      ? num(o, "spec", "replicas")
	                      : 1;
	const char *cur =
	    json_string_value(json_object_get(json_object_get(o, "status"), "currentRevision"));
	const char *upd =
	    json_string_value(json_object_get(json_object_get(o, "status"), "updateRevision"));

	if (num(o, "metadata", "generation") > num(o, "status", "observedGeneration"))
		return said(msg, n, HEALTH_PROGRESSING, "waiting for the controller");
	if (num(o, "status", "readyReplicas") < want)
		return said(msg, n, HEALTH_PROGRESSING, "%lld of %lld replicas ready",
		            num(o, "status", "readyReplicas"), want);
	if (cur && upd && strcmp(cur, upd) != 0)
		return said(msg, n, HEALTH_PROGRESSING, "rolling update in progress");
	return HEALTH_HEALTHY;
}

static enum health daemonset(const json_t *o, char *msg, size_t n)
{
	json_int_t want = num(o, "status", "desiredNumberScheduled");

	if (num(o, "metadata", "generation") > num(o, "status", "observedGeneration"))
		return said(msg, n, HEALTH_PROGRESSING, "waiting for the controller");
	if (num(o, "status", "updatedNumberScheduled") < want ||
	    num(o, "status", "numberAvailable") < want)
		return said(msg, n, HEALTH_PROGRESSING, "%lld of %lld pods available",
		            num(o, "status", "numberAvailable"), want);
	return HEALTH_HEALTHY;
}

json_t *health_view(const json_t *live)
{
	/* every field a rule above or below reads: keep this list with them */
	static const char *const top[] = {"kind", "apiVersion", "status"};
	static const char *const meta[] = {"name", "namespace", "generation", "resourceVersion",
	                                   "deletionTimestamp"};
	static const char *const spec[] = {"replicas", "paused", "type", "suspend"};
	const json_t *m = json_object_get(live, "metadata"), *s = json_object_get(live, "spec");
	json_t *v = json_object(), *vm = json_object(), *vs = json_object();

	if (!v || !vm || !vs || json_object_set_new(v, "metadata", vm) < 0 ||
	    json_object_set_new(v, "spec", vs) < 0) {
		json_decref(v);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(top) / sizeof(*top); i++)
		if (json_object_get(live, top[i]))
			json_object_set(v, top[i], json_object_get(live, top[i]));
	for (size_t i = 0; i < sizeof(meta) / sizeof(*meta); i++)
		if (json_object_get(m, meta[i]))
			json_object_set(vm, meta[i], json_object_get(m, meta[i]));
	for (size_t i = 0; i < sizeof(spec) / sizeof(*spec); i++)
		if (json_object_get(s, spec[i]))
			json_object_set(vs, spec[i], json_object_get(s, spec[i]));
	return v;
}

enum health health_of(const json_t *o, char *msg, size_t n)
{
	const char *kind = json_string_value(json_object_get(o, "kind"));
	const json_t *st = json_object_get(o, "status");
	const char *phase = json_string_value(json_object_get(st, "phase"));

	msg[0] = '\0';
	if (!o)
		return HEALTH_MISSING;
	if (json_object_get(json_object_get(o, "metadata"), "deletionTimestamp"))
		return said(msg, n, HEALTH_PROGRESSING, "being deleted");
	if (!kind)
		return HEALTH_HEALTHY;
	if (strcmp(kind, "Deployment") == 0)
		return deployment(o, msg, n);
	if (strcmp(kind, "Rollout") == 0)
		return rollout(o, msg, n);
	if (strcmp(kind, "StatefulSet") == 0)
		return statefulset(o, msg, n);
	if (strcmp(kind, "DaemonSet") == 0)
		return daemonset(o, msg, n);
	if (strcmp(kind, "Job") == 0) {
		if (cond_is(o, "Failed", "True"))
			return said(msg, n, HEALTH_DEGRADED, "job failed");
		if (cond_is(o, "Complete", "True"))
			return HEALTH_HEALTHY;
		if (json_is_true(json_object_get(json_object_get(o, "spec"), "suspend")))
			return said(msg, n, HEALTH_SUSPENDED, "suspended");
		return said(msg, n, HEALTH_PROGRESSING, "running");
	}
	if (strcmp(kind, "CustomResourceDefinition") == 0)
		return cond_is(o, "Established", "True")
		           ? HEALTH_HEALTHY
		           : said(msg, n, HEALTH_PROGRESSING, "not established yet");
	if (strcmp(kind, "PersistentVolumeClaim") == 0) {
		if (phase && strcmp(phase, "Bound") == 0)
			return HEALTH_HEALTHY;
		if (phase && strcmp(phase, "Lost") == 0)
			return said(msg, n, HEALTH_DEGRADED, "volume lost");
		return said(msg, n, HEALTH_PROGRESSING, "not bound yet");
	}
	if (strcmp(kind, "Service") == 0) {
		const char *type =
		    json_string_value(json_object_get(json_object_get(o, "spec"), "type"));
		if (type && strcmp(type, "LoadBalancer") == 0 &&
		    json_array_size(
		        json_object_get(json_object_get(st, "loadBalancer"), "ingress")) == 0)
			return said(msg, n, HEALTH_PROGRESSING, "waiting for a load balancer");
		return HEALTH_HEALTHY;
	}
	if (strcmp(kind, "Pod") == 0) {
		if (phase && strcmp(phase, "Failed") == 0)
			return said(msg, n, HEALTH_DEGRADED, "pod failed");
		if (phase && strcmp(phase, "Succeeded") == 0)
			return HEALTH_HEALTHY;
		if (phase && strcmp(phase, "Running") == 0 && cond_is(o, "Ready", "True"))
			return HEALTH_HEALTHY;
		return said(msg, n, HEALTH_PROGRESSING, "not ready");
	}
	return HEALTH_HEALTHY;
}
