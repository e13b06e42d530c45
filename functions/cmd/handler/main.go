// Command handler is the Azure Functions custom handler: the Functions host starts it (host.json
// customHandler, with arguments ["-app", NAME]) and sends it invocations on
// FUNCTIONS_CUSTOMHANDLER_PORT. One binary serves any bounded context; -app picks which.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"meterline/functions/internal/apps"
	"meterline/shared/funcapp"
	"meterline/shared/telemetry"
)

func main() {
	name := flag.String("app", apps.All, "bounded context to serve: "+strings.Join(apps.Names(), "|"))
	flag.Parse()
	// Info on stdout, warnings and errors on stderr: the host files stderr as Error.
	log := funcapp.NewLogger(os.Stdout, os.Stderr)
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Traces always flow (traceparent on every message); OTLP exporters when configured.
	flush, err := telemetry.Setup(ctx, "meterline-"+*name, os.Getenv)
	if err != nil {
		log.Error("cannot set up telemetry", slog.String("error", err.Error()))
		os.Exit(1)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = flush(ctx)
	}()
	app, err := apps.Build(ctx, *name, os.Getenv)
	if err != nil {
		log.Error("cannot build the app", slog.String("app", *name), slog.String("error", err.Error()))
		os.Exit(1)
	}
	app.Logger = log
	if err := app.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
