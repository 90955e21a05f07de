/*
 * Canary analysis: metrics read from Prometheus and judged against absolute
 * thresholds, in the background through a rollout's steps (and as a gate at
 * an `analysis` step and before promotion). The settings come from the
 * Rollout's or its CanaryPolicy's spec.analysis:
 *
 *   analysis:
 *     prometheus: {address: http://prometheus:9090}   # default: sluiced --prometheus-url
 *     interval: 1m            # between runs (default 1m)
 *     initialDelay: 0s        # before the first run
 *     count: 0                # runs at most (0: until the rollout ends)
 *     failureLimit: 0         # failed runs tolerated; one more rolls back
 *     inconclusiveLimit: 0    # inconclusive runs tolerated; one more pauses for a person
 *     consecutiveErrorLimit: 4  # provider errors in a row tolerated; then onError
 *     onError: pause          # pause (default) | rollback; never promote
 *     noData: inconclusive    # fail | inconclusive (default) | pass
 *     metrics:
 *       - name: error-rate
 *         query:
 * sum(rate(http_requests_total{namespace="{{namespace}}",code=~"5.."}[{{interval}}])) / ... max:
 * 0.01           # and/or min unit: ratio
 *
 * Query variables (promql_render, values escaped inside string literals):
 * {{namespace}}, {{service}}, {{canary}} and {{stable}} (the Deployments),
 * {{canaryHash}} and {{stableHash}} (their pods' pod-template-hash),
 * {{interval}} (the run interval as a PromQL duration).
 *
 * A run's verdict: failed when any metric is outside its threshold (NaN and
 * an empty result count as noData says; +Inf/-Inf as a number), inconclusive
 * when none failed and some had no data, an error when Prometheus could not
 * answer for any metric, else passed. The runs are counted in the Rollout's
 * status.analysis with the newest measurements (time, metric, the query as
 * sent, value, verdict), bounded.
 */
#ifndef SLUICE_ANALYSIS_H
#define SLUICE_ANALYSIS_H

#include <jansson.h>

#include "sluice/diag.h"

#define ANALYSIS_MAX_METRICS      16
#define ANALYSIS_MAX_MEASUREMENTS 20

enum analysis_on { ANALYSIS_ON_FAIL = 0, ANALYSIS_ON_INCONCLUSIVE, ANALYSIS_ON_PASS };
enum analysis_on_error { ANALYSIS_ERROR_PAUSE = 0, ANALYSIS_ERROR_ROLLBACK };

/*
 * A metric may also be judged against the stable version (`judge:`): its
 * query (the canary's) and `baseline` (the stable's) are read as series over
 * the last `lookback` (default 5m, 30 points), and a Mann-Whitney test
 * (judge.h) says whether the canary is worse than stable beyond the noise,
 * in `direction` (increase, the default: higher is worse | decrease |
 * either), at `confidence` (0.98) with `tolerance` (0.25). So an incident
 * that hits stable as hard as the canary does not fail an innocent canary,
 * and a canary clearly worse than stable fails below any fixed threshold.
 * max/min are optional when a judge is set.
 */
struct analysis_metric {
	char *name;
	char *query;
	double max, min; /* NAN when unset */
	char *unit;
	char *baseline; /* the judge's stable query, or NULL: no judge */
	int direction;  /* enum judge_direction */
	double confidence, tolerance;
	long lookback_ms;
};

struct analysis_spec {
	int enabled;
	char *address; /* or NULL: the controller's default */
	long interval_ms, initial_delay_ms;
	long count, failure_limit, inconclusive_limit, consecutive_error_limit;
	enum analysis_on no_data;
	enum analysis_on_error on_error;
	struct analysis_metric metrics[ANALYSIS_MAX_METRICS];
	size_t nmetrics;
};

/*
 * Read spec.analysis (`a` may be NULL: not enabled). Problems go to errs as
 * "WHERE.analysis.metrics[1].max: ..."; returns 0 or SLUICE_EINVALID.
 */
int analysis_spec_read(struct analysis_spec *out, const json_t *a, const char *where,
                       struct diag *errs);
void analysis_spec_dispose(struct analysis_spec *s);

enum analysis_verdict {
	ANALYSIS_PASSED = 0,
	ANALYSIS_FAILED,
	ANALYSIS_INCONCLUSIVE,
	ANALYSIS_ERROR
};
const char *analysis_verdict_name(enum analysis_verdict v);

struct analysis_vars {
	const char *namespace, *service, *canary, *stable, *canary_hash, *stable_hash;
	const char *rollout; /* the Rollout's name (a label of the exported metrics) */
};

/*
 * One run of every metric now (Prometheus at a->address, else `url`).
 * `state` is status.analysis (an object, updated in place: runs, failed,
 * inconclusive, consecutiveErrors, lastRun, lastVerdict, measurements).
 * *why gets a one-line account of the worst metric, e.g.
 * "error-rate 0.214 > max 0.01". Returns 0 (the verdict in *v) or an error
 * in the settings (no Prometheus address).
 */
int analysis_run(enum analysis_verdict *v, char *why, size_t whyn, const struct analysis_spec *a,
                 const char *url, const struct analysis_vars *vars, json_t *state,
                 long long now_ms);

#endif
