package tablestore

import (
	"strings"
	"testing"
)

// FuzzKeyEscaping: every valid key escapes to an allowed Table Storage key (no / \ # ? or
// control characters, at most 512 UTF-16 units) and back to itself.
func FuzzKeyEscaping(f *testing.F) {
	for _, k := range []string{"a/b", `\`, "#?", "~41", "%2F", "it's", "tab\t", "\u0085", "é日本😀", strings.Repeat("/", 170)} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		esc, err := escapeKey(key)
		if err != nil {
			return
		}
		for _, r := range esc {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || strings.ContainsRune(`/\#?%'`, r) {
				t.Fatalf("escaped %q = %q contains %q", key, esc, r)
			}
		}
		if units := utf16Len(esc); units > 512 {
			t.Fatalf("escaped %q is %d UTF-16 units", key, units)
		}
		back, err := unescapeKey(esc)
		if err != nil || back != key {
			t.Fatalf("unescape(%q) = %q, %v; want %q", esc, back, err, key)
		}
	})
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func TestMalformedStoredKeys(t *testing.T) {
	for _, s := range []string{"~", "~4", "~ZZ", "a~2"} {
		if _, err := unescapeKey(s); err == nil {
			t.Errorf("unescapeKey(%q) accepted", s)
		}
	}
}
