#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/cli.h"
#include "sluice/controller.h"
#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/manifest.h"

static const char usage[] =
    "Usage: sluiced [OPTIONS]\n"
    "\n"
    "The sluice controller. Logs are JSON, one object per line, on stderr.\n"
    "\n"
    "Application mode (the default): watch sluice.dev/v1alpha1 Applications and sync each\n"
    "one on its interval; results go to its status.\n"
    "  --watch-namespace N  watch Applications in N only (default: all namespaces)\n"
    "  --once               sync every Application once, then exit (1 if any failed)\n"
    "  --http-addr HOST:PORT  serve /healthz, /metrics and the push webhook /hooks/git\n"
    "  --webhook-secret-file F  the secret that signs webhooks (also\n"
    "                       SLUICE_WEBHOOK_SECRET_FILE); without one, webhooks are refused\n"
    "  --concurrency N      Applications synced at once, each one serially (default 4)\n"
    "  --prometheus-url URL  Prometheus for canary analysis that names none (also\n"
    "                       SLUICE_PROMETHEUS_URL)\n"
    "  --cache-dir, --kubeconfig as below\n"
    "\n"
    "Single-app mode (one repository, no Application resource):\n"
    "  --repo URL           Git repository: a path, file://, git://, https:// or ssh://\n"
    "  --path P             folder of manifests in the repository (default: its root)\n"
    "  --revision R         branch, tag or commit (default: the remote's HEAD)\n"
    "  --namespace N        for namespaced objects that name none (default: default)\n"
    "  --app NAME           tracking label sluice.dev/app value (default: the repo's name)\n"
    "  --interval SECONDS   time between syncs (default 60)\n"
    "  --once               sync once and exit: 0 synced, 1 invalid manifests, 2 failure\n"
    "  --cache-dir DIR      Git mirrors and checkouts (default /var/cache/sluice/git)\n"
    "  --kubeconfig FILE    cluster credentials (default: in-cluster, else $KUBECONFIG)\n"
    "  Git credentials come from SLUICE_GIT_USERNAME, SLUICE_GIT_PASSWORD,\n"
    "  SLUICE_GIT_SSH_KEY_FILE, SLUICE_GIT_KNOWN_HOSTS_FILE and SLUICE_GIT_CA_FILE.\n"
    "\n"
    "Other options:\n"
    "  --kube-api-qps N, --kube-api-burst N   the API client's rate limit (default 100, 200)\n"
    "  --check DIR          load and validate the manifests under DIR, log the result, and\n"
    "                       exit 0 (valid) or 1 (invalid)\n"
    "  --log-level LEVEL    error, warn, info (default) or debug (also SLUICE_LOG_LEVEL)\n"
    "  --log-format FORMAT  json (default) or text (also SLUICE_LOG_FORMAT)\n"
    "  --version            print the version\n"
    "  -h, --help           print this help\n"
    "\n"
    "See sluiced(8).\n";

static int check_tree(const char *dir)
{
	struct manifest_set *set = NULL;
	struct diag errs;
	char count[32], files[32];
	int rc;

	diag_init(&errs);
	rc = manifest_load(&set, dir, &errs);
	if (rc == SLUICE_EINVALID) {
		for (size_t i = 0; i < errs.count; i++)
			slog(SLOG_ERROR, errs.msgs[i], "path", dir, NULL);
		snprintf(count, sizeof(count), "%zu", diag_total(&errs));
		slog(SLOG_ERROR, "manifests invalid", "path", dir, "problems", count, NULL);
		diag_dispose(&errs);
		return 1;
	}
	diag_dispose(&errs);
	if (rc < 0) {
		slog(SLOG_ERROR, sluice_error_last(), "path", dir, NULL);
		return 2;
	}
	snprintf(count, sizeof(count), "%zu", set->count);
	snprintf(files, sizeof(files), "%zu", set->files);
	slog(SLOG_INFO, "manifests valid", "path", dir, "objects", count, "files", files, NULL);
	manifest_set_free(set);
	return 0;
}

int controller_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"check", required_argument, NULL, 'c'},
	    {"repo", required_argument, NULL, 'r'},
	    {"path", required_argument, NULL, 'p'},
	    {"revision", required_argument, NULL, 'R'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"app", required_argument, NULL, 'a'},
	    {"interval", required_argument, NULL, 'i'},
	    {"once", no_argument, NULL, 'o'},
	    {"cache-dir", required_argument, NULL, 'C'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"watch-namespace", required_argument, NULL, 'W'},
	    {"http-addr", required_argument, NULL, 'H'},
	    {"webhook-secret-file", required_argument, NULL, 'S'},
	    {"concurrency", required_argument, NULL, 'j'},
	    {"prometheus-url", required_argument, NULL, 'P'},
	    {"kube-api-qps", required_argument, NULL, 'q'},
	    {"kube-api-burst", required_argument, NULL, 'b'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"log-format", required_argument, NULL, 'f'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum slog_level level = SLOG_INFO;
	enum slog_format fmt = SLOG_JSON;
	const char *check = NULL;
	struct single_opts so = {NULL, NULL, NULL, "default", NULL, "/var/cache/sluice/git",
	                         NULL, 60,   0};
	char appname[256];
	const char *watch_ns = NULL, *http_addr = NULL, *secret_file = NULL;
	char secret[4096] = "";
	int opt;
	long workers = 4;
	const char *prom_url = getenv("SLUICE_PROMETHEUS_URL");

	slog_setup(fmt, level, stderr);
	if (slog_setup_from_env() < 0) {
		fprintf(stderr, "sluiced: %s\n", sluice_error_last());
		return 2;
	}
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': check = optarg; break;
		case 'r': so.repo = optarg; break;
		case 'p': so.path = optarg; break;
		case 'R': so.revision = optarg; break;
		case 'n': so.namespace = optarg; break;
		case 'a': so.app = optarg; break;
		case 'i':
			so.interval_s = strtol(optarg, NULL, 10);
			if (so.interval_s <= 0) {
				fprintf(stderr,
				        "sluiced: --interval wants a number of seconds above 0\n");
				return 2;
			}
			break;
		case 'o': so.once = 1; break;
		case 'C': so.cache_dir = optarg; break;
		case 'k': so.kubeconfig = optarg; break;
		case 'W': watch_ns = optarg; break;
		case 'H': http_addr = optarg; break;
		case 'S': secret_file = optarg; break;
		case 'q':
			controller_client_opts.qps = strtod(optarg, NULL);
			if (controller_client_opts.qps < 1 || controller_client_opts.qps > 100000) {
				fprintf(
				    stderr,
				    "sluiced: --kube-api-qps wants a number from 1 to 100000\n");
				return 2;
			}
			break;
		case 'b':
			controller_client_opts.burst = (int)strtol(optarg, NULL, 10);
			if (controller_client_opts.burst < 1 ||
			    controller_client_opts.burst > 100000) {
				fprintf(
				    stderr,
				    "sluiced: --kube-api-burst wants a number from 1 to 100000\n");
				return 2;
			}
			break;
		case 'P': prom_url = optarg; break;
		case 'j':
			workers = strtol(optarg, NULL, 10);
			if (workers < 1 || workers > 64) {
				fprintf(stderr,
				        "sluiced: --concurrency wants a number from 1 to 64\n");
				return 2;
			}
			break;
		case 'l':
			if (slog_level_parse(&level, optarg) < 0)
				goto bad;
			slog_setup(fmt, level, stderr);
			break;
		case 'f':
			if (slog_format_parse(&fmt, optarg) < 0)
				goto bad;
			slog_setup(fmt, level, stderr);
			break;
		case 'V': printf("sluiced%s\n", cli_version_string() + strlen("sluice")); return 0;
		case 'h': fputs(usage, stdout); return 0;
		default:
			fprintf(
			    stderr,
			    "sluiced: unknown or incomplete option '%s' (see 'sluiced --help')\n",
			    argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluiced: unexpected argument '%s' (see 'sluiced --help')\n",
		        argv[optind]);
		return 2;
	}
	if (check)
		return check_tree(check);
	if (so.repo) {
		if (!so.app) {
			/* the repository's base name, without .git */
			const char *b = strrchr(so.repo, '/');
			b = b && b[1] ? b + 1 : so.repo;
			snprintf(appname, sizeof(appname), "%s", b);
			char *dot = strstr(appname, ".git");
			if (dot && dot[4] == '\0')
				*dot = '\0';
			so.app = appname;
		}
		return controller_run_single(&so);
	}
	if (!secret_file)
		secret_file = getenv("SLUICE_WEBHOOK_SECRET_FILE");
	if (secret_file) {
		FILE *f = fopen(secret_file, "r");
		if (!f || !fgets(secret, sizeof(secret), f)) {
			fprintf(stderr, "sluiced: cannot read the webhook secret from %s\n",
			        secret_file);
			if (f)
				fclose(f);
			return 2;
		}
		fclose(f);
		secret[strcspn(secret, "\r\n")] = '\0';
	}
	struct apps_opts ao = {so.cache_dir, so.kubeconfig, watch_ns,
	                       so.once,      http_addr,     secret[0] ? secret : NULL,
	                       (int)workers, prom_url};
	return controller_run_apps(&ao);
bad:
	fprintf(stderr, "sluiced: %s\n", sluice_error_last());
	return 2;
}
