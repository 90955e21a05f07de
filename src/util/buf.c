#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/error.h"

void buf_init(struct buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_dispose(struct buf *b)
{
	if (!b)
		return;
	free(b->ptr);
	buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

static int reserve(struct buf *b, size_t add)
{
	size_t need, ncap;
	char *np;

	if (add > b->max || b->len > b->max - add)
		return sluice_error_set(SLUICE_ELIMIT, "buffer limit of %zu bytes reached", b->max);
	need = b->len + add + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	np = realloc(b->ptr, ncap);
	if (!np)
		return sluice_error_set(SLUICE_ENOMEM, "out of memory");
	b->ptr = np;
	b->cap = ncap;
	return 0;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
	int rc = reserve(b, len);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return sluice_error_set(SLUICE_ERROR, "format error");
	if ((size_t)n < sizeof(small))
		return buf_add(b, small, (size_t)n);
	if ((rc = reserve(b, (size_t)n)) < 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *buf_detach(struct buf *b)
{
	char *p = b->ptr;

	if (!p)
		p = calloc(1, 1);
	buf_init(b, b->max);
	return p;
}
