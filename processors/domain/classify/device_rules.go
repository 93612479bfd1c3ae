package classify

import "github.com/postbackd/postbackd/schemas"

// click records a touch for later attribution. A click makes no device
// known: only events do. A click whose click_id the device already holds
// (as a click or an impression) is a repeat, re-sent by an ad network or a
// tracking server, and changes nothing: not even the newest time seen,
// which decides what is pruned. A rejected click (the app's fraud tool's
// verdict) is never held, so it never wins; one whose click_id the device
// holds takes that touch away, as the verdict on it.
func (s *deviceState) click(c *schemas.Click, w Windows) {
	if c.Rejected {
		s.dropTouch(c.ClickID)
		return
	}
	if s.holdsTouch(c.ClickID) {
		return
	}
	t := touch{ts: c.TS.UnixNano(), clickID: c.ClickID, partner: c.Partner, campaign: c.Campaign}
	s.addTouch(t, c.Touch == schemas.TouchImpression, w)
}

// dropTouch removes the touches with clickID, keeping the order of the
// rest.
func (s *deviceState) dropTouch(clickID string) {
	for _, list := range [2]*[]touch{&s.clicks, &s.impressions} {
		kept := (*list)[:0]
		for _, t := range *list {
			if t.clickID != clickID {
				kept = append(kept, t)
			}
		}
		*list = kept
	}
}

func (s *deviceState) holdsTouch(clickID string) bool {
	for _, list := range [2][]touch{s.clicks, s.impressions} {
		for i := range list {
			if list[i].clickID == clickID {
				return true
			}
		}
	}
	return false
}

// event applies the rules of CLASSIFICATION.md to one event and appends its
// device-level records to out. It reports false for a duplicate, which
// leaves the state untouched and produces nothing.
func (s *deviceState) event(e *schemas.Event, w Windows, out []schemas.Classified) ([]schemas.Classified, bool) {
	ts := e.TS.UnixNano()
	horizon := int64(w.DedupHorizon)
	newest := ts
	if s.has(flagKnown) {
		newest = max(s.newestEvent, ts)
	}
	eventHash := idHash(e.EventID)
	if seen(s.eventIDs, eventHash, newest, horizon) {
		return out, false
	}
	dedupPurchase := e.Type == schemas.EventPurchase && e.TransactionID != ""
	var txHash uint64
	if dedupPurchase {
		txHash = idHash(e.TransactionID)
		if seen(s.transactions, txHash, newest, horizon) {
			return out, false
		}
	}

	s.newestEvent = newest
	s.eventIDs = remember(s.eventIDs, seenID{hash: eventHash, ts: ts}, newest, horizon, maxEventIDs)
	if dedupPurchase {
		s.transactions = remember(s.transactions, seenID{hash: txHash, ts: ts}, newest, horizon, maxTransactionIDs)
	}

	// The event's records carry the device's signals as they stand after
	// it: each one it sent, the others as the device last had them.
	s.privacy = s.privacy.Merge(e.Privacy)
	ev := *e
	ev.Privacy = s.privacy
	e = &ev
	out = s.reattribute(e, ts, w, out)
	out = s.ownRecords(e, out)

	if isActivity(e.Type) && (!s.has(flagHasActivity) || ts > s.lastActivity) {
		s.lastActivity = ts
		s.flags |= flagHasActivity
	}
	if ts > s.newestSeen {
		s.newestSeen = ts
		s.pruneTouches(w)
	}
	return out, true
}

// reattribute is step 1: install, reinstall or reengagement, at most one.
func (s *deviceState) reattribute(e *schemas.Event, ts int64, w Windows, out []schemas.Classified) []schemas.Classified {
	install := e.Type == schemas.EventInstall
	if !s.has(flagKnown) {
		s.flags |= flagKnown
		// A mobile device first seen through a non-install event shipped
		// the SDK later: its install happened unmeasured, so organic.
		s.first = schemas.Organic
		if install || e.Platform == schemas.PlatformWeb {
			s.first = s.winner(ts, w, 0, false)
		}
		s.current = s.first
		s.firstAt, s.currentAt = ts, ts
		if install {
			out = emit(out, e, schemas.TypeInstall, s.first, s.firstAt)
		}
		return out
	}
	// No gap can be measured before the first activity, and a late event
	// (ts before the last activity) has a negative gap.
	if !isActivity(e.Type) || !s.has(flagHasActivity) || ts-s.lastActivity < int64(w.Inactivity) {
		return out
	}
	s.current = s.winner(ts, w, s.lastActivity, true)
	s.currentAt = ts
	s.flags &^= periodFlags
	if install {
		return emit(out, e, schemas.TypeReinstall, s.current, s.currentAt)
	}
	return emit(out, e, schemas.TypeReengagement, s.current, s.currentAt)
}

// ownRecords is step 2: the records of the event's type.
func (s *deviceState) ownRecords(e *schemas.Event, out []schemas.Classified) []schemas.Classified {
	switch e.Type {
	case schemas.EventPurchase:
		return s.revenueRecords(e, out, flagFirstPurchase, flagPeriodPurchase,
			schemas.TypeFirstPurchase, schemas.TypeFirstPurchaseCA, schemas.TypePurchase, schemas.TypePurchaseCA)
	case schemas.EventCustomRevenue:
		return s.revenueRecords(e, out, flagFirstCustomRevenue, flagPeriodCustomRevenue,
			schemas.TypeFirstCustomRevenue, schemas.TypeFirstCustomRevenueCA, schemas.TypeCustomRevenue, schemas.TypeCustomRevenueCA)
	case schemas.EventRegistration:
		return s.accountRecords(e, out, flagFirstRegistration,
			schemas.TypeFirstRegistration, schemas.TypeRegistration, schemas.TypeRegistrationCA)
	case schemas.EventLogin:
		return s.accountRecords(e, out, flagFirstLogin,
			schemas.TypeFirstLogin, schemas.TypeLogin, schemas.TypeLoginCA)
	case schemas.EventCustomEvent:
		out = emit(out, e, schemas.TypeCustomEvent, s.first, s.firstAt)
		return emit(out, e, schemas.TypeCustomEventCA, s.current, s.currentAt)
	}
	return out
}

// revenueRecords: the first-ever record carries the first attribution, the
// first-in-period one the current; the flags move even when a web event's
// records are filtered out, because they say what happened, not what was
// sent.
func (s *deviceState) revenueRecords(e *schemas.Event, out []schemas.Classified, everFlag, periodFlag uint8, first, firstCA, any, anyCA string) []schemas.Classified {
	if !s.has(everFlag) {
		out = emit(out, e, first, s.first, s.firstAt)
		s.flags |= everFlag
	}
	if !s.has(periodFlag) {
		out = emit(out, e, firstCA, s.current, s.currentAt)
		s.flags |= periodFlag
	}
	out = emit(out, e, any, s.first, s.firstAt)
	return emit(out, e, anyCA, s.current, s.currentAt)
}

func (s *deviceState) accountRecords(e *schemas.Event, out []schemas.Classified, everFlag uint8, first, any, anyCA string) []schemas.Classified {
	if !s.has(everFlag) {
		out = emit(out, e, first, s.first, s.firstAt)
		s.flags |= everFlag
	}
	out = emit(out, e, any, s.first, s.firstAt)
	return emit(out, e, anyCA, s.current, s.currentAt)
}
