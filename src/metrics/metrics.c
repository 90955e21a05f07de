/* The controller's metrics registry and its text exposition (metrics.h). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/metrics.h"

/* the registry's own family: series dropped per family */
#define DROPPED "sluice_metrics_series_dropped_total"

struct series {
	char *values[METRICS_MAX_LABELS];
	uint64_t hash;
	unsigned long long touched; /* the registry's clock at the last update */
	double v;                   /* a histogram's sum */
	unsigned long long *counts; /* a histogram's, per bucket (+Inf last), not cumulative */
	unsigned long long count;
};

struct family {
	char *name, *help;
	enum metrics_type type;
	char *labels[METRICS_MAX_LABELS];
	size_t nlabels;
	struct series *series;
	size_t nseries, cap;
	unsigned long long dropped;
	double bounds[METRICS_MAX_BUCKETS];
	size_t nbounds;
};

struct metrics {
	pthread_mutex_t lock;
	struct family fams[METRICS_MAX_FAMILIES];
	size_t nfams;
	size_t max_series;
	unsigned long long clock;
};

int metrics_new(struct metrics **out, size_t max_series)
{
	struct metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return sluice_error_set(SLUICE_ENOMEM, "metrics: out of memory");
	pthread_mutex_init(&m->lock, NULL);
	m->max_series = max_series ? max_series : METRICS_DEFAULT_SERIES;
	*out = m;
	return 0;
}

static void series_dispose(struct series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s->counts);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t f = 0; f < m->nfams; f++) {
		struct family *fam = &m->fams[f];
		for (size_t i = 0; i < fam->nseries; i++)
			series_dispose(&fam->series[i], fam->nlabels);
		for (size_t i = 0; i < fam->nlabels; i++)
			free(fam->labels[i]);
		free(fam->series);
		free(fam->name);
		free(fam->help);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static struct metrics *process_registry;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void make_process_registry(void)
{
	if (metrics_new(&process_registry, 0) < 0)
		process_registry = NULL;
}

struct metrics *metrics_default(void)
{
	pthread_once(&process_once, make_process_registry);
	return process_registry;
}

static int name_ok(const char *s, int colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return 0;
	return 1;
}

static struct family *find(struct metrics *m, const char *name)
{
	for (size_t f = 0; f < m->nfams; f++)
		if (strcmp(m->fams[f].name, name) == 0)
			return &m->fams[f];
	return NULL;
}

static size_t count_of(const char *const *list)
{
	size_t n = 0;
	while (list && list[n])
		n++;
	return n;
}

static int same_family(const struct family *fam, enum metrics_type type, const char *const *labels,
                       size_t n)
{
	if (fam->type != type || fam->nlabels != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(fam->labels[i], labels[i]) != 0)
			return 0;
	return 1;
}

static int declare(struct metrics *m, enum metrics_type type, const char *name, const char *help,
                   const char *const *labels, const double *bounds, size_t nbounds);

int metrics_family(struct metrics *m, enum metrics_type type, const char *name, const char *help,
                   const char *const *labels)
{
	if (type == METRICS_HISTOGRAM)
		return sluice_error_set(SLUICE_EINVALID,
		                        "metrics: %s: declare histograms with metrics_histogram",
		                        name ? name : "");
	return declare(m, type, name, help, labels, NULL, 0);
}

int metrics_histogram(struct metrics *m, const char *name, const char *help,
                      const char *const *labels, const double *bounds, size_t nbounds)
{
	if (!bounds || nbounds == 0 || nbounds > METRICS_MAX_BUCKETS)
		return sluice_error_set(SLUICE_EINVALID, "metrics: %s: 1 to %d bucket bounds",
		                        name ? name : "", METRICS_MAX_BUCKETS);
	for (size_t i = 0; i < nbounds; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return sluice_error_set(SLUICE_EINVALID,
			                        "metrics: %s: bounds must be finite and ascending",
			                        name ? name : "");
	for (size_t i = 0; labels && labels[i]; i++)
		if (strcmp(labels[i], "le") == 0)
			return sluice_error_set(SLUICE_EINVALID,
			                        "metrics: %s: \"le\" is the buckets'",
			                        name ? name : "");
	return declare(m, METRICS_HISTOGRAM, name, help, labels, bounds, nbounds);
}

static int declare(struct metrics *m, enum metrics_type type, const char *name, const char *help,
                   const char *const *labels, const double *bounds, size_t nbounds)
{
	size_t n = count_of(labels);
	struct family *fam;
	int rc = 0;

	if (!name_ok(name, 1))
		return sluice_error_set(SLUICE_EINVALID, "metrics: \"%s\" is not a metric name",
		                        name ? name : "");
	if (strcmp(name, DROPPED) == 0)
		return sluice_error_set(SLUICE_ECONFLICT, "metrics: %s is the registry's own",
		                        name);
	if (n > METRICS_MAX_LABELS)
		return sluice_error_set(SLUICE_ELIMIT, "metrics: %s: more than %d labels", name,
		                        METRICS_MAX_LABELS);
	for (size_t i = 0; i < n; i++)
		if (!name_ok(labels[i], 0) || strncmp(labels[i], "__", 2) == 0)
			return sluice_error_set(SLUICE_EINVALID,
			                        "metrics: %s: \"%s\" is not a label name", name,
			                        labels[i]);
	pthread_mutex_lock(&m->lock);
	if ((fam = find(m, name))) {
		if (!same_family(fam, type, labels, n))
			rc = sluice_error_set(SLUICE_ECONFLICT,
			                      "metrics: %s is already declared with another type "
			                      "or labels",
			                      name);
		goto out;
	}
	if (m->nfams >= METRICS_MAX_FAMILIES) {
		rc = sluice_error_set(SLUICE_ELIMIT, "metrics: %s: more than %d families", name,
		                      METRICS_MAX_FAMILIES);
		goto out;
	}
	fam = &m->fams[m->nfams];
	memset(fam, 0, sizeof(*fam));
	fam->type = type;
	fam->nbounds = nbounds;
	if (nbounds)
		memcpy(fam->bounds, bounds, nbounds * sizeof(*bounds));
	fam->name = strdup(name);
	fam->help = strdup(help ? help : "");
	for (size_t i = 0; i < n; i++)
		fam->labels[fam->nlabels++] = strdup(labels[i]);
	int bad = !fam->name || !fam->help;
	for (size_t i = 0; i < n; i++)
		bad |= !fam->labels[i];
	if (bad) {
		for (size_t i = 0; i < n; i++)
			free(fam->labels[i]);
		free(fam->name);
		free(fam->help);
		memset(fam, 0, sizeof(*fam));
		rc = sluice_error_set(SLUICE_ENOMEM, "metrics: out of memory");
		goto out;
	}
	m->nfams++;
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0; /* overlong, or a surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* A label value as kept: valid UTF-8 (U+FFFD for bad bytes), at most METRICS_MAX_VALUE bytes. */
static char *clean_value(const char *in)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	char *out = malloc(METRICS_MAX_VALUE + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	while (*s) {
		size_t k = utf8_len(s);
		const char *piece = k ? (const char *)s : "\xef\xbf\xbd";
		size_t plen = k ? k : 3;
		if (o + plen > METRICS_MAX_VALUE)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		s += k ? k : 1;
	}
	out[o] = '\0';
	return out;
}

static uint64_t hash_values(char *const *values, size_t n)
{
	uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
			h = (h ^ *p) * UINT64_C(1099511628211);
		h = (h ^ 0xff) * UINT64_C(1099511628211); /* 0xff never occurs in UTF-8 */
	}
	return h;
}

/* The series for `values` (cleaned), made at 0 when `create`; NULL when none (or no memory). */
static struct series *lookup(struct metrics *m, struct family *fam, char *const *values, int create)
{
	uint64_t h = hash_values(values, fam->nlabels);
	struct series *s;

	for (size_t i = 0; i < fam->nseries; i++) {
		size_t k;
		s = &fam->series[i];
		if (s->hash != h)
			continue;
		for (k = 0; k < fam->nlabels && strcmp(s->values[k], values[k]) == 0; k++)
			;
		if (k == fam->nlabels)
			return s;
	}
	if (!create)
		return NULL;
	if (fam->nseries >= m->max_series) {
		/* full: the least recently updated series goes */
		size_t old = 0;
		for (size_t i = 1; i < fam->nseries; i++)
			if (fam->series[i].touched < fam->series[old].touched)
				old = i;
		series_dispose(&fam->series[old], fam->nlabels);
		memmove(&fam->series[old], &fam->series[old + 1],
		        (fam->nseries - old - 1) * sizeof(*fam->series));
		fam->nseries--;
		fam->dropped++;
	}
	if (fam->nseries == fam->cap) {
		size_t cap = fam->cap ? fam->cap * 2 : 8;
		struct series *grown;
		if (cap > m->max_series)
			cap = m->max_series;
		if (!(grown = realloc(fam->series, cap * sizeof(*grown))))
			return NULL;
		fam->series = grown;
		fam->cap = cap;
	}
	s = &fam->series[fam->nseries];
	memset(s, 0, sizeof(*s));
	for (size_t k = 0; k < fam->nlabels; k++) {
		if (!(s->values[k] = strdup(values[k]))) {
			series_dispose(s, k);
			return NULL;
		}
	}
	s->hash = h;
	fam->nseries++;
	return s;
}

enum op { OP_SET, OP_ADD, OP_GET, OP_OBSERVE };

static int update(struct metrics *m, enum op op, const char *name, const char *const *values,
                  double *v)
{
	char *clean[METRICS_MAX_LABELS] = {NULL};
	size_t n = count_of(values);
	struct family *fam;
	struct series *s;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	if (!(fam = find(m, name))) {
		rc = sluice_error_set(SLUICE_ENOTFOUND, "metrics: no family %s", name);
		goto out;
	}
	if (n != fam->nlabels) {
		rc =
		    sluice_error_set(SLUICE_EINVALID, "metrics: %s wants %zu label values, not %zu",
		                     name, fam->nlabels, n);
		goto out;
	}
	if ((op == OP_OBSERVE) != (fam->type == METRICS_HISTOGRAM) && op != OP_GET) {
		rc = sluice_error_set(SLUICE_EINVALID,
		                      op == OP_OBSERVE
		                          ? "metrics: %s is not a histogram"
		                          : "metrics: %s is a histogram: observe into it",
		                      name);
		goto out;
	}
	if (op == OP_OBSERVE && isnan(*v)) {
		rc = sluice_error_set(SLUICE_EINVALID, "metrics: %s: NaN is not observed", name);
		goto out;
	}
	if (op == OP_SET && fam->type == METRICS_COUNTER) {
		rc = sluice_error_set(SLUICE_EINVALID, "metrics: %s is a counter: add to it", name);
		goto out;
	}
	if (op == OP_ADD && fam->type == METRICS_COUNTER && !(*v >= 0 && isfinite(*v))) {
		rc = sluice_error_set(SLUICE_EINVALID, "metrics: %s: a counter only goes up", name);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(clean[i] = clean_value(values[i]))) {
			rc = sluice_error_set(SLUICE_ENOMEM, "metrics: out of memory");
			goto out;
		}
	}
	if (!(s = lookup(m, fam, clean, op != OP_GET))) {
		rc = op == OP_GET
		         ? sluice_error_set(SLUICE_ENOTFOUND, "metrics: %s: no such series", name)
		         : sluice_error_set(SLUICE_ENOMEM, "metrics: out of memory");
		goto out;
	}
	if (op == OP_GET) {
		*v = fam->type == METRICS_HISTOGRAM ? (double)s->count : s->v;
		goto out;
	}
	if (op == OP_OBSERVE) {
		size_t b = 0;
		if (!s->counts && !(s->counts = calloc(fam->nbounds + 1, sizeof(*s->counts)))) {
			rc = sluice_error_set(SLUICE_ENOMEM, "metrics: out of memory");
			goto out;
		}
		while (b<fam->nbounds && * v> fam->bounds[b])
			b++;
		s->counts[b]++;
		s->count++;
		s->v += *v;
		s->touched = ++m->clock;
		goto out;
	}
	s->v = op == OP_SET ? *v : s->v + *v;
	s->touched = ++m->clock;
out:
	for (size_t i = 0; i < n && i < METRICS_MAX_LABELS; i++)
		free(clean[i]);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int metrics_set(struct metrics *m, const char *name, const char *const *values, double v)
{
	return update(m, OP_SET, name, values, &v);
}

int metrics_add(struct metrics *m, const char *name, const char *const *values, double delta)
{
	return update(m, OP_ADD, name, values, &delta);
}

int metrics_observe(struct metrics *m, const char *name, const char *const *values, double v)
{
	return update(m, OP_OBSERVE, name, values, &v);
}

int metrics_get(struct metrics *m, const char *name, const char *const *values, double *v)
{
	return update(m, OP_GET, name, values, v);
}

unsigned long long metrics_dropped(struct metrics *m, const char *name)
{
	unsigned long long n = 0;
	struct family *fam;

	pthread_mutex_lock(&m->lock);
	if ((fam = find(m, name)))
		n = fam->dropped;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* Text with `\` and newline escaped (HELP), and `"` too (label values). */
static int add_escaped(struct buf *b, const char *s, int quote)
{
	int rc = 0;
	for (; *s && rc == 0; s++) {
		if (*s == '\\')
			rc = buf_add(b, "\\\\", 2);
		else if (*s == '\n')
			rc = buf_add(b, "\\n", 2);
		else if (quote && *s == '"')
			rc = buf_add(b, "\\\"", 2);
		else
			rc = buf_addc(b, *s);
	}
	return rc;
}

/* A sample value: the shortest text that reads back as the same double. */
static int add_value(struct buf *b, double v)
{
	char text[40];

	if (isnan(v))
		return buf_adds(b, "NaN");
	if (isinf(v))
		return buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			break;
	}
	return buf_adds(b, text);
}

/* One sample line: name+suffix{labels[,le="..."]} value */
static int add_sample(struct buf *b, const struct family *fam, const struct series *s,
                      const char *suffix, const char *le, double v)
{
	int rc;

	if ((rc = buf_printf(b, "%s%s", fam->name, suffix)) < 0)
		return rc;
	for (size_t k = 0; k < fam->nlabels; k++) {
		if ((rc = buf_printf(b, "%s%s=\"", k ? "," : "{", fam->labels[k])) < 0 ||
		    (rc = add_escaped(b, s->values[k], 1)) < 0 || (rc = buf_addc(b, '"')) < 0)
			return rc;
	}
	if (le && (rc = buf_printf(b, "%sle=\"%s\"", fam->nlabels ? "," : "{", le)) < 0)
		return rc;
	if ((rc = buf_adds(b, fam->nlabels || le ? "} " : " ")) < 0 || (rc = add_value(b, v)) < 0)
		return rc;
	return buf_addc(b, '\n');
}

static int render_histogram(struct buf *b, const struct family *fam, const struct series *s)
{
	unsigned long long below = 0;
	char le[40];
	int rc = 0;

	for (size_t k = 0; k < fam->nbounds && rc == 0; k++) {
		struct buf t;
		below += s->counts ? s->counts[k] : 0;
		buf_init(&t, sizeof(le) - 1);
		rc = add_value(&t, fam->bounds[k]);
		snprintf(le, sizeof(le), "%s", t.ptr ? t.ptr : "");
		buf_dispose(&t);
		if (rc == 0)
			rc = add_sample(b, fam, s, "_bucket", le, (double)below);
	}
	if (rc == 0)
		rc = add_sample(b, fam, s, "_bucket", "+Inf", (double)s->count);
	if (rc == 0)
		rc = add_sample(b, fam, s, "_sum", NULL, s->v);
	if (rc == 0)
		rc = add_sample(b, fam, s, "_count", NULL, (double)s->count);
	return rc;
}

static int render_family(struct buf *b, const struct family *fam)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	int rc;

	if ((rc = buf_printf(b, "# HELP %s ", fam->name)) < 0 ||
	    (rc = add_escaped(b, fam->help, 0)) < 0 ||
	    (rc = buf_printf(b, "\n# TYPE %s %s\n", fam->name, types[fam->type])) < 0)
		return rc;
	for (size_t i = 0; i < fam->nseries; i++) {
		const struct series *s = &fam->series[i];
		rc = fam->type == METRICS_HISTOGRAM ? render_histogram(b, fam, s)
		                                    : add_sample(b, fam, s, "", NULL, s->v);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int metrics_render(struct metrics *m, struct buf *out)
{
	int rc = 0, any = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t f = 0; f < m->nfams && rc == 0; f++) {
		if (m->fams[f].nseries)
			rc = render_family(out, &m->fams[f]);
		any |= m->fams[f].dropped > 0;
	}
	if (rc == 0 && any)
		rc = buf_adds(out, "# HELP " DROPPED " Series dropped because their family reached "
		                   "its cap (the least recently updated go first).\n"
		                   "# TYPE " DROPPED " counter\n");
	for (size_t f = 0; f < m->nfams && rc == 0; f++)
		if (m->fams[f].dropped)
			rc = buf_printf(out, DROPPED "{family=\"%s\"} %llu\n", m->fams[f].name,
			                m->fams[f].dropped);
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		return sluice_error_set(rc, "metrics: the rendering is over %zu bytes", out->max);
	return 0;
}
