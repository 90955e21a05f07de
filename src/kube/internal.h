/* Internal to src/kube/: the transfer engine shared by verbs, discovery and watches. */
#ifndef SLUICE_KUBE_INTERNAL_H
#define SLUICE_KUBE_INTERNAL_H

#include <stddef.h>

#include <curl/curl.h>

#include "sluice/buf.h"
#include "sluice/kube.h"

struct call;

/* Completion: `r` is disposed by the engine after the callback returns. */
typedef void (*call_done_fn)(struct call *call, struct kube_result *r, void *ud);
/* Streamed body bytes of a 2xx response; return 0 to stop the transfer. */
typedef int (*call_data_fn)(struct call *call, const char *data, size_t len, void *ud);

struct call {
	struct kube_client *c;
	char *method;
	char *url;
	char *ctype;
	const char *accept; /* a static string; NULL: application/json */
	char *body;
	size_t blen;
	struct buf resp;
	double retry_after; /* seconds, from the Retry-After header */
	int attempt;
	double not_before; /* monotonic seconds */
	double started;    /* when this attempt's transfer began (monotonic seconds) */
	double deadline;   /* end of the retry budget */
	long timeout_ms;   /* 0: none (a watch) */
	long silence_s;    /* abort when no byte arrives for this long (watches) */
	int no_retry;      /* the caller handles failures itself (watches) */
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	call_done_fn done;
	call_data_fn on_data;
	void *ud;
	int stopped;               /* on_data asked to stop */
	struct call *next;         /* in the queue */
	struct call *next_running; /* in the running list */
};

struct kube_client {
	CURLM *multi;
	struct kube_config *cfg;
	struct kube_client_opts o;
	char *token;
	double token_checked;
	long long token_mtime;
	long long token_size;
	double bucket;
	double bucket_t;
	struct call *queue_head, *queue_tail;
	struct call *running_head;
	int active;
	int running;
	unsigned long requests;
	struct kube_resource *res;
	size_t nres, capres;
	double disc_t;
	int disc_loaded;
	unsigned watches;
};

double kube_now(void);

/*
 * A new call; the engine owns it once submitted. `body` is copied. The path
 * is appended to the server URL.
 */
/* kube_request() with an Accept header of its own (`accept`: a static
 * string; NULL: application/json). */
int kube_request_accept(struct kube_client *c, struct kube_result *r, const char *method,
                        const char *path, const char *content_type, const char *body, size_t len,
                        const char *accept);
struct call *call_new(struct kube_client *c, const char *method, const char *path,
                      const char *ctype, const char *body, size_t blen);
void call_submit(struct call *call);
/* Submit, to start no earlier than `delay_s` seconds from now. */
void call_submit_after(struct call *call, double delay_s);

/* Cancel a call that is queued or running; its done callback is not called. */
void call_cancel(struct call *call);

/*
 * Map a non-2xx response to a SLUICE_E* code and a one-line message (the
 * API's Status message, with each field cause of an Invalid).
 */
int kube_status_error(long status, const char *body, size_t len, const char *method,
                      const char *url, char *msg, size_t n);

/*
 * Append a resource's path to b: /api/v1[/namespaces/NS]/RESOURCE[/NAME][/SUB].
 * `ns` NULL means the client's namespace; "" all namespaces.
 */
int kube_resource_path(struct kube_client *c, struct buf *b, const struct kube_resource *r,
                       const char *ns, const char *name, const char *sub);

/* Percent-encode a query value or path segment into a new string. */
char *kube_escape(const char *s);

#endif
