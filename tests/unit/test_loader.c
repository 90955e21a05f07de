/*
 * The manifest loader. Fixture folders in tests/data/loader/<case>/ hold an
 * input/ tree and either objects.txt (what must load, in order, one line per
 * object: "path:line [group/]Kind [namespace/]name") or expected.err (every
 * problem, one line each, in order). Symlinks and limits are built in a
 * temporary folder by the tests themselves.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/buf.h"
#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/manifest.h"
#include "sluice/yaml.h"
#include "support.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *describe_set(const struct manifest_set *set)
{
	struct buf b;
	char what[512];

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < set->count; i++) {
		manifest_obj_describe(what, sizeof(what), &set->objs[i]);
		buf_printf(&b, "%s:%u %s\n", set->objs[i].path, set->objs[i].line, what);
	}
	return buf_detach(&b);
}

static char *join_diag(const struct diag *d)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < d->count; i++)
		buf_printf(&b, "%s\n", d->msgs[i]);
	return buf_detach(&b);
}

static int run_case(const char *dir, const char *c)
{
	char cwd[4096], path[8192];
	struct manifest_set *set = NULL;
	struct diag errs;
	char *want_objs, *want_err, *got = NULL;
	int rc, ok = 0;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(path, sizeof(path), "%s/%s", dir, c);
	assert_int_equal(chdir(path), 0);
	want_objs = test_read_file("objects.txt", NULL);
	want_err = test_read_file("expected.err", NULL);
	diag_init(&errs);
	rc = manifest_load(&set, "input", &errs);
	if (want_err) {
		got = join_diag(&errs);
		if (rc != SLUICE_EINVALID || strcmp(got, want_err) != 0)
			printf("loader %s: rc %d, problems:\n%swant:\n%s", c, rc, got, want_err);
		else
			ok = 1;
	} else if (want_objs) {
		if (rc != 0) {
			got = join_diag(&errs);
			printf("loader %s: rc %d (%s)\n%s", c, rc, sluice_error_last(), got);
		} else {
			got = describe_set(set);
			if (strcmp(got, want_objs) != 0)
				printf("loader %s: loaded:\n%swant:\n%s", c, got, want_objs);
			else
				ok = 1;
		}
	} else {
		printf("loader %s: needs objects.txt or expected.err\n", c);
	}
	free(got);
	free(want_objs);
	free(want_err);
	manifest_set_free(set);
	diag_dispose(&errs);
	assert_int_equal(chdir(cwd), 0);
	return ok;
}

static void fixtures(void **state)
{
	char rel[1024], dir[4096];
	DIR *d;
	struct dirent *de;
	char *names[256];
	size_t n = 0, bad = 0;

	(void)state;
	snprintf(rel, sizeof(rel), "%s/loader", test_data_dir());
	assert_non_null(realpath(rel, dir));
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL && n < 256)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		bad += !run_case(dir, names[i]);
		free(names[i]);
	}
	assert_true(n >= 4);
	assert_int_equal(bad, 0);
}

struct tree {
	char *root;
};

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	t->root = test_tmpdir();
	*state = t;
	return t->root ? 0 : -1;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	test_rm_rf(t->root);
	free(t->root);
	free(t);
	return 0;
}

static void put(const struct tree *t, const char *rel, const char *content)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	for (char *s = p + strlen(t->root) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	assert_int_equal(test_write_file(p, content), 0);
}

static void link_to(const struct tree *t, const char *rel, const char *target)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void load_in(const struct tree *t, const char *sub, struct manifest_set **set,
                    struct diag *errs, int want_rc)
{
	char p[4096];
	int rc;

	snprintf(p, sizeof(p), "%s/%s", t->root, sub);
	diag_init(errs);
	rc = manifest_load(set, p, errs);
	if (rc != want_rc)
		fail_msg("manifest_load: rc %d, want %d (%s; %zu problems, first: %s)", rc, want_rc,
		         sluice_error_last(), errs->count, errs->count ? errs->msgs[0] : "");
}

static const char cm[] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n";

static void symlinks_inside_the_root_are_followed(void **state)
{
	struct tree *t = *state;
	struct manifest_set *set = NULL;
	struct diag errs;
	char doc[128];

	snprintf(doc, sizeof(doc), cm, "shared");
	put(t, "repo/.shared/cm.yaml", doc);
	put(t, "repo/app/keep", "");
	link_to(t, "repo/app/cm.yaml", "../.shared/cm.yaml");
	link_to(t, "repo/app/loop", "..");       /* a folder loop is cut */
	link_to(t, "repo/app/dangling", "nope"); /* not a manifest name: ignored */
	load_in(t, "repo", &set, &errs, 0);
	assert_int_equal(set->count, 1);
	assert_string_equal(set->objs[0].name, "shared");
	assert_non_null(strstr(set->objs[0].path, "repo/app/cm.yaml"));
	manifest_set_free(set);
	diag_dispose(&errs);
}

static void symlinks_out_of_the_root_are_rejected(void **state)
{
	struct tree *t = *state;
	struct manifest_set *set = NULL;
	struct diag errs;
	char doc[128];

	snprintf(doc, sizeof(doc), cm, "secret");
	put(t, "outside.yaml", doc);
	put(t, "repo/ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n");
	link_to(t, "repo/evil.yaml", "../outside.yaml");
	link_to(t, "repo/abs.yaml", "/etc/hostname");
	link_to(t, "repo/up", "../..");
	load_in(t, "repo", &set, &errs, SLUICE_EINVALID);
	assert_null(set);
	assert_int_equal(errs.count, 3);
	assert_non_null(strstr(errs.msgs[0], "repo/abs.yaml:1: symlink to an absolute path"));
	assert_non_null(strstr(errs.msgs[1], "repo/evil.yaml:1: symlink leads out of the root"));
	assert_non_null(strstr(errs.msgs[2], "repo/up:1: symlink leads out of the root"));
	diag_dispose(&errs);
}

static void oversized_files_are_rejected_unread(void **state)
{
	struct tree *t = *state;
	struct manifest_set *set = NULL;
	struct diag errs;
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/big", t->root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/big/huge.yaml", t->root);
	assert_non_null(f = fopen(p, "wb"));
	assert_int_equal(ftruncate(fileno(f), SLUICE_YAML_MAX_STREAM_BYTES + 1), 0);
	fclose(f);
	snprintf(p, sizeof(p), "%s/big/pipe.yaml", t->root);
	assert_int_equal(mkfifo(p, 0600), 0); /* not a regular file: never opened */
	load_in(t, "big", &set, &errs, SLUICE_EINVALID);
	assert_int_equal(errs.count, 1);
	assert_non_null(
	    strstr(errs.msgs[0], "big/huge.yaml:1: file of 8388609 bytes exceeds the limit"));
	diag_dispose(&errs);
}

static void a_single_file_and_a_missing_root(void **state)
{
	struct tree *t = *state;
	struct manifest_set *set = NULL;
	struct diag errs;

	put(t, "one.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: one}\n");
	load_in(t, "one.yaml", &set, &errs, 0);
	assert_int_equal(set->count, 1);
	assert_string_equal(set->objs[0].kind, "Namespace");
	manifest_set_free(set);
	diag_dispose(&errs);
	load_in(t, "missing", &set, &errs, SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "missing: No such file or directory"));
	diag_dispose(&errs);
}

static void kustomizations_are_rendered(void **state)
{
	struct tree *t = *state;
	struct manifest_set *set = NULL;
	struct diag errs;
	char p[4200];
	int have_kubectl = system("command -v kubectl >/dev/null 2>&1") == 0;

	put(t, "k/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n");
	put(t, "k/kustomization.yaml",
	    "resources: [settings.yaml]\nnamePrefix: dev-\ncommonLabels: {team: shop}\n");
	snprintf(p, sizeof(p), "%s/k", t->root);
	assert_string_equal(manifest_kustomization(p), "kustomization.yaml");
	diag_init(&errs);
	int rc = manifest_kustomize(&set, p, "k", &errs, 60000);
	if (!have_kubectl) {
		assert_int_equal(rc, SLUICE_EINVALID);
		assert_non_null(
		    strstr(errs.msgs[0],
		           "k/kustomization.yaml:1: rendering a kustomization needs kubectl"));
		diag_dispose(&errs);
		return;
	}
	if (rc < 0)
		fail_msg("%s", errs.count ? errs.msgs[0] : sluice_error_last());
	assert_int_equal(set->count, 1);
	assert_string_equal(set->objs[0].name, "dev-settings");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(set->objs[0].obj, "metadata"), "labels"), "team")),
	    "shop");
	manifest_set_free(set);
	diag_dispose(&errs);

	/* a broken kustomization is one line naming the file */
	put(t, "bad/kustomization.yaml", "resources: [missing.yaml]\n");
	snprintf(p, sizeof(p), "%s/bad", t->root);
	diag_init(&errs);
	assert_int_equal(manifest_kustomize(&set, p, "bad", &errs, 60000), SLUICE_EINVALID);
	assert_non_null(strstr(errs.msgs[0], "bad/kustomization.yaml:1: kustomize: "));
	diag_dispose(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fixtures),
	    cmocka_unit_test_setup_teardown(symlinks_inside_the_root_are_followed, tree_setup,
	                                    tree_teardown),
	    cmocka_unit_test_setup_teardown(symlinks_out_of_the_root_are_rejected, tree_setup,
	                                    tree_teardown),
	    cmocka_unit_test_setup_teardown(oversized_files_are_rejected_unread, tree_setup,
	                                    tree_teardown),
	    cmocka_unit_test_setup_teardown(a_single_file_and_a_missing_root, tree_setup,
	                                    tree_teardown),
	    cmocka_unit_test_setup_teardown(kustomizations_are_rendered, tree_setup, tree_teardown),
	};
	return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
