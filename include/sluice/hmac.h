/* SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), for webhook signatures. */
#ifndef SLUICE_HMAC_H
#define SLUICE_HMAC_H

#include <stddef.h>

#define SHA256_LEN 32

void sha256(unsigned char out[SHA256_LEN], const void *data, size_t len);
void hmac_sha256(unsigned char out[SHA256_LEN], const void *key, size_t keylen, const void *data,
                 size_t len);

/* Compare in time independent of where the first difference is. 1 when equal. */
int hmac_equal(const void *a, const void *b, size_t len);

/* Parse 64 hex digits (either case). Returns 0, or -1 when malformed. */
int hmac_from_hex(unsigned char out[SHA256_LEN], const char *hex, size_t len);

#endif
