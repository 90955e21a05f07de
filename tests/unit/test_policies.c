/*
 * Every policy shipped in deploy/policies/ is loaded, read as a Rollout
 * naming it would read it, its queries rendered, and each query checked by
 * Prometheus's own parser (promtool check rules) when promtool is installed.
 * The folder's kustomization.yaml, which users install the library with,
 * must list every policy file, and only those.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/analysis.h"
#include "sluice/error.h"
#include "sluice/manifest.h"
#include "sluice/prom.h"
#include "sluice/rollout.h"
#include "sluice/yaml.h"
#include "support.h"

#define POLICIES "deploy/policies"

static int is_policy_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0 &&
	       strcmp(d->d_name, "kustomization.yaml") != 0;
}

/* The policy files (sorted), loaded into *set; their names into *names. */
static size_t load_policies(struct manifest_set **set, struct dirent ***names, struct diag *errs)
{
	int n = scandir(POLICIES, names, is_policy_file, alphasort);

	if (n < 0)
		fail_msg("%s: cannot list the folder", POLICIES);
	assert_non_null(*set = manifest_set_new());
	for (int i = 0; i < n; i++) {
		char path[512];
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/%s", POLICIES, (*names)[i]->d_name);
		char *text = test_read_file(path, &len);
		if (!text)
			fail_msg("%s: cannot read", path);
		if (manifest_load_buffer(*set, text, len, path, errs) < 0)
			fail_msg("%s", errs->count ? errs->msgs[0] : path);
		free(text);
	}
	return (size_t)n;
}

static void every_shipped_policy_reads_and_its_queries_parse(void **state)
{
	struct manifest_set *set = NULL;
	struct dirent **names = NULL;
	struct diag errs;
	char rules[] = "/tmp/sluice-policies-XXXXXX";
	int fd;
	FILE *f;
	size_t nq = 0;
	(void)state;

	diag_init(&errs);
	size_t nfiles = load_policies(&set, &names, &errs);
	assert_true(set->count >= 6);
	assert_true((fd = mkstemp(rules)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fprintf(f, "groups:\n- name: sluice-policies\n  rules:\n");
	for (size_t i = 0; i < set->count; i++) {
		const struct manifest_obj *m = &set->objs[i];
		struct rollout_spec spec;
		struct analysis_spec an;
		json_t *policy = json_deep_copy(m->obj);
		assert_string_equal(m->kind, "CanaryPolicy");
		json_object_set_new(json_object_get(policy, "metadata"), "namespace",
		                    json_string("shop"));
		json_t *ro =
		    json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}, s:s, s:{s:s}}}", "apiVersion",
		              "sluice.dev/v1alpha1", "kind", "Rollout", "metadata", "namespace",
		              "shop", "name", "web", "spec", "targetRef", "name", "web", "service",
		              "web", "policyRef", "name", m->name);
		if (rollout_spec_read(&spec, ro, policy, &errs) < 0)
			fail_msg("%s: %s", m->path, errs.count ? errs.msgs[errs.count - 1] : "?");
		assert_true(spec.nsteps >= 1);
		if (analysis_spec_read(&an,
		                       json_object_get(json_object_get(policy, "spec"), "analysis"),
		                       m->path, &errs) < 0)
			fail_msg("%s: %s", m->path, errs.count ? errs.msgs[errs.count - 1] : "?");
		assert_true(an.enabled);
		assert_true(an.nmetrics >= 1);
		json_t *vars =
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "namespace", "shop", "service",
		              "web", "canary", "web-canary", "stable", "web", "canaryHash", "5d8f",
		              "stableHash", "77c9", "interval", "60s");
		for (size_t k = 0; k < an.nmetrics; k++) {
			char *q = NULL;
			if (promql_render(&q, an.metrics[k].query, vars) < 0)
				fail_msg("%s: %s: %s", m->path, an.metrics[k].name,
				         "does not render");
			assert_non_null(strstr(q, "web-canary"));
			/* a recording rule per query, so promtool parses each one */
			fprintf(f, "  - record: sluice:policy_%zu_%zu\n    expr: |\n", i, k);
			for (char *line = strtok(q, "\n"); line; line = strtok(NULL, "\n"))
				fprintf(f, "      %s\n", line);
			nq++;
			free(q);
		}
		json_decref(vars);
		analysis_spec_dispose(&an);
		rollout_spec_dispose(&spec);
		json_decref(ro);
		json_decref(policy);
	}
	fclose(f);
	assert_true(nq >= 7);
	if (system("command -v promtool >/dev/null 2>&1") == 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "promtool check rules %s >/dev/null", rules);
		if (system(cmd) != 0) {
			snprintf(cmd, sizeof(cmd), "promtool check rules %s >&2", rules);
			(void)system(cmd);
			fail_msg("promtool refuses a shipped query (%zu checked)", nq);
		}
	} else {
		fprintf(stderr, "test_policies: promtool not installed; queries not parsed\n");
	}
	unlink(rules);
	manifest_set_free(set);
	for (size_t i = 0; i < nfiles; i++)
		free(names[i]);
	free(names);
	diag_dispose(&errs);
}

static void the_kustomization_installs_every_policy_file(void **state)
{
	struct manifest_set *set = NULL;
	struct dirent **names = NULL;
	struct yaml_stream *ys = NULL;
	struct diag errs;
	size_t len = 0;
	(void)state;

	diag_init(&errs);
	size_t nfiles = load_policies(&set, &names, &errs);
	char *text = test_read_file(POLICIES "/kustomization.yaml", &len);
	assert_non_null(text);
	if (yaml_stream_parse(&ys, text, len, POLICIES "/kustomization.yaml") < 0)
		fail_msg("%s", sluice_error_last());
	const json_t *k = yaml_stream_doc(ys, 0);
	const json_t *res = json_object_get(k, "resources");
	assert_string_equal(json_string_value(json_object_get(k, "kind")), "Kustomization");
	assert_null(json_object_get(k, "namespace")); /* the user's choice, per Rollout */
	for (size_t i = 0; i < nfiles; i++) {
		int listed = 0;
		for (size_t j = 0; j < json_array_size(res); j++)
			listed |= strcmp(json_string_value(json_array_get(res, j)) ?: "",
			                 names[i]->d_name) == 0;
		if (!listed)
			fail_msg("%s/kustomization.yaml: %s is not in resources, so "
			         "`kubectl apply -k` would not install it",
			         POLICIES, names[i]->d_name);
	}
	if (json_array_size(res) != nfiles)
		fail_msg("%s/kustomization.yaml: %zu resources for %zu policy files", POLICIES,
		         json_array_size(res), nfiles);
	yaml_stream_free(ys);
	free(text);
	manifest_set_free(set);
	for (size_t i = 0; i < nfiles; i++)
		free(names[i]);
	free(names);
	diag_dispose(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_shipped_policy_reads_and_its_queries_parse),
	    cmocka_unit_test(the_kustomization_installs_every_policy_file),
	};
	return cmocka_run_group_tests_name("policies", tests, NULL, NULL);
}
