/*
 * Git sources against real repositories: a local path, file://, and git://
 * served by `git daemon` on loopback, started and stopped by this test.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/git.h"
#include "support.h"

static char *tmp;
static char repo[4200], cache[4200], url_daemon[256];
static pid_t daemon_pid;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* The first line printed by `git -C DIR ARGS`. */
static char *out_of(const char *dir, const char *args)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "git -C '%s' %s", dir, args);
	FILE *p = popen(cmd, "r");
	char *line = calloc(1, 256);
	if (p) {
		if (!fgets(line, 256, p))
			line[0] = '\0';
		pclose(p);
	}
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static int free_port(int *fd_out)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	if (fd_out) {
		listen(fd, 8);
		*fd_out = fd;
	} else {
		close(fd);
	}
	return ntohs(a.sin_port);
}

#define GIT "git -c user.name=Tester -c user.email=t@example.com -c init.defaultBranch=main"

static int group_setup(void **state)
{
	(void)state;
	tmp = test_tmpdir();
	snprintf(repo, sizeof(repo), "%s/srv/apps.git", tmp);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	if (sh("set -e; mkdir -p '%s/work' && cd '%s/work' && " GIT " init -q . && mkdir apps && "
	       "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: one}\\n' > "
	       "apps/one.yaml && " GIT " add -A && " GIT " commit -q -m 'first commit' && " GIT
	       " tag v1 && "
	       "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: two}\\n' > "
	       "apps/two.yaml && " GIT " add -A && " GIT " commit -q -m 'add two' && " GIT
	       " checkout -q -b dev && echo dev > apps/dev.txt && " GIT " add -A && " GIT
	       " commit -q -m 'dev work' && " GIT " checkout -q main && "
	       "mkdir -p '%s/srv' && git clone -q --bare . '%s' && touch '%s/git-daemon-export-ok'",
	       tmp, tmp, tmp, repo, repo) != 0)
		return -1;
	int port = free_port(NULL);
	snprintf(url_daemon, sizeof(url_daemon), "git://127.0.0.1:%d/apps.git", port);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		char portarg[32], base[4300];
		snprintf(portarg, sizeof(portarg), "--port=%d", port);
		snprintf(base, sizeof(base), "--base-path=%s/srv", tmp);
		execlp("git", "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", portarg, base,
		       "--export-all", (char *)NULL);
		_exit(127);
	}
	/* wait until the daemon answers */
	for (int i = 0; i < 100; i++) {
		if (sh("git ls-remote '%s' >/dev/null 2>&1", url_daemon) == 0)
			return 0;
		usleep(100000);
	}
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
	}
	test_rm_rf(tmp);
	free(tmp);
	return 0;
}

static void fetch_ok(struct gitsrc_result *r, const char *url, const char *rev, const char *dest)
{
	struct gitsrc_opts o;
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.revision = rev;
	o.cache_dir = cache;
	o.timeout_ms = 20000;
	if (gitsrc_fetch(r, &o, dest) < 0)
		fail_msg("gitsrc_fetch(%s, %s): %s", url, rev ? rev : "HEAD", sluice_error_last());
}

static int exists(const char *dir, const char *rel)
{
	char p[8400];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return access(p, F_OK) == 0;
}

static void local_path_default_branch(void **state)
{
	struct gitsrc_result r;
	char dest[4300];
	(void)state;

	snprintf(dest, sizeof(dest), "%s/co-local", tmp);
	fetch_ok(&r, repo, NULL, dest);
	char *want = out_of(repo, "rev-parse main");
	assert_string_equal(r.commit, want);
	free(want);
	assert_string_equal(r.subject, "add two");
	assert_string_equal(r.author, "Tester");
	assert_true(exists(dest, "apps/one.yaml"));
	assert_true(exists(dest, "apps/two.yaml"));
	assert_false(exists(dest, "apps/dev.txt"));
	assert_false(exists(dest, ".git"));
}

static void branches_tags_and_commits(void **state)
{
	struct gitsrc_result r;
	char dest[4300], url[4300];
	(void)state;

	snprintf(dest, sizeof(dest), "%s/co-file", tmp);
	snprintf(url, sizeof(url), "file://%s", repo);
	fetch_ok(&r, url, "dev", dest);
	assert_string_equal(r.subject, "dev work");
	assert_true(exists(dest, "apps/dev.txt"));
	fetch_ok(&r, url, "v1", dest);
	assert_string_equal(r.subject, "first commit");
	assert_false(exists(dest, "apps/two.yaml"));
	char *sha = out_of(repo, "rev-parse main~1");
	char shortsha[16];
	snprintf(shortsha, sizeof(shortsha), "%.10s", sha);
	fetch_ok(&r, url, shortsha, dest);
	assert_string_equal(r.commit, sha);
	free(sha);

	struct gitsrc_opts o;
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.revision = "no-such-branch";
	o.cache_dir = cache;
	assert_int_equal(gitsrc_fetch(&r, &o, dest), SLUICE_ENOTFOUND);
	assert_non_null(strstr(sluice_error_last(), "revision \"no-such-branch\" not found"));
	/* a revision expression is not a revision */
	o.revision = "main~1";
	assert_int_equal(gitsrc_fetch(&r, &o, dest), SLUICE_ENOTFOUND);
	/* the last good checkout is still in place */
	assert_true(exists(dest, "apps/one.yaml"));
}

static void git_daemon_and_force_push(void **state)
{
	struct gitsrc_result r, r2;
	char dest[4300];
	(void)state;

	snprintf(dest, sizeof(dest), "%s/co-daemon", tmp);
	fetch_ok(&r, url_daemon, "main", dest);
	assert_string_equal(r.subject, "add two");
	/* history rewritten and force-pushed: followed */
	assert_int_equal(sh("set -e; cd '%s/work' && " GIT " reset -q --hard HEAD~1 && "
	                    "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: "
	                    "three}\\n' > apps/three.yaml && " GIT " add -A && " GIT
	                    " commit -q -m 'rewritten' && git push -q -f '%s' main",
	                    tmp, repo),
	                 0);
	fetch_ok(&r2, url_daemon, "main", dest);
	assert_string_not_equal(r.commit, r2.commit);
	assert_string_equal(r2.subject, "rewritten");
	assert_true(exists(dest, "apps/three.yaml"));
	assert_false(exists(dest, "apps/two.yaml"));
}

static void limits_and_timeouts(void **state)
{
	struct gitsrc_result r;
	struct gitsrc_opts o;
	char dest[4300], url[256];
	int lfd = -1;
	(void)state;

	snprintf(dest, sizeof(dest), "%s/co-limits", tmp);
	memset(&o, 0, sizeof(o));
	o.url = repo;
	o.cache_dir = cache;
	o.revision = "dev";
	o.max_files = 2;
	assert_int_equal(gitsrc_fetch(&r, &o, dest), SLUICE_ELIMIT);
	assert_non_null(strstr(sluice_error_last(), "more than 2 files"));

	/* a server that accepts and never answers */
	int port = free_port(&lfd);
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/apps.git", port);
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.cache_dir = cache;
	o.timeout_ms = 1500;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(gitsrc_fetch(&r, &o, dest), SLUICE_ETIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(took < 4.0);
	assert_non_null(strstr(sluice_error_last(), "timed out"));
	close(lfd);
}

static void passwords_stay_out_of_messages(void **state)
{
	struct gitsrc_result r;
	struct gitsrc_opts o;
	struct gitsrc_auth a;
	char buf[256], dest[4300];
	(void)state;

	gitsrc_redact_url(buf, sizeof(buf), "https://bob:hunter2@git.example/repo.git");
	assert_string_equal(buf, "https://***@git.example/repo.git");
	gitsrc_redact_url(buf, sizeof(buf), "git@github.com:org/repo.git");
	assert_string_equal(buf, "git@github.com:org/repo.git");

	memset(&o, 0, sizeof(o));
	memset(&a, 0, sizeof(a));
	a.password = "hunter2-token";
	o.url = "http://bob:hunter2-token@127.0.0.1:1/repo.git";
	o.cache_dir = cache;
	o.auth = &a;
	o.timeout_ms = 5000;
	snprintf(dest, sizeof(dest), "%s/co-auth", tmp);
	assert_true(gitsrc_fetch(&r, &o, dest) < 0);
	assert_null(strstr(sluice_error_last(), "hunter2"));
	assert_non_null(strstr(sluice_error_last(), "***@127.0.0.1"));
}

/*
 * sluiced fetches from several worker threads while others allocate: a
 * child that inherited a lock held by another thread would hang until its
 * deadline. Each fetch must finish, with the right commit, well before it.
 */
struct fetcher {
	int i;
	int rc;
	char commit[41];
	char err[256];
};
static volatile int churning;

static void *churn(void *arg)
{
	(void)arg;
	while (churning) {
		void *p[64];
		for (int i = 0; i < 64; i++)
			p[i] = malloc((size_t)(16 + i * 37));
		for (int i = 0; i < 64; i++)
			free(p[i]);
	}
	return NULL;
}

static void *fetch_in_thread(void *arg)
{
	struct fetcher *f = arg;
	struct gitsrc_result r;
	struct gitsrc_opts o;
	char dest[4300];

	memset(&o, 0, sizeof(o));
	o.url = repo;
	o.cache_dir = cache;
	o.timeout_ms = 20000;
	for (int k = 0; k < 3 && f->rc == 0; k++) {
		snprintf(dest, sizeof(dest), "%s/co-thread-%d", tmp, f->i);
		f->rc = gitsrc_fetch(&r, &o, dest);
		if (f->rc < 0)
			snprintf(f->err, sizeof(f->err), "%s", sluice_error_last());
		else
			snprintf(f->commit, sizeof(f->commit), "%s", r.commit);
	}
	return NULL;
}

static void fetches_from_many_threads(void **state)
{
	pthread_t churners[2], fetchers[4];
	struct fetcher f[4];
	struct timespec t0, t1;
	(void)state;

	char *want = out_of(repo, "rev-parse main");
	churning = 1;
	for (int i = 0; i < 2; i++)
		pthread_create(&churners[i], NULL, churn, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 4; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].i = i;
		pthread_create(&fetchers[i], NULL, fetch_in_thread, &f[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(fetchers[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	churning = 0;
	for (int i = 0; i < 2; i++)
		pthread_join(churners[i], NULL);
	for (int i = 0; i < 4; i++) {
		if (f[i].rc < 0)
			fail_msg("fetch in thread %d: %s", i, f[i].err);
		assert_string_equal(f[i].commit, want);
	}
	free(want);
	/* twelve fetches of a small local repository: seconds, not a deadline */
	assert_true(t1.tv_sec - t0.tv_sec < 15);
}

static void known_hosts(void **state)
{
	(void)state;
	/* "AAAAC3NzaC1lZDI1NTE5AAAAI" + 32 bytes: an ed25519 key blob */
	const char *k1 = "AAAAC3NzaC1lZDI1NTE5AAAAIGVk1+VH4R5pA0qTu/2zh4WYm6o8F4bIgqT8BzTDbb9v";
	const char *k2 = "AAAAC3NzaC1lZDI1NTE5AAAAIBtH1nM3u5qv4G7cT2kxGfXc2N1rQzFqpM3mT1zj3p8k";
	char kh[1024];
	unsigned char blob[64];
	size_t bl = 0;
	FILE *f;
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | base64 -d", k1);
	f = popen(cmd, "r");
	bl = fread(blob, 1, sizeof(blob), f);
	pclose(f);
	snprintf(kh, sizeof(kh),
	         "# comment\n"
	         "git.example,10.0.0.5 ssh-ed25519 %s\n"
	         "[git.example]:2222 ssh-ed25519 %s\n"
	         "*.corp.example ssh-ed25519 %s\n"
	         "|1|hashed|entry= ssh-ed25519 %s\n"
	         "@revoked old.example ssh-ed25519 %s\n",
	         k1, k2, k1, k1, k1);
	assert_int_equal(gitsrc_known_host(kh, "git.example", 22, blob, bl), 1);
	assert_int_equal(gitsrc_known_host(kh, "10.0.0.5", 22, blob, bl), 1);
	assert_int_equal(gitsrc_known_host(kh, "git.example", 2222, blob, bl), 0); /* changed */
	assert_int_equal(gitsrc_known_host(kh, "build.corp.example", 22, blob, bl), 1);
	assert_int_equal(gitsrc_known_host(kh, "other.example", 22, blob, bl), -1); /* unknown */
	assert_int_equal(gitsrc_known_host(kh, "old.example", 22, blob, bl), 0);    /* revoked */
	assert_int_equal(gitsrc_known_host("", "git.example", 22, blob, bl), -1);
}

/* revertCommit: a rolled-back commit is reverted on its branch and pushed */
static void a_failed_commit_is_reverted_and_pushed(void **state)
{
	struct gitsrc_result r;
	struct gitsrc_opts o;
	char bare[4300], bad[64], *line;
	(void)state;

	snprintf(bare, sizeof(bare), "%s/rv.git", tmp);
	assert_int_equal(
	    sh("set -e; mkdir -p '%s/rv' && cd '%s/rv' && " GIT " init -q . && "
	       "printf 'image: web:1\\n' > web.yaml && " GIT " add -A && " GIT
	       " commit -q -m v1 && "
	       "printf 'image: web:2\\n' > web.yaml && " GIT " commit -qam 'web v2' && "
	       "echo other > other.yaml && " GIT " add -A && " GIT " commit -q -m unrelated && "
	       "git clone -q --bare . '%s'",
	       tmp, tmp, bare),
	    0);
	line = out_of(bare, "rev-parse main~1");
	snprintf(bad, sizeof(bad), "%s", line);
	free(line);
	memset(&o, 0, sizeof(o));
	o.url = bare;
	o.revision = "main";
	o.cache_dir = cache;
	o.timeout_ms = 20000;
	if (gitsrc_revert(&r, &o, bad, "progress deadline: canary not ready") < 0)
		fail_msg("gitsrc_revert: %s", sluice_error_last());
	line = out_of(bare, "rev-parse main");
	assert_string_equal(r.commit, line);
	free(line);
	line = out_of(bare, "show main:web.yaml");
	assert_string_equal(line, "image: web:1"); /* the failed change is undone */
	free(line);
	line = out_of(bare, "show main:other.yaml");
	assert_string_equal(line, "other"); /* and only it */
	free(line);
	line = out_of(bare, "log -1 --format=%s main");
	assert_string_equal(line, "Revert \"web v2\"");
	free(line);
	assert_int_equal(
	    sh("git -C '%s' log -1 --format=%%b main | grep -q 'sluice rolled it back: "
	       "progress deadline'",
	       bare),
	    0);

	/* reverting it again: already undone, nothing pushed */
	line = out_of(bare, "rev-parse main");
	assert_int_equal(gitsrc_revert(&r, &o, bad, "again"), SLUICE_EEXISTS);
	char *after = out_of(bare, "rev-parse main");
	assert_string_equal(line, after);
	free(line);
	free(after);

	/* a later commit changed the same line: the revert would conflict, refused */
	assert_int_equal(sh("set -e; cd '%s/rv' && git pull -q '%s' main && "
	                    "printf 'image: web:3\\n' > web.yaml && " GIT
	                    " commit -qam 'web v3' && "
	                    "git push -q '%s' HEAD:main",
	                    tmp, bare, bare),
	                 0);
	line = out_of(bare, "rev-parse main");
	assert_int_equal(gitsrc_revert(&r, &o, bad, "conflict"), SLUICE_ECONFLICT);
	after = out_of(bare, "rev-parse main");
	assert_string_equal(line, after);
	free(line);
	free(after);

	/* a commit that is not on the branch is refused */
	line = out_of(repo, "rev-parse dev");
	assert_int_equal(gitsrc_revert(&r, &o, line, "x") < 0, 1);
	free(line);
	assert_int_equal(gitsrc_revert(&r, &o, "not-a-commit", "x"), SLUICE_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(local_path_default_branch),
	    cmocka_unit_test(branches_tags_and_commits),
	    cmocka_unit_test(git_daemon_and_force_push),
	    cmocka_unit_test(limits_and_timeouts),
	    cmocka_unit_test(passwords_stay_out_of_messages),
	    cmocka_unit_test(known_hosts),
	    cmocka_unit_test(fetches_from_many_threads),
	    cmocka_unit_test(a_failed_commit_is_reverted_and_pushed),
	};
	return cmocka_run_group_tests_name("git", tests, group_setup, group_teardown);
}
