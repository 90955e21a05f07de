/*
 * Application mode: the Applications are watched; each is synced on its
 * interval (sooner after a spec change, later after failures) and its status
 * written: sync {status, revision, lastSyncTime, message}, the inventory,
 * a Ready condition and the last 10 syncs.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base64.h"
#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/health.h"
#include "sluice/http.h"
#include "sluice/jsonfmt.h"
#include "sluice/log.h"
#include "sluice/sync.h"

#define HISTORY_MAX   10
#define RETRY_FIRST_S 5.0

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

struct creds {
	struct gitsrc_auth auth;
	char *buf[5];
	char ca_path[4400];
};

static void creds_dispose(struct creds *cr)
{
	for (int i = 0; i < 5; i++)
		free(cr->buf[i]);
	if (cr->ca_path[0])
		unlink(cr->ca_path);
	memset(cr, 0, sizeof(*cr));
}

/* Credentials from the Secret named by spec.source.secretRef. */
static int load_creds(struct creds *cr, struct kube_client *c, const json_t *app, const char *ns,
                      const char *cache_dir, char *err, size_t errn)
{
	static const char *const keys[] = {"username", "password", "sshPrivateKey", "knownHosts",
	                                   "caCert"};
	const char *name;
	json_t *secret = NULL;

	memset(cr, 0, sizeof(*cr));
	name = json_string_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(app, "spec"), "source"), "secretRef"),
	    "name"));
	if (!name)
		return 0;
	struct kube_ref ref = {"v1", "Secret", ns, name};
	if (kube_get(c, &secret, &ref) < 0) {
		snprintf(err, errn, "secret %s/%s: %s", ns, name, sluice_error_last());
		return -1;
	}
	for (int i = 0; i < 5; i++) {
		const char *b64 =
		    json_string_value(json_object_get(json_object_get(secret, "data"), keys[i]));
		size_t n = 0;
		if (b64 && base64_decode(&cr->buf[i], &n, b64, strlen(b64), 0) == 0)
			slog_add_secret(i == 1 || i == 2 ? cr->buf[i] : NULL);
	}
	json_decref(secret);
	cr->auth.username = cr->buf[0];
	cr->auth.password = cr->buf[1];
	cr->auth.ssh_private_key = cr->buf[2];
	cr->auth.ssh_known_hosts = cr->buf[3];
	if (cr->buf[4]) {
		snprintf(cr->ca_path, sizeof(cr->ca_path), "%s/ca-%s-%s.pem", cache_dir, ns, name);
		FILE *f = fopen(cr->ca_path, "w");
		if (f) {
			fputs(cr->buf[4], f);
			fclose(f);
			cr->auth.ca_file = cr->ca_path;
		}
	}
	return 0;
}

#define RESOURCES_MAX 500

/*
 * Health of what the app manages: each object's, in status.resources (at
 * most RESOURCES_MAX), and the app's, its worst object's.
 */
static json_t *assess(struct kube_client *c, const json_t *inventory, json_t **health)
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
		int rc = sync_get_live(c, key, &live, NULL, 0);
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

static int write_status(struct kube_client *c, const json_t *app, const struct round *r,
                        const char *cred_err)
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
	json_t *history = json_array(), *st;
	int rc;

	now_rfc3339(ts, sizeof(ts));
	snprintf(dur, sizeof(dur), "%.3fs", r->seconds);
	json_array_append_new(history,
	                      json_pack("{s:s, s:s, s:s, s:s, s:s}", "revision",
	                                r->fetched ? r->git.commit : "", "time", ts, "result",
	                                result, "duration", dur, "message", message));
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(old, "history"), i, h)
	{
		if (json_array_size(history) >= HISTORY_MAX)
			break;
		json_array_append(history, h);
	}
	st = json_pack("{s:I, s:{s:s, s:s, s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:s}], s:o}",
	               "observedGeneration",
	               json_integer_value(json_object_get(meta, "generation")), "sync", "status",
	               result, "revision", revision, "subject", r->fetched ? r->git.subject : "",
	               "lastSyncTime", ts, "message", message, "conditions", "type", "Ready",
	               "status", r->rc == 0 && !cred_err ? "True" : "False", "reason",
	               r->rc == 0 && !cred_err ? "Synced" : "SyncFailed", "message", message,
	               "lastTransitionTime", ts, "history", history);
	if (!st)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if (r->inventory)
		json_object_set(st, "inventory", r->inventory);
	const json_t *inv = r->inventory ? r->inventory : json_object_get(old, "inventory");
	if (inv) {
		json_t *health = NULL;
		json_object_set_new(st, "resources", assess(c, inv, &health));
		json_object_set_new(st, "health", health);
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
	char ts[32], msg[1100], clean[1100], prefix[300];

	if (r->skipped || (old_status && strcmp(old_status, status) == 0 && old_rev &&
	                   strcmp(old_rev, r->fetched ? r->git.commit : "") == 0))
		return;
	if (ok)
		snprintf(msg, sizeof(msg), "synced %.12s (%s): %zu applied, %zu pruned",
		         r->git.commit, r->git.subject, r->applied, r->pruned);
	else
		snprintf(msg, sizeof(msg), "sync of %.12s failed: %s",
		         r->fetched ? r->git.commit : "?", cred_err ? cred_err : r->message);
	slog_redact(clean, sizeof(clean), msg);
	now_rfc3339(ts, sizeof(ts));
	snprintf(prefix, sizeof(prefix), "%s.", json_string_value(json_object_get(meta, "name")));
	json_t *ev =
	    json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, "
	              "s:{s:s}, s:s, s:s, s:i}",
	              "apiVersion", "v1", "kind", "Event", "metadata", "generateName", prefix,
	              "namespace", json_string_value(json_object_get(meta, "namespace")),
	              "involvedObject", "apiVersion", "sluice.dev/v1alpha1", "kind", "Application",
	              "name", json_string_value(json_object_get(meta, "name")), "namespace",
	              json_string_value(json_object_get(meta, "namespace")), "uid",
	              json_string_value(json_object_get(meta, "uid"))
	                  ? json_string_value(json_object_get(meta, "uid"))
	                  : "",
	              "reason", ok ? "Synced" : "SyncFailed", "message", clean, "type",
	              ok ? "Normal" : "Warning", "source", "component", "sluiced", "firstTimestamp",
	              ts, "lastTimestamp", ts, "count", 1);
	if (ev && kube_create(c, NULL, ev, 0) < 0)
		slog(SLOG_WARN, "cannot record an Event", "error", sluice_error_last(), NULL);
	json_decref(ev);
}

struct tracked {
	char requested[40]; /* the last sluice.dev/sync-requested-at acted on */
	double next_due;
	json_int_t generation;
	int failures;
	char last_commit[41];
};

static void sync_app(struct kube_client *c, const json_t *app, struct tracked *t,
                     const struct apps_opts *o)
{
	const json_t *meta = json_object_get(app, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *dest = path_str(app, "spec", "destination", "namespace");
	char key[600], cred_err[512] = "";
	struct creds cr;
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
	r.prune = path_bool(json_object_get(app, "spec"), "syncPolicy", "prune", 1);
	json_int_t gen = json_integer_value(json_object_get(meta, "generation"));
	if (!path_bool(json_object_get(app, "spec"), "syncPolicy", "selfHeal", 1) &&
	    t->generation == gen && t->last_commit[0])
		r.skip_revision = t->last_commit;
	if (load_creds(&cr, c, app, ns, o->cache_dir, cred_err, sizeof(cred_err)) < 0) {
		slog(SLOG_ERROR, cred_err, "app", name, "namespace", ns, NULL);
		r.rc = SLUICE_EAUTH;
	} else {
		r.auth = &cr.auth;
		controller_round(c, &r);
	}
	record_event(c, app, &r, cred_err[0] ? cred_err : NULL);
	if (!r.skipped && write_status(c, app, &r, cred_err[0] ? cred_err : NULL) < 0)
		slog(SLOG_ERROR, "cannot write the Application's status", "app", name, "namespace",
		     ns, "error", sluice_error_last(), NULL);
	t->generation = gen;
	if (r.rc == 0) {
		t->failures = 0;
		if (r.fetched)
			snprintf(t->last_commit, sizeof(t->last_commit), "%s", r.git.commit);
		t->next_due = mono() + (double)interval;
	} else {
		double back = RETRY_FIRST_S;
		for (int i = 0; i < t->failures && back < interval; i++)
			back *= 2;
		t->failures++;
		t->next_due = mono() + (back < interval ? back : (double)interval);
	}
	controller_round_dispose(&r);
	creds_dispose(&cr);
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

static void on_app(void *ud, enum kube_event type, json_t *obj)
{
	struct watch_state *ws = ud;
	(void)type;
	if (!obj)
		ws->synced = 1;
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
	struct tracked *slots = NULL;
	struct http_server *http = NULL;
	size_t nslots = 0;
	int rc, worst = 0;

	json_decref(take_pushed());
	if (o->http_addr) {
		if (http_server_start(&http, o->http_addr, o->webhook_secret, on_push, NULL) < 0) {
			slog(SLOG_ERROR, sluice_error_last(), NULL);
			return 2;
		}
		char port[16];
		snprintf(port, sizeof(port), "%d", http_server_port(http));
		slog(SLOG_INFO, "http: listening", "addr", o->http_addr, "port", port, "webhooks",
		     o->webhook_secret ? "signed" : "refused (no secret)", NULL);
	}

	rc = controller_connect(&cfg, &c, o->kubeconfig);
	if (rc == 0 && (rc = kube_watch_start(&w, c, &ref, NULL, on_app, &ws)) < 0)
		slog(SLOG_ERROR, sluice_error_last(), NULL);
	if (rc < 0) {
		kube_client_free(c);
		kube_config_free(cfg);
		json_decref(tracked);
		http_server_stop(http);
		return 2;
	}
	controller_signals(on_term);
	slog(SLOG_INFO, "watching Applications", "namespace",
	     o->namespace && *o->namespace ? o->namespace : "(all)", NULL);
	while (!stopping) {
		kube_client_run(c, 100);
		if (!ws.synced)
			continue;
		json_t *push = take_pushed();
		/* copy the keys: syncing runs the client, which may change the store */
		json_t *apps = json_deep_copy(kube_watch_store(w));
		const char *k;
		json_t *app;
		json_object_foreach(apps, k, app)
		{
			if (stopping)
				break;
			json_t *slot = json_object_get(tracked, k);
			if (!slot) {
				struct tracked *ns2 = realloc(slots, (nslots + 1) * sizeof(*ns2));
				if (!ns2)
					break;
				slots = ns2;
				memset(&slots[nslots], 0, sizeof(slots[nslots]));
				slots[nslots].generation = -1;
				json_object_set_new(tracked, k, json_integer((json_int_t)nslots));
				slot = json_object_get(tracked, k);
				nslots++;
			}
			struct tracked *t = &slots[json_integer_value(slot)];
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
				if (t->generation != -1)
					t->next_due = 0; /* `sluice sync`: now */
			}
			if (o->once || gen != t->generation || mono() >= t->next_due) {
				sync_app(c, app, t, o);
				if (t->failures && !worst)
					worst = 1;
			}
		}
		json_decref(apps);
		json_decref(push);
		if (o->once)
			break;
	}
	http_server_stop(http);
	kube_watch_stop(w);
	kube_client_free(c);
	kube_config_free(cfg);
	json_decref(tracked);
	free(slots);
	slog(SLOG_INFO, "stopped", NULL);
	return worst;
}
