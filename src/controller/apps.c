/*
 * Application mode: the Applications are watched; each is synced on its
 * interval (sooner after a spec change, later after failures) and its status
 * written: sync {status, revision, lastSyncTime, message}, the inventory,
 * a Ready condition and the last 10 syncs.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base64.h"
#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/git.h"
#include "sluice/health.h"
#include "sluice/http.h"
#include "sluice/jsonfmt.h"
#include "sluice/log.h"
#include "sluice/rollout.h"
#include "sluice/sync.h"

#define HISTORY_MAX      10
#define RETRY_FIRST_S    5.0
#define HEALTH_RECHECK_S 5.0 /* between rounds while the app is Progressing */

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void now_rfc3339(char *buf, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *path_str(const json_t *o, const char *a, const char *b, const char *c)
{
	const json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	if (c)
		v = json_object_get(v, c);
	return json_string_value(v);
}

static int path_bool(const json_t *o, const char *a, const char *b, int dflt)
{
	const json_t *v = json_object_get(json_object_get(o, a), b);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* "90s", "5m", "1h" -> seconds; 60 when absent or malformed */
static long interval_of(const json_t *app)
{
	const char *s = path_str(app, "spec", "syncPolicy", "interval");
	char *end;
	long v;

	if (!s)
		return 60;
	v = strtol(s, &end, 10);
	if (v <= 0)
		return 60;
	if (*end == 'm')
		v *= 60;
	else if (*end == 'h')
		v *= 3600;
	return v;
}

#define RESOURCES_MAX 500

/*
 * Health of what the app manages: each object's, in status.resources (at
 * most RESOURCES_MAX), and the app's, its worst object's.
 */
static json_t *assess(struct kube_client *c, const json_t *inventory, const json_t *known,
                      json_t **health)
{
	json_t *list = json_array(), *v;
	enum health worst = HEALTH_HEALTHY;
	char worst_msg[1200] = "";
	size_t i;

	json_array_foreach(inventory, i, v)
	{
		const char *key = json_string_value(v);
		json_t *live = NULL;
		char msg[256], parts[4][256];
		enum health h;
		if (!key)
			continue;
		int rc = 0;
		if ((live = json_object_get(known, key)))
			json_incref(live); /* listed by the sync, unchanged since */
		else
			rc = sync_get_live(c, key, &live, NULL, 0);
		h = rc == 0 ? health_of(live, msg, sizeof(msg)) : HEALTH_MISSING;
		if (rc < 0)
			snprintf(msg, sizeof(msg), "%s",
			         rc == SLUICE_ENOTFOUND ? "not found" : sluice_error_last());
		json_decref(live);
		/* key: group|Kind|namespace|name */
		const char *p = key;
		for (int k = 0; k < 4; k++) {
			const char *bar = k < 3 ? strchr(p, '|') : p + strlen(p);
			if (!bar)
				bar = p + strlen(p);
			snprintf(parts[k], sizeof(parts[k]), "%.*s", (int)(bar - p), p);
			p = *bar ? bar + 1 : bar;
		}
		if (h > worst) {
			worst = h;
			snprintf(worst_msg, sizeof(worst_msg), "%s %s%s%s: %s", parts[1], parts[2],
			         *parts[2] ? "/" : "", parts[3], msg);
		}
		if (json_array_size(list) < RESOURCES_MAX)
			json_array_append_new(
			    list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "group", parts[0],
			                    "kind", parts[1], "namespace", parts[2], "name",
			                    parts[3], "health", health_name(h), "message", msg));
	}
	*health = json_pack("{s:s, s:s}", "status", health_name(worst), "message", worst_msg);
	return list;
}

/*
 * The status after a round. A round that changed nothing (same revision and
 * result, nothing applied or pruned, same health) leaves the status as it was
 * and writes nothing: lastSyncTime is the last sync that did something or
 * changed its outcome, and history grows only then.
 */
static int write_status(struct kube_client *c, const json_t *app, const struct round *r,
                        const char *cred_err, int *settling)
{
	const json_t *meta = json_object_get(app, "metadata");
	const json_t *old = json_object_get(app, "status");
	struct kube_ref ref = {"sluice.dev/v1alpha1", "Application",
	                       json_string_value(json_object_get(meta, "namespace")),
	                       json_string_value(json_object_get(meta, "name"))};
	char ts[32], dur[32], *patch = NULL;
	const char *result = cred_err ? "Failed" : r->rc == 0 ? "Synced" : "Failed";
	const char *message = cred_err ? cred_err : r->rc == 0 ? "" : r->message;
	const char *old_rev = path_str(old, "sync", "revision", NULL);
	const char *revision = r->fetched ? r->git.commit : old_rev ? old_rev : "";
	const char *ready = r->rc == 0 && !cred_err ? "True" : "False";
	const char *request;
	const json_t *newest = json_array_get(json_object_get(old, "history"), 0);
	const json_t *old_ready = json_array_get(json_object_get(old, "conditions"), 0);
	json_t *history = json_array(), *st;
	int rc, changed;

	request = json_string_value(
	    json_object_get(json_object_get(meta, "annotations"), "sluice.dev/sync-requested-at"));
	changed =
	    !newest || r->applied || r->pruned ||
	    strcmp(path_str(newest, "revision", NULL, NULL) ?: "", r->fetched ? revision : "") ||
	    strcmp(path_str(newest, "result", NULL, NULL) ?: "", result) ||
	    strcmp(path_str(newest, "message", NULL, NULL) ?: "", message);
	now_rfc3339(ts, sizeof(ts));
	snprintf(dur, sizeof(dur), "%.3fs", r->seconds);
	if (changed)
		json_array_append_new(history, json_pack("{s:s, s:s, s:s, s:s, s:s}", "revision",
		                                         r->fetched ? r->git.commit : "", "time",
		                                         ts, "result", result, "duration", dur,
		                                         "message", message));
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(old, "history"), i, h)
	{
		if (json_array_size(history) >= HISTORY_MAX)
			break;
		json_array_append(history, h);
	}
	const char *last = changed ? ts : path_str(old, "sync", "lastSyncTime", NULL);
	const char *since = ts;
	if (strcmp(path_str(old_ready, "status", NULL, NULL) ?: "", ready) == 0 &&
	    path_str(old_ready, "lastTransitionTime", NULL, NULL))
		since = path_str(old_ready, "lastTransitionTime", NULL, NULL);
	st = json_pack("{s:I, s:{s:s, s:s, s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:s}], s:o}",
	               "observedGeneration",
	               json_integer_value(json_object_get(meta, "generation")), "sync", "status",
	               result, "revision", revision, "subject",
	               r->fetched ? r->git.subject : path_str(old, "sync", "subject", NULL) ?: "",
	               "lastSyncTime", last ? last : ts, "message", message, "conditions", "type",
	               "Ready", "status", ready, "reason",
	               r->rc == 0 && !cred_err ? "Synced" : "SyncFailed", "message", message,
	               "lastTransitionTime", since, "history", history);
	if (!st)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if (request)
		json_object_set_new(st, "lastHandledSyncRequest", json_string(request));
	if (r->inventory)
		json_object_set(st, "inventory", r->inventory);
	else if (json_object_get(old, "inventory"))
		json_object_set(st, "inventory", json_object_get(old, "inventory"));
	const json_t *inv = json_object_get(st, "inventory");
	if (inv) {
		json_t *health = NULL;
		json_object_set_new(st, "resources", assess(c, inv, r->live, &health));
		*settling =
		    strcmp(path_str(health, "status", NULL, NULL) ?: "", "Progressing") == 0;
		json_object_set_new(st, "health", health);
	}
	if (old && json_equal(st, (json_t *)old)) {
		json_decref(st);
		return 0; /* nothing to say that the status does not already say */
	}
	json_t *body = json_pack("{s:o}", "status", st);
	rc = jsonfmt_dump(&patch, body, JSONFMT_COMPACT);
	json_decref(body);
	if (rc == 0)
		rc = kube_patch(c, NULL, &ref, KUBE_PATCH_MERGE, patch, "status", 0);
	free(patch);
	return rc;
}

/*
 * A Kubernetes Event on the Application, when the outcome or the revision
 * changed (not every round, which would flood the namespace).
 */
static void record_event(struct kube_client *c, const json_t *app, const struct round *r,
                         const char *cred_err)
{
	const json_t *meta = json_object_get(app, "metadata");
	const char *old_status = path_str(app, "status", "sync", "status");
	const char *old_rev = path_str(app, "status", "sync", "revision");
	int ok = r->rc == 0 && !cred_err;
	const char *status = ok ? "Synced" : "Failed";
	char msg[1100];

	if (r->skipped || (old_status && strcmp(old_status, status) == 0 && old_rev &&
	                   strcmp(old_rev, r->fetched ? r->git.commit : "") == 0))
		return;
	if (ok)
		snprintf(msg, sizeof(msg), "synced %.12s (%s): %zu applied, %zu pruned",
		         r->git.commit, r->git.subject, r->applied, r->pruned);
	else
		snprintf(msg, sizeof(msg), "sync of %.12s failed: %s",
		         r->fetched ? r->git.commit : "?", cred_err ? cred_err : r->message);
	/* a listed Application may lack kind and apiVersion: name them */
	json_t *ref = json_pack("{s:s, s:s, s:O}", "apiVersion", "sluice.dev/v1alpha1", "kind",
	                        "Application", "metadata", meta);
	if (ref)
		kube_record_event(c, ref, !ok, ok ? "Synced" : "SyncFailed", msg);
	json_decref(ref);
}

struct tracked {
	char requested[40]; /* the last sluice.dev/sync-requested-at acted on */
	int forced;         /* a person asked: sync even what selfHeal would skip */
	int busy;           /* queued or syncing in a worker (under the pool's lock) */
	struct render_cache render;
	double next_due;
	json_int_t generation;
	int failures;
	char last_commit[41];
};

/*
 * Leadership lost during a sync: nothing more is written (no event, no
 * status); the Application is due again, for when this replica leads.
 */
static int fenced(struct leader *le, const struct round *r, const char *ns, const char *name)
{
	if (!r->fenced && leader_may_write(le))
		return 0;
	slog(
	    SLOG_WARN,
	    "sync cut short: no longer leading (Lease lost or shutting down); nothing more written",
	    "app", name, "namespace", ns, NULL);
	return 1;
}

static void sync_app(struct kube_client *c, const json_t *app, struct tracked *t,
                     const struct apps_opts *o, struct leader *le)
{
	const json_t *meta = json_object_get(app, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *dest = path_str(app, "spec", "destination", "namespace");
	char key[600], cred_err[512] = "";
	struct app_creds cr;
	struct round r;
	long interval = interval_of(app);

	memset(&r, 0, sizeof(r));
	snprintf(key, sizeof(key), "%s.%s", ns, name);
	r.app = name;
	r.key = key;
	r.url = path_str(app, "spec", "source", "repoURL");
	r.revision = path_str(app, "spec", "source", "revision");
	r.path = path_str(app, "spec", "source", "path");
	r.namespace = dest ? dest : ns;
	r.cache_dir = o->cache_dir;
	r.prev_inventory = json_object_get(json_object_get(app, "status"), "inventory");
	r.cache = &t->render;
	r.leader = le;
	r.prune = path_bool(json_object_get(app, "spec"), "syncPolicy", "prune", 1);
	json_int_t gen = json_integer_value(json_object_get(meta, "generation"));
	if (!path_bool(json_object_get(app, "spec"), "syncPolicy", "selfHeal", 1) &&
	    t->generation == gen && t->last_commit[0] && !t->forced)
		r.skip_revision = t->last_commit;
	if (app_creds_load(&cr, c, app, ns, o->cache_dir, cred_err, sizeof(cred_err)) < 0) {
		slog(SLOG_ERROR, cred_err, "app", name, "namespace", ns, NULL);
		r.rc = SLUICE_EAUTH;
	} else {
		r.auth = &cr.auth;
		controller_round(c, &r);
	}
	if (fenced(le, &r, ns, name)) {
		t->next_due = 0;
		controller_round_dispose(&r);
		app_creds_dispose(&cr);
		return;
	}
	record_event(c, app, &r, cred_err[0] ? cred_err : NULL);
	int settling = 0;
	if (!r.skipped && write_status(c, app, &r, cred_err[0] ? cred_err : NULL, &settling) < 0)
		slog(SLOG_ERROR, "cannot write the Application's status", "app", name, "namespace",
		     ns, "error", sluice_error_last(), NULL);
	t->generation = gen;
	t->forced = 0;
	if (r.rc == 0) {
		t->failures = 0;
		if (r.fetched)
			snprintf(t->last_commit, sizeof(t->last_commit), "%s", r.git.commit);
		/* health is read at each round: while objects are still rolling out,
		 * look again soon (a no-op round is a metadata list), so the status
		 * says Healthy when they are, not an interval later */
		t->next_due = mono() + (settling && interval > HEALTH_RECHECK_S ? HEALTH_RECHECK_S
		                                                                : (double)interval);
	} else {
		double back = RETRY_FIRST_S;
		for (int i = 0; i < t->failures && back < interval; i++)
			back *= 2;
		t->failures++;
		t->next_due = mono() + (back < interval ? back : (double)interval);
	}
	controller_round_dispose(&r);
	app_creds_dispose(&cr);
}

struct watch_state {
	int synced;
};

/* Repository keys named by webhooks, handed from the HTTP thread to the loop. */
static pthread_mutex_t pushed_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *pushed;

static void on_push(void *ud, const char *const *urls, size_t n, const char *ref)
{
	char key[1024];
	(void)ud;
	pthread_mutex_lock(&pushed_lock);
	for (size_t i = 0; i < n && pushed; i++) {
		http_repo_key(key, sizeof(key), urls[i]);
		json_object_set_new(pushed, key, json_true());
	}
	pthread_mutex_unlock(&pushed_lock);
	slog(SLOG_INFO, "webhook: push received", "repository", n ? urls[0] : "", "ref",
	     ref ? ref : "", NULL);
}

/* The keys pushed since the last call (new reference). */
static json_t *take_pushed(void)
{
	json_t *got;
	pthread_mutex_lock(&pushed_lock);
	got = pushed;
	pushed = json_object();
	pthread_mutex_unlock(&pushed_lock);
	return got;
}

/*
 * A push a standby was told of (a Service sends webhooks to any Ready
 * replica) is passed on to the leader the way `sluice sync` asks: the
 * Applications of that repository get a new sluice.dev/sync-requested-at,
 * which the leader acts on at once. The only write a standby makes, and a
 * request, not state.
 */
static void pass_on_push(struct kube_client *c, const json_t *apps, const json_t *push)
{
	char rkey[1024], patch[200], ts[40];
	struct timespec now;
	struct tm tm;
	const char *k;
	json_t *app;

	if (!json_object_size(push))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(
	    patch, sizeof(patch),
	    "{\"metadata\":{\"annotations\":{\"sluice.dev/sync-requested-at\":\"%s.%09ldZ\"}}}", ts,
	    now.tv_nsec);
	json_object_foreach((json_t *)apps, k, app)
	{
		const char *repo = path_str(app, "spec", "source", "repoURL");
		if (!repo)
			continue;
		http_repo_key(rkey, sizeof(rkey), repo);
		if (!json_object_get(push, rkey))
			continue;
		struct kube_ref ref = {"sluice.dev/v1alpha1", "Application",
		                       path_str(app, "metadata", "namespace", NULL),
		                       path_str(app, "metadata", "name", NULL)};
		if (kube_patch(c, NULL, &ref, KUBE_PATCH_MERGE, patch, NULL, 0) < 0)
			slog(SLOG_WARN, "standby: cannot pass a push on to the leader", "app", k,
			     "error", sluice_error_last(), NULL);
		else
			slog(SLOG_INFO, "standby: push passed on to the leader", "app", k, NULL);
	}
}

/*
 * Rollouts are reconciled on the loop's own client: each reconcile is a few
 * requests and never waits; it says when to look again (a pause's remainder,
 * a wait for pods), and any change to the Rollout (a request annotation, its
 * spec) looks at once. Idle Rollouts are looked at every ROLLOUT_IDLE_S, which
 * is how a new template handed over by a sync is noticed.
 */
#define ROLLOUT_IDLE_S 2.0

struct rollouts {
	struct kube_watch *w;
	struct watch_state ws;
	double next_try;
	json_t *seen; /* "ns/name" -> [resourceVersion, due (mono s)] */
};

static void on_rollout(void *ud, enum kube_event type, json_t *obj)
{
	struct watch_state *ws = ud;
	(void)type;
	if (!obj)
		ws->synced = 1;
}

struct revert_ctx {
	struct kube_client *c;
	const json_t *apps; /* the Applications' watch store */
	const struct apps_opts *o;
};

/*
 * rollbackPolicy revertCommit: the Application the Rollout came from (its
 * tracking label names it; it syncs into the Rollout's namespace) gives the
 * repository, branch and credentials; the revert is pushed there.
 */
static int revert_hook(void *ud, const json_t *rollout, const char *commit, const char *reason,
                       char *out, char *err, size_t errn)
{
	struct revert_ctx *rc = ud;
	const char *app_name =
	    path_str(json_object_get(rollout, "metadata"), "labels", "sluice.dev/app", NULL);
	const char *ns = path_str(rollout, "metadata", "namespace", NULL);
	const json_t *app = NULL, *a;
	const char *k;
	struct app_creds cr;
	struct gitsrc_result res;
	int r;

	json_object_foreach((json_t *)rc->apps, k, a)
	{
		const char *name = path_str(a, "metadata", "name", NULL);
		const char *ans = path_str(a, "metadata", "namespace", NULL);
		const char *dest = path_str(a, "spec", "destination", "namespace");
		if (app_name && name && strcmp(name, app_name) == 0 && ns &&
		    strcmp(dest ? dest : (ans ? ans : ""), ns) == 0)
			app = a;
	}
	if (!app) {
		snprintf(err, errn, "no Application named %s syncs into %s",
		         app_name ? app_name : "?", ns ? ns : "?");
		return SLUICE_ENOTFOUND;
	}
	if (app_creds_load(&cr, rc->c, app, path_str(app, "metadata", "namespace", NULL),
	                   rc->o->cache_dir, err, errn) < 0)
		return SLUICE_EAUTH;
	struct gitsrc_opts go;
	memset(&go, 0, sizeof(go));
	go.url = path_str(app, "spec", "source", "repoURL");
	go.revision = path_str(app, "spec", "source", "revision");
	go.cache_dir = rc->o->cache_dir;
	go.auth = &cr.auth;
	r = gitsrc_revert(&res, &go, commit, reason);
	if (r < 0)
		snprintf(err, errn, "%s", sluice_error_last());
	else
		snprintf(out, 41, "%s", res.commit);
	app_creds_dispose(&cr);
	return r;
}

static void run_rollouts(struct kube_client *c, struct rollouts *ro, const struct apps_opts *o,
                         const json_t *apps, struct leader *le)
{
	struct revert_ctx rctx = {c, apps, o};
	struct rollout_hooks hooks = {revert_hook, &rctx, o->prometheus_url};
	struct kube_ref ref = {ROLLOUT_API, "Rollout", o->namespace ? o->namespace : "", NULL};
	const char *k;
	json_t *r;

	if (!ro->w) {
		if (mono() < ro->next_try)
			return;
		if (kube_watch_start(&ro->w, c, &ref, NULL, on_rollout, &ro->ws) < 0) {
			ro->w = NULL;
			ro->next_try = mono() + 10; /* the Rollout CRD may come later */
			return;
		}
		slog(SLOG_INFO, "watching Rollouts", NULL);
	}
	if (!ro->ws.synced || !leader_may_write(le))
		return; /* a standby keeps the watch warm and writes nothing */
	json_t *store = json_deep_copy(kube_watch_store(ro->w));
	json_object_foreach(store, k, r)
	{
		const char *rv = json_string_value(
		    json_object_get(json_object_get(r, "metadata"), "resourceVersion"));
		json_t *seen = json_object_get(ro->seen, k);
		const char *last = json_string_value(json_array_get(seen, 0));
		double due = json_number_value(json_array_get(seen, 1));
		long requeue = -1;
		if (stopping || !leader_may_write(le))
			break; /* checked before each reconcile: one in flight runs to its end */
		if (seen && last && rv && strcmp(last, rv) == 0 && mono() < due)
			continue;
		if (rollout_reconcile(c, r, &requeue, &hooks) < 0)
			slog(SLOG_ERROR, "rollout", "rollout", k, "error", sluice_error_last(),
			     NULL);
		double next = requeue >= 0 && requeue / 1000.0 < ROLLOUT_IDLE_S ? requeue / 1000.0
		                                                                : ROLLOUT_IDLE_S;
		json_object_set_new(ro->seen, k, json_pack("[s, f]", rv ? rv : "", mono() + next));
	}
	json_decref(store);
}

static void on_app(void *ud, enum kube_event type, json_t *obj)
{
	struct watch_state *ws = ud;
	(void)type;
	if (!obj)
		ws->synced = 1;
}

/*
 * Workers: many Applications sync at once, each on its own client, and an
 * Application is never synced by two workers at a time (busy is set while it
 * is queued or running, and the loop leaves a busy Application alone).
 */
struct job {
	json_t *app;
	struct tracked *t;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct job *q;
	size_t head, count, cap;
	size_t running;
	int closing;
	const struct kube_config *cfg;
	const struct apps_opts *o;
	struct leader *le; /* NULL: no leader election */
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct kube_client *c = NULL;

	if (kube_client_new(&c, p->cfg, &controller_client_opts) < 0)
		slog(SLOG_ERROR, "worker: no client", "error", sluice_error_last(), NULL);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->count && !p->closing)
			pthread_cond_wait(&p->ready, &p->lock);
		if (!p->count)
			break;
		struct job j = p->q[p->head];
		p->head = (p->head + 1) % p->cap;
		p->count--;
		p->running++;
		pthread_mutex_unlock(&p->lock);
		if (c && leader_may_write(p->le))
			sync_app(c, j.app, j.t, p->o, p->le);
		else
			j.t->next_due = 0; /* queued while leading; due when leading again */
		json_decref(j.app);
		pthread_mutex_lock(&p->lock);
		j.t->busy = 0;
		p->running--;
		pthread_cond_broadcast(&p->ready);
	}
	pthread_mutex_unlock(&p->lock);
	kube_client_free(c);
	return NULL;
}

/* Queue one sync of app (a new reference is taken). 0, or -1 out of memory. */
static int submit(struct pool *p, const json_t *app, struct tracked *t)
{
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (p->count == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct job *q = malloc(cap * sizeof(*q));
		if (!q) {
			rc = -1;
			goto out;
		}
		for (size_t i = 0; i < p->count; i++)
			q[i] = p->q[(p->head + i) % p->cap];
		free(p->q);
		p->q = q;
		p->head = 0;
		p->cap = cap;
	}
	p->q[(p->head + p->count) % p->cap] = (struct job){json_deep_copy(app), t};
	p->count++;
	t->busy = 1;
	pthread_cond_signal(&p->ready);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int is_busy(struct pool *p, const struct tracked *t)
{
	pthread_mutex_lock(&p->lock);
	int busy = t->busy;
	pthread_mutex_unlock(&p->lock);
	return busy;
}

/* Wait until nothing is queued or running. */
static void drain(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->count || p->running)
		pthread_cond_wait(&p->ready, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

/*
 * /readyz: the Applications have been listed and, with leader election,
 * this replica leads or stands by in touch with the API. A standby is Ready:
 * readiness gates only the Service (metrics, webhooks), and a Deployment's
 * rolling update waits for its new pods to be Ready, which a standby must be
 * for the update to proceed.
 */
struct readiness {
	atomic_int listed;
	struct leader *le; /* set before listed */
};

static int ready(void *ud, char *why, size_t n)
{
	struct readiness *rd = ud;

	if (!atomic_load(&rd->listed)) {
		snprintf(why, n, "Applications not listed yet");
		return 0;
	}
	if (!rd->le) {
		snprintf(why, n, "watching Applications");
		return 1;
	}
	return leader_ready(rd->le, why, n);
}

int controller_run_apps(const struct apps_opts *o)
{
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	struct kube_watch *w = NULL;
	struct watch_state ws = {0};
	struct kube_ref ref = {"sluice.dev/v1alpha1", "Application",
	                       o->namespace ? o->namespace : "", NULL};
	json_t *tracked = json_object(); /* "ns/name" -> index into slots */
	struct tracked **slots = NULL;
	struct http_server *http = NULL;
	size_t nslots = 0;
	int rc, worst = 0, nworkers = o->workers > 0 ? o->workers : 1;
	pthread_t *threads = NULL;
	struct pool pool;
	struct rollouts ro;
	struct leader *le = NULL;
	struct readiness rd;
	unsigned term = 0;

	if (o->once && o->leader) {
		slog(SLOG_ERROR, "--once and --leader-elect do not go together", NULL);
		json_decref(tracked);
		return 2;
	}
	atomic_init(&rd.listed, 0);
	rd.le = NULL;

	memset(&ro, 0, sizeof(ro));
	ro.seen = json_object();

	memset(&pool, 0, sizeof(pool));
	pthread_mutex_init(&pool.lock, NULL);
	pthread_cond_init(&pool.ready, NULL);
	pool.o = o;
	json_decref(take_pushed());
	if (o->http_addr) {
		if (http_server_start(&http, o->http_addr, o->webhook_secret, on_push, NULL) < 0) {
			slog(SLOG_ERROR, sluice_error_last(), NULL);
			json_decref(ro.seen);
			json_decref(tracked);
			return 2;
		}
		http_server_set_ready(http, ready, &rd);
		char port[16];
		snprintf(port, sizeof(port), "%d", http_server_port(http));
		slog(SLOG_INFO, "http: listening", "addr", o->http_addr, "port", port, "webhooks",
		     o->webhook_secret ? "signed" : "refused (no secret)", NULL);
	}

	rc = controller_connect(&cfg, &c, o->kubeconfig);
	if (rc == 0 && (rc = kube_watch_start(&w, c, &ref, NULL, on_app, &ws)) < 0)
		slog(SLOG_ERROR, sluice_error_last(), NULL);
	if (rc == 0 && o->leader && (rc = leader_start(&le, cfg, o->leader)) < 0)
		slog(SLOG_ERROR, sluice_error_last(), NULL);
	if (rc < 0) {
		kube_watch_stop(w);
		kube_client_free(c);
		kube_config_free(cfg);
		json_decref(tracked);
		json_decref(ro.seen);
		http_server_stop(http);
		return 2;
	}
	pool.cfg = cfg;
	pool.le = le;
	rd.le = le;
	controller_fence(le);
	/* one worker: syncs run on this thread */
	threads = nworkers > 1 ? calloc((size_t)nworkers, sizeof(*threads)) : NULL;
	for (int i = 0; threads && i < nworkers; i++)
		if (pthread_create(&threads[i], NULL, worker, &pool) != 0)
			nworkers = i;
	if (nworkers > 1 ? !threads || nworkers == 0 : 0) {
		slog(SLOG_ERROR, "cannot start the sync workers", NULL);
		free(threads);
		http_server_stop(http);
		leader_free(le);
		http = NULL;
		kube_watch_stop(w);
		kube_client_free(c);
		kube_config_free(cfg);
		json_decref(tracked);
		json_decref(ro.seen);
		http_server_stop(http);
		return 2;
	}
	controller_signals(on_term);
	char nw[16];
	snprintf(nw, sizeof(nw), "%d", nworkers);
	slog(SLOG_INFO, "watching Applications", "namespace",
	     o->namespace && *o->namespace ? o->namespace : "(all)", "workers", nw, NULL);
	while (!stopping) {
		if (!w && kube_watch_start(&w, c, &ref, NULL, on_app, &ws) < 0) {
			slog(SLOG_ERROR, "cannot watch Applications; trying again in 1 s", "error",
			     sluice_error_last(), NULL);
			w = NULL;
			sleep(1);
			continue;
		}
		kube_client_run(c, 100);
		if (!ws.synced)
			continue;
		/* listed for the first time: start-up's transient memory (TLS,
		 * discovery, the first LIST) is freed; give its pages back */
		if (!atomic_exchange(&rd.listed, 1))
			malloc_trim(0);
		if (!leader_may_write(le)) {
			/* a standby: no syncs, no rollouts, no status; a push it was told
			 * of goes on to the leader as a sync request */
			json_t *push = take_pushed();
			json_t *apps = json_deep_copy(kube_watch_store(w));
			pass_on_push(c, apps, push);
			json_decref(apps);
			json_decref(push);
			run_rollouts(c, &ro, o, kube_watch_store(w), le); /* the watch only */
			continue;
		}
		if (leader_term(le) != term) {
			/* leading (again): everything is due, whatever another leader did,
			 * and from a fresh LIST: a standby's watches may have been cut off
			 * (a partition, a watch in backoff) and their stores stale */
			term = leader_term(le);
			for (size_t i = 0; i < nslots; i++)
				if (!is_busy(&pool, slots[i]))
					slots[i]->next_due = 0;
			json_object_clear(ro.seen);
			kube_watch_stop(w);
			w = NULL;
			ws.synced = 0;
			kube_watch_stop(ro.w);
			ro.w = NULL;
			ro.ws.synced = 0;
			ro.next_try = 0;
			json_decref(take_pushed());
			continue;
		}
		json_t *push = take_pushed();
		const char *k;
		json_t *app;
		/* a copy: a sync on this thread runs the client, which may change the store */
		json_t *apps = json_deep_copy(kube_watch_store(w));
		json_object_foreach(apps, k, app)
		{
			if (stopping)
				break;
			json_t *slot = json_object_get(tracked, k);
			if (!slot) {
				struct tracked **ns2 = realloc(slots, (nslots + 1) * sizeof(*ns2));
				struct tracked *t1 = calloc(1, sizeof(*t1));
				if (ns2)
					slots = ns2;
				if (!ns2 || !t1) {
					free(t1);
					break;
				}
				t1->generation = -1;
				slots[nslots] = t1;
				json_object_set_new(tracked, k, json_integer((json_int_t)nslots));
				slot = json_object_get(tracked, k);
				nslots++;
			}
			struct tracked *t = slots[json_integer_value(slot)];
			if (is_busy(&pool, t))
				continue; /* a worker has it; the next pass looks again */
			json_int_t gen = json_integer_value(
			    json_object_get(json_object_get(app, "metadata"), "generation"));
			if (path_bool(json_object_get(app, "spec"), "syncPolicy", "suspend", 0))
				continue;
			const char *repo = path_str(app, "spec", "source", "repoURL");
			char rkey[1024];
			if (repo && json_object_size(push)) {
				http_repo_key(rkey, sizeof(rkey), repo);
				if (json_object_get(push, rkey))
					t->next_due = 0; /* a push to its repository: now */
			}
			const char *req = json_string_value(json_object_get(
			    json_object_get(json_object_get(app, "metadata"), "annotations"),
			    "sluice.dev/sync-requested-at"));
			if (req && strcmp(req, t->requested) != 0) {
				snprintf(t->requested, sizeof(t->requested), "%s", req);
				if (t->generation != -1) {
					t->next_due = 0; /* `sluice sync`: now */
					t->forced = 1;
				}
			}
			if (!(o->once || gen != t->generation || mono() >= t->next_due))
				continue;
			if (threads)
				submit(&pool, app, t);
			else
				sync_app(c, app, t, o, le);
		}
		/* a deleted Application's render and memo go with it */
		json_object_foreach(tracked, k, app)
		{
			struct tracked *t = slots[json_integer_value(app)];
			if (!json_object_get(apps, k) && (t->render.set || t->render.memo) &&
			    !is_busy(&pool, t))
				render_cache_dispose(&t->render);
		}
		json_decref(apps);
		json_decref(push);
		if (o->once) {
			if (threads)
				drain(&pool);
			break;
		}
		run_rollouts(c, &ro, o, kube_watch_store(w), le);
	}
	/* no write starts from here on; the Lease stays ours until what runs is done */
	leader_resign(le);
	pthread_mutex_lock(&pool.lock);
	pool.closing = 1;
	pthread_cond_broadcast(&pool.ready);
	pthread_mutex_unlock(&pool.lock);
	for (int i = 0; threads && i < nworkers; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	for (size_t i = 0; i < nslots; i++) {
		if (slots[i]->failures)
			worst = 1;
		render_cache_dispose(&slots[i]->render);
		free(slots[i]);
	}
	for (size_t i = 0; i < pool.count; i++)
		json_decref(pool.q[(pool.head + i) % pool.cap].app);
	free(pool.q);
	pthread_mutex_destroy(&pool.lock);
	pthread_cond_destroy(&pool.ready);
	http_server_stop(http);
	controller_fence(NULL);
	leader_free(le); /* releases the Lease: a standby takes over at once */
	kube_watch_stop(ro.w);
	json_decref(ro.seen);
	kube_watch_stop(w);
	kube_client_free(c);
	kube_config_free(cfg);
	json_decref(tracked);
	free(slots);
	slog(SLOG_INFO, "stopped", NULL);
	return worst;
}
