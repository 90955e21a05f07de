/*
 * jansson values to YAML text with libyaml's emitter, keys sorted (as kubectl
 * prints), and every string that would read back as another type quoted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/numfmt.h"
#include "sluice/yaml.h"

#define YAML_EMIT_MAX_BYTES (256u << 20)

struct key {
	const char *s;
	size_t len;
	json_t *v;
};

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return buf_add(data, buffer, size) == 0;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
	if (!yaml_emitter_emit(em, ev))
		return sluice_error_set(SLUICE_ERROR, "yaml: %s",
		                        em->problem ? em->problem : "emitter error");
	return 0;
}

static int scalar(yaml_emitter_t *em, const char *s, size_t len, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	return emit(em, &ev);
}

static int string(yaml_emitter_t *em, const char *s, size_t len)
{
	struct yaml_scalar sc;
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;

	if (memchr(s, '\n', len))
		style = YAML_LITERAL_SCALAR_STYLE;
	else if (yaml_resolve(&sc, NULL, s, len, 1) == 0 && sc.type != YAML_SCALAR_STR)
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	return scalar(em, s, len, style);
}

static int node(yaml_emitter_t *em, const json_t *v, unsigned depth)
{
	yaml_event_t ev;
	char num[NUMFMT_BUF];
	int rc = 0;

	if (depth > SLUICE_YAML_MAX_DEPTH * 4)
		return sluice_error_set(SLUICE_ELIMIT, "yaml: value nested too deeply to print");
	switch (json_typeof(v)) {
	case JSON_NULL: return scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE);
	case JSON_TRUE: return scalar(em, "true", 4, YAML_PLAIN_SCALAR_STYLE);
	case JSON_FALSE: return scalar(em, "false", 5, YAML_PLAIN_SCALAR_STYLE);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
	case JSON_REAL:
		if (!isfinite(json_real_value(v)))
			return sluice_error_set(SLUICE_EINVALID,
			                        "yaml: NaN or infinity in a value");
		numfmt_json(num, sizeof(num), json_real_value(v));
		return scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
	case JSON_STRING: return string(em, json_string_value(v), json_string_length(v));
	case JSON_ARRAY:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_ANY_SEQUENCE_STYLE);
		if (json_array_size(v) == 0)
			ev.data.sequence_start.style = YAML_FLOW_SEQUENCE_STYLE;
		if ((rc = emit(em, &ev)) < 0)
			return rc;
		for (size_t i = 0; rc == 0 && i < json_array_size(v); i++)
			rc = node(em, json_array_get(v, i), depth + 1);
		if (rc < 0)
			return rc;
		yaml_sequence_end_event_initialize(&ev);
		return emit(em, &ev);
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		struct key *keys = n ? malloc(n * sizeof(*keys)) : NULL;
		void *it;
		if (n && !keys)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		for (it = json_object_iter((json_t *)v); it && i < n;
		     it = json_object_iter_next((json_t *)v, it), i++) {
			keys[i].s = json_object_iter_key(it);
			keys[i].len = json_object_iter_key_len(it);
			keys[i].v = json_object_iter_value(it);
		}
		if (i > 1)
			qsort(keys, i, sizeof(*keys), jsonfmt_keycmp);
		yaml_mapping_start_event_initialize(
		    &ev, NULL, NULL, 1, n ? YAML_ANY_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE);
		rc = emit(em, &ev);
		for (size_t k = 0; rc == 0 && k < i; k++) {
			rc = string(em, keys[k].s, keys[k].len);
			if (rc == 0)
				rc = node(em, keys[k].v, depth + 1);
		}
		free(keys);
		if (rc < 0)
			return rc;
		yaml_mapping_end_event_initialize(&ev);
		return emit(em, &ev);
	}
	}
	return sluice_error_set(SLUICE_EINVALID, "yaml: unknown value type");
}

int yaml_emit(char **out, const json_t *v)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	struct buf b;
	int rc;

	*out = NULL;
	buf_init(&b, YAML_EMIT_MAX_BYTES);
	if (!yaml_emitter_initialize(&em))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	yaml_emitter_set_output(&em, write_handler, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_indent(&em, 2);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	rc = emit(&em, &ev);
	if (rc == 0) {
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
		rc = emit(&em, &ev);
	}
	if (rc == 0)
		rc = node(&em, v, 0);
	if (rc == 0) {
		yaml_document_end_event_initialize(&ev, 1);
		rc = emit(&em, &ev);
	}
	if (rc == 0) {
		yaml_stream_end_event_initialize(&ev);
		rc = emit(&em, &ev);
	}
	if (rc == 0 && !yaml_emitter_flush(&em))
		rc = sluice_error_set(SLUICE_ERROR, "yaml: flush failed");
	yaml_emitter_delete(&em);
	if (rc < 0) {
		buf_dispose(&b);
		return rc;
	}
	*out = buf_detach(&b);
	return 0;
}
