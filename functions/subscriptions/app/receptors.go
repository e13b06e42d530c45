package app

import (
	"context"
	"errors"
	"fmt"

	"meterline/functions/subscriptions/acl"
	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// ErrUnusable marks an event a receptor can never act on (unreadable, or about a customer or
// invoice that does not exist). The function dead-letters its message with the reason instead
// of retrying it.
var ErrUnusable = errors.New("event cannot be handled")

// UsageReceptor: when the Cloud API reports usage, add the consumption to the customer.
type UsageReceptor struct{ customers *Customers }

// When handles one Cloud API event; types other than UsageReported are ignored.
func (r *UsageReceptor) When(ctx context.Context, e eventstore.Event) error {
	u, err := acl.UsageFrom(e)
	switch {
	case errors.Is(err, acl.ErrNotHandled):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnusable, err)
	}
	ctx = eventstore.WithCommandID(eventstore.HandlingEvent(ctx, e), "usage:"+u.CustomerID+":"+u.ReportID)
	err = r.customers.AddConsumption(ctx, AddConsumption{
		CustomerID: u.CustomerID, ReportID: u.ReportID, Units: u.Units, From: u.From, To: u.To,
	})
	if errors.Is(err, eventstore.ErrPartlyStored) {
		// Some events of this report's command are stored (their ids derive from the command
		// id): it was billed already, too long ago for the Customer to remember, and this re-run
		// made other events. Billed once is done.
		return nil
	}
	return unusableIfDomain(err)
}

// InvoiceReceptor: when an invoice is possibly expired, expire it (if still outstanding).
type InvoiceReceptor struct {
	customers *Customers
	events    *eventstore.Registry
}

// When handles one Subscriptions event; types other than InvoicePossiblyExpired are ignored.
func (r *InvoiceReceptor) When(ctx context.Context, e eventstore.Event) error {
	if e.Type != contracts.TypeInvoicePossiblyExpired {
		return nil
	}
	v, err := r.events.Decode(e)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnusable, err)
	}
	p := v.(contracts.InvoicePossiblyExpired)
	ctx = eventstore.WithCommandID(eventstore.HandlingEvent(ctx, e), "expire:"+p.InvoiceID)
	return unusableIfDomain(r.customers.ExpireInvoice(ctx, p.CustomerID, p.InvoiceID))
}

// unusableIfDomain marks domain errors (a rule says no: retrying cannot help) as ErrUnusable,
// and leaves infrastructure errors (worth a retry) as they are.
func unusableIfDomain(err error) error {
	if err == nil {
		return nil
	}
	if isDomain(err) {
		return fmt.Errorf("%w: %w", ErrUnusable, err)
	}
	return err
}
