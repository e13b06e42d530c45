package domain_test

import (
	"testing"

	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
)

// FuzzParseEnvelope: whatever the body, the ingest parser never panics and either refuses it
// with invalid_envelope or returns an envelope that the Journal's own JSON (the API's answers
// and the archive's lines) carries back to the parser unchanged. The seed corpus is in
// testdata/fuzz/FuzzParseEnvelope.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(ours))
	f.Add([]byte(cloudEvent))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := domain.ParseEnvelope(body)
		if err != nil {
			if !domain.IsInvalidEnvelope(err) {
				t.Fatalf("refused with %v; want an invalid_envelope fault", err)
			}
			return
		}
		if e.ID == "" || e.Type == "" || e.Source == "" || e.CreatedAt.IsZero() {
			t.Fatalf("accepted without id, type, source or time: %+v", e)
		}
		_ = store.Check(e) // may refuse (a key too long), never panic
		if len(e.Data) > 0 {
			if again, err := domain.CanonicalJSON(e.Data); err != nil || string(again) != string(e.Data) {
				t.Fatalf("canonical data is not canonical: %s -> %s, %v", e.Data, again, err)
			}
		}
		line, err := store.MarshalRecord(store.Record{Event: e, ReceivedAt: e.CreatedAt})
		if err != nil {
			t.Fatalf("an accepted envelope does not encode: %v", err)
		}
		again, err := domain.ParseEnvelope(line)
		if err != nil {
			t.Fatalf("the Journal's JSON of an accepted envelope is refused: %v\n%s", err, line)
		}
		if !store.SameEvent(again, e) || store.Digest(again) != store.Digest(e) {
			t.Fatalf("round trip changed the envelope\n  in: %+v\n out: %+v", e, again)
		}
		if back, err := store.UnmarshalRecord(line); err != nil || !store.SameEvent(back.Event, e) {
			t.Fatalf("the archive's reader: %+v, %v", back, err)
		}
	})
}
