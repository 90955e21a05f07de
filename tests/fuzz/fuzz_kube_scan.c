/*
 * libFuzzer target: the metadata walk over a LIST body from the API server
 * (kube_scan_list). Whatever it accepts, jansson must accept too (the walk
 * never takes what is not JSON), and every name it reports is a plain string
 * shorter than 256 bytes. The walk does not check UTF-8 (the server sends
 * only UTF-8, and a name that is not would match no object of the render).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *ud, const char *name, const char *ns, const char *rv)
{
	(void)ud;
	if (!*name || strlen(name) > 255 || strlen(ns) > 255 || strlen(rv) > 63)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char cont[64];
	json_error_t err;

	if (kube_scan_list((const char *)data, size, check, NULL, cont, sizeof(cont)) == 0) {
		json_t *j = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &err);
		/* jansson also refuses bytes that are not UTF-8, numbers it cannot
		 * hold, and \u0000 in keys; nothing else it refuses may be taken */
		if (!j && err.position < size && strstr(err.text, "depth") == NULL &&
		    strstr(err.text, "too big") == NULL && strstr(err.text, "overflow") == NULL &&
		    strstr(err.text, "NUL") == NULL && strstr(err.text, "surrogate") == NULL &&
		    strstr(err.text, "UTF-8") == NULL && strstr(err.text, "decode byte") == NULL)
			abort();
		json_decref(j);
	}
	return 0;
}
