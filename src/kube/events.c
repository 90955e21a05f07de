/* Kubernetes Events about an object (kube.h: kube_record_event). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/log.h"
#include "sluice/notify.h"

static const char *meta_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

int kube_record_event(struct kube_client *c, const json_t *obj, int warning, const char *reason,
                      const char *message)
{
	char ts[32], clean[1100], prefix[300], why[128];
	size_t k = 0;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	/* a reason is CamelCase: "rollout started" -> "RolloutStarted" */
	for (int up = 1; reason && *reason && k + 1 < sizeof(why); reason++) {
		if (!isalnum((unsigned char)*reason)) {
			up = 1;
			continue;
		}
		why[k++] = up ? (char)toupper((unsigned char)*reason) : *reason;
		up = 0;
	}
	why[k] = '\0';
	slog_redact(clean, sizeof(clean), message ? message : "");
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(prefix, sizeof(prefix), "%.250s.", meta_str(obj, "name") ?: "sluice");
	json_t *ev = json_pack(
	    "{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s}, s:s, "
	    "s:s, s:i}",
	    "apiVersion", "v1", "kind", "Event", "metadata", "generateName", prefix, "namespace",
	    meta_str(obj, "namespace") ?: "default", "involvedObject", "apiVersion",
	    json_string_value(json_object_get(obj, "apiVersion")) ?: "", "kind",
	    json_string_value(json_object_get(obj, "kind")) ?: "", "name",
	    meta_str(obj, "name") ?: "", "namespace", meta_str(obj, "namespace") ?: "", "uid",
	    meta_str(obj, "uid") ?: "", "reason", k ? why : "Unknown", "message", clean, "type",
	    warning ? "Warning" : "Normal", "source", "component", "sluiced", "firstTimestamp", ts,
	    "lastTimestamp", ts, "count", 1);
	if (!ev)
		return SLUICE_ENOMEM;
	struct notify_event n = {json_string_value(json_object_get(obj, "kind")),
	                         meta_str(obj, "namespace"),
	                         meta_str(obj, "name"),
	                         warning,
	                         k ? why : "Unknown",
	                         clean};
	notify_event(&n);
	rc = kube_create(c, NULL, ev, 0);
	if (rc < 0)
		slog(SLOG_WARN, "cannot record an Event", "error", sluice_error_last(), NULL);
	json_decref(ev);
	return rc;
}
