/*
 * The kubelet stand-in of the test sandbox: it watches every pod and, after
 * a short delay, marks it Running and Ready through the status subresource,
 * so that Deployments really progress and become Available.
 *
 *   SANDBOX_READY_DELAY_MS   delay before a pod turns ready (default 300)
 *   pod annotation sandbox.sluice.dev/ready: "false"   Running, never Ready
 *   pod annotation sandbox.sluice.dev/fail: "true"     phase Failed
 *
 * Process mode: a pod annotated sandbox.sluice.dev/process: demoapp (or every
 * pod, when SANDBOX_PROCESSES=1) runs a real demoapp process. The stand-in
 * binds a free port on 127.0.0.1 and hands the listening socket to the
 * process, so the port is known before it starts; it annotates the pod
 * sandbox.sluice.dev/port: "N", marks it Running, and Ready only once GET
 * /healthz answers 200 (and the delay has passed). The process gets the first
 * container's env (plain values), DEMO_IMAGE (its image: the tag is the
 * version), POD_NAME, POD_NAMESPACE and PORT. A process that exits is started
 * again on the same socket after RESTART_S (the pod NotReady meanwhile); a
 * pod deleted, or the stand-in stopping, stops its process (SIGTERM, then
 * SIGKILL after STOP_GRACE_S).
 *
 *   SANDBOX_DEMOAPP        the demoapp binary (default ../examples/demoapp
 *                          beside this program, as the Makefile builds it)
 *   SANDBOX_TARGETS_FILE   Prometheus file_sd targets of the Ready processes
 *                          (default targets.json beside $KUBECONFIG), rewritten
 *                          on each change: labels namespace, pod and
 *                          pod_template_hash
 *
 * It uses sluice's own Kubernetes client (a watch plus patches).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/log.h"

#define MAX_CONTAINERS 8
#define MAX_ENV        64
#define RESTART_S      1.0
#define STOP_GRACE_S   3.0
#define PROBE_EVERY_S  0.1
#define PROBE_MS       200
#define RECONCILE_S    1.0

#define ANN_PROCESS "sandbox.sluice.dev/process"
#define ANN_PORT    "sandbox.sluice.dev/port"

struct podinfo {
	char ns[256], name[256];
	char containers[MAX_CONTAINERS][128];
	char images[MAX_CONTAINERS][256];
	int ncontainers;
};

struct pending {
	struct podinfo pod;
	char mode; /* 'r' ready, 'u' unready, 'f' fail */
	double due;
	struct pending *next;
};

/* A pod's process, from its first sight to its pod's deletion. */
enum proc_state { PROC_NEW, PROC_STARTING, PROC_READY, PROC_EXITED };

struct proc {
	struct podinfo pod;
	char uid[64];
	char hash[64];      /* the pod's pod-template-hash label, for the targets */
	char *env[MAX_ENV]; /* "K=V", owned; NULL-terminated */
	int want_ready;     /* 0: annotated ready "false" */
	int fd;             /* the listening socket, kept across restarts */
	int port;
	pid_t pid; /* 0: not running */
	int restarts;
	enum proc_state state;
	double ready_after, due; /* due: the next probe or restart */
	struct proc *next_proc;
};

/* A process told to stop, until it is reaped. */
struct dying {
	pid_t pid;
	double kill_at;
	struct dying *next;
};

static volatile sig_atomic_t stop;
static struct pending *todo;
static struct proc *procs;
static struct dying *dying;
static double delay_s = 0.3;
static int all_processes;
static char demoapp[PATH_MAX];
static char targets_file[PATH_MAX];
static int targets_dirty = 1;

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

static const json_t *meta(const json_t *pod)
{
	return json_object_get(pod, "metadata");
}

static const char *annotation(const json_t *pod, const char *key)
{
	return json_string_value(json_object_get(json_object_get(meta(pod), "annotations"), key));
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

static int podinfo_from(struct podinfo *p, const json_t *pod)
{
	const char *ns = json_string_value(json_object_get(meta(pod), "namespace"));
	const char *name = json_string_value(json_object_get(meta(pod), "name"));
	size_t i;
	json_t *ctr;

	if (!ns || !name)
		return -1;
	memset(p, 0, sizeof(*p));
	snprintf(p->ns, sizeof(p->ns), "%s", ns);
	snprintf(p->name, sizeof(p->name), "%s", name);
	json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, ctr)
	{
		const char *cn = json_string_value(json_object_get(ctr, "name"));
		const char *im = json_string_value(json_object_get(ctr, "image"));
		if (!cn || p->ncontainers == MAX_CONTAINERS)
			continue;
		snprintf(p->containers[p->ncontainers], sizeof(p->containers[0]), "%s", cn);
		snprintf(p->images[p->ncontainers], sizeof(p->images[0]), "%s", im ? im : "");
		p->ncontainers++;
	}
	return 0;
}

/* Patch a pod's status: phase, readiness and one running status per container. */
static void patch_status(struct kube_client *c, const struct podinfo *p, const char *phase,
                         int ready, int restarts)
{
	char ts[32], patch[8192], statuses[6144] = "";
	time_t t = time(NULL);
	struct tm tm;
	const char *r = ready ? "True" : "False";
	struct kube_ref ref = {"v1", "Pod", p->ns, p->name};
	size_t o = 0;
	int rc;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (int i = 0; i < p->ncontainers && o < sizeof(statuses); i++)
		o += (size_t)snprintf(statuses + o, sizeof(statuses) - o,
		                      "%s{\"name\":\"%s\",\"image\":\"%s\",\"imageID\":\"\","
		                      "\"ready\":%s,\"started\":true,\"restartCount\":%d,"
		                      "\"state\":{\"running\":{\"startedAt\":\"%s\"}}}",
		                      i ? "," : "", p->containers[i], p->images[i],
		                      ready ? "true" : "false", restarts, ts);
	snprintf(
	    patch, sizeof(patch),
	    "{\"status\":{\"phase\":\"%s\",\"hostIP\":\"127.0.0.1\",\"podIP\":\"127.0.0.1\","
	    "\"podIPs\":[{\"ip\":\"127.0.0.1\"}],\"startTime\":\"%s\",\"containerStatuses\":[%s],"
	    "\"conditions\":["
	    "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"},"
	    "{\"type\":\"Initialized\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"},"
	    "{\"type\":\"ContainersReady\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"},"
	    "{\"type\":\"Ready\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"}]}}",
	    phase, ts, statuses, ts, ts, r, ts, r, ts);
	rc = kube_patch(c, NULL, &ref, KUBE_PATCH_STRATEGIC, patch, "status", 0);
	if (rc < 0 && rc != SLUICE_ENOTFOUND)
		slog(SLOG_WARN, "standin: status patch failed", "pod", p->name, "error",
		     sluice_error_last(), NULL);
	else if (rc == 0)
		slog(SLOG_INFO, "standin: pod status set", "namespace", p->ns, "pod", p->name,
		     "ready", r, NULL);
}

/* ---- process mode ------------------------------------------------------ */

static struct proc *proc_find(const char *ns, const char *name)
{
	for (struct proc *p = procs; p; p = p->next_proc)
		if (strcmp(p->pod.ns, ns) == 0 && strcmp(p->pod.name, name) == 0)
			return p;
	return NULL;
}

/* SIGTERM now, SIGKILL past the grace; reaped by reap(). */
static void proc_kill(pid_t pid)
{
	struct dying *d;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	d->pid = pid;
	d->kill_at = now() + STOP_GRACE_S;
	d->next = dying;
	dying = d;
}

/* Stop the pod's process and forget it. */
static void proc_remove(struct proc *p)
{
	struct proc **pp;

	for (pp = &procs; *pp && *pp != p; pp = &(*pp)->next_proc)
		;
	if (*pp)
		*pp = p->next_proc;
	slog(SLOG_INFO, "standin: process stopped", "namespace", p->pod.ns, "pod", p->pod.name,
	     NULL);
	proc_kill(p->pid);
	if (p->fd >= 0)
		close(p->fd);
	for (int i = 0; p->env[i]; i++)
		free(p->env[i]);
	if (p->state == PROC_READY)
		targets_dirty = 1;
	free(p);
}

static void env_add(struct proc *p, int *n, const char *key, const char *value)
{
	char *kv;

	if (*n >= MAX_ENV - 1 || !key || !value || asprintf(&kv, "%s=%s", key, value) < 0)
		return;
	p->env[(*n)++] = kv;
}

/* What a container sees: its env's plain values, and the pod's own names. */
static void proc_env(struct proc *p, const json_t *pod)
{
	static const char *const passed[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	const json_t *ctr =
	    json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
	char port[16];
	size_t i;
	json_t *e;
	int n = 0;

	snprintf(port, sizeof(port), "%d", p->port);
	env_add(p, &n, "PATH", "/usr/local/bin:/usr/bin:/bin");
	env_add(p, &n, "HOSTNAME", p->pod.name);
	env_add(p, &n, "POD_NAME", p->pod.name);
	env_add(p, &n, "POD_NAMESPACE", p->pod.ns);
	env_add(p, &n, "DEMO_IMAGE", p->pod.images[0]);
	env_add(p, &n, "PORT", port);
	for (i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		env_add(p, &n, passed[i], getenv(passed[i]));
	json_array_foreach(json_object_get(ctr, "env"), i, e)
	{
		const char *k = json_string_value(json_object_get(e, "name"));
		const char *v = json_string_value(json_object_get(e, "value"));
		if (k && *k && !strchr(k, '='))
			env_add(p, &n, k, v ? v : ""); /* valueFrom is not resolved here */
	}
	p->env[n] = NULL;
}

/* A listening socket on a free loopback port. */
static int listen_free(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int proc_spawn(struct proc *p)
{
	char *argv[] = {demoapp, (char *)"--listen-fd", (char *)"3", NULL};
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid < 0) {
		slog(SLOG_WARN, "standin: fork failed", "pod", p->pod.name, "error",
		     strerror(errno), NULL);
		return -1;
	}
	if (pid == 0) {
		/* the stand-in killed outright takes its processes along */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if (dup2(p->fd, 3) < 0) /* dup2 clears close-on-exec on 3 */
			_exit(1);
		signal(SIGPIPE, SIG_DFL);
		execve(demoapp, argv, p->env);
		_exit(127);
	}
	p->pid = pid;
	p->state = PROC_STARTING;
	p->due = now();
	return 0;
}

/* Does the process answer GET /healthz with 200 within PROBE_MS? */
static int probe(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                         .sin_port = htons((uint16_t)port)};
	struct timeval tv = {0, PROBE_MS * 1000};
	static const char req[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	char buf[64];
	ssize_t got = 0, k;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;

	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1)) {
		while (got < (ssize_t)sizeof(buf) - 1 &&
		       (k = recv(fd, buf + got, sizeof(buf) - 1 - (size_t)got, 0)) > 0)
			got += k;
		buf[got] = '\0';
		ok = strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0;
	}
	close(fd);
	return ok;
}

static void annotate_port(struct kube_client *c, const struct proc *p)
{
	char patch[256];
	struct kube_ref ref = {"v1", "Pod", p->pod.ns, p->pod.name};
	int rc;

	snprintf(patch, sizeof(patch), "{\"metadata\":{\"annotations\":{\"" ANN_PORT "\":\"%d\"}}}",
	         p->port);
	rc = kube_patch(c, NULL, &ref, KUBE_PATCH_MERGE, patch, NULL, 0);
	if (rc < 0 && rc != SLUICE_ENOTFOUND)
		slog(SLOG_WARN, "standin: port annotation failed", "pod", p->pod.name, "error",
		     sluice_error_last(), NULL);
}

/*
 * A pod to run a process for: its socket and env now (the watch's callback
 * makes no API request); annotation, status and the process at the next tick.
 */
static void proc_add(const json_t *pod, int want_ready)
{
	struct proc *p = calloc(1, sizeof(*p));
	const char *uid = json_string_value(json_object_get(meta(pod), "uid"));
	const char *hash = json_string_value(
	    json_object_get(json_object_get(meta(pod), "labels"), "pod-template-hash"));

	if (!p)
		return;
	p->fd = -1;
	if (podinfo_from(&p->pod, pod) < 0 || p->pod.ncontainers == 0) {
		free(p);
		return;
	}
	snprintf(p->uid, sizeof(p->uid), "%s", uid ? uid : "");
	snprintf(p->hash, sizeof(p->hash), "%s", hash ? hash : "");
	p->want_ready = want_ready;
	p->ready_after = now() + delay_s;
	if ((p->fd = listen_free(&p->port)) < 0) {
		slog(SLOG_WARN, "standin: no free port", "pod", p->pod.name, "error",
		     strerror(errno), NULL);
		free(p);
		return;
	}
	proc_env(p, pod);
	p->state = PROC_NEW;
	p->next_proc = procs;
	procs = p;
}

/* Its port on the pod, the pod Running (not Ready), then the process. */
static void proc_start(struct kube_client *c, struct proc *p)
{
	char port[16];

	annotate_port(c, p);
	patch_status(c, &p->pod, "Running", 0, 0);
	snprintf(port, sizeof(port), "%d", p->port);
	if (proc_spawn(p) == 0) {
		slog(SLOG_INFO, "standin: process started", "namespace", p->pod.ns, "pod",
		     p->pod.name, "port", port, NULL);
	} else {
		p->state = PROC_EXITED;
		p->due = now() + RESTART_S;
	}
}

/* Reap what exited: a pod's process is marked for a restart, a dying one forgotten. */
static void reap(struct kube_client *c)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct dying **dd;
		for (dd = &dying; *dd && (*dd)->pid != pid; dd = &(*dd)->next)
			;
		if (*dd) {
			struct dying *d = *dd;
			*dd = d->next;
			free(d);
			continue;
		}
		for (struct proc *p = procs; p; p = p->next_proc) {
			char code[16];
			if (p->pid != pid)
				continue;
			snprintf(code, sizeof(code), "%d",
			         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			slog(SLOG_WARN, "standin: process exited", "namespace", p->pod.ns, "pod",
			     p->pod.name, "status", code, NULL);
			if (p->state == PROC_READY)
				targets_dirty = 1;
			p->pid = 0;
			p->state = PROC_EXITED;
			p->restarts++;
			p->due = now() + RESTART_S;
			patch_status(c, &p->pod, "Running", 0, p->restarts);
		}
	}
	for (struct dying *d = dying; d; d = d->next)
		if (d->kill_at <= now()) {
			kill(d->pid, SIGKILL);
			d->kill_at = now() + STOP_GRACE_S;
		}
}

/* Probe starting processes, restart exited ones, drop those whose pod is gone. */
static void procs_tick(struct kube_client *c, const struct kube_watch *w)
{
	static double last_reconcile;
	double t = now();
	struct proc *p, *next;

	reap(c);
	if (t - last_reconcile >= RECONCILE_S) {
		const json_t *store = kube_watch_store(w);
		last_reconcile = t;
		for (p = procs; p; p = next) {
			char key[520];
			const json_t *pod;
			const char *uid;
			next = p->next_proc;
			snprintf(key, sizeof(key), "%s/%s", p->pod.ns, p->pod.name);
			pod = json_object_get(store, key);
			uid = json_string_value(json_object_get(meta(pod), "uid"));
			if (!pod || !uid || strcmp(uid, p->uid) != 0 ||
			    json_object_get(meta(pod), "deletionTimestamp"))
				proc_remove(p);
		}
	}
	for (p = procs; p; p = p->next_proc) {
		if (p->due > t)
			continue;
		if (p->state == PROC_NEW) {
			proc_start(c, p);
		} else if (p->state == PROC_EXITED) {
			proc_spawn(p);
		} else if (p->state == PROC_STARTING) {
			p->due = t + PROBE_EVERY_S;
			if (!p->want_ready || t < p->ready_after || !probe(p->port))
				continue;
			p->state = PROC_READY;
			targets_dirty = 1;
			patch_status(c, &p->pod, "Running", 1, p->restarts);
		}
	}
}

/* The Ready processes as Prometheus file_sd targets, written to a temp name and renamed. */
static void write_targets(void)
{
	char tmp[PATH_MAX + 8];
	json_t *all = json_array();
	FILE *f;

	targets_dirty = 0;
	if (!targets_file[0] || !all)
		goto out;
	for (struct proc *p = procs; p; p = p->next_proc) {
		char addr[32];
		json_t *labels;
		if (p->state != PROC_READY)
			continue;
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", p->port);
		labels = json_pack("{s:s, s:s}", "namespace", p->pod.ns, "pod", p->pod.name);
		if (labels && p->hash[0])
			json_object_set_new(labels, "pod_template_hash", json_string(p->hash));
		if (labels)
			json_array_append_new(
			    all, json_pack("{s:[s], s:o}", "targets", addr, "labels", labels));
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", targets_file);
	if (!(f = fopen(tmp, "w")) || json_dumpf(all, f, JSON_INDENT(1)) < 0 ||
	    fputc('\n', f) < 0) {
		slog(SLOG_WARN, "standin: cannot write targets", "file", targets_file, "error",
		     strerror(errno), NULL);
		if (f)
			fclose(f);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, targets_file) < 0)
		slog(SLOG_WARN, "standin: cannot write targets", "file", targets_file, "error",
		     strerror(errno), NULL);
out:
	json_decref(all);
}

/* Stop every process, and wait (bounded) until they are gone. */
static void procs_stop_all(void)
{
	double until = now() + STOP_GRACE_S;

	while (procs)
		proc_remove(procs);
	while (dying && now() < until) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		struct dying **dd;
		if (pid <= 0) {
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		for (dd = &dying; *dd && (*dd)->pid != pid; dd = &(*dd)->next)
			;
		if (*dd) {
			struct dying *d = *dd;
			*dd = d->next;
			free(d);
		}
	}
	while (dying) {
		struct dying *d = dying;
		dying = d->next;
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		free(d);
	}
}

static void setup_process_mode(const char *self)
{
	const char *e = getenv("SANDBOX_DEMOAPP"), *kc = getenv("KUBECONFIG");
	const char *t = getenv("SANDBOX_TARGETS_FILE"), *slash;
	char exe[PATH_MAX];
	ssize_t n;

	all_processes = (e = getenv("SANDBOX_PROCESSES")) && strcmp(e, "1") == 0;
	if ((e = getenv("SANDBOX_DEMOAPP")) && *e) {
		snprintf(demoapp, sizeof(demoapp), "%s", e);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			snprintf(exe, sizeof(exe), "%s", self);
		else
			exe[n] = '\0';
		slash = strrchr(exe, '/');
		snprintf(demoapp, sizeof(demoapp), "%.*s../examples/demoapp",
		         slash ? (int)(slash - exe + 1) : 0, exe);
	}
	if (t && *t)
		snprintf(targets_file, sizeof(targets_file), "%s", t);
	else if (kc && *kc && !strchr(kc, ':'))
		snprintf(targets_file, sizeof(targets_file), "%.*stargets.json",
		         strrchr(kc, '/') ? (int)(strrchr(kc, '/') - kc + 1) : 0, kc);
}

/* ---- the watch --------------------------------------------------------- */

static void on_pod(void *ud, enum kube_event type, json_t *pod)
{
	const char *phase, *a, *ns, *name, *program = NULL;
	struct pending *p;
	struct proc *running;
	char mode = 'r';

	(void)ud;
	if (!pod)
		return;
	ns = json_string_value(json_object_get(meta(pod), "namespace"));
	name = json_string_value(json_object_get(meta(pod), "name"));
	running = ns && name ? proc_find(ns, name) : NULL;
	if (type == KUBE_DELETED || json_object_get(meta(pod), "deletionTimestamp")) {
		if (running)
			proc_remove(running);
		return;
	}
	phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
	if ((a = annotation(pod, "sandbox.sluice.dev/fail")) && strcmp(a, "true") == 0)
		mode = 'f';
	else if ((a = annotation(pod, "sandbox.sluice.dev/ready")) && strcmp(a, "false") == 0)
		mode = 'u';
	if (mode != 'f' && ((program = annotation(pod, ANN_PROCESS)) || all_processes)) {
		const char *uid = json_string_value(json_object_get(meta(pod), "uid"));
		if (program && strcmp(program, "demoapp") != 0) {
			slog(SLOG_WARN, "standin: unknown process: only demoapp runs", "pod",
			     name ? name : "", "process", program, NULL);
			mode = 'f';
		} else {
			if (running && strcmp(running->uid, uid ? uid : "") == 0)
				return; /* its process runs: readiness is the probe's */
			if (running)
				proc_remove(running); /* the same name, another pod */
			if (!phase || strcmp(phase, "Pending") == 0 ||
			    strcmp(phase, "Running") == 0)
				proc_add(pod, mode == 'r');
			return;
		}
	}
	if (mode == 'f' && phase && strcmp(phase, "Failed") == 0)
		return;
	if (mode == 'r' && has_condition(pod, "Ready", "True"))
		return;
	if (mode == 'u' && phase && strcmp(phase, "Running") == 0)
		return;
	struct podinfo info;
	if (podinfo_from(&info, pod) < 0)
		return;
	for (p = todo; p; p = p->next)
		if (strcmp(p->pod.ns, info.ns) == 0 && strcmp(p->pod.name, info.name) == 0)
			return;
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->pod = info;
	p->mode = mode;
	p->due = now() + delay_s;
	p->next = todo;
	todo = p;
}

int main(int argc, char **argv)
{
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	struct kube_watch *w = NULL;
	struct kube_ref pods = {"v1", "Pod", "", NULL};
	const char *d = getenv("SANDBOX_READY_DELAY_MS");

	(void)argc;
	slog_setup(SLOG_TEXT, SLOG_INFO, stderr);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (d && *d)
		delay_s = atof(d) / 1000.0;
	setup_process_mode(argv[0]);
	if (kube_config_load(&cfg, NULL, NULL) < 0 || kube_client_new(&c, cfg, NULL) < 0) {
		fprintf(stderr, "standin: %s\n", sluice_error_last());
		return 1;
	}
	if (kube_watch_start(&w, c, &pods, NULL, on_pod, NULL) < 0) {
		fprintf(stderr, "standin: %s\n", sluice_error_last());
		kube_client_free(c);
		kube_config_free(cfg);
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
			patch_status(c, &p->pod, p->mode == 'f' ? "Failed" : "Running",
			             p->mode == 'r', 0);
			free(p);
		}
		procs_tick(c, w);
		if (targets_dirty)
			write_targets();
	}
	procs_stop_all();
	while (todo) {
		struct pending *p = todo;
		todo = p->next;
		free(p);
	}
	kube_watch_stop(w);
	kube_client_free(c);
	kube_config_free(cfg);
	return 0;
}
