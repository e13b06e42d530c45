package filter

import (
	"strconv"
	"strings"
)

// MaxActionStatements is Service Bus's limit on expressions per rule action.
const MaxActionStatements = 32

// Action is a parsed SQL rule action: SET and REMOVE statements applied, in
// order, to each message a rule matches.
type Action struct {
	expr  string
	stmts []actionStmt
}

type actionStmt struct {
	remove bool
	target *propNode
	value  node // nil for REMOVE
}

// ParseAction parses a rule action such as
//
//	SET user.priority = 'high', sys.Label = 'routed'; REMOVE temp
//
// Statements are separated by ';' or ','; after a comma the previous verb
// carries on (SET a = 1, b = 2).
func ParseAction(expr string) (*Action, error) { return parseAction(expr, true) }

func parseAction(expr string, limits bool) (*Action, error) {
	p, err := newParser(expr, limits)
	if err != nil {
		return nil, err
	}
	a := &Action{expr: expr}
	verb := ""
	for {
		t := p.peek()
		switch {
		case t.is("SET") || t.is("REMOVE"):
			verb = strings.ToUpper(t.text)
			p.next()
		case verb == "":
			return nil, p.fail(t.pos, "expected SET or REMOVE, found "+describe(t))
		}
		if len(a.stmts) == MaxActionStatements {
			return nil, p.fail(t.pos, "more than "+strconv.Itoa(MaxActionStatements)+" statements in one action")
		}
		target, err := p.parseProperty()
		if err != nil {
			return nil, err
		}
		st := actionStmt{remove: verb == "REMOVE", target: target}
		if target.sys && !settableSystem[target.name] {
			return nil, p.fail(target.pos, "system property "+target.name+" cannot be changed by an action")
		}
		if !st.remove {
			if _, err := p.expectOp("="); err != nil {
				return nil, err
			}
			if st.value, err = p.parseAdditive(); err != nil {
				return nil, err
			}
		}
		a.stmts = append(a.stmts, st)
		sep := p.next()
		switch {
		case sep.kind == tEOF:
			return a, nil
		case sep.isOp(";"):
			verb = ""
			if p.peek().kind == tEOF {
				return a, nil
			}
		case sep.isOp(","):
		default:
			return nil, p.fail(sep.pos, "expected \";\" or \",\" between statements, found "+describe(sep))
		}
	}
}

// Apply runs the statements against m in order; a later statement sees the
// changes of the earlier ones.
func (a *Action) Apply(m MutableMessage) error {
	for _, st := range a.stmts {
		t := st.target
		if st.remove {
			if t.sys {
				if err := m.SetSystem(t.name, nil); err != nil {
					return err
				}
				continue
			}
			m.RemoveUser(t.name)
			continue
		}
		v, err := st.value.eval(m)
		if err != nil {
			if e, ok := err.(*EvalError); ok {
				e.Expr = a.expr
			}
			return err
		}
		if t.sys {
			if err := m.SetSystem(t.name, v.toAny()); err != nil {
				return err
			}
			continue
		}
		if v.k == kNull {
			// SET x = NULL keeps the property with a null value.
			m.SetUser(t.name, nil)
			continue
		}
		m.SetUser(t.name, v.toAny())
	}
	return nil
}

// Expression returns the action as it was written.
func (a *Action) Expression() string { return a.expr }

// String returns the canonical form of the action.
func (a *Action) String() string {
	var b strings.Builder
	for i, st := range a.stmts {
		if i > 0 {
			b.WriteString("; ")
		}
		if st.remove {
			b.WriteString("REMOVE ")
			st.target.write(&b)
			continue
		}
		b.WriteString("SET ")
		st.target.write(&b)
		b.WriteString(" = ")
		writeChild(&b, st.value, precAdd)
	}
	return b.String()
}
