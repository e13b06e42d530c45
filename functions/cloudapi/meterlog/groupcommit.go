package meterlog

import (
	"context"
	"sync"

	"meterline/functions/cloudapi/domain"
)

// Group commit: a customer's concurrent requests share entity-group transactions instead of
// paying one each. At most maxInFlight transactions per customer are under way; a request that
// arrives while they are waits in the customer's queue, and whichever request finishes a
// transaction hands the queue's head the lead: it commits itself with up to maxBatch-1 of the
// requests queued behind it. A lone request is never delayed (it leads at once), every
// request is durable before Record returns, and a transaction costs one round trip however
// many requests it carries.
//
// Two in flight, not more: a transaction's fixed cost dwarfs its per-row cost (on Azurite,
// roughly 1.4 ms against 0.15 ms a row), so fewer, fuller transactions do more per second.
// Two still overlap one commit's round trip with the next one's.
const (
	maxInFlight = 2
	maxBatch    = 50 // two rows each: 100 operations, the most a transaction holds
)

type groupCommit struct {
	mu     sync.Mutex
	groups map[string]*group // by customer partition
}

type group struct {
	busy  int // transactions under way
	queue []*waiter
}

type waiter struct {
	entry domain.MeterEntry
	done  chan outcome // the result, or {lead: true}
}

type outcome struct {
	entry domain.MeterEntry
	fresh bool
	err   error
	lead  bool // no result yet: the receiver commits its own batch now
}

func (g *groupCommit) record(ctx context.Context, t *Table, e domain.MeterEntry) outcome {
	me := &waiter{entry: e, done: make(chan outcome, 1)}
	pk := partition(e.CustomerID)
	g.mu.Lock()
	if g.groups == nil {
		g.groups = map[string]*group{}
	}
	gr := g.groups[pk]
	if gr == nil {
		gr = &group{}
		g.groups[pk] = gr
	}
	if gr.busy >= maxInFlight {
		gr.queue = append(gr.queue, me)
		g.mu.Unlock()
		// Never abandon the queue (a waiter may be handed the lead); the wait is bounded by
		// the transactions ahead, each bounded by the SDK's timeouts.
		if o := <-me.done; !o.lead {
			return o
		}
		g.mu.Lock()
	} else {
		gr.busy++
	}
	batch := []*waiter{me}
	for len(batch) < maxBatch && len(gr.queue) > 0 {
		batch = append(batch, gr.queue[0])
		gr.queue = gr.queue[1:]
	}
	g.mu.Unlock()

	// One caller's cancellation must not fail the others' requests carried in its batch.
	g.commit(context.WithoutCancel(ctx), t, batch)

	g.mu.Lock()
	if len(gr.queue) > 0 {
		next := gr.queue[0]
		gr.queue = gr.queue[1:]
		next.done <- outcome{lead: true} // it inherits this transaction slot
	} else {
		gr.busy--
		if gr.busy == 0 {
			delete(g.groups, pk)
		}
	}
	g.mu.Unlock()
	return <-me.done
}

// commit records the batch and answers every waiter in it (the leader included).
func (g *groupCommit) commit(ctx context.Context, t *Table, batch []*waiter) {
	// The same request id twice in a batch (a client retrying concurrently): record it once and
	// give the others the stored entry as a repeat.
	first := map[string]int{}
	var entries []domain.MeterEntry
	for _, w := range batch {
		if _, seen := first[w.entry.RequestID]; !seen {
			first[w.entry.RequestID] = len(entries)
			entries = append(entries, w.entry)
		}
	}
	results := t.recordMany(ctx, entries)
	answered := map[string]bool{}
	for _, w := range batch {
		o := results[first[w.entry.RequestID]]
		if answered[w.entry.RequestID] && o.err == nil {
			o.fresh = false
		}
		answered[w.entry.RequestID] = true
		w.done <- o
	}
}
