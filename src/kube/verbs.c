/* get, list, create, apply, patch and delete over the REST mapping. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/jsonfmt.h"

#define DEFAULT_FIELD_MANAGER "sluice"
#define LIST_PAGE             500

/*
 * The path of a resource: /api/v1[/namespaces/NS]/RESOURCE[/NAME][/SUB]. An
 * empty namespace with a namespaced kind means all namespaces (lists).
 */
int kube_resource_path(struct kube_client *c, struct buf *b, const struct kube_resource *r,
                       const char *ns, const char *name, const char *sub)
{
	char *e = NULL;
	int rc;

	if (*r->group)
		rc = buf_printf(b, "/apis/%s/%s", r->group, r->version);
	else
		rc = buf_printf(b, "/api/%s", r->version);
	if (r->namespaced) {
		if (!ns)
			ns = c->cfg->namespace;
		if (*ns) {
			if (!(e = kube_escape(ns)))
				return sluice_error_set(SLUICE_ENOMEM, "out of memory");
			rc = rc ? rc : buf_printf(b, "/namespaces/%s", e);
			free(e);
		}
	}
	rc = rc ? rc : buf_printf(b, "/%s", r->resource);
	if (name) {
		if (!(e = kube_escape(name)))
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		rc = rc ? rc : buf_printf(b, "/%s", e);
		free(e);
	}
	if (sub)
		rc = rc ? rc : buf_printf(b, "/%s", sub);
	return rc;
}

static int ref_path(struct kube_client *c, struct buf *b, const struct kube_ref *ref, int with_name,
                    const char *sub)
{
	const struct kube_resource *r;
	int rc = kube_resolve(c, &r, ref->api_version, ref->kind);

	if (rc < 0)
		return rc;
	if (with_name && (!ref->name || !*ref->name))
		return sluice_error_set(SLUICE_EINVALID, "kube: %s needs a name", ref->kind);
	return kube_resource_path(c, b, r, ref->namespace, with_name ? ref->name : NULL, sub);
}

/* Run a request; on success *out (if asked) is the parsed body. */
static int run(struct kube_client *c, json_t **out, const char *method, const char *path,
               const char *ctype, const char *body, size_t len)
{
	struct kube_result r;
	int rc = kube_request(c, &r, method, path, ctype, body, len);

	if (rc == 0 && out) {
		*out = kube_result_json(&r);
		if (!*out)
			rc = sluice_error_set(SLUICE_ERROR, "%s %s: the response is not JSON",
			                      method, path);
	}
	kube_result_dispose(&r);
	return rc;
}

static int obj_ref(struct kube_ref *ref, const json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");

	ref->api_version = json_string_value(json_object_get(obj, "apiVersion"));
	ref->kind = json_string_value(json_object_get(obj, "kind"));
	ref->name = json_string_value(json_object_get(meta, "name"));
	ref->namespace = json_string_value(json_object_get(meta, "namespace"));
	if (!ref->api_version || !ref->kind)
		return sluice_error_set(SLUICE_EINVALID,
		                        "kube: an object needs apiVersion and kind");
	return 0;
}

int kube_get(struct kube_client *c, json_t **out, const struct kube_ref *ref)
{
	struct buf b;
	int rc;

	*out = NULL;
	buf_init(&b, 4096);
	rc = ref_path(c, &b, ref, 1, NULL);
	if (rc == 0)
		rc = run(c, out, "GET", b.ptr, NULL, NULL, 0);
	buf_dispose(&b);
	return rc;
}

#define META_ACCEPT "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"

/* One page of a list: take its items, put its continue token ("" at the end)
 * in cont (4096 bytes), and its resourceVersion in *rv when asked. */
typedef int (*page_fn)(void *ud, const struct kube_result *r, char *cont, char **rv);

static int list_pages(struct kube_client *c, const struct kube_ref *ref,
                      const struct kube_list_opts *opts, const char *accept, page_fn fn, void *ud,
                      char **rv)
{
	struct buf base, path;
	char cont[4096] = "";
	int rc;

	buf_init(&base, 8192);
	buf_init(&path, 16384);
	rc = ref_path(c, &base, ref, 0, NULL);
	while (rc == 0) {
		char *sel = NULL;
		struct kube_result r;
		buf_reset(&path);
		buf_printf(&path, "%s?limit=%ld", base.ptr,
		           opts && opts->limit > 0 ? opts->limit : (long)LIST_PAGE);
		if (opts && opts->label_selector && (sel = kube_escape(opts->label_selector))) {
			buf_printf(&path, "&labelSelector=%s", sel);
			free(sel);
		}
		if (opts && opts->field_selector && (sel = kube_escape(opts->field_selector))) {
			buf_printf(&path, "&fieldSelector=%s", sel);
			free(sel);
		}
		if (cont[0]) {
			char *e = kube_escape(cont);
			rc = e ? buf_printf(&path, "&continue=%s", e) : SLUICE_ENOMEM;
			free(e);
			if (rc < 0)
				break;
		}
		if ((rc = kube_request_accept(c, &r, "GET", path.ptr, NULL, NULL, 0, accept)) == 0)
			rc = fn(ud, &r, cont, rv);
		kube_result_dispose(&r);
		if (rc < 0 || !cont[0])
			break;
	}
	buf_dispose(&base);
	buf_dispose(&path);
	return rc;
}

static int json_page(void *ud, const struct kube_result *r, char *cont, char **rv)
{
	json_t *all = ud, *page = kube_result_json(r);
	json_t *meta = json_object_get(page, "metadata");
	const char *next = json_string_value(json_object_get(meta, "continue"));
	const char *v = json_string_value(json_object_get(meta, "resourceVersion"));
	int rc = 0;

	if (!page)
		return sluice_error_set(SLUICE_ERROR, "list: the response is not JSON");
	json_array_extend(all, json_object_get(page, "items"));
	cont[0] = '\0';
	if (next && strlen(next) >= 4096)
		rc = sluice_error_set(SLUICE_ELIMIT, "list: the continue token is too long");
	else if (next)
		snprintf(cont, 4096, "%s", next);
	if (rv && !cont[0]) {
		free(*rv);
		*rv = v ? strdup(v) : NULL;
	}
	json_decref(page);
	return rc;
}

int kube_list(struct kube_client *c, json_t **items, char **rv, const struct kube_ref *ref,
              const struct kube_list_opts *opts)
{
	json_t *all = json_array();
	int rc;

	*items = NULL;
	if (rv)
		*rv = NULL;
	if (!all)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	rc = list_pages(c, ref, opts, NULL, json_page, all, rv);
	if (rc < 0) {
		json_decref(all);
		if (rv) {
			free(*rv);
			*rv = NULL;
		}
		return rc;
	}
	*items = all;
	return 0;
}

struct item_walk {
	kube_item_fn fn;
	void *ud;
};

static int item_page(void *ud, const struct kube_result *r, char *cont, char **rv)
{
	struct item_walk *w = ud;
	json_t *page = kube_result_json(r), *v;
	const char *next =
	    json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
	size_t i;
	int rc = 0;

	(void)rv;
	cont[0] = '\0';
	if (!page)
		return sluice_error_set(SLUICE_ERROR, "list: the response is not JSON");
	if (next && strlen(next) >= 4096)
		rc = sluice_error_set(SLUICE_ELIMIT, "list: the continue token is too long");
	else if (next)
		snprintf(cont, 4096, "%s", next);
	json_array_foreach(json_object_get(page, "items"), i, v)
	{
		if (rc == 0 && w->fn(w->ud, v) != 0) {
			cont[0] = '\0'; /* stopped: no more pages */
			break;
		}
	}
	json_decref(page);
	return rc;
}

int kube_list_each(struct kube_client *c, const struct kube_ref *ref,
                   const struct kube_list_opts *opts, kube_item_fn fn, void *ud)
{
	struct item_walk w = {fn, ud};

	return list_pages(c, ref, opts, NULL, item_page, &w, NULL);
}

struct meta_walk {
	kube_meta_fn fn;
	void *ud;
	int stop;
};

static int stop_after(void *ud, const char *name, const char *ns, const char *rv)
{
	struct meta_walk *w = ud;
	if (!w->stop && w->fn(w->ud, name, ns, rv) != 0)
		w->stop = 1;
	return w->stop;
}

static int meta_page(void *ud, const struct kube_result *r, char *cont, char **rv)
{
	struct meta_walk *w = ud;
	int rc = kube_scan_list(r->body, r->len, stop_after, w, cont, 4096);
	(void)rv;
	if (w->stop)
		cont[0] = '\0';
	return rc;
}

int kube_list_meta(struct kube_client *c, const struct kube_ref *ref, const char *label_selector,
                   kube_meta_fn fn, void *ud)
{
	struct kube_list_opts o = {label_selector, NULL, 0};
	struct meta_walk w = {fn, ud, 0};

	return list_pages(c, ref, &o, META_ACCEPT, meta_page, &w, NULL);
}

static const char *dry(unsigned flags)
{
	return flags & KUBE_DRY_RUN ? "dryRun=All" : "";
}

int kube_create(struct kube_client *c, json_t **out, const json_t *obj, unsigned flags)
{
	struct kube_ref ref;
	struct buf b;
	char *body = NULL;
	int rc;

	if (out)
		*out = NULL;
	if ((rc = obj_ref(&ref, obj)) < 0)
		return rc;
	buf_init(&b, 4096);
	if ((rc = ref_path(c, &b, &ref, 0, NULL)) == 0 &&
	    (rc = buf_printf(&b, "?%s", dry(flags))) == 0 &&
	    (rc = jsonfmt_dump(&body, obj, JSONFMT_COMPACT)) == 0)
		rc = run(c, out, "POST", b.ptr, "application/json", body, strlen(body));
	free(body);
	buf_dispose(&b);
	return rc;
}

/* The apply request for one object: path (in b) and body. */
static int apply_request(struct kube_client *c, struct buf *b, char **body, const json_t *obj,
                         const char *fm, unsigned flags)
{
	struct kube_ref ref;
	char *efm;
	int rc;

	*body = NULL;
	if ((rc = obj_ref(&ref, obj)) < 0)
		return rc;
	if ((rc = ref_path(c, b, &ref, 1, NULL)) < 0)
		return rc;
	if (!(efm = kube_escape(fm ? fm : DEFAULT_FIELD_MANAGER)))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	rc = buf_printf(b, "?fieldManager=%s%s%s%s", efm, flags & KUBE_FORCE ? "&force=true" : "",
	                flags & KUBE_DRY_RUN ? "&" : "", dry(flags));
	free(efm);
	if (rc == 0)
		rc = jsonfmt_dump(body, obj, JSONFMT_COMPACT);
	return rc;
}

int kube_apply(struct kube_client *c, json_t **out, const json_t *obj, const char *field_manager,
               unsigned flags)
{
	struct buf b;
	char *body = NULL;
	int rc;

	if (out)
		*out = NULL;
	buf_init(&b, 4096);
	rc = apply_request(c, &b, &body, obj, field_manager, flags);
	if (rc == 0)
		rc =
		    run(c, out, "PATCH", b.ptr, "application/apply-patch+yaml", body, strlen(body));
	free(body);
	buf_dispose(&b);
	return rc;
}

int kube_patch_as(struct kube_client *c, json_t **out, const struct kube_ref *ref,
                  enum kube_patch_type type, const char *patch, const char *subresource,
                  const char *field_manager, unsigned flags)
{
	static const char *const types[] = {"application/merge-patch+json",
	                                    "application/json-patch+json",
	                                    "application/strategic-merge-patch+json"};
	struct buf b;
	char *efm = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (field_manager && !(efm = kube_escape(field_manager)))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	buf_init(&b, 4096);
	if ((rc = ref_path(c, &b, ref, 1, subresource)) == 0)
		rc = buf_printf(&b, "?%s", dry(flags));
	if (rc == 0 && efm)
		rc = buf_printf(&b, "%sfieldManager=%s", flags & KUBE_DRY_RUN ? "&" : "", efm);
	if (rc == 0)
		rc = run(c, out, "PATCH", b.ptr, types[type], patch, strlen(patch));
	free(efm);
	buf_dispose(&b);
	return rc;
}

int kube_patch(struct kube_client *c, json_t **out, const struct kube_ref *ref,
               enum kube_patch_type type, const char *patch, const char *subresource,
               unsigned flags)
{
	return kube_patch_as(c, out, ref, type, patch, subresource, NULL, flags);
}

int kube_delete(struct kube_client *c, const struct kube_ref *ref, const char *propagation,
                unsigned flags)
{
	struct buf b;
	char body[256];
	int rc;

	snprintf(body, sizeof(body), "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\"%s%s%s%s}",
	         propagation ? ",\"propagationPolicy\":\"" : "", propagation ? propagation : "",
	         propagation ? "\"" : "", flags & KUBE_DRY_RUN ? ",\"dryRun\":[\"All\"]" : "");
	buf_init(&b, 4096);
	if ((rc = ref_path(c, &b, ref, 1, NULL)) == 0)
		rc = run(c, NULL, "DELETE", b.ptr, "application/json", body, strlen(body));
	buf_dispose(&b);
	return rc;
}

struct many {
	int *rcs;
	char **msgs;
	size_t pending;
};

struct many_slot {
	struct many *m;
	size_t i;
};

static void many_done(struct call *call, struct kube_result *r, void *ud)
{
	struct many_slot *s = ud;

	(void)call;
	s->m->rcs[s->i] = r->rc;
	if (r->rc < 0 && s->m->msgs)
		s->m->msgs[s->i] = strdup(r->message);
	s->m->pending--;
}

int kube_apply_many(struct kube_client *c, json_t *const *objs, size_t n, const char *field_manager,
                    unsigned flags, int *rcs, char **msgs)
{
	struct many m = {rcs, msgs, 0};
	struct many_slot *slots = calloc(n ? n : 1, sizeof(*slots));
	int first = 0, rc;

	if (!slots)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct buf b;
		char *body = NULL;
		struct call *call = NULL;

		if (msgs)
			msgs[i] = NULL;
		buf_init(&b, 4096);
		rcs[i] = apply_request(c, &b, &body, objs[i], field_manager, flags);
		if (rcs[i] == 0) {
			call = call_new(c, "PATCH", b.ptr, "application/apply-patch+yaml", body,
			                strlen(body));
			if (!call)
				rcs[i] = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		}
		if (rcs[i] < 0 && msgs)
			msgs[i] = strdup(sluice_error_last());
		free(body);
		buf_dispose(&b);
		if (!call)
			continue;
		slots[i].m = &m;
		slots[i].i = i;
		call->done = many_done;
		call->ud = &slots[i];
		m.pending++;
		call_submit(call);
	}
	while (m.pending > 0) {
		if ((rc = kube_client_run(c, 1000)) < 0) {
			free(slots);
			return rc;
		}
	}
	free(slots);
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] < 0) {
			first = rcs[i];
			if (msgs && msgs[i])
				sluice_error_set(first, "%s", msgs[i]);
			break;
		}
	}
	return first;
}
