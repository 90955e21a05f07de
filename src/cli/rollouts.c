/* sluice get rollouts, sluice history ROLLOUT: Rollouts and their past. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sluice/clock.h"
#include "sluice/error.h"
#include "sluice/rollout.h"

static int running(const char *phase)
{
	return strcmp(phase, "Progressing") == 0 || strcmp(phase, "Paused") == 0;
}

int cli_get_rollouts(struct cli *c, const struct kopts *k)
{
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	json_t *items = NULL, *r;
	size_t i;
	int rc;

	if (cli_connect(c, "get", k, &cfg, &kc) < 0)
		return CLI_ERROR;
	struct kube_ref ref = {ROLLOUT_API, "Rollout", cli_namespace(k, kc), NULL};
	if ((rc = kube_list(kc, &items, NULL, &ref, NULL)) < 0) {
		fprintf(c->err, "%s get rollouts: %s\n", c->prog, sluice_error_last());
		goto out;
	}
	if (k->output && (strcmp(k->output, "json") == 0 || strcmp(k->output, "yaml") == 0)) {
		json_t *list = json_pack("{s:s, s:s, s:{s:s}, s:O}", "apiVersion", "v1", "kind",
		                         "List", "metadata", "resourceVersion", "", "items", items);
		rc = list ? cli_print_doc(c, list, k->output) : -1;
		json_decref(list);
		goto out;
	}
	if (json_array_size(items) == 0) {
		fprintf(c->err, "No Rollouts found%s%s.\n", k->all ? "" : " in namespace ",
		        k->all ? "" : ref.namespace);
		goto out;
	}
	int wide = k->output && strcmp(k->output, "wide") == 0;
	if (k->all)
		fprintf(c->out, "%-20s ", "NAMESPACE");
	fprintf(c->out, "%-24s %-12s %-6s %-7s %-8s %-8s %-*s%s\n", "NAME", "PHASE", "STEP",
	        "WEIGHT", "STABLE", "CANARY", wide ? 6 : 0, "AGE", wide ? "  TARGET  MESSAGE" : "");
	json_array_foreach(items, i, r)
	{
		const json_t *st = json_object_get(r, "status");
		const char *phase = cli_str(st, "phase", NULL, NULL);
		char step[48] = "-", weight[32], stable[16], canary[16], age[32] = "-";
		json_int_t cur = json_integer_value(json_object_get(st, "currentStep"));
		json_int_t n = json_integer_value(json_object_get(st, "stepCount"));
		long long made =
		    cli_time(json_object_get(json_object_get(r, "metadata"), "creationTimestamp"));

		if (running(phase) && n > 0)
			snprintf(step, sizeof(step),
			         "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
			         cur < n ? cur + 1 : n, n);
		snprintf(weight, sizeof(weight), "%" JSON_INTEGER_FORMAT "%%",
		         json_integer_value(json_object_get(st, "actualWeight")));
		snprintf(stable, sizeof(stable), "%.7s", cli_str(st, "stable", "commit", NULL));
		snprintf(canary, sizeof(canary), "%.7s", cli_str(st, "canary", "commit", NULL));
		if (made >= 0)
			cli_fmt_duration(age, sizeof(age), clock_now_ms() - made);
		if (k->all)
			fprintf(c->out, "%-20s ", cli_str(r, "metadata", "namespace", NULL));
		fprintf(c->out, "%-24s %-12s %-6s %-7s %-8s %-8s %-*s",
		        cli_str(r, "metadata", "name", NULL), phase, step, weight, stable, canary,
		        wide ? 6 : 0, age);
		if (wide)
			fprintf(c->out, "  %s  %s", cli_str(r, "spec", "targetRef", "name"),
			        cli_str(st, "message", NULL, NULL));
		fputc('\n', c->out);
	}
out:
	json_decref(items);
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc < 0 ? CLI_ERROR : CLI_OK;
}

/* The commit's subject in a column of 22 characters: cut with "..." at a
 * character boundary when longer, "-" when the history has none. */
static void subject_cell(char *buf, size_t n, const char *subject)
{
	size_t chars = 0, cut = 0, i;

	if (!subject || !*subject)
		subject = "-";
	for (i = 0; subject[i]; i++)
		if (((unsigned char)subject[i] & 0xc0) != 0x80 && chars++ == 19)
			cut = i;
	if (chars > 22)
		snprintf(buf, n, "%.*s...", (int)cut, subject);
	else
		snprintf(buf, n, "%s", subject);
	for (size_t have = chars > 22 ? 22 : chars; have < 22 && strlen(buf) + 1 < n; have++)
		strcat(buf, " ");
}

int cli_history(struct cli *c, int argc, char **argv)
{
	struct kopts k;
	const char *pos[CLI_MAX_POS];
	int npos, rc;
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	json_t *ro = NULL, *h;
	struct style y;
	size_t i;

	if ((rc = cli_parse(c, argc, argv, &k, pos, &npos, cli_usage("history"))) != 0)
		return rc > 0 ? CLI_OK : CLI_ERROR;
	if (npos != 1 || k.all) {
		fputs(cli_usage("history"), c->err);
		return CLI_ERROR;
	}
	if (cli_check_output(c, "history", k.output, 0) < 0)
		return CLI_ERROR;
	cli_style(&y, c, k.no_color);
	if (cli_connect(c, "history", &k, &cfg, &kc) < 0)
		return CLI_ERROR;
	struct kube_ref ref = {ROLLOUT_API, "Rollout", cli_namespace(&k, kc), pos[0]};
	if ((rc = kube_get(kc, &ro, &ref)) < 0) {
		fprintf(c->err, "%s history: %s\n", c->prog, sluice_error_last());
		goto out;
	}
	const json_t *hist = json_object_get(json_object_get(ro, "status"), "history");
	if (k.output) {
		json_t *doc =
		    json_pack("{s:s, s:s, s:O}", "namespace", ref.namespace, "name", pos[0],
		              "history", json_is_array(hist) ? hist : json_array());
		rc = doc ? cli_print_doc(c, doc, k.output) : -1;
		json_decref(doc);
		goto out;
	}
	if (json_array_size(hist) == 0) {
		fprintf(c->err, "Rollout %s/%s has no finished rollouts yet.\n", ref.namespace,
		        pos[0]);
		goto out;
	}
	fprintf(c->out, "%-8s %-22s %-11s %-9s %-10s %s\n", "COMMIT", "SUBJECT", "RESULT",
	        "DURATION", "ENDED", "REASON");
	json_array_foreach(hist, i, h)
	{
		const char *result = cli_str(h, "result", NULL, NULL);
		long long start = cli_time(json_object_get(h, "start"));
		long long end = cli_time(json_object_get(h, "end"));
		char commit[16], dur[32] = "-", ended[40] = "-";
		const char *color = strcmp(result, "Promoted") == 0     ? SGR(&y, "32")
		                    : strcmp(result, "Superseded") == 0 ? SGR(&y, "33")
		                                                        : SGR(&y, "31");
		snprintf(commit, sizeof(commit), "%.7s", cli_str(h, "commit", NULL, NULL));
		char subject[128];
		subject_cell(subject, sizeof(subject), cli_str(h, "subject", NULL, NULL));
		if (start >= 0 && end >= start)
			cli_fmt_duration(dur, sizeof(dur), end - start);
		if (end >= 0) {
			cli_fmt_duration(ended, sizeof(ended) - 4, clock_now_ms() - end);
			strcat(ended, " ago");
		}
		fprintf(c->out, "%-8s %s %s%-11s%s %-9s %-10s %s\n", commit, subject, color, result,
		        SGR(&y, "0"), dur, ended, cli_str(h, "reason", NULL, NULL));
	}
out:
	json_decref(ro);
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc < 0 ? CLI_ERROR : CLI_OK;
}
