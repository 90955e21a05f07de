/* One reconcile round of one source: fetch, load, sync. Shared by the
 * single-app mode and the Application mode. */
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/manifest.h"
#include "sluice/sync.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread, in ms (a round runs on one thread). */
static double thread_cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void problem(struct round *r, const char *msg)
{
	if (!r->problems++)
		snprintf(r->message, sizeof(r->message), "%s", msg);
	slog(SLOG_ERROR, msg, "app", r->app, "revision", r->git.commit, NULL);
}

int controller_render(struct round *r, struct manifest_set **out)
{
	struct gitsrc_opts go;
	struct manifest_set *set = NULL;
	struct diag errs;
	char dest[4096], root[4400];
	const char *path = r->path && *r->path ? r->path : ".";
	int rc;

	*out = NULL;
	memset(&go, 0, sizeof(go));
	go.url = r->url;
	go.revision = r->revision;
	go.cache_dir = r->cache_dir;
	go.auth = r->auth;
	snprintf(dest, sizeof(dest), "%s/checkout-%s", r->cache_dir, r->key ? r->key : r->app);
	if ((rc = gitsrc_fetch(&r->git, &go, dest)) < 0) {
		problem(r, sluice_error_last());
		slog(SLOG_ERROR, "git fetch failed; the last good revision stays live", "app",
		     r->app, NULL);
		return rc;
	}
	r->fetched = 1;
	if (r->skip_revision && strcmp(r->skip_revision, r->git.commit) == 0) {
		r->skipped = 1;
		return 0;
	}
	if (r->cache && r->cache->set && strcmp(r->cache->commit, r->git.commit) == 0 &&
	    r->cache->path && strcmp(r->cache->path, path) == 0) {
		*out = r->cache->set; /* the same commit and path: the same render */
		return 0;
	}
	snprintf(root, sizeof(root), "%s/%s", dest, path);
	diag_init(&errs);
	if (manifest_kustomization(root))
		rc = manifest_kustomize(&set, root, path, &errs, 60000);
	else
		rc = manifest_load_as(&set, root, path, &errs);
	if (rc < 0) {
		for (size_t i = 0; i < errs.count; i++)
			problem(r, errs.msgs[i]);
		if (rc != SLUICE_EINVALID)
			problem(r, sluice_error_last());
		slog(SLOG_ERROR, "sync failed: invalid manifests, nothing applied", "app", r->app,
		     "revision", r->git.commit, NULL);
		manifest_set_free(set);
		set = NULL;
	}
	diag_dispose(&errs);
	*out = set;
	if (r->cache && set) {
		char *p = strdup(path);
		if (p) {
			manifest_set_free(r->cache->set);
			free(r->cache->path);
			snprintf(r->cache->commit, sizeof(r->cache->commit), "%s", r->git.commit);
			r->cache->path = p;
			r->cache->set = set;
		}
	}
	return rc;
}

void render_cache_dispose(struct render_cache *rc)
{
	if (!rc)
		return;
	manifest_set_free(rc->set);
	free(rc->path);
	sync_memo_free(rc->memo);
	memset(rc, 0, sizeof(*rc));
}

int controller_round(struct kube_client *c, struct round *r)
{
	struct manifest_set *set = NULL;
	struct sync_result sr;
	char count[32], pruned[32], same[32];
	double t0 = mono(), cpu0 = thread_cpu_ms();
	unsigned long req0 = kube_client_requests(c);
	char reqs[32], cpu[32], wall[32];
	int rc;

	if ((rc = controller_render(r, &set)) < 0 || r->skipped)
		goto out;
	if (!leader_may_write(r->leader)) {
		/* the fetch and render may take long: leadership is looked at again
		 * before the first write */
		r->fenced = 1;
		goto out;
	}
	char memo_key[4200];
	struct sync_opts so = {.app = r->app,
	                       .namespace = r->namespace,
	                       .prune = r->prune,
	                       .crd_timeout_ms = 60000,
	                       .prev_inventory = r->prev_inventory,
	                       .revision = r->git.commit,
	                       .memo_key = memo_key,
	                       .subject = r->git.subject,
	                       .commit_time = r->git.time};
	if (r->cache && r->cache->set == set) {
		/* a cached render: the sync may keep what it learns, too */
		if (!r->cache->memo)
			r->cache->memo = sync_memo_new();
		so.memo = r->cache->memo;
	}
	snprintf(memo_key, sizeof(memo_key), "%s|%s", r->git.commit,
	         r->cache && r->cache->path ? r->cache->path : "");
	sync_result_init(&sr);
	rc = sync_run(&sr, c, set, &so);
	for (size_t i = 0; i < sr.errs.count; i++)
		problem(r, sr.errs.msgs[i]);
	if (rc == 0 || rc != SLUICE_EINVALID)
		r->inventory = json_incref(sr.inventory);
	r->live = json_incref(sr.live);
	r->applied = sr.applied;
	r->pruned = sr.pruned;
	snprintf(count, sizeof(count), "%zu", sr.applied);
	snprintf(pruned, sizeof(pruned), "%zu", sr.pruned);
	snprintf(same, sizeof(same), "%zu", sr.unchanged);
	snprintf(reqs, sizeof(reqs), "%lu", kube_client_requests(c) - req0);
	snprintf(cpu, sizeof(cpu), "%.1f", thread_cpu_ms() - cpu0);
	snprintf(wall, sizeof(wall), "%.1f", (mono() - t0) * 1e3);
	if (rc == 0)
		slog(SLOG_INFO, "synced", "app", r->app, "revision", r->git.commit, "subject",
		     r->git.subject, "applied", count, "unchanged", same, "pruned", pruned,
		     "api_requests", reqs, "cpu_ms", cpu, "wall_ms", wall, NULL);
	else
		slog(SLOG_ERROR,
		     rc == SLUICE_EINVALID ? "sync failed: validation, nothing applied"
		                           : "sync failed",
		     "app", r->app, "revision", r->git.commit, NULL);
	sync_result_dispose(&sr);
out:
	if (!r->cache || r->cache->set != set)
		manifest_set_free(set);
	/* a round's lists and renders are freed now: give the pages back, or the
	 * first sync's peak stays the process's size between rounds */
	malloc_trim(0);
	r->rc = rc;
	r->seconds = mono() - t0;
	return rc;
}

void controller_round_dispose(struct round *r)
{
	if (!r)
		return;
	json_decref(r->inventory);
	json_decref(r->live);
	r->inventory = NULL;
	r->live = NULL;
}

static _Atomic(struct leader *) fence_leader;

static int fence(void *ud, const char *method, const char *url)
{
	struct leader *le = atomic_load(&fence_leader);
	(void)ud;
	if (!le || leader_holds(le))
		return 1;
	/* a standby passes a push on to the leader: an annotation on the
	 * Application (sluice.dev/sync-requested-at), never its status */
	const char *q = strchr(url, '?');
	size_t n = q ? (size_t)(q - url) : strlen(url);
	return strcmp(method, "PATCH") == 0 && memmem(url, n, "/applications/", 14) &&
	       !(n >= 7 && memcmp(url + n - 7, "/status", 7) == 0);
}

struct kube_client_opts controller_client_opts = {.may_write = fence};

void controller_fence(struct leader *le)
{
	atomic_store(&fence_leader, le);
}

int controller_connect(struct kube_config **cfg, struct kube_client **c, const char *kubeconfig)
{
	int rc;

	*cfg = NULL;
	*c = NULL;
	if (kubeconfig || !getenv("KUBERNETES_SERVICE_HOST"))
		rc = kube_config_load(cfg, kubeconfig, NULL);
	else
		rc = kube_config_in_cluster(cfg, NULL);
	if (rc == 0)
		rc = kube_client_new(c, *cfg, &controller_client_opts);
	if (rc < 0) {
		slog(SLOG_ERROR, sluice_error_last(), NULL);
		kube_config_free(*cfg);
		*cfg = NULL;
	}
	return rc;
}

void controller_signals(void (*on_term)(int))
{
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
}
