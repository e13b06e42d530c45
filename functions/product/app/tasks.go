package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// SessionSweeper is the portal's task: it deletes the sessions past their expiry and the
// sign-in throttles whose window has ended. Nothing else removes them: a session is deleted
// only when presented after its expiry or signed out, a throttle only by a successful sign-in,
// so abandoned ones would pile up. Deleting them changes no answer, so runs may overlap.
type SessionSweeper struct {
	Views         Views
	FailureWindow time.Duration    // as Sessions.FailureWindow; default DefaultFailureWindow
	Now           func() time.Time // the context's clock (required)
}

// Run sweeps both collections. It carries on past a failing document and returns the errors
// joined.
func (s SessionSweeper) Run(ctx context.Context) error {
	now := s.Now().UTC()
	window := failureWindow(s.FailureWindow)
	sessions, err := sweep(ctx, s.Views.Sessions, func(d Session) bool { return !now.Before(d.ExpiresAt) })
	// A failure recorded between the listing and the delete is lost with the record: one more
	// attempt for that email, at worst, once per sweep.
	throttles, terr := sweep(ctx, s.Views.Attempts, func(a SignInAttempts) bool { return !now.Before(a.WindowStart.Add(window)) })
	funcapp.Logger(ctx).InfoContext(ctx, "session sweep", "sessionsDeleted", sessions, "throttlesDeleted", throttles)
	return errors.Join(err, terr)
}

// sweep deletes the documents of docs that ended says are over and returns how many it deleted.
func sweep[T any](ctx context.Context, docs *views.Docs[T], ended func(T) bool) (int, error) {
	entries, err := docs.Entries(ctx)
	if err != nil {
		return 0, err
	}
	deleted := 0
	var errs []error
	for _, e := range entries {
		if !ended(e.Doc) {
			continue
		}
		if err := docs.Delete(ctx, e.Key); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", e.Key, err))
			continue
		}
		deleted++
	}
	return deleted, errors.Join(errs...)
}
