// Package telemetry traces the work of the contexts across their boundaries with OpenTelemetry,
// and counts what an operator watches.
//
// One trace follows a business flow from the HTTP request that starts it, through the command,
// the append, the publication, and every receptor and projection that the published events
// reach in other contexts: an event carries the W3C traceparent of the work that made it
// (eventstore.Event.TraceParent, the CloudEvents distributed-tracing extension), its Service Bus
// message carries it as the traceparent and Diagnostic-Id application properties (the latter is
// what Application Insights reads), and the consumer's invocation continues it.
//
// Exporting is optional: Setup installs OTLP exporters when OTEL_EXPORTER_OTLP_ENDPOINT (or the
// traces/metrics variant) is set, and otherwise records nothing beyond what propagation needs.
//
// Metrics (meter "meterline"): meterline.outbox.lag (seconds from an event's creation to its
// publication), meterline.projection.lag (seconds from an event's creation to a projection
// applying it), meterline.deadletters (messages a function dead-lettered, by app, function and
// reason; the depth of a queue is what the meterline tool lists).
package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of every span and instrument.
const Name = "meterline"

// propagator is W3C trace context, the only format we read and write.
var propagator = propagation.TraceContext{}

// Setup installs the tracer and meter providers for service (a bounded context's app): always a
// tracer that samples what its parent sampled (so that trace ids flow even when nothing is
// exported), and OTLP/HTTP exporters when getenv names an endpoint. The returned function
// flushes and stops them.
func Setup(ctx context.Context, service string, getenv func(string) string) (func(context.Context) error, error) {
	res := resource.NewSchemaless(attribute.String("service.name", service))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))}
	var shutdowns []func(context.Context) error
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx) // reads the OTEL_EXPORTER_OTLP_* variables
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	shutdowns = append(shutdowns, tp.Shutdown)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != "" {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, err
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		shutdowns = append(shutdowns, mp.Shutdown)
		otel.SetMeterProvider(mp)
	}
	return func(ctx context.Context) error {
		var errs []error
		for _, s := range shutdowns {
			errs = append(errs, s(ctx))
		}
		return errors.Join(errs...)
	}, nil
}

// Start starts a span of kind named name, child of the span in ctx.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return otel.Tracer(Name).Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// End ends span, marking it failed when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// WithRemoteParent returns ctx continuing the trace of traceparent (from a message or a
// request); ctx unchanged when it is empty or malformed.
func WithRemoteParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Instruments are created on first use from the global meter provider (noop until Setup).
func meter() metric.Meter { return otel.Meter(Name) }

// RecordLag records, in histogram name, the time from created to now.
func RecordLag(ctx context.Context, name string, created time.Time, attrs ...attribute.KeyValue) {
	if created.IsZero() {
		return
	}
	h, err := meter().Float64Histogram(name, metric.WithUnit("s"))
	if err != nil {
		return
	}
	h.Record(ctx, time.Since(created).Seconds(), metric.WithAttributes(attrs...))
}

// Count adds one to counter name.
func Count(ctx context.Context, name string, attrs ...attribute.KeyValue) {
	c, err := meter().Int64Counter(name)
	if err != nil {
		return
	}
	c.Add(ctx, 1, metric.WithAttributes(attrs...))
}
