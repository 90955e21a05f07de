#include <stdint.h>
#include <stdlib.h>

#include "postab.h"

static size_t slot_of(const void *key, size_t cap)
{
	uintptr_t h = (uintptr_t)key;

	h ^= h >> 33;
	h *= (uintptr_t)0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & (cap - 1);
}

static int grow(struct postab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	const void **nk = calloc(ncap, sizeof(*nk));
	unsigned *nl = calloc(ncap, sizeof(*nl));

	if (!nk || !nl) {
		free(nk);
		free(nl);
		return -1;
	}
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->keys[i])
			continue;
		size_t s = slot_of(t->keys[i], ncap);
		while (nk[s])
			s = (s + 1) & (ncap - 1);
		nk[s] = t->keys[i];
		nl[s] = t->lines[i];
	}
	free(t->keys);
	free(t->lines);
	t->keys = nk;
	t->lines = nl;
	t->cap = ncap;
	return 0;
}

int postab_put(struct postab *t, const void *key, unsigned line)
{
	size_t s;

	if ((t->count + 1) * 4 > t->cap * 3 && grow(t) < 0)
		return -1;
	s = slot_of(key, t->cap);
	while (t->keys[s] && t->keys[s] != key)
		s = (s + 1) & (t->cap - 1);
	if (!t->keys[s]) {
		t->keys[s] = key;
		t->count++;
	}
	t->lines[s] = line;
	return 0;
}

unsigned postab_get(const struct postab *t, const void *key)
{
	size_t s;

	if (!t->cap || !key)
		return 0;
	s = slot_of(key, t->cap);
	while (t->keys[s]) {
		if (t->keys[s] == key)
			return t->lines[s];
		s = (s + 1) & (t->cap - 1);
	}
	return 0;
}

void postab_dispose(struct postab *t)
{
	free(t->keys);
	free(t->lines);
	t->keys = NULL;
	t->lines = NULL;
	t->count = t->cap = 0;
}
