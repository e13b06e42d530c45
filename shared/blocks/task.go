package blocks

import (
	"context"
	"fmt"
	"time"

	"meterline/shared/funcapp"
)

// Task is seed 001's task: work done at scheduled times. Run must be safe to repeat and to
// overlap with itself (a timer can fire late, twice, or on two instances after a failover):
// tasks append events with ids derived from what they are about, so a repeat records nothing.
type Task struct {
	Name     string // the function, e.g. "InvoiceExpiryTracker"
	Schedule string // 6-field NCRONTAB, a TimeSpan, or "%Setting%" (the usual: schedules are app settings)
	Run      func(ctx context.Context) error
}

// Register registers the task's timer function.
func (t Task) Register(a *funcapp.App) {
	if t.Run == nil {
		panic(fmt.Sprintf("blocks: task %s has no Run", t.Name))
	}
	a.Timer(t.Name, funcapp.TimerTrigger{Schedule: t.Schedule}, func(ctx context.Context, _ funcapp.TimerInfo) error {
		return t.Run(ctx)
	})
}

// Clock is a context's clock: now, or the real one when now is nil. Contexts call it once at
// construction and hand the result to every service, task and endpoint that reads the time.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
