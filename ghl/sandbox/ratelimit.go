package sandbox

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter keeps HighLevel's two quotas per app and resource: Rate requests
// per Interval (a fixed window opened by the first request in it) and Daily
// requests per DailyWindow (likewise). A 429 does not use up quota.
type limiter struct {
	rate, daily     int
	interval, dayWd time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	// spent are the locations whose daily quota SpendDailyQuota spent,
	// and when: an app's bucket opened there later starts spent too.
	spent map[string]time.Time
}

type bucket struct {
	loc                string // the location (or company) counted
	winStart, dayStart time.Time
	used, dayUsed      int
}

// limitState is one request's verdict and what the headers report.
type limitState struct {
	ok                    bool
	daily                 bool // refused because the daily quota is spent
	retryAfter            time.Duration
	rate, remaining       int
	dailyLimit, dailyLeft int
	intervalMs            int64
	dailyResetMs          int64 // until the daily window rolls over
}

// unlimited stands for "no limit" in the headers: the real API always
// sends them, and a client's pacer learns from them that it may go fast.
const unlimited = 1 << 30

// newLimiter turns a negative rate into no burst limit and a negative
// daily into no daily limit; the headers are sent either way.
func newLimiter(rate int, interval time.Duration, daily int, dayWd time.Duration) *limiter {
	if rate < 0 {
		rate = unlimited
	}
	if daily < 0 {
		daily = unlimited
	}
	return &limiter{rate: rate, daily: daily, interval: interval, dayWd: dayWd, buckets: map[string]*bucket{}, spent: map[string]time.Time{}}
}

// take counts one request of app client on location loc (or company).
func (l *limiter) take(client, loc string, now time.Time) limitState {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := client + "|" + loc
	b := l.buckets[key]
	if b == nil {
		b = &bucket{loc: loc, winStart: now, dayStart: now}
		if at, ok := l.spent[loc]; ok {
			b.dayStart, b.dayUsed = at, l.daily // rolls over as the spent window ends
		}
		l.buckets[key] = b
	}
	if now.Sub(b.winStart) >= l.interval || now.Before(b.winStart) {
		b.winStart, b.used = now, 0
	}
	if now.Sub(b.dayStart) >= l.dayWd || now.Before(b.dayStart) {
		b.dayStart, b.dayUsed = now, 0
	}
	st := limitState{rate: l.rate, dailyLimit: l.daily, intervalMs: l.interval.Milliseconds()}
	switch {
	case b.dayUsed >= l.daily:
		st.daily = true
		st.retryAfter = b.dayStart.Add(l.dayWd).Sub(now)
	case b.used >= l.rate:
		st.retryAfter = b.winStart.Add(l.interval).Sub(now)
	default:
		st.ok = true
		b.used++
		b.dayUsed++
	}
	st.remaining = l.rate - b.used
	st.dailyLeft = l.daily - b.dayUsed
	st.dailyResetMs = max(b.dayStart.Add(l.dayWd).Sub(now).Milliseconds(), 0)
	return st
}

// spendDaily spends location loc's daily quota, for every app, from now.
func (l *limiter) spendDaily(loc string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spent[loc] = now
	for _, b := range l.buckets {
		if b.loc == loc {
			b.dayStart, b.dayUsed = now, l.daily
		}
	}
}

// restoreDaily gives location loc a fresh daily quota, as if its daily
// window had rolled over now.
func (l *limiter) restoreDaily(loc string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.spent, loc)
	for _, b := range l.buckets {
		if b.loc == loc {
			b.dayStart, b.dayUsed = now, 0
		}
	}
}

// setHeaders writes the five headers of docs/Authorization.md and
// X-RateLimit-Daily-Reset, which live answers carry though the list leaves
// it out (DEVIATIONS.md).
func (st limitState) setHeaders(h http.Header) {
	h["X-Ratelimit-Limit-Daily"] = []string{strconv.Itoa(st.dailyLimit)}
	h["X-Ratelimit-Daily-Remaining"] = []string{strconv.Itoa(st.dailyLeft)}
	h["X-Ratelimit-Interval-Milliseconds"] = []string{strconv.FormatInt(st.intervalMs, 10)}
	h["X-Ratelimit-Max"] = []string{strconv.Itoa(st.rate)}
	h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(st.remaining)}
	h["X-Ratelimit-Daily-Reset"] = []string{strconv.FormatInt(st.dailyResetMs, 10)}
}
