package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/functions/internal/apps"
	"meterline/functions/internal/topology"
	"meterline/shared/blocks"
	"meterline/shared/connect"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
	"meterline/shared/servicebus"
)

// Dead letters live in two kinds of queue, both named here by what the topology calls them:
//
//   - "<app>-deadletters" (funcapp.DeadLetterQueue): what a function refused for good (a poison
//     message); its body is a funcapp.DeadLetter that wraps the original message;
//   - a subscription's own $deadletterqueue, named by the subscription: what the broker gave
//     up on (delivery count exceeded, expired); the message itself.
//
// A message is QUEUE/SEQ, its sequence number in that queue.
func deadLetters(ctx context.Context, args []string, stdout io.Writer, env func(string) string) error {
	if len(args) == 0 {
		return usage("deadletters: list, show, resubmit or purge")
	}
	fs := flag.NewFlagSet("deadletters "+args[0], flag.ContinueOnError)
	settingsPath := settingsFlag(fs)
	body := fs.String("body", "", "resubmit: a file with the fixed message body (an event envelope) to send instead")
	yes := fs.Bool("yes", false, "purge: really delete")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	tp, err := apps.Topology()
	if err != nil {
		return err
	}
	all := queuesOf(tp)
	var (
		fixed []byte
		q     dlq
		seq   int64
	)
	// Every argument is checked before anything connects.
	switch cmd := args[0]; cmd {
	case "list":
		if fs.NArg() > 1 {
			return usage("deadletters list [QUEUE]")
		}
		if fs.NArg() == 1 {
			q, err := findQueue(all, fs.Arg(0))
			if err != nil {
				return err
			}
			all = []dlq{q}
		}
	case "show", "resubmit", "purge":
		if fs.NArg() != 1 {
			return usage("deadletters %s QUEUE/SEQ", cmd)
		}
		if q, seq, err = parseRef(all, fs.Arg(0), cmd != "purge"); err != nil {
			return err
		}
		if cmd == "resubmit" && *body != "" {
			if fixed, err = os.ReadFile(*body); err != nil {
				return usage("deadletters resubmit --body: %v", err)
			}
			if _, err := eventstore.UnmarshalEnvelope(fixed); err != nil {
				return usage("deadletters resubmit --body %s: not an event envelope: %v", *body, err)
			}
		}
	default:
		return usage("deadletters: unknown command %q (list, show, resubmit, purge)", cmd)
	}
	setting, err := loadSettings(*settingsPath, env)
	if err != nil {
		return err
	}
	client, err := connect.ServiceBus(setting, funcapp.DefaultServiceBusConnection)
	if err != nil {
		return err
	}
	defer client.Close(context.WithoutCancel(ctx))
	d := &dlqs{client: client, tp: tp, out: stdout}
	switch args[0] {
	case "list":
		return d.list(ctx, all)
	case "show":
		l, err := d.peekOne(ctx, q, seq)
		if err != nil {
			return err
		}
		d.show(l)
		return nil
	case "resubmit":
		return d.resubmit(ctx, q, seq, fixed)
	default:
		return d.purge(ctx, q, seq, *yes)
	}
}

// dlq is a queue of dead letters.
type dlq struct {
	Name  string // "<app>-deadletters", or the subscription's name
	Topic string // the subscription's topic; "" for an app's queue
	Sub   topology.Subscription
}

func queuesOf(tp topology.Topology) []dlq {
	var out []dlq
	for _, q := range tp.Queues {
		out = append(out, dlq{Name: q.Name})
	}
	for _, t := range tp.Topics {
		for _, s := range t.Subscriptions {
			out = append(out, dlq{Name: s.Name, Topic: t.Name, Sub: s})
		}
	}
	return out
}

func findQueue(all []dlq, name string) (dlq, error) {
	i := slices.IndexFunc(all, func(q dlq) bool { return q.Name == name })
	if i < 0 {
		var names []string
		for _, q := range all {
			names = append(names, q.Name)
		}
		return dlq{}, usage("deadletters: no queue %q (queues: %s)", name, strings.Join(names, ", "))
	}
	return all[i], nil
}

// parseRef reads QUEUE/SEQ (or QUEUE alone, when seqOptional... i.e. not needSeq); seq -1
// means the whole queue.
func parseRef(all []dlq, ref string, needSeq bool) (dlq, int64, error) {
	name, seqText, hasSeq := strings.Cut(ref, "/")
	q, err := findQueue(all, name)
	if err != nil {
		return dlq{}, 0, err
	}
	if !hasSeq {
		if needSeq {
			return dlq{}, 0, usage("deadletters: %q names no message: want QUEUE/SEQ, as list shows", ref)
		}
		return q, -1, nil
	}
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 0 {
		return dlq{}, 0, usage("deadletters: %q: the part after / is a sequence number, as list shows", ref)
	}
	return q, seq, nil
}

type dlqs struct {
	client *azservicebus.Client
	tp     topology.Topology
	out    io.Writer
}

func (d *dlqs) receiver(q dlq, mode azservicebus.ReceiveMode) (*azservicebus.Receiver, error) {
	if q.Topic == "" {
		return d.client.NewReceiverForQueue(q.Name, &azservicebus.ReceiverOptions{ReceiveMode: mode})
	}
	return d.client.NewReceiverForSubscription(q.Topic, q.Name, &azservicebus.ReceiverOptions{ReceiveMode: mode, SubQueue: azservicebus.SubQueueDeadLetter})
}

// letter is a dead letter as the tool shows it, with the original message it stands for.
type letter struct {
	Queue       dlq
	Seq         int64
	Enqueued    time.Time
	Reason      string
	Description string
	Function    string // app.Function, for an app's dead letter
	Original    *azservicebus.Message
	Delivery    int
	raw         *azservicebus.ReceivedMessage
}

func (l letter) ref() string { return l.Queue.Name + "/" + strconv.FormatInt(l.Seq, 10) }

// letterOf unwraps m: an app's dead letter holds the original in its body; a subscription's is it.
func letterOf(q dlq, m *azservicebus.ReceivedMessage) letter {
	l := letter{Queue: q, Seq: deref(m.SequenceNumber), raw: m, Delivery: int(m.DeliveryCount)}
	if m.EnqueuedTime != nil {
		l.Enqueued = m.EnqueuedTime.UTC()
	}
	if q.Topic == "" {
		var dl funcapp.DeadLetter
		dec := json.NewDecoder(bytes.NewReader(m.Body))
		dec.UseNumber()
		if err := dec.Decode(&dl); err != nil || dl.Function == "" {
			l.Reason, l.Description = "unreadable", "the body is no funcapp.DeadLetter"
			return l
		}
		l.Reason, l.Description, l.Function, l.Delivery = dl.Reason, dl.Error, dl.App+"."+dl.Function, dl.DeliveryCount
		if !dl.DeadLetteredAt.IsZero() {
			l.Enqueued = dl.DeadLetteredAt.UTC()
		}
		orig := &azservicebus.Message{Body: dl.Body, ApplicationProperties: map[string]any{}}
		for k, v := range dl.ApplicationProperties {
			orig.ApplicationProperties[k] = propertyValue(v)
		}
		orig.MessageID, orig.CorrelationID, orig.Subject, orig.ContentType = nonEmpty(dl.MessageID), nonEmpty(dl.CorrelationID), nonEmpty(dl.Subject), nonEmpty(dl.ContentType)
		l.Original = orig
		return l
	}
	l.Reason, l.Description = deref(m.DeadLetterReason), deref(m.DeadLetterErrorDescription)
	l.Function = q.Sub.App + "." + q.Sub.Function
	orig := &azservicebus.Message{Body: m.Body, ApplicationProperties: map[string]any{},
		MessageID: nonEmpty(m.MessageID), CorrelationID: m.CorrelationID, Subject: m.Subject, ContentType: m.ContentType}
	for k, v := range m.ApplicationProperties {
		// The broker notes why it dead-lettered a message in its properties: not the original's.
		if k != "DeadLetterReason" && k != "DeadLetterErrorDescription" {
			orig.ApplicationProperties[k] = v
		}
	}
	l.Original = orig
	return l
}

// propertyValue turns a property that went through JSON back into a Service Bus value.
func propertyValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case string, bool, nil:
		return x
	}
	b, _ := json.Marshal(v) // nested values have no Service Bus type: kept as their JSON
	return string(b)
}

// peekAll reads every dead letter of q without taking it.
func (d *dlqs) peekAll(ctx context.Context, q dlq) ([]letter, error) {
	r, err := d.receiver(q, azservicebus.ReceiveModePeekLock)
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []letter
	from := int64(0)
	for {
		msgs, err := r.PeekMessages(ctx, 100, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &from})
		if err != nil {
			return nil, fmt.Errorf("peek %s: %w", q.Name, err)
		}
		for _, m := range msgs {
			out = append(out, letterOf(q, m))
			from = max(from, deref(m.SequenceNumber)+1)
		}
		if len(msgs) == 0 {
			return out, nil
		}
	}
}

func (d *dlqs) peekOne(ctx context.Context, q dlq, seq int64) (letter, error) {
	r, err := d.receiver(q, azservicebus.ReceiveModePeekLock)
	if err != nil {
		return letter{}, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	msgs, err := r.PeekMessages(ctx, 1, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &seq})
	if err != nil {
		return letter{}, fmt.Errorf("peek %s: %w", q.Name, err)
	}
	if len(msgs) == 0 || deref(msgs[0].SequenceNumber) != seq {
		return letter{}, usage("deadletters: no message %s/%d (list shows what there is)", q.Name, seq)
	}
	return letterOf(q, msgs[0]), nil
}

func (d *dlqs) list(ctx context.Context, queues []dlq) error {
	total := 0
	for _, q := range queues {
		letters, err := d.peekAll(ctx, q)
		if err != nil {
			return err
		}
		for _, l := range letters {
			fmt.Fprintf(d.out, "%-50s %s  %-20s %-40s %s\n", l.ref(), l.Enqueued.Format(time.RFC3339), l.Reason, l.Function, oneLine(l.Description, 100))
		}
		total += len(letters)
	}
	fmt.Fprintf(d.out, "%d dead letters in %d queues\n", total, len(queues))
	return nil
}

func (d *dlqs) show(l letter) {
	w := d.out
	fmt.Fprintln(w, l.ref())
	fmt.Fprintf(w, "  reason:         %s\n", l.Reason)
	fmt.Fprintf(w, "  description:    %s\n", l.Description)
	if sub, ok := d.destination(l); ok {
		fmt.Fprintf(w, "  function:       %s (topic %s, subscription %s)\n", l.Function, sub.topic, sub.sub.Name)
	} else {
		fmt.Fprintf(w, "  function:       %s\n", l.Function)
	}
	fmt.Fprintf(w, "  dead-lettered:  %s\n", l.Enqueued.Format(time.RFC3339Nano))
	fmt.Fprintf(w, "  delivery count: %d\n", l.Delivery)
	if l.Original == nil {
		fmt.Fprintf(w, "  body:\n%s\n", indent(l.raw.Body))
		return
	}
	o := l.Original
	fmt.Fprintf(w, "  message id:     %s\n", deref(o.MessageID))
	fmt.Fprintf(w, "  correlation id: %s\n", deref(o.CorrelationID))
	fmt.Fprintf(w, "  subject:        %s\n", deref(o.Subject))
	fmt.Fprintf(w, "  content type:   %s\n", deref(o.ContentType))
	fmt.Fprintln(w, "  properties:")
	keys := make([]string, 0, len(o.ApplicationProperties))
	for k := range o.ApplicationProperties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s = %v\n", k, o.ApplicationProperties[k])
	}
	fmt.Fprintf(w, "  body:\n%s\n", indent(o.Body))
}

// destination is where the original came from: the subscription of the function that gave up.
func (d *dlqs) destination(l letter) (target, bool) {
	if l.Queue.Topic != "" {
		return target{l.Queue.Topic, l.Queue.Sub}, true
	}
	for _, t := range d.tp.Topics {
		for _, s := range t.Subscriptions {
			if s.App+"."+s.Function == l.Function {
				return target{t.Name, s}, true
			}
		}
	}
	return target{}, false
}

// resubmit sends the original message (or its fixed body) back to the subscription it came
// from, and only there (blocks.ReplayTo), then completes the dead letter. A crash between the
// two sends it twice at worst, which the consumers' dedupe absorbs.
func (d *dlqs) resubmit(ctx context.Context, q dlq, seq int64, fixed []byte) error {
	peeked, err := d.peekOne(ctx, q, seq)
	if err != nil {
		return err
	}
	if peeked.Original == nil {
		return usage("deadletters: %s holds no original message to resubmit (%s)", peeked.ref(), peeked.Description)
	}
	dest, ok := d.destination(peeked)
	if !ok {
		return fmt.Errorf("deadletters: %s: function %s reads no subscription any more", peeked.ref(), peeked.Function)
	}
	r, err := d.receiver(q, azservicebus.ReceiveModePeekLock)
	if err != nil {
		return err
	}
	defer r.Close(context.WithoutCancel(ctx))
	m, err := takeLocked(ctx, r, seq)
	if err != nil {
		return fmt.Errorf("deadletters: %s/%d: %w", q.Name, seq, err)
	}
	l := letterOf(q, m)
	msg := l.Original
	if fixed != nil {
		e, _ := eventstore.UnmarshalEnvelope(fixed) // checked before connecting
		if msg, err = servicebus.Message(e); err != nil {
			_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
			return err
		}
		msg.Body = fixed
	}
	// A new message id: the topic's duplicate detection may still remember the original's.
	id := "resubmit:" + l.ref()
	msg.MessageID = &id
	msg.ApplicationProperties[blocks.ReplayTo] = dest.sub.Name
	sender, err := d.client.NewSender(dest.topic, nil)
	if err != nil {
		_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
		return err
	}
	defer sender.Close(context.WithoutCancel(ctx))
	if err := sender.SendMessage(ctx, msg, nil); err != nil {
		_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
		return fmt.Errorf("deadletters: resubmit %s to %s: %w", l.ref(), dest.topic, err)
	}
	if err := r.CompleteMessage(ctx, m, nil); err != nil {
		return fmt.Errorf("deadletters: %s was resubmitted but is still dead-lettered: %w", l.ref(), err)
	}
	fmt.Fprintf(d.out, "resubmitted %s to %s (topic %s) as message %s\n", l.ref(), dest.sub.Name, dest.topic, id)
	return nil
}

// purge deletes one dead letter (seq >= 0) or every one of q, only with yes.
func (d *dlqs) purge(ctx context.Context, q dlq, seq int64, yes bool) error {
	var letters []letter
	if seq >= 0 {
		l, err := d.peekOne(ctx, q, seq)
		if err != nil {
			return err
		}
		letters = []letter{l}
	} else {
		var err error
		if letters, err = d.peekAll(ctx, q); err != nil {
			return err
		}
	}
	if !yes {
		return usage("deadletters purge would delete %d dead letters of %s: add --yes", len(letters), q.Name)
	}
	r, err := d.receiver(q, azservicebus.ReceiveModePeekLock)
	if err != nil {
		return err
	}
	defer r.Close(context.WithoutCancel(ctx))
	purged := 0
	for _, l := range letters {
		m, err := takeLocked(ctx, r, l.Seq)
		if err != nil {
			return fmt.Errorf("deadletters: purged %d of %s, then %s: %w", purged, q.Name, l.ref(), err)
		}
		if err := r.CompleteMessage(ctx, m, nil); err != nil {
			return err
		}
		purged++
	}
	fmt.Fprintf(d.out, "purged %d dead letters of %s\n", purged, q.Name)
	return nil
}

// lockWait bounds the wait for a dead letter locked by someone else (its lock's duration).
const lockWait = topology.LockDuration + 5*time.Second

// takeLocked receives the message seq under a lock, releasing the others it had to take first.
//
// It asks for one message at a time: the SDK leaves the credits of a larger request open after
// it returns, so the broker would hand the messages abandoned here straight back to this
// receiver, which may close with one of them in flight and leave it locked for a whole lock
// duration (a purge right after a resubmit then waited 30 s for it).
func takeLocked(ctx context.Context, r *azservicebus.Receiver, seq int64) (*azservicebus.ReceivedMessage, error) {
	var held []*azservicebus.ReceivedMessage
	defer func() {
		for _, m := range held {
			_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
		}
	}()
	wait, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	for len(held) < 10_000 {
		msgs, err := r.ReceiveMessages(wait, 1, nil)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, errors.New("it is locked by another receiver, or gone")
		}
		if err != nil {
			return nil, err
		}
		var found *azservicebus.ReceivedMessage
		for _, m := range msgs {
			if deref(m.SequenceNumber) == seq && found == nil {
				found = m
			} else {
				held = append(held, m)
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, errors.New("not found among the first 10,000")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// indent is a body as shown: indented JSON when it is JSON, else the text.
func indent(body []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, body, "    ", "  ") == nil {
		return "    " + b.String()
	}
	return "    " + strings.ReplaceAll(string(body), "\n", "\n    ")
}
