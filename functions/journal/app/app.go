package app

import (
	"meterline/functions/journal/domain"
	"time"

	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/views"
)

// Config is what the Journal application runs on.
type Config struct {
	Records Records
	Archive Archive
	Views   views.Backend // the reports and the projections' checkpoints
	Now     func() time.Time
	// Grace is how long after its received_at an event may still become visible: the stable
	// horizon of the projections is now minus Grace.
	Grace time.Duration
	// ArchiveAfter is the age of the days the archiver moves to blobs.
	ArchiveAfter time.Duration
}

// Journal is the application behind the Journal's functions.
type Journal struct {
	Recorder Recorder
	Reader   *Reader
	Reports  Checkpointed[domain.Movement, CustomerMonth]

	RecordSubscriptionsEvents blocks.Receptor[eventstore.Event]
	RecordCloudAPIEvents      blocks.Receptor[eventstore.Event]

	Projections *ProjectionRunner
	Archiver    *Archiver
}

// New wires the application.
func New(c Config) *Journal {
	now := blocks.Clock(c.Now)
	recorder := Recorder{Records: c.Records, Now: now}
	reader := &Reader{Records: c.Records, Archive: c.Archive}
	reports := MonthlyReports(views.Collection[CustomerMonth](c.Views, "monthly-reports"), views.Collection[Checkpoint](c.Views, "checkpoints"))
	return &Journal{
		Recorder:                  recorder,
		Reader:                    reader,
		Reports:                   reports,
		RecordSubscriptionsEvents: RecordSubscriptionsEvents(recorder),
		RecordCloudAPIEvents:      RecordCloudAPIEvents(recorder),
		Projections:               &ProjectionRunner{Records: c.Records, Source: reader, Projections: []Projection{reports}, Grace: c.Grace, Now: now},
		Archiver:                  &Archiver{Records: c.Records, Archive: c.Archive, After: c.ArchiveAfter, Now: now},
	}
}
