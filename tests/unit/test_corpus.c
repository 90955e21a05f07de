/*
 * The YAML corpus in tests/data/yaml/: every input.yaml must give exactly the
 * JSON kubectl gave for it (expected.json, made by tests/tools/mkcorpus.sh),
 * or be rejected where kubectl rejected it (kubectl.err). A case may carry
 * expected.err: a piece of the one-line message sluice must print; where
 * kubectl accepts such a case (duplicate mapping keys, which kubectl resolves
 * silently by keeping the last), sluice rejects it on purpose.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/manifest.h"
#include "support.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *case_file(const char *dir, const char *c, const char *f)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s/%s", dir, c, f) < 0)
		return NULL;
	return p;
}

/* Returns 1 when the case passes, printing why when it does not. */
static int run_case(const char *dir, const char *c)
{
	char *in_path = case_file(dir, c, "input.yaml");
	char *exp_path = case_file(dir, c, "expected.json");
	char *kerr_path = case_file(dir, c, "kubectl.err");
	char *serr_path = case_file(dir, c, "expected.err");
	char *input = NULL, *expected = NULL, *want_err = NULL, *kerr = NULL;
	struct manifest_set *set = manifest_set_new();
	struct diag errs;
	size_t len = 0;
	int ok = 0, rc;

	diag_init(&errs);
	input = test_read_file(in_path, &len);
	expected = test_read_file(exp_path, NULL);
	kerr = test_read_file(kerr_path, NULL);
	want_err = test_read_file(serr_path, NULL);
	if (!input || (!expected && !kerr)) {
		printf("corpus %s: needs input.yaml and expected.json or kubectl.err\n", c);
		goto out;
	}
	rc = manifest_load_buffer(set, input, len, "input.yaml", &errs);
	if (kerr || want_err) {
		/* kubectl rejects it, or sluice rejects on purpose (duplicate keys) */
		if (rc == 0) {
			printf("corpus %s: accepted, but must be rejected: %s", c,
			       kerr ? kerr : want_err);
			goto out;
		}
		if (want_err) {
			want_err[strcspn(want_err, "\n")] = '\0';
			if (!errs.count || !strstr(errs.msgs[0], want_err)) {
				printf("corpus %s: error \"%s\" does not contain \"%s\"\n", c,
				       errs.count ? errs.msgs[0] : "", want_err);
				goto out;
			}
		}
		if (!errs.count || strncmp(errs.msgs[0], "input.yaml:", 11) != 0) {
			printf("corpus %s: error does not name the place: %s\n", c,
			       errs.count ? errs.msgs[0] : "(none)");
			goto out;
		}
		ok = 1;
		goto out;
	}
	if (rc != 0) {
		printf("corpus %s: rejected, but kubectl accepts it: %s\n", c,
		       errs.count ? errs.msgs[0] : sluice_error_last());
		goto out;
	}
	json_t *want = test_load_json(expected);
	json_t *got = json_array();
	char where[512];
	for (size_t i = 0; i < set->count; i++)
		json_array_append(got, set->objs[i].obj);
	if (!want) {
		printf("corpus %s: expected.json does not parse\n", c);
	} else if (!test_json_same(got, want, where, sizeof(where))) {
		char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("corpus %s: differs from kubectl at %s\n  got: %.600s\n", c,
		       *where ? where : "(top)", g ? g : "?");
		free(g);
	} else {
		ok = 1;
	}
	json_decref(want);
	json_decref(got);
out:
	diag_dispose(&errs);
	manifest_set_free(set);
	free(in_path);
	free(exp_path);
	free(kerr_path);
	free(serr_path);
	free(input);
	free(expected);
	free(kerr);
	free(want_err);
	return ok;
}

static void corpus_matches_kubectl(void **state)
{
	char dir[1024];
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, bad = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/yaml", test_data_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !strchr("0123456789", de->d_name[0]))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!run_case(dir, names[i]))
			bad++;
		free(names[i]);
	}
	free(names);
	printf("corpus: %zu cases, %zu differ from kubectl\n", n, bad);
	assert_true(n >= 60);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(corpus_matches_kubectl),
	};
	return cmocka_run_group_tests_name("corpus", tests, NULL, NULL);
}
