// Package blocks is seed 001's building blocks as one typed kit on top of funcapp, the same
// in every bounded context:
//
//   - Receptor: an event (of another context, or our own) becomes a command.
//   - Projection: events fold into a view document, once each, whatever the order.
//   - Task: work at scheduled times (a timer).
//   - Endpoint: an HTTP operation; Command makes one idempotent under an Idempotency-Key.
//
// (The fifth, the application service, is aggregate.Service.)
//
// Each block is a struct that describes itself completely, trigger included, and registers
// itself on a funcapp.App; a context's New lists its blocks and nothing else:
//
//	blocks.Register(app,
//		usage,          // blocks.Receptor[acl.Usage]
//		customerViews,  // blocks.Projection[any, CustomerView]
//		expiryTracker,  // blocks.Task
//		createCustomer, // blocks.Endpoint
//	)
//
// Receptors and projections on Service Bus declare the event types they want; the
// subscription's SQL filter is generated from them (funcapp.ServiceBusTrigger.Filter), and
// the topology (package topology) reads it from the registrations, so a block never receives
// a type it did not ask for and the broker's rules cannot drift from the code.
//
// Failures are classified once, here (see Classify): a message whose envelope cannot be read,
// whose event the ACL calls malformed (ErrMalformed), that a rule refuses for good (a
// *fault.Error, or ErrUnusable), or whose document cannot be stored, is dead-lettered with
// the reason; any other error is retried by redelivery.
package blocks

import "meterline/shared/funcapp"

// Block is one building block that registers its function(s) on an app.
type Block interface {
	Register(a *funcapp.App)
}

// Register registers every block on a, in order.
func Register(a *funcapp.App, blocks ...Block) {
	for _, b := range blocks {
		b.Register(a)
	}
}
