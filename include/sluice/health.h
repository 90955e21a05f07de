/*
 * Health of live objects, as Argo CD users know it: Healthy, Progressing,
 * Degraded, Suspended or Missing, with a one-line reason.
 */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stddef.h>

#include <jansson.h>

enum health {
	HEALTH_HEALTHY = 0,
	HEALTH_SUSPENDED,
	HEALTH_PROGRESSING,
	HEALTH_MISSING,
	HEALTH_DEGRADED
};

/* The health of `live` (NULL: Missing); the reason, when there is one, in msg. */
enum health health_of(const json_t *live, char *msg, size_t n);

/*
 * What health_of() reads of `live`, as a new object (NULL out of memory):
 * kind, apiVersion, metadata's name, namespace, generation, resourceVersion
 * and deletionTimestamp, the few spec fields the rules look at, and status.
 * health_of() says the same of it as of `live`; the sync memo keeps this,
 * not whole live objects (a ConfigMap's data, a pod template).
 */
json_t *health_view(const json_t *live);

/* "Healthy", "Progressing", ... */
const char *health_name(enum health h);

#endif
