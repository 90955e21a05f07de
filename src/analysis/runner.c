/* Canary analysis settings and runs against absolute thresholds (analysis.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/analysis.h"
#include "sluice/error.h"
#include "sluice/log.h"
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
		if ((max && !json_is_number(max)) || (min && !json_is_number(min)) ||
		    (!max && !min)) {
			diag_add(errs, "%s.analysis.metrics[%zu]: wants a number in max and/or min",
			         where, i);
			bad = 1;
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
	char buf[40], out[48];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof(out), "%s.%03lldZ", buf, ms % 1000);
	return json_string(out);
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
		char *query = NULL, line[512] = "";
		const char *verdict = "Passed";
		enum prom_class cls = PROM_VALUE;
		double value = NAN;
		json_t *rec;

		if ((rc = promql_render(&query, m->query, tvars)) < 0) {
			snprintf(line, sizeof(line), "%s: %s", m->name, sluice_error_last());
			verdict = "Error";
			errors++;
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
		if (rec)
			keep(state, rec);
		/* the worst line wins: failed over inconclusive over error */
		if (line[0] && (strcmp(verdict, "Failed") == 0 ||
		                (!failed && (strcmp(verdict, "Inconclusive") == 0 || !worst[0]))))
			snprintf(worst, sizeof(worst), "%s", line);
		free(query);
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
	snprintf(why, whyn, "%s", worst);
	return 0;
}
