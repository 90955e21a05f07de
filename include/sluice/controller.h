/*
 * sluiced, the controller. cmd/sluiced.c is only
 * `return controller_main(argc, argv);`.
 */
#ifndef SLUICE_CONTROLLER_H
#define SLUICE_CONTROLLER_H

int controller_main(int argc, char **argv);

struct single_opts {
	const char *repo;       /* Git URL or path */
	const char *path;       /* folder in the repository ("" or NULL: the root) */
	const char *revision;   /* NULL: the remote's HEAD */
	const char *namespace;  /* for namespaced objects naming none; holds the inventory */
	const char *app;        /* the tracking label's value */
	const char *cache_dir;  /* mirrors and checkouts */
	const char *kubeconfig; /* NULL: in-cluster when there, else $KUBECONFIG */
	long interval_s;        /* between rounds (default 60) */
	int once;               /* one round, then exit 0 / 1 invalid / 2 other failure */
};

/*
 * Single-app mode (no Application resource). Git credentials come from the
 * environment, never the command line: SLUICE_GIT_USERNAME,
 * SLUICE_GIT_PASSWORD, SLUICE_GIT_SSH_KEY_FILE, SLUICE_GIT_KNOWN_HOSTS_FILE,
 * SLUICE_GIT_CA_FILE. Returns the process exit status.
 */
int controller_run_single(const struct single_opts *o);

#endif
