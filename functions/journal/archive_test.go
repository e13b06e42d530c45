package journal_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meterline/functions/journal/app"
	"meterline/functions/journal/store"
	subscriptions "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

func day(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }

// threeDays posts events received on March 1, 2 and 3: two types, a stream across the days, a
// payload offloaded to a blob.
func (w *world) threeDays() []eventstore.Event {
	w.t.Helper()
	var posted []eventstore.Event
	for d := 1; d <= 3; d++ {
		for i := range 4 {
			e := chargeEvent(fmt.Sprintf("ch-%d-%d", d, i), "c1", int64(4*(d-1)+i+1), day(d, 8), int64(10*d+i))
			if i == 3 {
				e = usageEvent(fmt.Sprintf("use-%d", d), "c1", day(d, 8), int64(d))
			}
			if d == 2 && i == 1 {
				e.Data = json.RawMessage(fmt.Sprintf(`{"customerId":"c1","amount":1,"month":"2026-03","notes":%q}`, strings.Repeat("<big>", 20<<10)))
			}
			if r := w.post(envelope(w.t, e), day(d, 9).Add(time.Duration(i)*time.Minute)); r.status != 200 {
				w.t.Fatalf("post %s: %d %s", e.ID, r.status, r.body)
			}
			posted = append(posted, e)
		}
	}
	return posted
}

// reads are the answers of the read endpoints over the three days, page by page.
func (w *world) reads() []string {
	w.t.Helper()
	var out []string
	for _, path := range []string{
		"/api/journal/events?from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z&limit=5",
		"/api/journal/events?type=" + subscriptions.TypeChargeAdded + "&from=2026-03-01T09:01:00Z&to=2026-03-03T00:00:00Z&limit=2",
		"/api/journal/streams/customer-c1?limit=4",
		"/api/journal/streams/usage-c1",
	} {
		_, pages := w.readAll(path)
		for _, p := range pages {
			out = append(out, string(p))
		}
	}
	return out
}

// An archived day reads back identically, through every read endpoint, and from its blob.
func TestArchivedDaysReadBackIdentically(t *testing.T) {
	w := newWorld(t, options{settings: map[string]string{"JournalArchiveAfter": "48h"}})
	posted := w.threeDays()
	before := w.reads()

	if r := w.timer("JournalArchive", day(5, 12)); r.status != 200 { // cutoff March 3, 12:00: two days old enough
		t.Fatalf("JournalArchive: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	if days, _ := w.journal.Days(ctx); !slices.Equal(days, []string{"2026-03-03"}) {
		t.Fatalf("days with rows after archival: %v", days)
	}
	seals, _ := w.journal.Seals(ctx)
	if len(seals) != 2 || seals["2026-03-01"].Events != 4 || seals["2026-03-02"].Events != 4 {
		t.Fatalf("seals %+v", seals)
	}
	byType, _ := w.backend.All(ctx, store.ByType)
	for _, r := range byType {
		if !strings.HasSuffix(r.Partition, "~2026-03-03") {
			t.Fatalf("a time-index row of an archived day is left: %s %s", r.Partition, r.Key)
		}
	}
	if names, _ := w.backend.PayloadNames(ctx); len(names) != 0 {
		t.Fatalf("offloaded payloads left after archival: %v", names)
	}
	if stub, _, _ := w.journal.Get(ctx, "ch-1-0"); stub.ArchivedOn != "2026-03-01" || stub.Data != nil {
		t.Fatalf("the id row after archival: %+v", stub)
	}

	after := w.reads()
	if len(after) != len(before) {
		t.Fatalf("%d pages after archival, %d before", len(after), len(before))
	}
	for i := range before {
		if after[i] != before[i] {
			t.Fatalf("page %d differs after archival\nbefore: %.400s\n after: %.400s", i, before[i], after[i])
		}
	}

	// The blob is gzip JSON Lines, one CloudEvent a line.
	rc, err := w.journal.OpenDay(ctx, "2026-03-02")
	if err != nil || rc == nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		e, err := eventstore.UnmarshalEnvelope(sc.Bytes())
		if err != nil || !strings.HasPrefix(e.ID, "ch-2-") && e.ID != "use-2" {
			t.Fatalf("line %d: %v %+v", lines, err, e)
		}
		lines++
	}
	rc.Close()
	if lines != 4 {
		t.Fatalf("%d lines in the archive of March 2", lines)
	}

	// Archived ids are still known; a second run changes nothing.
	if r := w.post(envelope(t, posted[0]), day(6, 0)); r.status != 409 {
		t.Fatalf("an archived event again: %d %s", r.status, r.body)
	}
	reused := posted[0]
	reused.Data = json.RawMessage(`{"customerId":"c1","amount":0}`)
	if r := w.post(envelope(t, reused), day(6, 0)); r.status != 422 {
		t.Fatalf("an archived id with other content: %d %s", r.status, r.body)
	}
	snap := w.snapshot()
	w.timer("JournalArchive", day(5, 13))
	if !w.snapshot().equal(snap) {
		t.Fatal("a second archival run changed storage")
	}
	// A projection that starts after archival reads the archived days too.
	w.timer("JournalProjections", day(6, 0))
	rep, _, _ := w.report("c1", "2026-03")
	if rep.Charges.Count != 9 || rep.Usage.Reports != 3 {
		t.Fatalf("report over archived days: %+v", rep)
	}
}

// faultyArchive is the real archive, but while armed its reads come back damaged or its
// appends are silently lost.
type faultyArchive struct {
	app.Archive
	damageReads, loseAppends atomic.Bool
}

func (f *faultyArchive) OpenDay(ctx context.Context, day string) (io.ReadCloser, error) {
	rc, err := f.Archive.OpenDay(ctx, day)
	if err != nil || rc == nil || !f.damageReads.Load() {
		return rc, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if len(b) > 0 {
		b[len(b)/2] ^= 0xff
	}
	return io.NopCloser(bytes.NewReader(b)), err
}

func (f *faultyArchive) AppendDay(ctx context.Context, day string, at int64, chunk []byte) error {
	if f.loseAppends.Load() {
		return nil
	}
	return f.Archive.AppendDay(ctx, day, at, chunk)
}

// Nothing is deleted, or sealed, when the archive does not read back as the tables hold it;
// once it does, the next run completes the day from where the failed one stopped.
func TestNothingIsDeletedWhenTheArchiveCannotBeVerified(t *testing.T) {
	for _, fault := range []string{"damaged reads", "lost appends"} {
		t.Run(fault, func(t *testing.T) {
			faulty := &faultyArchive{}
			w := newWorld(t, options{
				settings: map[string]string{"JournalArchiveAfter": "48h"},
				archive:  func(a app.Archive) app.Archive { faulty.Archive = a; return faulty },
			})
			w.threeDays()
			reads := w.reads()
			storage := w.snapshot()
			armed := &faulty.damageReads
			if fault == "lost appends" {
				armed = &faulty.loseAppends
			}
			armed.Store(true)
			if r := w.timer("JournalArchive", day(5, 12)); r.status != 500 || !strings.Contains(string(r.body), "nothing deleted") && !strings.Contains(string(r.body), "read back") {
				t.Fatalf("the run with a faulty archive answered %d %s; want it to fail", r.status, r.body)
			}
			if !w.snapshot().equal(storage) {
				t.Fatal("a run whose archive could not be verified changed the tables")
			}
			armed.Store(false)
			if got := w.reads(); !slices.Equal(got, reads) {
				t.Fatal("reads changed after a failed archival")
			}
			if r := w.timer("JournalArchive", day(5, 12)); r.status != 200 {
				t.Fatalf("JournalArchive: %d %s", r.status, r.body)
			}
			if days, _ := w.journal.Days(context.Background()); !slices.Equal(days, []string{"2026-03-03"}) {
				t.Fatalf("days with rows after the good run: %v", days)
			}
			if got := w.reads(); !slices.Equal(got, reads) {
				t.Fatal("reads changed after archival")
			}
		})
	}
}
