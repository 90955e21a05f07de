/*
 * A growable byte buffer with a hard maximum (curl's dynbuf): everything
 * filled from the network or a repository goes through one, so no input can
 * grow memory without bound. The content is always NUL-terminated.
 */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *ptr;
	size_t len;
	size_t cap;
	size_t max; /* most bytes ever held, excluding the NUL */
};

/* Embedded struct: buf_init() then buf_dispose(). */
void buf_init(struct buf *b, size_t max);
void buf_dispose(struct buf *b);
void buf_reset(struct buf *b);

/* Append. Each returns 0, SLUICE_ELIMIT past the maximum, or SLUICE_ENOMEM. */
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hand the content to the caller (free() it) and reset the buffer. Never NULL
 * unless out of memory. */
char *buf_detach(struct buf *b);

#endif
