/*
 * Watches: LIST -> WATCH -> (410) RELIST, (drop or silence) BACKOFF -> WATCH.
 * Every transition goes through set_state(), which logs it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sluice/error.h"
#include "sluice/log.h"

#define WATCH_LINE_MAX  (16u << 20)
#define BACKOFF_FIRST_S 0.5
#define BACKOFF_MAX_S   30.0

enum wstate { W_LIST, W_WATCH, W_BACKOFF, W_PAUSED };

static const char *const state_names[] = {"LIST", "WATCH", "BACKOFF", "PAUSED"};

struct kube_watch {
	struct kube_client *c;
	char *path; /* resource path, no query */
	char *what; /* "v1/ConfigMap" for logs */
	char *label_selector;
	kube_watch_fn fn;
	void *ud;
	enum wstate state;
	char *rv;
	json_t *store;   /* "ns/name" -> object */
	json_t *listing; /* items gathered by the current list */
	char *cont;
	struct buf line;
	struct call *call;
	int relist; /* the stream reported 410: list again */
	int failures;
	unsigned lists, reconnects;
	long silence_s;
};

static void set_state(struct kube_watch *w, enum wstate s, const char *why)
{
	if (w->state != s)
		slog(SLOG_DEBUG, "kube: watch state", "watch", w->what, "from",
		     state_names[w->state], "to", state_names[s], "why", why, NULL);
	w->state = s;
}

static int key_of(char *buf, size_t n, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (!name)
		return -1;
	snprintf(buf, n, "%s/%s", ns ? ns : "", name);
	return 0;
}

static const char *rv_of(const json_t *obj)
{
	return json_string_value(
	    json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void set_rv(struct kube_watch *w, const char *rv)
{
	if (!rv)
		return;
	free(w->rv);
	w->rv = strdup(rv);
}

static void start_list(struct kube_watch *w, double delay);
static void start_watch(struct kube_watch *w, double delay);

static double backoff(struct kube_watch *w)
{
	double d = BACKOFF_FIRST_S;
	for (int i = 0; i < w->failures && d < BACKOFF_MAX_S; i++)
		d *= 2;
	if (d > BACKOFF_MAX_S)
		d = BACKOFF_MAX_S;
	w->failures++;
	return d * (0.5 + 0.5 * ((double)rand() / RAND_MAX));
}

/* A list finished: deliver the differences from what was known. */
static void list_complete(struct kube_watch *w)
{
	json_t *fresh = json_object(), *item;
	const char *k;
	json_t *old;
	size_t i;
	char key[1024];
	void *tmp;

	json_array_foreach(w->listing, i, item)
	{
		if (key_of(key, sizeof(key), item) < 0)
			continue;
		json_object_set(fresh, key, item);
		old = json_object_get(w->store, key);
		if (!old)
			w->fn(w->ud, KUBE_ADDED, item);
		else if (!rv_of(old) || !rv_of(item) || strcmp(rv_of(old), rv_of(item)) != 0)
			w->fn(w->ud, KUBE_MODIFIED, item);
	}
	json_object_foreach_safe(w->store, tmp, k, old)
	{
		if (!json_object_get(fresh, k))
			w->fn(w->ud, KUBE_DELETED, old);
	}
	json_decref(w->store);
	w->store = fresh;
	json_decref(w->listing);
	w->listing = NULL;
	w->lists++;
	w->fn(w->ud, KUBE_ADDED, NULL); /* synced */
}

static void list_done(struct call *call, struct kube_result *r, void *ud)
{
	struct kube_watch *w = ud;
	json_t *page;

	(void)call;
	w->call = NULL;
	if (r->rc < 0 || !(page = kube_result_json(r))) {
		slog(SLOG_WARN, "kube: list for a watch failed", "watch", w->what, "error",
		     r->message, NULL);
		json_decref(w->listing);
		w->listing = NULL;
		free(w->cont);
		w->cont = NULL;
		set_state(w, W_BACKOFF, "list failed");
		start_list(w, backoff(w));
		return;
	}
	if (!w->listing)
		w->listing = json_array();
	json_array_extend(w->listing, json_object_get(page, "items"));
	const json_t *meta = json_object_get(page, "metadata");
	const char *next = json_string_value(json_object_get(meta, "continue"));
	free(w->cont);
	w->cont = next && *next ? strdup(next) : NULL;
	if (w->cont) {
		json_decref(page);
		start_list(w, 0);
		return;
	}
	set_rv(w, json_string_value(json_object_get(meta, "resourceVersion")));
	json_decref(page);
	w->failures = 0;
	list_complete(w);
	if (w->state != W_PAUSED)
		start_watch(w, 0);
}

static void start_list(struct kube_watch *w, double delay)
{
	char *path = NULL, *sel = NULL, *cont = NULL;
	struct call *call;

	if (w->label_selector)
		sel = kube_escape(w->label_selector);
	if (w->cont)
		cont = kube_escape(w->cont);
	if (asprintf(&path, "%s?limit=500%s%s%s%s", w->path, sel ? "&labelSelector=" : "",
	             sel ? sel : "", cont ? "&continue=" : "", cont ? cont : "") < 0)
		path = NULL;
	free(sel);
	free(cont);
	call = path ? call_new(w->c, "GET", path, NULL, NULL, 0) : NULL;
	free(path);
	if (!call) {
		slog(SLOG_ERROR, "kube: out of memory starting a list", "watch", w->what, NULL);
		return;
	}
	set_state(w, W_LIST, "listing");
	call->done = list_done;
	call->ud = w;
	w->call = call;
	call_submit_after(call, delay);
}

static void handle_event(struct kube_watch *w, const char *line, size_t len)
{
	json_error_t err;
	json_t *ev = json_loadb(line, len, 0, &err);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	char key[1024];

	if (!type || !json_is_object(obj)) {
		json_decref(ev);
		return;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		set_rv(w, rv_of(obj));
	} else if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *msg = json_string_value(json_object_get(obj, "message"));
		slog(SLOG_INFO, "kube: watch ended by the server", "watch", w->what, "message",
		     msg ? msg : "", NULL);
		if (code == 410)
			w->relist = 1;
	} else if (key_of(key, sizeof(key), obj) == 0) {
		set_rv(w, rv_of(obj));
		if (strcmp(type, "DELETED") == 0) {
			json_t *old = json_incref(json_object_get(w->store, key));
			json_object_del(w->store, key);
			w->fn(w->ud, KUBE_DELETED, old ? old : obj);
			json_decref(old);
		} else {
			int known = json_object_get(w->store, key) != NULL;
			json_object_set(w->store, key, obj);
			w->fn(w->ud, known ? KUBE_MODIFIED : KUBE_ADDED, obj);
		}
	}
	json_decref(ev);
}

static int watch_data(struct call *call, const char *data, size_t len, void *ud)
{
	struct kube_watch *w = ud;
	size_t start = 0;

	(void)call;
	w->failures = 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (w->line.len) {
			if (buf_add(&w->line, data + start, i - start) < 0)
				return 0;
			handle_event(w, w->line.ptr, w->line.len);
			buf_reset(&w->line);
		} else if (i > start) {
			handle_event(w, data + start, i - start);
		}
		start = i + 1;
		if (w->relist)
			return 0; /* stop this stream: list again */
	}
	if (start < len && buf_add(&w->line, data + start, len - start) < 0)
		return 0; /* an event over the limit: start again */
	return 1;
}

static void watch_done(struct call *call, struct kube_result *r, void *ud)
{
	struct kube_watch *w = ud;

	(void)call;
	w->call = NULL;
	buf_reset(&w->line);
	if (w->state == W_PAUSED)
		return;
	if (w->relist || r->rc == SLUICE_EGONE) {
		w->relist = 0;
		slog(SLOG_INFO, "kube: resourceVersion too old, listing again", "watch", w->what,
		     NULL);
		start_list(w, 0);
		return;
	}
	w->reconnects++;
	if (r->rc == 0) {
		start_watch(w, 0); /* the server's timeout ended the stream */
		return;
	}
	slog(SLOG_WARN, "kube: watch dropped, reconnecting", "watch", w->what, "error", r->message,
	     NULL);
	set_state(w, W_BACKOFF, r->message);
	start_watch(w, backoff(w));
}

static void start_watch(struct kube_watch *w, double delay)
{
	char *path = NULL, *sel = NULL, *rv = NULL;
	struct call *call;
	int timeout = 300 + rand() % 301; /* 5 to 10 minutes, spread across watches */

	if (w->label_selector)
		sel = kube_escape(w->label_selector);
	rv = kube_escape(w->rv ? w->rv : "");
	if (asprintf(&path,
	             "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s%s%s",
	             w->path, timeout, rv ? rv : "", sel ? "&labelSelector=" : "",
	             sel ? sel : "") < 0)
		path = NULL;
	free(sel);
	free(rv);
	call = path ? call_new(w->c, "GET", path, NULL, NULL, 0) : NULL;
	free(path);
	if (!call) {
		slog(SLOG_ERROR, "kube: out of memory starting a watch", "watch", w->what, NULL);
		return;
	}
	set_state(w, W_WATCH, "watching");
	call->timeout_ms = 0;
	call->silence_s = w->silence_s;
	call->no_retry = 1;
	call->on_data = watch_data;
	call->done = watch_done;
	call->ud = w;
	w->call = call;
	call_submit_after(call, delay);
}

int kube_watch_start(struct kube_watch **out, struct kube_client *c, const struct kube_ref *ref,
                     const struct kube_watch_opts *opts, kube_watch_fn fn, void *ud)
{
	const struct kube_resource *r;
	struct kube_watch *w;
	int rc;

	*out = NULL;
	if ((rc = kube_resolve(c, &r, ref->api_version, ref->kind)) < 0)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	w->c = c;
	w->fn = fn;
	w->ud = ud;
	w->store = json_object();
	buf_init(&w->line, WATCH_LINE_MAX);
	w->silence_s = opts && opts->silence_ms > 0 ? (opts->silence_ms + 999) / 1000 : 120;
	if (opts && opts->label_selector)
		w->label_selector = strdup(opts->label_selector);
	struct buf pb;
	buf_init(&pb, 4096);
	if (kube_resource_path(c, &pb, r, ref->namespace, NULL, NULL) == 0)
		w->path = buf_detach(&pb);
	buf_dispose(&pb);
	if (asprintf(&w->what, "%s%s%s/%s", r->group, *r->group ? "/" : "", r->version, r->kind) <
	    0)
		w->what = NULL;
	if (!w->path || !w->what || !w->store) {
		kube_watch_stop(w);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	c->watches++;
	if (opts && opts->resource_version) {
		set_rv(w, opts->resource_version);
		start_watch(w, 0);
	} else {
		start_list(w, 0);
	}
	*out = w;
	return 0;
}

void kube_watch_pause(struct kube_watch *w)
{
	set_state(w, W_PAUSED, "paused");
	if (w->call) {
		call_cancel(w->call);
		w->call = NULL;
	}
	json_decref(w->listing);
	w->listing = NULL;
	free(w->cont);
	w->cont = NULL;
	buf_reset(&w->line);
}

int kube_watch_resume(struct kube_watch *w, const char *rv)
{
	if (w->state != W_PAUSED)
		return 0;
	if (rv)
		set_rv(w, rv);
	w->state = W_BACKOFF;
	if (w->rv)
		start_watch(w, 0);
	else
		start_list(w, 0);
	return 0;
}

void kube_watch_stop(struct kube_watch *w)
{
	if (!w)
		return;
	if (w->call)
		call_cancel(w->call);
	if (w->c && w->path)
		w->c->watches--;
	json_decref(w->store);
	json_decref(w->listing);
	buf_dispose(&w->line);
	free(w->cont);
	free(w->rv);
	free(w->path);
	free(w->what);
	free(w->label_selector);
	free(w);
}

const json_t *kube_watch_store(const struct kube_watch *w)
{
	return w->store;
}

unsigned kube_watch_lists(const struct kube_watch *w)
{
	return w->lists;
}

unsigned kube_watch_reconnects(const struct kube_watch *w)
{
	return w->reconnects;
}
