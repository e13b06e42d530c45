package funcapp

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecodeInvocation feeds arbitrary bodies to the invocation decoders: none may panic, and
// what they accept must be well-formed. Seeds: the golden payloads, the malformed ones and the
// committed corpus in testdata/fuzz.
func FuzzDecodeInvocation(f *testing.F) {
	for _, pattern := range []string{"testdata/invocations/*.json", "testdata/malformed/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		inv, err := decodeInvocation(body)
		if err != nil {
			return
		}
		if inv.Data == nil {
			t.Fatal("accepted an invocation without Data")
		}
		if m, err := inv.message(); err == nil {
			if m.Body == nil || m.DeliveryCount < 0 {
				t.Fatalf("accepted message with nil body or negative delivery count: %+v", m)
			}
		}
		if ti, err := inv.timer(); err == nil {
			for _, tm := range []interface{ Location() *time.Location }{ti.Last, ti.Next, ti.LastUpdated} {
				if tm.Location() != time.UTC {
					t.Fatalf("timer time not in UTC: %+v", ti)
				}
			}
		}
		if req, err := inv.httpRequest(context.Background()); err == nil {
			if req.Method == "" || req.URL == nil || req.Body == nil {
				t.Fatalf("accepted an incomplete request: %+v", req)
			}
		}
	})
}
