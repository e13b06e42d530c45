package emulator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// rpcNode is `$cbs` or an entity's `$management` node: request/response over a
// pair of links, replies correlated by message id.
type rpcNode struct {
	cbs    bool
	entity string
	recv   *queue     // the queue, subscription or dead-letter queue; nil for a topic
	send   sendTarget // the queue or topic; nil for subscriptions and dead-letter queues
}

// rpcNodeFor resolves management addresses; (nil, nil) means addr is not one.
func (s *Server) rpcNodeFor(addr string) (*rpcNode, error) {
	if strings.EqualFold(addr, "$cbs") {
		return &rpcNode{cbs: true}, nil
	}
	entity, ok := cutSuffixFold(addr, "/$management")
	if !ok {
		return nil, nil
	}
	n := &rpcNode{entity: entity}
	n.recv, _ = s.ns.receiveSource(entity)
	n.send, _, _ = s.ns.sendTarget(entity)
	if n.recv == nil && n.send == nil {
		return nil, fmt.Errorf("%w: %q", errUnknownEntity, entity)
	}
	return n, nil
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// rpcStatus is a management reply's status code and description.
type rpcStatus struct {
	code int32
	desc string
}

func (e *rpcStatus) Error() string { return fmt.Sprintf("%d: %s", e.code, e.desc) }

func statusFor(err error) *rpcStatus {
	var st *rpcStatus
	switch {
	case errors.As(err, &st):
		return st
	case errors.Is(err, errLockLost), errors.Is(err, errSessionNotHeld):
		return &rpcStatus{410, err.Error()}
	case errors.Is(err, errNotSessionEntity):
		return &rpcStatus{400, err.Error()}
	case errors.Is(err, errNotFound), errors.Is(err, errUnknownEntity):
		return &rpcStatus{404, err.Error()}
	case errors.Is(err, errEntityFull):
		return &rpcStatus{403, err.Error()}
	case errors.Is(err, errInvalidRequest):
		return &rpcStatus{400, err.Error()}
	}
	return &rpcStatus{500, err.Error()}
}

func (n *rpcNode) handle(s *session, raw []byte) {
	c := s.c
	req := new(goamqp.Message)
	if err := req.UnmarshalBinary(raw); err != nil {
		c.log.Warn("undecodable management request", "err", err)
		return
	}
	if req.Properties == nil || req.Properties.ReplyTo == nil {
		c.log.Warn("management request without reply-to")
		return
	}
	op, _ := req.ApplicationProperties["operation"].(string)
	codeKey, descKey := "statusCode", "statusDescription"
	var value any
	var err error
	if n.cbs {
		codeKey, descKey = "status-code", "status-description"
		if op != "put-token" {
			err = &rpcStatus{400, fmt.Sprintf("unsupported CBS operation %q", op)}
		}
	} else {
		value, err = n.management(op, req)
	}
	st := &rpcStatus{200, "OK"}
	switch {
	case n.cbs && err == nil:
		st = &rpcStatus{202, "Accepted"}
	case err != nil:
		st = statusFor(err)
	case value == nil:
		st = &rpcStatus{204, "No Content"}
	}
	if err != nil {
		c.log.Info("management request failed", "entity", n.entity, "operation", op, "status", st.code, "err", err)
	}
	reply := &goamqp.Message{
		Properties:            &goamqp.MessageProperties{CorrelationID: req.Properties.MessageID},
		ApplicationProperties: map[string]any{codeKey: st.code, descKey: st.desc},
		Value:                 value,
	}
	if reply.Value == nil {
		reply.Value = map[string]any{}
	}
	payload, err := reply.MarshalBinary()
	if err != nil {
		c.log.Error("encode management reply", "err", err)
		return
	}
	c.sendReply(*req.Properties.ReplyTo, payload)
}

func (n *rpcNode) management(op string, req *goamqp.Message) (any, error) {
	args, _ := req.Value.(map[string]any)
	now := time.Now()
	needRecv := func() error {
		if n.recv == nil {
			return &rpcStatus{400, fmt.Sprintf("%s is not supported on %q", op, n.entity)}
		}
		return nil
	}
	switch op {
	case "com.microsoft:renew-lock":
		if err := needRecv(); err != nil {
			return nil, err
		}
		toks, err := lockTokens(args)
		if err != nil {
			return nil, err
		}
		exp := make([]time.Time, 0, len(toks))
		for _, t := range toks {
			until, err := n.recv.renew(t, now)
			if err != nil {
				return nil, err
			}
			exp = append(exp, until)
		}
		return map[string]any{"expirations": exp}, nil

	case "com.microsoft:peek-message":
		if err := needRecv(); err != nil {
			return nil, err
		}
		from, _ := asInt64(args["from-sequence-number"])
		count, _ := asInt64(args["message-count"])
		if count <= 0 {
			count = 1
		}
		snaps := n.recv.peek(from, int(min(count, 1000)))
		if len(snaps) == 0 {
			return nil, nil
		}
		return encodeMessages(snaps, false)

	case "com.microsoft:receive-by-sequence-number":
		if err := needRecv(); err != nil {
			return nil, err
		}
		seqs, err := int64s(args, "sequence-numbers")
		if err != nil {
			return nil, err
		}
		mode, _ := asInt64(args["receiver-settle-mode"])
		snaps, err := n.recv.receiveDeferred(seqs, mode == 1, now)
		if err != nil {
			return nil, err
		}
		return encodeMessages(snaps, mode == 1)

	case "com.microsoft:update-disposition":
		if err := needRecv(); err != nil {
			return nil, err
		}
		toks, err := lockTokens(args)
		if err != nil {
			return nil, err
		}
		status, _ := args["disposition-status"].(string)
		var o outcome
		switch status {
		case "completed":
			o = outcomeComplete
		case "abandoned":
			o = outcomeAbandon
		case "suspended":
			o = outcomeDeadLetter
		case "defered", "deferred":
			o = outcomeDefer
		default:
			return nil, &rpcStatus{400, fmt.Sprintf("unknown disposition-status %q", status)}
		}
		reason, _ := args["deadletter-reason"].(string)
		desc, _ := args["deadletter-description"].(string)
		props, _ := args["properties-to-modify"].(map[string]any)
		for _, t := range toks {
			if err := n.recv.settle(t, o, props, reason, desc, now); err != nil {
				return nil, err
			}
		}
		return map[string]any{}, nil

	case "com.microsoft:schedule-message":
		if n.send == nil {
			return nil, &rpcStatus{400, fmt.Sprintf("cannot schedule on %q", n.entity)}
		}
		list, _ := args["messages"].([]any)
		if len(list) == 0 {
			return nil, &rpcStatus{400, "schedule-message without messages"}
		}
		var bodies []*body
		at := now
		for _, e := range list {
			entry, _ := e.(map[string]any)
			raw, _ := entry["message"].([]byte)
			b, err := parseBody(raw)
			if err != nil {
				return nil, &rpcStatus{400, err.Error()}
			}
			if t, ok := b.scheduledTime(); ok {
				at = t
			}
			bodies = append(bodies, b)
		}
		seqs, err := n.send.schedule(bodies, at)
		if err != nil {
			return nil, err
		}
		return map[string]any{"sequence-numbers": seqs}, nil

	case "com.microsoft:cancel-scheduled-message":
		if n.send == nil {
			return nil, &rpcStatus{400, fmt.Sprintf("cannot cancel scheduled messages on %q", n.entity)}
		}
		seqs, err := int64s(args, "sequence-numbers")
		if err != nil {
			return nil, err
		}
		n.send.cancelScheduled(seqs)
		return map[string]any{}, nil

	case "com.microsoft:renew-session-lock", "com.microsoft:get-session-state", "com.microsoft:set-session-state":
		if err := needRecv(); err != nil {
			return nil, err
		}
		id, _ := args["session-id"].(string)
		switch op {
		case "com.microsoft:renew-session-lock":
			until, err := n.recv.renewSession(id, now)
			if err != nil {
				return nil, err
			}
			return map[string]any{"expiration": until}, nil
		case "com.microsoft:get-session-state":
			state, err := n.recv.sessionState(id, now)
			if err != nil {
				return nil, err
			}
			if state == nil {
				return map[string]any{"session-state": nil}, nil
			}
			return map[string]any{"session-state": state}, nil
		default:
			state, _ := args["session-state"].([]byte)
			return map[string]any{}, n.recv.setSessionState(id, state, now)
		}

	case "com.microsoft:get-message-sessions":
		if err := needRecv(); err != nil {
			return nil, err
		}
		skip, _ := asInt64(args["skip"])
		top, _ := asInt64(args["top"])
		ids := n.recv.messageSessions(int(skip), int(top))
		if len(ids) == 0 {
			return nil, nil
		}
		return map[string]any{"skip": int32(skip), "sessions-ids": ids}, nil
	}
	return nil, &rpcStatus{501, fmt.Sprintf("operation %q is not supported by this emulator", op)}
}

func encodeMessages(snaps []snapshot, withLock bool) (any, error) {
	list := make([]any, 0, len(snaps))
	for i := range snaps {
		raw, err := snaps[i].encode()
		if err != nil {
			return nil, err
		}
		entry := map[string]any{"message": raw}
		if withLock {
			entry["lock-token"] = goamqp.UUID(snaps[i].lockToken)
		}
		list = append(list, entry)
	}
	return map[string]any{"messages": list}, nil
}

func lockTokens(args map[string]any) ([]lockToken, error) {
	switch v := args["lock-tokens"].(type) {
	case []goamqp.UUID:
		out := make([]lockToken, len(v))
		for i, u := range v {
			out[i] = lockToken(u)
		}
		return out, nil
	case []any:
		out := make([]lockToken, 0, len(v))
		for _, x := range v {
			u, ok := x.(goamqp.UUID)
			if !ok {
				return nil, &rpcStatus{400, "lock-tokens must be uuids"}
			}
			out = append(out, lockToken(u))
		}
		return out, nil
	}
	return nil, &rpcStatus{400, "missing lock-tokens"}
}

func int64s(args map[string]any, key string) ([]int64, error) {
	switch v := args[key].(type) {
	case []int64:
		return v, nil
	case []any:
		out := make([]int64, 0, len(v))
		for _, x := range v {
			n, ok := asInt64(x)
			if !ok {
				return nil, &rpcStatus{400, key + " must be integers"}
			}
			out = append(out, n)
		}
		return out, nil
	}
	return nil, &rpcStatus{400, "missing " + key}
}

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint64:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case int:
		return int64(x), true
	}
	return 0, false
}
