/* sluice stats: delivery figures (DORA) from the Rollouts' history. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sluice/clock.h"
#include "sluice/error.h"
#include "sluice/rollout.h"

#define HISTORY_KEPT 20 /* the engine keeps the last 20 rollouts of each Rollout */

static json_t *ms_or_null(long long ms)
{
	return ms >= 0 ? json_integer(ms / 1000) : json_null();
}

int cli_stats(struct cli *c, int argc, char **argv)
{
	struct kopts k;
	const char *pos[CLI_MAX_POS];
	int npos, rc;
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	json_t *items = NULL, *entries = json_array(), *notes = json_array(), *r, *h;
	struct cli_dora d;
	size_t i, j;

	if ((rc = cli_parse(c, argc, argv, &k, pos, &npos, cli_usage("stats"))) != 0) {
		rc = rc > 0 ? CLI_OK : CLI_ERROR;
		goto done;
	}
	long long span = cli_parse_span(k.since ? k.since : "30d");
	if (npos != 0 || span <= 0) {
		if (span <= 0)
			fprintf(c->err,
			        "%s stats: --since '%s': want a span such as 30d, 2w, 12h\n",
			        c->prog, k.since);
		else
			fputs(cli_usage("stats"), c->err);
		rc = CLI_ERROR;
		goto done;
	}
	if (cli_check_output(c, "stats", k.output, 0) < 0) {
		rc = CLI_ERROR;
		goto done;
	}
	if (cli_connect(c, "stats", &k, &cfg, &kc) < 0) {
		rc = CLI_ERROR;
		goto done;
	}
	long long now = clock_now_ms(), since = now - span;
	struct kube_ref ref = {ROLLOUT_API, "Rollout", cli_namespace(&k, kc), NULL};
	if (kube_list(kc, &items, NULL, &ref, NULL) < 0) {
		fprintf(c->err, "%s stats: %s\n", c->prog, sluice_error_last());
		rc = CLI_ERROR;
		goto done;
	}
	json_array_foreach(items, i, r)
	{
		const json_t *hist = json_object_get(json_object_get(r, "status"), "history");
		char name[600];
		snprintf(name, sizeof(name), "%s/%s", cli_str(r, "metadata", "namespace", NULL),
		         cli_str(r, "metadata", "name", NULL));
		json_array_foreach(hist, j, h)
		{
			json_t *e = json_deep_copy(h);
			if (e && json_object_set_new(e, "rollout", json_string(name)) == 0)
				json_array_append(entries, e);
			json_decref(e);
		}
		const json_t *oldest = json_array_get(hist, json_array_size(hist) - 1);
		long long oldest_end = cli_time(json_object_get(oldest, "end"));
		if (json_array_size(hist) >= HISTORY_KEPT && oldest_end > since) {
			char when[CLOCK_TEXT_MAX];
			clock_format_ms(when, oldest_end);
			json_array_append_new(
			    notes, json_pack("{s:s, s:s}", "rollout", name, "historyStarts", when));
		}
	}
	if (cli_dora_compute(&d, entries, since, now) < 0) {
		fprintf(c->err, "%s stats: %s\n", c->prog, sluice_error_last());
		rc = CLI_ERROR;
		goto done;
	}
	char from[CLOCK_TEXT_MAX], to[CLOCK_TEXT_MAX];
	clock_format_ms(from, since);
	clock_format_ms(to, now);
	if (k.output) {
		json_t *doc = json_pack(
		    "{s:s, s:s, s:s, s:I, s:{s:i, s:f}, s:{s:i, s:i, s:o}, s:{s:i, s:i, s:o}, "
		    "s:{s:i, s:o}, s:{s:o}, s:{s:i, s:o}, s:i, s:O}",
		    "namespace", ref.namespace, "since", from, "until", to, "rollouts",
		    (json_int_t)json_array_size(items), "deployments", "promoted", d.promoted,
		    "perDay", d.per_day, "changeFailure", "failed", d.failed, "superseded",
		    d.superseded, "rate",
		    isnan(d.failure_rate) ? json_null() : json_real(d.failure_rate), "recovery",
		    "recovered", d.incidents, "open", d.open_incidents, "meanSeconds",
		    ms_or_null(d.mttr_ms), "leadTime", "samples", d.lead_n, "medianSeconds",
		    ms_or_null(d.lead_median_ms), "rolloutDuration", "medianSeconds",
		    ms_or_null(d.duration_median_ms), "rollback", "samples", d.rollback_n,
		    "medianSeconds", ms_or_null(d.rollback_median_ms), "entries",
		    (int)json_array_size(entries), "truncatedHistory", notes);
		rc = doc && cli_print_doc(c, doc, k.output) == 0 ? CLI_OK : CLI_ERROR;
		json_decref(doc);
		goto done;
	}
	char buf[64];
	fprintf(c->out, "Delivery over the last %s (%s to %s), %zu Rollout%s%s%s\n",
	        k.since ? k.since : "30d", from, to, json_array_size(items),
	        json_array_size(items) == 1 ? "" : "s",
	        ref.namespace[0] ? " in " : " in all namespaces", ref.namespace);
	fprintf(c->out, "  %-22s %d promoted (%.2f a day)\n", "Deployment frequency:", d.promoted,
	        d.per_day);
	if (isnan(d.failure_rate))
		fprintf(c->out, "  %-22s - (no rollout ended)\n", "Change failure rate:");
	else
		fprintf(c->out, "  %-22s %.0f%% (%d of %d rolled back or aborted)\n",
		        "Change failure rate:", d.failure_rate * 100, d.failed,
		        d.failed + d.promoted);
	if (d.rollback_median_ms >= 0) {
		cli_fmt_duration(buf, sizeof(buf), d.rollback_median_ms);
		fprintf(c->out,
		        "  %-22s %s (median of %d: a failed release's start to its rollback)\n",
		        "Time to roll back:", buf, d.rollback_n);
	}
	if (d.mttr_ms >= 0) {
		cli_fmt_duration(buf, sizeof(buf), d.mttr_ms);
		fprintf(c->out, "  %-22s %s (mean of %d recover%s)", "Time to recovery:", buf,
		        d.incidents, d.incidents == 1 ? "y" : "ies");
	} else {
		fprintf(c->out, "  %-22s - (no failure followed by a promotion)",
		        "Time to recovery:");
	}
	if (d.open_incidents)
		fprintf(c->out, "; %d not recovered yet", d.open_incidents);
	fputc('\n', c->out);
	if (d.lead_median_ms >= 0) {
		cli_fmt_duration(buf, sizeof(buf), d.lead_median_ms);
		fprintf(c->out, "  %-22s %s (median of %d)\n", "Lead time:", buf, d.lead_n);
	} else {
		fprintf(c->out,
		        "  %-22s unavailable: no promotion in the window records its "
		        "commit time\n",
		        "Lead time:");
	}
	if (d.duration_median_ms >= 0) {
		cli_fmt_duration(buf, sizeof(buf), d.duration_median_ms);
		fprintf(c->out, "  %-22s %s (median, rollout start to promotion)\n",
		        "Rollout duration:", buf);
	}
	if (d.superseded)
		fprintf(c->out,
		        "  (%d superseded by a newer commit before they ended: not counted)\n",
		        d.superseded);
	json_array_foreach(notes, i, r)
	{
		fprintf(c->out,
		        "Note: %s keeps only its last %d rollouts, from %s: older ones are not "
		        "counted\n",
		        cli_str(r, "rollout", NULL, NULL), HISTORY_KEPT,
		        cli_str(r, "historyStarts", NULL, NULL));
	}
	rc = CLI_OK;
done:
	json_decref(items);
	json_decref(entries);
	json_decref(notes);
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc;
}
