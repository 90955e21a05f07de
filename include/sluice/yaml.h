/*
 * YAML to JSON, as Kubernetes reads YAML.
 *
 * A YAML stream (one file) is parsed with libyaml into jansson values with the
 * YAML 1.1 scalar rules of the YAML library kubectl uses: booleans include
 * yes/no/on/off/y/n, integers include 0x, 0o, 0b and leading-zero octal,
 * floats include .inf and .nan, quoted scalars stay strings, anchors, aliases
 * and "<<" merge keys are expanded, and non-string mapping keys become strings.
 * A stream whose first character is '{' is read as a stream of JSON values.
 *
 * Hostile input is bounded by the limits below. Every rejection is one line
 * naming the place: "NAME:LINE:COLUMN: message".
 */
#ifndef SLUICE_YAML_H
#define SLUICE_YAML_H

#include <stddef.h>

#include <jansson.h>

/* Largest stream (file) accepted, in bytes. */
#define SLUICE_YAML_MAX_STREAM_BYTES (8u << 20)
/* Largest single scalar, in bytes. */
#define SLUICE_YAML_MAX_SCALAR_BYTES (4u << 20)
/* Deepest nesting of mappings and sequences, counting expanded aliases. */
#define SLUICE_YAML_MAX_DEPTH 256
/* Most values in one document once every alias is expanded (billion laughs). */
#define SLUICE_YAML_MAX_DOC_NODES (1u << 18)
/* Most scalar bytes in one document once every alias is expanded. */
#define SLUICE_YAML_MAX_DOC_BYTES (32u << 20)
/* Most documents in one stream. */
#define SLUICE_YAML_MAX_DOCS 10000
/* Most anchors defined in one document. */
#define SLUICE_YAML_MAX_ANCHORS 10000

/* What a scalar resolves to. */
enum yaml_scalar_type {
	YAML_SCALAR_STR,
	YAML_SCALAR_NULL,
	YAML_SCALAR_BOOL,
	YAML_SCALAR_INT,   /* fits int64: .i */
	YAML_SCALAR_UINT,  /* above INT64_MAX, fits uint64: .u */
	YAML_SCALAR_FLOAT, /* .f, may be NaN or infinite */
	YAML_SCALAR_MERGE, /* the plain "<<" merge key */
};

struct yaml_scalar {
	enum yaml_scalar_type type;
	int b;
	long long i;
	unsigned long long u;
	double f;
};

/*
 * Resolve a scalar's text as Kubernetes' YAML library does. `tag` is the
 * scalar's tag ("" or NULL for none; "!!str" or "tag:yaml.org,2002:str"
 * forms); `plain` is nonzero for an unquoted scalar. Returns 0, or
 * SLUICE_EINVALID when an explicit tag cannot hold the text (e.g. "!!int abc").
 */
int yaml_resolve(struct yaml_scalar *out, const char *tag, const char *text, size_t len, int plain);

struct yaml_stream;

/*
 * Parse `len` bytes of `data` (a YAML or JSON stream) named `name` in
 * messages. On success *out holds every document, including empty ones (a
 * JSON null root). On failure returns SLUICE_EINVALID or SLUICE_ELIMIT with
 * sluice_error_last() set to "name:line:column: message", or SLUICE_ENOMEM.
 */
int yaml_stream_parse(struct yaml_stream **out, const char *data, size_t len, const char *name);

/* Frees the stream and every document it still owns. NULL is fine. */
void yaml_stream_free(struct yaml_stream *s);

size_t yaml_stream_count(const struct yaml_stream *s);

/* Document i's root (borrowed; the stream owns it). */
json_t *yaml_stream_doc(const struct yaml_stream *s, size_t i);

/*
 * 1-based line of a mapping or sequence in the stream (where it starts), or 0
 * when unknown (scalars, or values added after parsing). For a document's root
 * this is where its content starts.
 */
unsigned yaml_stream_line_of(const struct yaml_stream *s, const json_t *v);

/* 1-based line where document i starts. */
unsigned yaml_stream_doc_line(const struct yaml_stream *s, size_t i);

/*
 * Write `v` as YAML to a newly allocated string (*out, free()), keys sorted,
 * strings quoted whenever they would otherwise read back as another type, so
 * that yaml_stream_parse(yaml_emit(v)) == v. Returns 0 or a negative error.
 */
int yaml_emit(char **out, const json_t *v);

#endif
