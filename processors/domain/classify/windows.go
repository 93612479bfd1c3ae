package classify

import "time"

// Windows are an app's classification windows (CLASSIFICATION.md,
// "Windows").
type Windows struct {
	// Inactivity is the gap since the last activity that makes the next
	// activity a re-engagement (or the next install a re-install).
	Inactivity time.Duration
	// ClickLookback is how old a click may be to win an attribution.
	ClickLookback time.Duration
	// ImpressionLookback is how old an impression may be to win one.
	ImpressionLookback time.Duration
	// DedupHorizon is how long event ids and purchase transaction ids are
	// remembered to drop duplicates.
	DedupHorizon time.Duration
}

// DefaultWindows are the windows of an app without its own: 30 days of
// inactivity, 7 days of click and 24 hours of impression lookback, 7 days
// of dedup horizon.
func DefaultWindows() Windows {
	return Windows{
		Inactivity:         30 * 24 * time.Hour,
		ClickLookback:      7 * 24 * time.Hour,
		ImpressionLookback: 24 * time.Hour,
		DedupHorizon:       7 * 24 * time.Hour,
	}
}

// WindowsFunc returns the windows of an app, from config. A nil WindowsFunc
// means DefaultWindows for every app; zero fields of what it returns take
// the defaults too, so config need only name the windows it changes.
type WindowsFunc func(appID string) Windows

func (f WindowsFunc) of(appID string) Windows {
	d := DefaultWindows()
	if f == nil {
		return d
	}
	w := f(appID)
	if w.Inactivity <= 0 {
		w.Inactivity = d.Inactivity
	}
	if w.ClickLookback <= 0 {
		w.ClickLookback = d.ClickLookback
	}
	if w.ImpressionLookback <= 0 {
		w.ImpressionLookback = d.ImpressionLookback
	}
	if w.DedupHorizon <= 0 {
		w.DedupHorizon = d.DedupHorizon
	}
	return w
}
