#include <getopt.h>
#include <string.h>

#include "sluice/cli.h"
#include "sluice/error.h"
#include "sluice/log.h"

static const char usage[] =
    "Usage: sluice [--log-level LEVEL] COMMAND [ARGS]\n"
    "\n"
    "sluice is a GitOps deployment controller with automated canary analysis.\n"
    "This is its command line.\n"
    "\n"
    "Commands:\n"
    "  get apps|rollouts [-n NS|-A] [-o wide|json|yaml]   list Applications or Rollouts\n"
    "  status ROLLOUT [-w|--watch] [--wait] [--timeout D] [-o json]\n"
    "                              a rollout now: phase, step, weights, commits, pods,\n"
    "                              analysis (--wait: exit 0 Healthy, 1 rolled back, 2 error)\n"
    "  history ROLLOUT             past rollouts: commit, result, duration, reason\n"
    "  stats [--since 30d] [-n NS|-A]   delivery figures (DORA) from rollout history\n"
    "  sync APP [-n NS] [--wait]   ask sluiced to sync an Application now\n"
    "  diff APP [-n NS]            what a sync would change (exit 0 none, 1 some, 2 error)\n"
    "  promote ROLLOUT [--full], abort, retry, pause, resume   act on a canary rollout\n"
    "  render DIR [-o yaml|json]   load and validate the manifests under DIR and print them\n"
    "  version                     print the version and the libraries in use\n"
    "  completion bash             print a bash completion script\n"
    "  help                        print this help\n"
    "\n"
    "Options:\n"
    "  --kubeconfig FILE, --context NAME, -n NAMESPACE, -A   as kubectl's\n"
    "  --log-level LEVEL   error, warn, info or debug (also SLUICE_LOG_LEVEL)\n"
    "  -h, --help          print this help\n"
    "  --version           print the version\n"
    "\n"
    "Exit status: 0 success, 1 invalid input, a difference or a failed rollout,\n"
    "2 usage or system error.\n"
    "As a kubectl plugin (kubectl-sluice, from make install): kubectl sluice status web.\n"
    "Run 'sluice COMMAND --help' for a command's options. See sluice(1).\n";

struct verb {
	const char *name;
	int (*fn)(struct cli *, int, char **);
};

static const struct verb verbs[] = {
    {"abort", cli_rollout_action},
    {"completion", cli_completion},
    {"diff", cli_diff},
    {"get", cli_get},
    {"history", cli_history},
    {"pause", cli_rollout_action},
    {"promote", cli_rollout_action},
    {"render", cli_render},
    {"resume", cli_rollout_action},
    {"retry", cli_rollout_action},
    {"stats", cli_stats},
    {"status", cli_status},
    {"sync", cli_sync},
    {"version", cli_version},
};

int cli_run(struct cli *c, int argc, char **argv)
{
	enum slog_level level = SLOG_WARN;
	int i = 1;

	slog_setup(SLOG_TEXT, level, c->err);
	if (slog_setup_from_env() < 0) {
		fprintf(c->err, "%s: %s\n", c->prog, sluice_error_last());
		return CLI_ERROR;
	}
	/* Global options stop at the first word that is not one. */
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, c->out);
			return CLI_OK;
		}
		if (strcmp(a, "--version") == 0)
			return cli_version(c, 1, argv + i);
		if (strcmp(a, "--log-level") == 0 || strncmp(a, "--log-level=", 12) == 0) {
			const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v || slog_level_parse(&level, v) < 0) {
				fprintf(c->err, "%s: %s\n", c->prog,
				        v ? sluice_error_last() : "--log-level needs a value");
				return CLI_ERROR;
			}
			slog_setup(SLOG_TEXT, level, c->err);
			i++;
			continue;
		}
		fprintf(c->err, "%s: unknown option '%s' (see '%s --help')\n", c->prog, a, c->prog);
		return CLI_ERROR;
	}
	if (i >= argc) {
		fputs(usage, c->err);
		return CLI_ERROR;
	}
	if (strcmp(argv[i], "help") == 0) {
		fputs(usage, c->out);
		return CLI_OK;
	}
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		if (strcmp(argv[i], verbs[v].name) == 0) {
			optind = 0; /* reset getopt for the verb */
			return verbs[v].fn(c, argc - i, argv + i);
		}
	}
	fprintf(c->err, "%s: unknown command '%s' (see '%s --help')\n", c->prog, argv[i], c->prog);
	return CLI_ERROR;
}

int cli_main(int argc, char **argv)
{
	struct cli c = {stdout, stderr, "sluice"};

	return cli_run(&c, argc, argv);
}
