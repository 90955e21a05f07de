/*
 * Internal to the manifest loader: where each YAML document of a file is, so
 * that each object can point at its own document's bytes. Field lines are
 * read from them only when asked (manifest_field_line(), lines.c).
 */
#ifndef SLUICE_MANIFEST_LINES_H
#define SLUICE_MANIFEST_LINES_H

#include <stddef.h>

/* One document of a YAML file. */
struct lines_doc {
	size_t off, len;    /* its bytes in the file */
	unsigned line_base; /* lines of the file before it */
};

/*
 * Split `len` bytes of `data` into documents as yaml_stream_parse() splits
 * them, into a new array *out (free()) of *count. A JSON or UTF-16 stream
 * gives none (its objects have no field lines). Returns 0, or SLUICE_ENOMEM.
 */
int lines_split(struct lines_doc **out, size_t *count, const char *data, size_t len);

#endif
