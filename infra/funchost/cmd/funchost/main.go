// Command funchost runs assembled Function App folders locally, the way the
// Azure Functions host runs custom handlers, without Core Tools.
//
//	funchost -app .build/subscriptions -app .build/product -settings local.settings.json -port 7071
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"meterline/infra/funchost"
)

type appDirs []string

func (a *appDirs) String() string     { return strings.Join(*a, ",") }
func (a *appDirs) Set(v string) error { *a = append(*a, v); return nil }

func main() {
	var apps appDirs
	flag.Var(&apps, "app", "assembled Function App folder (host.json + function folders + handler); repeat for several apps")
	settings := flag.String("settings", "local.settings.json", "local.settings.json whose Values become app settings (empty: none)")
	port := flag.Int("port", 7071, "HTTP port for httpTrigger functions on 127.0.0.1 (0: a free port)")
	flag.Parse()
	if len(apps) == 0 {
		fmt.Fprintln(os.Stderr, "funchost: at least one -app DIR is required")
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(apps, *settings, *port, log); err != nil {
		fmt.Fprintln(os.Stderr, "funchost:", err)
		os.Exit(1)
	}
}

func run(dirs []string, settings string, port int, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if settings != "" {
		if _, err := os.Stat(settings); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("settings file %s not found (pass -settings \"\" for none)", settings)
		}
	}
	var apps []*funchost.App
	for _, d := range dirs {
		a, err := funchost.Load(d, funchost.Options{SettingsFile: settings, Logger: log})
		if err != nil {
			return err
		}
		apps = append(apps, a)
	}
	h, err := funchost.NewHost(apps, funchost.HostOptions{HTTPAddr: "127.0.0.1:" + strconv.Itoa(port), Logger: log})
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-h.Ready():
			for _, a := range apps {
				for _, f := range a.Functions {
					if f.Route != nil {
						fmt.Printf("\t%s: [%s] %s/%s\n", f.Name, methods(f.Trigger.Methods), h.URL(), f.Route.Template)
					} else {
						fmt.Printf("\t%s: %s\n", f.Name, f.Trigger.Type)
					}
				}
			}
		case <-ctx.Done():
		}
	}()
	return h.Run(ctx)
}

func methods(m []string) string {
	if len(m) == 0 {
		return "ALL"
	}
	return strings.ToUpper(strings.Join(m, ","))
}
