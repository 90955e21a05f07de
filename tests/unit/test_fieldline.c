/*
 * Field lines: the line of the field an API error names, in the YAML the
 * object was read from (manifest_field_line, manifest_message_line).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/manifest.h"
#include "support.h"

/* Load `text` as the file "apps/web.yaml"; every object must load. */
static struct manifest_set *load(const char *text)
{
	struct manifest_set *set = manifest_set_new();
	struct diag errs;
	int rc;

	assert_non_null(set);
	diag_init(&errs);
	rc = manifest_load_buffer(set, text, strlen(text), "apps/web.yaml", &errs);
	for (size_t i = 0; i < errs.count; i++)
		printf("load: %s\n", errs.msgs[i]);
	if (rc < 0)
		printf("load: rc %d (%s)\n", rc, sluice_error_last());
	assert_int_equal(rc, 0);
	diag_dispose(&errs);
	return set;
}

static const char deployment[] = "# a comment\n"                 /* 1 */
                                 "apiVersion: apps/v1\n"         /* 2 */
                                 "kind: Deployment\n"            /* 3 */
                                 "metadata:\n"                   /* 4 */
                                 "  name: web\n"                 /* 5 */
                                 "  namespace: shop\n"           /* 6 */
                                 "  labels:\n"                   /* 7 */
                                 "    app: web\n"                /* 8 */
                                 "  annotations:\n"              /* 9 */
                                 "    example.com/team: a\n"     /* 10 */
                                 "    a.b.c: x\n"                /* 11 */
                                 "spec:\n"                       /* 12 */
                                 "  replicas: 2\n"               /* 13 */
                                 "  template:\n"                 /* 14 */
                                 "    spec:\n"                   /* 15 */
                                 "      containers:\n"           /* 16 */
                                 "      - name: web\n"           /* 17 */
                                 "        image: nginx\n"        /* 18 */
                                 "        ports:\n"              /* 19 */
                                 "        - containerPort: 80\n" /* 20 */
                                 "        - name: metrics\n"     /* 21 */
                                 "          port: 9090\n"        /* 22 */
                                 "      - name: side\n"          /* 23 */
                                 "        args:\n"               /* 24 */
                                 "        - one\n"               /* 25 */
                                 "        -   two\n";            /* 26 */

static void nested_scalars_and_list_items(void **state)
{
	struct manifest_set *set = load(deployment);
	const struct manifest_obj *m = &set->objs[0];

	(void)state;
	assert_int_equal(set->count, 1);
	assert_int_equal(m->line, 2);
	assert_int_equal(manifest_field_line(m, "metadata.name"), 5);
	assert_int_equal(manifest_field_line(m, "metadata.labels"), 7);
	assert_int_equal(manifest_field_line(m, "metadata.labels.app"), 8);
	assert_int_equal(manifest_field_line(m, "spec.replicas"), 13);
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers[0].image"), 18);
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers[1].name"), 23);
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers[0].ports[1].port"),
	                 22);
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers[0].ports[1]"), 21);
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers[1].args[1]"), 26);
	/* a leading dot, as server-side apply writes paths */
	assert_int_equal(manifest_field_line(m, ".spec.replicas"), 13);
	manifest_set_free(set);
}

static void missing_fields_fall_back_to_their_parent(void **state)
{
	struct manifest_set *set = load(deployment);
	const struct manifest_obj *m = &set->objs[0];

	(void)state;
	/* containers[1] has no image: the line of the item */
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers[1].image"), 23);
	assert_int_equal(
	    manifest_field_line(m, "spec.template.spec.containers[0].resources.limits"), 17);
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers[7].image"), 16);
	assert_int_equal(manifest_field_line(m, "spec.selector"), 12);
	assert_int_equal(manifest_field_line(m, "status"), 2);
	assert_int_equal(manifest_field_line(m, ""), 2);
	assert_int_equal(manifest_field_line(m, "spec.template.spec.containers["), 16);
	assert_int_equal(manifest_field_line(NULL, "spec"), 0);
	manifest_set_free(set);
}

static void map_keys_with_dots(void **state)
{
	struct manifest_set *set = load(deployment);
	const struct manifest_obj *m = &set->objs[0];

	(void)state;
	assert_int_equal(manifest_field_line(m, "metadata.annotations[example.com/team]"), 10);
	assert_int_equal(manifest_field_line(m, "metadata.annotations[a.b.c]"), 11);
	assert_int_equal(manifest_field_line(m, "metadata.annotations[nope.io/x]"), 9);
	/* server-side apply writes map keys after a dot */
	assert_int_equal(manifest_field_line(m, ".metadata.annotations.example.com/team"), 10);
	assert_int_equal(manifest_field_line(m, ".metadata.annotations.a.b.c"), 11);
	/* and list items by their keys */
	assert_int_equal(
	    manifest_field_line(m, ".spec.template.spec.containers[name=\"side\"].args"), 24);
	assert_int_equal(manifest_field_line(m, ".spec.template.spec.containers[name=\"web\"]"
	                                        ".ports[containerPort=80].containerPort"),
	                 20);
	assert_int_equal(
	    manifest_field_line(m, ".spec.template.spec.containers[name=\"side\"].args[=\"two\"]"),
	    26);
	assert_int_equal(manifest_field_line(m, ".spec.template.spec.containers[name=\"x\"].image"),
	                 16);
	manifest_set_free(set);
}

static void flow_mappings_and_quoted_keys(void **state)
{
	static const char cm[] = "apiVersion: v1\n"                                      /* 1 */
	                         "kind: ConfigMap\n"                                     /* 2 */
	                         "metadata: {name: cfg, labels: {app: web, 'x.y': z}}\n" /* 3 */
	                         "data:\n"                                               /* 4 */
	                         "  \"my.key\": one\n"                                   /* 5 */
	                         "  80: two\n"                                           /* 6 */
	                         "  other: {a: [1, 2],\n"                                /* 7 */
	                         "    b: 3}\n";                                          /* 8 */
	struct manifest_set *set = load(cm);
	const struct manifest_obj *m = &set->objs[0];

	(void)state;
	assert_int_equal(manifest_field_line(m, "metadata.name"), 3);
	assert_int_equal(manifest_field_line(m, "metadata.labels[x.y]"), 3);
	assert_int_equal(manifest_field_line(m, "data[my.key]"), 5);
	assert_int_equal(manifest_field_line(m, "data[80]"), 6);
	assert_int_equal(manifest_field_line(m, "data.other.a[1]"), 7);
	assert_int_equal(manifest_field_line(m, "data.other.b"), 8);
	manifest_set_free(set);
}

static void several_documents_and_lists(void **state)
{
	static const char text[] = "apiVersion: v1\n"        /* 1 */
	                           "kind: Service\n"         /* 2 */
	                           "metadata:\n"             /* 3 */
	                           "  name: one\n"           /* 4 */
	                           "---\n"                   /* 5 */
	                           "# second\n"              /* 6 */
	                           "apiVersion: v1\n"        /* 7 */
	                           "kind: Service\n"         /* 8 */
	                           "metadata:\n"             /* 9 */
	                           "  name: two\n"           /* 10 */
	                           "spec:\n"                 /* 11 */
	                           "  ports:\n"              /* 12 */
	                           "  - port: 80\n"          /* 13 */
	                           "  - port: 0\n"           /* 14 */
	                           "    name: bad\n"         /* 15 */
	                           "---\n"                   /* 16 */
	                           "---\n"                   /* 17 */
	                           "apiVersion: v1\n"        /* 18 */
	                           "kind: List\n"            /* 19 */
	                           "items:\n"                /* 20 */
	                           "- apiVersion: v1\n"      /* 21 */
	                           "  kind: ConfigMap\n"     /* 22 */
	                           "  metadata: {name: a}\n" /* 23 */
	                           "- apiVersion: v1\n"      /* 24 */
	                           "  kind: ConfigMap\n"     /* 25 */
	                           "  metadata:\n"           /* 26 */
	                           "    name: b\n"           /* 27 */
	                           "  data:\n"               /* 28 */
	                           "    k: v\n";             /* 29 */
	struct manifest_set *set = load(text);

	(void)state;
	assert_int_equal(set->count, 4);
	assert_int_equal(manifest_field_line(&set->objs[0], "metadata.name"), 4);
	assert_int_equal(set->objs[1].line, 7);
	assert_int_equal(manifest_field_line(&set->objs[1], "metadata.name"), 10);
	assert_int_equal(manifest_field_line(&set->objs[1], "spec.ports[1].port"), 14);
	assert_int_equal(manifest_field_line(&set->objs[1], "spec.ports[1].name"), 15);
	assert_int_equal(manifest_field_line(&set->objs[1], "spec.ports[0].port"), 13);
	assert_int_equal(set->objs[2].line, 21);
	assert_int_equal(manifest_field_line(&set->objs[2], "metadata.name"), 23);
	assert_int_equal(manifest_field_line(&set->objs[2], "data"), 21);
	assert_int_equal(manifest_field_line(&set->objs[3], "metadata.name"), 27);
	assert_int_equal(manifest_field_line(&set->objs[3], "data.k"), 29);
	manifest_set_free(set);
}

static void messages_name_their_first_field(void **state)
{
	struct manifest_set *set = load(deployment);
	const struct manifest_obj *m = &set->objs[0];

	(void)state;
	assert_int_equal(manifest_message_line(m, "Deployment.apps \"web\" is invalid: "
	                                          "spec.template.spec.containers[0].image: "
	                                          "Required value"),
	                 18);
	/* two causes: the first one's line */
	assert_int_equal(manifest_message_line(
	                     m, "Deployment.apps \"web\" is invalid: "
	                        "[spec.template.spec.containers[0].ports[1].port: Invalid "
	                        "value: 9090: must be unique, spec.replicas: Invalid value: -1: "
	                        "must be greater than or equal to 0]"),
	                 22);
	assert_int_equal(manifest_message_line(m, "Deployment.apps \"web\" is invalid: "
	                                          "metadata.annotations[example.com/team]: Invalid "
	                                          "value: \"a\": nope, spec.replicas: Invalid"),
	                 10);
	/* a webhook's message, and server-side apply's */
	assert_int_equal(manifest_message_line(m, "admission webhook \"x.example.com\" denied the "
	                                          "request: spec.replicas: must be odd"),
	                 13);
	assert_int_equal(manifest_message_line(
	                     m, "failed to create typed patch object (shop/web; apps/v1, "
	                        "Kind=Deployment): .spec.template.spec.containers[name=\"web\"]"
	                        ".imagex: field not declared in schema"),
	                 17);
	/* no field named */
	assert_int_equal(
	    manifest_message_line(m, "the server could not find the requested resource"), 2);
	assert_int_equal(manifest_message_line(m, "Deployment.apps \"web\" is invalid: "), 2);
	assert_int_equal(manifest_message_line(m, NULL), 2);
	assert_int_equal(manifest_message_line(NULL, "x"), 0);
	manifest_set_free(set);
}

static void json_and_aliases(void **state)
{
	static const char json[] = "{\n"
	                           "  \"apiVersion\": \"v1\",\n"
	                           "  \"kind\": \"ConfigMap\",\n"
	                           "  \"metadata\": {\"name\": \"j\"},\n"
	                           "  \"data\": {\"a\": \"b\"}\n"
	                           "}\n";
	static const char yaml[] = "apiVersion: v1\n"      /* 1 */
	                           "kind: Pod\n"           /* 2 */
	                           "metadata:\n"           /* 3 */
	                           "  name: p\n"           /* 4 */
	                           "  labels: &l\n"        /* 5 */
	                           "    app: web\n"        /* 6 */
	                           "spec:\n"               /* 7 */
	                           "  containers:\n"       /* 8 */
	                           "  - &c\n"              /* 9 */
	                           "    name: a\n"         /* 10 */
	                           "    image: x\n"        /* 11 */
	                           "  - <<: *c\n"          /* 12 */
	                           "    name: b\n"         /* 13 */
	                           "  nodeSelector: *l\n"; /* 14 */
	struct manifest_set *set = load(json);

	(void)state;
	assert_null(set->objs[0].doc);
	assert_int_equal(set->ntexts, 0);
	assert_int_equal(manifest_field_line(&set->objs[0], "data.a"), 1);
	manifest_set_free(set);

	set = load(yaml);
	assert_int_equal(manifest_field_line(&set->objs[0], "spec.containers[0].image"), 11);
	assert_int_equal(manifest_field_line(&set->objs[0], "spec.containers[1].name"), 13);
	/* merged in: the line of the item that merges it */
	assert_int_equal(manifest_field_line(&set->objs[0], "spec.containers[1].image"), 12);
	assert_int_equal(manifest_field_line(&set->objs[0], "spec.nodeSelector.app"), 14);
	manifest_set_free(set);
}

static void big_objects_keep_their_top_levels(void **state)
{
	size_t n = SLUICE_MANIFEST_MAX_FIELD_LINES + 100;
	size_t cap = 200 + n * 40;
	char *text = malloc(cap);
	size_t o = 0;
	struct manifest_set *set;

	(void)state;
	assert_non_null(text);
	o += (size_t)snprintf(text + o, cap - o,
	                      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n");
	/* each key k<i> on line 6 + 2i holds one nested key on line 7 + 2i */
	for (size_t i = 0; i < n / 2; i++)
		o += (size_t)snprintf(text + o, cap - o, "  k%zu:\n    v: x\n", i);
	o += (size_t)snprintf(text + o, cap - o, "last: 1\n");
	set = load(text);
	/* the first level is kept whole, the second only in part */
	assert_int_equal(manifest_field_line(&set->objs[0], "last"), 6 + n);
	assert_int_equal(manifest_field_line(&set->objs[0], "data.k0.v"), 7);
	assert_int_equal(manifest_field_line(&set->objs[0], "data.k2049.v"), 6 + 2 * 2049);
	manifest_set_free(set);
	free(text);
}

/* Files read from a folder: the set keeps the YAML it read (not the JSON,
 * nor a file without objects), and the caller's buffers may go. */
static void the_set_keeps_the_text(void **state)
{
	static const char svc[] = "apiVersion: v1\n"  /* 1 */
	                          "kind: Service\n"   /* 2 */
	                          "metadata:\n"       /* 3 */
	                          "  name: one\n"     /* 4 */
	                          "spec:\n"           /* 5 */
	                          "  ports:\n"        /* 6 */
	                          "  - port: 80\n"    /* 7 */
	                          "    name: http\n"; /* 8 */
	char *dir = test_tmpdir(), path[512], *copy;
	struct manifest_set *set = NULL;
	struct diag errs;
	int rc;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	assert_int_equal(test_write_file(path, deployment), 0);
	snprintf(path, sizeof(path), "%s/b.json", dir);
	assert_int_equal(test_write_file(path, "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n"
	                                       " \"metadata\": {\"name\": \"j\"}}\n"),
	                 0);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	assert_int_equal(test_write_file(path, "# nothing\n---\n"), 0);
	diag_init(&errs);
	rc = manifest_load(&set, dir, &errs);
	for (size_t i = 0; i < errs.count; i++)
		printf("load: %s\n", errs.msgs[i]);
	assert_int_equal(rc, 0);
	assert_int_equal(set->count, 2);
	assert_int_equal(set->ntexts, 1);
	assert_int_equal(
	    manifest_field_line(&set->objs[0], "spec.template.spec.containers[0].image"), 18);
	assert_null(set->objs[1].doc);
	assert_int_equal(manifest_field_line(&set->objs[1], "metadata.name"), 1);

	/* a buffer given to manifest_load_buffer() is copied */
	copy = strdup(svc);
	assert_non_null(copy);
	assert_int_equal(manifest_load_buffer(set, copy, strlen(copy), "svc.yaml", &errs), 0);
	memset(copy, '#', strlen(copy));
	free(copy);
	assert_int_equal(set->ntexts, 2);
	assert_int_equal(manifest_field_line(&set->objs[2], "spec.ports[0].name"), 8);
	assert_int_equal(manifest_message_line(&set->objs[2], "Service \"one\" is invalid: "
	                                                      "spec.ports[0].port: Invalid value"),
	                 7);
	manifest_set_free(set);
	diag_dispose(&errs);
	test_rm_rf(dir);
	free(dir);
}

static void *look_up(void *arg)
{
	const struct manifest_obj *m = arg;
	int bad = 0;

	for (int i = 0; i < 200; i++)
		bad |= manifest_field_line(m, "spec.template.spec.containers[0].ports[1].port") !=
		           22 ||
		       manifest_field_line(m, "metadata.annotations[a.b.c]") != 11;
	return bad ? arg : NULL;
}

/* Lookups keep nothing: one object from several threads at once. */
static void lookups_from_several_threads(void **state)
{
	struct manifest_set *set = load(deployment);
	pthread_t th[4];
	void *res;

	(void)state;
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, look_up, &set->objs[0]), 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &res), 0);
		assert_null(res);
	}
	manifest_set_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(nested_scalars_and_list_items),
	    cmocka_unit_test(missing_fields_fall_back_to_their_parent),
	    cmocka_unit_test(map_keys_with_dots),
	    cmocka_unit_test(flow_mappings_and_quoted_keys),
	    cmocka_unit_test(several_documents_and_lists),
	    cmocka_unit_test(messages_name_their_first_field),
	    cmocka_unit_test(json_and_aliases),
	    cmocka_unit_test(big_objects_keep_their_top_levels),
	    cmocka_unit_test(the_set_keeps_the_text),
	    cmocka_unit_test(lookups_from_several_threads),
	};
	return cmocka_run_group_tests_name("fieldline", tests, NULL, NULL);
}
