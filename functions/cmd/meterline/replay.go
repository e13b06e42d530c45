package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
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

// replay republishes the Journal's events to one context's subscriptions (or one
// subscription): each message carries blocks.ReplayTo, which every other subscription's rule
// refuses, so no other context sees it. Consumers dedupe by event id and stream version, so
// what was applied already changes nothing.
func replay(ctx context.Context, args []string, stdout io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	to := fs.String("to", "", "the context (or one subscription) to replay to")
	typeList := fs.String("types", "", "comma-separated event types (default: every type the target takes)")
	sinceText := fs.String("since", "", "replay events received at or after this time (RFC 3339)")
	untilText := fs.String("until", "", "and before this time (RFC 3339; default now)")
	dryRun := fs.Bool("dry-run", false, "count what would be replayed, send nothing")
	settingsPath := settingsFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usage("replay: unexpected arguments %q", fs.Args())
	}
	tp, err := apps.Topology()
	if err != nil {
		return err
	}
	targets, err := replayTargets(tp, *to)
	if err != nil {
		return err
	}
	since, err := parseTime("since", *sinceText, time.Time{})
	if err != nil {
		return err
	}
	until, err := parseTime("until", *untilText, time.Now())
	if err != nil {
		return err
	}
	if !since.Before(until) {
		return usage("replay: --since %s is not before --until %s", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	// wanted: topic -> the types the target takes from it.
	wanted := map[string][]string{}
	var takes []string
	for _, t := range targets {
		for _, typ := range t.sub.Types {
			if !slices.Contains(wanted[t.topic], typ) {
				wanted[t.topic] = append(wanted[t.topic], typ)
			}
			takes = append(takes, typ)
		}
	}
	var types []string // nil: every type
	if *typeList != "" {
		for _, typ := range strings.Split(*typeList, ",") {
			typ = strings.TrimSpace(typ)
			if !slices.Contains(takes, typ) && !slices.Contains(takes, blocks.EveryType[0]) {
				return usage("replay: %s takes no %q (it takes %s)", *to, typ, strings.Join(unique(takes), ", "))
			}
			types = append(types, typ)
		}
	} else if !slices.Contains(takes, blocks.EveryType[0]) {
		types = unique(takes)
	}
	setting, err := loadSettings(*settingsPath, env)
	if err != nil {
		return err
	}
	reader, err := apps.Journal(ctx, setting)
	if err != nil {
		return err
	}
	var client *azservicebus.Client
	senders := map[string]*azservicebus.Sender{}
	if !*dryRun {
		if client, err = connect.ServiceBus(setting, funcapp.DefaultServiceBusConnection); err != nil {
			return err
		}
		defer client.Close(context.WithoutCancel(ctx))
	}
	publisher := map[string]string{} // source context -> its topic
	for _, t := range tp.Topics {
		publisher[t.Publisher] = t.Name
	}
	counts := map[string]int{}
	total := 0
	for e, err := range journalEvents(ctx, reader, types, since, until) {
		if err != nil {
			return err
		}
		topic := publisher[e.Source]
		if ts, ok := wanted[topic]; !ok || !(slices.Contains(ts, e.Type) || slices.Contains(ts, blocks.EveryType[0])) {
			continue // the target takes no such event from that topic
		}
		if !*dryRun {
			sender := senders[topic]
			if sender == nil {
				if sender, err = client.NewSender(topic, nil); err != nil {
					return err
				}
				defer sender.Close(context.WithoutCancel(ctx))
				senders[topic] = sender
			}
			m, err := replayMessage(e, *to)
			if err != nil {
				return err
			}
			if err := sender.SendMessage(ctx, m, nil); err != nil {
				return fmt.Errorf("replay: send %s to %s (%d sent before): %w", e.ID, topic, total, err)
			}
		}
		counts[e.Type]++
		total++
	}
	verb := "replayed"
	if *dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(stdout, "%s %d events to %s, received %s to %s\n", verb, total, *to, since.Format(time.RFC3339), until.Format(time.RFC3339))
	names := make([]string, 0, len(counts))
	for typ := range counts {
		names = append(names, typ)
	}
	sort.Strings(names)
	for _, typ := range names {
		fmt.Fprintf(stdout, "  %-40s %d\n", typ, counts[typ])
	}
	return nil
}

type target struct {
	topic string
	sub   topology.Subscription
}

// replayTargets are the subscriptions to names: a context's, or one.
func replayTargets(tp topology.Topology, to string) ([]target, error) {
	if to == "" {
		return nil, usage("replay: --to is required (a context or a subscription)")
	}
	var out []target
	var known []string
	for _, t := range tp.Topics {
		for _, s := range t.Subscriptions {
			if s.App == to || s.Name == to {
				out = append(out, target{t.Name, s})
			}
			known = append(known, s.App, s.Name)
		}
	}
	if len(out) == 0 {
		return nil, usage("replay: --to %q is no context with subscriptions nor a subscription (known: %s)", to, strings.Join(unique(known), ", "))
	}
	return out, nil
}

// replayMessage is the message of a replayed event: as published, addressed to target. Its
// message id is new, so that the topic's duplicate detection (which saw the original) lets it
// through; consumers dedupe by the event's id inside.
func replayMessage(e eventstore.Event, target string) (*azservicebus.Message, error) {
	m, err := servicebus.Message(e)
	if err != nil {
		return nil, err
	}
	id := "replay:" + target + ":" + e.ID
	m.MessageID = &id
	m.ApplicationProperties[blocks.ReplayTo] = target
	return m, nil
}

func parseTime(name, s string, def time.Time) (time.Time, error) {
	if s == "" {
		if def.IsZero() {
			return time.Time{}, usage("replay: --%s is required (RFC 3339, e.g. 2026-03-04T00:00:00Z)", name)
		}
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usage("replay: --%s %q is not an RFC 3339 time like 2026-03-04T00:00:00Z", name, s)
	}
	return t, nil
}

func unique(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
