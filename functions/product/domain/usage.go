package domain

import (
	"sort"
	"time"

	"meterline/shared/views"
)

// UsageDays is how many days of daily usage a Usage document keeps (enough for a chart).
const UsageDays = 90

// Usage is a customer's consumption of the Cloud API as reported by it: a view document of the
// customer's usage stream (views.Tracked holds the versions applied).
type Usage struct {
	views.Tracked
	CustomerID   string           `json:"customerId"`
	Units        int64            `json:"units"`
	Requests     int64            `json:"requests"`
	Reports      int64            `json:"reports"`
	ReportedTill time.Time        `json:"reportedTill"` // the latest PeriodTo reported
	Daily        map[string]int64 `json:"daily"`        // units by UTC day "2026-11-22" (of PeriodFrom)
}

// Apply counts one usage report (the projection applies each report once, in any order).
func (u *Usage) Apply(f UsageReported) {
	u.CustomerID = f.CustomerID
	u.Units += f.Units
	u.Requests += f.Requests
	u.Reports++
	if f.PeriodTo.After(u.ReportedTill) {
		u.ReportedTill = f.PeriodTo.UTC()
	}
	if u.Daily == nil {
		u.Daily = map[string]int64{}
	}
	u.Daily[f.PeriodFrom.UTC().Format(time.DateOnly)] += f.Units
	// Keep the newest days only: a late report for a day already dropped is still in the totals.
	for len(u.Daily) > UsageDays {
		delete(u.Daily, u.Days()[0].Day)
	}
}

// DayUsage is one day of usage.
type DayUsage struct {
	Day   string `json:"day"`
	Units int64  `json:"units"`
}

// Days lists daily usage, oldest first.
func (u Usage) Days() []DayUsage {
	out := make([]DayUsage, 0, len(u.Daily))
	for d, n := range u.Daily {
		out = append(out, DayUsage{d, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out
}
