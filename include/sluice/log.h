/*
 * Logging. The controller writes one JSON object per line
 * ({"ts":...,"level":...,"msg":...,fields...}); the CLI writes plain text
 * ("sluice: level: message key=value"). The level comes from a flag or from
 * SLUICE_LOG_LEVEL, the format from SLUICE_LOG_FORMAT (text|json).
 *
 * Strings registered with slog_add_secret() are replaced by "[REDACTED]" in
 * every line written, whatever field they appear in.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdio.h>

enum slog_level { SLOG_ERROR = 0, SLOG_WARN, SLOG_INFO, SLOG_DEBUG };
enum slog_format { SLOG_TEXT = 0, SLOG_JSON };

/* Configure the process logger. `out` NULL means stderr. */
void slog_setup(enum slog_format fmt, enum slog_level level, FILE *out);

/*
 * Apply SLUICE_LOG_LEVEL and SLUICE_LOG_FORMAT from the environment on top of
 * the current settings. Returns 0, or SLUICE_EINVALID naming the bad value.
 */
int slog_setup_from_env(void);

/* Parse "error", "warn", "info", "debug". Returns 0 or SLUICE_EINVALID. */
int slog_level_parse(enum slog_level *out, const char *s);
int slog_format_parse(enum slog_format *out, const char *s);

/* True when a message at `level` would be written. */
int slog_enabled(enum slog_level level);

/*
 * Write a message with optional string fields: a NULL-terminated list of
 * key, value pairs, e.g. slog(SLOG_INFO, "synced", "app", "web", NULL).
 */
void slog(enum slog_level level, const char *msg, ...) __attribute__((sentinel));

/* Register a secret to redact (copied). Empty strings are ignored. */
int slog_add_secret(const char *secret);
/* Forget all registered secrets. */
void slog_clear_secrets(void);

/*
 * Copy `in` into `out` (size `outsz`, always NUL-terminated) with every
 * registered secret replaced by "[REDACTED]". Returns `out`.
 */
char *slog_redact(char *out, size_t outsz, const char *in);

#endif
