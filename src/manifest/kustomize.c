/*
 * Folders with a kustomization file are rendered by `kubectl kustomize` (when
 * kubectl is installed), in a child process bounded in time and output, and
 * the result is loaded like any manifest file.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/manifest.h"

#define KUSTOMIZE_MAX_OUTPUT (64u << 20)

static const char *const names[] = {"kustomization.yaml", "kustomization.yml", "Kustomization"};

const char *manifest_kustomization(const char *root)
{
	char p[4200];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, names[i]);
		if (access(p, F_OK) == 0)
			return names[i];
	}
	return NULL;
}

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4200];

	if (!path)
		return 0;
	for (const char *p = path; *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (access(buf, X_OK) == 0)
			return 1;
		p += n + (colon ? 1 : 0);
	}
	return 0;
}

int manifest_kustomize(struct manifest_set **out, const char *root, const char *shown,
                       struct diag *errs, long timeout_ms)
{
	const char *file = manifest_kustomization(root);
	int opipe[2], epipe[2], status = 0, rc;
	struct buf o, e;
	char place[4400];
	pid_t pid;

	*out = NULL;
	snprintf(place, sizeof(place), "%s/%s", shown, file ? file : "kustomization.yaml");
	if (!on_path("kubectl")) {
		diag_add(errs,
		         "%s:1: rendering a kustomization needs kubectl (kubectl kustomize), which "
		         "is not installed",
		         place);
		return SLUICE_EINVALID;
	}
	if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0)
		return sluice_error_set(SLUICE_EIO, "kustomize: pipe: %s", strerror(errno));
	/* posix_spawn, not fork: sluiced renders on worker threads, and a forked
	 * child of a threaded process may only exec */
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)"kubectl", (char *)"kustomize", (char *)root, NULL};
	extern char **environ;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
	posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
	int src = posix_spawnp(&pid, "kubectl", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (src != 0) {
		close(opipe[0]);
		close(opipe[1]);
		close(epipe[0]);
		close(epipe[1]);
		return sluice_error_set(SLUICE_EIO, "kustomize: cannot run kubectl: %s",
		                        strerror(src));
	}
	close(opipe[1]);
	close(epipe[1]);
	buf_init(&o, KUSTOMIZE_MAX_OUTPUT);
	buf_init(&e, 64 * 1024);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int open_fds = 2, over = 0, timed_out = 0;
	struct pollfd pf[2] = {{opipe[0], POLLIN, 0}, {epipe[0], POLLIN, 0}};
	while (open_fds > 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = timeout_ms -
		            ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(pf, 2, (int)left) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			char chunk[65536];
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t r = read(pf[i].fd, chunk, sizeof(chunk));
			if (r <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open_fds--;
			} else if (buf_add(i ? &e : &o, chunk, (size_t)r) < 0 && !i) {
				over = 1;
				timed_out = 0;
				open_fds = 0;
			}
		}
	}
	if (timed_out || over)
		kill(pid, SIGKILL);
	for (int i = 0; i < 2; i++)
		if (pf[i].fd >= 0)
			close(pf[i].fd);
	waitpid(pid, &status, 0);
	if (timed_out || over) {
		diag_add(errs, "%s:1: kubectl kustomize %s", place,
		         over ? "printed more than 64 MiB" : "did not finish in time");
		rc = SLUICE_EINVALID;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *line = e.ptr ? e.ptr : (char *)"failed";
		line[strcspn(line, "\n")] = '\0';
		/* kubectl logs through klog: keep only the error itself */
		char *err = strstr(line, " err=\"");
		if (err) {
			line = err + 6;
			size_t n = strlen(line);
			if (n && line[n - 1] == '"')
				line[n - 1] = '\0';
		} else if (strncmp(line, "Error: ", 7) == 0) {
			line += 7;
		}
		diag_add(errs, "%s:1: kustomize: %s", place, line);
		rc = SLUICE_EINVALID;
	} else {
		struct manifest_set *set = manifest_set_new();
		char name[4500];
		snprintf(name, sizeof(name), "%s (rendered)", place);
		rc = set ? manifest_load_buffer(set, o.ptr ? o.ptr : "", o.len, name, errs)
		         : SLUICE_ENOMEM;
		if (rc == 0)
			*out = set;
		else
			manifest_set_free(set);
	}
	buf_dispose(&o);
	buf_dispose(&e);
	return rc;
}
