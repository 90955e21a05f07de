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
	    *skip_revision; /* when the fetched commit is this one, do not sync (no self-heal) */
	/* out */
	int skipped;
	int rc;                   /* 0, SLUICE_EINVALID (nothing applied), or another error */
	int fetched;              /* the revision was fetched (git.commit is set) */
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

/* Client settings for every client sluiced makes (--kube-api-qps, --kube-api-burst). */
extern struct kube_client_opts controller_client_opts;

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
};

/*
 * Application mode: watch sluice.dev/v1alpha1 Applications and sync each on
 * its interval, or at once when its spec changes; results go to its status.
 * Returns the process exit status.
 */
int controller_run_apps(const struct apps_opts *o);

#endif
