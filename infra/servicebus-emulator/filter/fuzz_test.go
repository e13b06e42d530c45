package filter

import (
	"errors"
	"testing"
	"time"
)

func fuzzMessage() *MapMessage {
	return &MapMessage{
		SysProps:  map[string]any{"Label": "l", "SequenceNumber": int64(1), "EnqueuedTimeUtc": time.Unix(0, 0)},
		UserProps: map[string]any{"a": "x", "b": int64(2), "c": 2.5, "d": true, "e": nil},
	}
}

// FuzzParseSQL checks that any input either parses or fails with a
// *SyntaxError inside the input, that matching never panics, and that the
// canonical form parses back to itself.
func FuzzParseSQL(f *testing.F) {
	f.Add("type IN ('a','b','c') AND user.v > 2")
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseSQL(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(expr) {
				t.Fatalf("ParseSQL(%q): bad error %#v", expr, err)
			}
			return
		}
		_, _ = flt.Match(fuzzMessage())
		canon := flt.(*SQLFilter).String()
		again, err := parseSQL(canon, false)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, expr, err)
		}
		if s := again.String(); s != canon {
			t.Fatalf("round trip of %q: %q became %q", expr, canon, s)
		}
	})
}

// FuzzParseAction is the same for rule actions.
func FuzzParseAction(f *testing.F) {
	f.Add("SET a = b + 1; REMOVE c")
	f.Fuzz(func(t *testing.T, expr string) {
		a, err := ParseAction(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(expr) {
				t.Fatalf("ParseAction(%q): bad error %#v", expr, err)
			}
			return
		}
		_ = a.Apply(fuzzMessage())
		canon := a.String()
		again, err := parseAction(canon, false)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, expr, err)
		}
		if s := again.String(); s != canon {
			t.Fatalf("round trip of %q: %q became %q", expr, canon, s)
		}
	})
}
