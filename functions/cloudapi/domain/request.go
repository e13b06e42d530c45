package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// ValidationError names the request field that is missing or invalid.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ForecastRequest is a valid request for a forecast.
type ForecastRequest struct {
	Series  []float64
	Horizon int
}

// Units is the consumption the request is metered at: one unit per forecast point.
func (r ForecastRequest) Units() int64 { return int64(r.Horizon) }

// DecodeForecastRequest parses and validates the JSON body {series: [numbers], horizon}.
// Unknown fields are ignored; a missing or invalid field gives a *ValidationError naming it.
func DecodeForecastRequest(body []byte) (ForecastRequest, error) {
	var raw struct {
		Series  json.RawMessage `json:"series"`
		Horizon json.RawMessage `json:"horizon"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return ForecastRequest{}, invalid("body", "must be a JSON object {series, horizon}")
	}
	var req ForecastRequest
	if isMissing(raw.Series) {
		return req, invalid("series", "is required: an array of %d to %d numbers", MinSeriesLength, MaxSeriesLength)
	}
	if err := json.Unmarshal(raw.Series, &req.Series); err != nil || req.Series == nil {
		return ForecastRequest{}, invalid("series", "must be an array of finite numbers")
	}
	if n := len(req.Series); n < MinSeriesLength || n > MaxSeriesLength {
		return ForecastRequest{}, invalid("series", "has %d numbers, must have %d to %d", n, MinSeriesLength, MaxSeriesLength)
	}
	for i, y := range req.Series {
		if math.IsNaN(y) || math.Abs(y) > MaxMagnitude {
			return ForecastRequest{}, invalid(fmt.Sprintf("series[%d]", i), "must be a finite number of magnitude at most %g", MaxMagnitude)
		}
	}
	if isMissing(raw.Horizon) {
		return ForecastRequest{}, invalid("horizon", "is required: an integer from %d to %d", MinHorizon, MaxHorizon)
	}
	h, err := strconv.Atoi(string(bytes.TrimSpace(raw.Horizon)))
	if err != nil || h < MinHorizon || h > MaxHorizon {
		return ForecastRequest{}, invalid("horizon", "must be an integer from %d to %d", MinHorizon, MaxHorizon)
	}
	req.Horizon = h
	return req, nil
}

func isMissing(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}
