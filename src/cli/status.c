/*
 * sluice status ROLLOUT: what a rollout is doing, for people (a block of
 * text, redrawn in place with --watch on a terminal) and for scripts (-o
 * json, and --wait's exit code).
 *
 * Everything shown comes from the cluster: the Rollout's status (written by
 * the rollout engine), its spec (the steps, the analysis thresholds), the
 * stable and canary Deployments (pods), and the Application it came from (a
 * commit's subject for an older status that does not record it, when that
 * commit is the one the Application synced last).
 * The "view" built from them is the -o json document.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "sluice/clock.h"
#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/rollout.h"
#include "sluice/sync.h"

#define BAR_WIDTH 20
#define TICK_MS   1000

/* ---- reading ------------------------------------------------------------- */

struct src {
	json_t *ro, *policy, *stable, *canary, *app;
};

static void src_dispose(struct src *s)
{
	json_decref(s->ro);
	json_decref(s->policy);
	json_decref(s->stable);
	json_decref(s->canary);
	json_decref(s->app);
	memset(s, 0, sizeof(*s));
}

static const json_t *at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	return b ? json_object_get(v, b) : v;
}

static const char *sat(const json_t *o, const char *a, const char *b)
{
	return json_string_value(at(o, a, b));
}

/* A GET whose absence (or a refusal) is not an error for status: NULL then. */
static json_t *get_opt(struct kube_client *kc, const char *api, const char *kind, const char *ns,
                       const char *name)
{
	json_t *o = NULL;
	struct kube_ref ref = {api, kind, ns, name};
	if (!name || kube_get(kc, &o, &ref) < 0)
		return NULL;
	return o;
}

/* Read everything; only the Rollout itself must be there. */
static int gather(struct kube_client *kc, const char *ns, const char *name, struct src *s)
{
	struct kube_ref ref = {ROLLOUT_API, "Rollout", ns, name};
	char canary[300];
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = kube_get(kc, &s->ro, &ref)) < 0)
		return rc;
	const json_t *spec = json_object_get(s->ro, "spec");
	const char *target = sat(spec, "targetRef", "name");
	s->policy = get_opt(kc, ROLLOUT_API, "CanaryPolicy", ns, sat(spec, "policyRef", "name"));
	s->stable = get_opt(kc, "apps/v1", "Deployment", ns, target);
	snprintf(canary, sizeof(canary), "%s-canary", target ? target : "");
	s->canary = target ? get_opt(kc, "apps/v1", "Deployment", ns, canary) : NULL;
	s->app = get_opt(
	    kc, ROLLOUT_API, "Application", ns,
	    json_string_value(json_object_get(at(s->ro, "metadata", "labels"), SYNC_LABEL_APP)));
	return 0;
}

/* ---- the view (the -o json document) ------------------------------------------ */

static json_t *pods_of(const json_t *dep)
{
	if (!dep)
		return json_null();
	const json_t *st = json_object_get(dep, "status");
	json_int_t want = json_is_integer(at(dep, "spec", "replicas"))
	                      ? json_integer_value(at(dep, "spec", "replicas"))
	                      : 1;
	return json_pack("{s:I, s:I, s:I}", "desired", want, "ready",
	                 json_integer_value(json_object_get(st, "readyReplicas")), "updated",
	                 json_integer_value(json_object_get(st, "updatedReplicas")));
}

/* {commit, hash, subject?, pods} for one side */
static json_t *side(const json_t *rev, const json_t *dep, const json_t *app)
{
	const char *commit = sat(rev, "commit", NULL);
	json_t *o =
	    json_pack("{s:s, s:s, s:o}", "commit", commit ? commit : "", "hash",
	              sat(rev, "hash", NULL) ? sat(rev, "hash", NULL) : "", "pods", pods_of(dep));
	const char *synced = sat(at(app, "status", "sync"), "revision", NULL);
	const char *subject = sat(at(app, "status", "sync"), "subject", NULL);
	/* the rollout keeps its commit's subject (from the sync); for an older
	 * status, the Application knows the subject of the commit it synced last */
	if (o && sat(rev, "subject", NULL))
		json_object_set_new(o, "subject", json_string(sat(rev, "subject", NULL)));
	else if (o && commit && *commit && synced && strcmp(synced, commit) == 0 && subject &&
	         *subject)
		json_object_set_new(o, "subject", json_string(subject));
	/* the committer time, as the sync handed the commit over (lead time) */
	if (o && sat(rev, "commitTime", NULL))
		json_object_set_new(o, "commitTime", json_string(sat(rev, "commitTime", NULL)));
	return o;
}

static json_t *step_json(const struct rollout_step *s)
{
	char d[32];
	if (s->kind == STEP_SET_WEIGHT)
		return json_pack("{s:i}", "setWeight", s->weight);
	if (s->kind == STEP_ANALYSIS)
		return json_pack("{s:{}}", "analysis");
	if (s->duration_ms < 0)
		return json_pack("{s:{}}", "pause");
	if (s->duration_ms % 3600000 == 0)
		snprintf(d, sizeof(d), "%ldh", s->duration_ms / 3600000);
	else if (s->duration_ms % 60000 == 0)
		snprintf(d, sizeof(d), "%ldm", s->duration_ms / 60000);
	else if (s->duration_ms % 1000 == 0)
		snprintf(d, sizeof(d), "%lds", s->duration_ms / 1000);
	else
		snprintf(d, sizeof(d), "%ldms", s->duration_ms);
	return json_pack("{s:{s:s}}", "pause", "duration", d);
}

/* The latest measurement of each metric, with the threshold the spec sets. */
static json_t *measurements(const json_t *state, const json_t *spec_an)
{
	json_t *out = json_array(), *m;
	size_t i, j;
	const json_t *metric;

	json_array_foreach(json_object_get(state, "measurements"), i, m)
	{
		const char *name = sat(m, "metric", NULL);
		int seen = 0;
		json_t *x;
		json_array_foreach(out, j, x)
		{
			if (name && strcmp(sat(x, "metric", NULL), name) == 0)
				seen = 1;
		}
		if (!name || seen)
			continue;
		x = json_pack("{s:s, s:s, s:O}", "metric", name, "verdict",
		              sat(m, "verdict", NULL) ? sat(m, "verdict", NULL) : "", "time",
		              json_object_get(m, "time") ? json_object_get(m, "time")
		                                         : json_null());
		if (json_is_number(json_object_get(m, "value")))
			json_object_set(x, "value", json_object_get(m, "value"));
		if (sat(m, "message", NULL))
			json_object_set(x, "message", json_object_get(m, "message"));
		json_array_foreach(json_object_get(spec_an, "metrics"), j, metric)
		{
			if (strcmp(sat(metric, "name", NULL) ? sat(metric, "name", NULL) : "",
			           name))
				continue;
			if (json_is_number(json_object_get(metric, "max")))
				json_object_set(x, "max", json_object_get(metric, "max"));
			if (json_is_number(json_object_get(metric, "min")))
				json_object_set(x, "min", json_object_get(metric, "min"));
			if (json_object_get(metric, "judge"))
				json_object_set_new(x, "judge", json_true());
			if (sat(metric, "unit", NULL))
				json_object_set(x, "unit", json_object_get(metric, "unit"));
		}
		json_array_append_new(out, x);
	}
	return out;
}

/* A commit Git names that the engine has not taken up yet (just synced), or NULL. */
static const char *pending_commit(const json_t *st, const json_t *dep)
{
	const json_t *notes = at(dep, "metadata", "annotations");
	const char *text = json_string_value(json_object_get(notes, SYNC_ANNOTATION_DESIRED));
	const char *commit =
	    json_string_value(json_object_get(notes, SYNC_ANNOTATION_DESIRED_COMMIT));
	char hash[2 * SYNC_HASH_BYTES + 1];
	json_error_t err;
	json_t *tpl;
	int bad;

	if (!text || !commit || !(tpl = json_loads(text, 0, &err)))
		return NULL;
	bad = sync_hash(hash, tpl) < 0;
	json_decref(tpl);
	if (bad)
		return NULL;
	const char *known[] = {sat(st, "stable", "hash"), sat(st, "canary", "hash"),
	                       sat(st, "failed", "hash")};
	for (size_t i = 0; i < 3; i++)
		if (known[i] && strcmp(known[i], hash) == 0)
			return NULL;
	return commit;
}

static json_t *build_view(const struct src *s)
{
	const json_t *st = json_object_get(s->ro, "status");
	const json_t *spec = json_object_get(s->ro, "spec");
	const char *phase = sat(st, "phase", NULL);
	json_t *v, *steps = json_array();
	struct rollout_spec rs;
	struct diag errs;
	const char *keys[] = {"message",       "messageTime",    "startTime",
	                      "stepStartTime", "pauseStartTime", "lastAction"};

	json_int_t cur = json_integer_value(json_object_get(st, "currentStep"));
	long long pause_ms = 0; /* the current step's, when it is a timed pause */

	diag_init(&errs);
	memset(&rs, 0, sizeof(rs));
	if (rollout_spec_read(&rs, s->ro, s->policy, &errs) == 0)
		for (size_t i = 0; i < rs.nsteps; i++) {
			json_array_append_new(steps, step_json(&rs.steps[i]));
			if ((json_int_t)i == cur && rs.steps[i].kind == STEP_PAUSE)
				pause_ms = rs.steps[i].duration_ms;
		}
	rollout_spec_dispose(&rs);
	diag_dispose(&errs);

	v = json_pack(
	    "{s:s, s:s, s:s, s:b}", "namespace",
	    sat(s->ro, "metadata", "namespace") ? sat(s->ro, "metadata", "namespace") : "", "name",
	    sat(s->ro, "metadata", "name") ? sat(s->ro, "metadata", "name") : "", "phase",
	    phase ? phase : "Unknown", "paused", json_is_true(json_object_get(st, "paused")));
	if (!v) {
		json_decref(steps);
		return NULL;
	}
	json_int_t count = json_is_integer(json_object_get(st, "stepCount"))
	                       ? json_integer_value(json_object_get(st, "stepCount"))
	                       : (json_int_t)json_array_size(steps);
	json_object_set_new(v, "step", json_pack("{s:I, s:I}", "index", cur, "count", count));
	json_object_set_new(v, "steps", steps);
	json_object_set_new(v, "weight",
	                    json_pack("{s:I, s:I}", "desired",
	                              json_integer_value(json_object_get(st, "desiredWeight")),
	                              "actual",
	                              json_integer_value(json_object_get(st, "actualWeight"))));
	json_object_set_new(v, "stable", side(json_object_get(st, "stable"), s->stable, s->app));
	if (json_object_get(st, "canary"))
		json_object_set_new(v, "canary",
		                    side(json_object_get(st, "canary"), s->canary, s->app));
	else
		json_object_set_new(v, "canary", json_null());
	if (json_object_get(st, "failed"))
		json_object_set(v, "failed", json_object_get(st, "failed"));
	if (json_object_get(st, "revert"))
		json_object_set(v, "revert", json_object_get(st, "revert"));
	if (json_object_get(st, "promotion"))
		json_object_set(v, "promotion", json_object_get(st, "promotion"));
	const char *pend = s->stable ? pending_commit(st, s->stable) : NULL;
	if (pend)
		json_object_set_new(v, "pending", json_pack("{s:s}", "commit", pend));
	const json_t *a = json_object_get(st, "analysis");
	if (json_is_object(a)) {
		const json_t *an = json_object_get(spec, "analysis");
		if (!an)
			an = at(s->policy, "spec", "analysis");
		json_t *ao = json_pack(
		    "{s:I, s:I, s:I, s:I}", "runs", json_integer_value(json_object_get(a, "runs")),
		    "failed", json_integer_value(json_object_get(a, "failed")), "inconclusive",
		    json_integer_value(json_object_get(a, "inconclusive")), "consecutiveErrors",
		    json_integer_value(json_object_get(a, "consecutiveErrors")));
		if (ao && sat(a, "lastVerdict", NULL))
			json_object_set(ao, "lastVerdict", json_object_get(a, "lastVerdict"));
		if (ao && sat(a, "lastRun", NULL))
			json_object_set(ao, "lastRun", json_object_get(a, "lastRun"));
		if (ao && sat(st, "analysisHold", NULL))
			json_object_set(ao, "hold", json_object_get(st, "analysisHold"));
		if (ao)
			json_object_set_new(ao, "measurements", measurements(a, an));
		json_object_set_new(v, "analysis", ao ? ao : json_null());
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (sat(st, keys[i], NULL))
			json_object_set(v, keys[i], json_object_get(st, keys[i]));
	/* a timed pause running now: when it ends (the watch counts down to it) */
	long long pause_start = cli_time(json_object_get(st, "pauseStartTime"));
	if (pause_ms > 0 && pause_start > 0 && !sat(st, "promotion", NULL)) {
		char end[CLOCK_TEXT_MAX];
		clock_format_ms(end, pause_start + pause_ms);
		json_object_set_new(v, "pauseEnd", json_string(end));
	}
	/* a rollback's or abort's message is written with its history entry */
	const json_t *h0 = json_array_get(json_object_get(st, "history"), 0);
	if (!sat(st, "messageTime", NULL) && phase &&
	    (strcmp(phase, "RolledBack") == 0 || strcmp(phase, "Aborted") == 0) && h0 &&
	    strcmp(sat(h0, "result", NULL) ? sat(h0, "result", NULL) : "", phase) == 0 &&
	    sat(h0, "end", NULL))
		json_object_set(v, "messageTime", json_object_get(h0, "end"));
	return v;
}

/* 0 ended Healthy, 1 ended badly, -1 still going (for --wait) */
static int outcome(const json_t *v)
{
	const char *phase = sat(v, "phase", NULL);
	if (json_object_get(v, "pending"))
		return -1;
	if (strcmp(phase, "Healthy") == 0 && json_is_null(json_object_get(v, "canary")))
		return 0;
	if (strcmp(phase, "RolledBack") == 0 || strcmp(phase, "Aborted") == 0 ||
	    strcmp(phase, "Degraded") == 0)
		return 1;
	return -1;
}

/* ---- text ------------------------------------------------------------------ */

static void short_commit(char *buf, size_t n, const char *c)
{
	snprintf(buf, n, "%.7s", c && *c ? c : "-");
}

static void print_side(FILE *f, const struct style *y, const char *label, const json_t *sd)
{
	char c[16];
	const json_t *p = json_object_get(sd, "pods");
	short_commit(c, sizeof(c), sat(sd, "commit", NULL));
	fprintf(f, "%-10s %s%s%s", label, SGR(y, "33"), c, SGR(y, "0"));
	if (json_is_object(p)) {
		json_int_t ready = json_integer_value(json_object_get(p, "ready"));
		json_int_t want = json_integer_value(json_object_get(p, "desired"));
		fprintf(f, "  pods %s%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "%s ready",
		        ready < want ? SGR(y, "33") : "", ready, want,
		        ready < want ? SGR(y, "0") : "");
	} else {
		fprintf(f, "  pods -");
	}
	if (sat(sd, "subject", NULL))
		fprintf(f, "  %s", sat(sd, "subject", NULL));
	fputc('\n', f);
}

static void print_weight(FILE *f, const struct style *y, const char *label, const char *which,
                         json_int_t w)
{
	char bar[BAR_WIDTH * 3 + 1];
	cli_fmt_bar(bar, sizeof(bar), (int)w, BAR_WIDTH, y->tty);
	fprintf(f, "%-10s %-8s %3" JSON_INTEGER_FORMAT "%%  %s%s%s%s%s\n", label, which, w,
	        y->tty ? "" : "[", SGR(y, "36"), bar, SGR(y, "0"), y->tty ? "" : "]");
}

static void print_steps(FILE *f, const struct style *y, const json_t *v)
{
	const json_t *steps = json_object_get(v, "steps"), *s;
	json_int_t cur = json_integer_value(at(v, "step", "index"));
	size_t i;

	if (json_array_size(steps) == 0)
		return;
	fprintf(f, "%-10s", "Steps:");
	json_array_foreach(steps, i, s)
	{
		char d[48];
		if (json_object_get(s, "setWeight"))
			snprintf(d, sizeof(d), "%" JSON_INTEGER_FORMAT "%%",
			         json_integer_value(json_object_get(s, "setWeight")));
		else if (json_object_get(s, "analysis"))
			snprintf(d, sizeof(d), "analysis");
		else if (sat(json_object_get(s, "pause"), "duration", NULL))
			snprintf(d, sizeof(d), "pause %s",
			         sat(json_object_get(s, "pause"), "duration", NULL));
		else
			snprintf(d, sizeof(d), "pause");
		const char *sep = i ? (y->tty ? " \xe2\x86\x92" : " >") : "";
		if ((json_int_t)i < cur)
			fprintf(f, "%s %s%s%s", sep, SGR(y, "2"), d, SGR(y, "0"));
		else if ((json_int_t)i == cur)
			fprintf(f, "%s %s%s%s%s%s", sep, SGR(y, "1"), y->tty ? "\xe2\x96\xb6" : "[",
			        d, y->tty ? "" : "]", SGR(y, "0"));
		else
			fprintf(f, "%s %s", sep, d);
	}
	fputc('\n', f);
}

static const char *verdict_color(const struct style *y, const char *verdict)
{
	if (strcmp(verdict, "Passed") == 0)
		return SGR(y, "32");
	if (strcmp(verdict, "Failed") == 0 || strcmp(verdict, "Error") == 0)
		return SGR(y, "31");
	return SGR(y, "33");
}

static void print_analysis(FILE *f, const struct style *y, const json_t *a, long long now)
{
	const json_t *m;
	size_t i;
	char ago[32];

	if (!json_is_object(a))
		return;
	fprintf(f,
	        "%-10s %" JSON_INTEGER_FORMAT " runs: %" JSON_INTEGER_FORMAT
	        " failed, %" JSON_INTEGER_FORMAT " inconclusive, %" JSON_INTEGER_FORMAT
	        " errors in a row",
	        "Analysis:", json_integer_value(json_object_get(a, "runs")),
	        json_integer_value(json_object_get(a, "failed")),
	        json_integer_value(json_object_get(a, "inconclusive")),
	        json_integer_value(json_object_get(a, "consecutiveErrors")));
	if (sat(a, "lastVerdict", NULL)) {
		cli_fmt_duration(ago, sizeof(ago), now - cli_time(json_object_get(a, "lastRun")));
		fprintf(f, "; last %s%s%s %s ago", verdict_color(y, sat(a, "lastVerdict", NULL)),
		        sat(a, "lastVerdict", NULL), SGR(y, "0"), ago);
	}
	fputc('\n', f);
	if (sat(a, "hold", NULL))
		fprintf(f, "%-10s %s%s%s\n", "", SGR(y, "33"), sat(a, "hold", NULL), SGR(y, "0"));
	json_array_foreach(json_object_get(a, "measurements"), i, m)
	{
		char val[32] = "no value", thr[64] = "", *p = thr;
		const char *verdict = sat(m, "verdict", NULL);
		const json_t *max = json_object_get(m, "max"), *min = json_object_get(m, "min");
		if (json_is_number(json_object_get(m, "value")))
			snprintf(val, sizeof(val), "%.4g",
			         json_number_value(json_object_get(m, "value")));
		if (min)
			p += snprintf(p, sizeof(thr) - (size_t)(p - thr), "min %.4g",
			              json_number_value(min));
		if (max)
			p += snprintf(p, sizeof(thr) - (size_t)(p - thr), "%smax %.4g",
			              min ? ", " : "", json_number_value(max));
		if (json_is_true(json_object_get(m, "judge")))
			snprintf(p, sizeof(thr) - (size_t)(p - thr), "%svs stable",
			         min || max ? ", " : "");
		cli_fmt_duration(ago, sizeof(ago), now - cli_time(json_object_get(m, "time")));
		fprintf(f, "%-10s %-16s %-10s %-18s %s%s%s  %s ago\n", "", sat(m, "metric", NULL),
		        val, thr[0] ? thr : "-", verdict_color(y, verdict ? verdict : ""),
		        verdict ? verdict : "-", SGR(y, "0"), ago);
		if (verdict && strcmp(verdict, "Passed") && sat(m, "message", NULL))
			fprintf(f, "%-10s   %s\n", "", sat(m, "message", NULL));
	}
}

static void render(FILE *f, const struct style *y, const json_t *v, long long now)
{
	const char *phase = sat(v, "phase", NULL);
	const char *mark = "", *color = SGR(y, "33");
	char buf[64], c[16];

	if (strcmp(phase, "Healthy") == 0) {
		mark = y->tty ? "\xe2\x9c\x94 " : "";
		color = SGR(y, "32");
	} else if (strcmp(phase, "RolledBack") == 0 || strcmp(phase, "Aborted") == 0 ||
	           strcmp(phase, "Degraded") == 0) {
		mark = y->tty ? "\xe2\x9c\x96 " : "";
		color = SGR(y, "31");
	} else if (strcmp(phase, "Paused") == 0) {
		mark = y->tty ? "\xe2\x80\x96 " : "";
	} else {
		mark = y->tty ? "\xe2\x97\x8c " : "";
		color = SGR(y, "34");
	}
	fprintf(f, "%-10s %s%s/%s%s\n", "Rollout:", SGR(y, "1"), sat(v, "namespace", NULL),
	        sat(v, "name", NULL), SGR(y, "0"));
	fprintf(f, "%-10s %s%s%s%s%s", "Phase:", color, SGR(y, "1"), mark, phase, SGR(y, "0"));
	if (json_is_true(json_object_get(v, "paused")))
		fprintf(f, " (paused by request)");
	fputc('\n', f);
	json_int_t k = json_integer_value(at(v, "step", "index"));
	json_int_t n = json_integer_value(at(v, "step", "count"));
	int running = !json_is_null(json_object_get(v, "canary")) &&
	              (strcmp(phase, "Progressing") == 0 || strcmp(phase, "Paused") == 0);
	if (running) {
		if (sat(v, "promotion", NULL) || k >= n)
			fprintf(f, "%-10s all %" JSON_INTEGER_FORMAT " done, promoting\n",
			        "Step:", n);
		else if (sat(v, "pauseEnd", NULL) && !json_is_true(json_object_get(v, "paused"))) {
			long long left = cli_time(json_object_get(v, "pauseEnd")) - now;
			cli_fmt_duration(buf, sizeof(buf), left > 0 ? left : 0);
			fprintf(f,
			        "%-10s %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
			        ", pause: %s left\n",
			        "Step:", k + 1, n, buf);
		} else
			fprintf(f, "%-10s %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT "\n",
			        "Step:", k + 1, n);
		print_steps(f, y, v);
	}
	if (running || json_integer_value(at(v, "weight", "actual")) > 0) {
		print_weight(f, y, "Weight:", "desired",
		             json_integer_value(at(v, "weight", "desired")));
		print_weight(f, y, "", "actual", json_integer_value(at(v, "weight", "actual")));
	}
	print_side(f, y, "Stable:", json_object_get(v, "stable"));
	if (!json_is_null(json_object_get(v, "canary")))
		print_side(f, y, "Canary:", json_object_get(v, "canary"));
	if (json_object_get(v, "pending")) {
		short_commit(c, sizeof(c), sat(v, "pending", "commit"));
		fprintf(f, "%-10s %s synced from Git, waiting for the rollout to start\n",
		        "Next:", c);
	}
	if (json_object_get(v, "failed")) {
		short_commit(c, sizeof(c), sat(v, "failed", "commit"));
		fprintf(f, "%-10s %s%s%s %s (not applied again while Git names it)\n",
		        "Failed:", SGR(y, "31"), c, SGR(y, "0"),
		        cli_str(v, "failed", "reason", NULL));
	}
	if (json_object_get(v, "revert")) {
		short_commit(c, sizeof(c), sat(v, "revert", "reverted"));
		if (sat(v, "revert", "commit")) {
			char r[16];
			short_commit(r, sizeof(r), sat(v, "revert", "commit"));
			fprintf(f, "%-10s %s pushed to Git, reverting %s\n", "Revert:", r, c);
		} else {
			fprintf(f, "%-10s of %s failed: %s\n", "Revert:", c,
			        cli_str(v, "revert", "error", NULL));
		}
	}
	print_analysis(f, y, json_object_get(v, "analysis"), now);
	fprintf(f, "%-10s %s", "Message:", cli_str(v, "message", NULL, NULL));
	if (sat(v, "messageTime", NULL)) {
		cli_fmt_duration(buf, sizeof(buf),
		                 now - cli_time(json_object_get(v, "messageTime")));
		fprintf(f, " (%s ago)", buf);
	}
	fputc('\n', f);
	if (running && sat(v, "startTime", NULL)) {
		cli_fmt_duration(buf, sizeof(buf), now - cli_time(json_object_get(v, "startTime")));
		fprintf(f, "%-10s %s ago", "Started:", buf);
		if (sat(v, "stepStartTime", NULL)) {
			cli_fmt_duration(buf, sizeof(buf),
			                 now - cli_time(json_object_get(v, "stepStartTime")));
			fprintf(f, "; this step %s ago", buf);
		}
		fputc('\n', f);
	}
}

/* ---- the terminal ------------------------------------------------------------ */

/* Write `text` with each line cut at `cols` visible columns; returns the lines. */
static int put_clipped(FILE *out, const char *text, int cols)
{
	int lines = 0, col = 0, esc = 0;

	for (const char *p = text; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '\n') {
			fputs("\033[K\n", out);
			lines++;
			col = 0;
			continue;
		}
		if (ch == 0x1b)
			esc = 1;
		if (esc) {
			fputc(ch, out);
			if (ch == 'm')
				esc = 0;
			continue;
		}
		if ((ch & 0xc0) != 0x80) /* a character starts */
			col++;
		if (col < cols)
			fputc(ch, out);
	}
	return lines;
}

static int term_cols(FILE *f)
{
	struct winsize ws;
	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

static volatile sig_atomic_t woke;

static void on_rollout(void *ud, enum kube_event type, json_t *obj)
{
	const char *name = ud;
	(void)type;
	if (obj &&
	    strcmp(sat(obj, "metadata", "name") ? sat(obj, "metadata", "name") : "", name) == 0)
		woke = 1;
}

int cli_status(struct cli *c, int argc, char **argv)
{
	struct kopts k;
	const char *pos[CLI_MAX_POS];
	int npos, rc;
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	struct kube_watch *w = NULL;
	struct style y;
	json_t *last = NULL;
	int drawn = 0;

	if ((rc = cli_parse(c, argc, argv, &k, pos, &npos, cli_usage("status"))) != 0)
		return rc > 0 ? CLI_OK : CLI_ERROR;
	if (npos != 1 || k.all) {
		fputs(cli_usage("status"), c->err);
		return CLI_ERROR;
	}
	if (cli_check_output(c, "status", k.output, 0) < 0)
		return CLI_ERROR;
	if (k.output && k.watch) {
		fprintf(c->err, "%s status: -o and --watch do not go together\n", c->prog);
		return CLI_ERROR;
	}
	cli_style(&y, c, k.no_color);
	if (cli_connect(c, "status", &k, &cfg, &kc) < 0)
		return CLI_ERROR;
	const char *ns = cli_namespace(&k, kc);
	long long deadline = k.timeout_ms >= 0 ? clock_now_ms() + k.timeout_ms : -1;
	if (k.watch || k.wait) {
		struct kube_ref ref = {ROLLOUT_API, "Rollout", ns, NULL};
		woke = 0;
		/* only a wake-up: each round reads everything again */
		if (kube_watch_start(&w, kc, &ref, NULL, on_rollout, (void *)pos[0]) < 0)
			w = NULL; /* a poll every second does it too */
	}
	for (;;) {
		struct src s;
		json_t *v;
		int end;
		long long now = clock_now_ms();

		if ((rc = gather(kc, ns, pos[0], &s)) < 0) {
			if (drawn && y.tty)
				fputc('\n', c->out);
			fprintf(c->err, "%s status: %s\n", c->prog, sluice_error_last());
			rc = CLI_ERROR;
			break;
		}
		v = build_view(&s);
		src_dispose(&s);
		if (!v) {
			fprintf(c->err, "%s status: out of memory\n", c->prog);
			rc = CLI_ERROR;
			break;
		}
		end = outcome(v);
		now = clock_now_ms();
		int late = deadline >= 0 && now >= deadline;
		if (k.output) {
			if (!k.wait || end >= 0 || late)
				if (cli_print_doc(c, v, k.output) < 0)
					end = 2;
		} else if (k.watch && y.tty) {
			char *text = NULL;
			size_t len = 0;
			FILE *mem = open_memstream(&text, &len);
			if (mem) {
				render(mem, &y, v, now);
				fclose(mem);
				if (drawn)
					fprintf(c->out, "\033[%dA\r", drawn);
				drawn = put_clipped(c->out, text, term_cols(c->out));
				fputs("\033[J", c->out);
				fflush(c->out);
			}
			free(text);
		} else if (!k.watch && k.wait) {
			if (end >= 0 || late)
				render(c->out, &y, v, now);
		} else if (!last || !json_equal(last, v)) {
			if (last)
				fputc('\n', c->out);
			render(c->out, &y, v, now);
			fflush(c->out);
		}
		json_decref(last);
		last = v;
		if (!k.watch && !k.wait) {
			rc = CLI_OK;
			break;
		}
		if (k.wait && end >= 0) {
			rc = end == 2 ? CLI_ERROR : end == 0 ? CLI_OK : CLI_INVALID;
			break;
		}
		if (late) {
			char t[32];
			cli_fmt_duration(t, sizeof(t), k.timeout_ms);
			if (k.wait) /* --watch alone just stops */
				fprintf(c->err, "%s status: %s/%s still %s after %s\n", c->prog, ns,
				        pos[0], sat(v, "phase", NULL), t);
			rc = k.wait ? CLI_ERROR : CLI_OK;
			break;
		}
		/* sleep a tick, or less when the Rollout changes */
		long long wake_at = clock_now_ms() + TICK_MS;
		if (deadline >= 0 && deadline < wake_at)
			wake_at = deadline;
		woke = 0;
		while (!woke && clock_now_ms() < wake_at) {
			if (w)
				kube_client_run(kc, 100);
			else
				usleep(100000);
		}
	}
	json_decref(last);
	kube_watch_stop(w);
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc;
}
