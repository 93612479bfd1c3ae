package partner

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FXConfig is the sink's exchange-rate table (DELIVERY.md, "Revenue in
// one currency"): revenue converted into Base for min_revenue and the
// {revenue_base} macro, and into a partner's currency for
// {revenue_partner}. Rates come from RatesFile only; postbackd never
// fetches them.
type FXConfig struct {
	// Base is the currency every rate is expressed in (ISO 4217, e.g. USD).
	Base string `yaml:"base"`
	// RatesFile is a CSV file of "date,currency,rate" lines (a header line
	// and # comments allowed): on date (YYYY-MM-DD, UTC), one unit of
	// currency is worth rate units of Base. A day without a line takes the
	// latest earlier rate of at most fxCarryDays before (weekends,
	// holidays).
	RatesFile string `yaml:"rates_file"`
}

// fxCarryDays is how many days back a rate still stands for a day that
// has none.
const fxCarryDays = 7

// fxTable is a loaded FXConfig.
type fxTable struct {
	base    string
	rates   map[string][]dayRate // by currency, by day ascending
	missing *prometheus.CounterVec
}

type dayRate struct {
	day  int64 // days since 1970-01-01
	rate float64
}

func dayOf(t time.Time) int64 { return t.UTC().Unix() / 86400 }

// loadFX reads c's rates file; nil when no base is set. Errors name the
// file and line.
func loadFX(c FXConfig) (*fxTable, error) {
	if c.Base == "" {
		return nil, nil
	}
	t := &fxTable{base: c.Base, rates: make(map[string][]dayRate)}
	if c.RatesFile == "" {
		return t, nil
	}
	f, err := os.Open(c.RatesFile)
	if err != nil {
		return nil, fmt.Errorf("rates file: %v", unwrapPath(err))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || (line == 1 && strings.HasPrefix(strings.ToLower(text), "date")) {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want date,currency,rate", c.RatesFile, line)
		}
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(fields[0]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: date %q: want YYYY-MM-DD", c.RatesFile, line, fields[0])
		}
		cur := strings.TrimSpace(fields[1])
		if !isCurrency(cur) {
			return nil, fmt.Errorf("%s:%d: currency %q: want a 3-letter ISO 4217 code", c.RatesFile, line, cur)
		}
		rate, err := strconv.ParseFloat(strings.TrimSpace(fields[2]), 64)
		if err != nil || rate <= 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
			return nil, fmt.Errorf("%s:%d: rate %q: want a positive number", c.RatesFile, line, fields[2])
		}
		t.rates[cur] = append(t.rates[cur], dayRate{day: dayOf(day), rate: rate})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rates file %s: %v", c.RatesFile, err)
	}
	for cur, rs := range t.rates {
		sort.Slice(rs, func(i, j int) bool { return rs[i].day < rs[j].day })
		for i := 1; i < len(rs); i++ {
			if rs[i].day == rs[i-1].day {
				return nil, fmt.Errorf("%s: %s has two rates for %s", c.RatesFile, cur, time.Unix(rs[i].day*86400, 0).UTC().Format(time.DateOnly))
			}
		}
	}
	return t, nil
}

// rate is the worth of one unit of cur in the base currency on the day of
// at, and whether the table has one.
func (t *fxTable) rate(cur string, at time.Time) (float64, bool) {
	if cur == t.base {
		return 1, true
	}
	rs := t.rates[cur]
	day := dayOf(at)
	i := sort.Search(len(rs), func(i int) bool { return rs[i].day > day }) - 1
	if i < 0 || day-rs[i].day > fxCarryDays {
		return 0, false
	}
	return rs[i].rate, true
}

// convert converts amount of from into to on the day of at; false (and
// counted in postbackd_sink_fx_missing_total) when a rate is missing.
func (t *fxTable) convert(amount float64, from, to string, at time.Time) (float64, bool) {
	rf, ok := t.rate(from, at)
	if !ok {
		t.miss(from)
		return 0, false
	}
	rt, ok := t.rate(to, at)
	if !ok {
		t.miss(to)
		return 0, false
	}
	return amount * rf / rt, true
}

func (t *fxTable) miss(cur string) {
	if t.missing != nil {
		t.missing.WithLabelValues(cur).Inc()
	}
}

// isCurrency reports whether s looks like an ISO 4217 code.
func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
