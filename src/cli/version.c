#include <stdio.h>

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
	(void)argc;
	(void)argv;
	fprintf(c->out, "%s\n", cli_version_string());
	fprintf(c->out, "libyaml %s, jansson %s, libcurl %s, libgit2 %s\n",
	        yaml_get_version_string(), JANSSON_VERSION, LIBCURL_VERSION, LIBGIT2_VERSION);
	return CLI_OK;
}
