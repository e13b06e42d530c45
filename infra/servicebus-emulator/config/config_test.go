package config_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meterline/infra/servicebus-emulator/config"
	"meterline/infra/servicebus-emulator/filter"
)

func TestParseSample(t *testing.T) {
	c, err := config.Load(filepath.Join("testdata", "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Namespaces) != 1 || c.Namespaces[0].Name != "sbemulatorns" || c.Logging.Type != "File" {
		t.Fatalf("namespaces/logging: %+v %+v", c.Namespaces, c.Logging)
	}
	ns := c.Namespaces[0]
	if len(ns.Queues) != 2 || len(ns.Topics) != 1 {
		t.Fatalf("got %d queues, %d topics", len(ns.Queues), len(ns.Topics))
	}

	q := ns.Queues[0]
	wantQ := config.EntityProperties{
		DeadLetteringOnMessageExpiration:    true,
		DefaultMessageTimeToLive:            30 * time.Minute,
		DuplicateDetectionHistoryTimeWindow: time.Minute,
		LockDuration:                        30 * time.Second,
		MaxDeliveryCount:                    5,
		RequiresDuplicateDetection:          true,
	}
	if q.Name != "meter.readings" || q.Properties != wantQ {
		t.Errorf("queue 0 = %+v, want properties %+v", q, wantQ)
	}
	// A queue without Properties gets the documented defaults.
	wantDefaults := config.EntityProperties{
		DefaultMessageTimeToLive:            time.Hour,
		DuplicateDetectionHistoryTimeWindow: 20 * time.Second,
		LockDuration:                        time.Minute,
		MaxDeliveryCount:                    config.DefaultMaxDeliveryCount,
	}
	if ns.Queues[1].Properties != wantDefaults {
		t.Errorf("queue 1 properties = %+v, want %+v", ns.Queues[1].Properties, wantDefaults)
	}
	if got, ok := ns.Queue("INVOICES-DUE"); !ok || got.Name != "invoices-due" {
		t.Errorf("Queue lookup is not case-insensitive: %v %v", got, ok)
	}

	topic, ok := ns.Topic("usage.events")
	if !ok || len(topic.Subscriptions) != 4 {
		t.Fatalf("topic: %+v", topic)
	}
	if topic.Properties.DefaultMessageTimeToLive != time.Hour || topic.Properties.LockDuration != 0 {
		t.Errorf("topic properties: %+v", topic.Properties)
	}

	bySys := topic.Subscriptions[0]
	corr, ok := bySys.Rules[0].Filter.(*filter.Correlation)
	if !ok || corr.Label != "usage.reported" || corr.ReplyToSessionID != "reply-session" || corr.To != "billing" {
		t.Errorf("correlation rule: %#v", bySys.Rules[0].Filter)
	}

	byUser := topic.Subscriptions[1]
	if byUser.Properties.LockDuration != 2*time.Minute || byUser.Properties.MaxDeliveryCount != 10 ||
		byUser.Properties.ForwardTo != "invoices-due" || byUser.Properties.DefaultMessageTimeToLive != time.Hour {
		t.Errorf("subscription properties: %+v", byUser.Properties)
	}
	m := &filter.MapMessage{UserProps: map[string]any{"tenant": "a", "tier": int32(2)}}
	if ok, err := byUser.Rules[0].Filter.Match(m); !ok || err != nil {
		t.Errorf("user-property correlation rule did not match: %v %v", ok, err)
	}

	sqlSub := topic.Subscriptions[2]
	r := sqlSub.Rules[0]
	if r.Name != "big-readings" || r.Action == nil {
		t.Fatalf("sql rule: %+v", r)
	}
	m = &filter.MapMessage{UserProps: map[string]any{"kind": "gas", "kwh": 150.0}}
	if ok, err := r.Filter.Match(m); !ok || err != nil {
		t.Errorf("sql rule did not match: %v %v", ok, err)
	}
	if err := r.Action.Apply(m); err != nil || m.UserProps["priority"] != "high" {
		t.Errorf("action: %v %v", err, m.UserProps)
	}

	all := topic.Subscriptions[3]
	if len(all.Rules) != 1 || all.Rules[0].Name != "$Default" || all.Rules[0].Filter != filter.True {
		t.Errorf("subscription without rules: %+v", all.Rules)
	}
}

// base is a minimal valid config the bad cases each break in one place.
const base = `{
  "UserConfig": {
    "Namespaces": [{
      "Name": "sbemulatorns",
      "Queues": [
        {"Name": "q1", "Properties": {"LockDuration": "PT1M", "MaxDeliveryCount": 3, "ForwardTo": ""}},
        {"Name": "q2"}
      ],
      "Topics": [{
        "Name": "t1",
        "Properties": {"DefaultMessageTimeToLive": "PT1H"},
        "Subscriptions": [
          {"Name": "s1", "Properties": {"LockDuration": "PT1M"}, "Rules": [
            {"Name": "r1", "Properties": {"FilterType": "Sql", "SqlFilter": {"SqlExpression": "a = 1"}}},
            {"Name": "r2", "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"Label": "x"}}}
          ]},
          {"Name": "s2"}
        ]
      }]
    }],
    "Logging": {"Type": "Console"}
  }
}`

type doc = map[string]any

func mutate(t *testing.T, change func(d doc)) []byte {
	t.Helper()
	var d doc
	if err := json.Unmarshal([]byte(base), &d); err != nil {
		t.Fatal(err)
	}
	change(d)
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func uc(d doc) doc { return d["UserConfig"].(doc) }
func ns(d doc) doc { return uc(d)["Namespaces"].([]any)[0].(doc) }
func queue(d doc, i int) doc {
	return ns(d)["Queues"].([]any)[i].(doc)
}
func qprops(d doc, i int) doc { return queue(d, i)["Properties"].(doc) }
func topic(d doc) doc         { return ns(d)["Topics"].([]any)[0].(doc) }
func sub(d doc, i int) doc    { return topic(d)["Subscriptions"].([]any)[i].(doc) }
func rule(d doc, i int) doc   { return sub(d, 0)["Rules"].([]any)[i].(doc) }
func rprops(d doc, i int) doc { return rule(d, i)["Properties"].(doc) }

func TestParseBase(t *testing.T) {
	if _, err := config.Parse([]byte(base)); err != nil {
		t.Fatal(err)
	}
}

func TestParseAcceptsWhatTheEmulatorAccepts(t *testing.T) {
	cases := []struct {
		name   string
		change func(d doc)
	}{
		{"unknown fields anywhere", func(d doc) {
			d["Extra"] = 1
			uc(d)["Extra"] = "x"
			queue(d, 0)["Comment"] = "ignored"
			qprops(d, 0)["AutoDeleteOnIdle"] = "PT1H"
			rprops(d, 0)["Note"] = []any{1}
		}},
		{"property names in another case", func(d doc) {
			p := qprops(d, 0)
			delete(p, "LockDuration")
			p["lockduration"] = "PT10S"
		}},
		{"no queues", func(d doc) { ns(d)["Queues"] = []any{} }},
		{"no topics", func(d doc) { ns(d)["Topics"] = []any{} }},
		{"lock duration at both limits", func(d doc) {
			qprops(d, 0)["LockDuration"] = "PT5S"
			sub(d, 0)["Properties"].(doc)["LockDuration"] = "PT5M"
		}},
		{"ttl at both limits", func(d doc) {
			queue(d, 1)["Properties"] = doc{"DefaultMessageTimeToLive": "PT5M"}
			topic(d)["Properties"] = doc{"DefaultMessageTimeToLive": "PT60M"}
		}},
		{"duplicate detection window limits", func(d doc) {
			queue(d, 1)["Properties"] = doc{"DuplicateDetectionHistoryTimeWindow": "PT5S", "RequiresDuplicateDetection": true}
			topic(d)["Properties"] = doc{"DuplicateDetectionHistoryTimeWindow": "PT300S"}
		}},
		{"max delivery count 1 and 10.0", func(d doc) {
			qprops(d, 0)["MaxDeliveryCount"] = 1
			queue(d, 1)["Properties"] = doc{"MaxDeliveryCount": 10.0}
		}},
		{"forward to another queue and topic", func(d doc) {
			qprops(d, 0)["ForwardTo"] = "Q2"
			qprops(d, 0)["ForwardDeadLetteredMessagesTo"] = "t1"
			sub(d, 1)["Properties"] = doc{"ForwardTo": "q1"}
		}},
		{"logging both", func(d doc) { uc(d)["Logging"] = doc{"Type": "File,Console"} }},
		{"names with dots, dashes, slashes, underscores", func(d doc) {
			queue(d, 0)["Name"] = "a_b-c.d/e9"
			queue(d, 1)["Name"] = "Z"
		}},
		{"rules empty", func(d doc) { sub(d, 0)["Rules"] = []any{} }},
		{"correlation with user properties only", func(d doc) {
			rprops(d, 1)["CorrelationFilter"] = doc{"Properties": doc{"n": 1.5, "b": true}}
		}},
		{"empty action expression", func(d doc) { rprops(d, 0)["Action"] = doc{"SqlExpression": ""} }},
		{"action", func(d doc) { rprops(d, 0)["Action"] = doc{"SqlExpression": "SET b = 2; REMOVE c"} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := config.Parse(mutate(t, c.change)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseRejectsWithPath(t *testing.T) {
	const nsPath = "UserConfig.Namespaces[0]"
	cases := []struct {
		name   string
		change func(d doc)
		path   string
		msg    string
	}{
		{"no UserConfig", func(d doc) { delete(d, "UserConfig") }, "UserConfig", "required"},
		{"no namespaces", func(d doc) { uc(d)["Namespaces"] = []any{} }, "UserConfig.Namespaces", "exactly one"},
		{"two namespaces", func(d doc) {
			uc(d)["Namespaces"] = append(uc(d)["Namespaces"].([]any), doc{"Name": "sbemulatorns", "Queues": []any{}, "Topics": []any{}})
		}, "UserConfig.Namespaces", "exactly one"},
		{"namespace name", func(d doc) { ns(d)["Name"] = "other" }, nsPath + ".Name", "sbemulatorns"},
		{"namespace without Queues", func(d doc) { delete(ns(d), "Queues") }, nsPath + ".Queues", "required"},
		{"namespace without Topics", func(d doc) { delete(ns(d), "Topics") }, nsPath + ".Topics", "required"},
		{"queues not an array", func(d doc) { ns(d)["Queues"] = doc{} }, nsPath + ".Queues", "array"},
		{"no logging", func(d doc) { delete(uc(d), "Logging") }, "UserConfig.Logging", "required"},
		{"logging type", func(d doc) { uc(d)["Logging"] = doc{"Type": "Syslog"} }, "UserConfig.Logging.Type", "one of"},
		{"queue without name", func(d doc) { delete(queue(d, 0), "Name") }, nsPath + ".Queues[0].Name", "required"},
		{"queue name not a string", func(d doc) { queue(d, 0)["Name"] = 7 }, nsPath + ".Queues[0].Name", "string"},
		{"queue name starts with dash", func(d doc) { queue(d, 0)["Name"] = "-q" }, nsPath + ".Queues[0].Name", "letters, digits"},
		{"queue name ends with dot", func(d doc) { queue(d, 0)["Name"] = "q." }, nsPath + ".Queues[0].Name", "letters, digits"},
		{"queue name with space", func(d doc) { queue(d, 0)["Name"] = "a b" }, nsPath + ".Queues[0].Name", "letters, digits"},
		{"queue name too long", func(d doc) { queue(d, 0)["Name"] = strings.Repeat("q", 261) }, nsPath + ".Queues[0].Name", "260"},
		{"duplicate queue", func(d doc) { queue(d, 1)["Name"] = "Q1" }, nsPath + ".Queues[1].Name", "duplicates"},
		{"topic named like a queue", func(d doc) { topic(d)["Name"] = "q2" }, nsPath + ".Topics[0].Name", "duplicates"},
		{"lock duration too short", func(d doc) { qprops(d, 0)["LockDuration"] = "PT4S" }, nsPath + ".Queues[0].Properties.LockDuration", "between PT5S and PT5M"},
		{"lock duration too long", func(d doc) { qprops(d, 0)["LockDuration"] = "PT5M1S" }, nsPath + ".Queues[0].Properties.LockDuration", "between"},
		{"lock duration not ISO", func(d doc) { qprops(d, 0)["LockDuration"] = "00:01:00" }, nsPath + ".Queues[0].Properties.LockDuration", "ISO 8601"},
		{"lock duration fraction", func(d doc) { qprops(d, 0)["LockDuration"] = "PT1.5S" }, nsPath + ".Queues[0].Properties.LockDuration", "ISO 8601"},
		{"lock duration lower case", func(d doc) { qprops(d, 0)["LockDuration"] = "pt1m" }, nsPath + ".Queues[0].Properties.LockDuration", "ISO 8601"},
		{"lock duration number", func(d doc) { qprops(d, 0)["LockDuration"] = 60 }, nsPath + ".Queues[0].Properties.LockDuration", "string"},
		{"ttl over an hour", func(d doc) { topic(d)["Properties"] = doc{"DefaultMessageTimeToLive": "P14D"} }, nsPath + ".Topics[0].Properties.DefaultMessageTimeToLive", "between PT5M and PT1H"},
		{"ttl huge", func(d doc) { topic(d)["Properties"] = doc{"DefaultMessageTimeToLive": "P99999999999999999999Y"} }, nsPath + ".Topics[0].Properties.DefaultMessageTimeToLive", "too long"},
		{"ttl under five minutes", func(d doc) { queue(d, 1)["Properties"] = doc{"DefaultMessageTimeToLive": "PT1M"} }, nsPath + ".Queues[1].Properties.DefaultMessageTimeToLive", "between"},
		{"duplicate window", func(d doc) { queue(d, 1)["Properties"] = doc{"DuplicateDetectionHistoryTimeWindow": "PT10M"} }, nsPath + ".Queues[1].Properties.DuplicateDetectionHistoryTimeWindow", "between PT5S and PT5M"},
		{"max delivery count 0", func(d doc) { qprops(d, 0)["MaxDeliveryCount"] = 0 }, nsPath + ".Queues[0].Properties.MaxDeliveryCount", "between 1 and 10"},
		{"max delivery count 11", func(d doc) { qprops(d, 0)["MaxDeliveryCount"] = 11 }, nsPath + ".Queues[0].Properties.MaxDeliveryCount", "between 1 and 10"},
		{"max delivery count 2.5", func(d doc) { qprops(d, 0)["MaxDeliveryCount"] = 2.5 }, nsPath + ".Queues[0].Properties.MaxDeliveryCount", "integer"},
		{"max delivery count string", func(d doc) { qprops(d, 0)["MaxDeliveryCount"] = "3" }, nsPath + ".Queues[0].Properties.MaxDeliveryCount", "integer"},
		{"boolean as string", func(d doc) { qprops(d, 0)["RequiresSession"] = "true" }, nsPath + ".Queues[0].Properties.RequiresSession", "true or false"},
		{"properties not an object", func(d doc) { queue(d, 0)["Properties"] = []any{} }, nsPath + ".Queues[0].Properties", "object"},
		{"forward to missing entity", func(d doc) { qprops(d, 0)["ForwardTo"] = "nowhere" }, nsPath + ".Queues[0].Properties.ForwardTo", "no queue or topic"},
		{"forward to itself", func(d doc) { qprops(d, 0)["ForwardTo"] = "q1" }, nsPath + ".Queues[0].Properties.ForwardTo", "itself"},
		{"subscription forwards dead letters nowhere", func(d doc) { sub(d, 1)["Properties"] = doc{"ForwardDeadLetteredMessagesTo": "gone"} }, nsPath + ".Topics[0].Subscriptions[1].Properties.ForwardDeadLetteredMessagesTo", "no queue or topic"},
		{"forward to invalid name", func(d doc) { qprops(d, 0)["ForwardTo"] = "bad name" }, nsPath + ".Queues[0].Properties.ForwardTo", "valid entity name"},
		{"topic without subscriptions", func(d doc) { delete(topic(d), "Subscriptions") }, nsPath + ".Topics[0].Subscriptions", "required"},
		{"topic with empty subscriptions", func(d doc) { topic(d)["Subscriptions"] = []any{} }, nsPath + ".Topics[0].Subscriptions", "at least one"},
		{"subscription lock duration", func(d doc) { sub(d, 0)["Properties"].(doc)["LockDuration"] = "PT6M" }, nsPath + ".Topics[0].Subscriptions[0].Properties.LockDuration", "between"},
		{"duplicate subscription", func(d doc) { sub(d, 1)["Name"] = "S1" }, nsPath + ".Topics[0].Subscriptions[1].Name", "duplicates"},
		{"subscription name too long", func(d doc) { sub(d, 1)["Name"] = strings.Repeat("s", 51) }, nsPath + ".Topics[0].Subscriptions[1].Name", "50"},
		{"duplicate rule", func(d doc) { rule(d, 1)["Name"] = "r1" }, nsPath + ".Topics[0].Subscriptions[0].Rules[1].Name", "duplicates"},
		{"rule name $Default", func(d doc) { rule(d, 1)["Name"] = "$Default" }, nsPath + ".Topics[0].Subscriptions[0].Rules[1].Name", "letters, digits"},
		{"rule without properties", func(d doc) { delete(rule(d, 0), "Properties") }, nsPath + ".Topics[0].Subscriptions[0].Rules[0].Properties", "required"},
		{"rule without filter type", func(d doc) { delete(rprops(d, 0), "FilterType") }, nsPath + ".Topics[0].Subscriptions[0].Rules[0].Properties.FilterType", "required"},
		{"unknown filter type", func(d doc) { rprops(d, 0)["FilterType"] = "Boolean" }, nsPath + ".Topics[0].Subscriptions[0].Rules[0].Properties.FilterType", "\"Correlation\" or \"Sql\""},
		{"sql without SqlFilter", func(d doc) { delete(rprops(d, 0), "SqlFilter") }, nsPath + ".Topics[0].Subscriptions[0].Rules[0].Properties.SqlFilter", "required"},
		{"sql without expression", func(d doc) { rprops(d, 0)["SqlFilter"] = doc{} }, nsPath + ".Topics[0].Subscriptions[0].Rules[0].Properties.SqlFilter.SqlExpression", "required"},
		{"bad sql", func(d doc) { rprops(d, 0)["SqlFilter"] = doc{"SqlExpression": "a = = 1"} }, nsPath + ".Topics[0].Subscriptions[0].Rules[0].Properties.SqlFilter.SqlExpression", "offset 4"},
		{"bad action", func(d doc) { rprops(d, 0)["Action"] = doc{"SqlExpression": "SET sys.SequenceNumber = 1"} }, nsPath + ".Topics[0].Subscriptions[0].Rules[0].Properties.Action.SqlExpression", "cannot be changed"},
		{"correlation without filter", func(d doc) { delete(rprops(d, 1), "CorrelationFilter") }, nsPath + ".Topics[0].Subscriptions[0].Rules[1].Properties.CorrelationFilter", "required"},
		{"correlation filter empty", func(d doc) { rprops(d, 1)["CorrelationFilter"] = doc{} }, nsPath + ".Topics[0].Subscriptions[0].Rules[1].Properties.CorrelationFilter", "at least one"},
		{"correlation field not a string", func(d doc) { rprops(d, 1)["CorrelationFilter"] = doc{"To": 5} }, nsPath + ".Topics[0].Subscriptions[0].Rules[1].Properties.CorrelationFilter.To", "string"},
		{"correlation properties empty", func(d doc) { rprops(d, 1)["CorrelationFilter"] = doc{"Properties": doc{}} }, nsPath + ".Topics[0].Subscriptions[0].Rules[1].Properties.CorrelationFilter.Properties", "at least one"},
		{"correlation property an object", func(d doc) { rprops(d, 1)["CorrelationFilter"] = doc{"Properties": doc{"x": doc{}}} }, nsPath + ".Topics[0].Subscriptions[0].Rules[1].Properties.CorrelationFilter.Properties.x", "string, number or boolean"},
		{"51 entities", func(d doc) {
			var qs []any
			for i := range 51 {
				qs = append(qs, doc{"Name": fmt.Sprintf("q%d", i+10)})
			}
			ns(d)["Queues"] = qs
		}, nsPath + ".Queues[50]", "more than 50"},
		{"21 SQL filters", func(d doc) {
			var ss []any
			for i := range 21 {
				ss = append(ss, doc{"Name": fmt.Sprintf("s%d", i), "Rules": []any{
					doc{"Name": "r", "Properties": doc{"FilterType": "Sql", "SqlFilter": doc{"SqlExpression": "1=1"}}},
				}})
			}
			topic(d)["Subscriptions"] = ss
		}, nsPath + ".Topics[0].Subscriptions[20].Rules[0].Properties.SqlFilter", "more than 20 SQL filters"},
		{"51 subscriptions", func(d doc) {
			var ss []any
			for i := range 51 {
				ss = append(ss, doc{"Name": fmt.Sprintf("s%d", i+10)})
			}
			topic(d)["Subscriptions"] = ss
		}, nsPath + ".Topics[0].Subscriptions[50]", "more than 50"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse(mutate(t, c.change))
			if err == nil {
				t.Fatal("accepted")
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want *FieldError, got %T %v", err, err)
			}
			if fe.Path != c.path {
				t.Errorf("path %q, want %q (%v)", fe.Path, c.path, err)
			}
			if !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q lacks %q or %q", err.Error(), c.path, c.msg)
			}
		})
	}
}

func TestBadSQLWrapsSyntaxError(t *testing.T) {
	data := mutate(t, func(d doc) { rprops(d, 0)["SqlFilter"] = doc{"SqlExpression": "a IN (1,"} })
	_, err := config.Parse(data)
	var se *filter.SyntaxError
	if !errors.As(err, &se) || se.Pos != 8 {
		t.Fatalf("want a wrapped *filter.SyntaxError at 8, got %v", err)
	}
}

func TestParseReportsEveryBadField(t *testing.T) {
	data := mutate(t, func(d doc) {
		qprops(d, 0)["LockDuration"] = "PT1S"
		qprops(d, 0)["MaxDeliveryCount"] = 99
	})
	_, err := config.Parse(data)
	if err == nil || !strings.Contains(err.Error(), "LockDuration") || !strings.Contains(err.Error(), "MaxDeliveryCount") {
		t.Fatalf("want both fields reported, got %v", err)
	}
}

func TestParseInvalidJSON(t *testing.T) {
	for _, in := range []string{"", "{", `{"UserConfig": }`, "[]", `{"UserConfig": {}} {}`, "null"} {
		if _, err := config.Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
	_, err := config.Parse([]byte("{\n  \"UserConfig\": ,\n}"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("want the line of a JSON syntax error, got %v", err)
	}
}

func TestParseAcceptsBOM(t *testing.T) {
	if _, err := config.Parse(append([]byte("\xef\xbb\xbf"), base...)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := config.Load(filepath.Join(t.TempDir(), "nope.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want ErrNotExist, got %v", err)
	}
}

func TestDefault(t *testing.T) {
	c := config.Default()
	if len(c.Namespaces) != 1 || c.Namespaces[0].Name != "sbemulatorns" || len(c.Namespaces[0].Queues) != 0 || len(c.Namespaces[0].Topics) != 0 {
		t.Fatalf("Default() = %+v", c)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT5S": 5 * time.Second, "PT1M": time.Minute, "P0DT1M": time.Minute, "PT1M30S": 90 * time.Second,
		"PT0H5M": 5 * time.Minute, "PT300S": 5 * time.Minute,
	} {
		data := mutate(t, func(d doc) { qprops(d, 0)["LockDuration"] = in })
		c, err := config.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.Namespaces[0].Queues[0].Properties.LockDuration; got != want {
			t.Errorf("%s = %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"P", "PT", "P1H", "PT1D", "PT1M1M", "PT1S1M", "P1", "1M", "PT-1M", "PT 1M", "P1W"} {
		data := mutate(t, func(d doc) { qprops(d, 0)["LockDuration"] = in })
		if _, err := config.Parse(data); err == nil {
			t.Errorf("%q accepted as a lock duration", in)
		}
	}
}

func TestFieldErrorValue(t *testing.T) {
	_, err := config.Parse(mutate(t, func(d doc) { qprops(d, 0)["MaxDeliveryCount"] = 11 }))
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Value != int64(11) {
		t.Fatalf("want Value int64(11), got %#v", err)
	}
	want := "config: UserConfig.Namespaces[0].Queues[0].Properties.MaxDeliveryCount = 11: must be between 1 and 10"
	if fe.Error() != want {
		t.Errorf("Error() = %q, want %q", fe.Error(), want)
	}
	_, err = config.Parse(mutate(t, func(d doc) { qprops(d, 0)["LockDuration"] = "PT1S" }))
	if !errors.As(err, &fe) || !strings.Contains(fe.Error(), `= "PT1S": must be between PT5S and PT5M`) {
		t.Errorf("got %v", err)
	}
}
