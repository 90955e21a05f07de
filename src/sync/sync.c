/* One sync: prepare, stage Namespaces and CRDs, validate, apply in order, prune. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/sync.h"

/* Apply order by kind; anything unlisted (custom resources, Ingress, ...) last. */
static const char *const order[] = {
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ServiceAccount",
    "LimitRange",
    "ResourceQuota",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "ConfigMap",
    "Secret",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
    "HorizontalPodAutoscaler",
};
#define NORDER (sizeof(order) / sizeof(order[0]))

struct item {
	const struct manifest_obj *src;
	json_t *obj; /* prepared copy */
	char *key;   /* group|Kind|namespace|name */
	int rank;
	int needs_crd; /* its kind comes from a CRD of this same set */
};

void sync_result_init(struct sync_result *r)
{
	memset(r, 0, sizeof(*r));
	diag_init(&r->errs);
}

void sync_result_dispose(struct sync_result *r)
{
	if (!r)
		return;
	json_decref(r->inventory);
	diag_dispose(&r->errs);
	memset(r, 0, sizeof(*r));
}

static int rank_of(const char *kind)
{
	for (size_t i = 0; i < NORDER; i++)
		if (strcmp(order[i], kind) == 0)
			return (int)i;
	return (int)NORDER;
}

static int by_rank(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcmp(x->key, y->key);
}

static void describe(char *buf, size_t n, const struct item *it)
{
	const struct manifest_obj *m = it->src;
	const char *ns =
	    json_string_value(json_object_get(json_object_get(it->obj, "metadata"), "namespace"));
	snprintf(buf, n, "%s:%u: %s %s%s%s", m->path, m->line, m->kind, ns ? ns : "", ns ? "/" : "",
	         m->name);
}

/* Is kind (group) defined by a CRD in the set? */
static int defined_in_set(const struct manifest_set *set, const char *group, const char *kind)
{
	for (size_t i = 0; i < set->count; i++) {
		const json_t *o = set->objs[i].obj;
		if (strcmp(set->objs[i].kind, "CustomResourceDefinition") != 0)
			continue;
		const json_t *spec = json_object_get(o, "spec");
		const char *g = json_string_value(json_object_get(spec, "group"));
		const char *k =
		    json_string_value(json_object_get(json_object_get(spec, "names"), "kind"));
		if (g && k && strcmp(g, group) == 0 && strcmp(k, kind) == 0)
			return 1;
	}
	return 0;
}

/* Namespace and tracking label; the key. Returns 0, or -1 after reporting. */
static int finish_item(struct item *it, const struct kube_resource *r, const struct sync_opts *o)
{
	json_t *meta = json_object_get(it->obj, "metadata");
	json_t *labels = json_object_get(meta, "labels");
	const char *ns;

	if (r && r->namespaced && !json_string_value(json_object_get(meta, "namespace")))
		json_object_set_new(meta, "namespace",
		                    json_string(o->namespace ? o->namespace : "default"));
	else if (r && !r->namespaced)
		json_object_del(meta, "namespace");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	json_object_set_new(labels, SYNC_LABEL_APP, json_string(o->app));
	ns = json_string_value(json_object_get(meta, "namespace"));
	free(it->key);
	if (asprintf(&it->key, "%s|%s|%s|%s", it->src->group, it->src->kind, ns ? ns : "",
	             it->src->name) < 0)
		it->key = NULL;
	return it->key ? 0 : sluice_error_set(SLUICE_ENOMEM, "out of memory");
}

static int prepare(struct item *items, struct kube_client *c, const struct manifest_set *set,
                   const struct sync_opts *o, struct diag *errs)
{
	int bad = 0;

	for (size_t i = 0; i < set->count; i++) {
		struct item *it = &items[i];
		const struct kube_resource *r = NULL;
		const char *api =
		    json_string_value(json_object_get(set->objs[i].obj, "apiVersion"));
		int rc;

		it->src = &set->objs[i];
		it->obj = json_deep_copy(set->objs[i].obj);
		it->rank = rank_of(set->objs[i].kind);
		if (!it->obj)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		rc = kube_resolve(c, &r, api, set->objs[i].kind);
		if (rc == SLUICE_ENOTFOUND &&
		    defined_in_set(set, set->objs[i].group, set->objs[i].kind)) {
			it->needs_crd = 1;
			rc = 0;
		}
		if (rc == SLUICE_ENOTFOUND) {
			diag_add(errs,
			         "%s:%u: unknown kind %s in %s: the server has no such resource",
			         it->src->path, it->src->line, it->src->kind, api);
			bad = 1;
			continue;
		}
		if (rc < 0)
			return rc;
		if ((rc = finish_item(it, r, o)) < 0)
			return rc;
	}
	return bad ? SLUICE_EINVALID : 0;
}

/* Apply (or dry-run) items[lo..hi) at once; report each failure. */
static int apply_range(struct kube_client *c, struct item *items, size_t lo, size_t hi,
                       unsigned flags, struct diag *errs, size_t *applied)
{
	size_t n = hi - lo;
	json_t **objs;
	int *rcs;
	char **msgs;
	int first = 0;

	if (n == 0)
		return 0;
	objs = calloc(n, sizeof(*objs));
	rcs = calloc(n, sizeof(*rcs));
	msgs = calloc(n, sizeof(*msgs));
	if (!objs || !rcs || !msgs) {
		free(objs);
		free(rcs);
		free(msgs);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		objs[i] = items[lo + i].obj;
	kube_apply_many(c, objs, n, "sluice", flags | KUBE_FORCE, rcs, msgs);
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] < 0) {
			char what[1024];
			describe(what, sizeof(what), &items[lo + i]);
			diag_add(errs, "%s: %s", what,
			         msgs[i] ? msgs[i] : sluice_error_name(rcs[i]));
			if (!first)
				first = rcs[i];
		} else if (applied) {
			(*applied)++;
		}
		free(msgs[i]);
	}
	free(objs);
	free(rcs);
	free(msgs);
	return first;
}

static int crd_established(struct kube_client *c, const char *name)
{
	struct kube_ref ref = {"apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL, name};
	json_t *crd = NULL, *cond;
	size_t i;
	int ok = 0;

	if (kube_get(c, &crd, &ref) < 0)
		return 0;
	json_array_foreach(json_object_get(json_object_get(crd, "status"), "conditions"), i, cond)
	{
		const char *t = json_string_value(json_object_get(cond, "type"));
		const char *s = json_string_value(json_object_get(cond, "status"));
		if (t && s && strcmp(t, "Established") == 0 && strcmp(s, "True") == 0)
			ok = 1;
	}
	json_decref(crd);
	return ok;
}

/* Wait for the set's CRDs, then resolve the kinds they define. */
static int await_crds(struct kube_client *c, struct item *items, size_t n,
                      const struct sync_opts *o, struct diag *errs)
{
	long waited = 0, limit = o->crd_timeout_ms > 0 ? o->crd_timeout_ms : 60000;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(items[i].src->kind, "CustomResourceDefinition") != 0)
			continue;
		while (!crd_established(c, items[i].src->name)) {
			if (waited >= limit) {
				diag_add(errs,
				         "%s:%u: CustomResourceDefinition %s not Established after "
				         "%ld s",
				         items[i].src->path, items[i].src->line, items[i].src->name,
				         limit / 1000);
				return SLUICE_ETIMEOUT;
			}
			usleep(200000);
			waited += 200;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct kube_resource *r = NULL;
		if (!items[i].needs_crd)
			continue;
		const char *api = json_string_value(json_object_get(items[i].obj, "apiVersion"));
		int rc;
		while ((rc = kube_resolve(c, &r, api, items[i].src->kind)) == SLUICE_ENOTFOUND &&
		       waited < limit) {
			usleep(250000);
			waited += 250;
		}
		if (rc < 0) {
			diag_add(errs,
			         "%s:%u: kind %s in %s is still unknown after its CRD was applied",
			         items[i].src->path, items[i].src->line, items[i].src->kind, api);
			return rc;
		}
		if ((rc = finish_item(&items[i], r, o)) < 0)
			return rc;
		items[i].needs_crd = 0;
	}
	return 0;
}

static int in_inventory(const json_t *inv, const char *key)
{
	size_t i;
	json_t *v;
	json_array_foreach(inv, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), key) == 0)
			return 1;
	}
	return 0;
}

/* "group|Kind|namespace|name" into its four parts (each < 256 bytes). */
static int split_key(const char *key, char *group, char *kind, char *ns, char *name)
{
	char *parts[4] = {group, kind, ns, name};
	const char *p = key;

	for (int i = 0; i < 4; i++) {
		const char *bar = i < 3 ? strchr(p, '|') : p + strlen(p);
		size_t len;
		if (!bar)
			return -1;
		len = (size_t)(bar - p);
		if (len >= 256)
			return -1;
		memcpy(parts[i], p, len);
		parts[i][len] = '\0';
		p = bar + 1;
	}
	return kind[0] && name[0] ? 0 : -1;
}

int sync_get_live(struct kube_client *c, const char *key, json_t **out, char *api, size_t apin)
{
	char group[256], kind[256], ns[256], name[256], av[512];
	const struct kube_resource *r;
	int rc;

	*out = NULL;
	if (split_key(key, group, kind, ns, name) < 0)
		return sluice_error_set(SLUICE_EINVALID, "sync: malformed inventory key \"%s\"",
		                        key);
	if ((rc = kube_resolve_gk(c, &r, group, kind)) < 0)
		return rc;
	snprintf(av, sizeof(av), "%s%s%s", group, *group ? "/" : "", r->version);
	if (api)
		snprintf(api, apin, "%s", av);
	struct kube_ref ref = {av, kind, ns, name};
	return kube_get(c, out, &ref);
}

static int prune(struct kube_client *c, const json_t *prev, const json_t *now,
                 const struct sync_opts *o, struct diag *errs, size_t *pruned)
{
	size_t i;
	json_t *v;
	int first = 0;

	/* reverse order: workloads before the namespaces holding them */
	for (i = json_array_size(prev); i-- > 0;) {
		char group[256], kind[256], ns[256], name[256];
		json_t *live = NULL;
		v = json_array_get(prev, i);
		if (!json_is_string(v) || in_inventory(now, json_string_value(v)))
			continue;
		if (split_key(json_string_value(v), group, kind, ns, name) < 0)
			continue;
		char api[512];
		if (sync_get_live(c, json_string_value(v), &live, api, sizeof(api)) < 0)
			continue; /* already gone, or its kind is */
		struct kube_ref ref = {api, kind, ns, name};
		const json_t *meta = json_object_get(live, "metadata");
		const char *owner = json_string_value(
		    json_object_get(json_object_get(meta, "labels"), SYNC_LABEL_APP));
		const char *keep = json_string_value(
		    json_object_get(json_object_get(meta, "annotations"), SYNC_ANNOTATION_PRUNE));
		int mine = owner && strcmp(owner, o->app) == 0;
		int kept = keep && strcmp(keep, "disabled") == 0;
		json_decref(live); /* owner and keep were borrowed from it */
		if (!mine || kept)
			continue;
		int rc = kube_delete(c, &ref, "Background", 0);
		if (rc == 0 || rc == SLUICE_ENOTFOUND) {
			(*pruned)++;
			slog(SLOG_INFO, "sync: pruned", "app", o->app, "object",
			     json_string_value(v), NULL);
		} else {
			diag_add(errs, "prune %s %s%s%s: %s", kind, ns, *ns ? "/" : "", name,
			         sluice_error_last());
			if (!first)
				first = rc;
		}
	}
	return first;
}

int sync_run(struct sync_result *r, struct kube_client *c, const struct manifest_set *set,
             const struct sync_opts *o)
{
	struct item *items = NULL;
	size_t n = set->count, stage1 = 0;
	int rc;

	if (!o->app || !*o->app)
		return sluice_error_set(SLUICE_EINVALID, "sync: an app name is required");
	if (n == 0 && !o->allow_empty) {
		diag_add(&r->errs, "the source renders no objects: refusing to prune everything "
		                   "(set allowEmpty to allow it)");
		return SLUICE_EINVALID;
	}
	items = calloc(n ? n : 1, sizeof(*items));
	if (!items)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if ((rc = prepare(items, c, set, o, &r->errs)) < 0)
		goto out;
	qsort(items, n, sizeof(*items), by_rank);
	/* stage 1: Namespaces and CRDs (the rest cannot be validated without them) */
	while (stage1 < n && items[stage1].rank <= 1)
		stage1++;
	if ((rc = apply_range(c, items, 0, stage1, KUBE_DRY_RUN, &r->errs, NULL)) < 0) {
		rc = SLUICE_EINVALID;
		goto out;
	}
	if ((rc = apply_range(c, items, 0, stage1, 0, &r->errs, &r->applied)) < 0)
		goto out;
	if ((rc = await_crds(c, items, n, o, &r->errs)) < 0)
		goto out;
	if (stage1 < n)
		qsort(items + stage1, n - stage1, sizeof(*items), by_rank);
	/* validate everything else before changing anything else */
	if ((rc = apply_range(c, items, stage1, n, KUBE_DRY_RUN, &r->errs, NULL)) < 0) {
		rc = SLUICE_EINVALID;
		goto out;
	}
	/* apply, one kind rank at a time */
	for (size_t lo = stage1; lo < n;) {
		size_t hi = lo;
		while (hi < n && items[hi].rank == items[lo].rank)
			hi++;
		if ((rc = apply_range(c, items, lo, hi, 0, &r->errs, &r->applied)) < 0)
			goto out;
		lo = hi;
	}
	rc = 0;
out:
	r->inventory = json_array();
	for (size_t i = 0; i < n; i++)
		if (items[i].key && (rc == 0 || i < stage1))
			json_array_append_new(r->inventory, json_string(items[i].key));
	if (rc == 0 && o->prune && o->prev_inventory)
		rc = prune(c, o->prev_inventory, r->inventory, o, &r->errs, &r->pruned);
	if (rc < 0 && o->prev_inventory) {
		/* keep managing what was managed before a failed sync */
		size_t i;
		json_t *v;
		json_array_foreach(o->prev_inventory, i, v)
		{
			if (json_is_string(v) && !in_inventory(r->inventory, json_string_value(v)))
				json_array_append(r->inventory, v);
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_decref(items[i].obj);
		free(items[i].key);
	}
	free(items);
	return rc;
}
