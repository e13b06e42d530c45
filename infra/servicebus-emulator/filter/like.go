package filter

import (
	"errors"
	"math"
	"unicode/utf8"
)

func fmod(x, y float64) float64 { return math.Mod(x, y) }

var errTrailingEscape = errors.New("LIKE pattern ends with its escape character")

// Pattern items.
const (
	likeLiteral = iota
	likeOne     // _
	likeMany    // %
)

// likeItem reads the pattern item at p[i:].
func likeItem(p string, i int, esc rune, hasEsc bool) (kind int, r rune, width int, err error) {
	r, w := utf8.DecodeRuneInString(p[i:])
	if hasEsc && r == esc {
		if i+w >= len(p) {
			return 0, 0, 0, errTrailingEscape
		}
		r2, w2 := utf8.DecodeRuneInString(p[i+w:])
		return likeLiteral, r2, w + w2, nil
	}
	switch r {
	case '%':
		return likeMany, r, w, nil
	case '_':
		return likeOne, r, w, nil
	}
	return likeLiteral, r, w, nil
}

// like matches s against a LIKE pattern, case-sensitively, one character
// per rune. It backtracks only to the last %, so it runs in O(len(s)*len(p))
// at worst and does not allocate.
func like(s, p string, esc rune, hasEsc bool) (bool, error) {
	si, pi := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			kind, r, w, err := likeItem(p, pi, esc, hasEsc)
			if err != nil {
				return false, err
			}
			switch kind {
			case likeMany:
				pi += w
				starP, starS = pi, si
				continue
			case likeOne:
				_, sw := utf8.DecodeRuneInString(s[si:])
				si += sw
				pi += w
				continue
			default:
				sr, sw := utf8.DecodeRuneInString(s[si:])
				if sr == r {
					si += sw
					pi += w
					continue
				}
			}
		}
		if starP < 0 {
			return false, nil
		}
		_, sw := utf8.DecodeRuneInString(s[starS:])
		starS += sw
		si, pi = starS, starP
	}
	for pi < len(p) {
		kind, _, w, err := likeItem(p, pi, esc, hasEsc)
		if err != nil {
			return false, err
		}
		if kind != likeMany {
			return false, nil
		}
		pi += w
	}
	return true, nil
}

// checkPattern reports a pattern that can never be evaluated.
func checkPattern(p string, esc rune, hasEsc bool) error {
	for i := 0; i < len(p); {
		_, _, w, err := likeItem(p, i, esc, hasEsc)
		if err != nil {
			return err
		}
		i += w
	}
	return nil
}
