/*
 * The kubelet stand-in of the test sandbox: it watches every pod and, after
 * a short delay, marks it Running and Ready through the status subresource,
 * so that Deployments really progress and become Available.
 *
 *   SANDBOX_READY_DELAY_MS   delay before a pod turns ready (default 300)
 *   pod annotation sandbox.sluice.dev/ready: "false"   Running, never Ready
 *   pod annotation sandbox.sluice.dev/fail: "true"     phase Failed
 *
 * It uses sluice's own Kubernetes client (a watch plus status patches).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/log.h"

struct pending {
	char ns[256], name[256];
	char mode; /* 'r' ready, 'u' unready, 'f' fail */
	char containers[8][128];
	char images[8][256];
	int ncontainers;
	double due;
	struct pending *next;
};

static volatile sig_atomic_t stop;
static struct pending *todo;
static double delay_s = 0.3;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char *annotation(const json_t *pod, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"), key));
}

static int has_condition(const json_t *pod, const char *type, const char *status)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));
		const char *s = json_string_value(json_object_get(c, "status"));
		if (t && s && strcmp(t, type) == 0 && strcmp(s, status) == 0)
			return 1;
	}
	return 0;
}

static void on_pod(void *ud, enum kube_event type, json_t *pod)
{
	const char *phase, *ns, *name, *a;
	struct pending *p;
	char mode = 'r';

	(void)ud;
	if (!pod || type == KUBE_DELETED)
		return;
	if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
		return;
	phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
	if ((a = annotation(pod, "sandbox.sluice.dev/fail")) && strcmp(a, "true") == 0)
		mode = 'f';
	else if ((a = annotation(pod, "sandbox.sluice.dev/ready")) && strcmp(a, "false") == 0)
		mode = 'u';
	if (mode == 'f' && phase && strcmp(phase, "Failed") == 0)
		return;
	if (mode == 'r' && has_condition(pod, "Ready", "True"))
		return;
	if (mode == 'u' && phase && strcmp(phase, "Running") == 0)
		return;
	ns = json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
	name = json_string_value(json_object_get(json_object_get(pod, "metadata"), "name"));
	if (!ns || !name)
		return;
	for (p = todo; p; p = p->next)
		if (strcmp(p->ns, ns) == 0 && strcmp(p->name, name) == 0)
			return;
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	snprintf(p->ns, sizeof(p->ns), "%s", ns);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->mode = mode;
	p->due = now() + delay_s;
	size_t i;
	json_t *ctr;
	json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, ctr)
	{
		const char *cn = json_string_value(json_object_get(ctr, "name"));
		const char *im = json_string_value(json_object_get(ctr, "image"));
		if (!cn || p->ncontainers == 8)
			continue;
		snprintf(p->containers[p->ncontainers], sizeof(p->containers[0]), "%s", cn);
		snprintf(p->images[p->ncontainers], sizeof(p->images[0]), "%s", im ? im : "");
		p->ncontainers++;
	}
	p->next = todo;
	todo = p;
}

static void patch_pod(struct kube_client *c, const struct pending *p)
{
	char ts[32], patch[8192], statuses[6144] = "";
	time_t t = time(NULL);
	struct tm tm;
	const char *ready = p->mode == 'r' ? "True" : "False";
	struct kube_ref ref = {"v1", "Pod", p->ns, p->name};
	size_t o = 0;
	int rc;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (int i = 0; i < p->ncontainers && o < sizeof(statuses); i++)
		o += (size_t)snprintf(statuses + o, sizeof(statuses) - o,
		                      "%s{\"name\":\"%s\",\"image\":\"%s\",\"imageID\":\"\","
		                      "\"ready\":%s,\"started\":true,\"restartCount\":0,"
		                      "\"state\":{\"running\":{\"startedAt\":\"%s\"}}}",
		                      i ? "," : "", p->containers[i], p->images[i],
		                      p->mode == 'r' ? "true" : "false", ts);
	snprintf(
	    patch, sizeof(patch),
	    "{\"status\":{\"phase\":\"%s\",\"hostIP\":\"127.0.0.1\",\"podIP\":\"127.0.0.1\","
	    "\"podIPs\":[{\"ip\":\"127.0.0.1\"}],\"startTime\":\"%s\",\"containerStatuses\":[%s],"
	    "\"conditions\":["
	    "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"},"
	    "{\"type\":\"Initialized\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"},"
	    "{\"type\":\"ContainersReady\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"},"
	    "{\"type\":\"Ready\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"}]}}",
	    p->mode == 'f' ? "Failed" : "Running", ts, statuses, ts, ts, ready, ts, ready, ts);
	rc = kube_patch(c, NULL, &ref, KUBE_PATCH_STRATEGIC, patch, "status", 0);
	if (rc < 0 && rc != SLUICE_ENOTFOUND)
		slog(SLOG_WARN, "standin: status patch failed", "pod", p->name, "error",
		     sluice_error_last(), NULL);
	else if (rc == 0)
		slog(SLOG_INFO, "standin: pod status set", "namespace", p->ns, "pod", p->name,
		     "ready", ready, NULL);
}

int main(void)
{
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	struct kube_watch *w = NULL;
	struct kube_ref pods = {"v1", "Pod", "", NULL};
	const char *d = getenv("SANDBOX_READY_DELAY_MS");

	slog_setup(SLOG_TEXT, SLOG_INFO, stderr);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (d && *d)
		delay_s = atof(d) / 1000.0;
	if (kube_config_load(&cfg, NULL, NULL) < 0 || kube_client_new(&c, cfg, NULL) < 0 ||
	    kube_watch_start(&w, c, &pods, NULL, on_pod, NULL) < 0) {
		fprintf(stderr, "standin: %s\n", sluice_error_last());
		return 1;
	}
	while (!stop) {
		kube_client_run(c, 50);
		double t = now();
		struct pending **pp = &todo;
		while (*pp) {
			struct pending *p = *pp;
			if (p->due > t) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			patch_pod(c, p);
			free(p);
		}
	}
	kube_watch_stop(w);
	kube_client_free(c);
	kube_config_free(cfg);
	return 0;
}
