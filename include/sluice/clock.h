/* Wall-clock times as the resources' status writes them: RFC 3339 in UTC with milliseconds. */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#define CLOCK_TEXT_MAX 32

/* Milliseconds since the epoch, now. */
long long clock_now_ms(void);

/* "2026-11-30T00:40:03.348Z" into out. */
void clock_format_ms(char out[CLOCK_TEXT_MAX], long long ms);

/* The ms of such a text (the fraction optional); -1 when NULL or malformed. */
long long clock_parse(const char *s);

#endif
