/* Canary analysis settings and runs against absolute thresholds (analysis.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/analysis.h"
#include "sluice/clock.h"
#include "sluice/error.h"
#include "sluice/judge.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/prom.h"
#include "sluice/rollout.h"

const char *analysis_verdict_name(enum analysis_verdict v)
{
	static const char *const names[] = {"Passed", "Failed", "Inconclusive", "Error"};
	return names[v];
}

void analysis_spec_dispose(struct analysis_spec *s)
{
	if (!s)
		return;
	free(s->address);
	for (size_t i = 0; i < s->nmetrics; i++) {
		free(s->metrics[i].name);
		free(s->metrics[i].query);
		free(s->metrics[i].unit);
		free(s->metrics[i].baseline);
	}
	memset(s, 0, sizeof(*s));
}

static long duration_of(const json_t *v, long dflt, const char *where, const char *field,
                        struct diag *errs, int *bad)
{
	long ms;
	if (!v)
		return dflt;
	if (!json_is_string(v) || (ms = rollout_parse_duration(json_string_value(v))) < 0) {
		diag_add(errs, "%s.analysis.%s: is not a duration (use e.g. 30s, 1m)", where,
		         field);
		*bad = 1;
		return dflt;
	}
	return ms;
}

static long count_of(const json_t *v, long dflt, long lo, const char *where, const char *field,
                     struct diag *errs, int *bad)
{
	if (!v)
		return dflt;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > 1000000) {
		diag_add(errs, "%s.analysis.%s: wants a whole number from %ld", where, field, lo);
		*bad = 1;
		return dflt;
	}
	return (long)json_integer_value(v);
}

int analysis_spec_read(struct analysis_spec *out, const json_t *a, const char *where,
                       struct diag *errs)
{
	const json_t *ms, *m;
	const char *s;
	size_t i;
	int bad = 0;

	memset(out, 0, sizeof(*out));
	out->interval_ms = 60000;
	out->consecutive_error_limit = 4;
	out->no_data = ANALYSIS_ON_INCONCLUSIVE;
	if (!a)
		return 0;
	if (!json_is_object(a)) {
		diag_add(errs, "%s.analysis: must be an object", where);
		return SLUICE_EINVALID;
	}
	out->enabled = 1;
	s = json_string_value(json_object_get(json_object_get(a, "prometheus"), "address"));
	if (s && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
		diag_add(errs, "%s.analysis.prometheus.address: wants an http:// or https:// URL",
		         where);
		bad = 1;
	} else if (s) {
		out->address = strdup(s);
	}
	out->interval_ms =
	    duration_of(json_object_get(a, "interval"), 60000, where, "interval", errs, &bad);
	if (out->interval_ms < 1000) {
		diag_add(errs, "%s.analysis.interval: at least 1s", where);
		bad = 1;
	}
	out->initial_delay_ms =
	    duration_of(json_object_get(a, "initialDelay"), 0, where, "initialDelay", errs, &bad);
	out->count = count_of(json_object_get(a, "count"), 0, 0, where, "count", errs, &bad);
	out->failure_limit =
	    count_of(json_object_get(a, "failureLimit"), 0, 0, where, "failureLimit", errs, &bad);
	out->inconclusive_limit = count_of(json_object_get(a, "inconclusiveLimit"), 0, 0, where,
	                                   "inconclusiveLimit", errs, &bad);
	out->consecutive_error_limit = count_of(json_object_get(a, "consecutiveErrorLimit"), 4, 0,
	                                        where, "consecutiveErrorLimit", errs, &bad);
	if ((s = json_string_value(json_object_get(a, "noData")))) {
		if (strcmp(s, "fail") == 0)
			out->no_data = ANALYSIS_ON_FAIL;
		else if (strcmp(s, "pass") == 0)
			out->no_data = ANALYSIS_ON_PASS;
		else if (strcmp(s, "inconclusive") != 0) {
			diag_add(errs, "%s.analysis.noData: fail, inconclusive or pass", where);
			bad = 1;
		}
	}
	if ((s = json_string_value(json_object_get(a, "onError")))) {
		if (strcmp(s, "rollback") == 0)
			out->on_error = ANALYSIS_ERROR_ROLLBACK;
		else if (strcmp(s, "pause") != 0) {
			diag_add(errs, "%s.analysis.onError: pause or rollback", where);
			bad = 1;
		}
	}
	ms = json_object_get(a, "metrics");
	if (!json_is_array(ms) || json_array_size(ms) == 0 ||
	    json_array_size(ms) > ANALYSIS_MAX_METRICS) {
		diag_add(errs, "%s.analysis.metrics: wants 1 to %d metrics", where,
		         ANALYSIS_MAX_METRICS);
		return SLUICE_EINVALID;
	}
	json_array_foreach(ms, i, m)
	{
		struct analysis_metric *x = &out->metrics[out->nmetrics];
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *query = json_string_value(json_object_get(m, "query"));
		const json_t *max = json_object_get(m, "max"), *min = json_object_get(m, "min");
		x->max = x->min = NAN;
		if (!name || !*name || strlen(name) > 63) {
			diag_add(errs,
			         "%s.analysis.metrics[%zu].name: wants a name (1-63 characters)",
			         where, i);
			bad = 1;
		}
		if (!query || !*query || strlen(query) > 8192) {
			diag_add(errs, "%s.analysis.metrics[%zu].query: wants a PromQL query",
			         where, i);
			bad = 1;
		}
		const json_t *judge = json_object_get(m, "judge");
		if ((max && !json_is_number(max)) || (min && !json_is_number(min)) ||
		    (!max && !min && !judge)) {
			diag_add(errs,
			         "%s.analysis.metrics[%zu]: wants a number in max and/or min, or a "
			         "judge",
			         where, i);
			bad = 1;
		}
		if (judge) {
			const char *bq = json_string_value(json_object_get(judge, "baseline"));
			const char *dir = json_string_value(json_object_get(judge, "direction"));
			const json_t *conf = json_object_get(judge, "confidence");
			const json_t *tol = json_object_get(judge, "tolerance");
			if (!bq || !*bq || strlen(bq) > 8192) {
				diag_add(
				    errs,
				    "%s.analysis.metrics[%zu].judge.baseline: wants the stable "
				    "version's query",
				    where, i);
				bad = 1;
			}
			x->baseline = strdup(bq ? bq : "");
			x->direction = JUDGE_DIR_INCREASE;
			if (dir && strcmp(dir, "decrease") == 0)
				x->direction = JUDGE_DIR_DECREASE;
			else if (dir && strcmp(dir, "either") == 0)
				x->direction = JUDGE_DIR_EITHER;
			else if (dir && strcmp(dir, "increase") != 0) {
				diag_add(errs,
				         "%s.analysis.metrics[%zu].judge.direction: increase, "
				         "decrease or "
				         "either",
				         where, i);
				bad = 1;
			}
			x->confidence = conf ? json_number_value(conf) : JUDGE_DEFAULT_CONFIDENCE;
			x->tolerance = tol ? json_number_value(tol) : JUDGE_DEFAULT_TOLERANCE;
			if (x->confidence <= 0.5 || x->confidence >= 1 || x->tolerance < 0) {
				diag_add(errs,
				         "%s.analysis.metrics[%zu].judge: confidence in (0.5, 1), "
				         "tolerance >= 0",
				         where, i);
				bad = 1;
			}
			x->lookback_ms = duration_of(json_object_get(judge, "lookback"), 300000,
			                             where, "metrics[].judge.lookback", errs, &bad);
			if (x->lookback_ms < 10000) {
				diag_add(errs,
				         "%s.analysis.metrics[%zu].judge.lookback: at least 10s",
				         where, i);
				bad = 1;
			}
		}

		x->name = strdup(name ? name : "");
		x->query = strdup(query ? query : "");
		x->unit = strdup(json_string_value(json_object_get(m, "unit")) ?: "");
		if (max)
			x->max = json_number_value(max);
		if (min)
			x->min = json_number_value(min);
		out->nmetrics++;
	}
	return bad ? SLUICE_EINVALID : 0;
}

static void count_up(json_t *state, const char *key)
{
	json_object_set_new(state, key,
	                    json_integer(json_integer_value(json_object_get(state, key)) + 1));
}

static json_t *ms_time(long long ms)
{
	char buf[CLOCK_TEXT_MAX];
	clock_format_ms(buf, ms);
	return json_string(buf);
}

/* A measurement into state.measurements, newest first, bounded. */
static void keep(json_t *state, json_t *m)
{
	json_t *old = json_object_get(state, "measurements"), *list = json_array(), *v;
	size_t i;

	json_array_append_new(list, m);
	json_array_foreach(old, i, v)
	{
		if (json_array_size(list) >= ANALYSIS_MAX_MEASUREMENTS)
			break;
		json_array_append(list, v);
	}
	json_object_set_new(state, "measurements", list);
}

/* The spacing of a judged series' points, in whole seconds: 30 points over
 * the lookback. {{step}} in a judged query is this, so a rate window can be
 * as long as the spacing and no longer (points whose windows overlap are not
 * independent, and the test assumes they are). */
static long judge_step_s(long lookback_ms)
{
	long s = lookback_ms / 30000;
	return s < 1 ? 1 : s;
}

/* The samples of a range query's one series (NaN removed, as Kayenta does). */
static int series_of(struct prom_client *pcl, const char *query, long long now_ms, long lookback_ms,
                     double **out, size_t *n)
{
	struct prom_result *r = NULL;
	double end = (double)now_ms / 1000.0, start = end - (double)lookback_ms / 1000.0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = prom_query_range(pcl, &r, query, start, end, (double)judge_step_s(lookback_ms))) <
	    0)
		return rc;
	if (r->nseries > 1) {
		prom_result_free(r);
		return sluice_error_set(SLUICE_EINVALID, "the query returns several series");
	}
	if (r->nseries == 1 && (*out = calloc(r->series[0].nsamples + 1, sizeof(double)))) {
		for (size_t i = 0; i < r->series[0].nsamples; i++)
			if (!isnan(r->series[0].samples[i].v))
				(*out)[(*n)++] = r->series[0].samples[i].v;
	}
	prom_result_free(r);
	return 0;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorted in place); NaN when n is 0. */
static double median_of(double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The judge's verdict on one metric: 0 passed, 1 failed, 2 no data, or an
 * error. *cmed and *smed get the median of each side's samples (NaN: none).
 */
static int judge_metric(struct prom_client *pcl, const struct analysis_metric *m,
                        const char *canary_q, const char *stable_q, long long now_ms, char *line,
                        size_t n, double *cmed, double *smed)
{
	double *cv = NULL, *sv = NULL;
	size_t nc = 0, ns = 0;
	struct judge_metric_config cfg;
	struct judge_metric_result res;
	int rc;

	*cmed = *smed = NAN;
	if ((rc = series_of(pcl, canary_q, now_ms, m->lookback_ms, &cv, &nc)) < 0 ||
	    (rc = series_of(pcl, stable_q, now_ms, m->lookback_ms, &sv, &ns)) < 0) {
		free(cv);
		return rc;
	}
	judge_metric_config_init(&cfg);
	cfg.name = m->name;
	cfg.direction = (enum judge_direction)m->direction;
	cfg.confidence = m->confidence;
	cfg.tolerance = m->tolerance;
	rc = judge_classify(&res, &cfg, sv, ns, cv, nc);
	*cmed = median_of(cv, nc);
	*smed = median_of(sv, ns);
	free(cv);
	free(sv);
	if (rc < 0)
		return rc;
	switch (res.cls) {
	case JUDGE_CLASS_HIGH:
	case JUDGE_CLASS_LOW:
		snprintf(line, n,
		         "%s: the canary is %s than stable beyond the noise (shift %.4g, %.0f%% CI "
		         "[%.4g, %.4g], %zu vs %zu samples)",
		         m->name, res.cls == JUDGE_CLASS_HIGH ? "higher" : "lower", res.estimate,
		         m->confidence * 100, res.ci_low, res.ci_high, res.n_experiment,
		         res.n_control);
		return 1;
	case JUDGE_CLASS_NODATA:
	case JUDGE_CLASS_NODATA_FAIL:
		snprintf(line, n, "%s: no data to compare (%zu canary, %zu stable samples)",
		         m->name, nc, ns);
		return 2;
	default: return 0;
	}
}

/*
 * The controller's metrics (docs/analysis.md, "Metrics"): every measurement
 * and run also goes to the process's registry, served at /metrics. Label
 * values come from users' objects; the registry escapes them. A registry
 * failure never changes a verdict.
 */
static struct metrics *analysis_metrics(void)
{
	struct metrics *r = metrics_default();
	static const char *const per_metric[] = {"namespace", "rollout", "metric", "side", NULL};
	static const char *const per_bound[] = {"namespace", "rollout", "metric", "bound", NULL};
	static const char *const per_verdict[] = {"namespace", "rollout", "metric", "verdict",
	                                          NULL};
	static const char *const per_run[] = {"namespace", "rollout", "verdict", NULL};
	static const char *const per_target[] = {"namespace", "rollout", NULL};

	if (!r ||
	    metrics_family(r, METRICS_GAUGE, "sluice_analysis_metric_value",
	                   "The last value an analysis measured: side=canary is the query's "
	                   "value (for a metric judged against stable only, the median of its "
	                   "samples), side=stable the median of the judge's baseline samples; NaN "
	                   "when the last run had none.",
	                   per_metric) < 0 ||
	    metrics_family(r, METRICS_GAUGE, "sluice_analysis_metric_threshold",
	                   "A metric's fixed threshold (bound=max or min) as its analysis "
	                   "last read it.",
	                   per_bound) < 0 ||
	    metrics_family(r, METRICS_COUNTER, "sluice_analysis_measurements_total",
	                   "Measurements taken, by verdict (Passed, Failed, Inconclusive, Error).",
	                   per_verdict) < 0 ||
	    metrics_family(r, METRICS_COUNTER, "sluice_analysis_runs_total",
	                   "Analysis runs, by verdict (Passed, Failed, Inconclusive, Error).",
	                   per_run) < 0 ||
	    metrics_family(r, METRICS_GAUGE, "sluice_analysis_last_run_timestamp_seconds",
	                   "When the last analysis run of a Rollout took place "
	                   "(Unix time).",
	                   per_target) < 0) {
		slog(SLOG_DEBUG, "analysis: metrics not exported", "error", sluice_error_last(),
		     NULL);
		return NULL;
	}
	return r;
}

static void export_measurement(const struct analysis_vars *vars, const struct analysis_metric *m,
                               const char *verdict, double value, double cmed, double smed)
{
	struct metrics *r = analysis_metrics();
	const char *ns = vars->namespace ?: "",
	           *target = vars->rollout ?: (vars->stable ?: ""); /* the rollout label */

	if (!r)
		return;
	if (m->baseline) {
		metrics_set(r, "sluice_analysis_metric_value",
		            (const char *[]){ns, target, m->name, "stable", NULL}, smed);
		if (isnan(value))
			value = cmed;
	}
	metrics_set(r, "sluice_analysis_metric_value",
	            (const char *[]){ns, target, m->name, "canary", NULL}, value);
	if (!isnan(m->max))
		metrics_set(r, "sluice_analysis_metric_threshold",
		            (const char *[]){ns, target, m->name, "max", NULL}, m->max);
	if (!isnan(m->min))
		metrics_set(r, "sluice_analysis_metric_threshold",
		            (const char *[]){ns, target, m->name, "min", NULL}, m->min);
	metrics_add(r, "sluice_analysis_measurements_total",
	            (const char *[]){ns, target, m->name, verdict, NULL}, 1);
}

static void export_run(const struct analysis_vars *vars, enum analysis_verdict v, long long now_ms)
{
	struct metrics *r = analysis_metrics();
	const char *ns = vars->namespace ?: "",
	           *target = vars->rollout ?: (vars->stable ?: ""); /* the rollout label */

	if (!r)
		return;
	metrics_add(r, "sluice_analysis_runs_total",
	            (const char *[]){ns, target, analysis_verdict_name(v), NULL}, 1);
	metrics_set(r, "sluice_analysis_last_run_timestamp_seconds",
	            (const char *[]){ns, target, NULL}, (double)now_ms / 1000.0);
}

int analysis_run(enum analysis_verdict *v, char *why, size_t whyn, const struct analysis_spec *a,
                 const char *url, const struct analysis_vars *vars, json_t *state, long long now_ms)
{
	struct prom_config pc;
	struct prom_client *pcl = NULL;
	char interval[32], worst[512] = "";
	int failed = 0, nodata = 0, errors = 0, rc;
	json_t *tvars;

	*v = ANALYSIS_PASSED;
	why[0] = '\0';
	memset(&pc, 0, sizeof(pc));
	pc.url = a->address ? a->address : url;
	if (!pc.url || !*pc.url)
		return sluice_error_set(SLUICE_EINVALID,
		                        "analysis: no Prometheus address (set "
		                        "analysis.prometheus.address or sluiced --prometheus-url)");
	if ((rc = prom_client_new(&pcl, &pc)) < 0)
		return rc;
	snprintf(interval, sizeof(interval), "%lds", (a->interval_ms + 999) / 1000);
	tvars = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "namespace", vars->namespace ?: "",
	                  "service", vars->service ?: "", "canary", vars->canary ?: "", "stable",
	                  vars->stable ?: "", "canaryHash", vars->canary_hash ?: "", "stableHash",
	                  vars->stable_hash ?: "", "interval", interval);
	for (size_t i = 0; i < a->nmetrics; i++) {
		const struct analysis_metric *m = &a->metrics[i];
		char *query = NULL, *base = NULL, line[512] = "";
		const char *verdict = "Passed";
		enum prom_class cls = PROM_VALUE;
		double value = NAN, cmed = NAN, smed = NAN;
		json_t *rec;

		int judged = 0;
		char step[32];
		snprintf(step, sizeof(step), "%lds",
		         m->baseline ? judge_step_s(m->lookback_ms)
		                     : (a->interval_ms + 999) / 1000);
		json_object_set_new(tvars, "step", json_string(step));
		if ((rc = promql_render(&query, m->query, tvars)) < 0 ||
		    (m->baseline && (rc = promql_render(&base, m->baseline, tvars)) < 0)) {
			snprintf(line, sizeof(line), "%s: %s", m->name, sluice_error_last());
			verdict = "Error";
			errors++;
		} else if (m->baseline &&
		           (judged = judge_metric(pcl, m, query, base, now_ms, line, sizeof(line),
		                                  &cmed, &smed)) != 0) {
			if (judged < 0) {
				snprintf(line, sizeof(line), "%s: %s", m->name,
				         sluice_error_last());
				verdict = "Error";
				errors++;
			} else if (judged == 1 || a->no_data == ANALYSIS_ON_FAIL) {
				verdict = "Failed";
				failed++;
			} else if (a->no_data == ANALYSIS_ON_INCONCLUSIVE) {
				verdict = "Inconclusive";
				nodata++;
			}
		} else if (m->baseline && isnan(m->max) && isnan(m->min)) {
			/* judged alike: passed; no fixed threshold to check */
		} else if ((rc = prom_query_value(pcl, &cls, &value, query, 0)) < 0) {

			snprintf(line, sizeof(line), "%s: %s", m->name, sluice_error_last());
			verdict = "Error";
			errors++;
		} else if (cls == PROM_EMPTY || cls == PROM_NAN || cls == PROM_MANY) {
			if (cls == PROM_MANY) {
				snprintf(line, sizeof(line),
				         "%s: the query returns several series; it must return one",
				         m->name);
				verdict = "Error";
				errors++;
			} else {
				snprintf(line, sizeof(line), "%s: no data (%s)", m->name,
				         cls == PROM_NAN ? "NaN" : "empty result");
				if (a->no_data == ANALYSIS_ON_FAIL) {
					verdict = "Failed";
					failed++;
				} else if (a->no_data == ANALYSIS_ON_INCONCLUSIVE) {
					verdict = "Inconclusive";
					nodata++;
				}
			}
		} else if (!isnan(m->max) && value > m->max) {
			snprintf(line, sizeof(line), "%s %.4g > max %.4g", m->name, value, m->max);
			verdict = "Failed";
			failed++;
		} else if (!isnan(m->min) && value < m->min) {
			snprintf(line, sizeof(line), "%s %.4g < min %.4g", m->name, value, m->min);
			verdict = "Failed";
			failed++;
		}
		rec = json_pack("{s:o, s:s, s:s, s:s}", "time", ms_time(now_ms), "metric", m->name,
		                "query", query ? query : m->query, "verdict", verdict);
		if (rec && cls == PROM_VALUE && !isnan(value) && strcmp(verdict, "Error") != 0)
			json_object_set_new(rec, "value", json_real(value));
		if (rec && line[0])
			json_object_set_new(rec, "message", json_string(line));
		if (rec && base)
			json_object_set_new(rec, "baseline", json_string(base));
		if (rec)
			keep(state, rec);
		export_measurement(vars, m, verdict,
		                   cls == PROM_VALUE && strcmp(verdict, "Error") != 0 ? value : NAN,
		                   cmed, smed);
		/* the worst line wins: failed over inconclusive over error */
		if (line[0] && (strcmp(verdict, "Failed") == 0 ||
		                (!failed && (strcmp(verdict, "Inconclusive") == 0 || !worst[0]))))
			snprintf(worst, sizeof(worst), "%s", line);
		free(query);
		free(base);
	}
	json_decref(tvars);
	prom_client_free(pcl);
	if (failed)
		*v = ANALYSIS_FAILED;
	else if (errors == (int)a->nmetrics)
		*v = ANALYSIS_ERROR;
	else if (nodata || errors)
		*v = ANALYSIS_INCONCLUSIVE;
	count_up(state, "runs");
	if (*v == ANALYSIS_FAILED)
		count_up(state, "failed");
	if (*v == ANALYSIS_INCONCLUSIVE)
		count_up(state, "inconclusive");
	if (*v == ANALYSIS_ERROR)
		count_up(state, "consecutiveErrors");
	else
		json_object_set_new(state, "consecutiveErrors", json_integer(0));
	json_object_set_new(state, "lastRun", ms_time(now_ms));
	json_object_set_new(state, "lastRunMs", json_integer(now_ms));
	json_object_set_new(state, "lastVerdict", json_string(analysis_verdict_name(*v)));
	export_run(vars, *v, now_ms);
	snprintf(why, whyn, "%s", worst);
	return 0;
}
