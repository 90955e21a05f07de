/*
 * sluice completion bash (a completion script for bash) and sluice __complete
 * (what both that script and kubectl ask for the completions of a line).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "sluice/log.h"
#include "sluice/rollout.h"

/*
 * The script asks `sluice __complete` (cli_complete below), which knows the
 * verbs and flags from the --help texts: nothing here to keep in step.
 */
static const char bash_script[] =
    "# bash completion for sluice (sluice completion bash); it asks 'sluice __complete'\n"
    "_sluice() {\n"
    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} out directive line\n"
    "\tCOMPREPLY=()\n"
    "\tout=$(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null) "
    "|| return\n"
    "\tdirective=${out##*:}\n"
    "\tout=${out%:*}\n"
    "\twhile IFS= read -r line; do\n"
    "\t\t[[ -n $line ]] && COMPREPLY+=(\"${line%%$'\\t'*}\")\n"
    "\tdone <<<\"$out\"\n"
    "\tif ((${#COMPREPLY[@]} == 0)); then\n"
    "\t\tcase $directive in\n"
    "\t\t16) mapfile -t COMPREPLY < <(compgen -d -- \"$cur\") ;;\n"
    "\t\t0) mapfile -t COMPREPLY < <(compgen -f -- \"$cur\") ;;\n"
    "\t\tesac\n"
    "\tfi\n"
    "}\n"
    "complete -F _sluice sluice kubectl-sluice\n";

int cli_completion(struct cli *c, int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(cli_usage("completion"), c->out);
		return CLI_OK;
	}
	if (argc != 2 || strcmp(argv[1], "bash") != 0) {
		fputs(cli_usage("completion"), c->err);
		return CLI_ERROR;
	}
	fputs(bash_script, c->out);
	return CLI_OK;
}

/* ---- sluice __complete ----------------------------------------------------- */

/* Cobra's ShellCompDirective values, as kubectl reads them */
enum { DIR_FILES = 0, DIR_NO_FILES = 4, DIR_DIRS = 16 };

struct names {
	FILE *out;
	const char *prefix;
};

static void offer(FILE *out, const char *prefix, const char *word, size_t n, const char *desc)
{
	if (strlen(prefix) > n || strncmp(word, prefix, strlen(prefix)) != 0)
		return;
	fprintf(out, "%.*s%s%s\n", (int)n, word, desc ? "\t" : "", desc ? desc : "");
}

/* Each word of a list separated by any of `seps` that starts with prefix. */
static void offer_words(FILE *out, const char *prefix, const char *list, const char *seps)
{
	while (list && *list) {
		size_t n = strcspn(list, seps);
		if (n)
			offer(out, prefix, list, n, NULL);
		list += n;
		list += *list != '\0';
	}
}

static int offer_name(void *ud, const char *name, const char *ns, const char *rv)
{
	struct names *w = ud;
	(void)ns;
	(void)rv;
	offer(w->out, w->prefix, name, strlen(name), NULL);
	return 0;
}

/* The flag `word` in a flags list ("-n=NS -A ..."): its entry, or NULL. */
static const char *flag_entry(const char *flags, const char *word)
{
	size_t n = strcspn(word, "=");
	for (const char *p = flags; p && *p;) {
		size_t len = strcspn(p, " "), name = strcspn(p, "= ");
		if (name == n && strncmp(p, word, n) == 0)
			return p;
		p += len;
		p += *p == ' ';
	}
	return NULL;
}

/* The kubectl flags every command that talks to the cluster takes: 1 when
 * `flag` is one (its value, when not NULL, kept in k). */
static int kube_flag(struct kopts *k, const char *flag, const char *value)
{
	const char **to = NULL;
	if (strcmp(flag, "-n") == 0 || strcmp(flag, "--namespace") == 0)
		to = &k->namespace;
	else if (strcmp(flag, "--context") == 0)
		to = &k->context;
	else if (strcmp(flag, "--kubeconfig") == 0)
		to = &k->kubeconfig;
	if (to && value)
		*to = value;
	return to != NULL;
}

/* Names of a kind read from the cluster; nothing (silently) on any error. */
static void offer_names(FILE *out, const struct kopts *k, const char *api, const char *kind,
                        int namespaced, const char *prefix)
{
	struct cli quiet = {out, NULL, "sluice"};
	struct kube_config *cfg = NULL;
	struct kube_client *kc = NULL;
	struct names w = {out, prefix};

	quiet.err = fopen("/dev/null", "w");
	if (!quiet.err)
		return;
	if (cli_connect(&quiet, "__complete", k, &cfg, &kc) == 0) {
		struct kube_ref ref = {api, kind, namespaced ? cli_namespace(k, kc) : "", NULL};
		kube_list_meta(kc, &ref, NULL, offer_name, &w);
	}
	kube_client_free(kc);
	kube_config_free(cfg);
	fclose(quiet.err);
}

int cli_complete(struct cli *c, int argc, char **argv)
{
	const char *cur = argc > 0 ? argv[argc - 1] : "";
	const char *verb = NULL, *prev_flag = NULL;
	const struct cli_help *h = NULL;
	struct kopts k;
	int npos = 0, directive = DIR_NO_FILES;
	FILE *null = fopen("/dev/null", "w");

	/* nothing may reach the terminal but the completions */
	if (null)
		slog_setup(SLOG_TEXT, SLOG_ERROR, null);
	memset(&k, 0, sizeof(k));
	for (int i = 0; i < argc - 1; i++) {
		const char *w = argv[i], *eq = strchr(w, '=');
		char flag[64];
		if (w[0] == '-' && w[1]) {
			snprintf(flag, sizeof(flag), "%.*s", eq ? (int)(eq - w) : (int)strlen(w),
			         w);
			const char *e = flag_entry(h ? h->flags : "--log-level=LEVEL", flag);
			int takes = (e && e[strcspn(e, "= ")] == '=') || kube_flag(&k, flag, NULL);
			if (takes && eq)
				kube_flag(&k, flag, eq + 1);
			else if (takes && i + 1 < argc - 1)
				kube_flag(&k, flag, argv[++i]);
			else if (takes)
				prev_flag = w; /* its value is the word being completed */
			continue;
		}
		if (!verb) {
			verb = w;
			h = cli_help_find(cli_help_sluice, verb);
			if (!h)
				goto out;
		} else {
			npos++;
		}
	}
	if (prev_flag) {
		const char *e = flag_entry(h ? h->flags : "--log-level=LEVEL", prev_flag);
		const char *val = e ? e + strcspn(e, "= ") : "";
		size_t vn = *val == '=' ? strcspn(val + 1, " ") : 0;
		char vals[256];
		snprintf(vals, sizeof(vals), "%.*s", (int)vn, vn ? val + 1 : "");
		if (strcmp(prev_flag, "-n") == 0 || strcmp(prev_flag, "--namespace") == 0)
			offer_names(c->out, &k, "v1", "Namespace", 0, cur);
		else if (strcmp(prev_flag, "--kubeconfig") == 0)
			directive = DIR_FILES;
		else if (strcmp(prev_flag, "--log-level") == 0)
			offer_words(c->out, cur, "error warn info debug", " ");
		else if (strchr(vals, '|') || (*vals && islower((unsigned char)vals[0])))
			offer_words(c->out, cur, vals, "|");
		goto out;
	}
	if (!verb) {
		if (cur[0] == '-') {
			offer_words(c->out, cur, "--log-level --help --version", " ");
			goto out;
		}
		for (size_t i = 0; cli_verb(i); i++) {
			const struct cli_help *vh = cli_help_find(cli_help_sluice, cli_verb(i));
			offer(c->out, cur, cli_verb(i), strlen(cli_verb(i)),
			      vh ? vh->summary : NULL);
		}
		offer(c->out, cur, "help", 4, cli_help_find(cli_help_sluice, "help")->summary);
		goto out;
	}
	if (cur[0] == '-') {
		for (const char *p = h->flags; *p;) {
			size_t n = strcspn(p, "= ");
			offer(c->out, cur, p, n, NULL);
			p += strcspn(p, " ");
			p += *p == ' ';
		}
		offer(c->out, cur, "--help", 6, NULL);
		goto out;
	}
	if (strcmp(verb, "help") == 0) {
		for (size_t i = 0; npos == 0 && cli_verb(i); i++)
			offer(c->out, cur, cli_verb(i), strlen(cli_verb(i)), NULL);
		goto out;
	}
	/* the npos-th positional argument of the verb's usage */
	const char *arg = h->args;
	for (int i = 0; i < npos && *arg; i++) {
		arg += strcspn(arg, " ");
		arg += *arg == ' ';
	}
	size_t an = strcspn(arg, " ");
	if (an == 7 && strncmp(arg, "ROLLOUT", 7) == 0) {
		offer_names(c->out, &k, ROLLOUT_API, "Rollout", 1, cur);
	} else if (an == 3 && strncmp(arg, "APP", 3) == 0) {
		offer_names(c->out, &k, ROLLOUT_API, "Application", 1, cur);
	} else if (an == 3 && strncmp(arg, "DIR", 3) == 0) {
		directive = DIR_DIRS;
	} else if (an && islower((unsigned char)arg[0])) {
		char vals[256];
		snprintf(vals, sizeof(vals), "%.*s", (int)an, arg);
		offer_words(c->out, cur, vals, "|");
	}
out:
	fprintf(c->out, ":%d\n", directive);
	slog_setup(SLOG_TEXT, SLOG_WARN, c->err);
	if (null)
		fclose(null);
	return CLI_OK;
}
