// Package listen is `ghlbulk listen`: it receives HighLevel's webhooks,
// verifies them, and journals each one durably before it answers 200; and
// it reads that journal back (`ghlbulk events`, and export's --changes).
//
// How it keeps its promises:
//
//   - A 200 means the event is in the journal: the handler answers only
//     after the transaction holding the event has committed
//     (synchronous=FULL), so a listener killed at any moment has every
//     event it acknowledged. Commits are grouped: one writer goroutine
//     takes every event that arrived while the previous batch was being
//     written and commits them together, so the fsync per commit does not
//     cap throughput.
//
//   - An event the journal cannot take (the queue is full, the disk is
//     full) is answered 429 with Retry-After, never 200: HighLevel sends it
//     again.
//
//   - A webhookId is journaled once: a replayed or retried event is
//     answered 200 and changes nothing (the journal's UNIQUE key).
//
//   - Only signed events are kept: x-ghl-signature (Ed25519) or the legacy
//     x-wh-signature (RSA-SHA256), over the raw body; a timestamp outside
//     the window is refused, so an old signed body cannot be replayed once
//     its webhookId could be forgotten.
//
//   - The listener's uptime is journaled (start, a heartbeat, stop), so a
//     reader can tell the spans in which events may have been missed.
//
//   - With relays and rules (rules.go, relay.go), what a matching event owes
//     is written to the outbox in the event's own transaction and sent by a
//     sender goroutine (outbox.go): at least once, keyed webhookId/relay,
//     retried with pace.Backoff, a dead letter after the rules' attempts.
//
// Floor 4 (docs/design.md): a job; imports ghl, ghl/pace and transform (the
// expression budget). All SQL of the journal is in journal.go.
package listen
