package filter_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"meterline/infra/servicebus-emulator/filter"
)

func msg() *filter.MapMessage {
	return &filter.MapMessage{
		SysProps: map[string]any{
			"MessageId":       "m-1",
			"CorrelationId":   "c-1",
			"ContentType":     "application/json",
			"Label":           "order.created",
			"To":              "billing",
			"SequenceNumber":  int64(42),
			"DeliveryCount":   int32(1),
			"EnqueuedTimeUtc": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			"TimeToLive":      time.Hour,
		},
		UserProps: map[string]any{
			"type":       "a",
			"v":          int64(3),
			"price":      9.5,
			"count32":    int32(7),
			"flag":       true,
			"Color":      "Red",
			"with space": "x",
			"nothing":    nil,
			"pct":        "50%",
			"region":     "eu-west",
		},
	}
}

func TestSQLMatch(t *testing.T) {
	cases := []struct {
		expr string
		want bool
	}{
		{"1=1", true},
		{"1=0", false},
		{"type = 'a'", true},
		{"type = 'A'", false}, // string comparison is case-sensitive
		{"TYPE = 'a'", true},  // property names are not
		{"user.type = 'a'", true},
		{"[user].type = 'a'", false}, // [user] is a property named "user", then ".type" is a syntax error? see below
		{"type IN ('a','b','c') AND user.v > 2", true},
		{"type IN ('x','y') AND user.v > 2", false},
		{"type NOT IN ('x','y')", true},
		{"v = 3.0", true},
		{"v < 3.5", true},
		{"price > 9", true},
		{"price >= 9.5 AND price <= 9.5", true},
		{"count32 = 7", true},
		{"v <> 3", false},
		{"v != 4", true},
		{"flag", true},
		{"flag = TRUE", true},
		{"NOT flag", false},
		{"missing = 1", false},
		{"NOT (missing = 1)", false}, // unknown stays unknown
		{"missing <> 1", false},
		{"missing = 1 OR type = 'a'", true},
		{"missing = 1 AND type = 'b'", false},
		{"NOT (missing = 1 AND type = 'b')", true}, // unknown AND false = false
		{"missing IS NULL", true},
		{"nothing IS NULL", true},
		{"type IS NULL", false},
		{"type IS NOT NULL", true},
		{"EXISTS(type)", true},
		{"EXISTS(nothing)", true},
		{"EXISTS(missing)", false},
		{"NOT EXISTS(missing)", true},
		{"EXISTS(sys.SessionId)", false},
		{"sys.Label = 'order.created'", true},
		{"sys.subject = 'order.created'", true},
		{"sys.LABEL LIKE 'order.%'", true},
		{"sys.Label LIKE 'order._reated'", true},
		{"sys.Label LIKE 'order'", false},
		{"sys.Label NOT LIKE '%.deleted'", true},
		{"pct LIKE '50!%' ESCAPE '!'", true},
		{"type LIKE '50!%' ESCAPE '!'", false},
		{"region LIKE 'eu%' AND region LIKE '%west' AND region LIKE '%-%'", true},
		{"region LIKE '%%%t'", true},
		{"sys.SequenceNumber = 42", true},
		{"sys.SequenceNumber > 40 + 1", true},
		{"sys.DeliveryCount = 1", true},
		{"sys.To IN ('billing', 'shipping')", true},
		{"sys.ReplyTo = 'x'", false},
		{"sys.ReplyTo IS NULL", true},
		{"[with space] = 'x'", true},
		{"\"with space\" = 'x'", true},
		{"color = 'Red'", true},
		{"v * 2 + 1 = 7", true},
		{"v / 2 = 1", true}, // integer division
		{"v / 2.0 = 1.5", true},
		{"v % 2 = 1", true},
		{"-v = -3", true},
		{"- -v = 3", true},
		{"+v = 3", true},
		{"(v + 1) * 2 = 8", true},
		{"v + 1 * 2 = 5", true},
		{"'ab' + 'cd' = 'abcd'", true},
		{"type = 1", false}, // unrelated types are not equal
		{"type <> 1", true},
		{"type > 1", false}, // and not ordered
		{"NOT (type > 1)", false},
		{"v IN (1, NULL)", false},
		{"NOT (v IN (1, NULL))", false},
		{"v IN (3, NULL)", true},
		{"1.5E1 = 15", true},
		{"0.5e-2 < 0.01", true},
		{"TRUE", true},
		{"FALSE OR TRUE", true},
		{"NULL", false},
		{"type = 'a' OR type = 'b' AND v = 0", true}, // AND binds tighter
		{"(type = 'a' OR type = 'b') AND v = 0", false},
		{"p('type') = 'a'", true},
		{"property('sys.Label') = 'order.created'", true},
		{"property('user.' + 'v') = 3", true},
		{"newid() <> newid()", true},
		{"'it''s' = 'it''s'", true},
		{"sys.EnqueuedTimeUtc IS NOT NULL", true},
		{"sys.TimeToLive IS NOT NULL", true},
		{"-9223372036854775808 < -9223372036854775807", true},
		{"2 * -9223372036854775808 = 0", true}, // int64 arithmetic wraps, as in C#
		{"sys.SequenceNumber = 42.0", true},
		{"count32 IN (6, 7.0)", true},
		{"price % 2 = 1.5", true},
	}
	for _, c := range cases {
		f, err := filter.ParseSQL(c.expr)
		if c.expr == "[user].type = 'a'" {
			// A delimited name is never a scope, so the dot is unexpected.
			var se *filter.SyntaxError
			if !errors.As(err, &se) || se.Pos != 6 {
				t.Errorf("%s: want a syntax error at 6, got %v", c.expr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSQL(%q): %v", c.expr, err)
			continue
		}
		got, err := f.Match(msg())
		if err != nil {
			t.Errorf("%q: Match: %v", c.expr, err)
			continue
		}
		if got != c.want {
			t.Errorf("%q: got %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestSQLSyntaxErrors(t *testing.T) {
	cases := []struct {
		expr string
		pos  int
		msg  string
	}{
		{"", 0, "empty"},
		{"   ", 0, "empty"},
		{"a =", 3, "end of expression"},
		{"a = 'x", 4, "unterminated string"},
		{"[abc = 1", 0, "unterminated delimited"},
		{"a = 1 b", 6, "unexpected"},
		{"(a = 1", 6, "expected \")\""},
		{"a IN 1", 5, "expected \"(\""},
		{"a IN (1 2)", 8, "IN list"},
		{"a = 1 AND", 9, "end of expression"},
		{"sys.Nope = 1", 4, "unknown system property"},
		{"a # 1", 2, "unexpected character"},
		{"1 + 2", 0, "expected a condition"},
		{"a = 1 AND 5", 10, "expected a condition"},
		{"(a = 1) + 2 = 3", 0, "expected a value"},
		{"a LIKE 5", 7, "pattern must be a string"},
		{"a LIKE 'x!' ESCAPE '!'", 7, "escape"},
		{"a LIKE 'x' ESCAPE 'ab'", 11, "one character"},
		{"5 IS NULL", 2, "applies to a property"},
		{"a IS 5", 5, "expected NULL"},
		{"EXISTS(1)", 7, "expected a property"},
		{"foo(1) = 1", 0, "unknown function"},
		{"a = @p", 4, "parameters"},
		{"a = 99999999999999999999", 4, "int64"},
		{"a = 1e999", 4, "float64"},
		{"a = 1e", 4, "exponent"},
		{"a = 12abc", 4, "malformed number"},
		{"AND = 1", 0, "unexpected keyword"},
		{"user. = 1", 6, "property name"},
		{"[] = 1", 0, "empty delimited"},
		{strings.Repeat("(", 70) + "1=1" + strings.Repeat(")", 70), 64, "nested deeper"},
		{"a = '" + strings.Repeat("x", 1100) + "'", 1024, "longer than 1024"},
	}
	for _, c := range cases {
		_, err := filter.ParseSQL(c.expr)
		var se *filter.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseSQL(%.40q): want *SyntaxError, got %v", c.expr, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("ParseSQL(%.40q): got pos %d %q, want pos %d containing %q", c.expr, se.Pos, se.Msg, c.pos, c.msg)
		}
		if !strings.Contains(se.Error(), "offset") {
			t.Errorf("error text %q does not give the offset", se.Error())
		}
	}
}

func TestSQLLengthLimitCountsCharacters(t *testing.T) {
	// 1024 characters is allowed even when they take more bytes.
	expr := "a = '" + strings.Repeat("é", 1024-6) + "'"
	if _, err := filter.ParseSQL(expr); err != nil {
		t.Fatalf("1024-character expression rejected: %v", err)
	}
	if _, err := filter.ParseSQL(expr + " "); err == nil {
		t.Fatal("1025-character expression accepted")
	}
}

func TestSQLEvalErrors(t *testing.T) {
	for _, expr := range []string{
		"v / 0 = 1",
		"v % 0 = 1",
		"type * 2 = 1",
		"-type = 1",
		"type",          // a string used as a condition
		"type AND flag", // same, inside AND
		"p(v) = 1",      // property() needs a string
		"p('sys.Nope') = 1",
		"type LIKE p('pct') ESCAPE p('type') + 'x'",
		"type LIKE 'zz' + p('type') ESCAPE p('type')", // pattern ends with its escape
	} {
		f, err := filter.ParseSQL(expr)
		if err != nil {
			t.Errorf("ParseSQL(%q): %v", expr, err)
			continue
		}
		ok, err := f.Match(msg())
		var ee *filter.EvalError
		if !errors.As(err, &ee) || ok {
			t.Errorf("%q: want (false, *EvalError), got (%v, %v)", expr, ok, err)
			continue
		}
		if ee.Expr != expr {
			t.Errorf("%q: EvalError.Expr = %q", expr, ee.Expr)
		}
	}
}

type symbol string // like go-amqp's Symbol

type level int16

func TestSQLNamedTypes(t *testing.T) {
	m := &filter.MapMessage{UserProps: map[string]any{"s": symbol("x"), "l": level(3), "b": []byte("x")}}
	for expr, want := range map[string]bool{
		"s = 'x'": true, "l > 2": true, "b = 'x'": false, "b IS NULL": false, "EXISTS(b)": true,
	} {
		f, err := filter.ParseSQL(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.Match(m); got != want || err != nil {
			t.Errorf("%s: got %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestSQLFloatDivisionByZeroIsInfinity(t *testing.T) {
	f, err := filter.ParseSQL("price / 0 > 1000000")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Match(msg()); !ok || err != nil {
		t.Fatalf("got %v, %v", ok, err)
	}
}

func TestSQLString(t *testing.T) {
	cases := map[string]string{
		"type in ('a','b') and user.v>2":      "type IN ('a', 'b') AND v > 2",
		"(a = 1 or b = 2) and not c = 3":      "(a = 1 OR b = 2) AND NOT c = 3",
		"a - (b - c) = 1":                     "a - (b - c) = 1",
		"(a - b) - c = 1":                     "a - b - c = 1",
		"sys.subject like 'x\\%' escape '\\'": "sys.Label LIKE 'x\\%' ESCAPE '\\'",
		"[my prop] is not null":               "[my prop] IS NOT NULL",
		"[and] = 'it''s'":                     "[and] = 'it''s'",
		"2.0 = 2e0 + 1e21":                    "2.0 = 2.0 + 1e+21",
		"- -1 = 1":                            "- -1 = 1",
		"exists(sys.to)":                      "EXISTS(sys.To)",
		"a NOT LIKE 'b'":                      "a NOT LIKE 'b'",
		"p('x') = newid()":                    "property('x') = newid()",
		"a = 1 or (b = 2 or c = 3)":           "a = 1 OR (b = 2 OR c = 3)",
		"not not a":                           "NOT NOT a",
		"a=1 and (b=2 and c=3)":               "a = 1 AND (b = 2 AND c = 3)",
		"\"quoted name\" = 1":                 "[quoted name] = 1",
		"[x]]y] = 1":                          "[x]]y] = 1",
	}
	for in, want := range cases {
		f, err := filter.ParseSQL(in)
		if err != nil {
			t.Errorf("ParseSQL(%q): %v", in, err)
			continue
		}
		got := f.(*filter.SQLFilter).String()
		if got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
		if f.(*filter.SQLFilter).Expression() != in {
			t.Errorf("Expression() lost the original text of %q", in)
		}
	}
}

func TestCorrelation(t *testing.T) {
	cases := []struct {
		name string
		f    filter.Correlation
		want bool
	}{
		{"empty matches all", filter.Correlation{}, true},
		{"label", filter.Correlation{Label: "order.created"}, true},
		{"label differs", filter.Correlation{Label: "order.deleted"}, false},
		{"label case-sensitive", filter.Correlation{Label: "Order.Created"}, false},
		{"several", filter.Correlation{MessageID: "m-1", CorrelationID: "c-1", ContentType: "application/json", To: "billing"}, true},
		{"missing system property", filter.Correlation{SessionID: "s"}, false},
		{"reply to", filter.Correlation{ReplyTo: "q"}, false},
		{"user properties", filter.Correlation{Properties: map[string]any{"type": "a", "v": 3.0}}, true},
		{"user property int vs int64", filter.Correlation{Properties: map[string]any{"v": 3}}, true},
		{"user property differs", filter.Correlation{Properties: map[string]any{"type": "b"}}, false},
		{"user property missing", filter.Correlation{Properties: map[string]any{"nope": "a"}}, false},
		{"user property null never equals", filter.Correlation{Properties: map[string]any{"nothing": nil}}, false},
		{"both", filter.Correlation{Label: "order.created", Properties: map[string]any{"flag": true}}, true},
	}
	for _, c := range cases {
		got, err := c.f.Match(msg())
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestTrueFalse(t *testing.T) {
	if ok, _ := filter.True.Match(msg()); !ok {
		t.Error("True did not match")
	}
	if ok, _ := filter.False.Match(msg()); ok {
		t.Error("False matched")
	}
}

func TestAction(t *testing.T) {
	a, err := filter.ParseAction("SET user.priority = 'high', v = v * 10; SET sys.Label = 'routed.' + sys.Label; REMOVE type; set [new one] = TRUE")
	if err != nil {
		t.Fatal(err)
	}
	m := msg()
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	if m.UserProps["priority"] != "high" || m.UserProps["v"] != int64(30) || m.UserProps["new one"] != true {
		t.Errorf("user properties after action: %v", m.UserProps)
	}
	if _, ok := m.UserProps["type"]; ok {
		t.Error("REMOVE type left the property")
	}
	if m.SysProps["Label"] != "routed.order.created" {
		t.Errorf("Label = %v", m.SysProps["Label"])
	}
	want := "SET priority = 'high'; SET v = v * 10; SET sys.Label = 'routed.' + sys.Label; REMOVE type; SET [new one] = TRUE"
	if a.String() != want {
		t.Errorf("String() = %q\nwant       %q", a.String(), want)
	}
	again, err := filter.ParseAction(a.String())
	if err != nil || again.String() != want {
		t.Errorf("round trip: %v, %q", err, again)
	}
}

func TestActionMaxStatements(t *testing.T) {
	if _, err := filter.ParseAction(strings.TrimSuffix(strings.Repeat("SET a = 1, ", 32), ", ")); err != nil {
		t.Fatalf("32 statements rejected: %v", err)
	}
}

func TestActionCaseInsensitiveNames(t *testing.T) {
	a, err := filter.ParseAction("SET COLOR = 'Blue'")
	if err != nil {
		t.Fatal(err)
	}
	m := msg()
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	if _, old := m.UserProps["Color"]; old || m.UserProps["COLOR"] != "Blue" {
		t.Errorf("properties: %v", m.UserProps)
	}
}

func TestActionErrors(t *testing.T) {
	for _, c := range []struct {
		expr string
		pos  int
	}{
		{"", 0},
		{"UPDATE x = 1", 0},
		{"SET", 3},
		{"SET x", 5},
		{"SET x = ", 8},
		{"SET sys.SequenceNumber = 1", 4},
		{"SET sys.Nope = 1", 8},
		{"SET x = 1 y = 2", 10},
		{"REMOVE 'x'", 7},
		{strings.Repeat("SET a = 1; ", 32) + "SET b = 2", 32 * 11},
	} {
		_, err := filter.ParseAction(c.expr)
		var se *filter.SyntaxError
		if !errors.As(err, &se) || se.Pos != c.pos {
			t.Errorf("ParseAction(%q): want SyntaxError at %d, got %v", c.expr, c.pos, err)
		}
	}
	a, err := filter.ParseAction("SET x = v / 0")
	if err != nil {
		t.Fatal(err)
	}
	m := msg()
	var ee *filter.EvalError
	if err := a.Apply(m); !errors.As(err, &ee) {
		t.Errorf("Apply: want *EvalError, got %v", err)
	}
	if _, ok := m.UserProps["x"]; ok {
		t.Error("a failed SET still set the property")
	}
}

func BenchmarkSQLMatch(b *testing.B) {
	f, err := filter.ParseSQL("type IN ('a','b','c') AND user.v > 2")
	if err != nil {
		b.Fatal(err)
	}
	m := msg()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := f.Match(m)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkSQLParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filter.ParseSQL("type IN ('a','b','c') AND user.v > 2"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCorrelationMatch(b *testing.B) {
	f := &filter.Correlation{Label: "order.created", Properties: map[string]any{"type": "a"}}
	m := msg()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := f.Match(m)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
