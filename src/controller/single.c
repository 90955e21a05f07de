/*
 * Single-app mode: sluiced --repo URL --path P watches one repository without
 * the Application resource. Each round fetches the revision, loads the
 * manifests under the path and syncs them (validate, apply in order, prune);
 * each round also heals drift, writing only what differs. The inventory of what the app
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

static json_t *load_inventory(struct kube_client *c, const struct single_opts *o, char *rev,
                              size_t revn, int *rc)
{
	char name[300];
	json_t *cm = NULL, *inv = NULL;
	json_error_t err;

	snprintf(name, sizeof(name), "sluice-inventory-%s", o->app);
	struct kube_ref ref = {"v1", "ConfigMap", o->namespace, name};
	if ((*rc = kube_get(c, &cm, &ref)) < 0) {
		if (*rc == SLUICE_ENOTFOUND)
			*rc = 0; /* the first sync */
		return NULL;
	}
	const char *text =
	    json_string_value(json_object_get(json_object_get(cm, "data"), "inventory"));
	if (text)
		inv = json_loads(text, 0, &err);
	snprintf(rev, revn, "%s",
	         json_string_value(json_object_get(json_object_get(cm, "data"), "revision")) ?: "");
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

/* One round, with the inventory kept in a ConfigMap. */
static int round_once(struct kube_client *c, const struct single_opts *o,
                      const struct gitsrc_auth *auth, struct render_cache *cache, struct leader *le)
{
	struct round r;
	char rev[64] = "";
	int rc = 0;
	json_t *prev = load_inventory(c, o, rev, sizeof(rev), &rc);

	if (rc < 0) {
		/* without the inventory, prune would forget what it manages: wait */
		slog(SLOG_ERROR, "cannot read the inventory; nothing synced this round", "app",
		     o->app, "error", sluice_error_last(), NULL);
		return rc;
	}

	memset(&r, 0, sizeof(r));
	r.app = o->app;
	r.url = o->repo;
	r.revision = o->revision;
	r.path = o->path;
	r.namespace = o->namespace;
	r.cache_dir = o->cache_dir;
	r.auth = auth;
	r.prev_inventory = prev;
	r.cache = cache;
	r.prune = 1;
	r.leader = le;
	controller_round(c, &r);
	if (r.fenced || !leader_may_write(le)) {
		slog(SLOG_WARN,
		     "sync cut short: no longer leading (Lease lost or shutting down); nothing "
		     "more written",
		     "app", o->app, NULL);
		controller_round_dispose(&r);
		json_decref(prev);
		return 0;
	}
	if (r.inventory &&
	    !(prev && json_equal(prev, r.inventory) && strcmp(rev, r.git.commit) == 0) &&
	    save_inventory(c, o, r.inventory, r.git.commit) < 0)
		slog(SLOG_ERROR, "cannot save the inventory", "app", o->app, "error",
		     sluice_error_last(), NULL);
	controller_round_dispose(&r);
	json_decref(prev);
	return r.rc;
}

int controller_run_single(const struct single_opts *o)
{
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	struct gitsrc_auth auth;
	char *key = NULL, *kh = NULL;
	int rc = 0, failures = 0;
	struct render_cache cache;
	struct leader *le = NULL;
	unsigned term = 0;

	memset(&cache, 0, sizeof(cache));

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

	if (controller_connect(&cfg, &c, o->kubeconfig) < 0) {
		free(key);
		free(kh);
		return 2;
	}
	if (o->leader && o->once) {
		slog(SLOG_ERROR, "--once and --leader-elect do not go together", NULL);
		rc = 2;
		goto out;
	}
	if (o->leader && leader_start(&le, cfg, o->leader) < 0) {
		slog(SLOG_ERROR, sluice_error_last(), NULL);
		rc = 2;
		goto out;
	}
	controller_fence(le);
	controller_signals(on_term);
	slog(SLOG_INFO, "single-app mode", "app", o->app, "repo", o->repo, "path",
	     o->path ? o->path : ".", NULL);
	do {
		if (!leader_may_write(le)) {
			/* a standby: look again soon, sync as soon as it leads */
			usleep(100000);
			continue;
		}
		if (leader_term(le) != term) {
			term = leader_term(le);
			failures = 0;
		}
		rc = round_once(c, o, &auth, &cache, le);
		if (o->once)
			break;
		/* after a failure, retry sooner: 5 s, doubling, never later than the interval */
		failures = rc < 0 ? failures + 1 : 0;
		long wait_s = o->interval_s, back = 5;
		for (int k = 1; k < failures && back < wait_s; k++)
			back *= 2;
		if (failures && back < wait_s)
			wait_s = back;
		for (long s = 0; s < wait_s * 10 && !stopping && leader_term(le) == term; s++)
			usleep(100000);
	} while (!stopping);
	leader_resign(le);
	controller_fence(NULL);
	leader_free(le);
out:
	render_cache_dispose(&cache);
	kube_client_free(c);
	kube_config_free(cfg);
	free(key);
	free(kh);
	slog(SLOG_INFO, "stopped", "app", o->app, NULL);
	return rc == 0 ? 0 : (rc == SLUICE_EINVALID ? 1 : 2);
}
