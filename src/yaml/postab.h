/* Internal: a map from a jansson value's address to the line it started on. */
#ifndef SLUICE_YAML_POSTAB_H
#define SLUICE_YAML_POSTAB_H

#include <stddef.h>

struct postab {
	const void **keys;
	unsigned *lines;
	size_t count, cap; /* cap is 0 or a power of two */
};

/* Record (or update) the line of `key`. Returns 0 or -1 when out of memory. */
int postab_put(struct postab *t, const void *key, unsigned line);
/* The line of `key`, or 0. */
unsigned postab_get(const struct postab *t, const void *key);
void postab_dispose(struct postab *t);

#endif
