#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Length of the valid UTF-8 sequence at s, or 0 if invalid. */
static size_t seq_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/*
 * How many bytes one U+FFFD replaces at an invalid position: the maximal
 * prefix of a well-formed sequence (Unicode's "maximal subpart"), at least 1.
 * This is what kubectl's output shows for invalid input.
 */
static size_t bad_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF)
		need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
	else if (c >= 0xF0 && c <= 0xF4)
		need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
	else
		return 1;
	for (i = 1; i <= need && i < len; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xBF;
	}
	return i;
}

int utf8_sanitize(char **out, size_t *outlen, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char *buf;
	size_t i = 0, o = 0;

	*out = NULL;
	while (i < len) {
		size_t n = seq_len(u + i, len - i);
		if (!n)
			break;
		i += n;
	}
	if (i == len)
		return 0;
	if (len > (SIZE_MAX - 1) / 3 || !(buf = malloc(len * 3 + 1)))
		return -1;
	for (i = 0; i < len;) {
		size_t n = seq_len(u + i, len - i);
		if (n) {
			memcpy(buf + o, u + i, n);
			o += n;
			i += n;
		} else {
			memcpy(buf + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i += bad_len(u + i, len - i);
		}
	}
	buf[o] = '\0';
	*out = (char *)buf;
	*outlen = o;
	return 1;
}

json_t *utf8_json_string(const char *s, size_t len)
{
	char *clean = NULL;
	size_t cl = 0;
	json_t *v;
	int rc = utf8_sanitize(&clean, &cl, s, len);

	if (rc < 0)
		return NULL;
	if (rc == 0)
		return json_stringn_nocheck(s, len);
	v = json_stringn_nocheck(clean, cl);
	free(clean);
	return v;
}
