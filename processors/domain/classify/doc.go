// Package classify holds the two classifiers of postbackd: Device (per
// (app, device): install, reinstall, reengagement and the records of each
// event type) and User (per (app, user): new_user, reengagement_user), as
// specified in design/CLASSIFICATION.md. They are pure functions of (state,
// batch): Classify reads the state, returns records and state writes, and
// writes nothing, so the streaming stages can apply the writes atomically
// with their input offset and replay can apply them directly. Both stages
// and `postbackd replay` run this same code.
//
// # State
//
// Device state key: app_id + "\x00" + device_id; user state key: app_id +
// "\x00" + user_id. Values are a compact varint encoding (codec.go). A
// device keeps at most 32 clicks and 32 impressions (the latest; older
// than their lookback relative to the newest record seen are dropped), 256
// event ids and 64 purchase transaction ids (those older than the dedup
// horizon relative to the newest event are dropped, then the oldest over
// the cap), so its value stays a few KB however busy it is. Ids are kept
// as 64-bit FNV-1a hashes (see idHash for why collisions are acceptable).
// Pruning happens per record, never at encoding, so outputs do not depend
// on where a stream is cut into batches.
//
// # Decisions
//
// Where CLASSIFICATION.md is silent or ambiguous, the classifier does this:
//
//   - Known device, first attribution: a device becomes known at its first
//     valid, non-duplicate event of any type (custom ones too); clicks alone
//     do not make it known. Its first attribution is made then: by winner
//     selection for an install or any web event, organic for a mobile
//     non-install event. For web this is the first event, not the first
//     activity: the device needs a first attribution as soon as it can
//     produce records (a custom_revenue, say).
//   - A device first seen through a non-activity event (custom_event,
//     custom_revenue) is known but has no activity: its next activity,
//     an install included, produces no install, reinstall or reengagement
//     (no gap can be measured), as the spec says for known devices.
//   - Only activity events start a re-engagement: custom_revenue and
//     custom_event neither end nor reset an inactivity period.
//   - Re-attribution: the winner among touches with ts strictly after the
//     previous last activity and within the lookback of the event; none
//     means organic (the device came back on its own).
//   - Late events (ts before the last activity): the gap is negative, so no
//     reengagement or reinstall; last activity never moves back. They still
//     produce their own records (a late purchase is still a purchase).
//   - Duplicates by event_id: an event whose id was seen on the same (app,
//     device) by an event with ts no older than the dedup horizon before
//     the newest event seen is dropped silently: no records, no user event,
//     no state change. The horizon is inclusive: an id seen exactly
//     DedupHorizon before is still a duplicate, one nanosecond more is not.
//   - Duplicate transaction_id: only purchases are deduplicated by
//     transaction_id (the spec defines it for purchases), with the same
//     horizon and the same silence; a purchase without transaction_id is
//     never a transaction duplicate. custom_revenue carries its
//     transaction_id through but is neither checked nor remembered: ad
//     revenue and subscription renewals may reuse a reference.
//   - A purchase dropped as a transaction duplicate does not record its
//     event id either: it left no trace, as a duplicate should.
//   - Web filtering applies to records only. State moves the same for every
//     platform: a web purchase is activity and sets the first-purchase
//     flags, a web install on a known device after the gap starts a new
//     attribution period (its reinstall record is filtered out).
//   - first_* flags are per (app, device) and never reset;
//     first_purchase_ca and first_custom_revenue_ca reset at every
//     reinstall and reengagement.
//   - Apps are separate: state (touches included) is keyed by app, so a
//     click for app A never credits an event of app B on the same device.
//   - Touches count from the moment they arrive: a click with ts after the
//     event, or arriving after it in the stream, never credits it.
//   - Every record of an event carries the event's params; name only the
//     custom_event family; revenue, currency and transaction_id only the
//     purchase and custom_revenue families.
//   - User level: new_user at the first event of any type with that
//     user_id that the device level did not drop; reengagement_user for an
//     activity whose gap since the user's last activity (any device) is at
//     least Inactivity, none before the user's first activity. Both carry
//     the current attribution of the event's device after its device step.
//   - Windows of zero length in config take the defaults (WindowsFunc).
//   - A record with neither click nor event, an unknown event type or an
//     empty app id is skipped: normalize rejects them before they reach
//     the classifier, and no state key begins with NUL (the runtime's own
//     keys do).
//   - A click whose click_id the device holds (among its kept clicks and
//     impressions) is a repeat and changes nothing, not even the newest
//     time seen. A click id the device no longer holds (pruned out of its
//     lookback, or past the 32-touch bound) counts as new when it comes
//     again: holding every click id ever seen would make the state grow
//     without bound, and a click re-sent that late is a re-sent click the
//     ad network means.
//   - Fraud verdicts (DELIVERY.md, "Fraud verdicts"; where it is silent):
//     a rejected click or impression is never held, so it never wins; one
//     whose click_id the device holds removes that touch (the verdict came
//     after the click), and changes nothing else, not the newest time seen.
//     A later click of that id without a verdict counts as new, as for a
//     pruned id. A rejected event is classified like any other: it makes
//     the device known, sets the attribution, the flags and last activity
//     (the install or purchase happened; the verdict says it is not to be
//     paid), and every record made from it, user-level ones included,
//     carries rejected and reject_reason. Records of later events without
//     a verdict carry none, even when they keep the attribution a rejected
//     install made.
//   - attributed_at is the (adjusted) ts of the event that made the
//     attribution a record carries: the device's first event for the
//     first attribution (install, the plain and first_* records), the
//     latest reinstall or reengagement for the current one (_ca records,
//     and new_user and reengagement_user, which carry the device's current
//     attribution). A device stored before the times were kept (state
//     version 1) has them unknown, and its records carry none until a
//     re-attribution.
//   - The postback_id hashes the adjusted event time: a record whose ts
//     was replaced by its arrival time (ts_adjusted) gets its id from the
//     arrival time, which is the same on every replay of the topic.
package classify
