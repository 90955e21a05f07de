/*
 * The manifest loader: a folder of YAML and JSON files (a Git checkout) into
 * a validated, ordered list of Kubernetes objects.
 *
 * - Paths are walked in byte order, so the result never depends on the file
 *   system. Files ending in .yaml, .yml or .json are read; hidden files and
 *   folders (".git") are skipped.
 * - Multi-document files are split, empty documents skipped, and `kind: List`
 *   (any kind ending in "List" with an `items` array) is flattened.
 * - Every object needs apiVersion, kind and metadata.name. The same
 *   group/kind/namespace/name twice is an error naming both places.
 * - A symlink that is absolute or leads out of the root is rejected; symlinks
 *   inside the root are followed once (loops are cut).
 * - Every problem in every file is collected, each as "path:line: message"
 *   (YAML syntax errors as "path:line:column: message").
 */
#ifndef SLUICE_MANIFEST_H
#define SLUICE_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

#include "sluice/diag.h"

/* Most manifest files read from one tree. */
#define SLUICE_MANIFEST_MAX_FILES 10000
/* Most bytes read from one tree, all files together. */
#define SLUICE_MANIFEST_MAX_TOTAL_BYTES (128u << 20)
/* Deepest folder nesting walked. */
#define SLUICE_MANIFEST_MAX_DIR_DEPTH 64
/* Most objects in one tree. */
#define SLUICE_MANIFEST_MAX_OBJECTS 100000
/*
 * Most fields of an object manifest_field_line() looks among. An object with
 * more keys keeps its shallowest levels whole, so that a deeper field falls
 * back to the line of its closest kept parent.
 */
#define SLUICE_MANIFEST_MAX_FIELD_LINES 4096
/* Most bytes of key text manifest_field_line() looks among per object. */
#define SLUICE_MANIFEST_MAX_FIELD_KEY_BYTES (64u << 10)
/* Longest key recorded; a longer key (and what is under it) has no line. */
#define SLUICE_MANIFEST_MAX_FIELD_KEY 1024

struct manifest_obj {
	json_t *obj;   /* owned; the object as written (aliases expanded) */
	char *path;    /* the file, as the user named it: ROOT/sub/file.yaml */
	unsigned line; /* 1-based line where the object starts */
	char *group;   /* "" for the core group */
	char *version;
	char *kind;
	char *namespace; /* "" when the object names none */
	char *name;
	/* The YAML document the object was read from, read again only by
	 * manifest_field_line(): borrowed from the set's texts; NULL when there
	 * is none (JSON and UTF-16 files). */
	const char *doc;
	size_t doc_len;
	unsigned doc_line; /* lines of the file before doc */
	long doc_item;     /* the object is the document's items[doc_item]; -1: the document */
};

struct manifest_set {
	struct manifest_obj *objs;
	size_t count;
	size_t cap;
	size_t files;  /* manifest files read */
	size_t bytes;  /* bytes read */
	json_t *index; /* identity -> position in objs, for duplicates */
	char **texts;  /* owned; the YAML files objects' doc point into */
	size_t ntexts, texts_cap;
};

/* An empty set; free with manifest_set_free(). NULL when out of memory. */
struct manifest_set *manifest_set_new(void);
void manifest_set_free(struct manifest_set *s);

/*
 * Load every manifest under `root` (a folder, or a single file) into a new
 * set. Problems are appended to `errs`. Returns 0 with *out set when there
 * were none; SLUICE_EINVALID (some problems in `errs`, *out NULL) otherwise;
 * or another negative code for a system error, with sluice_error_last() set.
 */
int manifest_load(struct manifest_set **out, const char *root, struct diag *errs);

/*
 * The same, naming files in messages as if `root` were called `shown`
 * (e.g. a checkout in a cache folder shown as the repository path "apps").
 */
int manifest_load_as(struct manifest_set **out, const char *root, const char *shown,
                     struct diag *errs);

/*
 * Parse one file's bytes, named `path` in messages, and add its objects to
 * `set`, checking duplicates against what the set already holds. When
 * objects come from YAML the set keeps a copy of the bytes, which
 * manifest_field_line() reads. Returns 0, or SLUICE_EINVALID with the
 * problems appended to `errs`, or SLUICE_ENOMEM.
 */
int manifest_load_buffer(struct manifest_set *set, const char *data, size_t len, const char *path,
                         struct diag *errs);

/* "group/Kind namespace/name" for messages, e.g. "apps/Deployment prod/web". */
int manifest_obj_describe(char *buf, size_t n, const struct manifest_obj *o);

/*
 * The 1-based line of the field at `api_field_path` in the file `m` was read
 * from: the line of its key, or of its item for a list element. The path is
 * written as the Kubernetes API prints it: dotted keys and [N] indexes
 * ("spec.template.spec.containers[0].image"), [KEY] for a map key holding
 * dots or slashes ("metadata.annotations[example.com/team]"); also the
 * server-side apply form (".spec.containers[name=\"web\"].image", map keys
 * after dots). A field without a known line (missing, merged in by "<<",
 * beyond SLUICE_MANIFEST_MAX_FIELD_LINES) gives the line of its closest
 * enclosing field that has one, and finally m->line. So the result is never 0
 * when m->line is known; 0 only when `m` is NULL. Lines count in the text
 * m->line counts in (for a kustomization, its rendered output).
 *
 * Reads the object's YAML document again (kept by its set, which must still
 * be alive), in time and memory bounded by the document's size, and keeps
 * nothing: reads `m` only, safe from several threads at once. Out of memory
 * gives m->line.
 */
unsigned manifest_field_line(const struct manifest_obj *m, const char *api_field_path);

/*
 * The line of the first field an API error message names, e.g. of
 * "spec.replicas" in `Deployment.apps "web" is invalid: [spec.replicas:
 * Invalid value: -1: ..., metadata.name: ...]`, as manifest_field_line()
 * gives it. A message that names no field of the object gives m->line.
 */
unsigned manifest_message_line(const struct manifest_obj *m, const char *api_message);

/* The kustomization file in `root` ("kustomization.yaml", ...), or NULL. */
const char *manifest_kustomization(const char *root);

/*
 * Render `root` with `kubectl kustomize` (at most `timeout_ms`, 64 MiB of
 * output) and load the result; problems name "SHOWN/kustomization.yaml".
 * Without kubectl on the PATH this is an error that says so. Returns 0 with
 * *out set, or SLUICE_EINVALID with the problems in `errs`.
 */
int manifest_kustomize(struct manifest_set **out, const char *root, const char *shown,
                       struct diag *errs, long timeout_ms);

enum manifest_format { MANIFEST_YAML, MANIFEST_JSON };

/*
 * Print a set as `sluice render` does: YAML documents separated by "---", or
 * JSON as kubectl prints it (one object alone; several as a v1 List). The
 * text is newly allocated in *out (free()). Returns 0 or a negative error.
 */
int manifest_set_dump(char **out, const struct manifest_set *s, enum manifest_format fmt);

#endif
