#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/numfmt.h"

struct key {
	const char *s;
	size_t len;
	json_t *v;
};

int jsonfmt_keycmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int put_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int rc = buf_addc(b, '"');

	for (size_t i = 0; rc == 0 && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = "\\u00";
		switch (c) {
		case '"': rc = buf_add(b, "\\\"", 2); continue;
		case '\\': rc = buf_add(b, "\\\\", 2); continue;
		case '\n': rc = buf_add(b, "\\n", 2); continue;
		case '\r': rc = buf_add(b, "\\r", 2); continue;
		case '\t': rc = buf_add(b, "\\t", 2); continue;
		case '\b': rc = buf_add(b, "\\b", 2); continue;
		case '\f': rc = buf_add(b, "\\f", 2); continue;
		default: break;
		}
		if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			rc = buf_add(b, esc, 6);
		} else if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
		           ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
			rc = buf_adds(b, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
			i += 2;
		} else {
			rc = buf_addc(b, (char)c);
		}
	}
	return rc ? rc : buf_addc(b, '"');
}

static int indent(struct buf *b, unsigned flags, unsigned depth)
{
	int rc = 0;

	if (flags & JSONFMT_COMPACT)
		return 0;
	rc = buf_addc(b, '\n');
	for (unsigned i = 0; rc == 0 && i < depth; i++)
		rc = buf_add(b, "    ", 4);
	return rc;
}

static int dump(struct buf *b, const json_t *v, unsigned flags, unsigned depth)
{
	char num[NUMFMT_BUF];
	int rc = 0;

	switch (json_typeof(v)) {
	case JSON_NULL: return buf_add(b, "null", 4);
	case JSON_TRUE: return buf_add(b, "true", 4);
	case JSON_FALSE: return buf_add(b, "false", 5);
	case JSON_INTEGER: return buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		if (!isfinite(json_real_value(v)))
			return sluice_error_set(SLUICE_EINVALID, "json: unsupported value: %s",
			                        numfmt_json(num, sizeof(num), json_real_value(v)));
		return buf_adds(b, numfmt_json(num, sizeof(num), json_real_value(v)));
	case JSON_STRING: return put_string(b, json_string_value(v), json_string_length(v));
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		if (n == 0)
			return buf_add(b, "[]", 2);
		rc = buf_addc(b, '[');
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (i)
				rc = buf_addc(b, ',');
			if (rc == 0)
				rc = indent(b, flags, depth + 1);
			if (rc == 0)
				rc = dump(b, json_array_get(v, i), flags, depth + 1);
		}
		if (rc == 0)
			rc = indent(b, flags, depth);
		return rc ? rc : buf_addc(b, ']');
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		struct key *keys;
		void *it;
		if (n == 0)
			return buf_add(b, "{}", 2);
		keys = malloc(n * sizeof(*keys));
		if (!keys)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		for (it = json_object_iter((json_t *)v); it && i < n;
		     it = json_object_iter_next((json_t *)v, it), i++) {
			keys[i].s = json_object_iter_key(it);
			keys[i].len = json_object_iter_key_len(it);
			keys[i].v = json_object_iter_value(it);
		}
		if (i > 1)
			qsort(keys, i, sizeof(*keys), jsonfmt_keycmp);
		rc = buf_addc(b, '{');
		for (size_t k = 0; rc == 0 && k < i; k++) {
			if (k)
				rc = buf_addc(b, ',');
			if (rc == 0)
				rc = indent(b, flags, depth + 1);
			if (rc == 0)
				rc = put_string(b, keys[k].s, keys[k].len);
			if (rc == 0)
				rc = buf_adds(b, flags & JSONFMT_COMPACT ? ":" : ": ");
			if (rc == 0)
				rc = dump(b, keys[k].v, flags, depth + 1);
		}
		free(keys);
		if (rc == 0)
			rc = indent(b, flags, depth);
		return rc ? rc : buf_addc(b, '}');
	}
	}
	return sluice_error_set(SLUICE_EINVALID, "json: unknown value type");
}

int jsonfmt_dump(char **out, const json_t *v, unsigned flags)
{
	struct buf b;
	int rc;

	*out = NULL;
	buf_init(&b, JSONFMT_MAX_BYTES);
	rc = dump(&b, v, flags, 0);
	if (rc < 0) {
		buf_dispose(&b);
		return rc;
	}
	*out = buf_detach(&b);
	return *out ? 0 : sluice_error_set(SLUICE_ENOMEM, "out of memory");
}
