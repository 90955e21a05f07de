/*
 * libFuzzer target: the small parsers of untrusted text around Git sources and
 * webhooks: known_hosts matching, repository URL keys and URL redaction.
 * The input is split at the first NUL: known_hosts text, then a host name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/git.h"
#include "sluice/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), buf[512];
	const unsigned char key[] = "\0\0\0\x0bssh-ed25519\0\0\0 0123456789abcdef0123456789abcdef";

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	const char *host = text + strlen(text) + 1 <= text + size ? text + strlen(text) + 1 : "h";
	(void)gitsrc_known_host(text, host, 22, key, sizeof(key) - 1);
	(void)gitsrc_known_host(text, host, 2222, key, sizeof(key) - 1);
	http_repo_key(buf, sizeof(buf), text);
	http_repo_key(buf, 8, text);
	gitsrc_redact_url(buf, sizeof(buf), text);
	gitsrc_redact_url(buf, 5, text);
	free(text);
	return 0;
}
