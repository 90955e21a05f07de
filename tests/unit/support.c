#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

const char *test_data_dir(void)
{
	const char *d = getenv("SLUICE_TEST_DATA");
	return d && *d ? d : "tests/data";
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			if (len)
				*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

json_t *test_load_json(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_ALLOW_NUL, &err);

	if (!v && strstr(err.text, "too big"))
		v = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
	if (!v)
		fprintf(stderr, "test_load_json: %d:%d: %s\n", err.line, err.column, err.text);
	return v;
}

static int same(const json_t *a, const json_t *b, char *where, size_t n, size_t at)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_object(a)) {
		const char *k;
		json_t *va;
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)a, k, va)
		{
			json_t *vb = json_object_get(b, k);
			if (!vb)
				return 0;
			snprintf(where + at, n - at, ".%s", k);
			if (!same(va, vb, where, n, strlen(where)))
				return 0;
			where[at] = '\0';
		}
		return 1;
	}
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++) {
			snprintf(where + at, n - at, "[%zu]", i);
			if (!same(json_array_get(a, i), json_array_get(b, i), where, n,
			          strlen(where)))
				return 0;
			where[at] = '\0';
		}
		return 1;
	}
	return json_equal(a, b);
}

int test_json_same(const json_t *a, const json_t *b, char *where, size_t n)
{
	where[0] = '\0';
	return same(a, b, where, n, 0);
}

char *test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = NULL;

	if (asprintf(&p, "%s/sluice-test-XXXXXX", base && *base ? base : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int test_rm_rf(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int test_write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "wb");
	size_t n = strlen(content);

	if (!f)
		return -1;
	if (fwrite(content, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

int test_sandbox_up(char *dir, size_t n)
{
	char cmd[8192];
	const char *base = getenv("SLUICE_SANDBOX_DIR");

	if (base && *base) {
		snprintf(dir, n, "%s", base);
	} else {
		char *t = test_tmpdir();
		if (!t)
			return -1;
		snprintf(dir, n, "%s", t);
		free(t);
	}
	/* always a fresh control plane: down first, then up (which wipes etcd) */
	snprintf(
	    cmd, sizeof(cmd),
	    "tests/sandbox/sandbox down '%s' >/dev/null 2>&1; tests/sandbox/sandbox up '%s' >&2",
	    dir, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "the sandbox did not come up in %s\n", dir);
		return -1;
	}
	return 0;
}

int test_sandbox_down(const char *dir)
{
	char cmd[8192];
	int rc;

	snprintf(cmd, sizeof(cmd), "tests/sandbox/sandbox down '%s' >&2", dir);
	rc = system(cmd);
	if (!getenv("SLUICE_SANDBOX_DIR"))
		test_rm_rf(dir);
	return rc == 0 ? 0 : -1;
}
