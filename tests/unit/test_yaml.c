/* YAML streams into JSON: structure, places in errors, limits, and output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/yaml.h"
#include "support.h"

static struct yaml_stream *parse_ok(const char *text)
{
	struct yaml_stream *s = NULL;
	int rc = yaml_stream_parse(&s, text, strlen(text), "t.yaml");
	if (rc < 0)
		fail_msg("parse failed: %s", sluice_error_last());
	return s;
}

/* The parse must fail with `code` and a message starting "t.yaml:LINE:COL: "
 * and containing `what`. */
static void parse_fails(const char *text, int code, unsigned line, unsigned col, const char *what)
{
	struct yaml_stream *s = NULL;
	char place[64];
	int rc = yaml_stream_parse(&s, text, strlen(text), "t.yaml");

	assert_null(s);
	if (rc != code)
		fail_msg("rc %d (%s), want %d", rc, sluice_error_last(), code);
	snprintf(place, sizeof(place), "t.yaml:%u:%u: ", line, col);
	if (strncmp(sluice_error_last(), place, strlen(place)) != 0 ||
	    !strstr(sluice_error_last(), what))
		fail_msg("message \"%s\", want \"%s...%s\"", sluice_error_last(), place, what);
	assert_null(strchr(sluice_error_last(), '\n'));
}

static char *compact(const json_t *v)
{
	char *out = NULL;
	assert_int_equal(jsonfmt_dump(&out, v, JSONFMT_COMPACT), 0);
	return out;
}

static void doc_is(struct yaml_stream *s, size_t i, const char *want)
{
	char *got = compact(yaml_stream_doc(s, i));
	if (strcmp(got, want) != 0)
		fail_msg("document %zu is %s, want %s", i, got, want);
	free(got);
}

static void anchors_aliases_and_merges(void **state)
{
	(void)state;
	struct yaml_stream *s = parse_ok("base: &b {x: 1, z: 2}\n"
	                                 "list: &l [a, b]\n"
	                                 "m:\n  <<: *b\n  z: 3\n"
	                                 "k:\n  <<: [{x: 9}, *b]\n"
	                                 "again: *l\n"
	                                 "s: &s hello\nt: *s\n"
	                                 "y: yes\n");
	doc_is(s, 0,
	       "{\"again\":[\"a\",\"b\"],\"base\":{\"x\":1,\"z\":2},\"k\":{\"x\":9,\"z\":2},"
	       "\"list\":[\"a\",\"b\"],\"m\":{\"x\":1,\"z\":3},\"s\":\"hello\",\"t\":\"hello\","
	       "\"true\":true}");
	/* aliases are copies: changing one does not change the other */
	json_t *doc = yaml_stream_doc(s, 0);
	json_object_set_new(json_object_get(doc, "m"), "x", json_integer(42));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "k"), "x")), 9);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "base"), "x")), 1);
	json_array_append_new(json_object_get(doc, "again"), json_string("c"));
	assert_int_equal(json_array_size(json_object_get(doc, "list")), 2);
	yaml_stream_free(s);
}

static void block_scalars_and_multidoc(void **state)
{
	(void)state;
	struct yaml_stream *s = parse_ok("a: |\n  one\n  two\nb: >-\n  folded\n  text\n"
	                                 "---\n# only a comment\n---\nc: 'it''s'\n");
	assert_int_equal(yaml_stream_count(s), 3);
	doc_is(s, 0, "{\"a\":\"one\\ntwo\\n\",\"b\":\"folded text\"}");
	assert_true(json_is_null(yaml_stream_doc(s, 1)));
	doc_is(s, 2, "{\"c\":\"it's\"}");
	assert_int_equal(yaml_stream_doc_line(s, 2), 10);
	yaml_stream_free(s);
}

static void lines_of_collections(void **state)
{
	(void)state;
	struct yaml_stream *s =
	    parse_ok("a: 1\n---\nkind: X\nmetadata:\n  name: n\nitems:\n- x: 1\n");
	json_t *d = yaml_stream_doc(s, 1);
	assert_int_equal(yaml_stream_line_of(s, d), 3);
	assert_int_equal(yaml_stream_line_of(s, json_object_get(d, "metadata")), 5);
	assert_int_equal(yaml_stream_line_of(s, json_array_get(json_object_get(d, "items"), 0)), 7);
	yaml_stream_free(s);
}

static void json_streams(void **state)
{
	(void)state;
	struct yaml_stream *s =
	    parse_ok("{\"a\": 1.0, \"b\": [2.5, \"\\ud83d\\ude00\"]}\n{\"c\": null}");
	assert_int_equal(yaml_stream_count(s), 2);
	doc_is(s, 0, "{\"a\":1,\"b\":[2.5,\"\xf0\x9f\x98\x80\"]}");
	doc_is(s, 1, "{\"c\":null}");
	assert_int_equal(yaml_stream_doc_line(s, 1), 2);
	yaml_stream_free(s);
	parse_fails("{\"a\": 1,\n \"a\": 2}", SLUICE_EINVALID, 2, 4, "duplicate object key");
}

static void errors_name_the_place(void **state)
{
	(void)state;
	parse_fails("a: 1\nb: [1, 2\n", SLUICE_EINVALID, 3, 1, "did not find expected");
	parse_fails("a: 1\n\tb: 2\n", SLUICE_EINVALID, 2, 1, "found a tab character");
	parse_fails("a: *nope\n", SLUICE_EINVALID, 1, 4, "unknown anchor 'nope'");
	parse_fails("x: 1\n---\na: 1\na: 2\n", SLUICE_EINVALID, 4, 4,
	            "mapping key \"a\" already defined");
	parse_fails("a: .inf\n", SLUICE_EINVALID, 1, 4, "cannot be represented in JSON");
	parse_fails("a: !!int abc\n", SLUICE_EINVALID, 1, 4,
	            "cannot decode !!str `abc` as a !!int");
	parse_fails("m:\n  <<: 5\n", SLUICE_EINVALID, 2, 7, "map merge requires map");
	parse_fails("a: 1\n--- x\n", SLUICE_EINVALID, 2, 1, "invalid YAML document separator: x");
	parse_fails("? [a, b]\n: 1\n", SLUICE_EINVALID, 1, 8, "mapping key must be a scalar");
}

static void billion_laughs_is_rejected_fast(void **state)
{
	struct buf b;
	struct yaml_stream *s = NULL;
	struct timespec t0, t1;
	int rc;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_adds(&b, "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (int i = 1; i < 10; i++)
		buf_printf(
		    &b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
		    i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = yaml_stream_parse(&s, b.ptr, b.len, "bomb.yaml");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	buf_dispose(&b);
	assert_int_equal(rc, SLUICE_ELIMIT);
	assert_non_null(strstr(sluice_error_last(), "bomb.yaml:"));
	assert_non_null(strstr(sluice_error_last(), "alias expansion limit"));
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("billion laughs rejected in %.2f ms\n", ms);
	assert_true(ms < 100);
}

static void depth_and_size_limits(void **state)
{
	struct buf b;
	struct yaml_stream *s = NULL;

	(void)state;
	buf_init(&b, 1 << 20);
	for (int i = 0; i < SLUICE_YAML_MAX_DEPTH + 1; i++)
		buf_addc(&b, '[');
	for (int i = 0; i < SLUICE_YAML_MAX_DEPTH + 1; i++)
		buf_addc(&b, ']');
	assert_int_equal(yaml_stream_parse(&s, b.ptr, b.len, "deep.yaml"), SLUICE_ELIMIT);
	assert_non_null(strstr(sluice_error_last(), "deep.yaml:1:"));
	assert_non_null(strstr(sluice_error_last(), "nesting deeper than"));
	buf_reset(&b);
	/* at the limit is fine */
	for (int i = 0; i < SLUICE_YAML_MAX_DEPTH; i++)
		buf_addc(&b, '[');
	for (int i = 0; i < SLUICE_YAML_MAX_DEPTH; i++)
		buf_addc(&b, ']');
	assert_int_equal(yaml_stream_parse(&s, b.ptr, b.len, "deep.yaml"), 0);
	yaml_stream_free(s);
	buf_dispose(&b);

	/* aliases count toward depth */
	buf_init(&b, 1 << 20);
	buf_adds(&b, "a: &x ");
	for (int i = 0; i < 200; i++)
		buf_addc(&b, '[');
	for (int i = 0; i < 200; i++)
		buf_addc(&b, ']');
	buf_adds(&b, "\nb: ");
	for (int i = 0; i < 100; i++)
		buf_addc(&b, '[');
	buf_adds(&b, "*x");
	for (int i = 0; i < 100; i++)
		buf_addc(&b, ']');
	buf_addc(&b, '\n');
	assert_int_equal(yaml_stream_parse(&s, b.ptr, b.len, "deep.yaml"), SLUICE_ELIMIT);
	buf_dispose(&b);

	char *big = malloc(SLUICE_YAML_MAX_STREAM_BYTES + 2);
	memset(big, 'a', SLUICE_YAML_MAX_STREAM_BYTES + 1);
	big[SLUICE_YAML_MAX_STREAM_BYTES + 1] = '\0';
	assert_int_equal(yaml_stream_parse(&s, big, SLUICE_YAML_MAX_STREAM_BYTES + 1, "big.yaml"),
	                 SLUICE_ELIMIT);
	assert_non_null(strstr(sluice_error_last(), "big.yaml:1:1: file of"));
	/* one scalar over the scalar limit */
	memcpy(big, "a: ", 3);
	assert_int_equal(yaml_stream_parse(&s, big, SLUICE_YAML_MAX_SCALAR_BYTES + 4, "big.yaml"),
	                 SLUICE_ELIMIT);
	assert_non_null(strstr(sluice_error_last(), "big.yaml:1:4: scalar of"));
	free(big);
}

static void emit_round_trips(void **state)
{
	(void)state;
	const char *src =
	    "s: ['yes', 'no', '1.5', '0x1F', '~', '', '<<', 'a: b', '- x', '#c',\n"
	    "    'multi\n\n      line', '  lead', 'trail  ', 'tab\there', '2001-12-14',\n"
	    "    'é😀', '1e3', '.inf', '@at', '%pct', '\"q\"', \"it's\", '*star', '&amp']\n"
	    "'1.0': float-looking key\n'true': bool-looking key\n"
	    "n: [1, -2, 0.5, 1e-7, 100000000000000000000, true, null]\n"
	    "e: {}\nf: []\n";
	struct yaml_stream *s = parse_ok(src), *s2 = NULL;
	char *text = NULL, *where = calloc(1, 256);
	assert_int_equal(yaml_emit(&text, yaml_stream_doc(s, 0)), 0);
	if (yaml_stream_parse(&s2, text, strlen(text), "emitted.yaml") < 0)
		fail_msg("emitted YAML does not parse: %s\n%s", sluice_error_last(), text);
	if (!test_json_same(yaml_stream_doc(s, 0), yaml_stream_doc(s2, 0), where, 256))
		fail_msg("round trip differs at %s:\n%s", where, text);
	free(where);
	free(text);
	yaml_stream_free(s);
	yaml_stream_free(s2);
}

static void json_output_like_kubectl(void **state)
{
	(void)state;
	struct yaml_stream *s = parse_ok("b: '<a&b>'\na: [1.5, {}]\nc: \"\\u2028\"\n");
	char *out = NULL;
	assert_int_equal(jsonfmt_dump(&out, yaml_stream_doc(s, 0), 0), 0);
	assert_string_equal(out,
	                    "{\n    \"a\": [\n        1.5,\n        {}\n    ],\n"
	                    "    \"b\": \"\\u003ca\\u0026b\\u003e\",\n    \"c\": \"\\u2028\"\n}");
	free(out);
	yaml_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(anchors_aliases_and_merges),
	    cmocka_unit_test(block_scalars_and_multidoc),
	    cmocka_unit_test(lines_of_collections),
	    cmocka_unit_test(json_streams),
	    cmocka_unit_test(errors_name_the_place),
	    cmocka_unit_test(billion_laughs_is_rejected_fast),
	    cmocka_unit_test(depth_and_size_limits),
	    cmocka_unit_test(emit_round_trips),
	    cmocka_unit_test(json_output_like_kubectl),
	};
	return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
