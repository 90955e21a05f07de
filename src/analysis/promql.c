/*
 * PromQL query templates. A template is the query an analysis names, with
 * {{name}} placeholders; a value goes in escaped for the string literal the
 * placeholder stands in, or, outside any literal, only when it is a duration.
 * The template is scanned as PromQL's lexer would see it (code, "..." and
 * '...' with backslash escapes, `...` raw, # comments to the end of the line),
 * so the decision is made on the template's structure, never on a value.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/prom.h"

#define ERRORS_MAX 768 /* collected messages, joined by "; " */

enum ctx { CODE, DQUOTE, SQUOTE, BACKTICK, COMMENT };

/* Bytes of the valid UTF-8 sequence at s (at most len), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
	size_t n;
	unsigned min;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t promql_escape(char *out, size_t n, const char *s, size_t len, char quote)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

#define PUT(ch)                        \
	do {                           \
		if (o + 1 < n)         \
			out[o] = (ch); \
		o++;                   \
	} while (0)
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		size_t u;
		if (ch == '\\' || ch == (unsigned char)quote) {
			PUT('\\');
			PUT((char)ch);
		} else if (ch == '\n') {
			PUT('\\');
			PUT('n');
		} else if (ch == '\r') {
			PUT('\\');
			PUT('r');
		} else if (ch == '\t') {
			PUT('\\');
			PUT('t');
		} else if (ch >= 0x20 && ch < 0x7f) {
			PUT((char)ch);
		} else if (ch >= 0x80 &&
		           (u = utf8_len((const unsigned char *)s + i, len - i)) > 0) {
			for (size_t k = 0; k < u; k++)
				PUT(s[i + k]);
			i += u - 1;
		} else { /* other control bytes, DEL, broken UTF-8: the same byte, escaped */
			PUT('\\');
			PUT('x');
			PUT(hex[ch >> 4]);
			PUT(hex[ch & 15]);
		}
	}
#undef PUT
	if (n > 0)
		out[o < n ? o : n - 1] = '\0';
	return o;
}

/* ^([0-9]+(ms|s|m|h|d|w|y))+$: only digits and unit letters, so it cannot
 * close a bracket, start an operator or a comment. */
static int is_duration(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return 0;
	while (i < len) {
		size_t d = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d || i == len)
			return 0;
		if (s[i] == 'm' && i + 1 < len && s[i + 1] == 's')
			i += 2;
		else if (strchr("smhdwy", s[i]) && s[i] != '\0')
			i++;
		else
			return 0;
	}
	return 1;
}

static int name_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int name_char(char ch)
{
	return name_start(ch) || (ch >= '0' && ch <= '9');
}

struct render {
	struct buf out;
	struct buf errs; /* "; "-joined messages */
	int rc;          /* the first error's code */
	int over;        /* the output limit was hit (said once) */
};

static void fail(struct render *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct render *r, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->rc == 0)
		r->rc = code;
	if (r->errs.len > 0)
		buf_adds(&r->errs, "; "); /* past the cap the rest is dropped */
	buf_adds(&r->errs, msg);
}

static void emit(struct render *r, const char *s, size_t len)
{
	if (buf_add(&r->out, s, len) < 0 && !r->over) {
		r->over = 1;
		fail(r, SLUICE_ELIMIT, "the rendered query is longer than %d bytes",
		     PROMQL_OUTPUT_MAX);
	}
}

/* Insert the value of `name` for a placeholder in context `ctx`. */
static void substitute(struct render *r, const json_t *vars, const char *name, enum ctx ctx)
{
	const json_t *v = json_is_object(vars) ? json_object_get(vars, name) : NULL;
	char num[32], *esc;
	const char *val;
	size_t len, need;

	if (!v) {
		fail(r, SLUICE_EINVALID, "unknown template variable \"%s\"", name);
		return;
	}
	if (json_is_string(v)) {
		val = json_string_value(v);
		len = json_string_length(v);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		val = num;
		len = strlen(num);
	} else {
		fail(r, SLUICE_EINVALID,
		     "template variable \"%s\": a string or an integer is needed", name);
		return;
	}
	if (len > PROMQL_VALUE_MAX) {
		fail(r, SLUICE_ELIMIT, "template variable \"%s\": value longer than %d bytes", name,
		     PROMQL_VALUE_MAX);
		return;
	}
	switch (ctx) {
	case DQUOTE:
	case SQUOTE:
		need = promql_escape(NULL, 0, val, len, ctx == DQUOTE ? '"' : '\'');
		esc = malloc(need + 1);
		if (!esc) {
			fail(r, SLUICE_ENOMEM, "out of memory");
			return;
		}
		promql_escape(esc, need + 1, val, len, ctx == DQUOTE ? '"' : '\'');
		emit(r, esc, need);
		free(esc);
		return;
	case BACKTICK:
		fail(r, SLUICE_EINVALID,
		     "template variable \"%s\" inside a `raw string`: use \"...\" so that it can "
		     "be escaped",
		     name);
		return;
	case CODE:
	case COMMENT:
		if (!is_duration(val, len)) {
			fail(r, SLUICE_EINVALID,
			     "template variable \"%s\" is outside quotes and its value is not a "
			     "duration like 30s or 5m (put label values in quotes: "
			     "label=\"{{%s}}\")",
			     name, name);
			return;
		}
		emit(r, val, len);
		return;
	}
}

int promql_render(char **out, const char *tmpl, const json_t *vars)
{
	struct render r = {.rc = 0};
	enum ctx ctx = CODE;
	const char *p = tmpl;
	int rc;

	*out = NULL;
	buf_init(&r.out, PROMQL_OUTPUT_MAX);
	buf_init(&r.errs, ERRORS_MAX);
	if (!tmpl)
		tmpl = p = "";
	while (*p && !r.over) {
		if (p[0] == '{' && p[1] == '{') {
			const char *s = p + 2, *e;
			char name[64];
			while (*s == ' ')
				s++;
			e = s;
			if (name_start(*e))
				while (name_char(*e))
					e++;
			const char *after = e;
			while (*after == ' ')
				after++;
			if (e == s || after[0] != '}' || after[1] != '}' ||
			    (size_t)(e - s) >= sizeof(name)) {
				fail(&r, SLUICE_EINVALID,
				     "bad placeholder at offset %zu: want {{name}} with a name of "
				     "letters, digits and _",
				     (size_t)(p - tmpl));
				p += 2;
				continue;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(e - s), s);
			substitute(&r, vars, name, ctx);
			p = after + 2;
			continue;
		}
		switch (ctx) {
		case CODE:
			if (*p == '"')
				ctx = DQUOTE;
			else if (*p == '\'')
				ctx = SQUOTE;
			else if (*p == '`')
				ctx = BACKTICK;
			else if (*p == '#')
				ctx = COMMENT;
			break;
		case DQUOTE:
		case SQUOTE:
			if (*p == '\\') {
				/* a placeholder right after a backslash would have its
				 * first escaped byte taken as the escape's */
				if (p[1] == '{' && p[2] == '{') {
					fail(&r, SLUICE_EINVALID,
					     "a placeholder right after a backslash at offset %zu",
					     (size_t)(p - tmpl));
					emit(&r, p, 1);
					p++;
					continue;
				}
				emit(&r, p, p[1] ? 2 : 1);
				p += p[1] ? 2 : 1;
				continue;
			}
			if (*p == (ctx == DQUOTE ? '"' : '\''))
				ctx = CODE;
			break;
		case BACKTICK:
			if (*p == '`')
				ctx = CODE;
			break;
		case COMMENT:
			if (*p == '\n')
				ctx = CODE;
			break;
		}
		emit(&r, p, 1);
		p++;
	}
	rc = r.rc;
	if (rc < 0) {
		sluice_error_set(rc, "query template: %s", r.errs.ptr ? r.errs.ptr : "");
	} else {
		*out = buf_detach(&r.out);
		if (!*out)
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	buf_dispose(&r.out);
	buf_dispose(&r.errs);
	return rc;
}
