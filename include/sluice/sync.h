/*
 * One sync of a rendered set of manifests into a cluster: validate, apply in
 * order, prune what left Git.
 *
 * 1. Each object is prepared: its kind resolved through discovery, the
 *    destination namespace set when a namespaced object names none, and the
 *    tracking label sluice.dev/app=<app> added.
 * 2. Namespaces and CustomResourceDefinitions go first (the rest cannot be
 *    validated before they exist); the CRDs are waited for until Established.
 *    Before that, what is live is read with one LIST per kind and namespace
 *    (by the tracking label), a page of 100 objects at a time. An object
 *    whose live copy carries the hash of the prepared object (annotation
 *    sluice.dev/hash) and still holds every value it sets is in sync and
 *    skipped from here on: a resync that finds nothing to do writes nothing
 *    and costs a request per kind and 100 objects, not one per object.
 * 3. Every other object is validated with a server-side dry-run, all at once.
 *    If any fails (schema, unknown kind, admission), nothing of step 4 or 5
 *    happens and every failure is reported as "path:line: Kind ns/name: the
 *    API's message".
 * 4. The objects are server-side applied (field manager "sluice", forced:
 *    Git wins over hand edits) in kind order: cluster RBAC, ServiceAccounts,
 *    ConfigMaps and Secrets, Services, workloads, then everything else.
 * 5. Prune: objects in the previous inventory that are no longer rendered are
 *    deleted, in reverse order, only if they carry this app's tracking label
 *    and are not annotated sluice.dev/prune: disabled. An empty render prunes
 *    nothing unless allow_empty is set.
 */
#ifndef SLUICE_SYNC_H
#define SLUICE_SYNC_H

#include <jansson.h>
#include <stdio.h>

#include "sluice/diag.h"
#include "sluice/kube.h"
#include "sluice/manifest.h"

#define SYNC_LABEL_APP        "sluice.dev/app"
#define SYNC_ANNOTATION_PRUNE "sluice.dev/prune"
#define SYNC_ANNOTATION_HASH  "sluice.dev/hash"
#define SYNC_HASH_BYTES       16

/*
 * A Deployment that a Rollout of the same set governs (spec.targetRef) is
 * never given a new pod template by a sync: the template it runs stays what
 * the last promotion (or its first sync) made it, kept in Git's form in
 * SYNC_ANNOTATION_STABLE; a new template from Git is handed to the rollout
 * engine in SYNC_ANNOTATION_DESIRED (with the commit), and the engine
 * promotes it when the canary succeeds.
 */
#define SYNC_ANNOTATION_STABLE         "sluice.dev/stable-template"
#define SYNC_ANNOTATION_STABLE_COMMIT  "sluice.dev/stable-commit"
#define SYNC_ANNOTATION_DESIRED        "sluice.dev/desired-template"
#define SYNC_ANNOTATION_DESIRED_COMMIT "sluice.dev/desired-commit"
/* and that commit's subject and time (RFC 3339), for status and lead time */
#define SYNC_ANNOTATION_DESIRED_SUBJECT "sluice.dev/desired-subject"
#define SYNC_ANNOTATION_DESIRED_TIME    "sluice.dev/desired-commit-time"

/*
 * What one app's syncs keep from one run to the next (NULL: nothing). For the
 * same render (memo_key names it, e.g. "commit|path"), the prepared objects
 * and their hashes are reused. For each object last seen in sync, its live
 * copy (without managedFields) and resourceVersion are kept, so a resync
 * lists only metadata and reads whole only the objects whose resourceVersion
 * moved: what a no-op resync parses, like what it writes, grows with the
 * changes, not with the objects. What is kept of a live object is what
 * health reads (health_view()), not the whole object. One memo serves one
 * app, one sync at a time, of one cached render: sync_run() with a memo
 * prepares the render's objects in place (namespace, tracking label, hash)
 * and shares them with the memo rather than copying them.
 */
struct sync_memo;
struct sync_memo *sync_memo_new(void);
void sync_memo_free(struct sync_memo *m);

struct sync_opts {
	const char *app;              /* required: the tracking label's value */
	const char *namespace;        /* for namespaced objects naming none (default "default") */
	int prune;                    /* delete what left Git */
	int allow_empty;              /* let an empty render prune everything */
	long crd_timeout_ms;          /* wait for CRDs to be Established (default 60000) */
	const json_t *prev_inventory; /* array of inventory keys from the last sync, or NULL */
	const char *revision;         /* the Git commit being synced ("" or NULL: unknown) */
	struct sync_memo *memo;       /* or NULL */
	const char *memo_key;         /* names the render `set` is (with memo) */
	const char *subject;          /* the commit's subject, or NULL */
	long long commit_time;        /* its committer time (Unix seconds), or 0 */
};

struct sync_result {
	json_t *inventory; /* array of "group|Kind|namespace|name" now managed (new reference) */
	json_t *live;      /* key -> the live object (of one in sync, what health reads of it:
	                      health_view()), for those listed and not written since */
	size_t applied;    /* objects applied */
	size_t unchanged;  /* objects that already matched: not written, not even dry-run */
	size_t pruned;     /* objects deleted */
	struct diag errs;  /* every problem, one line each */
};

void sync_result_init(struct sync_result *r);
void sync_result_dispose(struct sync_result *r);

/*
 * Sync `set` as app `o->app`. Returns 0 when everything applied (and pruned);
 * SLUICE_EINVALID when validation failed and nothing was applied; another
 * negative code when applying or pruning failed part way (what was applied is
 * in the inventory); every problem is in r->errs.
 */
int sync_run(struct sync_result *r, struct kube_client *c, const struct manifest_set *set,
             const struct sync_opts *o);

/*
 * What sync_run would change, without changing anything: for each object
 * that is not already in sync, a unified diff (`diff -u`) of the live object
 * against the result of a server-side dry-run apply; for each object a sync
 * would prune, its removal. Server bookkeeping (managedFields,
 * resourceVersion, status, ...) is left out. Returns the number of objects
 * that differ, or a negative error (problems, with file:line, in errs).
 */
int sync_diff(struct kube_client *c, const struct manifest_set *set, const struct sync_opts *o,
              FILE *out, struct diag *errs);

/* Is rc a failure to reach the API (not a verdict on an object)? */
int sync_unreachable(int rc);

/* The hex SHA-256 prefix of obj's canonical JSON (keys sorted). */
int sync_hash(char out[2 * SYNC_HASH_BYTES + 1], const json_t *obj);

/* Does live hold every value want sets (server defaults aside)? 1 or 0. */
int sync_covers(const json_t *want, const json_t *live);

/*
 * The live object of an inventory key ("group|Kind|namespace|name"), as a new
 * reference in *out; its apiVersion in `api` (size apin) when not NULL.
 * SLUICE_ENOTFOUND when it (or its kind) is gone.
 */
int sync_get_live(struct kube_client *c, const char *key, json_t **out, char *api, size_t apin);

#endif
