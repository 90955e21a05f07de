/* known_hosts matching for SSH host key verification. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/base64.h"
#include "sluice/git.h"

/* Does the comma-separated pattern list name this host? (a "!" pattern vetoes) */
static int host_matches(const char *patterns, size_t len, const char *name)
{
	char pat[512];
	int hit = 0;
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && patterns[j] != ',')
			j++;
		if (j - i > 0 && j - i < sizeof(pat)) {
			int neg = patterns[i] == '!';
			snprintf(pat, sizeof(pat), "%.*s", (int)(j - i - (size_t)neg),
			         patterns + i + neg);
			/* "[host]:port" is literal; other patterns may hold * and ? */
			int m = pat[0] == '[' ? strcasecmp(pat, name) == 0
			                      : fnmatch(pat, name, FNM_CASEFOLD) == 0;
			if (m) {
				if (neg)
					return 0;
				hit = 1;
			}
		}
		i = j + 1;
	}
	return hit;
}

int gitsrc_known_host(const char *known_hosts, const char *host, int port, const unsigned char *key,
                      size_t keylen)
{
	char name[300];
	const char *line = known_hosts;
	int listed = 0;

	if (port == 22 || port <= 0)
		snprintf(name, sizeof(name), "%s", host);
	else
		snprintf(name, sizeof(name), "[%s]:%d", host, port);
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		const char *p = line, *end = line + n;
		const char *f[4];
		size_t fl[4];
		int nf = 0, revoked = 0;

		while (p < end && nf < 4) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
				p++;
			if (p >= end || *p == '#')
				break;
			f[nf] = p;
			while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
				p++;
			fl[nf] = (size_t)(p - f[nf]);
			nf++;
		}
		line = eol ? eol + 1 : NULL;
		if (nf >= 1 && f[0][0] == '@') {
			revoked = fl[0] == 8 && strncmp(f[0], "@revoked", 8) == 0;
			if (!revoked)
				continue; /* @cert-authority: certificates are not supported */
			memmove(f, f + 1, 3 * sizeof(*f));
			memmove(fl, fl + 1, 3 * sizeof(*fl));
			nf--;
		}
		if (nf < 3 || f[0][0] == '|')
			continue; /* malformed, or a hashed host name */
		if (!host_matches(f[0], fl[0], name))
			continue;
		char *blob = NULL;
		size_t bl = 0;
		if (base64_decode(&blob, &bl, f[2], fl[2], 0) < 0)
			continue;
		int same = bl == keylen && memcmp(blob, key, keylen) == 0;
		free(blob);
		if (revoked && same)
			return 0;
		listed = 1;
		if (same && !revoked)
			return 1;
	}
	return listed ? 0 : -1;
}
