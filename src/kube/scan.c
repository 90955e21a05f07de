/*
 * A list's metadata without building the list: the body of a LIST (JSON) is
 * walked once, every value skipped except the few strings a resync needs.
 * What a no-op resync of many objects costs is mostly this parse, and a
 * tree of a few megabytes of managedFields, built to be thrown away, is most
 * of that. The walk checks the JSON's shape as it goes (strings, numbers,
 * literals, nesting bounded in depth) and refuses what is not JSON.
 */
#include <string.h>

#include "sluice/error.h"
#include "sluice/kube.h"

#define SCAN_MAX_DEPTH 128

struct scan {
	const char *p, *end;
	int depth;
};

struct span {
	const char *s;
	size_t n;
	int escaped; /* holds a backslash: not taken as a value */
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int eat(struct scan *s, char c)
{
	ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return 1;
	}
	return 0;
}

static int string(struct scan *s, struct span *out)
{
	ws(s);
	if (s->p >= s->end || *s->p != '"')
		return -1;
	const char *start = ++s->p;
	int escaped = 0;
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p;
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			escaped = 1;
			if (++s->p >= s->end)
				return -1;
			if (*s->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (s->p + i >= s->end || !s->p[i] ||
					    !strchr("0123456789abcdefABCDEF", s->p[i]))
						return -1;
				s->p += 4;
			} else if (!*s->p || !strchr("\"\\/bfnrt", *s->p)) {
				return -1;
			}
		}
		s->p++;
	}
	if (s->p >= s->end)
		return -1;
	if (out) {
		out->s = start;
		out->n = (size_t)(s->p - start);
		out->escaped = escaped;
	}
	s->p++;
	return 0;
}

static int value(struct scan *s);

static int number(struct scan *s)
{
	const char *start = s->p;
	if (s->p < s->end && *s->p == '-')
		s->p++;
	size_t digits = 0;
	const char *first = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++, digits++;
	if (!digits || (digits > 1 && *first == '0'))
		return -1; /* JSON numbers have no leading zeros */
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		digits = 0;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++, digits++;
		if (!digits)
			return -1;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		digits = 0;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++, digits++;
		if (!digits)
			return -1;
	}
	return s->p > start ? 0 : -1;
}

static int literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

/* An object or array, each member or element given to `member` (objects)
 * or skipped (arrays). */
typedef int (*member_fn)(struct scan *s, const struct span *key, void *ud);

static int object(struct scan *s, member_fn fn, void *ud)
{
	struct span key;
	if (!eat(s, '{') || ++s->depth > SCAN_MAX_DEPTH)
		return -1;
	if (!eat(s, '}')) {
		do {
			if (string(s, &key) < 0 || !eat(s, ':'))
				return -1;
			if ((fn ? fn(s, &key, ud) : value(s)) < 0)
				return -1;
		} while (eat(s, ','));
		if (!eat(s, '}'))
			return -1;
	}
	s->depth--;
	return 0;
}

static int array(struct scan *s, int (*element)(struct scan *, void *), void *ud)
{
	if (!eat(s, '[') || ++s->depth > SCAN_MAX_DEPTH)
		return -1;
	if (!eat(s, ']')) {
		do {
			if ((element ? element(s, ud) : value(s)) < 0)
				return -1;
		} while (eat(s, ','));
		if (!eat(s, ']'))
			return -1;
	}
	s->depth--;
	return 0;
}

static int value(struct scan *s)
{
	ws(s);
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{': return object(s, NULL, NULL);
	case '[': return array(s, NULL, NULL);
	case '"': return string(s, NULL);
	case 't': return literal(s, "true");
	case 'f': return literal(s, "false");
	case 'n': return literal(s, "null");
	default: return number(s);
	}
}

static int is(const struct span *k, const char *word)
{
	return k->n == strlen(word) && memcmp(k->s, word, k->n) == 0;
}

/* a string member, or null (taken as absent); anything else is skipped */
static int take(struct scan *s, struct span *out)
{
	ws(s);
	if (s->p < s->end && *s->p == '"')
		return string(s, out);
	return value(s);
}

struct item_meta {
	struct span name, ns, rv;
};

static int meta_member(struct scan *s, const struct span *key, void *ud)
{
	struct item_meta *m = ud;
	if (is(key, "name"))
		return take(s, &m->name);
	if (is(key, "namespace"))
		return take(s, &m->ns);
	if (is(key, "resourceVersion"))
		return take(s, &m->rv);
	return value(s);
}

static int item_member(struct scan *s, const struct span *key, void *ud)
{
	ws(s);
	if (is(key, "metadata") && s->p < s->end && *s->p == '{')
		return object(s, meta_member, ud);
	return value(s);
}

struct list_state {
	kube_meta_fn fn;
	void *ud;
	struct span cont, rv;
	int stopped;
};

static void copy(char *buf, size_t n, const struct span *sp)
{
	size_t k = sp->s && !sp->escaped && sp->n < n ? sp->n : 0;

	if (k)
		memcpy(buf, sp->s, k);
	buf[k] = '\0';
}

static int element(struct scan *s, void *ud)
{
	struct list_state *ls = ud;
	struct item_meta m;
	char name[256], ns[256], rv[64];

	memset(&m, 0, sizeof(m));
	ws(s);
	if (s->p >= s->end || *s->p != '{')
		return value(s);
	if (object(s, item_member, &m) < 0)
		return -1;
	if (ls->stopped || !m.name.s || m.name.escaped || m.name.n >= sizeof(name))
		return 0; /* no name a Kubernetes object could have: not reported */
	copy(name, sizeof(name), &m.name);
	copy(ns, sizeof(ns), &m.ns);
	copy(rv, sizeof(rv), &m.rv);
	if (ls->fn(ls->ud, name, ns, rv) != 0)
		ls->stopped = 1;
	return 0;
}

static int list_meta_member(struct scan *s, const struct span *key, void *ud)
{
	struct list_state *ls = ud;
	if (is(key, "continue"))
		return take(s, &ls->cont);
	if (is(key, "resourceVersion"))
		return take(s, &ls->rv);
	return value(s);
}

static int list_member(struct scan *s, const struct span *key, void *ud)
{
	ws(s);
	if (is(key, "items") && s->p < s->end && *s->p == '[')
		return array(s, element, ud);
	if (is(key, "metadata") && s->p < s->end && *s->p == '{')
		return object(s, list_meta_member, ud);
	return value(s);
}

int kube_scan_list(const char *body, size_t len, kube_meta_fn fn, void *ud, char *cont,
                   size_t contn)
{
	struct scan s = {body, body + len, 0};
	struct list_state ls;

	memset(&ls, 0, sizeof(ls));
	ls.fn = fn;
	ls.ud = ud;
	if (cont && contn)
		cont[0] = '\0';
	if (!body || object(&s, list_member, &ls) < 0)
		return sluice_error_set(SLUICE_ERROR, "the list is not valid JSON (byte %zu)",
		                        body ? (size_t)(s.p - body) : 0);
	ws(&s);
	if (s.p != s.end)
		return sluice_error_set(SLUICE_ERROR, "the list is not valid JSON (byte %zu)",
		                        (size_t)(s.p - body));
	if (cont && contn && ls.cont.s) {
		if (ls.cont.escaped || ls.cont.n >= contn)
			return sluice_error_set(SLUICE_ELIMIT,
			                        "the list's continue token is too long");
		copy(cont, contn, &ls.cont);
	}
	return 0;
}
