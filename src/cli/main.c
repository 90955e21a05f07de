#include <getopt.h>
#include <string.h>

#include "sluice/cli.h"
#include "sluice/error.h"
#include "sluice/log.h"

/* The --help texts come from docs/man/sluice.txt, as sluice(1) does (src/cli/help_sluice.c). */

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

const char *cli_verb(size_t i)
{
	return i < sizeof(verbs) / sizeof(verbs[0]) ? verbs[i].name : NULL;
}

const struct cli_help *cli_help_find(const struct cli_help *pages, const char *verb)
{
	size_t n = verb ? strlen(verb) : 0;

	for (; pages && pages->verbs; pages++) {
		const char *v = pages->verbs;
		if (n == 0 && *v == '\0')
			return pages;
		while (n && *v) {
			size_t len = strcspn(v, " ");
			if (len == n && strncmp(v, verb, n) == 0)
				return pages;
			v += len;
			v += *v == ' ';
		}
	}
	return NULL;
}

int cli_run(struct cli *c, int argc, char **argv)
{
	enum slog_level level = SLOG_WARN;
	const char *usage = cli_help_find(cli_help_sluice, NULL)->text;
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	int i = 1;

	/* kubectl (1.26 or later) completes `kubectl sluice ...` through this name */
	base = base ? base + 1 : argc > 0 ? argv[0] : "";
	if (strcmp(base, "kubectl_complete-sluice") == 0)
		return cli_complete(c, argc - 1, argv + 1);

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
	if (strcmp(argv[i], "__complete") == 0)
		return cli_complete(c, argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "help") == 0) {
		const struct cli_help *h =
		    cli_help_find(cli_help_sluice, i + 1 < argc ? argv[i + 1] : NULL);
		if (!h || i + 2 < argc) {
			fprintf(c->err, "%s help: unknown command '%s' (see '%s --help')\n",
			        c->prog, argv[argc - 1], c->prog);
			return CLI_ERROR;
		}
		fputs(h->text, c->out);
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
