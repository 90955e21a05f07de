#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/cli.h"
#include "sluice/controller.h"
#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/manifest.h"
#include "sluice/rollout.h"

/* "15s", "1500ms", "1m" or a number of seconds -> ms; -1 when malformed. */
static long duration_ms(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end != s && *end == '\0')
		return v > 0 && v < 86400 ? v * 1000 : -1;
	return rollout_parse_duration(s);
}

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
	    {"leader-elect", no_argument, NULL, 'L'},
	    {"leader-elect-namespace", required_argument, NULL, 'N'},
	    {"leader-elect-lease-name", required_argument, NULL, 'E'},
	    {"leader-elect-id", required_argument, NULL, 'I'},
	    {"leader-elect-lease-duration", required_argument, NULL, 'D'},
	    {"leader-elect-renew-deadline", required_argument, NULL, 'T'},
	    {"leader-elect-retry-period", required_argument, NULL, 'Y'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum slog_level level = SLOG_INFO;
	enum slog_format fmt = SLOG_JSON;
	const char *check = NULL;
	struct single_opts so = {NULL, NULL, NULL, "default", NULL, "/var/cache/sluice/git",
	                         NULL, 60,   0,    NULL};
	char appname[256];
	const char *watch_ns = NULL, *http_addr = NULL, *secret_file = NULL;
	char secret[4096] = "";
	int opt;
	long workers = 4;
	const char *prom_url = getenv("SLUICE_PROMETHEUS_URL");
	int elect = 0;
	char le_ns[256], le_id[256];
	struct leader_opts lo = {NULL, LEADER_LEASE_NAME, NULL, 15000, 10000, 2000};

	/* at most two malloc arenas: each thread that allocates would otherwise
	 * get its own, and every arena keeps its own free pages resident (the
	 * sync workers' peaks would add up) */
	mallopt(M_ARENA_MAX, 2);
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
		case 'L': elect = 1; break;
		case 'N': lo.namespace = optarg; break;
		case 'E': lo.name = optarg; break;
		case 'I': lo.identity = optarg; break;
		case 'D':
		case 'T':
		case 'Y': {
			long ms = duration_ms(optarg);
			if (ms <= 0) {
				fprintf(
				    stderr,
				    "sluiced: %s wants a duration such as 15s or 500ms, not '%s'\n",
				    argv[optind - 1], optarg);
				return 2;
			}
			*(opt == 'D'   ? &lo.lease_ms
			  : opt == 'T' ? &lo.renew_ms
			               : &lo.retry_ms) = ms;
			break;
		}
		case 'V': printf("sluiced%s\n", cli_version_string() + strlen("sluice")); return 0;
		case 'h': fputs(cli_help_find(cli_help_sluiced, NULL)->text, stdout); return 0;
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
	if (elect) {
		if (!lo.namespace) {
			leader_default_namespace(le_ns, sizeof(le_ns));
			lo.namespace = le_ns;
		}
		if (!lo.identity) {
			leader_default_identity(le_id, sizeof(le_id));
			lo.identity = le_id;
		}
		if (leader_opts_check(&lo) < 0)
			goto bad;
		if (so.once) {
			fprintf(stderr, "sluiced: --once and --leader-elect do not go together\n");
			return 2;
		}
		so.leader = &lo;
	}
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
	                       (int)workers, prom_url,      so.leader};
	return controller_run_apps(&ao);
bad:
	fprintf(stderr, "sluiced: %s\n", sluice_error_last());
	return 2;
}
