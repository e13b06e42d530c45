package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"meterline/shared/aggregate"
	"meterline/shared/aggregate/aggregatetest"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/tablestore"
)

// A small account: credits are added, debits may not overdraw.
type account struct {
	balance int
	opened  bool
}

type opened struct{ Owner string }
type credited struct{ Amount int }
type debited struct{ Amount int }

var errOverdrawn = errors.New("account overdrawn")

func (a *account) Apply(e any) {
	switch e := e.(type) {
	case opened:
		a.opened = true
	case credited:
		a.balance += e.Amount
	case debited:
		a.balance -= e.Amount
	}
}

func (a *account) Open(owner string) ([]any, error) {
	if a.opened {
		return nil, nil
	}
	return []any{opened{owner}}, nil
}

func (a *account) Credit(n int) ([]any, error) { return []any{credited{n}}, nil }

func (a *account) Debit(n int) ([]any, error) {
	if a.balance < n {
		return nil, errOverdrawn
	}
	return []any{debited{n}}, nil
}

func registry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[opened](r, "test.Opened", 1)
	eventstore.Register[credited](r, "test.Credited", 1)
	eventstore.Register[debited](r, "test.Debited", 1)
	return r
}

func newService(store eventstore.Store) *aggregate.Service[*account] {
	return &aggregate.Service[*account]{
		Store: store, Events: registry(), Source: "test",
		New: func(string) *account { return &account{} },
	}
}

func TestGivenWhenThen(t *testing.T) {
	aggregatetest.Given(t, &account{}, opened{"ada"}, credited{10}).
		When(func(a *account) ([]any, error) { return a.Debit(4) }).
		Then(debited{4})
	aggregatetest.Given(t, &account{}, credited{3}).
		When(func(a *account) ([]any, error) { return a.Debit(4) }).
		ThenError(errOverdrawn)
	aggregatetest.Given(t, &account{}, opened{"ada"}).
		When(func(a *account) ([]any, error) { return a.Open("ada") }).
		ThenNothing()
}

func TestExecuteStoresAndLoads(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	svc := newService(store)
	var dispatched []eventstore.Event
	svc.Dispatch = func(_ context.Context, events []eventstore.Event) { dispatched = append(dispatched, events...) }

	if _, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Open("ada") }); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Credit(5) })
	if err != nil || len(got) != 1 || got[0].Version != 2 || got[0].Type != "test.Credited" || got[0].Source != "test" {
		t.Fatalf("Execute = %+v, %v", got, err)
	}
	if _, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Debit(6) }); !errors.Is(err, errOverdrawn) {
		t.Fatalf("domain error not returned: %v", err)
	}
	if got, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Open("x") }); err != nil || got != nil {
		t.Fatalf("no-op command = %+v, %v", got, err)
	}
	a, version, err := svc.Load(ctx, "account-1")
	if err != nil || version != 2 || a.balance != 5 || !a.opened {
		t.Fatalf("Load = %+v, %d, %v", a, version, err)
	}
	if len(dispatched) != 2 || dispatched[1].Version != 2 {
		t.Fatalf("dispatched %+v", dispatched)
	}
}

func TestExecuteWithCommandIDIsIdempotent(t *testing.T) {
	store := memstore.New()
	svc := newService(store)
	ctx := eventstore.WithCommandID(context.Background(), "request-7")
	first, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Credit(5) })
	if err != nil {
		t.Fatal(err)
	}
	svc.Now = func() time.Time { return time.Now().Add(time.Hour) } // the retry happens later
	again, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Credit(5) })
	if err != nil || len(again) != 1 || again[0].ID != first[0].ID || again[0].Version != 1 ||
		!again[0].CreatedAt.Equal(first[0].CreatedAt) {
		t.Fatalf("re-run = %+v, %v; want the stored %+v", again, err, first)
	}
	if events, _ := store.Read(context.Background(), "account-1", 1); len(events) != 1 {
		t.Fatalf("stream has %d events, want 1", len(events))
	}
}

// racingStore lets another writer append just before our first append, once.
type racingStore struct {
	eventstore.Store
	once  sync.Once
	other func()
}

func (s *racingStore) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Event) (eventstore.Appended, error) {
	s.once.Do(s.other)
	return s.Store.Append(ctx, stream, expected, events...)
}

func TestExecuteRerunsOnConflict(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	seed := newService(mem)
	if _, err := seed.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Credit(10) }); err != nil {
		t.Fatal(err)
	}
	store := &racingStore{Store: mem, other: func() {
		if _, err := seed.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Debit(8) }); err != nil {
			t.Error(err)
		}
	}}
	svc := newService(store)
	// Loaded balance 10; meanwhile 8 is debited; the re-run sees 2 and refuses.
	_, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Debit(5) })
	if !errors.Is(err, errOverdrawn) {
		t.Fatalf("re-run on fresh state should refuse: %v", err)
	}
}

func TestExecuteRebasesWithoutConflict(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	seed := newService(mem)
	store := &racingStore{Store: mem, other: func() {
		if _, err := seed.Execute(ctx, "account-1", func(a *account) ([]any, error) { return a.Credit(1) }); err != nil {
			t.Error(err)
		}
	}}
	svc := newService(store)
	runs := 0
	// Credits never conflict with credits: ours goes on top of theirs without a re-run.
	svc.Conflicts = func(ours, theirs any) bool {
		_, a := ours.(credited)
		_, b := theirs.(credited)
		return !(a && b)
	}
	got, err := svc.Execute(ctx, "account-1", func(a *account) ([]any, error) { runs++; return a.Credit(2) })
	if err != nil || runs != 1 || len(got) != 1 || got[0].Version != 2 {
		t.Fatalf("rebase: %+v, runs %d, %v", got, runs, err)
	}
}

// alwaysLate makes every append lose the race.
type alwaysLate struct{ eventstore.Store }

func (s alwaysLate) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Event) (eventstore.Appended, error) {
	return eventstore.Appended{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: int64(expected) + 1,
		Committed: []eventstore.Event{}}
}

func TestExecuteGivesUpAfterMaxAttempts(t *testing.T) {
	svc := newService(alwaysLate{memstore.New()})
	svc.MaxAttempts = 3
	runs := 0
	_, err := svc.Execute(context.Background(), "account-1", func(a *account) ([]any, error) { runs++; return a.Credit(1) })
	if !errors.Is(err, eventstore.ErrConflict) || runs != 3 {
		t.Fatalf("err %v after %d runs", err, runs)
	}
}

func TestLoadFailsOnUnknownEventType(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	if _, err := store.Append(ctx, "account-1", eventstore.NoStream, eventstore.Event{ID: "x", Type: "test.Unknown", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := newService(store).Load(ctx, "account-1"); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("Load = %v", err)
	}
}

// Concurrent commands on one aggregate in Table Storage: every credit lands exactly once.
func TestConcurrentExecuteOnTableStorage(t *testing.T) {
	ctx := context.Background()
	store, err := tablestore.NewFromConnectionString(ctx, azuritetest.Start(t).ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, credits = 10, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := newService(store)
			svc.MaxAttempts = 100
			for i := range credits {
				cmd := eventstore.WithCommandID(ctx, fmt.Sprintf("credit-%d-%d", w, i))
				if _, err := svc.Execute(cmd, "account-1", func(a *account) ([]any, error) { return a.Credit(1) }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	a, version, err := newService(store).Load(ctx, "account-1")
	if err != nil || a.balance != workers*credits || version != workers*credits {
		t.Fatalf("balance %d at version %d, %v; want %d", a.balance, version, err, workers*credits)
	}
}
