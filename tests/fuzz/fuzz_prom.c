/*
 * libFuzzer target: Prometheus answers and PromQL templates, both untrusted
 * (the answer comes from the network, template values from a repository and
 * the cluster).
 *
 * The whole input is parsed as an API answer (with a status taken from its
 * first byte, and as a 200), then reduced to one value. It is then split at
 * the first NUL into a template and a value: the template is rendered with
 * the value as every variable, and the value alone is rendered into a label
 * matcher, where it must stay inside its literal: the output is checked to be
 * the matcher around an escaped value that unescapes back to the value.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undo promql_escape() for a "..." literal body; abort on anything it would
 * not have written (an unescaped quote, a raw control byte, a bad escape). */
static size_t unescape(char *out, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch < 0x20 || ch == 0x7f)
			abort(); /* would end the literal or break the line */
		if (ch != '\\') {
			out[o++] = (char)ch;
			continue;
		}
		if (++i >= len)
			abort(); /* a trailing backslash would escape the closing quote */
		switch (s[i]) {
		case '\\': out[o++] = '\\'; break;
		case '"': out[o++] = '"'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'x':
			if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				abort();
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
			break;
		default: abort();
		}
	}
	return o;
}

static void check_matcher(const char *value, size_t vlen)
{
	static const char pre[] = "m{a=\"", post[] = "\"}";
	json_t *vars = json_object();
	char *out = NULL, *back;
	size_t olen, blen;

	json_object_set_new(vars, "v", json_stringn_nocheck(value, vlen));
	if (promql_render(&out, "m{a=\"{{v}}\"}", vars) == 0) {
		olen = strlen(out);
		if (olen < sizeof(pre) - 1 + sizeof(post) - 1 ||
		    memcmp(out, pre, sizeof(pre) - 1) != 0 ||
		    memcmp(out + olen - (sizeof(post) - 1), post, sizeof(post) - 1) != 0)
			abort();
		back = malloc(olen + 1);
		if (!back)
			abort();
		blen = unescape(back, out + sizeof(pre) - 1,
		                olen - (sizeof(pre) - 1) - (sizeof(post) - 1));
		if (blen != vlen || memcmp(back, value, vlen) != 0)
			abort(); /* the literal does not hold the value */
		free(back);
		free(out);
	} else if (vlen <= PROMQL_VALUE_MAX) {
		abort(); /* any value that fits goes inside quotes */
	}
	json_decref(vars);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = {200, 400, 422, 503, 500, 404, 401, 302};
	const char *text = (const char *)data;
	struct prom_result *r = NULL;
	enum prom_class cls;
	char metric[64], *out = NULL, *copy;
	double v;

	for (int k = 0; k < 2; k++) {
		long status = k == 0 ? 200 : statuses[size ? data[0] % 8 : 0];
		if (prom_parse_response(&r, status, text, size, "fuzz") == 0) {
			if (prom_reduce(&cls, &v, r) == 0) {
				if (cls == PROM_VALUE && !isfinite(v))
					abort();
				if (cls == PROM_NAN && !isnan(v))
					abort();
				if (cls == PROM_INF && !isinf(v))
					abort();
			} else if (r->type != PROM_MATRIX) {
				abort();
			}
			prom_result_free(r);
			r = NULL;
		}
	}

	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *tmpl = copy, *value = "";
	size_t vlen = 0;
	if (strlen(copy) < size) {
		value = copy + strlen(copy) + 1;
		vlen = size - strlen(copy) - 1;
	}
	json_t *vars = json_object();
	json_object_set_new(vars, "v", json_stringn_nocheck(value, vlen));
	json_object_set_new(vars, "version", json_stringn_nocheck(value, vlen));
	json_object_set_new(vars, "interval", json_stringn_nocheck(value, vlen));
	if (promql_render(&out, tmpl, vars) == 0) {
		if (strlen(out) > PROMQL_OUTPUT_MAX)
			abort();
		free(out);
	}
	json_decref(vars);
	prom_query_metric(metric, sizeof(metric), tmpl);
	check_matcher(value, vlen);
	free(copy);
	return 0;
}
