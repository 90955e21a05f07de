/* libFuzzer target: YAML/JSON streams to JSON, and the JSON and YAML writers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/jsonfmt.h"
#include "sluice/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yaml_stream *s = NULL;

	if (yaml_stream_parse(&s, (const char *)data, size, "fuzz.yaml") < 0)
		return 0;
	for (size_t i = 0; i < yaml_stream_count(s); i++) {
		json_t *doc = yaml_stream_doc(s, i);
		char *out = NULL;
		(void)yaml_stream_line_of(s, doc);
		if (jsonfmt_dump(&out, doc, 0) == 0)
			free(out);
		out = NULL;
		if (yaml_emit(&out, doc) == 0) {
			/* what we print must read back */
			struct yaml_stream *again = NULL;
			if (yaml_stream_parse(&again, out, strlen(out), "emitted.yaml") < 0)
				abort();
			yaml_stream_free(again);
			free(out);
		}
	}
	yaml_stream_free(s);
	return 0;
}
