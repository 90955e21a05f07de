/* Numbers must print exactly as Go (and so kubectl) prints them. */
#include <math.h>
#include <string.h>

#include "sluice/numfmt.h"
#include "support.h"

static void check_json(double f, const char *want)
{
	char buf[NUMFMT_BUF];

	numfmt_json(buf, sizeof(buf), f);
	if (strcmp(buf, want) != 0)
		fail_msg("numfmt_json(%.17g) = %s, want %s", f, buf, want);
}

static void check_g32(double f, const char *want)
{
	char buf[NUMFMT_BUF];

	numfmt_go_g(buf, sizeof(buf), f, 32);
	if (strcmp(buf, want) != 0)
		fail_msg("numfmt_go_g(%.17g, 32) = %s, want %s", f, buf, want);
}

static void json_floats_like_go(void **state)
{
	(void)state;
	check_json(0.1, "0.1");
	check_json(1.5, "1.5");
	check_json(-2.25, "-2.25");
	check_json(1e20, "100000000000000000000");
	check_json(1e21, "1e+21");
	check_json(1.8446744073709552e19, "18446744073709552000");
	check_json(1e-7, "1e-7");
	check_json(0.000001, "0.000001");
	check_json(123456.789, "123456.789");
	check_json(6.8523015e+5, "685230.15");
	check_json(1e300, "1e+300");
	check_json(5e-324, "5e-324");
	check_json(0.1 + 0.2, "0.30000000000000004");
	check_json(0.0, "0");
	check_json(NAN, "NaN");
	check_json(-INFINITY, "-Inf");
}

static void float32_keys_like_go(void **state)
{
	(void)state;
	check_g32(1.5, "1.5");
	check_g32(1000, "1000");
	check_g32(0.1, "0.1");
	check_g32(1e6, "1e+06");
	check_g32(123456789, "1.2345679e+08");
	check_g32(0.0001, "0.0001");
	check_g32(0.00001, "1e-05");
	check_g32(-3.25, "-3.25");
	check_g32(INFINITY, "+Inf");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(json_floats_like_go),
	    cmocka_unit_test(float32_keys_like_go),
	};
	return cmocka_run_group_tests_name("numfmt", tests, NULL, NULL);
}
