/* The sluice command line, driven in-process: output, errors and exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/cli.h"
#include "support.h"

struct run {
	int rc;
	char *out;
	char *err;
};

static char *slurp(FILE *f)
{
	long n = ftell(f);
	char *buf = calloc(1, (size_t)n + 1);
	rewind(f);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static struct run run(const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[6] = {(char *)"sluice", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	int argc = 1;
	struct cli c;
	struct run r;

	while (argc < 5 && argv[argc])
		argc++;
	c.out = tmpfile();
	c.err = tmpfile();
	c.prog = "sluice";
	r.rc = cli_run(&c, argc, argv);
	r.out = slurp(c.out);
	r.err = slurp(c.err);
	return r;
}

static void done(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void render_examples(void **state)
{
	(void)state;
	struct run r = run("render", "examples/web/", NULL, NULL);
	assert_int_equal(r.rc, CLI_OK);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "kind: Namespace"));
	assert_non_null(strstr(r.out, "kind: HTTPRoute"));
	assert_non_null(strstr(r.out, "value: \"off\""));
	done(&r);

	r = run("render", "-o", "json", "examples/web");
	assert_int_equal(r.rc, CLI_OK);
	json_error_t err;
	json_t *list = json_loads(r.out, 0, &err);
	assert_non_null(list);
	assert_string_equal(json_string_value(json_object_get(list, "kind")), "List");
	json_t *items = json_object_get(list, "items");
	assert_int_equal(json_array_size(items), 5);
	/* sorted paths: 00-namespace.yaml comes first */
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "kind")),
	                    "Namespace");
	json_decref(list);
	done(&r);
}

static void render_reports_every_broken_file(void **state)
{
	char *dir = test_tmpdir(), p[4096];
	(void)state;

	snprintf(p, sizeof(p), "%s/a.yaml", dir);
	test_write_file(p, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: x\n");
	snprintf(p, sizeof(p), "%s/b.yaml", dir);
	test_write_file(p, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n");
	snprintf(p, sizeof(p), "%s/c.json", dir);
	test_write_file(p, "{\"apiVersion\": \"v1\",\n \"metadata\": {\"name\": \"c\"}}\n");
	snprintf(p, sizeof(p), "%s/d.yaml", dir);
	test_write_file(p, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n");

	struct run r = run("render", dir, NULL, NULL);
	assert_int_equal(r.rc, CLI_INVALID);
	assert_string_equal(r.out, "");
	char want[3][4200];
	snprintf(want[0], sizeof(want[0]), "%s/a.yaml:4: metadata.name is required\n", dir);
	snprintf(want[1], sizeof(want[1]), "%s/b.yaml:5:1: ", dir);
	snprintf(want[2], sizeof(want[2]), "%s/c.json:1: kind is required\n", dir);
	for (int i = 0; i < 3; i++)
		if (!strstr(r.err, want[i]))
			fail_msg("stderr lacks \"%s\":\n%s", want[i], r.err);
	assert_non_null(strstr(r.err, "sluice render: 3 problems in"));
	done(&r);
	test_rm_rf(dir);
	free(dir);
}

static void usage_errors_exit_2(void **state)
{
	(void)state;
	struct run r = run("render", NULL, NULL, NULL);
	assert_int_equal(r.rc, CLI_ERROR);
	assert_non_null(strstr(r.err, "Usage: sluice render"));
	done(&r);
	r = run("render", "-o", "xml", "examples");
	assert_int_equal(r.rc, CLI_ERROR);
	assert_string_equal(r.err,
	                    "sluice render: unknown output format 'xml' (want yaml or json)\n");
	done(&r);
	r = run("render", "/nonexistent/dir", NULL, NULL);
	assert_int_equal(r.rc, CLI_ERROR);
	assert_string_equal(r.err, "sluice render: /nonexistent/dir: No such file or directory\n");
	done(&r);
	r = run("frobnicate", NULL, NULL, NULL);
	assert_int_equal(r.rc, CLI_ERROR);
	assert_non_null(strstr(r.err, "unknown command 'frobnicate'"));
	done(&r);
	r = run("--bogus", NULL, NULL, NULL);
	assert_int_equal(r.rc, CLI_ERROR);
	done(&r);
	r = run("render", "a", "b", NULL);
	assert_int_equal(r.rc, CLI_ERROR);
	assert_non_null(strstr(r.err, "more than one DIR"));
	done(&r);
}

static void help_and_version(void **state)
{
	(void)state;
	struct run r = run("--help", NULL, NULL, NULL);
	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "render DIR"));
	done(&r);
	r = run("render", "--help", NULL, NULL);
	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "Examples:\n  sluice render examples/web/\n"));
	done(&r);
	/* help VERB prints what VERB --help prints */
	struct run a = run("help", "status", NULL, NULL), b = run("status", "--help", NULL, NULL);
	assert_int_equal(a.rc, CLI_OK);
	assert_string_equal(a.out, b.out);
	done(&a);
	done(&b);
	r = run("help", "frobnicate", NULL, NULL);
	assert_int_equal(r.rc, CLI_ERROR);
	assert_string_equal(r.err,
	                    "sluice help: unknown command 'frobnicate' (see 'sluice --help')\n");
	done(&r);
	r = run("version", "--help", NULL, NULL);
	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "Usage: sluice version\n"));
	done(&r);
	r = run("version", NULL, NULL, NULL);
	assert_int_equal(r.rc, CLI_OK);
	assert_true(strncmp(r.out, "sluice ", 7) == 0);
	assert_non_null(strstr(r.out, "libyaml 0."));
	done(&r);
}

/* sluice __complete WORDS... CURRENT, offline: verbs, flags, values, directives */
static void complete_offline(void **state)
{
	(void)state;
	struct run r = run("__complete", "st", NULL, NULL);
	assert_int_equal(r.rc, CLI_OK);
	assert_string_equal(r.out, "stats\tdelivery figures (DORA) from rollout history\n"
	                           "status\ta rollout now: phase, step, weights, commits, pods, "
	                           "analysis\n:4\n");
	assert_string_equal(r.err, "");
	done(&r);
	r = run("__complete", "", NULL, NULL);
	for (size_t i = 0; cli_verb(i); i++) {
		char line[64];
		snprintf(line, sizeof(line), "\n%s\t", cli_verb(i));
		if (strncmp(r.out, line + 1, strlen(line + 1)) != 0 && !strstr(r.out, line))
			fail_msg("__complete '' lacks %s:\n%s", cli_verb(i), r.out);
	}
	done(&r);
	r = run("__complete", "get", "", NULL);
	assert_string_equal(r.out, "apps\nrollouts\n:4\n");
	done(&r);
	r = run("__complete", "status", "--w", NULL);
	assert_string_equal(r.out, "--watch\n--wait\n:4\n");
	done(&r);
	r = run("__complete", "get", "-o", "");
	assert_string_equal(r.out, "wide\njson\nyaml\n:4\n");
	done(&r);
	r = run("__complete", "render", "", NULL);
	assert_string_equal(r.out, ":16\n"); /* directories */
	done(&r);
	r = run("__complete", "status", "--kubeconfig", "");
	assert_string_equal(r.out, ":0\n"); /* files */
	done(&r);
	r = run("__complete", "help", "pr", NULL);
	assert_string_equal(r.out, "promote\n:4\n");
	done(&r);
	/* a rollout's name, from a cluster that cannot be reached: none, and no error shown */
	r = run("__complete", "status", "--kubeconfig", "/nonexistent/kubeconfig");
	assert_int_equal(r.rc, CLI_OK);
	done(&r);
	r = run("__complete", "status", "--kubeconfig=/nonexistent/kubeconfig", "w");
	assert_string_equal(r.out, ":4\n");
	assert_string_equal(r.err, "");
	done(&r);

	/* as kubectl runs it: the link kubectl_complete-sluice, with the words after "sluice" */
	char *argv[] = {(char *)"/usr/local/bin/kubectl_complete-sluice", (char *)"pro", NULL};
	struct cli c = {tmpfile(), tmpfile(), "sluice"};
	assert_int_equal(cli_run(&c, 2, argv), CLI_OK);
	char *out = slurp(c.out), *err = slurp(c.err);
	assert_string_equal(out, "promote\tact on a canary rollout\n:4\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(render_examples),
	    cmocka_unit_test(render_reports_every_broken_file),
	    cmocka_unit_test(usage_errors_exit_2),
	    cmocka_unit_test(help_and_version),
	    cmocka_unit_test(complete_offline),
	};
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
