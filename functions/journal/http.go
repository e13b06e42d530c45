package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"meterline/functions/journal/app"
	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
	"meterline/shared/blocks"
	"meterline/shared/fault"
	"meterline/shared/funcapp"
)

// maxBody bounds an envelope: the largest payload the Journal keeps, and room for the rest.
const maxBody = store.MaxPayloadBytes + 64<<10

// Page sizes of the read endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// api holds the Journal's HTTP endpoints; failures are faults, answered by blocks.WriteError.
type api struct {
	j   *app.Journal
	now func() time.Time
}

func (a *api) endpoint(name, method, path string, handle func(w http.ResponseWriter, r *http.Request) error) blocks.Endpoint {
	return blocks.Endpoint{Name: name, Method: method, Route: "journal/" + path, Auth: "function", Handle: handle, Doc: docs[name]}
}

// recordEvent is POST /api/journal/events: one envelope. 200 stored; 409 stored already with the
// same content (nothing changed); 400 not a valid envelope; 422 its id is stored with other
// content; 413 too large.
func (a *api) recordEvent(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
			return &fault.Error{Kind: fault.TooLarge, Code: "invalid_envelope", Field: "body", Message: fmt.Sprintf("larger than %d bytes", maxBody)}
		}
		return &fault.Error{Kind: fault.Invalid, Code: "invalid_envelope", Field: "body", Message: "could not be read", Err: err}
	}
	e, err := domain.ParseEnvelope(body)
	if err != nil {
		return err
	}
	rec, stored, err := a.j.Recorder.Record(r.Context(), e)
	if err != nil {
		return err
	}
	if !stored {
		return domain.AlreadyStored(rec.ID, rec.ReceivedAt)
	}
	funcapp.WriteJSON(w, http.StatusOK, recorded{ID: rec.ID, ReceivedAt: rec.ReceivedAt, Status: "stored"})
	return nil
}

// listEvents is GET /api/journal/events?type=T&from=F&to=T2: the events of type T (repeat type
// for several; none for every type) received in [from, to), in received order. to defaults to
// now. Paged: limit (default 100, at most 1000) and the continuation of the previous page.
func (a *api) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	types := q["type"]
	for _, t := range types {
		if t == "" {
			return fault.InvalidField("type", "cannot be empty")
		}
	}
	from, err := timeParam(q, "from", time.Time{})
	if err != nil {
		return err
	}
	if from.IsZero() {
		return fault.InvalidField("from", "is required: an RFC 3339 time like 2026-03-04T00:00:00Z")
	}
	to, err := timeParam(q, "to", a.now())
	if err != nil {
		return err
	}
	if !to.After(from) {
		return fault.InvalidField("to", "must be after from")
	}
	limit, err := limitParam(q)
	if err != nil {
		return err
	}
	query := "events|" + strings.Join(types, ",") + "|" + q.Get("from") + "|" + q.Get("to")
	after := store.Position{At: from}
	if token := q.Get("continuation"); token != "" {
		key, ok := app.ParseToken(query, token)
		pos, err := store.ParsePosition(key)
		if !ok || err != nil {
			return invalidContinuation()
		}
		if after.Before(pos) {
			after = pos
		}
	}
	recs, more, err := a.j.Reader.ByTypes(r.Context(), types, after, to, limit)
	if err != nil {
		return err
	}
	next := ""
	if more {
		next = app.Token(query, recs[len(recs)-1].Position().Key())
	}
	return writeRecords(w, recs, next)
}

// readStream is GET /api/journal/streams/{stream}: the events of one aggregate in version order,
// archived ones included. Paged as listEvents.
func (a *api) readStream(w http.ResponseWriter, r *http.Request) error {
	stream := r.PathValue("stream")
	limit, err := limitParam(r.URL.Query())
	if err != nil {
		return err
	}
	query := "stream|" + stream
	var after store.StreamPosition
	if token := r.URL.Query().Get("continuation"); token != "" {
		key, ok := app.ParseToken(query, token)
		pos, err := store.ParseStreamPosition(key)
		if !ok || err != nil {
			return invalidContinuation()
		}
		after = pos
	}
	recs, more, err := a.j.Reader.ByStream(r.Context(), stream, after, limit)
	if err != nil {
		return err
	}
	next := ""
	if more {
		next = app.Token(query, recs[len(recs)-1].StreamPosition().Key())
	}
	return writeRecords(w, recs, next)
}

// monthlyReport is GET /api/journal/reports/customers/{customerId}/months/{month}: the
// customer's revenue and usage in that month, as of the projection's horizon (asOf: every event
// received before it is counted).
func (a *api) monthlyReport(w http.ResponseWriter, r *http.Request) error {
	month, err := domain.ParseMonth(r.PathValue("month"))
	if err != nil {
		return err
	}
	doc, ok, err := a.j.Reports.Get(r.Context(), app.ReportKey(r.PathValue("customerId"), month))
	if err != nil {
		return err
	}
	if !ok {
		return domain.ErrNoReport
	}
	cp, err := a.j.Reports.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	funcapp.WriteJSON(w, http.StatusOK, monthlyReport{doc.MonthlyReport, cp.Horizon})
	return nil
}

func timeParam(q map[string][]string, name string, fallback time.Time) (time.Time, error) {
	v := ""
	if vs := q[name]; len(vs) > 0 {
		v = vs[0]
	}
	if v == "" {
		return fallback, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fault.InvalidField(name, "must be an RFC 3339 time like 2026-03-04T00:00:00Z")
	}
	return t.UTC(), nil
}

func limitParam(q map[string][]string) (int, error) {
	vs := q["limit"]
	if len(vs) == 0 || vs[0] == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 1 || n > maxLimit {
		return 0, fault.InvalidField("limit", fmt.Sprintf("must be a number from 1 to %d", maxLimit))
	}
	return n, nil
}

func invalidContinuation() error {
	return fault.InvalidField("continuation", "is not a token of this query: pass the continuation of the previous page unchanged")
}

// writeRecords answers {"events": [...], "continuation": "..."}: each record as the envelope
// it came in (with receivedAt), its payload byte for byte as stored.
func writeRecords(w http.ResponseWriter, recs []store.Record, next string) error {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i, rec := range recs {
		line, err := store.MarshalRecord(rec)
		if err != nil {
			return err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(line)
	}
	b.WriteByte(']')
	if next != "" {
		token, _ := json.Marshal(next)
		b.WriteString(`,"continuation":`)
		b.Write(token)
	}
	b.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes()) // a client gone away is nobody's error to answer
	return nil
}
