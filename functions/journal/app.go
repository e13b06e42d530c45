// Package journal is the Journal bounded context as a Functions app: seed 003's source of truth,
// which keeps every event of every context, once, forever, and computes reports from them with
// checkpointed projections. It publishes nothing. New(deps) lists its blocks; Connect(ctx,
// setting) makes the deps from the app settings (connect.go); InMemoryDeps only define the
// functions.
//
// Functions (one source of truth: New):
//
//	RecordEvent                POST /api/journal/events            one envelope: 200 stored, 409 already
//	                                                               stored, 400 invalid, 422 id reused
//	ListEvents                 GET  /api/journal/events?type=&from=&to=&limit=&continuation=
//	ReadStream                 GET  /api/journal/streams/{stream}?limit=&continuation=
//	MonthlyReport              GET  /api/journal/reports/customers/{customerId}/months/{month}
//	RecordSubscriptionsEvents  topic "subscriptions", subscription "journal-record-subscriptions-events": every type
//	RecordCloudApiEvents       topic "cloudapi", subscription "journal-record-cloud-api-events": every type
//	JournalProjections         timer, app setting JournalProjectionSchedule (every 10 s)
//	JournalArchive             timer, app setting JournalArchiveSchedule (hourly)
//
// The HTTP functions take a function key (Auth "function"): they are for back-office tools and
// for producers outside the Service Bus.
//
// App settings read (with defaults, DefaultSettings):
//
//	AzureWebJobsStorage        (required)       tables journalEvents, journalByType, journalByStream,
//	                                            journalInFlight, journalCatalog, journalViews;
//	                                            containers journal-payloads, journal-archive
//	ServiceBusConnection       (required)       read by the host for the two receptors
//	JournalGracePeriod         2m               stable horizon = now - grace (Go duration)
//	JournalArchiveAfter        2160h            days older than this (90 days) go to the archive
//	JournalProjectionSchedule  */10 * * * * *   the JournalProjections timer (NCRONTAB)
//	JournalArchiveSchedule     0 0 * * * *      the JournalArchive timer
package journal

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"meterline/functions/journal/app"
	"meterline/shared/blocks"
	"meterline/shared/funcapp"
	"meterline/shared/openapi"
	"meterline/shared/views"
)

// Name is the bounded context's name: its app (it publishes nothing, so it has no topic).
const Name = "journal"

// Names of the app settings the Journal reads, or that its timers name.
const (
	SettingGracePeriod        = "JournalGracePeriod"
	SettingArchiveAfter       = "JournalArchiveAfter"
	SettingProjectionSchedule = "JournalProjectionSchedule"
	SettingArchiveSchedule    = "JournalArchiveSchedule"
)

// DefaultSettings are the values used when a setting is not set (the schedules are resolved by
// the host: they belong in local.settings.json and the app's settings).
var DefaultSettings = map[string]string{
	SettingGracePeriod:        "2m",
	SettingArchiveAfter:       "2160h",
	SettingProjectionSchedule: "*/10 * * * * *",
	SettingArchiveSchedule:    "0 0 * * * *",
}

// Deps are what the Journal runs on. Records, Archive and Views are required.
type Deps struct {
	Records app.Records // the journal's tables (*store.Journal)
	Archive app.Archive // the day archives (the same *store.Journal)
	Views   views.Backend
	Now     func() time.Time         // default time.Now
	Setting func(name string) string // default os.Getenv
	Logger  *slog.Logger
}

// New returns the Journal's Functions app. It panics on missing deps or an invalid setting, so
// that a misconfigured app fails at start-up.
func New(deps Deps) *funcapp.App {
	a, _ := NewWithApplication(deps)
	return a
}

// NewWithApplication is New that also returns the application behind the functions.
func NewWithApplication(deps Deps) (*funcapp.App, *app.Journal) {
	if deps.Records == nil || deps.Archive == nil || deps.Views == nil {
		panic("journal: Deps needs Records, Archive and Views (InMemoryDeps for a definition only)")
	}
	setting := deps.Setting
	if setting == nil {
		setting = os.Getenv
	}
	grace := duration(setting, SettingGracePeriod)
	archiveAfter := duration(setting, SettingArchiveAfter)
	if archiveAfter <= grace {
		panic(fmt.Sprintf("journal: %s (%s) must be longer than %s (%s): a day is archived only once nothing can arrive in it",
			SettingArchiveAfter, archiveAfter, SettingGracePeriod, grace))
	}
	j := app.New(app.Config{Records: deps.Records, Archive: deps.Archive, Views: deps.Views, Now: deps.Now,
		Grace: grace, ArchiveAfter: archiveAfter})
	fa := funcapp.New(Name)
	if deps.Logger != nil {
		fa.Logger = deps.Logger
	}
	api := &api{j: j, now: blocks.Clock(deps.Now)}
	blocks.Register(fa,
		api.endpoint("RecordEvent", "POST", "events", api.recordEvent),
		api.endpoint("ListEvents", "GET", "events", api.listEvents),
		api.endpoint("ReadStream", "GET", "streams/{stream}", api.readStream),
		api.endpoint("MonthlyReport", "GET", "reports/customers/{customerId}/months/{month}", api.monthlyReport),

		j.RecordSubscriptionsEvents,
		j.RecordCloudAPIEvents,

		blocks.Task{Name: "JournalProjections", Schedule: "%" + SettingProjectionSchedule + "%", Run: j.Projections.Run},
		blocks.Task{Name: "JournalArchive", Schedule: "%" + SettingArchiveSchedule + "%", Run: j.Archiver.Run},

		blocks.OpenAPI{Context: Name, Info: openapi.Info{Title: "Journal",
			Description: "The source of truth: every event of every context, kept once by id. Every operation needs a function key."}},
	)
	return fa, j
}

func duration(setting func(string) string, name string) time.Duration {
	v := setting(name)
	if v == "" {
		v = DefaultSettings[name]
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		panic(fmt.Sprintf("journal: app setting %s=%q: want a positive Go duration like %s", name, v, DefaultSettings[name]))
	}
	return d
}
