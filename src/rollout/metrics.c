/*
 * A Rollout's status as controller metrics: where it is (phase, step,
 * weights) and what it delivered (rollouts by result, lead time and time to
 * recovery, the DORA figures `sluice stats` computes from the same history).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sluice/clock.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/rollout.h"

static const char *const phases[] = {"Healthy",    "Progressing", "Paused",
                                     "RolledBack", "Aborted",     "Degraded"};
#define NPHASES (sizeof(phases) / sizeof(phases[0]))

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void declare(void)
{
	static const double lead[] = {60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400};
	static const double recovery[] = {60, 300, 600, 1800, 3600, 4 * 3600, 86400};
	struct metrics *m = metrics_default();
	const char *const who[] = {"namespace", "rollout", NULL};

	if (!m ||
	    metrics_family(m, METRICS_GAUGE, "sluice_rollout_phase",
	                   "1 for the Rollout's phase, 0 for the others.",
	                   (const char *const[]){"namespace", "rollout", "phase", NULL}) < 0 ||
	    metrics_family(m, METRICS_GAUGE, "sluice_rollout_step",
	                   "The step the Rollout is at (0: none running).", who) < 0 ||
	    metrics_family(m, METRICS_GAUGE, "sluice_rollout_weight",
	                   "The canary's traffic weight: desired, and actual (read back).",
	                   (const char *const[]){"namespace", "rollout", "kind", NULL}) < 0 ||
	    metrics_family(m, METRICS_COUNTER, "sluice_rollouts_total",
	                   "Rollouts ended, by result (Promoted, RolledBack, Aborted, Superseded).",
	                   (const char *const[]){"namespace", "rollout", "result", NULL}) < 0 ||
	    metrics_histogram(m, "sluice_rollout_lead_time_seconds",
	                      "From a promoted commit's time to its promotion.", who, lead,
	                      sizeof(lead) / sizeof(lead[0])) < 0 ||
	    metrics_histogram(m, "sluice_rollout_recovery_seconds",
	                      "From a failed rollout's end to the next promotion's end.", who,
	                      recovery, sizeof(recovery) / sizeof(recovery[0])) < 0)
		slog(SLOG_DEBUG, "rollout: metrics not declared", "error", sluice_error_last(),
		     NULL);
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* entries of `now`'s history that `old`'s history does not have (newest first) */
static size_t new_entries(const json_t *old, const json_t *now)
{
	const json_t *oh = json_object_get(old, "history"), *nh = json_object_get(now, "history");
	const char *last = str(json_array_get(oh, 0), "end");
	size_t n = 0;

	while (n < json_array_size(nh)) {
		const char *end = str(json_array_get(nh, n), "end");
		if (last && end && strcmp(last, end) == 0)
			break;
		n++;
	}
	return n;
}

void rollout_metrics(const char *ns, const char *name, const json_t *old, const json_t *now)
{
	struct metrics *m = metrics_default();
	const char *phase = str(now, "phase");
	char msg[SLUICE_ERROR_MSG_MAX];

	if (!m || !ns || !name)
		return;
	snprintf(msg, sizeof(msg), "%s", sluice_error_last());
	pthread_once(&once, declare);
	for (size_t i = 0; i < NPHASES; i++)
		metrics_set(m, "sluice_rollout_phase",
		            (const char *const[]){ns, name, phases[i], NULL},
		            phase && strcmp(phase, phases[i]) == 0 ? 1 : 0);
	metrics_set(m, "sluice_rollout_step", (const char *const[]){ns, name, NULL},
	            (double)json_integer_value(json_object_get(now, "currentStep")));
	metrics_set(m, "sluice_rollout_weight", (const char *const[]){ns, name, "desired", NULL},
	            (double)json_integer_value(json_object_get(now, "desiredWeight")));
	metrics_set(m, "sluice_rollout_weight", (const char *const[]){ns, name, "actual", NULL},
	            (double)json_integer_value(json_object_get(now, "actualWeight")));
	/* each rollout that ended since the last status, oldest first */
	const json_t *h = json_object_get(now, "history");
	for (size_t i = new_entries(old, now); i-- > 0;) {
		const json_t *e = json_array_get(h, i), *before = json_array_get(h, i + 1);
		const char *result = str(e, "result");
		long long end = clock_parse(str(e, "end"));
		if (!result)
			continue;
		metrics_add(m, "sluice_rollouts_total",
		            (const char *const[]){ns, name, result, NULL}, 1);
		if (strcmp(result, "Promoted") != 0 || end <= 0)
			continue;
		long long committed = clock_parse(str(e, "commitTime"));
		if (committed > 0 && committed <= end)
			metrics_observe(m, "sluice_rollout_lead_time_seconds",
			                (const char *const[]){ns, name, NULL},
			                (double)(end - committed) / 1000.0);
		const char *prev = str(before, "result");
		long long failed_at = clock_parse(str(before, "end"));
		if (prev && (strcmp(prev, "RolledBack") == 0 || strcmp(prev, "Aborted") == 0) &&
		    failed_at > 0 && failed_at <= end)
			metrics_observe(m, "sluice_rollout_recovery_seconds",
			                (const char *const[]){ns, name, NULL},
			                (double)(end - failed_at) / 1000.0);
	}
	sluice_error_set(sluice_error_last_code(), "%s", msg); /* as it was */
}
