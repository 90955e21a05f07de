#include <stdlib.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"
#include "sluice/manifest.h"
#include "sluice/yaml.h"

static int dump_json(char **out, const struct manifest_set *s)
{
	json_t *list = NULL, *items = NULL;
	int rc;

	if (s->count == 1) {
		rc = jsonfmt_dump(out, s->objs[0].obj, 0);
		goto done;
	}
	list = json_pack("{s:s, s:s, s:{s:s}, s:[]}", "apiVersion", "v1", "kind", "List",
	                 "metadata", "resourceVersion", "", "items");
	if (!list)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	items = json_object_get(list, "items");
	for (size_t i = 0; i < s->count; i++)
		if (json_array_append(items, s->objs[i].obj) < 0) {
			json_decref(list);
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		}
	rc = jsonfmt_dump(out, list, 0);
	json_decref(list);
done:
	if (rc == 0) {
		size_t n = strlen(*out);
		char *nl = realloc(*out, n + 2);
		if (!nl) {
			free(*out);
			*out = NULL;
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		}
		nl[n] = '\n';
		nl[n + 1] = '\0';
		*out = nl;
	}
	return rc;
}

static int dump_yaml(char **out, const struct manifest_set *s)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, 1u << 30);
	for (size_t i = 0; rc == 0 && i < s->count; i++) {
		char *doc = NULL;
		if (i)
			rc = buf_adds(&b, "---\n");
		if (rc == 0)
			rc = yaml_emit(&doc, s->objs[i].obj);
		if (rc == 0)
			rc = buf_adds(&b, doc);
		free(doc);
	}
	if (rc < 0) {
		buf_dispose(&b);
		return rc;
	}
	*out = buf_detach(&b);
	return *out ? 0 : sluice_error_set(SLUICE_ENOMEM, "out of memory");
}

int manifest_set_dump(char **out, const struct manifest_set *s, enum manifest_format fmt)
{
	*out = NULL;
	return fmt == MANIFEST_JSON ? dump_json(out, s) : dump_yaml(out, s);
}
