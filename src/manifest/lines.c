/*
 * Field lines: where each key of an object was written, so that an API error
 * about "spec.template.spec.containers[0].image" can name that line.
 *
 * The YAML reader records where mappings and sequences start, not where
 * their keys are. The loader keeps each YAML file's bytes and points each
 * object at its document (lines_split()); a lookup then reads that document
 * again with a lighter libyaml pass: events only, no values built, aliases
 * not expanded. Each key and each list item becomes an entry (parent, key
 * text, line) in preorder; an item's key is its index in decimal, so "[0]"
 * and a map key "0" are found alike. Keys merged in by "<<" or reached
 * through an alias have no entry of their own and fall back to the line of
 * the key that holds them.
 *
 * The object's own subtree is then cut into a table of at most
 * SLUICE_MANIFEST_MAX_FIELD_LINES entries and SLUICE_MANIFEST_MAX_FIELD_KEY_BYTES
 * of key text; a bigger object keeps whole levels from the top, so every kept
 * entry's parents are kept too. The path is walked in it, and everything is
 * freed: a lookup costs time and memory in proportion to the document and
 * changes nothing, so lookups of one object may run on several threads.
 * Failures (out of memory, a document libyaml cannot read alone) only lose
 * the line: the caller gets the object's own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "lines.h"
#include "sluice/error.h"
#include "sluice/manifest.h"
#include "sluice/numfmt.h"
#include "sluice/yaml.h"

#define NONE  UINT32_MAX
#define NOKEY UINT16_MAX /* klen of an entry no path can name */

/* ---- documents of a file ---------------------------------------------- */

static int split_add(struct lines_doc **docs, size_t *count, size_t *cap, size_t off, size_t len,
                     size_t line_base)
{
	if (*count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct lines_doc *nd = realloc(*docs, ncap * sizeof(*nd));
		if (!nd)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		*docs = nd;
		*cap = ncap;
	}
	(*docs)[*count].off = off;
	(*docs)[*count].len = len;
	(*docs)[*count].line_base = (unsigned)line_base;
	(*count)++;
	return 0;
}

int lines_split(struct lines_doc **out, size_t *count, const char *data, size_t len)
{
	struct lines_doc *docs = NULL;
	size_t n = 0, cap = 0, bom = 0, off = 0;
	size_t chunk, pos, line = 1, chunk_line = 1;
	int rc = 0;

	*out = NULL;
	*count = 0;
	/* The same choices as yaml_stream_parse(): JSON and UTF-16 are not
	 * read again; one leading BOM is dropped. */
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		bom = off = 3;
	while (off < len && strchr(" \t\r\n", data[off]))
		off++;
	if ((off < len && data[off] == '{') ||
	    (len >= 2 && ((unsigned char)data[0] == 0xFF || (unsigned char)data[0] == 0xFE)))
		return 0;
	/* Documents split by lines starting with "---", as parse.c splits them. */
	chunk = pos = bom;
	while (pos < len && rc == 0) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;

		if (end - pos >= 3 && memcmp(data + pos, "---", 3) == 0 && pos > chunk) {
			rc = split_add(&docs, &n, &cap, chunk, pos - chunk, chunk_line - 1);
			chunk = end;
			chunk_line = line + 1;
		}
		pos = end;
		line++;
	}
	if (rc == 0 && len > chunk)
		rc = split_add(&docs, &n, &cap, chunk, len - chunk, chunk_line - 1);
	if (rc < 0) {
		free(docs);
		return rc;
	}
	*out = docs;
	*count = n;
	return 0;
}

/* ---- the scan of one document ----------------------------------------- */

struct sentry {
	uint32_t parent; /* index; the root (entry 0) is its own parent */
	uint32_t line;
	uint32_t key; /* offset in keys */
	uint16_t klen;
};

struct doc_lines {
	struct sentry *e;
	size_t n, cap;
	char *keys;
	size_t klen, kcap;
	int full; /* SLUICE_YAML_MAX_DOC_NODES entries: no more are recorded */
};

struct sframe {
	uint32_t node;      /* entry of this collection, or NONE when not recorded */
	uint32_t next;      /* next item index of a sequence */
	uint32_t key_entry; /* entry of the key waiting for its value, or NONE */
	int is_map, have_key;
};

static void doc_dispose(struct doc_lines *d)
{
	free(d->e);
	free(d->keys);
	memset(d, 0, sizeof(*d));
}

/* Add an entry under `parent` (nothing when parent is NONE); *out is its index or NONE. */
static int add(struct doc_lines *d, uint32_t parent, const char *key, size_t klen, unsigned line,
               uint32_t *out)
{
	struct sentry *e;

	*out = NONE;
	if (parent == NONE || d->full)
		return 0;
	if (d->n >= SLUICE_YAML_MAX_DOC_NODES) {
		d->full = 1;
		return 0;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		struct sentry *ne = realloc(d->e, ncap * sizeof(*ne));
		if (!ne)
			return SLUICE_ENOMEM;
		d->e = ne;
		d->cap = ncap;
	}
	if (klen != NOKEY && d->klen + klen > d->kcap) {
		size_t ncap = d->kcap ? d->kcap : 1024;
		while (ncap < d->klen + klen)
			ncap *= 2;
		char *nk = realloc(d->keys, ncap);
		if (!nk)
			return SLUICE_ENOMEM;
		d->keys = nk;
		d->kcap = ncap;
	}
	e = &d->e[d->n];
	e->parent = d->n == 0 ? 0 : parent;
	e->line = line;
	e->key = (uint32_t)d->klen;
	e->klen = (uint16_t)klen;
	if (klen != NOKEY && klen) {
		memcpy(d->keys + d->klen, key, klen);
		d->klen += klen;
	}
	*out = (uint32_t)d->n++;
	return 0;
}

/* The string a mapping key becomes, as the YAML reader makes it (parse.c,
 * key_from_scalar); *klen is NOKEY for keys no path names. */
static const char *key_text(const yaml_event_t *ev, char *buf, size_t n, size_t *klen)
{
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct yaml_scalar sc;

	*klen = NOKEY;
	if (yaml_resolve(&sc, (const char *)ev->data.scalar.tag, text, len,
	                 ev->data.scalar.plain_implicit) < 0)
		return NULL;
	switch (sc.type) {
	case YAML_SCALAR_STR:
		if (len > SLUICE_MANIFEST_MAX_FIELD_KEY)
			return NULL;
		*klen = len;
		return text;
	case YAML_SCALAR_BOOL: snprintf(buf, n, "%s", sc.b ? "true" : "false"); break;
	case YAML_SCALAR_INT: snprintf(buf, n, "%lld", sc.i); break;
	case YAML_SCALAR_FLOAT:
		numfmt_go_g(buf, n, sc.f, 32);
		if (strcmp(buf, "+Inf") == 0)
			snprintf(buf, n, ".inf");
		else if (strcmp(buf, "-Inf") == 0)
			snprintf(buf, n, "-.inf");
		else if (strcmp(buf, "NaN") == 0)
			snprintf(buf, n, ".nan");
		break;
	case YAML_SCALAR_MERGE: /* "<<": its keys are the holder's, unrecorded */
	case YAML_SCALAR_UINT:
	case YAML_SCALAR_NULL: return NULL;
	}
	*klen = strlen(buf);
	return buf;
}

/* A scalar, alias, or the start of a collection, at the top of `stack`. */
static int on_node(struct doc_lines *d, struct sframe *stack, unsigned *depth,
                   const yaml_event_t *ev, unsigned line)
{
	int is_start =
	    ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT;
	uint32_t me = NONE;
	int rc = 0;

	if (*depth == 0) {
		rc = d->n ? 0 : add(d, 0, NULL, NOKEY, line, &me);
	} else {
		struct sframe *f = &stack[*depth - 1];
		if (f->is_map && !f->have_key) {
			char buf[NUMFMT_BUF];
			const char *k = NULL;
			size_t kl = NOKEY;
			if (ev->type == YAML_SCALAR_EVENT)
				k = key_text(ev, buf, sizeof(buf), &kl);
			/* a complex or alias key: neither it nor its value has a line */
			f->key_entry = NONE;
			if (k)
				rc = add(d, f->node, k, kl, line, &f->key_entry);
			f->have_key = 1;
		} else if (f->is_map) {
			me = f->key_entry;
			f->have_key = 0;
		} else {
			char idx[16];
			int il = snprintf(idx, sizeof(idx), "%u", (unsigned)f->next++);
			rc = add(d, f->node, idx, (size_t)il, line, &me);
		}
	}
	if (rc < 0 || !is_start)
		return rc;
	if (*depth > SLUICE_YAML_MAX_DEPTH)
		return SLUICE_ELIMIT; /* the YAML reader refused it already */
	stack[*depth].node = me;
	stack[*depth].next = 0;
	stack[*depth].key_entry = NONE;
	stack[*depth].is_map = ev->type == YAML_MAPPING_START_EVENT;
	stack[*depth].have_key = 0;
	(*depth)++;
	return 0;
}

/* The first document of one chunk, as the YAML reader reads it, into `d`
 * (empty when libyaml refuses the chunk). Returns 0, or SLUICE_ENOMEM. */
static int scan_chunk(struct doc_lines *d, const char *data, size_t len, size_t line_base)
{
	struct sframe *stack = NULL;
	unsigned depth = 0;
	yaml_parser_t yp;
	yaml_event_t ev;
	int rc = 0, done = 0;

	stack = malloc((SLUICE_YAML_MAX_DEPTH + 1) * sizeof(*stack));
	if (!stack || !yaml_parser_initialize(&yp)) {
		free(stack);
		return SLUICE_ENOMEM;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&yp, &ev)) {
			rc = yp.error == YAML_MEMORY_ERROR ? SLUICE_ENOMEM : SLUICE_EINVALID;
			break;
		}
		unsigned line = (unsigned)(ev.start_mark.line + 1 + line_base);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
		case YAML_DOCUMENT_END_EVENT: done = 1; break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: rc = on_node(d, stack, &depth, &ev, line); break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	free(stack);
	if (rc < 0)
		doc_dispose(d); /* unreadable alone: no lines, not an error */
	return rc == SLUICE_ENOMEM ? rc : 0;
}

/* ---- one object's table ----------------------------------------------- */

struct lentry {
	uint32_t line;
	uint32_t key;    /* offset in the key text */
	uint16_t parent; /* index; the root (entry 0) is its own parent */
	uint16_t klen;   /* NOKEY: no path names it */
};

struct table {
	uint32_t count;
	uint32_t keybytes;
	struct lentry e[]; /* preorder; then `keybytes` of key text */
};

static const char *table_keys(const struct table *t)
{
	return (const char *)&t->e[t->count];
}

/* The child of `node` keyed `k` (scan entries), or NONE. */
static uint32_t scan_child(const struct doc_lines *d, uint32_t node, const char *k, size_t kl)
{
	for (size_t j = node + 1; j < d->n && d->e[j].parent >= node; j++)
		if (d->e[j].parent == node && d->e[j].klen == kl &&
		    memcmp(d->keys + d->e[j].key, k, kl) == 0)
			return (uint32_t)j;
	return NONE;
}

static size_t key_bytes(const struct sentry *e)
{
	return e->klen == NOKEY ? 0 : e->klen;
}

/*
 * The table of the document in `d`, or of its items[item] when `item` is not
 * -1, into *out (NULL when unknown, or when the value found does not start
 * on `line`, the line the YAML reader gave it). Returns 0, or SLUICE_ENOMEM.
 */
static int extract(struct table **out, const struct doc_lines *d, long item, unsigned line)
{
	struct table *t = NULL;
	size_t count[SLUICE_YAML_MAX_DEPTH + 2] = {0}, bytes[SLUICE_YAML_MAX_DEPTH + 2] = {0};
	size_t end, n = 0, nb = 0, level = 0, kept = 0, kb = 0;
	uint16_t *depth = NULL;
	uint32_t *map = NULL;
	uint32_t root = 0;
	char *keys;

	*out = NULL;
	if (!d->n)
		return 0;
	if (item >= 0) {
		char idx[24];
		uint32_t items = scan_child(d, 0, "items", 5);
		if (items == NONE)
			return 0;
		snprintf(idx, sizeof(idx), "%ld", item);
		if ((root = scan_child(d, items, idx, strlen(idx))) == NONE)
			return 0;
	}
	if (d->e[root].line != line)
		return 0; /* not the value the YAML reader saw: no lines beat wrong ones */
	for (end = root + 1; end < d->n && d->e[end].parent >= root; end++)
		;
	n = end - root;
	depth = malloc(n * sizeof(*depth));
	map = malloc(n * sizeof(*map));
	if (!depth || !map)
		goto nomem;
	/* Depth of each entry, and entries and key bytes per level. */
	depth[0] = 0;
	count[0] = 1;
	for (size_t j = 1; j < n; j++) {
		unsigned dp = depth[d->e[root + j].parent - root] + 1u;
		if (dp > SLUICE_YAML_MAX_DEPTH + 1)
			dp = SLUICE_YAML_MAX_DEPTH + 1;
		depth[j] = (uint16_t)dp;
		count[dp]++;
		bytes[dp] += key_bytes(&d->e[root + j]);
	}
	/* Whole levels while they fit, then the next level's first entries. */
	kept = count[0];
	while (level + 1 <= SLUICE_YAML_MAX_DEPTH + 1 && count[level + 1] &&
	       kept + count[level + 1] <= SLUICE_MANIFEST_MAX_FIELD_LINES &&
	       kb + bytes[level + 1] <= SLUICE_MANIFEST_MAX_FIELD_KEY_BYTES) {
		level++;
		kept += count[level];
		kb += bytes[level];
	}
	for (size_t j = 0; j < n; j++) {
		const struct sentry *e = &d->e[root + j];
		int take = depth[j] <= level;
		if (!take && depth[j] == level + 1 && kept < SLUICE_MANIFEST_MAX_FIELD_LINES &&
		    kb + key_bytes(e) <= SLUICE_MANIFEST_MAX_FIELD_KEY_BYTES) {
			take = 1;
			kept++;
			kb += key_bytes(e);
		}
		map[j] = take ? (uint32_t)nb++ : NONE;
	}
	t = malloc(sizeof(*t) + nb * sizeof(t->e[0]) + kb);
	if (!t)
		goto nomem;
	t->count = (uint32_t)nb;
	t->keybytes = 0;
	keys = (char *)&t->e[nb];
	for (size_t j = 0; j < n; j++) {
		const struct sentry *e = &d->e[root + j];
		struct lentry *te;
		if (map[j] == NONE)
			continue;
		te = &t->e[map[j]];
		te->line = e->line;
		te->parent = (uint16_t)(j ? map[e->parent - root] : 0);
		te->key = t->keybytes;
		te->klen = j ? e->klen : NOKEY; /* the object itself has no key */
		if (j && e->klen != NOKEY && e->klen) {
			memcpy(keys + t->keybytes, d->keys + e->key, e->klen);
			t->keybytes += e->klen;
		}
	}
	free(depth);
	free(map);
	*out = t;
	return 0;
nomem:
	free(depth);
	free(map);
	return SLUICE_ENOMEM;
}

/* ---- lookups ---------------------------------------------------------- */

static uint32_t child(const struct table *t, uint32_t node, const char *k, size_t kl)
{
	const char *keys = table_keys(t);

	for (uint32_t j = node + 1; j < t->count && t->e[j].parent >= node; j++)
		if (t->e[j].parent == node && t->e[j].klen == kl &&
		    memcmp(keys + t->e[j].key, k, kl) == 0)
			return j;
	return NONE;
}

/* The "]" closing the "[" at p: the first one followed by ".", "[" or the end. */
static const char *bracket_end(const char *p)
{
	const char *first = strchr(p + 1, ']');

	for (const char *c = first; c; c = strchr(c + 1, ']'))
		if (c[1] == '.' || c[1] == '[' || c[1] == '\0')
			return c;
	return first;
}

/* A selector value: a JSON scalar ("web", 80, true) or else the raw text. */
static json_t *selector_value(const char *v, size_t vl)
{
	json_t *j = json_loadb(v, vl, JSON_DECODE_ANY, NULL);

	return j ? j : json_stringn(v, vl);
}

/*
 * The index in `arr` of the element a server-side apply selector names:
 * "name=\"web\"", "containerPort=80,protocol=\"TCP\"", or "=value" for an
 * element of a set. -1 when none matches.
 */
static long select_item(const json_t *arr, const char *sel, size_t sl)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *el = json_array_get(arr, i);
		size_t pos = 0;
		int all = 1;
		while (all && pos < sl) {
			size_t start = pos, eq = SIZE_MAX;
			int quoted = 0;
			for (; pos < sl && (quoted || sel[pos] != ','); pos++) {
				if (sel[pos] == '"' && (pos == start || sel[pos - 1] != '\\'))
					quoted = !quoted;
				else if (sel[pos] == '=' && eq == SIZE_MAX && !quoted)
					eq = pos;
			}
			if (eq == SIZE_MAX)
				return -1;
			const json_t *have =
			    eq == start ? el : json_object_getn(el, sel + start, eq - start);
			json_t *want = selector_value(sel + eq + 1, pos - eq - 1);
			all = have && want && json_equal(have, want);
			json_decref(want);
			pos++; /* the "," */
		}
		if (all)
			return (long)i;
	}
	return -1;
}

/* Follow `path` as far as the table knows it; the deepest known line, or 0. */
static unsigned walk(const struct table *t, const json_t *obj, const char *path)
{
	const char *p = path;
	uint32_t node = 0;
	unsigned best = 0;

	if (*p == '.')
		p++;
	while (*p) {
		const char *seg = p;
		size_t sl;
		char idx[24];
		uint32_t next;

		if (*p == '[') {
			const char *close = bracket_end(p);
			if (!close)
				break;
			seg = p + 1;
			sl = (size_t)(close - seg);
			p = close + 1;
			if (json_is_array(obj) && memchr(seg, '=', sl)) {
				long i = select_item(obj, seg, sl);
				if (i < 0)
					break;
				snprintf(idx, sizeof(idx), "%ld", i);
				seg = idx;
				sl = strlen(idx);
			}
			next = child(t, node, seg, sl);
		} else {
			if (*p == '.')
				seg = ++p;
			/* A key holding dots is written after a dot by server-side
			 * apply: take the shortest run of segments that is a key. */
			const char *end = p + strcspn(p, ".[");
			while ((next = child(t, node, seg, (size_t)(end - seg))) == NONE &&
			       *end == '.')
				end += 1 + strcspn(end + 1, ".[");
			sl = (size_t)(end - seg);
			p = end;
		}
		if (next == NONE)
			break;
		node = next;
		best = t->e[node].line;
		if (json_is_object(obj))
			obj = json_object_getn(obj, seg, sl);
		else if (json_is_array(obj))
			obj = json_array_get(obj, strtoul(seg, NULL, 10));
		else
			obj = NULL;
	}
	return best;
}

unsigned manifest_field_line(const struct manifest_obj *m, const char *api_field_path)
{
	struct doc_lines d = {0};
	struct table *t = NULL;
	unsigned l = 0;

	if (!m)
		return 0;
	if (!m->doc || !api_field_path || !*api_field_path)
		return m->line;
	/* out of memory: no table, so the object's own line */
	if (scan_chunk(&d, m->doc, m->doc_len, m->doc_line) == 0)
		extract(&t, &d, m->doc_item, m->line);
	doc_dispose(&d);
	if (t)
		l = walk(t, m->obj, api_field_path);
	free(t);
	return l ? l : m->line;
}

/*
 * The field path at `p` if it ends with ": " (or ":" at the end) outside of
 * brackets, copied to buf; 0 when `p` does not start one.
 */
static int path_at(const char *p, char *buf, size_t n)
{
	size_t i = 0;
	int in = 0;

	if (!(*p == '.' || *p == '_' || *p == '$' || (*p >= 'a' && *p <= 'z') ||
	      (*p >= 'A' && *p <= 'Z')))
		return 0;
	for (; p[i]; i++) {
		char c = p[i];
		if (in) {
			if (c == ']')
				in = 0;
			continue;
		}
		if (c == '[')
			in = 1;
		else if (c == ':')
			break;
		else if (strchr(" \t\r\n,\"'{}()", c))
			return 0;
	}
	if (p[i] != ':' || (p[i + 1] != ' ' && p[i + 1] != '\0') || i == 0 || i >= n)
		return 0;
	memcpy(buf, p, i);
	buf[i] = '\0';
	return 1;
}

/* Does `path` start with a key the object has at its top? */
static int names_a_field(const struct manifest_obj *m, const char *path)
{
	const char *p = path + (*path == '.');
	size_t n = strcspn(p, ".[");

	return n && json_object_getn(m->obj, p, n) != NULL;
}

unsigned manifest_message_line(const struct manifest_obj *m, const char *api_message)
{
	static const char invalid[] = " is invalid: ";
	const char *p;
	char path[2048];

	if (!m)
		return 0;
	if (!api_message)
		return m->line;
	/* A 422: `Kind.group "name" is invalid: [path: reason, path: reason]`. */
	if ((p = strstr(api_message, invalid)) != NULL) {
		p += sizeof(invalid) - 1;
		if (*p == '[')
			p++;
		if (path_at(p, path, sizeof(path)))
			return manifest_field_line(m, path);
	}
	/* Else (webhooks, server-side apply) the first word ending in ":" that
	 * starts with a top-level key of the object. */
	for (p = api_message; *p; p++) {
		if (p != api_message && !strchr(" [(", p[-1]))
			continue;
		if (path_at(p, path, sizeof(path)) && names_a_field(m, path))
			return manifest_field_line(m, path);
	}
	return m->line;
}
