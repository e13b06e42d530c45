package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"meterline/infra/servicebus-emulator/filter"
)

// Limits from the emulator schema and Service Bus.
const (
	maxEntities           = 50   // queues + topics per namespace
	maxSubscriptions      = 50   // per topic
	maxRulesPerTopic      = 1000 // rules of all subscriptions of a topic
	maxSQLFiltersPerTopic = 20   // the emulator's quota (Azure allows 2000)
	maxEntityNameLength   = 260  // queues and topics
	maxChildNameLength    = 50   // subscriptions and rules
	maxErrors             = 50   // stop collecting after this many
	minLockDuration       = 5 * time.Second
	maxLockDuration       = 5 * time.Minute
	minMessageTimeToLive  = 5 * time.Minute
	maxMessageTimeToLive  = time.Hour
	minDuplicateDetection = 5 * time.Second
	maxDuplicateDetection = 5 * time.Minute
	minMaxDeliveryCount   = 1
	maxMaxDeliveryCount   = 10
)

var loggingTypes = []string{"File", "Console", "File,Console", "Console,File"}

type object = map[string]any

func decode(data []byte) (any, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // .NET writes a BOM
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("config: invalid JSON: data after the top-level value at offset %d", dec.InputOffset())
	}
	return doc, nil
}

func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, int(se.Offset))
		return fmt.Errorf("config: invalid JSON at line %d, column %d: %w", line, col, err)
	}
	return fmt.Errorf("config: invalid JSON: %w", err)
}

func lineCol(data []byte, offset int) (int, int) {
	if offset > len(data) {
		offset = len(data)
	}
	line := 1 + bytes.Count(data[:offset], []byte("\n"))
	col := offset - bytes.LastIndexByte(data[:offset], '\n')
	return line, col
}

// reader walks the decoded JSON, collecting FieldErrors.
type reader struct {
	errs []error
}

func (r *reader) fail(path string, v any, format string, args ...any) {
	r.failErr(path, v, nil, format, args...)
}

func (r *reader) failErr(path string, v any, err error, format string, args ...any) {
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, &FieldError{Path: path, Value: plain(v), Msg: fmt.Sprintf(format, args...), Err: err})
	}
}

// plain turns a json.Number into the int64 or float64 it holds, so that a
// FieldError's Value reads like the JSON it came from.
func plain(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	if f, err := n.Float64(); err == nil {
		return f
	}
	return string(n)
}

// field looks a property up by its schema name, exactly first and then
// ignoring case.
func field(o object, name string) (any, bool) {
	if v, ok := o[name]; ok {
		return v, true
	}
	for k, v := range o {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func (r *reader) object(path string, v any) (object, bool) {
	o, ok := v.(object)
	if !ok {
		r.fail(path, v, "must be an object, not %s", typeName(v))
	}
	return o, ok
}

func (r *reader) array(path string, v any) ([]any, bool) {
	a, ok := v.([]any)
	if !ok {
		r.fail(path, v, "must be an array, not %s", typeName(v))
	}
	return a, ok
}

// requiredField returns o[name] or records that it is missing.
func (r *reader) requiredField(o object, path, name string) (any, bool) {
	v, ok := field(o, name)
	if !ok {
		r.fail(path+"."+name, nil, "is required")
	}
	return v, ok
}

func (r *reader) config(doc any) *Config {
	root, ok := r.object("(document)", doc)
	if !ok {
		return nil
	}
	ucv, ok := field(root, "UserConfig")
	if !ok {
		r.fail("UserConfig", nil, "is required")
		return nil
	}
	uc, ok := r.object("UserConfig", ucv)
	if !ok {
		return nil
	}
	c := &Config{}
	if v, ok := r.requiredField(uc, "UserConfig", "Namespaces"); ok {
		if nss, ok := r.array("UserConfig.Namespaces", v); ok {
			if len(nss) != 1 {
				r.fail("UserConfig.Namespaces", nil, "must hold exactly one namespace, not %d", len(nss))
			}
			for i, nv := range nss {
				c.Namespaces = append(c.Namespaces, r.namespace(fmt.Sprintf("UserConfig.Namespaces[%d]", i), nv))
			}
		}
	}
	if v, ok := r.requiredField(uc, "UserConfig", "Logging"); ok {
		if lo, ok := r.object("UserConfig.Logging", v); ok {
			if tv, ok := r.requiredField(lo, "UserConfig.Logging", "Type"); ok {
				t, _ := tv.(string)
				if !contains(loggingTypes, t) {
					r.fail("UserConfig.Logging.Type", tv, "must be one of %s", strings.Join(loggingTypes, ", "))
				}
				c.Logging.Type = t
			}
		}
	}
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *reader) namespace(path string, v any) Namespace {
	ns := Namespace{Queues: []Queue{}, Topics: []Topic{}}
	o, ok := r.object(path, v)
	if !ok {
		return ns
	}
	if nv, ok := r.requiredField(o, path, "Name"); ok {
		ns.Name, _ = nv.(string)
		if ns.Name != DefaultNamespace {
			r.fail(path+".Name", nv, "must be %q, the only namespace the emulator serves", DefaultNamespace)
		}
	}
	seen := map[string]string{} // lower-cased entity name -> path of its first use
	count := 0
	if qv, ok := r.requiredField(o, path, "Queues"); ok {
		if qs, ok := r.array(path+".Queues", qv); ok {
			for i, q := range qs {
				qp := fmt.Sprintf("%s.Queues[%d]", path, i)
				if count++; count == maxEntities+1 {
					r.fail(qp, nil, "more than %d queues and topics in the namespace", maxEntities)
				}
				ns.Queues = append(ns.Queues, r.queue(qp, q, seen))
			}
		}
	}
	if tv, ok := r.requiredField(o, path, "Topics"); ok {
		if ts, ok := r.array(path+".Topics", tv); ok {
			for i, t := range ts {
				tp := fmt.Sprintf("%s.Topics[%d]", path, i)
				if count++; count == maxEntities+1 {
					r.fail(tp, nil, "more than %d queues and topics in the namespace", maxEntities)
				}
				ns.Topics = append(ns.Topics, r.topic(tp, t, seen))
			}
		}
	}
	r.checkForwarding(path, &ns)
	return ns
}

// name reads and checks the Name of an entity, subscription or rule, and
// that it is unique among its siblings (case-insensitively, as Service Bus
// names are).
func (r *reader) name(o object, path string, maxLen int, seen map[string]string, what string) string {
	v, ok := r.requiredField(o, path, "Name")
	if !ok {
		return ""
	}
	p := path + ".Name"
	s, isString := v.(string)
	switch {
	case !isString:
		r.fail(p, v, "must be a string, not %s", typeName(v))
	case !validName(s):
		r.fail(p, v, "must be letters, digits, '_', '-', '.' or '/', starting and ending with a letter or digit")
	case utf8.RuneCountInString(s) > maxLen:
		r.fail(p, v, "is longer than %d characters", maxLen)
	default:
		key := strings.ToLower(s)
		if first, dup := seen[key]; dup {
			r.fail(p, v, "duplicates the %s name at %s", what, first)
		} else {
			seen[key] = p
		}
	}
	return s
}

// validName implements ^[A-Za-z0-9]$|^[A-Za-z0-9][\w-\.\/]*[A-Za-z0-9]$
// with .NET's Unicode-aware \w.
func validName(s string) bool {
	if s == "" {
		return false
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if !asciiAlnum(first) || !asciiAlnum(last) {
		return false
	}
	for _, c := range s {
		if !(wordRune(c) || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}

func asciiAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func wordRune(c rune) bool {
	return unicode.IsLetter(c) || unicode.IsDigit(c) || unicode.Is(unicode.Mn, c) || unicode.Is(unicode.Pc, c)
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

// entityKind selects the properties the schema gives each kind of entity.
type entityKind int

const (
	kindQueue entityKind = iota
	kindTopic
	kindSubscription
)

func (r *reader) queue(path string, v any, seen map[string]string) Queue {
	o, ok := r.object(path, v)
	if !ok {
		return Queue{}
	}
	q := Queue{Name: r.name(o, path, maxEntityNameLength, seen, "entity")}
	q.Properties = r.properties(o, path, kindQueue)
	return q
}

func (r *reader) topic(path string, v any, seen map[string]string) Topic {
	o, ok := r.object(path, v)
	if !ok {
		return Topic{}
	}
	t := Topic{Name: r.name(o, path, maxEntityNameLength, seen, "entity")}
	t.Properties = r.properties(o, path, kindTopic)
	sv, ok := r.requiredField(o, path, "Subscriptions")
	if !ok {
		return t
	}
	subs, ok := r.array(path+".Subscriptions", sv)
	if !ok {
		return t
	}
	switch {
	case len(subs) == 0:
		r.fail(path+".Subscriptions", nil, "must hold at least one subscription")
	case len(subs) > maxSubscriptions:
		r.fail(fmt.Sprintf("%s.Subscriptions[%d]", path, maxSubscriptions), nil, "more than %d subscriptions in the topic", maxSubscriptions)
	}
	subSeen := map[string]string{}
	rules := 0
	for i, s := range subs {
		t.Subscriptions = append(t.Subscriptions, r.subscription(fmt.Sprintf("%s.Subscriptions[%d]", path, i), s, subSeen, &rules))
	}
	sqlFilters := 0
	for i, s := range t.Subscriptions {
		for j, rule := range s.Rules {
			if _, isSQL := rule.Filter.(*filter.SQLFilter); !isSQL {
				continue
			}
			if sqlFilters++; sqlFilters == maxSQLFiltersPerTopic+1 {
				r.fail(fmt.Sprintf("%s.Subscriptions[%d].Rules[%d].Properties.SqlFilter", path, i, j), nil,
					"more than %d SQL filters in the topic", maxSQLFiltersPerTopic)
			}
		}
	}
	return t
}

func (r *reader) subscription(path string, v any, seen map[string]string, topicRules *int) Subscription {
	o, ok := r.object(path, v)
	if !ok {
		return Subscription{}
	}
	s := Subscription{Name: r.name(o, path, maxChildNameLength, seen, "subscription")}
	s.Properties = r.properties(o, path, kindSubscription)
	rv, ok := field(o, "Rules")
	if ok && rv != nil {
		if rules, ok := r.array(path+".Rules", rv); ok {
			ruleSeen := map[string]string{}
			for i, rule := range rules {
				rp := fmt.Sprintf("%s.Rules[%d]", path, i)
				if *topicRules++; *topicRules == maxRulesPerTopic+1 {
					r.fail(rp, nil, "more than %d rules in the topic", maxRulesPerTopic)
				}
				s.Rules = append(s.Rules, r.rule(rp, rule, ruleSeen))
			}
		}
	}
	if len(s.Rules) == 0 {
		s.Rules = []Rule{{Name: DefaultRuleName, Filter: filter.True}}
	}
	return s
}

func (r *reader) rule(path string, v any, seen map[string]string) Rule {
	o, ok := r.object(path, v)
	if !ok {
		return Rule{}
	}
	rule := Rule{Name: r.name(o, path, maxChildNameLength, seen, "rule")}
	pv, ok := r.requiredField(o, path, "Properties")
	if !ok {
		return rule
	}
	pp := path + ".Properties"
	props, ok := r.object(pp, pv)
	if !ok {
		return rule
	}
	ftv, ok := r.requiredField(props, pp, "FilterType")
	if !ok {
		return rule
	}
	switch ftv {
	case "Correlation":
		rule.Filter = r.correlation(props, pp)
	case "Sql":
		rule.Filter = r.sqlFilter(props, pp)
	default:
		r.fail(pp+".FilterType", ftv, "must be \"Correlation\" or \"Sql\"")
	}
	if av, ok := field(props, "Action"); ok && av != nil {
		ap := pp + ".Action"
		if ao, ok := r.object(ap, av); ok {
			if ev, ok := field(ao, "SqlExpression"); ok {
				ep := ap + ".SqlExpression"
				if expr, ok := ev.(string); !ok {
					r.fail(ep, ev, "must be a string, not %s", typeName(ev))
				} else if strings.TrimSpace(expr) != "" {
					a, err := filter.ParseAction(expr)
					if err != nil {
						r.failErr(ep, ev, err, "%s", sqlProblem(err))
					}
					rule.Action = a
				}
			}
		}
	}
	return rule
}

func (r *reader) sqlFilter(props object, path string) filter.Filter {
	sv, ok := r.requiredField(props, path, "SqlFilter")
	if !ok {
		return nil
	}
	sp := path + ".SqlFilter"
	so, ok := r.object(sp, sv)
	if !ok {
		return nil
	}
	ev, ok := r.requiredField(so, sp, "SqlExpression")
	if !ok {
		return nil
	}
	ep := sp + ".SqlExpression"
	expr, ok := ev.(string)
	if !ok {
		r.fail(ep, ev, "must be a string, not %s", typeName(ev))
		return nil
	}
	f, err := filter.ParseSQL(expr)
	if err != nil {
		r.failErr(ep, ev, err, "%s", sqlProblem(err))
		return nil
	}
	return f
}

func (r *reader) correlation(props object, path string) filter.Filter {
	cv, ok := r.requiredField(props, path, "CorrelationFilter")
	if !ok {
		return nil
	}
	cp := path + ".CorrelationFilter"
	co, ok := r.object(cp, cv)
	if !ok {
		return nil
	}
	if len(co) == 0 {
		r.fail(cp, nil, "must set at least one property")
		return nil
	}
	f := &filter.Correlation{}
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"ContentType", &f.ContentType}, {"CorrelationId", &f.CorrelationID}, {"Label", &f.Label},
		{"MessageId", &f.MessageID}, {"ReplyTo", &f.ReplyTo}, {"ReplyToSessionId", &f.ReplyToSessionID},
		{"SessionId", &f.SessionID}, {"To", &f.To},
	} {
		v, ok := field(co, s.name)
		if !ok {
			continue
		}
		str, isString := v.(string)
		if !isString {
			r.fail(cp+"."+s.name, v, "must be a string, not %s", typeName(v))
			continue
		}
		*s.dst = str
	}
	if pv, ok := field(co, "Properties"); ok {
		pp := cp + ".Properties"
		if po, ok := r.object(pp, pv); ok {
			if len(po) == 0 {
				r.fail(pp, nil, "must hold at least one property")
			}
			f.Properties = make(map[string]any, len(po))
			for k, v := range po {
				switch x := v.(type) {
				case json.Number:
					if i, err := x.Int64(); err == nil {
						f.Properties[k] = i
					} else if fl, err := x.Float64(); err == nil {
						f.Properties[k] = fl
					} else {
						r.fail(pp+"."+k, v, "number out of range")
					}
				case string, bool:
					f.Properties[k] = x
				default:
					r.fail(pp+"."+k, v, "must be a string, number or boolean, not %s", typeName(v))
				}
			}
		}
	}
	return f
}

// properties reads an entity's Properties object and fills defaults.
func (r *reader) properties(o object, path string, kind entityKind) EntityProperties {
	p := EntityProperties{
		DefaultMessageTimeToLive: DefaultMessageTimeToLive,
	}
	switch kind {
	case kindQueue:
		p.LockDuration = DefaultLockDuration
		p.MaxDeliveryCount = DefaultMaxDeliveryCount
		p.DuplicateDetectionHistoryTimeWindow = DefaultDuplicateDetectionHistoryTimeWindow
	case kindTopic:
		p.DuplicateDetectionHistoryTimeWindow = DefaultDuplicateDetectionHistoryTimeWindow
	case kindSubscription:
		p.LockDuration = DefaultLockDuration
		p.MaxDeliveryCount = DefaultMaxDeliveryCount
	}
	v, ok := field(o, "Properties")
	if !ok || v == nil {
		return p
	}
	pp := path + ".Properties"
	po, ok := r.object(pp, v)
	if !ok {
		return p
	}
	has := func(kinds ...entityKind) bool {
		for _, k := range kinds {
			if k == kind {
				return true
			}
		}
		return false
	}
	if has(kindQueue, kindSubscription) {
		r.boolean(po, pp, "DeadLetteringOnMessageExpiration", &p.DeadLetteringOnMessageExpiration)
		r.duration(po, pp, "LockDuration", minLockDuration, maxLockDuration, &p.LockDuration)
		r.deliveryCount(po, pp, &p.MaxDeliveryCount)
		r.boolean(po, pp, "RequiresSession", &p.RequiresSession)
		r.forward(po, pp, "ForwardTo", &p.ForwardTo)
		r.forward(po, pp, "ForwardDeadLetteredMessagesTo", &p.ForwardDeadLetteredMessagesTo)
	}
	r.duration(po, pp, "DefaultMessageTimeToLive", minMessageTimeToLive, maxMessageTimeToLive, &p.DefaultMessageTimeToLive)
	if has(kindQueue, kindTopic) {
		r.duration(po, pp, "DuplicateDetectionHistoryTimeWindow", minDuplicateDetection, maxDuplicateDetection, &p.DuplicateDetectionHistoryTimeWindow)
		r.boolean(po, pp, "RequiresDuplicateDetection", &p.RequiresDuplicateDetection)
	}
	return p
}

func (r *reader) boolean(o object, path, name string, dst *bool) {
	v, ok := field(o, name)
	if !ok {
		return
	}
	b, isBool := v.(bool)
	if !isBool {
		r.fail(path+"."+name, v, "must be true or false, not %s", typeName(v))
		return
	}
	*dst = b
}

func (r *reader) duration(o object, path, name string, min, max time.Duration, dst *time.Duration) {
	v, ok := field(o, name)
	if !ok {
		return
	}
	p := path + "." + name
	s, isString := v.(string)
	if !isString {
		r.fail(p, v, "must be an ISO 8601 duration string such as %q, not %s", formatDuration(*dst), typeName(v))
		return
	}
	d, err := parseDuration(s)
	if err != nil {
		r.failErr(p, v, err, "%v", err)
		return
	}
	if d < min || d > max {
		r.fail(p, v, "must be between %s and %s", formatDuration(min), formatDuration(max))
		return
	}
	*dst = d
}

func (r *reader) deliveryCount(o object, path string, dst *int) {
	v, ok := field(o, "MaxDeliveryCount")
	if !ok {
		return
	}
	p := path + ".MaxDeliveryCount"
	n, isNumber := v.(json.Number)
	if !isNumber {
		r.fail(p, v, "must be an integer, not %s", typeName(v))
		return
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != float64(int64(f)) {
		r.fail(p, v, "must be an integer")
		return
	}
	if f < minMaxDeliveryCount || f > maxMaxDeliveryCount {
		r.fail(p, v, "must be between %d and %d", minMaxDeliveryCount, maxMaxDeliveryCount)
		return
	}
	*dst = int(f)
}

func (r *reader) forward(o object, path, name string, dst *string) {
	v, ok := field(o, name)
	if !ok || v == nil {
		return
	}
	s, isString := v.(string)
	if !isString {
		r.fail(path+"."+name, v, "must be a string, not %s", typeName(v))
		return
	}
	if s != "" && !validName(s) {
		r.fail(path+"."+name, v, "is not a valid entity name")
		return
	}
	*dst = s
}

// checkForwarding verifies, once all entities are known, that forwarding
// targets exist and are not the entity itself.
func (r *reader) checkForwarding(path string, ns *Namespace) {
	exists := func(name string) bool {
		_, q := ns.Queue(name)
		_, t := ns.Topic(name)
		return q || t
	}
	check := func(p, self, target string) {
		switch {
		case target == "":
		case equalFold(target, self):
			r.fail(p, target, "an entity cannot forward to itself")
		case !exists(target):
			r.fail(p, target, "names no queue or topic of the namespace")
		}
	}
	for i, q := range ns.Queues {
		pp := fmt.Sprintf("%s.Queues[%d].Properties", path, i)
		check(pp+".ForwardTo", q.Name, q.Properties.ForwardTo)
		check(pp+".ForwardDeadLetteredMessagesTo", q.Name, q.Properties.ForwardDeadLetteredMessagesTo)
	}
	for i, t := range ns.Topics {
		for j, s := range t.Subscriptions {
			pp := fmt.Sprintf("%s.Topics[%d].Subscriptions[%d].Properties", path, i, j)
			// A subscription is not an entity of the namespace, so it
			// cannot name itself; only existence is checked.
			check(pp+".ForwardTo", "", s.Properties.ForwardTo)
			check(pp+".ForwardDeadLetteredMessagesTo", "", s.Properties.ForwardDeadLetteredMessagesTo)
		}
	}
}

func sqlProblem(err error) string {
	var se *filter.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("SQL syntax error at offset %d: %s", se.Pos, se.Msg)
	}
	return err.Error()
}
