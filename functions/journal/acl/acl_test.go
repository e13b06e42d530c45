package acl_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/functions/journal/acl"
	"meterline/functions/journal/domain"
	subscriptions "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

func event(typ string, payload any) eventstore.Event {
	data, _ := json.Marshal(payload)
	return eventstore.Event{ID: "e-" + typ, Type: typ, Source: "test", CreatedAt: time.Date(2026, 4, 30, 23, 0, 0, 0, time.UTC), Data: data}
}

func TestMovementsOfEachReportType(t *testing.T) {
	march := time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)
	for _, c := range []struct {
		e    eventstore.Event
		want domain.Movement
	}{
		{event(cloudapi.UsageReportedType, cloudapi.UsageReported{ReportID: "r", CustomerID: "c", Units: 7, Requests: 2, PeriodFrom: march}),
			domain.Movement{CustomerID: "c", Month: "2026-03", Kind: domain.UsageMeasured, Units: 7, Requests: 2}},
		{event(subscriptions.TypeConsumptionAdded, subscriptions.ConsumptionAdded{CustomerID: "c", Units: 7, Amount: 70, Currency: "EUR", Month: "2026-03"}),
			domain.Movement{CustomerID: "c", Month: "2026-03", Kind: domain.ConsumptionPaid, Units: 7, Amount: 70, Currency: "EUR"}},
		{event(subscriptions.TypeChargeAdded, subscriptions.ChargeAdded{CustomerID: "c", Amount: 500, Currency: "EUR", ChargedAt: march}),
			domain.Movement{CustomerID: "c", Month: "2026-03", Kind: domain.ChargeMade, Amount: 500, Currency: "EUR"}},
		{event(subscriptions.TypeInvoiceIssued, subscriptions.InvoiceIssued{CustomerID: "c", Period: "2026-03", Amount: 570, Units: 7, Currency: "EUR"}),
			domain.Movement{CustomerID: "c", Month: "2026-03", Kind: domain.InvoiceMade, Units: 7, Amount: 570, Currency: "EUR"}},
		{event(subscriptions.TypePaymentReceived, subscriptions.PaymentReceived{CustomerID: "c", Amount: 570, Currency: "EUR"}),
			domain.Movement{CustomerID: "c", Month: "2026-04", Kind: domain.PaymentMade, Amount: 570, Currency: "EUR"}}, // no receivedAt: the event's time
	} {
		got, err := acl.MovementFrom(c.e)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.e.Type, got, err, c.want)
		}
	}
}

func TestMalformedEventsAreSaidSo(t *testing.T) {
	for _, e := range []eventstore.Event{
		event(subscriptions.TypeChargeAdded, subscriptions.ChargeAdded{Amount: 5, Month: "2026-03"}), // no customer
		event(cloudapi.UsageReportedType, cloudapi.UsageReported{CustomerID: "c"}),                   // no period
		event(subscriptions.TypeInvoiceIssued, subscriptions.InvoiceIssued{CustomerID: "c", Period: "March"}),
		{ID: "x", Type: subscriptions.TypeChargeAdded, Data: json.RawMessage(`[1]`)},
		{ID: "y", Type: "other.Thing", Data: json.RawMessage(`{}`)},
	} {
		if _, err := acl.MovementFrom(e); !errors.Is(err, blocks.ErrMalformed) {
			t.Errorf("%s %s: %v; want ErrMalformed", e.Type, e.Data, err)
		}
	}
	if _, err := acl.Envelope(eventstore.Event{ID: "x", Type: "t"}); !errors.Is(err, blocks.ErrMalformed) {
		t.Errorf("an envelope without source and time: %v", err)
	}
}
