package domain_test

import (
	"testing"

	"meterline/functions/journal/domain"
)

func TestCanonicalJSON(t *testing.T) {
	for in, want := range map[string]string{
		` { "b" : 1 , "a" : [ true , null , "x" ] } `: `{"b":1,"a":[true,null,"x"]}`, // key order kept
		`"\u003ca\u003e \u0026 \/ \u00e9"`:            `"<a> & / é"`,                 // one way of escaping
		`"<a> & / é"`:                                 `"<a> & / é"`,
		`[1.0, 1e2, -0, 12345678901234567890]`:        `[1.0,1e2,-0,12345678901234567890]`, // numbers as written
		`{"nested":{"deep":[[],{}]}}`:                 `{"nested":{"deep":[[],{}]}}`,
		"\"tab\\tnew\\nline\\u2028\"":                 "\"tab\\tnew\\nline\\u2028\"",
		`"\ud83d\ude00"`:                              `"😀"`,
	} {
		got, err := domain.CanonicalJSON([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("CanonicalJSON(%s) = %s, %v; want %s", in, got, err, want)
		}
		again, _ := domain.CanonicalJSON(got)
		if string(again) != string(got) {
			t.Errorf("not idempotent: %s -> %s", got, again)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":}`, `1 2`, `[1,]`, `{} {}`} {
		if got, err := domain.CanonicalJSON([]byte(bad)); err == nil {
			t.Errorf("CanonicalJSON(%q) = %s; want an error", bad, got)
		}
	}
}
