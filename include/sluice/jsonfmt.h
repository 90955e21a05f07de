/*
 * JSON output as kubectl prints it (`-o json`): object keys sorted by bytes,
 * four-space indentation, numbers in Go's shortest form, and Go's string
 * escapes (<, > and & as \u003c, \u003e, \u0026; U+2028 and U+2029 escaped).
 */
#ifndef SLUICE_JSONFMT_H
#define SLUICE_JSONFMT_H

#include <jansson.h>

#define JSONFMT_COMPACT 0x1 /* one line, no spaces */

/* Largest output produced, in bytes. */
#define JSONFMT_MAX_BYTES (256u << 20)

/*
 * Write `v` to a newly allocated, NUL-terminated string (*out, free()).
 * Returns 0, SLUICE_ELIMIT or SLUICE_ENOMEM; SLUICE_EINVALID for NaN or
 * infinite reals, which JSON cannot hold.
 */
int jsonfmt_dump(char **out, const json_t *v, unsigned flags);

/* Compare keys by bytes, as Go sorts map keys; for qsort over const char *. */
int jsonfmt_keycmp(const void *a, const void *b);

#endif
