/*
 * Fetch and checkout in a child process (see include/sluice/git.h for why;
 * spawn_child() for how it starts). The child reports one line on its socket:
 * "ok SHA\tSUBJECT\tAUTHOR" or "err CODE\tMESSAGE".
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/git.h"
#include "sluice/log.h"
#include "sluice/metrics.h"

#define DEFAULT_TIMEOUT_MS   60000
#define DEFAULT_MAX_FETCH    (512ull << 20)
#define DEFAULT_MAX_CHECKOUT (256ull << 20)
#define DEFAULT_MAX_FILES    20000u
#define CHILD_MEMORY_LIMIT   (2ull << 30)

struct state {
	const struct gitsrc_opts *o;
	double deadline;
	int cred_attempts;
	int hostkey_refused; /* 1 unknown, 2 changed */
	int too_big;
	int timed_out;
	char host[256];
	int port;
	char keydir[64];
	char keyfile[96];
};

struct walk_sum {
	git_odb *odb;
	unsigned long long bytes;
	unsigned files;
	unsigned long long max_bytes;
	unsigned max_files;
	int over;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void gitsrc_redact_url(char *buf, size_t n, const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *at, *start = scheme ? scheme + 3 : url;
	const char *slash = strchr(start, '/');

	at = strchr(start, '@');
	if (scheme && at && (!slash || at < slash) && memchr(start, ':', (size_t)(at - start))) {
		snprintf(buf, n, "%.*s***@%s", (int)(start - url), url, at + 1);
		return;
	}
	snprintf(buf, n, "%s", url);
}

/* host and port of an ssh URL (ssh://[user@]host[:port]/path or user@host:path) */
static void ssh_host_port(struct state *st, const char *url)
{
	const char *h = url, *end;

	st->port = 22;
	st->host[0] = '\0';
	if (strncmp(url, "ssh://", 6) == 0 || strncmp(url, "git+ssh://", 10) == 0) {
		h = strstr(url, "://") + 3;
		const char *slash = strchr(h, '/');
		const char *at = strchr(h, '@');
		if (at && (!slash || at < slash))
			h = at + 1;
		end = h;
		while (*end && *end != '/' && *end != ':')
			end++;
		snprintf(st->host, sizeof(st->host), "%.*s", (int)(end - h), h);
		if (*end == ':')
			st->port = atoi(end + 1);
		return;
	}
	/* scp-like: [user@]host:path */
	const char *at = strchr(url, '@');
	const char *colon = strchr(url, ':');
	if (at && colon && at < colon)
		h = at + 1;
	if (colon)
		snprintf(st->host, sizeof(st->host), "%.*s", (int)(colon - h), h);
}

static int write_keyfile(struct state *st, const char *key)
{
	int fd;
	size_t n = strlen(key), o = 0;

	snprintf(st->keydir, sizeof(st->keydir), "/tmp/sluice-key-XXXXXX");
	if (!mkdtemp(st->keydir)) {
		st->keydir[0] = '\0';
		return -1;
	}
	snprintf(st->keyfile, sizeof(st->keyfile), "%s/key", st->keydir);
	fd = open(st->keyfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (o < n) {
		ssize_t w = write(fd, key + o, n - o);
		if (w <= 0)
			break;
		o += (size_t)w;
	}
	if (n == 0 || key[n - 1] != '\n')
		(void)!write(fd, "\n", 1);
	close(fd);
	return o == n ? 0 : -1;
}

static void remove_keyfile(struct state *st)
{
	if (st->keyfile[0])
		unlink(st->keyfile);
	if (st->keydir[0])
		rmdir(st->keydir);
}

static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
                   unsigned int allowed, void *payload)
{
	struct state *st = payload;
	const struct gitsrc_auth *a = st->o->auth;
	const char *user = user_from_url && *user_from_url ? user_from_url
	                   : a && a->username              ? a->username
	                                                   : "git";

	(void)url;
	if (!a || st->cred_attempts++ >= 1) {
		git_error_set_str(GIT_ERROR_NET,
		                  a ? "the credentials were refused"
		                    : "the server asks for credentials and none are set");
		return GIT_EAUTH;
	}
	if ((allowed & GIT_CREDENTIAL_SSH_MEMORY) && a->ssh_private_key)
		return git_credential_ssh_key_memory_new(out, user, NULL, a->ssh_private_key,
		                                         a->ssh_passphrase);
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && a->ssh_private_key) {
		/* this libgit2 takes keys from files only: a private file for this
		 * child process, removed when it ends */
		if (!st->keyfile[0] && write_keyfile(st, a->ssh_private_key) < 0) {
			git_error_set_str(GIT_ERROR_SSH,
			                  "cannot write the SSH key to a private file");
			return GIT_EAUTH;
		}
		return git_credential_ssh_key_new(out, user, NULL, st->keyfile, a->ssh_passphrase);
	}
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && a->password)
		return git_credential_userpass_plaintext_new(out, user, a->password);
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	git_error_set_str(GIT_ERROR_NET, "no usable credentials for this server");
	return GIT_EAUTH;
}

static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct state *st = payload;
	const char *kh = st->o->auth ? st->o->auth->ssh_known_hosts : NULL;

	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return valid ? 0 : GIT_PASSTHROUGH; /* TLS: libgit2 has verified it */
	const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
	if (!(hk->type & GIT_CERT_SSH_RAW) || !hk->hostkey) {
		git_error_set_str(GIT_ERROR_SSH, "the server's host key could not be read");
		return GIT_ECERTIFICATE;
	}
	int r = kh ? gitsrc_known_host(kh, st->host[0] ? st->host : host, st->port,
	                               (const unsigned char *)hk->hostkey, hk->hostkey_len)
	           : -1;
	if (r == 1)
		return 0;
	st->hostkey_refused = r == 0 ? 2 : 1;
	git_error_set_str(GIT_ERROR_SSH, r == 0 ? "the host key does not match known_hosts"
	                                        : "the host is not in known_hosts");
	return GIT_ECERTIFICATE;
}

static int progress_cb(const git_indexer_progress *p, void *payload)
{
	struct state *st = payload;

	if (p->received_bytes > st->o->max_fetch) {
		st->too_big = 1;
		git_error_set_str(GIT_ERROR_NET, "fetch too large");
		return -1;
	}
	if (mono() > st->deadline) {
		st->timed_out = 1;
		git_error_set_str(GIT_ERROR_NET, "timed out");
		return -1;
	}
	return 0;
}

static int sum_entry(const char *root, const git_tree_entry *e, void *payload)
{
	struct walk_sum *s = payload;
	size_t len = 0;
	git_object_t type;

	(void)root;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (git_odb_read_header(&len, &type, s->odb, git_tree_entry_id(e)) < 0)
		return -1;
	s->bytes += len;
	s->files++;
	if (s->bytes > s->max_bytes || s->files > s->max_files) {
		s->over = 1;
		return -1;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void report(int fd, const char *line)
{
	size_t n = strlen(line), o = 0;
	while (o < n) {
		ssize_t w = write(fd, line + o, n - o);
		if (w <= 0)
			break;
		o += (size_t)w;
	}
}

static void report_err(int fd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report_err(int fd, int code, const char *fmt, ...)
{
	char line[1024], msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *c = msg; *c; c++)
		if (*c == '\n' || *c == '\t' || *c == '\r')
			*c = ' ';
	snprintf(line, sizeof(line), "err %d\t%s\n", code, msg);
	report(fd, line);
}

static const char *giterr(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

/* The revision to check out, as a commit. */
static int resolve(git_object **out, git_repository *repo, const char *rev, const char *head)
{
	char ref[1024];
	git_object *obj = NULL;
	const char *tries[3];
	size_t n = 0;
	int rc;

	if (!rev || !*rev) {
		snprintf(ref, sizeof(ref), "refs/remotes/origin/%s",
		         strncmp(head, "refs/heads/", 11) == 0 ? head + 11 : head);
		tries[n++] = ref;
	} else {
		static char b[1024], t[1024];
		snprintf(b, sizeof(b), "refs/remotes/origin/%s", rev);
		snprintf(t, sizeof(t), "refs/tags/%s", rev);
		tries[n++] = b;
		tries[n++] = t;
	}
	for (size_t i = 0; i < n; i++) {
		git_reference *r = NULL;
		if (git_reference_lookup(&r, repo, tries[i]) == 0) {
			rc = git_reference_peel(out, r, GIT_OBJECT_COMMIT);
			git_reference_free(r);
			return rc;
		}
	}
	/* a commit id: hex only, so no revision expression reaches revparse */
	if (rev && strlen(rev) >= 4 && strlen(rev) <= 40 &&
	    strspn(rev, "0123456789abcdef") == strlen(rev) &&
	    git_revparse_single(&obj, repo, rev) == 0) {
		rc = git_object_peel(out, obj, GIT_OBJECT_COMMIT);
		git_object_free(obj);
		return rc;
	}
	return GIT_ENOTFOUND;
}

static void mirror_path(char *buf, size_t n, const char *cache, const char *url)
{
	unsigned long long h = 1469598103934665603ull;
	for (const char *c = url; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ull;
	snprintf(buf, n, "%s/mirror-%016llx.git", cache, h);
}

static void child_work(const struct gitsrc_opts *o, const char *dest, int fd, struct state *stp);

/* In the child: what it reverts and pushes, when it is asked to. */
static const char *revert_commit, *revert_reason;
static char *push_refused; /* the server's reason, when it refuses the push */

static int push_update_cb(const char *ref, const char *status, void *payload)
{
	(void)ref;
	(void)payload;
	if (status && push_refused)
		snprintf(push_refused, 256, "%s", status);
	return 0;
}

/*
 * In the child, after a fetch: revert `revert_commit` on top of the branch
 * (o->revision when it is a branch, else the remote's HEAD) and push the
 * revert commit to it; a push that is not a fast-forward is refused by the
 * server (someone pushed meanwhile) and reported.
 */
static void revert_and_push(const struct gitsrc_opts *o, git_repository *repo, git_remote *remote,
                            git_fetch_options *fo, const char *head, int fd)
{
	char branch[512], ref[600], msg[2048], spec[700], refused[256] = "";
	git_reference *tipref = NULL;
	git_commit *tip = NULL, *bad = NULL;
	git_index *index = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid bad_id, tree_id, new_id;
	git_push_options po;
	const char *rev = o->revision && *o->revision ? o->revision : NULL;

	snprintf(branch, sizeof(branch), "%s",
	         rev ? rev : (strncmp(head, "refs/heads/", 11) == 0 ? head + 11 : head));
	snprintf(ref, sizeof(ref), "refs/remotes/origin/%s", branch);
	if (git_reference_lookup(&tipref, repo, ref) < 0 ||
	    git_reference_peel((git_object **)&tip, tipref, GIT_OBJECT_COMMIT) < 0) {
		report_err(fd, SLUICE_EINVALID,
		           "cannot revert: \"%s\" is not a branch of the repository", branch);
		goto out;
	}
	if (git_oid_fromstr(&bad_id, revert_commit) < 0 ||
	    git_commit_lookup(&bad, repo, &bad_id) < 0) {
		report_err(fd, SLUICE_ENOTFOUND, "cannot revert: commit %.12s not found",
		           revert_commit);
		goto out;
	}
	if (!git_oid_equal(&bad_id, git_commit_id(tip)) &&
	    git_graph_descendant_of(repo, git_commit_id(tip), &bad_id) != 1) {
		report_err(fd, SLUICE_EINVALID, "cannot revert: commit %.12s is not on branch %s",
		           revert_commit, branch);
		goto out;
	}
	if (git_revert_commit(&index, repo, bad, tip, 0, NULL) < 0) {
		report_err(fd, SLUICE_ERROR, "cannot revert: %s", giterr());
		goto out;
	}
	if (git_index_has_conflicts(index)) {
		report_err(fd, SLUICE_ECONFLICT,
		           "cannot revert %.12s cleanly onto %s: later commits changed the same "
		           "lines",
		           revert_commit, branch);
		goto out;
	}
	if (git_index_write_tree_to(&tree_id, index, repo) < 0) {
		report_err(fd, SLUICE_ERROR, "cannot revert: %s", giterr());
		goto out;
	}
	if (git_oid_equal(&tree_id, git_commit_tree_id(tip))) {
		report_err(fd, SLUICE_EEXISTS, "commit %.12s is already undone on %s",
		           revert_commit, branch);
		goto out;
	}
	if (git_tree_lookup(&tree, repo, &tree_id) < 0 ||
	    git_signature_now(&sig, "sluice", "sluice@localhost") < 0) {
		report_err(fd, SLUICE_ERROR, "cannot revert: %s", giterr());
		goto out;
	}
	snprintf(msg, sizeof(msg),
	         "Revert \"%.200s\"\n\nThis reverts commit %s.\n\nsluice rolled it back: %.500s\n",
	         git_commit_summary(bad) ? git_commit_summary(bad) : "", revert_commit,
	         revert_reason ? revert_reason : "");
	const git_commit *parents[1] = {tip};
	/* no ref moves with the commit: refs/sluice/revert stays from the last
	 * revert in the shared mirror, and need not be this commit's parent */
	git_reference *rref = NULL;
	if (git_commit_create(&new_id, repo, NULL, sig, sig, NULL, msg, tree, 1, parents) < 0 ||
	    git_reference_create(&rref, repo, "refs/sluice/revert", &new_id, 1, "sluice revert") <
	        0) {
		report_err(fd, SLUICE_ERROR, "cannot write the revert commit: %s", giterr());
		goto out;
	}
	git_reference_free(rref);
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = fo->callbacks;
	po.callbacks.push_update_reference = push_update_cb; /* into `refused` */
	snprintf(spec, sizeof(spec), "refs/sluice/revert:refs/heads/%s", branch);
	char *specs[] = {spec};
	git_strarray refspecs = {specs, 1};
	push_refused = refused;
	/* the push is a connection of its own: it asks for credentials again */
	((struct state *)fo->callbacks.payload)->cred_attempts = 0;
	if (git_remote_push(remote, &refspecs, &po) < 0) {
		report_err(fd, SLUICE_ERROR, "cannot push the revert to %s: %s", branch, giterr());
		goto out;
	}
	if (refused[0]) {
		report_err(fd, SLUICE_ECONFLICT, "the server refused the revert push to %s: %s",
		           branch, refused);
		goto out;
	}
	char line[1024], hex[41];
	git_oid_tostr(hex, sizeof(hex), &new_id);
	snprintf(line, sizeof(line), "ok %s\tRevert \"%.200s\"\t%s\n", hex,
	         git_commit_summary(bad) ? git_commit_summary(bad) : "", "sluice");
	report(fd, line);
out:
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(index);
	git_commit_free(bad);
	git_commit_free(tip);
	git_reference_free(tipref);
}

static void child(const struct gitsrc_opts *o, const char *dest, int fd)
{
	struct state st;

	memset(&st, 0, sizeof(st));
	child_work(o, dest, fd, &st);
	remove_keyfile(&st);
}

static void child_work(const struct gitsrc_opts *o, const char *dest, int fd, struct state *stp)
{
	struct state *st = stp;
	struct rlimit rl = {CHILD_MEMORY_LIMIT, CHILD_MEMORY_LIMIT};
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_object *commit = NULL;
	git_tree *tree = NULL;
	git_odb *odb = NULL;
	git_buf head = GIT_BUF_INIT;
	git_fetch_options fo;
	char path[4096], tmp[4096], old[4096], line[1024];
	const char *specs[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"};
	git_strarray refspecs = {(char **)specs, 2};
	int rc;

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* a bound on memory (AddressSanitizer's shadow needs more address space) */
	setrlimit(RLIMIT_AS, &rl);
#else
	(void)rl;
#endif
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	st->o = o;
	st->deadline = mono() + (double)o->timeout_ms / 1000.0;
	ssh_host_port(st, o->url);
	git_libgit2_init();
	if (o->auth && o->auth->ca_file &&
	    git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, o->auth->ca_file, NULL) < 0) {
		report_err(fd, SLUICE_EINVALID, "cannot use the CA file: %s", giterr());
		return;
	}
	if (mkdir(o->cache_dir, 0700) < 0 && errno != EEXIST) {
		report_err(fd, SLUICE_EIO, "cannot create the cache folder: %s", strerror(errno));
		return;
	}
	mirror_path(path, sizeof(path), o->cache_dir, o->url);
	/* Applications of one repository share its mirror: one fetch at a time
	 * (the lock goes with this child process) */
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
		report_err(fd, SLUICE_EIO, "cannot lock the cache: %s", strerror(errno));
		return;
	}
	if (git_repository_open_bare(&repo, path) < 0 && git_repository_init(&repo, path, 1) < 0) {
		report_err(fd, SLUICE_EIO, "cannot open the cache: %s", giterr());
		return;
	}
	if (git_remote_create_anonymous(&remote, repo, o->url) < 0) {
		report_err(fd, SLUICE_EINVALID, "%s", giterr());
		return;
	}
	fo.callbacks.credentials = cred_cb;
	fo.callbacks.certificate_check = cert_cb;
	fo.callbacks.transfer_progress = progress_cb;
	fo.callbacks.payload = st;
	fo.prune = GIT_FETCH_PRUNE;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &fo.callbacks, &fo.proxy_opts, NULL);
	if (rc == 0 && (!o->revision || !*o->revision) &&
	    git_remote_default_branch(&head, remote) < 0) {
		git_remote_disconnect(remote);
		report_err(fd, SLUICE_ENOTFOUND,
		           "the repository has no default branch (is it empty?); name a revision");
		return;
	}
	if (rc == 0)
		rc = git_remote_download(remote, &refspecs, &fo);
	if (rc == 0)
		rc = git_remote_update_tips(remote, &fo.callbacks, 1, GIT_REMOTE_DOWNLOAD_TAGS_NONE,
		                            "sluice fetch");
	if (rc == 0)
		rc = git_remote_prune(remote, &fo.callbacks);
	git_remote_disconnect(remote);
	if (rc < 0) {
		if (st->timed_out)
			report_err(fd, SLUICE_ETIMEOUT, "timed out");
		else if (st->too_big)
			report_err(fd, SLUICE_ELIMIT,
			           "the fetch passed its size limit of %llu bytes", o->max_fetch);
		else if (st->hostkey_refused)
			report_err(fd, SLUICE_EUNSAFE, "refused: %s %s", st->host,
			           st->hostkey_refused == 2
			               ? "presented a host key that does not match known_hosts"
			               : "is not in known_hosts");
		else if (rc == GIT_EAUTH || st->cred_attempts > 1)
			report_err(fd, SLUICE_EAUTH, "authentication failed: %s", giterr());
		else if (rc == GIT_ECERTIFICATE)
			report_err(fd, SLUICE_EUNSAFE, "TLS certificate refused: %s", giterr());
		else
			report_err(fd, SLUICE_ERROR, "%s", giterr());
		return;
	}
	if (revert_commit) {
		revert_and_push(o, repo, remote, &fo, head.ptr ? head.ptr : "", fd);
		return;
	}
	rc = resolve(&commit, repo, o->revision, head.ptr ? head.ptr : "");
	if (rc < 0) {
		report_err(fd, SLUICE_ENOTFOUND, "revision \"%s\" not found",
		           o->revision && *o->revision ? o->revision : "HEAD");
		return;
	}
	struct walk_sum sum = {NULL, 0, 0, o->max_checkout, o->max_files, 0};
	if (git_commit_tree(&tree, (git_commit *)commit) < 0 ||
	    git_repository_odb(&odb, repo) < 0) {
		report_err(fd, SLUICE_ERROR, "%s", giterr());
		return;
	}
	sum.odb = odb;
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, sum_entry, &sum) < 0 && sum.over) {
		report_err(fd, SLUICE_ELIMIT, "the revision holds more than %u files or %llu bytes",
		           o->max_files, o->max_checkout);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", dest, (int)getpid());
	snprintf(old, sizeof(old), "%s.old-%d", dest, (int)getpid());
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(tmp, 0700) < 0) {
		report_err(fd, SLUICE_EIO, "cannot create the checkout folder: %s",
		           strerror(errno));
		return;
	}
	git_checkout_options co;
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	co.target_directory = tmp;
	if (git_checkout_tree(repo, commit, &co) < 0) {
		report_err(fd, SLUICE_ERROR, "checkout failed: %s", giterr());
		nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		return;
	}
	if (rename(dest, old) < 0 && errno != ENOENT) {
		report_err(fd, SLUICE_EIO, "cannot replace the checkout: %s", strerror(errno));
		return;
	}
	if (rename(tmp, dest) < 0) {
		report_err(fd, SLUICE_EIO, "cannot move the checkout into place: %s",
		           strerror(errno));
		rename(old, dest);
		return;
	}
	nftw(old, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	const git_signature *author = git_commit_author((git_commit *)commit);
	const char *summary = git_commit_summary((git_commit *)commit);
	char subject[256], who[128];
	snprintf(subject, sizeof(subject), "%s", summary ? summary : "");
	snprintf(who, sizeof(who), "%s", author && author->name ? author->name : "");
	for (char *c = subject; *c; c++)
		if (*c == '\t')
			*c = ' ';
	for (char *c = who; *c; c++)
		if (*c == '\t')
			*c = ' ';
	snprintf(line, sizeof(line), "ok %s\t%s\t%s\t%lld\n",
	         git_oid_tostr_s(git_object_id(commit)), subject, who,
	         (long long)git_commit_time((git_commit *)commit));
	report(fd, line);
}

/*
 * The Git child is this same program run again (/proc/self/exe), not a bare
 * fork: a process with several threads may fork while another thread holds a
 * lock (malloc's, a sanitizer's), and a forked child that then runs libgit2
 * would wait for it forever. posix_spawn only execs; the new image starts
 * clean. The settings, secrets included, go over a socket, never argv or the
 * environment; the child finds its role in the environment variable below
 * and does its work in a constructor, before main(), in whatever program
 * links this file.
 */
#define CHILD_ENV    "SLUICE_GIT_CHILD"
#define CHILD_FD     3
#define MAX_SETTINGS (8u << 20)

struct settings {
	struct gitsrc_opts o;
	struct gitsrc_auth auth;
	const char *dest, *revert_commit, *revert_reason;
};

/* a field: "-" for none, else its length, ':' and its bytes */
static int put(struct buf *b, const char *s)
{
	if (!s)
		return buf_addc(b, '-');
	int rc = buf_printf(b, "%zu:", strlen(s));
	return rc < 0 ? rc : buf_add(b, s, strlen(s));
}

static int put_num(struct buf *b, unsigned long long v)
{
	char n[32];
	snprintf(n, sizeof(n), "%llu", v);
	return put(b, n);
}

static int encode(struct buf *b, const struct gitsrc_opts *o, const char *dest, const char *commit,
                  const char *reason)
{
	const struct gitsrc_auth *a = o->auth;
	const char *s[] = {o->url,
	                   o->revision,
	                   o->cache_dir,
	                   dest,
	                   commit,
	                   reason,
	                   a ? "auth" : NULL,
	                   a ? a->username : NULL,
	                   a ? a->password : NULL,
	                   a ? a->ssh_private_key : NULL,
	                   a ? a->ssh_passphrase : NULL,
	                   a ? a->ssh_known_hosts : NULL,
	                   a ? a->ca_file : NULL};
	int rc = 0;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]) && rc == 0; i++)
		rc = put(b, s[i]);
	if (rc == 0)
		rc = put_num(b, (unsigned long long)o->timeout_ms);
	if (rc == 0)
		rc = put_num(b, o->max_fetch);
	if (rc == 0)
		rc = put_num(b, o->max_checkout);
	if (rc == 0)
		rc = put_num(b, o->max_files);
	return rc;
}

/* The next field, NUL-terminated in place: its bytes move over its length
 * digits, which leaves room for the NUL before the following field. */
static const char *take(char **p, char *end, int *bad)
{
	char *c = *p, *colon;
	unsigned long long n;

	if (*bad || c >= end) {
		*bad = 1;
		return NULL;
	}
	if (*c == '-') {
		*p = c + 1;
		return NULL;
	}
	n = strtoull(c, &colon, 10);
	if (colon == c || colon >= end || *colon != ':' ||
	    n > (unsigned long long)(end - colon - 1)) {
		*bad = 1;
		return NULL;
	}
	memmove(c, colon + 1, n); /* over the length, so the NUL fits */
	c[n] = '\0';
	*p = colon + 1 + n;
	return c;
}

static int decode(struct settings *s, char *p, char *end)
{
	const char *f[17];
	int bad = 0;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		f[i] = take(&p, end, &bad);
	if (bad || !f[0] || !f[2] || !f[3] || p != end)
		return -1;
	s->o.url = f[0];
	s->o.revision = f[1];
	s->o.cache_dir = f[2];
	s->dest = f[3];
	s->revert_commit = f[4];
	s->revert_reason = f[5];
	if (f[6]) {
		s->auth.username = f[7];
		s->auth.password = f[8];
		s->auth.ssh_private_key = f[9];
		s->auth.ssh_passphrase = f[10];
		s->auth.ssh_known_hosts = f[11];
		s->auth.ca_file = f[12];
		s->o.auth = &s->auth;
	}
	s->o.timeout_ms = f[13] ? atol(f[13]) : 0;
	s->o.max_fetch = f[14] ? strtoull(f[14], NULL, 10) : 0;
	s->o.max_checkout = f[15] ? strtoull(f[15], NULL, 10) : 0;
	s->o.max_files = f[16] ? (unsigned)strtoul(f[16], NULL, 10) : 0;
	return 0;
}

__attribute__((constructor)) static void git_child_main(void)
{
	const char *role = getenv(CHILD_ENV);
	struct settings s;
	struct buf in;
	char chunk[65536];

	if (!role || strcmp(role, "1") != 0)
		return;
	unsetenv(CHILD_ENV);
	signal(SIGPIPE, SIG_IGN);
	buf_init(&in, MAX_SETTINGS);
	for (;;) {
		ssize_t r = read(CHILD_FD, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (buf_add(&in, chunk, (size_t)r) < 0) {
			report_err(CHILD_FD, SLUICE_ELIMIT, "the settings are too large");
			_exit(1);
		}
	}
	if (!in.ptr || decode(&s, in.ptr, in.ptr + in.len) < 0) {
		report_err(CHILD_FD, SLUICE_ERROR, "the fetch process got bad settings");
		_exit(1);
	}
	revert_commit = s.revert_commit;
	revert_reason = s.revert_reason;
	child(&s.o, s.dest, CHILD_FD);
	_exit(0);
}

/* Starts the child on one end of a socket pair and hands it the settings;
 * returns its pid with *fd the parent's end, or -1. */
static pid_t spawn_child(const struct gitsrc_opts *o, const char *dest, const char *commit,
                         const char *reason, int *fd)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	struct buf b;
	size_t nenv = 0, sent = 0;
	char **env, *argv[] = {(char *)"sluice-git", NULL};
	int sv[2], rc;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return sluice_error_set(SLUICE_EIO, "git: socketpair: %s", strerror(errno));
	while (environ[nenv])
		nenv++;
	env = calloc(nenv + 2, sizeof(*env));
	if (!env) {
		close(sv[0]);
		close(sv[1]);
		return sluice_error_set(SLUICE_ENOMEM, "git: out of memory");
	}
	for (size_t i = 0, j = 0; i < nenv; i++)
		if (strncmp(environ[i], CHILD_ENV "=", sizeof(CHILD_ENV)) != 0)
			env[j++] = environ[i];
	for (size_t i = 0;; i++)
		if (!env[i]) {
			env[i] = (char *)CHILD_ENV "=1";
			break;
		}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], CHILD_FD); /* dup2 clears CLOEXEC */
	rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		return sluice_error_set(SLUICE_EIO, "git: cannot start the fetch process: %s",
		                        strerror(rc));
	}
	buf_init(&b, MAX_SETTINGS);
	rc = encode(&b, o, dest, commit, reason);
	while (rc == 0 && sent < b.len) {
		ssize_t w = send(sv[0], b.ptr + sent, b.len - sent, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* the child died: its status tells */
		sent += (size_t)w;
	}
	if (b.ptr)
		explicit_bzero(b.ptr, b.len);
	buf_dispose(&b);
	shutdown(sv[0], SHUT_WR);
	if (rc < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		return sluice_error_set(rc, "git: the settings are too large");
	}
	*fd = sv[0];
	return pid;
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void declare_metrics(void)
{
	static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
	struct metrics *m = metrics_default();

	if (!m ||
	    metrics_histogram(m, "sluice_git_fetch_duration_seconds",
	                      "Git fetches (and reverts), start of the child to its answer.",
	                      (const char *const[]){"op", NULL}, bounds,
	                      sizeof(bounds) / sizeof(bounds[0])) < 0 ||
	    metrics_family(m, METRICS_COUNTER, "sluice_git_fetch_errors_total",
	                   "Git fetches (and reverts) that failed, by error.",
	                   (const char *const[]){"op", "error", NULL}) < 0)
		slog(SLOG_DEBUG, "git: metrics not declared", "error", sluice_error_last(), NULL);
}

static void count_fetch(const char *op, int rc, double seconds)
{
	struct metrics *m = metrics_default();

	if (!m)
		return;
	pthread_once(&metrics_once, declare_metrics);
	metrics_observe(m, "sluice_git_fetch_duration_seconds", (const char *const[]){op, NULL},
	                seconds);
	if (rc < 0)
		metrics_add(m, "sluice_git_fetch_errors_total",
		            (const char *const[]){op, sluice_error_name(rc), NULL}, 1);
}

static int run_child(struct gitsrc_result *out, const struct gitsrc_opts *in, const char *dest,
                     const char *commit, const char *reason);

static int run(struct gitsrc_result *out, const struct gitsrc_opts *in, const char *dest,
               const char *commit, const char *reason)
{
	double t0 = mono();
	int rc = run_child(out, in, dest, commit, reason);
	char msg[SLUICE_ERROR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", sluice_error_last()); /* metrics may set their own */
	count_fetch(commit ? "revert" : "fetch", rc, mono() - t0);
	if (rc < 0)
		sluice_error_set(rc, "%s", msg);
	return rc;
}

static int run_child(struct gitsrc_result *out, const struct gitsrc_opts *in, const char *dest,
                     const char *commit, const char *reason)
{
	struct gitsrc_opts o = *in;
	char shown[1024], buf[2048];
	int fd = -1, status = 0;
	size_t got = 0;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if (!o.url || !*o.url || !o.cache_dir || !dest)
		return sluice_error_set(SLUICE_EINVALID,
		                        "git: url, cache folder and destination are required");
	if (o.timeout_ms <= 0)
		o.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!o.max_fetch)
		o.max_fetch = DEFAULT_MAX_FETCH;
	if (!o.max_checkout)
		o.max_checkout = DEFAULT_MAX_CHECKOUT;
	if (!o.max_files)
		o.max_files = DEFAULT_MAX_FILES;
	gitsrc_redact_url(shown, sizeof(shown), o.url);
	if (o.auth) {
		slog_add_secret(o.auth->password);
		slog_add_secret(o.auth->ssh_passphrase);
	}
	pid = spawn_child(&o, dest, commit, reason, &fd);
	if (pid < 0)
		return (int)pid;
	double deadline = mono() + (double)o.timeout_ms / 1000.0 + 1.0;
	for (;;) {
		int left = (int)((deadline - mono()) * 1000);
		struct pollfd pfd = {fd, POLLIN, 0};
		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(fd);
			return sluice_error_set(SLUICE_ETIMEOUT,
			                        "git: fetching %s timed out after %ld s", shown,
			                        (o.timeout_ms + 999) / 1000);
		}
		int pr = poll(&pfd, 1, left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got >= sizeof(buf) - 1)
			break;
	}
	buf[got] = '\0';
	close(fd);
	waitpid(pid, &status, 0);
	if (strncmp(buf, "ok ", 3) == 0) {
		char *sha = buf + 3, *subject = strchr(sha, '\t'), *author = NULL, *when = NULL;
		if (subject) {
			*subject++ = '\0';
			author = strchr(subject, '\t');
			if (author)
				*author++ = '\0';
		}
		if (author) {
			author[strcspn(author, "\n")] = '\0';
			when = strchr(author, '\t');
			if (when)
				*when++ = '\0';
		}
		out->time = when ? strtoll(when, NULL, 10) : 0;
		snprintf(out->commit, sizeof(out->commit), "%.40s", sha);
		snprintf(out->subject, sizeof(out->subject), "%.255s", subject ? subject : "");
		snprintf(out->author, sizeof(out->author), "%.127s", author ? author : "");
		return 0;
	}
	if (strncmp(buf, "err ", 4) == 0) {
		int code = atoi(buf + 4);
		char *msg = strchr(buf, '\t');
		if (msg)
			msg[strcspn(msg, "\n")] = '\0';
		if (code >= 0 || code < SLUICE_ETLS)
			code = SLUICE_ERROR;
		char clean[1024];
		slog_redact(clean, sizeof(clean), msg ? msg + 1 : "failed");
		return sluice_error_set(code, "git: %s: %s", shown, clean);
	}
	if (WIFSIGNALED(status))
		return sluice_error_set(SLUICE_ERROR, "git: %s: the fetch process died (signal %d)",
		                        shown, WTERMSIG(status));
	return sluice_error_set(SLUICE_ERROR, "git: %s: the fetch process reported nothing", shown);
}

int gitsrc_revert(struct gitsrc_result *out, const struct gitsrc_opts *o, const char *commit,
                  const char *reason)
{
	if (!commit || strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40)
		return sluice_error_set(SLUICE_EINVALID,
		                        "git: revert: \"%.60s\" is not a commit id",
		                        commit ? commit : "");
	return run(out, o, "", commit, reason);
}

int gitsrc_fetch(struct gitsrc_result *out, const struct gitsrc_opts *o, const char *dest)
{
	return run(out, o, dest, NULL, NULL);
}
