package filter

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printing precedences, loosest first; they mirror the parser's levels.
const (
	precOr = iota + 1
	precAnd
	precNot
	precPredicate
	precAdd
	precMul
	precUnary
	precPrimary
)

// node is one element of a parsed expression.
type node interface {
	eval(m Message) (value, error)
	prec() int
	write(b *strings.Builder)
}

func evalErr(pos int, format string, args ...any) error {
	return &EvalError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// writeChild writes n, in parentheses when it binds looser than min.
func writeChild(b *strings.Builder, n node, min int) {
	if n.prec() < min {
		b.WriteByte('(')
		n.write(b)
		b.WriteByte(')')
		return
	}
	n.write(b)
}

// --- constants and properties ---

type constNode struct {
	v   value
	pos int
}

func (n *constNode) eval(Message) (value, error) { return n.v, nil }
func (n *constNode) prec() int                   { return precPrimary }
func (n *constNode) write(b *strings.Builder) {
	switch n.v.k {
	case kNull:
		b.WriteString("NULL")
	case kBool:
		if n.v.i != 0 {
			b.WriteString("TRUE")
		} else {
			b.WriteString("FALSE")
		}
	case kInt:
		b.WriteString(strconv.FormatInt(n.v.i, 10))
	case kFloat:
		s := strconv.FormatFloat(n.v.f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		b.WriteString(s)
	case kString:
		writeQuoted(b, n.v.s, '\'', '\'')
	}
}

func writeQuoted(b *strings.Builder, s string, open, close byte) {
	b.WriteByte(open)
	for i := 0; i < len(s); i++ {
		if s[i] == close {
			b.WriteByte(close)
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(close)
}

type propNode struct {
	sys  bool
	name string // canonical for system properties
	pos  int
}

func (n *propNode) lookup(m Message) (any, bool) {
	if n.sys {
		return m.System(n.name)
	}
	return m.User(n.name)
}

func (n *propNode) eval(m Message) (value, error) {
	v, _ := n.lookup(m)
	return fromAny(v), nil
}

func (n *propNode) prec() int { return precPrimary }

func (n *propNode) write(b *strings.Builder) {
	if n.sys {
		b.WriteString("sys.")
	}
	if isRegularIdentifier(n.name) && !keywords[strings.ToUpper(n.name)] {
		b.WriteString(n.name)
		return
	}
	writeQuoted(b, n.name, '[', ']')
}

func isRegularIdentifier(s string) bool {
	for i, r := range s {
		if i == 0 && !unicode.IsLetter(r) {
			return false
		}
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}

// funcNode is newid() (arg == nil) or property(name).
type funcNode struct {
	arg node
	pos int
}

func (n *funcNode) eval(m Message) (value, error) {
	if n.arg == nil {
		return value{k: kString, s: newID()}, nil
	}
	a, err := n.arg.eval(m)
	if err != nil || a.k == kNull {
		return value{}, err
	}
	if a.k != kString {
		return value{}, evalErr(n.pos, "property() needs a string name, got %s", a.k)
	}
	name := a.s
	if len(name) > 4 && strings.EqualFold(name[:4], "sys.") {
		canon, ok := CanonicalSystemName(name[4:])
		if !ok {
			return value{}, evalErr(n.pos, "unknown system property %q", name[4:])
		}
		v, _ := m.System(canon)
		return fromAny(v), nil
	}
	if len(name) > 5 && strings.EqualFold(name[:5], "user.") {
		name = name[5:]
	}
	v, _ := m.User(name)
	return fromAny(v), nil
}

func (n *funcNode) prec() int { return precPrimary }

func (n *funcNode) write(b *strings.Builder) {
	if n.arg == nil {
		b.WriteString("newid()")
		return
	}
	b.WriteString("property(")
	n.arg.write(b)
	b.WriteByte(')')
}

// newID returns a random (version 4) GUID in its usual text form.
func newID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// --- arithmetic ---

type unaryNode struct {
	neg bool
	x   node
	pos int
}

func (n *unaryNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil || v.k == kNull {
		return value{}, err
	}
	switch v.k {
	case kInt:
		if n.neg {
			v.i = -v.i
		}
		return v, nil
	case kFloat:
		if n.neg {
			v.f = -v.f
		}
		return v, nil
	}
	return value{}, evalErr(n.pos, "unary %s needs a number, got %s", n.op(), v.k)
}

func (n *unaryNode) op() string {
	if n.neg {
		return "-"
	}
	return "+"
}

func (n *unaryNode) prec() int { return precUnary }

func (n *unaryNode) write(b *strings.Builder) {
	b.WriteString(n.op())
	var inner strings.Builder
	writeChild(&inner, n.x, precUnary)
	if s := inner.String(); s[0] == '-' || s[0] == '+' {
		b.WriteByte(' ')
	}
	writeChild(b, n.x, precUnary)
}

type arithNode struct {
	op   byte // + - * / %
	l, r node
	pos  int
}

func (n *arithNode) eval(m Message) (value, error) {
	a, err := n.l.eval(m)
	if err != nil {
		return value{}, err
	}
	c, err := n.r.eval(m)
	if err != nil || a.k == kNull || c.k == kNull {
		return value{}, err
	}
	switch {
	case a.k == kInt && c.k == kInt:
		x, y := a.i, c.i
		switch n.op {
		case '+':
			return value{k: kInt, i: x + y}, nil
		case '-':
			return value{k: kInt, i: x - y}, nil
		case '*':
			return value{k: kInt, i: x * y}, nil
		}
		if y == 0 {
			return value{}, evalErr(n.pos, "integer division by zero")
		}
		if n.op == '/' {
			return value{k: kInt, i: x / y}, nil
		}
		return value{k: kInt, i: x % y}, nil
	case a.numeric() && c.numeric():
		x, y := a.float(), c.float()
		var f float64
		switch n.op {
		case '+':
			f = x + y
		case '-':
			f = x - y
		case '*':
			f = x * y
		case '/':
			f = x / y
		case '%':
			f = fmod(x, y)
		}
		return value{k: kFloat, f: f}, nil
	case a.k == kString && c.k == kString && n.op == '+':
		return value{k: kString, s: a.s + c.s}, nil
	}
	return value{}, evalErr(n.pos, "operator %c is not defined for %s and %s", n.op, a.k, c.k)
}

func (n *arithNode) prec() int {
	if n.op == '+' || n.op == '-' {
		return precAdd
	}
	return precMul
}

func (n *arithNode) write(b *strings.Builder) {
	p := n.prec()
	writeChild(b, n.l, p)
	b.WriteByte(' ')
	b.WriteByte(n.op)
	b.WriteByte(' ')
	writeChild(b, n.r, p+1)
}

// --- predicates ---

type cmpNode struct {
	op   string // = <> != < <= > >=
	l, r node
	pos  int
}

func (n *cmpNode) eval(m Message) (value, error) {
	a, err := n.l.eval(m)
	if err != nil {
		return value{}, err
	}
	c, err := n.r.eval(m)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case "=":
		return triValue(equal(a, c)), nil
	case "<>", "!=":
		return triValue(not(equal(a, c))), nil
	}
	if a.k == kNull || c.k == kNull {
		return value{}, nil
	}
	o, comparable, ordered := compare(a, c)
	if !comparable || !ordered {
		return value{}, nil
	}
	switch n.op {
	case "<":
		return boolValue(o < 0), nil
	case "<=":
		return boolValue(o <= 0), nil
	case ">":
		return boolValue(o > 0), nil
	}
	return boolValue(o >= 0), nil
}

func (n *cmpNode) prec() int { return precPredicate }

func (n *cmpNode) write(b *strings.Builder) {
	writeChild(b, n.l, precAdd)
	b.WriteByte(' ')
	b.WriteString(n.op)
	b.WriteByte(' ')
	writeChild(b, n.r, precAdd)
}

func not(t tri) tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

type logicNode struct {
	and  bool
	l, r node
	pos  int
}

func condition(n node, m Message, pos int) (tri, error) {
	v, err := n.eval(m)
	if err != nil {
		return triUnknown, err
	}
	t, ok := truth(v)
	if !ok {
		return triUnknown, evalErr(pos, "condition is a %s, not a boolean", v.k)
	}
	return t, nil
}

func (n *logicNode) eval(m Message) (value, error) {
	a, err := condition(n.l, m, n.pos)
	if err != nil {
		return value{}, err
	}
	if n.and && a == triFalse {
		return boolValue(false), nil
	}
	if !n.and && a == triTrue {
		return boolValue(true), nil
	}
	c, err := condition(n.r, m, n.pos)
	if err != nil {
		return value{}, err
	}
	if n.and {
		switch {
		case c == triFalse:
			return boolValue(false), nil
		case a == triTrue && c == triTrue:
			return boolValue(true), nil
		}
		return value{}, nil
	}
	if c == triTrue {
		return boolValue(true), nil
	}
	if a == triFalse && c == triFalse {
		return boolValue(false), nil
	}
	return value{}, nil
}

func (n *logicNode) prec() int {
	if n.and {
		return precAnd
	}
	return precOr
}

func (n *logicNode) write(b *strings.Builder) {
	p := n.prec()
	writeChild(b, n.l, p)
	if n.and {
		b.WriteString(" AND ")
	} else {
		b.WriteString(" OR ")
	}
	writeChild(b, n.r, p+1)
}

type notNode struct {
	x   node
	pos int
}

func (n *notNode) eval(m Message) (value, error) {
	t, err := condition(n.x, m, n.pos)
	if err != nil {
		return value{}, err
	}
	return triValue(not(t)), nil
}

func (n *notNode) prec() int { return precNot }

func (n *notNode) write(b *strings.Builder) {
	b.WriteString("NOT ")
	writeChild(b, n.x, precNot)
}

type inNode struct {
	x     node
	items []node
	not   bool
}

func (n *inNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil || v.k == kNull {
		return value{}, err
	}
	result := triFalse
	for _, it := range n.items {
		w, err := it.eval(m)
		if err != nil {
			return value{}, err
		}
		switch equal(v, w) {
		case triTrue:
			result = triTrue
		case triUnknown:
			result = triUnknown
		}
		if result == triTrue {
			break
		}
	}
	if n.not {
		result = not(result)
	}
	return triValue(result), nil
}

func (n *inNode) prec() int { return precPredicate }

func (n *inNode) write(b *strings.Builder) {
	writeChild(b, n.x, precAdd)
	if n.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, it := range n.items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeChild(b, it, precAdd)
	}
	b.WriteByte(')')
}

type likeNode struct {
	x, pattern, escape node // escape may be nil
	not                bool
	pos                int
}

func (n *likeNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil {
		return value{}, err
	}
	p, err := n.pattern.eval(m)
	if err != nil {
		return value{}, err
	}
	esc, hasEsc := rune(0), false
	if n.escape != nil {
		e, err := n.escape.eval(m)
		if err != nil {
			return value{}, err
		}
		if e.k == kNull {
			return value{}, nil
		}
		r, ok := escapeRune(e)
		if !ok {
			return value{}, evalErr(n.pos, "ESCAPE needs a string of one character")
		}
		esc, hasEsc = r, true
	}
	if v.k == kNull || p.k == kNull || v.k != kString {
		return value{}, nil
	}
	if p.k != kString {
		return value{}, evalErr(n.pos, "LIKE pattern is a %s, not a string", p.k)
	}
	if !isConst(n.pattern) || n.escape != nil && !isConst(n.escape) {
		// Constant patterns were checked by the parser; others are checked
		// here so a bad one fails the same way whatever the value.
		if err := checkPattern(p.s, esc, hasEsc); err != nil {
			return value{}, evalErr(n.pos, "%v", err)
		}
	}
	ok, err := like(v.s, p.s, esc, hasEsc)
	if err != nil {
		return value{}, evalErr(n.pos, "%v", err)
	}
	return boolValue(ok != n.not), nil
}

func escapeRune(e value) (rune, bool) {
	if e.k != kString || utf8.RuneCountInString(e.s) != 1 {
		return 0, false
	}
	r, _ := utf8.DecodeRuneInString(e.s)
	return r, true
}

func (n *likeNode) prec() int { return precPredicate }

func (n *likeNode) write(b *strings.Builder) {
	writeChild(b, n.x, precAdd)
	if n.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" LIKE ")
	writeChild(b, n.pattern, precAdd)
	if n.escape != nil {
		b.WriteString(" ESCAPE ")
		writeChild(b, n.escape, precAdd)
	}
}

type isNullNode struct {
	p   *propNode
	not bool
}

func (n *isNullNode) eval(m Message) (value, error) {
	v, _ := n.p.lookup(m)
	return boolValue((v == nil) != n.not), nil
}

func (n *isNullNode) prec() int { return precPredicate }

func (n *isNullNode) write(b *strings.Builder) {
	n.p.write(b)
	if n.not {
		b.WriteString(" IS NOT NULL")
	} else {
		b.WriteString(" IS NULL")
	}
}

type existsNode struct{ p *propNode }

func (n *existsNode) eval(m Message) (value, error) {
	_, ok := n.p.lookup(m)
	return boolValue(ok), nil
}

func (n *existsNode) prec() int { return precPredicate }

func (n *existsNode) write(b *strings.Builder) {
	b.WriteString("EXISTS(")
	n.p.write(b)
	b.WriteByte(')')
}

func isConst(n node) bool {
	_, ok := n.(*constNode)
	return ok
}
