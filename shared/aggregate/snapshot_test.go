package aggregate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"meterline/shared/azurite/azuritetest"

	"meterline/shared/aggregate"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/tablestore"
)

// wallet is a snapshot-able aggregate: a balance that may not go negative, and the last few
// amounts (state that a careless snapshot could forget).
type wallet struct {
	opened  bool
	balance int
	recent  []int // last 3 amounts, newest last
	note    string
}

type walletSnapshot struct {
	Opened  bool   `json:"opened"`
	Balance int    `json:"balance"`
	Recent  []int  `json:"recent"`
	Note    string `json:"note,omitempty"`
}

type noted struct{ Text string }

func (w *wallet) Apply(e any) {
	switch e := e.(type) {
	case opened:
		w.opened = true
	case credited:
		w.balance += e.Amount
		w.remember(e.Amount)
	case debited:
		w.balance -= e.Amount
		w.remember(-e.Amount)
	case noted:
		w.note = e.Text
	}
}

func (w *wallet) remember(n int) {
	w.recent = append(w.recent, n)
	if len(w.recent) > 3 {
		w.recent = append([]int(nil), w.recent[len(w.recent)-3:]...)
	}
}

func (w *wallet) SnapshotSchema() int { return 1 }

func (w *wallet) Snapshot() (any, error) {
	return walletSnapshot{Opened: w.opened, Balance: w.balance, Recent: w.recent, Note: w.note}, nil
}

func (w *wallet) Restore(data []byte) error {
	var s walletSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	if len(s.Recent) > 3 {
		return fmt.Errorf("%d recent amounts, at most 3", len(s.Recent))
	}
	w.opened, w.balance, w.recent, w.note = s.Opened, s.Balance, s.Recent, s.Note
	return nil
}

func (w *wallet) Open() ([]any, error) {
	if w.opened {
		return nil, nil
	}
	return []any{opened{"ada"}}, nil
}

func (w *wallet) Credit(n int) ([]any, error) { return []any{credited{n}}, nil }

func (w *wallet) Debit(n int) ([]any, error) {
	if w.balance < n {
		return nil, errOverdrawn
	}
	return []any{debited{n}}, nil
}

// Move makes several events at once.
func (w *wallet) Move(n int) ([]any, error) { return []any{credited{n}, debited{n}, credited{1}}, nil }

func (w *wallet) Note(text string) ([]any, error) { return []any{noted{text}}, nil }

func walletRegistry() *eventstore.Registry {
	r := registry()
	eventstore.Register[noted](r, "test.Noted", 1)
	return r
}

func newWallets(store eventstore.Store, snaps eventstore.SnapshotStore, every int) *aggregate.Service[*wallet] {
	return &aggregate.Service[*wallet]{
		Store: store, Events: walletRegistry(), Source: "test",
		New:       func(string) *wallet { return &wallet{} },
		Snapshots: snaps, SnapshotEvery: every,
	}
}

func credit(n int) func(*wallet) ([]any, error) {
	return func(w *wallet) ([]any, error) { return w.Credit(n) }
}

// readLog records the from of every Read.
type readLog struct {
	eventstore.Store
	mu    sync.Mutex
	froms []int64
}

func (r *readLog) Read(ctx context.Context, stream string, from int64) ([]eventstore.Event, error) {
	r.mu.Lock()
	r.froms = append(r.froms, from)
	r.mu.Unlock()
	return r.Store.Read(ctx, stream, from)
}

func (r *readLog) last() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.froms[len(r.froms)-1]
}

func TestSnapshotThenOnlyTheTailIsRead(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	log := &readLog{Store: mem}
	svc := newWallets(log, mem, 5)
	for i := 1; i <= 12; i++ {
		if _, err := svc.Execute(ctx, "w", credit(i)); err != nil {
			t.Fatal(err)
		}
	}
	snap, ok, err := mem.LoadSnapshot(ctx, "w")
	if err != nil || !ok || snap.Version != 10 || snap.SchemaVersion != 1 {
		t.Fatalf("snapshot = %+v, %v, %v; want one at version 10", snap, ok, err)
	}
	w, version, err := svc.Load(ctx, "w")
	if err != nil || version != 12 || w.balance != 78 || !reflect.DeepEqual(w.recent, []int{10, 11, 12}) {
		t.Fatalf("Load = %+v at %d, %v", w, version, err)
	}
	if from := log.last(); from != 11 {
		t.Fatalf("Load read from version %d, want 11 (after the snapshot)", from)
	}
	// A command that makes no event and one that fails leave the snapshot alone.
	if _, err := svc.Execute(ctx, "w", func(w *wallet) ([]any, error) { return w.Debit(1000) }); !errors.Is(err, errOverdrawn) {
		t.Fatal(err)
	}
	if snap, _, _ := mem.LoadSnapshot(ctx, "w"); snap.Version != 10 {
		t.Fatalf("snapshot moved to %d", snap.Version)
	}
}

// A load with a long tail (events written by a service without snapshots) saves one.
func TestLoadWithLongTailSavesSnapshot(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	plain := newWallets(mem, nil, 0)
	for i := range 7 {
		if _, err := plain.Execute(ctx, "w", credit(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := newWallets(mem, mem, 5).Load(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if snap, ok, _ := mem.LoadSnapshot(ctx, "w"); !ok || snap.Version != 7 {
		t.Fatalf("snapshot = %+v, %v; want one at 7", snap, ok)
	}
}

// fakeSnapshots hands out a fixed snapshot (or error) and records what is saved.
type fakeSnapshots struct {
	snap    eventstore.Snapshot
	found   bool
	loadErr error
	saveErr error
	saved   []eventstore.Snapshot
}

func (f *fakeSnapshots) LoadSnapshot(_ context.Context, stream string) (eventstore.Snapshot, bool, error) {
	s := f.snap
	s.Stream = stream
	return s, f.found, f.loadErr
}

func (f *fakeSnapshots) SaveSnapshot(_ context.Context, s eventstore.Snapshot) error {
	if f.saveErr != nil {
		return f.saveErr
	}
	f.saved = append(f.saved, s)
	return nil
}

var errSnapshotsDown = errors.New("snapshot store down")

// Whatever is wrong with the snapshot, the service replays the stream and gets the right state.
func TestUnusableSnapshotFallsBackToTheStream(t *testing.T) {
	ctx := context.Background()
	state := func(balance int) json.RawMessage {
		b, _ := json.Marshal(walletSnapshot{Opened: true, Balance: balance, Recent: []int{balance}})
		return b
	}
	cases := []struct {
		name     string
		snaps    fakeSnapshots
		wantFrom int64 // where the load reads the stream from
		reported error // what OnSnapshotError hears (nil: nothing)
	}{
		{"none", fakeSnapshots{}, 1, nil},
		{"stale", fakeSnapshots{found: true, snap: eventstore.Snapshot{Version: 2, SchemaVersion: 1, Data: state(3)}}, 3, nil},
		{"corrupt", fakeSnapshots{found: true, snap: eventstore.Snapshot{Version: 4, SchemaVersion: 1, Data: json.RawMessage(`{"balance":`)}}, 1, errAny},
		{"wrong shape", fakeSnapshots{found: true, snap: eventstore.Snapshot{Version: 4, SchemaVersion: 1, Data: json.RawMessage(`{"balance":"ten"}`)}}, 1, errAny},
		{"invalid state", fakeSnapshots{found: true, snap: eventstore.Snapshot{Version: 4, SchemaVersion: 1, Data: json.RawMessage(`{"recent":[1,2,3,4]}`)}}, 1, errAny},
		{"other schema", fakeSnapshots{found: true, snap: eventstore.Snapshot{Version: 4, SchemaVersion: 2, Data: state(10)}}, 1, aggregate.ErrSnapshotSchema},
		{"store down", fakeSnapshots{loadErr: errSnapshotsDown}, 1, errSnapshotsDown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New()
			log := &readLog{Store: mem}
			svc := newWallets(log, &c.snaps, 1000)
			var reported []error
			svc.OnSnapshotError = func(_ context.Context, stream string, err error) { reported = append(reported, err) }
			for i := 1; i <= 4; i++ { // balance 1+2+3+4 = 10 at version 4
				if _, err := newWallets(mem, nil, 0).Execute(ctx, "w", credit(i)); err != nil {
					t.Fatal(err)
				}
			}
			w, version, err := svc.Load(ctx, "w")
			if err != nil || version != 4 || w.balance != 10 {
				t.Fatalf("Load = %+v at %d, %v; want balance 10 at 4", w, version, err)
			}
			if c.name == "stale" {
				if !w.opened || !reflect.DeepEqual(w.recent, []int{3, 3, 4}) {
					t.Fatalf("stale snapshot plus tail = %+v", w)
				}
			} else if w.opened || !reflect.DeepEqual(w.recent, []int{2, 3, 4}) {
				t.Fatalf("replayed = %+v, want nothing of the snapshot", w)
			}
			if from := log.last(); from != c.wantFrom {
				t.Fatalf("read from %d, want %d", from, c.wantFrom)
			}
			switch {
			case c.reported == nil && len(reported) > 0:
				t.Fatalf("reported %v", reported)
			case c.reported != nil && len(reported) != 1:
				t.Fatalf("reported %v, want one error", reported)
			case c.reported != nil && c.reported != errAny && !errors.Is(reported[0], c.reported):
				t.Fatalf("reported %v, want %v", reported[0], c.reported)
			}
			// A command on top works from the same state.
			if _, err := svc.Execute(ctx, "w", func(w *wallet) ([]any, error) { return w.Debit(10) }); err != nil {
				t.Fatalf("debit of the whole balance: %v", err)
			}
		})
	}
}

var errAny = errors.New("any error")

// A snapshot claiming a version the stream has not reached (stores refuse to save one; here
// it is forged) cannot make a command append on a wrong state: the append's conflict shows
// the stream is behind, and the service replays it.
func TestSnapshotBeyondTheStreamIsDropped(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	for i := 1; i <= 3; i++ {
		if _, err := newWallets(mem, nil, 0).Execute(ctx, "w", credit(i)); err != nil {
			t.Fatal(err)
		}
	}
	forged := &fakeSnapshots{found: true, snap: eventstore.Snapshot{Version: 50, SchemaVersion: 1, Data: json.RawMessage(`{"opened":true,"balance":1000}`)}}
	svc := newWallets(mem, forged, 1000)
	var reported []error
	svc.OnSnapshotError = func(_ context.Context, _ string, err error) { reported = append(reported, err) }
	_, err := svc.Execute(ctx, "w", func(w *wallet) ([]any, error) { return w.Debit(100) })
	if !errors.Is(err, errOverdrawn) {
		t.Fatalf("debit of 100 from 6 = %v, want overdrawn", err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], eventstore.ErrInvalidSnapshot) {
		t.Fatalf("reported %v", reported)
	}
	got, err := svc.Execute(ctx, "w", func(w *wallet) ([]any, error) { return w.Debit(6) })
	if err != nil || len(got) != 1 || got[0].Version != 4 {
		t.Fatalf("debit of 6 = %+v, %v", got, err)
	}
}

// A snapshot that cannot be saved never fails the command.
func TestSnapshotSaveFailureIsOnlyReported(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	down := &fakeSnapshots{saveErr: errSnapshotsDown}
	svc := newWallets(mem, down, 2)
	var reported []error
	svc.OnSnapshotError = func(_ context.Context, _ string, err error) { reported = append(reported, err) }
	for i := range 4 {
		if _, err := svc.Execute(ctx, "w", credit(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(reported) == 0 || !errors.Is(reported[0], errSnapshotsDown) {
		t.Fatalf("reported %v", reported)
	}

	// Too large for a snapshot: the real store refuses it, the aggregate stays usable.
	svc = newWallets(mem, mem, 1)
	reported = nil
	svc.OnSnapshotError = func(_ context.Context, _ string, err error) { reported = append(reported, err) }
	big := strings.Repeat("x", eventstore.MaxSnapshotBytes)
	if _, err := svc.Execute(ctx, "w", func(w *wallet) ([]any, error) { return w.Note(big) }); err != nil {
		t.Fatal(err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], eventstore.ErrSnapshotTooLarge) {
		t.Fatalf("reported %v, want ErrSnapshotTooLarge", reported)
	}
	if w, version, err := svc.Load(ctx, "w"); err != nil || version != 5 || w.note != big || w.balance != 6 {
		t.Fatalf("Load = balance %d at %d, %v", w.balance, version, err)
	}
}

func TestSnapshotsNeedASnapshotter(t *testing.T) {
	mem := memstore.New()
	svc := newService(mem)
	svc.Snapshots = mem
	if _, err := svc.Execute(context.Background(), "a", func(a *account) ([]any, error) { return a.Credit(1) }); !errors.Is(err, aggregate.ErrNotSnapshotter) {
		t.Fatalf("Execute = %v", err)
	}
	if _, _, err := svc.Load(context.Background(), "a"); !errors.Is(err, aggregate.ErrNotSnapshotter) {
		t.Fatalf("Load = %v", err)
	}
}

// interferingStore lets another writer append before some of our appends, so that commands
// also run through conflicts, rebases and re-runs.
type interferingStore struct {
	eventstore.Store
	rng   *rand.Rand
	other func()
}

func (s *interferingStore) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Event) (eventstore.Appended, error) {
	if s.rng.IntN(4) == 0 {
		s.other()
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

// The property: after any sequence of commands, the aggregate loaded from its snapshot and the
// tail equals the one replayed from the whole stream.
func TestSnapshotPlusTailEqualsReplay(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		mem := memstore.New()
		plain := newWallets(mem, nil, 0)
		store := &interferingStore{Store: mem, rng: rng, other: func() {
			if _, err := plain.Execute(ctx, "w", credit(rng.IntN(5))); err != nil {
				t.Fatal(err)
			}
		}}
		snapped := newWallets(store, mem, 1+rng.IntN(7))
		snapped.MaxAttempts = 50
		if rng.IntN(2) == 0 {
			// Credits commute: rebase instead of re-running.
			snapped.Conflicts = func(ours, theirs any) bool {
				_, a := ours.(credited)
				_, b := theirs.(credited)
				return !(a && b)
			}
		}
		for step := range 60 {
			var cmd func(*wallet) ([]any, error)
			switch n := rng.IntN(10); {
			case n < 4:
				cmd = credit(rng.IntN(20))
			case n < 7:
				cmd = func(w *wallet) ([]any, error) { return w.Debit(rng.IntN(30)) }
			case n < 8:
				cmd = func(w *wallet) ([]any, error) { return w.Move(rng.IntN(9)) }
			case n < 9:
				cmd = func(w *wallet) ([]any, error) { return w.Open() }
			default:
				cmd = func(w *wallet) ([]any, error) { return w.Note(fmt.Sprint("step ", step)) }
			}
			if _, err := snapped.Execute(ctx, "w", cmd); err != nil && !errors.Is(err, errOverdrawn) {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			fromSnapshot, v1, err1 := snapped.Load(ctx, "w")
			replayed, v2, err2 := plain.Load(ctx, "w")
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if v1 != v2 || !sameWallet(fromSnapshot, replayed) {
				t.Fatalf("seed %d step %d: from snapshot %+v at %d, replayed %+v at %d", seed, step, *fromSnapshot, v1, *replayed, v2)
			}
		}
		if snap, ok, _ := mem.LoadSnapshot(ctx, "w"); !ok || snap.Version < 10 {
			t.Fatalf("seed %d: snapshot %+v, %v: the property was not exercised", seed, snap, ok)
		}
	}
}

func sameWallet(a, b *wallet) bool {
	return a.opened == b.opened && a.balance == b.balance && a.note == b.note &&
		fmt.Sprint(a.recent) == fmt.Sprint(b.recent) // nil and empty alike
}

// Concurrent commands with snapshots on Table Storage: every credit lands exactly once, and
// the snapshot plus tail equals the replay.
func TestConcurrentExecuteWithSnapshotsOnTableStorage(t *testing.T) {
	ctx := context.Background()
	store, err := tablestore.NewFromConnectionString(ctx, azuritetest.Start(t).ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, credits = 6, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := newWallets(store, store, 3)
			svc.MaxAttempts = 100
			svc.OnSnapshotError = func(_ context.Context, _ string, err error) { t.Errorf("snapshot: %v", err) }
			for i := range credits {
				cmd := eventstore.WithCommandID(ctx, fmt.Sprintf("credit-%d-%d", w, i))
				if _, err := svc.Execute(cmd, "wallet-1", credit(1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	snap, ok, err := store.LoadSnapshot(ctx, "wallet-1")
	if err != nil || !ok || snap.Version < workers*credits-3 {
		t.Fatalf("snapshot at %d, %v, %v; want one within 3 of %d", snap.Version, ok, err, workers*credits)
	}
	fromSnapshot, v1, err1 := newWallets(store, store, 1000).Load(ctx, "wallet-1")
	replayed, v2, err2 := newWallets(store, nil, 0).Load(ctx, "wallet-1")
	if err1 != nil || err2 != nil || v1 != workers*credits || v2 != v1 || !sameWallet(fromSnapshot, replayed) || replayed.balance != workers*credits {
		t.Fatalf("from snapshot %+v at %d (%v), replayed %+v at %d (%v)", fromSnapshot, v1, err1, replayed, v2, err2)
	}
}
