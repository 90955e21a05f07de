/*
 * libFuzzer target: the manifest loader over a small tree of files.
 *
 * The input is a list of records, each starting with a line "@@ NAME" (a
 * file) or "@@ NAME -> TARGET" (a symlink), followed by the file's content.
 * Names are reduced to [a-z0-9._/-] and written under a fresh folder, which
 * the loader then walks: sorting, hidden folders, symlinks in and out of the
 * root, multi-document files, Lists and duplicates across files.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/diag.h"
#include "sluice/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void clean_name(char *dst, size_t n, const char *src, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < n; i++) {
		char c = src[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '/' || c == '-')
			dst[o++] = c;
	}
	dst[o] = '\0';
}

static void make_parents(const char *root, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0700);
			*p = '/';
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char invalid[] =
	    "x \"y\" is invalid: spec.template.spec.containers[0].image: Required value";
	char root[] = "/tmp/sluice-fuzz-XXXXXX";
	const char *s = (const char *)data, *end = s + size;
	struct manifest_set *set = NULL;
	struct diag errs;
	int files = 0;

	if (size > 1 << 20 || !mkdtemp(root))
		return 0;
	while (s < end && files < 16) {
		const char *hdr = memmem(s, (size_t)(end - s), "@@ ", 3);
		if (!hdr)
			break;
		const char *eol = memchr(hdr, '\n', (size_t)(end - hdr));
		if (!eol)
			break;
		const char *next = memmem(eol, (size_t)(end - eol), "\n@@ ", 4);
		const char *body_end = next ? next + 1 : end;
		char name[128], target[128], path[512];
		const char *arrow = memmem(hdr + 3, (size_t)(eol - hdr - 3), " -> ", 4);
		clean_name(name, sizeof(name), hdr + 3, (size_t)((arrow ? arrow : eol) - hdr - 3));
		if (name[0] && name[0] != '/' && !strstr(name, "..")) {
			make_parents(root, name);
			snprintf(path, sizeof(path), "%s/%s", root, name);
			if (arrow) {
				clean_name(target, sizeof(target), arrow + 4,
				           (size_t)(eol - arrow - 4));
				/* targets may climb out of the root: that must be refused */
				if (symlink(target, path) < 0 && errno != EEXIST)
					break;
			} else {
				FILE *f = fopen(path, "wb");
				if (f) {
					fwrite(eol + 1, 1, (size_t)(body_end - eol - 1), f);
					fclose(f);
				}
			}
			files++;
		}
		s = body_end;
	}
	diag_init(&errs);
	if (manifest_load(&set, root, &errs) == 0) {
		char *out = NULL;
		/* field lines read each object's document again */
		for (size_t i = 0; i < set->count; i++)
			if (manifest_message_line(&set->objs[i], invalid) < set->objs[i].line)
				abort();
		if (manifest_set_dump(&out, set, MANIFEST_JSON) == 0)
			free(out);
		out = NULL;
		if (manifest_set_dump(&out, set, MANIFEST_YAML) == 0)
			free(out);
	}
	manifest_set_free(set);
	diag_dispose(&errs);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
