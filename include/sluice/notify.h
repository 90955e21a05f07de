/*
 * Notifications: each decision sluiced records as a Kubernetes Event is also
 * posted to webhooks, when configured through the environment (in-cluster,
 * from a Secret with `valueFrom.secretKeyRef`; see deploy/):
 *
 *   SLUICE_NOTIFY_WEBHOOK_URL  a generic JSON POST: {"kind", "namespace",
 *                              "name", "type", "reason", "message", "time"}
 *   SLUICE_NOTIFY_SLACK_URL    a Slack incoming webhook: {"text": "..."}
 *
 * Posting never blocks the caller: notices go through a bounded queue (256;
 * the oldest are dropped when it is full) to one sender thread, which tries
 * each up to 4 times (backoff 1 s, 2 s, 4 s; SLUICE_NOTIFY_BACKOFF_MS sets
 * the first) with a 5 s timeout. The URLs are treated as secrets: never
 * logged. Counted in sluice_notifications_total{sink, result}.
 */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

struct notify_event {
	const char *kind, *namespace, *name;
	int warning;
	const char *reason, *message;
};

/* Is a sink configured (and the sender started)? */
int notify_enabled(void);

/* Queue one notice (a no-op without a sink). */
void notify_event(const struct notify_event *ev);

/* Wait until the queue is sent, at most timeout_ms (for a clean exit). */
void notify_flush(long timeout_ms);

#endif
