/* What the verbs share: flags, the connection, readers of API objects, styles. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sluice/clock.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/yaml.h"

static const struct option kube_flags[] = {
    {"kubeconfig", required_argument, NULL, 'K'},
    {"context", required_argument, NULL, 'X'},
    {"namespace", required_argument, NULL, 'n'},
    {"all-namespaces", no_argument, NULL, 'A'},
    {"output", required_argument, NULL, 'o'},
    {"wait", no_argument, NULL, 'W'},
    {"watch", no_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, 't'},
    {"since", required_argument, NULL, 'S'},
    {"full", no_argument, NULL, 'F'},
    {"no-color", no_argument, NULL, 'C'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

const char *cli_usage(const char *verb)
{
	const struct cli_help *h = cli_help_find(cli_help_sluice, verb);
	return h ? h->text : "";
}

int cli_parse(struct cli *c, int argc, char **argv, struct kopts *k, const char **pos, int *npos,
              const char *usage)
{
	int opt;

	memset(k, 0, sizeof(*k));
	k->timeout_ms = -1;
	*npos = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+n:Ao:wh", kube_flags, NULL)) != -1 ||
	       optind < argc) {
		if (opt == -1) {
			if (*npos >= CLI_MAX_POS) {
				fprintf(c->err, "%s %s: too many arguments (see '%s %s --help')\n",
				        c->prog, argv[0], c->prog, argv[0]);
				return -1;
			}
			pos[(*npos)++] = argv[optind];
			optind++;
			continue;
		}
		switch (opt) {
		case 'K': k->kubeconfig = optarg; break;
		case 'X': k->context = optarg; break;
		case 'n': k->namespace = optarg; break;
		case 'A': k->all = 1; break;
		case 'o': k->output = optarg; break;
		case 'W': k->wait = 1; break;
		case 'w': k->watch = 1; break;
		case 'F': k->full = 1; break;
		case 'C': k->no_color = 1; break;
		case 'S': k->since = optarg; break;
		case 't': {
			long long ms = cli_parse_span(optarg);
			if (ms < 0) {
				fprintf(c->err,
				        "%s %s: --timeout '%s': want seconds or a duration "
				        "such as 90s, 5m, 1h\n",
				        c->prog, argv[0], optarg);
				return -1;
			}
			k->timeout_ms = (long)ms;
			break;
		}
		case 'h': fputs(usage, c->out); return 1;
		default:
			fprintf(c->err,
			        "%s %s: unknown or incomplete option '%s' (see '%s %s --help')\n",
			        c->prog, argv[0], argv[optind - 1], c->prog, argv[0]);
			return -1;
		}
	}
	return 0;
}

int cli_connect(struct cli *c, const char *verb, const struct kopts *k, struct kube_config **cfg,
                struct kube_client **kc)
{
	/* a person waits: a few quick retries, not the controller's minute */
	struct kube_client_opts o = {0};
	o.timeout_ms = 20000;
	o.max_retries = 2;
	o.retry_budget_ms = 3000;
	o.user_agent = "sluice-cli";
	*cfg = NULL;
	*kc = NULL;
	if (kube_config_load(cfg, k->kubeconfig, k->context) < 0 ||
	    kube_client_new(kc, *cfg, &o) < 0) {
		fprintf(c->err, "%s %s: %s\n", c->prog, verb, sluice_error_last());
		kube_config_free(*cfg);
		*cfg = NULL;
		*kc = NULL;
		return -1;
	}
	return 0;
}

const char *cli_namespace(const struct kopts *k, const struct kube_client *kc)
{
	if (k->all)
		return "";
	return k->namespace ? k->namespace : kube_client_namespace(kc);
}

const char *cli_str(const json_t *o, const char *a, const char *b, const char *d)
{
	const json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	if (d)
		v = json_object_get(v, d);
	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : "-";
}

long long cli_time(const json_t *v)
{
	return clock_parse(json_string_value(v));
}

int cli_check_output(struct cli *c, const char *verb, const char *output, int wide_ok)
{
	if (!output || strcmp(output, "json") == 0 || strcmp(output, "yaml") == 0 ||
	    (wide_ok && strcmp(output, "wide") == 0))
		return 0;
	fprintf(c->err, "%s %s: unknown output format '%s' (want %sjson or yaml)\n", c->prog, verb,
	        output, wide_ok ? "wide, " : "");
	return -1;
}

int cli_print_doc(struct cli *c, const json_t *v, const char *output)
{
	char *text = NULL;
	int json = strcmp(output, "json") == 0;
	int rc = json ? jsonfmt_dump(&text, v, 0) : yaml_emit(&text, v);

	if (rc == 0 && text)
		fprintf(c->out, "%s%s", text, json ? "\n" : "");
	free(text);
	if (rc < 0)
		fprintf(c->err, "%s: %s\n", c->prog, sluice_error_last());
	return rc < 0 ? -1 : 0;
}

void cli_style(struct style *s, struct cli *c, int no_color)
{
	const char *nc = getenv("NO_COLOR");
	const char *term = getenv("TERM");

	s->tty = isatty(fileno(c->out)) && !(term && strcmp(term, "dumb") == 0);
	s->color = s->tty && !no_color && !(nc && *nc);
}
