package funchost_test

import (
	"testing"
	"time"

	"meterline/infra/funchost"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduleNextOccurrence(t *testing.T) {
	cases := []struct {
		expr, after string
		want        []string // successive occurrences
	}{
		{"0 */5 * * * *", "2026-11-22 17:03:10", []string{"2026-11-22 17:05:00", "2026-11-22 17:10:00"}},
		{"*/15 * * * * *", "2026-11-22 17:03:59", []string{"2026-11-22 17:04:00", "2026-11-22 17:04:15"}},
		{"5/20 * * * * *", "2026-11-22 17:03:50", []string{"2026-11-22 17:04:05", "2026-11-22 17:04:25", "2026-11-22 17:04:45"}},
		{"0 0 9-17/4 * * *", "2026-11-22 12:00:00", []string{"2026-11-22 13:00:00", "2026-11-22 17:00:00", "2026-11-23 09:00:00"}},
		{"0 30 9 * * MON-FRI", "2026-11-20 10:00:00", []string{"2026-11-23 09:30:00", "2026-11-24 09:30:00"}}, // Fri -> Mon
		{"0 0 0 1 JAN,jul *", "2026-03-01 00:00:00", []string{"2026-07-01 00:00:00", "2027-01-01 00:00:00"}},
		{"0 0 12 * * 0", "2026-11-22 12:00:00", []string{"2026-11-29 12:00:00"}}, // Sunday, strictly after
		{"0 0 0 29 2 *", "2026-03-01 00:00:00", []string{"2028-02-29 00:00:00", "2032-02-29 00:00:00"}},
		{"0 0 0 13 * FRI", "2026-01-01 00:00:00", []string{"2026-02-13 00:00:00", "2026-03-13 00:00:00", "2026-11-13 00:00:00"}}, // day AND weekday
		{"0 0 0 31 * *", "2026-01-31 00:00:00", []string{"2026-03-31 00:00:00"}},
		{"1,2,3 0 0 * * *", "2026-12-31 23:59:59", []string{"2027-01-01 00:00:01", "2027-01-01 00:00:02", "2027-01-01 00:00:03", "2027-01-02 00:00:01"}},
		{"00:05:00", "2026-11-22 17:03:10", []string{"2026-11-22 17:08:10", "2026-11-22 17:13:10"}},
		{"1.00:00:00", "2026-11-22 17:03:10", []string{"2026-11-23 17:03:10"}},
		{"00:00:01.5", "2026-11-22 17:03:10", []string{"2026-11-22 17:03:11.5"}},
	}
	for _, c := range cases {
		s, err := funchost.ParseSchedule(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		at := utc(c.after)
		for _, w := range c.want {
			want, err := time.Parse("2006-01-02 15:04:05.999", w)
			must(t, err)
			at = s.Next(at)
			if !at.Equal(want) {
				t.Errorf("%q: got %s, want %s", c.expr, at.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
				break
			}
		}
	}
}

func TestScheduleRejectsBadExpressions(t *testing.T) {
	for _, expr := range []string{
		"", "* * * * *", "* * * * * * *", "60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *",
		"* * * * * 7", "* * * * FOO *", "*/0 * * * * *", "5-1 * * * * *", "0 0 0 30 2 *", "00:00:00",
		"00:61:00", "-00:05:00", "1.2.3", "x:y",
	} {
		if s, err := funchost.ParseSchedule(expr); err == nil {
			t.Errorf("%q accepted as %s", expr, s)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	cases := map[string]time.Duration{
		"00:05:00":         5 * time.Minute,
		"01:00":            time.Hour,
		"1.02:03:04":       26*time.Hour + 3*time.Minute + 4*time.Second,
		"00:00:00.25":      250 * time.Millisecond,
		"00:00:00.0000001": 100 * time.Nanosecond,
		"2":                48 * time.Hour,
		"-00:00:01":        -time.Second,
	}
	for in, want := range cases {
		got, err := funchost.ParseTimeSpan(in)
		if err != nil || got != want {
			t.Errorf("ParseTimeSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "5m", "24:00:00", "00:00:60", "00:00:00.12345678", "1:2:3:4"} {
		if d, err := funchost.ParseTimeSpan(bad); err == nil {
			t.Errorf("ParseTimeSpan(%q) accepted as %v", bad, d)
		}
	}
}
