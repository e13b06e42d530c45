// Command handler serves the demo app as a custom handler (tests only).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"meterline/functions/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.App().Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
