#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "sluice/error.h"
#include "sluice/log.h"

#define SLOG_LINE_MAX    8192
#define SLOG_SECRETS_MAX 64

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static struct {
	enum slog_format fmt;
	enum slog_level level;
	FILE *out;
	char *secrets[SLOG_SECRETS_MAX];
	size_t nsecrets;
	pthread_mutex_t lock;
} logger = {SLOG_TEXT, SLOG_INFO, NULL, {NULL}, 0, PTHREAD_MUTEX_INITIALIZER};

void slog_setup(enum slog_format fmt, enum slog_level level, FILE *out)
{
	logger.fmt = fmt;
	logger.level = level;
	logger.out = out;
}

int slog_level_parse(enum slog_level *out, const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum slog_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = SLOG_WARN;
		return 0;
	}
	return sluice_error_set(SLUICE_EINVALID,
	                        "unknown log level '%s' (want error, warn, info or debug)", s);
}

int slog_format_parse(enum slog_format *out, const char *s)
{
	if (strcasecmp(s, "text") == 0)
		*out = SLOG_TEXT;
	else if (strcasecmp(s, "json") == 0)
		*out = SLOG_JSON;
	else
		return sluice_error_set(SLUICE_EINVALID,
		                        "unknown log format '%s' (want text or json)", s);
	return 0;
}

int slog_setup_from_env(void)
{
	const char *lv = getenv("SLUICE_LOG_LEVEL");
	const char *fm = getenv("SLUICE_LOG_FORMAT");
	int rc;

	if (lv && *lv && (rc = slog_level_parse(&logger.level, lv)) < 0)
		return sluice_error_set(rc, "SLUICE_LOG_LEVEL: %s", sluice_error_last());
	if (fm && *fm && (rc = slog_format_parse(&logger.fmt, fm)) < 0)
		return sluice_error_set(rc, "SLUICE_LOG_FORMAT: %s", sluice_error_last());
	return 0;
}

int slog_enabled(enum slog_level level)
{
	return level <= logger.level;
}

int slog_add_secret(const char *secret)
{
	char *copy;

	if (!secret || !*secret)
		return 0;
	pthread_mutex_lock(&logger.lock);
	for (size_t i = 0; i < logger.nsecrets; i++) {
		if (strcmp(logger.secrets[i], secret) == 0) {
			pthread_mutex_unlock(&logger.lock);
			return 0;
		}
	}
	if (logger.nsecrets == SLOG_SECRETS_MAX) {
		pthread_mutex_unlock(&logger.lock);
		return sluice_error_set(SLUICE_ELIMIT,
		                        "more than %d secrets registered for redaction",
		                        SLOG_SECRETS_MAX);
	}
	copy = strdup(secret);
	if (!copy) {
		pthread_mutex_unlock(&logger.lock);
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	}
	logger.secrets[logger.nsecrets++] = copy;
	pthread_mutex_unlock(&logger.lock);
	return 0;
}

void slog_clear_secrets(void)
{
	pthread_mutex_lock(&logger.lock);
	for (size_t i = 0; i < logger.nsecrets; i++)
		free(logger.secrets[i]);
	logger.nsecrets = 0;
	pthread_mutex_unlock(&logger.lock);
}

/* Caller holds logger.lock. */
static char *redact_locked(char *out, size_t outsz, const char *in)
{
	static const char mark[] = "[REDACTED]";
	size_t o = 0;

	if (outsz == 0)
		return out;
	while (*in && o + 1 < outsz) {
		size_t hit = 0;
		for (size_t i = 0; i < logger.nsecrets; i++) {
			size_t n = strlen(logger.secrets[i]);
			if (strncmp(in, logger.secrets[i], n) == 0) {
				hit = n;
				break;
			}
		}
		if (hit) {
			for (size_t k = 0; mark[k] && o + 1 < outsz; k++)
				out[o++] = mark[k];
			in += hit;
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = '\0';
	return out;
}

char *slog_redact(char *out, size_t outsz, const char *in)
{
	pthread_mutex_lock(&logger.lock);
	redact_locked(out, outsz, in);
	pthread_mutex_unlock(&logger.lock);
	return out;
}

static void write_text(FILE *f, enum slog_level level, const char *msg, va_list ap)
{
	char buf[SLOG_LINE_MAX];
	const char *k, *v;

	redact_locked(buf, sizeof(buf), msg);
	fprintf(f, "sluice: %s: %s", level_names[level], buf);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		redact_locked(buf, sizeof(buf), v ? v : "");
		fprintf(f, " %s=%s", k, buf);
	}
	fputc('\n', f);
}

static void write_json(FILE *f, enum slog_level level, const char *msg, va_list ap)
{
	char buf[SLOG_LINE_MAX], ts[64];
	struct timespec now;
	struct tm tm;
	json_t *obj = json_object();
	const char *k, *v;
	char *line;

	if (!obj)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         now.tv_nsec / 1000000);
	json_object_set_new(obj, "ts", json_string(ts));
	json_object_set_new(obj, "level", json_string(level_names[level]));
	json_object_set_new(obj, "msg", json_string(redact_locked(buf, sizeof(buf), msg)));
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		redact_locked(buf, sizeof(buf), v ? v : "");
		json_object_set_new(obj, k, json_string(buf));
	}
	line = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (line) {
		fputs(line, f);
		fputc('\n', f);
		free(line);
	}
	json_decref(obj);
}

void slog(enum slog_level level, const char *msg, ...)
{
	va_list ap;
	FILE *f;

	if (!slog_enabled(level))
		return;
	pthread_mutex_lock(&logger.lock);
	f = logger.out ? logger.out : stderr;
	va_start(ap, msg);
	if (logger.fmt == SLOG_JSON)
		write_json(f, level, msg, ap);
	else
		write_text(f, level, msg, ap);
	va_end(ap);
	fflush(f);
	pthread_mutex_unlock(&logger.lock);
}
