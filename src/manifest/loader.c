#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lines.h"
#include "sluice/error.h"
#include "sluice/manifest.h"
#include "sluice/yaml.h"

struct walk {
	struct manifest_set *set;
	struct diag *errs;
	char root_real[PATH_MAX];
	size_t nvisited;
	struct {
		dev_t dev;
		ino_t ino;
	} visited[SLUICE_MANIFEST_MAX_DIR_DEPTH * 4];
	int fatal; /* a system error that stops the walk */
};

struct manifest_set *manifest_set_new(void)
{
	struct manifest_set *s = calloc(1, sizeof(*s));

	if (s && !(s->index = json_object())) {
		free(s);
		return NULL;
	}
	return s;
}

static void obj_dispose(struct manifest_obj *o)
{
	json_decref(o->obj);
	free(o->path);
	free(o->group);
	free(o->version);
	free(o->kind);
	free(o->namespace);
	free(o->name);
}

void manifest_set_free(struct manifest_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++)
		obj_dispose(&s->objs[i]);
	free(s->objs);
	json_decref(s->index);
	for (size_t i = 0; i < s->ntexts; i++)
		free(s->texts[i]);
	free(s->texts);
	free(s);
}

int manifest_obj_describe(char *buf, size_t n, const struct manifest_obj *o)
{
	return snprintf(buf, n, "%s%s%s %s%s%s", o->group, *o->group ? "/" : "", o->kind,
	                o->namespace, *o->namespace ? "/" : "", o->name);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a sequence";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

/* The string at `key` of `o`: 1 when a non-empty string, 0 when missing or
 * empty, -1 when of another type. */
static int get_str(const json_t *o, const char *key, const char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return **out ? 1 : 0;
}

static int check_field(struct diag *errs, const char *path, unsigned line, const json_t *o,
                       const char *key, const char *shown, const char **out)
{
	int r = get_str(o, key, out);

	if (r == 1)
		return 0;
	if (r == 0)
		diag_add(errs, "%s:%u: %s is required", path, line, shown);
	else
		diag_add(errs, "%s:%u: %s must be a string, not %s", path, line, shown,
		         type_name(json_object_get(o, key)));
	return -1;
}

static unsigned line_or(const struct yaml_stream *ys, const json_t *v, unsigned fallback)
{
	unsigned l = yaml_stream_line_of(ys, v);
	return l ? l : fallback;
}

/* Validate one object and append it (taking a reference to `v`). */
static int add_object(struct manifest_set *set, struct diag *errs, const char *path,
                      const struct yaml_stream *ys, json_t *v, unsigned line)
{
	const char *api = NULL, *kind = NULL, *name = NULL, *ns = NULL;
	json_t *meta;
	struct manifest_obj *o;
	const char *slash;
	char *key = NULL;
	int bad = 0;

	if (!json_is_object(v)) {
		diag_add(errs, "%s:%u: a manifest must be a mapping, not %s", path, line,
		         type_name(v));
		return -1;
	}
	bad |= check_field(errs, path, line, v, "apiVersion", "apiVersion", &api);
	bad |= check_field(errs, path, line, v, "kind", "kind", &kind);
	meta = json_object_get(v, "metadata");
	if (!meta || json_is_null(meta)) {
		diag_add(errs, "%s:%u: metadata.name is required", path, line);
		bad = -1;
	} else if (!json_is_object(meta)) {
		diag_add(errs, "%s:%u: metadata must be a mapping, not %s", path, line,
		         type_name(meta));
		bad = -1;
	} else {
		unsigned ml = line_or(ys, meta, line);
		bad |= check_field(errs, path, ml, meta, "name", "metadata.name", &name);
		if (get_str(meta, "namespace", &ns) < 0) {
			diag_add(errs, "%s:%u: metadata.namespace must be a string, not %s", path,
			         ml, type_name(json_object_get(meta, "namespace")));
			bad = -1;
		}
	}
	if (api) {
		slash = strchr(api, '/');
		if (slash == api || (slash && (!slash[1] || strchr(slash + 1, '/')))) {
			diag_add(errs, "%s:%u: apiVersion \"%s\" is not GROUP/VERSION or VERSION",
			         path, line, api);
			bad = -1;
		}
	}
	if (bad)
		return -1;
	if (set->count >= SLUICE_MANIFEST_MAX_OBJECTS) {
		diag_add(errs, "%s:%u: more than %d objects in one tree", path, line,
		         SLUICE_MANIFEST_MAX_OBJECTS);
		return -1;
	}
	if (set->count == set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 32;
		struct manifest_obj *no = realloc(set->objs, ncap * sizeof(*no));
		if (!no)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		set->objs = no;
		set->cap = ncap;
	}
	o = &set->objs[set->count];
	memset(o, 0, sizeof(*o));
	slash = strchr(api, '/');
	o->group = slash ? strndup(api, (size_t)(slash - api)) : strdup("");
	o->version = strdup(slash ? slash + 1 : api);
	o->kind = strdup(kind);
	o->namespace = strdup(ns ? ns : "");
	o->name = strdup(name);
	o->path = strdup(path);
	o->line = line;
	if (!o->group || !o->version || !o->kind || !o->namespace || !o->name || !o->path ||
	    asprintf(&key, "%s\x1f%s\x1f%s\x1f%s", o->group, o->kind, o->namespace, o->name) < 0) {
		obj_dispose(o);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	json_t *prev = json_object_get(set->index, key);
	if (prev) {
		const struct manifest_obj *p = &set->objs[json_integer_value(prev)];
		char what[512];
		manifest_obj_describe(what, sizeof(what), o);
		diag_add(errs, "%s:%u: duplicate object %s: also defined at %s:%u", path, line,
		         what, p->path, p->line);
		obj_dispose(o);
		free(key);
		return -1;
	}
	json_object_set_new(set->index, key, json_integer((json_int_t)set->count));
	free(key);
	o->obj = json_incref(v);
	set->count++;
	return 0;
}

static int is_list(const json_t *v)
{
	const char *kind = NULL;
	size_t kl;

	if (!json_is_object(v) || get_str(v, "kind", &kind) != 1)
		return 0;
	kl = strlen(kind);
	return kl >= 4 && strcmp(kind + kl - 4, "List") == 0 &&
	       json_is_array(json_object_get(v, "items"));
}

/*
 * Keep a file's bytes in the set: `own` when not NULL (an allocation holding
 * `data`, which this takes), else a copy. *text is what the set keeps.
 */
static int keep_text(struct manifest_set *set, char **text, const char *data, size_t len,
                     char **own)
{
	*text = NULL;
	if (set->ntexts == set->texts_cap) {
		size_t ncap = set->texts_cap ? set->texts_cap * 2 : 16;
		char **nt = realloc(set->texts, ncap * sizeof(*nt));
		if (!nt)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		set->texts = nt;
		set->texts_cap = ncap;
	}
	if (*own) {
		*text = *own;
		*own = NULL;
	} else if ((*text = malloc(len + 1)) != NULL) {
		memcpy(*text, data, len);
		(*text)[len] = '\0';
	} else {
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	set->texts[set->ntexts++] = *text;
	return 0;
}

/* Point the object just added at its document in `text`. */
static void set_doc(struct manifest_set *set, const char *text, const struct lines_doc *d,
                    long item)
{
	struct manifest_obj *o = &set->objs[set->count - 1];

	o->doc = text + d->off;
	o->doc_len = d->len;
	o->doc_line = d->line_base;
	o->doc_item = item;
}

/*
 * manifest_load_buffer(), taking `own` on every path: NULL, or the
 * allocation holding `data`, which the set may keep instead of a copy.
 */
static int load_buffer(struct manifest_set *set, const char *data, size_t len, const char *path,
                       struct diag *errs, char *own)
{
	struct yaml_stream *ys = NULL;
	struct lines_doc *docs = NULL;
	size_t ndocs = 0, first = set->count, before = diag_total(errs);
	char *text = NULL;
	int rc;

	rc = yaml_stream_parse(&ys, data, len, path);
	if (rc == SLUICE_ENOMEM)
		goto out;
	if (rc < 0) {
		diag_add(errs, "%s", sluice_error_last());
		rc = SLUICE_EINVALID;
		goto out;
	}
	set->files++;
	set->bytes += len;
	/* Field lines are read from the text when asked, not now: keep it. */
	if ((rc = lines_split(&docs, &ndocs, data, len)) < 0)
		goto out;
	if (ndocs && ndocs == yaml_stream_count(ys) &&
	    (rc = keep_text(set, &text, data, len, &own)) < 0)
		goto out;
	for (size_t i = 0; i < yaml_stream_count(ys); i++) {
		json_t *doc = yaml_stream_doc(ys, i);
		unsigned line = line_or(ys, doc, yaml_stream_doc_line(ys, i));

		if (json_is_null(doc))
			continue; /* an empty document */
		if (is_list(doc)) {
			json_t *items = json_object_get(doc, "items");
			for (size_t k = 0; k < json_array_size(items); k++) {
				json_t *it = json_array_get(items, k);
				if (json_is_null(it))
					continue;
				rc = add_object(set, errs, path, ys, it, line_or(ys, it, line));
				if (rc == 0 && text)
					set_doc(set, text, &docs[i], (long)k);
				if (rc == SLUICE_ENOMEM)
					goto out;
			}
			continue;
		}
		rc = add_object(set, errs, path, ys, doc, line);
		if (rc == 0 && text)
			set_doc(set, text, &docs[i], -1);
		if (rc == SLUICE_ENOMEM)
			goto out;
	}
	rc = diag_total(errs) > before ? SLUICE_EINVALID : 0;
out:
	if (text && set->count == first) {
		set->ntexts--; /* no object points into it */
		free(text);
	}
	free(own);
	free(docs);
	yaml_stream_free(ys);
	return rc;
}

int manifest_load_buffer(struct manifest_set *set, const char *data, size_t len, const char *path,
                         struct diag *errs)
{
	return load_buffer(set, data, len, path, errs, NULL);
}

static int has_manifest_ext(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int load_file(struct walk *w, const char *real, const char *shown, const struct stat *st)
{
	char *data = NULL;
	ssize_t got;
	size_t len = 0;
	int fd;

	if (w->set->files >= SLUICE_MANIFEST_MAX_FILES) {
		diag_add(w->errs, "%s:1: more than %d manifest files in one tree", shown,
		         SLUICE_MANIFEST_MAX_FILES);
		return -1;
	}
	if ((size_t)st->st_size > SLUICE_YAML_MAX_STREAM_BYTES) {
		diag_add(w->errs, "%s:1: file of %lld bytes exceeds the limit of %u bytes", shown,
		         (long long)st->st_size, SLUICE_YAML_MAX_STREAM_BYTES);
		return -1;
	}
	if (w->set->bytes + (size_t)st->st_size > SLUICE_MANIFEST_MAX_TOTAL_BYTES) {
		diag_add(w->errs, "%s:1: the tree holds more than %u bytes of manifests", shown,
		         SLUICE_MANIFEST_MAX_TOTAL_BYTES);
		return -1;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		diag_add(w->errs, "%s:1: cannot open: %s", shown, strerror(errno));
		return -1;
	}
	data = malloc((size_t)st->st_size + 1);
	if (!data) {
		close(fd);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	/* Read at most the size we checked, even if the file grew meanwhile. */
	while (len < (size_t)st->st_size &&
	       (got = read(fd, data + len, (size_t)st->st_size - len)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			diag_add(w->errs, "%s:1: cannot read: %s", shown, strerror(errno));
			close(fd);
			free(data);
			return -1;
		}
		len += (size_t)got;
	}
	close(fd);
	data[len] = '\0';
	return load_buffer(w->set, data, len, shown, w->errs, data);
}

/* Is `real` (an absolute, resolved path) inside the root? */
static int inside_root(const struct walk *w, const char *real)
{
	size_t n = strlen(w->root_real);

	if (strcmp(w->root_real, "/") == 0)
		return 1;
	return strncmp(real, w->root_real, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, const char *real, const char *shown, unsigned depth);

/* One directory entry: `real` is its path on disk, `shown` the path for messages. */
static int walk_entry(struct walk *w, const char *real, const char *shown, const char *name,
                      unsigned depth)
{
	struct stat st;
	char target[PATH_MAX];
	char resolved[PATH_MAX];
	const char *use = real;

	if (lstat(real, &st) < 0) {
		diag_add(w->errs, "%s:1: cannot stat: %s", shown, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		ssize_t tl = readlink(real, target, sizeof(target) - 1);
		if (tl < 0) {
			diag_add(w->errs, "%s:1: cannot read symlink: %s", shown, strerror(errno));
			return -1;
		}
		target[tl] = '\0';
		if (target[0] == '/') {
			diag_add(w->errs, "%s:1: symlink to an absolute path (%s) is not allowed",
			         shown, target);
			return -1;
		}
		if (!realpath(real, resolved)) {
			if (!has_manifest_ext(name))
				return 0; /* a dangling link we would not read anyway */
			diag_add(w->errs, "%s:1: broken symlink (-> %s)", shown, target);
			return -1;
		}
		if (!inside_root(w, resolved)) {
			diag_add(w->errs, "%s:1: symlink leads out of the root (-> %s)", shown,
			         target);
			return -1;
		}
		if (stat(resolved, &st) < 0) {
			diag_add(w->errs, "%s:1: cannot stat: %s", shown, strerror(errno));
			return -1;
		}
		use = resolved;
	}
	if (S_ISDIR(st.st_mode))
		return walk_dir(w, use, shown, depth + 1);
	if (S_ISREG(st.st_mode) && has_manifest_ext(name))
		return load_file(w, use, shown, &st);
	return 0;
}

static int walk_dir(struct walk *w, const char *real, const char *shown, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (depth > SLUICE_MANIFEST_MAX_DIR_DEPTH) {
		diag_add(w->errs, "%s:1: folders nested deeper than %d levels", shown,
		         SLUICE_MANIFEST_MAX_DIR_DEPTH);
		return -1;
	}
	if (stat(real, &st) < 0) {
		diag_add(w->errs, "%s:1: cannot stat: %s", shown, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < w->nvisited; i++)
		if (w->visited[i].dev == st.st_dev && w->visited[i].ino == st.st_ino)
			return 0; /* reached again through a symlink: read once */
	if (w->nvisited < sizeof(w->visited) / sizeof(w->visited[0])) {
		w->visited[w->nvisited].dev = st.st_dev;
		w->visited[w->nvisited].ino = st.st_ino;
		w->nvisited++;
	}
	d = opendir(real);
	if (!d) {
		diag_add(w->errs, "%s:1: cannot open folder: %s", shown, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue; /* ".", "..", ".git" and every hidden name */
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nn = realloc(names, ncap * sizeof(*nn));
			if (!nn) {
				rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto out;
		}
		n++;
		if (n > SLUICE_MANIFEST_MAX_FILES * 4) {
			diag_add(w->errs, "%s:1: folder holds too many entries", shown);
			rc = -1;
			goto out;
		}
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && !w->fatal; i++) {
		char *r = NULL, *s = NULL;
		int erc;
		if (asprintf(&r, "%s/%s", real, names[i]) < 0 ||
		    asprintf(&s, "%s%s%s", shown, shown[strlen(shown) - 1] == '/' ? "" : "/",
		             names[i]) < 0) {
			free(r);
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto out;
		}
		erc = walk_entry(w, r, s, names[i], depth);
		free(r);
		free(s);
		if (erc == SLUICE_ENOMEM) {
			w->fatal = 1;
			rc = erc;
		}
	}
out:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int manifest_load(struct manifest_set **out, const char *root, struct diag *errs)
{
	return manifest_load_as(out, root, root, errs);
}

int manifest_load_as(struct manifest_set **out, const char *root, const char *shown,
                     struct diag *errs)
{
	struct walk *w = NULL;
	struct stat st;
	size_t before = diag_total(errs);
	int rc = 0;

	*out = NULL;
	if (stat(root, &st) < 0)
		return sluice_error_set(errno == ENOENT ? SLUICE_ENOTFOUND : SLUICE_EIO, "%s: %s",
		                        root, strerror(errno));
	w = calloc(1, sizeof(*w));
	if (!w || !(w->set = manifest_set_new())) {
		free(w);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	w->errs = errs;
	if (!realpath(root, w->root_real)) {
		rc = sluice_error_set(SLUICE_EIO, "%s: %s", root, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = walk_dir(w, w->root_real, shown, 0);
	} else if (S_ISREG(st.st_mode)) {
		rc = load_file(w, w->root_real, shown, &st);
	} else {
		rc = sluice_error_set(SLUICE_EINVALID, "%s: not a file or folder", root);
		goto out;
	}
	if (rc == SLUICE_ENOMEM)
		goto out;
	if (diag_total(errs) > before) {
		rc = SLUICE_EINVALID;
		goto out;
	}
	rc = 0;
	*out = w->set;
	w->set = NULL;
out:
	if (w)
		manifest_set_free(w->set);
	free(w);
	return rc;
}
