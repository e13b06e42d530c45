package app

import (
	"context"
	"errors"
	"fmt"

	"meterline/functions/subscriptions/acl"
	"meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

// ApplyUsage: when the Cloud API reports usage, add the consumption to the customer.
func applyUsage(customers *Customers) blocks.Receptor[acl.Usage] {
	return blocks.Receptor[acl.Usage]{
		Name:   "ApplyUsage",
		Source: blocks.Source[acl.Usage]{Topic: acl.CloudAPITopic, Types: acl.UsageTypes, Translate: acl.UsageFrom},
		When: func(ctx context.Context, e blocks.Event[acl.Usage]) error {
			u := e.Fact
			// The report is the command: two events about one report bill it once.
			ctx = eventstore.WithCommandID(ctx, "usage:"+u.CustomerID+":"+u.ReportID)
			err := customers.AddConsumption(ctx, AddConsumption{CustomerID: u.CustomerID, ReportID: u.ReportID, Units: u.Units, From: u.From, To: u.To})
			if errors.Is(err, eventstore.ErrPartlyStored) {
				// Some events of this report's command are stored (their ids derive from the
				// command id): it was billed already, too long ago for the Customer to remember,
				// and this re-run made other events. Billed once is done.
				return nil
			}
			return err
		},
	}
}

// ExpireInvoices: when an invoice is possibly expired (the InvoiceExpiryTracker task said so),
// expire it if it is still outstanding (seed 001's example receptor).
func expireInvoices(customers *Customers, events *eventstore.Registry) blocks.Receptor[contracts.InvoicePossiblyExpired] {
	return blocks.Receptor[contracts.InvoicePossiblyExpired]{
		Name: "ExpireInvoices",
		Source: blocks.Source[contracts.InvoicePossiblyExpired]{
			Topic: contracts.Topic, Types: []string{contracts.TypeInvoicePossiblyExpired},
			Translate: func(e eventstore.Event) (contracts.InvoicePossiblyExpired, error) {
				return decode[contracts.InvoicePossiblyExpired](events, e)
			},
		},
		When: func(ctx context.Context, e blocks.Event[contracts.InvoicePossiblyExpired]) error {
			ctx = eventstore.WithCommandID(ctx, "expire:"+e.Fact.InvoiceID)
			return customers.ExpireInvoice(ctx, e.Fact.CustomerID, e.Fact.InvoiceID)
		},
	}
}

// decode reads one of Subscriptions' own events as its contract type; a payload that does not
// decode is malformed.
func decode[T any](events *eventstore.Registry, e eventstore.Event) (T, error) {
	var zero T
	v, err := events.Decode(e)
	if err != nil {
		return zero, fmt.Errorf("%w: %s %s: %v", blocks.ErrMalformed, e.Type, e.ID, err)
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %s %s: decodes to %T", blocks.ErrMalformed, e.Type, e.ID, v)
	}
	return t, nil
}
