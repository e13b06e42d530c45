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
	conn, _ := a.Settings.Lookup("AzureWebJobsStorage")
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

// schedule runs the timer while ctx (the lock) lasts. With useMonitor, a
// stored Next in the past means an occurrence was missed while no host ran:
// the function runs at once with IsPastDue, as the timer extension does.
func (t *timerListener) schedule(ctx, invokeCtx context.Context) {
	log := t.app.log.With("app", t.app.Name, "function", "Functions."+t.fn.Name)
	now := time.Now().UTC()
	var status *ScheduleStatus
	if t.fn.UseMonitor {
		var err error
		if status, err = t.readStatus(ctx); err != nil {
			log.Error("timer status unreadable; starting afresh", "err", err)
			status = nil
		}
	}
	next := t.fn.Schedule.Next(now)
	pastDue := false
	if status != nil {
		if !status.Next.IsZero() && now.After(status.Next) {
			pastDue = true
		} else if !status.Next.IsZero() && (status.Last.IsZero() || t.fn.Schedule.Next(status.Last).Equal(status.Next)) {
			next = status.Next // same schedule: keep the stored occurrence
		}
	} else if t.fn.UseMonitor {
		status = &ScheduleStatus{Next: next, LastUpdated: now}
		if err := t.writeStatus(ctx, status); err != nil {
			log.Error("timer status not written", "err", err)
		}
	}
	if pastDue || t.fn.Trigger.RunOnStartup {
		reason := "This function was programmatically called via the host APIs."
		if pastDue {
			reason = fmt.Sprintf("Timer fired at %s (past due; the scheduled %s was missed)", now.Format(time.RFC3339), status.Next.Format(time.RFC3339))
		}
		next = t.fire(ctx, invokeCtx, status, pastDue, now, reason)
		status = t.updated(ctx, status, now, next)
	}
	log.Info(fmt.Sprintf("The next occurrence of the 'Functions.%s' schedule (%s) is %s", t.fn.Name, t.fn.Schedule, next.Format(time.RFC3339)))
	for {
		if next.IsZero() || !sleepCtx(ctx, time.Until(next)) {
			return
		}
		fired := next
		reason := "Timer fired at " + time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z07:00")
		next = t.fire(ctx, invokeCtx, status, false, fired, reason)
		status = t.updated(ctx, status, fired, next)
	}
}

// fire invokes the function and returns the next occurrence after it.
func (t *timerListener) fire(ctx, invokeCtx context.Context, status *ScheduleStatus, pastDue bool, at time.Time, reason string) time.Time {
	if ctx.Err() != nil {
		return time.Time{}
	}
	var shown *ScheduleStatus
	if status != nil {
		s := *status
		shown = &s
	}
	req := timerPayload(t.fn, shown, pastDue, time.Now())
	// A failed timer run is not retried; the next run is on schedule.
	_, _ = t.app.invoke(invokeCtx, t.fn, reason, req)
	now := time.Now().UTC()
	next := t.fn.Schedule.Next(at)
	if !next.After(now) {
		next = t.fn.Schedule.Next(now) // the run overran occurrences: skip them
	}
	return next
}

func (t *timerListener) updated(ctx context.Context, status *ScheduleStatus, last, next time.Time) *ScheduleStatus {
	if !t.fn.UseMonitor {
		return nil
	}
	s := &ScheduleStatus{Last: last, Next: next, LastUpdated: time.Now().UTC()}
	if err := t.writeStatus(ctx, s); err != nil && ctx.Err() == nil {
		t.app.log.Error("timer status not written", "function", "Functions."+t.fn.Name, "err", err)
	}
	return s
}
