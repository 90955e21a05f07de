/*
 * What the verbs of src/cli/ share: kubectl-style flags, the connection, and
 * small readers of API objects. Not part of the library's interface.
 */
#ifndef SLUICE_CLI_INTERNAL_H
#define SLUICE_CLI_INTERNAL_H

#include <jansson.h>

#include "sluice/cli.h"
#include "sluice/kube.h"

#define CLI_MAX_POS 4

struct kopts {
	const char *kubeconfig, *context, *namespace;
	int all;
	const char *output;
	int wait, watch, full, no_color;
	long timeout_ms; /* -1: none given */
	const char *since;
};

/* A verb's --help text (from docs/man/sluice.txt, as sluice(1)). Borrowed. */
const char *cli_usage(const char *verb);

/*
 * Parse the kubectl-style flags after argv[0] (the verb); the positional
 * words go to pos (at most CLI_MAX_POS). Returns 0, 1 when --help was printed
 * (to c->out), or -1 after a one-line error on c->err.
 */
int cli_parse(struct cli *c, int argc, char **argv, struct kopts *k, const char **pos, int *npos,
              const char *usage);

/*
 * Load the kubeconfig and make a client with the command line's retry
 * budget (a few seconds, not the controller's minute). On failure prints
 * "PROG VERB: message" and returns -1; *cfg and *kc are then NULL.
 */
int cli_connect(struct cli *c, const char *verb, const struct kopts *k, struct kube_config **cfg,
                struct kube_client **kc);

/* The namespace a verb works in: -n, else the kubeconfig's; "" with -A. */
const char *cli_namespace(const struct kopts *k, const struct kube_client *kc);

/* o.a.b(.d) as a string, or "-" when missing or empty (borrowed). */
const char *cli_str(const json_t *o, const char *a, const char *b, const char *d);

/* An RFC 3339 time of the API or of sluice's status in ms, or -1. */
long long cli_time(const json_t *v);

/* -o: NULL, "wide", "json" or "yaml" are accepted (json/yaml only when `objects`). */
int cli_check_output(struct cli *c, const char *verb, const char *output, int wide_ok);

/* Print `v` as JSON (kubectl's layout) or YAML to c->out. Returns 0 or -1. */
int cli_print_doc(struct cli *c, const json_t *v, const char *output);

/* Terminal traits of c->out: a TTY gets colour (unless NO_COLOR) and box characters. */
struct style {
	int tty, color;
};
void cli_style(struct style *s, struct cli *c, int no_color);
/* An SGR sequence (CODE a literal: "1", "32", "31;1") when colour is on, else "". */
#define SGR(s, code) ((s)->color ? "\033[" code "m" : "")

/* get rollouts (apps.c dispatches to it) */
int cli_get_rollouts(struct cli *c, const struct kopts *k);

#endif
