/*
 * Rollout and CanaryPolicy objects (as the API returns them) read into a
 * struct rollout_spec. The CRD schemas (deploy/crds/) already reject most bad
 * input; this reader checks everything again, since objects can come from
 * elsewhere (an older CRD, a test, a hostile writer), and adds what a schema
 * cannot say: weights that never decrease, the CanaryPolicy that must exist.
 *
 * Every problem is collected, each one line naming the object and the field.
 * Hostile input is bounded: strings are cut in messages (VALUE_CUT, NAME_CUT),
 * a step list longer than ROLLOUT_MAX_STEPS is refused before any step is
 * read, and only the first unknown field of an object is reported.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/rollout.h"

/* Longest duration: 2^31 - 1 ms (596h31m23.647s), so it fits a 32-bit long too. */
#define DURATION_MAX_MS 2147483647L
/* Largest progressDeadlineSeconds / scaleDownDelaySeconds (the CRD's int32). */
#define SECONDS_MAX 2147483647L
/* Longest Kubernetes object name (DNS-1123 subdomain). */
#define NAME_MAX_LEN 253
/* Bytes of a value or key quoted in a message; longer ones end in "...". */
#define VALUE_CUT 64
/* Bytes of a namespace or name in a message's "Kind ns/name" prefix. */
#define NAME_CUT NAME_MAX_LEN

/* Longest problem text after the "Kind ns/name: " prefix. */
#define MSG_MAX 768
/* "ns/name" in a prefix. */
#define WHO_MAX (2 * (NAME_CUT + 4) + 2)

#define DEFAULT_PROGRESS_DEADLINE_S 600
#define DEFAULT_SCALE_DOWN_DELAY_S  30

/* Shared by the Rollout's and the CanaryPolicy's readers. */
struct reading {
	struct diag *errs; /* may be NULL: problems are only counted */
	size_t problems;
	char first[WHO_MAX + MSG_MAX + 32]; /* the first problem, for the error message */
};

/* One object being read: problems are prefixed "kind ns/name: ". */
struct reader {
	struct reading *g;
	const char *kind;
	char who[WHO_MAX];
};

/*
 * s fit for a message, in buf (size n): at most n - 4 bytes, cut on a UTF-8
 * boundary and then "...", control characters and '"' as '?'.
 */
static const char *cut(char *buf, size_t n, const char *s)
{
	size_t len = strlen(s), keep = len;

	if (len > n - 1) {
		keep = n - 4;
		while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
			keep--;
	}
	for (size_t i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7F || c == '"') ? '?' : (char)c;
	}
	if (keep < len) {
		memcpy(buf + keep, "...", 4);
	} else {
		buf[keep] = '\0';
	}
	return buf;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

static void reader_init(struct reader *r, struct reading *g, const char *kind, const char *ns,
                        const char *name)
{
	char a[NAME_CUT + 4], b[NAME_CUT + 4];

	r->g = g;
	r->kind = kind;
	snprintf(r->who, sizeof(r->who), "%s/%s", cut(a, sizeof(a), ns ? ns : "?"),
	         cut(b, sizeof(b), name ? name : "?"));
}

static void problem(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct reader *r, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->g->problems++ == 0)
		snprintf(r->g->first, sizeof(r->g->first), "%s %s: %s", r->kind, r->who, msg);
	if (r->g->errs)
		diag_add(r->g->errs, "%s %s: %s", r->kind, r->who, msg);
}

/* Milliseconds, -1 when malformed, -2 when longer than DURATION_MAX_MS. */
static long parse_duration(const char *s)
{
	long total = 0;
	int over = 0;

	if (!s || !*s)
		return -1;
	if (strcmp(s, "0") == 0) /* as Go: the one number without a unit */
		return 0;
	while (*s) {
		long n = 0, unit;
		int big = 0;

		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (big || n > (DURATION_MAX_MS - (*s - '0')) / 10)
				big = 1; /* keep scanning: "1.5h" stays malformed */
			else
				n = n * 10 + (*s - '0');
		}
		if (s[0] == 'm' && s[1] == 's') {
			unit = 1;
			s += 2;
		} else if (*s == 's') {
			unit = 1000;
			s++;
		} else if (*s == 'm') {
			unit = 60 * 1000L;
			s++;
		} else if (*s == 'h') {
			unit = 60 * 60 * 1000L;
			s++;
		} else {
			return -1;
		}
		/* past the limit: read on, since the rest may still be malformed */
		if (over || big || n > (DURATION_MAX_MS - total) / unit)
			over = 1;
		else
			total += n * unit;
	}
	return over ? -2 : total;
}

long rollout_parse_duration(const char *s)
{
	long ms = parse_duration(s);
	return ms < 0 ? -1 : ms;
}

size_t rollout_default_steps(struct rollout_step *steps, size_t max)
{
	static const struct rollout_step def[] = {
	    {STEP_SET_WEIGHT, 10, 0}, {STEP_PAUSE, 0, 5 * 60 * 1000L},
	    {STEP_SET_WEIGHT, 25, 0}, {STEP_PAUSE, 0, 5 * 60 * 1000L},
	    {STEP_SET_WEIGHT, 50, 0}, {STEP_PAUSE, 0, 5 * 60 * 1000L},
	};
	size_t n = sizeof(def) / sizeof(def[0]);

	if (!steps)
		return 0;
	if (n > max)
		n = max;
	memcpy(steps, def, n * sizeof(def[0]));
	return n;
}

/* A DNS-1123 subdomain: what Kubernetes accepts as an object's name. */
static int valid_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && ((c != '-' && c != '.') || i == 0 || i == len - 1))
			return 0;
	}
	return 1;
}

/* The name at o.key (path names it in messages), or NULL after a problem. */
static const char *name_field(struct reader *r, const json_t *o, const char *key, const char *path,
                              int required)
{
	const json_t *v = json_object_get(o, key);
	char b[VALUE_CUT + 4];

	if (!v) {
		if (required)
			problem(r, "%s is required", path);
		return NULL;
	}
	if (!json_is_string(v)) {
		problem(r, "%s: must be a string, not %s", path, type_name(v));
		return NULL;
	}
	if (!valid_name(json_string_value(v))) {
		problem(r,
		        "%s: \"%s\" is not a valid name (lowercase letters, digits, '-' and '.', "
		        "at most %d)",
		        path, cut(b, sizeof(b), json_string_value(v)), NAME_MAX_LEN);
		return NULL;
	}
	return json_string_value(v);
}

/* The object at o.key, or NULL (a problem when present but not an object). */
static const json_t *object_field(struct reader *r, const json_t *o, const char *key,
                                  const char *path)
{
	const json_t *v = json_object_get(o, key);

	if (v && !json_is_object(v)) {
		problem(r, "%s: must be an object, not %s", path, type_name(v));
		return NULL;
	}
	return v;
}

/* An integer in min..SECONDS_MAX at o.key, or def when absent. */
static long seconds_field(struct reader *r, const json_t *o, const char *key, long def, long min)
{
	const json_t *v = json_object_get(o, key);
	json_int_t n;

	if (!v)
		return def;
	if (!json_is_integer(v)) {
		problem(r, "spec.%s: must be an integer, not %s", key, type_name(v));
		return def;
	}
	n = json_integer_value(v);
	if (n < min || n > SECONDS_MAX) {
		problem(r, "spec.%s: %" JSON_INTEGER_FORMAT " is out of range %ld..%ld", key, n,
		        min, SECONDS_MAX);
		return def;
	}
	return (long)n;
}

/*
 * Which of the names in `known` o has (a bit each, in *mask), reporting the
 * first other key as `path.key: <what>`. Returns how many known ones.
 */
static int which_keys(struct reader *r, const json_t *o, const char *const *known, size_t nknown,
                      unsigned *mask, const char *path, const char *what)
{
	const char *key;
	json_t *v;
	int n = 0, unknown = 0;
	char b[VALUE_CUT + 4];

	*mask = 0;
	json_object_foreach((json_t *)o, key, v)
	{
		size_t i;
		for (i = 0; i < nknown && strcmp(key, known[i]) != 0; i++)
			;
		if (i < nknown) {
			*mask |= 1u << i;
			n++;
		} else if (!unknown++) {
			problem(r, "%s.%s: %s", path, cut(b, sizeof(b), key), what);
		}
	}
	return unknown ? -1 : n;
}

/* "setWeight and pause", "setWeight, pause and analysis" */
static const char *join_keys(char *buf, size_t n, const char *const *known, size_t nknown,
                             unsigned mask)
{
	size_t left = 0, used = 0;

	for (size_t i = 0; i < nknown; i++)
		left += (mask >> i) & 1;
	buf[0] = '\0';
	for (size_t i = 0; i < nknown; i++) {
		if (!((mask >> i) & 1))
			continue;
		left--;
		used += (size_t)snprintf(buf + used, n - used, "%s%s", known[i],
		                         left > 1    ? ", "
		                         : left == 1 ? " and "
		                                     : "");
		if (used >= n)
			break;
	}
	return buf;
}

static const char *const step_kinds[] = {"setWeight", "pause", "analysis"};

/* spec.steps[i] into *st; 0 ok, -1 after a problem. */
static int read_step(struct reader *r, const json_t *item, size_t i, struct rollout_step *st)
{
	const json_t *v;
	unsigned mask;
	int n, bad = 0;
	char path[64], b[VALUE_CUT + 4], keys[64];

	snprintf(path, sizeof(path), "spec.steps[%zu]", i);
	if (!json_is_object(item)) {
		problem(r, "%s: must be an object, not %s", path, type_name(item));
		return -1;
	}
	n = which_keys(r, item, step_kinds, 3, &mask, path,
	               "is not a step (use setWeight, pause or analysis)");
	if (n < 0)
		bad = 1;
	else if (n == 0)
		problem(r, "%s: is empty (want one of setWeight, pause, analysis)", path);
	else if (n > 1)
		problem(r, "%s: has %s; a step is exactly one of setWeight, pause, analysis", path,
		        join_keys(keys, sizeof(keys), step_kinds, 3, mask));
	if (n != 1)
		bad = 1;

	if ((v = json_object_get(item, "setWeight")) != NULL) {
		st->kind = STEP_SET_WEIGHT;
		if (!json_is_integer(v)) {
			problem(r, "%s.setWeight: must be an integer, not %s", path, type_name(v));
			bad = 1;
		} else if (json_integer_value(v) < 1 || json_integer_value(v) > 100) {
			problem(r, "%s.setWeight: %" JSON_INTEGER_FORMAT " is out of range 1..100",
			        path, json_integer_value(v));
			bad = 1;
		} else {
			st->weight = (int)json_integer_value(v);
		}
	}
	if ((v = json_object_get(item, "pause")) != NULL) {
		const json_t *d = json_object_get(v, "duration");
		st->kind = STEP_PAUSE;
		st->duration_ms = -1;
		if (!json_is_object(v)) {
			problem(r, "%s.pause: must be an object, not %s", path, type_name(v));
			bad = 1;
		} else if (d && !json_is_string(d)) {
			problem(r, "%s.pause.duration: must be a string like \"5m\", not %s", path,
			        type_name(d));
			bad = 1;
		} else if (d) {
			const char *s = json_string_value(d);
			long ms = parse_duration(s);
			if (ms == -1)
				problem(r,
				        "%s.pause.duration: \"%s\" is not a duration (use e.g. "
				        "30s, 5m, "
				        "1h)",
				        path, cut(b, sizeof(b), s));
			else if (ms == -2)
				problem(r, "%s.pause.duration: \"%s\" is too long (at most 596h)",
				        path, cut(b, sizeof(b), s));
			else if (ms == 0)
				problem(r,
				        "%s.pause.duration: \"%s\" is not longer than 0 (leave the "
				        "duration out to wait for a promote)",
				        path, cut(b, sizeof(b), s));
			else
				st->duration_ms = ms;
			if (ms <= 0)
				bad = 1;
		}
	}
	if ((v = json_object_get(item, "analysis")) != NULL) {
		st->kind = STEP_ANALYSIS;
		if (!json_is_object(v)) {
			problem(r, "%s.analysis: must be an object, not %s", path, type_name(v));
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* A spec.steps list into out->steps. */
static void read_steps(struct reader *r, const json_t *steps, struct rollout_spec *out)
{
	size_t n, i, high_at = 0;
	int high = 0;

	if (!json_is_array(steps)) {
		problem(r, "spec.steps: must be a list, not %s", type_name(steps));
		return;
	}
	n = json_array_size(steps);
	if (n == 0) {
		problem(r, "spec.steps: is empty (give at least one step)");
		return;
	}
	if (n > ROLLOUT_MAX_STEPS) {
		problem(r, "spec.steps: has %zu steps, at most %d", n, ROLLOUT_MAX_STEPS);
		return;
	}
	for (i = 0; i < n; i++) {
		struct rollout_step st = {STEP_SET_WEIGHT, 0, 0};

		if (read_step(r, json_array_get(steps, i), i, &st) < 0)
			continue;
		if (st.kind == STEP_SET_WEIGHT) {
			if (high == 100) {
				problem(r,
				        "spec.steps[%zu].setWeight: comes after setWeight: 100 at "
				        "spec.steps[%zu] (only pause and analysis may follow)",
				        i, high_at);
				continue;
			}
			if (st.weight < high) {
				problem(r,
				        "spec.steps[%zu].setWeight: %d is lower than %d at "
				        "spec.steps[%zu] (weights must not decrease)",
				        i, st.weight, high, high_at);
				continue;
			}
			if (st.weight > high) {
				high = st.weight;
				high_at = i;
			}
		}
		out->steps[out->nsteps++] = st;
	}
}

/* The steps of the CanaryPolicy `name` (policy may be NULL: not found). */
static void read_policy(struct reader *r, const json_t *policy, const char *ns, const char *name,
                        struct rollout_spec *out)
{
	struct reader pr;
	const json_t *meta = json_object_get(policy, "metadata");
	const char *pns = json_string_value(json_object_get(meta, "namespace"));
	const char *pname = json_string_value(json_object_get(meta, "name"));
	const json_t *spec;
	char a[NAME_CUT + 4], b[NAME_CUT + 4];

	if (!policy) {
		problem(r, "spec.policyRef.name: CanaryPolicy %s/%s not found",
		        cut(a, sizeof(a), ns), name);
		return;
	}
	reader_init(&pr, r->g, "CanaryPolicy", ns, name);
	if (!json_is_object(policy)) {
		problem(&pr, "not a JSON object");
		return;
	}
	if (!pname || strcmp(pname, name) != 0 || (pns && strcmp(pns, ns) != 0)) {
		/* the caller fetched the wrong object */
		reader_init(&pr, r->g, "CanaryPolicy", pns ? pns : ns, pname);
		problem(r, "spec.policyRef.name: names CanaryPolicy %s/%s, but %s was given",
		        cut(a, sizeof(a), ns), name, cut(b, sizeof(b), pr.who));
		return;
	}
	spec = object_field(&pr, policy, "spec", "spec");
	if (!spec) {
		if (!json_object_get(policy, "spec"))
			problem(&pr, "spec is required");
		return;
	}
	if (!json_object_get(spec, "steps")) {
		problem(&pr, "spec.steps is required");
		return;
	}
	read_steps(&pr, json_object_get(spec, "steps"), out);
}

static const char *const routers[] = {"replicas", "gatewayAPI", "nginx"};

/* spec.trafficRouting: out->routing and the route's name (NULL for replicas). */
static const char *read_routing(struct reader *r, const json_t *spec, struct rollout_spec *out)
{
	const json_t *tr = object_field(r, spec, "trafficRouting", "spec.trafficRouting");
	const json_t *v;
	unsigned mask;
	char keys[64];
	int n;

	out->routing = TRAFFIC_REPLICAS;
	if (!tr)
		return NULL;
	n = which_keys(r, tr, routers, 3, &mask, "spec.trafficRouting",
	               "is not a router (use replicas, gatewayAPI or nginx)");
	if (n < 0)
		return NULL;
	if (n == 0) {
		problem(r, "spec.trafficRouting: is empty (set one of replicas, gatewayAPI, nginx, "
		           "or leave it out for replicas)");
		return NULL;
	}
	if (n > 1) {
		problem(r, "spec.trafficRouting: has %s; choose one of replicas, gatewayAPI, nginx",
		        join_keys(keys, sizeof(keys), routers, 3, mask));
		return NULL;
	}
	if (mask & 1) {
		object_field(r, tr, "replicas", "spec.trafficRouting.replicas");
		return NULL;
	}
	if (mask & 2) {
		out->routing = TRAFFIC_GATEWAY_API;
		v = object_field(r, tr, "gatewayAPI", "spec.trafficRouting.gatewayAPI");
		return v ? name_field(r, v, "httpRoute", "spec.trafficRouting.gatewayAPI.httpRoute",
		                      1)
		         : NULL;
	}
	out->routing = TRAFFIC_NGINX;
	v = object_field(r, tr, "nginx", "spec.trafficRouting.nginx");
	return v ? name_field(r, v, "ingress", "spec.trafficRouting.nginx.ingress", 1) : NULL;
}

/* metadata.namespace or metadata.name: present, and a valid name. */
static void meta_name(struct reader *r, const json_t *meta, const char *key)
{
	const char *s = json_string_value(json_object_get(meta, key));
	char b[VALUE_CUT + 4];

	if (!s)
		problem(r, "metadata.%s is required", key);
	else if (!valid_name(s))
		problem(r, "metadata.%s: \"%s\" is not a valid name", key, cut(b, sizeof(b), s));
}

static int dup_into(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -1;
}

int rollout_spec_read(struct rollout_spec *out, const json_t *rollout, const json_t *policy,
                      struct diag *errs)
{
	struct reading g;
	struct reader r;
	const json_t *meta = json_object_get(rollout, "metadata");
	const json_t *spec, *ref, *steps, *v;
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *target = NULL, *service = NULL, *pname = NULL, *route = NULL;
	char b[VALUE_CUT + 4];
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->routing = TRAFFIC_REPLICAS;
	out->progress_deadline_s = DEFAULT_PROGRESS_DEADLINE_S;
	out->scale_down_delay_s = DEFAULT_SCALE_DOWN_DELAY_S;
	out->rollback = ROLLBACK_IN_CLUSTER;
	g.errs = errs;
	g.problems = 0;
	g.first[0] = '\0';
	reader_init(&r, &g, "Rollout", ns, name);

	if (!json_is_object(rollout)) {
		problem(&r, "not a JSON object");
		goto out;
	}
	meta_name(&r, meta, "namespace");
	meta_name(&r, meta, "name");
	spec = object_field(&r, rollout, "spec", "spec");
	if (!spec) {
		if (!json_object_get(rollout, "spec"))
			problem(&r, "spec is required");
		goto out;
	}

	ref = object_field(&r, spec, "targetRef", "spec.targetRef");
	if (!ref && !json_object_get(spec, "targetRef"))
		problem(&r, "spec.targetRef is required");
	if (ref) {
		target = name_field(&r, ref, "name", "spec.targetRef.name", 1);
		v = json_object_get(ref, "kind");
		if (v && !json_is_string(v))
			problem(&r, "spec.targetRef.kind: must be a string, not %s", type_name(v));
		else if (v && strcmp(json_string_value(v), "Deployment") != 0)
			problem(&r,
			        "spec.targetRef.kind: \"%s\" is not supported (only Deployment)",
			        cut(b, sizeof(b), json_string_value(v)));
	}
	service = name_field(&r, spec, "service", "spec.service", 1);

	ref = object_field(&r, spec, "policyRef", "spec.policyRef");
	if (ref)
		pname = name_field(&r, ref, "name", "spec.policyRef.name", 1);
	steps = json_object_get(spec, "steps");
	if (json_object_get(spec, "policyRef") && steps)
		problem(&r, "spec.steps: cannot be used with spec.policyRef (choose one)");
	else if (steps)
		read_steps(&r, steps, out);
	else if (pname && ns)
		read_policy(&r, policy, ns, pname, out);
	else if (!json_object_get(spec, "policyRef"))
		out->nsteps = rollout_default_steps(out->steps, ROLLOUT_MAX_STEPS);

	route = read_routing(&r, spec, out);
	out->progress_deadline_s =
	    seconds_field(&r, spec, "progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_S, 1);
	out->scale_down_delay_s =
	    seconds_field(&r, spec, "scaleDownDelaySeconds", DEFAULT_SCALE_DOWN_DELAY_S, 0);
	v = json_object_get(spec, "rollbackPolicy");
	if (v && !json_is_string(v))
		problem(&r, "spec.rollbackPolicy: must be a string, not %s", type_name(v));
	else if (v && strcmp(json_string_value(v), "revertCommit") == 0)
		out->rollback = ROLLBACK_REVERT_COMMIT;
	else if (v && strcmp(json_string_value(v), "revertInCluster") != 0)
		problem(&r,
		        "spec.rollbackPolicy: \"%s\" is not a rollback policy (use revertInCluster "
		        "or revertCommit)",
		        cut(b, sizeof(b), json_string_value(v)));

	if (g.problems == 0 &&
	    (dup_into(&out->namespace, ns) < 0 || dup_into(&out->name, name) < 0 ||
	     dup_into(&out->target, target) < 0 || dup_into(&out->service, service) < 0 ||
	     dup_into(&out->route, route) < 0 || dup_into(&out->policy, pname) < 0))
		err = sluice_error_set(SLUICE_ENOMEM, "Rollout %s: out of memory", r.who);
out:
	if (g.problems == 1)
		err = sluice_error_set(SLUICE_EINVALID, "%s", g.first);
	else if (g.problems > 1)
		err = sluice_error_set(SLUICE_EINVALID, "%s (and %zu more problems)", g.first,
		                       g.problems - 1);
	if (err)
		rollout_spec_dispose(out);
	return err;
}

void rollout_spec_dispose(struct rollout_spec *s)
{
	if (!s)
		return;
	free(s->namespace);
	free(s->name);
	free(s->target);
	free(s->service);
	free(s->route);
	free(s->policy);
	memset(s, 0, sizeof(*s));
	s->routing = TRAFFIC_REPLICAS;
	s->rollback = ROLLBACK_IN_CLUSTER;
}
