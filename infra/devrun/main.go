// Command devrun is `make run`: it starts Azurite (data kept in a folder), the
// Service Bus emulator in-process, and the local Functions host with the
// assembled apps from .build/, prints the endpoints and one line
// "meterline is ready", and stops everything on Ctrl-C.
//
// The apps keep their local.settings.json; devrun only points the settings
// that name the local emulators (UseDevelopmentStorage=true, and Service Bus
// connection strings with UseDevelopmentEmulator=true) at the instances it
// started, so the flags below can move them to other ports.
//
//	devrun -mode all          the all-in-one app (.build/all)
//	devrun -mode contexts     one handler process per bounded-context app
//	devrun -emulators-only    Azurite and the emulator on their default ports,
//	                          for the real `func start` (make start-func)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"meterline/infra/funchost"
	emulator "meterline/infra/servicebus-emulator"
	"meterline/infra/servicebus-emulator/config"
	"meterline/shared/azurite"
)

// settings is what devrun starts, from the flags.
type settings struct {
	Build         string   // folder of assembled apps
	Mode          string   // "all": Build/all; "contexts": every other app in Build
	Apps          []string // explicit app folders (override Build)
	Settings      string   // local.settings.json
	DataDir       string   // Azurite's data folder
	BlobPort      int
	QueuePort     int
	TablePort     int
	SBAddr        string // Service Bus emulator listen address
	SBConfig      string // emulator config.json
	SBDataDir     string // emulator persistence; empty = memory
	HTTPPort      int
	EmulatorsOnly bool // start Azurite and the emulator only (make start-func)
	AzuriteLog    io.Writer
	Logger        *slog.Logger
	onReady       func(readyInfo) // tests
	handlerOutput io.Writer
}

// readyInfo tells tests where everything listens.
type readyInfo struct {
	StorageConnection    string
	ServiceBusConnection string
	HTTP                 string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var s settings
	var apps multiFlag
	flag.StringVar(&s.Build, "build", ".build", "folder with the assembled apps (each subfolder with a host.json is an app)")
	flag.StringVar(&s.Mode, "mode", "all", `"all": the all-in-one app (-build/all); "contexts": one host process per bounded-context app (every other app in -build)`)
	flag.Var(&apps, "app", "run this assembled app folder instead of choosing by -mode (repeatable)")
	flag.StringVar(&s.Settings, "settings", "local.settings.json", "local.settings.json with the app settings")
	flag.StringVar(&s.DataDir, "data", ".data/azurite", "Azurite data folder")
	flag.IntVar(&s.BlobPort, "blob-port", 10000, "Azurite blob port (0: free port)")
	flag.IntVar(&s.QueuePort, "queue-port", 10001, "Azurite queue port (0: free port)")
	flag.IntVar(&s.TablePort, "table-port", 10002, "Azurite table port (0: free port)")
	flag.StringVar(&s.SBAddr, "servicebus-addr", "127.0.0.1:5672", "Service Bus emulator address (port 0: free port)")
	flag.StringVar(&s.SBConfig, "servicebus-config", "infra/servicebus-emulator/config.json", "Service Bus emulator config.json")
	flag.StringVar(&s.SBDataDir, "servicebus-data", "", "keep Service Bus messages across restarts in this folder (empty: memory only)")
	flag.IntVar(&s.HTTPPort, "port", 7071, "HTTP port of the Functions host (0: free port)")
	flag.BoolVar(&s.EmulatorsOnly, "emulators-only", false, "start Azurite and the Service Bus emulator only, e.g. for the real `func start`")
	flag.Parse()
	s.Apps = apps
	s.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devrun:", err)
		os.Exit(1)
	}
}

// appFolders lists the apps to run: explicit ones, or by mode from the
// folders below build that have a host.json.
func appFolders(s settings) ([]string, error) {
	if len(s.Apps) > 0 {
		return s.Apps, nil
	}
	if s.Mode != "all" && s.Mode != "contexts" {
		return nil, fmt.Errorf("-mode %q: want all or contexts", s.Mode)
	}
	entries, err := os.ReadDir(s.Build)
	if err != nil {
		return nil, fmt.Errorf("no assembled apps: %w (run `make build` first)", err)
	}
	var dirs []string
	for _, e := range entries {
		// "all" is the all-in-one app; every other app is one bounded context.
		if !e.IsDir() || (e.Name() == "all") != (s.Mode == "all") {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.Build, e.Name(), "host.json")); err == nil {
			dirs = append(dirs, filepath.Join(s.Build, e.Name()))
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no app for -mode %s in %s (run `make build` first)", s.Mode, s.Build)
	}
	sort.Strings(dirs)
	return dirs, nil
}

func run(ctx context.Context, s settings, out io.Writer) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	var dirs []string
	if !s.EmulatorsOnly {
		var err error
		if dirs, err = appFolders(s); err != nil {
			return err
		}
	}
	cfg, err := config.Load(s.SBConfig)
	if err != nil {
		return err
	}
	if s.DataDir != "" {
		if err := os.MkdirAll(s.DataDir, 0o755); err != nil {
			return err
		}
	}

	az, err := azurite.Start(ctx, azurite.Options{
		DataDir: s.DataDir, BlobPort: s.BlobPort, QueuePort: s.QueuePort, TablePort: s.TablePort,
		// The well-known key, so that UseDevelopmentStorage=true reaches this instance.
		AccountKey: azurite.DevelopmentKey, Log: s.AzuriteLog,
	})
	if err != nil {
		return fmt.Errorf("azurite: %w", err)
	}
	defer az.Stop()

	sb, err := emulator.Start(ctx, emulator.Options{Addr: s.SBAddr, Config: cfg, DataDir: s.SBDataDir, Log: log.With("component", "servicebus")})
	if err != nil {
		return fmt.Errorf("servicebus emulator: %w", err)
	}
	defer sb.Close()

	if s.EmulatorsOnly {
		// For `make start-func`: the real func start runs the app against these.
		fmt.Fprintf(out, "Azurite        blob %s  queue %s  table %s  (data in %s)\n", az.BlobURL, az.QueueURL, az.TableURL, dataDesc(s.DataDir))
		fmt.Fprintf(out, "Service Bus    sb://%s  (emulator, %s)\n", sb.Addr(), s.SBConfig)
		fmt.Fprintln(out, "emulators are ready")
		if s.onReady != nil {
			s.onReady(readyInfo{StorageConnection: az.ConnectionString(), ServiceBusConnection: sb.ConnectionString()})
		}
		<-ctx.Done()
		fmt.Fprintln(out, "emulators stopped")
		return nil
	}
	env, err := localEndpoints(s.Settings, az.ConnectionString(), sb.ConnectionString())
	if err != nil {
		return err
	}
	var apps []*funchost.App
	for _, d := range dirs {
		a, err := funchost.Load(d, funchost.Options{
			SettingsFile: s.Settings, Env: append(os.Environ(), env...), Logger: log, HandlerOutput: s.handlerOutput,
		})
		if err != nil {
			return err
		}
		apps = append(apps, a)
	}
	h, err := funchost.NewHost(apps, funchost.HostOptions{HTTPAddr: "127.0.0.1:" + strconv.Itoa(s.HTTPPort), Logger: log})
	if err != nil {
		return err
	}
	hostDone := make(chan error, 1)
	go func() { hostDone <- h.Run(ctx) }()

	select {
	case <-h.Ready():
	case err := <-hostDone:
		return errors.Join(errors.New("the Functions host stopped before it was ready"), err)
	}
	fmt.Fprintf(out, "Azurite        blob %s  queue %s  table %s  (data in %s)\n", az.BlobURL, az.QueueURL, az.TableURL, dataDesc(s.DataDir))
	fmt.Fprintf(out, "Service Bus    sb://%s  (emulator, %s)\n", sb.Addr(), s.SBConfig)
	fmt.Fprintf(out, "Functions      %s\n", h.URL())
	for _, a := range apps {
		for _, f := range a.Functions {
			if f.Route != nil {
				m := "ALL"
				if len(f.Trigger.Methods) > 0 {
					m = strings.ToUpper(strings.Join(f.Trigger.Methods, ","))
				}
				fmt.Fprintf(out, "  %s/%s: [%s] %s/%s\n", a.Name, f.Name, m, h.URL(), f.Route.Template)
			} else {
				fmt.Fprintf(out, "  %s/%s: %s\n", a.Name, f.Name, f.Trigger.Type)
			}
		}
	}
	printKeys(out, h.Keys())
	fmt.Fprintln(out, "meterline is ready")
	if s.onReady != nil {
		s.onReady(readyInfo{StorageConnection: az.ConnectionString(), ServiceBusConnection: sb.ConnectionString(), HTTP: h.URL()})
	}
	err = <-hostDone
	fmt.Fprintln(out, "meterline stopped")
	return err
}

// printKeys shows the local keys, so that a developer can call the function-level endpoints
// (the back office) and the admin API. They are local development secrets, kept in Azurite,
// and printed here only: the host never logs them.
func printKeys(out io.Writer, keys []funchost.AppKeys) {
	fmt.Fprintln(out, "Keys           send as header x-functions-key (or ?code=); kept in Azurite, container azure-webjobs-secrets")
	for _, k := range keys {
		fmt.Fprintf(out, "  %s: function key %s\n", k.App, k.FunctionKeys["default"])
		fmt.Fprintf(out, "  %s: master key %s (admin API, e.g. POST /admin/functions/{name})\n", k.App, k.MasterKey)
	}
}

func dataDesc(d string) string {
	if d == "" {
		return "memory"
	}
	return d
}

// localEndpoints returns environment overrides that point the settings naming
// the local emulators at the instances devrun started.
func localEndpoints(settingsFile, storage, serviceBus string) ([]string, error) {
	env := []string{"AzureWebJobsStorage=" + storage}
	if settingsFile == "" {
		return env, nil
	}
	raw, err := os.ReadFile(settingsFile)
	if err != nil {
		return nil, err
	}
	var file struct{ Values map[string]any }
	if err := json.Unmarshal(raw, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", settingsFile, err)
	}
	for k, v := range file.Values {
		sv, _ := v.(string)
		switch {
		case strings.Contains(strings.ToLower(sv), "usedevelopmentemulator=true"):
			env = append(env, k+"="+serviceBus)
		case azurite.ExpandConnectionString(sv) != sv:
			// The shorthand the host would expand to Azurite's default ports.
			env = append(env, k+"="+storage)
		}
	}
	sort.Strings(env)
	return env, nil
}
