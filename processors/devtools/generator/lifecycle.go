package generator

const (
	minute = int64(60)
	hour   = 60 * minute
	day    = 24 * hour
)

// Shares of how a session ends (the rest is an ordinary gap), chosen so that
// re-engagements and re-installs are frequent enough to show in a short run.
const (
	longPauseShare      = 0.12 // back after 30-75 days: a re-engagement
	uninstallShare      = 0.06 // mobile: re-installed after 30-120 days
	quickReinstallShare = 0.02 // mobile: re-installed within the window
	lateSDKShare        = 0.03 // mobile devices first seen through a launch
	organicShare        = 0.35 // first sessions with no touch before them
	returnTouchShare    = 0.6  // returns after a pause that a retargeting touch precedes
	strayTouchShare     = 0.03 // ordinary sessions a touch precedes anyway
	duplicateEventShare = 0.01 // events sent twice (same event_id)
	duplicateTxShare    = 0.05 // purchases repeating the previous transaction_id

	// recordsPerSession is about the mean number of records of a session,
	// touches included; meanPause and ordinaryShare sum up the pauses above.
	recordsPerSession = 2.6
	meanPause         = (longPauseShare*52.5 + uninstallShare*75 + quickReinstallShare*5.5) * float64(day)
	ordinaryShare     = 1 - longPauseShare - uninstallShare - quickReinstallShare

	defaultOrdinaryGap = 2 * day
	minOrdinaryGap     = hour
	maxOrdinaryGap     = 20 * day
)

// ordinaryGap is the mean gap between ordinary sessions that makes the
// stream advance timeCompression (seconds) per record with devices devices.
func ordinaryGap(timeCompression float64, devices int) int64 {
	if timeCompression <= 0 {
		return defaultOrdinaryGap
	}
	perSession := recordsPerSession * float64(devices) * timeCompression
	gap := int64((perSession - meanPause) / ordinaryShare)
	return min(max(gap, minOrdinaryGap), maxOrdinaryGap)
}

func (g *Generator) uniform(lo, hi int64) int64 {
	return lo + g.rng.Int64N(hi-lo+1)
}

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

// planFirst plans the first session of d, which appears at arrival: touches
// from partners unless organic, then the install (a launch or a visit when
// there is no install to see).
func (g *Generator) planFirst(d *device, arrival int64) {
	d.cursor = arrival - 1
	opener := stepInstall
	if d.web || g.chance(lateSDKShare) {
		opener = stepOpen
	}
	touches := 0
	if !g.chance(organicShare) {
		touches = 1 + g.rng.IntN(3)
	}
	g.planSession(d, arrival, touches, false, opener, 1+g.rng.IntN(3))
}

// planNext plans the session after the one d has just finished.
func (g *Generator) planNext(d *device) {
	d.plan, d.head = d.plan[:0], 0
	last := d.cursor
	r := g.rng.Float64()
	switch {
	case r < longPauseShare:
		start := last + g.uniform(30*day, 75*day)
		g.planSession(d, start, g.returnTouches(), true, stepOpen, g.actions())
	case !d.web && r < longPauseShare+uninstallShare:
		start := last + g.uniform(30*day, 120*day)
		d.signedIn = false
		g.planSession(d, start, g.returnTouches(), true, stepInstall, g.actions())
	case !d.web && r < longPauseShare+uninstallShare+quickReinstallShare:
		start := last + g.uniform(day, 10*day)
		d.signedIn = false
		g.planSession(d, start, 0, false, stepInstall, g.actions())
	default:
		gap := int64(g.rng.ExpFloat64() * float64(g.ordinaryGap))
		start := last + max(gap, 5*minute)
		touches := 0
		if g.chance(strayTouchShare) {
			touches = 1
		}
		g.planSession(d, start, touches, true, stepOpen, g.actions())
	}
}

func (g *Generator) returnTouches() int {
	if g.chance(returnTouchShare) {
		return 1
	}
	return 0
}

// actions is the number of in-app actions after a session's opener.
func (g *Generator) actions() int {
	switch r := g.rng.IntN(100); {
	case r < 25:
		return 0
	case r < 55:
		return 1
	case r < 80:
		return 2
	case r < 92:
		return 3
	default:
		return 4
	}
}

// planSession plans touches before start (never before the device's last
// record), the opener at start, and actions spaced seconds to minutes apart.
func (g *Generator) planSession(d *device, start int64, touches int, retarget bool, opener stepKind, actions int) {
	if touches > 0 {
		var delays [3]int64
		for i := range touches {
			delays[i] = g.touchDelay(i)
		}
		// Earliest touch first.
		for i := 1; i < touches; i++ {
			for j := i; j > 0 && delays[j] > delays[j-1]; j-- {
				delays[j], delays[j-1] = delays[j-1], delays[j]
			}
		}
		if !retarget {
			// A first session: the device appears with its first touch.
			start += delays[0]
		}
		for i := range touches {
			at := max(start-delays[i], d.cursor+1)
			d.plan = append(d.plan, step{at: at, kind: stepTouch, impression: g.chance(0.25), retarget: retarget})
			d.cursor = at
		}
	}
	start = max(start, d.cursor+1)
	d.plan = append(d.plan, step{at: start, kind: opener})
	d.cursor = start
	for range actions {
		d.cursor += g.uniform(10, 10*minute)
		d.plan = append(d.plan, step{at: d.cursor, kind: stepAction})
	}
}

// touchDelay is how long before the opener a touch happens: mostly within
// the lookbacks, sometimes beyond them, so that not every touch is credited.
func (g *Generator) touchDelay(i int) int64 {
	if i == 0 && g.chance(0.15) {
		return g.uniform(8*day, 12*day)
	}
	switch r := g.rng.IntN(10); {
	case r < 5:
		return g.uniform(minute, 2*hour)
	case r < 8:
		return g.uniform(2*hour, 20*hour)
	default:
		return g.uniform(20*hour, 3*day)
	}
}
