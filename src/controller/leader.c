/*
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's
 * semantics (see controller.h): the pure decisions first, then the elector
 * thread that reads and writes the Lease.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/log.h"
#include "sluice/metrics.h"

#define LEASE_API    "coordination.k8s.io/v1"
#define METRIC_LEAD  "sluice_leader_election_leading"
#define WAIT_STEP_MS 100 /* a watch's news about the Lease is acted on this soon */

/* ---- defaults and checks ----------------------------------------------- */

void leader_default_namespace(char *out, size_t n)
{
	const char *root = getenv("SLUICE_IN_CLUSTER_ROOT");
	char path[4096], buf[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/var/run/secrets/kubernetes.io/serviceaccount/namespace",
	         root && *root ? root : "");
	if ((f = fopen(path, "r"))) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, " \t\r\n")] = '\0';
	}
	snprintf(out, n, "%s", buf[0] ? buf : LEADER_NAMESPACE_FALLBACK);
}

void leader_default_identity(char *out, size_t n)
{
	char host[200] = "";

	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "sluiced");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, n, "%s_%ld", host, (long)getpid());
}

static int dns_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 253)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.'))
			return 0;
	return 1;
}

int leader_opts_check(const struct leader_opts *o)
{
	if (!dns_name(o->namespace))
		return sluice_error_set(SLUICE_EINVALID,
		                        "--leader-elect-namespace: \"%s\" is not a namespace name",
		                        o->namespace ? o->namespace : "");
	if (!dns_name(o->name))
		return sluice_error_set(SLUICE_EINVALID,
		                        "--leader-elect-lease-name: \"%s\" is not a Lease name",
		                        o->name ? o->name : "");
	if (!o->identity || !*o->identity || strlen(o->identity) >= 256)
		return sluice_error_set(SLUICE_EINVALID,
		                        "--leader-elect-id: wants 1 to 255 characters");
	if (o->lease_ms < 1000 || o->lease_ms % 1000)
		return sluice_error_set(SLUICE_EINVALID,
		                        "--leader-elect-lease-duration: wants whole seconds, 1s "
		                        "or more (the Lease holds leaseDurationSeconds)");
	if (o->retry_ms <= 0)
		return sluice_error_set(SLUICE_EINVALID,
		                        "--leader-elect-retry-period: wants a duration above 0");
	if (o->renew_ms >= o->lease_ms)
		return sluice_error_set(SLUICE_EINVALID,
		                        "--leader-elect-renew-deadline must be shorter than "
		                        "--leader-elect-lease-duration");
	if ((double)o->renew_ms <= 1.2 * (double)o->retry_ms)
		return sluice_error_set(SLUICE_EINVALID,
		                        "--leader-elect-renew-deadline must be more than 1.2 times "
		                        "--leader-elect-retry-period");
	return 0;
}

/* ---- the decisions ------------------------------------------------------ */

void leader_state_init(struct leader_state *s, const char *identity, long lease_ms, long renew_ms,
                       long retry_ms)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->identity, sizeof(s->identity), "%s", identity);
	s->lease_ms = lease_ms;
	s->renew_ms = renew_ms;
	s->retry_ms = retry_ms;
	s->role = LEADER_CANDIDATE;
	s->contact_at = -1;
}

/* The same record (the resourceVersion aside), as client-go compares raw records. */
static int same_record(const struct leader_record *a, const struct leader_record *b)
{
	return strcmp(a->holder, b->holder) == 0 && a->duration_s == b->duration_s &&
	       a->transitions == b->transitions && strcmp(a->acquire, b->acquire) == 0 &&
	       strcmp(a->renew, b->renew) == 0;
}

static int ours(const struct leader_state *s)
{
	return s->have_record && strcmp(s->rec.holder, s->identity) == 0;
}

/* Another replica holds it, and it has not been left unrenewed for its duration. */
static int held_by_other(const struct leader_state *s, long long now)
{
	return s->have_record && s->rec.holder[0] && !ours(s) &&
	       s->observed_at + (long long)s->rec.duration_s * 1000 > now;
}

enum leader_role leader_observe(struct leader_state *s, const struct leader_record *r,
                                long long now)
{
	s->contact_at = now;
	if (!r) {
		if (s->have_record)
			s->observed_at = now;
		s->have_record = 0;
		memset(&s->rec, 0, sizeof(s->rec));
		s->role = LEADER_CANDIDATE;
		return s->role;
	}
	if (!s->have_record || !same_record(&s->rec, r)) {
		s->rec = *r;
		s->observed_at = now;
	} else {
		memcpy(s->rec.rv, r->rv, sizeof(s->rec.rv));
	}
	s->have_record = 1;
	if (ours(s)) {
		if (s->role == LEADER_STANDBY)
			s->role = LEADER_CANDIDATE; /* ours on paper: renewing it will tell */
	} else if (held_by_other(s, now)) {
		s->role = LEADER_STANDBY;
	} else {
		s->role = LEADER_CANDIDATE;
	}
	return s->role;
}

enum leader_action leader_decide(const struct leader_state *s, long long now)
{
	if (!s->have_record)
		return LEADER_CREATE;
	if (ours(s))
		return LEADER_RENEW;
	if (held_by_other(s, now))
		return LEADER_WAIT;
	return LEADER_ACQUIRE;
}

void leader_record_make(struct leader_record *out, const struct leader_state *s,
                        enum leader_action a, const char *wall)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->holder, sizeof(out->holder), "%s", s->identity);
	out->duration_s = s->lease_ms / 1000;
	snprintf(out->renew, sizeof(out->renew), "%s", wall);
	snprintf(out->acquire, sizeof(out->acquire), "%s", wall);
	memcpy(out->rv, s->rec.rv, sizeof(out->rv));
	if (a == LEADER_RENEW) {
		if (s->rec.acquire[0])
			memcpy(out->acquire, s->rec.acquire, sizeof(out->acquire));
		out->transitions = s->rec.transitions;
	} else if (a == LEADER_ACQUIRE) {
		out->transitions = s->rec.transitions + 1;
	} else {
		out->rv[0] = '\0';
	}
}

void leader_record_release(struct leader_record *out, const struct leader_state *s,
                           const char *wall)
{
	memset(out, 0, sizeof(*out));
	out->duration_s = 1;
	out->transitions = s->rec.transitions;
	snprintf(out->acquire, sizeof(out->acquire), "%s", wall);
	snprintf(out->renew, sizeof(out->renew), "%s", wall);
	memcpy(out->rv, s->rec.rv, sizeof(out->rv));
}

enum leader_role leader_tick(struct leader_state *s, long long now)
{
	if (s->role == LEADER_LEADING && now >= s->renewed_at + s->renew_ms)
		s->role = LEADER_CANDIDATE;
	return s->role;
}

enum leader_role leader_wrote(struct leader_state *s, const struct leader_record *w, int rc,
                              long long sent, long long now)
{
	if (rc == 0) {
		s->rec = *w;
		s->have_record = 1;
		s->observed_at = now;
		s->contact_at = now;
		if (ours(s)) {
			s->role = LEADER_LEADING;
			s->renewed_at = sent;
		} else {
			s->role = LEADER_CANDIDATE;
		}
	} else if (rc == SLUICE_ECONFLICT || rc == SLUICE_EEXISTS) {
		s->contact_at = now; /* the API answered: someone else wrote first */
	}
	return leader_tick(s, now);
}

int leader_state_may_write(const struct leader_state *s, long long now)
{
	return s->role == LEADER_LEADING && now < s->renewed_at + s->renew_ms;
}

long long leader_next_try(const struct leader_state *s, long long attempted)
{
	long long next = attempted + s->retry_ms;

	if (s->role != LEADER_LEADING && s->have_record && s->rec.holder[0] && !ours(s)) {
		long long expiry = s->observed_at + (long long)s->rec.duration_s * 1000;
		if (expiry > attempted && expiry < next)
			next = expiry;
	}
	return next;
}

/* ---- the record as JSON -------------------------------------------------- */

void leader_micro_time(char out[40], long long us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char sec[24];

	gmtime_r(&t, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%06lldZ", sec, us % 1000000);
}

int leader_record_from_lease(struct leader_record *out, const json_t *lease)
{
	const json_t *spec = json_object_get(lease, "spec");
	const char *rv = json_string_value(
	    json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));

	memset(out, 0, sizeof(*out));
	if (!json_is_object(spec))
		return sluice_error_set(SLUICE_EINVALID, "Lease: no spec");
	snprintf(out->holder, sizeof(out->holder), "%s",
	         json_string_value(json_object_get(spec, "holderIdentity")) ?: "");
	out->duration_s = (long)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	out->transitions = (long)json_integer_value(json_object_get(spec, "leaseTransitions"));
	snprintf(out->acquire, sizeof(out->acquire), "%s",
	         json_string_value(json_object_get(spec, "acquireTime")) ?: "");
	snprintf(out->renew, sizeof(out->renew), "%s",
	         json_string_value(json_object_get(spec, "renewTime")) ?: "");
	snprintf(out->rv, sizeof(out->rv), "%s", rv ? rv : "");
	return 0;
}

json_t *leader_lease_new(const struct leader_record *r, const char *ns, const char *name)
{
	json_t *o =
	    json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:I, s:I}}", "apiVersion", LEASE_API,
	              "kind", "Lease", "metadata", "name", name, "namespace", ns, "spec",
	              "holderIdentity", r->holder, "leaseDurationSeconds",
	              (json_int_t)r->duration_s, "leaseTransitions", (json_int_t)r->transitions);
	if (!o)
		return NULL;
	json_t *spec = json_object_get(o, "spec");
	if (r->acquire[0])
		json_object_set_new(spec, "acquireTime", json_string(r->acquire));
	if (r->renew[0])
		json_object_set_new(spec, "renewTime", json_string(r->renew));
	if (r->rv[0])
		json_object_set_new(json_object_get(o, "metadata"), "resourceVersion",
		                    json_string(r->rv));
	return o;
}

/* ---- the elector ---------------------------------------------------------- */

struct leader {
	pthread_t thread;
	int started;
	pthread_mutex_t lock; /* guards st, term, quit, resigned, err */
	struct leader_state st;
	unsigned term;
	int quit, resigned;
	char err[1024];               /* the last failure, for /readyz */
	int poke;                     /* the watch saw the Lease change (elector thread only) */
	struct leader_record pending; /* being written: its echo on the watch is no news */
	int writing;
	char ns[254], name[254], lease[512];
	struct kube_client *c;
	struct kube_watch *w;
};

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wall_now(char out[40])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	leader_micro_time(out, (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static void publish(struct leader *l, int leading)
{
	metrics_set(metrics_default(), METRIC_LEAD, (const char *[]){l->lease, NULL},
	            leading ? 1 : 0);
}

/* Log a change of role (under the lock): every transition is one line. */
static void transition(struct leader *l, enum leader_role before, const char *why)
{
	enum leader_role now = l->st.role;
	char n[32];

	if (now == before)
		return;
	if (now == LEADER_LEADING) {
		l->term++;
		snprintf(n, sizeof(n), "%ld", l->st.rec.transitions);
		slog(SLOG_INFO, "leader election: leading", "identity", l->st.identity, "lease",
		     l->lease, "transitions", n, NULL);
	} else if (before == LEADER_LEADING) {
		slog(SLOG_WARN, "leader election: stopped leading; no more writes", "identity",
		     l->st.identity, "lease", l->lease, "reason", why, NULL);
	}
	if (now == LEADER_CANDIDATE && before == LEADER_STANDBY)
		slog(SLOG_INFO, "leader election: the Lease is free", "identity", l->st.identity,
		     "lease", l->lease, "reason", why, NULL);
	if (now == LEADER_STANDBY)
		slog(SLOG_INFO, "leader election: standing by", "identity", l->st.identity, "lease",
		     l->lease, "holder", l->st.rec.holder, NULL);
	publish(l, now == LEADER_LEADING);
}

static void failed(struct leader *l, const char *what, const char *msg)
{
	char line[1024];

	snprintf(line, sizeof(line), "%s Lease %s: %.400s", what, l->lease, msg);
	pthread_mutex_lock(&l->lock);
	int again = strcmp(line, l->err) == 0;
	snprintf(l->err, sizeof(l->err), "%s", line);
	pthread_mutex_unlock(&l->lock);
	if (!again) /* one line per new problem, not one every retry period */
		slog(SLOG_WARN, "leader election: failed", "identity", l->st.identity, "error",
		     line, NULL);
}

static int lease_get(struct leader *l, struct leader_record *out)
{
	struct kube_ref ref = {LEASE_API, "Lease", l->ns, l->name};
	json_t *obj = NULL;
	int rc = kube_get(l->c, &obj, &ref);

	if (rc == 0)
		rc = leader_record_from_lease(out, obj);
	json_decref(obj);
	return rc;
}

/* Create (rv empty) or replace the Lease with `r`; its new resourceVersion goes to r->rv. */
static int lease_write(struct leader *l, struct leader_record *r, int create)
{
	json_t *obj = leader_lease_new(r, l->ns, l->name), *got = NULL;
	char *body = NULL, path[1200];
	struct kube_result res;
	int rc;

	if (!obj)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if (create) {
		rc = kube_create(l->c, &got, obj, 0);
	} else {
		body = json_dumps(obj, JSON_COMPACT);
		snprintf(path, sizeof(path), "/apis/%s/namespaces/%s/leases/%s", LEASE_API, l->ns,
		         l->name);
		memset(&res, 0, sizeof(res));
		rc = body ? kube_request(l->c, &res, "PUT", path, "application/json", body,
		                         strlen(body))
		          : sluice_error_set(SLUICE_ENOMEM, "out of memory");
		if (rc == 0)
			got = kube_result_json(&res);
		kube_result_dispose(&res);
	}
	if (rc == 0) {
		struct leader_record back;
		if (got && leader_record_from_lease(&back, got) == 0)
			memcpy(r->rv, back.rv, sizeof(r->rv));
		else
			r->rv[0] = '\0'; /* unknown: the next renewal reads it first */
	}
	free(body);
	json_decref(got);
	json_decref(obj);
	return rc;
}

/* The watch says something about a Lease in the namespace: is it news about ours? */
static void on_lease(void *ud, enum kube_event type, json_t *obj)
{
	struct leader *l = ud;
	struct leader_record r;

	if (!obj ||
	    strcmp(json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"))
	               ?: "",
	           l->name) != 0)
		return;
	if (type == KUBE_DELETED || leader_record_from_lease(&r, obj) < 0) {
		l->poke = 1;
		return;
	}
	pthread_mutex_lock(&l->lock);
	/* news only: the record is read again before anything is decided */
	if ((!l->st.have_record || !same_record(&l->st.rec, &r)) &&
	    !(l->writing && same_record(&l->pending, &r)))
		l->poke = 1;
	pthread_mutex_unlock(&l->lock);
}

/* Write `w` for `a` and record the outcome; 0 or the error. */
static int try_write(struct leader *l, struct leader_record *w, enum leader_action a)
{
	long long sent = mono_ms();
	const char *why = a == LEADER_RENEW ? "renew deadline passed" : "";

	pthread_mutex_lock(&l->lock);
	l->pending = *w;
	l->writing = 1;
	pthread_mutex_unlock(&l->lock);
	int rc = lease_write(l, w, a == LEADER_CREATE);
	pthread_mutex_lock(&l->lock);
	l->writing = 0;
	enum leader_role before = l->st.role;
	leader_wrote(&l->st, w, rc, sent, mono_ms());
	if (rc == 0)
		l->err[0] = '\0';
	transition(l, before, why);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/* One round: client-go's tryAcquireOrRenew. */
static void attempt(struct leader *l)
{
	struct leader_record got, w;
	char wall[40];
	enum leader_action a;
	int rc, fast, resigned;

	pthread_mutex_lock(&l->lock);
	fast = leader_state_may_write(&l->st, mono_ms()) && l->st.rec.rv[0];
	resigned = l->resigned;
	wall_now(wall);
	if (fast)
		leader_record_make(&w, &l->st, LEADER_RENEW, wall);
	pthread_mutex_unlock(&l->lock);
	/* the leader first renews what it last wrote, in one request */
	if (fast && try_write(l, &w, LEADER_RENEW) == 0)
		return;

	rc = lease_get(l, &got);
	if (rc < 0 && rc != SLUICE_ENOTFOUND) {
		failed(l, "cannot read", sluice_error_last());
		return;
	}
	pthread_mutex_lock(&l->lock);
	enum leader_role before = l->st.role;
	long long now = mono_ms();
	int was_new = !l->st.have_record || rc == SLUICE_ENOTFOUND ||
	              strcmp(l->st.rec.holder, got.holder) != 0;
	leader_observe(&l->st, rc == 0 ? &got : NULL, now);
	a = leader_decide(&l->st, now);
	if (rc == 0 && l->err[0] && a == LEADER_WAIT)
		l->err[0] = '\0';
	char why[400];
	if (rc == SLUICE_ENOTFOUND)
		snprintf(why, sizeof(why), "the Lease was deleted");
	else if (!l->st.rec.holder[0])
		snprintf(why, sizeof(why), "released");
	else if (l->st.role == LEADER_CANDIDATE && !ours(&l->st))
		snprintf(why, sizeof(why), "%s did not renew it for %lds", l->st.rec.holder,
		         l->st.rec.duration_s);
	else
		snprintf(why, sizeof(why), "the Lease is held by %s", l->st.rec.holder);
	transition(l, before, why);
	if (was_new && l->st.role == LEADER_STANDBY && before == LEADER_STANDBY)
		slog(SLOG_INFO, "leader election: new leader observed", "identity", l->st.identity,
		     "lease", l->lease, "holder", l->st.rec.holder, NULL);
	if (a != LEADER_WAIT) {
		wall_now(wall);
		leader_record_make(&w, &l->st, a, wall);
	}
	pthread_mutex_unlock(&l->lock);
	if (a == LEADER_WAIT || (resigned && a != LEADER_RENEW))
		return;
	if ((rc = try_write(l, &w, a)) == SLUICE_ECONFLICT || rc == SLUICE_EEXISTS)
		slog(SLOG_DEBUG, "leader election: another replica wrote the Lease first",
		     "identity", l->st.identity, "lease", l->lease, NULL);
	else if (rc < 0)
		failed(l,
		       a == LEADER_CREATE    ? "cannot create"
		       : a == LEADER_ACQUIRE ? "cannot take over"
		                             : "cannot renew",
		       sluice_error_last());
}

static void *elect(void *arg)
{
	struct leader *l = arg;
	long long next = 0, last = -1000;

	for (;;) {
		long long now = mono_ms();
		pthread_mutex_lock(&l->lock);
		int quit = l->quit;
		enum leader_role before = l->st.role;
		leader_tick(&l->st, now);
		transition(l, before, "renew deadline passed");
		pthread_mutex_unlock(&l->lock);
		if (quit)
			break;
		/* news from the watch is acted on at once, but not more than ten times a second */
		if (now >= next || (l->poke && now >= last + WAIT_STEP_MS)) {
			l->poke = 0;
			last = now;
			attempt(l);
			pthread_mutex_lock(&l->lock);
			next = leader_next_try(&l->st, mono_ms());
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		long long until =
		    l->poke && last + WAIT_STEP_MS < next ? last + WAIT_STEP_MS : next;
		long wait = (long)(until - now);
		if (wait > WAIT_STEP_MS)
			wait = WAIT_STEP_MS;
		if (wait < 1)
			wait = 1;
		int poked = l->poke;
		if (l->w)
			kube_client_run(l->c, wait);
		long long spent = mono_ms() - now;
		if (l->poke == poked && spent < wait) {
			/* nothing to drive (the watch is between connections): sleep */
			struct timespec ts = {0, (wait - spent) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int leader_start(struct leader **out, const struct kube_config *cfg, const struct leader_opts *o)
{
	struct kube_client_opts co = {0};
	struct leader *l;
	int rc;

	*out = NULL;
	if ((rc = leader_opts_check(o)) < 0)
		return rc;
	if (!(l = calloc(1, sizeof(*l))))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	pthread_mutex_init(&l->lock, NULL);
	leader_state_init(&l->st, o->identity, o->lease_ms, o->renew_ms, o->retry_ms);
	snprintf(l->ns, sizeof(l->ns), "%s", o->namespace);
	snprintf(l->name, sizeof(l->name), "%s", o->name);
	snprintf(l->lease, sizeof(l->lease), "%s/%s", o->namespace, o->name);
	/* each request within half the renew deadline, and no retries of its own:
	 * the elector retries every retry period */
	co.timeout_ms = o->renew_ms / 2;
	co.max_retries = 0;
	if ((rc = kube_client_new(&l->c, cfg, &co)) < 0) {
		leader_free(l);
		return rc;
	}
	struct kube_ref ref = {LEASE_API, "Lease", l->ns, NULL};
	if (kube_watch_start(&l->w, l->c, &ref, NULL, on_lease, l) < 0) {
		l->w = NULL;
		slog(SLOG_WARN,
		     "leader election: cannot watch Leases; looking every retry period instead",
		     "lease", l->lease, "error", sluice_error_last(), NULL);
	}
	struct metrics *m = metrics_default();
	metrics_family(m, METRICS_GAUGE, METRIC_LEAD,
	               "1 while this replica holds the leader-election Lease and may write.",
	               (const char *[]){"lease", NULL});
	publish(l, 0);
	char d[64];
	snprintf(d, sizeof(d), "%lds/%.3gs/%.3gs", o->lease_ms / 1000, o->renew_ms / 1000.0,
	         o->retry_ms / 1000.0);
	slog(SLOG_INFO, "leader election: started", "identity", o->identity, "lease", l->lease,
	     "lease/renew/retry", d, NULL);
	if (pthread_create(&l->thread, NULL, elect, l) != 0) {
		leader_free(l);
		return sluice_error_set(SLUICE_ERROR, "leader election: cannot start its thread");
	}
	l->started = 1;
	*out = l;
	return 0;
}

int leader_may_write(struct leader *l)
{
	if (!l)
		return 1;
	pthread_mutex_lock(&l->lock);
	int ok = !l->resigned && leader_state_may_write(&l->st, mono_ms());
	pthread_mutex_unlock(&l->lock);
	return ok;
}

int leader_holds(struct leader *l)
{
	if (!l)
		return 1;
	pthread_mutex_lock(&l->lock);
	int ok = leader_state_may_write(&l->st, mono_ms());
	pthread_mutex_unlock(&l->lock);
	return ok;
}

unsigned leader_term(struct leader *l)
{
	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	unsigned t = l->term;
	pthread_mutex_unlock(&l->lock);
	return t;
}

int leader_ready(struct leader *l, char *why, size_t n)
{
	int ok;

	if (!l) {
		snprintf(why, n, "no leader election");
		return 1;
	}
	pthread_mutex_lock(&l->lock);
	long long now = mono_ms();
	long long fresh = l->st.renew_ms;
	if (!l->resigned && leader_state_may_write(&l->st, now)) {
		ok = 1;
		snprintf(why, n, "leading (Lease %s)", l->lease);
	} else if (l->st.contact_at >= 0 && now - l->st.contact_at <= fresh) {
		ok = 1;
		snprintf(why, n, "standing by (Lease %s held by %s)", l->lease,
		         l->st.rec.holder[0] ? l->st.rec.holder : "nobody");
	} else {
		ok = 0;
		if (l->st.contact_at < 0)
			snprintf(why, n, "no answer about Lease %s yet%s%s", l->lease,
			         l->err[0] ? ": " : "", l->err);
		else
			snprintf(why, n, "no answer about Lease %s for %llds%s%s", l->lease,
			         (now - l->st.contact_at) / 1000, l->err[0] ? ": " : "", l->err);
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}

void leader_resign(struct leader *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	int was = !l->resigned && leader_state_may_write(&l->st, mono_ms());
	l->resigned = 1;
	pthread_mutex_unlock(&l->lock);
	publish(l, 0);
	if (was)
		slog(SLOG_INFO, "leader election: shutting down; no more writes", "identity",
		     l->st.identity, "lease", l->lease, NULL);
}

void leader_free(struct leader *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->quit = 1;
	l->resigned = 1;
	pthread_mutex_unlock(&l->lock);
	if (l->started)
		pthread_join(l->thread, NULL);
	/* the thread is gone: the state is ours alone */
	if (l->c && ours(&l->st)) {
		struct leader_record r;
		char wall[40];
		wall_now(wall);
		leader_record_release(&r, &l->st, wall);
		if (lease_write(l, &r, 0) == 0)
			slog(SLOG_INFO, "leader election: released the Lease", "identity",
			     l->st.identity, "lease", l->lease, NULL);
		else
			slog(SLOG_WARN, "leader election: cannot release the Lease", "identity",
			     l->st.identity, "lease", l->lease, "error", sluice_error_last(), NULL);
	}
	if (l->started)
		publish(l, 0);
	kube_watch_stop(l->w);
	kube_client_free(l->c);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
