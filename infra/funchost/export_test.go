package funchost

import "context"

// Seams for the black-box tests.

type MessageReceiver = messageReceiver

type InvocationTiming = invocationTiming

// SetReceiverOpener makes serviceBusTrigger listeners use f instead of azservicebus.
func SetReceiverOpener(h *Host, f func(ctx context.Context, fn *Function) (MessageReceiver, string, func(), error)) {
	h.openReceiver = f
}

// SetObserver receives the timing of every Service Bus invocation.
func SetObserver(h *Host, f func(InvocationTiming)) { h.observe = f }

// HandlerPIDs are the current handler process ids, one per app.
func HandlerPIDs(h *Host) []int {
	var out []int
	for _, a := range h.apps {
		out = append(out, a.worker.PID())
	}
	return out
}
