package eventstore_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"meterline/shared/eventstore"
)

// Consumers decode bodies they did not write: never panic, and what decodes re-encodes to an
// envelope that decodes the same.
func FuzzUnmarshalEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"id":"e1","type":"t","schemaVersion":1,"stream":"s","version":3,"source":"x","createdAt":"2026-01-02T03:04:05.000006Z","correlationId":"c","causationId":"k","data":{"a":[1,2]}}`,
		`{"id":"e2","type":"t","data":null}`,
		`{"id":"e3","type":"t","unknown":{"deep":[{}]},"data":"text"}`,
		`{"id":"","type":"t"}`, `[]`, `null`, `{"id":1}`, `{"createdAt":"yesterday","id":"a","type":"b"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := eventstore.UnmarshalEnvelope(body)
		if err != nil {
			return
		}
		again, err := eventstore.MarshalEnvelope(e)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", e, err)
		}
		e2, err := eventstore.UnmarshalEnvelope(again)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", again, err)
		}
		if e2.ID != e.ID || e2.Type != e.Type || e2.Version != e.Version || !e2.CreatedAt.Equal(e.CreatedAt) ||
			!jsonEqual(e2.Data, e.Data) {
			t.Fatalf("round trip changed %+v into %+v", e, e2)
		}
	})
}

func jsonEqual(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
