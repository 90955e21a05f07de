/* kubeconfig files and in-cluster configuration. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sluice/base64.h"
#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/log.h"
#include "sluice/yaml.h"

#define SA_DIR               "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBECONFIG_MAX_BYTES (4u << 20)
#define TOKEN_MAX_BYTES      (64u << 10)

void kube_config_free(struct kube_config *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->namespace);
	free(c->context);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	free(c->key_data);
	free(c->token);
	free(c->token_file);
	free(c->username);
	free(c->password);
	free(c);
}

/* Read a small file whole; NULL with errno set on failure. */
static char *read_small(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *more;
	size_t n = 0, cap = max;
	struct stat st;

	if (!f)
		return NULL;
	/* sized by the file, not the bound: a 4 MiB block taken and freed at
	 * start raises malloc's mmap threshold for the process's whole life */
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size < max)
		cap = (size_t)st.st_size;
	buf = malloc(cap + 2);
	if (buf)
		n = fread(buf, 1, cap + 1, f);
	if (buf && n > cap && cap < max) { /* it grew since: read on, up to the bound */
		if ((more = realloc(buf, max + 2))) {
			buf = more;
			n += fread(buf + n, 1, max + 1 - n, f);
		} else {
			free(buf);
			buf = NULL;
		}
	}
	if (buf && (ferror(f) || n > max)) {
		free(buf);
		buf = NULL;
		errno = n > max ? EFBIG : EIO;
	} else if (buf) {
		buf[n] = '\0';
		if (len)
			*len = n;
	} else {
		errno = ENOMEM;
	}
	fclose(f);
	return buf;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		s[--n] = '\0';
}

/* A kubeconfig *-data field decoded, or NULL when malformed. */
static char *b64_decode(const char *in)
{
	char *out = NULL;
	size_t n = 0;

	return base64_decode(&out, &n, in, strlen(in), 0) == 0 ? out : NULL;
}

static const char *str_at(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : NULL;
}

/* A path from a kubeconfig, made absolute against its folder. */
static char *resolve_path(const char *dir, const char *p)
{
	char *out = NULL;

	if (!p)
		return NULL;
	if (p[0] == '/')
		return strdup(p);
	if (p[0] == '~' && p[1] == '/' && getenv("HOME")) {
		if (asprintf(&out, "%s/%s", getenv("HOME"), p + 2) < 0)
			return NULL;
		return out;
	}
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

/* Find the entry named `name` in list `key` of any of the loaded files. */
static const json_t *find_named(json_t *const *docs, size_t n, const char *key, const char *name,
                                size_t *which)
{
	for (size_t d = 0; d < n; d++) {
		const json_t *list = json_object_get(docs[d], key);
		for (size_t i = 0; i < json_array_size(list); i++) {
			const json_t *e = json_array_get(list, i);
			const char *nm = str_at(e, "name");
			if (nm && strcmp(nm, name) == 0) {
				*which = d;
				return e;
			}
		}
	}
	return NULL;
}

static int dupset(char **dst, const char *src)
{
	if (!src)
		return 0;
	free(*dst);
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

int kube_config_load(struct kube_config **out, const char *path, const char *context)
{
	json_t *docs[16];
	char *dirs[16];
	char *files = NULL, *save = NULL, *tok;
	size_t nd = 0, which = 0;
	struct kube_config *c = NULL;
	const char *ctxname = context;
	const json_t *ctx, *cl, *us, *cluster, *user;
	int rc = 0;

	*out = NULL;
	if (!path || !*path)
		path = getenv("KUBECONFIG");
	if (!path || !*path) {
		const char *home = getenv("HOME");
		if (asprintf(&files, "%s/.kube/config", home ? home : "") < 0)
			return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	} else if (!(files = strdup(path))) {
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	for (tok = strtok_r(files, ":", &save); tok && nd < 16; tok = strtok_r(NULL, ":", &save)) {
		struct yaml_stream *ys = NULL;
		size_t len = 0;
		char *text = read_small(tok, KUBECONFIG_MAX_BYTES, &len), *d;
		if (!text) {
			if (errno == ENOENT && strchr(path ? path : "", ':'))
				continue; /* missing members of a list are skipped, as kubectl does
				           */
			rc = sluice_error_set(SLUICE_EINVALID, "%s: cannot read kubeconfig: %s",
			                      tok, strerror(errno));
			goto out;
		}
		rc = yaml_stream_parse(&ys, text, len, tok);
		free(text);
		if (rc < 0)
			goto out;
		if (yaml_stream_count(ys) < 1 || !json_is_object(yaml_stream_doc(ys, 0))) {
			yaml_stream_free(ys);
			rc = sluice_error_set(SLUICE_EINVALID, "%s: not a kubeconfig", tok);
			goto out;
		}
		docs[nd] = json_incref(yaml_stream_doc(ys, 0));
		yaml_stream_free(ys);
		d = strdup(tok);
		dirs[nd] = d ? strdup(dirname(d)) : NULL;
		free(d);
		nd++;
	}
	if (nd == 0) {
		rc = sluice_error_set(SLUICE_ENOTFOUND, "%s: no kubeconfig found",
		                      path ? path : files);
		goto out;
	}
	for (size_t i = 0; !ctxname && i < nd; i++)
		ctxname = str_at(docs[i], "current-context");
	if (!ctxname) {
		rc = sluice_error_set(SLUICE_EINVALID, "%s: no current-context set; give --context",
		                      path ? path : files);
		goto out;
	}
	ctx = find_named(docs, nd, "contexts", ctxname, &which);
	if (!ctx) {
		rc = sluice_error_set(SLUICE_ENOTFOUND, "%s: context \"%s\" not found",
		                      path ? path : files, ctxname);
		goto out;
	}
	ctx = json_object_get(ctx, "context");
	cl = str_at(ctx, "cluster")
	         ? find_named(docs, nd, "clusters", str_at(ctx, "cluster"), &which)
	         : NULL;
	if (!cl) {
		rc = sluice_error_set(
		    SLUICE_ENOTFOUND, "%s: cluster \"%s\" of context \"%s\" not found",
		    path ? path : files, str_at(ctx, "cluster") ? str_at(ctx, "cluster") : "",
		    ctxname);
		goto out;
	}
	cluster = json_object_get(cl, "cluster");
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	if (!str_at(cluster, "server")) {
		rc = sluice_error_set(SLUICE_EINVALID, "%s: cluster \"%s\" has no server",
		                      path ? path : files, str_at(cl, "name"));
		goto out;
	}
	dupset(&c->server, str_at(cluster, "server"));
	dupset(&c->context, ctxname);
	dupset(&c->namespace, str_at(ctx, "namespace") ? str_at(ctx, "namespace") : "default");
	c->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
	c->ca_file = resolve_path(dirs[which], str_at(cluster, "certificate-authority"));
	if (str_at(cluster, "certificate-authority-data") &&
	    !(c->ca_data = b64_decode(str_at(cluster, "certificate-authority-data")))) {
		rc = sluice_error_set(
		    SLUICE_EINVALID, "%s: cluster \"%s\": certificate-authority-data is not base64",
		    path ? path : files, str_at(cl, "name"));
		goto out;
	}
	us =
	    str_at(ctx, "user") ? find_named(docs, nd, "users", str_at(ctx, "user"), &which) : NULL;
	if (us) {
		user = json_object_get(us, "user");
		c->cert_file = resolve_path(dirs[which], str_at(user, "client-certificate"));
		c->key_file = resolve_path(dirs[which], str_at(user, "client-key"));
		c->token_file = resolve_path(dirs[which], str_at(user, "tokenFile"));
		if (str_at(user, "client-certificate-data"))
			c->cert_data = b64_decode(str_at(user, "client-certificate-data"));
		if (str_at(user, "client-key-data"))
			c->key_data = b64_decode(str_at(user, "client-key-data"));
		dupset(&c->token, str_at(user, "token"));
		dupset(&c->username, str_at(user, "username"));
		dupset(&c->password, str_at(user, "password"));
		if (str_at(user, "exec") || json_object_get(user, "exec") ||
		    json_object_get(user, "auth-provider"))
			slog(
			    SLOG_WARN,
			    "kubeconfig user uses exec or auth-provider, which sluice does not run",
			    "user", str_at(us, "name"), NULL);
	} else if (str_at(ctx, "user")) {
		rc = sluice_error_set(SLUICE_ENOTFOUND,
		                      "%s: user \"%s\" of context \"%s\" not found",
		                      path ? path : files, str_at(ctx, "user"), ctxname);
		goto out;
	}
	slog_add_secret(c->token);
	slog_add_secret(c->password);
	slog_add_secret(c->key_data);
	*out = c;
	c = NULL;
out:
	kube_config_free(c);
	for (size_t i = 0; i < nd; i++) {
		json_decref(docs[i]);
		free(dirs[i]);
	}
	free(files);
	return rc;
}

int kube_config_in_cluster(struct kube_config **out, const char *root)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kube_config *c = NULL;
	char *ns = NULL, *token = NULL;
	int rc = 0;

	*out = NULL;
	if (!root)
		root = getenv("SLUICE_IN_CLUSTER_ROOT");
	if (!root || !*root)
		root = "";
	if (!host || !*host || !port || !*port)
		return sluice_error_set(SLUICE_ENOTFOUND,
		                        "not in a cluster: KUBERNETES_SERVICE_HOST and "
		                        "KUBERNETES_SERVICE_PORT are not set");
	if (!(c = calloc(1, sizeof(*c))))
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
	             port) < 0 ||
	    asprintf(&c->token_file, "%s" SA_DIR "/token", root) < 0 ||
	    asprintf(&c->ca_file, "%s" SA_DIR "/ca.crt", root) < 0 ||
	    asprintf(&ns, "%s" SA_DIR "/namespace", root) < 0 ||
	    !(c->context = strdup("in-cluster"))) {
		rc = sluice_error_set(SLUICE_ENOMEM, "out of memory");
		goto out;
	}
	if (!(token = read_small(c->token_file, TOKEN_MAX_BYTES, NULL))) {
		rc = sluice_error_set(SLUICE_EAUTH, "%s: cannot read the service account token: %s",
		                      c->token_file, strerror(errno));
		goto out;
	}
	trim(token);
	slog_add_secret(token);
	free(token);
	{
		char *n = read_small(ns, 256, NULL);
		if (n)
			trim(n);
		c->namespace = n && *n ? n : strdup("default");
		if (n && !*n)
			free(n);
	}
	*out = c;
	c = NULL;
out:
	free(ns);
	kube_config_free(c);
	return rc;
}
