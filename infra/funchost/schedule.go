package funchost

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a timer trigger's schedule. NCRONTAB expressions are evaluated
// in the schedule's time zone (UTC unless WEBSITE_TIME_ZONE or TZ say
// otherwise); the times returned are instants, whatever their location.
type Schedule interface {
	// Next is the first occurrence strictly after t; the zero time if none.
	Next(t time.Time) time.Time
	String() string
	minInterval() time.Duration
}

// ParseSchedule parses a timerTrigger schedule the way the timer extension
// does: a TimeSpan ("00:05:00", "1.00:00:00") is a constant interval,
// anything else must be a 6-field NCRONTAB expression.
func ParseSchedule(expr string) (Schedule, error) {
	return ParseScheduleIn(expr, time.UTC)
}

// ParseScheduleIn is ParseSchedule with NCRONTAB fields read as wall-clock
// times in loc. TimeSpan schedules are intervals and ignore the zone.
func ParseScheduleIn(expr string, loc *time.Location) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.Contains(expr, ":") {
		d, err := ParseTimeSpan(expr)
		if err != nil {
			return nil, err
		}
		if d <= 0 {
			return nil, fmt.Errorf("TimeSpan schedule %q must be positive", expr)
		}
		return intervalSchedule(d), nil
	}
	c, err := ParseCron(expr)
	if err != nil {
		return nil, err
	}
	if loc != nil {
		c.loc = loc
	}
	return c, nil
}

// formatTimeSpan writes d the way .NET prints a TimeSpan: [-][d.]hh:mm:ss[.fffffff].
func formatTimeSpan(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m, sec := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	frac := (d % time.Second) / 100 // ticks of 100 ns
	out := fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
	if days > 0 {
		out = fmt.Sprintf("%d.%s", days, out)
	}
	if frac > 0 {
		out += fmt.Sprintf(".%07d", frac)
	}
	return sign + out
}

// ParseTimeSpan parses a .NET TimeSpan in the forms host.json and timers use:
// [-][d.]hh:mm[:ss[.fffffff]] or a whole number of days.
func ParseTimeSpan(s string) (time.Duration, error) {
	orig := s
	bad := func() (time.Duration, error) { return 0, fmt.Errorf("not a TimeSpan: %q", orig) }
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return bad()
	}
	num := func(p string, max int) (int, bool) {
		if p == "" || len(p) > 8 {
			return 0, false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		n, err := strconv.Atoi(p)
		return n, err == nil && (max < 0 || n <= max)
	}
	var days int
	if !strings.Contains(s, ":") {
		d, ok := num(s, 10675199)
		if !ok {
			return bad()
		}
		days = d
		s = "0:0"
	} else if dot := strings.Index(s, "."); dot >= 0 && dot < strings.Index(s, ":") {
		d, ok := num(s[:dot], 10675199)
		if !ok {
			return bad()
		}
		days, s = d, s[dot+1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return bad()
	}
	h, ok1 := num(parts[0], 23)
	m, ok2 := num(parts[1], 59)
	if !ok1 || !ok2 {
		return bad()
	}
	var sec int
	var frac time.Duration
	if len(parts) == 3 {
		secPart, fracPart, hasFrac := strings.Cut(parts[2], ".")
		var ok bool
		if sec, ok = num(secPart, 59); !ok {
			return bad()
		}
		if hasFrac {
			if len(fracPart) == 0 || len(fracPart) > 7 {
				return bad()
			}
			f, ok := num(fracPart, -1)
			if !ok {
				return bad()
			}
			for i := len(fracPart); i < 9; i++ {
				f *= 10
			}
			frac = time.Duration(f)
		}
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec)*time.Second + frac
	if neg {
		d = -d
	}
	return d, nil
}

type intervalSchedule time.Duration

func (s intervalSchedule) Next(t time.Time) time.Time { return t.Add(time.Duration(s)) }
func (s intervalSchedule) String() string             { return "every " + time.Duration(s).String() }
func (s intervalSchedule) minInterval() time.Duration { return time.Duration(s) }

// CronSchedule is a 6-field NCRONTAB expression:
// {second} {minute} {hour} {day} {month} {day-of-week}.
type CronSchedule struct {
	expr   string
	fields [6]uint64      // bit i set = value i allowed
	loc    *time.Location // nil: UTC
}

var cronFields = [6]struct {
	name     string
	min, max int
	names    []string
}{
	{"second", 0, 59, nil},
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day", 1, 31, nil},
	{"month", 1, 12, []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{"day-of-week", 0, 6, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// ParseCron parses a 6-field NCRONTAB expression (seconds first), with
// *, ranges (a-b), steps (*/n, a-b/n, a/n), lists (a,b) and month and day names.
func ParseCron(expr string) (*CronSchedule, error) {
	f := strings.Fields(expr)
	if len(f) != 6 {
		return nil, fmt.Errorf("NCRONTAB %q must have 6 fields {second} {minute} {hour} {day} {month} {day-of-week}, has %d", expr, len(f))
	}
	c := &CronSchedule{expr: strings.Join(f, " ")}
	for i, text := range f {
		bits, err := parseCronField(text, i)
		if err != nil {
			return nil, fmt.Errorf("NCRONTAB %q: %s field %q: %v", expr, cronFields[i].name, text, err)
		}
		c.fields[i] = bits
	}
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("NCRONTAB %q never occurs", expr)
	}
	return c, nil
}

func parseCronField(text string, idx int) (uint64, error) {
	spec := cronFields[idx]
	value := func(s string) (int, error) {
		for i, n := range spec.names {
			if strings.EqualFold(s, n) {
				return i + spec.min, nil
			}
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		if n < spec.min || n > spec.max {
			return 0, fmt.Errorf("%d is out of range %d-%d", n, spec.min, spec.max)
		}
		return n, nil
	}
	var bits uint64
	for _, part := range strings.Split(text, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q must be a positive number", stepText)
			}
			step = n
		}
		lo, hi := spec.min, spec.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a); err != nil {
				return 0, err
			}
			if hi, err = value(b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			v, err := value(rng)
			if err != nil {
				return 0, err
			}
			lo = v
			if !hasStep {
				hi = v // "a/n" means from a to the end, stepping n
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func (c *CronSchedule) String() string {
	if c.loc != nil && c.loc != time.UTC {
		return c.expr + " (" + c.loc.String() + ")"
	}
	return c.expr
}

func (c *CronSchedule) has(field, v int) bool { return c.fields[field]&(1<<uint(v)) != 0 }

// Next finds the first second after t that matches every field. Day and
// day-of-week must both match, as in NCrontab.
//
// The fields are matched against the wall clock of the schedule's zone, as
// the timer extension matches them against the machine's local time.
func (c *CronSchedule) Next(t time.Time) time.Time {
	loc := c.loc
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc).Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(8, 0, 0) // every valid expression recurs within 8 years (Feb 29 on a weekday)
	for t.Before(limit) {
		if !c.has(4, int(t.Month())) {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
			continue
		}
		if !c.has(3, t.Day()) || !c.has(5, int(t.Weekday())) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			continue
		}
		if !c.has(2, t.Hour()) {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			continue
		}
		if !c.has(1, t.Minute()) {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, loc)
			continue
		}
		if !c.has(0, t.Second()) {
			t = t.Add(time.Second)
			continue
		}
		return t
	}
	return time.Time{}
}

// minInterval estimates the shortest gap between occurrences by sampling the
// next few, which is enough to decide the useMonitor default.
func (c *CronSchedule) minInterval() time.Duration {
	t := c.Next(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	min := time.Duration(1<<63 - 1)
	for i := 0; i < 8; i++ {
		n := c.Next(t)
		if n.IsZero() {
			break
		}
		if d := n.Sub(t); d < min {
			min = d
		}
		t = n
	}
	return min
}
