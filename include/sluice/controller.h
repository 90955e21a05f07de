/*
 * sluiced, the controller. cmd/sluiced.c is only
 * `return controller_main(argc, argv);`.
 */
#ifndef SLUICE_CONTROLLER_H
#define SLUICE_CONTROLLER_H

#include <jansson.h>

#include "sluice/git.h"
#include "sluice/kube.h"
#include "sluice/manifest.h"
#include "sluice/sync.h"

int controller_main(int argc, char **argv);

struct leader;
struct leader_opts;

struct single_opts {
	const char *repo;       /* Git URL or path */
	const char *path;       /* folder in the repository ("" or NULL: the root) */
	const char *revision;   /* NULL: the remote's HEAD */
	const char *namespace;  /* for namespaced objects naming none; holds the inventory */
	const char *app;        /* the tracking label's value */
	const char *cache_dir;  /* mirrors and checkouts */
	const char *kubeconfig; /* NULL: in-cluster when there, else $KUBECONFIG */
	long interval_s;        /* between rounds (default 60) */
	int once;               /* one round, then exit 0 / 1 invalid / 2 other failure */
	const struct leader_opts *leader; /* run for leadership (NULL: write without) */
};

/*
 * Single-app mode (no Application resource). Git credentials come from the
 * environment, never the command line: SLUICE_GIT_USERNAME,
 * SLUICE_GIT_PASSWORD, SLUICE_GIT_SSH_KEY_FILE, SLUICE_GIT_KNOWN_HOSTS_FILE,
 * SLUICE_GIT_CA_FILE. Returns the process exit status.
 */
int controller_run_single(const struct single_opts *o);

/* One reconcile round of one source. Fill the inputs, call, read the outputs. */
/*
 * The last render of one source, kept between rounds: a round whose commit
 * and path are the same reuses it instead of reading and parsing every file
 * again (a resync with nothing to do then costs the fetch, a few LISTs and
 * the comparison).
 */
struct render_cache {
	char commit[64];
	char *path;
	struct manifest_set *set;
	struct sync_memo *memo; /* kept across renders; see sync.h */
};
void render_cache_dispose(struct render_cache *rc);

struct round {
	/* in */
	const char *app; /* tracking label value */
	const char *key; /* names the checkout folder (default: app) */
	const char *url, *revision, *path, *namespace, *cache_dir;
	const struct gitsrc_auth *auth;
	const json_t *prev_inventory;
	struct render_cache *cache; /* or NULL: render every round */
	int prune;
	const char
	    *skip_revision;    /* when the fetched commit is this one, do not sync (no self-heal) */
	struct leader *leader; /* or NULL: no leader election */
	/* out */
	int skipped;
	int fenced;  /* leadership was lost after the render: nothing applied, nothing to write */
	int rc;      /* 0, SLUICE_EINVALID (nothing applied), or another error */
	int fetched; /* the revision was fetched (git.commit is set) */
	struct gitsrc_result git; /* commit, subject, author */
	json_t *inventory;        /* what is managed now (NULL: unchanged) */
	json_t *live;             /* key -> live object, as the sync listed them (or NULL) */
	size_t applied, pruned, problems;
	char message[1024]; /* the first problem, one line */
	double seconds;
};

/*
 * A client for the cluster: `kubeconfig`, or the in-cluster service account
 * when KUBERNETES_SERVICE_HOST is set and no kubeconfig is named, or
 * $KUBECONFIG. The error is logged. Free both on success.
 */
int controller_connect(struct kube_config **cfg, struct kube_client **c, const char *kubeconfig);

/* Client settings for every client sluiced makes (--kube-api-qps,
 * --kube-api-burst), with the write fence of controller_fence(). */
extern struct kube_client_opts controller_client_opts;

/*
 * The write fence of every client made with controller_client_opts, made
 * before or after: with a leader set, a write (any request but a GET) is
 * sent only while this replica holds the Lease (leader_holds()), so a
 * replica that lost it sends nothing more, not even the rest of the sync it
 * was in. One write stays open to a standby: its pass-on of a push, a PATCH
 * of an Application's metadata (not its status). NULL lifts the fence (no
 * election, or before leader_free()).
 */
void controller_fence(struct leader *le);

/* SIGTERM and SIGINT call `on_term` (which only sets a flag); SIGPIPE is ignored. */
void controller_signals(void (*on_term)(int));

/*
 * Fetch r's source and render its manifests (kustomize when the path holds a
 * kustomization) into *out. Problems are logged and the first is in
 * r->message. Returns 0 (*out may be NULL when r->skipped) or an error.
 */
int controller_render(struct round *r, struct manifest_set **out);

/* An Application's Git credentials, from the Secret spec.source.secretRef names. */
struct app_creds {
	struct gitsrc_auth auth;
	char *buf[5];
	char ca_path[4400];
};

/*
 * Read them (none when the app names no Secret); a CA goes to a file under
 * cache_dir. Passwords and keys are registered as secrets for the log. On
 * failure, returns -1 with a one-line reason in err.
 */
int app_creds_load(struct app_creds *cr, struct kube_client *c, const json_t *app, const char *ns,
                   const char *cache_dir, char *err, size_t errn);
void app_creds_dispose(struct app_creds *cr);

/* Fetch, load and sync; every problem is logged. Returns r->rc. */
int controller_round(struct kube_client *c, struct round *r);
void controller_round_dispose(struct round *r);

struct apps_opts {
	const char *cache_dir;
	const char *kubeconfig;
	const char *namespace;      /* watch Applications here only ("" or NULL: all namespaces) */
	int once;                   /* sync every Application once, then exit */
	const char *http_addr;      /* "HOST:PORT" for /healthz and /hooks/git, or NULL */
	const char *webhook_secret; /* signs /hooks/git; NULL refuses webhooks */
	int workers;                /* Applications synced at once (default 4) */
	const char *prometheus_url; /* for analysis naming no Prometheus, or NULL */
	const struct leader_opts *leader; /* run for leadership (NULL: write without) */
};

/*
 * Application mode: watch sluice.dev/v1alpha1 Applications and sync each on
 * its interval, or at once when its spec changes; results go to its status.
 * Returns the process exit status.
 */
int controller_run_apps(const struct apps_opts *o);

/* ---- leader election (leader.c) ---------------------------------------- */

/*
 * Several replicas run; only the holder of a coordination.k8s.io/v1 Lease
 * writes. The semantics are client-go's leaderelection:
 *
 * - The holder renews the Lease (spec.renewTime) every retry period. If it has
 *   not renewed for the renew deadline (10 s), it stops writing at once
 *   (leader_may_write() is 0 from then on), before the lease duration (15 s)
 *   after which another replica may take it.
 * - A standby never compares timestamps from another clock: it notes, on its
 *   own monotonic clock, when it last saw the Lease's record change, and
 *   holds the Lease for taken until leaseDurationSeconds after that. It
 *   looks again every retry period, at the moment that time runs out, and at
 *   once when a watch on the Lease shows a change: a killed leader is
 *   replaced within lease duration + retry period (17 s), a released Lease
 *   within a round trip.
 * - Taking or renewing is a PUT with the resourceVersion read, so two
 *   replicas never both win. Leaving (leader_free) releases the Lease as
 *   client-go's ReleaseOnCancel does: holderIdentity "", leaseDurationSeconds
 *   1.
 *
 * Unlike client-go's Run(), a replica that stops leading goes back to
 * standing by rather than exiting.
 *
 * What leader_may_write() gates (Application mode): a standby starts no sync,
 * no rollout reconcile and writes no status or event; it keeps its watches
 * (Applications, Rollouts) warm and accepts webhooks, which count only once
 * it leads (it then syncs every Application at once). The gate is looked at
 * before a sync is queued, when a worker picks it up, between the fetch and
 * render and the first apply, before the event and status writes, and
 * before each rollout reconcile. Below the gates, the clients' write fence
 * (controller_fence()) stops every write once the Lease is no longer held
 * (the renew deadline passed), so what was past a gate when it closed ends
 * at its next write: a sync_run() or rollout_reconcile() in flight sends
 * nothing more, 5 s (lease - renew) before a standby can take over. What
 * can still overlap the next leader is at most the one request already on
 * the wire, and a revert push to Git (not a Kubernetes write). After a
 * SIGTERM (leader_resign()) the Lease is still held, so work in flight
 * finishes before leader_free() releases it.
 */
struct leader_opts {
	const char *namespace; /* the Lease's namespace */
	const char *name;      /* the Lease's name */
	const char *identity;  /* this replica, as written to holderIdentity */
	long lease_ms;         /* leaseDurationSeconds * 1000 (default 15000) */
	long renew_ms;         /* renew deadline (default 10000) */
	long retry_ms;         /* retry period (default 2000) */
};

#define LEADER_LEASE_NAME         "sluiced"
#define LEADER_NAMESPACE_FALLBACK "sluice-system"

/*
 * The pod's namespace (ROOT/var/run/secrets/kubernetes.io/serviceaccount/
 * namespace, ROOT being $SLUICE_IN_CLUSTER_ROOT or "/"), else
 * LEADER_NAMESPACE_FALLBACK; and HOSTNAME_PID.
 */
void leader_default_namespace(char *out, size_t n);
void leader_default_identity(char *out, size_t n);

/*
 * Check the durations as client-go does: lease > renew deadline > 1.2 x
 * retry period > 0, the lease a whole number of seconds. 0, or
 * SLUICE_EINVALID with the reason.
 */
int leader_opts_check(const struct leader_opts *o);

/* -- the decisions, pure: times are the caller's monotonic clock in ms -- */

struct leader_record {
	char holder[256]; /* holderIdentity; "" when released */
	long duration_s;  /* leaseDurationSeconds */
	long transitions; /* leaseTransitions */
	char acquire[40]; /* acquireTime, renewTime (MicroTime text, the holder's clock) */
	char renew[40];
	char rv[64]; /* metadata.resourceVersion (not part of the record's identity) */
};

enum leader_role {
	LEADER_CANDIDATE = 0, /* no live leader known: taking the Lease when it can */
	LEADER_STANDBY,       /* another replica holds a live lease */
	LEADER_LEADING        /* this replica holds it */
};

enum leader_action {
	LEADER_WAIT = 0, /* another's lease is live: only look */
	LEADER_CREATE,   /* no Lease: create it */
	LEADER_ACQUIRE,  /* released or expired: take it over (transitions + 1) */
	LEADER_RENEW     /* ours: renew it */
};

struct leader_state {
	char identity[256];
	long lease_ms, renew_ms, retry_ms;
	enum leader_role role;
	int have_record;          /* a Lease exists, as last read or written */
	struct leader_record rec; /* ... and its record */
	long long observed_at;    /* when rec last changed, on our clock */
	long long renewed_at;     /* when our last successful take or renewal was sent */
	long long contact_at;     /* the API's last answer about the Lease (-1: none yet) */
};

void leader_state_init(struct leader_state *s, const char *identity, long lease_ms, long renew_ms,
                       long retry_ms);

/*
 * The Lease as read at `now` (NULL: there is none). A record that differs
 * from the last one restarts the observed time. A leader that finds another
 * holder stops leading. Returns the role.
 */
enum leader_role leader_observe(struct leader_state *s, const struct leader_record *r,
                                long long now);

/* What to do with the Lease last observed. */
enum leader_action leader_decide(const struct leader_state *s, long long now);

/* The record to write for `a`, stamped with `wall` (MicroTime text). */
void leader_record_make(struct leader_record *out, const struct leader_state *s,
                        enum leader_action a, const char *wall);

/* The record that releases the Lease (holderIdentity "", leaseDurationSeconds 1). */
void leader_record_release(struct leader_record *out, const struct leader_state *s,
                           const char *wall);

/*
 * The outcome of writing `w` (sent at `sent`, answered at `now`): rc 0 makes
 * it the observed record, and, when it names us, this replica the leader
 * renewed at `sent`. A failure changes nothing until leader_tick(). Returns
 * the role.
 */
enum leader_role leader_wrote(struct leader_state *s, const struct leader_record *w, int rc,
                              long long sent, long long now);

/* A leader whose renew deadline passed stops leading. Returns the role. */
enum leader_role leader_tick(struct leader_state *s, long long now);

/* Leading and within the renew deadline of the last renewal. */
int leader_state_may_write(const struct leader_state *s, long long now);

/*
 * When to look again after an attempt at `attempted`: a retry period later,
 * or, for a standby, the moment the observed lease runs out if sooner.
 */
long long leader_next_try(const struct leader_state *s, long long attempted);

/* The record <-> the Lease's JSON. 0, or SLUICE_EINVALID when spec is not an object. */
int leader_record_from_lease(struct leader_record *out, const json_t *lease);
json_t *leader_lease_new(const struct leader_record *r, const char *ns, const char *name);

/* "2026-11-30T02:40:03.348123Z" (MicroTime) for Unix time `us` in microseconds. */
void leader_micro_time(char out[40], long long us);

/* -- the elector: a thread with its own client ---------------------------- */

/*
 * Start electing: a thread of its own with a client of its own, so that
 * neither a long sync nor a slow request on the loop delays a renewal.
 * Publishes sluice_leader_election_leading{lease} in metrics_default().
 */
int leader_start(struct leader **out, const struct kube_config *cfg, const struct leader_opts *o);

/*
 * May this replica write now? 1 without election (l NULL); else leading,
 * within the renew deadline of the last renewal, and not resigned. Cheap
 * (a mutex and a clock read); any thread.
 */
int leader_may_write(struct leader *l);

/*
 * Does this replica hold the Lease now, resigned or not? leader_may_write()
 * without the resignation: what a write in flight after a SIGTERM may still
 * finish under (the Lease is released only at leader_free()).
 */
int leader_holds(struct leader *l);

/* Counts the times this replica became leader (0 before the first). */
unsigned leader_term(struct leader *l);

/*
 * Readiness (for /readyz): 1 when leading, or standing by with an answer
 * from the API about the Lease within the renew deadline; else 0. `why`
 * (size n) says which, in one line.
 */
int leader_ready(struct leader *l, char *why, size_t n);

/*
 * Stop writing for good (SIGTERM): leader_may_write() is 0 from now on, while
 * the thread keeps the Lease renewed until leader_free(), so that the work
 * in flight can finish before another replica starts.
 */
void leader_resign(struct leader *l);

/* Stop the thread and, when this replica holds the Lease, release it. NULL is fine. */
void leader_free(struct leader *l);

#endif
