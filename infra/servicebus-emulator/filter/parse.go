package filter

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// MaxExpressionLength is Service Bus's limit on a SQL filter or action,
	// in characters.
	MaxExpressionLength = 1024
	// maxDepth bounds nesting (parentheses, NOT, unary signs, IN lists) so
	// that parsing and evaluation cannot exhaust the stack.
	maxDepth = 64
)

// SQLFilter is a parsed SQL filter expression.
type SQLFilter struct {
	expr string
	root node
}

// ParseSQL parses a Service Bus SQL filter expression.
func ParseSQL(expr string) (Filter, error) {
	f, err := parseSQL(expr, true)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// parseSQL parses without the length and depth limits when limits is false,
// which the round-trip fuzz test needs: the canonical form can be longer.
func parseSQL(expr string, limits bool) (*SQLFilter, error) {
	p, err := newParser(expr, limits)
	if err != nil {
		return nil, err
	}
	root, err := p.parseCondition()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	return &SQLFilter{expr: expr, root: root}, nil
}

// Match implements Filter: true only when the expression is TRUE (not
// FALSE, not unknown).
func (f *SQLFilter) Match(m Message) (bool, error) {
	v, err := f.root.eval(m)
	if err != nil {
		return false, f.withExpr(err)
	}
	t, ok := truth(v)
	if !ok {
		return false, &EvalError{Expr: f.expr, Msg: "filter is a " + v.k.String() + ", not a boolean"}
	}
	return t == triTrue, nil
}

func (f *SQLFilter) withExpr(err error) error {
	if e, ok := err.(*EvalError); ok {
		e.Expr = f.expr
	}
	return err
}

// Expression returns the expression as it was written.
func (f *SQLFilter) Expression() string { return f.expr }

// String returns the canonical form of the expression: keywords in upper
// case, minimal parentheses. ParseSQL(f.String()) yields the same filter.
func (f *SQLFilter) String() string {
	var b strings.Builder
	f.root.write(&b)
	return b.String()
}

type parser struct {
	expr   string
	toks   []token
	i      int
	depth  int
	limits bool
}

func newParser(expr string, limits bool) (*parser, error) {
	if limits {
		if n := utf8.RuneCountInString(expr); n > MaxExpressionLength {
			pos := 0
			for i := 0; i < MaxExpressionLength; i++ {
				_, w := utf8.DecodeRuneInString(expr[pos:])
				pos += w
			}
			return nil, &SyntaxError{Expr: expr, Pos: pos, Msg: "expression longer than " + strconv.Itoa(MaxExpressionLength) + " characters"}
		}
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &SyntaxError{Expr: expr, Pos: 0, Msg: "empty expression"}
	}
	toks, serr := lex(expr)
	if serr != nil {
		return nil, serr
	}
	return &parser{expr: expr, toks: toks, limits: limits}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) fail(pos int, msg string) *SyntaxError {
	return &SyntaxError{Expr: p.expr, Pos: pos, Msg: msg}
}

func (p *parser) unexpected(t token) *SyntaxError {
	switch t.kind {
	case tEOF:
		return p.fail(t.pos, "unexpected end of expression")
	case tString:
		return p.fail(t.pos, "unexpected string constant")
	case tParam:
		return p.fail(t.pos, "unexpected parameter "+t.text)
	}
	return p.fail(t.pos, "unexpected "+strconv.Quote(t.text))
}

func (p *parser) expectOp(op string) (token, error) {
	t := p.next()
	if !t.isOp(op) {
		return t, p.fail(t.pos, "expected "+strconv.Quote(op)+", found "+describe(t))
	}
	return t, nil
}

func describe(t token) string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.limits && p.depth > maxDepth {
		return p.fail(pos, "expression nested deeper than "+strconv.Itoa(maxDepth)+" levels")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseCondition parses an expression used as a truth value.
func (p *parser) parseCondition() (node, error) {
	pos := p.peek().pos
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	return n, p.mustBeCondition(n, pos)
}

func (p *parser) mustBeCondition(n node, pos int) error {
	if !canBeBool(n) {
		return p.fail(pos, "expected a condition, found a value")
	}
	return nil
}

func (p *parser) mustBeValue(n node, pos int) error {
	if isPredicate(n) {
		return p.fail(pos, "expected a value, found a condition")
	}
	if c, ok := n.(*constNode); ok && c.v.k == kBool {
		return p.fail(pos, "expected a number or string, found a boolean")
	}
	return nil
}

func isPredicate(n node) bool {
	switch n.(type) {
	case *logicNode, *notNode, *cmpNode, *inNode, *likeNode, *isNullNode, *existsNode:
		return true
	}
	return false
}

func canBeBool(n node) bool {
	switch x := n.(type) {
	case *constNode:
		return x.v.k == kBool || x.v.k == kNull
	case *propNode, *funcNode:
		return true
	case *unaryNode, *arithNode:
		return false
	}
	return isPredicate(n)
}

func (p *parser) parseOr() (node, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peek().is("OR") {
		op := p.next()
		rpos := p.peek().pos
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if err := p.mustBeCondition(l, op.pos); err != nil {
			return nil, err
		}
		if err := p.mustBeCondition(r, rpos); err != nil {
			return nil, err
		}
		l = &logicNode{and: false, l: l, r: r, pos: op.pos}
	}
	return l, nil
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.peek().is("AND") {
		op := p.next()
		rpos := p.peek().pos
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		if err := p.mustBeCondition(l, op.pos); err != nil {
			return nil, err
		}
		if err := p.mustBeCondition(r, rpos); err != nil {
			return nil, err
		}
		l = &logicNode{and: true, l: l, r: r, pos: op.pos}
	}
	return l, nil
}

func (p *parser) parseNot() (node, error) {
	if !p.peek().is("NOT") {
		return p.parsePredicate()
	}
	op := p.next()
	if err := p.enter(op.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	xpos := p.peek().pos
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	if err := p.mustBeCondition(x, xpos); err != nil {
		return nil, err
	}
	return &notNode{x: x, pos: op.pos}, nil
}

func (p *parser) parsePredicate() (node, error) {
	t := p.peek()
	if t.is("EXISTS") {
		p.next()
		if _, err := p.expectOp("("); err != nil {
			return nil, err
		}
		prop, err := p.parseProperty()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return &existsNode{p: prop}, nil
	}
	l, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	t = p.peek()
	switch {
	case t.kind == tOp && (t.text == "=" || t.text == "<>" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">="):
		p.next()
		r, err := p.parseAdditive()
		if err != nil {
			return nil, err
		}
		return &cmpNode{op: t.text, l: l, r: r, pos: t.pos}, nil
	case t.is("IS"):
		p.next()
		prop, ok := l.(*propNode)
		if !ok {
			return nil, p.fail(t.pos, "IS NULL applies to a property")
		}
		not := false
		if p.peek().is("NOT") {
			p.next()
			not = true
		}
		if n := p.next(); !n.is("NULL") {
			return nil, p.fail(n.pos, "expected NULL, found "+describe(n))
		}
		return &isNullNode{p: prop, not: not}, nil
	case t.is("NOT") && (p.peekAt(1).is("IN") || p.peekAt(1).is("LIKE")):
		p.next()
		return p.parseInOrLike(l, true)
	case t.is("IN") || t.is("LIKE"):
		return p.parseInOrLike(l, false)
	}
	return l, nil
}

func (p *parser) parseInOrLike(x node, not bool) (node, error) {
	t := p.next()
	if err := p.mustBeValue(x, t.pos); err != nil {
		return nil, err
	}
	if t.is("IN") {
		open, err := p.expectOp("(")
		if err != nil {
			return nil, err
		}
		if err := p.enter(open.pos); err != nil {
			return nil, err
		}
		defer p.leave()
		n := &inNode{x: x, not: not}
		for {
			it, err := p.parseAdditive()
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, it)
			sep := p.next()
			if sep.isOp(")") {
				return n, nil
			}
			if !sep.isOp(",") {
				return nil, p.fail(sep.pos, "expected \",\" or \")\" in IN list, found "+describe(sep))
			}
		}
	}
	n := &likeNode{x: x, not: not, pos: t.pos}
	ppos := p.peek().pos
	pat, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	n.pattern = pat
	var esc rune
	hasEsc := false
	if p.peek().is("ESCAPE") {
		e := p.next()
		if n.escape, err = p.parseAdditive(); err != nil {
			return nil, err
		}
		if c, ok := n.escape.(*constNode); ok && c.v.k != kNull {
			if esc, ok = escapeRune(c.v); !ok {
				return nil, p.fail(e.pos, "ESCAPE needs a string of one character")
			}
			hasEsc = true
		}
	}
	if c, ok := pat.(*constNode); ok && c.v.k != kNull {
		if c.v.k != kString {
			return nil, p.fail(ppos, "LIKE pattern must be a string")
		}
		if n.escape == nil || hasEsc {
			if err := checkPattern(c.v.s, esc, hasEsc); err != nil {
				return nil, p.fail(ppos, err.Error())
			}
		}
	}
	return n, nil
}

func (p *parser) parseAdditive() (node, error) {
	lpos := p.peek().pos
	l, err := p.parseMultiplicative()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.isOp("+") || t.isOp("-"); t = p.peek() {
		p.next()
		rpos := p.peek().pos
		r, err := p.parseMultiplicative()
		if err != nil {
			return nil, err
		}
		if err := p.mustBeValue(l, lpos); err != nil {
			return nil, err
		}
		if err := p.mustBeValue(r, rpos); err != nil {
			return nil, err
		}
		l = &arithNode{op: t.text[0], l: l, r: r, pos: t.pos}
	}
	return l, nil
}

func (p *parser) parseMultiplicative() (node, error) {
	lpos := p.peek().pos
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.isOp("*") || t.isOp("/") || t.isOp("%"); t = p.peek() {
		p.next()
		rpos := p.peek().pos
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if err := p.mustBeValue(l, lpos); err != nil {
			return nil, err
		}
		if err := p.mustBeValue(r, rpos); err != nil {
			return nil, err
		}
		l = &arithNode{op: t.text[0], l: l, r: r, pos: t.pos}
	}
	return l, nil
}

func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	if !t.isOp("-") && !t.isOp("+") {
		return p.parsePrimary()
	}
	p.next()
	if n := p.peek(); t.text == "-" && n.kind == tInt && n.text == "9223372036854775808" {
		// The one int64 whose magnitude is not an int64 itself.
		p.next()
		return &constNode{v: value{k: kInt, i: -1 << 63}, pos: t.pos}, nil
	}
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	xpos := p.peek().pos
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if err := p.mustBeValue(x, xpos); err != nil {
		return nil, err
	}
	return &unaryNode{neg: t.text == "-", x: x, pos: t.pos}, nil
}

func (p *parser) parsePrimary() (node, error) {
	t := p.peek()
	switch t.kind {
	case tOp:
		if !t.isOp("(") {
			return nil, p.unexpected(t)
		}
		p.next()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer p.leave()
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return n, nil
	case tString:
		p.next()
		return &constNode{v: value{k: kString, s: t.text}, pos: t.pos}, nil
	case tInt:
		p.next()
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, p.fail(t.pos, "integer constant out of the int64 range")
		}
		return &constNode{v: value{k: kInt, i: i}, pos: t.pos}, nil
	case tFloat:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.fail(t.pos, "number out of the float64 range")
		}
		return &constNode{v: value{k: kFloat, f: f}, pos: t.pos}, nil
	case tParam:
		return nil, p.fail(t.pos, "filter parameters ("+t.text+") are not supported in configured rules")
	case tIdent:
		switch strings.ToUpper(t.text) {
		case "TRUE", "FALSE":
			p.next()
			return &constNode{v: boolValue(strings.EqualFold(t.text, "TRUE")), pos: t.pos}, nil
		case "NULL":
			p.next()
			return &constNode{pos: t.pos}, nil
		}
		if p.peekAt(1).isOp("(") && !t.keyword() {
			return p.parseFunction()
		}
	}
	return p.parseProperty()
}

func (p *parser) parseFunction() (node, error) {
	t := p.next()
	p.next() // (
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	switch strings.ToLower(t.text) {
	case "newid":
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return &funcNode{pos: t.pos}, nil
	case "property", "p":
		apos := p.peek().pos
		arg, err := p.parseAdditive()
		if err != nil {
			return nil, err
		}
		if err := p.mustBeValue(arg, apos); err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return &funcNode{arg: arg, pos: t.pos}, nil
	}
	return nil, p.fail(t.pos, "unknown function "+strconv.Quote(t.text))
}

// parseProperty parses [sys.|user.]name.
func (p *parser) parseProperty() (*propNode, error) {
	t := p.next()
	switch t.kind {
	case tDelimited:
		return &propNode{name: t.text, pos: t.pos}, nil
	case tIdent:
	default:
		return nil, p.fail(t.pos, "expected a property, found "+describe(t))
	}
	scope := strings.ToLower(t.text)
	if (scope == "sys" || scope == "user") && p.peek().isOp(".") {
		p.next()
		n := p.next()
		if n.kind != tIdent && n.kind != tDelimited {
			return nil, p.fail(n.pos, "expected a property name after "+strconv.Quote(t.text+"."))
		}
		if scope == "user" {
			return &propNode{name: n.text, pos: t.pos}, nil
		}
		canon, ok := CanonicalSystemName(n.text)
		if !ok {
			return nil, p.fail(n.pos, "unknown system property "+strconv.Quote(n.text))
		}
		return &propNode{sys: true, name: canon, pos: t.pos}, nil
	}
	if t.keyword() {
		return nil, p.fail(t.pos, "unexpected keyword "+strings.ToUpper(t.text))
	}
	return &propNode{name: t.text, pos: t.pos}, nil
}
