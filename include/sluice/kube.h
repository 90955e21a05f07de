/*
 * The Kubernetes client.
 *
 * One client holds one curl multi handle: every request, and every watch, is
 * a transfer in it, so many run at once over reused (HTTP/2) connections,
 * under a client-side QPS/burst limit. Synchronous calls (kube_get() ...)
 * submit a request and drive the multi until it is done; asynchronous work
 * (kube_batch, kube_watch) is driven by kube_client_run(). Callbacks run
 * inside kube_client_run() and must not call it, or a synchronous verb,
 * themselves.
 *
 * Errors follow sluice's convention, mapped from the API's Status:
 * SLUICE_ENOTFOUND (404), SLUICE_EEXISTS (409 AlreadyExists), SLUICE_ECONFLICT
 * (409 Conflict), SLUICE_EFORBIDDEN (403, the message names the verb and
 * resource), SLUICE_EAUTH (401), SLUICE_EINVALID (400, 422 with each field
 * cause), SLUICE_EGONE (410), SLUICE_EUNAVAILABLE (429 and 5xx once retries
 * are spent), SLUICE_ETLS, SLUICE_ETIMEOUT, SLUICE_ELIMIT (a response over
 * the size cap). 429, 5xx and connection errors are retried with exponential
 * backoff and jitter, honouring Retry-After, bounded in count and time.
 *
 * Tokens, keys and passwords are registered with slog_add_secret() and never
 * appear in a message.
 */
#ifndef SLUICE_KUBE_H
#define SLUICE_KUBE_H

#include <stddef.h>

#include <jansson.h>

/* ---- configuration ---------------------------------------------------- */

struct kube_config {
	char *server;               /* "https://127.0.0.1:6443" */
	char *namespace;            /* default namespace ("default" when none is set) */
	char *context;              /* kubeconfig context used, or "in-cluster" */
	char *ca_file;              /* PEM file, or NULL */
	char *ca_data;              /* PEM bytes, or NULL */
	char *cert_file, *key_file; /* client certificate and key files */
	char *cert_data, *key_data; /* ... or PEM bytes */
	char *token;                /* bearer token, or NULL */
	char *token_file;           /* re-read when it changes (rotation) */
	char *username, *password;  /* basic auth, rarely used */
	int insecure;               /* insecure-skip-tls-verify */
};

/*
 * Load a kubeconfig: `path` (a file, or a colon-separated list as in
 * $KUBECONFIG), or $KUBECONFIG, or ~/.kube/config when NULL. `context` NULL
 * means the current context. Relative file paths are relative to the
 * kubeconfig's folder. Errors name the file: "~/.kube/config: context "x" not
 * found".
 */
int kube_config_load(struct kube_config **out, const char *path, const char *context);

/*
 * In-cluster configuration: KUBERNETES_SERVICE_HOST and _PORT, and the
 * service account's token, ca.crt and namespace under
 * ROOT/var/run/secrets/kubernetes.io/serviceaccount/ (ROOT is `root`, or
 * $SLUICE_IN_CLUSTER_ROOT, or "/"). The token is re-read when it rotates.
 */
int kube_config_in_cluster(struct kube_config **out, const char *root);

void kube_config_free(struct kube_config *c);

/* ---- client ----------------------------------------------------------- */

struct kube_client_opts {
	double qps;           /* sustained requests per second (default 100) */
	int burst;            /* bucket size (default 200) */
	int max_inflight;     /* transfers at once (default 64) */
	long timeout_ms;      /* per request (default 30000) */
	int max_retries;      /* attempts after the first (default 5) */
	long retry_budget_ms; /* total time spent retrying one request (default 60000) */
	size_t max_body;      /* largest response body (default 64 MiB) */
	const char *user_agent;
	/*
	 * A write fence: asked, on the thread that drives the client, before
	 * each request other than a GET is sent (each retry too), with its
	 * method and URL; 0 refuses it unsent, with SLUICE_ECONFLICT and a line
	 * "METHOD URL: not sent: this replica may not write now". NULL: every
	 * write goes. Leader election sets it, so that a replica that has lost
	 * its Lease sends nothing more, not even the rest of a sync.
	 */
	int (*may_write)(void *ud, const char *method, const char *url);
	void *may_write_ud;
};

struct kube_client;

/* A new client for `cfg` (copied). `opts` NULL means the defaults. */
int kube_client_new(struct kube_client **out, const struct kube_config *cfg,
                    const struct kube_client_opts *opts);
void kube_client_free(struct kube_client *c);

/* The client's default namespace. */
const char *kube_client_namespace(const struct kube_client *c);

/*
 * Drive transfers for at most `timeout_ms` (0: only what is ready now),
 * returning early once any request completes.
 * Returns the number of requests and watches still active, or a negative
 * error.
 */
int kube_client_run(struct kube_client *c, long timeout_ms);

/* Requests sent so far, counting retries (for tests and figures). */
unsigned long kube_client_requests(const struct kube_client *c);

/* ---- raw requests ----------------------------------------------------- */

struct kube_result {
	int rc;      /* 0 for 2xx, else a SLUICE_E* code */
	long status; /* HTTP status, 0 when none was received */
	char *body;  /* response body (owned by the result) */
	size_t len;
	char message[512]; /* one line for rc < 0 */
};

void kube_result_dispose(struct kube_result *r);

/* Parse the body as JSON (a new reference), or NULL. */
json_t *kube_result_json(const struct kube_result *r);

/*
 * Send one request and wait for it. `path` starts with "/" and may carry a
 * query. `body` may be NULL. Returns r->rc and fills *r (dispose it). The
 * message is also set as sluice_error_last().
 */
int kube_request(struct kube_client *c, struct kube_result *r, const char *method, const char *path,
                 const char *content_type, const char *body, size_t len);

/* ---- REST mapping ----------------------------------------------------- */

struct kube_resource {
	char *group; /* "" for the core group */
	char *version;
	char *kind;
	char *resource; /* plural, e.g. "deployments" */
	int namespaced;
};

/*
 * Map apiVersion and kind to a resource through discovery, cached; a miss
 * refreshes the cache (at most once a second), so a CRD created a moment ago
 * is found. SLUICE_ENOTFOUND when the server has no such kind. The resource
 * is owned by the client and stays valid until it is freed.
 */
int kube_resolve(struct kube_client *c, const struct kube_resource **out, const char *api_version,
                 const char *kind);

/* The same for a group and kind, in the version the server lists first. */
int kube_resolve_gk(struct kube_client *c, const struct kube_resource **out, const char *group,
                    const char *kind);

/* Forget the discovery cache. */
void kube_forget_discovery(struct kube_client *c);

/* ---- verbs ------------------------------------------------------------ */

struct kube_ref {
	const char *api_version;
	const char *kind;
	const char *namespace; /* NULL: the client's namespace, for namespaced kinds */
	const char *name;
};

#define KUBE_DRY_RUN 0x1 /* dryRun=All: validated and admitted, not stored */
#define KUBE_FORCE   0x2 /* server-side apply: take fields other managers own */

enum kube_patch_type { KUBE_PATCH_MERGE, KUBE_PATCH_JSON, KUBE_PATCH_STRATEGIC };

/* Each returns 0 or a SLUICE_E* error; *out (when asked for) is a new reference. */
int kube_get(struct kube_client *c, json_t **out, const struct kube_ref *ref);

struct kube_list_opts {
	const char *label_selector;
	const char *field_selector;
	long limit; /* page size (default 500) */
};

/*
 * List every object of a kind (ref->name is ignored; ref->namespace "" means
 * all namespaces), following `continue` across pages. *items is a new array;
 * *rv (free()) the list's resourceVersion, when asked for.
 */
int kube_list(struct kube_client *c, json_t **items, char **rv, const struct kube_ref *ref,
              const struct kube_list_opts *opts);

/*
 * The same list walked page by page: fn is called with each object (borrowed:
 * it lives until fn returns, unless fn takes a reference), and each page is
 * released before the next is read, so memory stays at one page (opts->limit
 * objects) however long the list. A non-zero return from fn stops the walk.
 */
typedef int (*kube_item_fn)(void *ud, json_t *item);
int kube_list_each(struct kube_client *c, const struct kube_ref *ref,
                   const struct kube_list_opts *opts, kube_item_fn fn, void *ud);

/*
 * The name, namespace and resourceVersion of every object of a kind, read
 * as metadata only (PartialObjectMetadataList) and walked without building
 * the list (see kube_scan_list): fn is called once per object ("" for what
 * an object lacks); a non-zero return stops the calls. Pages are followed.
 */
typedef int (*kube_meta_fn)(void *ud, const char *name, const char *ns, const char *rv);
int kube_list_meta(struct kube_client *c, const struct kube_ref *ref, const char *label_selector,
                   kube_meta_fn fn, void *ud);

/*
 * Walk a list's JSON text (len bytes) and call fn for each item's metadata,
 * as above; the list's continue token goes into cont (size contn; "" when
 * none). An item whose name is missing, escaped or longer than 255 bytes is
 * not reported. 0, or SLUICE_ERROR when the text is not JSON (nesting deeper
 * than 128 counts as not JSON), SLUICE_ELIMIT when the token is too long.
 */
int kube_scan_list(const char *body, size_t len, kube_meta_fn fn, void *ud, char *cont,
                   size_t contn);

int kube_create(struct kube_client *c, json_t **out, const json_t *obj, unsigned flags);

/*
 * Record a Kubernetes Event about `obj` (its apiVersion, kind, metadata):
 * `reason` made CamelCase ("rollout started" -> "RolloutStarted"), `message`
 * with known secrets redacted, type Warning or Normal, source "sluiced". A
 * failure is logged and returned; callers go on.
 */
int kube_record_event(struct kube_client *c, const json_t *obj, int warning, const char *reason,
                      const char *message);

/* Server-side apply of `obj` with `field_manager` (NULL: "sluice"). */
int kube_apply(struct kube_client *c, json_t **out, const json_t *obj, const char *field_manager,
               unsigned flags);

/* Patch `ref` (or its `subresource`, e.g. "status", when not NULL). */
int kube_patch(struct kube_client *c, json_t **out, const struct kube_ref *ref,
               enum kube_patch_type type, const char *patch, const char *subresource,
               unsigned flags);

/* The same as field_manager (the managedFields entry its changes go to). */
int kube_patch_as(struct kube_client *c, json_t **out, const struct kube_ref *ref,
                  enum kube_patch_type type, const char *patch, const char *subresource,
                  const char *field_manager, unsigned flags);

/* Delete with a propagation policy ("Background", "Foreground", "Orphan" or NULL). */
int kube_delete(struct kube_client *c, const struct kube_ref *ref, const char *propagation,
                unsigned flags);

/*
 * Server-side apply many objects at once (up to the client's in-flight limit,
 * under its QPS limit). rcs[i] gets each object's result; msgs (may be NULL)
 * gets each failure's message (free() each). Returns 0 when all succeeded,
 * else the first error.
 */
int kube_apply_many(struct kube_client *c, json_t *const *objs, size_t n, const char *field_manager,
                    unsigned flags, int *rcs, char **msgs);

/* ---- watches ---------------------------------------------------------- */

enum kube_event { KUBE_ADDED, KUBE_MODIFIED, KUBE_DELETED };

/* Called for every change, and once with obj NULL after each (re)list. */
typedef void (*kube_watch_fn)(void *ud, enum kube_event type, json_t *obj);

struct kube_watch_opts {
	const char *label_selector;
	const char *resource_version; /* start watching here instead of listing (tests) */
	long silence_ms; /* no byte for this long restarts the watch (default 120000) */
};

struct kube_watch;

/*
 * Watch a kind (ref->name ignored; ref->namespace "" for all namespaces):
 * LIST, then WATCH from its resourceVersion with bookmarks and a server
 * timeout drawn between 5 and 10 minutes. A 410 Gone leads to a relist whose
 * differences are delivered as ADDED, MODIFIED and DELETED, so no change is
 * missed; a dropped or silent stream reconnects with backoff. Events are
 * delivered from kube_client_run().
 */
int kube_watch_start(struct kube_watch **out, struct kube_client *c, const struct kube_ref *ref,
                     const struct kube_watch_opts *opts, kube_watch_fn fn, void *ud);
void kube_watch_stop(struct kube_watch *w);

/*
 * Close the stream and stay closed (a standby that lost its lease, or a test
 * making changes the watch must catch up on)...
 */
void kube_watch_pause(struct kube_watch *w);
/* ... and watch again from `rv` (NULL: where it stopped). */
int kube_watch_resume(struct kube_watch *w, const char *rv);

/* The objects the watch knows now ("ns/name" -> object; borrowed). */
const json_t *kube_watch_store(const struct kube_watch *w);

/* Times this watch listed (1 after the first list) and reconnected. */
unsigned kube_watch_lists(const struct kube_watch *w);
unsigned kube_watch_reconnects(const struct kube_watch *w);

#endif
