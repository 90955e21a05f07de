/* Base64 decoding for the two places sluice meets it: YAML's !!binary (as
 * Go's encoding/base64 StdEncoding reads it, so the JSON matches kubectl's)
 * and kubeconfig's *-data fields (tolerant, as client-go is). */
#ifndef SLUICE_BASE64_H
#define SLUICE_BASE64_H

#include <stddef.h>

#define BASE64_STRICT 0x1 /* padding required, only CR and LF skipped */

/*
 * Decode `len` bytes of `in` into a new NUL-terminated buffer *out (free()),
 * its length in *outlen. Without BASE64_STRICT, blanks are skipped, padding
 * may be missing and the URL-safe alphabet is accepted. Returns 0,
 * SLUICE_EINVALID for malformed input, or SLUICE_ENOMEM.
 */
int base64_decode(char **out, size_t *outlen, const char *in, size_t len, unsigned flags);

#endif
