package classify

import "github.com/postbackd/postbackd/schemas"

// winner is the attribution of an event at ts: the latest click with ts in
// [ts-ClickLookback, ts], else the latest impression in
// [ts-ImpressionLookback, ts], else organic. Between equal ts the later
// arrived wins, which is why the lists are in arrival order and a later
// touch replaces the best on >=. With after set (re-engagement and
// re-install), only touches strictly after the previous activity count.
func (s *deviceState) winner(ts int64, w Windows, after int64, hasAfter bool) schemas.Attribution {
	if t, ok := latest(s.clicks, ts, int64(w.ClickLookback), after, hasAfter); ok {
		return t.attribution(schemas.TouchClick)
	}
	if t, ok := latest(s.impressions, ts, int64(w.ImpressionLookback), after, hasAfter); ok {
		return t.attribution(schemas.TouchImpression)
	}
	return schemas.Organic
}

func latest(ts []touch, at, lookback, after int64, hasAfter bool) (touch, bool) {
	var best touch
	found := false
	for _, t := range ts {
		if t.ts > at || at-t.ts > lookback || (hasAfter && t.ts <= after) {
			continue
		}
		if !found || t.ts >= best.ts {
			best, found = t, true
		}
	}
	return best, found
}

func (t touch) attribution(kind string) schemas.Attribution {
	return schemas.Attribution{Partner: t.partner, Campaign: t.campaign, ClickID: t.clickID, Touch: kind}
}
