/*
 * A list of diagnostics collected during one operation (a render, a parse),
 * so that every problem is reported, not only the first. Each entry is one
 * line of the form "place: message", e.g. "apps/web.yaml:14: metadata.name is
 * required".
 */
#ifndef SLUICE_DIAG_H
#define SLUICE_DIAG_H

#include <stddef.h>

/* At most this many entries are kept; later ones are counted as dropped. */
#define SLUICE_DIAG_MAX 1000

struct diag {
	char **msgs;
	size_t count;
	size_t cap;
	size_t dropped;
};

/* Embedded struct: diag_init() then diag_dispose(). */
void diag_init(struct diag *d);
void diag_dispose(struct diag *d);

/*
 * Append a printf-formatted entry. Newlines become spaces. Returns 0, or
 * SLUICE_ENOMEM (the entry is then counted as dropped).
 */
int diag_add(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Total problems seen: kept plus dropped. */
size_t diag_total(const struct diag *d);

#endif
