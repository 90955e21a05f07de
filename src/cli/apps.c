/* sluice get apps, sluice sync APP: Applications through the Kubernetes API. */
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "sluice/cli.h"
#include "sluice/clock.h"
#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/kube.h"
#include "sluice/log.h"
#include "sluice/rollout.h"
#include "sluice/sync.h"
#include "sluice/yaml.h"

#define APP_API "sluice.dev/v1alpha1"

static const char *str(const json_t *o, const char *a, const char *b, const char *d)
{
	return cli_str(o, a, b, d);
}

static void age(char *buf, size_t n, const char *ts)
{
	long long t = clock_parse(ts);
	if (t < 0)
		snprintf(buf, n, "-");
	else
		cli_fmt_duration(buf, n, clock_now_ms() - t);
}

int cli_get(struct cli *c, int argc, char **argv)
{
	struct kopts k;
	const char *pos[4];
	int npos, rc;
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	json_t *items = NULL;

	if ((rc = cli_parse(c, argc, argv, &k, pos, &npos, cli_usage("get"))) != 0)
		return rc > 0 ? CLI_OK : CLI_ERROR;
	if (npos != 1) {
		fputs(cli_usage("get"), c->err);
		return CLI_ERROR;
	}
	if (cli_check_output(c, "get", k.output, 1) < 0)
		return CLI_ERROR;
	if (strcmp(pos[0], "rollouts") == 0 || strcmp(pos[0], "rollout") == 0 ||
	    strcmp(pos[0], "ro") == 0 || strcmp(pos[0], "sro") == 0)
		return cli_get_rollouts(c, &k);
	if (strcmp(pos[0], "apps") && strcmp(pos[0], "applications") && strcmp(pos[0], "app")) {
		fprintf(c->err, "%s get: unknown kind '%s' (want apps or rollouts)\n", c->prog,
		        pos[0]);
		return CLI_ERROR;
	}
	if (cli_connect(c, argv[0], &k, &cfg, &kc) < 0)
		return CLI_ERROR;
	struct kube_ref ref = {APP_API, "Application", cli_namespace(&k, kc), NULL};
	rc = kube_list(kc, &items, NULL, &ref, NULL);
	if (rc < 0) {
		fprintf(c->err, "%s get apps: %s\n", c->prog, sluice_error_last());
		kube_client_free(kc);
		kube_config_free(cfg);
		return CLI_ERROR;
	}
	if (k.output && (strcmp(k.output, "json") == 0 || strcmp(k.output, "yaml") == 0)) {
		json_t *list = json_pack("{s:s, s:s, s:{s:s}, s:O}", "apiVersion", "v1", "kind",
		                         "List", "metadata", "resourceVersion", "", "items", items);
		char *text = NULL;
		if (strcmp(k.output, "json") == 0 ? jsonfmt_dump(&text, list, 0)
		                                  : yaml_emit(&text, list))
			rc = -1;
		if (text)
			fprintf(c->out, "%s%s", text, strcmp(k.output, "json") == 0 ? "\n" : "");
		free(text);
		json_decref(list);
	} else if (json_array_size(items) == 0) {
		fprintf(c->err, "No Applications found%s%s.\n", k.all ? "" : " in namespace ",
		        k.all ? "" : ref.namespace);
	} else {
		int wide = k.output && strcmp(k.output, "wide") == 0;
		size_t i;
		json_t *a;
		if (k.all)
			fprintf(c->out, "%-20s ", "NAMESPACE");
		fprintf(c->out, "%-24s %-8s %-12s %-9s %-9s%s\n", "NAME", "SYNC", "HEALTH",
		        "REVISION", "LAST SYNC", wide ? "  REPO  MESSAGE" : "");
		json_array_foreach(items, i, a)
		{
			char rev[16], last[32];
			snprintf(rev, sizeof(rev), "%.7s", str(a, "status", "sync", "revision"));
			age(last, sizeof(last),
			    json_string_value(json_object_get(
			        json_object_get(json_object_get(a, "status"), "sync"),
			        "lastSyncTime")));
			if (k.all)
				fprintf(c->out, "%-20s ", str(a, "metadata", "namespace", NULL));
			fprintf(c->out, "%-24s %-8s %-12s %-9s %-9s",
			        str(a, "metadata", "name", NULL),
			        str(a, "status", "sync", "status"),
			        str(a, "status", "health", "status"), rev, last);
			if (wide)
				fprintf(c->out, "  %s  %s", str(a, "spec", "source", "repoURL"),
				        str(a, "status", "sync", "message"));
			fputc('\n', c->out);
		}
	}
	json_decref(items);
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc < 0 ? CLI_ERROR : CLI_OK;
}

int cli_sync(struct cli *c, int argc, char **argv)
{
	struct kopts k;
	const char *pos[4];
	int npos, rc;
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	char ts[32], stamp[48], patch[256];
	struct timespec now;
	struct tm tm;

	if ((rc = cli_parse(c, argc, argv, &k, pos, &npos, cli_usage("sync"))) != 0)
		return rc > 0 ? CLI_OK : CLI_ERROR;
	if (npos != 1) {
		fputs(cli_usage("sync"), c->err);
		return CLI_ERROR;
	}
	if (cli_connect(c, argv[0], &k, &cfg, &kc) < 0)
		return CLI_ERROR;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	/* nanoseconds, so that two requests in one second are two requests */
	snprintf(stamp, sizeof(stamp), "%s.%09ldZ", ts, now.tv_nsec);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), "Z");
	snprintf(patch, sizeof(patch),
	         "{\"metadata\":{\"annotations\":{\"sluice.dev/sync-requested-at\":\"%s\"}}}",
	         stamp);
	struct kube_ref ref = {APP_API, "Application",
	                       k.namespace ? k.namespace : kube_client_namespace(kc), pos[0]};
	if (kube_patch(kc, NULL, &ref, KUBE_PATCH_MERGE, patch, NULL, 0) < 0) {
		fprintf(c->err, "%s sync: %s\n", c->prog, sluice_error_last());
		rc = CLI_ERROR;
		goto out;
	}
	fprintf(c->out, "sync requested for %s/%s at %s\n", ref.namespace, pos[0], ts);
	rc = CLI_OK;
	if (!k.wait)
		goto out;
	long timeout_ms = k.timeout_ms >= 0 ? k.timeout_ms : 60000;
	for (long waited = 0; waited <= timeout_ms / 100; waited++) {
		json_t *a = NULL;
		if (kube_get(kc, &a, &ref) == 0) {
			const char *handled = str(a, "status", "lastHandledSyncRequest", NULL);
			if (strcmp(handled, stamp) == 0) {
				const char *st = str(a, "status", "sync", "status");
				fprintf(c->out, "%s at %.12s%s%s\n", st,
				        str(a, "status", "sync", "revision"),
				        strcmp(st, "Synced") ? ": " : "",
				        strcmp(st, "Synced") ? str(a, "status", "sync", "message")
				                             : "");
				rc = strcmp(st, "Synced") == 0 ? CLI_OK : CLI_INVALID;
				json_decref(a);
				goto out;
			}
			json_decref(a);
		}
		usleep(100000);
	}
	fprintf(c->err, "%s sync: no result after %ld s (is sluiced running?)\n", c->prog,
	        timeout_ms / 1000);
	rc = CLI_ERROR;
out:
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

int cli_diff(struct cli *c, int argc, char **argv)
{
	struct kopts k;
	const char *pos[4];
	int npos, rc;
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	json_t *app = NULL;
	struct app_creds cr;
	struct round r;
	struct manifest_set *set = NULL;
	struct diag errs;
	char cache[] = "/tmp/sluice-diff-cache-XXXXXX", err[512] = "";
	FILE *quiet = NULL;

	memset(&cr, 0, sizeof(cr));
	memset(&r, 0, sizeof(r));
	diag_init(&errs);
	if ((rc = cli_parse(c, argc, argv, &k, pos, &npos, cli_usage("diff"))) != 0)
		return rc > 0 ? CLI_OK : CLI_ERROR;
	if (npos != 1) {
		fputs(cli_usage("diff"), c->err);
		return CLI_ERROR;
	}
	if (cli_connect(c, argv[0], &k, &cfg, &kc) < 0)
		return CLI_ERROR;
	struct kube_ref ref = {APP_API, "Application",
	                       k.namespace ? k.namespace : kube_client_namespace(kc), pos[0]};
	if (kube_get(kc, &app, &ref) < 0) {
		fprintf(c->err, "%s diff: %s\n", c->prog, sluice_error_last());
		rc = CLI_ERROR;
		goto out;
	}
	if (!mkdtemp(cache)) {
		fprintf(c->err, "%s diff: cannot make a temporary folder\n", c->prog);
		cache[0] = '\0';
		rc = CLI_ERROR;
		goto out;
	}
	/* the render's own problems come back in r.message: keep the log quiet */
	if ((quiet = fopen("/dev/null", "w")))
		slog_setup(SLOG_TEXT, SLOG_ERROR, quiet);
	const char *dest = str(app, "spec", "destination", "namespace");
	r.app = pos[0];
	r.url = json_string_value(
	    json_object_get(json_object_get(json_object_get(app, "spec"), "source"), "repoURL"));
	r.revision = json_string_value(
	    json_object_get(json_object_get(json_object_get(app, "spec"), "source"), "revision"));
	r.path = json_string_value(
	    json_object_get(json_object_get(json_object_get(app, "spec"), "source"), "path"));
	r.namespace = strcmp(dest, "-") ? dest : ref.namespace;
	r.cache_dir = cache;
	if (!r.url) {
		fprintf(c->err, "%s diff: %s/%s has no spec.source.repoURL\n", c->prog,
		        ref.namespace, pos[0]);
		rc = CLI_ERROR;
		goto out;
	}
	if (app_creds_load(&cr, kc, app, ref.namespace, cache, err, sizeof(err)) < 0) {
		fprintf(c->err, "%s diff: %s\n", c->prog, err);
		rc = CLI_ERROR;
		goto out;
	}
	r.auth = &cr.auth;
	if (controller_render(&r, &set) < 0) {
		fprintf(c->err, "%s diff: %s\n", c->prog, r.message);
		rc = CLI_ERROR;
		goto out;
	}
	const json_t *prune =
	    json_object_get(json_object_get(json_object_get(app, "spec"), "syncPolicy"), "prune");
	struct sync_opts so = {.app = pos[0],
	                       .namespace = r.namespace,
	                       .prune = !json_is_false(prune),
	                       .crd_timeout_ms = 60000,
	                       .prev_inventory =
	                           json_object_get(json_object_get(app, "status"), "inventory"),
	                       .revision = r.git.commit};
	rc = sync_diff(kc, set, &so, c->out, &errs);
	if (rc < 0) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(c->err, "%s diff: %s\n", c->prog, errs.msgs[i]);
		if (!errs.count)
			fprintf(c->err, "%s diff: %s\n", c->prog, sluice_error_last());
		rc = CLI_ERROR;
	} else {
		rc = rc > 0 ? CLI_INVALID : CLI_OK;
	}
out:
	manifest_set_free(set);
	diag_dispose(&errs);
	app_creds_dispose(&cr);
	if (cache[0])
		nftw(cache, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (quiet) {
		slog_setup(SLOG_TEXT, SLOG_INFO, stderr);
		fclose(quiet);
	}
	json_decref(app);
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc;
}

int cli_rollout_action(struct cli *c, int argc, char **argv)
{
	struct kopts k;
	const char *pos[4];
	int npos, rc;
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	char patch[256], verb[32];
	struct timespec now;

	if ((rc = cli_parse(c, argc, argv, &k, pos, &npos, cli_usage("promote"))) != 0)
		return rc > 0 ? CLI_OK : CLI_ERROR;
	if (npos != 1 || (k.full && strcmp(argv[0], "promote") != 0)) {
		fputs(cli_usage("promote"), c->err);
		return CLI_ERROR;
	}
	snprintf(verb, sizeof(verb), "%s%s", argv[0], k.full ? "-full" : "");
	if (cli_connect(c, argv[0], &k, &cfg, &kc) < 0)
		return CLI_ERROR;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(patch, sizeof(patch),
	         "{\"metadata\":{\"annotations\":{\"" ROLLOUT_ANNOTATION_ACTION
	         "\":\"%s %lld.%09ld\"}}}",
	         verb, (long long)now.tv_sec, now.tv_nsec);
	struct kube_ref ref = {ROLLOUT_API, "Rollout",
	                       k.namespace ? k.namespace : kube_client_namespace(kc), pos[0]};
	if (kube_patch(kc, NULL, &ref, KUBE_PATCH_MERGE, patch, NULL, 0) < 0) {
		fprintf(c->err, "%s %s: %s\n", c->prog, argv[0], sluice_error_last());
		rc = CLI_ERROR;
	} else {
		fprintf(c->out, "%s requested for rollout %s/%s\n", verb, ref.namespace, pos[0]);
		rc = CLI_OK;
	}
	kube_client_free(kc);
	kube_config_free(cfg);
	return rc;
}
