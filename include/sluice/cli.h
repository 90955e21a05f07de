/*
 * The sluice command line. cmd/sluice.c is only `return cli_main(argc, argv);`
 * so that tests can drive every verb in-process.
 *
 * Exit codes: 0 success, 1 invalid input (a manifest problem, a difference
 * found), 2 usage or system error.
 */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

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
/* status ROLLOUT [--watch] [--wait]: exit 0 Healthy, 1 rolled back/aborted/degraded, 2 error */
int cli_status(struct cli *c, int argc, char **argv);
int cli_history(struct cli *c, int argc, char **argv);
int cli_stats(struct cli *c, int argc, char **argv);
int cli_completion(struct cli *c, int argc, char **argv);

/*
 * sluice __complete WORD... CURRENT: the completions of CURRENT after the
 * words typed so far (after "sluice"), one per line ("word<TAB>summary" for
 * verbs), then ":N", Cobra's directive (4: no file names, 16: directories,
 * 0: files), as kubectl (1.26 or later) reads them from the plugin's
 * kubectl_complete-sluice. Names of Rollouts, Applications and namespaces
 * are read from the cluster (honouring -n, --context, --kubeconfig among
 * the words); errors are never printed. Always returns CLI_OK.
 */
int cli_complete(struct cli *c, int argc, char **argv);

/* The verbs sluice dispatches, in order; NULL past the last. */
const char *cli_verb(size_t i);

/* ---- --help texts and man pages: one source ---- */

/*
 * A program's --help texts, generated with its man page from
 * docs/man/PROG.txt by tools/mkman.c (src/cli/help_PROG.c): the program
 * first (verbs ""), then each command; the table ends with verbs NULL.
 */
struct cli_help {
	const char *verbs;   /* the verbs this text serves, space-separated */
	const char *args;    /* positional arguments: "ROLLOUT", "apps|rollouts", "" */
	const char *summary; /* the command's line in the program's --help */
	const char *flags;   /* "-n=NS" takes an argument, "-o=json|yaml" one of these, "-A" */
	const char *text;    /* the whole --help output */
};
extern const struct cli_help cli_help_sluice[];
extern const struct cli_help cli_help_sluiced[];

/* The entry serving `verb` (NULL or "": the program's), or NULL. Borrowed. */
const struct cli_help *cli_help_find(const struct cli_help *pages, const char *verb);

/* ---- pure formatting and arithmetic (src/cli/fmt.c, src/cli/dora.c) ---- */

/*
 * A duration for people: "0s", "45s", "2m05s", "1h02m", "3d04h" (truncated,
 * never rounded up); a negative one is "-".
 */
void cli_fmt_duration(char *buf, size_t n, long long ms);

/*
 * A weight bar of `width` cells for `percent` (clamped to 0..100; a cell is
 * filled when the percent reaches its middle, and any weight above 0 fills at
 * least one cell). unicode: "\u2588" filled and "\u2591" empty (3 bytes each),
 * else '#' and '.'. Always NUL-terminated, cut short when n is too small.
 */
void cli_fmt_bar(char *buf, size_t n, int percent, int width, int unicode);

/*
 * A span such as "30d", "2w", "12h", "90m", "45s" or "1d12h" (units w, d, h,
 * m, s; a bare number is seconds) in ms; -1 when malformed or over ~290
 * million years.
 */
long long cli_parse_span(const char *s);

/*
 * Delivery figures (DORA) from rollout history entries, as sluiced writes
 * them in status.history ({result, start, end}; optionally commitTime, and
 * "rollout" naming the Rollout so that recoveries pair within one Rollout).
 * Entries are counted when their end lies in [since_ms, now_ms].
 *  - deployments: Promoted entries; per day = deployments / window days.
 *  - change failure rate: failed / (promoted + failed), failed = RolledBack
 *    or Aborted; Superseded (never finished) is neither. NAN when both are 0.
 *  - recovery: per Rollout, in order of end, an incident opens at the end of
 *    a failed rollout when none is open, and closes at the end of the next
 *    Promoted one; MTTR is the mean of the closed incidents' spans (-1 when
 *    none closed); incidents still open are counted apart.
 *  - lead time: the median of end - commitTime over Promoted entries that
 *    carry commitTime (-1 when none does: unavailable).
 *  - duration: the median of end - start over Promoted entries (-1: none).
 *  - rollback: the median of end - start over failed entries (-1: none): how
 *    long a bad release ran before it was undone (the stable pods serve
 *    again at its end).
 */
struct cli_dora {
	long long since_ms, now_ms;
	int promoted, failed, superseded;
	double per_day;
	double failure_rate;
	int incidents, open_incidents; /* closed (recovered) ones, and those still open */
	long long mttr_ms;
	int lead_n;
	long long lead_median_ms;
	long long duration_median_ms;
	int rollback_n;
	long long rollback_median_ms;
};

/* Returns 0, or SLUICE_EINVALID when entries is not an array. */
int cli_dora_compute(struct cli_dora *out, const json_t *entries, long long since_ms,
                     long long now_ms);

/* "sluice 0.1.0 (git abc1234)" */
const char *cli_version_string(void);

#endif
