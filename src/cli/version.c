#include <stdio.h>
#include <string.h>

#include <curl/curlver.h>
#include <git2/version.h>
#include <jansson.h>
#include <yaml.h>

#include "sluice/cli.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif
#ifndef SLUICE_GIT_REV
#define SLUICE_GIT_REV "unknown"
#endif

const char *cli_version_string(void)
{
	return "sluice " SLUICE_VERSION " (git " SLUICE_GIT_REV ")";
}

int cli_version(struct cli *c, int argc, char **argv)
{
	const struct cli_help *h = cli_help_find(cli_help_sluice, "version");

	if (argc > 1) {
		int help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0;
		fputs(h ? h->text : "", help ? c->out : c->err);
		return help ? CLI_OK : CLI_ERROR;
	}
	fprintf(c->out, "%s\n", cli_version_string());
	fprintf(c->out, "libyaml %s, jansson %s, libcurl %s, libgit2 %s\n",
	        yaml_get_version_string(), JANSSON_VERSION, LIBCURL_VERSION, LIBGIT2_VERSION);
	return CLI_OK;
}
