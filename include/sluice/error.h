/*
 * sluice error convention.
 *
 * Every fallible function returns an int: 0 on success, a negative SLUICE_E*
 * code on failure. The failing function records a one-line, human-readable
 * message with sluice_error_set(); the caller reads it with
 * sluice_error_last(). Messages are per thread, as in libgit2.
 *
 * Library boundaries (libcurl, libgit2, libyaml, jansson) are translated at
 * the call site and the library's own message is copied at once.
 */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

enum sluice_error_code {
	SLUICE_OK = 0,
	SLUICE_ERROR = -1,         /* generic failure */
	SLUICE_ENOMEM = -2,        /* allocation failed */
	SLUICE_EINVALID = -3,      /* input rejected (syntax, schema, usage) */
	SLUICE_ENOTFOUND = -4,     /* the named thing does not exist */
	SLUICE_ECONFLICT = -5,     /* conflict or duplicate */
	SLUICE_EAUTH = -6,         /* authentication or authorisation refused */
	SLUICE_ELIMIT = -7,        /* a documented size, depth or count limit hit */
	SLUICE_EIO = -8,           /* operating-system I/O error */
	SLUICE_ETIMEOUT = -9,      /* a deadline passed */
	SLUICE_EUNSAFE = -10,      /* refused for safety (e.g. symlink out of root) */
	SLUICE_EEXISTS = -11,      /* already exists (create of an existing object) */
	SLUICE_EFORBIDDEN = -12,   /* authenticated, but not allowed (RBAC) */
	SLUICE_EGONE = -13,        /* expired (a watch's resourceVersion is too old) */
	SLUICE_EUNAVAILABLE = -14, /* server overloaded or failing after retries */
	SLUICE_ETLS = -15,         /* TLS handshake or certificate verification failed */
};

/* Longest message kept; longer ones are truncated with "...". */
#define SLUICE_ERROR_MSG_MAX 1024

/*
 * Record `code` and a printf-style message for this thread and return `code`,
 * so that `return sluice_error_set(SLUICE_EINVALID, "...")` reads naturally.
 * Newlines in the message are replaced by spaces: a message is one line.
 */
int sluice_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread; never NULL ("" when none). */
const char *sluice_error_last(void);

/* The last code recorded on this thread (SLUICE_OK when none). */
int sluice_error_last_code(void);

/* Forget the last error of this thread. */
void sluice_error_clear(void);

/* A short constant name for a code, e.g. "ELIMIT". */
const char *sluice_error_name(int code);

#endif
