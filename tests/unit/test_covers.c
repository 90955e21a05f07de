/*
 * Change detection for a resync: an object is skipped only when the live copy
 * holds every value Git sets (server defaults aside) and carries the hash of
 * what Git renders.
 */
#include <string.h>

#include "sluice/sync.h"
#include "support.h"

static int covers(const char *want, const char *live)
{
	json_error_t e;
	json_t *w = json_loads(want, 0, &e), *l = json_loads(live, 0, &e);
	assert_non_null(w);
	assert_non_null(l);
	int r = sync_covers(w, l);
	json_decref(w);
	json_decref(l);
	return r;
}

static void server_defaults_do_not_count(void **state)
{
	(void)state;
	assert_true(covers("{\"spec\":{\"replicas\":2}}",
	                   "{\"spec\":{\"replicas\":2,\"revisionHistoryLimit\":10}}"));
	assert_true(covers("{\"ports\":[{\"port\":80}]}",
	                   "{\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]}"));
	assert_true(covers("{\"a\":1}", "{\"a\":1.0}")); /* numbers by value */
	assert_true(covers("{\"a\":null}", "{}"));
}

static void drift_in_what_git_sets_counts(void **state)
{
	(void)state;
	assert_false(covers("{\"spec\":{\"replicas\":2}}", "{\"spec\":{\"replicas\":5}}"));
	assert_false(covers("{\"data\":{\"mode\":\"blue\"}}", "{\"data\":{}}"));
	assert_false(
	    covers("{\"ports\":[{\"port\":80}]}", "{\"ports\":[{\"port\":80},{\"port\":81}]}"));
	assert_false(covers("{\"a\":\"1\"}", "{\"a\":1}"));
	assert_false(covers("{\"a\":true}", "{\"a\":false}"));
	/* a value the server rewrites is a difference: one idempotent apply, never a miss */
	assert_false(covers("{\"cpu\":\"0.5\"}", "{\"cpu\":\"500m\"}"));
}

static void the_hash_ignores_key_order_not_values(void **state)
{
	char a[2 * SYNC_HASH_BYTES + 1], b[2 * SYNC_HASH_BYTES + 1], c[2 * SYNC_HASH_BYTES + 1];
	json_error_t e;
	json_t *x = json_loads("{\"a\":1,\"b\":{\"c\":\"d\"}}", 0, &e);
	json_t *y = json_loads("{\"b\":{\"c\":\"d\"},\"a\":1}", 0, &e);
	json_t *z = json_loads("{\"b\":{\"c\":\"e\"},\"a\":1}", 0, &e);
	(void)state;
	assert_int_equal(sync_hash(a, x), 0);
	assert_int_equal(sync_hash(b, y), 0);
	assert_int_equal(sync_hash(c, z), 0);
	assert_int_equal(strlen(a), 2 * SYNC_HASH_BYTES);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	json_decref(x);
	json_decref(y);
	json_decref(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(server_defaults_do_not_count),
	    cmocka_unit_test(drift_in_what_git_sets_counts),
	    cmocka_unit_test(the_hash_ignores_key_order_not_values),
	};
	return cmocka_run_group_tests_name("covers", tests, NULL, NULL);
}
