#include <stdlib.h>
#include <string.h>

#include "sluice/base64.h"
#include "sluice/error.h"

static int value_of(unsigned char c, unsigned flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || (c == '-' && !(flags & BASE64_STRICT)))
		return 62;
	if (c == '/' || (c == '_' && !(flags & BASE64_STRICT)))
		return 63;
	return -1;
}

int base64_decode(char **out, size_t *outlen, const char *in, size_t len, unsigned flags)
{
	const int strict = flags & BASE64_STRICT;
	unsigned char *buf;
	unsigned acc = 0;
	size_t o = 0, chars = 0, pad = 0;
	int bits = 0;

	*out = NULL;
	*outlen = 0;
	if (!(buf = malloc(len / 4 * 3 + 4)))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;
		if (c == '\r' || c == '\n' || (!strict && (c == ' ' || c == '\t')))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || (v = value_of(c, flags)) < 0)
			goto bad; /* nothing but padding may follow padding */
		chars++;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits & 0xFF);
		}
	}
	if (chars % 4 == 1 || pad > 2 || (strict && (chars + pad) % 4 != 0) ||
	    (pad && (chars + pad) % 4 != 0))
		goto bad;
	buf[o] = '\0';
	*out = (char *)buf;
	*outlen = o;
	return 0;
bad:
	free(buf);
	return sluice_error_set(SLUICE_EINVALID, "invalid base64 data");
}
