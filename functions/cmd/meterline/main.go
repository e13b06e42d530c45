// Command meterline is the operations tool of the contexts: it rebuilds read models, replays
// events from the Journal into one context, and inspects, resubmits and purges dead letters.
//
//	meterline rebuild [--from streams|journal] VIEW...      drop a view and fold it again
//	meterline rebuild --list                                the views there are
//	meterline replay --to CONTEXT|SUBSCRIPTION [--types T1,T2] --since RFC3339 [--until RFC3339] [--dry-run]
//	meterline deadletters list [QUEUE]
//	meterline deadletters show QUEUE/SEQ
//	meterline deadletters resubmit QUEUE/SEQ [--body FILE]
//	meterline deadletters purge QUEUE[/SEQ] --yes
//
// Every command takes --settings FILE (default ./local.settings.json when there is one): the
// apps' own settings (AzureWebJobsStorage, ServiceBusConnection, or their identity-based
// __accountName and __fullyQualifiedNamespace forms), read from the file's Values and from
// the environment, which wins; so the same command works against `make run` and Azure.
//
// VIEW is a context (every view it keeps) or context.Projection, e.g. product.ReplicateAccounts;
// the views are the projections the contexts register (funcapp.View), not a list kept here.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "meterline:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks bad input: nothing was changed.
var errUsage = errors.New("usage")

func usage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

const help = `meterline rebuild [--from streams|journal] VIEW...  |  rebuild --list
meterline replay --to CONTEXT|SUBSCRIPTION [--types T1,T2] --since RFC3339 [--until RFC3339] [--dry-run]
meterline deadletters list [QUEUE] | show QUEUE/SEQ | resubmit QUEUE/SEQ [--body FILE] | purge QUEUE[/SEQ] --yes
every command: --settings FILE (default ./local.settings.json when present; the environment wins)`

// run is the command line, with its outputs and environment given (tests run it in-process).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		return usage("no command\n%s", help)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "rebuild":
		return rebuild(ctx, rest, stdout, stderr, env)
	case "replay":
		return replay(ctx, rest, stdout, env)
	case "deadletters":
		return deadLetters(ctx, rest, stdout, env)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, help)
		return nil
	}
	return usage("unknown command %q\n%s", cmd, help)
}
