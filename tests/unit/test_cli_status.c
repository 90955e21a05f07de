/*
 * The CLI's pure parts: durations, weight bars, spans, the delivery (DORA)
 * arithmetic; and every verb's --help (exit 0, an example using the verb).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/cli.h"
#include "sluice/error.h"
#include "support.h"

static void durations(void **state)
{
	(void)state;
	static const struct {
		long long ms;
		const char *want;
	} cases[] = {
	    {0, "0s"},
	    {-1500, "0s"}, /* a little clock skew */
	    {-60000, "-"},
	    {999, "0s"},
	    {45000, "45s"},
	    {119999, "119s"},
	    {120000, "2m"},
	    {125000, "2m05s"},
	    {599000, "9m59s"},
	    {600000, "10m"},
	    {3 * 3600000LL - 1, "179m"},
	    {3 * 3600000LL + 2 * 60000, "3h02m"},
	    {8 * 3600000LL, "8h"},
	    {47 * 3600000LL + 59 * 60000, "47h"},
	    {2 * 86400000LL + 4 * 3600000LL, "2d04h"},
	    {3 * 86400000LL, "3d"},
	    {30 * 86400000LL, "30d"},
	    {800 * 86400000LL, "2y70d"},
	    {10 * 365 * 86400000LL, "10y"},
	};
	char buf[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cli_fmt_duration(buf, sizeof(buf), cases[i].ms);
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("%lld ms: got %s, want %s", cases[i].ms, buf, cases[i].want);
	}
	cli_fmt_duration(buf, 3, 125000); /* cut short, still a string */
	assert_string_equal(buf, "2m");
}

static void bars(void **state)
{
	(void)state;
	char buf[128];

	cli_fmt_bar(buf, sizeof(buf), 50, 20, 0);
	assert_string_equal(buf, "##########..........");
	cli_fmt_bar(buf, sizeof(buf), 0, 10, 0);
	assert_string_equal(buf, "..........");
	cli_fmt_bar(buf, sizeof(buf), 100, 10, 0);
	assert_string_equal(buf, "##########");
	cli_fmt_bar(buf, sizeof(buf), 1, 20, 0); /* any weight shows */
	assert_string_equal(buf, "#...................");
	cli_fmt_bar(buf, sizeof(buf), 25, 20, 0);
	assert_string_equal(buf, "#####...............");
	cli_fmt_bar(buf, sizeof(buf), 33, 10, 0); /* 3.3 cells: 3 */
	assert_string_equal(buf, "###.......");
	cli_fmt_bar(buf, sizeof(buf), 35, 10, 0); /* 3.5 cells: 4 */
	assert_string_equal(buf, "####......");
	cli_fmt_bar(buf, sizeof(buf), 150, 4, 0); /* clamped */
	assert_string_equal(buf, "####");
	cli_fmt_bar(buf, sizeof(buf), -5, 4, 0);
	assert_string_equal(buf, "....");
	cli_fmt_bar(buf, sizeof(buf), 50, 4, 1);
	assert_string_equal(buf, "\xe2\x96\x88\xe2\x96\x88\xe2\x96\x91\xe2\x96\x91");
	/* too small a buffer: whole cells only, never half a UTF-8 sequence */
	cli_fmt_bar(buf, 8, 50, 4, 1);
	assert_string_equal(buf, "\xe2\x96\x88\xe2\x96\x88");
	cli_fmt_bar(buf, sizeof(buf), 50, 0, 0);
	assert_string_equal(buf, "");
}

static void spans(void **state)
{
	(void)state;
	assert_int_equal(cli_parse_span("30d"), 30LL * 86400000);
	assert_int_equal(cli_parse_span("2w"), 14LL * 86400000);
	assert_int_equal(cli_parse_span("12h"), 12LL * 3600000);
	assert_int_equal(cli_parse_span("1h30m"), 90LL * 60000);
	assert_int_equal(cli_parse_span("90s"), 90000);
	assert_int_equal(cli_parse_span("250ms"), 250);
	assert_int_equal(cli_parse_span("60"), 60000); /* bare: seconds */
	assert_int_equal(cli_parse_span("0"), 0);
	assert_int_equal(cli_parse_span(""), -1);
	assert_int_equal(cli_parse_span(NULL), -1);
	assert_int_equal(cli_parse_span("soon"), -1);
	assert_int_equal(cli_parse_span("5x"), -1);
	assert_int_equal(cli_parse_span("m"), -1);
	assert_int_equal(cli_parse_span("-5m"), -1);
	assert_int_equal(cli_parse_span("99999999999999999999d"), -1);
	assert_int_equal(cli_parse_span("9999999999w"), -1);
}

/* An entry as status.history holds it (times in ms since an epoch day 0). */
static json_t *entry(const char *rollout, const char *result, long long start_s, long long end_s,
                     long long commit_s)
{
	char start[40], end[40], commit[40];
	json_t *e;

	snprintf(start, sizeof(start), "2026-11-%02lldT%02lld:%02lld:%02lld.000Z",
	         1 + start_s / 86400, start_s % 86400 / 3600, start_s % 3600 / 60, start_s % 60);
	snprintf(end, sizeof(end), "2026-11-%02lldT%02lld:%02lld:%02lld.000Z", 1 + end_s / 86400,
	         end_s % 86400 / 3600, end_s % 3600 / 60, end_s % 60);
	e = json_pack("{s:s, s:s, s:s, s:s}", "rollout", rollout, "result", result, "start", start,
	              "end", end);
	if (commit_s >= 0) {
		snprintf(commit, sizeof(commit), "2026-11-%02lldT%02lld:%02lld:%02lld.000Z",
		         1 + commit_s / 86400, commit_s % 86400 / 3600, commit_s % 3600 / 60,
		         commit_s % 60);
		json_object_set_new(e, "commitTime", json_string(commit));
	}
	return e;
}

#define T0 1793491200000LL /* 2026-11-01T00:00:00Z in ms */

static void dora(void **state)
{
	(void)state;
	struct cli_dora d;
	json_t *h = json_array();

	/* web: promoted, rolled back at 1000 s, aborted at 1500 s, promoted at 4000 s */
	json_array_append_new(h, entry("shop/web", "Promoted", 0, 600, 100));
	json_array_append_new(h, entry("shop/web", "RolledBack", 700, 1000, -1));
	json_array_append_new(h, entry("shop/web", "Aborted", 1200, 1500, -1));
	json_array_append_new(h, entry("shop/web", "Superseded", 1600, 1700, -1));
	json_array_append_new(h, entry("shop/web", "Promoted", 3000, 4000, 2000));
	/* api, listed newest first as the status does: fails at 500 s, never recovers;
	 * its failure must not pair with web's promotion */
	json_array_append_new(h, entry("shop/api", "RolledBack", 400, 500, -1));
	json_array_append_new(h, entry("shop/api", "Promoted", 100, 300, -1));
	/* outside the window */
	json_array_append_new(h, entry("shop/web", "Promoted", 86400 * 20, 86400 * 20 + 60, -1));

	assert_int_equal(cli_dora_compute(&d, h, T0, T0 + 2 * 86400000LL), 0);
	assert_int_equal(d.promoted, 3);
	assert_int_equal(d.failed, 3);
	assert_int_equal(d.superseded, 1);
	assert_true(fabs(d.per_day - 1.5) < 1e-9);
	assert_true(fabs(d.failure_rate - 0.5) < 1e-9);
	/* one incident on web, 1000 s to 4000 s (the abort is the same incident) */
	assert_int_equal(d.incidents, 1);
	assert_int_equal(d.mttr_ms, 3000000);
	assert_int_equal(d.open_incidents, 1); /* api */
	/* lead: 600-100 = 500 s and 4000-2000 = 2000 s: median 1250 s */
	assert_int_equal(d.lead_n, 2);
	assert_int_equal(d.lead_median_ms, 1250000);
	/* durations 600, 1000, 200 s: median 600 s */
	assert_int_equal(d.duration_median_ms, 600000);
	/* failed releases ran 300 (web), 300 (web's abort) and 100 s (api) before
	 * they were undone: median 300 s */
	assert_int_equal(d.rollback_n, 3);
	assert_int_equal(d.rollback_median_ms, 300000);

	/* nothing in the window: no rates, no recovery, lead unavailable */
	assert_int_equal(cli_dora_compute(&d, h, T0 + 40 * 86400000LL, T0 + 41 * 86400000LL), 0);
	assert_int_equal(d.promoted, 0);
	assert_true(isnan(d.failure_rate));
	assert_int_equal(d.mttr_ms, -1);
	assert_int_equal(d.lead_median_ms, -1);
	assert_int_equal(d.duration_median_ms, -1);
	assert_int_equal(d.rollback_median_ms, -1);
	assert_true(d.per_day == 0);

	/* two recoveries: mean */
	json_t *g = json_array();
	json_array_append_new(g, entry("a/x", "RolledBack", 0, 100, -1));
	json_array_append_new(g, entry("a/x", "Promoted", 100, 400, -1));
	json_array_append_new(g, entry("a/x", "Aborted", 500, 600, -1));
	json_array_append_new(g, entry("a/x", "Promoted", 600, 700, -1));
	assert_int_equal(cli_dora_compute(&d, g, T0, T0 + 86400000LL), 0);
	assert_int_equal(d.incidents, 2);
	assert_int_equal(d.mttr_ms, (300000 + 100000) / 2);
	assert_int_equal(d.open_incidents, 0);
	assert_int_equal(d.lead_n, 0);
	assert_int_equal(d.lead_median_ms, -1);

	assert_int_equal(cli_dora_compute(&d, json_object_get(h, "nope"), T0, T0 + 1),
	                 SLUICE_EINVALID);
	json_decref(g);
	json_decref(h);
}

/* Every verb sluice dispatches has a --help (exit 0) with an example using it. */
static void helps(void **state)
{
	(void)state;
	for (size_t i = 0; cli_verb(i); i++) {
		const char *verb = cli_verb(i);
		char *argv[] = {(char *)"sluice", (char *)verb, (char *)"--help", NULL};
		char *text = NULL, example[64], *ex;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len), *err = tmpfile();
		struct cli c = {out, err, "sluice"};
		int rc = cli_run(&c, 3, argv);
		fclose(out);
		fclose(err);
		snprintf(example, sizeof(example), "sluice %s", verb);
		ex = strstr(text, "\nExample");
		if (rc != CLI_OK || strncmp(text, "Usage: sluice ", 14) != 0 ||
		    !strstr(text, verb) || !ex || !strstr(ex, example))
			fail_msg("sluice %s --help: exit %d, no example using it:\n%s", verb, rc,
			         text);
		free(text);
	}
	/* and every command of the help source is one sluice dispatches */
	for (const struct cli_help *h = cli_help_sluice + 1; h->verbs; h++) {
		char verb[32];
		for (const char *v = h->verbs; *v; v += strcspn(v, " "), v += *v == ' ') {
			int found = 0;
			snprintf(verb, sizeof(verb), "%.*s", (int)strcspn(v, " "), v);
			for (size_t i = 0; cli_verb(i) && !found; i++)
				found = strcmp(cli_verb(i), verb) == 0;
			if (!found && strcmp(verb, "help") != 0)
				fail_msg("docs/man/sluice.txt has a command '%s' that sluice lacks",
				         verb);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(durations), cmocka_unit_test(bars),  cmocka_unit_test(spans),
	    cmocka_unit_test(dora),      cmocka_unit_test(helps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
