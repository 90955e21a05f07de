/*
 * Number formatting that matches Go's strconv, so that sluice prints numbers
 * exactly as kubectl does: the shortest decimal that reads back to the same
 * binary value.
 */
#ifndef SLUICE_NUMFMT_H
#define SLUICE_NUMFMT_H

#include <stddef.h>

/* Large enough for any output of the functions below. */
#define NUMFMT_BUF 40

/*
 * Format `f` as Go's encoding/json does for a float64: shortest digits, in
 * 'f' notation unless |f| < 1e-6 or |f| >= 1e21, then 'e' notation with the
 * exponent's leading zero removed ("1e-7", "1e+21"). NaN and infinities are
 * not JSON; they come out as "NaN", "+Inf" and "-Inf". Returns `buf`.
 */
char *numfmt_json(char *buf, size_t n, double f);

/*
 * Format `f` as Go's strconv.FormatFloat(f, 'g', -1, bits) with bits 32 or
 * 64 (32 rounds to float32 first). Used for non-string YAML mapping keys,
 * which Kubernetes' YAML library turns into strings this way. Returns `buf`.
 */
char *numfmt_go_g(char *buf, size_t n, double f, int bits);

#endif
