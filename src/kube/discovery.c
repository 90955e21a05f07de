/* Discovery and the kind -> resource mapping, cached and refreshed on a miss. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sluice/error.h"
#include "sluice/log.h"

#define DISCOVERY_MIN_INTERVAL_S 1.0

struct gv_fetch {
	struct kube_client *c;
	char *group, *version;
	int done, rc;
	json_t *body;
	char message[512];
};

static void gv_done(struct call *call, struct kube_result *r, void *ud)
{
	struct gv_fetch *f = ud;

	(void)call;
	f->done = 1;
	f->rc = r->rc;
	if (r->rc == 0)
		f->body = kube_result_json(r);
	else
		snprintf(f->message, sizeof(f->message), "%s", r->message);
}

static int add_resource(struct kube_client *c, const char *group, const char *version,
                        const json_t *res)
{
	const char *name = json_string_value(json_object_get(res, "name"));
	const char *kind = json_string_value(json_object_get(res, "kind"));
	struct kube_resource *r;

	if (!name || !kind || strchr(name, '/'))
		return 0; /* subresources (deployments/status) are not kinds */
	if (c->nres == c->capres) {
		size_t ncap = c->capres ? c->capres * 2 : 256;
		struct kube_resource *nr = realloc(c->res, ncap * sizeof(*nr));
		if (!nr)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
		c->res = nr;
		c->capres = ncap;
	}
	r = &c->res[c->nres];
	r->group = strdup(group);
	r->version = strdup(version);
	r->kind = strdup(kind);
	r->resource = strdup(name);
	r->namespaced = json_is_true(json_object_get(res, "namespaced"));
	if (!r->group || !r->version || !r->kind || !r->resource) {
		free(r->group);
		free(r->version);
		free(r->kind);
		free(r->resource);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	c->nres++;
	return 0;
}

void kube_forget_discovery(struct kube_client *c)
{
	for (size_t i = 0; i < c->nres; i++) {
		free(c->res[i].group);
		free(c->res[i].version);
		free(c->res[i].kind);
		free(c->res[i].resource);
	}
	c->nres = 0;
	c->disc_loaded = 0;
}

static int refresh(struct kube_client *c)
{
	struct kube_result r;
	json_t *apis = NULL, *core = NULL;
	struct gv_fetch *fx = NULL;
	size_t nf = 0, cap = 0;
	int rc;

	c->disc_t = kube_now();
	rc = kube_request(c, &r, "GET", "/api", NULL, NULL, 0);
	core = rc == 0 ? kube_result_json(&r) : NULL;
	kube_result_dispose(&r);
	if (rc < 0)
		goto out;
	rc = kube_request(c, &r, "GET", "/apis", NULL, NULL, 0);
	apis = rc == 0 ? kube_result_json(&r) : NULL;
	kube_result_dispose(&r);
	if (rc < 0)
		goto out;
	cap = json_array_size(json_object_get(core, "versions")) + 64;
	fx = calloc(cap, sizeof(*fx));
	if (!fx) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	json_t *v;
	size_t i;
	json_array_foreach(json_object_get(core, "versions"), i, v)
	{
		if (nf < cap && json_is_string(v)) {
			fx[nf].group = strdup("");
			fx[nf].version = strdup(json_string_value(v));
			nf++;
		}
	}
	json_t *g;
	json_array_foreach(json_object_get(apis, "groups"), i, g)
	{
		const char *gname = json_string_value(json_object_get(g, "name"));
		size_t k;
		json_t *gv;
		json_array_foreach(json_object_get(g, "versions"), k, gv)
		{
			const char *ver = json_string_value(json_object_get(gv, "version"));
			if (!gname || !ver)
				continue;
			if (nf == cap) {
				struct gv_fetch *nfx = realloc(fx, cap * 2 * sizeof(*nfx));
				if (!nfx) {
					rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
					goto out;
				}
				memset(nfx + cap, 0, cap * sizeof(*nfx));
				fx = nfx;
				cap *= 2;
			}
			fx[nf].group = strdup(gname);
			fx[nf].version = strdup(ver);
			nf++;
		}
	}
	/* every group version at once */
	for (i = 0; i < nf; i++) {
		char *path = NULL;
		struct call *call;
		if (!fx[i].group || !fx[i].version ||
		    asprintf(&path, *fx[i].group ? "/apis/%s/%s" : "/api/%s%s",
		             *fx[i].group ? fx[i].group : fx[i].version,
		             *fx[i].group ? fx[i].version : "") < 0) {
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto out;
		}
		call = call_new(c, "GET", path, NULL, NULL, 0);
		free(path);
		if (!call) {
			rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
			goto out;
		}
		call->done = gv_done;
		call->ud = &fx[i];
		call_submit(call);
	}
	for (;;) {
		size_t pending = 0;
		for (i = 0; i < nf; i++)
			pending += !fx[i].done;
		if (!pending)
			break;
		if ((rc = kube_client_run(c, 1000)) < 0)
			goto out;
	}
	kube_forget_discovery(c);
	for (i = 0; i < nf; i++) {
		json_t *res;
		size_t k;
		if (fx[i].rc < 0) {
			/* an aggregated API that is down must not hide the others */
			slog(SLOG_WARN, "kube: discovery of a group version failed", "group",
			     fx[i].group, "version", fx[i].version, "error", fx[i].message, NULL);
			continue;
		}
		json_array_foreach(json_object_get(fx[i].body, "resources"), k, res)
		{
			if ((rc = add_resource(c, fx[i].group, fx[i].version, res)) < 0)
				goto out;
		}
	}
	c->disc_loaded = 1;
	rc = 0;
out:
	for (size_t k = 0; fx && k < nf; k++) {
		free(fx[k].group);
		free(fx[k].version);
		json_decref(fx[k].body);
	}
	free(fx);
	json_decref(apis);
	json_decref(core);
	return rc;
}

static const struct kube_resource *lookup(const struct kube_client *c, const char *group,
                                          const char *version, const char *kind)
{
	for (size_t i = 0; i < c->nres; i++) {
		const struct kube_resource *r = &c->res[i];
		if (strcmp(r->kind, kind) == 0 && strcmp(r->group, group) == 0 &&
		    strcmp(r->version, version) == 0)
			return r;
	}
	return NULL;
}

int kube_resolve(struct kube_client *c, const struct kube_resource **out, const char *api_version,
                 const char *kind)
{
	char group[256] = "";
	const char *version = api_version, *slash;
	int rc;

	*out = NULL;
	if (!api_version || !kind || !*api_version || !*kind)
		return sluice_error_set(SLUICE_EINVALID, "kube: apiVersion and kind are required");
	slash = strchr(api_version, '/');
	if (slash) {
		size_t gl = (size_t)(slash - api_version);
		if (gl >= sizeof(group))
			return sluice_error_set(SLUICE_EINVALID, "kube: apiVersion too long");
		memcpy(group, api_version, gl);
		group[gl] = '\0';
		version = slash + 1;
	}
	if ((*out = lookup(c, group, version, kind)) != NULL)
		return 0;
	if (!c->disc_loaded || kube_now() - c->disc_t >= DISCOVERY_MIN_INTERVAL_S) {
		if ((rc = refresh(c)) < 0)
			return rc;
		if ((*out = lookup(c, group, version, kind)) != NULL)
			return 0;
	}
	return sluice_error_set(
	    SLUICE_ENOTFOUND,
	    "the server has no resource for kind %s in %s (is its CRD installed?)", kind,
	    api_version);
}

int kube_resolve_gk(struct kube_client *c, const struct kube_resource **out, const char *group,
                    const char *kind)
{
	int rc;

	*out = NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->nres; i++) {
			if (strcmp(c->res[i].kind, kind) == 0 &&
			    strcmp(c->res[i].group, group) == 0) {
				*out = &c->res[i];
				return 0;
			}
		}
		if (pass == 0 &&
		    (!c->disc_loaded || kube_now() - c->disc_t >= DISCOVERY_MIN_INTERVAL_S)) {
			if ((rc = refresh(c)) < 0)
				return rc;
		} else {
			break;
		}
	}
	return sluice_error_set(SLUICE_ENOTFOUND,
	                        "the server has no resource for kind %s in group \"%s\"", kind,
	                        group);
}
