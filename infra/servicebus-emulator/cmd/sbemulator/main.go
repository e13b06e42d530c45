// Command sbemulator runs the Service Bus emulator in the foreground:
//
//	go run ./infra/servicebus-emulator/cmd/sbemulator -config infra/servicebus-emulator/config.json -addr 127.0.0.1:5672
//
// It prints the connection string to use with UseDevelopmentEmulator=true,
// logs connections and entity activity, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	emulator "meterline/infra/servicebus-emulator"
	"meterline/infra/servicebus-emulator/config"
)

func main() {
	cfgPath := flag.String("config", "", "official emulator config.json (default: the shipped one)")
	addr := flag.String("addr", "127.0.0.1:5672", "listen address")
	data := flag.String("data", "", "directory to keep messages across restarts (default: memory only)")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *cfgPath, *addr, *data, os.Stdout, log); err != nil {
		log.Error("sbemulator", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, printing the connection string to out.
func run(ctx context.Context, cfgPath, addr, data string, out io.Writer, log *slog.Logger) error {
	var cfg *config.Config
	if cfgPath != "" {
		var err error
		if cfg, err = config.Load(cfgPath); err != nil {
			return err
		}
	}
	srv, err := emulator.Start(ctx, emulator.Options{Addr: addr, Config: cfg, DataDir: data, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, srv.ConnectionString())
	<-ctx.Done()
	log.Info("stopping")
	return srv.Close()
}
