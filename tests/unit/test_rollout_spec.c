/* Rollout and CanaryPolicy objects read into struct rollout_spec (offline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/error.h"
#include "sluice/rollout.h"
#include "support.h"

/* JSON written with ' for " (the fixtures hold no apostrophes). */
static json_t *J(const char *text)
{
	json_error_t err;
	char *s = strdup(text);
	json_t *o;

	assert_non_null(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	o = json_loads(s, 0, &err);
	if (!o)
		fail_msg("bad fixture: %s: %s", err.text, s);
	free(s);
	return o;
}

/* A Rollout shop/web whose spec holds `spec` (members, without braces). */
static json_t *rollout(const char *spec)
{
	char buf[4096];
	snprintf(buf, sizeof(buf),
	         "{'apiVersion':'sluice.dev/v1alpha1','kind':'Rollout',"
	         "'metadata':{'namespace':'shop','name':'web'},'spec':{%s}}",
	         spec);
	return J(buf);
}

/* A CanaryPolicy shop/`name` whose spec holds `spec`. */
static json_t *canary_policy(const char *name, const char *spec)
{
	char buf[4096];
	snprintf(buf, sizeof(buf),
	         "{'apiVersion':'sluice.dev/v1alpha1','kind':'CanaryPolicy',"
	         "'metadata':{'namespace':'shop','name':'%s'},'spec':{%s}}",
	         name, spec);
	return J(buf);
}

#define BASE "'targetRef':{'name':'web'},'service':'web'"

static void durations(void **state)
{
	static const struct {
		const char *s;
		long ms;
	} good[] = {
	    {"0s", 0},
	    {"0", 0},
	    {"0ms", 0},
	    {"300ms", 300},
	    {"90s", 90000},
	    {"5m", 300000},
	    {"1h", 3600000},
	    {"1h30m", 5400000},
	    {"1h30m15s500ms", 5415500},
	    {"2m1h", 3720000}, /* any order, as Go */
	    {"1m1m", 120000},
	    {"007s", 7000},
	    {"2147483647ms", 2147483647L},
	    {"596h31m23s647ms", 2147483647L},
	};
	static const char *const bad[] = {
	    "",
	    " 5m",
	    "5m ",
	    "+5m",
	    "-5m",
	    "1.5h",
	    ".5s",
	    "5",
	    "10",
	    "5x",
	    "5us",
	    "5ns",
	    "5µs",
	    "5d",
	    "h",
	    "m5",
	    "5M",
	    "5ms5",
	    "5mss",
	    "5 m",
	    "1h-30m",
	    "1h,30m",
	    "2147483648ms",
	    "597h",
	    "596h31m23s648ms",
	    "99999999999999999999999999s",
	    "0x10s",
	    "5m\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		long ms = rollout_parse_duration(good[i].s);
		if (ms != good[i].ms)
			fail_msg("\"%s\": got %ld, want %ld", good[i].s, ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long ms = rollout_parse_duration(bad[i]);
		if (ms != -1)
			fail_msg("\"%s\": got %ld, want -1", bad[i], ms);
	}
	assert_int_equal(rollout_parse_duration(NULL), -1);
}

static void default_steps(void **state)
{
	struct rollout_step s[ROLLOUT_MAX_STEPS];
	(void)state;
	assert_int_equal(rollout_default_steps(s, ROLLOUT_MAX_STEPS), 6);
	for (int i = 0; i < 6; i += 2) {
		assert_int_equal(s[i].kind, STEP_SET_WEIGHT);
		assert_int_equal(s[i + 1].kind, STEP_PAUSE);
		assert_int_equal(s[i + 1].duration_ms, 5 * 60 * 1000L);
	}
	assert_int_equal(s[0].weight, 10);
	assert_int_equal(s[2].weight, 25);
	assert_int_equal(s[4].weight, 50);
	assert_int_equal(rollout_default_steps(s, 2), 2);
	assert_int_equal(rollout_default_steps(NULL, 6), 0);
}

static void defaults(void **state)
{
	struct rollout_spec sp;
	struct diag errs;
	struct rollout_step want[ROLLOUT_MAX_STEPS];
	json_t *ro = rollout(BASE);
	size_t n = rollout_default_steps(want, ROLLOUT_MAX_STEPS);
	(void)state;

	diag_init(&errs);
	if (rollout_spec_read(&sp, ro, NULL, &errs) != 0)
		fail_msg("%s", sluice_error_last());
	assert_int_equal(errs.count, 0);
	assert_string_equal(sp.namespace, "shop");
	assert_string_equal(sp.name, "web");
	assert_string_equal(sp.target, "web");
	assert_string_equal(sp.service, "web");
	assert_int_equal(sp.routing, TRAFFIC_REPLICAS);
	assert_null(sp.route);
	assert_null(sp.policy);
	assert_int_equal(sp.nsteps, 6);
	assert_int_equal(sp.nsteps, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sp.steps[i].kind, want[i].kind);
		assert_int_equal(sp.steps[i].weight, want[i].weight);
		assert_int_equal(sp.steps[i].duration_ms, want[i].duration_ms);
	}
	assert_int_equal(sp.progress_deadline_s, 600);
	assert_int_equal(sp.scale_down_delay_s, 30);
	assert_int_equal(sp.rollback, ROLLBACK_IN_CLUSTER);
	rollout_spec_dispose(&sp);
	rollout_spec_dispose(&sp); /* twice is harmless */
	rollout_spec_dispose(NULL);
	json_decref(ro);

	/* replicas: {} said explicitly is the same */
	ro = rollout(BASE ",'trafficRouting':{'replicas':{}}");
	assert_int_equal(rollout_spec_read(&sp, ro, NULL, &errs), 0);
	assert_int_equal(sp.routing, TRAFFIC_REPLICAS);
	assert_null(sp.route);
	rollout_spec_dispose(&sp);
	json_decref(ro);
	diag_dispose(&errs);
}

static void inline_steps(void **state)
{
	struct rollout_spec sp;
	struct diag errs;
	json_t *ro = rollout(
	    "'targetRef':{'kind':'Deployment','name':'api'},'service':'api-stable',"
	    "'steps':[{'setWeight':20},{'pause':{'duration':'90s'}},{'pause':{}},"
	    "{'analysis':{'templates':[{'templateName':'success-rate'}],'x':1}},"
	    "{'setWeight':20},{'setWeight':100},{'pause':{'duration':'1h30m'}},{'analysis':{}}],"
	    "'trafficRouting':{'gatewayAPI':{'httpRoute':'api-route'}},"
	    "'progressDeadlineSeconds':120,'scaleDownDelaySeconds':0,'rollbackPolicy':'"
	    "revertCommit'");
	(void)state;

	diag_init(&errs);
	if (rollout_spec_read(&sp, ro, NULL, &errs) != 0)
		fail_msg("%s", sluice_error_last());
	assert_string_equal(sp.target, "api");
	assert_string_equal(sp.service, "api-stable");
	assert_int_equal(sp.routing, TRAFFIC_GATEWAY_API);
	assert_string_equal(sp.route, "api-route");
	assert_null(sp.policy);
	assert_int_equal(sp.nsteps, 8);
	assert_int_equal(sp.steps[0].kind, STEP_SET_WEIGHT);
	assert_int_equal(sp.steps[0].weight, 20);
	assert_int_equal(sp.steps[1].kind, STEP_PAUSE);
	assert_int_equal(sp.steps[1].duration_ms, 90000);
	assert_int_equal(sp.steps[2].kind, STEP_PAUSE);
	assert_int_equal(sp.steps[2].duration_ms, -1);
	assert_int_equal(sp.steps[3].kind, STEP_ANALYSIS);
	assert_int_equal(sp.steps[4].weight, 20);
	assert_int_equal(sp.steps[5].weight, 100);
	assert_int_equal(sp.steps[6].duration_ms, 5400000);
	assert_int_equal(sp.steps[7].kind, STEP_ANALYSIS);
	assert_int_equal(sp.progress_deadline_s, 120);
	assert_int_equal(sp.scale_down_delay_s, 0);
	assert_int_equal(sp.rollback, ROLLBACK_REVERT_COMMIT);
	rollout_spec_dispose(&sp);
	json_decref(ro);
	diag_dispose(&errs);
}

static void policy_ref(void **state)
{
	struct rollout_spec sp;
	struct diag errs;
	json_t *ro = rollout(BASE ",'policyRef':{'name':'slow'},"
	                          "'trafficRouting':{'nginx':{'ingress':'web-ingress'}}");
	json_t *pol = canary_policy("slow", "'steps':[{'setWeight':5},{'pause':{'duration':'1h'}},"
	                                    "{'setWeight':50},{'pause':{}}]");
	(void)state;

	diag_init(&errs);
	if (rollout_spec_read(&sp, ro, pol, &errs) != 0)
		fail_msg("%s", sluice_error_last());
	assert_string_equal(sp.policy, "slow");
	assert_int_equal(sp.routing, TRAFFIC_NGINX);
	assert_string_equal(sp.route, "web-ingress");
	assert_int_equal(sp.nsteps, 4);
	assert_int_equal(sp.steps[0].weight, 5);
	assert_int_equal(sp.steps[1].duration_ms, 3600000);
	assert_int_equal(sp.steps[2].weight, 50);
	assert_int_equal(sp.steps[3].duration_ms, -1);
	rollout_spec_dispose(&sp);

	/* a policy handed over without a policyRef is not used */
	json_decref(ro);
	ro = rollout(BASE);
	assert_int_equal(rollout_spec_read(&sp, ro, pol, &errs), 0);
	assert_null(sp.policy);
	assert_int_equal(sp.nsteps, 6);
	rollout_spec_dispose(&sp);
	assert_int_equal(errs.count, 0);
	json_decref(ro);
	json_decref(pol);
	diag_dispose(&errs);
}

/* Reading fails with exactly `want` (one problem) and leaves *out empty. */
static void expect_one(json_t *ro, json_t *pol, const char *want)
{
	struct rollout_spec sp;
	struct diag errs;
	int rc;

	diag_init(&errs);
	rc = rollout_spec_read(&sp, ro, pol, &errs);
	if (rc != SLUICE_EINVALID)
		fail_msg("want EINVALID for %s, got %d", want, rc);
	if (errs.count != 1 || strcmp(errs.msgs[0], want) != 0) {
		for (size_t i = 0; i < errs.count; i++)
			print_error("got:  %s\n", errs.msgs[i]);
		fail_msg("want: %s", want);
	}
	assert_string_equal(sluice_error_last(), want);
	assert_int_equal(sluice_error_last_code(), SLUICE_EINVALID);
	assert_null(sp.target);
	assert_null(sp.namespace);
	assert_int_equal(sp.nsteps, 0);
	rollout_spec_dispose(&sp);
	diag_dispose(&errs);
	json_decref(ro);
	json_decref(pol);
}

static void step_errors(void **state)
{
	static const struct {
		const char *steps;
		const char *want;
	} cases[] = {
	    {"[{'setWeight':10},{'pause':{'duration':'5m'}},{'pause':{'duration':'5x'}}]",
	     "Rollout shop/web: spec.steps[2].pause.duration: \"5x\" is not a duration (use e.g. "
	     "30s, 5m, 1h)"},
	    {"[{'setWeight':500}]",
	     "Rollout shop/web: spec.steps[0].setWeight: 500 is out of range 1..100"},
	    {"[{'setWeight':-3}]",
	     "Rollout shop/web: spec.steps[0].setWeight: -3 is out of range 1..100"},
	    {"[{'setWeight':'50'}]",
	     "Rollout shop/web: spec.steps[0].setWeight: must be an integer, not a string"},
	    {"[{'setWeight':12.5}]", "Rollout shop/web: spec.steps[0].setWeight: must be an "
	                             "integer, not a number with a fraction"},
	    {"[{'setWeight':50},{'pause':{}},{'setWeight':20}]",
	     "Rollout shop/web: spec.steps[2].setWeight: 20 is lower than 50 at spec.steps[0] "
	     "(weights must not decrease)"},
	    {"[{'setWeight':100},{'pause':{}},{'analysis':{}},{'setWeight':100}]",
	     "Rollout shop/web: spec.steps[3].setWeight: comes after setWeight: 100 at "
	     "spec.steps[0] (only pause and analysis may follow)"},
	    {"[{'pause':{'duration':'0s'}}]",
	     "Rollout shop/web: spec.steps[0].pause.duration: \"0s\" is not longer than 0 (leave "
	     "the duration out to wait for a promote)"},
	    {"[{'pause':{'duration':'600h'}}]",
	     "Rollout shop/web: spec.steps[0].pause.duration: \"600h\" is too long (at most 596h)"},
	    {"[{'pause':{'duration':300}}]",
	     "Rollout shop/web: spec.steps[0].pause.duration: must be a string like \"5m\", not an "
	     "integer"},
	    {"[{'pause':'5m'}]", "Rollout shop/web: spec.steps[0].pause: must be an object, not a "
	                         "string"},
	    {"[{'analysis':true}]",
	     "Rollout shop/web: spec.steps[0].analysis: must be an object, not a boolean"},
	    {"[{'setWeight':10},{}]", "Rollout shop/web: spec.steps[1]: is empty (want one of "
	                              "setWeight, pause, analysis)"},
	    {"[{'setWeight':10,'pause':{}}]",
	     "Rollout shop/web: spec.steps[0]: has setWeight and pause; a step is exactly one of "
	     "setWeight, pause, analysis"},
	    {"[{'setWeight':10,'pause':{},'analysis':{}}]",
	     "Rollout shop/web: spec.steps[0]: has setWeight, pause and analysis; a step is "
	     "exactly "
	     "one of setWeight, pause, analysis"},
	    {"[{'setCanaryScale':{'replicas':3}}]",
	     "Rollout shop/web: spec.steps[0].setCanaryScale: is not a step (use setWeight, pause "
	     "or analysis)"},
	    {"['setWeight']", "Rollout shop/web: spec.steps[0]: must be an object, not a string"},
	    {"[]", "Rollout shop/web: spec.steps: is empty (give at least one step)"},
	    {"{'setWeight':10}", "Rollout shop/web: spec.steps: must be a list, not an object"},
	};
	char spec[1024];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(spec, sizeof(spec), BASE ",'steps':%s", cases[i].steps);
		expect_one(rollout(spec), NULL, cases[i].want);
	}
}

static void policy_errors(void **state)
{
	(void)state;
	expect_one(rollout(BASE ",'policyRef':{'name':'slow'}"),
	           canary_policy("slow", "'steps':[{'setWeight':0}]"),
	           "CanaryPolicy shop/slow: spec.steps[0].setWeight: 0 is out of range 1..100");
	expect_one(rollout(BASE ",'policyRef':{'name':'slow'}"), NULL,
	           "Rollout shop/web: spec.policyRef.name: CanaryPolicy shop/slow not found");
	expect_one(rollout(BASE ",'policyRef':{'name':'slow'}"),
	           canary_policy("fast", "'steps':[{'setWeight':10}]"),
	           "Rollout shop/web: spec.policyRef.name: names CanaryPolicy shop/slow, but "
	           "shop/fast was given");
	expect_one(rollout(BASE ",'policyRef':{'name':'slow'}"), canary_policy("slow", ""),
	           "CanaryPolicy shop/slow: spec.steps is required");
	expect_one(rollout(BASE ",'policyRef':{'name':'slow'}"),
	           canary_policy("slow", "'steps':[]"),
	           "CanaryPolicy shop/slow: spec.steps: is empty (give at least one step)");
	expect_one(rollout(BASE ",'policyRef':{'name':'slow'}"), J("['slow']"),
	           "CanaryPolicy shop/slow: not a JSON object");
	expect_one(rollout(BASE ",'policyRef':{'name':'slow'},'steps':[{'setWeight':10}]"),
	           canary_policy("slow", "'steps':[{'setWeight':10}]"),
	           "Rollout shop/web: spec.steps: cannot be used with spec.policyRef (choose one)");
	expect_one(rollout(BASE ",'policyRef':{}"), NULL,
	           "Rollout shop/web: spec.policyRef.name is required");
	expect_one(rollout(BASE ",'policyRef':'slow'"), NULL,
	           "Rollout shop/web: spec.policyRef: must be an object, not a string");
}

static void field_errors(void **state)
{
	static const struct {
		const char *spec;
		const char *want;
	} cases[] = {
	    {"'service':'web'", "Rollout shop/web: spec.targetRef is required"},
	    {"'targetRef':{},'service':'web'", "Rollout shop/web: spec.targetRef.name is required"},
	    {"'targetRef':'web','service':'web'",
	     "Rollout shop/web: spec.targetRef: must be an object, not a string"},
	    {"'targetRef':{'kind':'StatefulSet','name':'web'},'service':'web'",
	     "Rollout shop/web: spec.targetRef.kind: \"StatefulSet\" is not supported (only "
	     "Deployment)"},
	    {"'targetRef':{'name':'Web_1'},'service':'web'",
	     "Rollout shop/web: spec.targetRef.name: \"Web_1\" is not a valid name (lowercase "
	     "letters, digits, '-' and '.', at most 253)"},
	    {"'targetRef':{'name':'web'}", "Rollout shop/web: spec.service is required"},
	    {"'targetRef':{'name':'web'},'service':7",
	     "Rollout shop/web: spec.service: must be a string, not an integer"},
	    {BASE ",'trafficRouting':{'replicas':{},'nginx':{'ingress':'web'}}",
	     "Rollout shop/web: spec.trafficRouting: has replicas and nginx; choose one of "
	     "replicas, gatewayAPI, nginx"},
	    {BASE ",'trafficRouting':{}",
	     "Rollout shop/web: spec.trafficRouting: is empty (set one of replicas, gatewayAPI, "
	     "nginx, or leave it out for replicas)"},
	    {BASE ",'trafficRouting':{'istio':{}}",
	     "Rollout shop/web: spec.trafficRouting.istio: is not a router (use replicas, "
	     "gatewayAPI or nginx)"},
	    {BASE ",'trafficRouting':{'gatewayAPI':{}}",
	     "Rollout shop/web: spec.trafficRouting.gatewayAPI.httpRoute is required"},
	    {BASE ",'trafficRouting':{'nginx':{'ingress':''}}",
	     "Rollout shop/web: spec.trafficRouting.nginx.ingress: \"\" is not a valid name "
	     "(lowercase letters, digits, '-' and '.', at most 253)"},
	    {BASE ",'trafficRouting':{'replicas':1}",
	     "Rollout shop/web: spec.trafficRouting.replicas: must be an object, not an integer"},
	    {BASE ",'progressDeadlineSeconds':0",
	     "Rollout shop/web: spec.progressDeadlineSeconds: 0 is out of range 1..2147483647"},
	    {BASE ",'progressDeadlineSeconds':'10m'",
	     "Rollout shop/web: spec.progressDeadlineSeconds: must be an integer, not a string"},
	    {BASE ",'scaleDownDelaySeconds':-1",
	     "Rollout shop/web: spec.scaleDownDelaySeconds: -1 is out of range 0..2147483647"},
	    {BASE ",'scaleDownDelaySeconds':9999999999",
	     "Rollout shop/web: spec.scaleDownDelaySeconds: 9999999999 is out of range "
	     "0..2147483647"},
	    {BASE ",'rollbackPolicy':'never'",
	     "Rollout shop/web: spec.rollbackPolicy: \"never\" is not a rollback policy (use "
	     "revertInCluster or revertCommit)"},
	};
	char spec[1024];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(spec, sizeof(spec), "%s", cases[i].spec);
		expect_one(rollout(spec), NULL, cases[i].want);
	}
	expect_one(J("{'metadata':{'namespace':'shop','name':'web'}}"), NULL,
	           "Rollout shop/web: spec is required");
	expect_one(J("{'metadata':{'namespace':'shop','name':'web'},'spec':[]}"), NULL,
	           "Rollout shop/web: spec: must be an object, not a list");
	expect_one(J("{'metadata':{'name':'web'},'spec':{" BASE "}}"), NULL,
	           "Rollout ?/web: metadata.namespace is required");
	expect_one(J("[1]"), NULL, "Rollout ?/?: not a JSON object");
}

static void many_problems(void **state)
{
	static const char *const want[] = {
	    "Rollout shop/web: spec.service is required",
	    "Rollout shop/web: spec.steps[0].setWeight: 0 is out of range 1..100",
	    "Rollout shop/web: spec.steps[1].pause.duration: \"5x\" is not a duration (use e.g. "
	    "30s, 5m, 1h)",
	    "Rollout shop/web: spec.steps[3].setWeight: 10 is lower than 40 at spec.steps[2] "
	    "(weights must not decrease)",
	    "Rollout shop/web: spec.trafficRouting: has gatewayAPI and nginx; choose one of "
	    "replicas, gatewayAPI, nginx",
	    "Rollout shop/web: spec.rollbackPolicy: \"later\" is not a rollback policy (use "
	    "revertInCluster or revertCommit)",
	};
	struct rollout_spec sp;
	struct diag errs;
	json_t *ro =
	    rollout("'targetRef':{'name':'web'},"
	            "'steps':[{'setWeight':0},{'pause':{'duration':'5x'}},{'setWeight':40},"
	            "{'setWeight':10}],"
	            "'trafficRouting':{'gatewayAPI':{'httpRoute':'r'},'nginx':{'ingress':"
	            "'i'}},'rollbackPolicy':'later'");
	(void)state;

	diag_init(&errs);
	assert_int_equal(rollout_spec_read(&sp, ro, NULL, &errs), SLUICE_EINVALID);
	if (errs.count != sizeof(want) / sizeof(want[0]))
		for (size_t i = 0; i < errs.count; i++)
			print_error("got: %s\n", errs.msgs[i]);
	assert_int_equal(errs.count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < errs.count; i++)
		assert_string_equal(errs.msgs[i], want[i]);
	assert_string_equal(sluice_error_last(),
	                    "Rollout shop/web: spec.service is required (and 5 more problems)");
	rollout_spec_dispose(&sp);

	/* errs may be NULL: the result and the error message still say it */
	assert_int_equal(rollout_spec_read(&sp, ro, NULL, NULL), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "(and 5 more problems)"));
	rollout_spec_dispose(&sp);
	json_decref(ro);
	diag_dispose(&errs);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void hostile(void **state)
{
	struct rollout_spec sp;
	struct diag errs;
	struct timespec t0;
	json_t *ro = rollout(BASE), *steps = json_array(), *step, *spec;
	char *big;
	(void)state;

	/* 10,000 steps: one problem, refused by count before any step is read */
	for (int i = 0; i < 10000; i++)
		json_array_append_new(steps, json_pack("{s:i}", "setWeight", 500));
	json_object_set_new(json_object_get(ro, "spec"), "steps", steps);
	diag_init(&errs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rollout_spec_read(&sp, ro, NULL, &errs), SLUICE_EINVALID);
	assert_true(seconds_since(&t0) < 0.05);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.msgs[0],
	                    "Rollout shop/web: spec.steps: has 10000 steps, at most 64");
	rollout_spec_dispose(&sp);
	diag_dispose(&errs);

	/* 64 steps, each wrong: every one reported, each bounded */
	steps = json_array();
	for (int i = 0; i < ROLLOUT_MAX_STEPS; i++)
		json_array_append_new(steps, json_pack("{s:i}", "setWeight", 0));
	json_object_set_new(json_object_get(ro, "spec"), "steps", steps);
	assert_int_equal(rollout_spec_read(&sp, ro, NULL, &errs), SLUICE_EINVALID);
	assert_int_equal(errs.count, ROLLOUT_MAX_STEPS);
	rollout_spec_dispose(&sp);
	diag_dispose(&errs);

	/* a 100 kB duration with a newline and quotes: cut to a short one-line message */
	big = malloc(100001);
	assert_non_null(big);
	memset(big, '9', 100000);
	big[0] = '"';
	big[1] = '\n';
	big[100000] = '\0';
	steps = json_array();
	step = json_pack("{s:{s:s}}", "pause", "duration", big);
	/* and 10,000 unknown keys in another step: one problem for them */
	json_array_append_new(steps, step);
	step = json_object();
	for (int i = 0; i < 10000; i++) {
		char k[32];
		snprintf(k, sizeof(k), "k%d", i);
		json_object_set_new(step, k, json_true());
	}
	json_array_append_new(steps, step);
	json_object_set_new(json_object_get(ro, "spec"), "steps", steps);
	assert_int_equal(rollout_spec_read(&sp, ro, NULL, &errs), SLUICE_EINVALID);
	assert_int_equal(errs.count, 2);
	assert_true(strlen(errs.msgs[0]) < 200);
	assert_null(strchr(errs.msgs[0], '\n'));
	assert_non_null(strstr(errs.msgs[0], "spec.steps[0].pause.duration: \"??999"));
	assert_non_null(strstr(errs.msgs[0], "...\" is not a duration"));
	assert_string_equal(errs.msgs[1], "Rollout shop/web: spec.steps[1].k0: is not a step (use "
	                                  "setWeight, pause or analysis)");
	rollout_spec_dispose(&sp);
	diag_dispose(&errs);
	json_decref(ro);

	/* a 100 kB name: the prefix is cut too */
	spec = J("{" BASE "}");
	ro = json_pack("{s:{s:s,s:s},s:O}", "metadata", "namespace", "shop", "name", big, "spec",
	               spec);
	assert_int_equal(rollout_spec_read(&sp, ro, NULL, &errs), SLUICE_EINVALID);
	assert_int_equal(errs.count, 1);
	assert_true(strlen(errs.msgs[0]) < 700);
	assert_non_null(strstr(errs.msgs[0], "...: metadata.name: \""));
	rollout_spec_dispose(&sp);
	diag_dispose(&errs);
	json_decref(ro);
	json_decref(spec);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(durations),     cmocka_unit_test(default_steps),
	    cmocka_unit_test(defaults),      cmocka_unit_test(inline_steps),
	    cmocka_unit_test(policy_ref),    cmocka_unit_test(step_errors),
	    cmocka_unit_test(policy_errors), cmocka_unit_test(field_errors),
	    cmocka_unit_test(many_problems), cmocka_unit_test(hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
