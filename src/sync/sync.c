/* One sync: prepare, stage Namespaces and CRDs, validate, apply in order, prune. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base64.h"
#include "sluice/buf.h"
#include "sluice/clock.h"
#include "sluice/error.h"
#include "sluice/health.h"
#include "sluice/hmac.h"
#include "sluice/jsonfmt.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/sync.h"
#include "sluice/yaml.h"

/* Apply order by kind; anything unlisted (custom resources, Ingress, ...) last. */
static const char *const order[] = {
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ServiceAccount",
    "LimitRange",
    "ResourceQuota",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "ConfigMap",
    "Secret",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
    "HorizontalPodAutoscaler",
};
#define NORDER (sizeof(order) / sizeof(order[0]))

struct item {
	const struct manifest_obj *src;
	json_t *obj;                     /* prepared copy */
	char *key;                       /* group|Kind|namespace|name */
	const struct kube_resource *res; /* NULL until its kind is known */
	int rank;
	int needs_crd; /* its kind comes from a CRD of this same set */
	int same;      /* live already matches: nothing to write */
	int pinned;    /* a route kept at a rollout's rules: applied only at the version read */
};

void sync_result_init(struct sync_result *r)
{
	memset(r, 0, sizeof(*r));
	diag_init(&r->errs);
}

void sync_result_dispose(struct sync_result *r)
{
	if (!r)
		return;
	json_decref(r->inventory);
	json_decref(r->live);
	diag_dispose(&r->errs);
	memset(r, 0, sizeof(*r));
}

static int rank_of(const char *kind)
{
	for (size_t i = 0; i < NORDER; i++)
		if (strcmp(order[i], kind) == 0)
			return (int)i;
	return (int)NORDER;
}

static int by_rank(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->same != y->same)
		return x->same - y->same; /* what must be written first, in order */
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcmp(x->key, y->key);
}

/* "path:line: Kind ns/name", the line being that of the field the API's message names. */
static void describe(char *buf, size_t n, const struct item *it, const char *msg)
{
	const struct manifest_obj *m = it->src;
	const char *ns =
	    json_string_value(json_object_get(json_object_get(it->obj, "metadata"), "namespace"));
	snprintf(buf, n, "%s:%u: %s %s%s%s", m->path, msg ? manifest_message_line(m, msg) : m->line,
	         m->kind, ns ? ns : "", ns ? "/" : "", m->name);
}

/* Is kind (group) defined by a CRD in the set? */
static int defined_in_set(const struct manifest_set *set, const char *group, const char *kind)
{
	for (size_t i = 0; i < set->count; i++) {
		const json_t *o = set->objs[i].obj;
		if (strcmp(set->objs[i].kind, "CustomResourceDefinition") != 0)
			continue;
		const json_t *spec = json_object_get(o, "spec");
		const char *g = json_string_value(json_object_get(spec, "group"));
		const char *k =
		    json_string_value(json_object_get(json_object_get(spec, "names"), "kind"));
		if (g && k && strcmp(g, group) == 0 && strcmp(k, kind) == 0)
			return 1;
	}
	return 0;
}

struct sync_memo {
	char *key;     /* the render the prepared objects belong to */
	size_t n;      /* its object count */
	json_t **objs; /* prepared objects, shared: copied before any change */
	char **keys;
	json_t *live; /* key -> [resourceVersion, hash, live object] */
};

/* At most this many objects of one kind and namespace are read one by one
 * when their resourceVersion moved; more are listed whole. */
#define MEMO_GETS 8

struct sync_memo *sync_memo_new(void)
{
	struct sync_memo *m = calloc(1, sizeof(*m));

	if (m && !(m->live = json_object())) {
		free(m);
		m = NULL;
	}
	return m;
}

static void memo_forget_prepared(struct sync_memo *m)
{
	for (size_t i = 0; i < m->n; i++) {
		json_decref(m->objs[i]);
		free(m->keys[i]);
	}
	free(m->objs);
	free(m->keys);
	free(m->key);
	m->objs = NULL;
	m->keys = NULL;
	m->key = NULL;
	m->n = 0;
}

void sync_memo_free(struct sync_memo *m)
{
	if (!m)
		return;
	memo_forget_prepared(m);
	json_decref(m->live);
	free(m);
}

/* Keep what was just prepared (items[i].obj shared, NULL for an item not
 * prepared yet: its kind comes with a CRD of the set). */
static void memo_keep_prepared(struct sync_memo *m, const char *key, const struct item *items,
                               size_t n)
{
	memo_forget_prepared(m);
	m->objs = calloc(n ? n : 1, sizeof(*m->objs));
	m->keys = calloc(n ? n : 1, sizeof(*m->keys));
	m->key = strdup(key);
	if (!m->objs || !m->keys || !m->key) {
		memo_forget_prepared(m);
		return;
	}
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		if (items[i].needs_crd || !items[i].key || !items[i].res)
			continue;
		m->keys[i] = strdup(items[i].key);
		if (m->keys[i])
			m->objs[i] = json_incref(items[i].obj);
	}
}

static const char *note_of(const json_t *obj, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

static const char *rv_of(const json_t *obj)
{
	return json_string_value(
	    json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* live is in sync with the item: remember it at its resourceVersion. While
 * the resourceVersion stays, it is in sync still (that takes only the
 * version and the hash), and health reads it: what is kept of it is what
 * health reads (health_view()), a fraction of the whole object. */
static void memo_put(struct sync_memo *m, const struct item *it, json_t *live)
{
	const char *rv = rv_of(live), *hash = note_of(it->obj, SYNC_ANNOTATION_HASH);
	json_t *view;

	if (!m || !rv || !hash)
		return;
	if (!(view = health_view(live))) {
		json_object_del(m->live, it->key);
		return;
	}
	json_object_set_new(m->live, it->key, json_pack("[s, s, o]", rv, hash, view));
}

/* The live object the memo holds for the item, when the server's
 * resourceVersion is still the one it was in sync at; else NULL. */
static json_t *memo_get(const struct sync_memo *m, const struct item *it, const char *rv)
{
	json_t *e = m ? json_object_get(m->live, it->key) : NULL;
	const char *mrv = json_string_value(json_array_get(e, 0));
	const char *mhash = json_string_value(json_array_get(e, 1));
	const char *hash = note_of(it->obj, SYNC_ANNOTATION_HASH);

	if (!e || !rv || !mrv || !hash || !mhash || strcmp(rv, mrv) || strcmp(hash, mhash))
		return NULL;
	return json_array_get(e, 2);
}

int sync_hash(char out[2 * SYNC_HASH_BYTES + 1], const json_t *obj)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_LEN];
	json_t *copy = json_deep_copy(obj);
	json_t *notes = json_object_get(json_object_get(copy, "metadata"), "annotations");
	char *text;

	/* the hash does not cover itself, nor the annotations map it alone made */
	json_object_del(notes, SYNC_ANNOTATION_HASH);
	if (json_is_object(notes) && json_object_size(notes) == 0)
		json_object_del(json_object_get(copy, "metadata"), "annotations");
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(copy);
	if (!text)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	sha256(md, text, strlen(text));
	free(text);
	for (int i = 0; i < SYNC_HASH_BYTES; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * SYNC_HASH_BYTES] = '\0';
	return 0;
}

/* A Secret's stringData value against the live data's base64. */
static int same_secret_value(const json_t *want, const json_t *live)
{
	char *dec = NULL;
	size_t n = 0;
	int same;
	const char *w = json_string_value(want), *l = json_string_value(live);

	if (!w || !l || base64_decode(&dec, &n, l, strlen(l), BASE64_STRICT) < 0)
		return 0;
	same = n == strlen(w) && memcmp(dec, w, n) == 0;
	free(dec);
	return same;
}

/*
 * Does `live` hold every value `want` sets? Objects: each key of want,
 * recursively (a null in want matches an absent key); arrays: the same length
 * and each element in turn; scalars: equal (numbers by value). The server's
 * defaults and other managers' fields only add to live, so they do not count;
 * a value the server normalises (a quantity "0.5" read back as "500m") counts
 * as a difference and costs one idempotent apply, never a wrong "in sync".
 */
int sync_covers(const json_t *want, const json_t *live)
{
	if (json_is_object(want)) {
		const char *k;
		json_t *v;
		if (!json_is_object(live))
			return 0;
		json_object_foreach((json_t *)want, k, v)
		{
			json_t *lv = json_object_get(live, k);
			if (json_is_null(v) && !lv)
				continue;
			if (!lv || !sync_covers(v, lv))
				return 0;
		}
		return 1;
	}
	if (json_is_array(want)) {
		size_t i;
		json_t *v;
		if (!json_is_array(live) || json_array_size(live) != json_array_size(want))
			return 0;
		json_array_foreach(want, i, v)
		{
			if (!sync_covers(v, json_array_get(live, i)))
				return 0;
		}
		return 1;
	}
	if (json_is_number(want))
		return json_is_number(live) && json_number_value(want) == json_number_value(live);
	return json_equal((json_t *)want, (json_t *)live);
}

/* Is the live object what applying `want` would leave? */
static int in_sync(const json_t *want, const json_t *live)
{
	const char *k;
	json_t *v;
	const char *mine = json_string_value(
	    json_object_get(json_object_get(json_object_get(want, "metadata"), "annotations"),
	                    SYNC_ANNOTATION_HASH));
	const char *theirs = json_string_value(
	    json_object_get(json_object_get(json_object_get(live, "metadata"), "annotations"),
	                    SYNC_ANNOTATION_HASH));
	int secret = strcmp(json_string_value(json_object_get(want, "kind")) ?: "", "Secret") == 0;

	/* the hash catches what left Git; covering catches drift in what is in Git */
	if (!mine || !theirs || strcmp(mine, theirs) != 0) {
		slog(SLOG_DEBUG, "sync: hash differs", "git", mine ? mine : "", "live",
		     theirs ? theirs : "", NULL);
		return 0;
	}
	json_object_foreach((json_t *)want, k, v)
	{
		if (strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0 ||
		    strcmp(k, "status") == 0)
			continue;
		if (secret && strcmp(k, "stringData") == 0) {
			const char *sk;
			json_t *sv;
			const json_t *data = json_object_get(live, "data");
			json_object_foreach(v, sk, sv)
			{
				if (!same_secret_value(sv, json_object_get(data, sk)))
					return 0;
			}
			continue;
		}
		if (secret && strcmp(k, "data") == 0 && json_object_get(want, "stringData")) {
			/* stringData wins over data for a key both name */
			const char *sk;
			json_t *sv;
			json_object_foreach(v, sk, sv)
			{
				if (json_object_get(json_object_get(want, "stringData"), sk))
					continue;
				if (!json_equal(sv,
				                json_object_get(json_object_get(live, "data"), sk)))
					return 0;
			}
			continue;
		}
		if (!sync_covers(v, json_object_get(live, k))) {
			slog(SLOG_DEBUG, "sync: a value differs", "field", k, NULL);
			return 0;
		}
	}
	return 1;
}

/* The Rollout of the set that governs Deployment ns/name, or NULL. */
static const json_t *governor(const struct item *items, size_t n, const char *ns, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(items[i].src->kind, "Rollout") != 0)
			continue;
		const json_t *o = items[i].obj;
		const char *api = json_string_value(json_object_get(o, "apiVersion"));
		const char *rns =
		    json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace"));
		const char *target = json_string_value(json_object_get(
		    json_object_get(json_object_get(o, "spec"), "targetRef"), "name"));
		if (api && strncmp(api, "sluice.dev/", 11) == 0 && target &&
		    strcmp(target, name) == 0 && strcmp(rns ? rns : "", ns) == 0)
			return o;
	}
	return NULL;
}

static void set_note(json_t *obj, const char *key, json_t *value);

/* The commit's subject and time beside the desired template (a subject cut
 * inside a UTF-8 sequence loses that sequence's bytes). */
static void commit_notes(json_t *obj, const struct sync_opts *o)
{
	char when[CLOCK_TEXT_MAX];
	json_t *subject = NULL;
	size_t n = o->subject ? strlen(o->subject) : 0;

	for (size_t cut = 0; o->subject && !subject && cut < 4 && cut <= n; cut++)
		subject = json_stringn(o->subject, n - cut);
	if (subject)
		set_note(obj, SYNC_ANNOTATION_DESIRED_SUBJECT, subject);
	if (o->commit_time > 0) {
		clock_format_ms(when, o->commit_time * 1000);
		set_note(obj, SYNC_ANNOTATION_DESIRED_TIME, json_string(when));
	}
}

/* The item's own copy of its object, before it is changed (a prepared
 * object may be shared with the memo). 0 or SLUICE_ENOMEM. */
static int own(struct item *it)
{
	json_t *copy = json_deep_copy(it->obj);

	if (!copy)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	json_decref(it->obj);
	it->obj = copy;
	return 0;
}

static void set_note(json_t *obj, const char *key, json_t *value)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *notes = json_object_get(meta, "annotations");
	if (!json_is_object(notes)) {
		notes = json_object();
		json_object_set_new(meta, "annotations", notes);
	}
	json_object_set_new(notes, key, value);
}

/*
 * An HTTPRoute a Rollout of the set routes through keeps the rules it has
 * while a canary backendRef is in them: backendRefs is an atomic list, and
 * applying Git's would take the canary's weight away mid-rollout. Git's rules
 * come back when the rollout ends (the router restores them).
 */
static int govern_route(struct kube_client *c, struct item *items, size_t n, struct item *it)
{
	const json_t *meta = json_object_get(it->obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *service = NULL;
	json_t *live = NULL, *rule;
	size_t i, k;
	int rc, canary = 0;
	char want[300];

	for (i = 0; i < n && !service; i++) {
		const json_t *o = items[i].obj;
		const json_t *spec = json_object_get(o, "spec");
		const char *route = json_string_value(json_object_get(
		    json_object_get(json_object_get(spec, "trafficRouting"), "gatewayAPI"),
		    "httpRoute"));
		const char *rns =
		    json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace"));
		if (strcmp(items[i].src->kind, "Rollout") == 0 && route &&
		    strcmp(route, it->src->name) == 0 && strcmp(rns ? rns : "", ns ? ns : "") == 0)
			service = json_string_value(json_object_get(spec, "service"));
	}
	if (!service)
		return 0;
	struct kube_ref ref = {json_string_value(json_object_get(it->obj, "apiVersion")),
	                       it->src->kind, ns, it->src->name};
	if ((rc = kube_get(c, &live, &ref)) < 0)
		return rc == SLUICE_ENOTFOUND ? 0 : rc;
	snprintf(want, sizeof(want), "%s-canary", service);
	json_array_foreach(json_object_get(json_object_get(live, "spec"), "rules"), i, rule)
	{
		json_t *ref2;
		json_array_foreach(json_object_get(rule, "backendRefs"), k, ref2)
		{
			const char *name = json_string_value(json_object_get(ref2, "name"));
			if (name && strcmp(name, want) == 0)
				canary = 1;
		}
	}
	if (canary && (rc = own(it)) < 0) {
		json_decref(live);
		return rc;
	}
	if (canary) {
		json_object_set(json_object_get(it->obj, "spec"), "rules",
		                json_object_get(json_object_get(live, "spec"), "rules"));
		/* applied only if nothing wrote it since this read: the rollout may
		 * move a weight meanwhile, which these rules must not undo */
		json_object_set(
		    json_object_get(it->obj, "metadata"), "resourceVersion",
		    json_object_get(json_object_get(live, "metadata"), "resourceVersion"));
		it->pinned = 1;
		slog(SLOG_INFO, "sync: route keeps its canary weights while the rollout runs",
		     "object", it->key, NULL);
	}
	json_decref(live);
	return canary;
}

/*
 * Deployments a Rollout governs keep the template they run (see sync.h); a
 * new one goes to the rollout engine. One GET per governed Deployment.
 */
static int govern(struct kube_client *c, struct item *items, size_t n, const struct sync_opts *o)
{
	size_t rollouts = 0;

	for (size_t i = 0; i < n; i++)
		rollouts += strcmp(items[i].src->kind, "Rollout") == 0;
	if (!rollouts)
		return 0; /* nothing is governed: no work per object */
	for (size_t i = 0; i < n; i++) {
		if (strcmp(items[i].src->kind, "HTTPRoute") == 0) {
			int rc = govern_route(c, items, n, &items[i]);
			char hash[2 * SYNC_HASH_BYTES + 1];
			if (rc < 0)
				return rc;
			if (rc > 0) {
				if ((rc = sync_hash(hash, items[i].obj)) < 0)
					return rc;
				set_note(items[i].obj, SYNC_ANNOTATION_HASH, json_string(hash));
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		const json_t *meta = json_object_get(it->obj, "metadata");
		const char *ns = json_string_value(json_object_get(meta, "namespace"));
		json_t *live = NULL, *spec = json_object_get(it->obj, "spec");
		json_t *want = json_object_get(spec, "template");
		char *text = NULL;
		int rc;

		if (strcmp(it->src->kind, "Deployment") != 0 ||
		    strcmp(it->src->group, "apps") != 0 || !json_is_object(want) ||
		    !governor(items, n, ns ? ns : "", it->src->name))
			continue;
		if ((rc = own(it)) < 0)
			return rc;
		meta = json_object_get(it->obj, "metadata");
		ns = json_string_value(json_object_get(meta, "namespace"));
		spec = json_object_get(it->obj, "spec");
		want = json_object_get(spec, "template");
		struct kube_ref ref = {"apps/v1", "Deployment", ns, it->src->name};
		rc = kube_get(c, &live, &ref);
		if (rc < 0 && rc != SLUICE_ENOTFOUND)
			return rc;
		const json_t *notes =
		    json_object_get(json_object_get(live, "metadata"), "annotations");
		const char *stable_text =
		    json_string_value(json_object_get(notes, SYNC_ANNOTATION_STABLE));
		const char *stable_commit =
		    json_string_value(json_object_get(notes, SYNC_ANNOTATION_STABLE_COMMIT));
		json_t *stable = NULL;
		json_error_t jerr;
		if (stable_text)
			stable = json_loads(stable_text, 0, &jerr);
		else if (live && !sync_covers(want, json_object_get(json_object_get(live, "spec"),
		                                                    "template")))
			/* adopted: what runs now is stable, in the server's words */
			stable = json_deep_copy(
			    json_object_get(json_object_get(live, "spec"), "template"));
		if (!stable) /* first sync, or it already runs what Git says */
			stable = json_deep_copy(want);
		if (!stable) {
			json_decref(live);
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		}
		if (!json_equal(stable, want)) {
			if ((rc = jsonfmt_dump(&text, want, JSONFMT_COMPACT)) < 0) {
				json_decref(stable);
				json_decref(live);
				return rc;
			}
			set_note(it->obj, SYNC_ANNOTATION_DESIRED, json_string(text));
			set_note(it->obj, SYNC_ANNOTATION_DESIRED_COMMIT,
			         json_string(o->revision ? o->revision : ""));
			commit_notes(it->obj, o);
			free(text);
			text = NULL;
			slog(SLOG_INFO, "sync: new template handed to the rollout", "object",
			     it->key, "revision", o->revision ? o->revision : "", NULL);
		}
		if ((rc = jsonfmt_dump(&text, stable, JSONFMT_COMPACT)) < 0) {
			json_decref(stable);
			json_decref(live);
			return rc;
		}
		set_note(it->obj, SYNC_ANNOTATION_STABLE, json_string(text));
		set_note(
		    it->obj, SYNC_ANNOTATION_STABLE_COMMIT,
		    json_string(stable_commit ? stable_commit : (o->revision ? o->revision : "")));
		free(text);
		json_object_set_new(spec, "template", stable); /* runs what is stable */
		json_decref(live);
		/* the hash covers what is sent now */
		char hash[2 * SYNC_HASH_BYTES + 1];
		if ((rc = sync_hash(hash, it->obj)) < 0)
			return rc;
		set_note(it->obj, SYNC_ANNOTATION_HASH, json_string(hash));
	}
	return 0;
}

/* items[j] against its whole live object l: in sync? (l goes into *live
 * and, when in sync, into the memo) */
static void judge_item(struct item *it, json_t *l, struct sync_memo *m, json_t *live)
{
	/* a list's items name no kind (health reads it) */
	if (!json_object_get(l, "kind"))
		json_object_set_new(l, "kind", json_string(it->src->kind));
	if (!json_object_get(l, "apiVersion"))
		json_object_set(l, "apiVersion", json_object_get(it->obj, "apiVersion"));
	it->same = in_sync(it->obj, l);
	/* of an object in sync, health reads all that is read later; one that
	 * differs is written this round (and dropped from live) or, for a diff,
	 * shown whole */
	json_t *keep = it->same ? health_view(l) : json_incref(l);
	if (keep)
		json_object_set_new(live, it->key, keep);
	if (it->same)
		memo_put(m, it, l);
	else if (m)
		json_object_del(m->live, it->key);
	if (!it->same)
		slog(SLOG_DEBUG, "sync: live differs from Git", "object", it->key, NULL);
}

/*
 * Judge the items of one kind and namespace (idx[0..k)) against a LIST of
 * them, page by page (a page of LIST_JUDGE objects at a time, then freed):
 * only the items whose want[x] is set (all when want is NULL).
 */
#define LIST_JUDGE 100

struct judging {
	struct item *items;
	const size_t *idx;
	const unsigned char *want;
	json_t *index; /* name -> position in idx */
	struct sync_memo *m;
	json_t *live;
};

static int judge_listed(void *ud, json_t *l)
{
	struct judging *j = ud;
	const char *name =
	    json_string_value(json_object_get(json_object_get(l, "metadata"), "name"));
	json_t *at = name ? json_object_get(j->index, name) : NULL;

	if (at) {
		size_t x = (size_t)json_integer_value(at);
		if (!j->want || j->want[x])
			judge_item(&j->items[j->idx[x]], l, j->m, j->live);
		json_object_del(j->index, name); /* once */
	}
	return 0;
}

static int judge_list(struct kube_client *c, struct item *items, const size_t *idx, size_t k,
                      const unsigned char *want, const struct kube_ref *ref, const char *sel,
                      struct sync_memo *m, json_t *live)
{
	struct judging j = {items, idx, want, json_object(), m, live};
	struct kube_list_opts lo = {sel, NULL, LIST_JUDGE};
	int rc;

	if (!j.index)
		return SLUICE_ENOMEM;
	for (size_t x = 0; x < k; x++)
		json_object_set_new(j.index, items[idx[x]].src->name, json_integer((json_int_t)x));
	rc = kube_list_each(c, ref, &lo, judge_listed, &j);
	json_decref(j.index);
	return rc;
}

/* The group's resourceVersions, by name, from a metadata list. */
struct seen {
	json_t *index; /* name -> position in the group */
	char **rvs;    /* per position: the live resourceVersion, or NULL (absent) */
};

static int saw(void *ud, const char *name, const char *ns, const char *rv)
{
	struct seen *sn = ud;
	json_t *at = json_object_get(sn->index, name);
	(void)ns;
	if (at && !sn->rvs[json_integer_value(at)])
		sn->rvs[json_integer_value(at)] = strdup(rv);
	return 0;
}

/*
 * The items of one kind and namespace (idx[0..k)) with a memo: their
 * metadata is listed; an item whose resourceVersion is the one it was last
 * in sync at is in sync still, and the others are read whole (one by one
 * when they are few). 0, or -1 when the metadata list failed.
 */
static int mark_by_memo(struct kube_client *c, struct item *items, const size_t *idx, size_t k,
                        const struct kube_ref *ref, const char *sel, struct sync_memo *m,
                        json_t *live)
{
	struct seen sn = {json_object(), calloc(k ? k : 1, sizeof(char *))};
	size_t need = 0;
	unsigned char *want = calloc(k ? k : 1, 1);
	int rc = -1;

	if (!want || !sn.index || !sn.rvs)
		goto out;
	for (size_t x = 0; x < k; x++)
		json_object_set_new(sn.index, items[idx[x]].src->name, json_integer((json_int_t)x));
	if (kube_list_meta(c, ref, sel, saw, &sn) < 0)
		goto out;
	for (size_t x = 0; x < k; x++) {
		struct item *it = &items[idx[x]];
		json_t *kept;
		if (!sn.rvs[x]) {
			json_object_del(m->live, it->key); /* not there: it is created */
			continue;
		}
		kept = memo_get(m, it, sn.rvs[x]);
		if (kept) {
			it->same = 1;
			json_object_set(live, it->key, kept);
		} else {
			want[x] = 1;
			need++;
		}
	}
	if (need > MEMO_GETS && judge_list(c, items, idx, k, want, ref, sel, m, live) == 0) {
		rc = 0;
		goto out;
	}
	for (size_t x = 0; x < k; x++) {
		struct item *it = &items[idx[x]];
		struct kube_ref one = *ref;
		json_t *l = NULL;
		if (!want[x])
			continue;
		one.name = it->src->name;
		if (kube_get(c, &l, &one) == 0 && l)
			judge_item(it, l, m, live);
		json_decref(l);
	}
	rc = 0;
out:
	for (size_t x = 0; sn.rvs && x < k; x++)
		free(sn.rvs[x]);
	free(sn.rvs);
	json_decref(sn.index);
	free(want);
	return rc;
}

/*
 * Read what is live with one LIST per kind and namespace (by the tracking
 * label), mark the items that already match, and keep the live objects in
 * *live by key. A list that fails marks nothing: its items are applied as
 * usual, which is always safe. With a memo, the lists are of metadata only
 * (see mark_by_memo()).
 */
static void mark_unchanged(struct kube_client *c, struct item *items, size_t n,
                           const struct sync_opts *o, json_t *live)
{
	char sel[512];
	unsigned char *done = calloc(n ? n : 1, 1);
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));

	if (!done || !idx) {
		free(done);
		free(idx);
		return;
	}
	snprintf(sel, sizeof(sel), "%s=%s", SYNC_LABEL_APP, o->app);
	for (size_t i = 0; i < n; i++) {
		const struct kube_resource *res = items[i].res;
		const char *ns = json_string_value(
		    json_object_get(json_object_get(items[i].obj, "metadata"), "namespace"));
		const char *api = json_string_value(json_object_get(items[i].obj, "apiVersion"));
		size_t k = 0;

		if (done[i] || !res || items[i].needs_crd)
			continue;
		/* the items of this kind, apiVersion and namespace */
		for (size_t j = i; j < n; j++) {
			const char *jns = json_string_value(json_object_get(
			    json_object_get(items[j].obj, "metadata"), "namespace"));
			const char *japi =
			    json_string_value(json_object_get(items[j].obj, "apiVersion"));
			if (done[j] || items[j].res != res || items[j].needs_crd ||
			    strcmp(jns ? jns : "", ns ? ns : "") ||
			    strcmp(japi ? japi : "", api ? api : ""))
				continue;
			done[j] = 1;
			idx[k++] = j;
		}
		struct kube_ref ref = {api, items[i].src->kind, ns ? ns : "", NULL};
		if (o->memo && mark_by_memo(c, items, idx, k, &ref, sel, o->memo, live) == 0)
			continue;
		judge_list(c, items, idx, k, NULL, &ref, sel, o->memo, live);
	}
	/* what left the render leaves the memo */
	if (o->memo && json_object_size(o->memo->live) > n) {
		json_t *keep = json_object();
		for (size_t i = 0; i < n && keep; i++) {
			json_t *e =
			    items[i].key ? json_object_get(o->memo->live, items[i].key) : NULL;
			if (e)
				json_object_set(keep, items[i].key, e);
		}
		if (keep) {
			json_decref(o->memo->live);
			o->memo->live = keep;
		}
	}
	free(done);
	free(idx);
}

/* Namespace and tracking label; the key. Returns 0, or -1 after reporting. */
static int finish_item(struct item *it, const struct kube_resource *r, const struct sync_opts *o)
{
	json_t *meta = json_object_get(it->obj, "metadata");
	json_t *labels = json_object_get(meta, "labels");
	json_t *notes = json_object_get(meta, "annotations");
	const char *ns;
	char hash[2 * SYNC_HASH_BYTES + 1];
	int rc;

	if (r && r->namespaced && !json_string_value(json_object_get(meta, "namespace")))
		json_object_set_new(meta, "namespace",
		                    json_string(o->namespace ? o->namespace : "default"));
	else if (r && !r->namespaced)
		json_object_del(meta, "namespace");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	json_object_set_new(labels, SYNC_LABEL_APP, json_string(o->app));
	if (json_is_object(notes))
		json_object_del(notes, SYNC_ANNOTATION_HASH);
	if ((rc = sync_hash(hash, it->obj)) < 0)
		return rc;
	if (!json_is_object(notes)) {
		notes = json_object();
		json_object_set_new(meta, "annotations", notes);
	}
	json_object_set_new(notes, SYNC_ANNOTATION_HASH, json_string(hash));
	it->res = r;
	ns = json_string_value(json_object_get(meta, "namespace"));
	free(it->key);
	if (asprintf(&it->key, "%s|%s|%s|%s", it->src->group, it->src->kind, ns ? ns : "",
	             it->src->name) < 0)
		it->key = NULL;
	return it->key ? 0 : sluice_error_set(SLUICE_ENOMEM, "out of memory");
}

static int prepare(struct item *items, struct kube_client *c, const struct manifest_set *set,
                   const struct sync_opts *o, struct diag *errs)
{
	struct sync_memo *m = o->memo;
	int bad = 0, reuse = m && o->memo_key && m->key && strcmp(m->key, o->memo_key) == 0 &&
	                     m->n == set->count;

	for (size_t i = 0; i < set->count; i++) {
		struct item *it = &items[i];
		const struct kube_resource *r = NULL;
		const char *api =
		    json_string_value(json_object_get(set->objs[i].obj, "apiVersion"));
		int rc;

		it->src = &set->objs[i];
		it->rank = rank_of(set->objs[i].kind);
		rc = kube_resolve(c, &r, api, set->objs[i].kind);
		if (rc == 0 && reuse && m->objs[i]) {
			/* the same render, prepared the same way last time */
			it->obj = json_incref(m->objs[i]);
			it->key = strdup(m->keys[i]);
			it->res = r;
			if (!it->key)
				return sluice_error_set(SLUICE_ENOMEM, "out of memory");
			continue;
		}
		/* with a memo the set is the app's cached render, read by nothing but
		 * this: its objects are prepared in place and shared with the memo,
		 * not copied (preparing is idempotent: a failed round's half-prepared
		 * objects prepare the same again) */
		it->obj = m && o->memo_key ? json_incref(set->objs[i].obj)
		                           : json_deep_copy(set->objs[i].obj);
		if (!it->obj)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		if (rc == SLUICE_ENOTFOUND &&
		    defined_in_set(set, set->objs[i].group, set->objs[i].kind)) {
			it->needs_crd = 1;
			rc = 0;
		}
		if (rc == SLUICE_ENOTFOUND) {
			diag_add(errs,
			         "%s:%u: unknown kind %s in %s: the server has no such resource",
			         it->src->path, it->src->line, it->src->kind, api);
			bad = 1;
			continue;
		}
		if (rc < 0)
			return rc;
		if ((rc = finish_item(it, r, o)) < 0)
			return rc;
	}
	if (!bad && m && o->memo_key && !reuse)
		memo_keep_prepared(m, o->memo_key, items, set->count);
	return bad ? SLUICE_EINVALID : 0;
}

/*
 * Server-side apply merges Git's object into the live one and removes only
 * what its manager owned, and kube-apiserver records no owner for an empty
 * object (a Rollout's `replicas: {}`). So a spec that moves from such a key
 * to another (trafficRouting from replicas to gatewayAPI) keeps the old key,
 * and validation refuses the merge (422, "exactly one"); kube-apiserver 1.20
 * also keeps a map whose fields it removed (gatewayAPI: {} after a move to
 * nginx). When an apply is refused and the live object holds such objects
 * Git does not have (empty, or holding only fields sluice's apply owns):
 *   1. one JSON patch, guarded by the live resourceVersion, sets each map
 *      that holds a leftover to Git's (a leftover at the top is removed),
 *      as the manager "sluice-leftovers";
 *   2. the object is applied again, as always;
 *   3. the entry of "sluice-leftovers" is dropped from managedFields, so that
 *      sluice's apply alone owns the fields and removes them when Git does.
 * The dry run that validates a commit cannot chain these, so it checks the
 * outcome in one patch: the leftovers gone, Git's fields, labels and
 * annotations set. Returns 0 when that worked; an error (nothing changed)
 * when there are no leftovers or Git's object itself is refused.
 */
#define LEFTOVERS "sluice-leftovers"

static int skip_field(const char *k)
{
	return !strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata") ||
	       !strcmp(k, "status");
}

/* out = parent + "/" + k, k escaped as a JSON Pointer token */
static int ptr_join(struct buf *out, const char *parent, const char *k)
{
	int rc = buf_adds(out, parent);

	if (rc == 0)
		rc = buf_addc(out, '/');
	for (const char *p = k; rc == 0 && *p; p++)
		rc = *p == '~'   ? buf_adds(out, "~0")
		     : *p == '/' ? buf_adds(out, "~1")
		                 : buf_addc(out, *p);
	return rc;
}

/* append {op, path: parent/k, value?} */
static int add_op(json_t *ops, const char *op, const char *parent, const char *k, const json_t *v)
{
	struct buf path;
	int rc;

	buf_init(&path, 64 * 1024);
	rc = ptr_join(&path, parent, k);
	json_t *o = rc < 0 ? NULL
	            : v    ? json_pack("{s:s, s:s, s:O}", "op", op, "path", path.ptr, "value", v)
	                   : json_pack("{s:s, s:s}", "op", op, "path", path.ptr);
	rc = o && json_array_append_new(ops, o) == 0 ? 0 : SLUICE_ENOMEM;
	buf_dispose(&path);
	return rc;
}

/* sluice's own server-side apply entry in live's managedFields: its fieldsV1 */
static const json_t *owned_by_us(const json_t *live)
{
	size_t i;
	const json_t *e;

	json_array_foreach(json_object_get(json_object_get(live, "metadata"), "managedFields"), i,
	                   e)
	{
		if (!strcmp(json_string_value(json_object_get(e, "manager")) ?: "", "sluice") &&
		    !strcmp(json_string_value(json_object_get(e, "operation")) ?: "", "Apply"))
			return json_object_get(e, "fieldsV1");
	}
	return NULL;
}

/* f's entry for key k ("f:" k) */
static const json_t *field_of(const json_t *f, const char *k)
{
	char name[512];

	if (!f || snprintf(name, sizeof(name), "f:%s", k) >= (int)sizeof(name))
		return NULL;
	return json_object_get(f, name);
}

/* every field in object v is ours (f): an apply without it leaves it empty */
static int all_ours(const json_t *v, const json_t *f, int depth)
{
	const char *k;
	const json_t *x;

	if (depth > 32)
		return 0;
	json_object_foreach((json_t *)v, k, x)
	{
		const json_t *fk = field_of(f, k);
		if (!fk || (json_is_object(x) && !all_ours(x, fk, depth + 1)))
			return 0;
	}
	return 1;
}

/*
 * The ops that clear what an apply would leave behind in live (below `path`,
 * f the fields sluice owns there): objects want lacks that are empty or hold
 * only fields sluice owns (1.20 removes the fields and keeps their emptied
 * map). A map holding one is set to want's whole (so that rules over the map,
 * such as minProperties, hold); at the top, the leftover is removed.
 */
static int leftover_ops(json_t *ops, const json_t *want, const json_t *live, const json_t *f,
                        const char *path, int depth)
{
	const char *k;
	json_t *v;
	int rc = 0;

	if (depth > 32)
		return 0;
	if (depth > 0) {
		json_object_foreach((json_t *)live, k, v)
		{
			if (json_is_object(v) && !json_object_get(want, k) &&
			    all_ours(v, field_of(f, k), 0)) {
				json_t *o = json_pack("{s:s, s:s, s:O}", "op", "add", "path", path,
				                      "value", want);
				return o && json_array_append_new(ops, o) == 0 ? 0 : SLUICE_ENOMEM;
			}
		}
	}
	json_object_foreach((json_t *)live, k, v)
	{
		if (!json_is_object(v) || (depth == 0 && skip_field(k)))
			continue;
		const json_t *w = json_object_get(want, k);
		if (!w && depth == 0 && all_ours(v, field_of(f, k), 0)) {
			rc = add_op(ops, "remove", path, k, NULL);
		} else if (json_is_object(w)) {
			struct buf sub;
			buf_init(&sub, 64 * 1024);
			if ((rc = ptr_join(&sub, path, k)) == 0)
				rc = leftover_ops(ops, w, v, field_of(f, k), sub.ptr, depth + 1);
			buf_dispose(&sub);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* the dry run's stand-in for "apply after the removals": Git's fields set */
static int content_ops(json_t *ops, const json_t *want, const json_t *live)
{
	static const char *const meta[] = {"labels", "annotations"};
	const char *k;
	json_t *v;
	int rc = 0;

	json_object_foreach((json_t *)want, k, v)
	{
		if (!skip_field(k) && (rc = add_op(ops, "add", "", k, v)) < 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(meta) / sizeof(*meta); i++) {
		const json_t *g = json_object_get(json_object_get(want, "metadata"), meta[i]);
		const json_t *l = json_object_get(json_object_get(live, "metadata"), meta[i]);
		if (!json_is_object(g) || json_object_size(g) == 0)
			continue;
		json_t *m = json_is_object(l) ? json_deep_copy(l) : json_object();
		if (!m || json_object_update(m, (json_t *)g) < 0) {
			json_decref(m);
			return SLUICE_ENOMEM;
		}
		rc = add_op(ops, "add", "/metadata", meta[i], m);
		json_decref(m);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* step 3: drop LEFTOVERS' managedFields entry from `obj` (as applied) */
static int drop_leftovers_entry(struct kube_client *c, const struct kube_ref *ref,
                                const json_t *obj)
{
	const json_t *mf = json_object_get(json_object_get(obj, "metadata"), "managedFields");
	const char *rv = rv_of(obj);
	json_t *keep = json_array(), *e, *ops;
	char *patch = NULL;
	size_t i;
	int rc;

	if (!keep)
		return SLUICE_ENOMEM;
	json_array_foreach(mf, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "manager")) ?: "", LEFTOVERS))
			json_array_append(keep, e);
	}
	if (!rv || json_array_size(keep) == json_array_size(mf)) {
		json_decref(keep);
		return 0;
	}
	ops = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:o}]", "op", "test", "path",
	                "/metadata/resourceVersion", "value", rv, "op", "replace", "path",
	                "/metadata/managedFields", "value", keep);
	rc = ops ? jsonfmt_dump(&patch, ops, JSONFMT_COMPACT) : SLUICE_ENOMEM;
	json_decref(ops);
	if (rc == 0)
		rc = kube_patch_as(c, NULL, ref, KUBE_PATCH_JSON, patch, NULL, LEFTOVERS, 0);
	free(patch);
	return rc;
}

static int remove_leftovers(struct kube_client *c, const struct item *it, unsigned flags)
{
	const json_t *md = json_object_get(it->obj, "metadata");
	struct kube_ref ref = {json_string_value(json_object_get(it->obj, "apiVersion")),
	                       json_string_value(json_object_get(it->obj, "kind")),
	                       json_string_value(json_object_get(md, "namespace")),
	                       json_string_value(json_object_get(md, "name"))};
	json_t *live = NULL, *ops = NULL, *applied = NULL;
	char *patch = NULL;
	int rc;

	if (!ref.api_version || !ref.kind || !ref.name)
		return SLUICE_EINVALID;
	if ((rc = kube_get(c, &live, &ref)) < 0)
		return rc;
	const char *rv = rv_of(live);
	ops = rv ? json_pack("[{s:s, s:s, s:s}]", "op", "test", "path", "/metadata/resourceVersion",
	                     "value", rv)
	         : NULL;
	rc = ops ? leftover_ops(ops, it->obj, live, owned_by_us(live), "", 0) : SLUICE_EINVALID;
	if (rc == 0 && json_array_size(ops) == 1)
		rc = SLUICE_EINVALID; /* no leftovers: Git's object itself is refused */
	if (rc == 0 && (flags & KUBE_DRY_RUN))
		rc = content_ops(ops, it->obj, live);
	json_decref(live);
	if (rc == 0)
		rc = jsonfmt_dump(&patch, ops, JSONFMT_COMPACT);
	json_decref(ops);
	if (rc == 0)
		rc = kube_patch_as(c, NULL, &ref, KUBE_PATCH_JSON, patch, NULL, LEFTOVERS,
		                   flags & KUBE_DRY_RUN);
	free(patch);
	if (rc == 0 && !(flags & KUBE_DRY_RUN) &&
	    (rc = kube_apply(c, &applied, it->obj, "sluice", KUBE_FORCE)) == 0 &&
	    drop_leftovers_entry(c, &ref, applied) < 0)
		slog(SLOG_WARN, "sync: cannot drop the managedFields entry of " LEFTOVERS, "object",
		     it->key, "error", sluice_error_last(), NULL);
	json_decref(applied);
	if (rc == 0)
		slog(SLOG_INFO,
		     flags & KUBE_DRY_RUN
		         ? "sync: server-side apply would keep objects Git removed; valid "
		           "without them"
		         : "sync: server-side apply kept objects Git removed; cleared them and "
		           "applied again",
		     "object", it->key, NULL);
	return rc;
}

/* Apply (or dry-run) items[lo..hi) at once; report each failure. */
static int apply_range(struct kube_client *c, struct item *items, size_t lo, size_t hi,
                       unsigned flags, struct diag *errs, size_t *applied)
{
	size_t n = hi - lo;
	json_t **objs;
	int *rcs;
	char **msgs;
	int first = 0;

	if (n == 0)
		return 0;
	objs = calloc(n, sizeof(*objs));
	rcs = calloc(n, sizeof(*rcs));
	msgs = calloc(n, sizeof(*msgs));
	if (!objs || !rcs || !msgs) {
		free(objs);
		free(rcs);
		free(msgs);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		objs[i] = items[lo + i].obj;
	kube_apply_many(c, objs, n, "sluice", flags | KUBE_FORCE, rcs, msgs);
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] == SLUICE_EINVALID && !items[lo + i].pinned &&
		    remove_leftovers(c, &items[lo + i], flags) == 0)
			rcs[i] = 0;
		if (rcs[i] == SLUICE_ECONFLICT && items[lo + i].pinned) {
			/* the rollout wrote the route after govern_route() read it: the
			 * route is the rollout's until it ends, and the next sync reads it
			 * again; not a failure */
			slog(SLOG_INFO,
			     "sync: route changed by the rollout since it was read; left to it",
			     "object", items[lo + i].key, NULL);
		} else if (rcs[i] < 0 && sync_unreachable(rcs[i])) {
			/* the server, not the object: one line, however many objects */
			if (!first || !sync_unreachable(first))
				diag_add(errs, "the Kubernetes API cannot be reached: %s",
				         msgs[i] ? msgs[i] : sluice_error_name(rcs[i]));
			first = rcs[i];
		} else if (rcs[i] < 0) {
			char what[1024];
			describe(what, sizeof(what), &items[lo + i], msgs[i]);
			diag_add(errs, "%s: %s", what,
			         msgs[i] ? msgs[i] : sluice_error_name(rcs[i]));
			if (!first)
				first = rcs[i];
		} else if (applied) {
			(*applied)++;
		}
		free(msgs[i]);
	}
	free(objs);
	free(rcs);
	free(msgs);
	return first;
}

int sync_unreachable(int rc)
{
	return rc == SLUICE_EUNAVAILABLE || rc == SLUICE_ETIMEOUT || rc == SLUICE_ETLS ||
	       rc == SLUICE_EAUTH;
}

static int crd_established(struct kube_client *c, const char *name)
{
	struct kube_ref ref = {"apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL, name};
	json_t *crd = NULL, *cond;
	size_t i;
	int ok = 0;

	if (kube_get(c, &crd, &ref) < 0)
		return 0;
	json_array_foreach(json_object_get(json_object_get(crd, "status"), "conditions"), i, cond)
	{
		const char *t = json_string_value(json_object_get(cond, "type"));
		const char *s = json_string_value(json_object_get(cond, "status"));
		if (t && s && strcmp(t, "Established") == 0 && strcmp(s, "True") == 0)
			ok = 1;
	}
	json_decref(crd);
	return ok;
}

/* Wait for the set's CRDs, then resolve the kinds they define. */
static int await_crds(struct kube_client *c, struct item *items, size_t n,
                      const struct sync_opts *o, struct diag *errs)
{
	long waited = 0, limit = o->crd_timeout_ms > 0 ? o->crd_timeout_ms : 60000;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(items[i].src->kind, "CustomResourceDefinition") != 0)
			continue;
		while (!crd_established(c, items[i].src->name)) {
			if (waited >= limit) {
				diag_add(errs,
				         "%s:%u: CustomResourceDefinition %s not Established after "
				         "%ld s",
				         items[i].src->path, items[i].src->line, items[i].src->name,
				         limit / 1000);
				return SLUICE_ETIMEOUT;
			}
			usleep(200000);
			waited += 200;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct kube_resource *r = NULL;
		if (!items[i].needs_crd)
			continue;
		const char *api = json_string_value(json_object_get(items[i].obj, "apiVersion"));
		int rc;
		while ((rc = kube_resolve(c, &r, api, items[i].src->kind)) == SLUICE_ENOTFOUND &&
		       waited < limit) {
			usleep(250000);
			waited += 250;
		}
		if (rc < 0) {
			diag_add(errs,
			         "%s:%u: kind %s in %s is still unknown after its CRD was applied",
			         items[i].src->path, items[i].src->line, items[i].src->kind, api);
			return rc;
		}
		if ((rc = finish_item(&items[i], r, o)) < 0)
			return rc;
		items[i].needs_crd = 0;
	}
	return 0;
}

/* The keys of an inventory as a set (a new object, key -> true), for O(1) lookups. */
static json_t *key_set(const json_t *inv)
{
	json_t *set = json_object(), *v;
	size_t i;
	json_array_foreach(inv, i, v)
	{
		if (json_is_string(v))
			json_object_set_new(set, json_string_value(v), json_true());
	}
	return set;
}

static int in_inventory(const json_t *set, const char *key)
{
	return json_object_get(set, key) != NULL;
}

/* "group|Kind|namespace|name" into its four parts (each < 256 bytes). */
static int split_key(const char *key, char *group, char *kind, char *ns, char *name)
{
	char *parts[4] = {group, kind, ns, name};
	const char *p = key;

	for (int i = 0; i < 4; i++) {
		const char *bar = i < 3 ? strchr(p, '|') : p + strlen(p);
		size_t len;
		if (!bar)
			return -1;
		len = (size_t)(bar - p);
		if (len >= 256)
			return -1;
		memcpy(parts[i], p, len);
		parts[i][len] = '\0';
		p = bar + 1;
	}
	return kind[0] && name[0] ? 0 : -1;
}

int sync_get_live(struct kube_client *c, const char *key, json_t **out, char *api, size_t apin)
{
	char group[256], kind[256], ns[256], name[256], av[512];
	const struct kube_resource *r;
	int rc;

	*out = NULL;
	if (split_key(key, group, kind, ns, name) < 0)
		return sluice_error_set(SLUICE_EINVALID, "sync: malformed inventory key \"%s\"",
		                        key);
	if ((rc = kube_resolve_gk(c, &r, group, kind)) < 0)
		return rc;
	snprintf(av, sizeof(av), "%s%s%s", group, *group ? "/" : "", r->version);
	if (api)
		snprintf(api, apin, "%s", av);
	struct kube_ref ref = {av, kind, ns, name};
	return kube_get(c, out, &ref);
}

static int prune(struct kube_client *c, const json_t *prev, const json_t *now,
                 const struct sync_opts *o, struct diag *errs, size_t *pruned)
{
	size_t i;
	json_t *v, *now_set = key_set(now);
	int first = 0;

	/* reverse order: workloads before the namespaces holding them */
	for (i = json_array_size(prev); i-- > 0;) {
		char group[256], kind[256], ns[256], name[256];
		json_t *live = NULL;
		v = json_array_get(prev, i);
		if (!json_is_string(v) || in_inventory(now_set, json_string_value(v)))
			continue;
		if (split_key(json_string_value(v), group, kind, ns, name) < 0)
			continue;
		char api[512];
		if (sync_get_live(c, json_string_value(v), &live, api, sizeof(api)) < 0)
			continue; /* already gone, or its kind is */
		struct kube_ref ref = {api, kind, ns, name};
		const json_t *meta = json_object_get(live, "metadata");
		const char *owner = json_string_value(
		    json_object_get(json_object_get(meta, "labels"), SYNC_LABEL_APP));
		const char *keep = json_string_value(
		    json_object_get(json_object_get(meta, "annotations"), SYNC_ANNOTATION_PRUNE));
		int mine = owner && strcmp(owner, o->app) == 0;
		int kept = keep && strcmp(keep, "disabled") == 0;
		json_decref(live); /* owner and keep were borrowed from it */
		if (!mine || kept)
			continue;
		int rc = kube_delete(c, &ref, "Background", 0);
		if (rc == 0 || rc == SLUICE_ENOTFOUND) {
			(*pruned)++;
			slog(SLOG_INFO, "sync: pruned", "app", o->app, "object",
			     json_string_value(v), NULL);
		} else {
			diag_add(errs, "prune %s %s%s%s: %s", kind, ns, *ns ? "/" : "", name,
			         sluice_error_last());
			if (!first)
				first = rc;
		}
	}
	json_decref(now_set);
	return first;
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void declare_metrics(void)
{
	static const double bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
	struct metrics *m = metrics_default();

	if (!m ||
	    metrics_histogram(m, "sluice_sync_duration_seconds",
	                      "Syncs of an app's rendered objects (validate, apply, prune).",
	                      (const char *const[]){"app", NULL}, bounds,
	                      sizeof(bounds) / sizeof(bounds[0])) < 0 ||
	    metrics_family(m, METRICS_COUNTER, "sluice_syncs_total",
	                   "Syncs by result: Synced, Invalid (nothing applied) or Failed.",
	                   (const char *const[]){"app", "result", NULL}) < 0 ||
	    metrics_family(m, METRICS_COUNTER, "sluice_sync_objects_total",
	                   "Objects written by syncs: applied or pruned.",
	                   (const char *const[]){"app", "action", NULL}) < 0)
		slog(SLOG_DEBUG, "sync: metrics not declared", "error", sluice_error_last(), NULL);
}

static void count_sync(const struct sync_opts *o, const struct sync_result *r, int rc,
                       double seconds)
{
	struct metrics *m = metrics_default();
	const char *app = o->app ? o->app : "";
	char msg[SLUICE_ERROR_MSG_MAX];

	if (!m)
		return;
	snprintf(msg, sizeof(msg), "%s", sluice_error_last());
	pthread_once(&metrics_once, declare_metrics);
	metrics_observe(m, "sluice_sync_duration_seconds", (const char *const[]){app, NULL},
	                seconds);
	metrics_add(m, "sluice_syncs_total",
	            (const char *const[]){app,
	                                  rc == 0                 ? "Synced"
	                                  : rc == SLUICE_EINVALID ? "Invalid"
	                                                          : "Failed",
	                                  NULL},
	            1);
	if (r->applied)
		metrics_add(m, "sluice_sync_objects_total",
		            (const char *const[]){app, "applied", NULL}, (double)r->applied);
	if (r->pruned)
		metrics_add(m, "sluice_sync_objects_total",
		            (const char *const[]){app, "pruned", NULL}, (double)r->pruned);
	if (rc < 0)
		sluice_error_set(rc, "%s", msg); /* the sync's own message stays the last */
}

static int sync_once(struct sync_result *r, struct kube_client *c, const struct manifest_set *set,
                     const struct sync_opts *o);

int sync_run(struct sync_result *r, struct kube_client *c, const struct manifest_set *set,
             const struct sync_opts *o)
{
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sync_once(r, c, set, o);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	count_sync(o, r, rc,
	           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return rc;
}

static int sync_once(struct sync_result *r, struct kube_client *c, const struct manifest_set *set,
                     const struct sync_opts *o)
{
	struct item *items = NULL;
	size_t n = set->count, stage1 = 0, nwrite = 0;
	int rc;

	if (!o->app || !*o->app)
		return sluice_error_set(SLUICE_EINVALID, "sync: an app name is required");
	if (n == 0 && !o->allow_empty) {
		diag_add(&r->errs, "the source renders no objects: refusing to prune everything "
		                   "(set allowEmpty to allow it)");
		return SLUICE_EINVALID;
	}
	items = calloc(n ? n : 1, sizeof(*items));
	r->live = json_object();
	if (!items || !r->live) {
		free(items);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	if ((rc = prepare(items, c, set, o, &r->errs)) < 0)
		goto out;
	if ((rc = govern(c, items, n, o)) < 0) {
		diag_add(&r->errs, "cannot read a governed Deployment: %s", sluice_error_last());
		goto out;
	}
	mark_unchanged(c, items, n, o, r->live);
	qsort(items, n, sizeof(*items), by_rank); /* what must be written first */
	while (nwrite < n && !items[nwrite].same)
		nwrite++;
	r->unchanged = n - nwrite;
	/* stage 1: Namespaces and CRDs (the rest cannot be validated without them) */
	while (stage1 < nwrite && items[stage1].rank <= 1)
		stage1++;
	if ((rc = apply_range(c, items, 0, stage1, KUBE_DRY_RUN, &r->errs, NULL)) < 0) {
		rc = sync_unreachable(rc) ? rc : SLUICE_EINVALID;
		goto out;
	}
	if ((rc = apply_range(c, items, 0, stage1, 0, &r->errs, &r->applied)) < 0)
		goto out;
	if ((rc = await_crds(c, items, nwrite, o, &r->errs)) < 0)
		goto out;
	if (stage1 < nwrite)
		qsort(items + stage1, nwrite - stage1, sizeof(*items), by_rank);
	/* validate everything else before changing anything else */
	if ((rc = apply_range(c, items, stage1, nwrite, KUBE_DRY_RUN, &r->errs, NULL)) < 0) {
		rc = sync_unreachable(rc) ? rc : SLUICE_EINVALID;
		goto out;
	}
	/* apply, one kind rank at a time */
	for (size_t lo = stage1; lo < nwrite;) {
		size_t hi = lo;
		while (hi < nwrite && items[hi].rank == items[lo].rank)
			hi++;
		if ((rc = apply_range(c, items, lo, hi, 0, &r->errs, &r->applied)) < 0)
			goto out;
		lo = hi;
	}
	/* what was just written is no longer as listed */
	for (size_t i = 0; i < nwrite; i++)
		if (items[i].key)
			json_object_del(r->live, items[i].key);
	rc = 0;
out:
	r->inventory = json_array();
	for (size_t i = 0; i < n; i++)
		if (items[i].key && (rc == 0 || i < stage1 || items[i].same))
			json_array_append_new(r->inventory, json_string(items[i].key));
	if (rc == 0 && o->prune && o->prev_inventory)
		rc = prune(c, o->prev_inventory, r->inventory, o, &r->errs, &r->pruned);
	if (rc < 0 && o->prev_inventory) {
		/* keep managing what was managed before a failed sync */
		size_t i;
		json_t *v, *have = key_set(r->inventory);
		json_array_foreach(o->prev_inventory, i, v)
		{
			if (json_is_string(v) && !in_inventory(have, json_string_value(v)))
				json_array_append(r->inventory, v);
		}
		json_decref(have);
	}
	for (size_t i = 0; i < n; i++) {
		json_decref(items[i].obj);
		free(items[i].key);
	}
	free(items);
	return rc;
}

/* ---- diff ------------------------------------------------------------- */

/* What a person compares: no server bookkeeping. */
static json_t *for_diff(const json_t *o)
{
	static const char *const noise[] = {"managedFields", "resourceVersion",   "generation",
	                                    "uid",           "creationTimestamp", "selfLink"};
	json_t *c = o ? json_deep_copy(o) : NULL;
	json_t *meta = json_object_get(c, "metadata");

	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		json_object_del(meta, noise[i]);
	json_object_del(c, "status");
	return c;
}

static int write_yaml(const char *path, const json_t *o)
{
	char *text = NULL;
	FILE *f;
	int rc = 0;

	if (o && (rc = yaml_emit(&text, o)) < 0)
		return rc;
	if (!(f = fopen(path, "w"))) {
		free(text);
		return sluice_error_set(SLUICE_EIO, "%s: cannot write", path);
	}
	if (text)
		fputs(text, f);
	if (fclose(f) != 0)
		rc = sluice_error_set(SLUICE_EIO, "%s: cannot write", path);
	free(text);
	return rc;
}

/*
 * `diff -u` of live against want, labelled with the object, into out.
 * Returns 1 when they differ, 0 when not, or an error.
 */
static int show(FILE *out, const char *dir, const char *what, const json_t *live,
                const json_t *want)
{
	char a[4200], b[4200], la[1100], lb[1100];
	json_t *x = for_diff(live), *y = for_diff(want);
	int rc, status;
	pid_t pid;

	snprintf(a, sizeof(a), "%s/live", dir);
	snprintf(b, sizeof(b), "%s/git", dir);
	snprintf(la, sizeof(la), "live/%s", what);
	snprintf(lb, sizeof(lb), "git/%s", what);
	if (x && y && json_equal(x, y)) {
		json_decref(x);
		json_decref(y);
		return 0;
	}
	rc = write_yaml(a, x);
	if (rc == 0)
		rc = write_yaml(b, y);
	json_decref(x);
	json_decref(y);
	if (rc < 0)
		return rc;
	fflush(out);
	if ((pid = fork()) < 0)
		return sluice_error_set(SLUICE_EIO, "diff: cannot fork");
	if (pid == 0) {
		if (dup2(fileno(out), 1) < 0)
			_exit(127);
		execlp("diff", "diff", "-u", "--label", la, "--label", lb, a, b, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return sluice_error_set(SLUICE_EIO, "diff: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		return sluice_error_set(SLUICE_EIO,
		                        "diff: the diff program failed (is it installed?)");
	return WEXITSTATUS(status);
}

static void name_of(char *buf, size_t n, const char *kind, const char *ns, const char *name)
{
	snprintf(buf, n, "%s/%s%s%s", kind, ns && *ns ? ns : "", ns && *ns ? "/" : "", name);
}

int sync_diff(struct kube_client *c, const struct manifest_set *set, const struct sync_opts *o,
              FILE *out, struct diag *errs)
{
	struct item *items = calloc(set->count ? set->count : 1, sizeof(*items));
	json_t *live = json_object(), *inv = json_array();
	size_t n = set->count;
	char dir[] = "/tmp/sluice-diff-XXXXXX";
	int rc, differ = 0, first = 0;

	if (!items || !live || !inv || !mkdtemp(dir)) {
		rc = sluice_error_set(items && live && inv ? SLUICE_EIO : SLUICE_ENOMEM,
		                      "diff: cannot make a temporary folder");
		goto out;
	}
	if ((rc = prepare(items, c, set, o, errs)) < 0 || (rc = govern(c, items, n, o)) < 0)
		goto out;
	mark_unchanged(c, items, n, o, live);
	qsort(items, n, sizeof(*items), by_rank);
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		const json_t *meta = json_object_get(it->obj, "metadata");
		const char *ns = json_string_value(json_object_get(meta, "namespace"));
		char what[1024];
		json_t *got = NULL, *now = NULL;

		json_array_append_new(inv, json_string(it->key));
		if (it->same)
			continue;
		name_of(what, sizeof(what), it->src->kind, ns, it->src->name);
		if (it->needs_crd) {
			/* its kind does not exist yet: what Git holds is what would be created */
			rc = show(out, dir, what, NULL, it->obj);
		} else {
			now = json_incref(json_object_get(live, it->key));
			if (!now) {
				struct kube_ref ref = {
				    json_string_value(json_object_get(it->obj, "apiVersion")),
				    it->src->kind, ns, it->src->name};
				if ((rc = kube_get(c, &now, &ref)) < 0 && rc != SLUICE_ENOTFOUND)
					goto failed;
			}
			rc = kube_apply(c, &got, it->obj, "sluice", KUBE_DRY_RUN | KUBE_FORCE);
			if (rc == 0)
				rc = show(out, dir, what, now, got);
		}
	failed:
		if (rc < 0) {
			char where[1024];
			describe(where, sizeof(where), it, sluice_error_last());
			diag_add(errs, "%s: %s", where, sluice_error_last());
			if (!first)
				first = rc;
		} else if (rc > 0) {
			differ++;
		}
		json_decref(got);
		json_decref(now);
	}
	/* what a sync would prune */
	size_t i;
	json_t *v;
	json_t *rendered = key_set(inv);
	json_array_foreach(o->prune ? o->prev_inventory : NULL, i, v)
	{
		char group[256], kind[256], ns[256], name[256], what[1024];
		json_t *gone = NULL;
		if (!json_is_string(v) || in_inventory(rendered, json_string_value(v)) ||
		    split_key(json_string_value(v), group, kind, ns, name) < 0 ||
		    sync_get_live(c, json_string_value(v), &gone, NULL, 0) < 0)
			continue;
		const json_t *meta = json_object_get(gone, "metadata");
		const char *owner = json_string_value(
		    json_object_get(json_object_get(meta, "labels"), SYNC_LABEL_APP));
		const char *keep = json_string_value(
		    json_object_get(json_object_get(meta, "annotations"), SYNC_ANNOTATION_PRUNE));
		if (owner && strcmp(owner, o->app) == 0 &&
		    !(keep && strcmp(keep, "disabled") == 0)) {
			name_of(what, sizeof(what), kind, ns, name);
			rc = show(out, dir, what, gone, NULL);
			if (rc > 0)
				differ++;
			else if (rc < 0 && !first)
				first = rc;
		}
		json_decref(gone);
	}
	json_decref(rendered);
	rc = first ? first : differ;
out:
	if (dir[strlen(dir) - 1] != 'X') {
		char p[64];
		snprintf(p, sizeof(p), "%s/live", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/git", dir);
		unlink(p);
		rmdir(dir);
	}
	for (size_t k = 0; items && k < n; k++) {
		json_decref(items[k].obj);
		free(items[k].key);
	}
	free(items);
	json_decref(live);
	json_decref(inv);
	return rc;
}
