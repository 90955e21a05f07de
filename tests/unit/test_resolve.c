/* YAML 1.1 scalar resolution as kubectl's YAML library does it. */
#include <math.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/yaml.h"
#include "support.h"

static struct yaml_scalar res(const char *tag, const char *s, int plain)
{
	struct yaml_scalar sc;
	int rc = yaml_resolve(&sc, tag, s, strlen(s), plain);

	if (rc < 0)
		fail_msg("yaml_resolve(%s, %s): %s", tag ? tag : "", s, sluice_error_last());
	return sc;
}

static void is_type(const char *s, enum yaml_scalar_type t)
{
	struct yaml_scalar sc = res(NULL, s, 1);
	if (sc.type != t)
		fail_msg("'%s' resolved to type %d, want %d", s, sc.type, t);
}

static void is_int(const char *s, long long v)
{
	struct yaml_scalar sc = res(NULL, s, 1);
	if (sc.type != YAML_SCALAR_INT || sc.i != v)
		fail_msg("'%s' resolved to type %d value %lld, want int %lld", s, sc.type, sc.i, v);
}

static void is_float(const char *s, double v)
{
	struct yaml_scalar sc = res(NULL, s, 1);
	if (sc.type != YAML_SCALAR_FLOAT || !(sc.f == v || (isnan(v) && isnan(sc.f))))
		fail_msg("'%s' resolved to type %d value %g, want float %g", s, sc.type, sc.f, v);
}

static void booleans_and_nulls(void **state)
{
	(void)state;
	const char *t[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
	const char *f[] = {"n",     "N",     "no",  "No",  "NO", "false",
	                   "False", "FALSE", "off", "Off", "OFF"};
	for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
		struct yaml_scalar a = res(NULL, t[i], 1), b = res(NULL, f[i], 1);
		assert_int_equal(a.type, YAML_SCALAR_BOOL);
		assert_int_equal(a.b, 1);
		assert_int_equal(b.type, YAML_SCALAR_BOOL);
		assert_int_equal(b.b, 0);
	}
	is_type("yEs", YAML_SCALAR_STR);
	is_type("oN", YAML_SCALAR_STR);
	is_type("tRUE", YAML_SCALAR_STR);
	is_type("~", YAML_SCALAR_NULL);
	is_type("null", YAML_SCALAR_NULL);
	is_type("NULL", YAML_SCALAR_NULL);
	is_type("", YAML_SCALAR_NULL);
	is_type("nulL", YAML_SCALAR_STR);
	/* quoted scalars are strings whatever they say */
	assert_int_equal(res(NULL, "yes", 0).type, YAML_SCALAR_STR);
	assert_int_equal(res(NULL, "123", 0).type, YAML_SCALAR_STR);
	assert_int_equal(res(NULL, "", 0).type, YAML_SCALAR_STR);
}

static void integers(void **state)
{
	(void)state;
	is_int("0", 0);
	is_int("-0", 0);
	is_int("+12", 12);
	is_int("-12", -12);
	is_int("1_000", 1000);
	is_int("0x1F", 31);
	is_int("0X1f", 31);
	is_int("-0x1F", -31);
	is_int("0o17", 15);
	is_int("0777", 511);
	is_int("007", 7);
	is_int("0b1010", 10);
	is_int("-0b101", -5);
	is_int("9223372036854775807", INT64_MAX);
	is_int("-9223372036854775808", INT64_MIN);
	struct yaml_scalar u = res(NULL, "18446744073709551615", 1);
	assert_int_equal(u.type, YAML_SCALAR_UINT);
	assert_true(u.u == UINT64_MAX);
	is_type("9223372036854775808", YAML_SCALAR_UINT);
	is_float("08", 8);
	is_float("09", 9);
	is_float("99999999999999999999", 1e20);
	is_type("0b2", YAML_SCALAR_STR);
	is_type("1:20", YAML_SCALAR_STR);
	is_type("0x", YAML_SCALAR_STR);
	is_type("12abc", YAML_SCALAR_STR);
	is_type("2001-12-14", YAML_SCALAR_STR);
}

static void floats(void **state)
{
	(void)state;
	is_float("1.5", 1.5);
	is_float(".5", 0.5);
	is_float("+.5", 0.5);
	is_float("-.5", -0.5);
	is_float("1.", 1);
	is_float("1e3", 1000);
	is_float("1E3", 1000);
	is_float("1.0e+3", 1000);
	is_float("1_000.5", 1000.5);
	is_float(".inf", INFINITY);
	is_float("+.INF", INFINITY);
	is_float("-.Inf", -INFINITY);
	is_float(".NaN", NAN);
	is_type(".nAn", YAML_SCALAR_STR);
	is_type(".infinity", YAML_SCALAR_STR);
	is_type("inf", YAML_SCALAR_STR);
	is_type("nan", YAML_SCALAR_STR);
	is_type("1e400", YAML_SCALAR_STR); /* overflow is not a number in Go */
	is_type(".5_0", YAML_SCALAR_STR);
	is_type("<<", YAML_SCALAR_MERGE);
}

static void explicit_tags(void **state)
{
	struct yaml_scalar sc;
	(void)state;
	assert_int_equal(res("tag:yaml.org,2002:str", "123", 1).type, YAML_SCALAR_STR);
	assert_int_equal(res("!!str", "yes", 1).type, YAML_SCALAR_STR);
	sc = res("tag:yaml.org,2002:int", "42", 0);
	assert_int_equal(sc.type, YAML_SCALAR_INT);
	assert_int_equal(sc.i, 42);
	sc = res("tag:yaml.org,2002:float", "1", 1);
	assert_int_equal(sc.type, YAML_SCALAR_FLOAT);
	assert_true(sc.f == 1.0);
	assert_int_equal(res("tag:yaml.org,2002:bool", "yes", 0).type, YAML_SCALAR_BOOL);
	assert_int_equal(res("!foo", "12", 1).type, YAML_SCALAR_STR);
	assert_int_equal(yaml_resolve(&sc, "tag:yaml.org,2002:int", "abc", 3, 1), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "cannot decode !!str `abc` as a !!int"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(booleans_and_nulls),
	    cmocka_unit_test(integers),
	    cmocka_unit_test(floats),
	    cmocka_unit_test(explicit_tags),
	};
	return cmocka_run_group_tests_name("resolve", tests, NULL, NULL);
}
