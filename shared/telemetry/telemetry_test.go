package telemetry_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"meterline/shared/telemetry"
)

// The lag histograms (outbox, projection, journal checkpoint) and the dead-letter counter reach
// whatever meter provider is installed, under their names and attributes.
func TestLagsAndCountsReachTheMeterProvider(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(prev) })

	ctx := context.Background()
	telemetry.RecordLag(ctx, "meterline.outbox.lag", time.Now().Add(-3*time.Second), attribute.String("source", "subscriptions"))
	telemetry.RecordLag(ctx, "meterline.outbox.lag", time.Time{}) // unknown creation time: not recorded
	telemetry.Count(ctx, "meterline.deadletters", attribute.String("app", "cloudapi"))
	telemetry.Count(ctx, "meterline.deadletters", attribute.String("app", "cloudapi"))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	lag, ok := got["meterline.outbox.lag"].(metricdata.Histogram[float64])
	if !ok || len(lag.DataPoints) != 1 || lag.DataPoints[0].Count != 1 || lag.DataPoints[0].Sum < 3 {
		t.Errorf("outbox lag: %+v, want one observation of at least 3 s", got["meterline.outbox.lag"])
	}
	dl, ok := got["meterline.deadletters"].(metricdata.Sum[int64])
	if !ok || len(dl.DataPoints) != 1 || dl.DataPoints[0].Value != 2 {
		t.Errorf("dead letters: %+v, want 2 for app cloudapi", got["meterline.deadletters"])
	}
}
