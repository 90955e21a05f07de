/*
 * demoapp: the web service of sluice's demo and end-to-end tests. GET /
 * answers 200 or, at the rate DEMO_ERROR_RATE, 500, after a latency drawn
 * around DEMO_LATENCY_MS; GET /metrics exports what a real service would:
 *
 *   http_requests_total{code,version}                 counter
 *   http_request_duration_seconds{version}            histogram (_bucket, _sum, _count)
 *
 * so that a canary analysis reads its error rate and latency from Prometheus.
 * GET /healthz answers 200 at once (readiness; not counted).
 *
 *   demoapp [--address ADDR] [--port N] [--listen-fd FD]
 *
 *   --port N        listen on ADDR:N (default $PORT, else 8080; 0: a free port)
 *   --address ADDR  the IPv4 address to listen on (default 127.0.0.1)
 *   --listen-fd FD  serve an already listening socket (the kubelet stand-in
 *                   binds it, so the port is known before the process starts)
 *
 *   DEMO_VERSION            the version label (default: the tag of DEMO_IMAGE,
 *                           e.g. demoapp:v2 -> v2, else "unknown")
 *   DEMO_ERROR_RATE         share of GET / answered 500, 0..1 (default 0)
 *   DEMO_LATENCY_MS         mean latency of GET / in ms, 0..60000 (default 0)
 *   DEMO_LATENCY_JITTER_MS  each latency is uniform in mean +- jitter (default 0)
 *
 * SIGTERM or SIGINT: stop accepting, let requests in flight finish for up to
 * DRAIN_MS, cut the rest short (answered 503), exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define DRAIN_MS       2000
#define MAX_LATENCY_MS 60000.0
#define MAX_CONNS      512
#define IDLE_TIMEOUT_S 30
#define VERSION_MAX    64
#define METRICS_MAX    4096
#define NBUCKETS       11

static const double bucket_le[NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *const bucket_text[NBUCKETS] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                                  "0.5",   "1",    "2.5",   "5",    "10"};

struct config {
	char version[VERSION_MAX];
	double error_rate;
	double latency_ms;
	double jitter_ms;
};

/* What GET /metrics shows; every field under `lock`. */
struct stats {
	pthread_mutex_t lock;
	uint64_t ok, errors, cut;
	uint64_t buckets[NBUCKETS];
	double sum;
	uint64_t rng;
	int in_flight;
};

static _Atomic int cutting; /* past the drain: answer what is left at once */
/* requests begun and not yet completed (their answer sent, or the connection
 * gone): the drain waits for these, not only for those still being served */
static _Atomic int open_requests;
static struct config cfg;
static struct stats st = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("demoapp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A number from the environment within lo..hi, or `dflt` when unset or empty. */
static double env_number(const char *name, double lo, double hi, double dflt)
{
	const char *s = getenv(name);
	char *end = NULL;
	double v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		die("%s: \"%.40s\" is not a number within %g..%g", name, s, lo, hi);
	return v;
}

/* registry/name:tag@digest -> tag; "" when the reference has none. */
static void image_tag(char *out, size_t n, const char *image)
{
	const char *slash = strrchr(image, '/');
	const char *name = slash ? slash + 1 : image;
	const char *colon = strchr(name, ':');
	size_t len;

	out[0] = '\0';
	if (!colon)
		return;
	len = strcspn(colon + 1, "@");
	if (len >= n)
		len = n - 1;
	memcpy(out, colon + 1, len);
	out[len] = '\0';
}

static int label_safe(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || *s == '\n' || (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

static void config_load(struct config *c)
{
	const char *v = getenv("DEMO_VERSION"), *image = getenv("DEMO_IMAGE");

	if (v && *v)
		snprintf(c->version, sizeof(c->version), "%s", v);
	else if (image && *image)
		image_tag(c->version, sizeof(c->version), image);
	if (!c->version[0])
		snprintf(c->version, sizeof(c->version), "unknown");
	if (!label_safe(c->version))
		die("DEMO_VERSION: quotes, backslashes and control characters are not allowed");
	c->error_rate = env_number("DEMO_ERROR_RATE", 0, 1, 0);
	c->latency_ms = env_number("DEMO_LATENCY_MS", 0, MAX_LATENCY_MS, 0);
	c->jitter_ms = env_number("DEMO_LATENCY_JITTER_MS", 0, MAX_LATENCY_MS, 0);
}

/* xorshift64*, under st.lock: a uniform draw in [0, 1). */
static double uniform(void)
{
	st.rng ^= st.rng >> 12;
	st.rng ^= st.rng << 25;
	st.rng ^= st.rng >> 27;
	return (double)((st.rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* Sleep `ms`, in short slices so that a stop past the drain cuts it short; 0 when cut. */
static int wait_ms(double ms)
{
	double until = now_s() + ms / 1000.0;

	for (;;) {
		double left = until - now_s();
		if (left <= 0)
			return 1;
		if (cutting)
			return 0;
		if (left > 0.01)
			left = 0.01;
		struct timespec ts = {0, (long)(left * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *body,
                             const char *type)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "X-Demo-Version", cfg.version);
	rc = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rc;
}

static size_t render_metrics(char *buf, size_t n)
{
	size_t o = 0;
	uint64_t cum = 0, total;

#define PUT(...)                                                            \
	do {                                                                \
		int k_ = snprintf(buf + o, o < n ? n - o : 0, __VA_ARGS__); \
		if (k_ > 0)                                                 \
			o += (size_t)k_;                                    \
	} while (0)
	pthread_mutex_lock(&st.lock);
	total = st.ok + st.errors;
	PUT("# HELP http_requests_total Requests to / answered, by status code and version.\n"
	    "# TYPE http_requests_total counter\n"
	    "http_requests_total{code=\"200\",version=\"%s\"} %llu\n"
	    "http_requests_total{code=\"500\",version=\"%s\"} %llu\n",
	    cfg.version, (unsigned long long)st.ok, cfg.version, (unsigned long long)st.errors);
	PUT("# HELP http_request_duration_seconds Time to answer / , by version.\n"
	    "# TYPE http_request_duration_seconds histogram\n");
	for (int i = 0; i < NBUCKETS; i++) {
		cum += st.buckets[i];
		PUT("http_request_duration_seconds_bucket{version=\"%s\",le=\"%s\"} %llu\n",
		    cfg.version, bucket_text[i], (unsigned long long)cum);
	}
	PUT("http_request_duration_seconds_bucket{version=\"%s\",le=\"+Inf\"} %llu\n"
	    "http_request_duration_seconds_sum{version=\"%s\"} %.6f\n"
	    "http_request_duration_seconds_count{version=\"%s\"} %llu\n",
	    cfg.version, (unsigned long long)total, cfg.version, st.sum, cfg.version,
	    (unsigned long long)total);
	pthread_mutex_unlock(&st.lock);
#undef PUT
	return o < n ? o : n - 1;
}

static enum MHD_Result serve_root(struct MHD_Connection *conn)
{
	double t0 = now_s(), latency, elapsed;
	int fail, done;
	char body[VERSION_MAX + 32];

	pthread_mutex_lock(&st.lock);
	st.in_flight++;
	fail = uniform() < cfg.error_rate;
	latency = cfg.latency_ms + (cfg.jitter_ms > 0 ? (2 * uniform() - 1) * cfg.jitter_ms : 0);
	pthread_mutex_unlock(&st.lock);
	if (latency < 0)
		latency = 0;
	done = wait_ms(latency);
	elapsed = now_s() - t0;

	pthread_mutex_lock(&st.lock);
	st.in_flight--;
	if (!done) {
		st.cut++;
	} else {
		int b = 0;
		while (b < NBUCKETS && elapsed > bucket_le[b])
			b++;
		if (b < NBUCKETS)
			st.buckets[b]++;
		st.sum += elapsed;
		if (fail)
			st.errors++;
		else
			st.ok++;
	}
	pthread_mutex_unlock(&st.lock);
	if (!done)
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping\n", "text/plain");
	snprintf(body, sizeof(body), "%s version=%s\n", fail ? "error" : "ok", cfg.version);
	return reply(conn, fail ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_OK, body, "text/plain");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
	static int first_call;
	char metrics[METRICS_MAX];

	(void)cls, (void)version, (void)upload;
	if (*state == NULL) { /* headers only so far: answer when the body (none) is in */
		*state = &first_call;
		open_requests++;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body is read and ignored */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n", "text/plain");
	if (strcmp(url, "/") == 0)
		return serve_root(conn);
	if (strcmp(url, "/healthz") == 0)
		return reply(conn, MHD_HTTP_OK, "ok\n", "text/plain");
	if (strcmp(url, "/metrics") == 0) {
		render_metrics(metrics, sizeof(metrics));
		return reply(conn, MHD_HTTP_OK, metrics, "text/plain; version=0.0.4");
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n", "text/plain");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	if (*state)
		open_requests--;
}

static int parse_int(const char *opt, const char *s, long lo, long hi)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || v < lo || v > hi)
		die("%s: \"%.40s\" is not a whole number within %ld..%ld", opt, s ? s : "", lo, hi);
	return (int)v;
}

static void usage(FILE *f)
{
	fputs("usage: demoapp [--address ADDR] [--port N] [--listen-fd FD]\n"
	      "env: DEMO_VERSION DEMO_IMAGE DEMO_ERROR_RATE DEMO_LATENCY_MS "
	      "DEMO_LATENCY_JITTER_MS PORT\n",
	      f);
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *addr = "127.0.0.1", *port_env = getenv("PORT");
	int port = port_env && *port_env ? parse_int("PORT", port_env, 0, 65535) : 8080;
	int listen_fd = -1;
	const union MHD_DaemonInfo *info;
	unsigned bound;
	double deadline;
	char bound_addr[INET_ADDRSTRLEN];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = parse_int("--port", argv[++i], 0, 65535);
		else if (strcmp(argv[i], "--address") == 0 && i + 1 < argc)
			addr = argv[++i];
		else if (strcmp(argv[i], "--listen-fd") == 0 && i + 1 < argc)
			listen_fd = parse_int("--listen-fd", argv[++i], 0, 65535);
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	config_load(&cfg);
	st.rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		die("--address: \"%.40s\" is not an IPv4 address", addr);
	sa.sin_port = htons((uint16_t)port);

	/* every thread MHD starts inherits the mask: the signals wait for sigwait() below */
	sigset_t stop_set;
	int sig;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_ITC | MHD_USE_AUTO;
	if (listen_fd >= 0)
		d = MHD_start_daemon(
		    flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET,
		    (MHD_socket)listen_fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNS,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	else
		d = MHD_start_daemon(
		    flags, (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
		    (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNS,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (!d) {
		if (listen_fd >= 0)
			die("cannot serve socket %d: %s", listen_fd, strerror(errno));
		die("cannot listen on %s:%d: %s", addr, port, strerror(errno));
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	bound = info ? info->port : (unsigned)port;
	if (listen_fd >= 0) { /* the address the socket was bound to */
		socklen_t len = sizeof(sa);
		if (getsockname(listen_fd, (struct sockaddr *)&sa, &len) == 0 &&
		    sa.sin_family == AF_INET &&
		    inet_ntop(AF_INET, &sa.sin_addr, bound_addr, sizeof(bound_addr)))
			addr = bound_addr;
	}
	fprintf(stderr,
	        "demoapp: listening on %s:%u (version %s, error rate %g, latency %g+-%g ms)\n",
	        addr, bound, cfg.version, cfg.error_rate, cfg.latency_ms, cfg.jitter_ms);

	while (sigwait(&stop_set, &sig) != 0)
		;

	/* drain: no new connections; requests in flight get DRAIN_MS to finish,
	 * their answers sent */
	MHD_socket lfd = MHD_quiesce_daemon(d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	deadline = now_s() + DRAIN_MS / 1000.0;
	for (;;) {
		pthread_mutex_lock(&st.lock);
		int busy = st.in_flight + open_requests;
		pthread_mutex_unlock(&st.lock);
		if (!busy || now_s() >= deadline)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	cutting = 1;
	MHD_stop_daemon(d);
	fprintf(stderr, "demoapp: stopped (%llu answered, %llu cut short)\n",
	        (unsigned long long)(st.ok + st.errors), (unsigned long long)st.cut);
	return 0;
}
