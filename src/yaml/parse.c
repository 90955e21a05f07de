/*
 * libyaml events into jansson values.
 *
 * Aliases share the anchored value (jansson reference counts), so a
 * "billion laughs" document costs no memory while its expanded size is
 * counted; once a document with aliases passes every limit it is copied into
 * a plain tree, so that later edits of one object never change another.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "postab.h"
#include "sluice/base64.h"
#include "sluice/error.h"
#include "sluice/numfmt.h"
#include "sluice/yaml.h"
#include "utf8.h"

struct anchor {
	char *name;
	json_t *val;
	size_t nodes, bytes;
	unsigned height;
};

struct frame {
	json_t *val; /* object or array being filled (owned) */
	char *anchor;
	size_t nodes, bytes;
	unsigned height; /* of the tallest child */
	unsigned line;
	/* mapping state */
	int have_key;
	int key_merge;
	char *key;
	size_t keylen;
	json_t *explicit_keys; /* keys set explicitly, once a merge happened */
};

struct yaml_doc {
	json_t *root;
	unsigned line;
};

struct yaml_stream {
	struct yaml_doc *docs;
	size_t count, cap;
	struct postab pos;
};

struct parser {
	const char *name;
	struct yaml_stream *s;
	struct frame stack[SLUICE_YAML_MAX_DEPTH + 1];
	unsigned depth;
	struct anchor *anchors;
	size_t nanchors, capanchors;
	size_t doc_nodes, doc_bytes;
	int used_alias;
	json_t *root;
	unsigned root_line;
	size_t line_base;  /* lines before the current chunk */
	const char *chunk; /* the text libyaml is reading */
	size_t chunk_len;
	size_t *line_off; /* byte offset of each line of the chunk, made on demand */
	size_t nlines;
};

/* Lines in libyaml's marks count from the start of the current document
 * chunk; LINE() makes them lines of the file. */
#define LINE(p, mark)            ((unsigned)((mark).line + 1 + (p)->line_base))
#define FAIL(p, mark, code, ...) fail_at(p, LINE(p, mark), (mark).column + 1, code, __VA_ARGS__)

static int fail_at(struct parser *p, size_t line, size_t col, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(struct parser *p, size_t line, size_t col, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sluice_error_set(code, "%s:%zu:%zu: %s", p->name, line, col, msg);
}

/* ---- anchors ---------------------------------------------------------- */

static struct anchor *anchor_find(struct parser *p, const char *name)
{
	/* Newest first: a redefined anchor refers to its latest node. */
	for (size_t i = p->nanchors; i-- > 0;)
		if (strcmp(p->anchors[i].name, name) == 0)
			return &p->anchors[i];
	return NULL;
}

static void anchors_clear(struct parser *p)
{
	for (size_t i = 0; i < p->nanchors; i++) {
		free(p->anchors[i].name);
		json_decref(p->anchors[i].val);
	}
	p->nanchors = 0;
}

static int anchor_define(struct parser *p, const yaml_mark_t *mark, const char *name, json_t *v,
                         size_t nodes, size_t bytes, unsigned height)
{
	struct anchor *a = anchor_find(p, name);

	if (a) {
		json_decref(a->val);
	} else {
		if (p->nanchors >= SLUICE_YAML_MAX_ANCHORS)
			return FAIL(p, *mark, SLUICE_ELIMIT, "more than %d anchors in one document",
			            SLUICE_YAML_MAX_ANCHORS);
		if (p->nanchors == p->capanchors) {
			size_t ncap = p->capanchors ? p->capanchors * 2 : 16;
			struct anchor *na = realloc(p->anchors, ncap * sizeof(*na));
			if (!na)
				return sluice_error_set(SLUICE_ENOMEM, "out of memory");
			p->anchors = na;
			p->capanchors = ncap;
		}
		a = &p->anchors[p->nanchors];
		a->name = strdup(name);
		if (!a->name)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		p->nanchors++;
	}
	a->val = json_incref(v);
	a->nodes = nodes;
	a->bytes = bytes;
	a->height = height;
	return 0;
}

/* ---- budget ----------------------------------------------------------- */

static int charge(struct parser *p, const yaml_mark_t *mark, size_t nodes, size_t bytes)
{
	p->doc_nodes += nodes;
	p->doc_bytes += bytes;
	if (p->doc_nodes > SLUICE_YAML_MAX_DOC_NODES)
		return FAIL(p, *mark, SLUICE_ELIMIT,
		            "document expands to more than %u values (alias expansion limit)",
		            SLUICE_YAML_MAX_DOC_NODES);
	if (p->doc_bytes > SLUICE_YAML_MAX_DOC_BYTES)
		return FAIL(
		    p, *mark, SLUICE_ELIMIT,
		    "document expands to more than %u bytes of text (alias expansion limit)",
		    SLUICE_YAML_MAX_DOC_BYTES);
	return 0;
}

/* ---- keys ------------------------------------------------------------- */

/* The string form of a mapping key, as sigs.k8s.io/yaml makes it. */
static int key_from_scalar(struct parser *p, const yaml_mark_t *mark, const struct yaml_scalar *sc,
                           const char *text, size_t len, char **out, size_t *outlen)
{
	char buf[NUMFMT_BUF] = "";
	const char *k = buf;
	size_t kl;

	switch (sc->type) {
	case YAML_SCALAR_STR:
	case YAML_SCALAR_MERGE:
		k = text;
		kl = len;
		goto copy;
	case YAML_SCALAR_BOOL: k = sc->b ? "true" : "false"; break;
	case YAML_SCALAR_INT: snprintf(buf, sizeof(buf), "%lld", sc->i); break;
	case YAML_SCALAR_UINT:
		return FAIL(p, *mark, SLUICE_EINVALID,
		            "unsupported map key of type uint64: %llu does not fit in int64",
		            sc->u);
	case YAML_SCALAR_FLOAT:
		numfmt_go_g(buf, sizeof(buf), sc->f, 32);
		if (strcmp(buf, "+Inf") == 0)
			k = ".inf";
		else if (strcmp(buf, "-Inf") == 0)
			k = "-.inf";
		else if (strcmp(buf, "NaN") == 0)
			k = ".nan";
		break;
	case YAML_SCALAR_NULL:
		return FAIL(p, *mark, SLUICE_EINVALID, "a null mapping key is not supported");
	}
	kl = strlen(k);
copy:
	*out = malloc(kl + 1);
	if (!*out)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	memcpy(*out, k, kl);
	(*out)[kl] = '\0';
	*outlen = kl;
	return 0;
}

static int key_from_json(struct parser *p, const yaml_mark_t *mark, const json_t *v, char **out,
                         size_t *outlen)
{
	struct yaml_scalar sc;

	memset(&sc, 0, sizeof(sc));
	switch (json_typeof(v)) {
	case JSON_STRING:
		return key_from_scalar(p, mark, &sc, json_string_value(v), json_string_length(v),
		                       out, outlen);
	case JSON_INTEGER:
		sc.type = YAML_SCALAR_INT;
		sc.i = json_integer_value(v);
		break;
	case JSON_REAL:
		sc.type = YAML_SCALAR_FLOAT;
		sc.f = json_real_value(v);
		break;
	case JSON_TRUE:
		sc.type = YAML_SCALAR_BOOL;
		sc.b = 1;
		break;
	case JSON_FALSE: sc.type = YAML_SCALAR_BOOL; break;
	case JSON_NULL: sc.type = YAML_SCALAR_NULL; break;
	default: return FAIL(p, *mark, SLUICE_EINVALID, "a mapping key must be a scalar");
	}
	return key_from_scalar(p, mark, &sc, NULL, 0, out, outlen);
}

/* ---- values ----------------------------------------------------------- */

static int is_binary_tag(const char *tag)
{
	return tag &&
	       (strcmp(tag, "tag:yaml.org,2002:binary") == 0 || strcmp(tag, "!!binary") == 0);
}

/*
 * kubectl prints a float in Go's shortest form and reads that text back: as
 * an integer when it is one and fits int64, else as a float. So 1e3 becomes
 * 1000, and 2^62 becomes 4611686018427388000, exactly as kubectl shows them.
 */
static json_t *number_from_double(double f)
{
	char text[NUMFMT_BUF], *end;
	long long i;

	numfmt_json(text, sizeof(text), f);
	if (!strpbrk(text, ".eIN")) {
		errno = 0;
		i = strtoll(text, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(i);
	}
	return json_real(f);
}

static int scalar_to_json(struct parser *p, const yaml_event_t *ev, const struct yaml_scalar *sc,
                          json_t **out)
{
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	switch (sc->type) {
	case YAML_SCALAR_STR:
	case YAML_SCALAR_MERGE:
		if (is_binary_tag((const char *)ev->data.scalar.tag)) {
			char *bin = NULL;
			size_t bl = 0;
			int rc = base64_decode(&bin, &bl, text, len, BASE64_STRICT);
			if (rc == SLUICE_ENOMEM)
				return rc;
			if (rc < 0)
				return FAIL(p, ev->start_mark, SLUICE_EINVALID,
				            "!!binary value contains invalid base64 data");
			*out = utf8_json_string(bin, bl);
			free(bin);
		} else {
			*out = utf8_json_string(text, len);
		}
		break;
	case YAML_SCALAR_NULL: *out = json_null(); break;
	case YAML_SCALAR_BOOL: *out = json_boolean(sc->b); break;
	case YAML_SCALAR_INT: *out = json_integer(sc->i); break;
	case YAML_SCALAR_UINT: *out = json_real((double)sc->u); break;
	case YAML_SCALAR_FLOAT:
		if (!isfinite(sc->f))
			return FAIL(p, ev->start_mark, SLUICE_EINVALID,
			            "%.*s: infinity and NaN cannot be represented in JSON",
			            (int)(len > 32 ? 32 : len), text);
		*out = number_from_double(sc->f);
		break;
	}
	if (!*out)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	return 0;
}

/* ---- tree building ---------------------------------------------------- */

static int merge_one(struct parser *p, struct frame *f, const yaml_mark_t *mark, json_t *src)
{
	const char *k;
	json_t *v;
	size_t kl;
	void *it;

	if (!json_is_object(src))
		return FAIL(p, *mark, SLUICE_EINVALID,
		            "map merge requires map or sequence of maps as the value");
	for (it = json_object_iter(src); it; it = json_object_iter_next(src, it)) {
		k = json_object_iter_key(it);
		kl = json_object_iter_key_len(it);
		v = json_object_iter_value(it);
		if (json_object_setn(f->val, k, kl, v) < 0)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	return 0;
}

static int do_merge(struct parser *p, struct frame *f, const yaml_mark_t *mark, json_t *v)
{
	int rc;

	if (!f->explicit_keys) {
		f->explicit_keys = json_object();
		if (!f->explicit_keys)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		const char *k;
		size_t kl;
		void *it;
		for (it = json_object_iter(f->val); it; it = json_object_iter_next(f->val, it)) {
			k = json_object_iter_key(it);
			kl = json_object_iter_key_len(it);
			json_object_setn_new(f->explicit_keys, k, kl, json_true());
		}
	}
	if (json_is_array(v)) {
		/* Earlier maps take precedence: apply the last first. */
		for (size_t i = json_array_size(v); i-- > 0;)
			if ((rc = merge_one(p, f, mark, json_array_get(v, i))) < 0)
				return rc;
		return 0;
	}
	return merge_one(p, f, mark, v);
}

/*
 * Hand a finished value `v` (a new reference, always consumed) to the
 * collection being built, or make it the document's root. For a mapping
 * waiting for a key, `sc`/`text` describe the scalar that produced it (NULL for
 * aliases and collections).
 */
static int attach(struct parser *p, const yaml_mark_t *mark, json_t *v, size_t nodes, size_t bytes,
                  unsigned height, const struct yaml_scalar *sc, const char *text, size_t len)
{
	struct frame *f;
	int rc = 0;

	if (p->depth == 0) {
		p->root = v;
		return 0;
	}
	f = &p->stack[p->depth - 1];
	f->nodes += nodes;
	f->bytes += bytes;
	if (height > f->height)
		f->height = height;
	if (json_is_array(f->val)) {
		if (json_array_append_new(f->val, v) < 0)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		return 0;
	}
	if (!f->have_key) {
		if (sc && sc->type == YAML_SCALAR_MERGE) {
			f->key_merge = 1;
		} else {
			rc = sc ? key_from_scalar(p, mark, sc, text, len, &f->key, &f->keylen)
			        : key_from_json(p, mark, v, &f->key, &f->keylen);
		}
		json_decref(v);
		if (rc == 0)
			f->have_key = 1;
		return rc;
	}
	f->have_key = 0;
	if (f->key_merge) {
		f->key_merge = 0;
		rc = do_merge(p, f, mark, v);
		json_decref(v);
		return rc;
	}
	if (f->explicit_keys ? json_object_getn(f->explicit_keys, f->key, f->keylen) != NULL
	                     : json_object_getn(f->val, f->key, f->keylen) != NULL) {
		rc = FAIL(p, *mark, SLUICE_EINVALID, "mapping key \"%.*s\" already defined",
		          (int)(f->keylen > 64 ? 64 : f->keylen), f->key);
		json_decref(v);
		goto out;
	}
	if (f->explicit_keys)
		json_object_setn_new(f->explicit_keys, f->key, f->keylen, json_true());
	if (json_object_setn_new(f->val, f->key, f->keylen, v) < 0)
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
out:
	free(f->key);
	f->key = NULL;
	return rc;
}

static void frame_dispose(struct frame *f)
{
	json_decref(f->val);
	json_decref(f->explicit_keys);
	free(f->anchor);
	free(f->key);
	memset(f, 0, sizeof(*f));
}

/* Byte offset in the chunk of a libyaml mark (whose index counts characters). */
static size_t mark_offset(struct parser *p, const yaml_mark_t *m)
{
	size_t off, col = 0;

	if (!p->line_off) {
		size_t n = 1;
		for (size_t i = 0; i < p->chunk_len; i++)
			n += p->chunk[i] == '\n';
		p->line_off = malloc(n * sizeof(*p->line_off));
		if (!p->line_off)
			return SIZE_MAX;
		p->line_off[0] = 0;
		p->nlines = 1;
		for (size_t i = 0; i < p->chunk_len; i++)
			if (p->chunk[i] == '\n')
				p->line_off[p->nlines++] = i + 1;
	}
	if (m->line >= p->nlines)
		return SIZE_MAX;
	off = p->line_off[m->line];
	while (off < p->chunk_len && col < m->column) {
		off++;
		while (off < p->chunk_len && ((unsigned char)p->chunk[off] & 0xC0) == 0x80)
			off++;
		col++;
	}
	return off;
}

/*
 * kubectl's YAML scanner predates the "\/" escape that libyaml accepts in
 * double-quoted scalars; reject it as kubectl does.
 */
static int check_escapes(struct parser *p, const yaml_event_t *ev)
{
	size_t off;

	if (ev->data.scalar.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
	    !memchr(ev->data.scalar.value, '/', ev->data.scalar.length))
		return 0;
	off = mark_offset(p, &ev->start_mark);
	if (off == SIZE_MAX || off >= p->chunk_len || p->chunk[off] != '"')
		return 0;
	for (off++; off < p->chunk_len && p->chunk[off] != '"'; off++) {
		if (p->chunk[off] != '\\')
			continue;
		if (off + 1 < p->chunk_len && p->chunk[off + 1] == '/')
			return FAIL(
			    p, ev->start_mark, SLUICE_EINVALID,
			    "found unknown escape character '\\/' in a double-quoted scalar");
		off++;
	}
	return 0;
}

static int on_scalar(struct parser *p, const yaml_event_t *ev)
{
	struct yaml_scalar sc;
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	int plain = ev->data.scalar.plain_implicit; /* untagged and unquoted */
	const struct frame *top = p->depth ? &p->stack[p->depth - 1] : NULL;
	int is_key = top && json_is_object(top->val) && !top->have_key;
	json_t *v = NULL;
	int rc;

	if (len > SLUICE_YAML_MAX_SCALAR_BYTES)
		return FAIL(p, ev->start_mark, SLUICE_ELIMIT,
		            "scalar of %zu bytes exceeds the limit of %u", len,
		            SLUICE_YAML_MAX_SCALAR_BYTES);
	if ((rc = check_escapes(p, ev)) < 0)
		return rc;
	if ((rc = yaml_resolve(&sc, tag, text, len, plain)) < 0)
		return FAIL(p, ev->start_mark, rc, "%s", sluice_error_last());
	if ((rc = charge(p, &ev->start_mark, 1, len)) < 0)
		return rc;
	/* A mapping key becomes a string directly: .inf is a fine key, a bad value. */
	if (is_key && !ev->data.scalar.anchor)
		return attach(p, &ev->start_mark, NULL, 1, len, 0, &sc, text, len);
	if ((rc = scalar_to_json(p, ev, &sc, &v)) < 0)
		return rc;
	if (ev->data.scalar.anchor &&
	    (rc = anchor_define(p, &ev->start_mark, (const char *)ev->data.scalar.anchor, v, 1, len,
	                        0)) < 0) {
		json_decref(v);
		return rc;
	}
	return attach(p, &ev->start_mark, v, 1, len, 0, &sc, text, len);
}

static int on_alias(struct parser *p, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct anchor *a = anchor_find(p, name);
	int rc;

	if (!a)
		return FAIL(p, ev->start_mark, SLUICE_EINVALID, "unknown anchor '%s' referenced",
		            name);
	if (p->depth + a->height > SLUICE_YAML_MAX_DEPTH)
		return FAIL(p, ev->start_mark, SLUICE_ELIMIT, "nesting deeper than %d levels",
		            SLUICE_YAML_MAX_DEPTH);
	if ((rc = charge(p, &ev->start_mark, a->nodes, a->bytes)) < 0)
		return rc;
	p->used_alias = 1;
	return attach(p, &ev->start_mark, json_incref(a->val), a->nodes, a->bytes, a->height, NULL,
	              NULL, 0);
}

static int on_start(struct parser *p, const yaml_event_t *ev, int is_map)
{
	struct frame *f;
	const yaml_char_t *anchor =
	    is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	int rc;

	if (p->depth >= SLUICE_YAML_MAX_DEPTH)
		return FAIL(p, ev->start_mark, SLUICE_ELIMIT, "nesting deeper than %d levels",
		            SLUICE_YAML_MAX_DEPTH);
	if ((rc = charge(p, &ev->start_mark, 1, 0)) < 0)
		return rc;
	f = &p->stack[p->depth];
	memset(f, 0, sizeof(*f));
	f->val = is_map ? json_object() : json_array();
	if (!f->val)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	f->nodes = 1;
	f->line = LINE(p, ev->start_mark);
	if (anchor && !(f->anchor = strdup((const char *)anchor))) {
		frame_dispose(f);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	p->depth++;
	if (postab_put(&p->s->pos, f->val, f->line) < 0)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	return 0;
}

static int on_end(struct parser *p, const yaml_event_t *ev)
{
	struct frame f = p->stack[--p->depth];
	json_t *v = f.val;
	size_t nodes = f.nodes, bytes = f.bytes;
	unsigned height = f.height + 1;
	int rc = 0;

	memset(&p->stack[p->depth], 0, sizeof(p->stack[p->depth]));
	f.val = NULL;
	if (f.anchor)
		rc = anchor_define(p, &ev->start_mark, f.anchor, v, nodes, bytes, height);
	frame_dispose(&f);
	if (rc < 0) {
		json_decref(v);
		return rc;
	}
	return attach(p, &ev->start_mark, v, nodes, bytes, height, NULL, NULL, 0);
}

/* Copy the containers of a tree that shares subtrees through aliases, keeping
 * their line numbers. Scalars are immutable and stay shared. */
static json_t *unshare(struct postab *pos, json_t *v)
{
	json_t *c = NULL;

	if (json_is_object(v)) {
		const char *k;
		size_t kl;
		void *it;
		c = json_object();
		for (it = json_object_iter(v); c && it; it = json_object_iter_next(v, it)) {
			k = json_object_iter_key(it);
			kl = json_object_iter_key_len(it);
			json_t *cv = unshare(pos, json_object_iter_value(it));
			if (!cv || json_object_setn_new(c, k, kl, cv) < 0) {
				json_decref(c);
				return NULL;
			}
		}
	} else if (json_is_array(v)) {
		c = json_array();
		for (size_t i = 0; c && i < json_array_size(v); i++) {
			json_t *cv = unshare(pos, json_array_get(v, i));
			if (!cv || json_array_append_new(c, cv) < 0) {
				json_decref(c);
				return NULL;
			}
		}
	} else {
		return json_incref(v);
	}
	if (c && postab_put(pos, c, postab_get(pos, v)) < 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static int stream_add(struct yaml_stream *s, json_t *root, unsigned line)
{
	if (s->count == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4;
		struct yaml_doc *nd = realloc(s->docs, ncap * sizeof(*nd));
		if (!nd)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		s->docs = nd;
		s->cap = ncap;
	}
	s->docs[s->count].root = root;
	s->docs[s->count].line = line;
	s->count++;
	return 0;
}

static int on_doc_end(struct parser *p, const yaml_event_t *ev)
{
	json_t *root = p->root;
	int rc;

	p->root = NULL;
	if (p->s->count >= SLUICE_YAML_MAX_DOCS) {
		json_decref(root);
		return FAIL(p, ev->start_mark, SLUICE_ELIMIT, "more than %d documents in one file",
		            SLUICE_YAML_MAX_DOCS);
	}
	if (root && p->used_alias) {
		json_t *copy = unshare(&p->s->pos, root);
		json_decref(root);
		if (!copy)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		root = copy;
	}
	if (!root)
		root = json_null();
	anchors_clear(p);
	p->used_alias = 0;
	p->doc_nodes = 0;
	p->doc_bytes = 0;
	if ((rc = stream_add(p->s, root, p->root_line)) < 0)
		json_decref(root);
	return rc;
}

/* Parse the first YAML document of one chunk, as go-yaml's Unmarshal does:
 * anything after it in the same chunk is not read. */
static int parse_chunk(struct parser *p, const char *data, size_t len)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	int rc = 0, done = 0, docs = 0;

	if (!yaml_parser_initialize(&yp))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	p->chunk = data;
	p->chunk_len = len;
	free(p->line_off);
	p->line_off = NULL;
	yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&yp, &ev)) {
			const char *ctx = yp.context;
			rc = fail_at(p, LINE(p, yp.problem_mark), yp.problem_mark.column + 1,
			             SLUICE_EINVALID, "%s%s%s%s",
			             yp.problem ? yp.problem : "syntax error", ctx ? " (" : "",
			             ctx ? ctx : "", ctx ? ")" : "");
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = 1; break;
		case YAML_DOCUMENT_START_EVENT: p->root_line = LINE(p, ev.end_mark); break;
		case YAML_DOCUMENT_END_EVENT:
			rc = on_doc_end(p, &ev);
			docs++;
			done = 1;
			break;
		case YAML_SCALAR_EVENT:
			if (p->depth == 0)
				p->root_line = LINE(p, ev.start_mark);
			rc = on_scalar(p, &ev);
			break;
		case YAML_ALIAS_EVENT: rc = on_alias(p, &ev); break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (p->depth == 0)
				p->root_line = LINE(p, ev.start_mark);
			rc = on_start(p, &ev, ev.type == YAML_MAPPING_START_EVENT);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: rc = on_end(p, &ev); break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	if (rc == 0 && docs == 0) {
		/* only comments or blanks: an empty document */
		json_t *null = json_null();
		p->root_line = (unsigned)p->line_base + 1;
		if (p->s->count >= SLUICE_YAML_MAX_DOCS)
			return fail_at(p, p->root_line, 1, SLUICE_ELIMIT,
			               "more than %d documents in one file", SLUICE_YAML_MAX_DOCS);
		rc = stream_add(p->s, null, p->root_line);
	}
	return rc;
}

/*
 * Split a stream into documents as Kubernetes' YAMLReader does, by lines: a
 * line that starts with "---" ends the document before it, and may be
 * followed only by spaces or a comment. A leading separator stays in its
 * document. Each piece is then parsed on its own.
 */
static int parse_yaml(struct parser *p, const char *data, size_t len)
{
	size_t chunk = 0, pos = 0, line = 1, chunk_line = 1;
	int rc;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;

		if (end - pos >= 3 && memcmp(data + pos, "---", 3) == 0) {
			size_t i = pos + 3;
			while (i < end && strchr(" \t\r\n\v\f", data[i]))
				i++;
			if (i < end && data[i] != '#') {
				size_t rest = end - i;
				while (rest > 0 && strchr(" \t\r\n", data[i + rest - 1]))
					rest--;
				return fail_at(p, line, 1, SLUICE_EINVALID,
				               "invalid YAML document separator: %.*s",
				               (int)(rest > 60 ? 60 : rest), data + i);
			}
			if (pos > chunk) {
				p->line_base = chunk_line - 1;
				if ((rc = parse_chunk(p, data + chunk, pos - chunk)) < 0)
					return rc;
				chunk = end; /* the separator belongs to neither */
				chunk_line = line + 1;
			}
		}
		pos = end;
		line++;
	}
	if (len > chunk) {
		p->line_base = chunk_line - 1;
		return parse_chunk(p, data + chunk, len - chunk);
	}
	return 0;
}

/* ---- JSON streams ----------------------------------------------------- */

static unsigned line_at(const char *data, size_t off)
{
	unsigned line = 1;
	for (size_t i = 0; i < off; i++)
		if (data[i] == '\n')
			line++;
	return line;
}

/* JSON values keep their numbers as written (kubectl's JSON reading does the
 * same); only the depth is checked. */
static int check_depth(struct parser *p, const json_t *v, unsigned depth, unsigned line)
{
	if (depth > SLUICE_YAML_MAX_DEPTH)
		return fail_at(p, line, 1, SLUICE_ELIMIT, "nesting deeper than %d levels",
		               SLUICE_YAML_MAX_DEPTH);
	if (json_is_object(v)) {
		const char *k;
		json_t *c;
		json_object_foreach((json_t *)v, k, c)
		{
			if (check_depth(p, c, depth + 1, line) < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if (check_depth(p, json_array_get(v, i), depth + 1, line) < 0)
				return -1;
	}
	return 0;
}

/*
 * A copy of JSON text in which every integer literal beyond int64 gets ".0",
 * so that jansson reads it as a float, as kubectl does, while every other
 * integer stays exact. NULL when out of memory.
 */
static char *widen_big_ints(const char *data, size_t len, size_t *outlen)
{
	char *out = malloc(len * 3 + 1);
	size_t o = 0;
	int in_str = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		char c = data[i];
		if (in_str) {
			out[o++] = c;
			if (c == '\\' && i + 1 < len)
				out[o++] = data[++i];
			else if (c == '"')
				in_str = 0;
			i++;
			continue;
		}
		if (c == '"') {
			in_str = 1;
			out[o++] = data[i++];
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			size_t j = i + (c == '-'), digits = 0;
			int plain = 1;
			while (j < len && strchr("0123456789.eE+-", data[j])) {
				if (!(data[j] >= '0' && data[j] <= '9'))
					plain = 0;
				else
					digits++;
				j++;
			}
			memcpy(out + o, data + i, j - i);
			o += j - i;
			if (plain && digits >= 19) {
				char num[64];
				if (j - i < sizeof(num)) {
					memcpy(num, data + i, j - i);
					num[j - i] = '\0';
					errno = 0;
					(void)strtoll(num, NULL, 10);
				}
				if (j - i >= sizeof(num) || errno == ERANGE) {
					out[o++] = '.';
					out[o++] = '0';
				}
			}
			i = j;
			continue;
		}
		out[o++] = data[i++];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static int parse_json(struct parser *p, const char *data, size_t len, size_t off)
{
	const int flags = JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
	char *wide = NULL;
	unsigned base = 0; /* lines before `data` once it is the widened copy */
	int rc = 0;

	while (off < len) {
		json_error_t err;
		json_t *v;
		unsigned line = base + line_at(data, off);

		v = json_loadb(data + off, len - off, flags, &err);
		if (!v && !wide && strstr(err.text, "too big integer")) {
			/* kubectl reads integers beyond int64 as floats: read the rest
			 * of the stream from a copy where they are written as floats */
			size_t wl = 0;
			if (!(wide = widen_big_ints(data + off, len - off, &wl))) {
				rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
				break;
			}
			base = line - 1;
			data = wide;
			len = wl;
			off = 0;
			continue;
		}
		if (!v) {
			unsigned l = line + (unsigned)(err.line > 0 ? err.line - 1 : 0);
			rc = fail_at(p, l, err.column > 0 ? (size_t)err.column : 1, SLUICE_EINVALID,
			             "%s", err.text);
			break;
		}
		if (p->s->count >= SLUICE_YAML_MAX_DOCS) {
			json_decref(v);
			rc = fail_at(p, line, 1, SLUICE_ELIMIT,
			             "more than %d documents in one file", SLUICE_YAML_MAX_DOCS);
			break;
		}
		if (check_depth(p, v, 1, line) < 0) {
			json_decref(v);
			rc = sluice_error_last_code();
			break;
		}
		if (postab_put(&p->s->pos, v, line) < 0 || stream_add(p->s, v, line) < 0) {
			json_decref(v);
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			break;
		}
		off += err.position;
		while (off < len && strchr(" \t\r\n", data[off]))
			off++;
	}
	free(wide);
	return rc;
}

/* ---- public ----------------------------------------------------------- */

int yaml_stream_parse(struct yaml_stream **out, const char *data, size_t len, const char *name)
{
	struct parser *p = NULL;
	struct yaml_stream *s = NULL;
	size_t off = 0;
	int rc;

	*out = NULL;
	if (len > SLUICE_YAML_MAX_STREAM_BYTES)
		return sluice_error_set(SLUICE_ELIMIT,
		                        "%s:1:1: file of %zu bytes exceeds the limit of %u", name,
		                        len, SLUICE_YAML_MAX_STREAM_BYTES);
	s = calloc(1, sizeof(*s));
	p = calloc(1, sizeof(*p));
	if (!s || !p) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto fail;
	}
	p->name = name;
	p->s = s;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		off = 3;
	while (off < len && strchr(" \t\r\n", data[off]))
		off++;
	if (off < len && data[off] == '{') {
		rc = parse_json(p, data, len, off);
	} else if (len >= 2 && ((unsigned char)data[0] == 0xFF || (unsigned char)data[0] == 0xFE)) {
		rc = parse_yaml(p, data, len); /* UTF-16: libyaml converts it */
	} else {
		/* Invalid UTF-8 becomes U+FFFD, as kubectl shows it; libyaml
		 * would refuse the file. One leading BOM is dropped here; libyaml
		 * drops another at the start of each document. */
		size_t bom = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
		char *clean = NULL;
		size_t cl = 0;
		int u = utf8_sanitize(&clean, &cl, data + bom, len - bom);
		if (u < 0) {
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto fail;
		}
		rc = u ? parse_yaml(p, clean, cl) : parse_yaml(p, data + bom, len - bom);
		free(clean);
	}
	if (rc < 0)
		goto fail;
	*out = s;
	s = NULL;
fail:
	if (p) {
		while (p->depth > 0)
			frame_dispose(&p->stack[--p->depth]);
		json_decref(p->root);
		anchors_clear(p);
		free(p->anchors);
		free(p->line_off);
		free(p);
	}
	yaml_stream_free(s);
	return rc;
}

void yaml_stream_free(struct yaml_stream *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++)
		json_decref(s->docs[i].root);
	free(s->docs);
	postab_dispose(&s->pos);
	free(s);
}

size_t yaml_stream_count(const struct yaml_stream *s)
{
	return s ? s->count : 0;
}

json_t *yaml_stream_doc(const struct yaml_stream *s, size_t i)
{
	return s && i < s->count ? s->docs[i].root : NULL;
}

unsigned yaml_stream_doc_line(const struct yaml_stream *s, size_t i)
{
	return s && i < s->count ? s->docs[i].line : 0;
}

unsigned yaml_stream_line_of(const struct yaml_stream *s, const json_t *v)
{
	return s ? postab_get(&s->pos, v) : 0;
}
