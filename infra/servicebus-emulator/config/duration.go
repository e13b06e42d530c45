package config

import (
	"errors"
	"math"
	"time"
)

// parseDuration reads the ISO 8601 durations the emulator schema allows:
// P[nY][nM][nD][T[nH][nM][nS]], whole numbers only, at least one part after
// P. Like .NET's XmlConvert, a year counts 365 days and a month 30.
func parseDuration(s string) (time.Duration, error) {
	if len(s) < 2 || s[0] != 'P' {
		return 0, errors.New("not an ISO 8601 duration such as PT1M or P1D")
	}
	units := []struct {
		designator byte
		time       bool
		size       time.Duration
	}{
		{'Y', false, 365 * 24 * time.Hour},
		{'M', false, 30 * 24 * time.Hour},
		{'D', false, 24 * time.Hour},
		{'H', true, time.Hour},
		{'M', true, time.Minute},
		{'S', true, time.Second},
	}
	var total float64 // float so that huge values overflow visibly, not wrap
	i, u, inTime := 1, 0, false
	for i < len(s) {
		if s[i] == 'T' && !inTime {
			inTime = true
			i++
			for u < len(units) && !units[u].time {
				u++
			}
			continue
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start || i == len(s) {
			return 0, errors.New("not an ISO 8601 duration such as PT1M or P1D")
		}
		n := 0.0
		for _, c := range s[start:i] {
			n = n*10 + float64(c-'0')
		}
		d := s[i]
		i++
		for u < len(units) && (units[u].designator != d || units[u].time != inTime) {
			u++
		}
		if u == len(units) {
			return 0, errors.New("not an ISO 8601 duration such as PT1M or P1D")
		}
		total += n * float64(units[u].size)
		u++
	}
	if total > math.MaxInt64 {
		return 0, errors.New("duration too long")
	}
	return time.Duration(total), nil
}

// formatDuration writes d in the ISO 8601 form used in error messages.
func formatDuration(d time.Duration) string {
	s := "PT"
	if h := d / time.Hour; h > 0 {
		s += itoa(int64(h)) + "H"
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		s += itoa(int64(m)) + "M"
		d -= m * time.Minute
	}
	if d > 0 || s == "PT" {
		s += itoa(int64(d/time.Second)) + "S"
	}
	return s
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
