/*
 * Scalar resolution with the rules of the YAML library behind kubectl
 * (go-yaml v2 as used by sigs.k8s.io/yaml): YAML 1.1 booleans and nulls,
 * Go's ParseInt with base prefixes after removing underscores, a restricted
 * float syntax, and timestamps kept as their text.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/yaml.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};
static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};
static const char *const inf_words[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
static const char *const ninf_words[] = {"-.inf", "-.Inf", "-.INF", NULL};

static int in_list(const char *const *list, const char *s, size_t len)
{
	for (; *list; list++)
		if (strlen(*list) == len && memcmp(*list, s, len) == 0)
			return 1;
	return 0;
}

/* The first-character hint of go-yaml's resolve table. */
static char hint_of(char c)
{
	if (c == '+' || c == '-')
		return 'S';
	if (c >= '0' && c <= '9')
		return 'D';
	if (strchr("yYnNtTfFoO~", c))
		return 'M';
	if (c == '.')
		return '.';
	return 0;
}

static int digit_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

/* Go's strconv.ParseUint(s, base, 64); base 0 detects 0b, 0o, 0x and 0. */
static int go_parse_uint(unsigned long long *out, const char *s, size_t len, int base)
{
	unsigned long long v = 0;

	if (len == 0)
		return -1;
	if (base == 0) {
		base = 10;
		if (s[0] == '0') {
			char l = len >= 3 ? (char)(s[1] | 0x20) : 0;
			if (l == 'b' || l == 'o' || l == 'x') {
				base = l == 'b' ? 2 : l == 'o' ? 8 : 16;
				s += 2;
				len -= 2;
			} else {
				base = 8;
				s++;
				len--;
			}
		}
	}
	for (size_t i = 0; i < len; i++) {
		int d = digit_val(s[i]);
		if (d >= base)
			return -1;
		if (v > (UINT64_MAX - (unsigned)d) / (unsigned)base)
			return -2; /* range */
		v = v * (unsigned)base + (unsigned)d;
	}
	*out = v;
	return 0;
}

/* Go's strconv.ParseInt(s, base, 64). */
static int go_parse_int(long long *out, const char *s, size_t len, int base)
{
	unsigned long long u;
	int neg = 0, rc;

	if (len == 0)
		return -1;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		s++;
		len--;
	}
	rc = go_parse_uint(&u, s, len, base);
	if (rc < 0)
		return rc;
	if (!neg && u > (unsigned long long)INT64_MAX)
		return -2;
	if (neg && u > (unsigned long long)INT64_MAX + 1)
		return -2;
	*out = neg ? (long long)(0 - u) : (long long)u;
	return 0;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static int yaml_style_float(const char *s, size_t len)
{
	size_t i = 0, d;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i < len && s[i] == '.') {
		i++;
		for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	} else {
		for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
		if (i < len && s[i] == '.')
			for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
				;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == len;
}

/* Go's ParseFloat on a string already known to be plain decimal syntax. */
static int parse_decimal_float(double *out, const char *s, size_t len)
{
	char buf[512];
	double v;

	if (len >= sizeof(buf))
		return -1; /* no real float needs 512 characters */
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, NULL);
	if (errno == ERANGE && isinf(v))
		return -1; /* Go reports overflow as an error */
	*out = v;
	return 0;
}

/* ^\.[0-9]+([eE][-+]?[0-9]+)?$ : what Go's ParseFloat accepts after a '.' */
static int dot_float(const char *s, size_t len)
{
	return len > 1 && s[0] == '.' && s[1] >= '0' && s[1] <= '9' && yaml_style_float(s, len);
}

static int set_int(struct yaml_scalar *out, long long v)
{
	out->type = YAML_SCALAR_INT;
	out->i = v;
	return 1;
}

static int set_float(struct yaml_scalar *out, double v)
{
	out->type = YAML_SCALAR_FLOAT;
	out->f = v;
	return 1;
}

/* Resolve an untagged plain scalar (or one tagged with a core type).
 * Returns 1 when it resolved to a non-string, 0 for a string. */
static int resolve_plain(struct yaml_scalar *out, const char *s, size_t len)
{
	char hint;
	char plain[128];
	size_t pl = 0;
	long long iv;
	unsigned long long uv;
	double fv;

	if (len == 0) {
		out->type = YAML_SCALAR_NULL;
		return 1;
	}
	if (len == 2 && s[0] == '<' && s[1] == '<') {
		out->type = YAML_SCALAR_MERGE; /* a string except as a mapping key */
		return 1;
	}
	hint = hint_of(s[0]);
	if (!hint)
		return 0;
	if (in_list(true_words, s, len) || in_list(false_words, s, len)) {
		out->type = YAML_SCALAR_BOOL;
		out->b = in_list(true_words, s, len);
		return 1;
	}
	if (in_list(null_words, s, len)) {
		out->type = YAML_SCALAR_NULL;
		return 1;
	}
	if (in_list(nan_words, s, len))
		return set_float(out, NAN);
	if (in_list(inf_words, s, len))
		return set_float(out, INFINITY);
	if (in_list(ninf_words, s, len))
		return set_float(out, -INFINITY);
	if (hint == 'M')
		return 0;
	if (hint == '.') {
		if (dot_float(s, len) && parse_decimal_float(&fv, s, len) == 0)
			return set_float(out, fv);
		return 0;
	}
	/* 'D' or 'S': timestamps (YYYY-...) stay strings, which the integer and
	 * float syntaxes below reject anyway. Remove underscores first. */
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '_')
			continue;
		if (pl + 1 >= sizeof(plain))
			return 0; /* longer than any number: a string */
		plain[pl++] = s[i];
	}
	plain[pl] = '\0';
	if (go_parse_int(&iv, plain, pl, 0) == 0)
		return set_int(out, iv);
	if (go_parse_uint(&uv, plain, pl, 0) == 0) {
		out->type = YAML_SCALAR_UINT;
		out->u = uv;
		return 1;
	}
	if (yaml_style_float(plain, pl) && parse_decimal_float(&fv, plain, pl) == 0)
		return set_float(out, fv);
	if (pl > 2 && memcmp(plain, "0b", 2) == 0) {
		if (go_parse_int(&iv, plain + 2, pl - 2, 2) == 0)
			return set_int(out, iv);
		if (go_parse_uint(&uv, plain + 2, pl - 2, 2) == 0) {
			out->type = YAML_SCALAR_UINT;
			out->u = uv;
			return 1;
		}
	} else if (pl > 3 && memcmp(plain, "-0b", 3) == 0) {
		plain[2] = '-';
		if (go_parse_int(&iv, plain + 2, pl - 2, 2) == 0)
			return set_int(out, iv);
	}
	return 0;
}

static int digits(const char *s, size_t len, size_t *i, size_t min, size_t max)
{
	size_t n = 0;

	while (*i < len && n < max && s[*i] >= '0' && s[*i] <= '9')
		(*i)++, n++;
	return n >= min;
}

/* The timestamp forms go-yaml accepts: 2006-1-2, "2006-1-2 15:4:5[.frac]",
 * and 2006-1-2T15:4:5[.frac](Z|+07:00) with T or t. */
static int is_timestamp(const char *s, size_t len)
{
	size_t i = 0;
	char sep;

	if (!digits(s, len, &i, 4, 4) || i >= len || s[i++] != '-' || !digits(s, len, &i, 1, 2) ||
	    i >= len || s[i++] != '-' || !digits(s, len, &i, 1, 2))
		return 0;
	if (i == len)
		return 1;
	sep = s[i++];
	if (sep != 'T' && sep != 't' && sep != ' ')
		return 0;
	if (!digits(s, len, &i, 1, 2) || i >= len || s[i++] != ':' || !digits(s, len, &i, 1, 2) ||
	    i >= len || s[i++] != ':' || !digits(s, len, &i, 1, 2))
		return 0;
	if (i < len && s[i] == '.') {
		i++;
		if (!digits(s, len, &i, 1, 9))
			return 0;
	}
	if (sep == ' ')
		return i == len;
	if (i < len && s[i] == 'Z')
		return i + 1 == len;
	if (i >= len || (s[i] != '+' && s[i] != '-'))
		return 0;
	i++;
	return digits(s, len, &i, 2, 2) && i < len && s[i++] == ':' && digits(s, len, &i, 2, 2) &&
	       i == len;
}

static const char *short_tag(const char *tag)
{
	static _Thread_local char buf[64];
	size_t pl = strlen(TAG_PREFIX);

	if (tag && strncmp(tag, TAG_PREFIX, pl) == 0 && strlen(tag + pl) + 3 < sizeof(buf)) {
		buf[0] = '!';
		buf[1] = '!';
		strcpy(buf + 2, tag + pl);
		return buf;
	}
	return tag ? tag : "";
}

static const char *type_tag(const struct yaml_scalar *s)
{
	switch (s->type) {
	case YAML_SCALAR_NULL: return "!!null";
	case YAML_SCALAR_BOOL: return "!!bool";
	case YAML_SCALAR_INT:
	case YAML_SCALAR_UINT: return "!!int";
	case YAML_SCALAR_FLOAT: return "!!float";
	case YAML_SCALAR_MERGE: return "!!merge";
	case YAML_SCALAR_STR: break;
	}
	return "!!str";
}

int yaml_resolve(struct yaml_scalar *out, const char *tag, const char *text, size_t len, int plain)
{
	const char *t = short_tag(tag);

	memset(out, 0, sizeof(*out));
	out->type = YAML_SCALAR_STR;
	if (!*t) {
		if (plain)
			resolve_plain(out, text, len);
		return 0;
	}
	if (strcmp(t, "!!str") == 0)
		return 0;
	if (strcmp(t, "!!merge") == 0) {
		if (len == 2 && memcmp(text, "<<", 2) == 0)
			out->type = YAML_SCALAR_MERGE;
		return 0;
	}
	if (strcmp(t, "!!bool") && strcmp(t, "!!int") && strcmp(t, "!!float") &&
	    strcmp(t, "!!null") && strcmp(t, "!!timestamp"))
		return 0; /* unknown and non-core tags keep the text */
	resolve_plain(out, text, len);
	if (strcmp(t, "!!timestamp") == 0 && out->type == YAML_SCALAR_STR &&
	    is_timestamp(text, len))
		return 0; /* kept as its text, as for an untagged timestamp */
	if (strcmp(t, type_tag(out)) == 0)
		return 0;
	if (strcmp(t, "!!float") == 0 && out->type == YAML_SCALAR_INT) {
		out->type = YAML_SCALAR_FLOAT;
		out->f = (double)out->i;
		return 0;
	}
	if (strcmp(t, "!!float") == 0 && out->type == YAML_SCALAR_UINT) {
		out->type = YAML_SCALAR_FLOAT;
		out->f = (double)out->u;
		return 0;
	}
	return sluice_error_set(SLUICE_EINVALID, "cannot decode %s `%.*s` as a %s", type_tag(out),
	                        (int)(len > 64 ? 64 : len), text, t);
}
