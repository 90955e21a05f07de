/* Delivery figures (DORA) from rollout history: pure arithmetic, unit-tested. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/cli.h"
#include "sluice/clock.h"
#include "sluice/error.h"

struct ent {
	const char *rollout;
	const char *result;
	long long start, end, commit_time;
};

static int by_rollout_end(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = strcmp(x->rollout, y->rollout);
	if (c)
		return c;
	return x->end < y->end ? -1 : x->end > y->end;
}

static int by_value(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorted here); -1 when n is 0. */
static long long median(long long *v, size_t n)
{
	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int failed_result(const char *r)
{
	return strcmp(r, "RolledBack") == 0 || strcmp(r, "Aborted") == 0;
}

int cli_dora_compute(struct cli_dora *out, const json_t *entries, long long since_ms,
                     long long now_ms)
{
	struct ent *e = NULL;
	long long *lead = NULL, *dur = NULL, *back = NULL, open_at = -1, spans = 0;
	size_t n = 0, nlead = 0, ndur = 0, nback = 0, i;
	const json_t *v;
	const char *cur = NULL;

	memset(out, 0, sizeof(*out));
	out->since_ms = since_ms;
	out->now_ms = now_ms;
	out->failure_rate = NAN;
	out->mttr_ms = out->lead_median_ms = out->duration_median_ms = -1;
	out->rollback_median_ms = -1;
	if (!json_is_array(entries))
		return sluice_error_set(SLUICE_EINVALID, "history: not an array");
	size_t cap = json_array_size(entries) + 1;
	e = calloc(cap, sizeof(*e));
	lead = calloc(cap, sizeof(*lead));
	dur = calloc(cap, sizeof(*dur));
	back = calloc(cap, sizeof(*back));
	if (!e || !lead || !dur || !back) {
		free(e);
		free(lead);
		free(dur);
		free(back);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	json_array_foreach(entries, i, v)
	{
		const char *result = json_string_value(json_object_get(v, "result"));
		const char *ro = json_string_value(json_object_get(v, "rollout"));
		long long end = clock_parse(json_string_value(json_object_get(v, "end")));
		if (!result || end < 0 || end < since_ms || end > now_ms)
			continue;
		e[n].rollout = ro ? ro : "";
		e[n].result = result;
		e[n].end = end;
		e[n].start = clock_parse(json_string_value(json_object_get(v, "start")));
		e[n].commit_time = clock_parse(json_string_value(json_object_get(v, "commitTime")));
		n++;
	}
	qsort(e, n, sizeof(*e), by_rollout_end);
	for (i = 0; i < n; i++) {
		if (!cur || strcmp(cur, e[i].rollout) != 0) {
			if (open_at >= 0)
				out->open_incidents++;
			open_at = -1;
			cur = e[i].rollout;
		}
		if (strcmp(e[i].result, "Promoted") == 0) {
			out->promoted++;
			if (open_at >= 0) {
				spans += e[i].end - open_at;
				out->incidents++;
				open_at = -1;
			}
			if (e[i].start >= 0 && e[i].start <= e[i].end)
				dur[ndur++] = e[i].end - e[i].start;
			if (e[i].commit_time >= 0 && e[i].commit_time <= e[i].end)
				lead[nlead++] = e[i].end - e[i].commit_time;
		} else if (failed_result(e[i].result)) {
			out->failed++;
			if (e[i].start >= 0 && e[i].start <= e[i].end)
				back[nback++] = e[i].end - e[i].start;
			if (open_at < 0)
				open_at = e[i].end;
		} else if (strcmp(e[i].result, "Superseded") == 0) {
			out->superseded++;
		}
	}
	if (open_at >= 0)
		out->open_incidents++;
	if (now_ms > since_ms)
		out->per_day = out->promoted / ((double)(now_ms - since_ms) / 86400000.0);
	if (out->promoted + out->failed > 0)
		out->failure_rate = (double)out->failed / (out->promoted + out->failed);
	if (out->incidents > 0)
		out->mttr_ms = spans / out->incidents;
	out->lead_n = (int)nlead;
	out->lead_median_ms = median(lead, nlead);
	out->duration_median_ms = median(dur, ndur);
	out->rollback_n = (int)nback;
	out->rollback_median_ms = median(back, nback);
	free(e);
	free(lead);
	free(dur);
	free(back);
	return 0;
}
