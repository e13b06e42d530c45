package funchost

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// messageReceiver is the part of *azservicebus.Receiver the trigger uses; a
// fake stands in for it in unit tests.
type messageReceiver interface {
	ReceiveMessages(ctx context.Context, maxMessages int, options *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.AbandonMessageOptions) error
	RenewMessageLock(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.RenewMessageLockOptions) error
	Close(ctx context.Context) error
}

// openReceiver opens the peek-lock receiver of a serviceBusTrigger; it
// returns the receiver, the namespace name for metadata, and a closer.
type openReceiver func(ctx context.Context, fn *Function) (messageReceiver, string, func(), error)

func openAzureReceiver(ctx context.Context, fn *Function) (messageReceiver, string, func(), error) {
	client, err := azservicebus.NewClientFromConnectionString(fn.ServiceBusConnection, nil)
	if err != nil {
		// The error may quote the connection string; name the setting instead.
		return nil, "", nil, fmt.Errorf("%s: bad Service Bus connection string in setting %q", fn.File, connectionName(fn))
	}
	opts := &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModePeekLock}
	var r *azservicebus.Receiver
	if q := fn.Trigger.QueueName; q != "" {
		r, err = client.NewReceiverForQueue(q, opts)
	} else {
		r, err = client.NewReceiverForSubscription(fn.Trigger.TopicName, fn.Trigger.SubscriptionName, opts)
	}
	if err != nil {
		_ = client.Close(ctx)
		return nil, "", nil, err
	}
	closeAll := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(cctx)
		_ = client.Close(cctx)
	}
	return r, namespaceOf(fn.ServiceBusConnection), closeAll, nil
}

func connectionName(fn *Function) string {
	if fn.Trigger.Connection != "" {
		return fn.Trigger.Connection
	}
	return "AzureWebJobsServiceBus"
}

func namespaceOf(conn string) string {
	for _, part := range strings.Split(conn, ";") {
		k, v, _ := strings.Cut(part, "=")
		if strings.EqualFold(strings.TrimSpace(k), "Endpoint") {
			if u, err := url.Parse(strings.TrimSpace(v)); err == nil {
				return u.Hostname()
			}
		}
	}
	return ""
}

// serviceBusListener feeds one serviceBusTrigger function.
type serviceBusListener struct {
	app  *appRuntime
	fn   *Function
	open openReceiver
	// entity is "topic/Subscriptions/sub" or the queue, for logs.
	entity string
	// clientID is the Identifier of the client in the metadata; like the
	// SDK's, it stays the same for the listener's lifetime.
	clientID string
}

func newServiceBusListener(a *appRuntime, fn *Function) (*serviceBusListener, error) {
	open := openReceiver(openAzureReceiver)
	if a.host.openReceiver != nil {
		open = a.host.openReceiver
	}
	entity := fn.Trigger.QueueName
	if entity == "" {
		entity = fn.Trigger.TopicName + "/Subscriptions/" + fn.Trigger.SubscriptionName
	}
	return &serviceBusListener{app: a, fn: fn, open: open, entity: entity, clientID: namespaceOf(fn.ServiceBusConnection) + "-" + newGUID()}, nil
}

// run receives one message at a time (prefetch 0) while fewer than
// maxConcurrentCalls invocations are running, until recvCtx ends; running
// invocations continue under invokeCtx.
func (l *serviceBusListener) run(recvCtx, invokeCtx context.Context) {
	log := l.app.log.With("app", l.app.Name, "function", "Functions."+l.fn.Name)
	// Receiving before the handler is up would only burn delivery counts.
	if _, err := l.app.worker.endpoint(recvCtx); err != nil {
		return
	}
	var rcv messageReceiver
	var namespace string
	var closeRcv func()
	backoff := 500 * time.Millisecond
	for rcv == nil {
		var err error
		rcv, namespace, closeRcv, err = l.open(recvCtx, l.fn)
		if err == nil {
			break
		}
		log.Error("cannot open Service Bus receiver; retrying", "entity", l.entity, "err", err)
		if !sleepCtx(recvCtx, backoff) {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	defer closeRcv()
	log.Info("Service Bus listener started", "entity", l.entity, "maxConcurrentCalls", l.app.Config.ServiceBus.MaxConcurrentCalls)

	slots := make(chan struct{}, l.app.Config.ServiceBus.MaxConcurrentCalls)
	var running sync.WaitGroup
	backoff = 500 * time.Millisecond
	for {
		select {
		case slots <- struct{}{}:
		case <-recvCtx.Done():
			running.Wait()
			return
		}
		msgs, err := rcv.ReceiveMessages(recvCtx, 1, nil)
		if err != nil || len(msgs) == 0 {
			<-slots
			if recvCtx.Err() != nil {
				running.Wait()
				return
			}
			if err != nil {
				log.Error("Service Bus receive failed; retrying", "entity", l.entity, "err", err)
				if !sleepCtx(recvCtx, backoff) {
					running.Wait()
					return
				}
				backoff = min(backoff*2, 30*time.Second)
			}
			continue
		}
		backoff = 500 * time.Millisecond
		received := time.Now()
		for i, msg := range msgs {
			if i > 0 {
				slots <- struct{}{}
			}
			running.Add(1)
			go func() {
				defer running.Done()
				defer func() { <-slots }()
				l.process(invokeCtx, rcv, msg, namespace, received)
			}()
		}
	}
}

// process invokes the function for one message and settles it: 2xx
// completes, anything else abandons (so the broker dead-letters it after
// MaxDeliveryCount).
func (l *serviceBusListener) process(ctx context.Context, rcv messageReceiver, msg *azservicebus.ReceivedMessage, namespace string, received time.Time) {
	req := serviceBusPayload(l.fn, msg, namespace, l.clientID, time.Now())
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() { defer close(renewed); l.renewLock(renewCtx, rcv, msg, received) }()

	reason := fmt.Sprintf("New ServiceBus message detected on '%s'.", l.entity)
	res, err := l.app.invoke(ctx, l.fn, reason, req)
	answered := time.Now()
	stopRenew()
	<-renewed

	settleCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	log := l.app.log.With("app", l.app.Name, "function", "Functions."+l.fn.Name, "messageId", msg.MessageID)
	if err == nil {
		if serr := rcv.CompleteMessage(settleCtx, msg, nil); serr != nil {
			log.Warn("complete failed; the message will be delivered again", "err", serr)
		}
	} else {
		if serr := rcv.AbandonMessage(settleCtx, msg, nil); serr != nil {
			log.Warn("abandon failed; the message returns when its lock expires", "err", serr)
		}
	}
	if obs := l.app.host.observe; obs != nil {
		t := invocationTiming{Function: l.fn.Name, Received: received, Answered: answered, Settled: time.Now(), Succeeded: err == nil}
		if res != nil && res.Header != nil {
			if ns, perr := strconv.ParseInt(res.Header.Get("X-Handler-Duration-Ns"), 10, 64); perr == nil {
				t.HandlerReported = time.Duration(ns)
			}
		}
		obs(t)
	}
}

// renewLock keeps the message locked while the invocation runs, renewing at
// half the remaining lock time, for at most maxAutoLockRenewalDuration.
func (l *serviceBusListener) renewLock(ctx context.Context, rcv messageReceiver, msg *azservicebus.ReceivedMessage, received time.Time) {
	limit := received.Add(l.app.Config.ServiceBus.MaxAutoLockRenewalDuration)
	lockedUntil := msg.LockedUntil
	for lockedUntil != nil {
		wait := time.Until(*lockedUntil) / 2
		if wait < 50*time.Millisecond {
			wait = 50 * time.Millisecond
		}
		if time.Now().Add(wait).After(limit) {
			return
		}
		if !sleepCtx(ctx, wait) {
			return
		}
		if time.Now().After(*lockedUntil) {
			return // lost; the settlement will fail and the message comes back
		}
		if err := rcv.RenewMessageLock(ctx, msg, nil); err != nil {
			if ctx.Err() == nil {
				l.app.log.Warn("lock renewal failed", "function", "Functions."+l.fn.Name, "messageId", msg.MessageID, "err", err)
			}
			if errors.Is(err, context.Canceled) {
				return
			}
			continue
		}
		lockedUntil = msg.LockedUntil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
