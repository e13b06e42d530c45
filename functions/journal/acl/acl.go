// Package acl is the Journal's anticorruption layer: the only code that reads other contexts'
// published languages (their contracts packages, never anything else of theirs). It checks the
// envelopes that arrive on the topics, and turns the revenue and usage events into the
// report's movements.
package acl

import (
	"fmt"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/functions/journal/domain"
	subscriptions "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

// Topics the Journal listens to: every context that publishes.
const (
	SubscriptionsTopic = subscriptions.Topic
	CloudAPITopic      = cloudapi.Source // the Cloud API publishes to the topic named after it
)

// ErrMalformed wraps blocks.ErrMalformed: the message is dead-lettered with the reason.
var ErrMalformed = fmt.Errorf("acl: %w", blocks.ErrMalformed)

// Envelope is a Service Bus message's envelope as the Journal records it: checked and canonical
// (domain.CheckEnvelope). An envelope that is not one is malformed.
func Envelope(e eventstore.Event) (eventstore.Event, error) {
	e, err := domain.CheckEnvelope(e)
	if err != nil {
		return e, fmt.Errorf("%w: event %q: %v", ErrMalformed, e.ID, err)
	}
	return e, nil
}

// ReportTypes are the events the monthly report folds.
var ReportTypes = []string{
	cloudapi.UsageReportedType,
	subscriptions.TypeConsumptionAdded, subscriptions.TypeChargeAdded,
	subscriptions.TypeInvoiceIssued, subscriptions.TypePaymentReceived,
}

var contracts = func() *eventstore.Registry {
	r := eventstore.NewRegistry()
	subscriptions.Register(r)
	cloudapi.Register(r)
	return r
}()

// MovementFrom turns one of the ReportTypes into a movement of a customer's month. A payload
// without a customer, or without a month to put it in, is malformed.
func MovementFrom(e eventstore.Event) (domain.Movement, error) {
	v, err := contracts.Decode(e)
	if err != nil {
		return domain.Movement{}, fmt.Errorf("%w: %s %s: %v", ErrMalformed, e.Type, e.ID, err)
	}
	var m domain.Movement
	switch p := v.(type) {
	case cloudapi.UsageReported:
		m = domain.Movement{CustomerID: p.CustomerID, Kind: domain.UsageMeasured, Units: p.Units, Requests: p.Requests}
		if !p.PeriodFrom.IsZero() {
			m.Month = domain.Month(p.PeriodFrom)
		}
	case subscriptions.ConsumptionAdded:
		m = domain.Movement{CustomerID: p.CustomerID, Kind: domain.ConsumptionPaid, Units: p.Units, Amount: p.Amount,
			Currency: p.Currency, Month: p.Month}
		if m.Month == "" && !p.PeriodFrom.IsZero() {
			m.Month = domain.Month(p.PeriodFrom)
		}
	case subscriptions.ChargeAdded:
		m = domain.Movement{CustomerID: p.CustomerID, Kind: domain.ChargeMade, Amount: p.Amount, Currency: p.Currency, Month: p.Month}
		if m.Month == "" && !p.ChargedAt.IsZero() {
			m.Month = domain.Month(p.ChargedAt)
		}
	case subscriptions.InvoiceIssued:
		m = domain.Movement{CustomerID: p.CustomerID, Kind: domain.InvoiceMade, Units: p.Units, Amount: p.Amount,
			Currency: p.Currency, Month: p.Period}
	case subscriptions.PaymentReceived:
		m = domain.Movement{CustomerID: p.CustomerID, Kind: domain.PaymentMade, Amount: p.Amount, Currency: p.Currency}
		at := p.ReceivedAt
		if at.IsZero() {
			at = e.CreatedAt
		}
		m.Month = domain.Month(at)
	default:
		return domain.Movement{}, fmt.Errorf("%w: %s is not a revenue or usage event", ErrMalformed, e.Type)
	}
	if m.CustomerID == "" {
		return domain.Movement{}, fmt.Errorf("%w: %s %s has no customerId", ErrMalformed, e.Type, e.ID)
	}
	if _, err := domain.ParseMonth(m.Month); err != nil {
		return domain.Movement{}, fmt.Errorf("%w: %s %s has no month (%q)", ErrMalformed, e.Type, e.ID, m.Month)
	}
	return m, nil
}
