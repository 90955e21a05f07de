#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/manifest.h"

int cli_render(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum manifest_format fmt = MANIFEST_YAML;
	struct manifest_set *set = NULL;
	struct diag errs;
	const char *dir = NULL;
	char *text = NULL;
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1 || optind < argc) {
		if (opt == -1) {
			/* a positional argument: options may follow it */
			if (dir) {
				fprintf(c->err, "%s render: more than one DIR given ('%s')\n",
				        c->prog, argv[optind]);
				return CLI_ERROR;
			}
			dir = argv[optind++];
			continue;
		}
		switch (opt) {
		case 'o':
			if (strcmp(optarg, "yaml") == 0) {
				fmt = MANIFEST_YAML;
			} else if (strcmp(optarg, "json") == 0) {
				fmt = MANIFEST_JSON;
			} else {
				fprintf(
				    c->err,
				    "%s render: unknown output format '%s' (want yaml or json)\n",
				    c->prog, optarg);
				return CLI_ERROR;
			}
			break;
		case 'h': fputs(cli_usage("render"), c->out); return CLI_OK;
		default:
			fprintf(c->err,
			        "%s render: unknown or incomplete option '%s' (see '%s render "
			        "--help')\n",
			        c->prog, argv[optind - 1], c->prog);
			return CLI_ERROR;
		}
	}
	if (!dir) {
		fputs(cli_usage("render"), c->err);
		return CLI_ERROR;
	}
	diag_init(&errs);
	if (manifest_kustomization(dir))
		rc = manifest_kustomize(&set, dir, dir, &errs, 60000);
	else
		rc = manifest_load(&set, dir, &errs);
	if (rc == SLUICE_EINVALID) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(c->err, "%s\n", errs.msgs[i]);
		if (errs.dropped)
			fprintf(c->err, "... and %zu more problems\n", errs.dropped);
		fprintf(c->err, "%s render: %zu problem%s in %s\n", c->prog, diag_total(&errs),
		        diag_total(&errs) == 1 ? "" : "s", dir);
		diag_dispose(&errs);
		return CLI_INVALID;
	}
	diag_dispose(&errs);
	if (rc < 0) {
		fprintf(c->err, "%s render: %s\n", c->prog, sluice_error_last());
		return CLI_ERROR;
	}
	rc = manifest_set_dump(&text, set, fmt);
	manifest_set_free(set);
	if (rc < 0) {
		fprintf(c->err, "%s render: %s\n", c->prog, sluice_error_last());
		return CLI_ERROR;
	}
	fputs(text, c->out);
	free(text);
	if (fflush(c->out) != 0) {
		fprintf(c->err, "%s render: cannot write the output\n", c->prog);
		return CLI_ERROR;
	}
	return CLI_OK;
}
