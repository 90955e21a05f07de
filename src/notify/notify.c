/*
 * Notifications of sluiced's decisions to webhooks (notify.h). A decision is
 * queued and the caller goes on; one thread sends, with retries. The queue is
 * bounded: when a sink is down for long, the oldest notices are dropped (and
 * counted), never the loop's time.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/notify.h"

#define QUEUE_MAX  256
#define ATTEMPTS   4
#define TIMEOUT_MS 5000L

struct notice {
	char *generic; /* JSON body for the generic webhook */
	char *slack;   /* JSON body for Slack */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t ready, idle;
	struct notice q[QUEUE_MAX];
	size_t head, count;
	int sending, closing, started;
	char *webhook_url, *slack_url;
	long backoff_ms;
	pthread_t thread;
} nq = {.lock = PTHREAD_MUTEX_INITIALIZER,
        .ready = PTHREAD_COND_INITIALIZER,
        .idle = PTHREAD_COND_INITIALIZER};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void count(const char *sink, const char *result)
{
	struct metrics *m = metrics_default();
	if (m)
		metrics_add(m, "sluice_notifications_total",
		            (const char *const[]){sink, result, NULL}, 1);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* One POST; 0 on a 2xx. */
static int post(const char *url, const char *body, char *why, size_t whyn)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	long status = 0;
	CURLcode rc;

	if (!e) {
		curl_slist_free_all(h);
		snprintf(why, whyn, "out of memory");
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		snprintf(why, whyn, "%s", curl_easy_strerror(rc));
		return -1;
	}
	if (status < 200 || status >= 300) {
		snprintf(why, whyn, "HTTP %ld", status);
		return -1;
	}
	return 0;
}

static void deliver(const char *sink, const char *url, const char *body)
{
	char why[256] = "";

	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		if (attempt) {
			long ms = nq.backoff_ms << (attempt - 1);
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (post(url, body, why, sizeof(why)) == 0) {
			count(sink, "sent");
			return;
		}
	}
	count(sink, "failed");
	slog(SLOG_WARN, "notification not delivered", "sink", sink, "error", why, NULL);
}

static void *sender(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&nq.lock);
	for (;;) {
		while (!nq.count && !nq.closing)
			pthread_cond_wait(&nq.ready, &nq.lock);
		if (!nq.count)
			break;
		struct notice n = nq.q[nq.head];
		nq.head = (nq.head + 1) % QUEUE_MAX;
		nq.count--;
		nq.sending = 1;
		pthread_mutex_unlock(&nq.lock);
		if (nq.webhook_url)
			deliver("webhook", nq.webhook_url, n.generic);
		if (nq.slack_url)
			deliver("slack", nq.slack_url, n.slack);
		free(n.generic);
		free(n.slack);
		pthread_mutex_lock(&nq.lock);
		nq.sending = 0;
		pthread_cond_broadcast(&nq.idle);
	}
	pthread_mutex_unlock(&nq.lock);
	return NULL;
}

static char *env_url(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return NULL;
	slog_add_secret(v); /* a webhook URL is a credential (Slack's are) */
	return strdup(v);
}

static void flush_at_exit(void)
{
	notify_flush(2000); /* what is queued gets its chance; an exit waits no longer */
}

static void start(void)
{
	const char *b = getenv("SLUICE_NOTIFY_BACKOFF_MS");
	struct metrics *m = metrics_default();

	nq.webhook_url = env_url("SLUICE_NOTIFY_WEBHOOK_URL");
	nq.slack_url = env_url("SLUICE_NOTIFY_SLACK_URL");
	nq.backoff_ms = b ? atol(b) : 1000;
	if (nq.backoff_ms <= 0 || nq.backoff_ms > 60000)
		nq.backoff_ms = 1000;
	if (!nq.webhook_url && !nq.slack_url)
		return;
	if (m)
		metrics_family(m, METRICS_COUNTER, "sluice_notifications_total",
		               "Notifications by sink (webhook, slack) and result (sent, failed "
		               "after retries, dropped from a full queue).",
		               (const char *const[]){"sink", "result", NULL});
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pthread_create(&nq.thread, NULL, sender, NULL) == 0) {
		nq.started = 1;
		atexit(flush_at_exit);
	} else
		slog(SLOG_ERROR, "notifications: cannot start the sender", NULL);
}

int notify_enabled(void)
{
	pthread_once(&once, start);
	return nq.started;
}

static char *generic_body(const struct notify_event *ev, const char *when)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kind", ev->kind ?: "",
	                      "namespace", ev->namespace ?: "", "name", ev->name ?: "", "type",
	                      ev->warning ? "Warning" : "Normal", "reason", ev->reason ?: "",
	                      "message", ev->message ?: "", "time", when);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static char *slack_body(const struct notify_event *ev)
{
	char text[1400];
	snprintf(text, sizeof(text), "%s %s %s/%s: %s — %.1000s",
	         ev->warning ? ":x:" : ":ok:", ev->kind ?: "", ev->namespace ?: "", ev->name ?: "",
	         ev->reason ?: "", ev->message ?: "");
	json_t *o = json_pack("{s:s}", "text", text);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

void notify_event(const struct notify_event *ev)
{
	char when[32], msg[1100];
	struct notify_event clean = *ev;
	time_t now = time(NULL);
	struct tm tm;

	if (!notify_enabled())
		return;
	slog_redact(msg, sizeof(msg), ev->message ? ev->message : "");
	clean.message = msg;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	struct notice n = {generic_body(&clean, when), slack_body(&clean)};
	if (!n.generic || !n.slack) {
		free(n.generic);
		free(n.slack);
		return;
	}
	pthread_mutex_lock(&nq.lock);
	if (nq.closing) {
		pthread_mutex_unlock(&nq.lock);
		free(n.generic);
		free(n.slack);
		return;
	}
	if (nq.count == QUEUE_MAX) { /* full: the oldest goes */
		struct notice *old = &nq.q[nq.head];
		free(old->generic);
		free(old->slack);
		nq.head = (nq.head + 1) % QUEUE_MAX;
		nq.count--;
		if (nq.webhook_url)
			count("webhook", "dropped");
		if (nq.slack_url)
			count("slack", "dropped");
	}
	nq.q[(nq.head + nq.count) % QUEUE_MAX] = n;
	nq.count++;
	pthread_cond_signal(&nq.ready);
	pthread_mutex_unlock(&nq.lock);
}

void notify_flush(long timeout_ms)
{
	struct timespec until;

	if (!nq.started)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&nq.lock);
	while ((nq.count || nq.sending) && pthread_cond_timedwait(&nq.idle, &nq.lock, &until) == 0)
		;
	pthread_mutex_unlock(&nq.lock);
}
