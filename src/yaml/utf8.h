/* Internal: JSON strings from bytes that may not be valid UTF-8. */
#ifndef SLUICE_YAML_UTF8_H
#define SLUICE_YAML_UTF8_H

#include <stddef.h>

#include <jansson.h>

/*
 * A new JSON string from `len` bytes; invalid UTF-8 sequences become U+FFFD,
 * as Go's encoding/json does. NULL only when out of memory.
 */
json_t *utf8_json_string(const char *s, size_t len);

/*
 * Replace each invalid UTF-8 sequence of `len` bytes at `s` by U+FFFD.
 * Returns 0 when `s` is valid (and *out is NULL), 1 with a new string in *out
 * (free()) and its length in *outlen, or -1 when out of memory.
 */
int utf8_sanitize(char **out, size_t *outlen, const char *s, size_t len);

#endif
