package filter

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// kind is the type of a value during evaluation.
type kind uint8

const (
	kNull kind = iota // missing property, NULL, or the unknown truth value
	kBool
	kInt
	kFloat
	kString
	kTime     // i holds Unix nanoseconds
	kDuration // i holds nanoseconds
	kOther    // a type filters cannot compare (binary, UUID, ...)
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "integer", "float", "string", "timestamp", "duration", "other"}[k]
}

// value is one evaluated operand. It is passed by value so that evaluation
// does not allocate.
type value struct {
	k kind
	i int64 // kBool (0/1), kInt, kTime, kDuration
	f float64
	s string
}

// tri is a three-valued truth value.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func boolValue(b bool) value {
	if b {
		return value{k: kBool, i: 1}
	}
	return value{k: kBool}
}

func triValue(t tri) value {
	switch t {
	case triTrue:
		return value{k: kBool, i: 1}
	case triFalse:
		return value{k: kBool}
	}
	return value{}
}

func fromAny(v any) value {
	switch x := v.(type) {
	case nil:
		return value{}
	case string:
		return value{k: kString, s: x}
	case bool:
		return boolValue(x)
	case int64:
		return value{k: kInt, i: x}
	case int:
		return value{k: kInt, i: int64(x)}
	case int32:
		return value{k: kInt, i: int64(x)}
	case int16:
		return value{k: kInt, i: int64(x)}
	case int8:
		return value{k: kInt, i: int64(x)}
	case uint8:
		return value{k: kInt, i: int64(x)}
	case uint16:
		return value{k: kInt, i: int64(x)}
	case uint32:
		return value{k: kInt, i: int64(x)}
	case uint:
		return fromUint(uint64(x))
	case uint64:
		return fromUint(x)
	case float64:
		return value{k: kFloat, f: x}
	case float32:
		return value{k: kFloat, f: float64(x)}
	case time.Time:
		return value{k: kTime, i: x.UnixNano()}
	case time.Duration:
		return value{k: kDuration, i: int64(x)}
	}
	return fromNamed(v)
}

// fromNamed handles named types over basic kinds, such as go-amqp's Symbol
// (a string) in application properties.
func fromNamed(v any) value {
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.String:
		return value{k: kString, s: r.String()}
	case reflect.Bool:
		return boolValue(r.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return value{k: kInt, i: r.Int()}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fromUint(r.Uint())
	case reflect.Float32, reflect.Float64:
		return value{k: kFloat, f: r.Float()}
	}
	return value{k: kOther}
}

func fromUint(u uint64) value {
	if u > math.MaxInt64 {
		return value{k: kFloat, f: float64(u)}
	}
	return value{k: kInt, i: int64(u)}
}

// toAny converts a value back to the Go type a MutableMessage receives.
func (v value) toAny() any {
	switch v.k {
	case kBool:
		return v.i != 0
	case kInt:
		return v.i
	case kFloat:
		return v.f
	case kString:
		return v.s
	case kTime:
		return time.Unix(0, v.i).UTC()
	case kDuration:
		return time.Duration(v.i)
	}
	return nil
}

func (v value) numeric() bool { return v.k == kInt || v.k == kFloat }

func (v value) float() float64 {
	if v.k == kInt {
		return float64(v.i)
	}
	return v.f
}

// compare orders a and b. comparable is false when the types are unrelated;
// ordered is false when the type has equality but no order (booleans) or a
// float is NaN.
func compare(a, b value) (c int, comparable, ordered bool) {
	switch {
	case a.k == kInt && b.k == kInt:
		return cmp3(a.i < b.i, a.i > b.i), true, true
	case a.numeric() && b.numeric():
		x, y := a.float(), b.float()
		if math.IsNaN(x) || math.IsNaN(y) {
			return 0, true, false
		}
		return cmp3(x < y, x > y), true, true
	case a.k != b.k:
		return 0, false, false
	case a.k == kString:
		return strings.Compare(a.s, b.s), true, true
	case a.k == kBool:
		return cmp3(a.i < b.i, a.i > b.i), true, false
	case a.k == kTime || a.k == kDuration:
		return cmp3(a.i < b.i, a.i > b.i), true, true
	}
	return 0, false, false
}

func cmp3(less, greater bool) int {
	if less {
		return -1
	}
	if greater {
		return 1
	}
	return 0
}

// equal is SQL equality: unknown when either side is NULL.
func equal(a, b value) tri {
	if a.k == kNull || b.k == kNull {
		return triUnknown
	}
	c, comparable, _ := compare(a, b)
	if !comparable {
		return triFalse
	}
	if a.numeric() && b.numeric() && (math.IsNaN(a.float()) || math.IsNaN(b.float())) {
		return triFalse
	}
	if c == 0 {
		return triTrue
	}
	return triFalse
}

// truth reads a value used as a condition.
func truth(v value) (tri, bool) {
	switch v.k {
	case kBool:
		if v.i != 0 {
			return triTrue, true
		}
		return triFalse, true
	case kNull:
		return triUnknown, true
	}
	return triUnknown, false
}

// EvalError reports an expression that cannot be evaluated for a given
// message, such as 'a' * 2 or an integer division by zero. Service Bus
// treats such a rule as not matching.
type EvalError struct {
	Expr string // the whole expression
	Pos  int    // byte offset of the failing operator or operand
	Msg  string
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("filter: cannot evaluate %q at offset %d: %s", e.Expr, e.Pos, e.Msg)
}

// SyntaxError reports an expression that does not parse or is invalid
// regardless of the message (an unknown sys. property, a non-boolean
// condition, a pattern ending in its escape character).
type SyntaxError struct {
	Expr string
	Pos  int // byte offset of the problem in Expr
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter: syntax error at offset %d in %q: %s", e.Pos, e.Expr, e.Msg)
}
