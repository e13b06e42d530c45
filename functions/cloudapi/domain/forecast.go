package domain

import "math"

// Limits of a forecast request.
const (
	MinSeriesLength = 2
	MaxSeriesLength = 10_000
	MinHorizon      = 1
	MaxHorizon      = 1_000
	// MaxMagnitude bounds every observation so that a forecast (level + horizon*trend) and the
	// squared errors of the fit always stay finite.
	MaxMagnitude = 1e15
)

// smoothingGrid is the set of values tried for alpha (level) and beta (trend). A small grid
// keeps a fit of the longest series within a few milliseconds and is deterministic.
var smoothingGrid = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}

// Smoothing are the parameters of Holt's method.
type Smoothing struct {
	Alpha float64 // weight of the newest observation in the level, 0 < Alpha <= 1
	Beta  float64 // weight of the newest level change in the trend, 0 < Beta <= 1
}

// Forecast fits Holt's linear exponential smoothing (double exponential smoothing with trend) to
// series and returns the next horizon points. Alpha and beta are chosen from a grid by the least
// sum of squared one-step-ahead errors; ties go to the first (smallest) pair, so the same input
// always gives the same output. series and horizon must be valid (see ForecastRequest).
func Forecast(series []float64, horizon int) []float64 {
	return Holt(series, Fit(series), horizon)
}

// Fit returns the grid parameters with the least one-step-ahead squared error on series.
func Fit(series []float64) Smoothing {
	best, bestSSE := Smoothing{Alpha: smoothingGrid[0], Beta: smoothingGrid[0]}, math.Inf(1)
	for _, a := range smoothingGrid {
		for _, b := range smoothingGrid {
			p := Smoothing{Alpha: a, Beta: b}
			if sse := OneStepSSE(series, p); sse < bestSSE {
				best, bestSSE = p, sse
			}
		}
	}
	return best
}

// OneStepSSE is the sum of squared one-step-ahead forecast errors of p on series.
func OneStepSSE(series []float64, p Smoothing) float64 {
	level, trend := start(series)
	var sse float64
	for _, y := range series[1:] {
		e := y - (level + trend)
		sse += e * e
		level, trend = step(level, trend, y, p)
	}
	return sse
}

// Holt runs the smoothing with fixed parameters and extrapolates the last level and trend.
func Holt(series []float64, p Smoothing, horizon int) []float64 {
	level, trend := start(series)
	for _, y := range series[1:] {
		level, trend = step(level, trend, y, p)
	}
	out := make([]float64, horizon)
	for h := range out {
		out[h] = level + float64(h+1)*trend
	}
	return out
}

// start initialises the level at the first observation and the trend at the first difference
// (the usual textbook choice; it makes a straight line fit with zero error).
func start(series []float64) (level, trend float64) {
	return series[0], series[1] - series[0]
}

func step(level, trend, y float64, p Smoothing) (float64, float64) {
	next := p.Alpha*y + (1-p.Alpha)*(level+trend)
	return next, p.Beta*(next-level) + (1-p.Beta)*trend
}
