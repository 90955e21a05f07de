/*
 * Git sources: a repository of manifests fetched into a cache and checked
 * out at one revision.
 *
 * Each fetch runs libgit2 in a child process (this program run again, so it
 * is safe from any thread; the settings travel over a socket), so that it is
 * bounded in time (killed at the deadline; libgit2 1.5 has no timeout of its
 * own), in memory and in bytes received, and so that process-wide libgit2
 * settings (a custom CA) never leak between sources. The first fetch clones a bare mirror into
 * the cache; later ones fetch into it, following force-pushed branches.
 *
 * Transports: a local path or file://, git://, https:// (user and password or
 * token, custom CA) and ssh:// or scp-like user@host:path (a private key, and
 * a known_hosts text that must list the server's key: an unknown or changed
 * host key is refused, never accepted). Use ed25519 or ECDSA keys: Debian 12's
 * libssh2 signs with RSA only as ssh-rsa (SHA-1), which current OpenSSH
 * servers refuse.
 */
#ifndef SLUICE_GIT_H
#define SLUICE_GIT_H

#include <stddef.h>

struct gitsrc_auth {
	const char *username;        /* https user, or ssh user when the URL names none */
	const char *password;        /* https password or token */
	const char *ssh_private_key; /* the key itself (PEM or OpenSSH text) */
	const char *ssh_passphrase;
	const char *ssh_known_hosts; /* known_hosts text; hashed host names are not supported */
	const char *ca_file;         /* PEM file of CAs to trust for https */
};

struct gitsrc_opts {
	const char *url;
	const char *revision;  /* branch, tag or commit; NULL or "" for the remote's HEAD */
	const char *cache_dir; /* holds the bare mirrors */
	const struct gitsrc_auth *auth;
	long timeout_ms;                 /* default 60000 */
	unsigned long long max_fetch;    /* bytes received in one fetch (default 512 MiB) */
	unsigned long long max_checkout; /* bytes of files checked out (default 256 MiB) */
	unsigned max_files;              /* files checked out (default 20000) */
};

struct gitsrc_result {
	char commit[41];   /* the checked-out commit */
	char subject[256]; /* its subject line */
	char author[128];
	long long time; /* its committer time (Unix seconds; 0 when unknown) */
};

/*
 * Fetch `o->url` and check `o->revision` out into the folder `dest`, which is
 * replaced whole (written beside it, then renamed into place), so readers
 * never see a half checkout. Returns 0 with *out filled; SLUICE_ETIMEOUT,
 * SLUICE_EAUTH (credentials refused), SLUICE_EUNSAFE (unknown or changed SSH
 * host key), SLUICE_ENOTFOUND (no such revision), SLUICE_ELIMIT (a size bound)
 * or SLUICE_ERROR otherwise, with a one-line message in which no password or
 * token appears.
 */
int gitsrc_fetch(struct gitsrc_result *out, const struct gitsrc_opts *o, const char *dest);

/*
 * Revert `commit` (40 hex digits) on the branch o->revision names (or the
 * remote's HEAD branch) and push the revert commit there with o->auth, so
 * that Git says again what the cluster runs. The revert is refused when the
 * commit is not on the branch, when later commits changed the same lines
 * (SLUICE_ECONFLICT), or when the branch moved meanwhile (the server refuses a
 * push that is not a fast-forward; SLUICE_ECONFLICT). The message names the
 * reverted commit and `reason`. *out gets the revert commit.
 */
int gitsrc_revert(struct gitsrc_result *out, const struct gitsrc_opts *o, const char *commit,
                  const char *reason);

/* The URL with any user:password@ part replaced by "***@", for messages. */
void gitsrc_redact_url(char *buf, size_t n, const char *url);

/*
 * Does `known_hosts` (text) list `key` (the raw SSH host key blob, as sent on
 * the wire) for `host` on `port`? 1 yes, 0 the host is listed with other keys
 * (changed key), -1 the host is not listed.
 */
int gitsrc_known_host(const char *known_hosts, const char *host, int port, const unsigned char *key,
                      size_t keylen);

#endif
