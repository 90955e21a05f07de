/*
 * The sluice command line. cmd/sluice.c is only `return cli_main(argc, argv);`
 * so that tests can drive every verb in-process.
 *
 * Exit codes: 0 success, 1 invalid input (a manifest problem, a difference
 * found), 2 usage or system error.
 */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdio.h>

enum { CLI_OK = 0, CLI_INVALID = 1, CLI_ERROR = 2 };

struct cli {
	FILE *out;
	FILE *err;
	const char *prog; /* "sluice" */
};

int cli_main(int argc, char **argv);

/* Run argv (argv[0] is the program) writing to the given streams. */
int cli_run(struct cli *c, int argc, char **argv);

int cli_render(struct cli *c, int argc, char **argv);
int cli_version(struct cli *c, int argc, char **argv);
int cli_get(struct cli *c, int argc, char **argv);
int cli_sync(struct cli *c, int argc, char **argv);
int cli_diff(struct cli *c, int argc, char **argv);
/* promote, abort, retry, pause, resume: argv[0] is the verb */
int cli_rollout_action(struct cli *c, int argc, char **argv);

/* "sluice 0.1.0 (git abc1234)" */
const char *cli_version_string(void);

#endif
