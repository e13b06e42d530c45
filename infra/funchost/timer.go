package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"meterline/shared/azurite"
)

// hostsContainer is where the Functions host keeps timer status and locks.
const hostsContainer = "azure-webjobs-hosts"

// leaseDuration and leaseRenew: the singleton lock is a 15 s blob lease
// (the shortest Azure allows) renewed every 5 s.
const (
	leaseDuration = 15
	leaseRenew    = 5 * time.Second
)

// ScheduleStatus is the timer status the host keeps in
// azure-webjobs-hosts/timers/<hostId>/<function>/status.
type ScheduleStatus struct {
	Last        time.Time
	Next        time.Time
	LastUpdated time.Time
}

// statusJSON is the blob's content, written like the timer extension's
// (Json.NET DateTimes with offset).
type statusJSON struct {
	Last        string `json:"Last"`
	Next        string `json:"Next"`
	LastUpdated string `json:"LastUpdated"`
}

func (s *ScheduleStatus) MarshalJSON() ([]byte, error) {
	return json.Marshal(statusJSON{newtonsoftLocalTime(s.Last), newtonsoftLocalTime(s.Next), newtonsoftLocalTime(s.LastUpdated)})
}

func (s *ScheduleStatus) UnmarshalJSON(b []byte) error {
	var j statusJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	parse := func(v string) (time.Time, error) {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("bad time %q in timer status", v)
	}
	var err error
	if s.Last, err = parse(j.Last); err != nil {
		return err
	}
	if s.Next, err = parse(j.Next); err != nil {
		return err
	}
	s.LastUpdated, err = parse(j.LastUpdated)
	return err
}

// TimerStatusBlob and TimerLockBlob are the blob names the real host uses.
func TimerStatusBlob(hostID, function string) string {
	return "timers/" + hostID + "/Host.Functions." + function + "/status"
}

func TimerLockBlob(hostID, function string) string {
	return "locks/" + hostID + "/Host.Functions." + function + ".Listener"
}

type timerListener struct {
	app       *appRuntime
	fn        *Function
	container *container.Client
	status    *blockblob.Client
	lock      *blockblob.Client
}

func newTimerListener(a *appRuntime, fn *Function) (*timerListener, error) {
	conn, err := storageConnection(a.Settings)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", fn.File, err)
	}
	client, err := azblob.NewClientFromConnectionString(azurite.ExpandConnectionString(conn), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: setting AzureWebJobsStorage is not a storage connection string", fn.File)
	}
	c := client.ServiceClient().NewContainerClient(hostsContainer)
	return &timerListener{
		app: a, fn: fn, container: c,
		status: c.NewBlockBlobClient(TimerStatusBlob(a.HostID, fn.Name)),
		lock:   c.NewBlockBlobClient(TimerLockBlob(a.HostID, fn.Name)),
	}, nil
}

// run takes the timer's singleton lock, runs the schedule while holding it,
// and goes back to polling for the lock when it is lost.
func (t *timerListener) run(ctx, invokeCtx context.Context) {
	log := t.app.log.With("app", t.app.Name, "function", "Functions."+t.fn.Name)
	if _, err := t.app.worker.endpoint(ctx); err != nil {
		return
	}
	poll := t.app.opt.TimerLockPoll
	if poll == 0 {
		poll = 15 * time.Second
	}
	waitingLogged := false
	for ctx.Err() == nil {
		lc, err := t.acquire(ctx)
		if err != nil {
			log.Error("timer lock: storage error", "err", err)
		}
		if lc == nil {
			if err == nil && !waitingLogged {
				log.Info("timer lock held by another host; waiting", "blob", hostsContainer+"/"+TimerLockBlob(t.app.HostID, t.fn.Name))
				waitingLogged = true
			}
			sleepCtx(ctx, poll)
			continue
		}
		waitingLogged = false
		log.Info("timer lock acquired", "schedule", t.fn.Schedule.String(), "useMonitor", t.fn.UseMonitor)
		held, lost := context.WithCancel(ctx)
		renewDone := make(chan struct{})
		go func() {
			defer close(renewDone)
			for sleepCtx(held, leaseRenew) {
				if _, err := lc.RenewLease(held, nil); err != nil {
					if held.Err() == nil {
						log.Warn("timer lock lost", "err", err)
					}
					lost()
					return
				}
			}
		}()
		t.schedule(held, invokeCtx)
		lost()
		<-renewDone
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = lc.ReleaseLease(rctx, nil)
		cancel()
	}
}

// acquire returns a lease client holding the lock, or nil when another host
// holds it. Usually one request: the container and the lock blob are created
// only when the lease finds them missing (the first run against a storage).
func (t *timerListener) acquire(ctx context.Context) (*lease.BlobClient, error) {
	id := newGUID()
	lc, err := lease.NewBlobClient(t.lock, &lease.BlobClientOptions{LeaseID: &id})
	if err != nil {
		return nil, err
	}
	_, err = lc.AcquireLease(ctx, leaseDuration, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		if err := t.createLock(ctx); err != nil {
			return nil, err
		}
		_, err = lc.AcquireLease(ctx, leaseDuration, nil)
	}
	if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return lc, nil
}

// createLock creates the hosts container and the empty lock blob; another
// host doing the same at once is fine.
func (t *timerListener) createLock(ctx context.Context) error {
	if _, err := t.container.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return err
	}
	etagAny := azcore.ETagAny
	_, err := t.lock.Upload(ctx, nopCloser{bytes.NewReader(nil)}, &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &etagAny}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.LeaseIDMissing) {
		return err
	}
	return nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func (t *timerListener) readStatus(ctx context.Context) (*ScheduleStatus, error) {
	resp, err := t.status.DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s ScheduleStatus
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", hostsContainer, TimerStatusBlob(t.app.HostID, t.fn.Name), err)
	}
	return &s, nil
}

func (t *timerListener) writeStatus(ctx context.Context, s *ScheduleStatus) error {
	b, _ := json.Marshal(s)
	_, err := t.status.UploadBuffer(ctx, b, nil)
	return err
}

// dotnetNow is now at the precision a .NET DateTime keeps (100 ns ticks), so
// that times read back from the status blob compare equal to the ones kept.
func dotnetNow() time.Time { return time.Now().UTC().Truncate(100 * time.Nanosecond) }

// schedule runs the timer while ctx (the lock) lasts, the way TimerListener
// does: with useMonitor it checks the stored status for a missed occurrence
// (and runs once, past due, if there is one), otherwise or then honours
// runOnStartup, and from there on runs at each next occurrence, computed
// from the time of the run before.
func (t *timerListener) schedule(ctx, invokeCtx context.Context) {
	log := t.app.log.With("app", t.app.Name, "function", "Functions."+t.fn.Name)
	now := dotnetNow()
	var status *ScheduleStatus
	pastDue := false
	if t.fn.UseMonitor {
		stored, err := t.readStatus(ctx)
		if err != nil {
			log.Error("timer status unreadable; starting afresh", "err", err)
			stored = nil
		}
		status, pastDue = t.checkPastDue(ctx, now, stored)
	}
	if status == nil {
		status = &ScheduleStatus{Next: t.fn.Schedule.Next(now)}
	}
	switch {
	case pastDue:
		reason := fmt.Sprintf("Timer fired at %s (past due; the scheduled %s was missed)", now.Format(time.RFC3339), status.Next.UTC().Format(time.RFC3339))
		status = t.invokeJob(ctx, invokeCtx, status, now, true, false, reason)
	case t.fn.Trigger.RunOnStartup:
		status = t.invokeJob(ctx, invokeCtx, status, now, false, true, manualReason)
	}
	log.Info(fmt.Sprintf("The next occurrence of the 'Functions.%s' schedule (%s) is %s", t.fn.Name, t.fn.Schedule, status.Next.UTC().Format(time.RFC3339)))
	for {
		if status.Next.IsZero() || !sleepCtx(ctx, time.Until(status.Next)) {
			return
		}
		at := dotnetNow()
		reason := "Timer fired at " + at.Format("2006-01-02T15:04:05.0000000Z07:00")
		status = t.invokeJob(ctx, invokeCtx, status, at, false, false, reason)
	}
}

// checkPastDue is ScheduleMonitor.CheckPastDueAsync. Without a stored status
// it records the next occurrence. With one, it recomputes the next
// occurrence from the last run (or from when the status was written); if
// that differs from the stored one, the schedule has changed: the status is
// rewritten with the new next occurrence, recomputed from now when it would
// already be past, so that a changed schedule never counts as past due. The
// timer is past due when now is after the (possibly rewritten) next one.
func (t *timerListener) checkPastDue(ctx context.Context, now time.Time, last *ScheduleStatus) (*ScheduleStatus, bool) {
	sched := t.fn.Schedule
	if last == nil {
		last = &ScheduleStatus{Next: sched.Next(now).UTC(), LastUpdated: now}
		t.write(ctx, last)
		return last, false
	}
	var expected, lastUpdated time.Time
	switch {
	case !last.Last.IsZero():
		expected, lastUpdated = sched.Next(last.Last), last.Last
	case !last.LastUpdated.IsZero():
		expected, lastUpdated = sched.Next(last.LastUpdated), last.LastUpdated
	default:
		expected, lastUpdated = sched.Next(now), now
	}
	if !last.Next.Equal(expected) {
		if now.After(expected) {
			expected, lastUpdated = sched.Next(now), now
		}
		t.app.log.Info("timer schedule changed since the status was written; recomputed the next occurrence",
			"app", t.app.Name, "function", "Functions."+t.fn.Name, "storedNext", last.Next, "next", expected.UTC())
		last = &ScheduleStatus{Next: expected.UTC(), LastUpdated: lastUpdated}
		t.write(ctx, last)
	}
	return last, now.After(last.Next)
}

// invokeJob is TimerListener.InvokeJobFunction: run the function (with its
// retry policy), then record the run. The next occurrence is computed from
// the invocation time, taken before the run, so a run that overruns its
// next occurrence is followed by an immediate one, as in Azure. A regular
// tick that fires a little early counts as the scheduled time.
func (t *timerListener) invokeJob(ctx, invokeCtx context.Context, status *ScheduleStatus, at time.Time, pastDue, runOnStartup bool, reason string) *ScheduleStatus {
	var shown *ScheduleStatus
	if t.fn.UseMonitor && status != nil {
		s := *status
		shown = &s
	}
	t.runWithRetry(invokeCtx, shown, pastDue, reason)
	adjusted := at
	if !pastDue && !runOnStartup && status != nil && status.Next.After(at) {
		adjusted = status.Next
	}
	next := &ScheduleStatus{Last: adjusted, Next: t.fn.Schedule.Next(adjusted).UTC(), LastUpdated: adjusted}
	if t.fn.UseMonitor {
		t.write(ctx, next)
	}
	return next
}

// runWithRetry invokes the timer function, again after a failure as long as
// the retry policy allows (FunctionExecutorExtensions.TryExecuteAsync), with
// Metadata.RetryContext telling the handler which attempt it is. Without a
// policy a failed run is not repeated; the next run is on schedule.
func (t *timerListener) runWithRetry(ctx context.Context, shown *ScheduleStatus, pastDue bool, reason string) {
	p := t.fn.Retry
	var last error
	for n := 0; ; n++ {
		req := timerPayload(t.fn, shown, pastDue, time.Now())
		if p != nil {
			req.Metadata["RetryContext"] = retryContext(p, n, last)
		}
		_, err := t.app.invoke(ctx, t.fn, reason, req)
		if err == nil || p == nil || p.exhausted(n+1) || ctx.Err() != nil {
			return
		}
		last = err
		d := p.delay(n + 1)
		t.app.log.Info(fmt.Sprintf("Waiting for `%s` before retrying function execution. Next attempt: '%d'. Max retry count: '%d'", formatTimeSpan(d), n+1, p.MaxRetryCount),
			"app", t.app.Name, "function", "Functions."+t.fn.Name)
		if !sleepCtx(ctx, d) {
			return
		}
	}
}

func (t *timerListener) write(ctx context.Context, s *ScheduleStatus) {
	if err := t.writeStatus(ctx, s); err != nil && ctx.Err() == nil {
		t.app.log.Error("timer status not written", "function", "Functions."+t.fn.Name, "err", err)
	}
}
