/*
 * Single-app mode: sluiced --repo URL --path P watches one repository without
 * the Application resource. Each round fetches the revision, loads the
 * manifests under the path and syncs them (validate, apply in order, prune);
 * re-applying every round also heals drift. The inventory of what the app
 * manages is kept in a ConfigMap, sluice-inventory-APP, in the app's
 * namespace, so that prune survives restarts.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/git.h"
#include "sluice/jsonfmt.h"
#include "sluice/kube.h"
#include "sluice/log.h"
#include "sluice/manifest.h"
#include "sluice/sync.h"

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(1 << 20);
	if (buf) {
		n = fread(buf, 1, (1 << 20) - 1, f);
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

static json_t *load_inventory(struct kube_client *c, const struct single_opts *o)
{
	char name[300];
	json_t *cm = NULL, *inv = NULL;
	json_error_t err;

	snprintf(name, sizeof(name), "sluice-inventory-%s", o->app);
	struct kube_ref ref = {"v1", "ConfigMap", o->namespace, name};
	if (kube_get(c, &cm, &ref) < 0)
		return NULL;
	const char *text =
	    json_string_value(json_object_get(json_object_get(cm, "data"), "inventory"));
	if (text)
		inv = json_loads(text, 0, &err);
	json_decref(cm);
	if (!json_is_array(inv)) {
		json_decref(inv);
		return NULL;
	}
	return inv;
}

static int save_inventory(struct kube_client *c, const struct single_opts *o, const json_t *inv,
                          const char *commit)
{
	char name[300], *text = NULL;
	int rc;

	snprintf(name, sizeof(name), "sluice-inventory-%s", o->app);
	if ((rc = jsonfmt_dump(&text, inv, JSONFMT_COMPACT)) < 0)
		return rc;
	json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:s}}", "apiVersion",
	                       "v1", "kind", "ConfigMap", "metadata", "name", name, "namespace",
	                       o->namespace, "labels", "sluice.dev/inventory", o->app, "data",
	                       "inventory", text, "revision", commit);
	free(text);
	if (!cm)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	rc = kube_apply(c, NULL, cm, "sluice", KUBE_FORCE);
	json_decref(cm);
	return rc;
}

/* One round: fetch, load, sync. Returns 0, or a negative error already logged. */
static int round_once(struct kube_client *c, const struct single_opts *o,
                      const struct gitsrc_auth *auth, char *last_commit, size_t lcn)
{
	struct gitsrc_opts go;
	struct gitsrc_result gr;
	struct manifest_set *set = NULL;
	struct sync_result sr;
	struct diag errs;
	char dest[4096], root[4400], count[32], pruned[32];
	double t0 = (double)clock() / CLOCKS_PER_SEC;
	int rc;

	(void)t0;
	memset(&go, 0, sizeof(go));
	go.url = o->repo;
	go.revision = o->revision;
	go.cache_dir = o->cache_dir;
	go.auth = auth;
	snprintf(dest, sizeof(dest), "%s/checkout-%s", o->cache_dir, o->app);
	if ((rc = gitsrc_fetch(&gr, &go, dest)) < 0) {
		slog(SLOG_ERROR, "git fetch failed; the last good revision stays live", "app",
		     o->app, "error", sluice_error_last(), NULL);
		return rc;
	}
	snprintf(root, sizeof(root), "%s/%s", dest, o->path && *o->path ? o->path : ".");
	diag_init(&errs);
	rc = manifest_load_as(&set, root, o->path && *o->path ? o->path : ".", &errs);
	if (rc < 0) {
		for (size_t i = 0; i < errs.count; i++)
			slog(SLOG_ERROR, errs.msgs[i], "app", o->app, "revision", gr.commit, NULL);
		if (rc != SLUICE_EINVALID)
			slog(SLOG_ERROR, sluice_error_last(), "app", o->app, NULL);
		slog(SLOG_ERROR, "sync failed: invalid manifests, nothing applied", "app", o->app,
		     "revision", gr.commit, NULL);
		diag_dispose(&errs);
		return rc;
	}
	diag_dispose(&errs);
	json_t *prev = load_inventory(c, o);
	struct sync_opts so = {o->app, o->namespace, 1, 0, 60000, prev};
	sync_result_init(&sr);
	rc = sync_run(&sr, c, set, &so);
	for (size_t i = 0; i < sr.errs.count; i++)
		slog(SLOG_ERROR, sr.errs.msgs[i], "app", o->app, "revision", gr.commit, NULL);
	if (rc == 0 || (sr.inventory && rc != SLUICE_EINVALID)) {
		int sv = save_inventory(c, o, sr.inventory, gr.commit);
		if (sv < 0)
			slog(SLOG_ERROR, "cannot save the inventory", "app", o->app, "error",
			     sluice_error_last(), NULL);
	}
	snprintf(count, sizeof(count), "%zu", sr.applied);
	snprintf(pruned, sizeof(pruned), "%zu", sr.pruned);
	if (rc == 0)
		slog(SLOG_INFO, "synced", "app", o->app, "revision", gr.commit, "subject",
		     gr.subject, "applied", count, "pruned", pruned, NULL);
	else
		slog(SLOG_ERROR,
		     rc == SLUICE_EINVALID ? "sync failed: validation, nothing applied"
		                           : "sync failed",
		     "app", o->app, "revision", gr.commit, NULL);
	snprintf(last_commit, lcn, "%s", gr.commit);
	sync_result_dispose(&sr);
	json_decref(prev);
	manifest_set_free(set);
	return rc;
}

int controller_run_single(const struct single_opts *o)
{
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	struct gitsrc_auth auth;
	char *key = NULL, *kh = NULL, last[64] = "";
	int rc;

	memset(&auth, 0, sizeof(auth));
	auth.username = getenv("SLUICE_GIT_USERNAME");
	auth.password = getenv("SLUICE_GIT_PASSWORD");
	auth.ca_file = getenv("SLUICE_GIT_CA_FILE");
	if (getenv("SLUICE_GIT_SSH_KEY_FILE") &&
	    !(key = read_file(getenv("SLUICE_GIT_SSH_KEY_FILE")))) {
		slog(SLOG_ERROR, "cannot read SLUICE_GIT_SSH_KEY_FILE", NULL);
		return 2;
	}
	if (getenv("SLUICE_GIT_KNOWN_HOSTS_FILE") &&
	    !(kh = read_file(getenv("SLUICE_GIT_KNOWN_HOSTS_FILE")))) {
		free(key);
		slog(SLOG_ERROR, "cannot read SLUICE_GIT_KNOWN_HOSTS_FILE", NULL);
		return 2;
	}
	auth.ssh_private_key = key;
	auth.ssh_known_hosts = kh;
	slog_add_secret(auth.password);

	if (o->kubeconfig || !getenv("KUBERNETES_SERVICE_HOST"))
		rc = kube_config_load(&cfg, o->kubeconfig, NULL);
	else
		rc = kube_config_in_cluster(&cfg, NULL);
	if (rc == 0)
		rc = kube_client_new(&c, cfg, NULL);
	if (rc < 0) {
		slog(SLOG_ERROR, sluice_error_last(), NULL);
		free(key);
		free(kh);
		kube_config_free(cfg);
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	slog(SLOG_INFO, "single-app mode", "app", o->app, "repo", o->repo, "path",
	     o->path ? o->path : ".", NULL);
	do {
		rc = round_once(c, o, &auth, last, sizeof(last));
		if (o->once)
			break;
		for (long s = 0; s < o->interval_s * 10 && !stopping; s++)
			usleep(100000);
	} while (!stopping);
	kube_client_free(c);
	kube_config_free(cfg);
	free(key);
	free(kh);
	slog(SLOG_INFO, "stopped", "app", o->app, NULL);
	return rc == 0 ? 0 : (rc == SLUICE_EINVALID ? 1 : 2);
}
