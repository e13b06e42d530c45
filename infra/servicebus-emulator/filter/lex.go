package filter

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF       tokKind = iota
	tIdent             // regular identifier or keyword; text is as written
	tDelimited         // [name] or "name"; text is the unescaped name
	tString            // 'text'; text is the unescaped string
	tInt
	tFloat
	tParam // @name: SQL filter parameters, not available in config files
	tOp    // operators and punctuation; text is the operator
)

type token struct {
	kind tokKind
	pos  int
	text string
}

// keywords reserved in filters and actions; a property with such a name
// must be written [delimited].
var keywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "IN": true, "LIKE": true, "ESCAPE": true,
	"IS": true, "NULL": true, "EXISTS": true, "TRUE": true, "FALSE": true,
	"SET": true, "REMOVE": true,
}

func (t token) is(kw string) bool { return t.kind == tIdent && strings.EqualFold(t.text, kw) }

func (t token) isOp(op string) bool { return t.kind == tOp && t.text == op }

func (t token) keyword() bool { return t.kind == tIdent && keywords[strings.ToUpper(t.text)] }

// lex splits expr into tokens.
func lex(expr string) ([]token, *SyntaxError) {
	var toks []token
	bad := func(pos int, msg string) *SyntaxError { return &SyntaxError{Expr: expr, Pos: pos, Msg: msg} }
	i := 0
	for i < len(expr) {
		r, w := utf8.DecodeRuneInString(expr[i:])
		switch {
		case unicode.IsSpace(r):
			i += w
		case unicode.IsLetter(r):
			start := i
			for i < len(expr) {
				r, w := utf8.DecodeRuneInString(expr[i:])
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				i += w
			}
			toks = append(toks, token{tIdent, start, expr[start:i]})
		case r >= '0' && r <= '9' || r == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			start := i
			k := tInt
			for i < len(expr) && expr[i] >= '0' && expr[i] <= '9' {
				i++
			}
			if i < len(expr) && expr[i] == '.' {
				k = tFloat
				i++
				for i < len(expr) && expr[i] >= '0' && expr[i] <= '9' {
					i++
				}
			}
			if i < len(expr) && (expr[i] == 'e' || expr[i] == 'E') {
				k = tFloat
				i++
				if i < len(expr) && (expr[i] == '+' || expr[i] == '-') {
					i++
				}
				digits := i
				for i < len(expr) && expr[i] >= '0' && expr[i] <= '9' {
					i++
				}
				if i == digits {
					return nil, bad(start, "malformed number: exponent without digits")
				}
			}
			if i < len(expr) {
				if r, _ := utf8.DecodeRuneInString(expr[i:]); unicode.IsLetter(r) || r == '_' {
					return nil, bad(start, "malformed number")
				}
			}
			toks = append(toks, token{k, start, expr[start:i]})
		case r == '\'' || r == '"' || r == '[':
			start := i
			closer := byte(r)
			k := tString
			switch r {
			case '"':
				k = tDelimited
			case '[':
				k = tDelimited
				closer = ']'
			}
			var b strings.Builder
			i++
			closed := false
			for i < len(expr) {
				c := expr[i]
				if c == closer {
					if i+1 < len(expr) && expr[i+1] == closer {
						b.WriteByte(c)
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				if k == tString {
					return nil, bad(start, "unterminated string constant")
				}
				return nil, bad(start, "unterminated delimited identifier")
			}
			if k == tDelimited && b.Len() == 0 {
				return nil, bad(start, "empty delimited identifier")
			}
			toks = append(toks, token{k, start, b.String()})
		case r == '@':
			start := i
			i++
			for i < len(expr) {
				r, w := utf8.DecodeRuneInString(expr[i:])
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				i += w
			}
			toks = append(toks, token{tParam, start, expr[start:i]})
		default:
			start := i
			two := ""
			if i+1 < len(expr) {
				two = expr[i : i+2]
			}
			switch two {
			case "<>", "!=", "<=", ">=":
				toks = append(toks, token{tOp, start, two})
				i += 2
				continue
			}
			switch r {
			case '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ',', '.', ';':
				toks = append(toks, token{tOp, start, string(r)})
				i++
			default:
				return nil, bad(start, "unexpected character "+quoteRune(r))
			}
		}
	}
	toks = append(toks, token{tEOF, len(expr), ""})
	return toks, nil
}

func quoteRune(r rune) string {
	if r == utf8.RuneError {
		return "(invalid UTF-8)"
	}
	return "'" + string(r) + "'"
}
